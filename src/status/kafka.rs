//! What Kafka tells about the pipeline: the topic's offsets, the group's
//! members and commit points, and the dead letters. Read with an observer
//! client that joins no group, commits nothing and creates no topic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::config::KafkaSettings;
use crate::dlq::wire;
use crate::kafka::{self, Alarm, Role, STORED_AT};

/// Bytes of a dead letter's payload shown.
const PAYLOAD_SHOWN: usize = 120;

/// One partition's offsets: the first and the next record.
#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

/// A topic, when it exists.
#[derive(Debug, Clone, Serialize)]
pub struct Topic {
    pub name: String,
    pub partitions: Vec<Partition>,
    /// Records kept (after retention), across partitions.
    pub records: i64,
    /// Records appended in the last minute (from the offsets' timestamps).
    pub last_minute: i64,
}

impl Topic {
    /// Every record ever appended: the sum of the end offsets.
    pub fn appended(&self) -> i64 {
        self.partitions.iter().map(|p| p.high).sum()
    }

    /// The records a read from `from` (see [`Observer::read`]) goes through.
    pub fn left(&self, from: &HashMap<i32, i64>) -> u64 {
        let left = self
            .partitions
            .iter()
            .map(|p| (p.high - p.start(from)).max(0));
        left.sum::<i64>().unsigned_abs()
    }
}

impl Partition {
    /// Where a read from `from` (partition -> first offset) starts here:
    /// the partition's first record kept when `from` is absent or gone.
    fn start(&self, from: &HashMap<i32, i64>) -> i64 {
        from.get(&self.partition)
            .copied()
            .unwrap_or(self.low)
            .max(self.low)
    }
}

/// One partition as the group sees it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupPartition {
    pub partition: i32,
    /// The next offset the group will read; none before its first commit.
    pub committed: Option<i64>,
    pub lag: i64,
}

/// The processors' consumer group.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    /// Kafka's word for it: Stable, Empty, PreparingRebalance, Dead, ...
    pub state: String,
    pub members: usize,
    pub partitions: Vec<GroupPartition>,
    pub lag: i64,
    /// When the newest commit point was stored, as the processor noted it.
    pub last_commit: Option<DateTime<Utc>>,
}

impl Group {
    /// Records the group has moved past: the sum of its commit points.
    pub fn committed(&self) -> i64 {
        self.partitions.iter().filter_map(|p| p.committed).sum()
    }
}

/// One record of the dead-letter topic, as people read it. Every text in it
/// comes from the record (its key and payload, and the reason, which quotes
/// the record) and is escaped by [`crate::table::escape`] when it is made,
/// so that `rtds dlq list` (table and `--json`), the dry-run lines of
/// `rtds dlq replay`, `rtds status` and the dashboard show it inert. JSON
/// too: serde writes control characters as `\u` escapes, but `jq -r` turns
/// them back into the characters, and serde leaves bidi controls as they
/// are. It is a view for people: the record itself stays in Kafka as it
/// was, and a replay sends that.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub time: Option<DateTime<Utc>>,
    pub partition: i32,
    pub offset: i64,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
    /// The kind of failure (`bad_json`, `too_large`, ...).
    pub reason: String,
    /// The failure in words.
    pub error: String,
    /// The key's first bytes; none for a record without a key.
    pub key: Option<String>,
    /// The payload's first bytes.
    pub payload: String,
    /// Times it was replayed already (`rtds dlq replay`).
    pub replays: u32,
    /// Only the payload's first bytes reached the DLQ.
    pub truncated: bool,
}

/// Everything Kafka answered in one look.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// The brokers that answer, as `host:port`.
    pub brokers: Vec<String>,
    /// Ids of brokers that hold replicas but are not in the cluster's
    /// metadata: down (Kafka lists live brokers only).
    pub brokers_down: Vec<i32>,
    /// Partitions, of every topic, with fewer replicas in sync than they have.
    pub under_replicated: usize,
    /// None when the topic does not exist.
    pub topic: Option<Topic>,
    pub group: Group,
    /// None when the dead-letter topic does not exist.
    pub dlq: Option<Topic>,
    /// The newest dead letter, when there is one.
    pub latest_dead_letter: Option<DeadLetter>,
}

/// A client that looks at the topic, the group and the DLQ.
pub struct Observer {
    consumer: BaseConsumer<Alarm>,
    settings: KafkaSettings,
}

impl Observer {
    pub fn new(settings: &KafkaSettings) -> anyhow::Result<Observer> {
        let consumer = Alarm::watched(settings, Role::Observer)?;
        Ok(Observer {
            consumer,
            settings: settings.clone(),
        })
    }

    /// One look at everything; blocking (librdkafka's calls are), so call
    /// it off the async workers. An error means Kafka could not be reached.
    pub fn look(&self) -> anyhow::Result<Facts> {
        let metadata = kafka::all_topics(&self.consumer, &self.settings)?;
        let brokers = metadata
            .brokers()
            .iter()
            .map(|b| format!("{}:{}", b.host(), b.port()))
            .collect();
        let live: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
        let partitions = metadata.topics().iter().flat_map(|t| t.partitions());
        let (mut brokers_down, mut under_replicated) = (Vec::new(), 0);
        for partition in partitions {
            if partition.isr().len() < partition.replicas().len() {
                under_replicated += 1;
            }
            for id in partition.replicas() {
                if !live.contains(id) && !brokers_down.contains(id) {
                    brokers_down.push(*id);
                }
            }
        }
        brokers_down.sort_unstable();
        let partitions_of = |name: &str| {
            metadata
                .topics()
                .iter()
                .find(|t| t.name() == name)
                .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
        };
        let topic = partitions_of(&self.settings.topic)
            .map(|ids| self.topic(&self.settings.topic, &ids))
            .transpose()?;
        let dlq = partitions_of(&self.settings.dlq_topic)
            .map(|ids| self.topic(&self.settings.dlq_topic, &ids))
            .transpose()?;
        let group = self.group(topic.as_ref())?;
        let latest_dead_letter = match &dlq {
            Some(dlq) if dlq.records > 0 => {
                let from = dlq.partitions.iter().map(|p| (p.partition, p.high - 1));
                let mut letters = self.dead_letters(dlq, &from.collect())?;
                letters.sort_by_key(|letter| letter.time);
                letters.pop()
            }
            _ => None,
        };
        Ok(Facts {
            brokers,
            brokers_down,
            under_replicated,
            topic,
            group,
            dlq,
            latest_dead_letter,
        })
    }

    /// The topic `name`'s offsets; none when it does not exist.
    pub fn topic_named(&self, name: &str) -> anyhow::Result<Option<Topic>> {
        let metadata = kafka::all_topics(&self.consumer, &self.settings)?;
        let ids = metadata
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>());
        ids.map(|ids| self.topic(name, &ids)).transpose()
    }

    fn topic(&self, name: &str, ids: &[i32]) -> anyhow::Result<Topic> {
        let timeout = self.settings.timeout;
        let mut partitions = Vec::new();
        let mut minute_ago = TopicPartitionList::new();
        let since = Utc::now().timestamp_millis() - 60_000;
        for &partition in ids {
            let (low, high) = self
                .consumer
                .fetch_watermarks(name, partition, timeout)
                .with_context(|| format!("cannot read the offsets of {name}/{partition}"))?;
            partitions.push(Partition {
                partition,
                low,
                high,
            });
            minute_ago.add_partition_offset(name, partition, Offset::Offset(since))?;
        }
        partitions.sort_by_key(|p| p.partition);
        let records = partitions.iter().map(|p| p.high - p.low).sum();
        // The first offset at or after a minute ago, per partition; none
        // there means nothing was appended since.
        let mut last_minute = 0;
        let found = self
            .consumer
            .offsets_for_times(minute_ago, timeout)
            .with_context(|| format!("cannot read the recent offsets of {name}"))?;
        for element in found.elements() {
            if let (Offset::Offset(from), Some(p)) = (
                element.offset(),
                partitions
                    .iter()
                    .find(|p| p.partition == element.partition()),
            ) {
                last_minute += (p.high - from).max(0);
            }
        }
        Ok(Topic {
            name: name.to_string(),
            partitions,
            records,
            last_minute,
        })
    }

    /// Runs a request of the group's coordinator, again while the cluster is
    /// still choosing or loading it (a fresh broker's first seconds, when
    /// the offsets topic is being made), for up to `kafka.timeout`.
    fn coordinated<T>(&self, request: impl Fn() -> KafkaResult<T>) -> KafkaResult<T> {
        use RDKafkaErrorCode::{
            CoordinatorLoadInProgress, CoordinatorNotAvailable, NotCoordinator,
        };
        let deadline = Instant::now() + self.settings.timeout;
        loop {
            match request() {
                Err(error)
                    if matches!(
                        error.rdkafka_error_code(),
                        Some(NotCoordinator | CoordinatorLoadInProgress | CoordinatorNotAvailable)
                    ) && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    fn group(&self, topic: Option<&Topic>) -> anyhow::Result<Group> {
        let timeout = self.settings.timeout;
        let name = &self.settings.group_id;
        let list = self
            .coordinated(|| self.consumer.fetch_group_list(Some(name), timeout))
            .with_context(|| format!("cannot describe consumer group {name}"))?;
        let (state, members) = list.groups().first().map_or(("Dead".to_string(), 0), |g| {
            (g.state().to_string(), g.members().len())
        });
        let mut partitions = Vec::new();
        let mut last_commit = None;
        if let Some(topic) = topic {
            let mut wanted = TopicPartitionList::new();
            for p in &topic.partitions {
                wanted.add_partition(&topic.name, p.partition);
            }
            let committed = self
                .coordinated(|| self.consumer.committed_offsets(wanted.clone(), timeout))
                .with_context(|| format!("cannot read the commit points of group {name}"))?;
            for p in &topic.partitions {
                let element = committed.find_partition(&topic.name, p.partition);
                let at = element.as_ref().and_then(|e| match e.offset() {
                    Offset::Offset(at) => Some(at),
                    _ => None,
                });
                let stored = element
                    .as_ref()
                    .and_then(|e| e.metadata().strip_prefix(STORED_AT)?.parse::<i64>().ok())
                    .and_then(DateTime::from_timestamp_millis);
                last_commit = last_commit.max(stored);
                partitions.push(GroupPartition {
                    partition: p.partition,
                    committed: at,
                    // Before its first commit the group starts at the
                    // beginning (`auto.offset.reset = earliest`).
                    lag: (p.high - at.unwrap_or(p.low)).max(0),
                });
            }
        }
        Ok(Group {
            name: name.clone(),
            state,
            members,
            lag: partitions.iter().map(|p| p.lag).sum(),
            partitions,
            last_commit,
        })
    }

    /// Reads the dead letters from `from` (partition -> first offset) up to
    /// the end offsets `dlq` had when it was looked at.
    pub fn dead_letters(
        &self,
        dlq: &Topic,
        from: &HashMap<i32, i64>,
    ) -> anyhow::Result<Vec<DeadLetter>> {
        let mut letters = Vec::new();
        self.read(dlq, from, |message| {
            letters.push(DeadLetter::from(message));
            Ok(())
        })?;
        Ok(letters)
    }

    /// Hands `each` every record of `topic` from `from` (partition -> first
    /// offset; the start when absent) up to the end offsets it had when it
    /// was looked at, partition by partition in order; stops at the first
    /// error `each` returns. The end is reached when every partition's high
    /// watermark is. `kafka.timeout` bounds the wait for each next record,
    /// counted from when `each` returned: a read of any length goes on as
    /// long as records come, and `each` may take its time (a replay waits
    /// for its sends there).
    pub fn read(
        &self,
        topic: &Topic,
        from: &HashMap<i32, i64>,
        each: impl FnMut(&BorrowedMessage<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut assignment = TopicPartitionList::new();
        let mut left: HashMap<i32, i64> = HashMap::new();
        for p in &topic.partitions {
            let start = p.start(from);
            if start < p.high {
                assignment.add_partition_offset(&topic.name, p.partition, Offset::Offset(start))?;
                left.insert(p.partition, p.high);
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        self.consumer
            .assign(&assignment)
            .with_context(|| format!("cannot read {}", topic.name))?;
        let read = self.to_ends(topic, left, each);
        self.consumer.unassign()?;
        read
    }

    /// [`Observer::read`] once assigned: polls until every partition of
    /// `left` (partition -> end offset) reached its end.
    fn to_ends(
        &self,
        topic: &Topic,
        mut left: HashMap<i32, i64>,
        mut each: impl FnMut(&BorrowedMessage<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let timeout = self.settings.timeout;
        let mut last = Instant::now();
        while !left.is_empty() {
            if last.elapsed() > timeout {
                bail!(
                    "reading {} stopped: no record came for {} (kafka.timeout) though partitions \
                     {:?} hold more up to their end; check that the brokers are up, or raise kafka.timeout",
                    topic.name,
                    humantime::format_duration(timeout),
                    left.keys().collect::<Vec<_>>()
                );
            }
            let Some(message) = self.consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message.with_context(|| format!("cannot read {}", topic.name))?;
            if let Some(&end) = left.get(&message.partition()) {
                if message.offset() < end {
                    each(&message)?;
                }
                if message.offset() + 1 >= end {
                    left.remove(&message.partition());
                }
            }
            last = Instant::now();
        }
        Ok(())
    }

    /// The next offset of each partition of `topic` the group has
    /// committed (the observer's own `kafka.group_id`).
    pub fn committed(&self, topic: &Topic) -> anyhow::Result<HashMap<i32, i64>> {
        let mut wanted = TopicPartitionList::new();
        for p in &topic.partitions {
            wanted.add_partition(&topic.name, p.partition);
        }
        let committed = self
            .coordinated(|| {
                self.consumer
                    .committed_offsets(wanted.clone(), self.settings.timeout)
            })
            .with_context(|| {
                format!(
                    "cannot read the commit points of group {}",
                    self.settings.group_id
                )
            })?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(at) => Some((e.partition(), at)),
                _ => None,
            })
            .collect())
    }

    /// Commits `next` (partition -> next offset) for the observer's group.
    pub fn commit(&self, topic: &Topic, next: &HashMap<i32, i64>) -> anyhow::Result<()> {
        let mut list = TopicPartitionList::new();
        for (&partition, &at) in next {
            list.add_partition_offset(&topic.name, partition, Offset::Offset(at))?;
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .with_context(|| format!("cannot commit group {}", self.settings.group_id))
    }
}

/// The first bytes of a key or payload, as text for people.
fn shown(bytes: &[u8]) -> String {
    crate::table::escape(&String::from_utf8_lossy(
        &bytes[..bytes.len().min(PAYLOAD_SHOWN)],
    ))
}

impl<M: Message> From<&M> for DeadLetter {
    fn from(message: &M) -> DeadLetter {
        let header = |key: &str| wire::ours(message.headers(), key);
        let escaped = |key: &str| header(key).map(|value| crate::table::escape(&value));
        DeadLetter {
            time: message
                .timestamp()
                .to_millis()
                .and_then(DateTime::from_timestamp_millis),
            partition: message.partition(),
            offset: message.offset(),
            source_partition: header(wire::SOURCE_PARTITION).and_then(|v| v.parse().ok()),
            source_offset: header(wire::SOURCE_OFFSET).and_then(|v| v.parse().ok()),
            reason: escaped(wire::ERROR_KIND).unwrap_or_else(|| "unknown".into()),
            error: escaped(wire::ERROR).unwrap_or_default(),
            key: message.key().map(shown),
            payload: shown(message.payload().unwrap_or_default()),
            replays: header(wire::REPLAYS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            truncated: header(wire::TRUNCATED).is_some(),
        }
    }
}
