//! Shared test harness: the real local Kafka and Cassandra (started by
//! `scripts/stack up`), unique names so tests never share data, the local
//! Random User API server, and helpers to run the `rtds` binary.

#![allow(dead_code)] // each test binary uses a different part of the harness

mod site;
pub use site::Site;

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use rtds::cassandra::Store;
use rtds::config::{Override, Settings};
use rtds::tools::randomuser_server::{self as server, ServerArgs};
use rtds::user::User;
use tokio_util::sync::CancellationToken;

pub const KAFKA: &str = "127.0.0.1:9092";
pub const CASSANDRA: &str = "127.0.0.1:9042";
/// The stack's schema registry (`scripts/stack up --registry`).
pub const REGISTRY: &str = "127.0.0.1:8081";
/// Its Confluent API, as `registry.url` takes it.
pub const REGISTRY_URL: &str = "http://127.0.0.1:8081/apis/ccompat/v7";

/// Fails the test, saying how to start the stack, when a service is down.
pub fn require_stack() {
    for (name, address) in [("Kafka", KAFKA), ("Cassandra", CASSANDRA)] {
        let addr: SocketAddr = address.parse().unwrap();
        if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
            panic!(
                "{name} is not reachable at {address}: these tests need the local stack. \
                 Start it with `scripts/stack up` (or run everything with `scripts/test`)."
            );
        }
    }
}

/// [`require_stack`], and the schema registry too.
pub fn require_registry() {
    require_stack();
    let addr: SocketAddr = REGISTRY.parse().unwrap();
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
        panic!(
            "the schema registry is not reachable at {REGISTRY}: these tests need it. \
             Start it with `scripts/stack up --registry` (or run everything with `scripts/test`)."
        );
    }
}

/// A name no other test (or earlier run) uses: `rtds_test_<what>_<random>`.
pub fn unique(what: &str) -> String {
    format!(
        "rtds_test_{what}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Settings for a test: defaults, one topic, DLQ and keyspace of its own.
pub fn settings(topic: &str, keyspace: &str) -> Settings {
    settings_from(Path::new("/dev/null"), topic, keyspace)
}

/// [`settings`] over the settings file `config`.
fn settings_from(config: &Path, topic: &str, keyspace: &str) -> Settings {
    let flags = [
        Override::new("kafka.topic", "test", topic),
        Override::new("kafka.group_id", "test", format!("{topic}-group")),
        Override::new("cassandra.keyspace", "test", keyspace),
    ];
    Settings::load_from(Some(config), &Default::default(), &flags)
        .expect("test settings are valid")
        .settings
}

/// `rtds --config /dev/null ARGS` without the RTDS_* variables of the test's
/// own environment: tests see only the settings they pass.
pub fn rtds_command(args: &[&str]) -> Command {
    rtds_command_with_config(Path::new("/dev/null"), args)
}

/// [`rtds_command`] with the config file `config`.
pub fn rtds_command_with_config(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rtds"));
    command.arg("--config").arg(config).args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("RTDS_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `rtds ARGS` (see [`rtds_command`]) to completion.
pub fn rtds(args: &[&str]) -> Output {
    rtds_command(args).output().expect("the rtds binary runs")
}

/// The output as text, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Checks that `output` is a failure whose stderr names every one of `words`,
/// and returns stderr.
pub fn assert_fails_naming(output: &Output, words: &[&str]) -> String {
    assert!(!output.status.success(), "{}", text(output));
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    for word in words {
        assert!(
            err.contains(word),
            "stderr should name {word}: {}",
            text(output)
        );
    }
    err
}

/// `rtds produce --source builtin --count COUNT` into `topic`, which must
/// succeed; returns its `--json` summary.
pub fn produce_builtin(topic: &str, count: u64) -> serde_json::Value {
    produce_builtin_with(topic, count, &[])
}

/// [`produce_builtin`] with `extra` flags after its own (`--format avro`).
pub fn produce_builtin_with(topic: &str, count: u64, extra: &[&str]) -> serde_json::Value {
    let count = count.to_string();
    let flags = [
        "produce", "--topic", topic, "--source", "builtin", "--count", &count, "--json",
    ];
    let output = rtds(&[&flags[..], extra].concat());
    assert!(output.status.success(), "{}", text(&output));
    json_summary(&output)
}

/// `rtds produce --delete` of every id in `ids` into `topic`, which must
/// succeed.
pub fn produce_tombstones(topic: &str, ids: &[uuid::Uuid]) {
    let mut args = vec![
        "produce".to_string(),
        "--topic".into(),
        topic.into(),
        "--json".into(),
    ];
    for id in ids {
        args.extend(["--delete".to_string(), id.to_string()]);
    }
    let output = rtds(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(json_summary(&output)["acked"], ids.len() as u64);
}

/// `rtds process --until-idle IDLE` of `topic` into `keyspace` in the group
/// `<topic>-group`, which must succeed; returns its `--json` summary.
pub fn process_until_idle(topic: &str, keyspace: &str, idle: &str) -> serde_json::Value {
    process_until_idle_with(topic, keyspace, idle, &[])
}

/// [`process_until_idle`] with `extra` flags before its own (`--format avro`).
pub fn process_until_idle_with(
    topic: &str,
    keyspace: &str,
    idle: &str,
    extra: &[&str],
) -> serde_json::Value {
    let flags = [extra, &["--until-idle", idle, "--json"]].concat();
    let output = process_command(topic, keyspace, &flags)
        .output()
        .expect("the rtds binary runs");
    assert!(output.status.success(), "{}", text(&output));
    json_summary(&output)
}

/// `rtds dlq ARGS --json` for `topic`, its processors' group
/// `<topic>-group`, with `env`, which must succeed: the JSON lines it
/// prints.
pub fn dlq_json(topic: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut command = rtds_command(&["dlq"]);
    command.args(args).args(["--topic", topic, "--json"]);
    command.envs(env.iter().copied());
    command.env("RTDS_KAFKA_GROUP_ID", format!("{topic}-group"));
    let output = command.output().expect("the rtds binary runs");
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// `rtds dlq replay --json` for `topic` and its processors' group, with
/// `env`, which must succeed: its summary and what it logged.
pub fn dlq_replay(topic: &str, env: &[(&str, &str)]) -> (serde_json::Value, String) {
    let output = rtds_command(&["dlq", "replay", "--topic", topic, "--json"])
        .envs(env.iter().copied())
        .env("RTDS_KAFKA_GROUP_ID", format!("{topic}-group"))
        .output()
        .expect("the rtds binary runs");
    assert!(output.status.success(), "{}", text(&output));
    let logged = String::from_utf8_lossy(&output.stderr).into_owned();
    (json_summary(&output), logged)
}

/// About 2 MB of JSON that compresses to a few kB: the broker takes it,
/// since its size limit applies to the compressed batch.
pub fn compressible_record() -> Vec<u8> {
    format!(
        r#"{{"id":"{}","first_name":"{}"}}"#,
        uuid::Uuid::new_v4(),
        "a".repeat(2_000_000)
    )
    .into_bytes()
}

/// Creates `topic` with `partitions` and the topic settings `config`
/// (`max.message.bytes`, ...).
pub fn create_topic(topic: &str, partitions: i32, config: &[(&str, &str)]) {
    create_topic_on(Site::Local, topic, partitions, config);
}

/// [`create_topic`] on `site`, with as many replicas as it has nodes.
pub fn create_topic_on(site: Site, topic: &str, partitions: i32, config: &[(&str, &str)]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", site.kafka())
        .create()
        .unwrap();
    let replicas = TopicReplication::Fixed(site.replicas());
    let new = config.iter().fold(
        NewTopic::new(topic, partitions, replicas),
        |new, (key, value)| new.set(key, value),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let results = runtime
        .block_on(admin.create_topics([&new], &AdminOptions::new()))
        .unwrap();
    for result in results {
        result.unwrap();
    }
}

/// The flags that point `rtds status` or `rtds dashboard` at the test's
/// topic, its group `<topic>-group`, its keyspace and the builtin source.
pub fn pipeline_flags(topic: &str, keyspace: &str) -> Vec<String> {
    let group = format!("{topic}-group");
    [
        "--topic",
        topic,
        "--group",
        &group,
        "--keyspace",
        keyspace,
        "--source",
        "builtin",
    ]
    .map(str::to_string)
    .to_vec()
}

/// `rtds process` of `topic` into `keyspace` in the group `<topic>-group`,
/// with `extra` flags.
pub fn process_command(topic: &str, keyspace: &str, extra: &[&str]) -> Command {
    process_command_on(Site::Local, topic, keyspace, extra)
}

/// [`process_command`] with `site`'s settings.
pub fn process_command_on(site: Site, topic: &str, keyspace: &str, extra: &[&str]) -> Command {
    let mut command = site.rtds(&["process", "--topic", topic, "--keyspace", keyspace]);
    command
        .args(["--group", &format!("{topic}-group")])
        .args(extra);
    command
}

/// The offsets `group` has committed on each partition of `topic`, by
/// partition (`Offset::Invalid` where it has none).
pub fn committed_offsets(topic: &str, group: &str) -> BTreeMap<i32, Offset> {
    fetch_committed(Site::Local, topic, group)
        .unwrap_or_else(|e| panic!("the commit points of {group} in {topic}: {e}"))
}

/// [`committed_offsets`], or Kafka's error (the group's coordinator may be
/// loading after a broker restart).
fn fetch_committed(
    site: Site,
    topic: &str,
    group: &str,
) -> rdkafka::error::KafkaResult<BTreeMap<i32, Offset>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", site.kafka())
        .set("group.id", group)
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut partitions = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        partitions.add_partition(topic, partition.id());
    }
    Ok(consumer
        .committed_offsets(partitions, Duration::from_secs(10))?
        .elements()
        .iter()
        .map(|element| (element.partition(), element.offset()))
        .collect())
}

/// The records of `topic` on `site` past `group`'s commit point, by
/// partition (one never committed counts from its start); none while Kafka
/// does not answer.
pub fn group_lag(site: Site, topic: &str, group: &str) -> Option<BTreeMap<i32, i64>> {
    let committed = fetch_committed(site, topic, group).ok()?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", site.kafka())
        .create()
        .ok()?;
    committed
        .into_iter()
        .map(|(partition, offset)| {
            let (_, high) = consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(5))
                .ok()?;
            Some((
                partition,
                high - offset.to_raw().filter(|&o| o >= 0).unwrap_or(0),
            ))
        })
        .collect()
}

/// Drops the table `keyspace.created_users`, under whatever writes to it.
pub fn drop_table(keyspace: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        session()
            .await
            .query_unpaged(format!("DROP TABLE {keyspace}.created_users"), ())
            .await
            .unwrap();
    });
}

/// True when `log` shows an assignment of at least one partition
/// (`assigned partitions [0, 1]`): in a cooperative group a member also
/// logs `assigned partitions []` when a rebalance gave it nothing.
pub fn owns_partitions(log: &str) -> bool {
    log.lines().any(|line| {
        line.split_once("assigned partitions [")
            .is_some_and(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// [`process_command`] running until dropped, its output dropped.
pub fn processor(topic: &str, keyspace: &str, extra: &[&str]) -> Background {
    let child = process_command(topic, keyspace, extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the rtds binary runs");
    Background(child)
}

/// Every stored row of the test's table, by id.
pub fn stored_rows(topic: &str, keyspace: &str) -> HashMap<uuid::Uuid, User> {
    stored_rows_on(Site::Local, topic, keyspace)
}

/// [`stored_rows`] on `site`, read with its settings (a quorum on the
/// cluster).
pub fn stored_rows_on(site: Site, topic: &str, keyspace: &str) -> HashMap<uuid::Uuid, User> {
    let settings = settings_from(&site.config(), topic, keyspace);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(&settings.cassandra).await.unwrap();
        let users = store.users(10_000_000).await.unwrap();
        users.into_iter().map(|u| (u.id, u)).collect()
    })
}

/// The valid records on `topic` (see [`read_topic`]), by id.
pub fn topic_records(topic: &str, expected: usize) -> HashMap<uuid::Uuid, User> {
    read_topic(topic, expected)
        .iter()
        .filter_map(|m| User::parse(m.payload().unwrap_or_default(), 1 << 20).ok())
        .map(|u| (u.id, u))
        .collect()
}

/// Waits until the table of `store` holds at least `rows` rows, failing the
/// test after `within`; returns the count seen.
pub fn wait_for_rows(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    rows: u64,
    within: Duration,
) -> u64 {
    let started = Instant::now();
    loop {
        let count = runtime.block_on(store.count()).unwrap();
        if count >= rows {
            return count;
        }
        assert!(
            started.elapsed() < within,
            "{count} rows after {within:?}, expected {rows}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `condition` holds, failing the test with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < within, "{what}: not after {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last stdout line parsed as JSON (the `--json` summary).
pub fn json_summary(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no summary: {}", text(output)));
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("summary is not JSON ({e}): {}", text(output)))
}

/// The local Random User API server on a free port; stops when dropped.
pub struct ApiServer {
    pub url: String,
    stop: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ApiServer {
    pub fn start(args: ServerArgs) -> ApiServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/api/", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        runtime.spawn(async move {
            server::serve(listener, args, async move { stopped.cancelled().await })
                .await
                .unwrap();
        });
        ApiServer {
            url,
            stop,
            runtime: Some(runtime),
        }
    }

    /// Default server: no faults.
    pub fn healthy() -> ApiServer {
        Self::start(server_args(0.0, 0.0))
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

pub fn server_args(fail_rate: f64, malformed_rate: f64) -> ServerArgs {
    ServerArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        fail_rate,
        malformed_rate,
        latency: Duration::ZERO,
        rate_limited: 0,
        retry_after: 1,
    }
}

/// A consumer of its own group for reading topics by hand.
fn reader(site: Site) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", site.kafka())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Assigns every partition of `topic` to `consumer` from the beginning;
/// false when the topic does not exist (yet).
fn assign_from_beginning(consumer: &BaseConsumer, topic: &str) -> bool {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    assignment.count() > 0
}

/// Every message on `topic`, read from the beginning of each partition until
/// `expected` arrived or nothing new came for a few seconds.
pub fn read_topic(topic: &str, expected: usize) -> Vec<OwnedMessage> {
    read_topic_on(Site::Local, topic, expected)
}

/// [`read_topic`] on `site`.
pub fn read_topic_on(site: Site, topic: &str, expected: usize) -> Vec<OwnedMessage> {
    let consumer = reader(site);
    assign_from_beginning(&consumer, topic);
    let mut messages = Vec::new();
    let mut quiet = Instant::now();
    while messages.len() < expected && quiet.elapsed() < Duration::from_secs(5) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                messages.push(message.detach());
                quiet = Instant::now();
            }
            Some(Err(error)) => panic!("reading {topic}: {error}"),
            None => {}
        }
    }
    // Anything beyond `expected` would be a duplicate: give it a moment to show.
    if messages.len() == expected {
        while let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
            messages.push(message.detach());
        }
    }
    messages
}

/// Waits until `topic` exists and holds a message, failing the test after
/// `within`: the sign that a producer is under way.
pub fn wait_for_a_message(topic: &str, within: Duration) {
    let consumer = reader(Site::Local);
    wait_until(&format!("a message on {topic}"), within, || {
        assign_from_beginning(&consumer, topic)
            && matches!(consumer.poll(Duration::from_millis(200)), Some(Ok(_)))
    });
}

/// Sends raw payloads (valid or not) to `topic`, waiting for each acknowledgement.
pub fn send_raw(topic: &str, payloads: &[Vec<u8>]) {
    send_raw_with(topic, payloads, &[]);
}

/// [`send_raw`] with producer settings of the test's own.
pub fn send_raw_with(topic: &str, payloads: &[Vec<u8>], config: &[(&str, &str)]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let mut settings = ClientConfig::new();
    settings.set("bootstrap.servers", KAFKA).set("acks", "all");
    for (key, value) in config {
        settings.set(*key, *value);
    }
    let producer: BaseProducer = settings.create().unwrap();
    for payload in payloads {
        producer
            .send(BaseRecord::<(), _>::to(topic).payload(payload))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A producer to the local Kafka that writes each record once, in the
/// order sent, for tests that send keyed records of their own.
pub fn idempotent_producer() -> rdkafka::producer::BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("enable.idempotence", "true")
        .create()
        .unwrap()
}

/// The payload of a message as a JSON value.
pub fn payload_json(message: &OwnedMessage) -> serde_json::Value {
    serde_json::from_slice(message.payload().unwrap()).unwrap()
}

/// A CQL session to the local node.
pub async fn session() -> scylla::client::session::Session {
    scylla::client::session_builder::SessionBuilder::new()
        .known_node(CASSANDRA)
        .build()
        .await
        .unwrap()
}

/// A session to the local Cassandra with a new single-replica keyspace of
/// that name, for tests that set up tables by hand.
pub async fn session_with_keyspace(keyspace: &str) -> scylla::client::session::Session {
    let session = session().await;
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
            ),
            (),
        )
        .await
        .unwrap();
    session
}

/// A row type that owns its values.
pub trait Row: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> {}
impl<R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>> Row for R {}

/// A session to the local node, with a runtime to run its reads: for
/// tests that read tables rtds made, row by row.
pub struct Cql {
    runtime: tokio::runtime::Runtime,
    session: scylla::client::session::Session,
}

impl Cql {
    pub fn new() -> Cql {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let session = runtime.block_on(session());
        Cql { runtime, session }
    }

    /// The rows `cql` selects, or why it cannot (a table not made yet).
    pub fn try_select<R: Row>(&self, cql: &str) -> Result<Vec<R>, String> {
        self.runtime.block_on(async {
            let result = self.session.query_unpaged(cql, ()).await;
            let rows = result.map_err(|e| e.to_string())?.into_rows_result();
            let rows = rows.map_err(|e| e.to_string())?;
            let typed = rows.rows::<R>().map_err(|e| e.to_string())?;
            typed.map(|row| row.map_err(|e| e.to_string())).collect()
        })
    }

    pub fn select<R: Row>(&self, cql: &str) -> Vec<R> {
        self.try_select(cql)
            .unwrap_or_else(|e| panic!("{cql}: {e}"))
    }

    /// The rows of `table`; none while it does not exist.
    pub fn count(&self, table: &str) -> Option<i64> {
        let counted = self.try_select::<(i64,)>(&format!("SELECT COUNT(*) FROM {table}"));
        counted.ok().map(|rows| rows[0].0)
    }
}

/// A settings file of the test's own for `rtds process` with `[[mapping]]`
/// entries: the local stack, a consumer group and a DLQ topic no other
/// test uses. The folder goes when it is dropped.
pub struct Pipeline {
    _dir: tempfile::TempDir,
    pub config: PathBuf,
    pub group: String,
    pub dlq: String,
}

impl Pipeline {
    /// The entries `mappings`.
    pub fn new(mappings: &[String]) -> Pipeline {
        Pipeline::write("mapped", "", mappings)
    }

    /// The entries `mappings`, and the stack's schema registry.
    pub fn with_registry(mappings: &[String]) -> Pipeline {
        let registry = format!("\n[registry]\nurl = \"{REGISTRY_URL}\"\n");
        Pipeline::write("registry", &registry, mappings)
    }

    /// The settings, `sections` after the stack's; the group's and DLQ's
    /// names begin with `what`.
    fn write(what: &str, sections: &str, mappings: &[String]) -> Pipeline {
        let (group, dlq) = (
            unique(&format!("{what}_group")),
            unique(&format!("{what}_dlq")),
        );
        let text = format!(
            "[kafka]\nbootstrap_servers = \"{KAFKA}\"\ngroup_id = \"{group}\"\ndlq_topic = \"{dlq}\"\n\n\
             [cassandra]\ncontact_points = [\"{CASSANDRA}\"]\n{sections}{}",
            mappings.concat()
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("rtds.toml");
        std::fs::write(&config, text).unwrap();
        Pipeline {
            _dir: dir,
            config,
            group,
            dlq,
        }
    }

    /// `rtds process ARGS` with these settings.
    pub fn command(&self, args: &[&str]) -> Command {
        rtds_command_with_config(&self.config, &[&["process"], args].concat())
    }

    /// `rtds process --until-idle 5s --json ARGS`, which must succeed; its
    /// summary.
    pub fn process_until_idle(&self, args: &[&str]) -> serde_json::Value {
        let output = self
            .command(&[&["--until-idle", "5s", "--json"], args].concat())
            .output()
            .expect("the rtds binary runs");
        assert!(output.status.success(), "{}", text(&output));
        json_summary(&output)
    }

    /// The offsets the group committed on `topic`, summed: the records it
    /// is done with.
    pub fn committed(&self, topic: &str) -> i64 {
        committed_offsets(topic, &self.group)
            .values()
            .map(|offset| match offset {
                Offset::Offset(next) => *next,
                _ => 0,
            })
            .sum()
    }
}

/// Sends `signal` (e.g. "-TERM", "-STOP") to process `pid` with kill(1).
pub fn send_signal(signal: &str, pid: &str) {
    let status = Command::new("kill").args([signal, pid]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// The local stack's state folder (where `scripts/stack` keeps pid files).
pub fn stack_dir() -> std::path::PathBuf {
    std::env::var("RTDS_STACK_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".stack"))
}

/// For tests that stop, freeze or kill the stack's own processes: one such
/// test at a time within a test file (cargo runs the files one after
/// another, so no other file sees the fault), and the stack up before each.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    let guard = exclusive_on(Site::Local);
    require_stack();
    guard
}

/// [`exclusive`] on `site`.
pub fn exclusive_on(site: Site) -> std::sync::MutexGuard<'static, ()> {
    static STACK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = STACK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    site.up();
    guard
}

/// A service of the stack killed with SIGKILL, as a crash would; brought
/// back by [`Killed::restart`], or when dropped (also when the test fails),
/// so the tests after it find the stack up.
pub struct Killed {
    site: Site,
    restarted: bool,
}

impl Killed {
    pub fn service(service: &str) -> Killed {
        Killed::on(Site::Local, service)
    }

    /// `service` of `site` killed.
    pub fn on(site: Site, service: &str) -> Killed {
        let pid = site.pid(service);
        send_signal("-KILL", &pid);
        let address = site.address(service);
        // Its port refusing connections is what counts: a killed JVM's
        // threads exit one by one, and its sockets close with the last one,
        // well after its main thread shows as a zombie.
        wait_until(
            &format!("{service} (pid {pid}) to close {address}"),
            Duration::from_secs(30),
            || TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err(),
        );
        Killed {
            site,
            restarted: false,
        }
    }

    pub fn restart(mut self) {
        self.site.up();
        self.restarted = true;
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if !self.restarted {
            self.site.up();
        }
    }
}

/// A service of the stack frozen with SIGSTOP until dropped (also when the
/// test fails).
pub struct Frozen(String);

impl Frozen {
    pub fn service(service: &str) -> Frozen {
        Frozen::on(Site::Local, service)
    }

    /// `service` of `site` frozen.
    pub fn on(site: Site, service: &str) -> Frozen {
        let pid = site.pid(service);
        send_signal("-STOP", &pid);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        send_signal("-CONT", &self.0);
    }
}

/// A free port on 127.0.0.1, for a child's `--metrics-listen`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body, `None`
/// while nothing answers there.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let host = format!("127.0.0.1:{port}");
    http_request(port, path, Some(&host), Duration::from_secs(10))
}

/// [`http_get`] with the Host header `host` (none when `None`), waiting at
/// most `wait` for the answer.
pub fn http_request(
    port: u16,
    path: &str,
    host: Option<&str>,
    wait: Duration,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    let host = host
        .map(|host| format!("Host: {host}\r\n"))
        .unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.0\r\n{host}\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// One counter or gauge from a job's /metrics on `port`, `None` while it
/// does not answer yet.
pub fn metric(port: u16, name: &str) -> Option<u64> {
    let (_, text) = http_get(port, "/metrics")?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

/// A counter of the job on `port`, failing the test when its /metrics is
/// silent or lacks it: a check that read 0 there would pass whatever the
/// job did (a job that died "wrote fewer than all").
pub fn counter(port: u16, name: &str) -> u64 {
    metric(port, name).unwrap_or_else(|| {
        panic!("no {name} on http://127.0.0.1:{port}/metrics: the job does not answer there")
    })
}

/// Waits until the job on `port` answers /metrics with `name` at least
/// `at_least`, failing the test after `within`; returns the value seen.
pub fn wait_for_count(port: u16, name: &str, at_least: u64, within: Duration) -> u64 {
    let started = Instant::now();
    loop {
        let seen = metric(port, name);
        if let Some(count) = seen.filter(|&count| count >= at_least) {
            return count;
        }
        assert!(
            started.elapsed() < within,
            "{name} on port {port}: {seen:?} after {within:?}, expected at least {at_least}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP relay in front of the local Cassandra that a test can stall:
/// frozen, it passes no byte either way, as a node that stopped answering
/// would, while the node other tests share goes on. Given as the contact
/// point it is the only way to the node: the driver reaches a node at the
/// contact point's port. Thawed when dropped.
pub struct CqlProxy {
    /// `127.0.0.1:PORT`, for `--contact-points`.
    pub address: String,
    frozen: Arc<AtomicBool>,
}

impl CqlProxy {
    pub fn start() -> CqlProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let frozen = Arc::new(AtomicBool::new(false));
        let relays = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(node) = TcpStream::connect(CASSANDRA) else {
                    continue;
                };
                let (client_out, node_out) =
                    (client.try_clone().unwrap(), node.try_clone().unwrap());
                for (from, to) in [(client, node_out), (node, client_out)] {
                    let frozen = relays.clone();
                    std::thread::spawn(move || relay(from, to, &frozen));
                }
            }
        });
        CqlProxy { address, frozen }
    }

    /// From now on nothing passes, until [`CqlProxy::thaw`].
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }
}

impl Drop for CqlProxy {
    fn drop(&mut self) {
        self.thaw();
    }
}

/// Copies `from` to `to` until either closes, holding what it read while
/// `frozen`.
fn relay(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool) {
    use std::io::{Read, Write};
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(read @ 1..) = from.read(&mut buffer) {
        while frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// `command`, a job that processes `topic` (`rtds process` or `rtds run`),
/// spawned with its node behind a [`CqlProxy`] and /metrics on a port of
/// its own; once it owns partitions the relay freezes and records arrive.
/// Returns once it has records in flight: writes that will not answer
/// within `cassandra.timeout` (30 s), so a drain waits on them.
pub fn writes_stuck_on_a_frozen_node(topic: &str, mut command: Command) -> (Followed, CqlProxy) {
    let proxy = CqlProxy::start();
    let port = free_port();
    command
        .args(["--contact-points", &proxy.address])
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .env("RTDS_CASSANDRA_TIMEOUT", "30s");
    let job = Followed::spawn(command);
    wait_until("the job owning partitions", Duration::from_secs(60), || {
        owns_partitions(&job.logged())
    });
    proxy.freeze();
    produce_builtin(topic, 1_000);
    wait_for_count(port, "rtds_records_in_flight", 1, Duration::from_secs(30));
    (job, proxy)
}

/// Sends SIGTERM to `job`, waits until it says it drains, and sends a
/// second one: the job must end at once with status 130 (docs/DELIVERY.md, Signals).
/// Its drain must be held up (a request in flight that does not answer),
/// or it could end cleanly between the two signals.
pub fn assert_second_signal_aborts(job: Followed) {
    let pid = job.pid();
    send_signal("-TERM", &pid);
    wait_until("the drain started", Duration::from_secs(10), || {
        job.logged().contains("finishing in-flight work")
    });
    send_signal("-TERM", &pid);
    let output = job.wait_within(Duration::from_secs(5));
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    assert!(
        text(&output).contains("second signal, exiting at once"),
        "{}",
        text(&output)
    );
}

/// A child process that is killed when dropped, also when the test fails.
pub struct Background(pub std::process::Child);

impl Background {
    pub fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child whose stderr is read as it comes, so that a test can wait on a
/// log line; killed when dropped, like [`Background`].
pub struct Followed {
    child: Background,
    logged: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Followed {
    /// Spawns `command` with stdout and stderr piped.
    pub fn spawn(mut command: Command) -> Followed {
        use std::io::BufRead;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the command runs");
        let stderr = child.stderr.take().expect("stderr is piped");
        let logged = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = std::thread::spawn({
            let logged = logged.clone();
            move || {
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    let mut logged = logged.lock().unwrap();
                    logged.push_str(&line);
                    logged.push('\n');
                }
            }
        });
        Followed {
            child: Background(child),
            logged,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> String {
        self.child.pid()
    }

    /// Whether it has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_some()
    }

    /// Waits for its exit as [`Followed::wait`] does, failing the test with
    /// what it logged when it has not exited after `within`.
    pub fn wait_within(mut self, within: Duration) -> Output {
        let started = Instant::now();
        while !self.exited() {
            assert!(
                started.elapsed() < within,
                "still running after {within:?}; it logged:\n{}",
                self.logged()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait()
    }

    /// What it wrote to stderr so far.
    pub fn logged(&self) -> String {
        self.logged.lock().unwrap().clone()
    }

    /// Waits for its exit: its status, stdout and the whole of its stderr.
    pub fn wait(mut self) -> Output {
        let mut stdout = Vec::new();
        if let Some(mut out) = self.child.0.stdout.take() {
            std::io::Read::read_to_end(&mut out, &mut stdout).unwrap();
        }
        let status = self.child.0.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        Output {
            status,
            stdout,
            stderr: self.logged().into_bytes(),
        }
    }
}

/// The number of messages in `topic`: over its partitions, the high
/// watermark less the low one. It counts every record appended, a duplicate
/// too, whatever a read returns. 0 when the topic does not exist.
pub fn topic_size(topic: &str) -> i64 {
    topic_size_on(Site::Local, topic)
}

/// [`topic_size`] on `site`. A count Kafka does not answer
/// (a broker restarting, a leader moving) is asked again for 30 s, then
/// fails the test naming why: a count that could not be read is not 0.
pub fn topic_size_on(site: Site, topic: &str) -> i64 {
    let bootstrap = site.kafka();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let started = Instant::now();
    loop {
        match count_messages(&consumer, topic) {
            Ok(size) => return size,
            Err(error) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "cannot count the messages of {topic} at {bootstrap} after 30 s: {error}"
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One try of [`topic_size_on`]: what Kafka said, or why it did not.
fn count_messages(consumer: &BaseConsumer, topic: &str) -> Result<i64, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map_err(|e| format!("metadata: {e}"))?;
    let found = metadata
        .topics()
        .first()
        .ok_or("no topic in the metadata")?;
    match found.error().map(RDKafkaErrorCode::from) {
        None if found.partitions().is_empty() => return Err("no partition yet".into()),
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => return Ok(0),
        Some(code) => return Err(format!("metadata: {code}")),
    }
    found
        .partitions()
        .iter()
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(5))
                .map(|(low, high)| high - low)
                .map_err(|e| format!("partition {}: {e}", p.id()))
        })
        .sum()
}

/// Every message on `topic`, which must hold exactly `count`: its
/// watermarks add up to `count` (a record appended twice shows there,
/// however long reading waits for it), and a read returns that many.
pub fn read_exactly(topic: &str, count: usize) -> Vec<OwnedMessage> {
    assert_eq!(
        topic_size(topic),
        count as i64,
        "messages appended to {topic}"
    );
    let messages = read_topic(topic, count);
    assert_eq!(messages.len(), count, "messages read from {topic}");
    messages
}

/// Fails the test, naming one, when an item of `items` shows twice: a
/// set would count the two as one.
pub fn assert_distinct<T: Ord + std::fmt::Debug>(what: &str, items: impl IntoIterator<Item = T>) {
    let mut sorted: Vec<T> = items.into_iter().collect();
    sorted.sort();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        panic!("{what}: {:?} shows twice", pair[0]);
    }
}

/// The ids (message keys) of every record on `topic`, which must hold
/// exactly `expected` (see [`read_exactly`]).
pub fn topic_ids(topic: &str, expected: usize) -> Vec<uuid::Uuid> {
    read_exactly(topic, expected)
        .iter()
        .map(|m| {
            let key = std::str::from_utf8(m.key().expect("records have keys")).unwrap();
            key.parse().unwrap()
        })
        .collect()
}

/// Asserts that the table holds each record of the topic exactly once and
/// nothing else: same ids, none twice on either side.
pub fn assert_table_matches_topic(topic: &str, keyspace: &str, total: usize) {
    let mut from_topic = topic_ids(topic, total);
    let mut in_table: Vec<uuid::Uuid> = stored_rows(topic, keyspace).into_keys().collect();
    assert_distinct(&format!("ids on {topic}"), &from_topic);
    from_topic.sort();
    in_table.sort();
    assert_eq!(in_table.len(), total, "rows in {keyspace}");
    assert!(
        in_table == from_topic,
        "the table's ids are the topic's ids"
    );
}

/// A valid user record of a new id padded to about `bytes` (in its
/// address) of random hex, which compresses about twice as real data does:
/// the consumer's prefetch, bounded in compressed bytes, stays small.
pub fn padded_user(bytes: usize) -> (uuid::Uuid, Vec<u8>) {
    let id = uuid::Uuid::new_v4();
    let padding: String = (0..bytes.div_ceil(32))
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let record = format!(
        r#"{{"id":"{id}","first_name":"Big","last_name":"Record","gender":"female","address":"{padding}","post_code":"1","email":"big@example.com","username":"big","dob":"1990-01-01T00:00:00.000Z","registered_date":"2015-01-01T00:00:00.000Z","phone":"1","picture":"https://randomuser.me/api/portraits/med/women/1.jpg"}}"#
    );
    (id, record.into_bytes())
}

/// The peak resident memory of process `pid` so far (VmHWM), in bytes.
pub fn peak_rss(pid: &str) -> u64 {
    peak_rss_if_running(pid).unwrap_or_else(|| panic!("no VmHWM for {pid}"))
}

/// [`peak_rss`], or none once the process has exited.
pub fn peak_rss_if_running(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())?;
    Some(kb * 1024)
}
