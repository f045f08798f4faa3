//! The stack's services fail mid-stream: Cassandra frozen (SIGSTOP) or
//! killed (SIGKILL), the Kafka broker killed, each brought back while rtds
//! runs. rtds recovers by itself and every record ends up stored, or in the
//! topic, exactly once.
//!
//! These tests stop the stack's own processes, so they hold one lock and run
//! one at a time; cargo runs test files one after another, so no other test
//! sees the outage. Each leaves the stack up (also when it fails).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// `rtds process --json` with /metrics on `port`, its output piped, plus
/// `extra` flags.
fn processor(topic: &str, keyspace: &str, port: u16, extra: &[&str]) -> Command {
    let listen = format!("127.0.0.1:{port}");
    let group = format!("{topic}-group");
    let mut args = vec![
        "process",
        "--topic",
        topic,
        "--keyspace",
        keyspace,
        "--metrics-listen",
        &listen,
        "--group",
        &group,
        "--json",
    ];
    args.extend_from_slice(extra);
    let mut command = rtds_command(&args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

const WRITTEN: &str = "rtds_rows_written_total";

/// Rows the processor on `port` wrote; fails the test when its /metrics is
/// silent, so that a dead processor never passes for one that stopped
/// writing, or that was cut mid-stream.
fn written(port: u16) -> u64 {
    counter(port, WRITTEN)
}

/// SIGTERM once every record is written, then the clean exit and summary.
/// Rows written count a record read again twice (after a broker restart
/// the group goes back to its last commit), so "every record" is also the
/// topic read to its end (no lag) with no write in flight.
fn stop_when_written(child: Child, port: u16, total: u64) -> serde_json::Value {
    wait_until("every record written", Duration::from_secs(180), || {
        metric(port, WRITTEN).is_some_and(|n| n >= total)
            && metric(port, "rtds_consumer_lag") == Some(0)
            && metric(port, "rtds_records_in_flight") == Some(0)
    });
    send_signal("-TERM", &child.id().to_string());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    json_summary(&output)
}

#[test]
fn a_stalled_cassandra_holds_back_the_consumer_and_nothing_is_lost() {
    let _stack = exclusive();
    let (topic, keyspace) = (unique("outage"), unique("ks"));
    let total = 50_000u64;
    produce_builtin(&topic, total);
    let port = free_port();
    let (concurrency, rows_per_batch) = (64, 10);
    // Records in flight: as many as the writes in flight hold.
    let records_in_flight = concurrency * rows_per_batch;
    let child = processor(&topic, &keyspace, port, &["--until-idle", "5s"])
        .env("RTDS_CASSANDRA_CONCURRENCY", concurrency.to_string())
        .env("RTDS_CASSANDRA_BATCH_ROWS", rows_per_batch.to_string())
        .env("RTDS_CASSANDRA_TIMEOUT", "2s")
        .spawn()
        .unwrap();

    wait_for_count(port, WRITTEN, 1_000, Duration::from_secs(60));
    let frozen = Frozen::service("cassandra");
    // Backpressure: once every permit is taken, nothing more is pulled
    // while nothing can be written, and no more records are held than
    // writes allowed in flight.
    wait_until("every write permit taken", Duration::from_secs(30), || {
        metric(port, "rtds_records_in_flight") == Some(records_in_flight)
    });
    // Once a write has timed out, the replies that were on their way when
    // the node froze have all arrived: from then on nothing moves.
    wait_until("a write retried", Duration::from_secs(30), || {
        metric(port, "rtds_write_retries_total") > Some(0)
    });
    let consumed = counter(port, "rtds_records_consumed_total");
    let written_at_freeze = written(port);
    let retries = counter(port, "rtds_write_retries_total");
    // Timeouts shrink the writes in flight (adaptive concurrency), to 4 at
    // the least: a few more retries show that time has passed.
    wait_until("more write retries", Duration::from_secs(30), || {
        metric(port, "rtds_write_retries_total") > Some(retries + 4)
    });
    assert_eq!(
        metric(port, "rtds_records_consumed_total"),
        Some(consumed),
        "consumer kept pulling"
    );
    assert_eq!(written(port), written_at_freeze);
    assert!(counter(port, "rtds_records_in_flight") <= records_in_flight);
    assert!(consumed < total, "the stall came mid-stream");
    drop(frozen);

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    assert!(summary["write_retries"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["written"], total, "{summary}");
    assert_table_matches_topic(&topic, &keyspace, total as usize);
}

/// Longer than `max.poll.interval.ms`: a consumer that stopped polling
/// while its writes wait would be dropped from the group and its records
/// replayed; paused partitions and a polled consumer keep the member in.
#[test]
fn an_outage_longer_than_the_poll_interval_keeps_the_group_membership() {
    let _stack = exclusive();
    let (topic, keyspace) = (unique("longoutage"), unique("ks"));
    let total = 30_000u64;
    produce_builtin(&topic, total);
    let port = free_port();
    let child = processor(&topic, &keyspace, port, &["--until-idle", "5s"])
        .env("RTDS_CASSANDRA_CONCURRENCY", "64")
        .env("RTDS_CASSANDRA_TIMEOUT", "2s")
        .env(
            "RTDS_KAFKA_PROPERTIES",
            "max.poll.interval.ms=10000,session.timeout.ms=6000",
        )
        .spawn()
        .unwrap();

    wait_for_count(port, WRITTEN, 1_000, Duration::from_secs(60));
    {
        let _frozen = Frozen::service("cassandra");
        let frozen_at = std::time::Instant::now();
        wait_until("25 s of outage", Duration::from_secs(60), || {
            frozen_at.elapsed() >= Duration::from_secs(25)
                && metric(port, "rtds_write_retries_total") > Some(64)
        });
    }

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    // One assignment, no poll-interval expiry: the member never left, so
    // no record was consumed twice.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("assigned partitions").count(), 1, "{stderr}");
    assert!(!stderr.contains("poll interval"), "{stderr}");
    assert_eq!(summary["consumed"], total, "{summary}");
    assert_eq!(summary["written"], total, "{summary}");
    assert_table_matches_topic(&topic, &keyspace, total as usize);
}

/// `service` of the stack killed while `rtds process` writes, and started
/// again: the processor retries and resumes by itself, and the table holds
/// every record once. Returns the processor's summary.
fn kill_during_process(service: &str) -> serde_json::Value {
    let (topic, keyspace) = (unique(&format!("{service}kill")), unique("ks"));
    let total = 40_000u64;
    produce_builtin(&topic, total);
    let port = free_port();
    // Few writes in flight: the stream lasts long enough to be cut.
    let child = processor(&topic, &keyspace, port, &[])
        .env("RTDS_CASSANDRA_CONCURRENCY", "4")
        .spawn()
        .unwrap();
    wait_for_count(port, WRITTEN, 2_000, Duration::from_secs(60));
    let killed = Killed::service(service);
    let at_kill = written(port);
    assert!(at_kill < total, "the kill came mid-stream: {at_kill} rows");
    killed.restart();

    let summary = stop_when_written(child, port, total);
    assert_table_matches_topic(&topic, &keyspace, total as usize);
    summary
}

#[test]
fn a_killed_cassandra_is_waited_for_and_every_record_stored_once() {
    let _stack = exclusive();
    let summary = kill_during_process("cassandra");
    assert!(summary["write_retries"].as_u64().unwrap() > 0, "{summary}");
}

#[test]
fn a_killed_broker_during_process_loses_nothing() {
    let _stack = exclusive();
    let summary = kill_during_process("kafka");
    assert!(summary["written"].as_u64().unwrap() >= 40_000, "{summary}");
}

/// The broker killed (SIGKILL) while `rtds produce` sends, and started
/// again within the delivery timeout: the idempotent producer retries what
/// was in flight, so every record is acknowledged and the topic holds each
/// once. The high watermarks count what was appended, a duplicate too,
/// whatever a read returns.
#[test]
fn a_killed_broker_during_produce_loses_and_repeats_nothing() {
    let _stack = exclusive();
    let topic = unique("brokerkillprod");
    let total = 300_000u64;
    let child = rtds_command(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        "builtin",
        "--count",
        &total.to_string(),
        "--max-rate",
        "20000",
        "--json",
    ])
    // Time for the broker to come back within one delivery timeout.
    .env("RTDS_KAFKA_TIMEOUT", "120s")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut before_kill = 0;
    wait_until(
        "20,000 records in the topic",
        Duration::from_secs(60),
        || {
            before_kill = topic_size(&topic);
            before_kill >= 20_000
        },
    );
    let killed = Killed::service("kafka");
    killed.restart();
    assert!(
        before_kill < total as i64,
        "the kill came mid-produce: {before_kill} records in the topic"
    );

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    assert_eq!(summary["acked"], total, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    // Every record acknowledged is in the topic, none twice: the
    // watermarks add up to the count acknowledged, and as many distinct
    // ids are read.
    let ids = topic_ids(&topic, total as usize);
    assert_distinct(&format!("ids on {topic}"), ids);
}

/// The broker stops answering (SIGSTOP) under `rtds process --until-idle`:
/// no record comes for longer than the idle time, yet records are left on
/// the topic, so the processor waits for them, says so, and stores every
/// one once the broker answers again. (It used to end the run as idle with
/// the rest left on the topic, as a broker's failover did on a cluster.)
#[test]
fn a_frozen_broker_does_not_end_an_until_idle_run_early() {
    let _stack = exclusive();
    let (topic, keyspace) = (unique("idlefrozen"), unique("ks"));
    let total = 30_000u64;
    produce_builtin(&topic, total);
    let port = free_port();
    // Few writes in flight: the stream lasts long enough to be cut.
    let mut command = processor(&topic, &keyspace, port, &["--until-idle", "2s"]);
    command.env("RTDS_CASSANDRA_CONCURRENCY", "4");
    let processor = Followed::spawn(command);
    wait_for_count(port, WRITTEN, 2_000, Duration::from_secs(60));
    {
        let _frozen = Frozen::service("kafka");
        wait_until(
            "the processor waiting for the records left",
            Duration::from_secs(60),
            || processor.logged().contains("waiting for them"),
        );
    }
    let output = processor.wait_within(Duration::from_secs(180));
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(json_summary(&output)["written"], total);
    assert_table_matches_topic(&topic, &keyspace, total as usize);
}
