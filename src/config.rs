//! Settings, in layers: built-in defaults < config file (`rtds.toml`, or
//! `--config PATH`) < environment (`RTDS_SECTION_KEY`) < command-line flags.
//!
//! Every layer is reduced to dotted keys (`kafka.topic`) so that one code path
//! applies them all, checks each value against its type as it lands, and can
//! say which key from which source was wrong. The effective settings remember
//! where each value came from, so validation errors name the source too.
//!
//! To add a setting, touch:
//! 1. its field, with a doc comment (what, unit, default, why change it), in
//!    the section struct below; the file key and the `RTDS_` variable follow
//!    from the field's name;
//! 2. its default in `impl Default for Settings`;
//! 3. `Loaded::validate`, when its type alone admits values that misbehave;
//! 4. the settings block of README.md's Settings section (a test compares it
//!    with the defaults);
//! 5. `Cli::overrides` in `src/main.rs`, when it also gets a flag;
//! 6. `tests/settings.rs`, a row per value that is refused.

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

/// `RTDS_` variables that belong to the scripts and tests around rtds, not to
/// its settings, and so are left alone; every other `RTDS_` variable must name
/// a setting, which catches typos such as `RTDS_CASANDRA_KEYSPACE`. An entry
/// ending in `_` is a prefix.
pub const SCRIPT_VARIABLES: [&str; 7] = [
    "RTDS_STACK_",
    "RTDS_NEMESIS_",
    "RTDS_AIRFLOW",
    "RTDS_AIRFLOW_",
    "RTDS_BIN",
    "RTDS_KAFKA_VERSION",
    "RTDS_CASSANDRA_VERSION",
];

/// Shown instead of a secret.
const MASK: &str = "***";

/// Shortest timeout or interval a setting may have: the clients count in
/// milliseconds, so anything less is 0, which they read as "never" or "at once".
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Cassandra's consistency levels for reads and writes, as CQL spells them.
pub const CONSISTENCIES: [&str; 9] = [
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
];

/// Cassandra's longest time to live, 20 years.
const MAX_TTL: Duration = Duration::from_secs(630_720_000);

/// Everything rtds can be told, one struct per section of the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[kafka]`: the brokers, topics and client security.
    pub kafka: KafkaSettings,
    /// `[cassandra]`: the nodes, keyspace, table and writes.
    pub cassandra: CassandraSettings,
    /// `[produce]`: where users come from and how fast (`rtds produce`).
    pub produce: ProduceSettings,
    /// `[process]`: what the stream job accepts and how often it commits.
    pub process: ProcessSettings,
    /// `[run]`: the schedule of `rtds run`.
    pub run: RunSettings,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// `[dashboard]`: the live page of `rtds dashboard` and `rtds run --dashboard`.
    pub dashboard: DashboardSettings,
    /// `[dlq]`: `rtds dlq replay`.
    pub dlq: DlqSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list of brokers to start from; default
    /// `127.0.0.1:9092` (the local stack). Change it to reach another cluster.
    pub bootstrap_servers: String,
    /// Topic of user records; default `users_created`, the tutorial's. Change
    /// it to run several pipelines on one cluster.
    pub topic: String,
    /// Where records that fail validation go; default empty = `<topic>.dlq`.
    /// Change it to collect the bad records of several topics in one place.
    pub dlq_topic: String,
    /// Consumer group of `rtds process`; default `rtds-processor`. Processors
    /// in one group share the partitions; another group reads everything again.
    pub group_id: String,
    /// Partitions of topics rtds creates (existing topics are kept as they
    /// are); default 3. More partitions let more processors share the work.
    pub partitions: i32,
    /// Copies of each partition of topics rtds creates; default 1, right for
    /// one broker. Use 3 on a production cluster so a broker can fail.
    pub replication_factor: i32,
    /// `min.insync.replicas` of topics rtds creates: copies that must have a
    /// record before it counts as delivered (producers use `acks=all`);
    /// default 0 = the brokers' default. Use 2 with 3 replicas: one broker may
    /// fail without losing an acknowledged record or stopping writes.
    pub min_insync_replicas: i32,
    /// How long a client waits for the broker (metadata, topic creation,
    /// delivery of a record) before giving up; default 30s, at least 1ms.
    /// Raise it for slow links, lower it to fail faster.
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    /// librdkafka's `security.protocol`: PLAINTEXT (default), SSL,
    /// SASL_PLAINTEXT or SASL_SSL, as the brokers' listener wants. The SASL
    /// ones need `sasl_mechanism`.
    pub security_protocol: String,
    /// `sasl.mechanism`: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI or
    /// OAUTHBEARER; default empty = no SASL. Needed with a SASL protocol,
    /// refused without one.
    pub sasl_mechanism: String,
    /// SASL user name; default empty. Needs `sasl_mechanism`.
    pub sasl_username: String,
    /// SASL password; default empty. Needs `sasl_mechanism`; never shown
    /// (`rtds config` prints `***`). Better given as `RTDS_KAFKA_SASL_PASSWORD`
    /// or through `sasl_password_file` than in the config file.
    pub sasl_password: String,
    /// File that holds the SASL password (a mounted secret), read at start,
    /// one trailing newline dropped; default empty = none. Set this or
    /// `sasl_password`, not both.
    pub sasl_password_file: String,
    /// CA bundle (PEM file) that signs the brokers' certificates, for SSL and
    /// SASL_SSL; default empty = the system's CAs. The broker's certificate
    /// must name the host of `bootstrap_servers` (DNS or IP address).
    pub ssl_ca_location: String,
    /// Client certificate (PEM file) for brokers that want one (mutual TLS,
    /// `ssl.client.auth=required`); default empty = none. Needs `ssl_key_location`.
    pub ssl_certificate_location: String,
    /// Private key (PEM file) of `ssl_certificate_location`; default empty.
    pub ssl_key_location: String,
    /// Password of an encrypted `ssl_key_location`; default empty = the key
    /// is not encrypted. Never shown.
    pub ssl_key_password: String,
    /// File that holds `ssl_key_password`, read at start; default empty.
    pub ssl_key_password_file: String,
    /// Any other librdkafka property, passed through as is (`linger.ms`,
    /// `ssl.key.password`, ...); default none. In the environment:
    /// `RTDS_KAFKA_PROPERTIES="k=v,k=v"`. Values of properties whose name
    /// holds password, secret, token or key are never shown.
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraSettings {
    /// `host:port` list of nodes to start from; default `127.0.0.1:9042`
    /// (the local stack). In the environment: comma-separated.
    pub contact_points: Vec<String>,
    /// Keyspace of the table; default `spark_streams`, the tutorial's.
    /// Created when missing.
    pub keyspace: String,
    /// Table of users; default `created_users`, the tutorial's. Created (or
    /// migrated from the tutorial's schema) when needed.
    pub table: String,
    /// Replication of a keyspace rtds creates, as a CQL map with a `class`;
    /// default `{'class': 'SimpleStrategy', 'replication_factor': 1}`, right
    /// for one node. Use NetworkTopologyStrategy with 3 per datacenter in
    /// production.
    pub replication: String,
    /// User name for password authentication; default empty = none.
    pub username: String,
    /// Password for `username`; default empty. Never shown (`rtds config`
    /// prints `***`); better given as `RTDS_CASSANDRA_PASSWORD` or through
    /// `password_file`.
    pub password: String,
    /// File that holds the password (a mounted secret), read at start, one
    /// trailing newline dropped; default empty = none. Set this or
    /// `password`, not both.
    pub password_file: String,
    /// Datacenter whose nodes serve the requests (the driver's DC-aware
    /// routing; `LOCAL_*` consistencies count its replicas); default empty =
    /// any node. Set it on a cluster of several datacenters.
    pub local_datacenter: String,
    /// Consistency of writes: how many replicas acknowledge each one;
    /// default `LOCAL_QUORUM` (a majority of the local datacenter's replicas:
    /// 1 of 1, 2 of 3). ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM,
    /// EACH_QUORUM, LOCAL_ONE, ANY.
    pub write_consistency: String,
    /// Consistency of reads (`rtds users`, the status, the dashboard);
    /// default `LOCAL_QUORUM`. `ALL` reads every replica, repairing any
    /// that missed a write.
    pub read_consistency: String,
    /// CA certificate (PEM file) of the nodes; default empty = plain TCP.
    /// When set, connections use TLS and check each node's certificate
    /// against it and against the node's IP address (an `IP:` entry of its
    /// subjectAltName), which is how the driver addresses nodes.
    pub tls_ca_file: String,
    /// Client certificate (PEM file) for nodes that want one
    /// (`client_encryption_options.require_client_auth: true`); default
    /// empty = none. Needs `tls_key_file`, and `tls_ca_file` (TLS).
    pub tls_cert_file: String,
    /// Private key (PEM file, unencrypted) of `tls_cert_file`; default empty.
    pub tls_key_file: String,
    /// Writes (single rows or batches) in flight at once at most, 1 to
    /// 65,536; default 256. Records consumed but not yet written are bounded
    /// by what those writes hold, which makes backpressure: raise it for
    /// throughput on a big cluster, lower it to spare a small one.
    pub concurrency: usize,
    /// Whether the writes in flight adapt to the node: from 4 up to
    /// `concurrency` while latency holds, down by a tenth when writes time
    /// out or latency rises (the node queueing); default true. False keeps
    /// `concurrency` in flight whatever the node does.
    pub adaptive_concurrency: bool,
    /// Rows per write at most, 1 to 64: rows with the same replicas go
    /// together in unlogged batches. Default 0 = as many as the node's batch
    /// warn thresholds allow (10 rows and 5 KiB on a stock node); 1 = one
    /// insert per row.
    pub batch_rows: usize,
    /// How long a batch waits for more rows before it is sent anyway;
    /// default 2ms. Longer fills batches at low rates, at that cost in
    /// latency; `0s` sends at once what is there.
    #[serde(with = "human_duration")]
    pub batch_linger: Duration,
    /// How long connecting and each write may take before it is retried or
    /// the job fails; default 10s, at least 1ms.
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    /// How long each row lives after it is written, then Cassandra drops
    /// it; default `0s` = for ever. Applies to writes from then on: rows
    /// already stored keep the time they were written with.
    #[serde(with = "human_duration")]
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceSettings {
    /// `builtin` (users made in-process, no network), or the URL of a Random
    /// User API; default `https://randomuser.me/api/`, the tutorial's. A
    /// password in the URL is never shown.
    pub source: String,
    /// Users per API request, 1 to 5000 (the API's limit); default 2000.
    /// Smaller pages mean more requests but less waiting per request, and
    /// less memory: a page's reply is held whole while it is read (a
    /// 5,000-user page is about 6 MB of JSON, and `concurrency` are in
    /// flight), and from the local API server 2,000 gave the same users/s
    /// as 5,000 in 16 MB less.
    pub batch_size: usize,
    /// API requests in flight at once, 1 to 65,536; default 4. More hides
    /// network latency; the public API rate-limits anyway.
    pub concurrency: usize,
    /// Users per second at most; default 0 = the source's default (about
    /// 66/s for randomuser.me, its published limit; unlimited otherwise); a
    /// negative value is refused.
    pub max_rate: f64,
    /// How long `rtds produce` runs when `--count` is not given; default 60s,
    /// the tutorial's.
    #[serde(with = "human_duration")]
    pub duration: Duration,
    /// Nationalities to ask for, comma list (`gb,us`); default empty = all.
    pub nat: String,
    /// Random seed for reproducible users: the same seed gives the same
    /// users (ids excepted); default empty = a fresh one each run.
    pub seed: String,
    /// How long one API request may take, connection included, before it is
    /// retried; default 30s, at least 1ms.
    #[serde(with = "human_duration")]
    pub request_timeout: Duration,
    /// Attempts per API request before it is given up; default 8, with
    /// exponential backoff between them. Raise it for a flaky source.
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSettings {
    /// Messages larger than this many bytes go to the DLQ; default 65536 (a
    /// record is about 420 bytes). Bounds the memory one message can take.
    pub max_record_bytes: usize,
    /// How often consumed offsets are committed to Kafka; default 1s, at
    /// least 1ms. Longer means fewer commits, and more records replayed (and
    /// upserted again) after a crash.
    #[serde(with = "human_duration")]
    pub commit_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// When `rtds run` produces: `@hourly`, `@daily` (default, the
    /// tutorial's), `@weekly`, `@monthly` or 5 cron fields, in UTC.
    pub schedule: String,
    /// Where `rtds run` keeps the last slot it produced, so that a restart
    /// never produces twice for a slot; default `.rtds/run-state.json`.
    pub state_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// `IP:port` where Prometheus `/metrics` is served while a job runs;
    /// default empty = not served.
    pub listen: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSettings {
    /// `IP:port` the dashboard serves its page and `/api` on; default
    /// `127.0.0.1:8080`, this machine only (the page has no login).
    pub listen: String,
    /// `/metrics` URLs of the jobs to chart (each `rtds produce` and
    /// `rtds process` started with `--metrics-listen`); default none, and
    /// the page then shows what Kafka and Cassandra themselves tell.
    pub scrape: Vec<String>,
    /// Host names, besides the address it listens on, that requests may
    /// name in their `Host` header (a proxy's name for it); default none.
    /// Any other name is refused, so that a page of another site cannot
    /// read the dashboard through DNS rebinding.
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqSettings {
    /// How many times `rtds dlq replay` sends one record back; default 3. A
    /// record still bad after that is refused: it needs a look, not a loop.
    pub max_replays: u32,
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
                min_insync_replicas: 0,
                timeout: Duration::from_secs(30),
                security_protocol: "PLAINTEXT".into(),
                sasl_mechanism: String::new(),
                sasl_username: String::new(),
                sasl_password: String::new(),
                sasl_password_file: String::new(),
                ssl_ca_location: String::new(),
                ssl_certificate_location: String::new(),
                ssl_key_location: String::new(),
                ssl_key_password: String::new(),
                ssl_key_password_file: String::new(),
                properties: BTreeMap::new(),
            },
            cassandra: CassandraSettings {
                contact_points: vec!["127.0.0.1:9042".into()],
                keyspace: "spark_streams".into(),
                table: "created_users".into(),
                replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".into(),
                username: String::new(),
                password: String::new(),
                password_file: String::new(),
                local_datacenter: String::new(),
                write_consistency: "LOCAL_QUORUM".into(),
                read_consistency: "LOCAL_QUORUM".into(),
                tls_ca_file: String::new(),
                tls_cert_file: String::new(),
                tls_key_file: String::new(),
                concurrency: 256,
                adaptive_concurrency: true,
                batch_rows: 0,
                batch_linger: Duration::from_millis(2),
                timeout: Duration::from_secs(10),
                ttl: Duration::ZERO,
            },
            produce: ProduceSettings {
                source: crate::source::RANDOMUSER_URL.into(),
                batch_size: 2000,
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
            dashboard: DashboardSettings {
                listen: "127.0.0.1:8080".into(),
                scrape: Vec::new(),
                allowed_hosts: Vec::new(),
            },
            dlq: DlqSettings { max_replays: 3 },
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
    /// working directory is read when present. Variables that are not
    /// `RTDS_` ones are not read, so a value that is not UTF-8 in one of them
    /// is no concern of rtds.
    pub fn load(file: Option<&Path>, flags: &[Override]) -> Result<Loaded, ConfigError> {
        let mut env = BTreeMap::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().filter(|n| n.starts_with(ENV_PREFIX)) else {
                continue;
            };
            if is_script_variable(name) {
                continue;
            }
            let value = value.into_string().map_err(|_| ConfigError::Invalid {
                key: setting_of_env(name).unwrap_or_else(|| name.to_string()),
                origin: format!("env {name}"),
                message: "the value is not UTF-8 text".into(),
            })?;
            env.insert(name.to_string(), value);
        }
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
        let mut loaded = layers.finish()?;
        loaded.read_password_files()?;
        loaded.validate()?;
        Ok(loaded)
    }

    /// The settings as TOML, secrets replaced by `***`: passwords, secret
    /// librdkafka properties and the password in a source URL.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [
            &mut shown.kafka.sasl_password,
            &mut shown.kafka.ssl_key_password,
            &mut shown.cassandra.password,
        ] {
            if !secret.is_empty() {
                *secret = MASK.into();
            }
        }
        for (key, value) in shown.kafka.properties.iter_mut() {
            if is_secret_property(key) {
                *value = MASK.into();
            }
        }
        shown.produce.source = masked_source(&shown.produce.source);
        toml::to_string_pretty(&shown).expect("settings always serialize")
    }
}

/// Whether the value of librdkafka property `key` may be a secret:
/// `ssl.key.password`, `sasl.oauthbearer.client.secret`, `ssl.key.pem`,
/// tokens, credentials, `sasl.jaas.config` (a Java client's login, password
/// inline), and `sasl.oauthbearer.config`, which holds client secrets
/// inline. By words in the name, so that a misspelt one is masked too.
pub fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "key", "jaas", "credential"]
        .iter()
        .any(|word| key.contains(word))
        || key == "sasl.oauthbearer.config"
}

/// Settings whose values are never repeated in an error: a wrong one may
/// still be the secret, or part of it.
fn is_secret_setting(key: &str) -> bool {
    matches!(
        key,
        "kafka.sasl_password"
            | "kafka.ssl_key_password"
            | "cassandra.password"
            | "kafka.properties"
    )
}

/// `url` with its password, if any, replaced by `***`: for every log line,
/// error and listing that shows a URL given by the user.
pub fn masked_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have a password at all.
        let _ = shown.set_password(Some(MASK));
    }
    shown.to_string()
}

/// [`masked_url`] for `produce.source` as written: also masks what looks like
/// a password in text that does not parse as a URL.
pub fn masked_source(source: &str) -> String {
    if let Ok(url) = reqwest::Url::parse(source) {
        return masked_url(&url);
    }
    let Some((scheme, rest)) = source.split_once("://") else {
        return source.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user_info, _)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:{MASK}{}", &rest[user_info.len()..])
        }
        None => source.to_string(),
    }
}

/// Whether `name` is one of the [`SCRIPT_VARIABLES`].
fn is_script_variable(name: &str) -> bool {
    SCRIPT_VARIABLES.iter().any(|known| {
        if known.ends_with('_') {
            name.starts_with(known)
        } else {
            name == *known
        }
    })
}

/// The setting that environment variable `name` sets, if any.
fn setting_of_env(name: &str) -> Option<String> {
    Layers::new()
        .known
        .into_keys()
        .find(|key| env_name(key) == name)
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

    /// Reads each `*_password_file` into its password setting, so that the
    /// rest of rtds sees one password however an operator keeps it.
    fn read_password_files(&mut self) -> Result<(), ConfigError> {
        let s = &self.settings;
        let (k, c) = (&s.kafka, &s.cassandra);
        let sasl = self.password_file(
            "kafka.sasl_password",
            &k.sasl_password,
            &k.sasl_password_file,
        )?;
        let key = self.password_file(
            "kafka.ssl_key_password",
            &k.ssl_key_password,
            &k.ssl_key_password_file,
        )?;
        let cassandra = self.password_file("cassandra.password", &c.password, &c.password_file)?;
        let s = &mut self.settings;
        for (read, password) in [
            (sasl, &mut s.kafka.sasl_password),
            (key, &mut s.kafka.ssl_key_password),
            (cassandra, &mut s.cassandra.password),
        ] {
            if let Some(read) = read {
                *password = read;
            }
        }
        Ok(())
    }

    /// The password in `file`, the setting `{key}_file`, if it names one:
    /// read whole, one trailing newline dropped (`echo` and editors add it).
    fn password_file(
        &self,
        key: &str,
        password: &str,
        file: &str,
    ) -> Result<Option<String>, ConfigError> {
        let file_key = format!("{key}_file");
        if file.is_empty() {
            return Ok(None);
        }
        if !password.is_empty() {
            return Err(self.invalid(
                &file_key,
                format!(
                    "is set and so is `{key}` (from {}): give the password one way",
                    self.origin(key)
                ),
            ));
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| self.invalid(&file_key, format!("cannot read {file}: {e}")))?;
        let secret = match text.strip_suffix('\n') {
            Some(line) => line.strip_suffix('\r').unwrap_or(line),
            None => &text,
        };
        if secret.is_empty() {
            return Err(self.invalid(&file_key, format!("{file} is empty")));
        }
        Ok(Some(secret.to_string()))
    }

    /// Checks what types alone cannot: addresses, names, ranges, and the
    /// combinations that cannot work, one group of settings at a time.
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
            crate::cassandra::check_name(name).map_err(|m| self.invalid(key, m))?;
        }
        crate::kafka::check_properties(&s.kafka.properties)
            .map_err(|m| self.invalid("kafka.properties", m))?;
        self.validate_limits()?;
        self.validate_sasl()?;
        self.validate_kafka_tls()?;
        self.validate_cassandra_security()?;
        self.validate_writes()?;
        self.validate_endpoints()
    }

    /// Counts and times the clients could not work with.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        for (key, value) in [
            ("kafka.partitions", s.kafka.partitions),
            ("kafka.replication_factor", s.kafka.replication_factor),
        ] {
            if value < 1 {
                return Err(self.invalid(key, format!("is {value}, must be at least 1")));
            }
        }
        for (key, value) in [
            ("kafka.timeout", s.kafka.timeout),
            ("cassandra.timeout", s.cassandra.timeout),
            ("produce.request_timeout", s.produce.request_timeout),
            ("process.commit_interval", s.process.commit_interval),
        ] {
            if value < MIN_INTERVAL {
                return Err(self.invalid(
                    key,
                    format!(
                        "is {}, must be at least 1ms (the clients count in milliseconds)",
                        humantime::format_duration(value)
                    ),
                ));
            }
        }
        if s.cassandra.ttl > MAX_TTL || s.cassandra.ttl.subsec_nanos() != 0 {
            return Err(self.invalid(
                "cassandra.ttl",
                format!(
                    "is {}: a time to live is whole seconds, at most 20 years (Cassandra's limit), or 0s for none",
                    humantime::format_duration(s.cassandra.ttl)
                ),
            ));
        }
        Ok(())
    }

    /// How records are written: replicas, consistency, rates and sizes.
    fn validate_writes(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        let k = &s.kafka;
        if !(0..=k.replication_factor).contains(&k.min_insync_replicas) {
            return Err(self.invalid(
                "kafka.min_insync_replicas",
                format!(
                    "is {}, must be between 0 (the brokers' default) and kafka.replication_factor ({}): \
                     more copies in sync than exist would refuse every write",
                    k.min_insync_replicas, k.replication_factor
                ),
            ));
        }
        for (key, level) in [
            (
                "cassandra.write_consistency",
                &s.cassandra.write_consistency,
            ),
            ("cassandra.read_consistency", &s.cassandra.read_consistency),
        ] {
            if !CONSISTENCIES.contains(&level.as_str()) {
                return Err(self.invalid(
                    key,
                    format!("`{level}` is not one of {}", CONSISTENCIES.join(", ")),
                ));
            }
        }
        if s.cassandra.read_consistency == "ANY" {
            return Err(self.invalid(
                "cassandra.read_consistency",
                "ANY is for writes only: Cassandra refuses reads at ANY",
            ));
        }
        check_replication(&s.cassandra.replication)
            .map_err(|m| self.invalid("cassandra.replication", m))?;
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
        if s.cassandra.batch_rows > crate::cassandra::MAX_BATCH_ROWS {
            return Err(self.invalid(
                "cassandra.batch_rows",
                format!(
                    "must be between 1 and {} (0 = as the node allows)",
                    crate::cassandra::MAX_BATCH_ROWS
                ),
            ));
        }
        Ok(())
    }

    /// Where users come from and where rtds listens and looks.
    fn validate_endpoints(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        let http_url = |text: &str| {
            reqwest::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
        };
        if s.produce.source != crate::source::BUILTIN && !http_url(&s.produce.source) {
            return Err(self.invalid(
                "produce.source",
                format!(
                    "`{}` is neither `builtin` nor an http(s) URL like https://randomuser.me/api/",
                    masked_source(&s.produce.source)
                ),
            ));
        }
        s.run
            .schedule
            .parse::<crate::schedule::Schedule>()
            .map_err(|m| self.invalid("run.schedule", m))?;
        for (key, address) in [
            ("metrics.listen", &s.metrics.listen),
            ("dashboard.listen", &s.dashboard.listen),
        ] {
            if !address.is_empty() && address.parse::<std::net::SocketAddr>().is_err() {
                return Err(self.invalid(key, format!("`{address}` is not an IP:port address")));
            }
        }
        if s.dashboard.listen.is_empty() {
            return Err(self.invalid("dashboard.listen", "needs an IP:port address"));
        }
        let not_a_name = |host: &&String| {
            host.is_empty() || host.contains(|c: char| c == '/' || c == '@' || c.is_whitespace())
        };
        if let Some(host) = s.dashboard.allowed_hosts.iter().find(not_a_name) {
            return Err(self.invalid(
                "dashboard.allowed_hosts",
                format!("`{host}` is not a host name like dash.example.com (no scheme, no path)"),
            ));
        }
        if let Some(url) = s.dashboard.scrape.iter().find(|url| !http_url(url)) {
            return Err(self.invalid(
                "dashboard.scrape",
                format!(
                    "`{}` is not an http(s) URL like http://127.0.0.1:9100/metrics",
                    masked_source(url)
                ),
            ));
        }
        Ok(())
    }

    /// Security settings that cannot work: a protocol or mechanism librdkafka
    /// does not know fails when the first client is made, far from the
    /// setting; a SASL protocol without a mechanism fails at the first
    /// connection; credentials without a mechanism are silently not used.
    fn validate_sasl(&self) -> Result<(), ConfigError> {
        let k = &self.settings.kafka;
        let one_of = |key: &str, value: &str, known: &[&str]| {
            if known.iter().any(|name| name.eq_ignore_ascii_case(value)) {
                Ok(())
            } else {
                Err(self.invalid(key, format!("`{value}` is not one of {}", known.join(", "))))
            }
        };
        one_of(
            "kafka.security_protocol",
            &k.security_protocol,
            &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        )?;
        if !k.sasl_mechanism.is_empty() {
            one_of(
                "kafka.sasl_mechanism",
                &k.sasl_mechanism,
                &[
                    "PLAIN",
                    "SCRAM-SHA-256",
                    "SCRAM-SHA-512",
                    "GSSAPI",
                    "OAUTHBEARER",
                ],
            )?;
        }
        let sasl_protocol = k
            .security_protocol
            .to_ascii_uppercase()
            .starts_with("SASL_");
        if k.sasl_mechanism.is_empty() {
            if sasl_protocol {
                return Err(self.invalid(
                    "kafka.security_protocol",
                    format!(
                        "{} needs kafka.sasl_mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, ...)",
                        k.security_protocol
                    ),
                ));
            }
            for (key, value) in [
                ("kafka.sasl_username", &k.sasl_username),
                ("kafka.sasl_password", &k.sasl_password),
            ] {
                if !value.is_empty() {
                    return Err(self.invalid(
                        key,
                        "is set but kafka.sasl_mechanism is empty, so it would not be used",
                    ));
                }
            }
        } else if !sasl_protocol {
            return Err(self.invalid(
                "kafka.sasl_mechanism",
                format!(
                    "is set but kafka.security_protocol is {}, which does not use SASL; \
                     use SASL_SSL or SASL_PLAINTEXT",
                    k.security_protocol
                ),
            ));
        }
        Ok(())
    }

    /// Files that cannot be read: refused at load, not at the first connection.
    fn check_readable(&self, files: &[(&str, &String)]) -> Result<(), ConfigError> {
        for (key, path) in files.iter().filter(|(_, path)| !path.is_empty()) {
            if let Err(e) = std::fs::File::open(path) {
                return Err(self.invalid(key, format!("cannot read {path}: {e}")));
            }
        }
        Ok(())
    }

    /// Kafka TLS settings that would be silently unused or fail late:
    /// certificate files that cannot be read, a client certificate without
    /// its key, TLS files for a plaintext protocol.
    fn validate_kafka_tls(&self) -> Result<(), ConfigError> {
        let k = &self.settings.kafka;
        let files = [
            ("kafka.ssl_ca_location", &k.ssl_ca_location),
            (
                "kafka.ssl_certificate_location",
                &k.ssl_certificate_location,
            ),
            ("kafka.ssl_key_location", &k.ssl_key_location),
        ];
        self.check_readable(&files)?;
        let tls = k.security_protocol.eq_ignore_ascii_case("SSL")
            || k.security_protocol.eq_ignore_ascii_case("SASL_SSL");
        if let Some((key, _)) = files.iter().find(|(_, path)| !path.is_empty())
            && !tls
        {
            return Err(self.invalid(
                key,
                format!(
                    "is set but kafka.security_protocol is {}, which does not use TLS; use SSL or SASL_SSL",
                    k.security_protocol
                ),
            ));
        }
        if k.ssl_certificate_location.is_empty() != k.ssl_key_location.is_empty() {
            return Err(self.invalid(
                "kafka.ssl_certificate_location",
                "and kafka.ssl_key_location go together: a client certificate needs its key",
            ));
        }
        if !k.ssl_key_password.is_empty() && k.ssl_key_location.is_empty() {
            return Err(self.invalid(
                "kafka.ssl_key_password",
                "is set but kafka.ssl_key_location is empty, so it would not be used",
            ));
        }
        Ok(())
    }

    /// Cassandra TLS and login settings that would be silently unused or
    /// fail late: files that cannot be read, a client certificate without
    /// its key or without TLS, a user without a password.
    fn validate_cassandra_security(&self) -> Result<(), ConfigError> {
        let c = &self.settings.cassandra;
        self.check_readable(&[
            ("cassandra.tls_ca_file", &c.tls_ca_file),
            ("cassandra.tls_cert_file", &c.tls_cert_file),
            ("cassandra.tls_key_file", &c.tls_key_file),
        ])?;
        if c.tls_cert_file.is_empty() != c.tls_key_file.is_empty() {
            return Err(self.invalid(
                "cassandra.tls_cert_file",
                "and cassandra.tls_key_file go together: a client certificate needs its key",
            ));
        }
        if !c.tls_cert_file.is_empty() && c.tls_ca_file.is_empty() {
            return Err(self.invalid(
                "cassandra.tls_cert_file",
                "is set but cassandra.tls_ca_file is empty, so connections are plain TCP and \
                 it would not be used; set cassandra.tls_ca_file to the CA of the nodes' certificates",
            ));
        }
        if c.username.is_empty() != c.password.is_empty() {
            let (key, missing) = if c.username.is_empty() {
                ("cassandra.password", "cassandra.username")
            } else {
                (
                    "cassandra.username",
                    "cassandra.password (or cassandra.password_file)",
                )
            };
            return Err(self.invalid(
                key,
                format!("is set but {missing} is empty: a login needs both"),
            ));
        }
        Ok(())
    }
}

/// Checks that `text` is a CQL map literal with a `class`, such as
/// `{'class': 'SimpleStrategy', 'replication_factor': 1}`: it goes into the
/// `CREATE KEYSPACE` statement as is, so anything else would fail there, or
/// change the statement.
fn check_replication(text: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!(
            "`{text}` is not a replication map like \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}: {why}"
        )
    };
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| bad("it must be in braces"))?;
    let mut chars = inner.chars().peekable();
    let mut keys = Vec::new();
    let mut class = None;
    loop {
        skip_spaces(&mut chars);
        if chars.peek().is_none() {
            break;
        }
        let key = cql_string(&mut chars).ok_or_else(|| bad("a key is not a quoted string"))?;
        skip_spaces(&mut chars);
        if chars.next() != Some(':') {
            return Err(bad(&format!("`{key}` is not followed by `:`")));
        }
        skip_spaces(&mut chars);
        let value = match chars.peek() {
            Some('\'') => cql_string(&mut chars),
            _ => {
                let word: String = std::iter::from_fn(|| {
                    chars.next_if(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                })
                .collect();
                (!word.is_empty()).then_some(word)
            }
        }
        .ok_or_else(|| {
            bad(&format!(
                "`{key}` has no value (a quoted string or a number)"
            ))
        })?;
        if keys.contains(&key) {
            return Err(bad(&format!("`{key}` is given twice")));
        }
        if key == "class" {
            class = Some(value);
        }
        keys.push(key);
        skip_spaces(&mut chars);
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return Err(bad("entries must be separated by commas")),
        }
    }
    match class {
        Some(class) if !class.is_empty() => Ok(()),
        _ => Err(bad("it needs a 'class'")),
    }
}

fn skip_spaces(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| c.is_whitespace()).is_some() {}
}

/// A CQL string literal at `chars`: `'...'`, with `''` for a quote inside.
fn cql_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    chars.next_if_eq(&'\'')?;
    let mut text = String::new();
    loop {
        match chars.next()? {
            '\'' if chars.next_if_eq(&'\'').is_some() => text.push('\''),
            '\'' => return Some(text),
            c => text.push(c),
        }
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

    /// Applies the `RTDS_` variables of `env`. Each must name a setting or be
    /// one of the [`SCRIPT_VARIABLES`], so that a typo in a section or key is
    /// refused instead of silently doing nothing.
    fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let by_name: BTreeMap<String, String> = self
            .known
            .keys()
            .map(|key| (env_name(key), key.clone()))
            .collect();
        let ours = |name: &str| name.starts_with(ENV_PREFIX) && !is_script_variable(name);
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
                let pairs = text.split(',').filter(|p| !p.trim().is_empty());
                for (n, pair) in pairs.enumerate() {
                    // The entry itself is not shown: it may be (part of) a secret.
                    let (k, v) = pair.split_once('=').ok_or_else(|| {
                        invalid(format!(
                            "entry {} is not key=value (entries are separated by commas; \
                             the entry is not shown, it may hold a secret)",
                            n + 1
                        ))
                    })?;
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
            message: match key {
                "kafka.properties" => "must be a table of text values like \
                    { \"linger.ms\" = \"5\" } (the value is not shown: it may hold a secret)"
                    .into(),
                _ if is_secret_setting(key) => {
                    "must be text (the value is not shown: it may hold a secret)".into()
                }
                _ => e.message().to_string(),
            },
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
    fn defaults_match_the_tutorial() {
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
    fn dashboard_addresses_are_checked() {
        let e = env(&[(
            "RTDS_DASHBOARD_SCRAPE",
            "http://127.0.0.1:9100/metrics,127.0.0.1:9101",
        )]);
        let err = Settings::load_from(None, &e, &[]).unwrap_err().to_string();
        assert!(
            err.contains("dashboard.scrape") && err.contains("`127.0.0.1:9101`"),
            "{err}"
        );
        let flags = [Override::new("dashboard.listen", "--listen", "localhost")];
        let err = Settings::load_from(None, &env(&[]), &flags)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dashboard.listen") && err.contains("--listen"),
            "{err}"
        );
        let e = env(&[(
            "RTDS_DASHBOARD_SCRAPE",
            "http://a:1/metrics,http://b:2/metrics",
        )]);
        let loaded = Settings::load_from(None, &e, &[]).unwrap();
        assert_eq!(loaded.settings.dashboard.scrape.len(), 2);
        let e = env(&[(
            "RTDS_DASHBOARD_ALLOWED_HOSTS",
            "dash.example.com,https://dash.example.com/",
        )]);
        let err = Settings::load_from(None, &e, &[]).unwrap_err().to_string();
        assert!(
            err.contains("dashboard.allowed_hosts") && err.contains("`https://dash.example.com/`"),
            "{err}"
        );
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
    }

    #[test]
    fn env_variable_of_an_unknown_section_is_refused() {
        let err =
            Settings::load_from(None, &env(&[("RTDS_CASANDRA_KEYSPACE", "x")]), &[]).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownKey { .. }), "{err}");
        assert!(err.to_string().contains("RTDS_CASANDRA_KEYSPACE"), "{err}");
    }

    /// Every `RTDS_` name the scripts, tests, benchmarks, DAG and CI use is a
    /// setting or one of the [`SCRIPT_VARIABLES`], so none of them stops rtds.
    #[test]
    fn the_scripts_own_variables_are_allowed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut names = std::collections::BTreeSet::new();
        let mut folders: Vec<PathBuf> = ["scripts", "tests", "benches", "dags", ".ci"]
            .iter()
            .map(|folder| root.join(folder))
            .collect();
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                // tests/settings.rs holds refused names on purpose.
                if path.is_dir() {
                    folders.push(path);
                } else if !path.ends_with("tests/settings.rs") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    names.extend(rtds_names(&text));
                }
            }
        }
        assert!(names.contains("RTDS_STACK_DIR"), "{names:?}");
        assert!(names.contains("RTDS_KAFKA_VERSION"), "{names:?}");
        let known = Layers::new().known;
        for name in names {
            assert!(
                is_script_variable(&name) || known.keys().any(|key| env_name(key) == name),
                "{name} is used around rtds but would be refused; add it to SCRIPT_VARIABLES"
            );
            // One by one, each name loads (settings among them with a valid value).
            let value = setting_of_env(&name)
                .map(|key| match &known[&key] {
                    Value::String(text) => text.clone(),
                    Value::Table(_) => "linger.ms=5".into(),
                    other => other.to_string().trim_matches(['[', ']']).replace('"', ""),
                })
                .unwrap_or_else(|| "1".into());
            let loaded = Settings::load_from(None, &env(&[(&name, &value)]), &[]);
            assert!(loaded.is_ok(), "{name}={value}: {:?}", loaded.err());
        }
    }

    /// Whole `RTDS_X` names in `text`, not counting prefixes like `RTDS_KAFKA_`
    /// nor names inside others like `AIRFLOW_VAR_RTDS_TOPIC`.
    fn rtds_names(text: &str) -> Vec<String> {
        let name_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
        text.match_indices(ENV_PREFIX)
            .filter(|(at, _)| {
                !text[..*at].ends_with(|c: char| name_char(c) || c.is_ascii_lowercase())
            })
            .map(|(at, _)| {
                text[at..]
                    .chars()
                    .take_while(|&c| name_char(c))
                    .collect::<String>()
            })
            .filter(|name| !name.ends_with('_'))
            .collect()
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
            ("RTDS_KAFKA_PROPERTIES", "linger.ms=5,compression.type=lz4"),
        ]);
        let loaded = Settings::load_from(None, &e, &[]).unwrap();
        assert_eq!(loaded.settings.cassandra.contact_points.len(), 2);
        assert_eq!(loaded.settings.kafka.properties["linger.ms"], "5");
        assert_eq!(loaded.settings.kafka.properties["compression.type"], "lz4");
    }

    #[test]
    fn secrets_are_masked() {
        let e = env(&[
            ("RTDS_KAFKA_SASL_MECHANISM", "PLAIN"),
            ("RTDS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("RTDS_KAFKA_SASL_PASSWORD", "s3cret"),
            ("RTDS_CASSANDRA_USERNAME", "rtds_writer"),
            ("RTDS_CASSANDRA_PASSWORD", "pw-c4ss"),
            ("RTDS_PRODUCE_SOURCE", "https://me:urlpa55@api.example/api/"),
        ]);
        let mut settings = Settings::load_from(None, &e, &[]).unwrap().settings;
        // Set here, not loaded: this librdkafka is built without some of
        // them, and a Java login is none of its own; masked all the same.
        settings.kafka.properties.extend(
            [
                ("ssl.key.password", "k3y-pw"),
                ("sasl.oauthbearer.client.secret", "cl1ent"),
                ("sasl.oauthbearer.config", "principal=me clientSecret=0auth"),
                ("sasl.oauthbearer.token.endpoint.url", "https://idp/t0k"),
                ("ssl.key.pem", "PEM-b0dy"),
                (
                    "sasl.jaas.config",
                    r#"ScramLoginModule required password="j4as";"#,
                ),
                (
                    "sasl.jaas.confg",
                    r#"ScramLoginModule required password="typ0";"#,
                ),
                ("linger.ms", "5"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let shown = settings.to_masked_toml();
        for secret in [
            "s3cret", "pw-c4ss", "k3y-pw", "cl1ent", "0auth", "t0k", "PEM-b0dy", "j4as", "typ0",
            "urlpa55",
        ] {
            assert!(!shown.contains(secret), "{secret} shows in {shown}");
        }
        assert!(shown.contains("\"linger.ms\" = \"5\""), "{shown}");
        assert!(shown.contains(r#""sasl.jaas.config" = "***""#), "{shown}");
        assert!(
            shown.contains("source = \"https://me:***@api.example/api/\""),
            "{shown}"
        );
    }

    /// A Java client's login carried over into `kafka.properties`, spelt
    /// right or wrong, is refused at load naming the property (librdkafka
    /// takes neither), as is any property or value librdkafka refuses, and
    /// the error never shows the value.
    #[test]
    fn refused_properties_are_named_without_their_value() {
        let login = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="rtds" password="hunter2";"#;
        for (key, value, why) in [
            ("sasl.jaas.config", login, "librdkafka refuses its value"),
            ("sasl.jaas.confg", login, "librdkafka has no such property"),
            ("linger.msec", "hunter2", "librdkafka has no such property"),
            ("linger.ms", "hunter2", "librdkafka refuses it"),
            (
                "batch.num.messages",
                "99999999",
                "librdkafka refuses its value",
            ),
        ] {
            let text = format!("[kafka.properties]\n{key:?} = {value:?}\n",);
            let f = file(&text);
            let err = Settings::load_from(Some(&f.0), &env(&[]), &[])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`kafka.properties`") && err.contains(&format!("`{key}`: {why}")),
                "{err}"
            );
            assert!(!err.contains(value), "{value} shows in {err}");
        }
    }

    /// Every error about a secret setting, whatever is wrong with it.
    #[test]
    fn errors_never_show_secrets() {
        let from_env = |pairs: &[(&str, &str)]| {
            Settings::load_from(None, &env(pairs), &[])
                .unwrap_err()
                .to_string()
        };
        let from_file = |text: &str| {
            let f = file(text);
            Settings::load_from(Some(&f.0), &env(&[]), &[])
                .unwrap_err()
                .to_string()
        };
        let cases = [
            // A comma inside a password splits it into a malformed entry.
            (
                from_env(&[("RTDS_KAFKA_PROPERTIES", "ssl.key.password=hunter,2pass")]),
                "RTDS_KAFKA_PROPERTIES",
                ["hunter", "2pass"],
            ),
            (
                from_env(&[(
                    "RTDS_KAFKA_PROPERTIES",
                    "sasl.oauthbearer.client.secret:hunter2pass",
                )]),
                "entry 1 is not key=value",
                ["hunter", "2pass"],
            ),
            (
                from_file("[kafka.properties]\n\"ssl.key.password\" = 4242424242\n"),
                "kafka.properties",
                ["4242424242", "4242424242"],
            ),
            (
                from_file("[kafka]\nsasl_password = [\"hunter\", \"2pass\"]\n"),
                "kafka.sasl_password",
                ["hunter", "2pass"],
            ),
            (
                from_file("[cassandra]\npassword = hunter2pass\n"),
                "not valid TOML",
                ["hunter", "2pass"],
            ),
            (
                from_env(&[("RTDS_KAFKA_SASL_PASSWORD", "hunter2pass")]),
                "kafka.sasl_password",
                ["hunter", "2pass"],
            ),
            (
                from_env(&[(
                    "RTDS_PRODUCE_SOURCE",
                    "https://me:hunter2pass@bad host/api/",
                )]),
                "https://me:***@bad host/api/",
                ["hunter", "2pass"],
            ),
            (
                from_env(&[("RTDS_PRODUCE_SOURCE", "ftp://me:hunter2pass@host/users")]),
                "ftp://me:***@host/users",
                ["hunter", "2pass"],
            ),
        ];
        for (err, named, secrets) in cases {
            assert!(err.contains(named), "{err} should name {named}");
            for secret in secrets {
                assert!(!err.contains(secret), "{secret} shows in {err}");
            }
        }
    }

    #[test]
    fn passwords_come_from_files() {
        let secret = file("s3cret-from-a-file\n");
        let path = secret.0.to_str().unwrap();
        let sasl = [
            ("RTDS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("RTDS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("RTDS_KAFKA_SASL_USERNAME", "rtds"),
        ];
        let load = |extra: &[(&str, &str)]| {
            let pairs: Vec<(&str, &str)> = sasl.iter().chain(extra).copied().collect();
            Settings::load_from(None, &env(&pairs), &[])
        };
        let loaded = load(&[
            ("RTDS_KAFKA_SASL_PASSWORD_FILE", path),
            ("RTDS_CASSANDRA_USERNAME", "rtds_writer"),
            ("RTDS_CASSANDRA_PASSWORD_FILE", path),
        ])
        .unwrap()
        .settings;
        // One trailing newline dropped, nothing else.
        assert_eq!(loaded.kafka.sasl_password, "s3cret-from-a-file");
        assert_eq!(loaded.cassandra.password, "s3cret-from-a-file");
        let shown = loaded.to_masked_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains(path),
            "the file's path is no secret: {shown}"
        );

        let both = load(&[
            ("RTDS_KAFKA_SASL_PASSWORD_FILE", path),
            ("RTDS_KAFKA_SASL_PASSWORD", "other"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            both.contains("kafka.sasl_password_file") && both.contains("RTDS_KAFKA_SASL_PASSWORD"),
            "{both}"
        );
        let missing = load(&[("RTDS_KAFKA_SASL_PASSWORD_FILE", "/nonexistent/pw")])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read /nonexistent/pw"), "{missing}");
        let empty = file("\n");
        let empty = load(&[("RTDS_KAFKA_SASL_PASSWORD_FILE", empty.0.to_str().unwrap())])
            .unwrap_err()
            .to_string();
        assert!(empty.contains("is empty"), "{empty}");
        let no_user =
            Settings::load_from(None, &env(&[("RTDS_CASSANDRA_PASSWORD_FILE", path)]), &[])
                .unwrap_err()
                .to_string();
        assert!(no_user.contains("cassandra.username"), "{no_user}");
        assert!(!no_user.contains("s3cret"), "{no_user}");
    }

    #[test]
    fn tls_files_are_checked_where_they_are_set() {
        let load = |pairs: &[(&str, &str)]| {
            Settings::load_from(None, &env(pairs), &[])
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let pem = file("not checked for content here");
        let pem = pem.0.to_str().unwrap();
        let missing = load(&[
            ("RTDS_KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("RTDS_KAFKA_SSL_CA_LOCATION", "/nonexistent/ca.crt"),
        ])
        .unwrap_err();
        assert!(
            missing.contains("kafka.ssl_ca_location") && missing.contains("/nonexistent/ca.crt"),
            "{missing}"
        );
        let unused = load(&[("RTDS_KAFKA_SSL_CA_LOCATION", pem)]).unwrap_err();
        assert!(
            unused.contains("PLAINTEXT") && unused.contains("SSL or SASL_SSL"),
            "{unused}"
        );
        let half = load(&[
            ("RTDS_KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("RTDS_KAFKA_SSL_CERTIFICATE_LOCATION", pem),
        ])
        .unwrap_err();
        assert!(half.contains("kafka.ssl_key_location"), "{half}");
        assert_eq!(
            load(&[
                ("RTDS_KAFKA_SECURITY_PROTOCOL", "SSL"),
                ("RTDS_KAFKA_SSL_CA_LOCATION", pem),
                ("RTDS_KAFKA_SSL_CERTIFICATE_LOCATION", pem),
                ("RTDS_KAFKA_SSL_KEY_LOCATION", pem),
                ("RTDS_CASSANDRA_TLS_CA_FILE", pem),
                ("RTDS_CASSANDRA_TLS_CERT_FILE", pem),
                ("RTDS_CASSANDRA_TLS_KEY_FILE", pem),
            ]),
            Ok(())
        );
        let no_key = load(&[
            ("RTDS_CASSANDRA_TLS_CA_FILE", pem),
            ("RTDS_CASSANDRA_TLS_CERT_FILE", pem),
        ])
        .unwrap_err();
        assert!(no_key.contains("cassandra.tls_key_file"), "{no_key}");
        let no_tls = load(&[
            ("RTDS_CASSANDRA_TLS_CERT_FILE", pem),
            ("RTDS_CASSANDRA_TLS_KEY_FILE", pem),
        ])
        .unwrap_err();
        assert!(
            no_tls.contains("cassandra.tls_ca_file is empty"),
            "{no_tls}"
        );
    }

    #[test]
    fn masked_url_hides_only_the_password() {
        let url = |text: &str| masked_url(&reqwest::Url::parse(text).unwrap());
        assert_eq!(
            url("https://me:pa55@api.example:8443/api/?results=5"),
            "https://me:***@api.example:8443/api/?results=5"
        );
        assert_eq!(url("https://me@api.example/"), "https://me@api.example/");
        assert_eq!(url("http://127.0.0.1:1/api/"), "http://127.0.0.1:1/api/");
    }

    #[test]
    fn replication_must_be_a_map_with_a_class() {
        for good in [
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            " { 'class' : 'NetworkTopologyStrategy', 'dc1': '3', 'dc-2': 2 } ",
            "{'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': 3}",
            "{'class': 'It''s'}",
        ] {
            assert_eq!(check_replication(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("SimpleStrategy", "braces"),
            ("{}", "needs a 'class'"),
            ("{'replication_factor': 1}", "needs a 'class'"),
            ("{'class': ''}", "needs a 'class'"),
            ("{class: 'SimpleStrategy'}", "not a quoted string"),
            ("{'class' 'SimpleStrategy'}", "followed by `:`"),
            ("{'class': }", "has no value"),
            (
                "{'class': 'SimpleStrategy' 'replication_factor': 1}",
                "commas",
            ),
            ("{'class': 'A', 'class': 'B'}", "twice"),
            ("{'class': 'SimpleStrategy}", "has no value"),
            ("{'class': 'S'}; DROP KEYSPACE x; {'a': 1}", "commas"),
        ] {
            let err = check_replication(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err} should say {why}");
        }
    }

    /// The settings block of the README shows every setting with its default,
    /// and nothing else.
    #[test]
    fn the_readme_documents_every_setting() {
        let readme = include_str!("../README.md");
        let section = &readme[readme.find("\n## Settings").expect("a Settings section")..];
        let block = section
            .split_once("```toml\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .expect("a toml block in the Settings section")
            .0;
        let documented: Settings = toml::from_str(block)
            .unwrap_or_else(|e| panic!("README settings block vs declared settings: {e}"));
        assert_eq!(documented, Settings::default());
    }
}
