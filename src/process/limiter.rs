//! Adaptive concurrency for Cassandra writes: how many may be in flight is
//! learned from how the node answers, as Vector's adaptive request
//! concurrency does. Once per window (about one round trip), the limit
//! grows by one (doubles, until the first sign of backpressure) if the
//! window used it all and its latency stayed within the usual, and shrinks
//! by a tenth if a write timed out, the node said it was overloaded, or the
//! window used it all and its latency rose well above the usual while its
//! rows per second rose by less than half as much (the node queueing):
//! additive increase, multiplicative decrease, between a floor and
//! `cassandra.concurrency`.
//!
//! Latency alone misread a healthy node: more writes at once share each
//! commit-log sync and fill bigger batches, so each takes longer while more
//! rows go through; shrinking then cost a tenth of the rate. One window
//! misread it too: a healthy node stalls now and then (a flush, a sync),
//! and a stalled window early in a run ended the doubling at a limit of 16,
//! from where growing by one a window took the whole run, at up to a sixth
//! less rate. While doubling, it now takes two queueing windows in a row.
//!
//! A node slowed by other load then gets fewer writes at once, which it
//! answers in time, instead of a fixed number that it times out and that
//! are retried on top.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The lowest limit: below it, a slow node would starve the job.
const FLOOR: usize = 4;
/// The limit shrinks to this share of itself on backpressure.
const DECREASE: f64 = 0.9;
/// Latency above the usual by this many deviations counts as the node
/// queueing.
const DEVIATIONS: f64 = 2.5;
/// The weight of the newest window in the usual latency.
const ALPHA: f64 = 0.4;
/// Windows last at least this long, whatever the round trip.
const MIN_WINDOW: Duration = Duration::from_millis(20);

/// Writes in flight, at most the current limit.
pub struct Limiter {
    state: Mutex<State>,
    freed: Notify,
    /// Writes begun and not yet finished, retries included.
    under_way: AtomicUsize,
    max: usize,
    /// `cassandra.adaptive_concurrency = false` keeps the limit at the max.
    adaptive: bool,
    /// Where the limit is exported.
    gauge: Gauge,
}

struct State {
    limit: usize,
    in_flight: usize,
    window: Window,
    /// The usual latency and its deviation, in seconds, once known.
    usual: Option<(f64, f64)>,
    /// The usual rows written per second, once known.
    usual_rate: Option<f64>,
    /// Until the first backpressure, the limit doubles where it would grow
    /// by one (TCP's slow start): from the floor to 256 by ones would take
    /// hundreds of round trips, seconds of a node left idle.
    slow_start: bool,
    /// Whether the last window queued: in slow start, one such window is
    /// a stall of the node's (a flush, a sync), two in a row the limit's.
    queued_last: bool,
}

struct Window {
    started: Instant,
    latency_sum: f64,
    answered: u32,
    /// Rows the window's answered writes carried.
    rows: usize,
    backpressure: bool,
    /// Whether the writes in flight reached the limit in this window:
    /// only then is a bigger limit worth trying.
    full: bool,
}

impl Window {
    fn new() -> Window {
        Window {
            started: Instant::now(),
            latency_sum: 0.0,
            answered: 0,
            rows: 0,
            backpressure: false,
            full: false,
        }
    }
}

/// How one write went, for the limiter.
pub enum Answer {
    /// Written, in this long, this many rows.
    Written(Duration, usize),
    /// Timed out or refused as overloaded: the node is saturated.
    Backpressure,
    /// Failed for another reason (a node down, say): says nothing of load.
    Other,
}

impl Answer {
    pub fn of(result: &Result<(), ExecutionError>, took: Duration, rows: usize) -> Answer {
        match result {
            Ok(()) => Answer::Written(took, rows),
            Err(error) if saturated(error) => Answer::Backpressure,
            Err(_) => Answer::Other,
        }
    }
}

fn saturated(error: &ExecutionError) -> bool {
    matches!(
        error,
        ExecutionError::RequestTimeout(_)
            | ExecutionError::LastAttemptError(RequestAttemptError::DbError(
                DbError::WriteTimeout { .. }
                    | DbError::Overloaded
                    | DbError::RateLimitReached { .. },
                _,
            ))
    )
}

/// One write's place in flight; give it back with [`Limiter::answered`].
pub struct Slot(());

/// A write under way, retries and their backoff included.
pub struct UnderWay<'a>(&'a Limiter);

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.0.under_way.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limiter {
    /// Starts at the floor when adaptive (it finds its level within a few
    /// hundred round trips), at `max` when not.
    pub fn new(max: usize, adaptive: bool, gauge: Gauge) -> Limiter {
        let limit = if adaptive { FLOOR.min(max) } else { max };
        gauge.set(limit as i64);
        Limiter {
            state: Mutex::new(State {
                limit,
                in_flight: 0,
                window: Window::new(),
                usual: None,
                usual_rate: None,
                slow_start: true,
                queued_last: false,
            }),
            freed: Notify::new(),
            under_way: AtomicUsize::new(0),
            max,
            adaptive,
            gauge,
        }
    }

    /// Waits for room under the limit; none once `stop` fires: after a
    /// shutdown no new write starts, however many wait.
    pub async fn acquire(&self, stop: &CancellationToken) -> Option<Slot> {
        loop {
            let freed = self.freed.notified();
            {
                let mut state = self.state.lock().expect("limiter lock");
                if state.in_flight < state.limit {
                    state.in_flight += 1;
                    if state.in_flight == state.limit {
                        state.window.full = true;
                    }
                    return Some(Slot(()));
                }
            }
            tokio::select! {
                _ = freed => {}
                _ = stop.cancelled() => return None,
            }
        }
    }

    /// Whether the writes under way, those waiting to retry included, fill
    /// less than half the limit: the node is not busy, and a batch gains
    /// nothing by waiting for more rows. A write waiting out its backoff
    /// holds no slot, yet counts: in an outage the node is not idle, and
    /// rows sent alone would be thousands of single-row retries against a
    /// cluster coming back.
    pub fn idle(&self) -> bool {
        let under_way = self.under_way.load(Ordering::Relaxed);
        under_way * 2 < self.state.lock().expect("limiter lock").limit
    }

    /// Marks a write under way, from its first attempt to its last answer
    /// (see [`Limiter::idle`]); it ends when the mark is dropped.
    pub fn under_way(&self) -> UnderWay<'_> {
        self.under_way.fetch_add(1, Ordering::Relaxed);
        UnderWay(self)
    }

    /// Frees the slot and learns from the answer; at the end of a window,
    /// moves the limit.
    pub fn answered(&self, _slot: Slot, answer: Answer) {
        let mut state = self.state.lock().expect("limiter lock");
        state.in_flight -= 1;
        match answer {
            Answer::Written(took, rows) => {
                state.window.latency_sum += took.as_secs_f64();
                state.window.answered += 1;
                state.window.rows += rows;
            }
            Answer::Backpressure => state.window.backpressure = true,
            Answer::Other => {}
        }
        let round_trip = state
            .usual
            .map_or(MIN_WINDOW, |(usual, _)| Duration::from_secs_f64(usual));
        if self.adaptive && state.window.started.elapsed() >= round_trip.max(MIN_WINDOW) {
            let before = state.limit;
            adjust(&mut state, self.max);
            if state.limit != before {
                self.gauge.set(state.limit as i64);
            }
        }
        let room = state.limit.saturating_sub(state.in_flight);
        drop(state);
        for _ in 0..room.min(2) {
            self.freed.notify_one();
        }
    }
}

/// The end of a window: the new limit, and the window's latency and rate
/// folded into the usual.
fn adjust(state: &mut State, max: usize) {
    let window = std::mem::replace(&mut state.window, Window::new());
    let mean = (window.answered > 0).then(|| window.latency_sum / f64::from(window.answered));
    let rate = window.rows as f64 / window.started.elapsed().as_secs_f64().max(1e-6);
    // Slower, with the rows per second up by less than half as much as the
    // latency: the writes queue (on a saturated node rows per second stay
    // flat, or fall under other load). Slower with as many more rows
    // through is a node doing more per sync, which a bigger limit feeds.
    let queueing = match (mean, state.usual) {
        (Some(mean), Some((usual, deviation))) => {
            mean > usual + DEVIATIONS * deviation.max(usual * 0.05)
                && state
                    .usual_rate
                    .is_none_or(|usual_rate| rate / usual_rate - 1.0 < (mean / usual - 1.0) / 2.0)
        }
        _ => false,
    };
    // Latency alone counts only when the window used all its room: below
    // the limit, the limit is not what loads the node, and shrinking it
    // would only queue the next records behind noise (a slow disk sync).
    let before = state.limit;
    let queued = queueing && window.full;
    let stall = queued && state.slow_start && !state.queued_last;
    state.queued_last = queued;
    if window.backpressure || (queued && !stall) {
        state.limit = ((state.limit as f64 * DECREASE) as usize).max(FLOOR.min(max));
        state.slow_start = false;
    } else if window.full && !stall {
        let step = if state.slow_start { state.limit } else { 1 };
        state.limit = (state.limit + step).min(max);
    }
    // Each window's reading, for `RUST_LOG=rtds::process::limiter=debug`:
    // why the limit moved, or did not.
    tracing::debug!(
        limit = before,
        next = state.limit,
        latency_ms = mean.map(|mean| mean * 1e3),
        usual_ms = state.usual.map(|(usual, _)| usual * 1e3),
        rows_per_second = rate,
        usual_rate = state.usual_rate,
        full = window.full,
        backpressure = window.backpressure,
        queueing,
        "write window"
    );
    // A stall is held out of the usual: the next window is measured
    // against the node before it, so a lasting rise still counts.
    if let Some(mean) = mean.filter(|_| !stall) {
        state.usual = Some(match state.usual {
            None => (mean, 0.0),
            Some((usual, deviation)) => (
                usual + ALPHA * (mean - usual),
                deviation + ALPHA * ((mean - usual).abs() - deviation),
            ),
        });
        state.usual_rate = Some(
            state
                .usual_rate
                .map_or(rate, |usual| usual + ALPHA * (rate - usual)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_ends_the_wait_for_a_slot() {
        let limiter = Limiter::new(1, false, Gauge::default());
        let stop = CancellationToken::new();
        let _held = limiter.acquire(&stop).await.unwrap();
        let waiting = limiter.acquire(&stop);
        stop.cancel();
        assert!(waiting.await.is_none());
    }

    async fn round(limiter: &Limiter, took: Duration, answer: fn(Duration) -> Answer) {
        let mut slots = Vec::new();
        let limit = limiter.state.lock().unwrap().limit;
        for _ in 0..limit {
            slots.push(limiter.acquire(&CancellationToken::new()).await.unwrap());
        }
        tokio::time::advance(took).await;
        for slot in slots {
            limiter.answered(slot, answer(took));
        }
    }

    /// One row written in `took`.
    fn written(took: Duration) -> Answer {
        Answer::Written(took, 1)
    }

    fn limit(limiter: &Limiter) -> usize {
        limiter.state.lock().unwrap().limit
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_grows_while_latency_holds_and_falls_on_timeouts() {
        let limiter = Limiter::new(256, true, Gauge::default());
        assert_eq!(limit(&limiter), FLOOR);
        for _ in 0..6 {
            round(&limiter, Duration::from_millis(25), written).await;
        }
        assert_eq!(limit(&limiter), 256, "doubled from the floor to the max");
        assert_eq!(limiter.gauge.get(), 256);
        round(&limiter, Duration::from_millis(25), |_| {
            Answer::Backpressure
        })
        .await;
        let shrunk = (256.0 * DECREASE) as usize;
        assert_eq!(limit(&limiter), shrunk);
        // The round's later timeouts fell in the next window: one more
        // round ends it, and from there the limit grows by ones.
        round(&limiter, Duration::from_millis(25), written).await;
        let settled = limit(&limiter);
        round(&limiter, Duration::from_millis(25), written).await;
        assert_eq!(limit(&limiter), settled + 1, "by ones after backpressure");
        for _ in 0..200 {
            round(&limiter, Duration::from_millis(25), |_| {
                Answer::Backpressure
            })
            .await;
        }
        assert_eq!(limit(&limiter), FLOOR, "never below the floor");
    }

    #[tokio::test(start_paused = true)]
    async fn rising_latency_shrinks_the_limit_and_the_max_caps_it() {
        let limiter = Limiter::new(16, true, Gauge::default());
        for _ in 0..40 {
            round(&limiter, Duration::from_millis(20), written).await;
        }
        assert_eq!(limit(&limiter), 16, "capped at the max");
        // Still doubling (no backpressure yet): the first slow window may be
        // a stall, the second is not.
        round(&limiter, Duration::from_millis(200), written).await;
        assert_eq!(limit(&limiter), 16);
        round(&limiter, Duration::from_millis(200), written).await;
        assert!(
            limit(&limiter) < 16,
            "a lasting tenfold latency is queueing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slower_writes_carrying_more_rows_do_not_shrink_the_limit() {
        let limiter = Limiter::new(16, true, Gauge::default());
        for _ in 0..40 {
            round(&limiter, Duration::from_millis(20), written).await;
        }
        // Half again as slow, with three rows in each write: twice the
        // rows per second, as a node's syncs and batches fill under load.
        for _ in 0..5 {
            round(&limiter, Duration::from_millis(30), |took| {
                Answer::Written(took, 3)
            })
            .await;
        }
        assert_eq!(limit(&limiter), 16);
        // Far slower with one row each, twice: fewer rows per second,
        // queueing.
        round(&limiter, Duration::from_millis(200), written).await;
        round(&limiter, Duration::from_millis(200), written).await;
        assert!(limit(&limiter) < 16);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_answers_below_the_limit_leave_it_alone() {
        let limiter = Limiter::new(16, true, Gauge::default());
        for _ in 0..40 {
            round(&limiter, Duration::from_millis(20), written).await;
        }
        // One write at a time, ten times slower: the node is slow, but not
        // because of what the limit lets through.
        for _ in 0..5 {
            let slot = limiter.acquire(&CancellationToken::new()).await.unwrap();
            tokio::time::advance(Duration::from_millis(200)).await;
            limiter.answered(slot, written(Duration::from_millis(200)));
        }
        assert_eq!(limit(&limiter), 16);
    }

    #[tokio::test(start_paused = true)]
    async fn one_stalled_window_does_not_end_the_doubling_two_do() {
        for (then, limit_after, doubling) in [(20, 64, true), (200, 28, false)] {
            let limiter = Limiter::new(256, true, Gauge::default());
            for _ in 0..3 {
                round(&limiter, Duration::from_millis(20), written).await;
            }
            assert_eq!(limit(&limiter), 32);
            // Ten times slower, no more rows: a stall, or the limit's doing.
            round(&limiter, Duration::from_millis(200), written).await;
            assert_eq!(limit(&limiter), 32, "one slow window holds the limit");
            // Back to usual, the doubling goes on; slow again, it is the
            // limit's doing: shrink, and grow by ones from there.
            round(&limiter, Duration::from_millis(then), written).await;
            assert_eq!(limit(&limiter), limit_after, "then {then} ms");
            assert_eq!(limiter.state.lock().unwrap().slow_start, doubling);
        }
    }

    #[test]
    fn writes_waiting_to_retry_keep_the_node_busy() {
        let limiter = Limiter::new(8, false, Gauge::default());
        let under_way: Vec<_> = (0..3).map(|_| limiter.under_way()).collect();
        assert!(limiter.idle(), "3 of 8 under way");
        // No slot is held: these wait out a retry's backoff.
        let retrying = limiter.under_way();
        assert!(!limiter.idle(), "4 of 8 under way, one between attempts");
        drop((retrying, under_way));
        assert!(limiter.idle());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_limiter_stays_at_the_max() {
        let limiter = Limiter::new(32, false, Gauge::default());
        for _ in 0..5 {
            round(&limiter, Duration::from_millis(20), |_| {
                Answer::Backpressure
            })
            .await;
        }
        assert_eq!(limit(&limiter), 32);
    }
}
