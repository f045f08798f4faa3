//! Events in an unlucky order: a rebalance while the processor is paused on
//! a frozen Cassandra, and a shutdown while every write waits on it. No
//! commit passes a row that was not written, and a SIGTERM ends the job
//! within one request timeout.
//!
//! These tests freeze the stack's Cassandra, so they hold one lock and run
//! one at a time; cargo runs test files one after another, so no other test
//! sees the freeze. Each leaves the stack up (also when it fails).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// `rtds process` in the topic's group with /metrics on `port` and a
/// 2 s request timeout, followed.
fn processor(topic: &str, keyspace: &str, port: u16) -> Followed {
    let listen = format!("127.0.0.1:{port}");
    let mut command: Command =
        process_command(topic, keyspace, &["--metrics-listen", &listen, "--json"]);
    command.env("RTDS_CASSANDRA_TIMEOUT", "2s");
    Followed::spawn(command)
}

/// Waits for the job on `port` to answer /metrics and write `rows`.
fn wait_for_writes(port: u16, rows: u64) {
    wait_for_count(
        port,
        "rtds_rows_written_total",
        rows,
        Duration::from_secs(60),
    );
}

/// Records on the topic of each mid-stream test.
const TOTAL: u64 = 30_000;

/// A topic of [`TOTAL`] records named after `what`, a processor of it on a
/// free port, and Cassandra frozen once it has written 1,000 rows.
fn frozen_mid_stream(what: &str) -> (String, String, u16, Followed, Frozen) {
    let (topic, keyspace) = (unique(what), unique("ks"));
    produce_builtin(&topic, TOTAL);
    let port = free_port();
    let job = processor(&topic, &keyspace, port);
    wait_for_writes(port, 1_000);
    (topic, keyspace, port, job, Frozen::service("cassandra"))
}

/// Waits until the job on `port` has paused its partitions.
fn wait_for_pause(port: u16) {
    wait_until("consumption paused", Duration::from_secs(60), || {
        metric(port, "rtds_consumption_paused") == Some(1)
    });
}

/// A member of `group` that joins and waits until it owns partitions; it
/// reads nothing and commits nothing, and leaves when dropped.
fn join(topic: &str, group: &str) -> rdkafka::consumer::BaseConsumer {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .create()
        .unwrap();
    member.subscribe(&[topic]).unwrap();
    wait_until(
        "the second member's partitions",
        Duration::from_secs(60),
        || {
            let _ = member.poll(Duration::from_millis(100));
            member.assignment().is_ok_and(|owned| owned.count() > 0)
        },
    );
    member
}

/// How many partitions the job on `port` owns, from its per-partition lag.
fn owned_partitions(port: u16) -> usize {
    http_get(port, "/metrics").map_or(0, |(_, text)| {
        text.lines()
            .filter(|line| line.starts_with("rtds_partition_lag{"))
            .count()
    })
}

/// A partition revoked while records of it wait on a frozen Cassandra and
/// given back when the other member leaves: the first tenure's records
/// must neither start nor move the commit point. The processor is killed
/// soon after Cassandra thaws; a restart then stores every record once.
#[test]
fn a_rebalance_during_a_pause_commits_nothing_unwritten() {
    let _stack = exclusive();
    let (topic, keyspace, port, first, frozen) = frozen_mid_stream("pausebalance");
    wait_for_pause(port);
    let rebalances = counter(port, "rtds_rebalances_total");

    // A second member joins (partitions move away) and leaves (they come
    // back), all while every write waits.
    drop(join(&topic, &format!("{topic}-group")));
    wait_until("every partition back", Duration::from_secs(60), || {
        owned_partitions(port) == 3
    });
    assert!(counter(port, "rtds_rebalances_total") > rebalances);
    drop(frozen);

    // Soon after the thaw, once commits move again: a crash.
    let written = counter(port, "rtds_rows_written_total");
    wait_for_writes(port, written + 1_000);
    send_signal("-KILL", &first.pid());
    let crashed = first.wait();
    assert!(!crashed.status.success(), "{}", text(&crashed));

    let summary = process_until_idle(&topic, &keyspace, "5s");
    assert!(summary["consumed"].as_u64().unwrap() > 0, "{summary}");
    assert_table_matches_topic(&topic, &keyspace, TOTAL as usize);
}

/// A partition paused on a frozen Cassandra, revoked, and given back after
/// the thaw: librdkafka keeps a partition's pause through its revocation,
/// so the job must resume what it is given, or that partition is never read
/// again (the nemesis run found it: the group never drained).
#[test]
fn a_partition_paused_away_and_given_back_is_read() {
    let _stack = exclusive();
    let (topic, keyspace, port, job, frozen) = frozen_mid_stream("pausedaway");
    wait_for_pause(port);
    let group = format!("{topic}-group");
    let member = join(&topic, &group);
    wait_until("a partition moved away", Duration::from_secs(60), || {
        (1..3).contains(&owned_partitions(port))
    });
    drop(frozen);
    wait_until("consumption resumed", Duration::from_secs(60), || {
        metric(port, "rtds_consumption_paused") == Some(0)
    });
    drop(member);
    wait_until("every partition back", Duration::from_secs(60), || {
        owned_partitions(port) == 3
    });

    wait_until("the group drained", Duration::from_secs(60), || {
        group_lag(Site::Local, &topic, &group)
            .is_some_and(|lags| lags.values().all(|&lag| lag == 0))
    });
    send_signal("-TERM", &job.pid());
    let output = job.wait();
    assert!(output.status.success(), "{}", text(&output));
    assert_table_matches_topic(&topic, &keyspace, TOTAL as usize);
}

/// SIGTERM while every write waits on a frozen node: the writes in flight
/// end at their request timeout, the ones waiting for a slot never start,
/// and the job exits well within `cassandra.timeout` + 5 s, committing
/// nothing it did not write (a later run stores every record once).
#[test]
fn a_shutdown_during_an_outage_ends_within_one_request_timeout() {
    let _stack = exclusive();
    let (topic, keyspace, port, job, frozen) = frozen_mid_stream("stopstuck");
    wait_until("writes retried", Duration::from_secs(60), || {
        metric(port, "rtds_write_retries_total").is_some_and(|n| n > 8)
    });
    let stopped = Instant::now();
    send_signal("-TERM", &job.pid());
    let output = job.wait();
    let took = stopped.elapsed();
    drop(frozen);
    eprintln!("SIGTERM to exit with every write stuck: {took:.1?}");
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        took < Duration::from_secs(2 + 5),
        "SIGTERM took {took:?}: {}",
        text(&output)
    );

    process_until_idle(&topic, &keyspace, "5s");
    assert_table_matches_topic(&topic, &keyspace, TOTAL as usize);
}

/// Records of 60 kB each while every write waits on a frozen node: before,
/// as many records as writes hold in number (2,560) could wait in memory,
/// 180 MB of them and their parsed rows; room in flight is bounded in
/// bytes too, so the job's peak stays under 100 MB, and every record is
/// stored once the node is back.
#[test]
fn records_held_by_an_outage_are_bounded_in_bytes() {
    let _stack = exclusive();
    let (topic, keyspace) = (unique("heldbytes"), unique("ks"));
    let port = free_port();
    let job = processor(&topic, &keyspace, port);
    wait_until("partitions assigned", Duration::from_secs(60), || {
        metric(port, "rtds_rebalances_total").is_some_and(|n| n >= 1)
    });
    let frozen = Frozen::service("cassandra");
    let users: Vec<(uuid::Uuid, Vec<u8>)> = (0..3_000).map(|_| padded_user(60_000)).collect();
    let payloads: Vec<Vec<u8>> = users.iter().map(|(_, record)| record.clone()).collect();
    send_raw_with(&topic, &payloads, &[("compression.type", "lz4")]);
    wait_for_pause(port);
    let held = counter(port, "rtds_records_in_flight");
    let peak = peak_rss(&job.pid());
    drop(frozen);
    assert!(held < 100, "{held} records of 60 kB in flight");
    assert!(peak < 100 << 20, "peak RSS {} MB", peak >> 20);

    wait_for_writes(port, users.len() as u64);
    send_signal("-TERM", &job.pid());
    assert!(job.wait().status.success());
    let rows = stored_rows(&topic, &keyspace);
    assert_eq!(rows.len(), users.len());
    assert!(users.iter().all(|(id, _)| rows.contains_key(id)));
}
