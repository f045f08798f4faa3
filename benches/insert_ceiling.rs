//! The ceilings for `rtds process`: a plain loop of the same prepared upsert,
//! with the same driver, the same session settings and the same number of
//! writes in flight, against the same Cassandra, with users made in memory
//! beforehand. No Kafka, no validation, no offsets: what is left is the cost
//! of the writes themselves. With `batches`, each write is an unlogged batch
//! of upserts filled as rtds fills them, up to the node's row and byte
//! limits (the ceiling of rtds's batched writes); with `single`, one insert
//! per row.
//!
//! `cargo bench --bench insert_ceiling -- COUNT KEYSPACE single|batches`
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
    let batches = args.next().is_some_and(|mode| mode == "batches");
    let flags = [Override::new("cassandra.keyspace", "argument", &keyspace)];
    let settings = Settings::load(None, &flags)?.settings;

    let generator = Generator::new("ceiling", None)?;
    let users: Vec<User> = (1..)
        .flat_map(|page| generator.users(page, 5000))
        .take(count)
        .map(User::from_api)
        .collect();
    let store = Store::open(&settings.cassandra).await?;
    let limits = store.batch_limits();
    let writes = if batches {
        chunks(&users, limits)
    } else {
        users.iter().map(std::slice::from_ref).collect()
    };

    // One write time for all, as rtds gives each record its Kafka timestamp.
    let written_at = chrono::Utc::now().timestamp_micros();
    let started = Instant::now();
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
