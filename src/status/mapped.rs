//! `rtds status` with `[[mapping]]` entries: one hop per mapping, from its
//! topic (records, the group's lag on it) to its table (rows, the newest
//! write, the newest rows), in place of the users pipeline's topic, group
//! and table hops. Read from bounded samples, as the users table is.

use chrono::{DateTime, Utc};
use scylla::client::session::Session;
use serde::Serialize;
use tokio::sync::Mutex;

use super::kafka::{self, Observer};
use super::{Hop, Look, State, ago, broker_members, dlq_hop, hop, thousands, unreachable};
use crate::cassandra::{self as store, connect, read_rows};
use crate::config::{CassandraSettings, Settings};
use crate::mapping::{Mapping, json};

/// Newest rows kept of each mapping's table, for the dashboard.
const NEWEST: usize = 5;

/// What one look found of a mapping.
#[derive(Debug, Clone)]
pub struct MappingLook {
    pub mapping: String,
    pub topic: String,
    pub table: String,
    /// Its topic; none when the topic does not exist.
    pub flow: Result<Option<Flow>, String>,
    pub rows: Result<Rows, String>,
}

/// A mapping's topic and how far the group has read it.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    /// Every record ever appended.
    pub appended: i64,
    /// Records kept (after retention).
    pub records: i64,
    /// Records the group has not committed past.
    pub lag: i64,
}

/// A mapping's table, as a sample shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Rows {
    /// Rows sampled: the whole table when `exact`.
    pub rows: u64,
    pub exact: bool,
    pub newest: Option<DateTime<Utc>>,
    /// The newest rows, column name to value, newest first.
    pub newest_rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The mappings the settings have, checked when they loaded.
pub fn mappings(settings: &Settings) -> Vec<Mapping> {
    crate::mapping::chosen(&settings.mapping, &[]).unwrap_or_default()
}

/// Each mapping's look, from its flow and its rows, in mapping order.
pub fn looks(
    mappings: &[Mapping],
    flows: Vec<Result<Option<Flow>, String>>,
    rows: Vec<Result<Rows, String>>,
) -> Vec<MappingLook> {
    let kafka_down = || Err("Kafka was not reached".to_string());
    let mut flows = flows.into_iter();
    mappings
        .iter()
        .zip(rows)
        .map(|(mapping, rows)| MappingLook {
            mapping: mapping.name.clone(),
            topic: mapping.topic.clone(),
            table: format!("{}.{}", mapping.keyspace, mapping.table),
            flow: flows.next().unwrap_or_else(kafka_down),
            rows,
        })
        .collect()
}

/// Each mapping's topic and the group's lag on it; blocking, as the
/// observer is.
pub fn flows(observer: &Observer, mappings: &[Mapping]) -> Vec<Result<Option<Flow>, String>> {
    let flow = |mapping: &Mapping| -> anyhow::Result<Option<Flow>> {
        let Some(topic) = observer.topic_named(&mapping.topic)? else {
            return Ok(None);
        };
        let committed = observer.committed(&topic)?;
        let lag = topic
            .partitions
            .iter()
            .map(|p| (p.high - committed.get(&p.partition).copied().unwrap_or(p.low)).max(0))
            .sum();
        Ok(Some(Flow {
            appended: topic.appended(),
            records: topic.records,
            lag,
        }))
    };
    mappings
        .iter()
        .map(|mapping| flow(mapping).map_err(|e| crate::logging::one_line(&e)))
        .collect()
}

/// Looks at the mappings' tables, keeping its session between looks.
pub struct TablesProbe {
    settings: CassandraSettings,
    session: Mutex<Option<Session>>,
}

impl TablesProbe {
    pub fn new(settings: CassandraSettings) -> TablesProbe {
        TablesProbe {
            settings,
            session: Mutex::new(None),
        }
    }

    /// Samples up to `limit` rows of each table; every table fails alike
    /// when Cassandra cannot be reached, and the next look connects again.
    pub async fn look(&self, mappings: &[Mapping], limit: u32) -> Vec<Result<Rows, String>> {
        if mappings.is_empty() {
            return Vec::new();
        }
        let mut session = self.session.lock().await;
        if session.is_none() {
            match connect(&self.settings).await {
                Ok(connected) => *session = Some(connected),
                Err(error) => {
                    let why = crate::logging::one_line(&error);
                    return mappings.iter().map(|_| Err(why.clone())).collect();
                }
            }
        }
        let open = session.as_ref().expect("connected above");
        let mut looks = Vec::new();
        for mapping in mappings {
            looks.push(rows(open, mapping, limit).await);
        }
        looks
    }
}

/// One table's sample: its size, newest write and newest rows.
async fn rows(session: &Session, mapping: &Mapping, limit: u32) -> Result<Rows, String> {
    let sample = read_rows(session, mapping, limit)
        .await
        .map_err(|e| crate::logging::one_line(&e))?;
    let newest = sample
        .iter()
        .filter_map(|row| row.written_at)
        .max()
        .and_then(DateTime::from_timestamp_micros);
    let exact = (sample.len() as u64) < u64::from(limit);
    let count = sample.len() as u64;
    let newest_rows = store::newest(sample, NEWEST)
        .into_iter()
        .map(|row| {
            let cells = mapping.columns.iter().zip(&row.cells);
            cells
                .map(|(column, cell)| {
                    let value = cell.as_ref().map_or(serde_json::Value::Null, json::to_json);
                    (column.name.clone(), value)
                })
                .collect()
        })
        .collect();
    Ok(Rows {
        rows: count,
        exact,
        newest,
        newest_rows,
    })
}

/// The kafka, per-mapping and DLQ hops of a look with mappings.
pub fn hops(look: &Look, settings: &Settings, now: DateTime<Utc>) -> Vec<Hop> {
    let facts = match &look.kafka {
        Ok(facts) => facts,
        Err(error) => {
            let setting = "kafka.bootstrap_servers (--bootstrap-servers)";
            return vec![unreachable("kafka", error, "Kafka", setting)];
        }
    };
    let mut hops = vec![brokers_hop(facts)];
    for mapping in &look.mapped {
        hops.push(mapping_hop(mapping, facts.group.members, now));
    }
    hops.push(dlq_hop(facts, &settings.kafka.dlq_topic));
    hops
}

/// The brokers, up and down.
fn brokers_hop(facts: &kafka::Facts) -> Hop {
    let brokers = facts.brokers.join(",");
    let (state, summary, advice) = if facts.brokers_down.is_empty() {
        (State::Ok, format!("{brokers} up"), None)
    } else {
        let ids: Vec<String> = facts.brokers_down.iter().map(i32::to_string).collect();
        let summary = format!("{brokers} up; broker {} down", ids.join(", "));
        (State::Warn, summary, Some("start the broker again"))
    };
    hop("kafka", state, summary, advice).among(broker_members(facts))
}

/// One mapping from its topic to its table: where its records stop.
fn mapping_hop(look: &MappingLook, members: usize, now: DateTime<Utc>) -> Hop {
    let name = &look.mapping;
    let (flow, rows) = match (&look.flow, &look.rows) {
        (Err(error), _) => return hop("mapping", State::Fail, format!("{name}: {error}"), None),
        (Ok(None), _) => {
            let summary = format!("{name}: topic {} does not exist", look.topic);
            let advice = "produce to it, or correct the mapping's topic";
            return hop("mapping", State::Fail, summary, Some(advice));
        }
        (Ok(Some(_)), Err(error)) => {
            let summary = format!("{name}: table {}: {error}", look.table);
            let advice = "run `rtds schema` (or `rtds process`): it creates the mapping's table";
            return hop("mapping", State::Fail, summary, Some(advice));
        }
        (Ok(Some(flow)), Ok(rows)) => (flow, rows),
    };
    let more = if rows.exact { "" } else { "more than " };
    let newest = rows
        .newest
        .map(|at| format!(", newest written {}", ago(at, now)))
        .unwrap_or_default();
    let summary = format!(
        "{name}: {} ({} records, lag {}) -> {} ({more}{} rows{newest})",
        look.topic,
        thousands(flow.records),
        thousands(flow.lag),
        look.table,
        thousands(rows.rows as i64)
    );
    let (state, advice) = match (flow.lag, members) {
        (0, _) => (State::Ok, None),
        (_, 0) => (
            State::Fail,
            Some("start `rtds process`: nobody consumes the topic"),
        ),
        _ => (State::Ok, None),
    };
    let details = serde_json::json!({ "mapping": name, "topic": look.topic, "table": look.table, "flow": flow, "rows": rows });
    hop("mapping", state, summary, advice).with(&details)
}
