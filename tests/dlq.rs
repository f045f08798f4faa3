//! Operating the data against the real Kafka and Cassandra: `rtds dlq list`
//! and `rtds dlq replay`, deletes by tombstone (also across a crash), and
//! rows that expire.

mod common;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

/// `rtds process --until-idle 3s` with a record limit of `max_bytes`.
fn process_with_limit(topic: &str, keyspace: &str, max_bytes: &str) -> Value {
    let output = process_command(topic, keyspace, &["--until-idle", "3s", "--json"])
        .env("RTDS_PROCESS_MAX_RECORD_BYTES", max_bytes)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    json_summary(&output)
}

#[test]
fn listed_by_kind_then_replayed_once_fixed() {
    require_stack();
    let (topic, keyspace) = (unique("dlq_replay"), unique("dlq_replay"));
    produce_builtin(&topic, 990);
    // 1 %: three kinds of bad records.
    let mut bad: Vec<Vec<u8>> = (0..4).map(|_| padded_user(4000).1).collect();
    bad.extend((0..3).map(|i| format!("{{not json {i}").into_bytes()));
    bad.extend((0..3).map(|i| format!("[{i}]").into_bytes()));
    send_raw(&topic, &bad);
    let first = process_with_limit(&topic, &keyspace, "2000");
    assert_eq!(first["written"], 990, "{first}");
    assert_eq!(first["dead_lettered"], 10, "{first}");

    let large = dlq_json(&topic, &["list", "--kind", "too_large"], &[]);
    assert_eq!(large.len(), 4, "{large:?}");
    assert!(large.iter().all(|l| l["reason"] == "too_large"));
    let shapes = dlq_json(&topic, &["list", "--kind", "bad_shape"], &[]);
    assert_eq!(shapes.len(), 3, "{shapes:?}");
    assert_eq!(dlq_json(&topic, &["list", "--limit", "5"], &[]).len(), 5);

    let size = topic_size(&topic);
    let dry = dlq_json(&topic, &["replay", "--kind", "too_large", "--dry-run"], &[]);
    assert_eq!(dry.last().unwrap()["replayed"], 4, "{dry:?}");
    assert_eq!(topic_size(&topic), size, "a dry run sends nothing");

    let replayed = dlq_json(&topic, &["replay", "--kind", "too_large"], &[]);
    assert_eq!(replayed.last().unwrap()["replayed"], 4, "{replayed:?}");
    assert_eq!(topic_size(&topic), size + 4);
    // Fixed: the limit raised, the replayed records are stored.
    let second = process_with_limit(&topic, &keyspace, "65536");
    assert_eq!(second["written"], 4, "{second}");
    assert_eq!(stored_rows(&topic, &keyspace).len(), 994);
    let again = dlq_json(&topic, &["replay", "--kind", "too_large"], &[]);
    assert_eq!(again.last().unwrap()["replayed"], 0, "{again:?}");
    assert_eq!(
        topic_size(&topic),
        size + 4,
        "a second replay sends nothing"
    );
}

#[test]
fn a_record_replayed_too_often_is_refused() {
    require_stack();
    let (topic, keyspace) = (unique("dlq_limit"), unique("dlq_limit"));
    send_raw(&topic, &[b"{still bad".to_vec()]);
    let limit = [("RTDS_DLQ_MAX_REPLAYS", "1")];
    process_with_limit(&topic, &keyspace, "65536");
    let once = dlq_json(&topic, &["replay"], &limit);
    assert_eq!(once.last().unwrap()["replayed"], 1, "{once:?}");
    // Still bad: back in the DLQ, with its replay count.
    process_with_limit(&topic, &keyspace, "65536");
    let listed = dlq_json(&topic, &["list"], &[]);
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|l| l["replays"] == 1), "{listed:?}");
    let (done, stderr) = dlq_replay(&topic, &limit);
    assert_eq!(
        (done["replayed"].as_u64(), done["over_limit"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(stderr.contains("replayed 1 times already"), "{stderr}");
}

/// Sends keyed records in order, `None` values as tombstones: one key's
/// records land in one partition, in this order.
fn send_keyed(topic: &str, records: &[(String, Option<Vec<u8>>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for (key, value) in records {
        let mut record = BaseRecord::<str, [u8]>::to(topic).key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        while let Err((error, returned)) = producer.send(record) {
            assert!(error.to_string().contains("Queue full"), "{error}");
            producer.poll(Duration::from_millis(10));
            record = returned;
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[test]
fn tombstones_delete_exactly_their_rows() {
    require_stack();
    let (topic, keyspace) = (unique("tombstone"), unique("tombstone"));
    produce_builtin(&topic, 300);
    process_until_idle(&topic, &keyspace, "3s");
    let before = stored_rows(&topic, &keyspace);
    let forgotten: Vec<uuid::Uuid> = before.keys().take(100).copied().collect();
    produce_tombstones(&topic, &forgotten);
    send_keyed(&topic, &[("not-a-uuid".into(), None)]);
    let summary = process_until_idle(&topic, &keyspace, "3s");
    assert_eq!(summary["deleted"], 100, "{summary}");
    assert_eq!(summary["dead_lettered"], 1, "{summary}");
    let after = stored_rows(&topic, &keyspace);
    assert_eq!(after.len(), 200);
    for id in &forgotten {
        assert!(!after.contains_key(id), "{id} was not deleted");
    }
    for (id, row) in &after {
        assert_eq!(Some(row), before.get(id), "row {id} changed");
    }
    let bad = dlq_json(&topic, &["list"], &[]);
    assert_eq!(bad[0]["reason"], "bad_tombstone", "{bad:?}");
}

#[test]
fn a_crash_in_a_mixed_stream_ends_as_a_clean_run() {
    require_stack();
    let (topic, keyspace) = (unique("tomb_crash"), unique("tomb_crash"));
    let scratch = unique("tomb_users");
    produce_builtin(&scratch, 6000);
    let users = topic_records(&scratch, 6000);
    // Every other user is deleted right after it is written: both are in
    // flight together, in either order, unless the partition's order rules.
    let mut stream = Vec::new();
    let mut gone = HashSet::new();
    for (i, (id, user)) in users.iter().enumerate() {
        stream.push((id.to_string(), Some(user.to_json())));
        if i % 2 == 0 {
            stream.push((id.to_string(), None));
            gone.insert(*id);
        }
    }
    send_keyed(&topic, &stream);
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    // Commits rarely, so the restart replays what was already done.
    let mut first = process_command(&topic, &keyspace, &["--metrics-listen", &metrics])
        .env("RTDS_PROCESS_COMMIT_INTERVAL", "30s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_count(
        port,
        "rtds_rows_deleted_total",
        500,
        Duration::from_secs(120),
    );
    // Mid-stream: some of the records not done yet, read last thing
    // before the kill (a crash after the last record proves nothing).
    let done = counter(port, "rtds_rows_written_total") + counter(port, "rtds_rows_deleted_total");
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        done < stream.len() as u64,
        "killed after {done} of {} records were done",
        stream.len()
    );
    let replayed = process_until_idle(&topic, &keyspace, "3s");
    assert!(
        replayed["deleted"].as_u64().unwrap() > 0,
        "the restart replayed deletes: {replayed}"
    );
    let stored = stored_rows(&topic, &keyspace);
    let expected: Vec<_> = users.iter().filter(|(id, _)| !gone.contains(id)).collect();
    assert_eq!(stored.len(), expected.len(), "rows left");
    for (id, user) in expected {
        assert_eq!(stored.get(id), Some(user), "row {id}");
    }
}

#[test]
fn rows_expire_with_the_configured_ttl() {
    require_stack();
    let (topic, keyspace) = (unique("ttl"), unique("ttl"));
    produce_builtin(&topic, 10);
    let output = process_command(&topic, &keyspace, &["--until-idle", "3s"])
        .env("RTDS_CASSANDRA_TTL", "1h")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ttls: Vec<Option<i32>> = runtime.block_on(async {
        let session = session().await;
        let rows = session
            .query_unpaged(
                format!("SELECT TTL(email) FROM {keyspace}.created_users"),
                (),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        rows.rows::<(Option<i32>,)>()
            .unwrap()
            .map(|row| row.unwrap().0)
            .collect()
    });
    assert_eq!(ttls.len(), 10);
    assert!(
        ttls.iter()
            .all(|ttl| ttl.is_some_and(|s| s > 3500 && s <= 3600)),
        "{ttls:?}"
    );
}
