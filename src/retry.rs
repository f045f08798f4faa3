//! One way to retry: every failure is classified once, here, as transient
//! (retried with backoff and counted) or permanent (the job stops and says
//! what failed and what to do). Cassandra writes, DLQ sends and API pages all
//! retry through [`Retry::run`], so none of them can spin forever in silence:
//! each retry is counted, the first and then one every [`LOG_EVERY`] is
//! logged, a shutdown cuts waits short, and a permanent error ends the loop.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// What a failure means for the work that hit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Worth another try: the service is slow, restarting or unreachable.
    Transient,
    /// Can never succeed as things are: retrying would stall in silence.
    Permanent,
    /// The service said when to come back (HTTP 429 with `Retry-After`):
    /// waited as asked, without using up an attempt, within the policy's
    /// `patience`.
    Later(Duration),
}

/// How often a retrying loop says that it still retries.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// When the loops retrying one kind of work last said so. Shared by all of
/// them: 256 writes held by one outage log one line every [`LOG_EVERY`],
/// not 256.
#[derive(Debug, Default)]
pub struct LogPacer(Mutex<Option<Instant>>);

impl LogPacer {
    /// True when nothing was said for [`LOG_EVERY`] (or ever): the caller
    /// says it now.
    pub fn due(&self) -> bool {
        let mut last = self.0.lock().expect("said lock");
        let due = last.is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

/// Why a retried operation did not succeed.
#[derive(Debug)]
pub enum Stop<E> {
    /// A permanent error: stop the job with it.
    Permanent(E),
    /// The attempts allowed ran out; the last transient error.
    Exhausted(E),
    /// Shutdown (or the run's deadline) came first.
    Cancelled,
}

/// A retry policy: exponential backoff with full jitter between `base` and
/// `cap`, at most `attempts` tries (`None`: until it works, is permanent, or
/// is cancelled), and at most `patience` in all for [`Class::Later`] waits:
/// a wait asked beyond what is left of it ends the loop at once, since
/// waiting part of it would only be refused again.
#[derive(Debug, Clone)]
pub struct Retry {
    /// What is retried, for the log: "Cassandra write", "DLQ send", ...
    pub what: &'static str,
    pub base: Duration,
    pub cap: Duration,
    pub attempts: Option<u32>,
    pub patience: Duration,
}

// The policies, each named here so that every retry loop of rtds and
// its backoff can be read in one place.

/// Cassandra writes retry transient failures until they pass, the job
/// stops, or the failure turns out permanent.
pub const WRITE_RETRY: Retry = Retry {
    what: "Cassandra write",
    base: Duration::from_millis(50),
    cap: Duration::from_secs(5),
    attempts: None,
    patience: Duration::ZERO,
};

/// DLQ sends retry like writes, a little slower: a broker takes longer to
/// come back than a node's request queue to drain.
pub const DLQ_RETRY: Retry = Retry {
    what: "DLQ send",
    base: Duration::from_millis(100),
    ..WRITE_RETRY
};

/// Schema registry requests retry like writes: a registry that is down
/// holds the records that need it until it is back, or the job stops.
pub const REGISTRY_RETRY: Retry = Retry {
    what: "schema registry request",
    base: Duration::from_millis(100),
    ..WRITE_RETRY
};

/// How long one page waits in all on HTTP 429 replies before giving up: the
/// public API counts its limit over 5 minutes.
pub const RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(300);

/// How one page is retried: `attempts` tries for failures, and HTTP 429
/// waited for as asked, [`RATE_LIMIT_PATIENCE`] in all at most.
pub fn api_page_retry(attempts: u32) -> Retry {
    Retry {
        what: "Random User API request",
        base: Duration::from_millis(100),
        cap: Duration::from_secs(10),
        attempts: Some(attempts),
        patience: RATE_LIMIT_PATIENCE,
    }
}

impl Retry {
    /// Runs `attempt` until it succeeds, failing permanently, running out of
    /// attempts or patience, or `cancel` firing. `classify` sorts each
    /// error; `on_retry` is told of every failure retried (for counters);
    /// `said` paces the log lines of every loop it is shared by. An
    /// attempt in flight is never cut short (each has its own timeout); the
    /// waits between attempts are.
    pub async fn run<T, E, F, Fut>(
        &self,
        cancel: &CancellationToken,
        said: &LogPacer,
        classify: impl Fn(&E) -> Class,
        mut on_retry: impl FnMut(&E),
        mut attempt: F,
    ) -> Result<T, Stop<E>>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let (mut tries, mut waited_later) = (0u32, Duration::ZERO);
        let started = Instant::now();
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let wait = match classify(&error) {
                Class::Permanent => return Err(Stop::Permanent(error)),
                Class::Later(asked) => {
                    // At least `base`, so that a service saying "0" cannot
                    // spin the loop; never past the patience left, so that no
                    // wait asked, however long, overflows the sum.
                    let asked = asked.max(self.base);
                    if asked > self.patience.saturating_sub(waited_later) {
                        return Err(Stop::Exhausted(error));
                    }
                    waited_later += asked;
                    asked
                }
                Class::Transient => {
                    tries += 1;
                    if self.attempts.is_some_and(|max| tries >= max) {
                        on_retry(&error);
                        return Err(Stop::Exhausted(error));
                    }
                    backoff(tries - 1, self.base, self.cap)
                }
            };
            on_retry(&error);
            if said.due() {
                warn!(
                    "{} failed, retrying in {:.1?} ({:.0?} since the first try): {error}",
                    self.what,
                    wait,
                    started.elapsed()
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Err(Stop::Cancelled),
            }
        }
    }
}

/// Exponential backoff with full jitter: attempt 0 waits up to `base`,
/// doubling up to `cap`, so retrying clients do not stampede together.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.min(16)).min(cap);
    ceiling.mul_f64(rand::random::<f64>().max(0.1))
}

/// A Cassandra request's failure: timeouts, an unavailable or overloaded
/// node and broken connections pass; a request the node refuses (invalid,
/// syntax, unauthorized, a table gone) or values that do not serialize into
/// the table's types never will.
pub fn cassandra(error: &ExecutionError) -> Class {
    use RequestAttemptError::{CqlRequestSerialization, DbError as Refused, SerializationError};
    match error {
        ExecutionError::BadQuery(_) | ExecutionError::PrepareError(_) => Class::Permanent,
        ExecutionError::LastAttemptError(
            SerializationError(_)
            | CqlRequestSerialization(_)
            | Refused(
                DbError::SyntaxError
                | DbError::Invalid
                | DbError::AlreadyExists { .. }
                | DbError::FunctionFailure { .. }
                | DbError::AuthenticationError
                | DbError::Unauthorized
                | DbError::ConfigError
                | DbError::ProtocolError,
                _,
            ),
        ) => Class::Permanent,
        _ => Class::Transient,
    }
}

/// A Kafka client's failure: the broker down, a leader moving, a full
/// queue or a timed-out delivery pass; authorization, an invalid or oversized
/// record, a timestamp the topic refuses, a missing topic, a setting the
/// broker refuses and a fatal producer state do not.
pub fn kafka(error: &KafkaError) -> Class {
    match error.rdkafka_error_code() {
        Some(code) if permanent_kafka_code(code) => Class::Permanent,
        _ => Class::Transient,
    }
}

/// The codes no retry can mend: the same record, settings and permissions
/// get the same answer. `InvalidTimestamp` is a record's time outside the
/// topic's `message.timestamp.*.max.ms` (the DLQ keeps a record's original
/// time, which an old record fails for ever); `MessageBatchTooLarge` is
/// Kafka's RECORD_LIST_TOO_LARGE.
fn permanent_kafka_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    crate::kafka::is_refused_by_acls(code)
        || matches!(
            code,
            SaslAuthenticationFailed
                | Authentication
                | MessageSizeTooLarge
                | InvalidMessageSize
                | InvalidRecord
                | MessageBatchTooLarge
                | InvalidMessage
                | InvalidTimestamp
                | InvalidRequiredAcks
                | InvalidConfig
                | InvalidRequest
                | UnsupportedCompressionType
                | UnsupportedForMessageFormat
                | UnsupportedSASLMechanism
                | PolicyViolation
                | UnknownTopic
                | InvalidTopic
                | InvalidArgument
                | Fatal
                | InvalidProducerEpoch
                | Fenced
                | UnsupportedVersion
                | UnsupportedFeature
        )
}

/// True for the idempotent producer's fatal state: the producer must be
/// made anew, it will never send again.
pub fn fatal_producer(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick(attempts: Option<u32>) -> Retry {
        Retry {
            what: "test",
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            attempts,
            patience: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_and_counted() {
        let (calls, retries) = (AtomicU32::new(0), AtomicU32::new(0));
        let result: Result<u32, Stop<&str>> = quick(None)
            .run(
                &CancellationToken::new(),
                &LogPacer::default(),
                |_| Class::Transient,
                |_| {
                    retries.fetch_add(1, Ordering::Relaxed);
                },
                || async {
                    let n = calls.fetch_add(1, Ordering::Relaxed);
                    if n < 3 { Err("busy") } else { Ok(n) }
                },
            )
            .await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(retries.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_permanent_error_stops_at_once() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Stop<&str>> = quick(None)
            .run(
                &CancellationToken::new(),
                &LogPacer::default(),
                |e| {
                    if *e == "invalid" {
                        Class::Permanent
                    } else {
                        Class::Transient
                    }
                },
                |_| {},
                || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    Err("invalid")
                },
            )
            .await;
        assert!(matches!(result, Err(Stop::Permanent("invalid"))));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn attempts_run_out_and_cancel_stops_waiting() {
        let result: Result<(), Stop<&str>> = quick(Some(2))
            .run(
                &CancellationToken::new(),
                &LogPacer::default(),
                |_| Class::Transient,
                |_| {},
                || async { Err("down") },
            )
            .await;
        assert!(matches!(result, Err(Stop::Exhausted("down"))));

        let cancel = CancellationToken::new();
        cancel.cancel();
        let result: Result<(), Stop<&str>> = quick(None)
            .run(
                &cancel,
                &LogPacer::default(),
                |_| Class::Transient,
                |_| {},
                || async { Err("down") },
            )
            .await;
        assert!(matches!(result, Err(Stop::Cancelled)));
    }

    #[tokio::test]
    async fn later_waits_as_asked_within_its_patience() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Stop<&str>> = quick(Some(1))
            .run(
                &CancellationToken::new(),
                &LogPacer::default(),
                |_| Class::Later(Duration::from_millis(2)),
                |_| {},
                || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    Err("429")
                },
            )
            .await;
        // Patience 5 ms of 2 ms waits: three tries waited, the fourth gives
        // up; one attempt allowed does not limit them.
        assert!(matches!(result, Err(Stop::Exhausted("429"))));
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn one_said_speaks_once_per_interval() {
        let said = LogPacer::default();
        assert!(said.due());
        assert!(!said.due(), "a second loop within LOG_EVERY stays quiet");
    }

    #[test]
    fn kafka_errors_are_classified() {
        use RDKafkaErrorCode::*;
        use rdkafka::error::KafkaError::MessageProduction;
        // What a record, the topic's settings or the user's rights refuse
        // refuses again: a DLQ with message.timestamp.before.max.ms and an
        // old original timestamp among them.
        for code in [
            InvalidTimestamp,
            MessageSizeTooLarge,
            MessageBatchTooLarge,
            InvalidRecord,
            TopicAuthorizationFailed,
            UnsupportedCompressionType,
            InvalidRequiredAcks,
        ] {
            assert_eq!(
                kafka(&MessageProduction(code)),
                Class::Permanent,
                "{code:?}"
            );
        }
        for code in [
            MessageTimedOut,
            NotLeaderForPartition,
            NotEnoughReplicas,
            RequestTimedOut,
            BrokerTransportFailure,
            AllBrokersDown,
            QueueFull,
        ] {
            assert_eq!(
                kafka(&MessageProduction(code)),
                Class::Transient,
                "{code:?}"
            );
        }
        assert!(fatal_producer(&MessageProduction(Fatal)));
    }

    #[test]
    fn cassandra_errors_are_classified() {
        let db = |error| {
            ExecutionError::LastAttemptError(RequestAttemptError::DbError(error, String::new()))
        };
        assert_eq!(cassandra(&db(DbError::Invalid)), Class::Permanent);
        assert_eq!(cassandra(&db(DbError::Unauthorized)), Class::Permanent);
        assert_eq!(cassandra(&db(DbError::Overloaded)), Class::Transient);
        assert_eq!(
            cassandra(&ExecutionError::RequestTimeout(Duration::from_secs(1))),
            Class::Transient
        );
    }
}
