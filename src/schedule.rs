//! When `rtds run` produces: a cron schedule (`@daily`, `@hourly` or five
//! cron fields, in UTC, as Airflow reads them) and the last slot produced,
//! kept in a small state file so a restart never produces twice for a slot.
//! Several `rtds run` may share the file (one folder, several pipelines):
//! each change is made under a lock and written through a file of its own.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use croner::Cron;
use serde::{Deserialize, Serialize};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let pattern = match text.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let cron = Cron::from_str(pattern).map_err(|e| {
            format!("`{text}` is not a schedule: use @hourly, @daily, @weekly, @monthly or five cron fields like `*/15 * * * *` ({e})")
        })?;
        Ok(Schedule {
            text: text.trim().to_string(),
            cron,
        })
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Schedule {
    /// The slot `at` falls in: the latest fire time at or before it.
    pub fn current_slot(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.cron
            .find_previous_occurrence(&at, true)
            .expect("a valid cron pattern has a previous occurrence")
    }

    /// The first fire time strictly after `at`.
    pub fn next_slot(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.cron
            .find_next_occurrence(&at, false)
            .expect("a valid cron pattern has a next occurrence")
    }
}

/// What the state file holds: the last slot produced by each pipeline,
/// keyed by [`Pipeline`], so that pipelines sharing a working directory do
/// not hold each other back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    pipelines: BTreeMap<String, DateTime<Utc>>,
}

/// What identifies one pipeline's slots: the topic it produces to, the
/// source it produces from, and its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline(String);

impl Pipeline {
    pub fn new(topic: &str, source: &str, schedule: &Schedule) -> Pipeline {
        Pipeline(format!("{topic} from {source} on {schedule}"))
    }
}

impl std::fmt::Display for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The last slot produced, per pipeline, on disk.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
}

impl State {
    pub fn new(path: impl Into<PathBuf>) -> State {
        State { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> anyhow::Result<Saved> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot read the schedule state {}", self.path.display())
                });
            }
        };
        serde_json::from_str(&text).with_context(|| {
            format!(
                "the schedule state {} is damaged; delete it to start over",
                self.path.display()
            )
        })
    }

    /// The last slot `pipeline` produced.
    pub fn last_slot(&self, pipeline: &Pipeline) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok(self.load()?.pipelines.get(&pipeline.0).copied())
    }

    /// Records `slot` as produced by `pipeline`. Under an exclusive lock,
    /// so that another `rtds run` sharing the file cannot read it between
    /// this one's read and write and then drop this slot with its own; and
    /// atomically: a temporary file of a name no other writer uses, synced,
    /// renamed over the old one, and the folder synced, so a crash leaves
    /// the old state or the new one, never half of either. Reads take no
    /// lock: a rename shows them the old file or the new one, whole.
    pub fn record(&self, pipeline: &Pipeline, slot: DateTime<Utc>) -> anyhow::Result<()> {
        let dir = match self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                dir
            }
            None => Path::new("."),
        };
        let _locked = self.lock()?;
        let mut saved = self.load()?;
        saved.pipelines.insert(pipeline.0.clone(), slot);
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let write = || -> std::io::Result<()> {
            let mut file = tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".tmp")
                .tempfile_in(dir)?;
            file.write_all(&serde_json::to_vec_pretty(&saved)?)?;
            file.as_file().sync_all()?;
            file.persist(&self.path)?;
            File::open(dir)?.sync_all()
        };
        write().with_context(|| format!("cannot write the schedule state {}", self.path.display()))
    }

    /// Waits for the exclusive advisory lock on `<state file>.lock`, held
    /// until the file returned is dropped. A file beside the state rather
    /// than the state itself, which each write replaces; it is left in
    /// place, since removing it would let two writers lock two files.
    fn lock(&self) -> anyhow::Result<File> {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .and_then(|file| file.lock().map(|()| file))
            .with_context(|| {
                format!(
                    "cannot lock the schedule state with {}: check that its folder is writable",
                    path.display()
                )
            })?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn daily_and_hourly_slots() {
        let daily: Schedule = "@daily".parse().unwrap();
        assert_eq!(
            daily.current_slot(at("2026-11-25T09:30:00Z")),
            at("2026-11-25T00:00:00Z")
        );
        assert_eq!(
            daily.next_slot(at("2026-11-25T09:30:00Z")),
            at("2026-11-26T00:00:00Z")
        );
        assert_eq!(
            daily.current_slot(at("2026-11-25T00:00:00Z")),
            at("2026-11-25T00:00:00Z")
        );
        let hourly: Schedule = "@hourly".parse().unwrap();
        assert_eq!(
            hourly.next_slot(at("2026-11-25T09:30:00Z")),
            at("2026-11-25T10:00:00Z")
        );
        let cron: Schedule = "*/15 * * * *".parse().unwrap();
        assert_eq!(
            cron.next_slot(at("2026-11-25T09:30:00Z")),
            at("2026-11-25T09:45:00Z")
        );
    }

    #[test]
    fn bad_schedules_are_explained() {
        let err = "@sometimes".parse::<Schedule>().unwrap_err();
        assert!(
            err.contains("@sometimes") && err.contains("@daily"),
            "{err}"
        );
        assert!("61 * * * *".parse::<Schedule>().is_err());
    }

    #[test]
    fn state_survives_a_restart_per_pipeline() {
        let path =
            std::env::temp_dir().join(format!("rtds-state-{}/run.json", uuid::Uuid::new_v4()));
        let daily: Schedule = "@daily".parse().unwrap();
        let hourly: Schedule = "@hourly".parse().unwrap();
        let a = Pipeline::new("topic_a", "builtin", &daily);
        let b = Pipeline::new("topic_b", "builtin", &daily);
        let a_hourly = Pipeline::new("topic_a", "builtin", &hourly);
        let a_api = Pipeline::new("topic_a", "https://randomuser.me/api/", &daily);
        let state = State::new(&path);
        assert_eq!(state.last_slot(&a).unwrap(), None);
        state.record(&a, at("2026-11-25T00:00:00Z")).unwrap();
        state.record(&b, at("2026-11-24T00:00:00Z")).unwrap();
        let reopened = State::new(&path);
        assert_eq!(
            reopened.last_slot(&a).unwrap(),
            Some(at("2026-11-25T00:00:00Z"))
        );
        assert_eq!(
            reopened.last_slot(&b).unwrap(),
            Some(at("2026-11-24T00:00:00Z"))
        );
        assert_eq!(reopened.last_slot(&a_hourly).unwrap(), None);
        assert_eq!(reopened.last_slot(&a_api).unwrap(), None);
        let mut left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["run.json", "run.json.lock"],
            "no temporary file left"
        );
        std::fs::write(&path, "garbage").unwrap();
        assert!(
            reopened
                .last_slot(&a)
                .unwrap_err()
                .to_string()
                .contains("delete it")
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// Many `rtds run` sharing one state file, each recording its own
    /// pipeline's slots while others read: every read finds a whole file,
    /// and no writer's slot is lost to another's write.
    #[test]
    fn concurrent_writers_keep_every_slot() {
        let folder = std::env::temp_dir().join(format!("rtds-state-{}", uuid::Uuid::new_v4()));
        let path = folder.join("run-state.json");
        let daily: Schedule = "@daily".parse().unwrap();
        let writers = 8;
        let slots = 25;
        std::thread::scope(|scope| {
            for writer in 0..writers {
                let (path, daily) = (&path, &daily);
                scope.spawn(move || {
                    let state = State::new(path);
                    let mine = Pipeline::new(&format!("topic_{writer}"), "builtin", daily);
                    for day in 1..=slots {
                        let slot = at(&format!("2026-01-{day:02}T00:00:00Z"));
                        state.record(&mine, slot).unwrap();
                        assert_eq!(state.last_slot(&mine).unwrap(), Some(slot));
                    }
                });
            }
        });
        let state = State::new(&path);
        for writer in 0..writers {
            let theirs = Pipeline::new(&format!("topic_{writer}"), "builtin", &daily);
            assert_eq!(
                state.last_slot(&theirs).unwrap(),
                Some(at(&format!("2026-01-{slots:02}T00:00:00Z"))),
                "{theirs}"
            );
        }
        std::fs::remove_dir_all(folder).unwrap();
    }
}
