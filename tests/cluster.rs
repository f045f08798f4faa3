//! rtds on the local cluster (`scripts/stack up --nodes 3`): three KRaft
//! brokers and three Cassandra nodes, topics with 3 replicas (2 in sync),
//! a keyspace with 3 replicas in dc1 and LOCAL_QUORUM writes. A Cassandra
//! node lost in the middle of `rtds process` loses nothing, and the status
//! names it; a node frozen does not hold a processor's start; with two
//! lost the processor waits, saying which consistency
//! cannot be met, and catches up when one is back; a broker lost in the
//! middle of `rtds produce`, and another in the middle of `rtds process`,
//! neither loses nor doubles a record.
//!
//! One test brings the cluster up, plays its scenarios one after another
//! (they share the nodes, so they may not run at once) and brings it down:
//! six JVMs on two cores are for this test alone, not for the whole run.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{
    Followed, Site, counter, free_port, metric, send_signal, text, unique, wait_for_count,
    wait_until,
};

const WRITTEN: &str = "rtds_rows_written_total";

const STACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack");

fn stack(args: &[&str]) -> Output {
    let output = Command::new(STACK)
        .args(args)
        .args(["--nodes", "3"])
        .output()
        .expect("scripts/stack runs");
    assert!(
        output.status.success(),
        "scripts/stack {args:?}: {}",
        text(&output)
    );
    output
}

/// The cluster, brought down when the test ends, passed or failed.
struct Cluster;

impl Cluster {
    fn up() -> Cluster {
        stack(&["up"]);
        Cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(STACK).args(["down", "--nodes", "3"]).output();
    }
}

/// `rtds --config <cluster>/rtds.toml ARGS`.
fn rtds(args: &[&str]) -> Command {
    Site::Cluster.rtds(args)
}

fn node_pid(service: &str) -> String {
    Site::Cluster.pid(service)
}

fn status(flags: &[&str]) -> String {
    let output = rtds(&[&["status", "--source", "builtin"][..], flags].concat())
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Records per scenario: enough that each loss comes in the middle of the
/// run (after 5,000 to 10,000), few enough that six JVMs on two cores get
/// through all three scenarios in minutes.
const RECORDS: u64 = 50_000;

#[test]
fn the_cluster_loses_nodes_and_no_record() {
    let _cluster = timed("cluster up", Cluster::up);
    timed(
        "a node killed mid process",
        a_cassandra_node_killed_mid_process_loses_no_record,
    );
    timed(
        "a frozen node at start",
        a_frozen_node_does_not_hold_the_start,
    );
    timed(
        "two nodes down",
        two_cassandra_nodes_down_hold_the_processor_until_one_is_back,
    );
    timed(
        "brokers killed",
        brokers_killed_mid_produce_and_mid_process_lose_and_double_nothing,
    );
}

/// Runs `scenario` and prints how long it took: this test is the longest
/// of the suite, and its parts' times say where CI's minutes go.
fn timed<T>(what: &str, scenario: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = scenario();
    println!("{what}: {:.0?}", started.elapsed());
    result
}

/// `rtds produce` of `records` builtin users into `topic`, already in the
/// topic when it returns.
fn produce(topic: &str, records: u64) {
    let produced = rtds(&[
        "produce",
        "--source",
        "builtin",
        "--count",
        &records.to_string(),
        "--topic",
        topic,
        "--json",
    ])
    .output()
    .unwrap();
    assert_eq!(
        common::json_summary(&produced)["acked"],
        records,
        "{}",
        text(&produced)
    );
}

/// `rtds process --until-idle 10s` of `topic` into `keyspace`, serving
/// its metrics on `port`, its log followed.
fn processor(topic: &str, keyspace: &str, port: u16) -> Followed {
    let metrics = format!("127.0.0.1:{port}");
    let group = format!("{topic}-group");
    Followed::spawn(rtds(&[
        "process",
        "--until-idle",
        "10s",
        "--json",
        "--metrics-listen",
        &metrics,
        "--topic",
        topic,
        "--keyspace",
        keyspace,
        "--group",
        &group,
    ]))
}

/// `rtds users --count` on `keyspace`, read at `consistency`; `None`, with
/// what rtds said, when the count failed (a node just back may time a range
/// read out while it replays its hints).
fn stored(keyspace: &str, consistency: &str) -> Option<u64> {
    let counted = rtds(&["users", "--count", "--keyspace", keyspace])
        .env("RTDS_CASSANDRA_READ_CONSISTENCY", consistency)
        .output()
        .unwrap();
    let count = String::from_utf8_lossy(&counted.stdout).trim().parse().ok();
    if count.is_none() {
        eprintln!("rtds users --count at {consistency}: {}", text(&counted));
    }
    count
}

/// Waits until a read of `keyspace` at `consistency` counts `records`
/// rows; the last count shows when it never does.
fn wait_for_stored(keyspace: &str, consistency: &str, records: u64) {
    let started = Instant::now();
    loop {
        let count = stored(keyspace, consistency);
        if count == Some(records) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "a read at {consistency} counted {count:?} rows, not {records}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until every partition of every topic has all its replicas in
/// sync again, after a broker came back (`topic` is one that exists).
fn wait_for_replicas_in_sync(topic: &str) {
    wait_until(
        "every partition's replicas in sync",
        Duration::from_secs(120),
        || {
            let status = status(&["--topic", topic]);
            status.contains("kafka") && !status.contains("under-replicated")
        },
    );
}

/// RF 3, LOCAL_QUORUM writes: with one node of three killed while the
/// processor writes, every write still succeeds (retried on another
/// coordinator when its own dies), every record is in the table, and once
/// the node is back a read at ALL finds them all.
fn a_cassandra_node_killed_mid_process_loses_no_record() {
    let (topic, keyspace) = (unique("cluster"), unique("cluster"));
    let group = format!("{topic}-group");
    produce(&topic, RECORDS);
    let port = free_port();
    let processor = processor(&topic, &keyspace, port);
    wait_for_count(port, WRITTEN, 10_000, Duration::from_secs(120));

    send_signal("-KILL", &node_pid("cassandra-2"));
    let at_kill = counter(port, WRITTEN);
    assert!(
        at_kill < RECORDS,
        "the processor finished before the node was killed"
    );
    // The status names the node that is down, while the processor goes on.
    wait_until(
        "rtds status naming the node down",
        Duration::from_secs(60),
        || {
            status(&[
                "--keyspace",
                &keyspace,
                "--topic",
                &topic,
                "--group",
                &group,
            ])
            .contains("1 of 3 nodes down: 127.0.1.2:9042")
        },
    );

    let output = processor.wait();
    assert!(output.status.success(), "rtds process: {}", text(&output));
    let summary = common::json_summary(&output);
    assert_eq!(summary["written"], RECORDS, "{summary}");
    println!(
        "killed cassandra-2 at {at_kill} of {RECORDS} rows; {} writes retried",
        summary["write_retries"]
    );

    stack(&["start", "cassandra-2"]);
    // A read at ALL asks every replica: all three hold every row (the
    // node missed writes while down; hints, or the read itself, mend it).
    wait_for_stored(&keyspace, "ALL", RECORDS);
}

/// A node that takes connections but never answers (SIGSTOP: a long GC
/// pause, a stalled disk) does not hold a processor's start: it connects
/// through the two that answer and writes every record at LOCAL_QUORUM.
/// (The driver sets a connection up without a deadline and waits for every
/// node's; before keepalives closed the silent one, the start timed out.)
fn a_frozen_node_does_not_hold_the_start() {
    const FEW: u64 = 5_000;
    let (topic, keyspace) = (unique("frozen"), unique("frozen"));
    produce(&topic, FEW);
    let schema = rtds(&["schema", "--keyspace", &keyspace]).output().unwrap();
    assert!(schema.status.success(), "rtds schema: {}", text(&schema));
    let frozen = common::Frozen::on(Site::Cluster, "cassandra-3");
    let output = processor(&topic, &keyspace, free_port()).wait();
    drop(frozen);
    assert!(output.status.success(), "rtds process: {}", text(&output));
    assert_eq!(common::json_summary(&output)["written"], FEW);
    wait_for_stored(&keyspace, "LOCAL_QUORUM", FEW);
}

/// Two nodes of three down: LOCAL_QUORUM (2 of 3 replicas) cannot be met.
/// Every write waits, so the processor stops pulling records (its
/// partitions paused, as many in flight as it allows) and says which
/// consistency it waits for; one node back is a quorum again, and it
/// catches up without losing a record.
fn two_cassandra_nodes_down_hold_the_processor_until_one_is_back() {
    let (topic, keyspace) = (unique("quorum"), unique("quorum"));
    produce(&topic, RECORDS);
    let port = free_port();
    let processor = processor(&topic, &keyspace, port);
    wait_for_count(port, WRITTEN, 5_000, Duration::from_secs(120));
    send_signal("-KILL", &node_pid("cassandra-2"));
    send_signal("-KILL", &node_pid("cassandra-3"));

    wait_until(
        "the processor naming the consistency it waits for",
        Duration::from_secs(90),
        || {
            processor
                .logged()
                .contains("waiting on Cassandra (consistency LOCAL_QUORUM")
        },
    );
    assert_eq!(metric(port, "rtds_consumption_paused"), Some(1));
    // Paused: what it took stays what it holds in flight, no more, until
    // it says again (every 10 s) that it is still paused.
    let consumed = || counter(port, "rtds_records_consumed_total");
    let (at_pause, in_flight) = (consumed(), counter(port, "rtds_records_in_flight"));
    assert!(at_pause < RECORDS, "consumed {at_pause} of {RECORDS}");
    wait_until(
        "the processor still paused",
        Duration::from_secs(30),
        || {
            processor
                .logged()
                .contains("consumption still paused after")
        },
    );
    assert_eq!(consumed(), at_pause, "records consumed while paused");

    stack(&["start", "cassandra-2"]);
    let output = processor.wait();
    assert!(output.status.success(), "rtds process: {}", text(&output));
    let summary = common::json_summary(&output);
    assert_eq!(summary["written"], RECORDS, "{summary}");
    assert!(
        text(&output).contains("consumption resumed"),
        "{}",
        text(&output)
    );
    wait_for_stored(&keyspace, "LOCAL_QUORUM", RECORDS);
    println!(
        "two nodes down at {at_pause} records consumed ({in_flight} in flight); {} writes retried",
        summary["write_retries"]
    );
    stack(&["start", "cassandra-3"]);
}

/// A broker killed (SIGKILL) while `rtds produce` sends, and restarted; then
/// another killed while `rtds process` reads the same records. The topic
/// holds each record once (the idempotent producer's retries to the new
/// leaders are not doubled: the high watermarks add up to the count), and
/// the table holds every record once.
fn brokers_killed_mid_produce_and_mid_process_lose_and_double_nothing() {
    let (topic, keyspace) = (unique("brokers"), unique("brokers"));
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let producer = Followed::spawn(rtds(&[
        "produce",
        "--source",
        "builtin",
        "--count",
        &RECORDS.to_string(),
        "--max-rate",
        "10000",
        "--topic",
        &topic,
        "--metrics-listen",
        &metrics,
        "--json",
    ]));
    let acked = "rtds_records_acked_total";
    wait_for_count(port, acked, 10_000, Duration::from_secs(60));
    send_signal("-KILL", &node_pid("kafka-2"));
    let at_kill = counter(port, acked);
    assert!(at_kill < RECORDS, "the producer finished before the kill");
    let output = producer.wait();
    assert!(output.status.success(), "rtds produce: {}", text(&output));
    assert_eq!(common::json_summary(&output)["acked"], RECORDS);
    assert_eq!(
        common::topic_size_on(Site::Cluster, &topic),
        RECORDS as i64,
        "records lost or doubled in the topic"
    );
    stack(&["start", "kafka-2"]);
    wait_for_replicas_in_sync(&topic);

    let port = free_port();
    let processor = processor(&topic, &keyspace, port);
    wait_for_count(port, WRITTEN, 10_000, Duration::from_secs(120));
    send_signal("-KILL", &node_pid("kafka-3"));
    let written_at_kill = counter(port, WRITTEN);
    assert!(
        written_at_kill < RECORDS,
        "the processor finished before the kill"
    );
    wait_until(
        "rtds status naming the broker down",
        Duration::from_secs(60),
        || status(&["--topic", &topic]).contains("broker 3 down"),
    );
    let output = processor.wait();
    assert!(output.status.success(), "rtds process: {}", text(&output));
    let summary = common::json_summary(&output);
    wait_for_stored(&keyspace, "LOCAL_QUORUM", RECORDS);
    println!(
        "killed kafka-2 at {at_kill} records acked, kafka-3 at {written_at_kill} rows written; \
         {} rows written in all (a record read again after the kill is the same upsert)",
        summary["written"]
    );
    stack(&["start", "kafka-3"]);
}
