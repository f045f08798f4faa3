//! The pipeline's counters, in one registry shared by every stage: progress
//! lines, summaries, the Prometheus `/metrics` endpoint and the dashboard all
//! read the same numbers.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub mod exporter;
pub mod progress;
pub mod scrape;

/// The names of the metrics other modules read back (from `/metrics`,
/// through [`scrape`]): `rtds status` and the dashboard use these, so a
/// renamed metric cannot leave them reading nothing.
pub mod names {
    pub const USERS_FETCHED: &str = "users_fetched";
    pub const ROWS_WRITTEN: &str = "rows_written";
    pub const ROWS_DELETED: &str = "rows_deleted";
    pub const RECORDS_DEAD_LETTERED: &str = "records_dead_lettered";
    pub const SOURCE_ERRORS: &str = "source_errors";
    pub const RECORDS_FAILED: &str = "records_failed";
    pub const CONSUMER_ERRORS: &str = "consumer_errors";
    pub const END_TO_END_SECONDS: &str = "end_to_end_seconds";
    pub const RECEIVED_SECONDS: &str = "received_seconds";
    pub const WRITE_SECONDS: &str = "write_seconds";
    pub const SOURCE_REQUEST_SECONDS: &str = "source_request_seconds";
    pub const WRITE_RETRIES: &str = "write_retries";
    pub const DLQ_RETRIES: &str = "dlq_retries";
}

/// A label naming why something failed (`reason="http_500"`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// A label naming a partition of a topic read
/// (`topic="users_created",partition="2"`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: i32,
}

/// A label naming a mapping and what became of its rows
/// (`mapping="edits",outcome="written"`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MappingLabel {
    pub mapping: String,
    pub outcome: &'static str,
}

/// A counter split by reason, plus its total for summaries.
#[derive(Clone, Default)]
pub struct ReasonCounter {
    family: Family<ReasonLabel, Counter>,
    total: Counter,
}

impl ReasonCounter {
    /// Counts one event under `reason`.
    pub fn inc(&self, reason: &str) {
        self.family
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
        self.total.inc();
    }

    /// The sum over every reason.
    pub fn total(&self) -> u64 {
        self.total.get()
    }
}

/// Every counter of the pipeline. Cheap to clone: the values are shared.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Users received from the source (API results or generated).
    pub fetched: Counter,
    /// API results that lacked a field the record needs, skipped.
    pub skipped: Counter,
    /// Source requests that failed (retried or given up), by reason.
    pub source_errors: ReasonCounter,
    /// Records handed to the Kafka producer.
    pub sent: Counter,
    /// Records Kafka acknowledged.
    pub acked: Counter,
    /// Records Kafka did not take, after the producer's own retries.
    pub failed: Counter,
    /// Messages read from the topic.
    pub consumed: Counter,
    /// Rows written to Cassandra.
    pub written: Counter,
    /// Rows deleted by tombstones (a null value keyed by the user's id).
    pub deleted: Counter,
    /// Messages sent to the dead-letter topic, by reason.
    pub dead_lettered: ReasonCounter,
    /// Cassandra writes retried after a timeout or an unavailable node.
    pub write_retries: Counter,
    /// Kafka consumer errors it recovers from by itself (a broker down, a
    /// leader moving).
    pub consumer_errors: Counter,
    /// DLQ sends retried after a timeout or an unreachable broker.
    pub dlq_retries: Counter,
    /// Records consumed but not yet written (bounded: that is backpressure).
    pub in_flight: Gauge,
    /// 1 while consumption is paused because every write waits on Cassandra.
    pub consumption_paused: Gauge,
    /// Cassandra writes allowed in flight now, as adaptive concurrency set it.
    pub write_concurrency_limit: Gauge,
    /// Messages in the topic the processor has not read yet.
    pub lag: Gauge,
    /// The same, per partition this processor owns.
    pub partition_lag: Family<PartitionLabel, Gauge>,
    /// Rows of each `[[mapping]]` written, deleted or refused (the record
    /// dead-lettered).
    pub mapping_rows: Family<MappingLabel, Counter>,
    /// Partition assignments this processor received from its group.
    pub rebalances: Counter,
    /// Records received but dropped unstarted: their partition was revoked
    /// while they waited for a write permit (its next owner reads them).
    pub dropped_revoked: Counter,
    /// Seconds from the Kafka record's timestamp to the write acknowledged.
    pub end_to_end_seconds: Histogram,
    /// Seconds from the Kafka record's timestamp to the processor receiving
    /// it: the part of the end-to-end time spent before rtds process (the
    /// producer's send, the broker, the fetch), told apart from the part
    /// spent in it.
    pub received_seconds: Histogram,
    /// Seconds one Cassandra write took, retries apart.
    pub write_seconds: Histogram,
    /// Seconds one source request took, reply read and parsed.
    pub source_request_seconds: Histogram,
}

/// 0.25 ms to ~48 s in steps of 1.5x: fine enough to read a p99 off.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.00025, 1.5, 30))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Counts `rows` of `mapping` that ended as `outcome`.
    pub fn mapped(&self, mapping: &str, outcome: &'static str, rows: u64) {
        let label = MappingLabel {
            mapping: mapping.to_string(),
            outcome,
        };
        self.mapping_rows.get_or_create(&label).inc_by(rows);
    }

    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rtds");
        let metrics = Metrics {
            registry: Arc::new(Registry::default()),
            fetched: Counter::default(),
            skipped: Counter::default(),
            source_errors: ReasonCounter::default(),
            sent: Counter::default(),
            acked: Counter::default(),
            failed: Counter::default(),
            consumed: Counter::default(),
            written: Counter::default(),
            deleted: Counter::default(),
            dead_lettered: ReasonCounter::default(),
            write_retries: Counter::default(),
            consumer_errors: Counter::default(),
            dlq_retries: Counter::default(),
            in_flight: Gauge::default(),
            consumption_paused: Gauge::default(),
            write_concurrency_limit: Gauge::default(),
            lag: Gauge::default(),
            partition_lag: Family::default(),
            mapping_rows: Family::default(),
            rebalances: Counter::default(),
            dropped_revoked: Counter::default(),
            end_to_end_seconds: latency_buckets(),
            received_seconds: latency_buckets(),
            write_seconds: latency_buckets(),
            source_request_seconds: latency_buckets(),
        };
        metrics.register(&mut registry);
        Metrics {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// Registers every metric under its name (prefixed `rtds_` in
    /// `/metrics`) with its help text: one table per kind of metric.
    fn register(&self, registry: &mut Registry) {
        self.register_counters(registry);
        let by_reason = [
            (
                names::SOURCE_ERRORS,
                "Failed source requests by reason",
                &self.source_errors,
            ),
            (
                names::RECORDS_DEAD_LETTERED,
                "Messages sent to the DLQ by reason",
                &self.dead_lettered,
            ),
        ];
        for (name, help, counter) in by_reason {
            registry.register(name, help, counter.family.clone());
        }
        registry.register(
            "mapping_rows",
            "Rows of each mapping, by what became of them (written, deleted, refused)",
            self.mapping_rows.clone(),
        );
        self.register_levels(registry);
    }

    /// The plain counters: how many of each thing happened.
    fn register_counters(&self, registry: &mut Registry) {
        let counters: [(&str, &str, &Counter); 13] = [
            (
                names::USERS_FETCHED,
                "Users received from the source",
                &self.fetched,
            ),
            (
                "users_skipped",
                "API results skipped for a missing field",
                &self.skipped,
            ),
            (
                "records_sent",
                "Records handed to the Kafka producer",
                &self.sent,
            ),
            (
                "records_acked",
                "Records acknowledged by Kafka",
                &self.acked,
            ),
            (
                names::RECORDS_FAILED,
                "Records Kafka did not take",
                &self.failed,
            ),
            (
                "records_consumed",
                "Messages read from the topic",
                &self.consumed,
            ),
            (
                names::ROWS_WRITTEN,
                "Rows written to Cassandra",
                &self.written,
            ),
            (
                names::ROWS_DELETED,
                "Rows deleted by tombstones",
                &self.deleted,
            ),
            (
                names::WRITE_RETRIES,
                "Cassandra writes retried",
                &self.write_retries,
            ),
            (
                names::CONSUMER_ERRORS,
                "Kafka consumer errors recovered from",
                &self.consumer_errors,
            ),
            (names::DLQ_RETRIES, "DLQ sends retried", &self.dlq_retries),
            (
                "rebalances",
                "Partition assignments received",
                &self.rebalances,
            ),
            (
                "dropped_revoked",
                "Records dropped unstarted because their partition was revoked",
                &self.dropped_revoked,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
    }

    /// The gauges and histograms: what is, and how long things took.
    fn register_levels(&self, registry: &mut Registry) {
        let gauges: [(&str, &str, &Gauge); 4] = [
            (
                "records_in_flight",
                "Consumed, not yet written",
                &self.in_flight,
            ),
            (
                "consumption_paused",
                "1 while every write waits on Cassandra and the partitions are paused",
                &self.consumption_paused,
            ),
            (
                "write_concurrency_limit",
                "Cassandra writes allowed in flight, learned from the node's latency",
                &self.write_concurrency_limit,
            ),
            ("consumer_lag", "Messages not yet read", &self.lag),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "partition_lag",
            "Messages not yet read, per owned partition",
            self.partition_lag.clone(),
        );
        let histograms = [
            (
                names::END_TO_END_SECONDS,
                "Kafka record timestamp to Cassandra write acknowledged",
                &self.end_to_end_seconds,
            ),
            (
                names::RECEIVED_SECONDS,
                "Kafka record timestamp to the processor receiving the record",
                &self.received_seconds,
            ),
            (
                names::WRITE_SECONDS,
                "One Cassandra write, retries apart",
                &self.write_seconds,
            ),
            (
                names::SOURCE_REQUEST_SECONDS,
                "One source request, reply read and parsed",
                &self.source_request_seconds,
            ),
        ];
        for (name, help, histogram) in histograms {
            registry.register(name, help, histogram.clone());
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.acked.inc_by(3);
        metrics.dead_lettered.inc("bad_shape");
        metrics.dead_lettered.inc("bad_shape");
        let text = metrics.encode();
        assert!(text.contains("rtds_records_acked_total 3"), "{text}");
        assert!(
            text.contains("rtds_records_dead_lettered_total{reason=\"bad_shape\"} 2"),
            "{text}"
        );
        assert_eq!(metrics.dead_lettered.total(), 2);
    }
}
