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
use rdkafka::message::{BorrowedMessage, Message, OwnedHeaders};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{info, warn};

use super::offsets::Tracker;
use crate::config::Settings;
use crate::kafka::{self, Role, STORED_AT};
use crate::metrics::{Metrics, PartitionLabel};
use prometheus_client::metrics::counter::Counter;

pub type GroupConsumer = StreamConsumer<GroupContext>;

/// The consumer's side of the group: the commit points of our partitions,
/// stored and committed before partitions move to another member (so the new
/// owner starts right after the last written record), and when partitions
/// first arrived (which is when `--until-idle` starts counting).
pub struct GroupContext {
    topic: String,
    pub offsets: Mutex<Tracker>,
    pub assigned_at: OnceLock<Instant>,
    /// Set while our partitions are paused; a rebalance during the pause
    /// brings partitions that must be paused too.
    paused: AtomicBool,
    /// Counts every assignment, for `/metrics` and the dashboard.
    rebalances: Counter,
}

impl GroupContext {
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
        for (partition, next) in moved {
            let mut element = list.add_partition(&self.topic, partition);
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
            for partition in partitions.elements() {
                offsets.forget(partition.partition());
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            self.assigned_at.get_or_init(Instant::now);
            self.rebalances.inc();
            let list: Vec<i32> = partitions
                .elements()
                .iter()
                .map(|p| p.partition())
                .collect();
            info!("assigned partitions {list:?}");
            if self.paused.load(Ordering::Relaxed)
                && let Err(error) = consumer.pause(partitions)
            {
                warn!("cannot pause newly assigned partitions: {error}");
            }
        }
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

/// The group consumer for `settings.kafka.topic`, subscribed.
pub fn subscribe(settings: &Settings, metrics: &Metrics) -> anyhow::Result<Arc<GroupConsumer>> {
    let role = Role::Consumer {
        commit_interval: settings.process.commit_interval,
    };
    let topic = &settings.kafka.topic;
    let consumer: GroupConsumer = kafka::client_config(&settings.kafka, role)?
        .create_with_context(GroupContext {
            topic: topic.clone(),
            offsets: Mutex::new(Tracker::default()),
            assigned_at: OnceLock::new(),
            paused: AtomicBool::new(false),
            rebalances: metrics.rebalances.clone(),
        })
        .context("cannot create the Kafka consumer (check the kafka.* settings)")?;
    consumer
        .subscribe(&[topic])
        .with_context(|| format!("cannot subscribe to {topic}"))?;
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
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// No value at all (not an empty one): a delete.
    pub tombstone: bool,
    pub headers: Option<OwnedHeaders>,
}

impl Consumed {
    pub fn from_message(message: &BorrowedMessage<'_>) -> Self {
        Consumed {
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            tombstone: message.payload().is_none(),
            headers: message.headers().map(|h| h.detach()),
        }
    }
}

/// Updates the lag gauges every few seconds: end of each assigned partition
/// minus our position in it.
pub async fn watch_lag(consumer: Arc<GroupConsumer>, topic: String, metrics: Metrics) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (consumer, topic) = (consumer.clone(), topic.clone());
        let lags = tokio::task::spawn_blocking(move || -> Option<Vec<(i32, i64)>> {
            let position = consumer.position().ok()?;
            let mut lags = Vec::new();
            for element in position.elements_for_topic(&topic) {
                let (_, high) = consumer
                    .fetch_watermarks(&topic, element.partition(), Duration::from_secs(2))
                    .ok()?;
                let lag = match element.offset() {
                    Offset::Offset(at) => (high - at).max(0),
                    _ => high,
                };
                lags.push((element.partition(), lag));
            }
            Some(lags)
        })
        .await;
        if let Ok(Some(lags)) = lags {
            metrics.lag.set(lags.iter().map(|(_, lag)| lag).sum());
            // Partitions that moved to another member leave the family.
            metrics.partition_lag.clear();
            for (partition, lag) in lags {
                metrics
                    .partition_lag
                    .get_or_create(&PartitionLabel { partition })
                    .set(lag);
            }
        }
    }
}
