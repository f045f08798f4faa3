//! `rtds run`: produce on a schedule and process continuously in one
//! process, against the real Kafka and Cassandra.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rtds::cassandra::Store;

fn spawn_run(topic: &str, keyspace: &str, state: &std::path::Path) -> Child {
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
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGTERM, as a service manager would send, then the `--json` summary.
fn stop(child: Child) -> serde_json::Value {
    send_signal("-TERM", &child.id().to_string());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    json_summary(&output)
}

#[test]
fn run_now_produces_once_processes_everything_and_stops_cleanly() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let state = std::env::temp_dir().join(format!("{topic}/state.json"));
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let child = spawn_run(&topic, &keyspace, &state);
    let store = {
        let started = Instant::now();
        loop {
            // The table exists once the processor has started.
            if let Ok(store) = runtime.block_on(Store::open(&settings(&topic, &keyspace).cassandra))
            {
                break store;
            }
            assert!(started.elapsed() < Duration::from_secs(60));
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let started = Instant::now();
    while runtime.block_on(store.count()).unwrap() < 500 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "500 rows should arrive"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let summary = stop(child);
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");
    assert_eq!(summary["process"]["written"], 500, "{summary}");
    assert!(state.exists(), "the produced slot is recorded");

    // A restart in the same slot does not produce again.
    let child = spawn_run(&topic, &keyspace, &state);
    std::thread::sleep(Duration::from_secs(8));
    let summary = stop(child);
    assert_eq!(summary["produce_runs"], 0, "{summary}");
    assert_eq!(runtime.block_on(store.count()).unwrap(), 500);
    std::fs::remove_dir_all(state.parent().unwrap()).unwrap();
}
