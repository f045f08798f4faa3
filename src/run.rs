//! `rtds run`: the whole pipeline in one process, for users without Airflow.
//! The processor runs continuously; the producer runs on a schedule. Both
//! share one metrics registry and one graceful shutdown.

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::schedule::{Schedule, State};
use crate::{process, produce};

/// What `rtds run` did before it was stopped.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub produce_runs: u32,
    pub produce_failures: u32,
    pub produced: u64,
    pub process: process::Summary,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} produce runs ({} failed) produced {} records; {}",
            self.produce_runs, self.produce_failures, self.produced, self.process
        )
    }
}

/// Runs until `shutdown`. With `now`, produces once at start for the
/// current slot, unless the state file says that slot was already produced.
pub async fn run(
    settings: &Settings,
    limit: produce::Limit,
    now: bool,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<Summary> {
    let schedule: Schedule = settings.run.schedule.parse().map_err(anyhow::Error::msg)?;
    let state = State::new(&settings.run.state_file);
    let mut last = state.last_slot(&schedule)?;

    let processor = tokio::spawn({
        let (settings, metrics, shutdown) = (settings.clone(), metrics.clone(), shutdown.clone());
        async move { process::run(&settings, process::Until::default(), metrics, shutdown).await }
    });

    let mut scheduler = Scheduler {
        settings,
        limit,
        metrics,
        shutdown: shutdown.clone(),
        runs: 0,
        failures: 0,
        produced: 0,
    };
    let mut due = if now {
        Some(schedule.current_slot(Utc::now()))
    } else {
        None
    };
    loop {
        if let Some(slot) = due.take() {
            if last >= Some(slot) {
                info!(%slot, state = %state.path().display(), "slot already produced, not producing again");
            } else if scheduler.produce(slot).await {
                state.record(&schedule, slot)?;
                last = Some(slot);
            }
        }
        if shutdown.is_cancelled() || processor.is_finished() {
            break;
        }
        let next = schedule.next_slot(Utc::now().max(last.unwrap_or_default()));
        info!(%schedule, %next, "next produce run");
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => due = Some(next),
            _ = shutdown.cancelled() => break,
        }
    }
    // A processor that ended on its own failed: stop the rest and report it.
    shutdown.cancel();
    let process = processor
        .await
        .expect("processor task does not panic")
        .context("the processor stopped")?;
    Ok(Summary {
        produce_runs: scheduler.runs,
        produce_failures: scheduler.failures,
        produced: scheduler.produced,
        process,
    })
}

/// The producing side of `rtds run`.
struct Scheduler<'a> {
    settings: &'a Settings,
    limit: produce::Limit,
    metrics: Metrics,
    shutdown: CancellationToken,
    runs: u32,
    failures: u32,
    produced: u64,
}

impl Scheduler<'_> {
    /// One produce run for `slot`; true when every record was delivered. A
    /// failed run is logged and left for the next slot, as a failed Airflow
    /// task would be.
    async fn produce(&mut self, slot: chrono::DateTime<Utc>) -> bool {
        info!(%slot, "produce run starting");
        self.runs += 1;
        let result = produce::run(
            self.settings,
            self.limit,
            self.metrics.clone(),
            self.shutdown.clone(),
        )
        .await;
        match result {
            Ok(summary) => {
                self.produced += summary.acked;
                info!(%slot, "{summary}");
                if summary.delivered_all() {
                    return true;
                }
                self.failures += 1;
                error!(%slot, "produce run did not deliver every record");
            }
            Err(e) => {
                self.failures += 1;
                error!(%slot, "produce run failed: {e:#}");
            }
        }
        false
    }
}
