//! Kafka client settings, shared by the producer, the processor and the
//! observers: each role's defaults and the properties no client may
//! override. Refusals are in `access`, the observers' context in `alarm`,
//! topic administration in `topics`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::anyhow;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

use crate::config::{KafkaSettings, is_secret_property};

mod access;
mod alarm;
mod topics;
pub use access::*;
pub use alarm::Alarm;
pub use topics::{all_topics, ensure_topic};

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Settings;

    pub(crate) fn with_properties(pairs: &[(&str, &str)]) -> KafkaSettings {
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
