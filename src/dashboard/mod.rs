//! `rtds dashboard` (and `rtds run --dashboard`): one live page of the whole
//! pipeline, and the JSON API behind it. The page is three static files
//! compiled into the binary (no CDN, no build step); every number on it comes
//! from `/api/...`, which reads the background [`watch::Watch`]'s last view.

mod data;
mod hosts;
mod serve;
mod watch;

pub use serve::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS};

use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::metrics::names;
use watch::{Point, TICK, WINDOW, Watch};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

/// Binds `dashboard.listen` (a taken port fails here, before anything
/// runs) and serves the page in the background until `stop`. `own` are the
/// metrics of the `rtds run` the dashboard lives in; they are also served on
/// `/metrics`. Every route answers only requests addressed to the dashboard
/// (see [`hosts`]).
pub async fn start(
    settings: &Settings,
    own: Option<Metrics>,
    stop: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let address = &settings.dashboard.listen;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!(
                "cannot serve the dashboard on {address} (dashboard.listen); is the port taken?"
            )
        })?;
    let listen = listener
        .local_addr()
        .with_context(|| format!("cannot tell which address the dashboard bound for {address}"))?;
    if !listen.ip().is_loopback() {
        warn!(
            "the dashboard listens on {listen}, beyond this machine: its page and API have no \
             login, so anyone who reaches the port sees the pipeline and the newest users; \
             put it behind a proxy that asks for a login, or listen on 127.0.0.1"
        );
    }
    let watch = Arc::new(Watch::new(settings, own.clone())?);
    tokio::spawn(watch.clone().run(stop.clone()));
    let mut app = routes(watch);
    if let Some(own) = own {
        app = app.merge(crate::metrics::exporter::routes(own));
    }
    let named = Arc::new(hosts::Hosts::new(listen, &settings.dashboard.allowed_hosts));
    let app = app.layer(axum::middleware::from_fn_with_state(named, hosts::check));
    info!("dashboard on http://{address}/");
    Ok(tokio::spawn(serve::serve(listener, app, stop)))
}

fn routes(watch: Arc<Watch>) -> Router {
    let page = |kind: &'static str, body: &'static str| {
        get(move || async move {
            (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
        })
    };
    Router::new()
        .route("/", page("text/html; charset=utf-8", INDEX))
        .route("/app.js", page("text/javascript; charset=utf-8", SCRIPT))
        .route("/style.css", page("text/css; charset=utf-8", STYLE))
        .route("/healthz", get(|| async { Json(json!({ "alive": true })) }))
        .route("/readyz", get(ready))
        .route("/api/status", get(status))
        .route("/api/flow", get(flow))
        .route("/api/dlq", get(dlq))
        .route("/api/users", get(users))
        .route("/api/data", get(charts))
        .fallback(|uri: axum::http::Uri| async move {
            problem(
                StatusCode::NOT_FOUND,
                format!(
                    "no such page: {}; the API is under /api/ (status, flow, dlq, users, data)",
                    uri.path()
                ),
            )
        })
        .with_state(watch)
}

type App = State<Arc<Watch>>;

/// An error reply: a status and a message saying what was wrong.
fn problem(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Not yet: the first look at the pipeline has not finished.
fn starting() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "the dashboard is taking its first look at the pipeline; try again in a few seconds".into(),
    )
}

/// Ready when Kafka and Cassandra both answered the last look.
async fn ready(State(watch): App) -> Response {
    let view = watch.view.read().expect("view lock");
    if view.report.is_none() {
        starting()
    } else if view.unreachable.is_empty() {
        Json(json!({ "ready": true })).into_response()
    } else {
        problem(StatusCode::SERVICE_UNAVAILABLE, view.unreachable.join("; "))
    }
}

async fn status(State(watch): App) -> Response {
    match &watch.view.read().expect("view lock").report {
        Some(report) => Json(report).into_response(),
        None => Json(json!({
            "healthy": false,
            "verdict": "taking the first look at the pipeline",
            "hops": [],
        }))
        .into_response(),
    }
}

/// Records per second between consecutive points; none across a gap in
/// the numbers or a counter that went back (a job restarted).
fn rates(points: &[Point], value: impl Fn(&Point) -> Option<f64>) -> Vec<Option<f64>> {
    points
        .windows(2)
        .map(|pair| {
            let (a, b) = (value(&pair[0])?, value(&pair[1])?);
            let seconds = (pair[1].at - pair[0].at).num_milliseconds() as f64 / 1e3;
            (b >= a && seconds > 0.0).then(|| (b - a) / seconds)
        })
        .collect()
}

async fn flow(State(watch): App) -> Json<Value> {
    let view = watch.view.read().expect("view lock");
    let points: Vec<Point> = view.points.iter().cloned().collect();
    let last = points.last();
    let times: Vec<i64> = points.iter().skip(1).map(|p| p.at.timestamp()).collect();
    let latency = |name: &str| {
        let (Some((_, first)), Some((_, last))) = (view.recent.front(), view.recent.back()) else {
            return json!({ "p50_ms": null, "p99_ms": null });
        };
        let (empty, now) = (Default::default(), last.get(name));
        let before = first.get(name).unwrap_or(&empty);
        let quantile = |q| now.and_then(|n| n.quantile_since(before, q));
        json!({ "p50_ms": quantile(0.5), "p99_ms": quantile(0.99) })
    };
    let totals = &view.totals;
    let mut errors: Vec<Value> = totals
        .reasons
        .iter()
        .filter(|(_, n)| **n > 0.0)
        .map(|((metric, reason), n)| {
            let kind = match metric.as_str() {
                names::SOURCE_ERRORS => "source",
                names::RECORDS_DEAD_LETTERED => "dead-lettered",
                other => other,
            };
            json!({ "kind": format!("{kind}: {reason}"), "count": n })
        })
        .collect();
    for (name, kind) in [
        (names::RECORDS_FAILED, "not acknowledged by Kafka"),
        (names::CONSUMER_ERRORS, "Kafka consumer errors"),
    ] {
        if let Some(n) = totals.counter(name).filter(|n| *n > 0.0) {
            errors.push(json!({ "kind": kind, "count": n }));
        }
    }
    let lag: Vec<Value> = view
        .kafka
        .iter()
        .flat_map(|k| &k.group.partitions)
        .map(|p| json!({ "partition": p.partition, "lag": p.lag }))
        .collect();
    let count = |v: Option<i64>| v.map(|n| n as f64);
    Json(json!({
        "interval_s": TICK.as_secs(),
        "window_s": WINDOW.as_secs(),
        "jobs_scraped": totals.jobs,
        "series": {
            "t": times,
            "fetched": rates(&points, |p| p.fetched),
            "produced": rates(&points, |p| count(p.produced)),
            "consumed": rates(&points, |p| count(p.consumed)),
            "written": rates(&points, |p| p.written),
            "deleted": rates(&points, |p| p.deleted),
            "dead_lettered": rates(&points, |p| count(p.dead_lettered)),
        },
        "totals": {
            "fetched": last.and_then(|p| p.fetched),
            "produced": last.and_then(|p| p.produced),
            "consumed": last.and_then(|p| p.consumed),
            "written": last.and_then(|p| p.written),
            "deleted": last.and_then(|p| p.deleted),
            "dead_lettered": last.and_then(|p| p.dead_lettered),
        },
        "lag": lag,
        "freshness": latency(names::END_TO_END_SECONDS),
        "write_latency": latency(names::WRITE_SECONDS),
        "api_latency": latency(names::SOURCE_REQUEST_SECONDS),
        "retries": {
            "write": totals.counter(names::WRITE_RETRIES),
            "dlq": totals.counter(names::DLQ_RETRIES),
        },
        "errors": errors,
    }))
}

/// `?limit=N` of the list endpoints; anything else is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<usize>,
}

/// The query string, or why it is refused.
type Params = Result<Query<Limit>, axum::extract::rejection::QueryRejection>;

/// The `limit` asked for (or `default`), or a 400 that says what is wrong.
fn limit(params: Params, default: usize, max: usize) -> Result<usize, String> {
    let Query(params) = params
        .map_err(|rejection| format!("{}; the only parameter is limit=N", rejection.body_text()))?;
    match params.limit.unwrap_or(default) {
        n @ 1.. if n <= max => Ok(n),
        n => Err(format!("limit is {n}: it must be between 1 and {max}")),
    }
}

async fn dlq(State(watch): App, params: Params) -> Response {
    let limit = match limit(params, 10, watch::LATEST_DEAD_LETTERS) {
        Ok(n) => n,
        Err(message) => return problem(StatusCode::BAD_REQUEST, message),
    };
    let view = watch.view.read().expect("view lock");
    let dlq = view.kafka.as_ref().and_then(|k| k.dlq.as_ref());
    let mut latest: Vec<_> = view.dead_letters.latest.iter().collect();
    latest.sort_by_key(|letter| std::cmp::Reverse(letter.time));
    latest.truncate(limit);
    let by_reason: Vec<Value> = view
        .dead_letters
        .by_reason
        .counts()
        .into_iter()
        .map(|c| json!({ "reason": c.label, "count": c.count }))
        .collect();
    Json(json!({
        "topic": watch.dlq_topic(),
        "records": dlq.map(|d| d.records),
        "counted": view.dead_letters.counted,
        "by_reason": by_reason,
        "latest": latest,
    }))
    .into_response()
}

async fn users(State(watch): App, params: Params) -> Response {
    let limit = match limit(params, 12, watch::NEWEST) {
        Ok(n) => n,
        Err(message) => return problem(StatusCode::BAD_REQUEST, message),
    };
    let view = watch.view.read().expect("view lock");
    let charts = sampled(&view);
    let users: Vec<_> = view.newest.iter().take(limit).collect();
    Json(json!({
        "sample": charts.sample,
        "whole_table": charts.whole_table,
        "unavailable": charts.unavailable,
        "users": users,
    }))
    .into_response()
}

/// The charts of the last sample, or none yet and why: the table not
/// being there yet is news for the page, not a server error.
fn sampled(view: &watch::View) -> data::Charts {
    view.charts
        .clone()
        .unwrap_or_else(|| data::unavailable("the dashboard has not sampled the table yet".into()))
}

async fn charts(State(watch): App) -> Json<data::Charts> {
    Json(sampled(&watch.view.read().expect("view lock")))
}
