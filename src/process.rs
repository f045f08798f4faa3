//! `rtds process`: the stream job that replaces the seed's Spark job. Reads
//! `users_created` in a consumer group, validates each message, upserts valid
//! users into Cassandra and sends the rest to the dead-letter topic.
//!
//! Delivery: an offset is stored for commit only when every record before it
//! in its partition is written or dead-lettered ([`offsets::Tracker`]), so a
//! crash replays and never skips; writes are idempotent upserts, so a replay
//! leaves each user exactly once in the table. A semaphore of
//! `cassandra.concurrency` permits bounds the records between "consumed" and
//! "done": when Cassandra stalls, the permits run out and the consumer stops
//! pulling (backpressure) with bounded memory.

mod dlq;
mod offsets;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message, OwnedHeaders};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;
use tokio::sync::Semaphore;
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

/// How often finished records move the stored commit points; librdkafka
/// commits what is stored every `process.commit_interval`.
const STORE_EVERY: Duration = Duration::from_millis(200);

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

/// The consumer's side of the group: the commit points of our partitions,
/// stored and committed before partitions move to another member (so the new
/// owner starts right after the last written record), and whether partitions
/// have arrived yet (which is when `--until-idle` starts counting).
struct GroupContext {
    topic: String,
    offsets: Mutex<Tracker>,
    assigned: AtomicBool,
}

impl GroupContext {
    /// Hands every commit point that moved to librdkafka, which commits them
    /// in the background (`auto.commit.interval.ms`) and on close.
    fn store_moved<C: Consumer<GroupContext>>(&self, consumer: &C) {
        let moved = self.offsets.lock().expect("offsets lock").moved();
        if moved.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, next) in moved {
            let _ = list.add_partition_offset(&self.topic, partition, Offset::Offset(next));
        }
        if let Err(error) = consumer.store_offsets(&list) {
            // Only for a partition revoked meanwhile: its new owner replays.
            info!("storing offsets: {error}");
        }
    }
}

/// Commits what is stored, now. Nothing new to commit is fine; a failure is
/// only worth a warning, since the next run replays from the last commit.
fn commit_now<C: Consumer<GroupContext>>(consumer: &C, when: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => {
            warn!("commit {when} failed (the next run replays from the last commit): {error}")
        }
    }
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.store_moved(consumer);
            commit_now(consumer, "before a rebalance");
            let mut offsets = self.offsets.lock().expect("offsets lock");
            for partition in partitions.elements() {
                offsets.forget(partition.partition());
            }
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

type GroupConsumer = StreamConsumer<GroupContext>;

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
        ("queued.max.messages.kbytes", "4096".to_string()),
        ("queued.min.messages", "10000".to_string()),
        // Once the prefetch queue is full, fetch again as soon as it drains,
        // not after librdkafka's default second: that second caps a small
        // queue at a few MB/s.
        ("fetch.queue.backoff.ms", "10".to_string()),
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
        .create_with_context(GroupContext {
            topic: k.topic.clone(),
            offsets: Mutex::new(Tracker::default()),
            assigned: AtomicBool::new(false),
        })
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
    consumer: Arc<GroupConsumer>,
    max_record_bytes: usize,
    shutdown: CancellationToken,
    busy: BusyClock,
}

/// From the first record consumed to the last one done, without a lock on
/// the hot path.
#[derive(Default)]
struct BusyClock {
    first: OnceLock<Instant>,
    /// Nanoseconds from `first` to the last record done.
    last: AtomicU64,
}

impl BusyClock {
    fn consumed(&self) {
        self.first.get_or_init(Instant::now);
    }

    fn done(&self) {
        if let Some(first) = self.first.get() {
            let nanos = first.elapsed().as_nanos() as u64;
            self.last.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    fn span(&self) -> Duration {
        Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }
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
        consumer: consumer.clone(),
        max_record_bytes: settings.process.max_record_bytes,
        shutdown: shutdown.clone(),
        busy: BusyClock::default(),
    });
    let permits = Arc::new(Semaphore::new(settings.cassandra.concurrency));

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
    let storer = tokio::spawn({
        let consumer = consumer.clone();
        async move {
            loop {
                tokio::time::sleep(STORE_EVERY).await;
                consumer.context().store_moved(&*consumer);
            }
        }
    });

    let result = consume(&shared, until, &permits).await;
    // Drain: every consumed record is written or dead-lettered (or, if the
    // shutdown cut a retry short, left uncommitted for the next run).
    // Each record's task holds a permit until it is done: all permits back
    // means all tasks done.
    let all = settings.cassandra.concurrency as u32; // at most MAX_CONCURRENCY
    let _drained = permits
        .acquire_many(all)
        .await
        .expect("semaphore is never closed");
    lag.abort();
    storer.abort();
    consumer.context().store_moved(&*consumer);
    commit_now(&*consumer, "at shutdown");
    progress.finish().await;
    result?;

    let elapsed = started.elapsed();
    let busy = shared.busy.span();
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
        shared.busy.consumed();
        let offsets = &shared.consumer.context().offsets;
        offsets
            .lock()
            .expect("offsets lock")
            .begin(record.partition, record.offset);
        let shared = shared.clone();
        tokio::spawn(async move {
            if handle(&shared, &record).await {
                let offsets = &shared.consumer.context().offsets;
                offsets
                    .lock()
                    .expect("offsets lock")
                    .complete(record.partition, record.offset);
                shared.busy.done();
            }
            shared.metrics.in_flight.dec();
            // Last: the drain at shutdown counts on a returned permit
            // meaning a finished record.
            drop(permit);
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
async fn handle(shared: &Shared, record: &Consumed) -> bool {
    match User::parse(&record.payload, shared.max_record_bytes) {
        Ok(user) => {
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
