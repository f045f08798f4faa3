//! Records written carelessly or with intent: nothing one carries can stop
//! the job or fool what rtds says about it, and the partition's order holds
//! inside one millisecond. Real Kafka and Cassandra.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::Timestamp;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

/// One record as a test writes it, on partition 0.
#[derive(Default)]
struct Raw {
    key: Vec<u8>,
    /// None: a tombstone.
    payload: Option<Vec<u8>>,
    headers: Vec<(&'static str, &'static str)>,
    timestamp: Option<i64>,
}

/// Sends `records` in order to partition 0 of `topic`, compressed, with a
/// client limit above 2 MB, as a careless producer would.
fn send(topic: &str, records: &[Raw]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("message.max.bytes", "3000000")
        .create()
        .unwrap();
    for raw in records {
        let headers = raw.headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(*v),
            })
        });
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .key(&raw.key)
            .partition(0)
            .headers(headers);
        if let Some(payload) = &raw.payload {
            record = record.payload(payload);
        }
        if let Some(ms) = raw.timestamp {
            record = record.timestamp(ms);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A user record of `id` whose every text field is `value`.
fn user(id: uuid::Uuid, value: &str) -> Vec<u8> {
    let fields = [
        "first_name",
        "last_name",
        "gender",
        "address",
        "post_code",
        "email",
        "username",
        "dob",
        "registered_date",
        "phone",
        "picture",
    ];
    let mut record = serde_json::json!({ "id": id.to_string() });
    for field in fields {
        record[field] = Value::from(value);
    }
    record.to_string().into_bytes()
}

fn header<'a>(message: &'a OwnedMessage, name: &str) -> Vec<&'a str> {
    let Some(headers) = message.headers() else {
        return Vec::new();
    };
    headers
        .iter()
        .filter(|h| h.key == name)
        .filter_map(|h| std::str::from_utf8(h.value?).ok())
        .collect()
}

/// A tombstone whose 2 MB key is not a UUID went to the DLQ whole-key
/// before, with the key again in its reason: too large for the DLQ, a
/// permanent error, and every restart met it again.
#[test]
fn a_tombstone_with_a_huge_key_goes_to_the_dlq_cut_and_the_job_goes_on() {
    require_stack();
    let (topic, keyspace) = (unique("hugekey"), unique("ks"));
    let dlq = format!("{topic}.dlq");
    let after = uuid::Uuid::new_v4();
    let huge = "k".repeat(2_000_000).into_bytes();
    send(
        &topic,
        &[
            Raw {
                key: huge.clone(),
                ..Raw::default()
            },
            Raw {
                key: after.to_string().into_bytes(),
                payload: Some(user(after, "after")),
                ..Raw::default()
            },
        ],
    );
    let summary = process_until_idle(&topic, &keyspace, "3s");
    assert_eq!(summary["dead_lettered"], 1, "{summary}");
    assert_eq!(summary["written"], 1, "{summary}");
    assert!(stored_rows(&topic, &keyspace).contains_key(&after));

    let dead = read_topic(&dlq, 1);
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(header(letter, "rtds.error.kind"), ["bad_tombstone"]);
    assert_eq!(header(letter, "rtds.truncated"), ["true"]);
    let key = letter.key().unwrap();
    assert!(key.len() < 4096 && huge.starts_with(key), "{}", key.len());
    assert_eq!(header(letter, "rtds.original.key.size"), ["2000000"]);
    let reason = header(letter, "rtds.error")[0];
    assert!(
        reason.len() < 2048 && reason.contains("2000000 bytes"),
        "{reason}"
    );
}

/// A producer's own `rtds.*` headers cannot forge the reason, the source
/// offset or `rtds.truncated`: they are kept aside on the DLQ, `rtds dlq`
/// reads rtds's own, and a replay puts them back as they were, with the
/// record's own key, payload and time (an hour old, not the replay's).
#[test]
fn forged_rtds_headers_are_kept_aside_and_replayed_as_they_were() {
    require_stack();
    let (topic, keyspace) = (unique("forged"), unique("ks"));
    let first_produced = chrono::Utc::now().timestamp_millis() - 3_600_000;
    send(
        &topic,
        &[Raw {
            key: b"k".to_vec(),
            payload: Some(b"{not json".to_vec()),
            headers: vec![
                ("rtds.error.kind", "forged"),
                ("rtds.source.offset", "999999"),
                ("rtds.truncated", "true"),
                ("trace", "t-1"),
            ],
            timestamp: Some(first_produced),
        }],
    );
    let summary = process_until_idle(&topic, &keyspace, "3s");
    assert_eq!(summary["dead_lettered"], 1, "{summary}");

    let listed = dlq_json(&topic, &["list"], &[]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["reason"], "bad_shape", "{listed:?}");
    assert_eq!(listed[0]["source_offset"], 0, "{listed:?}");
    assert_eq!(listed[0]["truncated"], false, "{listed:?}");

    let replayed = dlq_json(&topic, &["replay"], &[]);
    assert_eq!(replayed.last().unwrap()["replayed"], 1, "{replayed:?}");
    let records = read_topic(&topic, 2);
    let again = records.last().unwrap();
    assert_eq!(header(again, "rtds.error.kind"), ["forged"]);
    assert_eq!(header(again, "rtds.truncated"), ["true"]);
    assert_eq!(header(again, "trace"), ["t-1"]);
    assert_eq!(header(again, "rtds.replays"), ["1"]);
    assert_eq!(again.key(), Some(&b"k"[..]));
    assert_eq!(again.payload(), Some(&b"{not json"[..]));
    assert_eq!(again.timestamp(), Timestamp::CreateTime(first_produced));
}

/// Records of one id in one millisecond keep their partition's order: the
/// second upsert wins whole (a tie would mix the two rows cell by cell),
/// and a re-insert after a delete stays (a tie lets the delete win).
#[test]
fn partition_order_holds_inside_one_millisecond() {
    require_stack();
    let (topic, keyspace) = (unique("samems"), unique("ks"));
    let (updated, reinserted) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let at = Some(chrono::Utc::now().timestamp_millis());
    let record = |id: uuid::Uuid, value: Option<&str>| Raw {
        key: id.to_string().into_bytes(),
        payload: value.map(|value| user(id, value)),
        timestamp: at,
        ..Raw::default()
    };
    // "zzz" sorts after "aaa": a cell-by-cell tie would keep the first.
    send(
        &topic,
        &[
            record(updated, Some("zzz")),
            record(updated, Some("aaa")),
            record(reinserted, Some("first")),
            record(reinserted, None),
            record(reinserted, Some("again")),
        ],
    );
    let summary = process_until_idle(&topic, &keyspace, "3s");
    assert_eq!(summary["written"], 4, "{summary}");
    assert_eq!(summary["deleted"], 1, "{summary}");
    let rows = stored_rows(&topic, &keyspace);
    let row = &rows[&updated];
    assert_eq!(
        (row.first_name.as_str(), row.phone.as_str()),
        ("aaa", "aaa")
    );
    let row = rows
        .get(&reinserted)
        .expect("the re-insert after the delete");
    assert_eq!(row.first_name, "again");
}

/// A topic deleted under the consumer: the job stops within about
/// `kafka.timeout` with a message naming the topic, where it idled quietly
/// before.
#[test]
fn a_topic_deleted_under_the_consumer_stops_the_job_loudly() {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    require_stack();
    let (topic, keyspace) = (unique("deleted"), unique("ks"));
    produce_builtin(&topic, 100);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = process_command(&topic, &keyspace, &["--metrics-listen", &listen]);
    command.env("RTDS_KAFKA_TIMEOUT", "5s");
    let mut job = Followed::spawn(command);
    wait_until("100 rows written", Duration::from_secs(60), || {
        metric(port, "rtds_rows_written_total") == Some(100)
    });
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for result in runtime
        .block_on(admin.delete_topics(&[&topic], &AdminOptions::new()))
        .unwrap()
    {
        result.unwrap();
    }
    wait_until("the job to stop", Duration::from_secs(90), || job.exited());
    let output = job.wait();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("the topic {topic} no longer exists")),
        "{stderr}"
    );
}
