//! Kafka client settings and topic administration, shared by the producer and
//! the processor.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use rdkafka::{ClientConfig, ClientContext};

use crate::config::KafkaSettings;

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
const CONSUMER_DEFAULTS: [(&str, &str); 5] = [
    ("auto.offset.reset", "earliest"),
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
            Role::DeadLetters => vec![delivery_timeout],
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

/// The librdkafka settings of a client in `role`: brokers and security,
/// then the role's defaults unless `kafka.properties` sets them, then the
/// user's properties, then the role's locked settings. A locked setting in
/// `kafka.properties` is refused, saying why rtds sets it.
pub fn client_config(settings: &KafkaSettings, role: Role) -> anyhow::Result<ClientConfig> {
    for locked in role.locked() {
        if let Some(name) = locked
            .names
            .iter()
            .find(|n| settings.properties.contains_key(**n))
        {
            bail!(
                "`kafka.properties` may not set `{name}`: rtds always sets it ({}), because {}",
                if locked.value.is_empty() {
                    "from its own setting"
                } else {
                    locked.value
                },
                locked.why
            );
        }
    }
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

/// A client context that notices the errors no retry mends: a refused
/// login, an untrusted certificate. librdkafka reports them to the error
/// callback and then keeps retrying until its own timeouts, so without this
/// a wrong password would look like a slow broker for `kafka.timeout`.
#[derive(Default)]
pub struct Alarm {
    /// The first hopeless error, in words.
    hopeless: Mutex<Option<String>>,
    /// The latest error that may explain a broker that does not answer;
    /// one that suggests the wrong `security.protocol` is kept over later
    /// ones, which only say that the broker is down.
    latest: Mutex<Option<String>>,
}

/// The words of librdkafka's hopeless failures, in its error callback and
/// its log: a refused SASL login, a failed TLS handshake, a client
/// certificate refused or missing.
const HOPELESS: [&str; 5] = [
    "SASL authentication error",
    "Authentication failed",
    "SSL handshake failed",
    "alert bad certificate",
    "alert certificate required",
];

impl ClientContext for Alarm {
    /// Served by clients that poll (consumers); an admin client's errors
    /// reach only [`Alarm::log`].
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let hopeless = matches!(
            code,
            Some(
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::SSL
            )
        );
        self.note(reason, hopeless);
        tracing::debug!(target: "librdkafka", "{error}: {reason}");
    }

    /// Called from librdkafka's own threads, whether anybody polls or not.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        use RDKafkaLogLevel::*;
        if matches!(
            level,
            Emerg | Alert | Critical | Error | Warning | Notice | Info
        ) {
            let hopeless = HOPELESS.iter().any(|words| message.contains(words));
            self.note(message, hopeless);
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

    fn note(&self, reason: &str, hopeless: bool) {
        if hopeless {
            self.hopeless
                .lock()
                .expect("alarm lock")
                .get_or_insert_with(|| reason.to_string());
        } else {
            // "All brokers are down" follows the failure that says why.
            let mut latest = self.latest.lock().expect("alarm lock");
            let keep = latest.is_some()
                && (reason.contains("brokers are down")
                    || latest.as_deref().is_some_and(protocol_mismatch));
            if !keep {
                *latest = Some(reason.to_string());
            }
        }
    }

    /// The error to stop with once the alarm rang, in the user's terms. A
    /// broker that hangs up on a plaintext client's first request rings it
    /// too: that is a TLS listener.
    fn hopeless(&self, settings: &KafkaSettings) -> Option<anyhow::Error> {
        let at = &settings.bootstrap_servers;
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
        } else if lower.contains("authentication") {
            anyhow::anyhow!(
                "Kafka at {at} refused the login of `{}` ({}): authentication failed ({reason}). \
                 Check kafka.sasl_username, the password (kafka.sasl_password_file, \
                 RTDS_KAFKA_SASL_PASSWORD or kafka.sasl_password) and kafka.sasl_mechanism",
                settings.sasl_username,
                settings.sasl_mechanism
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
            Ok(metadata) => return Ok(metadata),
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

/// Makes sure `topic` exists, creating it with the configured partitions when
/// missing. Fails within `settings.timeout` with the broker address when the
/// cluster cannot be reached. Returns the topic's partition count.
pub async fn ensure_topic(settings: &KafkaSettings, topic: &str) -> anyhow::Result<usize> {
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
            Err((name, code)) => bail!("cannot create Kafka topic {name}: {code}"),
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
