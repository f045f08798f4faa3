//! One record to its end: validated, then upserted, deleted or
//! dead-lettered, with the retries, the batching and the counting that go
//! with it. The [`Handler`] is shared by every record's task.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use scylla::errors::ExecutionError;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::Parts;
use super::batcher::{Batcher, Queued};
use super::consumer::{Consumed, GroupConsumer};
use super::limiter::{Answer, Limiter};
use super::tables::{Key, Row, Tables};
use crate::cassandra;
use crate::config::Settings;
use crate::dlq::send::{DeadLetters, Sent};
use crate::metrics::Metrics;
use crate::retry::{self, Class, DLQ_RETRY, LogPacer, Stop, WRITE_RETRY};
use crate::user::{Invalid, User};

/// Everything a record's task needs, shared by all of them.
pub(super) struct Handler {
    pub(super) tables: Tables,
    pub(super) dead_letters: DeadLetters,
    /// Where upserts go to be batched; none when every row is its own write
    /// (`cassandra.batch_rows = 1`).
    pub(super) batches: Option<Batcher>,
    pub(super) limiter: Limiter,
    pub(super) metrics: Metrics,
    pub(super) consumer: Arc<GroupConsumer>,
    pub(super) max_record_bytes: usize,
    /// Cancelled at shutdown or by the first permanent failure.
    pub(super) stop: CancellationToken,
    pub(super) failure: Mutex<Option<anyhow::Error>>,
    pub(super) busy: BusyClock,
    /// Pace the retry log lines of all writes, and of all DLQ sends.
    pub(super) writes_said: LogPacer,
    pub(super) dlq_said: LogPacer,
    pub(super) registry_said: LogPacer,
    /// The last failure retried, in words, with the service that failed
    /// (`Cassandra (...)`): what a pause waits on.
    pub(super) writes_held_by: Mutex<Option<String>>,
}

impl Handler {
    /// Writes, deletes or dead-letters one record: true when done, false
    /// when a shutdown cut it short, an error when it can never be done.
    ///
    /// The rare paths' futures (a write alone with its retries, a dead
    /// letter) are boxed: kilobytes each, inline they would size every
    /// record's task, the thousands waiting in batches too.
    pub(super) async fn handle(&self, record: &Consumed) -> anyhow::Result<bool> {
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
        let written = match &self.tables {
            Tables::Users(_) => self.handle_user(record, at).await?,
            Tables::Mapped(mapped) => self.handle_mapped(mapped, record, at).await?,
        };
        if written && let Some(age) = record.age() {
            self.metrics.end_to_end_seconds.observe(age);
        }
        Ok(written)
    }

    /// A record of the users pipeline: its user upserted, or for a
    /// tombstone its id deleted.
    async fn handle_user(&self, record: &Consumed, at: i64) -> anyhow::Result<bool> {
        let write = if record.tombstone {
            match tombstone_id(record) {
                Ok(id) => Write::Delete(Key::User(id)),
                Err(invalid) => return Box::pin(self.dead_letter(record, &invalid)).await,
            }
        } else {
            match User::parse(&record.payload, self.max_record_bytes) {
                Ok(user) => Write::Upsert(Row::User(Box::new(user))),
                Err(invalid) => return Box::pin(self.dead_letter(record, &invalid)).await,
            }
        };
        self.write(write, at).await
    }

    /// Batches an upsert with others, or writes it alone (a delete, or a
    /// row whose replicas the driver cannot tell).
    pub(super) async fn write(&self, write: Write, at: i64) -> anyhow::Result<bool> {
        let batch = match &write {
            Write::Upsert(row) => self
                .batches
                .as_ref()
                .and_then(|batches| Some((batches, self.tables.replicas(row)?))),
            Write::Delete(_) => None,
        };
        match (batch, write) {
            (Some((batches, replicas)), Write::Upsert(row)) => {
                Ok(batches.write(replicas, row, at).await)
            }
            (_, write) => Box::pin(self.write_alone(&write, at)).await,
        }
    }

    /// Retries transient failures with backoff, so a Cassandra outage holds
    /// this record (and its permit) until the node is back.
    async fn write_alone(&self, write: &Write, at: i64) -> anyhow::Result<bool> {
        let result = self
            .retried(1, || async {
                match write {
                    Write::Upsert(row) => self.tables.upsert(row, at).await,
                    Write::Delete(key) => self.tables.delete(key, at).await,
                }
            })
            .await;
        match result {
            Ok(()) => {
                match write {
                    Write::Upsert(_) => self.metrics.written.inc(),
                    Write::Delete(_) => self.metrics.deleted.inc(),
                };
                self.count_mapped(write.table(), write.outcome(), 1);
                Ok(true)
            }
            Err(Stop::Cancelled) => Ok(false),
            Err(Stop::Permanent(error) | Stop::Exhausted(error)) => Err(self.refused(
                format!("{} {}", write.verb(), write.what()),
                write.preposition(),
                write.table(),
                &error,
            )),
        }
    }

    /// Writes a batch, retried whole (its upserts are idempotent), and tells
    /// each of its records' tasks whether it was written.
    async fn write_batch(&self, batch: Vec<Queued>) {
        let rows: Vec<(&Row, i64)> = batch
            .iter()
            .map(|queued| (&queued.row, queued.at))
            .collect();
        let table = rows[0].0.table();
        let result = self
            .retried(rows.len(), || self.tables.upsert_batch(&rows))
            .await;
        let written = match result {
            Ok(()) => {
                self.metrics.written.inc_by(rows.len() as u64);
                self.count_mapped(table, "written", rows.len() as u64);
                true
            }
            Err(Stop::Cancelled) => false,
            Err(Stop::Permanent(error) | Stop::Exhausted(error)) => {
                let what = format!(
                    "write a batch of {} rows (the first {})",
                    rows.len(),
                    Write::described(rows[0].0)
                );
                self.fail(self.refused(what, "into", table, &error));
                false
            }
        };
        drop(rows);
        for row in batch {
            row.finish(written);
        }
    }

    /// Runs one write (single or batch, of `rows`) until it goes through,
    /// each attempt within the adaptive limit, timed and told to it. After a
    /// stop no new attempt starts; one in flight ends within its request
    /// timeout.
    async fn retried<F, Fut>(&self, rows: usize, write: F) -> Result<(), Stop<ExecutionError>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), ExecutionError>>,
    {
        let _under_way = self.limiter.under_way();
        let result = WRITE_RETRY
            .run(
                &self.stop,
                &self.writes_said,
                Attempt::class,
                |attempt| {
                    if let Attempt::Failed(error) = attempt {
                        self.metrics.write_retries.inc();
                        *self.writes_held_by.lock().expect("held-by lock") =
                            Some(format!("Cassandra ({})", held_by(error)));
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
                    self.limiter.answered(slot, Answer::of(&result, took, rows));
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

    /// Counts rows of a mapping's table by outcome, for its label.
    pub(super) fn count_mapped(&self, table: usize, outcome: &'static str, rows: u64) {
        if let Some(mapping) = self.tables.mapping(table) {
            self.metrics.mapped(mapping, outcome, rows);
        }
    }

    /// A write Cassandra refused for good, in words that say what to do.
    fn refused(
        &self,
        what: String,
        preposition: &str,
        table: usize,
        error: &ExecutionError,
    ) -> anyhow::Error {
        anyhow!(
            "Cassandra refused to {what} {preposition} {}: {error}. Retrying cannot help: \
             check the table's schema and the role's permissions, then run again \
             (nothing was committed past this record)",
            self.tables.name(table)
        )
    }

    pub(super) async fn dead_letter(
        &self,
        record: &Consumed,
        invalid: &Invalid,
    ) -> anyhow::Result<bool> {
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
    pub(super) fn fail(&self, error: anyhow::Error) {
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
pub(super) struct BusyClock {
    first: OnceLock<Instant>,
    /// Nanoseconds from `first` to the last record done.
    last: AtomicU64,
}

impl BusyClock {
    pub(super) fn consumed(&self) {
        self.first.get_or_init(Instant::now);
    }

    pub(super) fn done(&self) {
        if let Some(first) = self.first.get() {
            let nanos = first.elapsed().as_nanos() as u64;
            self.last.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    pub(super) fn span(&self) -> Duration {
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

/// What a valid record does to a table.
pub(super) enum Write {
    Upsert(Row),
    /// A tombstone: the row of this key is to be forgotten.
    Delete(Key),
}

impl Write {
    fn table(&self) -> usize {
        match self {
            Write::Upsert(row) => row.table(),
            Write::Delete(Key::User(_)) => 0,
            Write::Delete(Key::Mapped { table, .. }) => *table,
        }
    }

    /// The row, in a message: the user's id; a mapped row is named by its
    /// table, which the message names too.
    fn what(&self) -> String {
        match self {
            Write::Upsert(row) => Write::described(row),
            Write::Delete(Key::User(id)) => format!("user {id}"),
            Write::Delete(Key::Mapped { .. }) => "a row by its key".into(),
        }
    }

    fn described(row: &Row) -> String {
        match row {
            Row::User(user) => format!("user {}", user.id),
            Row::Mapped { .. } => "a row".into(),
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Write::Upsert(_) => "written",
            Write::Delete(_) => "deleted",
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

impl Handler {
    /// The job, with its batcher when rows are batched (the batcher's task
    /// too, to stop once drained). The batcher holds the job weakly: a
    /// batch flushed after the job is gone finishes its rows as not done.
    pub(super) fn start(
        settings: &Settings,
        parts: Parts,
    ) -> (Arc<Handler>, Option<tokio::task::JoinHandle<()>>) {
        let cassandra = &settings.cassandra;
        let limits = parts.tables.batch_limits();
        let limiter = Limiter::new(
            cassandra.concurrency,
            cassandra.adaptive_concurrency,
            parts.metrics.write_concurrency_limit.clone(),
        );
        let mut batching = None;
        let job = Arc::new_cyclic(|job: &Weak<Handler>| {
            let batches = (limits.rows > 1).then(|| {
                let job = job.clone();
                let idle = {
                    let job = job.clone();
                    move || job.upgrade().is_some_and(|job| job.limiter.idle())
                };
                let (batches, task) =
                    Batcher::start(limits, cassandra.batch_linger, idle, move |batch| match job
                        .upgrade()
                    {
                        Some(job) => {
                            drop(tokio::spawn(async move { job.write_batch(batch).await }))
                        }
                        None => batch.into_iter().for_each(|row| row.finish(false)),
                    });
                batching = Some(task);
                batches
            });
            Handler {
                tables: parts.tables,
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
                registry_said: LogPacer::default(),
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
