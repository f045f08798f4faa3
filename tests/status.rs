//! `rtds status` against the real Kafka and Cassandra: a healthy pipeline,
//! records nobody consumes, a missing table, Kafka down; and it creates
//! nothing it looks at.

mod common;

use std::process::Output;
use std::time::Duration;

use common::*;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// `rtds status --json` of the test's topic, group and keyspace, reading
/// the jobs' metrics at `scrape` when not empty.
fn status(topic: &str, keyspace: &str, scrape: &str) -> (Output, serde_json::Value) {
    let flags = pipeline_flags(topic, keyspace);
    let mut args = vec!["status", "--json"];
    args.extend(flags.iter().map(String::as_str));
    let mut command = rtds_command(&args);
    if !scrape.is_empty() {
        command.env("RTDS_DASHBOARD_SCRAPE", scrape);
    }
    let output = command.output().unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("status --json prints JSON ({e}): {}", text(&output)));
    (output, report)
}

fn hop<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no hop {name} in {report}"))
}

fn topic_exists(topic: &str) -> bool {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    metadata.topics().iter().any(|t| t.name() == topic)
}

fn keyspace_exists(keyspace: &str) -> bool {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let session = session().await;
        let rows = session
            .query_unpaged(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (keyspace,),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        rows.rows_num() > 0
    })
}

#[test]
fn a_healthy_pipeline_is_ok_on_every_hop() {
    require_stack();
    let (topic, keyspace) = (unique("status_ok"), unique("status_ok"));
    produce_builtin(&topic, 300);
    let forgotten = &topic_ids(&topic, 300)[..10];
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let processor = processor(&topic, &keyspace, &["--metrics-listen", &metrics]);
    wait_until("300 rows written", Duration::from_secs(90), || {
        metric(port, "rtds_rows_written_total") == Some(300)
    });
    produce_tombstones(&topic, forgotten);
    let scrape = format!("http://{metrics}/metrics");
    let mut last = None;
    wait_until("every hop ok", Duration::from_secs(90), || {
        let (output, report) = status(&topic, &keyspace, &scrape);
        let ok = report["hops"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "ok")
            && hop(&report, "group")["details"]["lag"] == 0
            && hop(&report, "cassandra")["details"]["rows"] == 290;
        last = Some((output, report));
        ok
    });
    drop(processor);
    let (output, report) = last.unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(report["healthy"], true);
    assert!(
        report["verdict"].as_str().unwrap().starts_with("healthy"),
        "{report}"
    );
    let table = hop(&report, "cassandra");
    assert_eq!(table["details"]["exact"], true, "{table}");
    assert_eq!(hop(&report, "kafka")["details"]["records"], 310);
    assert_eq!(hop(&report, "group")["details"]["members"], 1);
    let jobs = hop(&report, "jobs")["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        jobs.contains("300 written") && jobs.contains("10 deleted by tombstones"),
        "{jobs}"
    );
}

#[test]
fn records_nobody_consumes_fail_naming_the_group() {
    require_stack();
    let (topic, keyspace) = (unique("status_orphan"), unique("status_orphan"));
    produce_builtin(&topic, 50);
    let (output, report) = status(&topic, &keyspace, "");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let verdict = report["verdict"].as_str().unwrap();
    let group = format!("{topic}-group");
    assert!(
        verdict.contains(&format!("no member in group {group}"))
            && verdict.contains("rtds process"),
        "{verdict}"
    );
    assert_eq!(hop(&report, "group")["details"]["lag"], 50);
    // The same, for people: one line per hop and the verdict.
    let mut args = vec!["status".to_string()];
    args.extend(pipeline_flags(&topic, &keyspace));
    let plain = rtds(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let lines = String::from_utf8_lossy(&plain.stdout).into_owned();
    for name in ["source", "kafka", "group", "dlq", "cassandra", "verdict:"] {
        assert!(lines.contains(name), "{name} missing from:\n{lines}");
    }
}

#[test]
fn a_missing_table_is_named_and_nothing_is_created() {
    require_stack();
    let (topic, keyspace) = (unique("status_none"), unique("status_none"));
    let (output, report) = status(&topic, &keyspace, "");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let table = hop(&report, "cassandra");
    assert_eq!(table["state"], "fail");
    let summary = table["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("table {keyspace}.created_users does not exist")),
        "{summary}"
    );
    assert!(
        hop(&report, "kafka")["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("topic {topic} does not exist")),
        "{report}"
    );
    assert!(!topic_exists(&topic), "status created topic {topic}");
    assert!(
        !topic_exists(&format!("{topic}.dlq")),
        "status created the DLQ"
    );
    assert!(!keyspace_exists(&keyspace), "status created {keyspace}");
}

#[test]
fn kafka_down_fails_naming_the_broker() {
    require_stack();
    let broker = format!("127.0.0.1:{}", free_port());
    let output = rtds_command(&[
        "status",
        "--bootstrap-servers",
        &broker,
        "--source",
        "builtin",
    ])
    .env("RTDS_KAFKA_TIMEOUT", "3s")
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict = stdout
        .lines()
        .find(|l| l.starts_with("verdict:"))
        .unwrap_or_else(|| panic!("no verdict: {}", text(&output)));
    assert!(
        verdict.contains(&format!("cannot reach Kafka at {broker}"))
            && verdict.contains("scripts/stack up"),
        "{verdict}"
    );
}
