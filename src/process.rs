//! `rtds process`: the stream job that replaces the tutorial's Spark job.
//! Reads `users_created` in a consumer group, validates each message, upserts
//! valid users into Cassandra and sends the rest to the dead-letter topic.
//!
//! Three levels: [`run`] sets up, drains and sums up; the consumer loop is
//! [`listener`]; [`handler`] takes one record to its row or to the DLQ.
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
mod handler;
mod limiter;
mod listener;
mod mapped;
mod offsets;
mod tables;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use serde::Serialize;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cassandra::{Store, open_mapped};
use crate::config::Settings;
use crate::dlq::send::DeadLetters;
use crate::kafka::{self, Need};
use crate::mapping::{self, Format, Mapping};
use crate::metrics::Metrics;
use crate::metrics::progress::{self, Progress};
use crate::registry;
use consumer::GroupConsumer;
use handler::Handler;
use listener::Listener;
use tables::{Mapped, Tables};

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
    /// The `[[mapping]]` entries to run, by name (`--mapping`); all of them
    /// when empty.
    pub mappings: Vec<String>,
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
    let plan = Plan::of(settings, &options.mappings)?;
    let topic = plan.topics.join(", ");
    let (tables, dead_letters, consumer) = connect(settings, plan, &metrics).await?;
    if let Some(ready) = options.ready {
        let _ = ready.send(());
    }
    let parts = Parts {
        tables,
        dead_letters,
        consumer: consumer.clone(),
        metrics: metrics.clone(),
        stop: shutdown.child_token(),
    };
    let (job, batching) = Handler::start(settings, parts);
    // Room for as many records as the writes in flight can hold, and as
    // many KiB: a large record takes room for its size (see `Consumed::room`).
    let rows_per_batch = job.tables.batch_limits().rows;
    let room = (settings.cassandra.concurrency * rows_per_batch) as u32; // at most MAX_CONCURRENCY * MAX_BATCH_ROWS
    let permits = Arc::new(Semaphore::new(room as usize));

    let started = Instant::now();
    let progress = shown(&metrics, started);
    let lag = tokio::spawn(consumer::watch_lag(consumer.clone(), metrics.clone()));
    let storer = tokio::spawn({
        let consumer = consumer.clone();
        async move {
            loop {
                tokio::time::sleep(STORE_EVERY).await;
                consumer.context().store_moved(&*consumer);
            }
        }
    });

    // On a worker of the runtime, not on the thread that waits for it: a
    // record's task spawned there is queued on that worker, where one
    // spawned from outside the workers wakes one of them each time
    // (measured over three rounds of 200,000 records: 3 to 18 % less CPU).
    let listener = Listener {
        job: job.clone(),
        permits: permits.clone(),
        room,
        idle: options.idle,
        kafka: settings.kafka.clone(),
    };
    let listened = tokio::spawn(async move { listener.run().await })
        .await
        .expect("the listener does not panic");
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

/// What a run reads and writes: the topics, and the mappings that feed
/// tables from them; none for the users pipeline.
struct Plan {
    topics: Vec<String>,
    mappings: Vec<Mapping>,
}

impl Plan {
    /// The users pipeline without `[[mapping]]` entries; else the entries
    /// named (all when `names` is empty), each topic once.
    fn of(settings: &Settings, names: &[String]) -> anyhow::Result<Plan> {
        if settings.mapping.is_empty() {
            if !names.is_empty() {
                anyhow::bail!(
                    "--mapping {} names no [[mapping]] entry: the settings have none, so \
                     `rtds process` runs the users pipeline; add the entries, or drop --mapping",
                    names.join(", ")
                );
            }
            let topics = vec![settings.kafka.topic.clone()];
            return Ok(Plan {
                topics,
                mappings: users_in_avro(settings)?,
            });
        }
        let mappings = mapping::chosen(&settings.mapping, names)?;
        let mut topics: Vec<String> = Vec::new();
        for mapping in &mappings {
            if !topics.contains(&mapping.topic) {
                topics.push(mapping.topic.clone());
            }
        }
        Ok(Plan { topics, mappings })
    }
}

/// The users pipeline in Avro (`kafka.format`) is the built-in mapping
/// reading Avro; in JSON, its own path (none).
fn users_in_avro(settings: &Settings) -> anyhow::Result<Vec<Mapping>> {
    if settings.kafka.format != Format::Avro {
        return Ok(Vec::new());
    }
    let (kafka, cassandra) = (&settings.kafka, &settings.cassandra);
    let mut spec = mapping::builtin_spec(&kafka.topic, &cassandra.keyspace, &cassandra.table);
    spec.format = Format::Avro;
    Ok(vec![Mapping::parse(&spec).map_err(anyhow::Error::msg)?])
}

/// The tables, the DLQ and the subscribed consumer: everything `run` needs
/// from outside, each checked (a missing topic, a refused login, a table of
/// the wrong shape fail here, before anything is consumed).
async fn connect(
    settings: &Settings,
    plan: Plan,
    metrics: &Metrics,
) -> anyhow::Result<(Tables, DeadLetters, Arc<GroupConsumer>)> {
    let tables = open_tables(settings, &plan).await?;
    let group = &settings.kafka.group_id;
    for topic in &plan.topics {
        kafka::ensure_topic(&settings.kafka, Need::Read { topic, group }).await?;
    }
    let dlq = &settings.kafka.dlq_topic;
    kafka::ensure_topic(&settings.kafka, Need::Write { topic: dlq }).await?;
    let dead_letters = DeadLetters::new(&settings.kafka, plan.topics.clone())?;
    let topic = plan.topics.join(", ");
    let consumer = consumer::subscribe(settings, plan.topics, metrics)?;
    info!(%topic, table = tables.names(), group = %settings.kafka.group_id, "processing");
    Ok((tables, dead_letters, consumer))
}

/// The users table, or each mapping's, made or checked.
async fn open_tables(settings: &Settings, plan: &Plan) -> anyhow::Result<Tables> {
    if plan.mappings.is_empty() {
        return Ok(Tables::Users(Box::new(
            Store::open(&settings.cassandra).await?,
        )));
    }
    let (tables, limits) = open_mapped(&settings.cassandra, plan.mappings.clone()).await?;
    let by_topic = plan
        .topics
        .iter()
        .map(|topic| {
            let feeds = tables.iter().enumerate();
            feeds
                .filter(|(_, table)| table.mapping.topic == *topic)
                .map(|(index, _)| index)
                .collect()
        })
        .collect();
    let formats = plan
        .topics
        .iter()
        .map(|topic| {
            let feeding = plan.mappings.iter().find(|m| m.topic == *topic);
            feeding.map_or(Format::Json, |mapping| mapping.format)
        })
        .collect::<Vec<_>>();
    let registry = match formats.iter().any(|format| !format.is_json()) {
        true => Some(Box::new(registry::open(&settings.registry).await?)),
        false => None,
    };
    Ok(Tables::Mapped(Mapped {
        tables,
        by_topic,
        limits,
        ttl: settings.cassandra.ttl.as_secs().min(i32::MAX as u64) as i32,
        formats,
        registry,
    }))
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
fn summary(job: &Handler, topic: String, started: Instant) -> Summary {
    let metrics = &job.metrics;
    let busy = job.busy.span();
    Summary {
        topic,
        table: job.tables.names(),
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

/// What a [`Handler`] is made of that `run` opens first.
struct Parts {
    tables: Tables,
    dead_letters: DeadLetters,
    consumer: Arc<GroupConsumer>,
    metrics: Metrics,
    stop: CancellationToken,
}
