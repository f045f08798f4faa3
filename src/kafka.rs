//! Kafka client settings and topic administration, shared by the producer and
//! the processor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaConfRes;
use rdkafka::{ClientConfig, ClientContext};

use crate::config::{KafkaSettings, is_secret_property};

/// How the processor's commit points' metadata starts: the Unix time in
/// milliseconds the point was stored follows, which `rtds status` shows.
pub const STORED_AT: &str = "rtds stored_at_ms=";

/// What a Kafka client is for. Each role has its own defaults and its own
/// locked settings; [`client_config`] builds them all by one rule.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// `rtds produce`: users to the topic.
    Producer,
    /// `rtds process`: the topic, in a consumer group, committing what is
    /// stored every `commit_interval`.
    Consumer { commit_interval: Duration },
    /// `rtds process`: bad records to the dead-letter topic.
    DeadLetters,
    /// Topic checks and creation.
    Admin,
    /// `rtds status` and the dashboard: reads topics, the DLQ and the
    /// group's commit points without joining the group or changing anything.
    Observer,
}

/// The producer settings that make delivery fast and memory-bounded; any of
/// them can be changed with `kafka.properties`.
const PRODUCER_DEFAULTS: [(&str, &str); 6] = [
    ("compression.type", "lz4"),
    // Every record waits up to this long for others to share its request:
    // 5 ms was half of the end-to-end p50 at 1,000 records/s, and at full
    // rate batches fill while the requests before them are in flight, so 1
    // gave the same records/s (measured, `scripts/bench produce`).
    ("linger.ms", "1"),
    ("batch.num.messages", "10000"),
    ("batch.size", "1000000"),
    // Bounds the producer's memory: sending waits when this much is queued.
    // 4 MB is some 10,000 records, more than a linger's worth at full rate;
    // measured, 8 MB's peak RSS was 9 MB higher at the same records/s.
    ("queue.buffering.max.kbytes", "4096"),
    ("queue.buffering.max.messages", "100000"),
];

/// The consumer settings that bound memory and keep a small queue fast.
const CONSUMER_DEFAULTS: [(&str, &str); 6] = [
    ("auto.offset.reset", "earliest"),
    // A member that died (SIGKILL, a lost host) stays in the group until its
    // session times out, and every rebalance meanwhile waits for it: its
    // partitions stand still, and a SIGTERM of another member waits too (its
    // last commit blocks on the rebalance). The nemesis run measured 41 s
    // for such a SIGTERM with librdkafka's 45 s; heartbeats come from
    // librdkafka's own thread every 3 s, so 10 s (Kafka's default before
    // 3.0) is safe here.
    ("session.timeout.ms", "10000"),
    // Bounds what librdkafka prefetches: part of the memory bound. 1 MB
    // is still thousands of records ahead of the writes, and measured, the
    // peak RSS of `rtds process` fell by 13 MB from 4 MB's with the same
    // rows/s.
    ("queued.max.messages.kbytes", "1024"),
    ("queued.min.messages", "10000"),
    // Once the prefetch queue is full, fetch again as soon as it drains,
    // not after librdkafka's default second: that second caps a small
    // queue at a few MB/s.
    ("fetch.queue.backoff.ms", "10"),
    ("partition.assignment.strategy", "cooperative-sticky"),
];

/// The settings that bound what an observer prefetches: it reads whole
/// topics one record at a time (`rtds dlq list` and `replay`, the
/// dashboard's dead letters), so memory, not fetch size, is what matters.
const OBSERVER_DEFAULTS: [(&str, &str); 3] = [
    ("queued.max.messages.kbytes", "1024"),
    // Fetch again as soon as the queue drains, not after librdkafka's
    // default second: with that second and this small queue, replaying
    // 500 MB of dead letters took 37 s instead of 4.
    ("fetch.queue.backoff.ms", "10"),
    // librdkafka unpacks a fetched batch whole, so a fetch of a compressed
    // DLQ takes its unpacked size. Measured, replaying 10,000 dead letters
    // of 100 kB that lz4 packs some 250 to 1: peak RSS 206 MB with the
    // default 1 MB, 77 MB with 128 kB; uncompressed, 28 MB either way and
    // as fast.
    ("max.partition.fetch.bytes", "131072"),
];

/// A setting the delivery guarantee rests on: always set by rtds, refused
/// in `kafka.properties` (under any of its librdkafka names).
struct Locked {
    names: &'static [&'static str],
    value: &'static str,
    why: &'static str,
}

const PRODUCER_LOCKED: [Locked; 2] = [
    Locked {
        names: &["enable.idempotence"],
        value: "true",
        why: "retries after a broker failure must not write a record twice",
    },
    Locked {
        names: &["acks", "request.required.acks"],
        value: "all",
        why: "a record counts as delivered only once every in-sync replica has it",
    },
];

const CONSUMER_LOCKED: [Locked; 3] = [
    Locked {
        names: &["enable.auto.offset.store"],
        value: "false",
        why: "an offset is stored only after its record is written or dead-lettered",
    },
    Locked {
        names: &["enable.auto.commit", "auto.commit.enable"],
        value: "true",
        why: "the offsets rtds stores are committed in the background and at shutdown",
    },
    Locked {
        names: &["group.id"],
        value: "",
        why: "the group is the `kafka.group_id` setting (or `--group`)",
    },
];

const OBSERVER_LOCKED: [Locked; 3] = [
    Locked {
        names: &["enable.auto.commit", "auto.commit.enable"],
        value: "false",
        why: "`rtds status` and the dashboard read the group's commit points and never move them",
    },
    Locked {
        names: &["allow.auto.create.topics"],
        value: "false",
        why: "looking at a topic must not create it",
    },
    Locked {
        names: &["group.id"],
        value: "",
        why: "the group is the `kafka.group_id` setting (or `--group`)",
    },
];

impl Role {
    fn locked(self) -> &'static [Locked] {
        match self {
            Role::Producer | Role::DeadLetters => &PRODUCER_LOCKED,
            Role::Consumer { .. } => &CONSUMER_LOCKED,
            Role::Observer => &OBSERVER_LOCKED,
            Role::Admin => &[],
        }
    }

    /// Settings rtds picks for this role unless `kafka.properties` sets them.
    fn defaults(self, settings: &KafkaSettings) -> Vec<(&'static str, String)> {
        let own = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            pairs.iter().map(|&(k, v)| (k, v.to_string())).collect()
        };
        let delivery_timeout = ("message.timeout.ms", millis(settings.timeout));
        match self {
            Role::Producer => {
                let mut defaults = own(&PRODUCER_DEFAULTS);
                defaults.push(delivery_timeout);
                defaults
            }
            // librdkafka's own queue bound is 1 GB. Twice the largest
            // message, at least 4 MB, holds every dead letter in flight.
            Role::DeadLetters => {
                let queue = (2 * message_max_bytes(settings) / 1024).max(4096);
                vec![
                    delivery_timeout,
                    ("queue.buffering.max.kbytes", queue.to_string()),
                ]
            }
            Role::Consumer { commit_interval } => {
                let mut defaults = own(&CONSUMER_DEFAULTS);
                defaults.push(("auto.commit.interval.ms", millis(commit_interval)));
                defaults
            }
            Role::Observer => own(&OBSERVER_DEFAULTS),
            Role::Admin => Vec::new(),
        }
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// Why `kafka.properties` cannot be used, if it cannot: a setting any
/// client locks (the properties go to every client alike, so what one of
/// them refuses is refused for all, by every command, `rtds config`
/// included), or a property librdkafka does not know or a value it refuses.
/// The words name the property, never its value.
pub fn check_properties(properties: &BTreeMap<String, String>) -> Result<(), String> {
    let every_lock = PRODUCER_LOCKED
        .iter()
        .chain(&CONSUMER_LOCKED)
        .chain(&OBSERVER_LOCKED);
    refuse_locked(every_lock, properties)?;
    let config: ClientConfig = properties.clone().into_iter().collect();
    config.create_native_config().map_err(refused_property)?;
    Ok(())
}

/// The first of `locks` that `properties` sets, saying why rtds sets it.
fn refuse_locked<'a>(
    locks: impl IntoIterator<Item = &'a Locked>,
    properties: &BTreeMap<String, String>,
) -> Result<(), String> {
    for locked in locks {
        if let Some(name) = locked.names.iter().find(|n| properties.contains_key(**n)) {
            return Err(format!(
                "may not set `{name}`: rtds always sets it ({}), because {}",
                if locked.value.is_empty() {
                    "from its own setting"
                } else {
                    locked.value
                },
                locked.why
            ));
        }
    }
    Ok(())
}

/// librdkafka's refusal of a property in words that name the property and
/// never show its value: librdkafka's own words often repeat the value, and
/// rdkafka's error text always adds it, while a property carried over from
/// a Java client (`sasl.jaas.config`) or misspelt may well hold a password.
fn refused_property(error: KafkaError) -> String {
    let KafkaError::ClientConfig(code, words, key, value) = error else {
        return format!("librdkafka refuses them: {error}");
    };
    let why = if code == RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN {
        "librdkafka has no such property".to_string()
    } else if is_secret_property(&key) || (!value.is_empty() && words.contains(&value)) {
        "librdkafka refuses its value".to_string()
    } else {
        format!("librdkafka refuses it ({})", words.trim())
    };
    format!(
        "`{key}`: {why}; the value is not shown, it may hold a secret. librdkafka's \
         CONFIGURATION.md lists its properties and their values; Java client settings have \
         no place here (a SASL login is kafka.sasl_mechanism, kafka.sasl_username and \
         kafka.sasl_password)"
    )
}

/// The librdkafka settings of a client in `role`: brokers and security,
/// then the role's defaults unless `kafka.properties` sets them, then the
/// user's properties, then the role's locked settings. A locked setting in
/// `kafka.properties` is refused, saying why rtds sets it, and so is a
/// property or value librdkafka refuses, naming the property only.
pub fn client_config(settings: &KafkaSettings, role: Role) -> anyhow::Result<ClientConfig> {
    refuse_locked(role.locked(), &settings.properties)
        .map_err(|why| anyhow!("`kafka.properties` {why}"))?;
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("security.protocol", &settings.security_protocol)
        .set("client.id", "rtds");
    if !settings.sasl_mechanism.is_empty() {
        config
            .set("sasl.mechanism", &settings.sasl_mechanism)
            .set("sasl.username", &settings.sasl_username)
            .set("sasl.password", &settings.sasl_password);
    }
    for (key, value) in [
        ("ssl.ca.location", &settings.ssl_ca_location),
        (
            "ssl.certificate.location",
            &settings.ssl_certificate_location,
        ),
        ("ssl.key.location", &settings.ssl_key_location),
        ("ssl.key.password", &settings.ssl_key_password),
    ] {
        if !value.is_empty() {
            config.set(key, value);
        }
    }
    for (key, value) in role.defaults(settings) {
        if !settings.properties.contains_key(key) {
            config.set(key, value);
        }
    }
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    for locked in role.locked() {
        let value = match locked.names[0] {
            "group.id" => settings.group_id.as_str(),
            _ => locked.value,
        };
        config.set(locked.names[0], value);
    }
    config
        .create_native_config()
        .map_err(|e| anyhow!("cannot make a Kafka client: {}", refused_property(e)))?;
    Ok(config)
}

/// How long a producer tries to deliver a record before it counts it as
/// failed: `message.timeout.ms` (or its alias `delivery.timeout.ms`) when
/// `kafka.properties` sets it, else `kafka.timeout`.
pub fn delivery_timeout(settings: &KafkaSettings) -> Duration {
    ["message.timeout.ms", "delivery.timeout.ms"]
        .iter()
        .find_map(|key| settings.properties.get(*key)?.parse().ok())
        .map_or(settings.timeout, Duration::from_millis)
}

/// The largest record a producer hands to the broker: librdkafka
/// refuses bigger ones before compression (`message.max.bytes`).
pub fn message_max_bytes(settings: &KafkaSettings) -> usize {
    settings
        .properties
        .get("message.max.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

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
    fn went_through(&self) {
        self.logins.lock().expect("alarm lock").went_through();
    }

    /// The error to stop with once the alarm rang, in the user's terms. A
    /// broker that hangs up on a plaintext client's first request rings it
    /// too: that is a TLS listener.
    fn hopeless(&self, settings: &KafkaSettings) -> Option<anyhow::Error> {
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
    fn unreachable(&self, settings: &KafkaSettings) -> String {
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

/// Every topic's metadata, within `settings.timeout`. Asked in short
/// slices so that a hopeless error stops it at once. Every topic rather than
/// one by name: a request by name lets brokers with
/// `auto.create.topics.enable` create it with their defaults. Blocking.
/// The client is a consumer because polling it serves librdkafka's log and
/// error events to the [`Alarm`]; it must have no partitions assigned.
pub fn all_topics(
    client: &BaseConsumer<Alarm>,
    settings: &KafkaSettings,
) -> anyhow::Result<Metadata> {
    let deadline = Instant::now() + settings.timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let slice = left.min(Duration::from_millis(500));
        match client.fetch_metadata(None, slice) {
            Ok(metadata) => {
                client.context().went_through();
                return Ok(metadata);
            }
            Err(error) => {
                while client.poll(Duration::ZERO).is_some() {}
                if let Some(hopeless) = client.context().hopeless(settings) {
                    return Err(hopeless);
                }
                if left <= slice {
                    return Err(error).context(client.context().unreachable(settings));
                }
            }
        }
    }
}

/// Makes sure the topic the job needs exists, creating it with the
/// configured partitions when missing. Fails within `settings.timeout` with
/// the broker address when the cluster cannot be reached. A topic the login
/// does not see and may not create (a broker with ACLs) stops the job
/// naming the login and what it needs. Returns the topic's partition count.
pub async fn ensure_topic(settings: &KafkaSettings, need: Need<'_>) -> anyhow::Result<usize> {
    let (Need::Write { topic } | Need::Read { topic, .. }) = need;
    let looker = Arc::new(Alarm::watched(settings, Role::Admin)?);
    let timeout = settings.timeout;
    if let Some(partitions) = partition_count(&looker, topic, settings).await? {
        return Ok(partitions);
    }
    let min_insync = settings.min_insync_replicas.to_string();
    let mut new_topic = NewTopic::new(
        topic,
        settings.partitions,
        TopicReplication::Fixed(settings.replication_factor),
    );
    if settings.min_insync_replicas > 0 {
        new_topic = new_topic.set("min.insync.replicas", &min_insync);
    }
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let admin: AdminClient<DefaultClientContext> =
        client_config(settings, Role::Admin)?
            .create()
            .context("cannot create a Kafka admin client (check the kafka.* settings)")?;
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .with_context(|| looker.context().unreachable(settings))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => match refused_by_acls(settings, code, need) {
                Some(refused) => {
                    return Err(refused.context(format!(
                        "Kafka topic {name} does not show to this login, and it may not create \
                         it: an admin must create the topic and grant the login what it needs"
                    )));
                }
                None => bail!("cannot create Kafka topic {name}: {code}"),
            },
        }
    }
    // Creation is asynchronous in the cluster: wait until metadata shows it.
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(partitions) = partition_count(&looker, topic, settings).await? {
            return Ok(partitions);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "Kafka topic {topic} was created but does not show in the metadata after {timeout:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The topic's partition count, `None` when it does not exist.
async fn partition_count(
    looker: &Arc<BaseConsumer<Alarm>>,
    topic: &str,
    settings: &KafkaSettings,
) -> anyhow::Result<Option<usize>> {
    let (looker, own) = (looker.clone(), settings.clone());
    let metadata = tokio::task::spawn_blocking(move || all_topics(&looker, &own))
        .await
        .expect("metadata task does not panic")?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn with_properties(pairs: &[(&str, &str)]) -> KafkaSettings {
        let mut settings = Settings::default().kafka;
        for (key, value) in pairs {
            settings
                .properties
                .insert(key.to_string(), value.to_string());
        }
        settings
    }

    const CONSUMER: Role = Role::Consumer {
        commit_interval: Duration::from_secs(1),
    };

    #[test]
    fn safety_settings_are_locked_with_a_reason() {
        for (role, key) in [
            (Role::Producer, "enable.idempotence"),
            (Role::Producer, "acks"),
            (Role::DeadLetters, "request.required.acks"),
            (CONSUMER, "enable.auto.offset.store"),
            (CONSUMER, "enable.auto.commit"),
            (CONSUMER, "group.id"),
        ] {
            let error = client_config(&with_properties(&[(key, "1")]), role)
                .err()
                .unwrap_or_else(|| panic!("{key} accepted for {role:?}"))
                .to_string();
            assert!(error.contains(key) && error.contains("because"), "{error}");
        }
    }

    #[test]
    fn every_lock_of_every_client_is_refused_for_all() {
        for key in ["acks", "group.id", "allow.auto.create.topics"] {
            let properties = BTreeMap::from([(key.to_string(), "x".to_string())]);
            let why = check_properties(&properties).unwrap_err();
            assert!(why.contains(&format!("may not set `{key}`")), "{why}");
        }
        let fine = BTreeMap::from([("linger.ms".to_string(), "5".to_string())]);
        assert_eq!(check_properties(&fine), Ok(()));
    }

    /// rdkafka's own error text repeats a refused property's value; a
    /// client made by rtds names the property only.
    #[test]
    fn a_refused_property_is_named_without_its_value() {
        let secret = r#"ScramLoginModule required username="rtds" password="hunter2";"#;
        for (key, value) in [
            ("sasl.jaas.confg", secret),
            ("sasl.jaas.config", secret),
            ("linger.ms", "hunter2"),
        ] {
            let error = client_config(&with_properties(&[(key, value)]), Role::Producer)
                .err()
                .unwrap_or_else(|| panic!("{key} accepted"))
                .to_string();
            assert!(
                error.contains(&format!("`{key}`")) && !error.contains("hunter2"),
                "{error}"
            );
        }
    }

    #[test]
    fn defaults_give_way_to_properties_and_locks_hold() {
        let settings = with_properties(&[("linger.ms", "50"), ("max.poll.interval.ms", "10000")]);
        let producer = client_config(&settings, Role::Producer).unwrap();
        assert_eq!(producer.get("linger.ms"), Some("50"));
        assert_eq!(producer.get("compression.type"), Some("lz4"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("acks"), Some("all"));
        let dead_letters = client_config(&settings, Role::DeadLetters).unwrap();
        assert_eq!(dead_letters.get("enable.idempotence"), Some("true"));
        assert_eq!(dead_letters.get("message.timeout.ms"), Some("30000"));
        let consumer = client_config(&settings, CONSUMER).unwrap();
        assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(consumer.get("group.id"), Some("rtds-processor"));
        assert_eq!(consumer.get("auto.commit.interval.ms"), Some("1000"));
        assert_eq!(consumer.get("max.poll.interval.ms"), Some("10000"));
    }

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

    #[test]
    fn delivery_timeout_follows_the_producer_setting() {
        assert_eq!(
            delivery_timeout(&with_properties(&[])),
            Duration::from_secs(30)
        );
        assert_eq!(
            delivery_timeout(&with_properties(&[("message.timeout.ms", "90000")])),
            Duration::from_secs(90)
        );
    }
}
