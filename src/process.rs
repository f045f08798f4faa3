//! `rtds process`: the stream job that replaces the seed's Spark job. Reads
//! `users_created` in a consumer group, validates each message, upserts valid
//! users into Cassandra and sends the rest to the dead-letter topic.
//!
//! Delivery: an offset is stored for commit only when every record before it
//! in its partition is written or dead-lettered ([`offsets::Tracker`]), so a
//! crash replays and never skips; writes are idempotent upserts, so a replay
//! leaves each user exactly once in the table. A semaphore bounds the records
//! between "consumed" and "done": when Cassandra stalls, the permits run out
//! and the consumer stops pulling (backpressure) with bounded memory.

mod dlq;
mod offsets;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Message, OwnedHeaders};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::cassandra::Store;
use crate::config::Settings;
use crate::kafka;
use crate::metrics::Metrics;
use crate::progress::{self, Progress};
use crate::source::backoff;
use crate::user::{Invalid, User};
use dlq::DeadLetters;
use offsets::Tracker;

/// When a run ends besides Ctrl-C / SIGTERM.
#[derive(Debug, Clone, Copy, Default)]
pub struct Until {
    /// Stop once no new record has arrived for this long.
    pub idle: Option<Duration>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub topic: String,
    pub table: String,
    pub consumed: u64,
    pub written: u64,
    pub dead_lettered: u64,
    pub write_retries: u64,
    pub seconds: f64,
    /// From the first record consumed to the last one done: the rate's
    /// denominator, free of start-up and of the `--until-idle` wait.
    pub busy_seconds: f64,
    pub rows_per_second: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "processed {} records from {} in {:.1}s: {} written to {} ({:.0} rows/s), {} to the DLQ, {} write retries",
            self.consumed,
            self.topic,
            self.seconds,
            self.written,
            self.table,
            self.rows_per_second,
            self.dead_lettered,
            self.write_retries
        )
    }
}

/// Commits what is stored before partitions move to another group member,
/// so the new owner starts right after the last written record; notes when
/// the first partitions arrive, which is when `--until-idle` starts counting.
#[derive(Default)]
struct RebalanceContext {
    assigned: AtomicBool,
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance
            && partitions.count() > 0
            && let Err(error) = consumer.commit_consumer_state(CommitMode::Sync)
        {
            // Nothing stored yet is the usual reason; a replay covers the rest.
            info!("commit before rebalance: {error}");
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            self.assigned.store(true, Ordering::Relaxed);
            let list: Vec<i32> = partitions
                .elements()
                .iter()
                .map(|p| p.partition())
                .collect();
            info!("assigned partitions {list:?}");
        }
    }
}

type GroupConsumer = StreamConsumer<RebalanceContext>;

fn create_consumer(settings: &Settings) -> anyhow::Result<GroupConsumer> {
    let k = &settings.kafka;
    let mut config = kafka::client_config(k);
    let defaults = [
        ("group.id", k.group_id.clone()),
        ("auto.offset.reset", "earliest".to_string()),
        // Offsets are stored by the tracker, committed in the background.
        ("enable.auto.commit", "true".to_string()),
        ("enable.auto.offset.store", "false".to_string()),
        (
            "auto.commit.interval.ms",
            settings.process.commit_interval.as_millis().to_string(),
        ),
        // Bounds what librdkafka prefetches: part of the memory bound.
        ("queued.max.messages.kbytes", "16384".to_string()),
        (
            "partition.assignment.strategy",
            "cooperative-sticky".to_string(),
        ),
    ];
    for (key, value) in defaults {
        if !k.properties.contains_key(key) {
            config.set(key, value);
        }
    }
    config
        .create_with_context(RebalanceContext::default())
        .context("cannot create the Kafka consumer (check the kafka.* settings)")
}

/// One consumed message, owned, with where it came from.
struct Consumed {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
}

impl Consumed {
    fn from_message(message: &BorrowedMessage<'_>) -> Self {
        Consumed {
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers: message.headers().map(|h| h.detach()),
        }
    }
}

/// Everything a record's task needs, shared by all of them.
struct Shared {
    store: Store,
    dead_letters: DeadLetters,
    metrics: Metrics,
    tracker: Mutex<Tracker>,
    consumer: Arc<GroupConsumer>,
    topic: String,
    max_record_bytes: usize,
    shutdown: CancellationToken,
    /// When the first record was consumed and the last one finished.
    busy: Mutex<Option<(Instant, Instant)>>,
}

/// Runs the processor until `shutdown` or `until`, then drains in-flight
/// writes and commits.
pub async fn run(
    settings: &Settings,
    until: Until,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<Summary> {
    let topic = settings.kafka.topic.clone();
    let store = Store::open(&settings.cassandra).await?;
    kafka::ensure_topic(&settings.kafka, &topic).await?;
    kafka::ensure_topic(&settings.kafka, &settings.kafka.dlq_topic).await?;
    let dead_letters = DeadLetters::new(&settings.kafka, &topic)?;
    let consumer = Arc::new(create_consumer(settings)?);
    consumer
        .subscribe(&[&topic])
        .with_context(|| format!("cannot subscribe to {topic}"))?;
    info!(%topic, table = store.table(), group = %settings.kafka.group_id, "processing");

    let table = store.table().to_string();
    let shared = Arc::new(Shared {
        store,
        dead_letters,
        metrics: metrics.clone(),
        tracker: Mutex::new(Tracker::default()),
        consumer: consumer.clone(),
        topic: topic.clone(),
        max_record_bytes: settings.process.max_record_bytes,
        shutdown: shutdown.clone(),
        busy: Mutex::new(None),
    });
    let permits = Arc::new(Semaphore::new(settings.process.max_in_flight));
    let writers = Arc::new(Semaphore::new(settings.cassandra.concurrency));

    let started = Instant::now();
    let progress = Progress::start("process", None, {
        let m = metrics.clone();
        move || {
            let done = m.written.get() + m.dead_lettered.total();
            let message = format!(
                "consumed {} written {} dlq {} retries {} lag {} ({:.0}/s)",
                m.consumed.get(),
                m.written.get(),
                m.dead_lettered.total(),
                m.write_retries.get(),
                m.lag.get(),
                progress::rate(done, started.elapsed())
            );
            (done, message)
        }
    });
    let lag = tokio::spawn(watch_lag(consumer.clone(), topic.clone(), metrics.clone()));

    let mut tasks = JoinSet::new();
    let result = consume(&shared, until, &permits, &writers, &mut tasks).await;
    // Drain: every consumed record is written or dead-lettered (or, if the
    // shutdown cut a retry short, left uncommitted for the next run).
    while tasks.join_next().await.is_some() {}
    lag.abort();
    if let Err(error) = shared.consumer.commit_consumer_state(CommitMode::Sync) {
        info!("final commit: {error}");
    }
    progress.finish().await;
    result?;

    let elapsed = started.elapsed();
    let busy = shared
        .busy
        .lock()
        .expect("busy lock")
        .map_or(Duration::ZERO, |(first, last)| last - first);
    Ok(Summary {
        topic,
        table,
        consumed: metrics.consumed.get(),
        written: metrics.written.get(),
        dead_lettered: metrics.dead_lettered.total(),
        write_retries: metrics.write_retries.get(),
        seconds: elapsed.as_secs_f64(),
        busy_seconds: busy.as_secs_f64(),
        rows_per_second: progress::rate(metrics.written.get(), busy),
    })
}

/// The consuming loop: one task per record, started only when a permit is
/// free.
async fn consume(
    shared: &Arc<Shared>,
    until: Until,
    permits: &Arc<Semaphore>,
    writers: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    let idle = until.idle.unwrap_or(Duration::MAX);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
            _ = shared.shutdown.cancelled() => return Ok(()),
        };
        let message = tokio::select! {
            message = shared.consumer.recv() => message,
            _ = shared.shutdown.cancelled() => return Ok(()),
            _ = idle_for(idle, &shared.consumer.context().assigned) => {
                info!("no new record for {}: stopping", humantime::format_duration(idle));
                return Ok(());
            }
        };
        let record = match message {
            Ok(message) => Consumed::from_message(&message),
            Err(error) => {
                warn!("Kafka consumer error (retrying): {error}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        shared.metrics.consumed.inc();
        shared.metrics.in_flight.inc();
        shared
            .busy
            .lock()
            .expect("busy lock")
            .get_or_insert_with(|| (Instant::now(), Instant::now()));
        shared
            .tracker
            .lock()
            .expect("tracker lock")
            .begin(record.partition, record.offset);
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
        let (shared, writers) = (shared.clone(), writers.clone());
        tasks.spawn(async move {
            let done = handle(&shared, &writers, &record).await;
            drop(permit);
            shared.metrics.in_flight.dec();
            if done {
                shared.finish(record.partition, record.offset);
            }
        });
    }
}

/// Sleeps `idle` counted from when the consumer has partitions: joining a
/// group can take seconds, and that is not idleness.
async fn idle_for(idle: Duration, assigned: &AtomicBool) {
    while !assigned.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(idle).await;
}

/// Writes or dead-letters one record; false when the shutdown cut it short.
async fn handle(shared: &Shared, writers: &Semaphore, record: &Consumed) -> bool {
    match User::parse(&record.payload, shared.max_record_bytes) {
        Ok(user) => {
            let _writer = writers.acquire().await.expect("semaphore is never closed");
            let written = shared.write(&user).await;
            if written && let Some(ms) = record.timestamp_ms {
                let latency = now_ms().saturating_sub(ms).max(0) as f64 / 1000.0;
                shared.metrics.end_to_end_seconds.observe(latency);
            }
            written
        }
        Err(invalid) => shared.dead_letter(record, &invalid).await,
    }
}

impl Shared {
    /// Writes until it succeeds; retries with backoff, so a Cassandra outage
    /// holds this record (and its permit) until the node is back.
    async fn write(&self, user: &User) -> bool {
        let mut attempt = 0;
        loop {
            match self.store.insert(user).await {
                Ok(()) => {
                    self.metrics.written.inc();
                    return true;
                }
                Err(error) => {
                    let retries = self.metrics.write_retries.inc();
                    if retries.is_multiple_of(100) {
                        warn!(
                            "Cassandra write failed, retrying ({} retries so far): {error}",
                            retries + 1
                        );
                    }
                    let wait = backoff(attempt, Duration::from_millis(50), Duration::from_secs(5));
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.shutdown.cancelled() => return false,
                    }
                }
            }
        }
    }

    async fn dead_letter(&self, record: &Consumed, invalid: &Invalid) -> bool {
        let mut attempt = 0;
        loop {
            match self.dead_letters.send(record, invalid).await {
                Ok(()) => {
                    self.metrics.dead_lettered.inc(invalid.kind());
                    return true;
                }
                Err(error) => {
                    warn!("cannot send a record to the DLQ, retrying: {error}");
                    let wait = backoff(attempt, Duration::from_millis(100), Duration::from_secs(5));
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.shutdown.cancelled() => return false,
                    }
                }
            }
        }
    }

    /// Marks a record done and stores the partition's new commit point.
    fn finish(&self, partition: i32, offset: i64) {
        if let Some((_, last)) = self.busy.lock().expect("busy lock").as_mut() {
            *last = Instant::now();
        }
        let Some(next) = self
            .tracker
            .lock()
            .expect("tracker lock")
            .complete(partition, offset)
        else {
            return;
        };
        let mut list = TopicPartitionList::new();
        if list
            .add_partition_offset(&self.topic, partition, Offset::Offset(next))
            .is_ok()
        {
            // Fails only for a partition no longer assigned to us: its new
            // owner replays from the last commit, which is safe.
            let _ = self.consumer.store_offsets(&list);
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Updates the lag gauge every few seconds: end of each assigned partition
/// minus our position in it.
async fn watch_lag(consumer: Arc<GroupConsumer>, topic: String, metrics: Metrics) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (consumer, topic) = (consumer.clone(), topic.clone());
        let lag = tokio::task::spawn_blocking(move || -> Option<i64> {
            let position = consumer.position().ok()?;
            let mut lag = 0;
            for element in position.elements_for_topic(&topic) {
                let (_, high) = consumer
                    .fetch_watermarks(&topic, element.partition(), Duration::from_secs(2))
                    .ok()?;
                if let Offset::Offset(at) = element.offset() {
                    lag += (high - at).max(0);
                } else {
                    lag += high;
                }
            }
            Some(lag)
        })
        .await;
        if let Ok(Some(lag)) = lag {
            metrics.lag.set(lag);
        }
    }
}
