//! The ceiling for `rtds process`: a plain loop of the same prepared upsert,
//! with the same driver, the same session settings and the same number of
//! writes in flight, against the same Cassandra, with users made in memory
//! beforehand. No Kafka, no validation, no offsets: what is left is the cost
//! of the writes themselves.
//!
//! `cargo bench --bench insert_ceiling -- COUNT KEYSPACE` prints one JSON line.

use std::time::Instant;

use futures::StreamExt;
use rtds::cassandra::Store;
use rtds::config::{Override, Settings};
use rtds::source::builtin::Generator;
use rtds::user::User;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let count: usize = args.next().unwrap_or_else(|| "100000".into()).parse()?;
    let keyspace = args.next().unwrap_or_else(|| "rtds_bench_ceiling".into());
    let flags = [Override::new("cassandra.keyspace", "argument", &keyspace)];
    let settings = Settings::load(None, &flags)?.settings;

    let generator = Generator::new("ceiling", None)?;
    let users: Vec<User> = (1..)
        .flat_map(|page| generator.users(page, 5000))
        .take(count)
        .map(User::from_api)
        .collect();
    let store = Store::open(&settings.cassandra).await?;

    // One write time for all, as rtds gives each record its Kafka timestamp.
    let written_at = chrono::Utc::now().timestamp_micros();
    let started = Instant::now();
    let failures = futures::stream::iter(&users)
        .map(|user| store.upsert(user, written_at))
        .buffer_unordered(settings.cassandra.concurrency)
        .filter(|result| std::future::ready(result.is_err()))
        .count()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "rows": count - failures,
            "failures": failures,
            "concurrency": settings.cassandra.concurrency,
            "seconds": seconds,
            "rows_per_second": (count - failures) as f64 / seconds,
        })
    );
    Ok(())
}
