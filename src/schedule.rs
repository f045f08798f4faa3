//! When `rtds run` produces: a cron schedule (`@daily`, `@hourly` or five
//! cron fields, in UTC, as Airflow reads them) and the last slot produced,
//! kept in a small state file so a restart never produces twice for a slot.

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

/// What the state file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Saved {
    schedule: String,
    last_slot: DateTime<Utc>,
}

/// The last slot produced, on disk.
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

    /// The last slot produced under `schedule`; a file written for another
    /// schedule does not count.
    pub fn last_slot(&self, schedule: &Schedule) -> anyhow::Result<Option<DateTime<Utc>>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot read the schedule state {}", self.path.display())
                });
            }
        };
        let saved: Saved = serde_json::from_str(&text).with_context(|| {
            format!(
                "the schedule state {} is damaged; delete it to start over",
                self.path.display()
            )
        })?;
        Ok((saved.schedule == schedule.text).then_some(saved.last_slot))
    }

    /// Records `slot` as produced, atomically (write then rename).
    pub fn record(&self, schedule: &Schedule, slot: DateTime<Utc>) -> anyhow::Result<()> {
        let saved = Saved {
            schedule: schedule.text.clone(),
            last_slot: slot,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let temporary = self.path.with_extension("tmp");
        std::fs::write(&temporary, serde_json::to_vec(&saved)?)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .with_context(|| format!("cannot write the schedule state {}", self.path.display()))
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
    fn state_survives_a_restart_per_schedule() {
        let path =
            std::env::temp_dir().join(format!("rtds-state-{}/run.json", uuid::Uuid::new_v4()));
        let daily: Schedule = "@daily".parse().unwrap();
        let hourly: Schedule = "@hourly".parse().unwrap();
        let state = State::new(&path);
        assert_eq!(state.last_slot(&daily).unwrap(), None);
        state.record(&daily, at("2026-11-25T00:00:00Z")).unwrap();
        let reopened = State::new(&path);
        assert_eq!(
            reopened.last_slot(&daily).unwrap(),
            Some(at("2026-11-25T00:00:00Z"))
        );
        assert_eq!(reopened.last_slot(&hourly).unwrap(), None);
        std::fs::write(&path, "garbage").unwrap();
        assert!(
            reopened
                .last_slot(&daily)
                .unwrap_err()
                .to_string()
                .contains("delete it")
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
