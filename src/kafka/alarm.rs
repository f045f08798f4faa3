//! The observers' client context: it notices the errors a retry does not
//! mend (an untrusted certificate, a refused login) and stops on them.

use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::{Logins, Role, client_config, is_login_refused, login_refused};
use crate::config::KafkaSettings;

/// A client context that notices the errors a retry does not mend, or
/// mends only soon: an untrusted certificate stops at once, a refused login
/// as [`Logins`] says. librdkafka reports them to the error callback and
/// then keeps retrying until its own timeouts, so without this a wrong
/// password would look like a slow broker for `kafka.timeout`.
#[derive(Default)]
pub struct Alarm {
    /// The first TLS failure: a certificate not trusted, refused or missing.
    hopeless: Mutex<Option<String>>,
    logins: Mutex<Logins>,
    /// The latest error that may explain a broker that does not answer;
    /// one that suggests the wrong `security.protocol` is kept over later
    /// ones, which only say that the broker is down.
    latest: Mutex<Option<String>>,
}

/// What a failure librdkafka reports means for the [`Alarm`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReportedFailure {
    LoginRefused,
    Tls,
    Other,
}

/// The words of librdkafka's refused logins, in its error callback and log.
const LOGIN_REFUSED: [&str; 2] = ["SASL authentication error", "Authentication failed"];

/// The words of its failed TLS handshakes: a certificate not trusted, a
/// client certificate refused or missing.
const TLS_FAILED: [&str; 3] = [
    "SSL handshake failed",
    "alert bad certificate",
    "alert certificate required",
];

impl ClientContext for Alarm {
    /// Served by clients that poll (consumers); an admin client's errors
    /// reach only [`Alarm::log`].
    fn error(&self, error: KafkaError, reason: &str) {
        let failure = if is_login_refused(&error) {
            ReportedFailure::LoginRefused
        } else if error.rdkafka_error_code() == Some(RDKafkaErrorCode::SSL) {
            ReportedFailure::Tls
        } else {
            ReportedFailure::Other
        };
        self.note(reason, failure);
        tracing::debug!(target: "librdkafka", "{error}: {reason}");
    }

    /// Called from librdkafka's own threads, whether anybody polls or not.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        use RDKafkaLogLevel::*;
        if matches!(
            level,
            Emerg | Alert | Critical | Error | Warning | Notice | Info
        ) {
            let has = |words: &[&str]| words.iter().any(|w| message.contains(w));
            let failure = if has(&LOGIN_REFUSED) {
                ReportedFailure::LoginRefused
            } else if has(&TLS_FAILED) {
                ReportedFailure::Tls
            } else {
                ReportedFailure::Other
            };
            self.note(message, failure);
        }
        tracing::debug!(target: "librdkafka", "{fac}: {message}");
    }
}

impl ConsumerContext for Alarm {}

impl Alarm {
    /// A consumer in `role` watched by an alarm. Its log level goes down to
    /// Info: librdkafka logs a broker hanging up only at that level.
    pub fn watched(settings: &KafkaSettings, role: Role) -> anyhow::Result<BaseConsumer<Alarm>> {
        let mut config = client_config(settings, role)?;
        config.set_log_level(RDKafkaLogLevel::Info);
        config
            .create_with_context(Alarm::default())
            .context("cannot create a Kafka client (check the kafka.* settings)")
    }

    fn note(&self, reason: &str, failure: ReportedFailure) {
        match failure {
            ReportedFailure::Tls => {
                self.hopeless
                    .lock()
                    .expect("alarm lock")
                    .get_or_insert_with(|| reason.to_string());
                return;
            }
            ReportedFailure::LoginRefused => {
                let mut logins = self.logins.lock().expect("alarm lock");
                logins.refused(Instant::now(), reason);
            }
            ReportedFailure::Other => {}
        }
        // "All brokers are down" follows the failure that says why.
        let mut latest = self.latest.lock().expect("alarm lock");
        let keep = latest.is_some()
            && (reason.contains("brokers are down")
                || latest.as_deref().is_some_and(protocol_mismatch));
        if !keep {
            *latest = Some(reason.to_string());
        }
    }

    /// A request went through: the login works, earlier refusals are
    /// forgiven.
    pub(super) fn went_through(&self) {
        self.logins.lock().expect("alarm lock").went_through();
    }

    /// The error to stop with once the alarm rang, in the user's terms. A
    /// broker that hangs up on a plaintext client's first request rings it
    /// too: that is a TLS listener.
    pub(super) fn hopeless(&self, settings: &KafkaSettings) -> Option<anyhow::Error> {
        let at = &settings.bootstrap_servers;
        let logins = self.logins.lock().expect("alarm lock");
        if let Some(reason) = logins.hopeless(Instant::now(), settings.timeout) {
            return Some(login_refused(settings, reason));
        }
        drop(logins);
        let Some(reason) = self.hopeless.lock().expect("alarm lock").clone() else {
            let latest = self.latest.lock().expect("alarm lock").clone()?;
            let tls = settings
                .security_protocol
                .to_ascii_uppercase()
                .ends_with("SSL");
            return (protocol_mismatch(&latest) && !tls).then(|| {
                anyhow::anyhow!(
                    "Kafka at {at} hung up on the first request ({latest}): its listener \
                     speaks TLS, it seems, but kafka.security_protocol is {}; use SSL or \
                     SASL_SSL, with kafka.ssl_ca_location",
                    settings.security_protocol
                )
            });
        };
        let lower = reason.to_ascii_lowercase();
        Some(if lower.contains("certificate verify failed") {
            anyhow::anyhow!(
                "the certificate of the Kafka broker at {at} is not trusted ({reason}): \
                 kafka.ssl_ca_location must be the CA that signed it (it is {})",
                shown_path(&settings.ssl_ca_location, "empty: the system's CAs")
            )
        } else if lower.contains("bad certificate") || lower.contains("certificate required") {
            anyhow::anyhow!(
                "the Kafka broker at {at} refused the client's certificate ({reason}): its \
                 listener wants one signed by its CA, in kafka.ssl_certificate_location and \
                 kafka.ssl_key_location (now {})",
                shown_path(&settings.ssl_certificate_location, "none")
            )
        } else {
            anyhow::anyhow!(
                "TLS with the Kafka broker at {at} failed ({reason}): check that its listener \
                 speaks {} and the TLS settings (kafka.ssl_*)",
                settings.security_protocol
            )
        })
    }

    /// What to tell a user whose broker does not answer.
    pub(super) fn unreachable(&self, settings: &KafkaSettings) -> String {
        let mut hint = format!(
            "cannot reach Kafka at {} within {}; is the broker running? \
             (`scripts/stack up` starts a local one; --bootstrap-servers or \
             RTDS_KAFKA_BOOTSTRAP_SERVERS points elsewhere)",
            settings.bootstrap_servers,
            humantime::format_duration(settings.timeout)
        );
        if let Some(latest) = self.latest.lock().expect("alarm lock").as_deref() {
            hint.push_str(&format!("; the client's last error: {latest}"));
        }
        hint
    }
}

/// librdkafka's words for a broker that hung up on the first request,
/// which is what a TLS listener does to a plaintext client.
fn protocol_mismatch(message: &str) -> bool {
    message.contains("security.protocol") || message.contains("in state APIVERSION_QUERY")
}

fn shown_path<'a>(path: &'a str, empty: &'a str) -> &'a str {
    if path.is_empty() { empty } else { path }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::kafka::tests::with_properties;

    /// The dashboard's client lives for hours: a broker restarting under
    /// it refuses a login or two, which must neither stop it at once nor
    /// ring for ever; an untrusted certificate still rings at once.
    #[test]
    fn the_alarm_rings_for_a_login_refused_after_it_worked_only_after_the_grace() {
        let settings = with_properties(&[]);
        let refused = "sasl_ssl://127.0.0.1:9192/1: SASL authentication error: Authentication \
                       failed during authentication due to invalid credentials";
        let first_start = Alarm::default();
        first_start.log(RDKafkaLogLevel::Error, "FAIL", refused);
        let error = first_start
            .hopeless(&settings)
            .expect("a wrong login stops at once");
        assert!(error.to_string().contains("refused the login"), "{error}");

        let running = Alarm::default();
        running.went_through();
        running.log(RDKafkaLogLevel::Error, "FAIL", refused);
        assert!(
            running.hopeless(&settings).is_none(),
            "rings at the first refusal"
        );
        running.went_through();
        assert!(
            running
                .logins
                .lock()
                .unwrap()
                .hopeless(Instant::now(), Duration::ZERO)
                .is_none()
        );
        running.log(
            RDKafkaLogLevel::Error,
            "FAIL",
            "SSL handshake failed: certificate verify failed",
        );
        let error = running
            .hopeless(&settings)
            .expect("a certificate stops at once");
        assert!(error.to_string().contains("not trusted"), "{error}");
    }
}
