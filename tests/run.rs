//! `rtds run`: produce on a schedule and process continuously in one
//! process, against the real Kafka and Cassandra.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rtds::cassandra::Store;

/// `rtds run --schedule @daily` of 500 builtin users per slot, plus
/// `extra`, its log going to `log`.
fn run_command(topic: &str, keyspace: &str, state: &Path, log: &Path, extra: &[&str]) -> Command {
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
        .stderr(std::fs::File::create(log).unwrap());
    command
}

fn spawn(mut command: Command) -> Child {
    command.spawn().unwrap()
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

/// Stops the run once it has planned its next slot, which it does after
/// the produce run at start (if any) is over.
fn stop_when_planned(child: Child, log: &Path) -> serde_json::Value {
    wait_until("the next slot planned", Duration::from_secs(60), || {
        logged(log).contains("next produce run")
    });
    stop(child, log)
}

fn logged(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn run_now_produces_every_time_and_a_restart_skips_a_produced_slot() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let dir = std::env::temp_dir().join(&topic);
    std::fs::create_dir_all(&dir).unwrap();
    let (state, log) = (dir.join("state.json"), dir.join("run.log"));
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let child = spawn(run_command(&topic, &keyspace, &state, &log, &["--now"]));
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

    // `--now` again the same day: the user asked for a run now, it produces.
    let child = spawn(run_command(&topic, &keyspace, &state, &log, &["--now"]));
    let summary = stop_when_planned(child, &log);
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");

    // A restart without `--now` in the same slot does not produce it again:
    // once it has decided so and its processor is up, it has produced
    // nothing and found nothing new.
    let child = spawn(run_command(&topic, &keyspace, &state, &log, &[]));
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
    wait_for_rows(&runtime, &store, 1000, Duration::from_secs(60));

    // Another pipeline (another topic) sharing the state file produces.
    let other = unique("run");
    let child = spawn(run_command(&other, &keyspace, &state, &log, &["--now"]));
    let summary = stop_when_planned(child, &log);
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_processor_that_cannot_start_ends_the_run_before_anything_is_produced() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let dir = std::env::temp_dir().join(&topic);
    std::fs::create_dir_all(&dir).unwrap();
    let (state, log) = (dir.join("state.json"), dir.join("run.log"));
    let started = Instant::now();
    let output = run_command(&topic, &keyspace, &state, &log, &["--now"])
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
    let stderr = logged(&log);
    assert!(
        stderr.contains("processor stopped") && stderr.contains("127.0.0.1:1"),
        "{stderr}"
    );
    assert_eq!(topic_size(&topic), 0, "nothing was produced");
    assert!(!state.exists());
    std::fs::remove_dir_all(dir).unwrap();
}
