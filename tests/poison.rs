//! Records and tables that can never be written: poison records go to the
//! DLQ (truncated when too large for it) without holding back their
//! partition, and a table of the wrong types is refused before anything is
//! consumed or committed. Real Kafka and Cassandra.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::Offset;
use rdkafka::message::{Headers, Message, OwnedMessage};

fn header<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| std::str::from_utf8(h.value?).ok())
}

fn hex_sha256(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Poison records among good ones: the good ones are stored, the poison
/// ones are on the DLQ (the 2 MB one truncated to fit `dlq_limit`, with
/// its size and SHA-256), the run ends by itself, and a second run
/// consumes nothing.
fn poison_goes_to_the_dlq_and_the_partition_moves_on(dlq_limit: Option<&str>) {
    require_stack();
    let (topic, keyspace) = (unique("poison"), unique("ks"));
    let dlq = format!("{topic}.dlq");
    if let Some(limit) = dlq_limit {
        create_topic(&dlq, 1, &[("max.message.bytes", limit)]);
    }
    let good = 1_000;
    produce_builtin(&topic, good);
    let large = compressible_record();
    let poison = vec![
        large.clone(),
        b"not json at all".to_vec(),
        br#"{"id":"not-a-uuid"}"#.to_vec(),
        Vec::new(),
        vec![0xff, 0xfe, 0x00],
    ];
    // Compressed, with a client limit above 2 MB, as a producer that lets
    // such a record through would send it.
    send_raw_with(
        &topic,
        &poison,
        &[
            ("compression.type", "lz4"),
            ("message.max.bytes", "3000000"),
        ],
    );

    let process = |until_idle: &str| {
        let started = Instant::now();
        let summary = process_until_idle(&topic, &keyspace, until_idle);
        (summary, started.elapsed())
    };
    let (summary, took) = process("3s");
    assert_eq!(summary["written"], good, "{summary}");
    assert_eq!(summary["dead_lettered"], poison.len(), "{summary}");
    assert!(took < Duration::from_secs(60), "ended by itself: {took:?}");

    let dead = read_topic(&dlq, poison.len());
    assert_eq!(dead.len(), poison.len());
    let truncated = dead
        .iter()
        .find(|m| header(m, "rtds.truncated") == Some("true"))
        .expect("the 2 MB record is on the DLQ, truncated");
    let kept = truncated.payload().unwrap();
    assert!(kept.len() < large.len() && large.starts_with(kept));
    let expected_size = large.len().to_string();
    assert_eq!(
        header(truncated, "rtds.original.size"),
        Some(expected_size.as_str())
    );
    let expected_sha = hex_sha256(&large);
    assert_eq!(
        header(truncated, "rtds.original.sha256"),
        Some(expected_sha.as_str())
    );
    assert_eq!(header(truncated, "rtds.error.kind"), Some("too_large"));
    let whole = dead
        .iter()
        .filter(|m| header(m, "rtds.truncated").is_none());
    let mut kinds: Vec<&str> = whole
        .map(|m| header(m, "rtds.error.kind").unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["bad_shape", "bad_shape", "empty", "not_utf8"]);

    let (again, _) = process("2s");
    assert_eq!(again["consumed"], 0, "{again}");
}

#[test]
fn poison_records_go_to_the_dlq_and_the_partition_moves_on() {
    poison_goes_to_the_dlq_and_the_partition_moves_on(None);
}

#[test]
fn a_dlq_topic_with_a_small_limit_takes_the_start_of_a_large_record() {
    poison_goes_to_the_dlq_and_the_partition_moves_on(Some("20000"));
}

#[test]
fn a_table_of_the_wrong_types_is_refused_before_consuming() {
    require_stack();
    let (topic, keyspace) = (unique("wrongtypes"), unique("ks"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let session = session_with_keyspace(&keyspace).await;
        session
            .query_unpaged(
                format!(
                    "CREATE TABLE {keyspace}.created_users (id text PRIMARY KEY, first_name text, \
                     last_name text, gender text, address text, post_code text, email text, \
                     username text, dob text, registered_date text, phone text, picture text)"
                ),
                (),
            )
            .await
            .unwrap();
    });
    produce_builtin(&topic, 10);

    let group = format!("{topic}-group");
    let started = Instant::now();
    let output = rtds(&[
        "process",
        "--topic",
        &topic,
        "--keyspace",
        &keyspace,
        "--group",
        &group,
        "--until-idle",
        "30s",
    ]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`id` of type text") && stderr.contains("uuid"),
        "{stderr}"
    );

    // Nothing committed: the group has no offset on any partition.
    for (partition, offset) in committed_offsets(&topic, &group) {
        assert_eq!(offset, Offset::Invalid, "partition {partition}");
    }
}
