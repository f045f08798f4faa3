//! `rtds process` with `[[mapping]]` entries, on the real local Kafka and
//! Cassandra, fed a dataset of wiki edits made here: every mapping runs in
//! one consumer group (or those `--mapping` names), each record of a topic
//! becomes a row of each of its mappings' tables, every column read from
//! its path and typed (unicode text, a time in any of its three forms, a
//! list, a uuid, a null where a field is absent); a processor killed with
//! SIGKILL and restarted leaves each row once, as the last record of its key
//! says; a tombstone deletes the row its key names, plain or JSON, unless
//! the mapping says not to; a record a mapping cannot convert goes to the
//! DLQ once, saying why, while the mappings that can convert it still write
//! it; `absent = "unset"` updates only the columns a record gives.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer};
use scylla::DeserializeRow;
use scylla::value::CqlTimestamp;
use serde_json::{Value, json};

/// When the dataset's edits start: 2023-11-14T22:13:20Z.
const EPOCH_SECONDS: i64 = 1_700_000_000;

/// Titles and pages, with letters well beyond ASCII.
const PLACES: [&str; 5] = ["Zürich", "東京", "emoji 🚀", "Ελλάδα", "São Paulo"];

/// Edit `n` of the dataset as its `version`-th record says it, as the row
/// every edits table must hold for it: a later version changes the title,
/// lengths, tags and request, never the key or the editor. Some have no
/// old length, no tags (an empty list, which reads back as one: a list
/// column is frozen) or a null `minor`.
fn edit(n: u32, version: u32) -> EditRow {
    let turn = (n + version * 7) as usize;
    let bytes = ((u128::from(n) << 32) | u128::from(version)).to_be_bytes();
    let editors = ["Ana", "Jürgen", "花子", "RoboBot"];
    EditRow {
        wiki: ["en", "fr", "ja", "de"][n as usize % 4].into(),
        id: 1_000_000 + i64::from(n),
        title: Some(format!("{} {n} v{version}", PLACES[turn % PLACES.len()])),
        editor: Some(format!("{}-{}", editors[n as usize % 4], n % 23)),
        bot: Some(n.is_multiple_of(5)),
        at: Some(CqlTimestamp(
            (EPOCH_SECONDS + i64::from(n) * 60 + i64::from(version)) * 1000,
        )),
        new_length: Some((n * 37 % 9_000 + version) as i32),
        old_length: (!n.is_multiple_of(4)).then_some((n * 31 % 9_000) as i32),
        tags: match turn % 3 {
            0 => Some(Vec::new()),
            1 => Some(vec!["typo".into()]),
            _ => Some(vec!["revert".into(), format!("ŧag-{}", n % 5)]),
        },
        request_id: Some(uuid::Builder::from_random_bytes(bytes).into_uuid()),
        minor: (!n.is_multiple_of(6)).then_some(n.is_multiple_of(2)),
    }
}

impl EditRow {
    /// The record of an [`edit`]: the time as epoch seconds, epoch
    /// milliseconds or RFC 3339 (at +02:00) in turn, `length.old` absent
    /// and `minor` null where the edit has none.
    fn json(&self) -> Value {
        let ms = self.at.unwrap().0;
        let at = match (self.id - 1_000_000) % 3 {
            0 => json!(ms / 1000),
            1 => json!(ms),
            _ => json!(rfc3339(ms / 1000)),
        };
        let mut length = json!({ "new": self.new_length });
        if let Some(old) = self.old_length {
            length["old"] = old.into();
        }
        json!({
            "wiki": self.wiki,
            "id": self.id,
            "title": self.title,
            "user": { "name": self.editor, "bot": self.bot },
            "timestamp": at,
            "length": length,
            "tags": self.tags.clone().unwrap_or_default(),
            "meta": { "request_id": self.request_id.unwrap().to_string() },
            "minor": self.minor,
        })
    }

    /// The record as a topic holds it: keyed by the id's text.
    fn keyed(&self) -> Keyed {
        let value = self.json().to_string().into_bytes();
        (self.id.to_string(), Some(value))
    }

    /// The key of a topic keyed by the whole primary key `((wiki), id)`.
    fn json_key(&self) -> String {
        json!({ "wiki": self.wiki, "id": self.id }).to_string()
    }
}

/// `seconds` since the epoch in RFC 3339 at +02:00: the same instant
/// spelled another way than UTC.
fn rfc3339(seconds: i64) -> String {
    let offset = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap()
        .with_timezone(&offset)
        .to_rfc3339()
}

/// A row of an edits table, read by column name.
#[derive(Debug, Clone, Default, PartialEq, DeserializeRow)]
struct EditRow {
    wiki: String,
    id: i64,
    title: Option<String>,
    editor: Option<String>,
    bot: Option<bool>,
    at: Option<CqlTimestamp>,
    new_length: Option<i32>,
    old_length: Option<i32>,
    tags: Option<Vec<String>>,
    request_id: Option<uuid::Uuid>,
    minor: Option<bool>,
}

const EDIT_COLUMNS: &str =
    "wiki, id, title, editor, bot, at, new_length, old_length, tags, request_id, minor";

/// A mapping of the edits of `topic` into `table` keyed by `primary_key`,
/// with the columns of [`EditRow`], and `extra` lines (`deletes`,
/// `absent`) in the entry itself.
fn edits_mapping(name: &str, topic: &str, table: &str, primary_key: &str, extra: &str) -> String {
    format!(
        r#"
[[mapping]]
name = "{name}"
topic = "{topic}"
table = "{table}"
primary_key = "{primary_key}"
{extra}
[mapping.columns]
wiki       = {{ path = "wiki", type = "text" }}
id         = {{ path = "id", type = "bigint" }}
title      = {{ path = "title", type = "text" }}
editor     = {{ path = "user.name", type = "text" }}
bot        = {{ path = "user.bot", type = "boolean" }}
at         = {{ path = "timestamp", type = "timestamp" }}
new_length = {{ path = "length.new", type = "int" }}
old_length = {{ path = "length.old", type = "int" }}
tags       = {{ path = "tags", type = "list<text>" }}
request_id = {{ path = "meta.request_id", type = "uuid" }}
minor      = {{ path = "minor", type = "boolean" }}
"#
    )
}

/// A page's views, a second shape of record: `{page, views, at}`, keyed by
/// the page.
fn view(n: u32) -> Keyed {
    let page = format!("{} {n}", PLACES[n as usize % PLACES.len()]);
    let value =
        json!({ "page": page, "views": n * 3, "at": rfc3339(EPOCH_SECONDS + i64::from(n)) });
    (page, Some(value.to_string().into_bytes()))
}

/// A row of the views table.
#[derive(Debug, PartialEq, DeserializeRow)]
struct ViewRow {
    page: String,
    views: Option<i32>,
    at: Option<CqlTimestamp>,
    source_partition: Option<i32>,
    source_offset: Option<i64>,
}

/// The views of `topic` into `table`, with where Kafka put each record.
fn views_mapping(topic: &str, table: &str) -> String {
    format!(
        r#"
[[mapping]]
name = "views"
topic = "{topic}"
table = "{table}"
primary_key = "page"
[mapping.columns]
page             = {{ path = "page", type = "text" }}
views            = {{ path = "views", type = "int" }}
at               = {{ path = "at", type = "timestamp" }}
source_partition = {{ path = "@partition", type = "int" }}
source_offset    = {{ path = "@offset", type = "bigint" }}
"#
    )
}

/// A record: its key and its value, none for a tombstone.
type Keyed = (String, Option<Vec<u8>>);

/// Sends `edits` to `topic`, each keyed by its id.
fn send_edits(topic: &str, edits: &[EditRow]) {
    send_keyed(topic, &edits.iter().map(EditRow::keyed).collect::<Vec<_>>());
}

/// Sends `records` to `topic` in order, waiting for the acknowledgements:
/// one key's records land in one partition in this order, each stamped a
/// millisecond after the one before, so that a later record of a key is a
/// later write (two stamped within the same millisecond would tie).
fn send_keyed(topic: &str, records: &[Keyed]) {
    let producer = idempotent_producer();
    let start = chrono::Utc::now().timestamp_millis();
    for (i, (key, value)) in records.iter().enumerate() {
        let mut record = BaseRecord::<str, [u8]>::to(topic)
            .key(key.as_str())
            .timestamp(start + i as i64);
        if let Some(value) = value {
            record = record.payload(value.as_slice());
        }
        while let Err((error, returned)) = producer.send(record) {
            assert!(error.to_string().contains("Queue full"), "{error}");
            producer.poll(Duration::from_millis(10));
            record = returned;
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// What the edits tests read beyond [`Cql`]'s own.
impl Cql {
    /// The rows of `keyspace.table`, 0 when it was never made.
    fn rows_if_made(&self, keyspace: &str, table: &str) -> i64 {
        let made: Vec<(String,)> = self.select(&format!(
            "SELECT table_name FROM system_schema.tables \
             WHERE keyspace_name = '{keyspace}' AND table_name = '{table}'"
        ));
        let count = || self.count(&format!("{keyspace}.{table}")).unwrap();
        made.first().map_or(0, |_| count())
    }

    /// Every row of the edits table `table`, by id.
    fn edits(&self, table: &str) -> HashMap<i64, EditRow> {
        let rows: Vec<EditRow> = self.select(&format!("SELECT {EDIT_COLUMNS} FROM {table}"));
        rows.into_iter().map(|row| (row.id, row)).collect()
    }
}

/// Checks that the edits table `table` holds one row per id of `sent` and
/// nothing else, each equal to what the last record of its id says.
fn assert_rows_are(cql: &Cql, table: &str, sent: &[EditRow]) {
    let last: HashMap<i64, &EditRow> = sent.iter().map(|edit| (edit.id, edit)).collect();
    let rows: Vec<EditRow> = cql.select(&format!("SELECT {EDIT_COLUMNS} FROM {table}"));
    assert_distinct(&format!("ids in {table}"), rows.iter().map(|row| row.id));
    assert_eq!(rows.len(), last.len(), "rows in {table}");
    for row in &rows {
        assert_eq!(Some(row), last.get(&row.id).copied(), "in {table}");
    }
}

/// Checks that the views table `table` holds a row for each of the `count`
/// records of `topic` and nothing else, with its fields and the partition
/// and offset Kafka gave it.
fn assert_views(cql: &Cql, table: &str, topic: &str, count: u32) {
    let placed: HashMap<Vec<u8>, (i32, i64)> = read_exactly(topic, count as usize)
        .iter()
        .map(|m| (m.key().unwrap().to_vec(), (m.partition(), m.offset())))
        .collect();
    let expected: HashMap<String, ViewRow> = (0..count)
        .map(|n| {
            let page = view(n).0;
            let (partition, offset) = placed[page.as_bytes()];
            let row = ViewRow {
                page: page.clone(),
                views: Some(n as i32 * 3),
                at: Some(CqlTimestamp((EPOCH_SECONDS + i64::from(n)) * 1000)),
                source_partition: Some(partition),
                source_offset: Some(offset),
            };
            (page, row)
        })
        .collect();
    let columns = "page, views, at, source_partition, source_offset";
    let rows: Vec<ViewRow> = cql.select(&format!("SELECT {columns} FROM {table}"));
    assert_eq!(rows.len(), count as usize, "rows in {table}");
    let stored: HashMap<String, ViewRow> = rows.into_iter().map(|r| (r.page.clone(), r)).collect();
    assert_eq!(stored, expected, "the rows of {table}");
}

/// The text of header `name` of a dead letter.
fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    let found = headers.iter().find(|h| h.key == name)?;
    found.value.map(|v| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn one_topic_feeds_two_tables() {
    require_stack();
    let (topic, keyspace) = (unique("wiki_edits"), unique("mapped"));
    create_topic(&topic, 3, &[]);
    let sent: Vec<EditRow> = (0..300).map(|n| edit(n, 0)).collect();
    send_edits(&topic, &sent);
    let (edits, by_user) = (format!("{keyspace}.edits"), format!("{keyspace}.by_user"));
    let pipeline = Pipeline::new(&[
        edits_mapping("edits", &topic, &edits, "((wiki), id)", ""),
        edits_mapping("edits_by_user", &topic, &by_user, "((editor), id)", ""),
    ]);
    pipeline.process_until_idle(&[]);

    let cql = Cql::new();
    assert_rows_are(&cql, &edits, &sent);
    assert_rows_are(&cql, &by_user, &sent);
    // The cases that matter most, spelled out.
    let stored = cql.edits(&edits);
    assert_eq!(stored[&1_000_001].title.as_deref(), Some("東京 1 v0"));
    assert_eq!(stored[&1_000_002].title.as_deref(), Some("emoji 🚀 2 v0"));
    assert_eq!(stored[&1_000_001].editor.as_deref(), Some("Jürgen-1"));
    // Seconds, milliseconds and RFC 3339 at +02:00: each the instant it says.
    assert_eq!(sent[0].json()["timestamp"], 1_700_000_000);
    assert_eq!(sent[1].json()["timestamp"], 1_700_000_060_000_i64);
    assert_eq!(sent[2].json()["timestamp"], "2023-11-15T00:15:20+02:00");
    for n in 0..3 {
        let at = stored[&(1_000_000 + n)].at;
        assert_eq!(at, Some(CqlTimestamp((EPOCH_SECONDS + 60 * n) * 1000)));
    }
    assert_eq!(stored[&1_000_001].tags, Some(vec!["typo".to_string()]));
    assert_eq!(stored[&1_000_000].tags, Some(Vec::new()), "an empty list");
    assert_eq!(stored[&1_000_000].old_length, None, "length.old is absent");
    assert_eq!(stored[&1_000_001].old_length, Some(31));
    assert_eq!(stored[&1_000_000].minor, None, "minor is null");
    assert_eq!(topic_size(&pipeline.dlq), 0, "nothing dead-lettered");
    assert_eq!(pipeline.committed(&topic), 300, "every record committed");
}

#[test]
fn two_topics_feed_two_tables_in_one_process() {
    require_stack();
    let (edits_topic, views_topic) = (unique("wiki_edits"), unique("page_views"));
    create_topic(&edits_topic, 3, &[]);
    create_topic(&views_topic, 2, &[]);
    let sent: Vec<EditRow> = (0..200).map(|n| edit(n, 0)).collect();
    send_edits(&edits_topic, &sent);
    let views = 150;
    send_keyed(&views_topic, &(0..views).map(view).collect::<Vec<_>>());
    let mappings = |keyspace: &str| {
        let edits = format!("{keyspace}.edits");
        [
            edits_mapping("edits", &edits_topic, &edits, "((wiki), id)", ""),
            views_mapping(&views_topic, &format!("{keyspace}.page_views")),
        ]
    };

    let keyspace = unique("mapped_two");
    let both = Pipeline::new(&mappings(&keyspace));
    both.process_until_idle(&[]);
    let cql = Cql::new();
    assert_rows_are(&cql, &format!("{keyspace}.edits"), &sent);
    assert_views(&cql, &format!("{keyspace}.page_views"), &views_topic, views);
    assert_eq!(topic_size(&both.dlq), 0, "nothing dead-lettered");

    // The same entries in a group and keyspace of their own: only the
    // views run, and the edits topic is left to a later run of the group.
    let keyspace = unique("mapped_only");
    let only = Pipeline::new(&mappings(&keyspace));
    only.process_until_idle(&["--mapping", "views"]);
    assert_views(&cql, &format!("{keyspace}.page_views"), &views_topic, views);
    assert_eq!(cql.rows_if_made(&keyspace, "edits"), 0, "rows of edits");
    assert_eq!(only.committed(&views_topic), i64::from(views));
    assert_eq!(only.committed(&edits_topic), 0, "the edits were not read");
}

#[test]
fn a_killed_processor_restarts_and_leaves_every_row_exactly_once() {
    require_stack();
    let (topic, keyspace) = (unique("wiki_kill"), unique("mapped_kill"));
    create_topic(&topic, 3, &[]);
    // 16,000 edits, the first 4,000 of them edited again later on.
    let (keys, total) = (16_000, 20_000);
    let stream: Vec<EditRow> = (0..total).map(|i| edit(i % keys, i / keys)).collect();
    send_edits(&topic, &stream);
    let (edits, by_user) = (format!("{keyspace}.edits"), format!("{keyspace}.by_user"));
    let pipeline = Pipeline::new(&[
        edits_mapping("edits", &topic, &edits, "((wiki), id)", ""),
        edits_mapping("edits_by_user", &topic, &by_user, "((editor), id)", ""),
    ]);
    let cql = Cql::new();

    // A few writes at a time, one row each: surely killed mid-stream.
    let mut first = pipeline.command(&[]);
    first
        .env("RTDS_CASSANDRA_CONCURRENCY", "2")
        .env("RTDS_CASSANDRA_BATCH_ROWS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut first = Background(first.spawn().expect("the rtds binary runs"));
    wait_until("rows stored", Duration::from_secs(120), || {
        cql.count(&edits).unwrap_or(0) >= 1_000
    });
    // And committed: a kill before the first commit means all over again.
    wait_until("the group committing", Duration::from_secs(30), || {
        pipeline.committed(&topic) > 0
    });
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    let at_kill = cql.count(&edits).unwrap();
    let keys_total = i64::from(keys);
    assert!(at_kill < keys_total, "killed mid-stream: {at_kill} rows");

    pipeline.process_until_idle(&[]);
    assert_rows_are(&cql, &edits, &stream);
    assert_rows_are(&cql, &by_user, &stream);
    // An edited one shows its second version: the later record won.
    let seventh = cql.edits(&edits).remove(&1_000_007).unwrap();
    assert_eq!(seventh.title.as_deref(), Some("São Paulo 7 v1"));
    assert_eq!(pipeline.committed(&topic), i64::from(total));
    assert_eq!(topic_size(&pipeline.dlq), 0, "nothing dead-lettered");
}

#[test]
fn tombstones_delete_by_key() {
    require_stack();
    let (plain, composite) = (unique("wiki_plain"), unique("wiki_composite"));
    create_topic(&plain, 3, &[]);
    create_topic(&composite, 3, &[]);
    let keyspace = unique("mapped_tombstones");
    let table = |name: &str| format!("{keyspace}.{name}");
    let pipeline = Pipeline::new(&[
        edits_mapping("by_id", &plain, &table("by_id"), "id", ""),
        edits_mapping("kept", &plain, &table("kept"), "id", "deletes = \"none\""),
        edits_mapping("by_wiki", &composite, &table("by_wiki"), "((wiki), id)", ""),
    ]);
    let sent: Vec<EditRow> = (0..100).map(|n| edit(n, 0)).collect();
    send_edits(&plain, &sent);
    let json_keyed: Vec<Keyed> = sent.iter().map(|e| (e.json_key(), e.keyed().1)).collect();
    send_keyed(&composite, &json_keyed);
    pipeline.process_until_idle(&[]);
    let cql = Cql::new();
    for name in ["by_id", "kept", "by_wiki"] {
        assert_rows_are(&cql, &table(name), &sent);
    }

    // A tombstone for every third edit, in both topics.
    let (gone, left): (Vec<EditRow>, Vec<EditRow>) =
        sent.iter().cloned().partition(|e| e.id % 3 == 0);
    let tombstones: Vec<Keyed> = gone.iter().map(|e| (e.id.to_string(), None)).collect();
    send_keyed(&plain, &tombstones);
    let json_tombstones: Vec<Keyed> = gone.iter().map(|e| (e.json_key(), None)).collect();
    send_keyed(&composite, &json_tombstones);
    pipeline.process_until_idle(&[]);
    assert_rows_are(&cql, &table("by_id"), &left);
    assert_rows_are(&cql, &table("by_wiki"), &left);
    assert_rows_are(&cql, &table("kept"), &sent);
    assert_eq!(
        topic_size(&pipeline.dlq),
        0,
        "a tombstone is no dead letter"
    );
}

/// Checks that the DLQ `dlq` holds exactly `twelve_a`, refused by the
/// edits mapping saying why, and `not_json`, with their headers.
fn assert_dead_letters(dlq: &str, topic: &str, twelve_a: &[u8], not_json: &[u8]) {
    // Once each, though both mappings read the topic.
    let dead = read_exactly(dlq, 2);
    let mut payloads: Vec<&[u8]> = dead.iter().map(|m| m.payload().unwrap()).collect();
    payloads.sort();
    let mut bad = [twelve_a, not_json];
    bad.sort();
    assert_eq!(payloads, bad, "the DLQ holds exactly the two, bytes intact");
    for message in &dead {
        let error = header(message, "rtds.error").unwrap_or_default();
        let kind = header(message, "rtds.error.kind");
        assert_eq!(header(message, "rtds.source.topic").as_deref(), Some(topic));
        if message.payload() == Some(not_json) {
            assert_eq!(kind.as_deref(), Some("not_json"));
            assert!(!error.is_empty(), "no reason given");
            continue;
        }
        assert_eq!(kind.as_deref(), Some("unmapped"));
        let words = "edits|column new_length|path length.new|expected int|12a";
        for word in words.split('|') {
            assert!(error.contains(word), "the reason lacks {word}: {error}");
        }
    }
}

#[test]
fn a_record_that_does_not_fit_goes_to_the_dlq_saying_why() {
    require_stack();
    let (topic, keyspace) = (unique("wiki_unfit"), unique("mapped_unfit"));
    create_topic(&topic, 3, &[]);
    let (edits, titles) = (format!("{keyspace}.edits"), format!("{keyspace}.titles"));
    let titles_mapping = format!(
        "\n[[mapping]]\nname = \"titles\"\ntopic = \"{topic}\"\ntable = \"{titles}\"\n\
         primary_key = \"id\"\n[mapping.columns]\nid = {{ path = \"id\", type = \"bigint\" }}\n\
         title = {{ path = \"title\", type = \"text\" }}\n"
    );
    let pipeline = Pipeline::new(&[
        edits_mapping("edits", &topic, &edits, "((wiki), id)", ""),
        titles_mapping,
    ]);
    let good: Vec<EditRow> = (0..100).map(|n| edit(n, 0)).collect();
    let odd = edit(100, 0);
    let mut twelve_a = odd.json();
    twelve_a["length"]["new"] = "12a".into();
    let twelve_a = twelve_a.to_string().into_bytes();
    let not_json = br#"{"wiki": "en", "id": 1000101, "title": "cut sh"#.to_vec();
    let mut records: Vec<Keyed> = good.iter().map(EditRow::keyed).collect();
    records.insert(50, (odd.id.to_string(), Some(twelve_a.clone())));
    records.insert(75, ("1000101".into(), Some(not_json.clone())));
    send_keyed(&topic, &records);
    pipeline.process_until_idle(&[]);

    assert_dead_letters(&pipeline.dlq, &topic, &twelve_a, &not_json);
    let cql = Cql::new();
    assert_rows_are(&cql, &edits, &good);
    // The titles do not read length.new: the "12a" edit is a title too.
    let stored: HashMap<i64, Option<String>> = cql
        .select::<(i64, Option<String>)>(&format!("SELECT id, title FROM {titles}"))
        .into_iter()
        .collect();
    let expected: HashMap<i64, Option<String>> = good
        .iter()
        .chain([&odd])
        .map(|edit| (edit.id, edit.title.clone()))
        .collect();
    assert_eq!(stored, expected, "the rows of {titles}");
    assert_eq!(pipeline.committed(&topic), records.len() as i64);
}

#[test]
fn a_partial_update_leaves_other_columns_untouched() {
    require_stack();
    let (topic, keyspace) = (unique("wiki_partial"), unique("mapped_partial"));
    create_topic(&topic, 3, &[]);
    let (updated, nulled) = (format!("{keyspace}.edits"), format!("{keyspace}.nulled"));
    let unset = "absent = \"unset\"";
    let pipeline = Pipeline::new(&[
        edits_mapping("edits", &topic, &updated, "((wiki), id)", unset),
        // The default, for contrast: what a record lacks is emptied.
        edits_mapping("edits_nulled", &topic, &nulled, "((wiki), id)", ""),
    ]);
    // Edit 1 has every field: an old length, a tag, a minor flag.
    let first = edit(1, 0);
    assert!(first.old_length.is_some() && first.tags.is_some() && first.minor.is_some());
    let (title, length) = (Some("東京 (renamed)".to_string()), Some(4242));
    let second = json!({
        "wiki": first.wiki,
        "id": first.id,
        "title": title,
        "length": { "new": length },
    });
    let second = (first.id.to_string(), Some(second.to_string().into_bytes()));
    send_keyed(&topic, &[first.keyed(), second]);
    pipeline.process_until_idle(&[]);

    let cql = Cql::new();
    let only_given = EditRow {
        title: title.clone(),
        new_length: length,
        ..first.clone()
    };
    assert_rows_are(&cql, &updated, &[only_given]);
    let emptied = EditRow {
        wiki: first.wiki.clone(),
        id: first.id,
        title,
        new_length: length,
        ..EditRow::default()
    };
    assert_rows_are(&cql, &nulled, &[emptied]);
    assert_eq!(topic_size(&pipeline.dlq), 0, "nothing dead-lettered");
}

/// `rtds status`, `rtds rows` and the dashboard show each mapping: a table
/// not made yet fails its hop with what to run; once stored, the hop names
/// the topic, its lag and the rows, `rtds rows` shows and counts them, and
/// the dashboard's status carries the newest rows.
#[test]
fn status_rows_and_the_dashboard_show_each_mapping() {
    require_stack();
    let (topic, keyspace) = (unique("wiki_edits"), unique("mapped"));
    create_topic(&topic, 2, &[]);
    let sent: Vec<EditRow> = (0..40).map(|n| edit(n, 0)).collect();
    send_edits(&topic, &sent);
    let table = format!("{keyspace}.edits");
    let pipeline = Pipeline::new(&[edits_mapping("edits", &topic, &table, "((wiki), id)", "")]);
    let run = |args: &[&str]| {
        rtds_command_with_config(&pipeline.config, args)
            .output()
            .expect("the rtds binary runs")
    };
    let status = |expect_success: bool| {
        let output = run(&["status", "--json", "--source", "builtin"]);
        assert_eq!(output.status.success(), expect_success, "{}", text(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let hops = report["hops"].as_array().unwrap().clone();
        hops.into_iter()
            .find(|hop| hop["name"] == "mapping")
            .unwrap()
    };
    let before = status(false);
    assert_eq!(before["state"], "fail", "{before}");
    assert!(
        before["advice"].as_str().unwrap().contains("rtds schema"),
        "{before}"
    );

    pipeline.process_until_idle(&[]);
    let after = status(true);
    assert_eq!(after["state"], "ok", "{after}");
    let summary = after["summary"].as_str().unwrap();
    for words in [topic.as_str(), "lag 0", table.as_str(), "40 rows"] {
        assert!(summary.contains(words), "{words}: {summary}");
    }
    let count = run(&["rows", "--mapping", "edits", "--count"]);
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).trim(),
        "40",
        "{}",
        text(&count)
    );
    let listed = run(&["rows", "--mapping", "edits", "--limit", "3", "--json"]);
    let rows: Vec<Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{}", text(&listed));
    let stored = &sent[(rows[0]["id"].as_i64().unwrap() - 1_000_000) as usize];
    assert_eq!(rows[0]["title"].as_str(), stored.title.as_deref());
    let shown = run(&["rows", "--mapping", "edits", "--limit", "5"]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("(5 rows)"),
        "{}",
        text(&shown)
    );

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let dashboard = rtds_command_with_config(&pipeline.config, &["dashboard", "--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _dashboard = Background(dashboard);
    let mut newest = Vec::new();
    wait_until(
        "the dashboard shows the newest rows",
        Duration::from_secs(60),
        || {
            let Some((200, body)) = http_get(port, "/api/status") else {
                return false;
            };
            let report: Value = serde_json::from_str(&body).unwrap_or_default();
            let hops = report["hops"].as_array().cloned().unwrap_or_default();
            let mapping = hops.iter().find(|hop| hop["name"] == "mapping");
            newest = mapping
                .and_then(|hop| hop["details"]["rows"]["newest_rows"].as_array().cloned())
                .unwrap_or_default();
            !newest.is_empty()
        },
    );
    assert!(
        newest.len() <= 5 && newest[0]["title"].is_string(),
        "{newest:?}"
    );
}
