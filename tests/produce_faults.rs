//! `rtds produce` when the API or the operator pushes back: a rate-limited
//! API (HTTP 429 with `Retry-After`) is waited for, and a second signal
//! during the drain ends the run at once. Real Kafka, the local API server.

mod common;

use std::time::Duration;

use common::*;
use rtds::tools::randomuser_server::ServerArgs;

#[test]
fn a_rate_limited_api_is_waited_for_and_every_record_delivered() {
    require_stack();
    let server = ApiServer::start(ServerArgs {
        rate_limited: 3,
        retry_after: 2,
        ..server_args(0.0, 0.0)
    });
    let topic = unique("ratelimited");
    let output = rtds(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        &server.url,
        "--count",
        "2000",
        "--batch-size",
        "500",
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let summary = json_summary(&output);
    assert_eq!(summary["acked"], 2000, "{summary}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rate limited by the API (HTTP 429), asked to wait 2 s")
            && stderr.contains("retrying in 2.0s"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot reach"), "{stderr}");
    read_exactly(&topic, 2000);
}

#[test]
fn a_second_signal_during_the_drain_exits_at_once() {
    require_stack();
    // Every reply takes 20 s: the first SIGTERM finds a request in flight
    // and waits for it (the drain).
    let server = ApiServer::start(ServerArgs {
        latency: Duration::from_secs(20),
        ..server_args(0.0, 0.0)
    });
    let topic = unique("secondsignal");
    let job = Followed::spawn(rtds_command(&[
        "produce",
        "--topic",
        &topic,
        "--source",
        &server.url,
        "--count",
        "100",
    ]));
    wait_until("the run started", Duration::from_secs(60), || {
        job.logged().contains("producing users")
    });
    assert_second_signal_aborts(job);
}
