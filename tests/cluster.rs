//! rtds on the local cluster (`scripts/stack up --nodes 3`): three KRaft
//! brokers and three Cassandra nodes, topics with 3 replicas (2 in sync),
//! a keyspace with 3 replicas in dc1 and LOCAL_QUORUM writes. A node lost
//! in the middle of `rtds process` loses nothing, and the status names it.
//!
//! One test brings the cluster up, plays its scenarios one after another
//! (they share the nodes, so they may not run at once) and brings it down:
//! six JVMs on two cores are for this test alone, not for the whole run.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{free_port, metric, rtds_command_with_config, send_signal, text, unique, wait_until};

const STACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack");

fn cluster_dir() -> PathBuf {
    common::stack_dir().join("cluster")
}

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
    rtds_command_with_config(&cluster_dir().join("rtds.toml"), args)
}

fn node_pid(service: &str) -> String {
    let file = cluster_dir().join(format!("run/{service}.pid"));
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim()
        .to_string()
}

fn status(flags: &[&str]) -> String {
    let output = rtds(&[&["status", "--source", "builtin"][..], flags].concat())
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_cluster_loses_a_node_and_no_record() {
    let _cluster = Cluster::up();
    a_cassandra_node_killed_mid_process_loses_no_record();
}

/// RF 3, LOCAL_QUORUM writes: with one node of three killed while the
/// processor writes, every write still succeeds (retried on another
/// coordinator when its own dies), every record is in the table, and once
/// the node is back a read at ALL finds them all.
fn a_cassandra_node_killed_mid_process_loses_no_record() {
    const RECORDS: u64 = 100_000;
    let (topic, keyspace) = (unique("cluster"), unique("cluster"));
    let group = format!("{topic}-group");
    let count = RECORDS.to_string();
    let produced = rtds(&[
        "produce", "--source", "builtin", "--count", &count, "--topic", &topic, "--json",
    ])
    .output()
    .unwrap();
    assert_eq!(
        common::json_summary(&produced)["acked"],
        RECORDS,
        "{}",
        text(&produced)
    );

    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let flags = [
        "--topic",
        &topic,
        "--keyspace",
        &keyspace,
        "--group",
        &group,
    ];
    let processor = rtds(
        &[
            &[
                "process",
                "--until-idle",
                "10s",
                "--json",
                "--metrics-listen",
                &metrics,
            ][..],
            &flags,
        ]
        .concat(),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let written = || metric(port, "rtds_rows_written_total").unwrap_or(0);
    wait_until("the processor writing", Duration::from_secs(120), || {
        written() >= 10_000
    });

    send_signal("-KILL", &node_pid("cassandra-2"));
    let at_kill = written();
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

    let output = processor.wait_with_output().unwrap();
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
    wait_until(
        "a read at ALL finding every row",
        Duration::from_secs(120),
        || {
            let counted = rtds(&["users", "--count", "--keyspace", &keyspace])
                .env("RTDS_CASSANDRA_READ_CONSISTENCY", "ALL")
                .output()
                .unwrap();
            String::from_utf8_lossy(&counted.stdout).trim() == count
        },
    );
}
