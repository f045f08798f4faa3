//! Settings, in layers: built-in defaults < config file (`rtds.toml`, or
//! `--config PATH`) < environment (`RTDS_SECTION_KEY`) < command-line flags.
//!
//! Every layer is reduced to dotted keys (`kafka.topic`) so that one code path
//! applies them all, checks each value against its type as it lands, and can
//! say which key from which source was wrong. The effective settings remember
//! where each value came from, so validation errors name the source too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

/// The config file read when `--config` is not given and it exists.
pub const DEFAULT_FILE: &str = "rtds.toml";

/// Most requests or writes in flight a setting may ask for.
pub const MAX_CONCURRENCY: usize = 65_536;

/// Prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "RTDS_";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub kafka: KafkaSettings,
    pub cassandra: CassandraSettings,
    pub produce: ProduceSettings,
    pub process: ProcessSettings,
    pub run: RunSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    pub topic: String,
    /// Where records that fail validation go; empty = `<topic>.dlq`.
    pub dlq_topic: String,
    pub group_id: String,
    /// Partitions of topics rtds creates.
    pub partitions: i32,
    pub replication_factor: i32,
    /// How long a client waits for the broker before giving up.
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    /// `security.protocol` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).
    pub security_protocol: String,
    /// `sasl.mechanism` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); empty = none.
    pub sasl_mechanism: String,
    pub sasl_username: String,
    pub sasl_password: String,
    /// CA bundle for TLS to the brokers; empty = system default.
    pub ssl_ca_location: String,
    /// Any other librdkafka property, passed through as is.
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraSettings {
    /// `host:port` list.
    pub contact_points: Vec<String>,
    pub keyspace: String,
    pub table: String,
    /// Replication of a keyspace rtds creates, as CQL map text.
    pub replication: String,
    pub username: String,
    pub password: String,
    /// CA certificate (PEM); when set, connections use TLS.
    pub tls_ca_file: String,
    /// Writes in flight at once; also the bound on records consumed but not
    /// yet written, which makes backpressure.
    pub concurrency: usize,
    #[serde(with = "human_duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceSettings {
    /// `builtin`, or the URL of a Random User API.
    pub source: String,
    /// Users per API request (the API allows up to 5000).
    pub batch_size: usize,
    /// API requests in flight at once.
    pub concurrency: usize,
    /// Users per second; 0 = the default for the source (capped for
    /// randomuser.me, unlimited otherwise); a negative value is refused.
    pub max_rate: f64,
    #[serde(with = "human_duration")]
    pub duration: Duration,
    /// Nationalities to ask for (comma list); empty = all.
    pub nat: String,
    /// Seed for reproducible users; empty = random.
    pub seed: String,
    #[serde(with = "human_duration")]
    pub request_timeout: Duration,
    /// Attempts per API request before it is given up.
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSettings {
    /// Messages larger than this go to the DLQ.
    pub max_record_bytes: usize,
    #[serde(with = "human_duration")]
    pub commit_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// When `rtds run` produces: `@hourly`, `@daily`, ... or 5 cron fields (UTC).
    pub schedule: String,
    /// Where `rtds run` keeps the last slot it produced.
    pub state_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where `/metrics` is served while a job runs; empty = not served.
    pub listen: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            kafka: KafkaSettings {
                bootstrap_servers: "127.0.0.1:9092".into(),
                topic: "users_created".into(),
                dlq_topic: String::new(),
                group_id: "rtds-processor".into(),
                partitions: 3,
                replication_factor: 1,
                timeout: Duration::from_secs(30),
                security_protocol: "PLAINTEXT".into(),
                sasl_mechanism: String::new(),
                sasl_username: String::new(),
                sasl_password: String::new(),
                ssl_ca_location: String::new(),
                properties: BTreeMap::new(),
            },
            cassandra: CassandraSettings {
                contact_points: vec!["127.0.0.1:9042".into()],
                keyspace: "spark_streams".into(),
                table: "created_users".into(),
                replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".into(),
                username: String::new(),
                password: String::new(),
                tls_ca_file: String::new(),
                concurrency: 256,
                timeout: Duration::from_secs(10),
            },
            produce: ProduceSettings {
                source: crate::source::RANDOMUSER_URL.into(),
                batch_size: 5000,
                concurrency: 4,
                max_rate: 0.0,
                duration: Duration::from_secs(60),
                nat: String::new(),
                seed: String::new(),
                request_timeout: Duration::from_secs(30),
                retries: 8,
            },
            process: ProcessSettings {
                max_record_bytes: 64 * 1024,
                commit_interval: Duration::from_secs(1),
            },
            run: RunSettings {
                schedule: "@daily".into(),
                state_file: ".rtds/run-state.json".into(),
            },
            metrics: MetricsSettings {
                listen: String::new(),
            },
        }
    }
}

/// What went wrong while reading settings: always names the key and its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("unknown setting `{key}` in {origin}; `rtds config` lists the known ones")]
    UnknownKey { key: String, origin: String },
    #[error("invalid value for `{key}` from {origin}: {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
}

/// The effective settings and where each value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    /// Dotted key -> source ("config file rtds.toml", "env RTDS_KAFKA_TOPIC",
    /// "flag --topic"); keys absent here are defaults.
    pub origins: BTreeMap<String, String>,
}

/// One command-line flag that overrides a setting.
#[derive(Debug, Clone)]
pub struct Override {
    pub key: &'static str,
    pub flag: &'static str,
    pub value: String,
}

impl Override {
    pub fn new(key: &'static str, flag: &'static str, value: impl ToString) -> Self {
        Override {
            key,
            flag,
            value: value.to_string(),
        }
    }
}

impl Settings {
    /// Reads every layer. `file` is `--config`; without it `rtds.toml` in the
    /// working directory is read when present.
    pub fn load(file: Option<&Path>, flags: &[Override]) -> Result<Loaded, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .collect();
        Self::load_from(file, &env, flags)
    }

    /// [`Settings::load`] with the environment passed in, for tests.
    pub fn load_from(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
        flags: &[Override],
    ) -> Result<Loaded, ConfigError> {
        let mut layers = Layers::new();
        let default_file = Path::new(DEFAULT_FILE);
        let file = file.or_else(|| default_file.exists().then_some(default_file));
        if let Some(path) = file {
            layers.apply_file(path)?;
        }
        layers.apply_env(env)?;
        for flag in flags {
            let origin = format!("flag {}", flag.flag);
            let value = layers.typed(flag.key, &flag.value, &origin)?;
            layers.set(flag.key, value, origin)?;
        }
        let loaded = layers.finish()?;
        loaded.validate()?;
        Ok(loaded)
    }

    /// The settings as TOML, secrets replaced by `***`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [
            &mut shown.kafka.sasl_password,
            &mut shown.cassandra.password,
        ] {
            if !secret.is_empty() {
                *secret = "***".into();
            }
        }
        for (key, value) in shown.kafka.properties.iter_mut() {
            if is_secret_key(key) {
                *value = "***".into();
            }
        }
        toml::to_string_pretty(&shown).expect("settings always serialize")
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key.contains("secret") || key.ends_with(".key.pem")
}

impl Loaded {
    fn origin(&self, key: &str) -> String {
        self.origins
            .get(key)
            .cloned()
            .unwrap_or_else(|| "the defaults".into())
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            origin: self.origin(key),
            message: message.into(),
        }
    }

    /// Checks what types alone cannot: addresses, ranges, non-empty names.
    fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        for server in s.kafka.bootstrap_servers.split(',') {
            check_host_port(server.trim())
                .map_err(|m| self.invalid("kafka.bootstrap_servers", m))?;
        }
        if s.cassandra.contact_points.is_empty() {
            return Err(self.invalid("cassandra.contact_points", "needs at least one host:port"));
        }
        for point in &s.cassandra.contact_points {
            check_host_port(point).map_err(|m| self.invalid("cassandra.contact_points", m))?;
        }
        for (key, name) in [
            ("kafka.topic", &s.kafka.topic),
            ("kafka.group_id", &s.kafka.group_id),
        ] {
            if name.is_empty() {
                return Err(self.invalid(key, "must not be empty"));
            }
        }
        for (key, name) in [
            ("cassandra.keyspace", &s.cassandra.keyspace),
            ("cassandra.table", &s.cassandra.table),
        ] {
            let ok = !name.is_empty()
                && name.len() <= 48
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(self.invalid(
                    key,
                    format!("`{name}` is not a CQL name (letters, digits, _; at most 48)"),
                ));
            }
        }
        if s.kafka.partitions < 1 {
            return Err(self.invalid("kafka.partitions", "must be at least 1"));
        }
        if !(1..=5000).contains(&s.produce.batch_size) {
            return Err(self.invalid(
                "produce.batch_size",
                "must be between 1 and 5000 (the API's limit)",
            ));
        }
        if s.produce.max_rate < 0.0 || !s.produce.max_rate.is_finite() {
            return Err(self.invalid(
                "produce.max_rate",
                "must be 0 (the source's default) or a positive users/s",
            ));
        }
        for (key, value) in [
            ("produce.concurrency", s.produce.concurrency),
            ("cassandra.concurrency", s.cassandra.concurrency),
        ] {
            if !(1..=MAX_CONCURRENCY).contains(&value) {
                return Err(self.invalid(key, format!("must be between 1 and {MAX_CONCURRENCY}")));
            }
        }
        if s.produce.source != crate::source::BUILTIN
            && reqwest::Url::parse(&s.produce.source).is_err()
        {
            return Err(self.invalid(
                "produce.source",
                format!(
                    "`{}` is neither `builtin` nor a URL like https://randomuser.me/api/",
                    s.produce.source
                ),
            ));
        }
        s.run
            .schedule
            .parse::<crate::schedule::Schedule>()
            .map_err(|m| self.invalid("run.schedule", m))?;
        if !s.metrics.listen.is_empty() {
            s.metrics
                .listen
                .parse::<std::net::SocketAddr>()
                .map_err(|_| {
                    self.invalid(
                        "metrics.listen",
                        format!("`{}` is not an IP:port address", s.metrics.listen),
                    )
                })?;
        }
        Ok(())
    }
}

fn check_host_port(address: &str) -> Result<(), String> {
    let bad = || format!("`{address}` is not a host:port address");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(())
}

/// The settings tree under construction, plus where each key came from.
struct Layers {
    table: Table,
    /// Every known dotted key with its default value: the schema.
    known: BTreeMap<String, Value>,
    origins: BTreeMap<String, String>,
}

impl Layers {
    fn new() -> Self {
        let table = Table::try_from(Settings::default()).expect("defaults serialize");
        let mut known = BTreeMap::new();
        flatten("", &table, &mut known);
        Layers {
            table,
            known,
            origins: BTreeMap::new(),
        }
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: path.into(),
                message: e.message().to_string(),
            })?;
        let mut values = BTreeMap::new();
        flatten("", &table, &mut values);
        let origin = format!("config file {}", path.display());
        for (key, value) in values {
            self.set(&key, value, origin.clone())?;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let by_name: BTreeMap<String, String> = self
            .known
            .keys()
            .map(|key| (env_name(key), key.clone()))
            .collect();
        // Variables of a settings section (RTDS_KAFKA_...) must name a known
        // key, which catches typos; others (RTDS_STACK_..., RTDS_BIN) belong to
        // the scripts around rtds and are left alone.
        let sections: Vec<String> = self
            .table
            .keys()
            .map(|section| format!("{ENV_PREFIX}{}_", section.to_ascii_uppercase()))
            .collect();
        let ours = |name: &str| sections.iter().any(|prefix| name.starts_with(prefix));
        for (name, text) in env.iter().filter(|(name, _)| ours(name)) {
            let origin = format!("env {name}");
            let key = by_name.get(name).ok_or_else(|| ConfigError::UnknownKey {
                key: name.clone(),
                origin: "the environment".into(),
            })?;
            let value = self.typed(key, text, &origin)?;
            self.set(key, value, origin)?;
        }
        Ok(())
    }

    /// Turns text from the environment or a flag into a value of the key's type.
    fn typed(&self, key: &str, text: &str, origin: &str) -> Result<Value, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            key: key.into(),
            origin: origin.into(),
            message,
        };
        let template = self.known.get(key).ok_or_else(|| ConfigError::UnknownKey {
            key: key.into(),
            origin: origin.into(),
        })?;
        Ok(match template {
            Value::Integer(_) => Value::Integer(
                text.trim()
                    .parse()
                    .map_err(|_| invalid(format!("`{text}` is not a whole number")))?,
            ),
            Value::Float(_) => Value::Float(
                text.trim()
                    .parse()
                    .map_err(|_| invalid(format!("`{text}` is not a number")))?,
            ),
            Value::Boolean(_) => Value::Boolean(
                text.trim()
                    .parse()
                    .map_err(|_| invalid(format!("`{text}` is not true or false")))?,
            ),
            Value::Array(_) => Value::Array(
                text.split(',')
                    .map(|item| Value::String(item.trim().to_string()))
                    .filter(|item| item.as_str() != Some(""))
                    .collect(),
            ),
            Value::Table(_) => {
                let mut table = Table::new();
                for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or_else(|| invalid(format!("`{pair}` is not key=value")))?;
                    table.insert(k.trim().into(), Value::String(v.trim().into()));
                }
                Value::Table(table)
            }
            _ => Value::String(text.to_string()),
        })
    }

    /// Sets one key and checks the whole tree still deserializes, so a bad
    /// value is reported with the key and source that brought it.
    fn set(&mut self, key: &str, value: Value, origin: String) -> Result<(), ConfigError> {
        if !self.known.contains_key(key) {
            return Err(ConfigError::UnknownKey {
                key: key.into(),
                origin,
            });
        }
        let mut node = &mut self.table;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                node.insert(part.into(), value);
                break;
            }
            node = node
                .get_mut(part)
                .and_then(Value::as_table_mut)
                .expect("known keys have known parents");
        }
        Settings::deserialize(self.table.clone()).map_err(|e| ConfigError::Invalid {
            key: key.into(),
            origin: origin.clone(),
            message: e.message().to_string(),
        })?;
        self.origins.insert(key.into(), origin);
        Ok(())
    }

    fn finish(self) -> Result<Loaded, ConfigError> {
        let mut settings = Settings::deserialize(self.table).map_err(|e| ConfigError::Invalid {
            key: "?".into(),
            origin: "the combined settings".into(),
            message: e.message().to_string(),
        })?;
        if settings.kafka.dlq_topic.is_empty() {
            settings.kafka.dlq_topic = format!("{}.dlq", settings.kafka.topic);
        }
        Ok(Loaded {
            settings,
            origins: self.origins,
        })
    }
}

/// Collects leaf values under dotted keys. `kafka.properties` is a leaf: its
/// keys are librdkafka's, not ours.
fn flatten(prefix: &str, table: &Table, out: &mut BTreeMap<String, Value>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            Value::Table(inner) if key != "kafka.properties" => flatten(&key, inner, out),
            _ => {
                out.insert(key, value.clone());
            }
        }
    }
}

/// `kafka.bootstrap_servers` -> `RTDS_KAFKA_BOOTSTRAP_SERVERS`.
fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Durations as human text (`10s`, `1m 30s`, `250ms`) in files and flags.
mod human_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration like 10s or 1m 30s ({e})"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile_path::TempFile {
        tempfile_path::TempFile::with(text)
    }

    /// A config file in the system temp folder, removed on drop.
    mod tempfile_path {
        pub struct TempFile(pub std::path::PathBuf);
        impl TempFile {
            pub fn with(text: &str) -> Self {
                let path = std::env::temp_dir().join(format!("rtds-{}.toml", uuid::Uuid::new_v4()));
                std::fs::write(&path, text).unwrap();
                TempFile(path)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn defaults_match_the_seed() {
        let loaded = Settings::load_from(None, &env(&[]), &[]).unwrap();
        let s = loaded.settings;
        assert_eq!(s.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(s.kafka.topic, "users_created");
        assert_eq!(s.kafka.dlq_topic, "users_created.dlq");
        assert_eq!(s.cassandra.contact_points, vec!["127.0.0.1:9042"]);
        assert_eq!(s.cassandra.keyspace, "spark_streams");
        assert_eq!(s.cassandra.table, "created_users");
        assert_eq!(s.produce.duration, Duration::from_secs(60));
    }

    #[test]
    fn layers_override_in_order() {
        let f = file(
            "[kafka]\ntopic = \"from_file\"\ngroup_id = \"file_group\"\n[produce]\nduration = \"5s\"\n",
        );
        let e = env(&[
            ("RTDS_KAFKA_TOPIC", "from_env"),
            ("RTDS_PRODUCE_DURATION", "7s"),
        ]);
        let flags = [Override::new("produce.duration", "--duration", "9s")];
        let loaded = Settings::load_from(Some(&f.0), &e, &flags).unwrap();
        assert_eq!(loaded.settings.kafka.group_id, "file_group");
        assert_eq!(loaded.settings.kafka.topic, "from_env");
        assert_eq!(loaded.settings.kafka.dlq_topic, "from_env.dlq");
        assert_eq!(loaded.settings.produce.duration, Duration::from_secs(9));
        assert_eq!(loaded.origins["kafka.topic"], "env RTDS_KAFKA_TOPIC");
        assert_eq!(loaded.origins["produce.duration"], "flag --duration");
    }

    #[test]
    fn unknown_key_in_file_names_key_and_file() {
        let f = file("[kafka]\ntopik = \"x\"\n");
        let err = Settings::load_from(Some(&f.0), &env(&[]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("kafka.topik"), "{err}");
        assert!(err.contains("config file"), "{err}");
    }

    #[test]
    fn unknown_env_variable_of_a_section_is_refused() {
        let err = Settings::load_from(None, &env(&[("RTDS_KAFKA_TOPICS", "x")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RTDS_KAFKA_TOPICS"), "{err}");
        // The scripts' own variables are not settings.
        let others = env(&[("RTDS_STACK_FAST", "1"), ("RTDS_BIN", "/usr/bin/rtds")]);
        assert!(Settings::load_from(None, &others, &[]).is_ok());
    }

    #[test]
    fn bad_duration_names_key_and_source() {
        let err = Settings::load_from(None, &env(&[("RTDS_PRODUCE_DURATION", "soon")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("produce.duration"), "{err}");
        assert!(err.contains("env RTDS_PRODUCE_DURATION"), "{err}");
        assert!(err.contains("soon"), "{err}");
    }

    #[test]
    fn bad_address_names_key_and_flag() {
        let flags = [Override::new(
            "kafka.bootstrap_servers",
            "--bootstrap-servers",
            "localhost",
        )];
        let err = Settings::load_from(None, &env(&[]), &flags)
            .unwrap_err()
            .to_string();
        assert!(err.contains("kafka.bootstrap_servers"), "{err}");
        assert!(err.contains("flag --bootstrap-servers"), "{err}");
    }

    #[test]
    fn wrong_type_in_file_is_reported() {
        let f = file("[kafka]\npartitions = \"many\"\n");
        let err = Settings::load_from(Some(&f.0), &env(&[]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("kafka.partitions"), "{err}");
    }

    #[test]
    fn lists_and_maps_from_env() {
        let e = env(&[
            (
                "RTDS_CASSANDRA_CONTACT_POINTS",
                "10.0.0.1:9042, 10.0.0.2:9042",
            ),
            (
                "RTDS_KAFKA_PROPERTIES",
                "linger.ms=5,ssl.key.password=hunter2",
            ),
        ]);
        let loaded = Settings::load_from(None, &e, &[]).unwrap();
        assert_eq!(loaded.settings.cassandra.contact_points.len(), 2);
        assert_eq!(loaded.settings.kafka.properties["linger.ms"], "5");
        let shown = loaded.settings.to_masked_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn secrets_are_masked() {
        let e = env(&[
            ("RTDS_KAFKA_SASL_PASSWORD", "s3cret"),
            ("RTDS_CASSANDRA_PASSWORD", "pw"),
        ]);
        let shown = Settings::load_from(None, &e, &[])
            .unwrap()
            .settings
            .to_masked_toml();
        assert!(
            !shown.contains("s3cret") && !shown.contains("\"pw\""),
            "{shown}"
        );
        assert!(shown.contains("***"));
    }
}
