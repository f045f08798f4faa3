//! The Random User API client: many users per request, seeded paging, and
//! retries with backoff for everything a public API does on a bad day
//! (timeouts, dropped connections, 5xx, 429, garbled bodies).

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::api::{ApiUser, RECORD_FIELDS, Reply};
use crate::config::{ProduceSettings, masked_source, masked_url};
use crate::metrics::Metrics;
use crate::retry::{Class, Retry, Said, Stop};
use crate::user::User;

/// The largest reply body read: a few times the largest page (5000 users of
/// about 1.2 kB). A bigger one is refused, not held in memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How long one page waits in all on HTTP 429 replies before giving up: the
/// public API counts its limit over 5 minutes.
const RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(300);

/// Why a page could not be fetched even after retries.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{0}` is not a usable URL for the Random User API: {1}")]
    BadUrl(String, String),
    #[error(
        "cannot reach the Random User API at {url} after {attempts} attempts: {last}. \
         Check the address and the network; `--source builtin` generates users without network, \
         and `rtds randomuser-server` runs a local stand-in"
    )]
    Unreachable {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error(
        "rate limited by the API at {url} (HTTP 429), waited {waited} s in all for one page; \
         lower --max-rate or try again later"
    )]
    RateLimited { url: String, waited: u64 },
    #[error("the Random User API at {url} refused the request with HTTP {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error(
        "the Random User API at {url} sent a reply of more than {limit} bytes; \
         is it really a Random User API?"
    )]
    TooLarge { url: String, limit: usize },
}

/// A client for one API endpoint and one seed.
pub struct ApiClient {
    http: reqwest::Client,
    url: Url,
    seed: String,
    nats: Option<String>,
    retries: u32,
    metrics: Metrics,
    /// Paces the retry log lines of all pages in flight.
    said: Said,
}

/// One failed attempt, as the retry loop sorts it.
#[derive(Debug)]
enum Failure {
    /// Worth another try; the reason is a metrics label.
    Retry(&'static str, String),
    /// HTTP 429: come back after this long.
    RateLimited(Duration),
    Fatal(HttpError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Retry(_, message) => f.write_str(message),
            Failure::RateLimited(wait) => write!(
                f,
                "rate limited by the API (HTTP 429), asked to wait {} s",
                wait.as_secs_f64()
            ),
            Failure::Fatal(error) => error.fmt(f),
        }
    }
}

impl Failure {
    fn class(&self) -> Class {
        match self {
            Failure::Retry(..) => Class::Transient,
            Failure::RateLimited(wait) => Class::Later(*wait),
            Failure::Fatal(_) => Class::Permanent,
        }
    }
}

impl ApiClient {
    pub fn new(
        settings: &ProduceSettings,
        seed: &str,
        nats: Option<Vec<String>>,
        metrics: Metrics,
    ) -> Result<Self, HttpError> {
        let bad_url = |why: String| HttpError::BadUrl(masked_source(&settings.source), why);
        let url = Url::parse(&settings.source).map_err(|e| bad_url(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad_url("only http and https are supported".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("rtds/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad_url(e.to_string()))?;
        Ok(ApiClient {
            http,
            url,
            seed: seed.to_string(),
            nats: nats.map(|n| n.join(",")),
            retries: settings.retries.max(1),
            metrics,
            said: Said::default(),
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Fetches page `page` of `results` users, retrying transient failures
    /// and waiting as asked on HTTP 429, until `stop` (shutdown or the run's
    /// deadline), which yields no users. A reply that stays malformed after
    /// every attempt yields no users (it is counted); results lacking a
    /// needed field are counted and skipped.
    pub async fn page(
        &self,
        page: u32,
        results: usize,
        stop: &CancellationToken,
    ) -> Result<Vec<User>, HttpError> {
        let policy = Retry {
            what: "Random User API request",
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            attempts: Some(self.retries),
            patience: RATE_LIMIT_PATIENCE,
        };
        let mut rate_limited = Duration::ZERO;
        let result = policy
            .run(
                stop,
                &self.said,
                Failure::class,
                |failure| match failure {
                    Failure::Retry(reason, _) => self.metrics.source_errors.inc(reason),
                    Failure::RateLimited(wait) => {
                        rate_limited += *wait;
                        self.metrics.source_errors.inc("http_429");
                    }
                    Failure::Fatal(_) => {}
                },
                || async {
                    let started = std::time::Instant::now();
                    let result = self.attempt(page, results).await;
                    let took = started.elapsed().as_secs_f64();
                    self.metrics.source_request_seconds.observe(took);
                    result
                },
            )
            .await;
        match result {
            Ok(users) => Ok(users),
            Err(Stop::Cancelled) => Ok(Vec::new()),
            Err(Stop::Permanent(Failure::Fatal(error))) => Err(error),
            Err(Stop::Exhausted(Failure::RateLimited(wait))) => Err(HttpError::RateLimited {
                url: masked_url(&self.url),
                waited: (rate_limited + wait).as_secs(),
            }),
            Err(Stop::Exhausted(Failure::Retry("malformed", message))) => {
                warn!(
                    page,
                    "giving up on page {page}, no reply was usable: {message}"
                );
                Ok(Vec::new())
            }
            Err(Stop::Exhausted(last) | Stop::Permanent(last)) => Err(HttpError::Unreachable {
                url: masked_url(&self.url),
                attempts: self.retries,
                last: last.to_string(),
            }),
        }
    }

    async fn attempt(&self, page: u32, results: usize) -> Result<Vec<User>, Failure> {
        let mut query: Vec<(&str, String)> = vec![
            ("results", results.to_string()),
            ("seed", self.seed.clone()),
            ("page", page.to_string()),
            ("inc", RECORD_FIELDS.join(",")),
        ];
        if let Some(nats) = &self.nats {
            query.push(("nat", nats.clone()));
        }
        let reply = self
            .http
            .get(self.url.clone())
            .query(&query)
            .send()
            .await
            .map_err(|e| {
                let reason = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection"
                };
                Failure::Retry(reason, error_chain(&e.without_url()))
            })?;
        let status = reply.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure::RateLimited(retry_after(reply.headers())));
        }
        let body = self.body(reply).await?;
        if status.is_server_error() {
            return Err(Failure::Retry("http_5xx", format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Failure::Fatal(HttpError::Refused {
                url: masked_url(&self.url),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }));
        }
        // Results stay raw text until each is read on its own, so one bad
        // result costs only itself, and no JSON tree is built in between;
        // the raw texts borrow the body, they are not copied out of it.
        let reply: Reply<&RawValue> = serde_json::from_slice(&body).map_err(|e| {
            Failure::Retry(
                "malformed",
                format!("reply is not a Random User API result list: {e}"),
            )
        })?;
        Ok(self.keep_complete(reply.results))
    }

    /// The reply's body, at most [`MAX_BODY_BYTES`] of it.
    async fn body(&self, mut reply: reqwest::Response) -> Result<Vec<u8>, Failure> {
        let too_large = || {
            Failure::Fatal(HttpError::TooLarge {
                url: masked_url(&self.url),
                limit: MAX_BODY_BYTES,
            })
        };
        let length = reply.content_length();
        if length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        // Sized once when the length is known: a 6 MB page grown by
        // doubling would hold up to twice that.
        let mut body = Vec::with_capacity(length.unwrap_or(0) as usize);
        while let Some(chunk) = reply
            .chunk()
            .await
            .map_err(|e| Failure::Retry("connection", error_chain(&e.without_url())))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Makes each result a record, counting and logging those that cannot.
    fn keep_complete(&self, results: Vec<&RawValue>) -> Vec<User> {
        results
            .iter()
            .filter_map(|raw| match serde_json::from_str::<ApiUser>(raw.get()) {
                Ok(user) => Some(User::from_api(user)),
                Err(e) => {
                    self.metrics.skipped.inc();
                    warn!("skipping an API result that cannot make a record: {e}");
                    None
                }
            })
            .collect()
    }
}

/// How long a 429 reply asks to wait: its `Retry-After` in seconds or as an
/// HTTP date, else a second.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let Some(value) = value else {
        return Duration::from_secs(1);
    };
    if let Ok(seconds) = value.parse::<u64>() {
        return Duration::from_secs(seconds);
    }
    chrono::DateTime::parse_from_rfc2822(value)
        .ok()
        .and_then(|at| {
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .ok()
        })
        .unwrap_or(Duration::from_secs(1))
}

/// The error and its causes on one line: reqwest hides the useful part
/// ("Connection refused") in the source chain.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[tokio::test]
    async fn errors_never_show_the_password_of_the_source_url() {
        let mut settings = crate::config::Settings::default().produce;
        settings.source = "http://me:hunter2@127.0.0.1:1/api/".into();
        settings.retries = 1;
        let client = ApiClient::new(&settings, "seed", None, Metrics::new()).unwrap();
        let error = client
            .page(1, 10, &CancellationToken::new())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("127.0.0.1:1") && !error.contains("hunter2"),
            "{error}"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), Duration::from_secs(1));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Duration::from_secs(7));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&soon).unwrap());
        let wait = retry_after(&headers);
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }
}
