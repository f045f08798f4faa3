//! A local stand-in for the Random User API (1.4), serving the built-in
//! generator's users over HTTP. Tests and benchmarks use it because the real
//! API is out of reach here; it can also misbehave on purpose (errors,
//! malformed bodies, latency) so the client's resilience can be exercised.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::source::api::{ApiUser, FIELDS, Info, Reply};
use crate::source::builtin::{self, Generator, NATIONALITIES};

#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8800")]
    pub listen: SocketAddr,
    /// Share of replies that fail with HTTP 500 or 429 (half each), 0..=1
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Share of replies whose body is malformed (not JSON, or JSON of the wrong shape), 0..=1
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub malformed_rate: f64,
    /// Latency added to every reply, e.g. 50ms
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub latency: Duration,
    /// Answer the first N requests with HTTP 429 and a Retry-After header, as a rate-limited API does
    #[arg(long, default_value_t = 0)]
    pub rate_limited: usize,
    /// Seconds those 429 replies ask the client to wait (their Retry-After)
    #[arg(long, default_value_t = 1)]
    pub retry_after: u64,
}

/// The API's page size limit; like the API, anything outside 1..=5000 means 1.
const MAX_RESULTS: usize = 5000;
const VERSION: &str = "1.4";
const JSON: &str = "application/json";
/// The real API's 500 body, word for word.
const SERVER_ERROR: &str = r#"{"error":"Uh oh, something has gone wrong. Please tweet us @randomapi about the issue. Thank you."}"#;
/// What a misbehaving proxy in front of the API might send instead of JSON.
const HTML: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n\
    <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n";

/// The routes of the API (`/api/` and `/api/1.4/`, with or without the
/// trailing slash). Takes the flags as given: [`run`] validates them.
pub fn router(args: &ServerArgs) -> Router {
    let faults = Arc::new(Faults {
        fail_rate: args.fail_rate,
        malformed_rate: args.malformed_rate,
        latency: args.latency,
        rate_limited: AtomicUsize::new(args.rate_limited),
        retry_after: args.retry_after,
        dice: Mutex::new(SmallRng::from_os_rng()),
        malformed_turn: AtomicUsize::new(0),
    });
    Router::new()
        .route("/api", get(users))
        .route("/api/", get(users))
        .route("/api/1.4", get(users))
        .route("/api/1.4/", get(users))
        .with_state(faults)
}

/// Serves on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    args: ServerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(&args))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Validates the flags, binds `--listen` and serves until Ctrl-C or SIGTERM.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    for (flag, rate) in [
        ("--fail-rate", args.fail_rate),
        ("--malformed-rate", args.malformed_rate),
    ] {
        check_rate(rate).map_err(|problem| anyhow::anyhow!("{flag}: {problem}"))?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is something else listening there? pick another --listen",
                args.listen
            )
        })?;
    let address = listener.local_addr().unwrap_or(args.listen);
    tracing::info!("serving the Random User API stand-in on http://{address}/api/");
    let stopped = async {
        crate::shutdown::first_signal().await;
        tracing::info!("stopping the Random User API stand-in");
    };
    serve(listener, args, stopped)
        .await
        .context("serving the Random User API stand-in")
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    check_rate(rate)
}

fn check_rate(rate: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0 and 1"))
    }
}

/// The faults to inject, how often, and the dice that decide each reply's.
struct Faults {
    fail_rate: f64,
    malformed_rate: f64,
    latency: Duration,
    /// Requests still to be answered 429 with `Retry-After: retry_after`.
    rate_limited: AtomicUsize,
    retry_after: u64,
    /// Fault decisions need no quality, only speed; the lock is held for three draws.
    dice: Mutex<SmallRng>,
    /// Malformed bodies take turns, so a handful of requests shows every kind.
    malformed_turn: AtomicUsize,
}

enum Fault {
    ServerError,
    TooManyRequests,
    Malformed(Malformed),
}

#[derive(Debug, Clone, Copy)]
enum Malformed {
    /// The first half of a good reply, as if the connection dropped.
    Truncated,
    /// An HTML error page.
    Html,
    /// JSON whose `results` is not an array.
    WrongShape,
    /// A good reply except that one result lacks `email`: a client should
    /// skip that one and keep the others.
    MissingEmail,
}

impl Malformed {
    const ALL: [Malformed; 4] = [
        Malformed::Truncated,
        Malformed::Html,
        Malformed::WrongShape,
        Malformed::MissingEmail,
    ];
}

impl Faults {
    /// Rolls the dice for one reply: which fault, if any, it gets.
    fn draw(&self) -> Option<Fault> {
        let (fail, too_many, malformed) = {
            let mut dice = self.dice.lock().unwrap_or_else(PoisonError::into_inner);
            (
                dice.random::<f64>(),
                dice.random::<bool>(),
                dice.random::<f64>(),
            )
        };
        if fail < self.fail_rate {
            Some(if too_many {
                Fault::TooManyRequests
            } else {
                Fault::ServerError
            })
        } else if malformed < self.malformed_rate {
            let turn = self.malformed_turn.fetch_add(1, Ordering::Relaxed);
            Some(Fault::Malformed(
                Malformed::ALL[turn % Malformed::ALL.len()],
            ))
        } else {
            None
        }
    }
}

/// `GET /api/`. The query is read as raw pairs so that, like the real API,
/// no parameter value can make the request fail.
async fn users(
    State(faults): State<Arc<Faults>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let limited = faults
        .rate_limited
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    if limited.is_ok() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (header::RETRY_AFTER, faults.retry_after.to_string()),
            ],
            "Too Many Requests",
        )
            .into_response();
    }
    let malformed = match faults.draw() {
        Some(Fault::ServerError) => return server_error(),
        Some(Fault::TooManyRequests) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Too Many Requests",
            )
                .into_response();
        }
        Some(Fault::Malformed(kind)) => Some(kind),
        None => None,
    };
    let request = PageRequest::parse(pairs);
    // Up to 5000 users is milliseconds of CPU: keep it off the async workers.
    tokio::task::spawn_blocking(move || request.reply(malformed))
        .await
        .unwrap_or_else(|error| {
            tracing::error!("building a reply failed: {error}");
            server_error()
        })
}

fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, JSON)],
        SERVER_ERROR,
    )
        .into_response()
}

/// One request's parameters, read as leniently as the real API reads them.
struct PageRequest {
    results: usize,
    seed: String,
    page: u32,
    /// Supported codes only; empty means all.
    nats: Vec<String>,
    /// Which of [`FIELDS`] to keep, when `inc` or `exc` asked for a subset.
    keep: Option<[bool; FIELDS.len()]>,
}

impl PageRequest {
    fn parse(pairs: Vec<(String, String)>) -> Self {
        let (mut results, mut seed, mut page, mut nat, mut inc, mut exc) =
            (None, None, None, None, None, None);
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "results" => &mut results,
                "seed" => &mut seed,
                "page" => &mut page,
                "nat" => &mut nat,
                "inc" => &mut inc,
                "exc" => &mut exc,
                _ => continue,
            };
            *slot = Some(value);
        }
        PageRequest {
            results: results
                .and_then(|text| text.trim().parse().ok())
                .filter(|count| (1..=MAX_RESULTS).contains(count))
                .unwrap_or(1),
            seed: seed
                .filter(|seed| !seed.is_empty())
                .unwrap_or_else(builtin::random_seed),
            page: page
                .and_then(|text| text.trim().parse().ok())
                .filter(|&page| page >= 1)
                .unwrap_or(1),
            // Unknown codes are ignored, as the API does.
            nats: nat
                .iter()
                .flat_map(|list| list.split(','))
                .filter_map(|code| {
                    NATIONALITIES
                        .iter()
                        .find(|known| known.eq_ignore_ascii_case(code.trim()))
                })
                .map(|code| code.to_string())
                .collect(),
            // `inc` wins over `exc`, as in the API.
            keep: named_fields(inc.as_deref())
                .or_else(|| named_fields(exc.as_deref()).map(|named| named.map(|n| !n))),
        }
    }

    fn reply(self, malformed: Option<Malformed>) -> Response {
        let generator = Generator::new(&self.seed, Some(&self.nats))
            .expect("only supported nationalities are kept");
        let users = generator.page(self.page, self.results);
        let info = Some(Info {
            seed: self.seed,
            results: self.results as u32,
            page: self.page,
            version: VERSION.to_owned(),
        });
        let keep = self.keep;
        match malformed {
            None => match keep {
                None => json(&Reply {
                    results: users,
                    info,
                }),
                Some(keep) => json(&Reply {
                    results: objects(&users, &keep),
                    info,
                }),
            },
            Some(Malformed::Truncated) => {
                let mut body = serde_json::to_string(&Reply {
                    results: users,
                    info,
                })
                .unwrap_or_default();
                let mut cut = body.len() / 2;
                while !body.is_char_boundary(cut) {
                    cut -= 1;
                }
                body.truncate(cut);
                ([(header::CONTENT_TYPE, JSON)], body).into_response()
            }
            Some(Malformed::Html) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], HTML).into_response()
            }
            Some(Malformed::WrongShape) => {
                ([(header::CONTENT_TYPE, JSON)], r#"{"results":"oops"}"#).into_response()
            }
            Some(Malformed::MissingEmail) => {
                let mut results = objects(&users, &keep.unwrap_or([true; FIELDS.len()]));
                let middle = results.len() / 2;
                results[middle].remove("email");
                json(&Reply { results, info })
            }
        }
    }
}

/// The [`FIELDS`] named in a comma list, or `None` when it names none of them.
fn named_fields(list: Option<&str>) -> Option<[bool; FIELDS.len()]> {
    let mut named = [false; FIELDS.len()];
    for name in list?.split(',') {
        if let Some(index) = FIELDS
            .iter()
            .position(|field| field.eq_ignore_ascii_case(name.trim()))
        {
            named[index] = true;
        }
    }
    named.contains(&true).then_some(named)
}

/// Users as JSON objects with only the kept fields; used only when fields are
/// dropped, since it costs a `Value` tree per user.
fn objects(users: &[ApiUser], keep: &[bool; FIELDS.len()]) -> Vec<Map<String, Value>> {
    users
        .iter()
        .map(|user| {
            let Ok(Value::Object(mut object)) = serde_json::to_value(user) else {
                unreachable!("an ApiUser serializes to a JSON object");
            };
            object.retain(|key, _| {
                FIELDS
                    .iter()
                    .zip(keep)
                    .any(|(field, &kept)| kept && field == key)
            });
            object
        })
        .collect()
}

fn json(reply: &impl Serialize) -> Response {
    match serde_json::to_vec(reply) {
        Ok(body) => ([(header::CONTENT_TYPE, JSON)], body).into_response(),
        Err(error) => {
            tracing::error!("cannot serialize a reply: {error}");
            server_error()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::time::Instant;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    fn args() -> ServerArgs {
        ServerArgs {
            listen: ([127, 0, 0, 1], 0).into(),
            fail_rate: 0.0,
            malformed_rate: 0.0,
            latency: Duration::ZERO,
            rate_limited: 0,
            retry_after: 1,
        }
    }

    /// A server on a free port; it stops when the returned sender is used or dropped.
    struct Running {
        base: String,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    async fn start(args: ServerArgs) -> Running {
        let listener = tokio::net::TcpListener::bind(args.listen).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, args, async {
            let _ = stopped.await;
        }));
        Running { base, stop, task }
    }

    async fn get(base: &str, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{base}{path}"))
            .query(query)
            .send()
            .await
            .unwrap()
    }

    async fn reply(base: &str, query: &[(&str, &str)]) -> Reply {
        let response = get(base, "/api/", query).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    fn nats(reply: &Reply) -> BTreeSet<String> {
        reply.results.iter().filter_map(|u| u.nat.clone()).collect()
    }

    #[tokio::test]
    async fn replies_have_the_apis_shape() {
        let server = start(args()).await;
        let response = get(&server.base, "/api/", &[("results", "10")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = &response.headers()[header::CONTENT_TYPE];
        assert!(content_type.to_str().unwrap().starts_with(JSON));
        let raw: Value = response.json().await.unwrap();
        let keys: BTreeSet<&str> = raw
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, BTreeSet::from(["results", "info"]));
        let reply: Reply = serde_json::from_value(raw).unwrap();
        assert_eq!(reply.results.len(), 10);
        let info = reply.info.unwrap();
        assert_eq!(
            (info.results, info.page, info.version.as_str()),
            (10, 1, "1.4")
        );
        assert_eq!(info.seed.len(), 16);
        for path in ["/api", "/api/1.4", "/api/1.4/"] {
            let response = get(&server.base, path, &[("results", "3")]).await;
            assert_eq!(response.json::<Reply>().await.unwrap().results.len(), 3);
        }
        assert_eq!(
            get(&server.base, "/other", &[]).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn results_outside_1_to_5000_mean_one() {
        let server = start(args()).await;
        for results in ["0", "99999", "5001", "-3", "ten", ""] {
            let reply = reply(&server.base, &[("results", results)]).await;
            assert_eq!(reply.results.len(), 1, "results={results}");
            assert_eq!(reply.info.unwrap().results, 1);
        }
        assert_eq!(reply(&server.base, &[]).await.results.len(), 1);
        let most = reply(&server.base, &[("results", "5000")]).await;
        assert_eq!(most.results.len(), 5000);
    }

    #[tokio::test]
    async fn seed_and_page_give_the_same_users_and_are_echoed() {
        let server = start(args()).await;
        let query = [("seed", "abc"), ("page", "2"), ("results", "5")];
        let first = reply(&server.base, &query).await;
        let again = reply(&server.base, &query).await;
        assert_eq!(first.results, again.results);
        let info = first.info.unwrap();
        assert_eq!((info.seed.as_str(), info.page), ("abc", 2));
        let next = reply(
            &server.base,
            &[("seed", "abc"), ("page", "3"), ("results", "5")],
        )
        .await;
        assert_ne!(first.results, next.results);
        let expected = Generator::new("abc", None).unwrap().page(2, 5);
        assert_eq!(first.results, expected);

        let unseeded = reply(&server.base, &[("results", "5")]).await;
        let other = reply(&server.base, &[("results", "5")]).await;
        assert_ne!(unseeded.info.unwrap().seed, other.info.unwrap().seed);
    }

    /// The keys of the results, which must be the same for all four.
    async fn keys(base: &str, query: &[(&str, &str)]) -> BTreeSet<String> {
        let raw: Value = get(base, "/api/", query).await.json().await.unwrap();
        let results = raw["results"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        let keys: Vec<BTreeSet<String>> = results
            .iter()
            .map(|user| user.as_object().unwrap().keys().cloned().collect())
            .collect();
        assert!(keys.windows(2).all(|pair| pair[0] == pair[1]));
        keys[0].clone()
    }

    #[tokio::test]
    async fn inc_and_exc_choose_the_fields() {
        let server = start(args()).await;
        let base = &server.base;
        let only = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        let inc = keys(base, &[("results", "4"), ("inc", "name,email")]).await;
        assert_eq!(inc, only(&["name", "email"]));
        let exc = keys(base, &[("results", "4"), ("exc", "login")]).await;
        assert!(!exc.contains("login") && exc.contains("email"));
        assert_eq!(exc.len(), FIELDS.len() - 1);
        let both = keys(
            base,
            &[("results", "4"), ("inc", "gender, NAT"), ("exc", "gender")],
        )
        .await;
        assert_eq!(both, only(&["gender", "nat"]));
        let unknown = keys(base, &[("results", "4"), ("inc", "shoe_size")]).await;
        assert_eq!(unknown.len(), FIELDS.len());
    }

    #[tokio::test]
    async fn nat_filters_nationalities() {
        let server = start(args()).await;
        let gb = reply(&server.base, &[("results", "200"), ("nat", "gb")]).await;
        assert_eq!(nats(&gb), BTreeSet::from(["GB".to_string()]));
        let some = reply(&server.base, &[("results", "200"), ("nat", "xx,Gb, fi")]).await;
        let expected = BTreeSet::from(["FI".to_string(), "GB".to_string()]);
        assert_eq!(nats(&some), expected);
        let unknown = reply(&server.base, &[("results", "200"), ("nat", "xx,yy")]).await;
        assert!(nats(&unknown).len() > 5);
    }

    #[tokio::test]
    async fn fail_rate_gives_500s_and_429s() {
        let server = start(ServerArgs {
            fail_rate: 1.0,
            ..args()
        })
        .await;
        let mut statuses = BTreeSet::new();
        for _ in 0..40 {
            let response = get(&server.base, "/api/", &[("results", "3")]).await;
            let status = response.status();
            let body = response.text().await.unwrap();
            match status {
                StatusCode::INTERNAL_SERVER_ERROR => {
                    let error: Value = serde_json::from_str(&body).unwrap();
                    assert!(error["error"].as_str().unwrap().starts_with("Uh oh"));
                }
                StatusCode::TOO_MANY_REQUESTS => assert_eq!(body, "Too Many Requests"),
                other => panic!("unexpected status {other}"),
            }
            statuses.insert(status);
        }
        assert_eq!(statuses.len(), 2);
    }

    #[tokio::test]
    async fn rate_limited_requests_say_when_to_come_back() {
        let server = start(ServerArgs {
            rate_limited: 2,
            retry_after: 7,
            ..args()
        })
        .await;
        for _ in 0..2 {
            let response = get(&server.base, "/api/", &[("results", "3")]).await;
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        }
        let response = get(&server.base, "/api/", &[("results", "3")]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn malformed_rate_gives_bodies_that_are_not_replies() {
        let server = start(ServerArgs {
            malformed_rate: 1.0,
            ..args()
        })
        .await;
        let mut missing_email = 0;
        for _ in 0..8 {
            let response = get(&server.base, "/api/", &[("results", "5")]).await;
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.text().await.unwrap();
            assert!(serde_json::from_str::<Reply>(&body).is_err(), "{body}");
            let Ok(loose) = serde_json::from_str::<Reply<Value>>(&body) else {
                continue;
            };
            let (good, bad): (Vec<_>, Vec<_>) = loose
                .results
                .into_iter()
                .map(serde_json::from_value::<ApiUser>)
                .partition(Result::is_ok);
            assert_eq!((good.len(), bad.len()), (4, 1));
            missing_email += 1;
        }
        assert_eq!(missing_email, 2, "one turn in four");
    }

    #[tokio::test]
    async fn latency_delays_every_reply() {
        let server = start(ServerArgs {
            latency: Duration::from_millis(150),
            ..args()
        })
        .await;
        let started = Instant::now();
        reply(&server.base, &[]).await;
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn serve_stops_when_asked() {
        let server = start(args()).await;
        reply(&server.base, &[]).await;
        server.stop.send(()).unwrap();
        server.task.await.unwrap().unwrap();
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn flags_are_parsed_and_rates_checked() {
        use clap::Parser as _;
        let cli =
            Cli::try_parse_from(["rtds", "--fail-rate", "0.25", "--latency", "50ms"]).unwrap();
        assert_eq!(cli.server.fail_rate, 0.25);
        assert_eq!(cli.server.malformed_rate, 0.0);
        assert_eq!(cli.server.latency, Duration::from_millis(50));
        assert_eq!(cli.server.listen, "127.0.0.1:8800".parse().unwrap());
        for (flag, value) in [
            ("--fail-rate", "2"),
            ("--malformed-rate", "-0.1"),
            ("--fail-rate", "NaN"),
            ("--malformed-rate", "lots"),
        ] {
            let error =
                Cli::try_parse_from(["rtds".to_string(), format!("{flag}={value}")]).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(flag), "{message}");
            assert!(message.contains(value), "{message}");
        }
    }

    #[tokio::test]
    async fn run_names_the_problem() {
        let error = run(ServerArgs {
            malformed_rate: 1.5,
            ..args()
        })
        .await
        .unwrap_err();
        assert!(error.to_string().contains("--malformed-rate"), "{error}");

        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = run(ServerArgs {
            listen: taken.local_addr().unwrap(),
            ..args()
        })
        .await
        .unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains(&taken.local_addr().unwrap().to_string()),
            "{message}"
        );
        assert!(message.contains("pick another --listen"), "{message}");
    }
}
