//! The consumer loop: each record starts a task of its own while a write
//! permit is free; with none free the partitions are paused, and the
//! consumer is still polled so the member stays in the group. Kafka's
//! errors are ridden out for as long as the settings allow.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

use super::consumer::{Consumed, GroupConsumer};
use crate::config::KafkaSettings;
use crate::kafka::{self, Need};
use crate::metrics::Metrics;
use crate::retry::{self, Class, LogPacer};

use super::POLL_EVERY;
use super::handler::Handler;

/// The consumer loop: records start one task each, only while a write
/// permit is free. With none free the partitions are paused, and the
/// consumer is still polled so the member stays in the group.
pub(super) struct Listener {
    pub(super) job: Arc<Handler>,
    pub(super) permits: Arc<Semaphore>,
    /// All the room there is in flight, in permits.
    pub(super) room: u32,
    pub(super) idle: Option<Duration>,
    /// For a refused login and a missing topic: how long each is ridden
    /// out, and whose login it is.
    pub(super) kafka: KafkaSettings,
}

impl Listener {
    pub(super) async fn run(&self) -> anyhow::Result<()> {
        let consumer = &self.job.consumer;
        // Records received and not started yet; they start in order.
        let mut pending: VecDeque<Consumed> = VecDeque::new();
        let mut last_record: Option<Instant> = None;
        let mut errors = ConsumerErrors::new(&self.kafka);
        // Since when records have waited on the topic with none coming.
        let mut held_since: Option<Instant> = None;
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
                        (last_record, held_since) = (Some(Instant::now()), None);
                        errors.went_through();
                        let record = consumer.context().received(&message);
                        if let Some(age) = record.age() {
                            self.job.metrics.received_seconds.observe(age);
                        }
                        pending.push_back(record);
                    }
                    Err(error) => errors.seen(error, &self.job.metrics)?,
                },
                _ = idle_after(self.idle, consumer, last_record, errors.since) => {
                    if self.idle_ends(&mut errors, &mut held_since).await? {
                        return Ok(());
                    }
                    // Records wait: the idle clock starts again.
                    last_record = Some(Instant::now());
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

    /// Whether `--until-idle` ends the run, now that no record came for
    /// its while: only when none is left on the assigned partitions. A
    /// broker killed under the consumer holds its partitions' records back
    /// until their leaders move, which takes longer than a short idle (the
    /// brokers' session timeout alone is 9 s by default), and stopping then
    /// ended a run with records left. So it waits while records do, saying
    /// so each time, and gives up after `HELD_AT_MOST` with an error.
    async fn idle_ends(
        &self,
        errors: &mut ConsumerErrors,
        held_since: &mut Option<Instant>,
    ) -> anyhow::Result<bool> {
        let idle = humantime::format_duration(self.idle.unwrap_or_default());
        if let Some(error) = errors.last.take() {
            return Err(anyhow!(
                "no record for {idle} while the Kafka consumer kept failing: {error}; \
                 records may be left on the topic: check that Kafka is reachable and accepts \
                 the kafka.* settings, then run again"
            ));
        }
        let left = super::consumer::records_left(self.job.consumer.clone()).await;
        if left == Some(0) {
            info!("no new record for {idle}: stopping");
            return Ok(true);
        }
        let left = left.map_or_else(
            || "the brokers did not say how many records are left (one may be down)".to_string(),
            |left| format!("{left} records are left on the topic"),
        );
        let since = *held_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= HELD_AT_MOST {
            return Err(anyhow!(
                "no record for {:.0?} while {left}: check the brokers with `rtds status`, then run again",
                since.elapsed() + self.idle.unwrap_or_default()
            ));
        }
        warn!(
            "no new record for {idle}, but {left}: waiting for them (a partition leader may be moving)"
        );
        Ok(false)
    }

    /// Waits for a write permit; `None` at stop. Short waits are the pace
    /// of the writes. A longer one means every write is stuck (Cassandra, or the schema registry,
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
                .unwrap_or_else(|| "Cassandra (no write has failed yet, they are slow)".into())
        };
        warn!(
            "every write is waiting on {}: consumption paused until writes go through",
            held_by()
        );
        super::consumer::set_paused(consumer, true);
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
                            "consumption still paused after {:.0?}, every write waiting on {}",
                            paused_at.elapsed(),
                            held_by()
                        );
                    }
                },
            }
        };
        super::consumer::set_paused(consumer, false);
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
            offsets.begin(record.part(), record.offset, generation)
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
                    offsets.complete(record.part(), record.offset, generation);
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
    pub(super) kafka: KafkaSettings,
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
        let topics = consumer.context().topics().to_vec();
        let gone = tokio::task::spawn_blocking(move || {
            let metadata = asked.fetch_metadata(None, timeout).ok()?;
            let present = |topic: &String| {
                metadata
                    .topics()
                    .iter()
                    .any(|t| t.name() == topic && t.error().is_none())
            };
            Some(topics.into_iter().find(|topic| !present(topic)))
        })
        .await
        .expect("a metadata request does not panic");
        match gone {
            Some(Some(topic)) => Err(anyhow!(
                "the topic {topic} no longer exists: it was deleted while rtds read it. Records \
                 committed so far are stored; create the topic again (or point kafka.topic \
                 at another) and run again"
            )),
            _ => {
                self.missing_since = None;
                Ok(())
            }
        }
    }
}

/// How long `--until-idle` waits for records left on the topic that do not
/// come, past its idle time: a leader's move takes seconds, not minutes.
const HELD_AT_MOST: Duration = Duration::from_secs(120);

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
