//! `rtds process` against the real Kafka and Cassandra: no loss, no record
//! written twice, bad records to the DLQ, crash and restart, consumer groups,
//! the tutorial's schema, a table dropped mid-run, a consumer that only
//! fails, a second signal during the drain.

mod common;

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;
use rdkafka::Offset;
use rdkafka::message::{Headers, Message};
use rtds::cassandra::Store;
use rtds::user::User;

fn spawn_process(topic: &str, keyspace: &str, extra: &[&str], log: &std::path::Path) -> Child {
    process_command(topic, keyspace, extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Checks the table against the `messages` messages on the topic: the valid
/// records there have distinct ids, every row came from one of them and is
/// equal to it, and every one of them is a row. Returns how many were valid.
fn assert_table_holds_the_topic(topic: &str, keyspace: &str, messages: usize) -> usize {
    let on_topic = read_exactly(topic, messages);
    let valid: Vec<User> = on_topic
        .iter()
        .filter_map(|m| User::parse(m.payload().unwrap_or_default(), 1 << 20).ok())
        .collect();
    let sent: HashMap<uuid::Uuid, &User> = valid.iter().map(|u| (u.id, u)).collect();
    assert_eq!(sent.len(), valid.len(), "ids on the topic are distinct");
    let stored = stored_rows(topic, keyspace);
    for (id, row) in &stored {
        assert_eq!(
            sent.get(id),
            Some(&row),
            "row {id} is not a record of the topic"
        );
    }
    assert_eq!(
        stored.len(),
        sent.len(),
        "every record of the topic is a row"
    );
    valid.len()
}

#[test]
fn every_record_becomes_exactly_one_equal_row() {
    require_stack();
    let (topic, keyspace) = (unique("process"), unique("ks"));
    produce_builtin(&topic, 10_000);
    let summary = process_until_idle(&topic, &keyspace, "5s");
    assert_eq!(summary["consumed"], 10_000, "{summary}");
    assert_eq!(
        summary["written"], 10_000,
        "each record written once: {summary}"
    );
    assert_eq!(summary["dead_lettered"], 0, "{summary}");
    assert_eq!(
        assert_table_holds_the_topic(&topic, &keyspace, 10_000),
        10_000
    );
    // Running again in the same group finds nothing new: offsets were committed.
    let again = process_until_idle(&topic, &keyspace, "3s");
    assert_eq!(again["consumed"], 0, "{again}");
}

#[test]
fn malformed_records_go_to_the_dlq_with_a_reason() {
    require_stack();
    let (topic, keyspace) = (unique("process_dlq"), unique("ks"));
    produce_builtin(&topic, 9_900);
    let valid = topic_records(&topic, 9_900);
    let template = serde_json::to_value(valid.values().next().unwrap()).unwrap();
    let mut bad: Vec<Vec<u8>> = Vec::new();
    for i in 0..100 {
        let mut value = template.clone();
        value["id"] = uuid::Uuid::new_v4().to_string().into();
        let payload = match i % 6 {
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
            4 => {
                // The 12 fields as an array, in order, with a fresh id.
                let fields: Vec<_> = value.as_object().unwrap().values().cloned().collect();
                serde_json::to_vec(&fields).unwrap()
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
        let kind = header("rtds.error.kind").unwrap_or_default();
        let expected = match message.payload().unwrap() {
            [0xff, ..] => "not_utf8",
            [b'[', ..] => "not_object",
            _ => "bad_shape",
        };
        assert_eq!(kind, expected, "{message:?}");
        assert_eq!(header("rtds.source.topic").as_deref(), Some(topic.as_str()));
        assert!(header("rtds.source.offset").unwrap().parse::<i64>().is_ok());
        assert!(header("rtds.source.partition").is_some());
    }
    assert_eq!(
        assert_table_holds_the_topic(&topic, &keyspace, 10_000),
        9_900
    );
}

#[test]
fn a_killed_processor_restarts_without_loss_or_duplicates() {
    require_stack();
    let (topic, keyspace) = (unique("process_kill"), unique("ks"));
    let total = 200_000;
    produce_builtin(&topic, total);
    let log = std::env::temp_dir().join(format!("{topic}.log"));
    let mut child = spawn_process(&topic, &keyspace, &[], &log);
    // Wait until it is mid-stream, then kill it without warning.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime
        .block_on(Store::open(&settings(&topic, &keyspace).cassandra))
        .unwrap();
    wait_for_rows(&runtime, &store, 5_000, Duration::from_secs(120));
    // And until it has committed: a kill before the first commit (every
    // second) rightly means writing the whole topic again.
    wait_until(
        "the killed processor's group committing",
        Duration::from_secs(30),
        || {
            committed_offsets(&topic, &format!("{topic}-group"))
                .values()
                .any(|offset| matches!(offset, Offset::Offset(n) if *n > 0))
        },
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = runtime.block_on(store.count()).unwrap();
    assert!(
        at_kill < total,
        "killed mid-stream: {at_kill} of {total} rows"
    );

    let summary = process_until_idle(&topic, &keyspace, "5s");
    // The restart writes what was missing, plus at most what the killed one
    // wrote after its last commit: never the whole topic again.
    let written = summary["written"].as_u64().unwrap();
    assert!(
        (total - at_kill..total).contains(&written),
        "{written} written after {at_kill} of {total}: {summary}"
    );
    assert_eq!(
        assert_table_holds_the_topic(&topic, &keyspace, total as usize),
        total as usize
    );
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
    // Partitions of its own, not an empty share of a rebalance.
    let assigned =
        |log: &std::path::Path| owns_partitions(&std::fs::read_to_string(log).unwrap_or_default());
    wait_until(
        "both processors get partitions",
        Duration::from_secs(60),
        || logs.iter().all(|l| assigned(l)),
    );
    produce_builtin(&topic, 9_999);
    let mut summaries = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
        summaries.push(json_summary(&output));
    }
    let total = |field: &str| -> Vec<u64> {
        summaries
            .iter()
            .map(|s| s[field].as_u64().unwrap())
            .collect()
    };
    let consumed = total("consumed");
    assert!(
        consumed.iter().all(|&c| c > 0),
        "each processor consumed records: {consumed:?}"
    );
    // Partitions were settled before the records came: none is read twice.
    let written = total("written");
    assert_eq!(
        written.iter().sum::<u64>(),
        10_000,
        "each record written once, by one processor: {written:?}"
    );
    assert_eq!(
        assert_table_holds_the_topic(&topic, &keyspace, 10_000),
        10_000
    );
    for log in logs {
        let _ = std::fs::remove_file(log);
    }
}

/// The commit point of each partition, 0 where none was committed.
fn commit_points(topic: &str, group: &str) -> HashMap<i32, i64> {
    committed_offsets(topic, group)
        .into_iter()
        .map(|(partition, offset)| match offset {
            Offset::Offset(next) => (partition, next),
            _ => (partition, 0),
        })
        .collect()
}

/// A table dropped under a running processor: a write into it can never
/// succeed, so `rtds process` stops by itself with status 1, naming the
/// table, and commits nothing it did not write. The records come in two
/// waves: the first written whole before the drop (none in flight, so the
/// processor wrote exactly those), the second meeting the dropped table. A
/// later run, which makes the table again, stores the rest: exactly the
/// records after the commit points.
#[test]
fn a_table_dropped_mid_run_stops_the_processor_and_commits_nothing_past_it() {
    require_stack();
    let (topic, keyspace) = (unique("dropped"), unique("ks"));
    let (first, second) = (2_000, 3_000);
    produce_builtin(&topic, first);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let job = Followed::spawn(process_command(
        &topic,
        &keyspace,
        &["--metrics-listen", &listen],
    ));
    wait_until(
        "the first wave written, none in flight",
        Duration::from_secs(60),
        || {
            metric(port, "rtds_rows_written_total") == Some(first)
                && metric(port, "rtds_records_in_flight") == Some(0)
        },
    );
    // Each record's time is told twice: when it was received, and when
    // its row was written.
    for histogram in ["rtds_received_seconds", "rtds_end_to_end_seconds"] {
        let counted = metric(port, &format!("{histogram}_count"));
        assert_eq!(counted, Some(first), "{histogram}");
    }
    drop_table(&keyspace);
    produce_builtin(&topic, second);
    let output = job.wait_within(Duration::from_secs(60));
    let table = format!("{keyspace}.created_users");
    assert_fails_naming(&output, &[&table, "Retrying cannot help"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));

    let committed = commit_points(&topic, &format!("{topic}-group"));
    assert_eq!(
        committed.values().sum::<i64>(),
        first as i64,
        "committed the first wave and nothing past it: {committed:?}"
    );
    let rest = process_until_idle(&topic, &keyspace, "5s");
    assert_eq!(rest["written"], second, "{rest}");
    let mut after: Vec<uuid::Uuid> = read_exactly(&topic, (first + second) as usize)
        .iter()
        .filter(|m| m.offset() >= committed[&m.partition()])
        .map(|m| {
            std::str::from_utf8(m.key().unwrap())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let mut stored: Vec<uuid::Uuid> = stored_rows(&topic, &keyspace).into_keys().collect();
    after.sort();
    stored.sort();
    assert!(
        stored == after,
        "the rows are the records after the commit points"
    );
}

/// A way for the consumer to see nothing but errors: the flags and the
/// variable that make it so, and the words the job's error must say.
type OnlyErrors = (
    &'static [&'static str],
    (&'static str, &'static str),
    &'static [&'static str],
);

/// `--until-idle` when the consumer only fails: with no broker at its
/// address, and with a broker that never lets it into the group (a session
/// timeout under the broker's minimum of 6 s; it used to wait for its first
/// partition forever). Each run ends with status 1 within the Kafka timeout
/// or the idle time, saying what failed and what to do, rather than waiting
/// on or claiming the topic was drained.
#[test]
fn until_idle_fails_when_the_consumer_only_saw_errors() {
    require_stack();
    let cases: [OnlyErrors; 2] = [
        (
            &["--bootstrap-servers", "127.0.0.1:1"],
            ("RTDS_KAFKA_TIMEOUT", "3s"),
            &["cannot reach Kafka at 127.0.0.1:1", "scripts/stack up"],
        ),
        (
            &[],
            ("RTDS_KAFKA_PROPERTIES", "session.timeout.ms=1000"),
            &["kept failing", "Invalid session timeout", "then run again"],
        ),
    ];
    for (flags, (name, value), words) in cases {
        let (topic, keyspace) = (unique("onlyerrors"), unique("ks"));
        let mut command = process_command(
            &topic,
            &keyspace,
            &[flags, &["--until-idle", "3s"]].concat(),
        );
        command.env(name, value);
        let output = Followed::spawn(command).wait_within(Duration::from_secs(30));
        assert_fails_naming(&output, words);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    }
}

/// A second SIGTERM while the drain waits on writes to a node that stopped
/// answering (a relay to the node, frozen) ends `rtds process` at once with
/// status 130, not at the writes' 30 s timeout.
#[test]
fn a_second_signal_during_the_drain_exits_at_once() {
    require_stack();
    let (topic, keyspace) = (unique("secondsignal"), unique("ks"));
    let (job, _proxy) =
        writes_stuck_on_a_frozen_node(&topic, process_command(&topic, &keyspace, &[]));
    assert_second_signal_aborts(job);
}

#[test]
fn a_table_made_by_the_tutorial_is_migrated_then_written() {
    require_stack();
    let (topic, keyspace) = (unique("process_tutorial"), unique("ks"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let session = session_with_keyspace(&keyspace).await;
        // The tutorial's spark_stream.py schema: no dob column.
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
    produce_builtin(&topic, 200);
    let summary = process_until_idle(&topic, &keyspace, "4s");
    assert_eq!(summary["written"], 200, "{summary}");
    assert_eq!(assert_table_holds_the_topic(&topic, &keyspace, 200), 200);
    let stored = stored_rows(&topic, &keyspace);
    assert!(stored.values().all(|row| !row.dob.is_empty()));
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
    assert_fails_naming(&output, &["127.0.0.1:1", "Cassandra"]);
}

#[test]
fn users_command_shows_stored_rows() {
    require_stack();
    let (topic, keyspace) = (unique("users_cmd"), unique("ks"));
    produce_builtin(&topic, 30);
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
