//! `rtds process` against the real Kafka and Cassandra: no loss, no
//! duplicates, bad records to the DLQ, crash and restart, consumer groups,
//! the seed's schema.

mod common;

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::message::{Headers, Message};
use rtds::cassandra::Store;
use rtds::user::User;

fn produce(topic: &str, count: u64) {
    let output = rtds(&[
        "produce",
        "--topic",
        topic,
        "--source",
        "builtin",
        "--count",
        &count.to_string(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
}

fn process_until_idle(topic: &str, keyspace: &str, idle: &str) -> serde_json::Value {
    let group = format!("{topic}-group");
    let output = rtds(&[
        "process",
        "--topic",
        topic,
        "--keyspace",
        keyspace,
        "--group",
        &group,
        "--until-idle",
        idle,
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    json_summary(&output)
}

fn spawn_process(topic: &str, keyspace: &str, extra: &[&str], log: &std::path::Path) -> Child {
    rtds_command(&["process", "--topic", topic, "--keyspace", keyspace])
        .args(["--group", &format!("{topic}-group")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn rows(topic: &str, keyspace: &str) -> HashMap<uuid::Uuid, User> {
    let settings = settings(topic, keyspace);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(&settings.cassandra).await.unwrap();
        let users = store.users(10_000_000).await.unwrap();
        users.into_iter().map(|u| (u.id, u)).collect()
    })
}

/// The valid records on the topic, by id.
fn records(topic: &str, expected: usize) -> HashMap<uuid::Uuid, User> {
    read_topic(topic, expected)
        .iter()
        .filter_map(|m| User::parse(m.payload().unwrap_or_default(), 1 << 20).ok())
        .map(|u| (u.id, u))
        .collect()
}

#[test]
fn every_record_becomes_exactly_one_equal_row() {
    require_stack();
    let (topic, keyspace) = (unique("process"), unique("ks"));
    produce(&topic, 10_000);
    let summary = process_until_idle(&topic, &keyspace, "5s");
    assert_eq!(summary["written"], 10_000, "{summary}");
    assert_eq!(summary["dead_lettered"], 0, "{summary}");
    let sent = records(&topic, 10_000);
    assert_eq!(sent.len(), 10_000);
    let stored = rows(&topic, &keyspace);
    assert_eq!(stored.len(), 10_000);
    for (id, record) in &sent {
        assert_eq!(
            stored.get(id),
            Some(record),
            "row {id} differs from its message"
        );
    }
    // Running again in the same group finds nothing new: offsets were committed.
    let again = process_until_idle(&topic, &keyspace, "3s");
    assert_eq!(again["consumed"], 0, "{again}");
}

#[test]
fn malformed_records_go_to_the_dlq_with_a_reason() {
    require_stack();
    let (topic, keyspace) = (unique("process_dlq"), unique("ks"));
    produce(&topic, 9_900);
    let valid = records(&topic, 9_900);
    let template = serde_json::to_value(valid.values().next().unwrap()).unwrap();
    let mut bad: Vec<Vec<u8>> = Vec::new();
    for i in 0..100 {
        let mut value = template.clone();
        value["id"] = uuid::Uuid::new_v4().to_string().into();
        let payload = match i % 5 {
            0 => b"{this is not json".to_vec(),
            1 => vec![0xff, 0xfe, 0x00, i as u8],
            2 => {
                value.as_object_mut().unwrap().remove("email");
                serde_json::to_vec(&value).unwrap()
            }
            3 => {
                value["id"] = format!("user-{i}").into();
                serde_json::to_vec(&value).unwrap()
            }
            _ => {
                value["post_code"] = 12345.into();
                serde_json::to_vec(&value).unwrap()
            }
        };
        bad.push(payload);
    }
    send_raw(&topic, &bad);

    let summary = process_until_idle(&topic, &keyspace, "5s");
    assert_eq!(summary["written"], 9_900, "{summary}");
    assert_eq!(summary["dead_lettered"], 100, "{summary}");

    let dead = read_topic(&format!("{topic}.dlq"), 100);
    assert_eq!(dead.len(), 100);
    let mut dead_payloads: Vec<Vec<u8>> =
        dead.iter().map(|m| m.payload().unwrap().to_vec()).collect();
    let mut bad_sorted = bad.clone();
    dead_payloads.sort();
    bad_sorted.sort();
    assert_eq!(
        dead_payloads, bad_sorted,
        "the DLQ holds exactly the bad records, bytes intact"
    );
    for message in &dead {
        let headers = message.headers().expect("DLQ records carry headers");
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert!(!header("rtds.error").unwrap_or_default().is_empty());
        assert_eq!(header("rtds.source.topic").as_deref(), Some(topic.as_str()));
        assert!(header("rtds.source.offset").unwrap().parse::<i64>().is_ok());
        assert!(header("rtds.source.partition").is_some());
    }
    let stored = rows(&topic, &keyspace);
    assert_eq!(stored.len(), 9_900);
    assert!(valid.keys().all(|id| stored.contains_key(id)));
}

#[test]
fn a_killed_processor_restarts_without_loss_or_duplicates() {
    require_stack();
    let (topic, keyspace) = (unique("process_kill"), unique("ks"));
    let total = 200_000;
    produce(&topic, total);
    let log = std::env::temp_dir().join(format!("{topic}.log"));
    let mut child = spawn_process(&topic, &keyspace, &[], &log);
    // Wait until it is mid-stream, then kill it without warning.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime
        .block_on(Store::open(&settings(&topic, &keyspace).cassandra))
        .unwrap();
    let started = Instant::now();
    while runtime.block_on(store.count()).unwrap() < 5_000 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the processor writes nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = runtime.block_on(store.count()).unwrap();
    assert!(
        at_kill < total,
        "killed mid-stream: {at_kill} of {total} rows"
    );

    let summary = process_until_idle(&topic, &keyspace, "5s");
    assert!(summary["consumed"].as_u64().unwrap() > 0, "{summary}");
    let sent = records(&topic, total as usize);
    assert_eq!(sent.len(), total as usize);
    let stored = rows(&topic, &keyspace);
    assert_eq!(stored.len(), sent.len());
    for (id, record) in &sent {
        assert_eq!(stored.get(id), Some(record));
    }
    let _ = std::fs::remove_file(log);
}

#[test]
fn two_processors_in_one_group_share_the_partitions() {
    require_stack();
    let (topic, keyspace) = (unique("process_group"), unique("ks"));
    // Create the topic with 4 partitions and the table before the processors start.
    let output = rtds_command(&[
        "produce", "--topic", &topic, "--source", "builtin", "--count", "1",
    ])
    .env("RTDS_KAFKA_PARTITIONS", "4")
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let logs: Vec<_> = (0..2)
        .map(|i| std::env::temp_dir().join(format!("{topic}-{i}.log")))
        .collect();
    let children: Vec<Child> = logs
        .iter()
        .map(|log| spawn_process(&topic, &keyspace, &["--until-idle", "12s", "--json"], log))
        .collect();
    let started = Instant::now();
    let assigned = |log: &std::path::Path| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("assigned partitions")
    };
    while !logs.iter().all(|l| assigned(l)) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "both processors should get partitions"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    produce(&topic, 9_999);
    let mut consumed = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
        consumed.push(json_summary(&output)["consumed"].as_u64().unwrap());
    }
    assert!(
        consumed.iter().all(|&c| c > 0),
        "both processors consumed: {consumed:?}"
    );
    assert!(consumed.iter().sum::<u64>() >= 10_000, "{consumed:?}");
    let sent = records(&topic, 10_000);
    let stored = rows(&topic, &keyspace);
    assert_eq!(stored.len(), 10_000);
    assert!(sent.keys().all(|id| stored.contains_key(id)));
    for log in logs {
        let _ = std::fs::remove_file(log);
    }
}

#[test]
fn a_table_made_by_the_seed_is_migrated_then_written() {
    require_stack();
    let (topic, keyspace) = (unique("process_seed"), unique("ks"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let session = session_with_keyspace(&keyspace).await;
        // The seed's spark_stream.py schema: no dob column.
        session
            .query_unpaged(
                format!(
                    "CREATE TABLE {keyspace}.created_users (id UUID PRIMARY KEY, first_name TEXT, last_name TEXT, \
                     gender TEXT, address TEXT, post_code TEXT, email TEXT, username TEXT, \
                     registered_date TEXT, phone TEXT, picture TEXT)"
                ),
                (),
            )
            .await
            .unwrap();
    });
    produce(&topic, 200);
    let summary = process_until_idle(&topic, &keyspace, "4s");
    assert_eq!(summary["written"], 200, "{summary}");
    let sent = records(&topic, 200);
    let stored = rows(&topic, &keyspace);
    assert_eq!(stored.len(), 200);
    for (id, record) in &sent {
        assert!(!record.dob.is_empty());
        assert_eq!(stored[id].dob, record.dob);
    }
}

#[test]
fn unreachable_cassandra_fails_naming_the_contact_points() {
    let output = rtds_command(&[
        "process",
        "--contact-points",
        "127.0.0.1:1",
        "--until-idle",
        "1s",
    ])
    .env("RTDS_CASSANDRA_TIMEOUT", "3s")
    .output()
    .unwrap();
    assert!(!output.status.success(), "{}", text(&output));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("127.0.0.1:1") && err.contains("Cassandra"),
        "{err}"
    );
}

#[test]
fn users_command_shows_stored_rows() {
    require_stack();
    let (topic, keyspace) = (unique("users_cmd"), unique("ks"));
    produce(&topic, 30);
    process_until_idle(&topic, &keyspace, "3s");
    let output = rtds(&["users", "--keyspace", &keyspace, "--count"]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "30");
    let output = rtds(&["users", "--keyspace", &keyspace, "--limit", "10"]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.starts_with("id"), "{table}");
    assert!(table.contains("(10 users)"), "{table}");
    let output = rtds(&["users", "--keyspace", &keyspace, "--limit", "5", "--json"]);
    let lines: Vec<User> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
}
