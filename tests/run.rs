//! `rtds run`: produce on a schedule and process continuously in one
//! process, against the real Kafka and Cassandra.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;
use rtds::cassandra::Store;

/// `rtds run --now` producing 500 builtin users, its log going to `log`.
fn spawn_run(topic: &str, keyspace: &str, state: &Path, log: &Path) -> Child {
    rtds_command(&["--topic", topic, "--keyspace", keyspace])
        .args([
            "run",
            "--now",
            "--schedule",
            "@daily",
            "--source",
            "builtin",
            "--count",
            "500",
            "--json",
        ])
        .env("RTDS_KAFKA_GROUP_ID", format!("{topic}-group"))
        .env("RTDS_RUN_STATE_FILE", state)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// SIGTERM, as a service manager would send, then the `--json` summary.
fn stop(child: Child, log: &Path) -> serde_json::Value {
    send_signal("-TERM", &child.id().to_string());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}\n--- log\n{}",
        text(&output),
        logged(log)
    );
    json_summary(&output)
}

fn logged(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn run_now_produces_once_processes_everything_and_stops_cleanly() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let dir = std::env::temp_dir().join(&topic);
    std::fs::create_dir_all(&dir).unwrap();
    let (state, log) = (dir.join("state.json"), dir.join("run.log"));
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let child = spawn_run(&topic, &keyspace, &state, &log);
    // Opening the store makes the table when the run has not yet: the rows
    // are what the run must bring.
    let store = runtime
        .block_on(Store::open(&settings(&topic, &keyspace).cassandra))
        .unwrap();
    wait_for_rows(&runtime, &store, 500, Duration::from_secs(60));
    let summary = stop(child, &log);
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");
    assert_eq!(summary["process"]["written"], 500, "{summary}");
    assert!(state.exists(), "the produced slot is recorded");

    // A restart in the same slot does not produce again: once it has decided
    // so and its processor is up, it has produced nothing and found nothing new.
    let child = spawn_run(&topic, &keyspace, &state, &log);
    wait_until(
        "the restart decides about the slot and starts processing",
        Duration::from_secs(60),
        || {
            let text = logged(&log);
            text.contains("slot already produced") && text.contains("assigned partitions")
        },
    );
    let summary = stop(child, &log);
    assert_eq!(summary["produce_runs"], 0, "{summary}");
    assert_eq!(summary["produced"], 0, "{summary}");
    assert_eq!(summary["process"]["written"], 0, "{summary}");
    assert_eq!(runtime.block_on(store.count()).unwrap(), 500);
    std::fs::remove_dir_all(dir).unwrap();
}
