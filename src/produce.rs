//! `rtds produce`: users from the source to the Kafka topic, the tutorial's
//! Airflow task done right: many users per request, pages in flight
//! concurrently, records batched and compressed, every record acknowledged or
//! reported, the producer flushed before exit.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{KafkaSettings, Settings};
use crate::kafka::{self, Need, Role};
use crate::mapping::Format;
use crate::metrics::Metrics;
use crate::metrics::progress::{self, Progress};
use crate::registry::{Registry, users::UsersAvro};
use crate::source::{Source, SourceError, builtin};
use crate::user::User;
use uuid::Uuid;

/// When a run stops producing: after `count` records, after `duration`, or at
/// whichever comes first; Ctrl-C always stops it.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub count: Option<u64>,
    pub duration: Option<Duration>,
}

/// What a run did, printed at the end (`--json` prints it as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub source: String,
    pub topic: String,
    pub fetched: u64,
    pub skipped: u64,
    pub source_errors: u64,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub seconds: f64,
    pub records_per_second: f64,
}

impl Summary {
    /// Every record handed to Kafka was acknowledged.
    pub fn delivered_all(&self) -> bool {
        self.failed == 0 && self.acked == self.sent
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "produced {} of {} records to {} from {} in {:.1}s ({:.0} records/s); failed {}, results skipped {}, source errors {}",
            self.acked,
            self.sent,
            self.topic,
            self.source,
            self.seconds,
            self.records_per_second,
            self.failed,
            self.skipped,
            self.source_errors
        )
    }
}

/// The producer's counters at one moment: the metrics are shared and
/// cumulative (`rtds run` produces many times), a summary is of one run.
struct Counts {
    fetched: u64,
    skipped: u64,
    source_errors: u64,
    sent: u64,
    acked: u64,
}

impl Counts {
    fn of(metrics: &Metrics) -> Counts {
        Counts {
            fetched: metrics.fetched.get(),
            skipped: metrics.skipped.get(),
            source_errors: metrics.source_errors.total(),
            sent: metrics.sent.get(),
            acked: metrics.acked.get(),
        }
    }

    fn since(&self, before: &Counts) -> Counts {
        Counts {
            fetched: self.fetched - before.fetched,
            skipped: self.skipped - before.skipped,
            source_errors: self.source_errors - before.source_errors,
            sent: self.sent - before.sent,
            acked: self.acked - before.acked,
        }
    }
}

/// Counts deliveries as Kafka reports them, so no record is awaited one by
/// one, and tells when the idempotent producer has its producer id.
struct ProducerEvents {
    metrics: Metrics,
    /// True once the producer id is assigned: records sent before wait
    /// for it in librdkafka's queue (half a second after start).
    has_id: watch::Sender<bool>,
    /// The first refusal by the broker's ACLs: every record after it would
    /// be refused too, so the run stops at once rather than fail them all.
    refused: OnceLock<RDKafkaErrorCode>,
    /// Cancelled at that refusal: ends the fetching.
    stop: CancellationToken,
}

impl ProducerEvents {
    /// The error the run stops with when the ACLs refused it.
    fn refused(&self, settings: &KafkaSettings, topic: &str) -> Option<anyhow::Error> {
        let code = *self.refused.get()?;
        kafka::refused_by_acls(settings, code, Need::Write { topic })
    }
}

impl ClientContext for ProducerEvents {
    /// librdkafka says that the id is assigned only in its `eos` debug log
    /// ("Idempotent producer state change WaitPID -> Assigned").
    fn log(&self, _: RDKafkaLogLevel, fac: &str, message: &str) {
        if fac == "IDEMPSTATE" && message.ends_with("-> Assigned") {
            self.has_id.send_replace(true);
        }
        tracing::debug!(target: "librdkafka", "{fac}: {message}");
    }
}

impl ProducerContext for ProducerEvents {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.metrics.acked.inc();
            }
            Err((error, message)) => {
                if let Some(code) = error.rdkafka_error_code()
                    && kafka::is_refused_by_acls(code)
                {
                    self.refused.get_or_init(|| code);
                    self.stop.cancel();
                }
                let failed = self.metrics.failed.inc();
                // The first failures say why; the rest are counted.
                if failed < 5 {
                    warn!(
                        topic = message.topic(),
                        "Kafka did not take a record: {error}"
                    );
                }
            }
        }
    }
}

/// The producer; `stop` is cancelled when the broker's ACLs refuse it.
fn create_producer(
    settings: &KafkaSettings,
    metrics: Metrics,
    stop: CancellationToken,
) -> anyhow::Result<ThreadedProducer<ProducerEvents>> {
    let mut config = kafka::client_config(settings, Role::Producer)?;
    let debug = match config.get("debug") {
        Some(asked) => format!("{asked},eos"),
        None => "eos".to_string(),
    };
    config
        .set("debug", debug)
        .set_log_level(RDKafkaLogLevel::Debug);
    config
        .create_with_context(ProducerEvents {
            metrics,
            has_id: watch::Sender::new(false),
            refused: OnceLock::new(),
            stop,
        })
        .context("cannot create the Kafka producer (check the kafka.* settings)")
}

/// How long a run waits for its producer id before its clock starts.
const ID_WITHIN: Duration = Duration::from_secs(10);

/// Waits until the producer has its id, so that the run's first records
/// are sent at once instead of waiting in the queue, their latency counted.
/// Past [`ID_WITHIN`] the run starts anyway (its records wait for the id,
/// within their delivery timeout), saying so.
async fn has_id(producer: &ThreadedProducer<ProducerEvents>) {
    let mut has_id = producer.context().has_id.subscribe();
    let waited = tokio::time::timeout(ID_WITHIN, has_id.wait_for(|has| *has)).await;
    if waited.is_err() {
        warn!(
            "the Kafka producer has no producer id after {ID_WITHIN:?}: records wait for it \
             (is every broker reachable? kafka.bootstrap_servers)"
        );
    }
}

/// How long the final flush waits beyond the delivery timeout: a record
/// still in flight when the run ends gets its whole `message.timeout.ms`,
/// so nothing Kafka would still acknowledge is counted as failed.
const FLUSH_MARGIN: Duration = Duration::from_secs(5);

/// Runs one produce job until `limit` or `shutdown`, then flushes.
pub async fn run(
    settings: &Settings,
    limit: Limit,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<Summary> {
    let topic = settings.kafka.topic.clone();
    let encoder = Arc::new(Encoder::of(settings).await?);
    kafka::ensure_topic(&settings.kafka, Need::Write { topic: &topic }).await?;
    let stop = shutdown.child_token();
    let producer = create_producer(&settings.kafka, metrics.clone(), stop.clone())?;
    has_id(&producer).await;

    let seed = match settings.produce.seed.as_str() {
        "" => builtin::random_seed(),
        seed => seed.to_string(),
    };
    let source = Arc::new(Source::new(&settings.produce, &seed, metrics.clone())?);
    let described = source.describe();
    info!(source = %described, %topic, seed, "producing users");

    let before = Counts::of(&metrics);
    let started = Instant::now();
    let progress = Progress::start("produce", limit.count, {
        let m = metrics.clone();
        move || {
            let acked = m.acked.get();
            let message = format!(
                "fetched {} sent {} acked {} failed {} ({:.0}/s)",
                m.fetched.get(),
                m.sent.get(),
                acked,
                m.failed.get(),
                progress::rate(acked, started.elapsed())
            );
            (acked, message)
        }
    });

    let flush_timeout = kafka::delivery_timeout(&settings.kafka) + FLUSH_MARGIN;
    let (pages, received) = mpsc::channel::<Vec<Outgoing>>(2);
    let fetcher = tokio::spawn(fetch(
        source,
        encoder,
        settings.produce.clone(),
        limit,
        metrics.clone(),
        stop,
        pages,
    ));
    let pace = Source::max_rate(&settings.produce).map(|rate| Pace::new(rate, shutdown.clone()));
    let sender = tokio::task::spawn_blocking({
        let metrics = metrics.clone();
        move || send_all(producer, &topic, received, &metrics, pace, flush_timeout)
    });
    let fetched = fetcher.await.expect("fetch task does not panic");
    let (producer, flushed) = sender.await.expect("send task does not panic");
    progress.finish().await;
    ended(producer, flushed, &settings.kafka, &settings.kafka.topic)?;
    fetched?;

    let elapsed = started.elapsed();
    let counted = Counts::of(&metrics).since(&before);
    let summary = Summary {
        source: described,
        topic: settings.kafka.topic.clone(),
        fetched: counted.fetched,
        skipped: counted.skipped,
        source_errors: counted.source_errors,
        sent: counted.sent,
        acked: counted.acked,
        // Reported failed, or still unacknowledged when the flush gave up.
        failed: counted.sent - counted.acked,
        seconds: elapsed.as_secs_f64(),
        records_per_second: progress::rate(counted.acked, elapsed),
    };
    Ok(summary)
}

/// One record ready for Kafka. Made in the page tasks, on every core, so the
/// sending thread only hands bytes to librdkafka.
struct Outgoing {
    /// The record's id, hyphenated: the message key.
    key: [u8; 36],
    /// None for a tombstone.
    payload: Option<Vec<u8>>,
}

impl Outgoing {
    fn keyed(id: Uuid, payload: Option<Vec<u8>>) -> Outgoing {
        let mut key = [0; 36];
        id.hyphenated().encode_lower(&mut key);
        Outgoing { key, payload }
    }
}

/// How a user becomes a record's value: JSON, or Avro in the schema
/// registry's wire format (`kafka.format`).
enum Encoder {
    Json,
    Avro(UsersAvro),
}

impl Encoder {
    /// For Avro, the users' schema registered first.
    async fn of(settings: &Settings) -> anyhow::Result<Encoder> {
        if settings.kafka.format != Format::Avro {
            return Ok(Encoder::Json);
        }
        let registry = Registry::new(&settings.registry)?;
        Ok(Encoder::Avro(
            UsersAvro::register(&registry, &settings.kafka.topic).await?,
        ))
    }

    fn outgoing(&self, user: User) -> Outgoing {
        let id = user.id;
        let payload = match self {
            Encoder::Json => user.to_json(),
            Encoder::Avro(avro) => avro.encode(user),
        };
        Outgoing::keyed(id, Some(payload))
    }
}

/// `rtds produce --delete ID...`: one tombstone per id (the id as key, no
/// value), which the processor turns into a delete of that user's row.
pub async fn tombstones(
    settings: &Settings,
    ids: &[Uuid],
    metrics: Metrics,
) -> anyhow::Result<Summary> {
    let topic = settings.kafka.topic.clone();
    kafka::ensure_topic(&settings.kafka, Need::Write { topic: &topic }).await?;
    let producer = create_producer(&settings.kafka, metrics.clone(), CancellationToken::new())?;
    let started = Instant::now();
    let page: Vec<Outgoing> = ids.iter().map(|id| Outgoing::keyed(*id, None)).collect();
    let flush_timeout = kafka::delivery_timeout(&settings.kafka) + FLUSH_MARGIN;
    let (producer, flushed) = tokio::task::spawn_blocking({
        let (topic, metrics) = (topic.clone(), metrics.clone());
        move || {
            send_page(&producer, &topic, &page, &metrics, None);
            let flushed = producer.flush(flush_timeout);
            (producer, flushed)
        }
    })
    .await
    .expect("send task does not panic");
    ended(producer, flushed, &settings.kafka, &topic)?;
    let (sent, acked) = (metrics.sent.get(), metrics.acked.get());
    let elapsed = started.elapsed();
    Ok(Summary {
        source: "--delete".into(),
        topic,
        fetched: 0,
        skipped: 0,
        source_errors: 0,
        sent,
        acked,
        failed: sent - acked,
        seconds: elapsed.as_secs_f64(),
        records_per_second: progress::rate(acked, elapsed),
    })
}

/// How the sending ended: the run's end when the ACLs refused it, else a
/// warning when the final flush did not finish (the records it left are
/// counted as failed).
fn ended(
    producer: ThreadedProducer<ProducerEvents>,
    flushed: KafkaResult<()>,
    settings: &KafkaSettings,
    topic: &str,
) -> anyhow::Result<()> {
    if let Some(refused) = producer.context().refused(settings, topic) {
        return Err(refused);
    }
    if let Err(error) = flushed {
        warn!("flushing the producer did not finish: {error}");
    }
    Ok(())
}

/// Hands every page that comes to the producer, until the fetching ends
/// or the ACLs refuse the records (which stops the fetching: its pages
/// would be refused too), then flushes.
fn send_all(
    producer: ThreadedProducer<ProducerEvents>,
    topic: &str,
    mut received: mpsc::Receiver<Vec<Outgoing>>,
    metrics: &Metrics,
    mut pace: Option<Pace>,
    flush_timeout: Duration,
) -> (ThreadedProducer<ProducerEvents>, KafkaResult<()>) {
    while let Some(page) = received.blocking_recv() {
        if producer.context().refused.get().is_some() {
            break;
        }
        send_page(&producer, topic, &page, metrics, pace.as_mut());
    }
    let flushed = producer.flush(flush_timeout);
    (producer, flushed)
}

/// Hands one page of records to the producer, each at its time when paced,
/// waiting while the producer's queue is full.
fn send_page(
    producer: &ThreadedProducer<ProducerEvents>,
    topic: &str,
    page: &[Outgoing],
    metrics: &Metrics,
    mut pace: Option<&mut Pace>,
) {
    for outgoing in page {
        if let Some(pace) = pace.as_deref_mut() {
            pace.wait();
        }
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).key(&outgoing.key[..]);
        if let Some(payload) = &outgoing.payload {
            record = record.payload(payload);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => {
                    metrics.failed.inc();
                    warn!("cannot hand a record to the Kafka producer: {error}");
                    break;
                }
            }
        }
        metrics.sent.inc();
    }
}

/// Spaces the records of a `--max-rate` run evenly: each leaves at its own
/// time, not with its page, so the topic receives a steady stream instead
/// of a page's burst every few seconds (and each record's end-to-end time
/// is not spent queued behind its page).
struct Pace {
    interval: Duration,
    next: Instant,
    /// Ctrl-C: the records left are sent at once rather than at the pace.
    stop: CancellationToken,
}

impl Pace {
    /// How far the pace may fall behind and still catch up at once: after
    /// a source that stalled, the records that come are not one burst (a
    /// 100 ms window holds at most 1.4 times its share), and a sender that
    /// woke late on a busy machine still keeps the rate (at 10 ms a run
    /// beside a compacting node fell 3 to 6 % short).
    const SLACK: Duration = Duration::from_millis(40);
    /// The longest single sleep, so that a slow pace still sees Ctrl-C.
    const LOOK: Duration = Duration::from_millis(100);

    fn new(rate: f64, stop: CancellationToken) -> Pace {
        Pace {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Instant::now(),
            stop,
        }
    }

    /// Waits for the next record's time.
    fn wait(&mut self) {
        loop {
            let now = Instant::now();
            if now >= self.next {
                self.next = self.next.max(now - Self::SLACK);
                break;
            }
            if self.stop.is_cancelled() {
                break;
            }
            std::thread::sleep((self.next - now).min(Self::LOOK));
        }
        self.next += self.interval;
    }
}

/// Asks the source for pages, at most `concurrency` in flight, paced to
/// `max_rate`, until the limit is reached or `shutdown` fires. Pages go to
/// `pages` in the order they complete; the channel's bound is backpressure.
async fn fetch(
    source: Arc<Source>,
    encoder: Arc<Encoder>,
    settings: crate::config::ProduceSettings,
    limit: Limit,
    metrics: Metrics,
    shutdown: CancellationToken,
    pages: mpsc::Sender<Vec<Outgoing>>,
) -> Result<(), SourceError> {
    let mut pager = Pager::new(source, encoder, &settings, limit, &shutdown);
    loop {
        pager.start_pages().await;
        if pager.in_flight.is_empty() {
            return Ok(());
        }
        let Some(result) = pager.next_done().await else {
            continue;
        };
        let records = pager.took(result)?;
        metrics.fetched.inc_by(records.len() as u64);
        if pages.send(records).await.is_err() {
            return Ok(());
        }
    }
}

/// A page in flight: how many records it asked for, and what came.
type Page = (u64, Result<Vec<Outgoing>, SourceError>);

/// The page scheduler of [`fetch`]: which pages are asked for, when, and
/// how many records are still wanted.
struct Pager {
    source: Arc<Source>,
    encoder: Arc<Encoder>,
    concurrency: usize,
    started: tokio::time::Instant,
    deadline: Option<tokio::time::Instant>,
    /// Cancelled by the shutdown or at the deadline: ends the pages' retry
    /// waits, so a run overruns its deadline by at most one request.
    stop: CancellationToken,
    max_rate: Option<f64>,
    page_size: u64,
    wanted: u64,
    delivered: u64,
    requested_in_flight: u64,
    requested_total: u64,
    next_page: u32,
    in_flight: JoinSet<Page>,
    stopping: bool,
    empty_pages: u32,
}

impl Pager {
    fn new(
        source: Arc<Source>,
        encoder: Arc<Encoder>,
        settings: &crate::config::ProduceSettings,
        limit: Limit,
        shutdown: &CancellationToken,
    ) -> Pager {
        let started = tokio::time::Instant::now();
        let max_rate = Source::max_rate(settings);
        // Paced, a page holds at most a second of records: the pace spreads
        // them, and a smaller page is asked for closer to its time.
        let paced_page = max_rate.map_or(u64::MAX, |rate| rate.ceil() as u64);
        Pager {
            page_size: (source.page_size(settings.batch_size) as u64).min(paced_page),
            source,
            encoder,
            concurrency: settings.concurrency,
            started,
            deadline: limit.duration.map(|d| started + d),
            stop: shutdown.child_token(),
            max_rate,
            wanted: limit.count.unwrap_or(u64::MAX),
            delivered: 0,
            requested_in_flight: 0,
            requested_total: 0,
            next_page: 1,
            in_flight: JoinSet::new(),
            stopping: false,
            empty_pages: 0,
        }
    }

    /// Starts pages while there is room, time and need; waits for the
    /// pace when nothing is in flight.
    async fn start_pages(&mut self) {
        while !self.stopping
            && self.in_flight.len() < self.concurrency
            && self.delivered + self.requested_in_flight < self.wanted
        {
            if let Some(rate) = self.max_rate {
                // A page ahead of the pace: its records are ready when the
                // sender's pace reaches them.
                let ahead = self.requested_total.saturating_sub(self.page_size);
                let due = self.started + Duration::from_secs_f64(ahead as f64 / rate);
                if due > tokio::time::Instant::now() {
                    if self.in_flight.is_empty() {
                        tokio::select! {
                            _ = tokio::time::sleep_until(due) => {}
                            _ = self.stop.cancelled() => self.stopping = true,
                            _ = sleep_until_opt(self.deadline) => { self.stop.cancel(); self.stopping = true }
                        }
                        continue;
                    }
                    break;
                }
            }
            self.spawn_page();
        }
    }

    fn spawn_page(&mut self) {
        let want = (self.wanted - self.delivered - self.requested_in_flight).min(self.page_size);
        let (source, page, stop) = (self.source.clone(), self.next_page, self.stop.clone());
        let encoder = self.encoder.clone();
        self.in_flight.spawn(async move {
            let records = match source.page(page, want as usize, &stop).await {
                Ok(users) => Ok(tokio::task::spawn_blocking(move || {
                    users
                        .into_iter()
                        .map(|user| encoder.outgoing(user))
                        .collect()
                })
                .await
                .expect("formatting does not panic")),
                Err(error) => Err(error),
            };
            (want, records)
        });
        self.next_page += 1;
        self.requested_in_flight += want;
        self.requested_total += want;
    }

    /// The next page done; none when the stop or the deadline came first.
    async fn next_done(&mut self) -> Option<Result<Vec<Outgoing>, SourceError>> {
        let done = tokio::select! {
            done = self.in_flight.join_next() => done,
            _ = self.stop.cancelled(), if !self.stopping => { self.stopping = true; None }
            _ = sleep_until_opt(self.deadline), if !self.stopping => {
                self.stop.cancel();
                self.stopping = true;
                None
            }
        };
        let (want, result) = done?.expect("page task does not panic");
        self.requested_in_flight -= want;
        Some(result)
    }

    /// The records of a page done, at most as many as are still wanted; an
    /// error when the page failed or the source keeps giving nothing.
    fn took(
        &mut self,
        result: Result<Vec<Outgoing>, SourceError>,
    ) -> Result<Vec<Outgoing>, SourceError> {
        let mut records = result.inspect_err(|_| self.in_flight.abort_all())?;
        // A source that keeps answering with nothing usable would otherwise
        // be asked forever for a --count it never reaches.
        // Pages cut short by the stop are empty too, and say nothing of the source.
        self.empty_pages = if records.is_empty() && !self.stopping {
            self.empty_pages + 1
        } else {
            0
        };
        if self.empty_pages == MAX_EMPTY_PAGES {
            self.in_flight.abort_all();
            return Err(SourceError::NothingUsable {
                name: self.source.describe(),
                pages: MAX_EMPTY_PAGES,
            });
        }
        records.truncate((self.wanted - self.delivered) as usize);
        self.delivered += records.len() as u64;
        Ok(records)
    }
}

/// Pages in a row without one usable user after which a run gives up.
const MAX_EMPTY_PAGES: u32 = 10;

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The instants at which `n` records leave at `rate`, after `stall`
    /// (a source that was late) past the first `before`.
    fn departures(rate: f64, n: usize, before: usize, stall: Duration) -> Vec<Instant> {
        let mut pace = Pace::new(rate, CancellationToken::new());
        (0..n)
            .map(|i| {
                if i == before {
                    std::thread::sleep(stall);
                }
                pace.wait();
                Instant::now()
            })
            .collect()
    }

    #[test]
    fn the_pace_never_runs_ahead_of_the_rate() {
        let left = departures(2000.0, 200, 0, Duration::ZERO);
        // Sleeps end late, never early: 199 intervals of 0.5 ms at least.
        assert!(left[199] - left[0] >= Duration::from_micros(99_500));
    }

    #[test]
    fn after_a_stall_the_pace_catches_up_by_its_slack_only() {
        // 100 records at 1,000/s, the source 200 ms late after the 10th:
        // the 90 after it are no burst, only SLACK's 40 ms are caught up.
        let left = departures(1000.0, 100, 10, Duration::from_millis(200));
        let after = left[99] - left[10];
        assert!(
            after >= Duration::from_millis(89) - Pace::SLACK,
            "{after:?}"
        );
    }

    #[test]
    fn ctrl_c_sends_the_rest_without_the_pace() {
        let stop = CancellationToken::new();
        let mut pace = Pace::new(0.5, stop.clone());
        pace.wait();
        stop.cancel();
        let started = Instant::now();
        pace.wait();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a 2 s interval cut short"
        );
    }
}
