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
use std::fmt::Debug;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use common::*;
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer};
use scylla::DeserializeRow;
use scylla::cluster::metadata::ColumnType;
use scylla::deserialize::row::{ColumnIterator, RawColumn};
use scylla::deserialize::value::DeserializeValue;
use scylla::deserialize::{DeserializationError, FrameSlice, TypeCheckError};
use scylla::frame::response::result::ColumnSpec;
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

/// A record as Kafka holds it: its key, if any, and its payload.
type Raw = (Option<Vec<u8>>, Vec<u8>);

/// Sends `records` to `topic` as they are, in order.
fn send_keyed(topic: &str, records: &[Raw]) {
    let producer = idempotent_producer();
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

/// A column of a `[[mapping]]` entry: its name, its path and its type.
type Column = (&'static str, &'static str, &'static str);

/// A `[[mapping]]` entry: `extra` lines go in the entry itself.
fn mapping(
    name: &str,
    topic: &str,
    table: &str,
    format: &str,
    primary_key: &str,
    extra: &str,
    columns: &[Column],
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

/// A row with a text key, by which the rows a table holds are matched
/// with the rows the test expects.
trait Keyed {
    fn key(&self) -> &str;
}

/// `rows` by key: of two with one key the later wins, as in the table.
fn by_key<R: Keyed>(rows: impl IntoIterator<Item = R>) -> HashMap<String, R> {
    rows.into_iter()
        .map(|row| (row.key().to_string(), row))
        .collect()
}

/// The rows of `table`, read in the columns of its mapping, or why there
/// are none (a table not made yet).
fn try_rows<R: Row>(cql: &Cql, table: &str, columns: &[Column]) -> Result<Vec<R>, String> {
    let names: Vec<&str> = columns.iter().map(|column| column.0).collect();
    cql.try_select(&format!("SELECT {} FROM {table}", names.join(", ")))
}

/// Checks that `table`, read in the columns of its mapping, holds exactly
/// `expected`, one row per key, naming the first that differs.
fn assert_stored<R: Row + Keyed + PartialEq + Debug>(
    cql: &Cql,
    table: &str,
    columns: &[Column],
    expected: &HashMap<String, R>,
) {
    let rows: Vec<R> = try_rows(cql, table, columns).unwrap_or_else(|e| panic!("{table}: {e}"));
    assert_distinct(&format!("keys in {table}"), rows.iter().map(R::key));
    for row in &rows {
        let key = row.key();
        assert_eq!(Some(row), expected.get(key), "row {key} of {table}");
    }
    assert_eq!(rows.len(), expected.len(), "rows in {table}");
}

/// A decimal column as exact text (`-0.05`, `1234567890123.45`), read by
/// the driver.
#[derive(Debug, Clone, Default, PartialEq)]
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

/// A row of either orders table. The two formats carry the same order
/// but for its money: only the Avro table has `ship_date` and an exact
/// `total`, only the Protobuf one `total_micros`, and the columns a table
/// lacks stay null here, so that one type and one comparison serve both.
#[derive(Debug, Clone, Default, PartialEq)]
struct Order {
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
    total_micros: Option<i64>,
    tracking: Option<uuid::Uuid>,
    status: Option<String>,
}

impl Keyed for Order {
    fn key(&self) -> &str {
        &self.order_id
    }
}

/// By column name, as the derive reads a row, but taking whichever
/// columns the table has: the derive wants a column for every field.
impl<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> for Order {
    /// Each column's type is checked as it is read.
    fn type_check(_: &[ColumnSpec]) -> Result<(), TypeCheckError> {
        Ok(())
    }

    fn deserialize(columns: ColumnIterator<'f, 'm>) -> Result<Order, DeserializationError> {
        let mut order = Order::default();
        for column in columns {
            let (column, o) = (column?, &mut order);
            match column.spec.name() {
                "order_id" => o.order_id = cell(column)?,
                "customer_name" => o.customer_name = cell(column)?,
                "city" => o.city = cell(column)?,
                "tier" => o.tier = cell(column)?,
                "items" => o.items = cell(column)?,
                "team" => o.team = cell(column)?,
                "note" => o.note = cell(column)?,
                "quantity" => o.quantity = cell(column)?,
                "weight_kg" => o.weight_kg = cell(column)?,
                "placed_at" => o.placed_at = cell(column)?,
                "ship_date" => o.ship_date = cell(column)?,
                "total" => o.total = cell(column)?,
                "total_micros" => o.total_micros = cell(column)?,
                "tracking" => o.tracking = cell(column)?,
                "status" => o.status = cell(column)?,
                other => panic!("an order has no column {other}"),
            }
        }
        Ok(order)
    }
}

/// The value of `column`, its type checked first.
fn cell<'f, 'm, T: DeserializeValue<'f, 'm>>(
    column: RawColumn<'f, 'm>,
) -> Result<T, DeserializationError> {
    let typ = column.spec.typ();
    T::type_check(typ).map_err(DeserializationError::new)?;
    T::deserialize(typ, column.slice)
}

/// The columns of both orders tables, from the same paths in both formats.
const ORDER_COLUMNS: [Column; 12] = [
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
    ("tracking", "tracking", "uuid"),
    ("status", "status", "text"),
];

/// The Avro orders table's own columns, after [`ORDER_COLUMNS`]: a date
/// and an exact decimal, Avro's logical types.
const AVRO_OWN_COLUMNS: [Column; 2] = [
    ("ship_date", "ship_date", "date"),
    ("total", "total", "decimal"),
];

/// The Protobuf orders table's own column: a 64-bit integer past 2^53.
const PROTO_OWN_COLUMNS: [Column; 1] = [("total_micros", "total_micros", "bigint")];

/// Order `n` as both formats have it, but for its weight and its money.
fn order(n: u32) -> Order {
    Order {
        order_id: format!("order-{:04}", n % KEYS),
        customer_name: Some(format!("{} {n}", NAMES[n as usize % 4])),
        city: Some(PLACES[n as usize % 5].into()),
        tier: Some(TIERS[n as usize % 3].into()),
        items: Some(items(n)),
        team: team(n),
        note: note(n),
        quantity: Some((n % 7) as i32),
        placed_at: Some(CqlTimestamp(placed_ms(n))),
        tracking: Some(tracking(n)),
        status: Some(STATUSES[n as usize % 4].into()),
        ..Order::default()
    }
}

/// The record of order `n`, whose row is `row`, as both formats take it in
/// JSON, its labels from `channel`: the note and the money are each
/// format's own.
fn order_record(n: u32, row: &Order, channel: &str) -> Value {
    let mut labels = json!({ "channel": channel });
    if let Some(team) = &row.team {
        labels["team"] = team.clone().into();
    }
    json!({
        "order_id": row.order_id,
        "customer": { "name": row.customer_name, "city": row.city, "tier": row.tier },
        "items": row.items,
        "labels": labels,
        "quantity": row.quantity,
        "weight_kg": row.weight_kg,
        "placed_at": rfc3339(placed_ms(n), false),
        "tracking": row.tracking.unwrap().to_string(),
        "status": row.status,
    })
}

/// Order `n` in Avro (tests/registry/order.avsc): its record, as
/// registry-produce takes it, and the row it must become. The note is a
/// nullable union, given null.
fn avro_order(n: u32) -> (Value, Order) {
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
    let row = Order {
        weight_kg: Some(f64::from(n) * 0.25),
        ship_date: Some(cql_date(days)),
        total: Some(Exact(total.clone())),
        ..order(n)
    };
    let mut value = order_record(n, &row, "web");
    value["note"] = row.note.clone().into();
    value["ship_date"] = iso_date(days).into();
    value["total"] = total.into();
    (keyed(&row.order_id, value), row)
}

/// Order `n` in Protobuf (tests/registry/order.proto), in its JSON
/// mapping: the note a `StringValue` left out when null; a zero quantity
/// or weight, a first enum value and no items are proto3's defaults,
/// which are not on the wire and must read as themselves.
fn proto_order(n: u32) -> (Value, Order) {
    let micros = PAST_2_53 + i64::from(n) * 1_000_003;
    let row = Order {
        weight_kg: Some(f64::from(n % 8) * 0.25),
        total_micros: Some(if n % 2 == 1 { -micros } else { micros }),
        ..order(n)
    };
    let mut value = order_record(n, &row, "app");
    value["total_micros"] = row.total_micros.into();
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

impl Keyed for Reading {
    fn key(&self) -> &str {
        &self.sensor_id
    }
}

const READING_COLUMNS: [Column; 9] = [
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
fn dataset<R: Keyed>(make: impl Fn(u32) -> (Value, R)) -> (Vec<Value>, HashMap<String, R>) {
    let (records, rows): (Vec<Value>, Vec<R>) = (0..RECORDS).map(make).unzip();
    (records, by_key(rows))
}

/// A topic of the three-format test and its table: the mapping's name
/// (the table's too), its format, its schema file of tests/registry and,
/// for Protobuf, the message; the key column and the columns.
struct Feed {
    topic: String,
    table: String,
    name: &'static str,
    format: &'static str,
    schema: &'static str,
    message: Option<&'static str>,
    key: &'static str,
    columns: Vec<Column>,
}

impl Feed {
    /// Creates the topic and publishes `records` to it: the schema id they
    /// carry.
    fn publish(&self, records: &[Value]) -> u32 {
        create_topic(&self.topic, 3, &[]);
        registry_produce(&self.topic, self.format, self.schema, self.message, records)
    }

    /// Its `[[mapping]]` entry.
    fn mapping(&self) -> String {
        let (topic, table) = (&self.topic, &self.table);
        mapping(
            self.name,
            topic,
            table,
            self.format,
            self.key,
            "",
            &self.columns,
        )
    }
}

/// The Avro orders, the Protobuf orders and the JSON Schema readings, into
/// tables of `keyspace`.
fn feeds(keyspace: &str) -> [Feed; 3] {
    let feed = |name, format, schema, message, key, columns| Feed {
        topic: unique(&format!("reg_{name}")),
        table: format!("{keyspace}.{name}"),
        name,
        format,
        schema,
        message,
        key,
        columns,
    };
    let orders = |own: &[Column]| [&ORDER_COLUMNS[..], own].concat();
    [
        feed(
            "orders_avro",
            "avro",
            "order.avsc",
            None,
            "order_id",
            orders(&AVRO_OWN_COLUMNS),
        ),
        feed(
            "orders_proto",
            "protobuf",
            "order.proto",
            Some("Order"),
            "order_id",
            orders(&PROTO_OWN_COLUMNS),
        ),
        feed(
            "readings",
            "json-schema",
            "reading.schema.json",
            None,
            "sensor_id",
            READING_COLUMNS.to_vec(),
        ),
    ]
}

/// Checks that the Avro orders hold the cases that matter most: a key's
/// later record, an exact decimal of fifteen digits, days and times
/// before 1970, a null union, a key the map lacks, an empty array and a
/// negative decimal.
fn assert_avro_cases(rows: &HashMap<String, Order>) {
    let order = &rows["order-0077"];
    assert_eq!(
        order.customer_name.as_deref(),
        Some("花子 277"),
        "the later record"
    );
    assert_eq!(order.total, Some(Exact("1234567890123.45".into())));
    assert_eq!(order.ship_date, Some(cql_date(-277)), "a day before 1970");
    assert!(order.placed_at.unwrap().0 < 0, "a time before 1970");
    let avro: Vec<&Order> = rows.values().collect();
    assert!(avro.iter().any(|r| r.note.is_none()), "a null union");
    assert!(avro.iter().any(|r| r.team.is_none()), "a key the map lacks");
    assert!(
        avro.iter().any(|r| r.items == Some(Vec::new())),
        "an empty array"
    );
    let negative = |r: &&Order| r.total.as_ref().is_some_and(|t| t.0.starts_with('-'));
    assert!(avro.iter().any(negative), "a negative decimal");
}

/// Checks that the Protobuf orders hold proto3's defaults (a zero int and
/// double, enum 0, no items), a null wrapper and an integer past 2^53
/// that must stay exact, and the readings such an integer too.
fn assert_proto_and_json_cases(
    proto_rows: &HashMap<String, Order>,
    json: &HashMap<String, Reading>,
) {
    let proto: Vec<&Order> = proto_rows.values().collect();
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
    assert_eq!(json["sensor-000"].count, Some(PAST_2_53 + 200));
}

#[test]
fn each_format_from_confluents_serializers_is_stored_once() {
    let _registry = registry_up();
    let [avro, proto, json] = feeds(&unique("registry"));
    let (avro_records, avro_rows) = dataset(avro_order);
    let (proto_records, proto_rows) = dataset(proto_order);
    let (json_records, json_rows) = dataset(reading);
    assert_eq!(avro_rows.len(), KEYS as usize, "keys come twice");
    let ids = [
        avro.publish(&avro_records),
        proto.publish(&proto_records),
        json.publish(&json_records),
    ];
    assert_distinct("schema ids", ids);
    let pipeline = Pipeline::with_registry(&[avro.mapping(), proto.mapping(), json.mapping()]);
    let first = pipeline.process_until_idle(&[]);
    assert_eq!(first["consumed"], 3 * RECORDS, "{first}");
    assert_eq!(first["dead_lettered"], 0, "{first}");
    // Nothing new: a second run reads nothing and changes nothing.
    let second = pipeline.process_until_idle(&[]);
    assert_eq!(second["consumed"], 0, "{second}");

    let cql = Cql::new();
    assert_stored(&cql, &avro.table, &avro.columns, &avro_rows);
    assert_stored(&cql, &proto.table, &proto.columns, &proto_rows);
    assert_stored(&cql, &json.table, &json.columns, &json_rows);
    // The tables equal the datasets; these hold the cases that matter most.
    assert_avro_cases(&avro_rows);
    assert_proto_and_json_cases(&proto_rows, &json_rows);
    assert_eq!(topic_size(&pipeline.dlq), 0, "nothing dead-lettered");
    for topic in [&avro.topic, &proto.topic, &json.topic] {
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

impl Keyed for Shipment {
    fn key(&self) -> &str {
        &self.shipment_id
    }
}

const SHIPMENT_COLUMNS: [Column; 4] = [
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

/// Publishes shipments `numbers` to `topic` in version `version` (1 or 2)
/// of their schema: the schema id the records carry, and the rows they
/// must become.
fn publish_shipments(topic: &str, version: u8, numbers: Range<u32>) -> (u32, Vec<Shipment>) {
    let make: fn(u32) -> (Value, Shipment) = match version {
        1 => shipment_v1,
        2 => shipment_v2,
        _ => panic!("the shipments' schema has no version {version}"),
    };
    let schema = format!("shipment_v{version}.avsc");
    let (records, rows): (Vec<Value>, Vec<Shipment>) = numbers.map(make).unzip();
    (
        registry_produce(topic, "avro", &schema, None, &records),
        rows,
    )
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

/// A topic of shipments of the test's own, and a pipeline that reads it
/// into a table of a keyspace of its own.
struct Shipments {
    topic: String,
    table: String,
    pipeline: Pipeline,
}

impl Shipments {
    /// The topic `reg_<what>_…`, the table `registry_<what>_….shipments`.
    fn new(what: &str) -> Shipments {
        let topic = unique(&format!("reg_{what}"));
        create_topic(&topic, 3, &[]);
        let table = format!("{}.shipments", unique(&format!("registry_{what}")));
        let pipeline =
            Pipeline::with_registry(&[shipments_mapping("shipments", &topic, &table, "")]);
        Shipments {
            topic,
            table,
            pipeline,
        }
    }
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
        || try_rows(cql, table, &SHIPMENT_COLUMNS).is_ok_and(same),
    );
    assert_stored(cql, table, &SHIPMENT_COLUMNS, expected);
}

/// Checks that the processor `job` of `pipeline` still runs and has
/// dead-lettered nothing.
fn assert_flowing(pipeline: &Pipeline, job: &mut Followed) {
    assert!(!job.exited(), "the processor ended: {}", job.logged());
    assert_eq!(
        topic_size(&pipeline.dlq),
        0,
        "nothing dead-lettered: {}",
        job.logged()
    );
}

/// Checks the rows that show how the versions meet: a version 1 row, a
/// version 2 row that took the default, and one written by both, whose
/// weight is null where an absent field nulls and kept where it leaves
/// the column unset.
fn assert_versions_spelled_out(
    expected: &HashMap<String, Shipment>,
    expected_kept: &HashMap<String, Shipment>,
) {
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
}

#[test]
fn a_producer_moving_to_v2_keeps_flowing() {
    let _registry = registry_up();
    let (topic, keyspace) = (unique("reg_versions"), unique("registry_versions"));
    create_topic(&topic, 3, &[]);
    let (nulled, kept) = (format!("{keyspace}.shipments"), format!("{keyspace}.kept"));
    let pipeline = Pipeline::with_registry(&[
        shipments_mapping("shipments", &topic, &nulled, ""),
        shipments_mapping("kept", &topic, &kept, "absent = \"unset\""),
    ]);
    // One process throughout: it must never end.
    let mut job = Followed::spawn(pipeline.command(&[]));
    let cql = Cql::new();

    // Version 1: shipments 0..100.
    let (v1, rows) = publish_shipments(&topic, 1, 0..100);
    let mut expected = by_key(rows);
    wait_for_shipments(&cql, &nulled, &expected);
    wait_for_shipments(&cql, &kept, &expected);

    // Version 2, a new id: shipments 50..150, half of them again.
    let (v2, rows) = publish_shipments(&topic, 2, 50..150);
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
    assert_versions_spelled_out(&expected, &expected_kept);
    assert_flowing(&pipeline, &mut job);
}

/// A record the processor must dead-letter: its payload, the kind and the
/// schema id its letter must say, and words its reason must hold.
struct Bad {
    kind: &'static str,
    payload: Vec<u8>,
    says: &'static str,
    schema_id: Option<u32>,
}

fn bad(kind: &'static str, payload: Vec<u8>, says: &'static str, schema_id: Option<u32>) -> Bad {
    Bad {
        kind,
        payload,
        says,
        schema_id,
    }
}

/// Records for a topic read as Avro of schema `id`, with `body` a good
/// record's Avro body: two that are not framed, one framing an id the
/// registry lacks, and two whose body their schema cannot decode
/// (garbage, and Avro framed with a JSON Schema's id).
fn bad_records(id: u32, body: Vec<u8>) -> Vec<Bad> {
    let (reading, _) = reading(1);
    let side = unique("reg_bad_json");
    let schema = "reading.schema.json";
    let json_id = registry_produce(&side, "json-schema", schema, None, &[reading]);
    let unknown = 987_654;
    let (status, said) = registry_get(&format!("schemas/ids/{unknown}"));
    assert_eq!(status, 404, "the registry has no schema {unknown}: {said}");
    // Garbage after the good id really is garbage to this schema.
    let schema = registry_get(&format!("schemas/ids/{id}")).1["schema"].clone();
    let schema = apache_avro::Schema::parse_str(schema.as_str().unwrap()).unwrap();
    assert!(apache_avro::from_avro_datum(&schema, &mut &[0xffu8; 3][..], None).is_err());
    vec![
        bad("not_registry_framed", br#"{"id":1}"#.to_vec(), "0x7b", None),
        bad(
            "not_registry_framed",
            vec![0, 0, 1],
            "shorter than the 5",
            None,
        ),
        bad(
            "unknown_schema",
            [frame(unknown), body.clone()].concat(),
            "987654",
            Some(unknown),
        ),
        bad(
            "undecodable",
            [frame(id), vec![0xff; 3]].concat(),
            "not Avro",
            Some(id),
        ),
        bad(
            "undecodable",
            [frame(json_id), body].concat(),
            "JSON",
            Some(json_id),
        ),
    ]
}

/// Checks that the DLQ `dlq` holds each of `bad` once, from `topic`, with
/// its kind, its reason and the schema id it names, if any.
fn assert_dead_letters(dlq: &str, topic: &str, bad: &[Bad]) {
    let dead = read_exactly(dlq, bad.len());
    for Bad {
        kind,
        payload,
        says,
        schema_id,
    } in bad
    {
        let found: Vec<&OwnedMessage> = dead
            .iter()
            .filter(|m| m.payload() == Some(payload.as_slice()))
            .collect();
        assert_eq!(found.len(), 1, "{kind} {payload:?} in the DLQ once");
        let letter = found[0];
        assert_eq!(header(letter, "rtds.error.kind").as_deref(), Some(*kind));
        assert_eq!(header(letter, "rtds.source.topic").as_deref(), Some(topic));
        let error = header(letter, "rtds.error").unwrap_or_default();
        assert!(
            error.contains(says),
            "{kind}: the reason lacks {says}: {error}"
        );
        let shown = schema_id.map(|id| id.to_string());
        assert_eq!(header(letter, "rtds.schema.id"), shown, "{kind}: {error}");
    }
}

#[test]
fn bad_records_go_to_the_dlq_by_kind() {
    let _registry = registry_up();
    let Shipments {
        topic,
        table,
        pipeline,
    } = Shipments::new("bad");
    let (id, rows) = publish_shipments(&topic, 1, 0..100);
    // A good record's Avro body, for frames that name the wrong schema.
    let good = read_topic(&topic, rows.len());
    let bad = bad_records(id, good[0].payload().unwrap()[5..].to_vec());
    let raw: Vec<Raw> = bad
        .iter()
        .enumerate()
        .map(|(i, b)| (Some(format!("bad-{i}").into_bytes()), b.payload.clone()))
        .collect();
    send_keyed(&topic, &raw);
    let summary = pipeline.process_until_idle(&[]);
    assert_eq!(summary["dead_lettered"], bad.len(), "{summary}");

    assert_dead_letters(&pipeline.dlq, &topic, &bad);
    let sent = rows.len() + bad.len();
    assert_stored(&Cql::new(), &table, &SHIPMENT_COLUMNS, &by_key(rows));
    assert_eq!(pipeline.committed(&topic), sent as i64);
}

/// Shipments 50..250 in version 2, registered now through a topic the job
/// does not read: a schema the job has never fetched. Their records as
/// Confluent's serializer wrote them, the schema's id, and their rows.
fn unfetched_v2_shipments() -> (Vec<Raw>, u32, Vec<Shipment>) {
    let side = unique("reg_outage_side");
    let (v2, rows) = publish_shipments(&side, 2, 50..250);
    let held: Vec<Raw> = read_exactly(&side, rows.len())
        .iter()
        .map(|m| (m.key().map(<[u8]>::to_vec), m.payload().unwrap().to_vec()))
        .collect();
    assert!(
        held.iter()
            .all(|(_, payload)| payload[..5] == frame(v2)[..])
    );
    (held, v2, rows)
}

/// Checks that `job`, the registry down, holds the records of schema
/// `v2`: it says why, ends nothing, dead-letters nothing, and neither
/// writes nor commits past the 50 rows before them.
fn assert_held(job: &mut Followed, shipments: &Shipments, cql: &Cql, v2: u32) {
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
    let pipeline = &shipments.pipeline;
    assert_eq!(
        topic_size(&pipeline.dlq),
        0,
        "an outage is no bad data: {logged}"
    );
    let written = cql.count(&shipments.table);
    assert_eq!(written, Some(50), "the held records are not written");
    assert!(
        pipeline.committed(&shipments.topic) <= 50,
        "nothing committed past the held records"
    );
}

#[test]
fn a_registry_down_holds_records_and_loses_none() {
    let _registry = registry_alone();
    let shipments = Shipments::new("outage");
    let (topic, table, pipeline) = (&shipments.topic, &shipments.table, &shipments.pipeline);
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
    let mut expected = by_key(publish_shipments(topic, 1, 0..50).1);
    wait_for_shipments(&cql, table, &expected);

    // Version 2's records wait for the registry to be down.
    let (held, v2, rows) = unfetched_v2_shipments();
    let stopped = RegistryStopped::stop();
    send_keyed(topic, &held);
    assert_held(&mut job, &shipments, &cql, v2);

    stopped.start();
    expected.extend(by_key(rows));
    wait_for_shipments(&cql, table, &expected);
    wait_until("the job resuming", Duration::from_secs(30), || {
        job.logged().contains("consumption resumed")
    });
    assert_flowing(pipeline, &mut job);
    wait_until("every record committed", Duration::from_secs(30), || {
        pipeline.committed(topic) == 250
    });
}

// ------------------------------------------------------------------ the users pipeline

/// The flags that make `rtds produce` and `rtds process` speak Avro
/// through the stack's registry.
const AVRO_FLAGS: [&str; 4] = ["--format", "avro", "--registry-url", REGISTRY_URL];

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

/// The id and the schema of the latest version of `subject`, which the
/// registry must list.
fn latest_schema(subject: &str) -> (u32, apache_avro::Schema) {
    let (status, subjects) = registry_get("subjects");
    assert_eq!(status, 200);
    assert!(
        subjects.as_array().unwrap().iter().any(|s| *s == *subject),
        "no subject {subject}"
    );
    let latest = registry_get(&format!("subjects/{subject}/versions/latest")).1;
    let id = u32::try_from(latest["id"].as_u64().expect("an id")).unwrap();
    let schema = apache_avro::Schema::parse_str(latest["schema"].as_str().unwrap()).unwrap();
    (id, schema)
}

#[test]
fn the_users_pipeline_runs_in_avro() {
    let _registry = registry_up();
    let (topic, keyspace) = (unique("reg_users"), unique("registry_users"));
    let produced = produce_builtin_with(&topic, 500, &AVRO_FLAGS);
    assert_eq!(produced["acked"], 500, "{produced}");
    let summary = process_until_idle_with(&topic, &keyspace, "5s", &AVRO_FLAGS);
    assert_eq!(summary["written"], 500, "{summary}");
    assert_eq!(summary["dead_lettered"], 0, "{summary}");

    // The topic holds framed Avro of the schema registered as <topic>-value.
    let messages = read_exactly(&topic, 500);
    let (id, schema) = latest_schema(&format!("{topic}-value"));
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
