//! `rtds produce` against the real Kafka and the local Random User API server.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Checks that `topic` holds exactly `count` messages (its watermarks, so
/// that a record appended twice fails, see [`read_exactly`]), each a record
/// of exactly 12 strings with a UUID id equal to its key, no id twice.
fn check_records(topic: &str, count: usize) {
    use rdkafka::message::Message;
    let messages = read_exactly(topic, count);
    let mut ids = Vec::new();
    for message in &messages {
        let value = payload_json(message);
        let object = value.as_object().expect("a JSON object");
        assert_eq!(object.len(), 12, "{value}");
        assert!(object.values().all(|v| v.is_string()), "{value}");
        let id = object["id"].as_str().unwrap();
        let uuid = uuid::Uuid::parse_str(id).expect("id is a UUID");
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(message.key(), Some(id.as_bytes()), "key is the id");
        ids.push(uuid);
    }
    assert_distinct(&format!("ids on {topic}"), ids);
}

/// `rtds produce --count COUNT --batch-size BATCH` from `server` into a
/// fresh topic, which must deliver exactly COUNT records: the topic and the
/// `--json` summary.
fn produce_from(
    server: &ApiServer,
    what: &str,
    count: u32,
    batch: u32,
) -> (String, serde_json::Value) {
    let topic = unique(what);
    let output = rtds(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        &server.url,
        "--count",
        &count.to_string(),
        "--batch-size",
        &batch.to_string(),
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    assert_eq!(
        summary["acked"], count,
        "all asked for were delivered: {summary}"
    );
    assert_eq!(summary["sent"], count, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    (topic, summary)
}

#[test]
fn produces_exactly_count_records_from_the_api_server() {
    require_stack();
    let server = ApiServer::healthy();
    let (topic, _) = produce_from(&server, "produce", 10_000, 5000);
    check_records(&topic, 10_000);
}

#[test]
fn api_failures_are_retried_until_every_record_arrives() {
    require_stack();
    let server = ApiServer::start(server_args(0.2, 0.0));
    let (topic, summary) = produce_from(&server, "produce_flaky", 5000, 250);
    assert!(
        summary["source_errors"].as_u64().unwrap() > 0,
        "faults were injected: {summary}"
    );
    check_records(&topic, 5000);
}

#[test]
fn malformed_replies_are_counted_and_the_run_finishes() {
    require_stack();
    let server = ApiServer::start(server_args(0.0, 0.3));
    let (topic, summary) = produce_from(&server, "produce_malformed", 3000, 100);
    let problems =
        summary["source_errors"].as_u64().unwrap() + summary["skipped"].as_u64().unwrap();
    assert!(problems > 0, "malformed bodies must be counted: {summary}");
    check_records(&topic, 3000);
}

#[test]
fn unreachable_kafka_fails_in_time_naming_the_broker() {
    let started = Instant::now();
    let output = rtds_command(&[
        "produce",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--source",
        "builtin",
        "--count",
        "10",
    ])
    .env("RTDS_KAFKA_TIMEOUT", "3s")
    .output()
    .unwrap();
    let elapsed = started.elapsed();
    assert_fails_naming(&output, &["127.0.0.1:1", "scripts/stack up"]);
    // The configured 3 s plus start-up; far below the 60 s default run.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}

#[test]
fn unreachable_api_says_so_and_suggests_builtin() {
    require_stack();
    let topic = unique("produce_noapi");
    let output = rtds_command(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        "http://127.0.0.1:1/api/",
        "--count",
        "10",
    ])
    .env("RTDS_PRODUCE_RETRIES", "2")
    .output()
    .unwrap();
    assert_fails_naming(&output, &["127.0.0.1:1", "--source builtin"]);
}

#[test]
fn duration_stops_the_run_having_delivered_everything() {
    require_stack();
    let topic = unique("produce_duration");
    let started = Instant::now();
    let output = rtds(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        "builtin",
        "--duration",
        "3s",
        "--max-rate",
        "2000",
        "--json",
    ]);
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    let acked = summary["acked"].as_u64().unwrap();
    assert!(acked > 0, "{summary}");
    assert_eq!(summary["sent"], acked, "{summary}");
    let seconds = summary["seconds"].as_f64().unwrap();
    assert!(
        (2.5..15.0).contains(&seconds),
        "ran {seconds}s for --duration 3s"
    );
    assert!(elapsed < Duration::from_secs(60));
    check_records(&topic, acked as usize);
}

/// `--max-rate` with the default pages (a second of records each): the
/// records leave one by one at the pace, not each page at once, so no
/// 100 ms of the topic's timestamps holds more than twice its share.
#[test]
fn max_rate_spaces_records_evenly() {
    use rdkafka::message::Message;
    require_stack();
    let topic = unique("produce_paced");
    let (rate, count) = (500, 1000);
    let output = rtds(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        "builtin",
        "--max-rate",
        "500",
        "--count",
        "1000",
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let mut windows = std::collections::BTreeMap::<i64, usize>::new();
    for message in read_exactly(&topic, count) {
        let millis = message.timestamp().to_millis().expect("a create time");
        *windows.entry(millis / 100).or_default() += 1;
    }
    let (first, last) = (
        *windows.keys().next().unwrap(),
        *windows.keys().last().unwrap(),
    );
    assert!(
        last - first >= 15,
        "1,000 records at 500/s span 2 s: {windows:?}"
    );
    let share = rate / 10;
    let fullest = windows
        .range(first + 1..last)
        .map(|(_, n)| *n)
        .max()
        .unwrap();
    assert!(
        fullest <= 2 * share,
        "a 100 ms window held {fullest} records: {windows:?}"
    );
}

#[test]
fn builtin_source_is_reproducible_with_a_seed() {
    require_stack();
    let (first, second) = (unique("seed_a"), unique("seed_b"));
    for topic in [&first, &second] {
        let output = rtds(&[
            "produce", "--topic", topic, "--source", "builtin", "--seed", "abc", "--count", "500",
            "--json",
        ]);
        assert!(output.status.success(), "{}", text(&output));
        assert_eq!(json_summary(&output)["acked"], 500, "{}", text(&output));
    }
    // Sorted lists, not sets: a record twice in one topic is a difference.
    let emails = |topic: &str| -> Vec<String> {
        let mut emails: Vec<String> = read_exactly(topic, 500)
            .iter()
            .map(|m| payload_json(m)["email"].as_str().unwrap().to_string())
            .collect();
        emails.sort();
        emails
    };
    assert_eq!(emails(&first), emails(&second));
}

#[test]
fn sigterm_stops_fetching_flushes_and_reports() {
    require_stack();
    let topic = unique("produce_sigterm");
    let child = rtds_command(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        "builtin",
        "--max-rate",
        "2000",
        "--duration",
        "60s",
        "--json",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    wait_for_a_message(&topic, Duration::from_secs(30));
    let stopped = Instant::now();
    send_signal("-TERM", &child.id().to_string());
    let output = child.wait_with_output().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(30),
        "stopped promptly"
    );
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    let acked = summary["acked"].as_u64().unwrap();
    assert!(acked > 0 && summary["sent"] == acked, "{summary}");
    assert!(summary["seconds"].as_f64().unwrap() < 30.0, "{summary}");
    check_records(&topic, acked as usize);
}

/// An endpoint that answers every request with 200 and an HTML page, like a
/// captive portal or a maintenance page in front of the API.
fn html_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = std::io::BufReader::new(stream);
            let mut line = String::new();
            // Read the request head up to its blank line.
            while std::io::BufRead::read_line(&mut stream, &mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let body = "<html><body>Down for maintenance</body></html>";
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(stream.get_mut(), reply.as_bytes());
        }
    });
    url
}

#[test]
fn a_source_with_nothing_usable_fails_instead_of_asking_forever() {
    require_stack();
    let url = html_endpoint();
    let topic = unique("produce_unusable");
    let output = rtds_command(&[
        "produce", "--topic", &topic, "--source", &url, "--count", "100",
    ])
    .env("RTDS_PRODUCE_RETRIES", "2")
    .output()
    .unwrap();
    assert_fails_naming(&output, &["no usable user", &url]);
}
