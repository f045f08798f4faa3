//! `rtds process`: the stream job that replaces the tutorial's Spark job.
//! Reads `users_created` in a consumer group, validates each message, upserts
//! valid users into Cassandra and sends the rest to the dead-letter topic.
//!
//! Three levels: [`run`] sets up, drains and sums up; [`Listener::run`] is
//! the consumer loop; [`Job::handle`] takes one record to its row or to the
//! DLQ.
//!
//! Delivery: an offset is stored for commit only when every record before it
//! in its partition is written or dead-lettered ([`offsets::Tracker`]), so a
//! crash replays and never skips; writes are idempotent upserts, so a replay
//! leaves each user exactly once in the table. Upserts go in unlogged
//! batches of rows with the same replicas ([`batcher`]); a record is done
//! when its batch is written. Writes in flight are limited adaptively
//! ([`limiter`], at most `cassandra.concurrency`), and a semaphore bounds the
//! records between "consumed" and "done" to as many as those writes hold,
//! and their bytes to as many KiB (see [`Consumed::room`]):
//! when Cassandra stalls, the permits run out and the consumer pauses
//! its partitions (backpressure) while it keeps serving the group. A
//! permanent failure (see [`crate::retry`]) stops the job with its message;
//! the record that hit it is never committed.

mod batcher;
pub(crate) mod consumer;
mod limiter;
mod offsets;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use scylla::errors::ExecutionError;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::cassandra::{self, Store};
use crate::config::{KafkaSettings, Settings};
use crate::dlq::send::{DeadLetters, Sent};
use crate::kafka::{self, Need};
use crate::metrics::Metrics;
use crate::metrics::progress::{self, Progress};
use crate::retry::{self, Class, DLQ_RETRY, LogPacer, Stop, WRITE_RETRY};
use crate::user::{Invalid, User};
use batcher::{Batcher, Queued};
use consumer::{Consumed, GroupConsumer};
use limiter::{Answer, Limiter};

/// How often finished records move the stored commit points; librdkafka
/// commits what is stored every `process.commit_interval`.
const STORE_EVERY: Duration = Duration::from_millis(200);

/// How often the consumer is polled even when nothing arrives: every poll
/// tells the group coordinator the member is alive.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// How a run is driven besides Ctrl-C / SIGTERM.
#[derive(Debug, Default)]
pub struct Options {
    /// Stop once no new record has arrived for this long.
    pub idle: Option<Duration>,
    /// Told once the table is checked and the consumer subscribed, so that
    /// `rtds run` produces only into a pipeline that can store.
    pub ready: Option<oneshot::Sender<()>>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub topic: String,
    pub table: String,
    pub consumed: u64,
    pub written: u64,
    /// Rows deleted by tombstones.
    pub deleted: u64,
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
            "processed {} records from {} in {:.1}s: {} written to {} ({:.0} rows/s), {} deleted, {} to the DLQ, {} write retries",
            self.consumed,
            self.topic,
            self.seconds,
            self.written,
            self.table,
            self.rows_per_second,
            self.deleted,
            self.dead_lettered,
            self.write_retries
        )
    }
}

/// Runs the processor until `shutdown`, `options.idle` or a permanent
/// failure, then drains in-flight writes and commits.
pub async fn run(
    settings: &Settings,
    options: Options,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<Summary> {
    let topic = settings.kafka.topic.clone();
    let (store, dead_letters, consumer) = connect(settings, &metrics).await?;
    if let Some(ready) = options.ready {
        let _ = ready.send(());
    }
    let parts = Parts {
        store,
        dead_letters,
        consumer: consumer.clone(),
        metrics: metrics.clone(),
        stop: shutdown.child_token(),
    };
    let (job, batching) = Job::start(settings, parts);
    // Room for as many records as the writes in flight can hold, and as
    // many KiB: a large record takes room for its size (see `Consumed::room`).
    let rows_per_batch = job.store.batch_limits().rows;
    let room = (settings.cassandra.concurrency * rows_per_batch) as u32; // at most MAX_CONCURRENCY * MAX_BATCH_ROWS
    let permits = Arc::new(Semaphore::new(room as usize));

    let started = Instant::now();
    let progress = shown(&metrics, started);
    let lag = tokio::spawn(consumer::watch_lag(
        consumer.clone(),
        topic.clone(),
        metrics.clone(),
    ));
    let storer = tokio::spawn({
        let consumer = consumer.clone();
        async move {
            loop {
                tokio::time::sleep(STORE_EVERY).await;
                consumer.context().store_moved(&*consumer);
            }
        }
    });

    let listened = Listener {
        job: job.clone(),
        permits: permits.clone(),
        room,
        idle: options.idle,
        kafka: settings.kafka.clone(),
    }
    .run()
    .await;
    // Drain: every consumed record is written or dead-lettered (or, if the
    // shutdown or a failure cut a retry short, left uncommitted for the next
    // run). Each record's task holds a permit until it is done: all permits
    // back means all tasks done.
    let _drained = permits
        .acquire_many(room)
        .await
        .expect("semaphore is never closed");
    if let Some(batching) = batching {
        batching.abort();
    }
    lag.abort();
    storer.abort();
    consumer.context().store_moved(&*consumer);
    consumer::commit_now(&*consumer, "at shutdown");
    progress.finish().await;
    if let Some(failure) = job.failure.lock().expect("failure lock").take() {
        return Err(failure);
    }
    listened?;
    Ok(summary(&job, topic, started))
}

/// The table, the DLQ and the subscribed consumer: everything `run` needs
/// from outside, each checked (a missing topic, a refused login, a table of
/// the wrong shape fail here, before anything is consumed).
async fn connect(
    settings: &Settings,
    metrics: &Metrics,
) -> anyhow::Result<(Store, DeadLetters, Arc<GroupConsumer>)> {
    let topic = &settings.kafka.topic;
    let store = Store::open(&settings.cassandra).await?;
    let group = &settings.kafka.group_id;
    kafka::ensure_topic(&settings.kafka, Need::Read { topic, group }).await?;
    let dlq = &settings.kafka.dlq_topic;
    kafka::ensure_topic(&settings.kafka, Need::Write { topic: dlq }).await?;
    let dead_letters = DeadLetters::new(&settings.kafka, topic)?;
    let consumer = consumer::subscribe(settings, metrics)?;
    info!(%topic, table = store.table(), group = %settings.kafka.group_id, "processing");
    Ok((store, dead_letters, consumer))
}

/// The job's progress: a bar on a terminal, else a log line every few
/// seconds.
fn shown(metrics: &Metrics, started: Instant) -> Progress {
    let m = metrics.clone();
    Progress::start("process", None, move || {
        let done = m.written.get() + m.deleted.get() + m.dead_lettered.total();
        let message = format!(
            "consumed {} written {} deleted {} dlq {} retries {} lag {} ({:.0}/s)",
            m.consumed.get(),
            m.written.get(),
            m.deleted.get(),
            m.dead_lettered.total(),
            m.write_retries.get(),
            m.lag.get(),
            progress::rate(done, started.elapsed())
        );
        (done, message)
    })
}

/// What the job did, from its counters.
fn summary(job: &Job, topic: String, started: Instant) -> Summary {
    let metrics = &job.metrics;
    let busy = job.busy.span();
    Summary {
        topic,
        table: job.store.table().to_string(),
        consumed: metrics.consumed.get(),
        written: metrics.written.get(),
        deleted: metrics.deleted.get(),
        dead_lettered: metrics.dead_lettered.total(),
        write_retries: metrics.write_retries.get(),
        seconds: started.elapsed().as_secs_f64(),
        busy_seconds: busy.as_secs_f64(),
        rows_per_second: progress::rate(metrics.written.get(), busy),
    }
}

/// What a [`Job`] is made of that `run` opens first.
struct Parts {
    store: Store,
    dead_letters: DeadLetters,
    consumer: Arc<GroupConsumer>,
    metrics: Metrics,
    stop: CancellationToken,
}

impl Job {
    /// The job, with its batcher when rows are batched (the batcher's task
    /// too, to stop once drained). The batcher holds the job weakly: a
    /// batch flushed after the job is gone finishes its rows as not done.
    fn start(settings: &Settings, parts: Parts) -> (Arc<Job>, Option<tokio::task::JoinHandle<()>>) {
        let cassandra = &settings.cassandra;
        let limits = parts.store.batch_limits();
        let limiter = Limiter::new(
            cassandra.concurrency,
            cassandra.adaptive_concurrency,
            parts.metrics.write_concurrency_limit.clone(),
        );
        let mut batching = None;
        let job = Arc::new_cyclic(|job: &Weak<Job>| {
            let batches = (limits.rows > 1).then(|| {
                let job = job.clone();
                let (batches, task) =
                    Batcher::start(limits, cassandra.batch_linger, move |batch| {
                        match job.upgrade() {
                            Some(job) => {
                                drop(tokio::spawn(async move { job.write_batch(batch).await }))
                            }
                            None => batch.into_iter().for_each(|row| row.finish(false)),
                        }
                    });
                batching = Some(task);
                batches
            });
            Job {
                store: parts.store,
                dead_letters: parts.dead_letters,
                batches,
                limiter,
                metrics: parts.metrics,
                consumer: parts.consumer,
                max_record_bytes: settings.process.max_record_bytes,
                stop: parts.stop,
                failure: Mutex::new(None),
                busy: BusyClock::default(),
                writes_said: LogPacer::default(),
                dlq_said: LogPacer::default(),
                writes_held_by: Mutex::new(None),
            }
        });
        if job.batches.is_some() {
            info!(
                rows_per_batch = limits.rows,
                batch_bytes = limits.bytes,
                "writes in unlogged batches of rows with the same replicas"
            );
        }
        (job, batching)
    }
}

/// The consumer loop: records start one task each, only while a write
/// permit is free. With none free the partitions are paused, and the
/// consumer is still polled so the member stays in the group.
struct Listener {
    job: Arc<Job>,
    permits: Arc<Semaphore>,
    /// All the room there is in flight, in permits.
    room: u32,
    idle: Option<Duration>,
    /// For a refused login and a missing topic: how long each is ridden
    /// out, and whose login it is.
    kafka: KafkaSettings,
}

impl Listener {
    async fn run(&self) -> anyhow::Result<()> {
        let consumer = &self.job.consumer;
        // Records received and not started yet; they start in order.
        let mut pending: VecDeque<Consumed> = VecDeque::new();
        let mut last_record: Option<Instant> = None;
        let mut errors = ConsumerErrors::new(&self.kafka);
        loop {
            if !pending.is_empty() {
                let needs = pending.front().expect("a pending record").room(self.room);
                let permit = match self.permits.clone().try_acquire_many_owned(needs) {
                    Ok(permit) => permit,
                    Err(_) => {
                        let waited = self
                            .wait_for_permit(needs, &mut pending, &mut errors)
                            .await?;
                        // Time blocked on writes is not idleness.
                        last_record = Some(Instant::now());
                        match waited {
                            Some(permit) => permit,
                            None => return Ok(()),
                        }
                    }
                };
                let record = pending.pop_front().expect("a pending record");
                self.start(record, permit);
                continue;
            }
            tokio::select! {
                biased;
                _ = self.job.stop.cancelled() => return Ok(()),
                message = consumer.recv() => match message {
                    Ok(message) => {
                        last_record = Some(Instant::now());
                        errors.went_through();
                        pending.push_back(consumer.context().received(&message));
                    }
                    Err(error) => errors.seen(error, &self.job.metrics)?,
                },
                _ = idle_after(self.idle, consumer, last_record, errors.since) => {
                    let idle = humantime::format_duration(self.idle.unwrap_or_default());
                    if let Some(error) = errors.last.take() {
                        return Err(anyhow!(
                            "no record for {idle} while the Kafka consumer kept failing: {error}; \
                             records may be left on the topic: check that Kafka is reachable and accepts \
                             the kafka.* settings, then run again"
                        ));
                    }
                    info!("no new record for {idle}: stopping");
                    return Ok(());
                }
                // Polled now and then even when nothing comes: every poll
                // tells the group the member is alive.
                _ = tokio::time::sleep(POLL_EVERY) => {
                    errors.still_refused(consumer).await?;
                    errors.check_topic(consumer).await?;
                }
            }
        }
    }

    /// Waits for a write permit; `None` at stop. Short waits are the pace
    /// of the writes. A longer one means every write is stuck (Cassandra
    /// slow or down): the partitions are paused and the consumer is still
    /// polled, so the member stays in the group however long it lasts.
    /// Records that arrive meanwhile queue in `pending`.
    async fn wait_for_permit(
        &self,
        needs: u32,
        pending: &mut VecDeque<Consumed>,
        errors: &mut ConsumerErrors,
    ) -> anyhow::Result<Option<OwnedSemaphorePermit>> {
        let consumer = &self.job.consumer;
        tokio::select! {
            permit = self.permits.clone().acquire_many_owned(needs) => {
                return Ok(Some(permit.expect("semaphore is never closed")));
            }
            _ = self.job.stop.cancelled() => return Ok(None),
            _ = tokio::time::sleep(POLL_EVERY) => {}
        }
        let held_by = || {
            self.job
                .writes_held_by
                .lock()
                .expect("held-by lock")
                .clone()
                .unwrap_or_else(|| "no write has failed yet, they are slow".into())
        };
        warn!(
            "every write is waiting on Cassandra ({}): consumption paused until writes go through",
            held_by()
        );
        consumer::set_paused(consumer, true);
        self.job.metrics.consumption_paused.set(1);
        let (paused_at, said) = (Instant::now(), LogPacer::default());
        said.due();
        let waited = loop {
            tokio::select! {
                biased;
                _ = self.job.stop.cancelled() => break Ok(None),
                permit = self.permits.clone().acquire_many_owned(needs) => {
                    break Ok(Some(permit.expect("semaphore is never closed")));
                }
                message = consumer.recv() => match message {
                    Ok(message) => pending.push_back(consumer.context().received(&message)),
                    Err(error) => if let Err(fatal) = errors.seen(error, &self.job.metrics) {
                        break Err(fatal);
                    },
                },
                _ = tokio::time::sleep(POLL_EVERY) => {
                    if let Err(refused) = errors.still_refused(consumer).await {
                        break Err(refused);
                    }
                    if said.due() {
                        warn!(
                            "consumption still paused after {:.0?}, every write waiting on Cassandra ({})",
                            paused_at.elapsed(),
                            held_by()
                        );
                    }
                },
            }
        };
        consumer::set_paused(consumer, false);
        self.job.metrics.consumption_paused.set(0);
        *self.job.writes_held_by.lock().expect("held-by lock") = None;
        if let Ok(Some(_)) = waited {
            info!(
                "writes go through again after {:.0?}: consumption resumed",
                paused_at.elapsed()
            );
        }
        waited
    }

    /// Starts the task that takes `record` to its row or to the DLQ; drops
    /// it unstarted when its partition was revoked since it was received
    /// (its partition's next owner, maybe this one again, reads it anew).
    fn start(&self, record: Consumed, permit: OwnedSemaphorePermit) {
        let job = self.job.clone();
        let offsets = &job.consumer.context().offsets;
        let Some(generation) = record.generation.filter(|&generation| {
            let mut offsets = offsets.lock().expect("offsets lock");
            offsets.begin(record.partition, record.offset, generation)
        }) else {
            job.metrics.dropped_revoked.inc();
            return;
        };
        job.metrics.consumed.inc();
        job.metrics.in_flight.inc();
        job.busy.consumed();
        tokio::spawn(async move {
            match job.handle(&record).await {
                Ok(true) => {
                    let offsets = &job.consumer.context().offsets;
                    let mut offsets = offsets.lock().expect("offsets lock");
                    offsets.complete(record.partition, record.offset, generation);
                    drop(offsets);
                    job.busy.done();
                }
                Ok(false) => {}
                Err(error) => job.fail(error),
            }
            job.metrics.in_flight.dec();
            // Last: the drain at shutdown counts on a returned permit
            // meaning a finished record.
            drop(permit);
        });
    }
}

/// A retried write failure in words, with what to do when it is a
/// cluster short of replicas.
fn held_by(error: &ExecutionError) -> String {
    match cassandra::unmet_consistency(error) {
        Some(unmet) => format!(
            "{unmet}: start the nodes that are down again, or lower cassandra.write_consistency"
        ),
        None => error.to_string(),
    }
}

/// The consumer's errors since the last record: transient ones are counted
/// and logged now and then, a permanent one ends the job. A refused login
/// is not permanent here: the job's start saw the login work, so a broker
/// refusing it now is most likely restarting; it is ridden out for
/// `kafka.timeout` from the first refusal (see [`kafka::Logins`]). A topic
/// that stays missing (deleted under the consumer) ends the job after
/// `kafka.timeout` too.
struct ConsumerErrors {
    last: Option<KafkaError>,
    logged: Option<Instant>,
    logins: kafka::Logins,
    kafka: KafkaSettings,
    /// When the broker first said the topic is unknown.
    missing_since: Option<Instant>,
    /// When the first error since the last record came.
    since: Option<Instant>,
}

impl ConsumerErrors {
    fn new(settings: &KafkaSettings) -> ConsumerErrors {
        ConsumerErrors {
            last: None,
            logged: None,
            logins: kafka::Logins::accepted(),
            kafka: settings.clone(),
            missing_since: None,
            since: None,
        }
    }

    /// A record came: the consumer works, whatever failed before.
    fn went_through(&mut self) {
        self.last = None;
        self.since = None;
        self.missing_since = None;
        self.logins.went_through();
    }

    /// While a refused login waits to be forgiven: forgiven once the
    /// brokers answer the consumer again (a record may not come for a
    /// while on a quiet topic), or the job's end once it lasted too long.
    async fn still_refused(&mut self, consumer: &Arc<GroupConsumer>) -> anyhow::Result<()> {
        if !self.logins.pending() {
            return Ok(());
        }
        let probe = consumer.clone();
        let answered = tokio::task::spawn_blocking(move || {
            probe
                .fetch_metadata(None, Duration::from_millis(500))
                .is_ok()
        })
        .await
        .unwrap_or(false);
        if answered {
            info!("Kafka takes the consumer's login again");
            self.logins.went_through();
        }
        match self.logins.hopeless(Instant::now(), self.kafka.timeout) {
            Some(reason) => Err(kafka::login_refused(&self.kafka, reason).context(format!(
                "the brokers kept refusing the login for {}",
                humantime::format_duration(self.kafka.timeout)
            ))),
            None => Ok(()),
        }
    }

    fn seen(&mut self, error: KafkaError, metrics: &Metrics) -> anyhow::Result<()> {
        let fatal = matches!(error, KafkaError::MessageConsumptionFatal(_));
        let (topic, group) = (&self.kafka.topic, &self.kafka.group_id);
        let need = Need::Read { topic, group };
        if let Some(refused) = error
            .rdkafka_error_code()
            .and_then(|code| kafka::refused_by_acls(&self.kafka, code, need))
        {
            return Err(refused);
        }
        if kafka::is_login_refused(&error) && !fatal {
            self.logins.refused(Instant::now(), &error.to_string());
        } else if fatal || retry::kafka(&error) == Class::Permanent {
            return Err(anyhow!(
                "the Kafka consumer failed for good: {error}; check the topic, the group and \
                 the user's permissions on them (kafka.* settings)"
            ));
        }
        metrics.consumer_errors.inc();
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) {
            self.missing_since.get_or_insert_with(Instant::now);
        }
        if self
            .logged
            .is_none_or(|at| at.elapsed() >= retry::LOG_EVERY)
        {
            warn!("Kafka consumer error (it retries by itself): {error}");
            self.logged = Some(Instant::now());
        }
        self.last = Some(error);
        self.since.get_or_insert_with(Instant::now);
        Ok(())
    }
}

impl ConsumerErrors {
    /// Once the topic has been unknown for `kafka.timeout`, asks the brokers: a
    /// topic that is gone ends the job loudly, where the consumer would
    /// wait for it in silence. One that exists (a broker was restarting)
    /// clears the alarm.
    async fn check_topic(&mut self, consumer: &Arc<GroupConsumer>) -> anyhow::Result<()> {
        let timeout = self.kafka.timeout;
        if self
            .missing_since
            .is_none_or(|since| since.elapsed() < timeout)
        {
            return Ok(());
        }
        let asked = consumer.clone();
        let topic = consumer.context().topic().to_string();
        let exists = tokio::task::spawn_blocking(move || {
            let metadata = asked.fetch_metadata(Some(&topic), timeout).ok()?;
            let found = metadata
                .topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none());
            Some(found)
        })
        .await
        .expect("a metadata request does not panic");
        match exists {
            Some(false) => Err(anyhow!(
                "the topic {} no longer exists: it was deleted while rtds read it. Records \
                 committed so far are stored; create the topic again (or point kafka.topic \
                 at another) and run again",
                consumer.context().topic()
            )),
            _ => {
                self.missing_since = None;
                Ok(())
            }
        }
    }
}

/// Resolves `idle` after the last record, or after the partitions first
/// came when none has yet: joining a group can take seconds, and that is not
/// idleness. Before any partition came, `idle` of nothing but errors (since
/// `failing_since`) is idleness too: a consumer the group never takes (a
/// broker that refuses it) would wait for its first partition forever.
/// Never resolves without `idle`.
async fn idle_after(
    idle: Option<Duration>,
    consumer: &GroupConsumer,
    last: Option<Instant>,
    failing_since: Option<Instant>,
) {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    let assigned = loop {
        if let Some(at) = consumer.context().assigned_at.get() {
            break *at;
        }
        if failing_since.is_some_and(|since| since.elapsed() >= idle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let since = last.map_or(assigned, |last| last.max(assigned));
    tokio::time::sleep_until((since + idle).into()).await;
}

/// Everything a record's task needs, shared by all of them.
struct Job {
    store: Store,
    dead_letters: DeadLetters,
    /// Where upserts go to be batched; none when every row is its own write
    /// (`cassandra.batch_rows = 1`).
    batches: Option<Batcher>,
    limiter: Limiter,
    metrics: Metrics,
    consumer: Arc<GroupConsumer>,
    max_record_bytes: usize,
    /// Cancelled at shutdown or by the first permanent failure.
    stop: CancellationToken,
    failure: Mutex<Option<anyhow::Error>>,
    busy: BusyClock,
    /// Pace the retry log lines of all writes, and of all DLQ sends.
    writes_said: LogPacer,
    dlq_said: LogPacer,
    /// The last write failure retried, in words: what a pause waits on.
    writes_held_by: Mutex<Option<String>>,
}

impl Job {
    /// Writes, deletes or dead-letters one record: true when done, false
    /// when a shutdown cut it short, an error when it can never be done.
    ///
    /// The rare paths' futures (a write alone with its retries, a dead
    /// letter) are boxed: kilobytes each, inline they would size every
    /// record's task, the thousands waiting in batches too.
    async fn handle(&self, record: &Consumed) -> anyhow::Result<bool> {
        // After a stop nothing new starts: the record waits for the next run.
        if self.stop.is_cancelled() {
            return Ok(false);
        }
        // The record's own time orders the writes of one id (see
        // [`Store::upsert`]): one key's records share a partition, so this
        // is the partition's order, whatever order the writes run in.
        let Some(at) = record.written_at else {
            let invalid = Invalid::BadTimestamp(record.timestamp_ms.unwrap_or_default());
            return Box::pin(self.dead_letter(record, &invalid)).await;
        };
        let write = if record.tombstone {
            match tombstone_id(record) {
                Ok(id) => Write::Delete(id),
                Err(invalid) => return Box::pin(self.dead_letter(record, &invalid)).await,
            }
        } else {
            match User::parse(&record.payload, self.max_record_bytes) {
                Ok(user) => Write::Upsert(Box::new(user)),
                Err(invalid) => return Box::pin(self.dead_letter(record, &invalid)).await,
            }
        };
        let written = self.write(write, at).await?;
        if written && let Some(ms) = record.timestamp_ms {
            let latency = consumer::now_ms().saturating_sub(ms).max(0) as f64 / 1000.0;
            self.metrics.end_to_end_seconds.observe(latency);
        }
        Ok(written)
    }

    /// Batcher an upsert with others, or writes it alone (a delete, or a
    /// row whose replicas the driver cannot tell).
    async fn write(&self, write: Write, at: i64) -> anyhow::Result<bool> {
        let batch = match &write {
            Write::Upsert(user) => self
                .batches
                .as_ref()
                .and_then(|batches| Some((batches, self.store.replicas(user.id)?))),
            Write::Delete(_) => None,
        };
        match (batch, write) {
            (Some((batches, replicas)), Write::Upsert(user)) => {
                Ok(batches.write(replicas, user, at).await)
            }
            (_, write) => Box::pin(self.write_alone(&write, at)).await,
        }
    }

    /// Retries transient failures with backoff, so a Cassandra outage holds
    /// this record (and its permit) until the node is back.
    async fn write_alone(&self, write: &Write, at: i64) -> anyhow::Result<bool> {
        let result = self
            .retried(|| async {
                match write {
                    Write::Upsert(user) => self.store.upsert(user, at).await,
                    Write::Delete(id) => self.store.delete(*id, at).await,
                }
            })
            .await;
        match result {
            Ok(()) => {
                match write {
                    Write::Upsert(_) => self.metrics.written.inc(),
                    Write::Delete(_) => self.metrics.deleted.inc(),
                };
                Ok(true)
            }
            Err(Stop::Cancelled) => Ok(false),
            Err(Stop::Permanent(error) | Stop::Exhausted(error)) => Err(self.refused(
                format!("{} user {}", write.verb(), write.id()),
                write.preposition(),
                &error,
            )),
        }
    }

    /// Writes a batch, retried whole (its upserts are idempotent), and tells
    /// each of its records' tasks whether it was written.
    async fn write_batch(&self, batch: Vec<Queued>) {
        let rows: Vec<(&User, i64)> = batch.iter().map(|row| (&*row.user, row.at)).collect();
        let result = self.retried(|| self.store.upsert_batch(&rows)).await;
        let written = match result {
            Ok(()) => {
                self.metrics.written.inc_by(rows.len() as u64);
                true
            }
            Err(Stop::Cancelled) => false,
            Err(Stop::Permanent(error) | Stop::Exhausted(error)) => {
                let what = format!(
                    "write a batch of {} users (the first {})",
                    rows.len(),
                    rows[0].0.id
                );
                self.fail(self.refused(what, "into", &error));
                false
            }
        };
        drop(rows);
        for row in batch {
            row.finish(written);
        }
    }

    /// Runs one write (single or batch) until it goes through, each attempt
    /// within the adaptive limit, timed and told to it. After a stop no new
    /// attempt starts; one in flight ends within its request timeout.
    async fn retried<F, Fut>(&self, write: F) -> Result<(), Stop<ExecutionError>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), ExecutionError>>,
    {
        let result = WRITE_RETRY
            .run(
                &self.stop,
                &self.writes_said,
                Attempt::class,
                |attempt| {
                    if let Attempt::Failed(error) = attempt {
                        self.metrics.write_retries.inc();
                        *self.writes_held_by.lock().expect("held-by lock") = Some(held_by(error));
                    }
                },
                || async {
                    let Some(slot) = self.limiter.acquire(&self.stop).await else {
                        return Err(Attempt::Stopped);
                    };
                    let started = Instant::now();
                    let result = write().await;
                    let took = started.elapsed();
                    self.metrics.write_seconds.observe(took.as_secs_f64());
                    self.limiter.answered(slot, Answer::of(&result, took));
                    result.map_err(|error| Attempt::Failed(Box::new(error)))
                },
            )
            .await;
        result.map_err(|stop| match stop {
            Stop::Permanent(Attempt::Failed(error)) => Stop::Permanent(*error),
            Stop::Exhausted(Attempt::Failed(error)) => Stop::Exhausted(*error),
            _ => Stop::Cancelled,
        })
    }

    /// A write Cassandra refused for good, in words that say what to do.
    fn refused(&self, what: String, preposition: &str, error: &ExecutionError) -> anyhow::Error {
        anyhow!(
            "Cassandra refused to {what} {preposition} {}: {error}. Retrying cannot help: \
             check the table's schema and the role's permissions, then run again \
             (nothing was committed past this record)",
            self.store.table()
        )
    }

    async fn dead_letter(&self, record: &Consumed, invalid: &Invalid) -> anyhow::Result<bool> {
        let result = DLQ_RETRY
            .run(
                &self.stop,
                &self.dlq_said,
                retry::kafka,
                |_| {
                    self.metrics.dlq_retries.inc();
                },
                || self.dead_letters.send(record, invalid),
            )
            .await;
        match result {
            Ok(sent) => {
                if sent == Sent::Truncated {
                    info!(
                        partition = record.partition,
                        offset = record.offset,
                        "a {}-byte record went to the DLQ truncated",
                        record.payload.len()
                    );
                }
                self.metrics.dead_lettered.inc(invalid.kind());
                Ok(true)
            }
            Err(Stop::Cancelled) => Ok(false),
            Err(Stop::Permanent(error) | Stop::Exhausted(error)) => {
                Err(match self.dead_letters.refused(&error) {
                    Some(refused) => refused.context(format!(
                        "cannot send the record at partition {} offset {} to the DLQ (nothing was \
                     committed past it)",
                        record.partition, record.offset
                    )),
                    None => anyhow!(
                        "cannot send the record at partition {} offset {} to the DLQ topic {}: {error}. \
                 Retrying cannot help: check that the topic exists, that rtds may write to it, \
                 its max.message.bytes and its message.timestamp.*.max.ms (a dead letter keeps \
                 its record's original time), then run again (nothing was committed past this record)",
                        record.partition,
                        record.offset,
                        self.dead_letters.topic()
                    ),
                })
            }
        }
    }

    /// Keeps the first permanent failure and stops the job with it.
    fn fail(&self, error: anyhow::Error) {
        let mut failure = self.failure.lock().expect("failure lock");
        if failure.is_none() {
            tracing::error!("{error:#}");
            *failure = Some(error);
        }
        self.stop.cancel();
    }
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

/// Why a write attempt did not go through.
enum Attempt {
    /// Boxed: a failure is rare, and the error is hundreds of bytes.
    Failed(Box<ExecutionError>),
    /// The job stopped before a slot under the limit was free.
    Stopped,
}

impl Attempt {
    fn class(&self) -> Class {
        match self {
            Attempt::Failed(error) => retry::cassandra(error),
            Attempt::Stopped => Class::Permanent,
        }
    }
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attempt::Failed(error) => error.fmt(f),
            Attempt::Stopped => f.write_str("stopped before it started"),
        }
    }
}

/// What a valid record does to the table.
enum Write {
    Upsert(Box<User>),
    /// A tombstone: the user asked to be forgotten.
    Delete(uuid::Uuid),
}

impl Write {
    fn id(&self) -> uuid::Uuid {
        match self {
            Write::Upsert(user) => user.id,
            Write::Delete(id) => *id,
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Write::Upsert(_) => "write",
            Write::Delete(_) => "delete",
        }
    }

    fn preposition(&self) -> &'static str {
        match self {
            Write::Upsert(_) => "into",
            Write::Delete(_) => "from",
        }
    }
}

/// The id a tombstone deletes: its key, which must be a UUID.
fn tombstone_id(record: &Consumed) -> Result<uuid::Uuid, Invalid> {
    let key = record.key.as_deref().unwrap_or_default();
    std::str::from_utf8(key)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Invalid::BadTombstone(shown_key(key)))
}

/// A key as a reason quotes it: its first characters, and its size when
/// longer. A key is the producer's to choose, and can be a megabyte.
fn shown_key(key: &[u8]) -> String {
    const SHOWN: usize = 64;
    let text = String::from_utf8_lossy(&key[..key.len().min(SHOWN)]).into_owned();
    if key.len() > SHOWN {
        format!("{text}… ({} bytes)", key.len())
    } else {
        text
    }
}
