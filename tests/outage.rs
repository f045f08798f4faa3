//! Cassandra stalls mid-stream: the processor stops pulling from Kafka
//! (backpressure), keeps the records in flight bounded, retries, and catches
//! up when the node answers again, with every record stored exactly once.
//!
//! The real node is frozen with SIGSTOP and thawed with SIGCONT. This file
//! holds one test on purpose: cargo runs test files one after another, so no
//! other test sees the frozen node.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use rtds::cassandra::Store;

/// The local Cassandra, frozen until dropped (also when the test fails).
struct Frozen(String);

impl Frozen {
    fn cassandra() -> Frozen {
        let dir = std::env::var("RTDS_STACK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".stack"));
        let pid = std::fs::read_to_string(dir.join("run/cassandra.pid"))
            .expect("the stack's Cassandra pid file (scripts/stack up)")
            .trim()
            .to_string();
        send_signal("-STOP", &pid);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        send_signal("-CONT", &self.0);
    }
}

/// One counter or gauge from the processor's /metrics.
fn metric(port: u16, name: &str) -> u64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[test]
fn a_stalled_cassandra_holds_back_the_consumer_and_nothing_is_lost() {
    require_stack();
    let (topic, keyspace) = (unique("outage"), unique("ks"));
    let total = 50_000u64;
    let output = rtds(&[
        "--topic",
        &topic,
        "produce",
        "--source",
        "builtin",
        "--count",
        &total.to_string(),
    ]);
    assert!(output.status.success(), "{}", text(&output));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let group = format!("{topic}-group");
    let concurrency = 64;
    let child = rtds_command(&[
        "--topic",
        &topic,
        "--keyspace",
        &keyspace,
        "--metrics-listen",
        &listen,
        "process",
        "--group",
        &group,
        "--until-idle",
        "5s",
        "--json",
    ])
    .env("RTDS_CASSANDRA_CONCURRENCY", concurrency.to_string())
    .env("RTDS_CASSANDRA_TIMEOUT", "2s")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        || metric(port, "rtds_rows_written_total") < 1_000
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the processor writes nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let frozen = Frozen::cassandra();
    std::thread::sleep(Duration::from_secs(3));
    let consumed = metric(port, "rtds_records_consumed_total");
    let written = metric(port, "rtds_rows_written_total");
    std::thread::sleep(Duration::from_secs(4));
    // Backpressure: nothing more pulled while nothing can be written, and
    // no more records held than writes allowed in flight.
    assert_eq!(
        metric(port, "rtds_records_consumed_total"),
        consumed,
        "consumer kept pulling"
    );
    assert_eq!(metric(port, "rtds_rows_written_total"), written);
    assert!(metric(port, "rtds_records_in_flight") <= concurrency);
    assert!(consumed < total, "the stall came mid-stream");
    drop(frozen);

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    assert!(summary["write_retries"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["written"], total, "{summary}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime
        .block_on(Store::open(&settings(&topic, &keyspace).cassandra))
        .unwrap();
    assert_eq!(runtime.block_on(store.count()).unwrap(), total);
}
