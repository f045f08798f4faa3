//! The dashboard's view of the pipeline, refreshed in the background: Kafka
//! every tick (offsets, the group, new dead letters), the jobs' metrics every
//! tick, the table and the source less often. Requests read the last view and
//! never wait on Kafka or Cassandra.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::data::{self, Charts, StoredUser};
use crate::config::Settings;
use crate::mapping::Mapping;
use crate::metrics::Metrics;
use crate::metrics::names;
use crate::metrics::scrape::{self, Buckets, Totals};
use crate::status::kafka::{DeadLetter, Facts, Observer};
use crate::status::registry::RegistryLook;
use crate::status::{Look, Report, SourceLook, cassandra, mapped};

/// How often the view is refreshed.
pub const TICK: Duration = Duration::from_secs(2);
/// The throughput chart's window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The table is sampled every this many ticks, the source asked every
/// `SOURCE_EVERY` (the public API is shared: one user per minute is polite).
const TABLE_EVERY: u64 = 5;
const SOURCE_EVERY: u64 = 30;
/// Rows sampled for the table's charts and newest users.
pub const SAMPLE_ROWS: u32 = 10_000;
/// Newest users kept for the page.
pub const NEWEST: usize = 50;
/// Dead letters kept for the page, and at most read per partition at once.
pub const LATEST_DEAD_LETTERS: usize = 50;
const DEAD_LETTERS_PER_LOOK: i64 = 10_000;
/// Dead-letter reasons counted by name, and shown by name on the page.
const REASONS_KEPT: usize = 100;
const REASONS_SHOWN: usize = 10;

/// One refresh's totals, for the throughput chart.
#[derive(Debug, Clone)]
pub struct Point {
    pub at: DateTime<Utc>,
    /// Records appended to the topic (its end offsets).
    pub produced: Option<i64>,
    /// Records the group moved past (its commit points).
    pub consumed: Option<i64>,
    /// Records appended to the DLQ.
    pub dead_lettered: Option<i64>,
    /// From the jobs' metrics: users fetched, rows written and deleted.
    pub fetched: Option<f64>,
    pub written: Option<f64>,
    pub deleted: Option<f64>,
}

/// What the dead-letter topic held, as read so far.
#[derive(Debug, Default)]
pub struct DeadLetters {
    /// The next offset to read, per partition.
    positions: HashMap<i32, i64>,
    /// Dead letters read (the count by reason covers these).
    pub counted: u64,
    pub by_reason: Reasons,
    /// Newest last.
    pub latest: VecDeque<DeadLetter>,
}

/// Dead letters counted by reason, in bounded memory: the reason is a
/// header that whoever writes to the dead-letter topic chooses, so a topic
/// full of made-up reasons must not grow the dashboard without end. At most
/// [`REASONS_KEPT`] reasons are counted by name; a new one beyond them takes
/// the place of the least counted, whose count moves to "other".
#[derive(Debug, Default)]
pub struct Reasons {
    named: BTreeMap<String, u64>,
    other: u64,
}

impl Reasons {
    fn add(&mut self, reason: &str) {
        if let Some(count) = self.named.get_mut(reason) {
            *count += 1;
            return;
        }
        if reason == "other" {
            // one bar of that name, whoever chose it
            self.other += 1;
            return;
        }
        if self.named.len() >= REASONS_KEPT
            && let Some((least, _)) = self.named.iter().min_by_key(|(_, count)| **count)
        {
            let least = least.clone();
            self.other += self.named.remove(&least).unwrap_or_default();
        }
        self.named.insert(reason.to_string(), 1);
    }

    /// The [`REASONS_SHOWN`] most counted reasons, largest first, and the
    /// rest as "other"; they add up to every dead letter counted.
    pub fn counts(&self) -> Vec<data::Count> {
        let named = self.named.iter().map(|(k, v)| (k.clone(), *v));
        data::top(named, REASONS_SHOWN, self.other)
    }
}

/// Everything the page shows, as of the last refresh.
#[derive(Default)]
pub struct View {
    pub report: Option<Report>,
    /// Why Kafka or Cassandra did not answer the last look, if one did not.
    pub unreachable: Vec<String>,
    pub kafka: Option<Facts>,
    pub points: VecDeque<Point>,
    /// The jobs' metrics at each refresh of the last minute and a bit.
    pub recent: VecDeque<(DateTime<Utc>, BTreeMap<String, Buckets>)>,
    pub totals: Totals,
    pub dead_letters: DeadLetters,
    pub charts: Option<Charts>,
    pub newest: Vec<StoredUser>,
}

/// The parts of the last [`Look`] that are refreshed at their own pace.
struct Latest {
    source: SourceLook,
    cassandra: Result<cassandra::Facts, cassandra::Problem>,
    /// Each mapping's table, with `[[mapping]]` entries.
    tables: Vec<Result<mapped::Rows, String>>,
    /// The schema registry, looked at with the source.
    registry: Option<RegistryLook>,
}

/// What Kafka showed in one look: its facts, the dead letters appended
/// since the last, and each mapping's topic.
type KafkaLook = (
    Facts,
    Vec<DeadLetter>,
    Vec<Result<Option<mapped::Flow>, String>>,
);

pub struct Watch {
    settings: Settings,
    own: Option<Metrics>,
    observer: Arc<Observer>,
    table: cassandra::Probe,
    /// The `[[mapping]]` entries and their tables, looked at in place of
    /// the users table when there are any.
    mappings: Arc<Vec<Mapping>>,
    tables: mapped::TablesProbe,
    http: reqwest::Client,
    pub view: RwLock<View>,
}

impl Watch {
    pub fn new(settings: &Settings, own: Option<Metrics>) -> anyhow::Result<Watch> {
        Ok(Watch {
            observer: Arc::new(Observer::new(&settings.kafka)?),
            table: cassandra::Probe::new(settings.cassandra.clone()),
            mappings: Arc::new(mapped::mappings(settings)),
            tables: mapped::TablesProbe::new(settings.cassandra.clone()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()?,
            settings: settings.clone(),
            own,
            view: RwLock::new(View::default()),
        })
    }

    /// Refreshes the view every [`TICK`] until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut latest = Latest {
            source: SourceLook::Builtin,
            cassandra: Err(cassandra::Problem::Unreachable("not looked at yet".into())),
            tables: Vec::new(),
            registry: None,
        };
        for tick in 0u64.. {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let source = async {
                if tick.is_multiple_of(SOURCE_EVERY) {
                    (latest.source, latest.registry) = tokio::join!(
                        crate::status::look_at_source(&self.settings),
                        crate::status::registry::look(&self.settings)
                    );
                }
            };
            let table = async {
                if !tick.is_multiple_of(TABLE_EVERY) {
                } else if self.mappings.is_empty() {
                    latest.cassandra = self.look_at_table().await;
                } else {
                    latest.tables = self.tables.look(&self.mappings, SAMPLE_ROWS).await;
                }
            };
            let ((), (), kafka, totals) =
                tokio::join!(source, table, self.look_at_kafka(), self.scrape());
            self.record(&latest, kafka, totals);
        }
    }

    pub fn dlq_topic(&self) -> &str {
        &self.settings.kafka.dlq_topic
    }

    async fn scrape(&self) -> Totals {
        scrape::read(
            &self.http,
            &self.settings.dashboard.scrape,
            self.own.as_ref(),
        )
        .await
    }

    /// The table's sample: its charts and newest users go into the view.
    async fn look_at_table(&self) -> Result<cassandra::Facts, cassandra::Problem> {
        let look = match self.table.look(SAMPLE_ROWS).await {
            Ok(look) => look,
            Err(problem) => {
                let mut view = self.view.write().expect("view lock");
                view.charts = Some(data::unavailable(problem.to_string()));
                view.newest.clear();
                return Err(problem);
            }
        };
        let now = Utc::now();
        let charts = data::charts(&look.sample, look.facts.exact, now);
        let newest = data::newest(&look.sample, NEWEST);
        let ids: Vec<uuid::Uuid> = newest.iter().map(|(id, _)| *id).collect();
        let users = match self.table.store().await.as_ref() {
            Some(store) => store.users_by_id(&ids).await,
            None => Ok(Vec::new()),
        };
        let users = users.unwrap_or_else(|error| {
            warn!("cannot read the newest users: {error:#}");
            Vec::new()
        });
        let mut stored: Vec<StoredUser> = newest
            .iter()
            .filter_map(|(id, written_at)| {
                let user = users.iter().find(|u| u.id == *id)?.clone();
                Some(StoredUser::new(user, *written_at, now))
            })
            .collect();
        stored.truncate(NEWEST);
        let mut view = self.view.write().expect("view lock");
        view.charts = Some(charts);
        view.newest = stored;
        Ok(look.facts)
    }

    /// Kafka's facts and the dead letters appended since the last look.
    async fn look_at_kafka(&self) -> Result<KafkaLook, String> {
        let observer = self.observer.clone();
        let mappings = self.mappings.clone();
        let positions = self
            .view
            .read()
            .expect("view lock")
            .dead_letters
            .positions
            .clone();
        let looked = tokio::task::spawn_blocking(move || {
            let facts = observer.look()?;
            let mut letters = Vec::new();
            if let Some(dlq) = &facts.dlq {
                let from = dlq
                    .partitions
                    .iter()
                    .map(|p| {
                        let window = p.high - DEAD_LETTERS_PER_LOOK;
                        let at = positions.get(&p.partition).copied().unwrap_or(0);
                        (p.partition, at.max(window))
                    })
                    .collect();
                letters = observer.dead_letters(dlq, &from)?;
            }
            let flows = mapped::flows(&observer, &mappings);
            anyhow::Ok((facts, letters, flows))
        })
        .await;
        match looked {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(error)) => Err(crate::logging::one_line(&error)),
            Err(error) => Err(error.to_string()),
        }
    }

    fn record(&self, latest: &Latest, kafka: Result<KafkaLook, String>, totals: Totals) {
        let now = Utc::now();
        let (facts, letters, flows) = match kafka {
            Ok((facts, letters, flows)) => (Ok(facts), letters, flows),
            Err(error) => (Err(error), Vec::new(), Vec::new()),
        };
        let look = Look {
            source: latest.source.clone(),
            kafka: facts,
            cassandra: latest.cassandra.clone(),
            jobs: (totals.listed > 0).then(|| totals.clone()),
            mapped: mapped::looks(&self.mappings, flows, latest.tables.clone()),
            registry: latest.registry.clone(),
        };
        let report = Report::of(&look, &self.settings);
        let mut unreachable = Vec::new();
        if let Err(error) = &look.kafka {
            unreachable.push(error.clone());
        }
        if let Err(cassandra::Problem::Unreachable(error)) = &look.cassandra {
            unreachable.push(error.clone());
        }
        let mut view = self.view.write().expect("view lock");
        view.unreachable = unreachable;
        let facts = look.kafka.ok();
        view.points.push_back(Point {
            at: now,
            produced: facts
                .as_ref()
                .and_then(|f| Some(f.topic.as_ref()?.appended())),
            consumed: facts.as_ref().map(|f| f.group.committed()),
            dead_lettered: facts
                .as_ref()
                .map(|f| f.dlq.as_ref().map_or(0, |d| d.appended())),
            fetched: totals.counter(names::USERS_FETCHED),
            written: totals.counter(names::ROWS_WRITTEN),
            deleted: totals.counter(names::ROWS_DELETED),
        });
        while view
            .points
            .front()
            .is_some_and(|p| now - p.at > chrono::Duration::from_std(WINDOW).expect("small"))
        {
            view.points.pop_front();
        }
        view.recent.push_back((now, totals.histograms.clone()));
        while view
            .recent
            .front()
            .is_some_and(|(at, _)| now - *at > chrono::Duration::seconds(70))
        {
            view.recent.pop_front();
        }
        let dead = &mut view.dead_letters;
        for letter in letters {
            dead.positions.insert(letter.partition, letter.offset + 1);
            dead.counted += 1;
            dead.by_reason.add(&letter.reason);
            dead.latest.push_back(letter);
            if dead.latest.len() > LATEST_DEAD_LETTERS {
                dead.latest.pop_front();
            }
        }
        view.totals = totals;
        view.kafka = facts;
        view.report = Some(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_by_reason_stay_bounded() {
        let mut reasons = Reasons::default();
        for (reason, times) in [("bad_shape", 50), ("too_large", 40), ("other", 2)] {
            for _ in 0..times {
                reasons.add(reason);
            }
        }
        for n in 0..REASONS_KEPT * 3 {
            reasons.add(&format!("made-up {n}"));
        }
        assert!(reasons.named.len() <= REASONS_KEPT, "{reasons:?}");
        let counts = reasons.counts();
        assert_eq!(counts.len(), REASONS_SHOWN + 1, "{counts:?}");
        assert_eq!(
            (counts[0].label.as_str(), counts[0].count),
            ("bad_shape", 50)
        );
        assert_eq!(
            (counts[1].label.as_str(), counts[1].count),
            ("too_large", 40)
        );
        assert_eq!(counts[REASONS_SHOWN].label, "other");
        let total: u64 = counts.iter().map(|c| c.count).sum();
        assert_eq!(
            total,
            92 + 3 * REASONS_KEPT as u64,
            "every dead letter counted"
        );
    }
}
