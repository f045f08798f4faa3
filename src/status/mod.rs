//! `rtds status`: each hop of the configured pipeline checked in turn (the
//! source, Kafka's topic, the consumer group, the DLQ, the Cassandra table),
//! the schema registry when a topic needs it ([`registry`]), one line
//! each, and a verdict naming the first broken hop and what to do.
//! The dashboard shows the same report, refreshed. Nothing here creates or
//! changes anything.

pub mod cassandra;
pub mod kafka;
pub mod mapped;
pub mod registry;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::BUILTIN;
use crate::config::{Settings, masked_source};
use crate::metrics::Metrics;
use crate::metrics::names;
use crate::metrics::scrape::{self, Totals};
use crate::source::Source;

/// Rows `rtds status` samples to count the table and find its newest row.
pub const SAMPLE_ROWS: u32 = 10_000;

/// How a hop is doing: green, amber, red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    Warn,
    Fail,
}

/// One hop of the pipeline, as a line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    pub name: &'static str,
    pub state: State,
    pub summary: String,
    /// What to do, when something is to be done.
    pub advice: Option<String>,
    /// The numbers behind the summary, for scripts.
    pub details: serde_json::Value,
    /// The brokers or nodes behind the hop, each up or down: the
    /// dashboard shows one mark each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
}

/// A broker or a node, as the hop's cluster sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub name: String,
    pub up: bool,
}

/// What the report is about: the configured names.
#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    pub source: String,
    pub topic: String,
    pub dlq_topic: String,
    pub group: String,
    pub table: String,
    /// `name: topic -> keyspace.table` of each `[[mapping]]` entry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<String>,
}

/// Every hop and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No hop failed.
    pub healthy: bool,
    pub pipeline: Pipeline,
    pub verdict: String,
    pub checked_at: DateTime<Utc>,
    pub hops: Vec<Hop>,
}

/// The source's answer to a one-user request.
#[derive(Debug, Clone)]
pub enum SourceLook {
    Builtin,
    Answered { url: String, latency: Duration },
    Failed { url: String, error: String },
}

/// What one look at every hop found; the report is made from it.
pub struct Look {
    pub source: SourceLook,
    pub kafka: Result<kafka::Facts, String>,
    pub cassandra: Result<cassandra::Facts, cassandra::Problem>,
    /// The jobs' counters, when their `/metrics` are listed
    /// (`dashboard.scrape`) or the look is inside `rtds run`.
    pub jobs: Option<Totals>,
    /// Each `[[mapping]]` entry's topic and table; none without entries.
    pub mapped: Vec<mapped::MappingLook>,
    /// The schema registry, when a topic's format needs it.
    pub registry: Option<registry::RegistryLook>,
}

/// Asks the source for one user, without retries.
pub async fn look_at_source(settings: &Settings) -> SourceLook {
    if settings.produce.source == BUILTIN {
        return SourceLook::Builtin;
    }
    let url = masked_source(&settings.produce.source);
    let mut produce = settings.produce.clone();
    produce.retries = 1;
    let started = Instant::now();
    let answer = async {
        let source = Source::new(&produce, "rtds-status", Metrics::new())?;
        source.page(1, 1, &CancellationToken::new()).await
    };
    match answer.await {
        Ok(users) if !users.is_empty() => SourceLook::Answered {
            url,
            latency: started.elapsed(),
        },
        Ok(_) => SourceLook::Failed {
            url,
            error: "the reply had no usable user".into(),
        },
        Err(error) => SourceLook::Failed {
            url,
            error: error.to_string(),
        },
    }
}

/// One look at every hop at once: the report takes as long as the slowest.
/// With `[[mapping]]` entries, each mapping's topic and table are looked at
/// in place of the users topic and table.
pub async fn look(settings: &Settings, sample_rows: u32) -> Look {
    let mappings = mapped::mappings(settings);
    let kafka_settings = settings.kafka.clone();
    let watched = mappings.clone();
    let kafka = tokio::task::spawn_blocking(move || {
        let observer = kafka::Observer::new(&kafka_settings)?;
        let flows = mapped::flows(&observer, &watched);
        observer.look().map(|facts| (facts, flows))
    });
    let cassandra = async {
        if !mappings.is_empty() {
            return Err(cassandra::Problem::Table("looked at per mapping".into()));
        }
        let probe = cassandra::Probe::new(settings.cassandra.clone());
        probe.look(sample_rows).await.map(|look| look.facts)
    };
    let tables = async {
        let probe = mapped::TablesProbe::new(settings.cassandra.clone());
        probe.look(&mappings, sample_rows).await
    };
    let jobs = async {
        let urls = &settings.dashboard.scrape;
        if urls.is_empty() {
            return None;
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        Some(scrape::read(&http, urls, None).await)
    };
    let (source, kafka, cassandra, tables, jobs, registry) = tokio::join!(
        look_at_source(settings),
        kafka,
        cassandra,
        tables,
        jobs,
        registry::look(settings)
    );
    let (kafka, flows) = match kafka {
        Ok(Ok((facts, flows))) => (Ok(facts), flows),
        Ok(Err(error)) => (Err(crate::logging::one_line(&error)), Vec::new()),
        Err(error) => (Err(error.to_string()), Vec::new()),
    };
    Look {
        source,
        kafka,
        cassandra,
        jobs,
        mapped: mapped::looks(&mappings, flows, tables),
        registry,
    }
}

fn hop(name: &'static str, state: State, summary: String, advice: Option<&str>) -> Hop {
    Hop {
        name,
        state,
        summary,
        advice: advice.map(str::to_string),
        details: serde_json::Value::Null,
        members: Vec::new(),
    }
}

impl Hop {
    fn with<T: Serialize>(mut self, details: &T) -> Hop {
        self.details = serde_json::to_value(details).unwrap_or_default();
        self
    }

    fn among(mut self, members: Vec<Member>) -> Hop {
        self.members = members;
        self
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `42 s ago`, `3 min ago`, `2 h ago`.
fn ago(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - time).num_seconds().max(0);
    match seconds {
        0..120 => format!("{seconds} s ago"),
        120..7200 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}

impl Report {
    /// The report of `look` on the pipeline `settings` describe.
    pub fn of(look: &Look, settings: &Settings) -> Report {
        let now = Utc::now();
        let mut hops = vec![source_hop(&look.source)];
        if settings.mapping.is_empty() {
            hops.extend(kafka_hops(&look.kafka, settings, now));
            hops.push(cassandra_hop(&look.cassandra, settings, now));
        } else {
            hops.extend(mapped::hops(look, settings, now));
        }
        hops.extend(look.registry.as_ref().map(registry::registry_hop));
        hops.extend(look.jobs.as_ref().map(jobs_hop));
        let first = |state| hops.iter().find(|h| h.state == state);
        let verdict = match (first(State::Fail), first(State::Warn)) {
            (Some(broken), _) => match &broken.advice {
                Some(advice) => format!("{}; {advice}", broken.summary),
                None => broken.summary.clone(),
            },
            (None, Some(warned)) => format!("working, but: {}", warned.summary),
            (None, None) => "healthy: records flow from the source into the table".into(),
        };
        let k = &settings.kafka;
        Report {
            healthy: first(State::Fail).is_none(),
            pipeline: Pipeline {
                source: masked_source(&settings.produce.source),
                topic: k.topic.clone(),
                dlq_topic: k.dlq_topic.clone(),
                group: k.group_id.clone(),
                table: format!(
                    "{}.{}",
                    settings.cassandra.keyspace, settings.cassandra.table
                ),
                mappings: look
                    .mapped
                    .iter()
                    .map(|m| format!("{}: {} -> {}", m.mapping, m.topic, m.table))
                    .collect(),
            },
            verdict,
            checked_at: now,
            hops,
        }
    }

    /// One line per hop, advice under it, then the verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for hop in &self.hops {
            let state = match hop.state {
                State::Ok => "ok",
                State::Warn => "WARN",
                State::Fail => "FAIL",
            };
            let _ = writeln!(out, "{:<10} {state:<5} {}", hop.name, hop.summary);
            if let Some(advice) = &hop.advice {
                let _ = writeln!(out, "{:<16} -> {advice}", "");
            }
        }
        let _ = writeln!(out, "\nverdict: {}", self.verdict);
        out
    }
}

/// A service that did not answer: start it, or point the setting at it.
fn unreachable(name: &'static str, error: &str, service: &str, setting: &str) -> Hop {
    let advice =
        format!("start {service} (`scripts/stack up` starts a local one) or point {setting} at it");
    hop(name, State::Fail, error.to_string(), Some(&advice))
}

fn source_hop(look: &SourceLook) -> Hop {
    match look {
        SourceLook::Builtin => hop(
            "source",
            State::Ok,
            "builtin generator (no network)".into(),
            None,
        ),
        SourceLook::Answered { url, latency } => hop(
            "source",
            State::Ok,
            format!("{url} answered one user in {} ms", latency.as_millis()),
            None,
        )
        .with(&serde_json::json!({ "url": url, "latency_ms": latency.as_secs_f64() * 1e3 })),
        SourceLook::Failed { url, error } => hop(
            "source",
            State::Fail,
            format!("the source {url} does not answer: {error}"),
            Some("check produce.source (--source), or use `--source builtin`"),
        )
        .with(&serde_json::json!({ "url": url })),
    }
}

/// The topic, group and DLQ hops.
fn kafka_hops(
    facts: &Result<kafka::Facts, String>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<Hop> {
    let facts = match facts {
        Ok(facts) => facts,
        Err(error) => {
            let unchecked = |name| {
                hop(
                    name,
                    State::Warn,
                    "not checked: Kafka is unreachable".into(),
                    None,
                )
            };
            return vec![
                unreachable(
                    "kafka",
                    error,
                    "Kafka",
                    "kafka.bootstrap_servers (--bootstrap-servers)",
                ),
                unchecked("group"),
                unchecked("dlq"),
            ];
        }
    };
    vec![
        topic_hop(facts, &settings.kafka.topic),
        group_hop(facts, now),
        dlq_hop(facts, &settings.kafka.dlq_topic),
    ]
}

/// The topic and the brokers: whether it exists, holds records, and has
/// every replica.
fn topic_hop(facts: &kafka::Facts, topic_name: &str) -> Hop {
    let brokers = facts.brokers.join(",");
    let topic_hop = match &facts.topic {
        Some(topic) if !facts.brokers_down.is_empty() => {
            let ids: Vec<String> = facts.brokers_down.iter().map(i32::to_string).collect();
            hop(
                "kafka",
                State::Warn,
                format!(
                    "{brokers} up; broker {} down: {} partitions under-replicated",
                    ids.join(", "),
                    facts.under_replicated
                ),
                Some(
                    "start the broker again: until then writes need the brokers left \
                     (min.insync.replicas), and one more loss may stop them",
                ),
            )
            .with(topic)
        }
        Some(topic) if facts.under_replicated > 0 => hop(
            "kafka",
            State::Warn,
            format!(
                "{brokers} up; {} partitions under-replicated: replicas catching up",
                facts.under_replicated
            ),
            Some(
                "wait: a broker that came back catches up by itself; if this stays, \
                 read the brokers' logs",
            ),
        )
        .with(topic),
        None => hop(
            "kafka",
            State::Fail,
            format!("{brokers}: topic {topic_name} does not exist: nothing was produced yet"),
            Some("run `rtds produce` (or `rtds run --now`)"),
        ),
        Some(topic) => hop(
            "kafka",
            if topic.records == 0 {
                State::Warn
            } else {
                State::Ok
            },
            format!(
                "{brokers}: topic {}, {} partitions, {} records, {} in the last minute",
                topic.name,
                topic.partitions.len(),
                thousands(topic.records),
                thousands(topic.last_minute)
            ),
            (topic.records == 0).then_some("the topic is empty: run `rtds produce`"),
        )
        .with(topic),
    };
    topic_hop.among(broker_members(facts))
}

/// Every broker as a mark: those that answer, up, and those that hold
/// replicas but are missing from the metadata, down.
fn broker_members(facts: &kafka::Facts) -> Vec<Member> {
    let up = facts.brokers.iter().map(|address| Member {
        name: address.clone(),
        up: true,
    });
    let down = facts.brokers_down.iter().map(|id| Member {
        name: format!("broker {id}"),
        up: false,
    });
    up.chain(down).collect()
}

/// The consumer group: its members, state, lag and last commit.
fn group_hop(facts: &kafka::Facts, now: DateTime<Utc>) -> Hop {
    let group = &facts.group;
    let last_commit = group
        .last_commit
        .map(|at| format!(", last commit {}", ago(at, now)))
        .unwrap_or_default();
    let members = match group.members {
        0 => "no member".to_string(),
        1 => "1 member".to_string(),
        n => format!("{n} members"),
    };
    let summary = format!(
        "group {}: {}, {members}, lag {}{last_commit}",
        group.name,
        group.state,
        thousands(group.lag)
    );
    if facts.topic.is_none() {
        hop(
            "group",
            State::Warn,
            format!("{summary} (no topic yet)"),
            None,
        )
    } else if group.members == 0 && group.lag > 0 {
        hop(
            "group",
            State::Fail,
            format!(
                "records are produced but nobody consumes them: no member in group {}, lag {}",
                group.name,
                thousands(group.lag)
            ),
            Some("start `rtds process`"),
        )
    } else if group.members == 0 {
        hop(
            "group",
            State::Warn,
            format!("{summary}: every record is stored, no processor is waiting for more"),
            Some("start `rtds process` to store new records as they come"),
        )
    } else if group.state != "Stable" {
        hop(
            "group",
            State::Warn,
            summary,
            Some("the group is rebalancing; it settles by itself"),
        )
    } else {
        hop("group", State::Ok, summary, None)
    }
    .with(group)
}

/// The dead-letter topic: how many records it holds and the latest reason.
fn dlq_hop(facts: &kafka::Facts, dlq_topic: &str) -> Hop {
    match (&facts.dlq, &facts.latest_dead_letter) {
        (Some(dlq), Some(latest)) if dlq.records > 0 => hop(
            "dlq",
            State::Warn,
            format!(
                "{}: {} records, latest: {} ({})",
                dlq.name,
                thousands(dlq.records),
                latest.reason,
                latest.error
            ),
            Some("records were refused; the reason says why"),
        )
        .with(&serde_json::json!({ "topic": dlq, "latest": latest })),
        _ => hop(
            "dlq",
            State::Ok,
            format!("{dlq_topic}: no dead letters"),
            None,
        ),
    }
}

/// What the jobs' own counters say: what they wrote, deleted and refused.
fn jobs_hop(jobs: &Totals) -> Hop {
    let count = |name: &str| thousands(jobs.counter(name).unwrap_or(0.0) as i64);
    let answered = format!("{} of {} jobs' /metrics answered", jobs.jobs, jobs.listed);
    if jobs.jobs == 0 {
        return hop(
            "jobs",
            State::Warn,
            answered,
            Some("start the jobs with --metrics-listen, or correct dashboard.scrape"),
        );
    }
    let summary = format!(
        "{answered}: {} fetched, {} written, {} deleted by tombstones, {} dead-lettered",
        count(names::USERS_FETCHED),
        count(names::ROWS_WRITTEN),
        count(names::ROWS_DELETED),
        thousands(
            jobs.reasons
                .iter()
                .filter(|((metric, _), _)| metric == names::RECORDS_DEAD_LETTERED)
                .map(|(_, n)| *n as i64)
                .sum()
        ),
    );
    let state = if jobs.jobs < jobs.listed {
        State::Warn
    } else {
        State::Ok
    };
    let advice =
        (state == State::Warn).then_some("a job listed in dashboard.scrape is not running");
    hop("jobs", state, summary, advice)
}

fn cassandra_hop(
    facts: &Result<cassandra::Facts, cassandra::Problem>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Hop {
    let nodes = settings.cassandra.contact_points.join(",");
    match facts {
        Err(cassandra::Problem::Unreachable(error)) => unreachable(
            "cassandra",
            error,
            "Cassandra",
            "cassandra.contact_points (--contact-points)",
        ),
        Err(cassandra::Problem::Table(error)) => hop(
            "cassandra",
            State::Fail,
            format!("{nodes}: {error}"),
            Some("run `rtds process` once: it creates the keyspace and the table"),
        ),
        Ok(facts) => table_hop(facts, &nodes, now),
    }
}

/// The table as a reachable Cassandra shows it: its rows, the newest write
/// and the nodes down.
fn table_hop(facts: &cassandra::Facts, nodes: &str, now: DateTime<Utc>) -> Hop {
    let rows = if facts.exact {
        format!("{} rows", thousands(facts.rows as i64))
    } else {
        let estimate = facts
            .estimate
            .map(|n| format!(", about {} by Cassandra's estimate", thousands(n as i64)))
            .unwrap_or_default();
        format!("more than {} rows{estimate}", thousands(facts.rows as i64))
    };
    let newest = facts
        .newest
        .map(|at| {
            let of = if facts.exact {
                ""
            } else {
                " (of those sampled)"
            };
            format!(", newest written {}{of}", ago(at, now))
        })
        .unwrap_or_default();
    let down: Vec<&str> = facts
        .nodes
        .iter()
        .filter(|n| !n.up)
        .map(|n| n.address.as_str())
        .collect();
    let (state, cluster, advice) = if down.is_empty() {
        (State::Ok, String::new(), None)
    } else {
        (
            State::Warn,
            format!(
                "; {} of {} nodes down: {}",
                down.len(),
                facts.nodes.len(),
                down.join(", ")
            ),
            Some(
                "start the node again: until then writes need enough replicas left \
                 for cassandra.write_consistency",
            ),
        )
    };
    let members = facts
        .nodes
        .iter()
        .map(|node| Member {
            name: node.address.clone(),
            up: node.up,
        })
        .collect();
    hop(
        "cassandra",
        state,
        format!("{nodes}: {}, {rows}{newest}{cluster}", facts.table),
        advice,
    )
    .with(facts)
    .among(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
    }

    fn facts(members: usize, lag: i64) -> kafka::Facts {
        kafka::Facts {
            brokers: vec!["127.0.0.1:9092".into()],
            brokers_down: Vec::new(),
            under_replicated: 0,
            topic: Some(kafka::Topic {
                name: "users_created".into(),
                partitions: vec![kafka::Partition {
                    partition: 0,
                    low: 0,
                    high: 10,
                }],
                records: 10,
                last_minute: 10,
            }),
            group: kafka::Group {
                name: "rtds-processor".into(),
                state: if members > 0 { "Stable" } else { "Empty" }.into(),
                members,
                partitions: Vec::new(),
                lag,
                last_commit: None,
            },
            dlq: None,
            latest_dead_letter: None,
        }
    }

    fn report(kafka: Result<kafka::Facts, String>) -> Report {
        report_with_nodes(kafka, Vec::new())
    }

    fn report_with_nodes(
        kafka: Result<kafka::Facts, String>,
        nodes: Vec<crate::cassandra::NodeState>,
    ) -> Report {
        let look = Look {
            source: SourceLook::Builtin,
            kafka,
            cassandra: Ok(cassandra::Facts {
                table: "spark_streams.created_users".into(),
                rows: 10,
                exact: true,
                estimate: None,
                newest: None,
                nodes,
            }),
            jobs: None,
            mapped: Vec::new(),
            registry: None,
        };
        Report::of(&look, &Settings::default())
    }

    #[test]
    fn replicas_catching_up_are_a_warning() {
        let mut kafka = facts(1, 0);
        kafka.under_replicated = 2;
        let report = report_with_nodes(Ok(kafka), Vec::new());
        let hop = report.hops.iter().find(|h| h.name == "kafka").unwrap();
        assert_eq!(hop.state, State::Warn);
        assert!(
            hop.summary
                .contains("2 partitions under-replicated: replicas catching up"),
            "{}",
            report.render()
        );
    }

    #[test]
    fn a_broker_or_a_node_down_is_named() {
        let mut kafka = facts(1, 0);
        kafka.brokers_down = vec![3];
        kafka.under_replicated = 4;
        let node = |address: &str, up| crate::cassandra::NodeState {
            address: address.into(),
            datacenter: Some("dc1".into()),
            up,
        };
        let nodes = vec![node("127.0.1.1:9042", true), node("127.0.1.2:9042", false)];
        let report = report_with_nodes(Ok(kafka), nodes);
        let hop = |name| report.hops.iter().find(|h| h.name == name).unwrap();
        assert_eq!(hop("kafka").state, State::Warn);
        assert!(
            hop("kafka")
                .summary
                .contains("broker 3 down: 4 partitions under-replicated"),
            "{}",
            report.render()
        );
        assert_eq!(hop("cassandra").state, State::Warn);
        assert!(
            hop("cassandra")
                .summary
                .contains("1 of 2 nodes down: 127.0.1.2:9042"),
            "{}",
            report.render()
        );
        let member = |name: &str, up| Member {
            name: name.into(),
            up,
        };
        assert_eq!(
            hop("kafka").members,
            [member("127.0.0.1:9092", true), member("broker 3", false)]
        );
        assert_eq!(
            hop("cassandra").members,
            [
                member("127.0.1.1:9042", true),
                member("127.0.1.2:9042", false)
            ]
        );
        // Degraded, but records still flow: a warning, not a failure.
        assert!(report.healthy, "{}", report.render());
    }

    #[test]
    fn the_verdict_names_the_first_broken_hop() {
        let healthy = report(Ok(facts(1, 0)));
        assert!(healthy.healthy, "{}", healthy.render());
        let idle = report(Ok(facts(0, 0)));
        assert!(idle.healthy, "{}", idle.render());
        assert!(idle.verdict.starts_with("working, but"), "{}", idle.verdict);
        let orphaned = report(Ok(facts(0, 7)));
        assert!(!orphaned.healthy);
        assert!(
            orphaned
                .verdict
                .contains("no member in group rtds-processor")
                && orphaned.verdict.contains("start `rtds process`"),
            "{}",
            orphaned.verdict
        );
        let down = report(Err("cannot reach Kafka at 127.0.0.1:1".into()));
        assert!(down.verdict.contains("127.0.0.1:1"), "{}", down.verdict);
        assert_eq!(down.hops.len(), 5);
    }
}
