//! Which `Host` a request to the dashboard may name. A page of another site
//! can make the victim's browser resolve its own name to 127.0.0.1 (DNS
//! rebinding) and then read the dashboard as if it were that site; its
//! requests still carry that site's name in `Host`. So every route answers
//! only requests that name the address the dashboard listens on, `localhost`
//! when that is this machine, or a name the user allowed
//! (`dashboard.allowed_hosts`, `--allow-host`). Ports are not compared: the
//! name is what a rebinding page cannot fake, and an ssh tunnel or a proxy
//! reaches the page through a port of its own.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// The names a request may give in its `Host` header.
#[derive(Debug)]
pub struct Hosts {
    listen: SocketAddr,
    /// Lower case, as host names compare.
    allowed: Vec<String>,
}

impl Hosts {
    pub fn new(listen: SocketAddr, allowed: &[String]) -> Hosts {
        Hosts {
            listen,
            allowed: allowed.iter().map(|a| a.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether `host` (a `Host` header's value: a name or an IP, maybe with
    /// a port) names this dashboard.
    fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let name = name_of(&host);
        if self.allowed.iter().any(|a| *a == name || *a == host) {
            return true;
        }
        let listen = self.listen.ip();
        let this_machine = listen.is_loopback() || listen.is_unspecified();
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        match bare.parse::<IpAddr>() {
            Ok(ip) => {
                ip == listen
                    || listen.is_unspecified()
                    || (ip.is_loopback() && listen.is_loopback())
            }
            Err(_) => name == "localhost" && this_machine,
        }
    }

    /// Why a request with these `Host` values is refused, if it is.
    fn refusal(&self, hosts: &[&str]) -> Option<String> {
        let Some(host) = hosts.iter().find(|host| !self.allows(host)) else {
            return hosts.is_empty().then(|| {
                "the request has no Host header; name the dashboard's address in one".to_string()
            });
        };
        let name = name_of(host);
        Some(format!(
            "Host `{host}` is refused: it is neither this dashboard's address ({}) nor an \
             allowed name; if `{name}` is your name for the dashboard, allow it with \
             `--allow-host {name}` (setting dashboard.allowed_hosts)",
            self.listen,
        ))
    }
}

/// The name of `name:port`, `[v6]` of `[v6]:port`; the whole otherwise.
fn name_of(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The middleware in front of every route: a request that names another
/// host gets a 421 saying which name was refused and how to allow it.
pub async fn check(State(hosts): State<Arc<Hosts>>, request: Request, next: Next) -> Response {
    let mut named: Vec<&str> = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .into_iter()
        .collect();
    for value in request.headers().get_all(header::HOST) {
        // A value that is not text names nothing this dashboard is called.
        named.push(value.to_str().unwrap_or("(not text)"));
    }
    match hosts.refusal(&named) {
        Some(why) => super::problem(StatusCode::MISDIRECTED_REQUEST, why),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(listen: &str, allowed: &[&str]) -> Hosts {
        let allowed: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        Hosts::new(listen.parse().unwrap(), &allowed)
    }

    #[test]
    fn a_loopback_dashboard_answers_to_its_loopback_names_only() {
        let local = hosts("127.0.0.1:8080", &["Dash.Example"]);
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST:9000",
            "[::1]:8080",
            "dash.example",
            "dash.example:443",
        ] {
            assert!(local.allows(host), "{host}");
        }
        for host in [
            "rebound.example:8080",
            "localhost.rebound.example",
            "evil.dash.example",
            "10.0.0.5:8080",
            "::1",
            "",
        ] {
            assert!(!local.allows(host), "{host}");
        }
    }

    #[test]
    fn a_dashboard_on_every_interface_answers_to_any_address() {
        let public = hosts("0.0.0.0:8080", &[]);
        for host in ["10.0.0.5:8080", "localhost", "[fe80::1]:8080"] {
            assert!(public.allows(host), "{host}");
        }
        assert!(!public.allows("my-server:8080"));
        let one = hosts("10.0.0.5:8080", &[]);
        assert!(one.allows("10.0.0.5:8080"));
        assert!(!one.allows("localhost:8080") && !one.allows("10.0.0.6:8080"));
    }

    #[test]
    fn a_refusal_names_the_host_and_how_to_allow_it() {
        let local = hosts("127.0.0.1:8080", &[]);
        let why = local.refusal(&["my-server:8080"]).unwrap();
        assert!(
            why.contains("`my-server:8080`") && why.contains("--allow-host my-server`"),
            "{why}"
        );
        assert!(local.refusal(&[]).unwrap().contains("no Host header"));
        assert!(local.refusal(&["localhost", "rebound.example"]).is_some());
        assert_eq!(local.refusal(&["localhost:8080"]), None);
    }
}
