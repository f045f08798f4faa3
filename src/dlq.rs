//! `rtds dlq list` and `rtds dlq replay`: read the dead-letter topic as
//! people do, and send its records back to the source topic once the cause
//! is fixed. Listing joins no group and commits nothing; a replay tracks how
//! far it got in a consumer group of its own (one per filter), so the same
//! replay twice sends nothing the second time.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;

use crate::config::Settings;
use crate::kafka::{self, Need, Role};
use crate::status::kafka::{DeadLetter, Observer, Topic};

pub mod wire;

/// Which dead letters a command is about.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The reason kind (`too_large`, `bad_shape`, ...).
    pub kind: Option<String>,
    /// Records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records before this time.
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    fn takes(&self, letter: &DeadLetter) -> bool {
        let time = letter.time.unwrap_or_default();
        self.kind.as_ref().is_none_or(|kind| *kind == letter.reason)
            && self.since.is_none_or(|since| time >= since)
            && self.until.is_none_or(|until| time < until)
    }

    /// The replay group of this filter: each filter keeps its own place.
    fn group(&self, settings: &Settings) -> String {
        let mut group = format!("{}.dlq-replay", settings.kafka.group_id);
        if let Some(kind) = &self.kind {
            let _ = write!(group, ".kind={kind}");
        }
        if let Some(since) = self.since {
            let _ = write!(group, ".since={}", since.to_rfc3339());
        }
        if let Some(until) = self.until {
            let _ = write!(group, ".until={}", until.to_rfc3339());
        }
        group
    }
}

/// `--since` / `--until`: an RFC 3339 time, or a duration meaning that long ago.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc());
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!("`{text}` is neither a time like 2026-12-01T10:00:00Z nor a duration like 2h (that long ago)")
    })?;
    Ok(Utc::now() - chrono::Duration::from_std(ago).map_err(|e| e.to_string())?)
}

/// The DLQ topic, which must exist.
fn dlq(observer: &Observer, settings: &Settings) -> anyhow::Result<Topic> {
    let name = &settings.kafka.dlq_topic;
    observer.topic_named(name)?.with_context(|| {
        format!("the dead-letter topic {name} does not exist: no record was ever dead-lettered there (`rtds process` creates it)")
    })
}

/// The dead letters `filter` takes, newest first, at most `limit`.
pub fn list(settings: &Settings, filter: &Filter, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
    let observer = Observer::new(&settings.kafka)?;
    let dlq = dlq(&observer, settings)?;
    let mut letters: Vec<DeadLetter> = observer
        .dead_letters(&dlq, &HashMap::new())?
        .into_iter()
        .filter(|letter| filter.takes(letter))
        .collect();
    letters.sort_by_key(|letter| std::cmp::Reverse((letter.time, letter.offset)));
    letters.truncate(limit);
    Ok(letters)
}

/// The dead letters as a table for people.
pub fn render(letters: &[DeadLetter]) -> String {
    let mut out = format!(
        "{:<24} {:>12} {:>14} {:<14} {:<50} {}\n",
        "time", "dlq p/offset", "source p/off", "kind", "reason", "payload"
    );
    for letter in letters {
        let at = |p: Option<i32>, o: Option<i64>| match (p, o) {
            (Some(p), Some(o)) => format!("{p}/{o}"),
            _ => "-".into(),
        };
        let cut = |text: &str, n: usize| -> String {
            let mut shown: String = text.chars().take(n).collect();
            if text.chars().count() > n {
                shown.push('…');
            }
            shown
        };
        let time = letter.time.map_or("-".into(), |t| {
            t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
        });
        let _ = writeln!(
            out,
            "{time:<24} {:>12} {:>14} {:<14} {:<50} {}",
            format!("{}/{}", letter.partition, letter.offset),
            at(letter.source_partition, letter.source_offset),
            letter.reason,
            cut(&crate::table::escape(&letter.error), 50),
            cut(&letter.payload, 40),
        );
    }
    let _ = writeln!(out, "({} records)", letters.len());
    out
}

/// What a replay did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Replayed {
    pub dry_run: bool,
    /// Dead letters read since the replay group's last run.
    pub read: u64,
    /// Of those, taken by the filter.
    pub matched: u64,
    /// Sent back to the source topic (or would be).
    pub replayed: u64,
    /// Refused: replayed `dlq.max_replays` times already.
    pub over_limit: u64,
    /// Refused: only their first bytes reached the DLQ.
    pub truncated: u64,
    pub group: String,
}

impl std::fmt::Display for Replayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{} of {} dead letters read ({} matched) {} the source topic; refused {} replayed too often, {} truncated (group {})",
            if self.dry_run { "dry run: " } else { "" },
            self.replayed,
            self.read,
            self.matched,
            if self.dry_run {
                "would go back to"
            } else {
                "went back to"
            },
            self.over_limit,
            self.truncated,
            self.group
        )
    }
}

/// A record to send back, owned.
struct Resend {
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
    timestamp: Option<i64>,
}

/// Sends the dead letters `filter` takes back to the source topic, keeping
/// their key, payload, headers and time (so a later delete of the same user
/// still wins, see [`crate::cassandra::Store::upsert`]), from where this
/// filter's replay group left off (or the start with `from_beginning`).
pub async fn replay(
    settings: &Settings,
    filter: &Filter,
    dry_run: bool,
    from_beginning: bool,
) -> anyhow::Result<Replayed> {
    let group = filter.group(settings);
    let mut own = settings.kafka.clone();
    own.group_id = group.clone();
    let observer = Observer::new(&own)?;
    let max = settings.dlq.max_replays;
    let (filter, topic) = (filter.clone(), settings.kafka.topic.clone());
    let scan = tokio::task::spawn_blocking({
        let settings = settings.clone();
        move || -> anyhow::Result<_> {
            let dlq = dlq(&observer, &settings)?;
            let from = if from_beginning {
                HashMap::new()
            } else {
                observer.committed(&dlq)?
            };
            let mut done = Replayed {
                dry_run,
                group: own.group_id.clone(),
                ..Replayed::default()
            };
            let mut resend = Vec::new();
            let mut next = HashMap::new();
            observer.read(&dlq, &from, |message| {
                next.insert(message.partition(), message.offset() + 1);
                done.read += 1;
                let letter = DeadLetter::from(message);
                if !filter.takes(&letter) {
                    return;
                }
                done.matched += 1;
                let at = format!("{}/{}", letter.partition, letter.offset);
                if letter.truncated {
                    done.truncated += 1;
                    tracing::warn!("not replaying DLQ record {at}: only its first bytes were kept");
                } else if letter.replays >= max {
                    done.over_limit += 1;
                    tracing::warn!(
                        "not replaying DLQ record {at}: replayed {} times already (dlq.max_replays = {max}); \
                         it stays bad: look at it with `rtds dlq list`",
                        letter.replays
                    );
                } else {
                    done.replayed += 1;
                    if dry_run {
                        println!("would replay {at} ({}): {}", letter.reason, letter.payload);
                    }
                    resend.push(Resend {
                        key: message.key().map(<[u8]>::to_vec),
                        payload: message.payload().unwrap_or_default().to_vec(),
                        headers: wire::restored(message.headers(), letter.replays),
                        timestamp: wire::ours(message.headers(), wire::SOURCE_TIMESTAMP)
                            .and_then(|ms| ms.parse().ok())
                            .or(message.timestamp().to_millis()),
                    });
                }
            })?;
            Ok((observer, dlq, done, resend, next))
        }
    });
    let (observer, dlq, done, resend, next) = scan.await.expect("the scan does not panic")?;
    if dry_run {
        return Ok(done);
    }
    send(settings, &topic, resend).await?;
    if !next.is_empty() {
        tokio::task::spawn_blocking(move || observer.commit(&dlq, &next))
            .await
            .expect("the commit does not panic")?;
    }
    Ok(done)
}

/// Sends every record and waits until Kafka has them all.
async fn send(settings: &Settings, topic: &str, records: Vec<Resend>) -> anyhow::Result<()> {
    let producer: FutureProducer = kafka::client_config(&settings.kafka, Role::Producer)?
        .create()
        .context("cannot create the Kafka producer (check the kafka.* settings)")?;
    let timeout = kafka::delivery_timeout(&settings.kafka);
    let sends = records.iter().map(|record| {
        let mut message = FutureRecord::<[u8], [u8]>::to(topic)
            .payload(&record.payload)
            .headers(record.headers.clone());
        if let Some(key) = &record.key {
            message = message.key(key);
        }
        if let Some(ms) = record.timestamp {
            message = message.timestamp(ms);
        }
        producer.send(message, timeout)
    });
    for result in futures::future::join_all(sends).await {
        if let Err((error, _)) = result {
            let need = Need::Write { topic };
            if let Some(refused) = error
                .rdkafka_error_code()
                .and_then(|code| kafka::refused_by_acls(&settings.kafka, code, need))
            {
                return Err(refused.context("nothing was marked replayed"));
            }
            bail!(
                "Kafka did not take a replayed record into {topic}: {error}; nothing was marked \
                 replayed, so running the replay again sends them all again (harmless: writes are upserts)"
            );
        }
    }
    Ok(())
}
