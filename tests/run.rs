//! `rtds run`: produce on a schedule and process continuously in one
//! process, against the real Kafka and Cassandra: slots produced, skipped
//! and missed across restarts, a processor that fails, a second signal.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Timelike, Utc};
use common::*;
use rdkafka::message::Message;
use rtds::cassandra::Store;
use rtds::schedule::Schedule;

/// A yearly schedule whose slots lie about half a year before and after
/// now: a test never crosses one, whatever the date and hour it runs at
/// (`@daily` would put a slot between two of its runs at 00:00 UTC).
fn far_schedule() -> String {
    let slot = Utc::now() - chrono::Duration::days(182);
    // Day 28 at most: every month has it.
    let day = slot.day().min(28);
    format!("{} {} {day} {} *", slot.minute(), slot.hour(), slot.month())
}

/// A test's own folder for the state file, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(topic: &str) -> Scratch {
        let dir = std::env::temp_dir().join(topic);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn state(&self) -> PathBuf {
        self.0.join("state.json")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `rtds run --schedule SCHEDULE` of 500 builtin users per slot, its
/// schedule state in `state`, plus `extra`.
fn run_command(
    topic: &str,
    keyspace: &str,
    state: &Path,
    schedule: &str,
    extra: &[&str],
) -> Command {
    let mut command = rtds_command(&["run", "--topic", topic, "--keyspace", keyspace]);
    command
        .args(["--schedule", schedule])
        .args(["--source", "builtin", "--count", "500", "--json"])
        .args(extra)
        .env("RTDS_KAFKA_GROUP_ID", format!("{topic}-group"))
        .env("RTDS_RUN_STATE_FILE", state);
    command
}

/// The run's table, opened (made, when the run has not made it yet) to
/// count the rows the run brings.
fn open_store(runtime: &tokio::runtime::Runtime, topic: &str, keyspace: &str) -> Store {
    runtime
        .block_on(Store::open(&settings(topic, keyspace).cassandra))
        .unwrap()
}

/// SIGTERM, as a service manager would send, then the `--json` summary
/// and the log.
fn stop(job: Followed) -> (serde_json::Value, String) {
    send_signal("-TERM", &job.pid());
    let output = job.wait_within(Duration::from_secs(60));
    assert!(output.status.success(), "{}", text(&output));
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    (json_summary(&output), log)
}

/// Stops the run once it has planned its next slot, which it does after
/// the produce run at start (if any) is over.
fn stop_when_planned(job: Followed) -> (serde_json::Value, String) {
    wait_until("the next slot planned", Duration::from_secs(60), || {
        job.logged().contains("next produce run")
    });
    stop(job)
}

/// Waits until a run that must not produce at start has decided so and its
/// processor owns its partitions: it has produced nothing by then, and
/// would not produce until the next slot.
fn wait_for_skip(job: &Followed) {
    wait_until(
        "the restart decides about the slot and starts processing",
        Duration::from_secs(60),
        || {
            let log = job.logged();
            log.contains("slot already produced") && owns_partitions(&log)
        },
    );
}

#[test]
fn run_now_produces_every_time_and_a_restart_skips_a_produced_slot() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let scratch = Scratch::new(&topic);
    let state = scratch.state();
    let schedule = far_schedule();
    let run = |topic: &str, extra: &[&str]| {
        Followed::spawn(run_command(topic, &keyspace, &state, &schedule, extra))
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let job = run(&topic, &["--now"]);
    // Opening the store makes the table when the run has not yet: the rows
    // are what the run must bring.
    let store = open_store(&runtime, &topic, &keyspace);
    wait_for_rows(&runtime, &store, 500, Duration::from_secs(60));
    let (summary, _) = stop(job);
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");
    assert_eq!(summary["process"]["written"], 500, "{summary}");
    assert!(state.exists(), "the produced slot is recorded");

    // `--now` again in the same slot: the user asked for a run now, it
    // produces.
    let (summary, _) = stop_when_planned(run(&topic, &["--now"]));
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");

    // A restart without `--now` in the same slot does not produce it again;
    // it stores what the run before it produced and left.
    let job = run(&topic, &[]);
    wait_for_skip(&job);
    wait_for_rows(&runtime, &store, 1000, Duration::from_secs(60));
    let (summary, _) = stop(job);
    assert_eq!(summary["produce_runs"], 0, "{summary}");
    assert_eq!(summary["produced"], 0, "{summary}");

    // Another pipeline (another topic) sharing the state file produces.
    let (summary, _) = stop_when_planned(run(&unique("run"), &["--now"]));
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");
}

/// The whole pipeline in Avro: the run registers the users' schema,
/// produces Avro and processes it through the built-in mapping.
#[test]
fn the_whole_pipeline_runs_in_avro() {
    require_registry();
    let (topic, keyspace) = (unique("run_avro"), unique("ks"));
    let scratch = Scratch::new(&topic);
    let avro = ["--now", "--format", "avro", "--registry-url", REGISTRY_URL];
    let command = run_command(&topic, &keyspace, &scratch.state(), &far_schedule(), &avro);
    let job = Followed::spawn(command);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = open_store(&runtime, &topic, &keyspace);
    wait_for_rows(&runtime, &store, 500, Duration::from_secs(60));
    let (summary, _) = stop(job);
    assert_eq!(summary["produced"], 500, "{summary}");
    assert_eq!(summary["process"]["written"], 500, "{summary}");
    assert_eq!(summary["process"]["dead_lettered"], 0, "{summary}");
    let first = read_topic(&topic, 1).remove(0);
    let value = first.payload().expect("a record with a value");
    assert_eq!(value[0], 0, "the registry's frame, not JSON: {value:?}");
}

/// Rewrites the state file as if every pipeline in it had last produced
/// the slot before the one it recorded: the run that produced that slot
/// never happened, the pipeline was down across it.
fn rewind_state(state: &Path, schedule: &Schedule) {
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let pipelines = saved["pipelines"]
        .as_object_mut()
        .expect("the state keeps a slot per pipeline");
    assert!(!pipelines.is_empty(), "no slot recorded: {state:?}");
    for slot in pipelines.values_mut() {
        let recorded: DateTime<Utc> = slot.as_str().unwrap().parse().unwrap();
        let before = schedule.current_slot(recorded - chrono::Duration::seconds(1));
        *slot = before.to_rfc3339().into();
    }
    std::fs::write(state, serde_json::to_vec(&saved).unwrap()).unwrap();
}

/// A slot missed while `rtds run` was down (the state says the pipeline
/// last produced the slot before the current one) is produced when it
/// starts again, without `--now`, and only once: the restart after it
/// produces nothing.
#[test]
fn a_restart_produces_a_missed_slot_once() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let scratch = Scratch::new(&topic);
    let state = scratch.state();
    let schedule = far_schedule();
    let run =
        |extra: &[&str]| Followed::spawn(run_command(&topic, &keyspace, &state, &schedule, extra));

    let (summary, _) = stop_when_planned(run(&["--now"]));
    assert_eq!(summary["produced"], 500, "{summary}");
    rewind_state(&state, &schedule.parse().unwrap());

    let (summary, log) = stop_when_planned(run(&[]));
    assert!(log.contains("slot missed while stopped"), "{log}");
    assert_eq!(summary["produce_runs"], 1, "{summary}");
    assert_eq!(summary["produced"], 500, "{summary}");

    let job = run(&[]);
    wait_for_skip(&job);
    let (summary, _) = stop(job);
    assert_eq!(summary["produce_runs"], 0, "{summary}");
    assert_eq!(topic_size(&topic), 1000, "two produce runs in all");
}

#[test]
fn a_processor_that_cannot_start_ends_the_run_before_anything_is_produced() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let scratch = Scratch::new(&topic);
    let state = scratch.state();
    let started = Instant::now();
    let output = run_command(&topic, &keyspace, &state, &far_schedule(), &["--now"])
        .args(["--contact-points", "127.0.0.1:1"])
        .env("RTDS_CASSANDRA_TIMEOUT", "3s")
        .output()
        .unwrap();
    assert_fails_naming(&output, &["processor stopped", "127.0.0.1:1"]);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(topic_size(&topic), 0, "nothing was produced");
    assert!(!state.exists());
}

/// The processor of a running `rtds run` fails for good (its table dropped
/// while it writes): the run ends by itself with status 1 and the
/// processor's error, naming the table.
#[test]
fn a_processor_failing_mid_run_ends_the_run_with_status_1() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let scratch = Scratch::new(&topic);
    let command = run_command(
        &topic,
        &keyspace,
        &scratch.state(),
        &far_schedule(),
        &["--now"],
    );
    let job = Followed::spawn(command);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = open_store(&runtime, &topic, &keyspace);
    wait_for_rows(&runtime, &store, 500, Duration::from_secs(60));
    drop_table(&keyspace);
    produce_builtin(&topic, 100);
    let output = job.wait_within(Duration::from_secs(60));
    let table = format!("{keyspace}.created_users");
    assert_fails_naming(&output, &["the processor stopped", &table]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
}

/// A second SIGTERM while the run's processor drains writes to a node that
/// stopped answering (a relay to the node, frozen) ends `rtds run` at once
/// with status 130, not at the writes' 30 s timeout.
#[test]
fn a_second_signal_during_the_drain_exits_at_once() {
    require_stack();
    let (topic, keyspace) = (unique("run"), unique("ks"));
    let scratch = Scratch::new(&topic);
    let command = run_command(&topic, &keyspace, &scratch.state(), &far_schedule(), &[]);
    let (job, _proxy) = writes_stuck_on_a_frozen_node(&topic, command);
    assert_second_signal_aborts(job);
}
