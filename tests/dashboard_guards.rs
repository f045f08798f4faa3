//! The dashboard against hostile clients, with the real local Kafka and
//! Cassandra behind it: a page of another site that reaches it through DNS
//! rebinding, and the warning when it listens beyond this machine.

mod common;

use std::time::Duration;

use common::*;

/// `rtds dashboard --listen IP:PORT` with `extra` flags, looking at a
/// pipeline of its own, once it serves; its stderr followed.
fn dashboard(ip: &str, extra: &[&str]) -> (Followed, u16) {
    let port = free_port();
    let listen = format!("{ip}:{port}");
    let mut command = rtds_command(&["dashboard", "--listen", &listen]);
    command
        .args(pipeline_flags(&unique("guard"), &unique("guard")))
        .args(extra);
    let dashboard = Followed::spawn(command);
    wait_until("the dashboard to serve", Duration::from_secs(30), || {
        dashboard.logged().contains("dashboard on http://")
    });
    (dashboard, port)
}

/// `GET path` with the Host header `host`, which must be answered.
fn get_as(port: u16, path: &str, host: Option<&str>) -> (u16, String) {
    http_request(port, path, host, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("GET {path} with Host {host:?}: no answer"))
}

#[test]
fn a_foreign_host_is_refused_on_every_route() {
    require_stack();
    let (_dashboard, port) = dashboard("127.0.0.1", &[]);
    for path in ["/", "/app.js", "/api/status", "/api/users", "/api/nothing"] {
        let (status, body) = get_as(port, path, Some(&format!("rebound.example:{port}")));
        assert_eq!(status, 421, "{path}: {body}");
        assert!(
            body.contains("rebound.example") && body.contains("--allow-host"),
            "{path}: the refusal names the Host and how to allow it: {body}"
        );
    }
    let (status, body) = get_as(port, "/healthz", None);
    assert_eq!(status, 421, "a request without Host: {body}");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "LocalHost:9000".to_string(), // an ssh tunnel's port
    ] {
        let (status, body) = get_as(port, "/api/status", Some(&host));
        assert_eq!(status, 200, "Host {host}: {body}");
    }
}

#[test]
fn allowed_hosts_are_served() {
    require_stack();
    let flags = [
        "--allow-host",
        "dash.example",
        "--allow-host",
        "Ops.Example",
    ];
    let (_dashboard, port) = dashboard("127.0.0.1", &flags);
    for host in ["dash.example", "dash.example:443", "ops.example:8080"] {
        let (status, body) = get_as(port, "/healthz", Some(host));
        assert_eq!(status, 200, "Host {host}: {body}");
    }
    let (status, body) = get_as(port, "/healthz", Some("evil.dash.example"));
    assert_eq!(status, 421, "{body}");
}

#[test]
fn listening_beyond_loopback_warns_that_the_page_has_no_login() {
    require_stack();
    let (public, _) = dashboard("0.0.0.0", &[]);
    let logged = public.logged();
    assert!(
        logged.contains("WARN") && logged.contains("no login") && logged.contains("proxy"),
        "{logged}"
    );
    let (local, _) = dashboard("127.0.0.1", &[]);
    let logged = local.logged();
    assert!(!logged.contains("no login"), "{logged}");
}
