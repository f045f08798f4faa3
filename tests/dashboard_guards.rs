//! The dashboard against hostile clients, with the real local Kafka and
//! Cassandra behind it: a page of another site that reaches it through DNS
//! rebinding, clients that connect and never finish a request, and the
//! warning when it listens beyond this machine.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rtds::dashboard::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS};

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

/// `GET path` with the Host header `host`, which must be answered (after
/// slow clients are cut off, when they hold every connection).
fn get_as(port: u16, path: &str, host: Option<&str>) -> (u16, String) {
    http_request(port, path, host, HEADER_READ_TIMEOUT * 2)
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

/// How many file descriptors process `pid` has open.
fn descriptors(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Waits until the server closes `stream` (end of file or a reset), at
/// most until `deadline`.
fn closed_by_server(mut stream: TcpStream, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    stream
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .unwrap();
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => true,
        Err(error) => error.kind() == ErrorKind::ConnectionReset,
    }
}

#[test]
fn slow_clients_are_cut_off_and_cannot_take_every_descriptor() {
    require_stack();
    let (dashboard, port) = dashboard("127.0.0.1", &[]);
    let pid = dashboard.pid();
    wait_until(
        "Kafka and Cassandra to answer",
        Duration::from_secs(60),
        || http_get(port, "/readyz").is_some_and(|(status, _)| status == 200),
    );
    let before = descriptors(&pid);
    let (peak, watching) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(true)),
    );
    let watcher = std::thread::spawn({
        let (peak, watching, pid) = (peak.clone(), watching.clone(), pid.clone());
        move || {
            while watching.load(Ordering::Relaxed) {
                peak.fetch_max(descriptors(&pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });

    // More clients than the server takes at once, each stopping halfway
    // through its headers.
    let started = Instant::now();
    let slow: Vec<TcpStream> = (0..MAX_CONNECTIONS + 50)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .write_all(b"GET /api/flow HTTP/1.1\r\nHost: 127")
                .unwrap();
            stream
        })
        .collect();
    // A whole request is answered once the first of them are cut off.
    let (status, body) = get_as(port, "/healthz", Some(&format!("127.0.0.1:{port}")));
    assert_eq!(status, 200, "{body}");

    let deadline = started + HEADER_READ_TIMEOUT * 2 + Duration::from_secs(5);
    let open = slow
        .into_iter()
        .map(|stream| closed_by_server(stream, deadline))
        .filter(|closed| !closed)
        .count();
    watching.store(false, Ordering::Relaxed);
    watcher.join().unwrap();
    assert_eq!(
        open,
        0,
        "slow clients still connected {:?} after they stopped sending",
        started.elapsed()
    );
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        peak <= before + MAX_CONNECTIONS + 30,
        "{peak} descriptors open at the peak, {before} before {} slow clients came",
        MAX_CONNECTIONS + 50
    );
}
