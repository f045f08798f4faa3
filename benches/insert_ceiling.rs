//! The ceilings for `rtds process`: a plain loop of the same prepared upsert,
//! with the same driver, the same session settings and the same number of
//! writes in flight, against the same Cassandra, with users made in memory
//! beforehand. No Kafka, no validation, no offsets: what is left is the cost
//! of the writes themselves. With `batches`, each write is an unlogged batch
//! of upserts filled as rtds fills them, up to the node's row and byte
//! limits (the ceiling of rtds's batched writes); with `single`, one insert
//! per row. With `paced RATE`, single inserts leave at RATE rows/s, each
//! timed: the node's own write latency at that rate, the floor under
//! rtds's end-to-end latency.
//!
//! `cargo bench --bench insert_ceiling -- COUNT KEYSPACE single|batches|paced [RATE]`
//! prints one JSON line.

use std::time::Instant;

use futures::StreamExt;
use rtds::cassandra::{BatchLimits, Store, row_bytes};
use rtds::config::{Override, Settings};
use rtds::source::builtin::Generator;
use rtds::user::User;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let count: usize = args.next().unwrap_or_else(|| "100000".into()).parse()?;
    let keyspace = args.next().unwrap_or_else(|| "rtds_bench_ceiling".into());
    let mode = args.next().unwrap_or_default();
    let batches = mode == "batches";
    let flags = [Override::new("cassandra.keyspace", "argument", &keyspace)];
    let settings = Settings::load(None, &flags)?.settings;

    let generator = Generator::new("ceiling", None)?;
    let users: Vec<User> = (1..)
        .flat_map(|page| generator.users(page, 5000))
        .take(count)
        .map(User::from_api)
        .collect();
    let store = Store::open(&settings.cassandra).await?;
    if mode == "paced" {
        let rate: f64 = args.next().unwrap_or_else(|| "1000".into()).parse()?;
        return paced(&store, &users, rate).await;
    }
    let limits = store.batch_limits();
    let writes = if batches {
        chunks(&users, limits)
    } else {
        users.iter().map(std::slice::from_ref).collect()
    };

    // One write time for all, as rtds gives each record its Kafka timestamp.
    let written_at = chrono::Utc::now().timestamp_micros();
    let (started, cpu_before) = (Instant::now(), cpu_seconds());
    let store = &store;
    let failures = futures::stream::iter(&writes)
        .map(|&chunk| async move {
            let result = if let [user] = chunk {
                store.upsert(user, written_at).await
            } else {
                let batch: Vec<_> = chunk.iter().map(|user| (user, written_at)).collect();
                store.upsert_batch(&batch).await
            };
            if result.is_err() { chunk.len() } else { 0 }
        })
        .buffer_unordered(settings.cassandra.concurrency)
        .fold(0, |failed, chunk| std::future::ready(failed + chunk))
        .await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "cpu_seconds": cpu_seconds() - cpu_before,
            "rows": count - failures,
            "failures": failures,
            "concurrency": settings.cassandra.concurrency,
            "writes": writes.len(),
            "seconds": seconds,
            "rows_per_second": (count - failures) as f64 / seconds,
        })
    );
    Ok(())
}

/// This process's CPU time so far (user and system, all threads), from
/// `/proc/self/stat` in clock ticks of 1/100 s: what the writes alone cost,
/// the users made beforehand apart, beside rtds's CPU per row.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime
    // are the 14th and 15th of the whole line.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .flat_map(str::parse)
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// The users in batches as rtds fills them: in order, each up to the row
/// and byte limits (on one node every row has the same replicas).
fn chunks(users: &[User], limits: BatchLimits) -> Vec<&[User]> {
    let (mut chunks, mut start, mut bytes) = (Vec::new(), 0, 0);
    for (i, user) in users.iter().enumerate() {
        let size = row_bytes(user);
        if i > start && (bytes + size > limits.bytes || i - start == limits.rows) {
            chunks.push(&users[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    chunks.push(&users[start..]);
    chunks
}

/// Single inserts at `rate` rows/s, each started at its time whatever the
/// others do; prints their latency's p50, p99 and slowest in ms.
async fn paced(store: &Store, users: &[User], rate: f64) -> anyhow::Result<()> {
    use futures::FutureExt;
    let written_at = chrono::Utc::now().timestamp_micros();
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs_f64(1.0 / rate));
    let mut writes = futures::stream::FuturesUnordered::new();
    let mut latencies = Vec::with_capacity(users.len());
    for user in users {
        ticks.tick().await;
        writes.push(async move {
            let started = Instant::now();
            store
                .upsert(user, written_at)
                .await
                .map(|_| started.elapsed())
        });
        // Takes what is done without waiting: the writes overlap as they would.
        while let Some(Some(done)) = writes.next().now_or_never() {
            latencies.extend(done.ok());
        }
    }
    while let Some(done) = writes.next().await {
        latencies.extend(done.ok());
    }
    latencies.sort();
    let ms = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "{}",
        serde_json::json!({"rows": latencies.len(), "rate": rate, "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": ms(1.0)})
    );
    Ok(())
}
