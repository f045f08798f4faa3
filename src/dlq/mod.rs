//! `rtds dlq list` and `rtds dlq replay`: read the dead-letter topic as
//! people do, and send its records back to the source topic once the cause
//! is fixed. Listing joins no group and commits nothing; a replay tracks how
//! far it got in a consumer group of its own (one per filter, named from the
//! filter as it was given), so the same replay twice sends nothing the
//! second time.
//!
//! A replay streams, so that a DLQ of any size fits in memory: it sends each
//! record it takes as it reads it, and at the end of every window (at most
//! `replay::WINDOW_RECORDS` records or `replay::WINDOW_BYTES` bytes read) it waits until
//! Kafka has every record the window sent, then commits the window's next
//! offsets. What it holds is the producer's bounded queue and the consumer's
//! prefetch. A failure leaves its window uncommitted: the next run sends
//! that window again, which is harmless, since the processor's writes are
//! upserts by id and a record sent twice writes the same row twice.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use serde::Serialize;

use crate::config::KafkaSettings;
use crate::config::Settings;
use crate::kafka::{self, Need, Role};
use crate::metrics::progress::{self, Progress};
use crate::status::kafka::{DeadLetter, Observer, Topic};

mod list;
mod replay;
pub mod send;
#[cfg(test)]
mod tests;
pub mod wire;

pub use list::{list, render};
pub use replay::{Replayed, replay};

/// A `--since` / `--until` bound: the time it stands for, and how it was
/// given, which names the replay group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The time, resolved when the command started.
    pub at: DateTime<Utc>,
    /// Given as a duration meaning that long ago: the bound moves with the
    /// clock from one run to the next.
    pub ago: Option<Duration>,
}

impl Bound {
    /// How the replay group names this bound: a duration as given (`2h`,
    /// normalised, so `120m` is `2h`), so that the same command names the
    /// same group whenever it runs; a time as its RFC 3339 form.
    fn named(&self) -> String {
        match self.ago {
            Some(ago) => humantime::format_duration(ago).to_string().replace(' ', ""),
            None => self.at.to_rfc3339(),
        }
    }
}

/// Which dead letters a command is about.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The reason kind (`too_large`, `bad_shape`, ...).
    pub kind: Option<String>,
    /// Records at or after this time.
    pub since: Option<Bound>,
    /// Records before this time.
    pub until: Option<Bound>,
}

impl Filter {
    fn takes(&self, letter: &DeadLetter) -> bool {
        let time = letter.time.unwrap_or_default();
        self.kind.as_ref().is_none_or(|kind| *kind == letter.reason)
            && self.since.is_none_or(|since| time >= since.at)
            && self.until.is_none_or(|until| time < until.at)
    }

    /// Left out now, but a later run of the same replay may take it: it
    /// is only too new for a relative `--until`, which moves forward. (A
    /// record before a relative `--since` stays before it: that bound moves
    /// forward too.) A replay's place stops before such a record.
    fn may_take_later(&self, letter: &DeadLetter) -> bool {
        let relative_until = self.until.filter(|until| until.ago.is_some());
        relative_until.is_some_and(|until| {
            letter.time.unwrap_or_default() >= until.at
                && Filter {
                    until: None,
                    ..self.clone()
                }
                .takes(letter)
        })
    }

    /// The replay group of this filter: each filter keeps its own place.
    /// Relative bounds are named as given (`since=2h`), not by the time
    /// they stood for at this run, so running the same command again finds
    /// the same group and sends nothing it sent before.
    fn group(&self, settings: &Settings) -> String {
        let mut group = format!("{}.dlq-replay", settings.kafka.group_id);
        if let Some(kind) = &self.kind {
            let _ = write!(group, ".kind={kind}");
        }
        if let Some(since) = self.since {
            let _ = write!(group, ".since={}", since.named());
        }
        if let Some(until) = self.until {
            let _ = write!(group, ".until={}", until.named());
        }
        group
    }
}

/// `--since` / `--until`: an RFC 3339 time, or a duration meaning that long ago.
pub fn parse_time(text: &str) -> Result<Bound, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(Bound {
            at: time.to_utc(),
            ago: None,
        });
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!("`{text}` is neither a time like 2026-12-01T10:00:00Z nor a duration like 2h (that long ago)")
    })?;
    Ok(Bound {
        at: Utc::now() - chrono::Duration::from_std(ago).map_err(|e| e.to_string())?,
        ago: Some(ago),
    })
}

/// The DLQ topic, which must exist.
fn dlq(observer: &Observer, settings: &Settings) -> anyhow::Result<Topic> {
    let name = &settings.kafka.dlq_topic;
    observer.topic_named(name)?.with_context(|| {
        format!("the dead-letter topic {name} does not exist: no record was ever dead-lettered there (`rtds process` creates it)")
    })
}
