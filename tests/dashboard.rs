//! The dashboard against the real Kafka and Cassandra: its JSON API inside
//! `rtds run`, and the page in a real headless Chromium while a standalone
//! `rtds dashboard` watches 100,000 records go through `rtds process`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// `GET path` as JSON, with its status; `None` while nothing answers.
fn api(port: u16, path: &str) -> Option<(u16, Value)> {
    let (status, body) = http_get(port, path)?;
    Some((status, serde_json::from_str(&body).ok()?))
}

/// `GET path`, which must answer 200 with JSON.
fn ok(port: u16, path: &str) -> Value {
    match api(port, path) {
        Some((200, value)) => value,
        other => panic!("GET {path}: {other:?}"),
    }
}

fn total_lag(flow: &Value) -> Option<i64> {
    let lags = flow["lag"].as_array()?;
    (!lags.is_empty()).then(|| lags.iter().map(|p| p["lag"].as_i64().unwrap()).sum())
}

fn chart_sum(chart: &Value) -> u64 {
    chart
        .as_array()
        .unwrap()
        .iter()
        .map(|bar| bar["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn the_api_reports_what_rtds_run_wrote() {
    require_stack();
    let (topic, keyspace) = (unique("dash_api"), unique("dash_api"));
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let state = std::env::temp_dir().join(format!("{topic}.json"));
    let run = rtds_command(&[
        "run",
        "--topic",
        &topic,
        "--keyspace",
        &keyspace,
        "--schedule",
        "@daily",
        "--now",
        "--source",
        "builtin",
        "--count",
        "1000",
        "--dashboard",
        &address,
    ])
    .env("RTDS_KAFKA_GROUP_ID", format!("{topic}-group"))
    .env("RTDS_RUN_STATE_FILE", &state)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let _run = Background(run);

    wait_until("1000 written, lag 0", Duration::from_secs(120), || {
        api(port, "/api/flow").is_some_and(|(_, flow)| {
            flow["totals"]["written"] == json!(1000.0) && total_lag(&flow) == Some(0)
        })
    });
    let flow = ok(port, "/api/flow");
    assert_eq!(flow["totals"]["produced"], 1000, "{flow}");
    assert_eq!(flow["totals"]["dead_lettered"], 0, "{flow}");
    assert!(
        flow["write_latency"]["p99_ms"].as_f64().unwrap() > 0.0,
        "{flow}"
    );
    assert!(flow["freshness"]["p50_ms"].as_f64().is_some(), "{flow}");
    let written: f64 = flow["series"]["written"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .sum::<f64>()
        * flow["interval_s"].as_f64().unwrap();
    assert!(
        written > 0.0,
        "the throughput chart shows the writes: {flow}"
    );

    // The table is sampled every few ticks: wait for a sample of all of it.
    wait_until(
        "the charts sample every row",
        Duration::from_secs(60),
        || api(port, "/api/data").is_some_and(|(_, data)| data["sample"] == 1000),
    );
    let data = ok(port, "/api/data");
    assert_eq!(data["whole_table"], true, "{data}");
    for chart in ["gender", "countries", "age", "registered"] {
        assert_eq!(chart_sum(&data[chart]), 1000, "{chart} adds up: {data}");
    }
    let users = ok(port, "/api/users?limit=5");
    let users = users["users"].as_array().unwrap();
    assert_eq!(users.len(), 5);
    // What a user's card shows, and nothing more: no phone, street, post
    // code or date of birth for whoever reaches the port.
    let shown = [
        "age",
        "country",
        "email",
        "first_name",
        "last_name",
        "picture",
        "username",
        "written_at",
    ];
    for user in users {
        let fields: Vec<&String> = user.as_object().unwrap().keys().collect();
        assert_eq!(fields, shown, "{user}");
        assert!(
            user["age"].is_u64() && user["written_at"].is_string(),
            "{user}"
        );
    }

    // The table's hop is looked at every few ticks too: its look from
    // before the run made the table may still stand.
    wait_until(
        "the status looks at the table made",
        Duration::from_secs(30),
        || api(port, "/api/status").is_some_and(|(_, status)| status["healthy"] == true),
    );
    let status = ok(port, "/api/status");
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(ok(port, "/readyz")["ready"], true);
    assert_eq!(ok(port, "/healthz")["alive"], true);
    assert_eq!(metric(port, "rtds_rows_written_total"), Some(1000));

    // Inside `rtds run` too, the page and its /metrics answer only requests
    // addressed to the dashboard.
    for path in ["/api/users", "/metrics"] {
        let host = Some("rebound.example");
        let (status, body) = http_request(port, path, host, Duration::from_secs(10)).unwrap();
        assert_eq!(status, 421, "{path}: {body}");
    }

    for (path, code) in [
        ("/api/users?limit=0", 400),
        ("/api/users?limit=many", 400),
        ("/api/dlq?since=yesterday", 400),
        ("/api/nothing", 404),
    ] {
        let (status, body) = api(port, path).unwrap();
        assert_eq!(status, code, "{path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    let _ = std::fs::remove_file(state);
}

/// Where test artifacts (the screenshot) go.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Peak resident memory of process `pid`, in kB (`VmHWM`).
fn peak_rss_kb(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// chromedriver on a free port, running until dropped.
fn chromedriver() -> (Background, u16) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver runs: install Debian's `chromium` and `chromium-driver` (.ci/run does)",
        );
    wait_until("chromedriver to listen", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (Background(child), port)
}

/// The browser's console lines that are errors or warnings, leaving out the
/// user pictures' failed loads: they are remote and unreachable offline,
/// which the page is built to survive (it shows initials instead).
async fn console_problems(driver: u16, session: &str) -> Vec<String> {
    let url = format!("http://127.0.0.1:{driver}/session/{session}/se/log");
    let reply: Value = reqwest::Client::new()
        .post(url)
        .json(&json!({ "type": "browser" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["value"]
        .as_array()
        .expect("chromedriver returns the browser log")
        .iter()
        .filter(|entry| matches!(entry["level"].as_str(), Some("SEVERE" | "WARNING")))
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
        .filter(|message| !message.contains("randomuser.me/api/portraits"))
        .collect()
}

/// The number a tile shows (`12,345`), `None` for `—`.
async fn tile(browser: &fantoccini::Client, id: &str) -> Option<u64> {
    let text = browser
        .find(fantoccini::Locator::Id(id))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.replace(',', "").trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shows_the_written_count_rise() {
    require_stack();
    const RECORDS: u64 = 100_000;
    let (topic, keyspace) = (unique("dash_page"), unique("dash_page"));
    let metrics_port = free_port();
    let metrics = format!("127.0.0.1:{metrics_port}");
    let _processor = processor(&topic, &keyspace, &["--metrics-listen", &metrics]);
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let scrape = format!("http://{metrics}/metrics");
    let dashboard = rtds_command(&["dashboard", "--listen", &address, "--scrape", &scrape])
        .args(pipeline_flags(&topic, &keyspace))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dashboard = Background(dashboard);
    let (_driver, driver_port) = chromedriver();

    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,2200"] }),
    );
    capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let browser = fantoccini::ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a headless Chromium session");
    let session = browser.session_id().await.unwrap().unwrap();
    wait_until("the dashboard to serve", Duration::from_secs(30), || {
        http_get(port, "/healthz").is_some()
    });
    browser.goto(&format!("http://{address}/")).await.unwrap();

    // The hop panel: one element per hop, coloured by state.
    let hops = browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(fantoccini::Locator::Css("#hops .hop[data-hop='cassandra']"))
        .await
        .expect("the hop panel shows the Cassandra hop");
    assert!(hops.attr("data-state").await.unwrap().is_some());
    let shown = browser
        .find_all(fantoccini::Locator::Css("#hops .hop"))
        .await
        .unwrap();
    let mut names = Vec::new();
    for hop in shown {
        names.push(hop.attr("data-hop").await.unwrap().unwrap_or_default());
    }
    assert_eq!(
        names,
        ["source", "kafka", "group", "dlq", "cassandra", "jobs"],
        "every hop on the page, the scraped jobs last"
    );
    let producer = std::thread::spawn({
        let topic = topic.clone();
        move || produce_builtin(&topic, RECORDS)
    });
    // The page polls every 2 s: it shows counts on the way up, then all.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while seen.last() != Some(&RECORDS) {
        assert!(
            std::time::Instant::now() < deadline,
            "the page's written count stopped at {seen:?}"
        );
        if let Some(count) = tile(&browser, "written-total").await
            && seen.last() != Some(&count)
        {
            seen.push(count);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    producer.join().unwrap();
    assert!(
        seen.iter().any(|n| *n > 0 && *n < RECORDS),
        "the count rose while records were processed: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "it only rose: {seen:?}"
    );

    // The broker and the node behind their hops, each marked up (the
    // node once the table exists to look at).
    for (hop, member) in [("kafka", "127.0.0.1:9092"), ("cassandra", "127.0.0.1:9042")] {
        let mark = browser
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(fantoccini::Locator::Css(&format!(
                "#hops .hop[data-hop='{hop}'] .member[data-up='true']"
            )))
            .await
            .unwrap_or_else(|_| panic!("the {hop} hop marks its {member} up"));
        assert_eq!(mark.text().await.unwrap(), member);
    }

    let screenshot = browser.screenshot().await.unwrap();
    let file = artifacts().join("dashboard.png");
    std::fs::write(&file, screenshot).unwrap();
    let problems = console_problems(driver_port, &session).await;
    browser.close().await.unwrap();
    assert!(problems.is_empty(), "console errors: {problems:#?}");

    let peak = peak_rss_kb(&dashboard.pid());
    println!(
        "dashboard peak RSS {:.1} MB while a browser watched {RECORDS} records; screenshot {}",
        peak as f64 / 1024.0,
        file.display()
    );
    assert!(peak < 40 * 1024, "dashboard peak RSS {peak} kB, over 40 MB");
}
