//! `rtds dlq replay` at scale and by its promises: a gigabyte of dead
//! letters goes back once each in bounded memory, the same relative filter
//! twice sends nothing the second time, and a dead letter the DLQ kept only
//! the start of is refused. Real Kafka (and Cassandra for `rtds process`).

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rtds::dlq::wire;

/// Writes `count` dead letters of about `bytes` each to `<source>.dlq`, as
/// `rtds process` writes a record it refused as too large: the record's
/// key, payload and time `at_ms`, then rtds's headers. The payloads
/// compress well, so a gigabyte of them is quick to write and read.
fn write_dead_letters(source: &str, count: usize, bytes: usize, at_ms: i64) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.kbytes", "65536")
        .create()
        .unwrap();
    let dlq = format!("{source}.dlq");
    let padding = "x".repeat(bytes);
    let at = at_ms.to_string();
    for offset in 0..count {
        let key = uuid::Uuid::new_v4().to_string();
        let payload = format!(r#"{{"id":"{key}","address":"{padding}"}}"#);
        let (offset, error) = (
            offset.to_string(),
            format!(
                "a {}-byte record is over process.max_record_bytes",
                payload.len()
            ),
        );
        let headers = [
            (wire::ERROR, error.as_str()),
            (wire::ERROR_KIND, "too_large"),
            (wire::SOURCE_TOPIC, source),
            (wire::SOURCE_PARTITION, "0"),
            (wire::SOURCE_OFFSET, &offset),
            (wire::SOURCE_TIMESTAMP, &at),
        ];
        let headers = headers.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(*value),
            })
        });
        let mut record = BaseRecord::to(&dlq)
            .key(&key)
            .payload(&payload)
            .headers(headers)
            .timestamp(at_ms);
        while let Err((error, returned)) = producer.send(record) {
            assert!(error.to_string().contains("Queue full"), "{error}");
            producer.poll(Duration::from_millis(10));
            record = returned;
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

/// Runs `command` to its end: its output, and its peak resident memory in
/// kB, read from /proc while it runs (VmHWM only grows, so the last
/// reading before the exit is the peak).
fn run_measured(command: Command) -> (Output, u64) {
    let child = Followed::spawn(command);
    let pid = child.pid();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(bytes) = peak_rss_if_running(&pid) {
            peak = bytes / 1024;
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    });
    let output = child.wait();
    (output, sampler.join().unwrap())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// 10,000 dead letters of 100 kB, 1 GB together: the replay streams them,
/// sending each back once with the memory of a window, not of the DLQ, and
/// a second run sends nothing.
#[test]
fn a_gigabyte_of_dead_letters_goes_back_once_in_bounded_memory() {
    require_stack();
    let topic = unique("replay_scale");
    let (count, bytes) = (10_000, 100_000);
    create_topic(&topic, 3, &[]);
    create_topic(&format!("{topic}.dlq"), 3, &[]);
    write_dead_letters(&topic, count, bytes, now_ms());

    let mut command = rtds_command(&["dlq", "replay", "--topic", &topic, "--json"]);
    command.env("RTDS_KAFKA_GROUP_ID", format!("{topic}-group"));
    let started = Instant::now();
    let (output, peak_kb) = run_measured(command);
    let took = started.elapsed();
    assert!(output.status.success(), "{}", text(&output));
    eprintln!(
        "replayed {count} dead letters of {bytes} bytes in {:.1} s, peak RSS {:.1} MB",
        took.as_secs_f64(),
        peak_kb as f64 / 1024.0
    );
    let done = json_summary(&output);
    assert_eq!(done["replayed"], count, "{done}");
    assert_eq!(topic_size(&topic), count as i64, "each record sent once");
    assert!(
        peak_kb < 200 * 1024,
        "peak RSS {peak_kb} kB for 1 GB of dead letters: the replay holds them"
    );

    let again = dlq_json(&topic, &["replay"], &[]);
    assert_eq!(again.last().unwrap()["replayed"], 0, "{again:?}");
    assert_eq!(
        topic_size(&topic),
        count as i64,
        "a second run sends nothing"
    );
}

/// A long replay says how far it got every few seconds. This one is made
/// long by a producer that holds one record at a time and waits a second
/// for others to join it.
#[test]
fn a_long_replay_logs_its_progress() {
    require_stack();
    let topic = unique("replay_progress");
    write_dead_letters(&topic, 30, 100_000, now_ms());
    let mut command = rtds_command(&["dlq", "replay", "--topic", &topic]);
    command
        .env("RTDS_KAFKA_GROUP_ID", format!("{topic}-group"))
        .env(
            "RTDS_KAFKA_PROPERTIES",
            "linger.ms=1000,queue.buffering.max.messages=1",
        );
    let replay = Followed::spawn(command);
    wait_until("a progress line", Duration::from_secs(60), || {
        replay.logged().contains("replay: read")
    });
    let logged = replay.logged();
    assert!(logged.contains(" of 30 dead letters, sent "), "{logged}");
}

/// `--since 2h` names its group by the text, not by the time it stood for:
/// run again, it finds its place and sends nothing it sent before, and
/// records older than the window stay out both times.
#[test]
fn a_relative_since_twice_sends_nothing_the_second_time() {
    require_stack();
    let topic = unique("replay_since");
    create_topic(&topic, 1, &[]);
    write_dead_letters(&topic, 2, 100, now_ms() - 3 * 3_600_000);
    write_dead_letters(&topic, 3, 100, now_ms());

    let first = dlq_json(&topic, &["replay", "--since", "2h"], &[]);
    let first = first.last().unwrap();
    assert_eq!(
        (&first["read"], &first["replayed"]),
        (&5.into(), &3.into()),
        "{first}"
    );
    assert_eq!(topic_size(&topic), 3);

    let second = dlq_json(&topic, &["replay", "--since", "2h"], &[]);
    let second = second.last().unwrap();
    assert_eq!(second["replayed"], 0, "{second}");
    assert_eq!(topic_size(&topic), 3, "the second run sent nothing");
    let group = format!("{topic}-group.dlq-replay.since=2h");
    assert_eq!(second["group"], group.as_str(), "{second}");
}

/// A record cut to fit the DLQ (2 MB into a topic that takes 20 kB) cannot
/// go back as it was: the replay refuses it, counts it as truncated, says
/// why, and sends nothing.
#[test]
fn a_truncated_dead_letter_is_refused_and_counted() {
    require_stack();
    let (topic, keyspace) = (unique("replay_cut"), unique("ks"));
    create_topic(
        &format!("{topic}.dlq"),
        1,
        &[("max.message.bytes", "20000")],
    );
    send_raw_with(
        &topic,
        &[compressible_record()],
        &[
            ("compression.type", "lz4"),
            ("message.max.bytes", "3000000"),
        ],
    );
    let summary = process_until_idle(&topic, &keyspace, "3s");
    assert_eq!(summary["dead_lettered"], 1, "{summary}");
    let listed = dlq_json(&topic, &["list"], &[]);
    assert_eq!(listed[0]["truncated"], true, "{listed:?}");

    let (done, logged) = dlq_replay(&topic, &[]);
    assert_eq!(
        (&done["matched"], &done["truncated"], &done["replayed"]),
        (&1.into(), &1.into(), &0.into()),
        "{done}"
    );
    assert!(
        logged.contains("only its first bytes were kept"),
        "{logged}"
    );
    assert_eq!(topic_size(&topic), 1, "nothing went back");
}
