//! `rtds run`: the whole pipeline in one process, for users without Airflow.
//! The processor runs continuously; the producer runs on a schedule. Both
//! share one metrics registry and one graceful shutdown.

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::schedule::{Pipeline, Schedule, State};
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

/// Runs until `shutdown`, or until the processor fails, which ends the run
/// at once with its error: a pipeline that cannot store should not keep
/// producing. Production starts only once the processor is ready. With
/// `now`, produces once at start whatever the state says; without, the
/// current slot is produced at start only when an earlier run of this
/// pipeline produced a slot before it (it was missed while stopped).
pub async fn run(
    settings: &Settings,
    limit: produce::Limit,
    now: bool,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<Summary> {
    let schedule: Schedule = settings.run.schedule.parse().map_err(anyhow::Error::msg)?;
    let state = State::new(&settings.run.state_file);
    let pipeline = Pipeline::new(&settings.kafka.topic, &settings.produce.source, &schedule);
    let last = state.last_slot(&pipeline)?;

    let (ready, is_ready) = oneshot::channel();
    let mut processor = tokio::spawn({
        let (settings, metrics, shutdown) = (settings.clone(), metrics.clone(), shutdown.clone());
        async move {
            let options = process::Options {
                idle: None,
                ready: Some(ready),
                mappings: Vec::new(),
            };
            process::run(&settings, options, metrics, shutdown).await
        }
    });
    tokio::select! {
        started = is_ready => if started.is_err() {
            return Err(processor_ended(processor.await));
        },
        _ = shutdown.cancelled() => {}
    }

    let mut scheduler = Scheduler {
        settings,
        limit,
        metrics,
        shutdown: shutdown.clone(),
        runs: 0,
        failures: 0,
        produced: 0,
    };
    let mut slots = Slots {
        schedule,
        state,
        pipeline,
        last,
    };
    let due = slots.due_at_start(now);
    scheduler.keep(&mut slots, due, &mut processor).await?;
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

/// The processor of `rtds run`, running beside the produce runs.
type Processor = tokio::task::JoinHandle<anyhow::Result<process::Summary>>;

/// The schedule's slots, and the last one this pipeline produced, as the
/// state file keeps it.
struct Slots {
    schedule: Schedule,
    state: State,
    pipeline: Pipeline,
    last: Option<chrono::DateTime<Utc>>,
}

impl Slots {
    /// The slot to produce at start: the current one with `--now` or when
    /// an earlier run missed it; none when it was produced already.
    fn due_at_start(&self, now: bool) -> Option<chrono::DateTime<Utc>> {
        let current = self.schedule.current_slot(Utc::now());
        match self.last {
            _ if now => Some(current),
            Some(produced) if produced < current => {
                info!(slot = %current, last = %produced, "slot missed while stopped: producing it now");
                Some(current)
            }
            Some(produced) => {
                info!(slot = %produced, state = %self.state.path().display(), pipeline = %self.pipeline,
                    "slot already produced by an earlier run, not producing it again");
                None
            }
            None => None,
        }
    }
}

/// The error of a processor that ended while `rtds run` still needed it.
fn processor_ended(
    ended: Result<anyhow::Result<process::Summary>, tokio::task::JoinError>,
) -> anyhow::Error {
    let why = match ended {
        Ok(Err(error)) => error,
        Ok(Ok(summary)) => anyhow::anyhow!("it ended by itself: {summary}"),
        Err(panicked) => anyhow::anyhow!("it panicked: {panicked}"),
    };
    why.context("the processor stopped, so `rtds run` stops too (nothing more is produced)")
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
    /// Produces `due`, then each slot as it comes, until the shutdown; an
    /// error when the processor ends meanwhile (a produce run under way is
    /// stopped first) or the state file cannot be written.
    async fn keep(
        &mut self,
        slots: &mut Slots,
        mut due: Option<chrono::DateTime<Utc>>,
        processor: &mut Processor,
    ) -> anyhow::Result<()> {
        loop {
            if let Some(slot) = due.take() {
                let shutdown = self.shutdown.clone();
                let produce = self.produce(slot);
                tokio::pin!(produce);
                let produced = tokio::select! {
                    produced = &mut produce => produced,
                    ended = &mut *processor => {
                        shutdown.cancel();
                        produce.await;
                        return Err(processor_ended(ended));
                    }
                };
                if produced {
                    slots.state.record(&slots.pipeline, slot)?;
                    slots.last = Some(slot);
                }
            }
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            let next = slots
                .schedule
                .next_slot(Utc::now().max(slots.last.unwrap_or_default()));
            info!(schedule = %slots.schedule, %next, "next produce run");
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => due = Some(next),
                _ = self.shutdown.cancelled() => return Ok(()),
                ended = &mut *processor => return Err(processor_ended(ended)),
            }
        }
    }

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
