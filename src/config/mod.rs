//! Settings, in layers: built-in defaults < config file (`rtds.toml`, or
//! `--config PATH`) < environment (`RTDS_SECTION_KEY`) < command-line flags.
//!
//! Every layer is reduced to dotted keys (`kafka.topic`) so that one code path
//! applies them all, checks each value against its type as it lands, and can
//! say which key from which source was wrong. The effective settings remember
//! where each value came from, so validation errors name the source too.
//!
//! Here: the sections' structs with their defaults, and what loading
//! returns. `layers` reads the file, the environment and the flags;
//! `validate` checks what types alone cannot; `secrets` masks passwords
//! and reads password files.
//!
//! To add a setting, touch:
//! 1. its field, with a doc comment (what, unit, default, why change it), in
//!    the section struct below; the file key and the `RTDS_` variable follow
//!    from the field's name;
//! 2. its default in `impl Default for Settings`;
//! 3. `Loaded::validate` (`validate.rs`), when its type alone admits values that misbehave;
//! 4. the settings block of `docs/SETTINGS.md` (a test compares it
//!    with the defaults);
//! 5. `Cli::overrides` in `src/main.rs`, when it also gets a flag;
//! 6. `tests/settings.rs`, a row per value that is refused.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod layers;
mod secrets;
#[cfg(test)]
mod tests;
mod validate;

pub use secrets::{is_secret_property, masked_source, masked_url};

/// The config file read when `--config` is not given and it exists.
pub const DEFAULT_FILE: &str = "rtds.toml";

/// The public Random User API: the default `produce.source`, as in the
/// tutorial.
pub const RANDOMUSER_URL: &str = "https://randomuser.me/api/";

/// `produce.source = "builtin"`: users made in-process, no network.
pub const BUILTIN: &str = "builtin";

/// The most rows rtds puts in one batch (`cassandra.batch_rows`), whatever
/// the node allows: past a few dozen, a bigger batch saves nothing more.
pub const MAX_BATCH_ROWS: usize = 64;

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
    /// `[registry]`: the schema registry of Avro, Protobuf and JSON Schema
    /// topics.
    pub registry: RegistrySettings,
    /// `[[mapping]]`: topics into tables other than the built-in users one
    /// (checked when the settings load; `rtds schema` creates their
    /// tables); none by default.
    #[serde(default)]
    pub mapping: Vec<crate::mapping::MappingSpec>,
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
    /// What the users topic's records are: `json` (default), or `avro` in
    /// the schema registry's wire format, its schema registered under
    /// `<topic>-value` at `registry.url`. `rtds produce` writes it and
    /// `rtds process` reads it (through the built-in mapping).
    pub format: crate::mapping::Format,
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
    /// How long a batch waits for more rows before it is sent anyway, while
    /// the node is busy (writes under way, retrying ones included, fill half
    /// the allowed writes or more; an idle node gets each batch at once);
    /// default 2ms. Longer fills batches at high rates, at that cost in
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
    /// negative value is refused. Records leave evenly at this pace, each at
    /// its own time, and a page then holds at most a second of them.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Base URL of a schema registry that speaks the Confluent API (for
    /// Apicurio, ending in `/apis/ccompat/v7`); default empty = none. Needed
    /// when a mapping's `format` is avro, protobuf or json-schema. A
    /// password in the URL is never shown.
    pub url: String,
    /// User name for HTTP basic authentication; default empty = none.
    pub username: String,
    /// Password for `username`; default empty. Never shown; better given
    /// as `RTDS_REGISTRY_PASSWORD` or through `password_file`.
    pub password: String,
    /// File that holds the password, read at start; default empty. Set
    /// this or `password`, not both.
    pub password_file: String,
    /// CA certificate (PEM file) of an `https` registry; default empty =
    /// the system's CAs.
    pub ca_file: String,
    /// How long one request to the registry may take before it is retried;
    /// default 10s, at least 1ms. A registry that does not answer holds
    /// the records that need it, as an outage of Cassandra does.
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    /// Schemas kept parsed at once, at least 1; default 1000. Each is
    /// fetched once by its id (ids never change their schema); past this
    /// many the least recently used is dropped and fetched again when a
    /// record needs it.
    pub cache_schemas: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            url: String::new(),
            username: String::new(),
            password: String::new(),
            password_file: String::new(),
            ca_file: String::new(),
            timeout: Duration::from_secs(10),
            cache_schemas: 1000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            kafka: KafkaSettings {
                bootstrap_servers: "127.0.0.1:9092".into(),
                topic: "users_created".into(),
                dlq_topic: String::new(),
                format: crate::mapping::Format::Json,
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
                source: RANDOMUSER_URL.into(),
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
            registry: RegistrySettings::default(),
            mapping: Vec::new(),
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
