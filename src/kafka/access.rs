//! Refusals: logins refused (and when to stop on them), requests refused by
//! ACLs (naming the login and the grant it lacks), and the principal a
//! client logs in as.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::KafkaSettings;

/// Refused logins of one client, and when to stop on them. A login never
/// accepted is a wrong credential, and stops at once: a wrong password says
/// so in a second, not after `kafka.timeout`. One refused after it was
/// accepted is most likely a broker restarting (a SCRAM broker refuses
/// logins until it has read its credentials): it is given `grace`, counted
/// from the first refusal, and a request that goes through meanwhile
/// forgives it. Time is passed in, so the rule is tested without sleeping.
#[derive(Debug, Default)]
pub struct Logins {
    accepted: bool,
    /// The first refusal since the last request that went through.
    refused: Option<(Instant, String)>,
}

impl Logins {
    /// For a client whose login already worked: the job's start checked it.
    pub fn accepted() -> Logins {
        Logins {
            accepted: true,
            refused: None,
        }
    }

    pub fn refused(&mut self, at: Instant, reason: &str) {
        self.refused.get_or_insert_with(|| (at, reason.to_string()));
    }

    pub fn went_through(&mut self) {
        *self = Logins::accepted();
    }

    /// Whether a refusal waits to be forgiven.
    pub fn pending(&self) -> bool {
        self.refused.is_some()
    }

    /// The refusal to stop with at `now`, once it is time.
    pub fn hopeless(&self, now: Instant, grace: Duration) -> Option<&str> {
        let (first, reason) = self.refused.as_ref()?;
        (!self.accepted || now.saturating_duration_since(*first) >= grace)
            .then_some(reason.as_str())
    }
}

/// The error a refused login stops with, naming the user and what to check.
pub fn login_refused(settings: &KafkaSettings, reason: &str) -> anyhow::Error {
    anyhow!(
        "Kafka at {} refused the login of `{}` ({}): authentication failed ({reason}). \
         Check kafka.sasl_username, the password (kafka.sasl_password_file, \
         RTDS_KAFKA_SASL_PASSWORD or kafka.sasl_password) and kafka.sasl_mechanism",
        settings.bootstrap_servers,
        settings.sasl_username,
        settings.sasl_mechanism
    )
}

/// Whether `error` is a broker refusing the client's login.
pub fn is_login_refused(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)
    )
}

/// What a job needs of Kafka, for the advice it stops with when the
/// broker's ACLs refuse it (see [`refused_by_acls`]).
#[derive(Debug, Clone, Copy)]
pub enum Need<'a> {
    /// Writing a topic: `rtds produce`, `rtds dlq replay`, the DLQ.
    Write { topic: &'a str },
    /// Reading a topic in a consumer group: `rtds process`.
    Read { topic: &'a str, group: &'a str },
}

/// Whether `code` is a broker refusing a request by its ACLs: the same
/// login asking the same again gets the same answer, so the job stops.
pub fn is_refused_by_acls(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        TopicAuthorizationFailed
            | GroupAuthorizationFailed
            | ClusterAuthorizationFailed
            | TransactionalIdAuthorizationFailed
    )
}

/// The error a job stops with when the broker's ACLs refuse `code` (none
/// for any other code): which login was refused what, in Kafka's own
/// words, and the `kafka-acls.sh` command an admin runs to allow what the
/// job needs. Every refusal by ACLs goes through here, whoever met it: a
/// topic's creation, a delivery, the consumer, the DLQ.
pub fn refused_by_acls(
    settings: &KafkaSettings,
    code: RDKafkaErrorCode,
    need: Need<'_>,
) -> Option<anyhow::Error> {
    use RDKafkaErrorCode::*;
    let (verb, topic, topic_operations) = match need {
        Need::Write { topic } => ("write", topic, "--operation Write --operation Describe"),
        Need::Read { topic, .. } => ("read", topic, "--operation Read --operation Describe"),
    };
    let (what, grant) = match code {
        TopicAuthorizationFailed => (
            format!("{verb} topic {topic}"),
            format!("{topic_operations} --topic {topic}"),
        ),
        GroupAuthorizationFailed => {
            let group = match need {
                Need::Read { group, .. } => group,
                Need::Write { .. } => settings.group_id.as_str(),
            };
            (
                format!("use consumer group {group}"),
                format!("--operation Read --group {group}"),
            )
        }
        ClusterAuthorizationFailed => (
            "produce idempotently (IdempotentWrite on the cluster, which Write on a topic implies)"
                .to_string(),
            format!("--operation Write --operation Describe --topic {topic}"),
        ),
        TransactionalIdAuthorizationFailed => {
            let id = settings.properties.get("transactional.id");
            let id = id.map_or("<its transactional.id>", String::as_str);
            (
                format!("use transactional id {id}"),
                format!("--operation Write --operation Describe --transactional-id {id}"),
            )
        }
        _ => return None,
    };
    let principal = principal(settings);
    let mapped = if settings.sasl_mechanism.is_empty()
        && !settings.ssl_certificate_location.is_empty()
    {
        " (the subject of kafka.ssl_certificate_location; the broker's ssl.principal.mapping.rules \
         may shorten it)"
    } else {
        ""
    };
    Some(anyhow!(
        "Kafka at {at} refused to let {principal}{mapped} {what} ({code_name}): the broker's \
         ACLs do not allow it, and no retry will. An admin must grant it: kafka-acls.sh \
         --bootstrap-server {at} --command-config <an admin's login> --add --allow-principal \
         {principal} {grant}",
        at = settings.bootstrap_servers,
        code_name = acl_code_name(code),
    ))
}

/// Kafka's own name of a refusal by ACLs, as its docs and logs spell it.
fn acl_code_name(code: RDKafkaErrorCode) -> &'static str {
    use RDKafkaErrorCode::*;
    match code {
        TopicAuthorizationFailed => "TOPIC_AUTHORIZATION_FAILED",
        GroupAuthorizationFailed => "GROUP_AUTHORIZATION_FAILED",
        ClusterAuthorizationFailed => "CLUSTER_AUTHORIZATION_FAILED",
        _ => "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    }
}

/// The principal the broker sees, as ACLs name it: `User:` and the SASL
/// user, else the subject of the client certificate, else `User:ANONYMOUS`.
pub fn principal(settings: &KafkaSettings) -> String {
    if !settings.sasl_mechanism.is_empty() {
        return format!("User:{}", settings.sasl_username);
    }
    if settings.ssl_certificate_location.is_empty() {
        return "User:ANONYMOUS".to_string();
    }
    let subject = std::fs::read(&settings.ssl_certificate_location)
        .ok()
        .and_then(|pem| openssl::x509::X509::from_pem(&pem).ok())
        .map(|cert| {
            let entries = cert.subject_name().entries();
            let parts: Vec<String> = entries
                .filter_map(|e| {
                    let key = e.object().nid().short_name().ok()?;
                    Some(format!(
                        "{key}={}",
                        String::from_utf8_lossy(e.data().as_slice())
                    ))
                })
                .collect();
            parts.join(",")
        });
    format!(
        "User:{}",
        subject.unwrap_or_else(|| "<its subject>".to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::tests::with_properties;

    #[test]
    fn a_refused_login_is_ridden_out_for_a_while_once_it_worked() {
        let (grace, t0) = (Duration::from_secs(30), Instant::now());
        let at = |secs| t0 + Duration::from_secs(secs);
        // Never accepted: a wrong credential, at once.
        let mut fresh = Logins::default();
        assert_eq!(fresh.hopeless(t0, grace), None);
        fresh.refused(t0, "wrong password");
        assert_eq!(fresh.hopeless(t0, grace), Some("wrong password"));
        // Accepted before: up to the grace, counted from the first refusal.
        let mut running = Logins::accepted();
        running.refused(at(0), "first");
        running.refused(at(10), "second");
        assert!(running.pending());
        assert_eq!(running.hopeless(at(29), grace), None);
        assert_eq!(running.hopeless(at(30), grace), Some("first"));
        // A request that went through forgives; a new refusal starts anew.
        running.went_through();
        assert!(!running.pending());
        assert_eq!(running.hopeless(at(100), grace), None);
        running.refused(at(100), "again");
        assert_eq!(running.hopeless(at(129), grace), None);
        assert_eq!(running.hopeless(at(130), grace), Some("again"));
        // Whatever the clock says before the refusal, no panic.
        assert_eq!(running.hopeless(at(50), grace), None);
        fresh.went_through();
        fresh.refused(at(1), "restart");
        assert_eq!(fresh.hopeless(at(2), grace), None);
    }

    /// Every refusal by ACLs names the login, Kafka's code and the grant
    /// that allows what the job needs; any other code is not one.
    #[test]
    fn a_refusal_by_acls_names_the_login_and_the_grant() {
        use RDKafkaErrorCode::*;
        let mut settings = with_properties(&[]);
        settings.sasl_mechanism = "SCRAM-SHA-512".into();
        settings.sasl_username = "rtds".into();
        let read = Need::Read {
            topic: "t",
            group: "g",
        };
        for (code, need, words) in [
            (
                TopicAuthorizationFailed,
                Need::Write { topic: "t" },
                "write topic t (TOPIC_AUTHORIZATION_FAILED)",
            ),
            (
                TopicAuthorizationFailed,
                read,
                "--operation Read --operation Describe --topic t",
            ),
            (
                GroupAuthorizationFailed,
                read,
                "use consumer group g (GROUP_AUTHORIZATION_FAILED)",
            ),
            (ClusterAuthorizationFailed, read, "IdempotentWrite"),
        ] {
            let error = refused_by_acls(&settings, code, need).unwrap().to_string();
            assert!(
                error.contains("User:rtds")
                    && error.contains(words)
                    && error.contains("kafka-acls.sh"),
                "{error}"
            );
        }
        assert!(refused_by_acls(&settings, UnknownTopicOrPartition, read).is_none());
        assert!(!is_refused_by_acls(SaslAuthenticationFailed));
        assert_eq!(principal(&with_properties(&[])), "User:ANONYMOUS");
    }
}
