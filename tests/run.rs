//! `rtds run`: produce on a schedule and process continuously in one
//! process, against the real Kafka and Cassandra.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rtds::cassandra::Store;

/// `rtds run --schedule @daily` of 500 builtin users per slot, plus `extra`.
fn run_command(topic: &str, keyspace: &str, state: &Path, extra: &[&str]) -> Command {
    let mut command = rtds_command(&["run", "--topic", topic, "--keyspace", keyspace]);
    command
        .args([
            "--schedule",
            "@daily",
            "--source",
            "builtin",
            "--count",
            "500",
            "--json",
        ])
        .args(extra)
        .env("RTDS_KAFKA_GROUP_ID", format!("{topic}-group"))
        .env("RTDS_RUN_STATE_FILE", state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn spawn_run(topic: &str, keyspace: &str, state: &Path) -> Child {
    run_command(topic, keyspace, state, &["--now"])
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

    // `--now` again the same day: the user asked for a run now, it produces.
    let child = spawn_run(&topic, &keyspace, &state);
    let summary = stop_after_next_run_is_planned(child);
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");

    // A restart without `--now` in the same slot does not produce it again.
    let mut child = run_command(&topic, &keyspace, &state, &[]).spawn().unwrap();
    let log = LogWatch::of(&mut child);
    log.wait_for("next produce run", Duration::from_secs(60));
    assert!(
        log.text().contains("slot already produced"),
        "{}",
        log.text()
    );
    let summary = stop(child);
    assert_eq!(summary["produce_runs"], 0, "{summary}");

    // Another pipeline (another topic) sharing the state file produces.
    let other = unique("run");
    let child = run_command(&other, &keyspace, &state, &["--now"])
        .spawn()
        .unwrap();
    let summary = stop_after_next_run_is_planned(child);
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");
    std::fs::remove_dir_all(state.parent().unwrap()).unwrap();
}

/// Waits until the run has produced (it logs the next slot after), then stops it.
fn stop_after_next_run_is_planned(mut child: Child) -> serde_json::Value {
    let log = LogWatch::of(&mut child);
    log.wait_for("next produce run", Duration::from_secs(60));
    stop(child)
}

#[test]
fn a_processor_that_cannot_start_ends_the_run_before_anything_is_produced() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let state = std::env::temp_dir().join(format!("{topic}/state.json"));
    let started = Instant::now();
    let output = run_command(&topic, &keyspace, &state, &["--now"])
        .args(["--contact-points", "127.0.0.1:1"])
        .env("RTDS_CASSANDRA_TIMEOUT", "3s")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("processor stopped") && stderr.contains("127.0.0.1:1"),
        "{stderr}"
    );
    assert_eq!(topic_size(&topic), 0, "nothing was produced");
    assert!(!state.exists());
}
