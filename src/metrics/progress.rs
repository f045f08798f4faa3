//! Progress of long jobs: a live bar on a terminal, a log line every few
//! seconds otherwise (CI logs, Airflow task logs, pipes).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// How often the log-line form reports.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// A running progress display; stops when finished or dropped.
pub struct Progress {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Shows `status()` (done so far, and a one-line description) until
    /// [`Progress::finish`]. `total` turns the spinner into a bar.
    pub fn start<F>(job: &'static str, total: Option<u64>, status: F) -> Progress
    where
        F: Fn() -> (u64, String) + Send + 'static,
    {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            if std::io::stderr().is_terminal() {
                let bar = match total {
                    Some(total) => ProgressBar::new(total).with_style(
                        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                            .expect("valid template")
                            .progress_chars("=> "),
                    ),
                    None => ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}")
                            .expect("valid template"),
                    ),
                };
                bar.set_prefix(job);
                loop {
                    let (done, message) = status();
                    bar.set_position(done);
                    bar.set_message(message);
                    tokio::select! {
                        _ = stopped.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                bar.finish_and_clear();
            } else {
                loop {
                    tokio::select! {
                        _ = stopped.cancelled() => break,
                        _ = tokio::time::sleep(LOG_EVERY) => {}
                    }
                    let (_, message) = status();
                    info!("{job}: {message} ({}s)", started.elapsed().as_secs());
                }
            }
        });
        Progress {
            stop,
            task: Some(task),
        }
    }

    /// Stops the display and waits until it has cleared the terminal line.
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `n` records over `elapsed` as a rate for people.
pub fn rate(n: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}
