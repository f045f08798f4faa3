//! Topics in the schema registry's wire format, on the real local Kafka,
//! Cassandra and Apicurio registry (`scripts/stack up --registry`). The
//! records are written by Confluent's own Python serializers
//! (`scripts/registry-produce`), so rtds's decoding is checked against
//! another implementation of each format, and read back from Cassandra by
//! the driver, not by rtds:
//!
//! - an Avro, a Protobuf and a JSON Schema topic feed a table each in one
//!   `rtds process` run: every column is the last record of its key,
//!   through nested records, arrays, maps, nullable unions, enums, Avro's
//!   logical types (a timestamp, a date, an exact decimal, a uuid), a
//!   64-bit integer past 2^53, Protobuf's default values and text well
//!   beyond ASCII; a second run finds nothing new to do;
//! - a producer that moves to a second version of its schema mid-stream
//!   keeps flowing through the one running processor: a field a version
//!   lacks is null, or left as it was with `absent = "unset"`;
//! - bad records go to the DLQ once each, by kind (`not_registry_framed`,
//!   `unknown_schema`, `undecodable`, the last two with the schema id),
//!   while every good record is stored;
//! - a registry that is down holds the records whose schema the processor
//!   has not fetched yet: it says so, dead-letters nothing, writes and
//!   commits nothing past them, and once the registry is back every row is
//!   there once;
//! - the users pipeline publishes and reads Avro (`--format avro`).
//!
//! The outage test stops the registry the others need, so it takes the
//! write side of a lock of this file's own, and the others its read side:
//! they run beside each other, never beside it. It starts the registry
//! again also when it fails.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use common::*;
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset};
use scylla::DeserializeRow;
use scylla::cluster::metadata::ColumnType;
use scylla::deserialize::value::DeserializeValue;
use scylla::deserialize::{DeserializationError, FrameSlice, TypeCheckError};
use scylla::value::{CqlDate, CqlDecimal, CqlTimestamp};
use serde_json::{Value, json};

// ------------------------------------------------------------------ the registry

/// Held for reading by the tests that need the registry up, for writing
/// by the one that stops it.
static REGISTRY_LOCK: RwLock<()> = RwLock::new(());

/// For a test that needs the registry: runs beside the others of this
/// file, never during the outage.
fn registry_up() -> RwLockReadGuard<'static, ()> {
    let guard = REGISTRY_LOCK.read().unwrap_or_else(PoisonError::into_inner);
    require_registry();
    guard
}

/// For the test that stops the registry: runs alone.
fn registry_alone() -> RwLockWriteGuard<'static, ()> {
    let guard = REGISTRY_LOCK
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    require_registry();
    guard
}

/// `scripts/stack ARGS`.
fn stack(args: &[&str]) -> std::process::Output {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/stack"))
        .args(args)
        .output()
        .expect("scripts/stack runs")
}

/// The registry stopped (`scripts/stack stop registry`) until
/// [`RegistryStopped::start`], or until dropped, also when the test fails:
/// the other tests need it.
struct RegistryStopped {
    started: bool,
}

impl RegistryStopped {
    fn stop() -> RegistryStopped {
        // Made first: a stop that fails halfway starts it again too.
        let stopped = RegistryStopped { started: false };
        let output = stack(&["stop", "registry"]);
        assert!(output.status.success(), "{}", text(&output));
        let address = REGISTRY.parse().unwrap();
        wait_until(
            "the registry's port closed",
            Duration::from_secs(30),
            || std::net::TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err(),
        );
        stopped
    }

    /// `scripts/stack start registry`, which returns once it serves.
    fn start(mut self) {
        self.started = true;
        let output = stack(&["start", "registry"]);
        assert!(output.status.success(), "{}", text(&output));
    }
}

impl Drop for RegistryStopped {
    fn drop(&mut self) {
        if !self.started {
            let output = stack(&["start", "registry"]);
            if !output.status.success() {
                eprintln!("could not start the registry again: {}", text(&output));
            }
        }
    }
}

/// `GET path` of the registry's Confluent API: the status and the body as
/// JSON (null when it is not JSON).
fn registry_get(path: &str) -> (u16, Value) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let reply = reqwest::get(format!("{REGISTRY_URL}/{path}"))
            .await
            .unwrap_or_else(|e| panic!("GET {path} of the registry: {e}"));
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    })
}

/// Publishes `records` (each `{"key": ..., "value": ...}`) to `topic` with
/// `scripts/registry-produce` and the schema file `schema` of
/// tests/registry: the schema id the records carry.
fn registry_produce(
    topic: &str,
    format: &str,
    schema: &str,
    message: Option<&str>,
    records: &[Value],
) -> u32 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(root.join("scripts/registry-produce"));
    command
        .args(["--topic", topic, "--format", format, "--schema"])
        .arg(root.join("tests/registry").join(schema));
    if let Some(message) = message {
        command.args(["--message", message]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scripts/registry-produce runs");
    let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(lines.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    assert_eq!(summary["sent"], records.len(), "{}", text(&output));
    let id = summary["schema_id"].as_u64().expect("a schema id");
    u32::try_from(id).unwrap()
}

/// A record for [`registry_produce`].
fn keyed(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

/// Sends `records` (key, payload) to `topic` as they are, in order.
fn send_keyed(topic: &str, records: &[(Option<Vec<u8>>, Vec<u8>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for (key, payload) in records {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(payload.as_slice());
        if let Some(key) = key {
            record = record.key(key.as_slice());
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// The frame of schema `id`: a zero byte and the id in four bytes.
fn frame(id: u32) -> Vec<u8> {
    [&[0u8][..], &id.to_be_bytes()].concat()
}

// ------------------------------------------------------------------ settings and tables

/// A settings file of the test's own: the local stack, the registry, a
/// consumer group and a DLQ topic no other test uses, and the entries
/// `mappings`. The folder goes when it is dropped.
struct Pipeline {
    _dir: tempfile::TempDir,
    config: PathBuf,
    group: String,
    dlq: String,
}

impl Pipeline {
    fn new(mappings: &[String]) -> Pipeline {
        let (group, dlq) = (unique("registry_group"), unique("registry_dlq"));
        let text = format!(
            "[kafka]\nbootstrap_servers = \"{KAFKA}\"\ngroup_id = \"{group}\"\ndlq_topic = \"{dlq}\"\n\n\
             [cassandra]\ncontact_points = [\"{CASSANDRA}\"]\n\n[registry]\nurl = \"{REGISTRY_URL}\"\n{}",
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
    fn command(&self, args: &[&str]) -> Command {
        rtds_command_with_config(&self.config, &[&["process"], args].concat())
    }

    /// `rtds process --until-idle 5s --json`, which must succeed; its
    /// summary.
    fn process_until_idle(&self) -> Value {
        let output = self
            .command(&["--until-idle", "5s", "--json"])
            .output()
            .expect("the rtds binary runs");
        assert!(output.status.success(), "{}", text(&output));
        json_summary(&output)
    }

    /// The offsets the group committed on `topic`, summed.
    fn committed(&self, topic: &str) -> i64 {
        committed_offsets(topic, &self.group)
            .values()
            .map(|offset| match offset {
                Offset::Offset(next) => *next,
                _ => 0,
            })
            .sum()
    }
}

/// A `[[mapping]]` entry: `columns` are (name, path, type), `extra` lines
/// go in the entry itself.
fn mapping(
    name: &str,
    topic: &str,
    table: &str,
    format: &str,
    primary_key: &str,
    extra: &str,
    columns: &[(&str, &str, &str)],
) -> String {
    let columns: String = columns
        .iter()
        .map(|(column, path, kind)| {
            format!("{column} = {{ path = \"{path}\", type = \"{kind}\" }}\n")
        })
        .collect();
    format!(
        "\n[[mapping]]\nname = \"{name}\"\ntopic = \"{topic}\"\ntable = \"{table}\"\n\
         format = \"{format}\"\nprimary_key = \"{primary_key}\"\n{extra}\n[mapping.columns]\n{columns}"
    )
}

/// A row type that owns its values.
trait Row: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> {}
impl<R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>> Row for R {}

/// A session to the local node, with a runtime to run its reads.
struct Cql {
    runtime: tokio::runtime::Runtime,
    session: scylla::client::session::Session,
}

impl Cql {
    fn new() -> Cql {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let session = runtime.block_on(session());
        Cql { runtime, session }
    }

    /// The rows `cql` selects, or why it cannot (a table not made yet).
    fn try_select<R: Row>(&self, cql: &str) -> Result<Vec<R>, String> {
        self.runtime.block_on(async {
            let result = self.session.query_unpaged(cql, ()).await;
            let rows = result.map_err(|e| e.to_string())?.into_rows_result();
            let rows = rows.map_err(|e| e.to_string())?;
            let typed = rows.rows::<R>().map_err(|e| e.to_string())?;
            typed.map(|row| row.map_err(|e| e.to_string())).collect()
        })
    }

    fn select<R: Row>(&self, cql: &str) -> Vec<R> {
        self.try_select(cql)
            .unwrap_or_else(|e| panic!("{cql}: {e}"))
    }

    /// The rows of `table`; 0 while it does not exist.
    fn count(&self, table: &str) -> i64 {
        let counted = self.try_select::<(i64,)>(&format!("SELECT COUNT(*) FROM {table}"));
        counted.map_or(0, |rows| rows[0].0)
    }
}

/// Checks that `rows` (of `table`) are exactly `expected`, one per key,
/// naming the first that differs.
fn assert_rows<R: PartialEq + std::fmt::Debug>(
    table: &str,
    rows: Vec<R>,
    key: impl Fn(&R) -> String,
    expected: &HashMap<String, R>,
) {
    assert_distinct(&format!("keys in {table}"), rows.iter().map(&key));
    for row in &rows {
        let k = key(row);
        assert_eq!(Some(row), expected.get(&k), "row {k} of {table}");
    }
    assert_eq!(rows.len(), expected.len(), "rows in {table}");
}

/// A decimal column as exact text (`-0.05`, `1234567890123.45`), read by
/// the driver.
#[derive(Debug, Clone, PartialEq)]
struct Exact(String);

impl<'f, 'm> DeserializeValue<'f, 'm> for Exact {
    fn type_check(typ: &ColumnType) -> Result<(), TypeCheckError> {
        <CqlDecimal as DeserializeValue<'f, 'm>>::type_check(typ)
    }

    fn deserialize(
        typ: &'m ColumnType<'m>,
        v: Option<FrameSlice<'f>>,
    ) -> Result<Self, DeserializationError> {
        let decimal = <CqlDecimal as DeserializeValue<'f, 'm>>::deserialize(typ, v)?;
        let (bytes, scale) = decimal.as_signed_be_bytes_slice_and_exponent();
        assert!(bytes.len() <= 16, "a decimal past 128 bits");
        let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut full = [fill; 16];
        full[16 - bytes.len()..].copy_from_slice(bytes);
        Ok(Exact(decimal_text(i128::from_be_bytes(full), scale as u32)))
    }
}

/// `unscaled` at `scale`, as exact text.
fn decimal_text(unscaled: i128, scale: u32) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let magnitude = unscaled.unsigned_abs();
    let divisor = 10u128.pow(scale);
    if scale == 0 {
        return format!("{sign}{magnitude}");
    }
    let width = scale as usize;
    format!(
        "{sign}{}.{:0width$}",
        magnitude / divisor,
        magnitude % divisor
    )
}

/// A day as Cassandra's date: days since the epoch, centred on 2^31.
fn cql_date(days: i32) -> CqlDate {
    CqlDate((1u32 << 31).wrapping_add_signed(days))
}

/// `days` since the epoch as `YYYY-MM-DD`.
fn iso_date(days: i32) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    (epoch + chrono::Duration::days(days.into())).to_string()
}

/// `ms` since the epoch in RFC 3339, in UTC or at +02:00.
fn rfc3339(ms: i64, east: bool) -> String {
    let at = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    if east {
        let offset = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        at.with_timezone(&offset)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    } else {
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// The text of header `name` of a dead letter: the last of that name,
/// which is rtds's own.
fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    let found = headers.iter().filter(|h| h.key == name).last()?;
    found.value.map(|v| String::from_utf8_lossy(v).into_owned())
}

// ------------------------------------------------------------------ the three formats

/// Places and names with letters well beyond ASCII.
const PLACES: [&str; 5] = ["Zürich", "東京", "São Paulo", "Ελλάδα", "Reykjavík 🚀"];
const NAMES: [&str; 4] = ["Zoë", "花子", "Jürgen", "Amélie 🚀"];
const TIERS: [&str; 3] = ["BRONZE", "SILVER", "GOLD"];
const STATUSES: [&str; 4] = ["NEW", "PAID", "SHIPPED", "CANCELLED"];

/// Records per topic, and the keys they use: record `n` has key
/// `n % KEYS`, so the first `RECORDS - KEYS` keys come twice and the later
/// record must win.
const RECORDS: u32 = 300;
const KEYS: u32 = 200;

/// 2024-02-29T00:00:00Z, in milliseconds.
const LEAP_DAY_MS: i64 = 1_709_164_800_000;

/// 2^53 + 1: a double cannot hold it, JSON parsed into one would lose it.
const PAST_2_53: i64 = 9_007_199_254_740_993;

/// When order `n` was placed: a few before 1970.
fn placed_ms(n: u32) -> i64 {
    if n % 100 == 77 {
        -1_001 * i64::from(n)
    } else {
        LEAP_DAY_MS + i64::from(n) * 61_123
    }
}

/// Its items: none, one, or two.
fn items(n: u32) -> Vec<String> {
    match n % 4 {
        0 => Vec::new(),
        1 => vec!["🚀 rocket".into()],
        _ => vec!["tea 茶".into(), format!("item {n}")],
    }
}

/// Its `team` label, absent from every third order's labels.
fn team(n: u32) -> Option<String> {
    (!n.is_multiple_of(3)).then(|| ["blue", "rød"][n as usize % 2].to_string())
}

/// Its note, null for every fifth order.
fn note(n: u32) -> Option<String> {
    (!n.is_multiple_of(5)).then(|| format!("ring twice, {} {n}", PLACES[(n as usize + 1) % 5]))
}

fn tracking(n: u32) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(((u128::from(n) << 64) | 0xab_cdef).to_be_bytes()).into_uuid()
}

/// A row of the Avro orders table.
#[derive(Debug, Clone, PartialEq, DeserializeRow)]
struct AvroOrder {
    order_id: String,
    customer_name: Option<String>,
    city: Option<String>,
    tier: Option<String>,
    items: Option<Vec<String>>,
    team: Option<String>,
    note: Option<String>,
    quantity: Option<i32>,
    weight_kg: Option<f64>,
    placed_at: Option<CqlTimestamp>,
    ship_date: Option<CqlDate>,
    total: Option<Exact>,
    tracking: Option<uuid::Uuid>,
    status: Option<String>,
}

const AVRO_COLUMNS: [(&str, &str, &str); 14] = [
    ("order_id", "order_id", "text"),
    ("customer_name", "customer.name", "text"),
    ("city", "customer.city", "text"),
    ("tier", "customer.tier", "text"),
    ("items", "items", "list<text>"),
    ("team", "labels.team", "text"),
    ("note", "note", "text"),
    ("quantity", "quantity", "int"),
    ("weight_kg", "weight_kg", "double"),
    ("placed_at", "placed_at", "timestamp"),
    ("ship_date", "ship_date", "date"),
    ("total", "total", "decimal"),
    ("tracking", "tracking", "uuid"),
    ("status", "status", "text"),
];

/// Order `n` in Avro (tests/registry/order.avsc): its record, as
/// registry-produce takes it, and the row it must become.
fn avro_order(n: u32) -> (Value, AvroOrder) {
    let days = if n % 100 == 77 {
        -(n as i32)
    } else {
        19_000 + 3 * n as i32
    };
    let cents: i64 = if n % 100 == 77 {
        123_456_789_012_345
    } else {
        i64::from(n) * 1_234_567 % 10_000_000 - 2_000_000
    };
    let total = decimal_text(cents.into(), 2);
    let row = AvroOrder {
        order_id: format!("order-{:04}", n % KEYS),
        customer_name: Some(format!("{} {n}", NAMES[n as usize % 4])),
        city: Some(PLACES[n as usize % 5].into()),
        tier: Some(TIERS[n as usize % 3].into()),
        items: Some(items(n)),
        team: team(n),
        note: note(n),
        quantity: Some((n % 7) as i32),
        weight_kg: Some(f64::from(n) * 0.25),
        placed_at: Some(CqlTimestamp(placed_ms(n))),
        ship_date: Some(cql_date(days)),
        total: Some(Exact(total.clone())),
        tracking: Some(tracking(n)),
        status: Some(STATUSES[n as usize % 4].into()),
    };
    let mut labels = json!({ "channel": "web" });
    if let Some(team) = &row.team {
        labels["team"] = team.clone().into();
    }
    let value = json!({
        "order_id": row.order_id,
        "customer": { "name": row.customer_name, "city": row.city, "tier": row.tier },
        "items": row.items,
        "labels": labels,
        "note": row.note,
        "quantity": row.quantity,
        "weight_kg": row.weight_kg,
        "placed_at": rfc3339(placed_ms(n), false),
        "ship_date": iso_date(days),
        "total": total,
        "tracking": row.tracking.unwrap().to_string(),
        "status": row.status,
    });
    (keyed(&row.order_id, value), row)
}

/// A row of the Protobuf orders table.
#[derive(Debug, Clone, PartialEq, DeserializeRow)]
struct ProtoOrder {
    order_id: String,
    customer_name: Option<String>,
    city: Option<String>,
    tier: Option<String>,
    items: Option<Vec<String>>,
    team: Option<String>,
    note: Option<String>,
    quantity: Option<i32>,
    weight_kg: Option<f64>,
    placed_at: Option<CqlTimestamp>,
    total_micros: Option<i64>,
    tracking: Option<uuid::Uuid>,
    status: Option<String>,
}

const PROTO_COLUMNS: [(&str, &str, &str); 13] = [
    ("order_id", "order_id", "text"),
    ("customer_name", "customer.name", "text"),
    ("city", "customer.city", "text"),
    ("tier", "customer.tier", "text"),
    ("items", "items", "list<text>"),
    ("team", "labels.team", "text"),
    ("note", "note", "text"),
    ("quantity", "quantity", "int"),
    ("weight_kg", "weight_kg", "double"),
    ("placed_at", "placed_at", "timestamp"),
    ("total_micros", "total_micros", "bigint"),
    ("tracking", "tracking", "uuid"),
    ("status", "status", "text"),
];

/// Order `n` in Protobuf (tests/registry/order.proto), in its JSON
/// mapping: the note a `StringValue` left out when null; a zero quantity
/// or weight, a first enum value and no items are proto3's defaults,
/// which are not on the wire and must read as themselves.
fn proto_order(n: u32) -> (Value, ProtoOrder) {
    let micros = PAST_2_53 + i64::from(n) * 1_000_003;
    let row = ProtoOrder {
        order_id: format!("order-{:04}", n % KEYS),
        customer_name: Some(format!("{} {n}", NAMES[n as usize % 4])),
        city: Some(PLACES[n as usize % 5].into()),
        tier: Some(TIERS[n as usize % 3].into()),
        items: Some(items(n)),
        team: team(n),
        note: note(n),
        quantity: Some((n % 7) as i32),
        weight_kg: Some(f64::from(n % 8) * 0.25),
        placed_at: Some(CqlTimestamp(placed_ms(n))),
        total_micros: Some(if n % 2 == 1 { -micros } else { micros }),
        tracking: Some(tracking(n)),
        status: Some(STATUSES[n as usize % 4].into()),
    };
    let mut labels = json!({ "channel": "app" });
    if let Some(team) = &row.team {
        labels["team"] = team.clone().into();
    }
    let mut value = json!({
        "order_id": row.order_id,
        "customer": { "name": row.customer_name, "city": row.city, "tier": row.tier },
        "items": row.items,
        "labels": labels,
        "quantity": row.quantity,
        "weight_kg": row.weight_kg,
        "placed_at": rfc3339(placed_ms(n), false),
        "total_micros": row.total_micros,
        "tracking": row.tracking.unwrap().to_string(),
        "status": row.status,
    });
    if let Some(note) = &row.note {
        value["note"] = note.clone().into();
    }
    (keyed(&row.order_id, value), row)
}

/// A row of the JSON Schema readings table.
#[derive(Debug, Clone, PartialEq, DeserializeRow)]
struct Reading {
    sensor_id: String,
    site: Option<String>,
    floor: Option<i32>,
    tags: Option<Vec<String>>,
    value: Option<f64>,
    count: Option<i64>,
    note: Option<String>,
    at: Option<CqlTimestamp>,
    batch_id: Option<uuid::Uuid>,
}

const READING_COLUMNS: [(&str, &str, &str); 9] = [
    ("sensor_id", "sensor_id", "text"),
    ("site", "site.name", "text"),
    ("floor", "site.floor", "int"),
    ("tags", "tags", "list<text>"),
    ("value", "value", "double"),
    ("count", "count", "bigint"),
    ("note", "note", "text"),
    ("at", "at", "timestamp"),
    ("batch_id", "batch", "uuid"),
];

/// Reading `n` (tests/registry/reading.schema.json): its time in UTC or
/// at +02:00 in turn, its note null for every fourth.
fn reading(n: u32) -> (Value, Reading) {
    let at = LEAP_DAY_MS + i64::from(n) * 1_001;
    let row = Reading {
        sensor_id: format!("sensor-{:03}", n % KEYS),
        site: Some(format!("{} hall {n}", PLACES[n as usize % 5])),
        floor: Some(n as i32 % 9 - 3),
        tags: Some(match n % 3 {
            0 => Vec::new(),
            1 => vec!["ok".into()],
            _ => vec!["warm 🌡".into(), format!("ŧag-{}", n % 7)],
        }),
        value: Some(f64::from(n) * 0.5 - 20.25),
        count: Some(PAST_2_53 + i64::from(n)),
        note: (!n.is_multiple_of(4)).then(|| format!("checked by {}", NAMES[n as usize % 4])),
        at: Some(CqlTimestamp(at)),
        batch_id: Some(tracking(n + 1_000)),
    };
    let value = json!({
        "sensor_id": row.sensor_id,
        "site": { "name": row.site, "floor": row.floor },
        "tags": row.tags,
        "value": row.value,
        "count": row.count,
        "note": row.note,
        "at": rfc3339(at, n % 2 == 1),
        "batch": row.batch_id.unwrap().to_string(),
    });
    (keyed(&row.sensor_id, value), row)
}

/// The records `make` gives for 0..RECORDS, and each key's last row.
fn dataset<R: Clone>(
    make: impl Fn(u32) -> (Value, R),
    key: impl Fn(&R) -> String,
) -> (Vec<Value>, HashMap<String, R>) {
    let (records, rows): (Vec<Value>, Vec<R>) = (0..RECORDS).map(make).unzip();
    let last = rows.into_iter().map(|row| (key(&row), row)).collect();
    (records, last)
}

#[test]
fn each_format_from_confluents_serializers_is_stored_once() {
    let _registry = registry_up();
    let topics = [unique("reg_avro"), unique("reg_proto"), unique("reg_json")];
    for topic in &topics {
        create_topic(topic, 3, &[]);
    }
    let keyspace = unique("registry");
    let tables = ["orders_avro", "orders_proto", "readings"].map(|t| format!("{keyspace}.{t}"));

    let (avro_records, avro_rows) = dataset(avro_order, |r: &AvroOrder| r.order_id.clone());
    let (proto_records, proto_rows) = dataset(proto_order, |r: &ProtoOrder| r.order_id.clone());
    let (json_records, json_rows) = dataset(reading, |r: &Reading| r.sensor_id.clone());
    assert_eq!(avro_rows.len(), KEYS as usize, "keys come twice");
    let records = [&avro_records, &proto_records, &json_records];
    let formats = [
        (
            "orders_avro",
            "avro",
            "order.avsc",
            None,
            "order_id",
            &AVRO_COLUMNS[..],
        ),
        (
            "orders_proto",
            "protobuf",
            "order.proto",
            Some("Order"),
            "order_id",
            &PROTO_COLUMNS[..],
        ),
        (
            "readings",
            "json-schema",
            "reading.schema.json",
            None,
            "sensor_id",
            &READING_COLUMNS[..],
        ),
    ];
    let (mut ids, mut entries) = (Vec::new(), Vec::new());
    for (i, (name, format, schema, message, key, columns)) in formats.into_iter().enumerate() {
        ids.push(registry_produce(
            &topics[i], format, schema, message, records[i],
        ));
        entries.push(mapping(
            name, &topics[i], &tables[i], format, key, "", columns,
        ));
    }
    assert_distinct("schema ids", ids);
    let pipeline = Pipeline::new(&entries);
    let first = pipeline.process_until_idle();
    assert_eq!(first["consumed"], 3 * RECORDS, "{first}");
    assert_eq!(first["dead_lettered"], 0, "{first}");
    // Nothing new: a second run reads nothing and changes nothing.
    let second = pipeline.process_until_idle();
    assert_eq!(second["consumed"], 0, "{second}");

    let cql = Cql::new();
    let select = |table: &str, columns: &[(&str, &str, &str)]| {
        let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
        format!("SELECT {} FROM {table}", names.join(", "))
    };
    let stored: Vec<AvroOrder> = cql.select(&select(&tables[0], &AVRO_COLUMNS));
    assert_rows(&tables[0], stored, |r| r.order_id.clone(), &avro_rows);
    let stored: Vec<ProtoOrder> = cql.select(&select(&tables[1], &PROTO_COLUMNS));
    assert_rows(&tables[1], stored, |r| r.order_id.clone(), &proto_rows);
    let stored: Vec<Reading> = cql.select(&select(&tables[2], &READING_COLUMNS));
    assert_rows(&tables[2], stored, |r| r.sensor_id.clone(), &json_rows);

    // The tables equal the datasets; these hold the cases that matter most.
    let order = &avro_rows["order-0077"];
    assert_eq!(
        order.customer_name.as_deref(),
        Some("花子 277"),
        "the later record"
    );
    assert_eq!(order.total, Some(Exact("1234567890123.45".into())));
    assert_eq!(order.ship_date, Some(cql_date(-277)), "a day before 1970");
    assert!(order.placed_at.unwrap().0 < 0, "a time before 1970");
    let avro: Vec<&AvroOrder> = avro_rows.values().collect();
    assert!(avro.iter().any(|r| r.note.is_none()), "a null union");
    assert!(avro.iter().any(|r| r.team.is_none()), "a key the map lacks");
    assert!(
        avro.iter().any(|r| r.items == Some(Vec::new())),
        "an empty array"
    );
    let negative = |r: &&AvroOrder| r.total.as_ref().is_some_and(|t| t.0.starts_with('-'));
    assert!(avro.iter().any(negative), "a negative decimal");
    let proto: Vec<&ProtoOrder> = proto_rows.values().collect();
    assert!(proto.iter().any(|r| r.quantity == Some(0)), "a zero int");
    assert!(
        proto.iter().any(|r| r.weight_kg == Some(0.0)),
        "a zero double"
    );
    assert!(
        proto.iter().any(|r| r.tier.as_deref() == Some("BRONZE")),
        "enum 0"
    );
    assert!(
        proto.iter().any(|r| r.items == Some(Vec::new())),
        "no items"
    );
    assert!(proto.iter().any(|r| r.note.is_none()), "a null wrapper");
    let far = PAST_2_53 + 201 * 1_000_003;
    assert_eq!(
        proto_rows["order-0001"].total_micros,
        Some(-far),
        "exact past 2^53"
    );
    assert_eq!(json_rows["sensor-000"].count, Some(PAST_2_53 + 200));
    assert_eq!(topic_size(&pipeline.dlq), 0, "nothing dead-lettered");
    for topic in &topics {
        assert_eq!(
            pipeline.committed(topic),
            i64::from(RECORDS),
            "committed on {topic}"
        );
    }
}

// ------------------------------------------------------------------ versions, bad records, outages

/// A row of a shipments table: version 1 of the schema has
/// `weight_grams`, version 2 has `priority` (default "standard") instead.
#[derive(Debug, Clone, PartialEq, DeserializeRow)]
struct Shipment {
    shipment_id: String,
    carrier: Option<String>,
    weight_grams: Option<i32>,
    priority: Option<String>,
}

const SHIPMENT_COLUMNS: [(&str, &str, &str); 4] = [
    ("shipment_id", "shipment_id", "text"),
    ("carrier", "carrier", "text"),
    ("weight_grams", "weight_grams", "int"),
    ("priority", "priority", "text"),
];

const CARRIERS: [&str; 3] = ["Poste Suisse", "ヤマト運輸", "DHL"];

fn shipment_id(n: u32) -> String {
    format!("ship-{n:04}")
}

/// Shipment `n` in version 1: its record and its row.
fn shipment_v1(n: u32) -> (Value, Shipment) {
    let row = Shipment {
        shipment_id: shipment_id(n),
        carrier: Some(CARRIERS[n as usize % 3].into()),
        weight_grams: Some(250 + n as i32 * 7),
        priority: None,
    };
    let value = json!({
        "shipment_id": row.shipment_id,
        "carrier": row.carrier,
        "weight_grams": row.weight_grams,
    });
    (keyed(&row.shipment_id, value), row)
}

/// Shipment `n` in version 2: every tenth leaves `priority` out, and the
/// serializer writes its default.
fn shipment_v2(n: u32) -> (Value, Shipment) {
    let priority = if n.is_multiple_of(10) {
        "standard".to_string()
    } else {
        ["express", "überfällig ⏰"][n as usize % 2].to_string()
    };
    let row = Shipment {
        shipment_id: shipment_id(n),
        carrier: Some(format!("{} v2", CARRIERS[n as usize % 3])),
        weight_grams: None,
        priority: Some(priority.clone()),
    };
    let mut value = json!({ "shipment_id": row.shipment_id, "carrier": row.carrier });
    if !n.is_multiple_of(10) {
        value["priority"] = priority.into();
    }
    (keyed(&row.shipment_id, value), row)
}

fn shipments_mapping(name: &str, topic: &str, table: &str, extra: &str) -> String {
    mapping(
        name,
        topic,
        table,
        "avro",
        "shipment_id",
        extra,
        &SHIPMENT_COLUMNS,
    )
}

/// The rows of the shipments table `table`, or why there are none (not
/// made yet).
fn try_shipments(cql: &Cql, table: &str) -> Result<Vec<Shipment>, String> {
    cql.try_select(&format!(
        "SELECT shipment_id, carrier, weight_grams, priority FROM {table}"
    ))
}

/// Waits until the shipments table `table` holds exactly `expected`,
/// then checks it row by row.
fn wait_for_shipments(cql: &Cql, table: &str, expected: &HashMap<String, Shipment>) {
    let same = |rows: Vec<Shipment>| {
        rows.len() == expected.len()
            && rows
                .iter()
                .all(|row| expected.get(&row.shipment_id) == Some(row))
    };
    wait_until(
        &format!("the rows of {table}"),
        Duration::from_secs(60),
        || try_shipments(cql, table).is_ok_and(same),
    );
    let rows = try_shipments(cql, table).unwrap();
    assert_rows(table, rows, |r| r.shipment_id.clone(), expected);
}

#[test]
fn a_producer_moving_to_v2_keeps_flowing() {
    let _registry = registry_up();
    let (topic, keyspace) = (unique("reg_versions"), unique("registry_versions"));
    create_topic(&topic, 3, &[]);
    let (nulled, kept) = (format!("{keyspace}.shipments"), format!("{keyspace}.kept"));
    let pipeline = Pipeline::new(&[
        shipments_mapping("shipments", &topic, &nulled, ""),
        shipments_mapping("kept", &topic, &kept, "absent = \"unset\""),
    ]);
    // One process throughout: it must never end.
    let mut job = Followed::spawn(pipeline.command(&[]));
    let cql = Cql::new();

    // Version 1: shipments 0..100.
    let (records, rows): (Vec<Value>, Vec<Shipment>) = (0..100).map(shipment_v1).unzip();
    let v1 = registry_produce(&topic, "avro", "shipment_v1.avsc", None, &records);
    let mut expected: HashMap<String, Shipment> = rows
        .into_iter()
        .map(|r| (r.shipment_id.clone(), r))
        .collect();
    wait_for_shipments(&cql, &nulled, &expected);
    wait_for_shipments(&cql, &kept, &expected);

    // Version 2, a new id: shipments 50..150, half of them again.
    let (records, rows): (Vec<Value>, Vec<Shipment>) = (50..150).map(shipment_v2).unzip();
    let v2 = registry_produce(&topic, "avro", "shipment_v2.avsc", None, &records);
    assert_ne!(v1, v2, "version 2 has an id of its own");
    let mut expected_kept = expected.clone();
    for row in rows {
        // Left unset, weight_grams keeps what version 1 wrote.
        let weight = expected_kept
            .get(&row.shipment_id)
            .and_then(|r| r.weight_grams);
        let kept_row = Shipment {
            weight_grams: weight,
            ..row.clone()
        };
        expected_kept.insert(row.shipment_id.clone(), kept_row);
        expected.insert(row.shipment_id.clone(), row);
    }
    wait_for_shipments(&cql, &nulled, &expected);
    wait_for_shipments(&cql, &kept, &expected_kept);

    // Spelled out: a version 1 row, a version 2 row that took the
    // default, one written by both versions.
    let only_v1 = &expected["ship-0010"];
    assert_eq!(
        (only_v1.weight_grams, only_v1.priority.as_deref()),
        (Some(320), None)
    );
    let default = &expected["ship-0120"];
    assert_eq!(
        (default.weight_grams, default.priority.as_deref()),
        (None, Some("standard"))
    );
    let both = &expected_kept["ship-0061"];
    assert_eq!(both.weight_grams, Some(250 + 61 * 7));
    assert_eq!(both.priority.as_deref(), Some("überfällig ⏰"));
    assert_eq!(expected["ship-0061"].weight_grams, None);

    assert!(!job.exited(), "the processor ended: {}", job.logged());
    assert_eq!(
        topic_size(&pipeline.dlq),
        0,
        "nothing dead-lettered: {}",
        job.logged()
    );
}

#[test]
fn bad_records_go_to_the_dlq_by_kind() {
    let _registry = registry_up();
    let (topic, keyspace) = (unique("reg_bad"), unique("registry_bad"));
    create_topic(&topic, 3, &[]);
    let table = format!("{keyspace}.shipments");
    let pipeline = Pipeline::new(&[shipments_mapping("shipments", &topic, &table, "")]);

    let (records, rows): (Vec<Value>, Vec<Shipment>) = (0..100).map(shipment_v1).unzip();
    let id = registry_produce(&topic, "avro", "shipment_v1.avsc", None, &records);
    // A JSON Schema's id, on a topic read as Avro.
    let side = unique("reg_bad_json");
    let (reading, _) = reading(1);
    let json_id = registry_produce(
        &side,
        "json-schema",
        "reading.schema.json",
        None,
        &[reading],
    );
    let unknown = 987_654;
    let (status, said) = registry_get(&format!("schemas/ids/{unknown}"));
    assert_eq!(status, 404, "the registry has no schema {unknown}: {said}");

    // A good record's Avro body, for frames that name the wrong schema.
    let good = read_topic(&topic, records.len());
    let body = good[0].payload().unwrap()[5..].to_vec();
    let bad: [(&str, Vec<u8>, &str, Option<u32>); 5] = [
        ("not_registry_framed", br#"{"id":1}"#.to_vec(), "0x7b", None),
        (
            "not_registry_framed",
            vec![0, 0, 1],
            "shorter than the 5",
            None,
        ),
        (
            "unknown_schema",
            [frame(unknown), body.clone()].concat(),
            "987654",
            Some(unknown),
        ),
        (
            "undecodable",
            [frame(id), vec![0xff; 3]].concat(),
            "not Avro",
            Some(id),
        ),
        (
            "undecodable",
            [frame(json_id), body].concat(),
            "JSON",
            Some(json_id),
        ),
    ];
    // Garbage after the good id really is garbage to this schema.
    let schema = registry_get(&format!("schemas/ids/{id}")).1["schema"].clone();
    let schema = apache_avro::Schema::parse_str(schema.as_str().unwrap()).unwrap();
    assert!(apache_avro::from_avro_datum(&schema, &mut &[0xffu8; 3][..], None).is_err());
    let raw: Vec<(Option<Vec<u8>>, Vec<u8>)> = bad
        .iter()
        .enumerate()
        .map(|(i, b)| (Some(format!("bad-{i}").into_bytes()), b.1.clone()))
        .collect();
    send_keyed(&topic, &raw);
    let summary = pipeline.process_until_idle();
    assert_eq!(summary["dead_lettered"], bad.len(), "{summary}");

    let dead = read_exactly(&pipeline.dlq, bad.len());
    for (kind, payload, words, schema_id) in &bad {
        let found: Vec<&OwnedMessage> = dead
            .iter()
            .filter(|m| m.payload() == Some(payload.as_slice()))
            .collect();
        assert_eq!(found.len(), 1, "{kind} {payload:?} in the DLQ once");
        let letter = found[0];
        assert_eq!(header(letter, "rtds.error.kind").as_deref(), Some(*kind));
        assert_eq!(
            header(letter, "rtds.source.topic").as_deref(),
            Some(topic.as_str())
        );
        let error = header(letter, "rtds.error").unwrap_or_default();
        assert!(
            error.contains(words),
            "{kind}: the reason lacks {words}: {error}"
        );
        let shown = schema_id.map(|id| id.to_string());
        assert_eq!(header(letter, "rtds.schema.id"), shown, "{kind}: {error}");
    }
    let expected: HashMap<String, Shipment> = rows
        .into_iter()
        .map(|r| (r.shipment_id.clone(), r))
        .collect();
    let rows = try_shipments(&Cql::new(), &table).unwrap();
    assert_rows(&table, rows, |r| r.shipment_id.clone(), &expected);
    assert_eq!(
        pipeline.committed(&topic),
        (records.len() + bad.len()) as i64
    );
}

#[test]
fn a_registry_down_holds_records_and_loses_none() {
    let _registry = registry_alone();
    let (topic, keyspace) = (unique("reg_outage"), unique("registry_outage"));
    create_topic(&topic, 3, &[]);
    let table = format!("{keyspace}.shipments");
    let pipeline = Pipeline::new(&[shipments_mapping("shipments", &topic, &table, "")]);
    // Two writes in flight of one row each: the records held by the
    // registry soon take every place, and consumption pauses.
    let mut command = pipeline.command(&[]);
    command
        .env("RTDS_CASSANDRA_CONCURRENCY", "2")
        .env("RTDS_CASSANDRA_BATCH_ROWS", "1");
    let mut job = Followed::spawn(command);
    let cql = Cql::new();

    // A first batch in version 1: its schema is fetched, and the job surely
    // consuming.
    let (records, rows): (Vec<Value>, Vec<Shipment>) = (0..50).map(shipment_v1).unzip();
    registry_produce(&topic, "avro", "shipment_v1.avsc", None, &records);
    let mut expected: HashMap<String, Shipment> = rows
        .into_iter()
        .map(|r| (r.shipment_id.clone(), r))
        .collect();
    wait_for_shipments(&cql, &table, &expected);

    // Version 2, registered now (through a topic the job does not read):
    // a schema the job has never fetched. Its records, Confluent's bytes,
    // wait for the registry to be down.
    let side = unique("reg_outage_side");
    let (records, rows): (Vec<Value>, Vec<Shipment>) = (50..250).map(shipment_v2).unzip();
    let v2 = registry_produce(&side, "avro", "shipment_v2.avsc", None, &records);
    let held: Vec<(Option<Vec<u8>>, Vec<u8>)> = read_exactly(&side, records.len())
        .iter()
        .map(|m| (m.key().map(<[u8]>::to_vec), m.payload().unwrap().to_vec()))
        .collect();
    assert!(
        held.iter()
            .all(|(_, payload)| payload[..5] == frame(v2)[..])
    );

    let stopped = RegistryStopped::stop();
    send_keyed(&topic, &held);
    wait_until(
        "the job waiting on the schema registry",
        Duration::from_secs(60),
        || {
            let logged = job.logged();
            logged.contains("every write is waiting on the schema registry")
                || logged.contains("every write waiting on the schema registry")
        },
    );
    let logged = job.logged();
    assert!(logged.contains(&format!("schemas/ids/{v2}")), "{logged}");
    assert!(
        logged.contains("schema registry request failed"),
        "{logged}"
    );
    assert!(!job.exited(), "the processor ended: {logged}");
    assert_eq!(
        topic_size(&pipeline.dlq),
        0,
        "an outage is no bad data: {logged}"
    );
    assert_eq!(cql.count(&table), 50, "the held records are not written");
    assert!(
        pipeline.committed(&topic) <= 50,
        "nothing committed past the held records"
    );

    stopped.start();
    for row in rows {
        expected.insert(row.shipment_id.clone(), row);
    }
    wait_for_shipments(&cql, &table, &expected);
    wait_until("the job resuming", Duration::from_secs(30), || {
        job.logged().contains("consumption resumed")
    });
    assert!(!job.exited(), "the processor ended: {}", job.logged());
    assert_eq!(
        topic_size(&pipeline.dlq),
        0,
        "nothing dead-lettered: {}",
        job.logged()
    );
    wait_until("every record committed", Duration::from_secs(30), || {
        pipeline.committed(&topic) == 250
    });
}

// ------------------------------------------------------------------ the users pipeline

/// A user as decoded by apache_avro with the schema the registry serves
/// for its id: rtds's users module plays no part.
fn decode_user(schema: &apache_avro::Schema, encoded: &[u8]) -> rtds::user::User {
    use apache_avro::types::Value as Avro;
    let mut bytes = encoded;
    let value = apache_avro::from_avro_datum(schema, &mut bytes, None).unwrap();
    assert!(bytes.is_empty(), "bytes left after the record");
    let Avro::Record(fields) = value else {
        panic!("not a record: {value:?}")
    };
    let object: serde_json::Map<String, Value> = fields
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Avro::String(text) => text,
                Avro::Uuid(id) => id.to_string(),
                other => panic!("field {name}: {other:?}"),
            };
            (name, Value::String(text))
        })
        .collect();
    serde_json::from_value(Value::Object(object)).unwrap()
}

#[test]
fn the_users_pipeline_runs_in_avro() {
    let _registry = registry_up();
    let (topic, keyspace) = (unique("reg_users"), unique("registry_users"));
    let output = rtds(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        "builtin",
        "--count",
        "500",
        "--format",
        "avro",
        "--registry-url",
        REGISTRY_URL,
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(json_summary(&output)["acked"], 500, "{}", text(&output));
    let output = process_command(
        &topic,
        &keyspace,
        &[
            "--format",
            "avro",
            "--registry-url",
            REGISTRY_URL,
            "--until-idle",
            "5s",
            "--json",
        ],
    )
    .output()
    .expect("the rtds binary runs");
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    assert_eq!(summary["written"], 500, "{summary}");
    assert_eq!(summary["dead_lettered"], 0, "{summary}");

    // The topic holds framed Avro of the schema registered as <topic>-value.
    let messages = read_exactly(&topic, 500);
    let (status, subjects) = registry_get("subjects");
    assert_eq!(status, 200);
    let subject = format!("{topic}-value");
    assert!(
        subjects.as_array().unwrap().iter().any(|s| *s == *subject),
        "no subject {subject}"
    );
    let latest = registry_get(&format!("subjects/{subject}/versions/latest")).1;
    let id = u32::try_from(latest["id"].as_u64().expect("an id")).unwrap();
    let schema = apache_avro::Schema::parse_str(latest["schema"].as_str().unwrap()).unwrap();

    let stored = stored_rows(&topic, &keyspace);
    assert_eq!(stored.len(), 500, "rows stored");
    for message in &messages {
        let payload = message.payload().unwrap();
        assert_eq!(payload[0], 0, "the wire format's zero byte");
        assert_eq!(payload[1..5], id.to_be_bytes(), "the subject's schema id");
        let user = decode_user(&schema, &payload[5..]);
        assert_eq!(
            message.key(),
            Some(user.id.to_string().as_bytes()),
            "keyed by id"
        );
        assert_eq!(stored.get(&user.id), Some(&user), "the row of {}", user.id);
        assert!(!user.first_name.is_empty() && !user.email.is_empty());
    }
}
