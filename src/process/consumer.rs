//! The processor's side of the consumer group: the consumer and its group
//! context (commit points stored and committed before partitions move),
//! pausing while every write permit is taken, commits, and lag watching.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message, OwnedHeaders, Timestamp};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{info, warn};

use super::offsets::{Generation, Tracker};
use crate::config::Settings;
use crate::dlq::wire;
use crate::kafka::{self, Role, STORED_AT};
use crate::metrics::{Metrics, PartitionLabel};
use prometheus_client::metrics::counter::Counter;

pub type GroupConsumer = StreamConsumer<GroupContext>;

/// The consumer's side of the group: the commit points of our partitions,
/// stored and committed before partitions move to another member (so the new
/// owner starts right after the last written record), and when partitions
/// first arrived (which is when `--until-idle` starts counting).
pub struct GroupContext {
    topics: Vec<String>,
    pub offsets: Mutex<Tracker<Part>>,
    pub assigned_at: OnceLock<Instant>,
    /// Set while our partitions are paused; a rebalance during the pause
    /// brings partitions that must be paused too, and one after it
    /// partitions that may still be paused from before.
    paused: AtomicBool,
    /// Counts every assignment, for `/metrics` and the dashboard.
    rebalances: Counter,
}

/// A partition of one of the topics read: the topic's place in
/// [`GroupContext::topics`], and the partition's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Part {
    pub topic: usize,
    pub partition: i32,
}

impl GroupContext {
    /// The topics the consumer reads.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The partition of `topic` named so, when `topic` is one we read.
    fn part(&self, topic: &str, partition: i32) -> Option<Part> {
        let topic = self.topics.iter().position(|t| t == topic)?;
        Some(Part { topic, partition })
    }

    /// Hands every commit point that moved to librdkafka, which commits them
    /// in the background (`auto.commit.interval.ms`) and on close.
    pub fn store_moved<C: Consumer<GroupContext>>(&self, consumer: &C) {
        let moved = self.offsets.lock().expect("offsets lock").moved();
        if moved.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        // The time goes with the commit point, so that `rtds status` can say
        // when the group last moved on (Kafka keeps no such time itself).
        let stored_at = format!("{STORED_AT}{}", chrono::Utc::now().timestamp_millis());
        for (part, next) in moved {
            let mut element = list.add_partition(&self.topics[part.topic], part.partition);
            if element.set_offset(Offset::Offset(next)).is_ok() {
                element.set_metadata(&stored_at);
            }
        }
        if let Err(error) = consumer.store_offsets(&list) {
            // Only for a partition revoked meanwhile: its new owner replays.
            info!("storing offsets: {error}");
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
            for element in partitions.elements() {
                if let Some(part) = self.part(element.topic(), element.partition()) {
                    offsets.forget(part);
                }
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            self.assigned_at.get_or_init(Instant::now);
            self.rebalances.inc();
            let parts: Vec<Part> = partitions
                .elements()
                .iter()
                .filter_map(|p| self.part(p.topic(), p.partition()))
                .collect();
            self.offsets
                .lock()
                .expect("offsets lock")
                .assign(parts.iter().copied());
            info!("assigned partitions {}", self.shown(&parts));
            // librdkafka keeps a partition's pause through its revocation:
            // one paused, taken away and given back after the resume would
            // never be read again. So every new partition is set to the
            // state of the rest, resumed as well as paused.
            let paused = self.paused.load(Ordering::Relaxed);
            let set = if paused {
                consumer.pause(partitions)
            } else {
                consumer.resume(partitions)
            };
            if let Err(error) = set {
                let verb = if paused { "pause" } else { "resume" };
                warn!("cannot {verb} newly assigned partitions: {error}");
            }
        }
    }
}

impl GroupContext {
    /// `[0, 1] of users_created`, for each topic with partitions here;
    /// `[]` for none.
    fn shown(&self, parts: &[Part]) -> String {
        let mut shown = Vec::new();
        for (index, topic) in self.topics.iter().enumerate() {
            let numbers: Vec<i32> = parts
                .iter()
                .filter(|p| p.topic == index)
                .map(|p| p.partition)
                .collect();
            if !numbers.is_empty() {
                shown.push(format!("{numbers:?} of {topic}"));
            }
        }
        if shown.is_empty() {
            return "[]".into();
        }
        shown.join(", ")
    }
}

/// Commits what is stored, now. Nothing new to commit is fine; a failure is
/// only worth a warning, since the next run replays from the last commit.
pub fn commit_now<C: Consumer<GroupContext>>(consumer: &C, when: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => {
            warn!("commit {when} failed (the next run replays from the last commit): {error}")
        }
    }
}

/// The group consumer for `topics`, subscribed.
pub fn subscribe(
    settings: &Settings,
    topics: Vec<String>,
    metrics: &Metrics,
) -> anyhow::Result<Arc<GroupConsumer>> {
    let role = Role::Consumer {
        commit_interval: settings.process.commit_interval,
    };
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let subscribed = names.join(", ");
    let consumer: GroupConsumer = kafka::client_config(&settings.kafka, role)?
        .create_with_context(GroupContext {
            topics: topics.clone(),
            offsets: Mutex::new(Tracker::default()),
            assigned_at: OnceLock::new(),
            paused: AtomicBool::new(false),
            rebalances: metrics.rebalances.clone(),
        })
        .context("cannot create the Kafka consumer (check the kafka.* settings)")?;
    consumer
        .subscribe(&names)
        .with_context(|| format!("cannot subscribe to {subscribed}"))?;
    Ok(Arc::new(consumer))
}

/// Stops (or restarts) fetching from every partition we own. While paused
/// the consumer is still polled, so it stays in the group however long the
/// pause lasts (`max.poll.interval.ms` counts from the last poll).
pub fn set_paused(consumer: &GroupConsumer, paused: bool) {
    consumer.context().paused.store(paused, Ordering::Relaxed);
    let result = consumer.assignment().and_then(|assigned| {
        if paused {
            consumer.pause(&assigned)
        } else {
            consumer.resume(&assigned)
        }
    });
    if let Err(error) = result {
        warn!(
            "cannot {} the partitions: {error}",
            if paused { "pause" } else { "resume" }
        );
    }
}

/// One consumed message, owned, with where it came from.
pub struct Consumed {
    /// Its topic's place in [`GroupContext::topics`].
    pub topic: usize,
    pub partition: i32,
    pub offset: i64,
    /// The tenure of its partition it was received in; none when the
    /// partition was no longer ours (see [`Tracker`]).
    pub generation: Option<Generation>,
    /// The record's own time: its timestamp, or on a `LogAppendTime` topic
    /// the first time of a replayed dead letter (see [`record_time`]).
    pub timestamp_ms: Option<i64>,
    /// Its row's write time in microseconds (see [`write_time`]); none when
    /// its time is too far out to count in microseconds.
    pub written_at: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// No value at all (not an empty one): a delete.
    pub tombstone: bool,
    pub headers: Option<OwnedHeaders>,
}

/// The bytes of a record one permit of room stands for, beyond the first:
/// records in flight are bounded in bytes too, not only in number.
const ROOM_UNIT: usize = 1024;

impl Consumed {
    /// Seconds from its time to now, for the latency histograms; none
    /// without a time, 0 for a time ahead of this host's clock.
    pub fn age(&self) -> Option<f64> {
        let ms = self.timestamp_ms?;
        Some(now_ms().saturating_sub(ms).max(0) as f64 / 1000.0)
    }

    /// Its partition, with its topic.
    pub fn part(&self) -> Part {
        Part {
            topic: self.topic,
            partition: self.partition,
        }
    }

    /// The permits of room it takes while in flight: one, and one more
    /// per [`ROOM_UNIT`] of key and payload, at most `all` (a record larger
    /// than all the room goes alone). With 2,560 permits, records in flight
    /// hold at most 2.5 MB however large each may be, and the DLQ sends
    /// they wait on no more.
    pub fn room(&self, all: u32) -> u32 {
        let bytes = self.payload.len() + self.key.as_ref().map_or(0, Vec::len);
        u32::try_from(1 + bytes / ROOM_UNIT).map_or(all, |room| room.min(all))
    }
}

impl GroupContext {
    /// `message`, owned, tagged with the generation of its partition now.
    pub fn received(&self, message: &BorrowedMessage<'_>) -> Consumed {
        let part = self.part(message.topic(), message.partition());
        let offsets = self.offsets.lock().expect("offsets lock");
        let generation = part.and_then(|part| offsets.generation(part));
        drop(offsets);
        let time = record_time(message);
        Consumed {
            topic: part.map_or(0, |part| part.topic),
            partition: message.partition(),
            offset: message.offset(),
            generation,
            timestamp_ms: time,
            written_at: write_time(time.unwrap_or_else(now_ms), message.offset()),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            tombstone: message.payload().is_none(),
            headers: message.headers().map(|h| h.detach()),
        }
    }
}

/// When a record was made, which orders the writes of one id. Its
/// timestamp, except for a dead letter replayed into a `LogAppendTime`
/// topic: the broker stamped it anew, so the time it was first made comes
/// from the replay's header, or it would win over a delete made since.
fn record_time(message: &BorrowedMessage<'_>) -> Option<i64> {
    let stamped = message.timestamp();
    if let Timestamp::LogAppendTime(_) = stamped
        && let Some(first) = wire::ours(message.headers(), wire::SOURCE_TIMESTAMP)
            .and_then(|ms| ms.parse().ok())
            .filter(|_| wire::ours(message.headers(), wire::REPLAYS).is_some())
    {
        return Some(first);
    }
    stamped.to_millis()
}

/// A row's write time (`USING TIMESTAMP`, microseconds) from its record's
/// time in milliseconds and its offset: the record's second, and within it
/// the offset modulo a million in place of the microseconds. Within one
/// second the partition's order then decides, so two records of one id
/// never tie (a tie mixes the rows cell by cell, or lets a delete beat the
/// insert after it). A millisecond with the offset modulo 1000 was too
/// narrow: one adjacent pair in a thousand straddles a multiple of 1000,
/// and the later record lost. Now only records of one second that straddle
/// a multiple of a million offsets are out of order. None past about
/// 292,000 years either way, where microseconds overflow.
pub fn write_time(ms: i64, offset: i64) -> Option<i64> {
    const PER_SECOND: i64 = 1_000_000;
    let second = ms.div_euclid(1000);
    second
        .checked_mul(PER_SECOND)?
        .checked_add(offset.rem_euclid(PER_SECOND))
}

/// Now, in milliseconds since the epoch: the time of a record that has none.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Updates the lag gauges every few seconds: end of each assigned partition
/// minus where this member reads next in it.
pub async fn watch_lag(consumer: Arc<GroupConsumer>, metrics: Metrics) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let consumer = consumer.clone();
        let lags = tokio::task::spawn_blocking(move || partition_lags(&consumer)).await;
        if let Ok(Some(lags)) = lags {
            metrics.lag.set(lags.iter().map(|(_, lag)| lag).sum());
            // Partitions that moved to another member leave the family.
            metrics.partition_lag.clear();
            for (label, lag) in lags {
                metrics.partition_lag.get_or_create(&label).set(lag);
            }
        }
    }
}

/// Records left to read on the assigned partitions, in all; `None` when a
/// broker does not tell (down, or its partitions' leaders moving).
pub async fn records_left(consumer: Arc<GroupConsumer>) -> Option<i64> {
    let lags = tokio::task::spawn_blocking(move || partition_lags(&consumer)).await;
    Some(lags.ok()??.iter().map(|(_, lag)| lag).sum())
}

/// Each assigned partition's end minus where this member reads next: its
/// position once a record of it came, else the group's committed offset,
/// else the partition's start (the group reads from the earliest). A
/// partition nothing came from yet is not all lag: it may have been read
/// to its end by an earlier run. Blocks on the brokers' answers.
fn partition_lags(consumer: &GroupConsumer) -> Option<Vec<(PartitionLabel, i64)>> {
    const ASK: Duration = Duration::from_secs(2);
    let position = consumer.position().ok()?;
    let mut committed: Option<TopicPartitionList> = None;
    let mut lags = Vec::new();
    for element in position.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        let (low, high) = consumer.fetch_watermarks(topic, partition, ASK).ok()?;
        let next = match element.offset() {
            Offset::Offset(at) => at,
            _ => {
                if committed.is_none() {
                    committed = Some(consumer.committed(ASK).ok()?);
                }
                let committed = committed
                    .as_ref()
                    .and_then(|list| list.find_partition(topic, partition));
                match committed.map(|element| element.offset()) {
                    Some(Offset::Offset(at)) => at,
                    _ => low,
                }
            }
        };
        let label = PartitionLabel {
            topic: topic.to_string(),
            partition,
        };
        lags.push((label, (high - next).max(0)));
    }
    Some(lags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_times_keep_partition_order_inside_a_second() {
        let second = 1_765_000_000_000; // ms, on a second
        assert_eq!(write_time(second + 7, 41), Some(second * 1000 + 41));
        assert!(write_time(second, 41) < write_time(second, 42));
        // The partition's order, not the producer's clock, within a second.
        assert!(write_time(second + 900, 41) < write_time(second + 3, 42));
        assert!(write_time(second + 999, 999_999) < write_time(second + 1000, 1_000_000));
        assert!(write_time(second, 999) < write_time(second, 1000));
        assert!(write_time(-1001, 5) < write_time(-1, 6));
        assert!(write_time(-1, 999_999) < write_time(0, 0));
    }

    #[test]
    fn a_record_takes_room_for_its_bytes() {
        let record = |key: usize, payload: usize| Consumed {
            topic: 0,
            partition: 0,
            offset: 0,
            generation: None,
            timestamp_ms: None,
            written_at: None,
            key: Some(vec![b'k'; key]),
            payload: vec![b'p'; payload],
            tombstone: false,
            headers: None,
        };
        assert_eq!(record(36, 600).room(2560), 1);
        assert_eq!(record(36, 1000).room(2560), 2);
        assert_eq!(record(0, 1 << 20).room(2560), 1025);
        assert_eq!(record(0, 4 << 20).room(2560), 2560);
    }

    #[test]
    fn write_times_out_of_range_are_none() {
        let last = i64::MAX / 1_000_000 - 1; // the last second that fits whole
        assert!(write_time(last * 1000 + 999, 999_999).is_some());
        assert_eq!(write_time(i64::MAX, 0), None);
        assert_eq!(write_time(i64::MIN, 0), None);
    }
}
