//! The Random User API client: many users per request, seeded paging, and
//! retries with backoff for everything a public API does on a bad day
//! (timeouts, dropped connections, 5xx, 429, garbled bodies).

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::value::RawValue;
use tracing::warn;

use super::api::{ApiUser, RECORD_FIELDS, Reply};
use crate::config::ProduceSettings;
use crate::metrics::Metrics;
use crate::user::User;

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
    #[error("the Random User API at {url} refused the request with HTTP {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
}

/// A client for one API endpoint and one seed.
pub struct ApiClient {
    http: reqwest::Client,
    url: Url,
    seed: String,
    nats: Option<String>,
    retries: u32,
    metrics: Metrics,
}

/// One failed attempt: whether to retry, and what to report.
enum Attempt {
    Retry(&'static str, String),
    Fatal(HttpError),
}

impl ApiClient {
    pub fn new(
        settings: &ProduceSettings,
        seed: &str,
        nats: Option<Vec<String>>,
        metrics: Metrics,
    ) -> Result<Self, HttpError> {
        let bad_url = |why: String| HttpError::BadUrl(settings.source.clone(), why);
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
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Fetches page `page` of `results` users, retrying transient failures.
    /// A reply that stays malformed after every attempt yields no users (it is
    /// counted); results lacking a needed field are counted and skipped.
    pub async fn page(&self, page: u32, results: usize) -> Result<Vec<User>, HttpError> {
        let mut last = String::new();
        for attempt in 0..self.retries {
            if attempt > 0 {
                let wait = super::backoff(
                    attempt - 1,
                    Duration::from_millis(100),
                    Duration::from_secs(10),
                );
                tokio::time::sleep(wait).await;
            }
            match self.attempt(page, results).await {
                Ok(users) => return Ok(users),
                Err(Attempt::Fatal(error)) => return Err(error),
                Err(Attempt::Retry(reason, message)) => {
                    self.metrics.source_errors.inc(reason);
                    if attempt + 1 < self.retries {
                        warn!(
                            page,
                            attempt = attempt + 1,
                            reason,
                            "Random User API request failed, retrying: {message}"
                        );
                    } else if reason == "malformed" {
                        warn!(
                            page,
                            "giving up on page {page}, no reply was usable: {message}"
                        );
                        return Ok(Vec::new());
                    }
                    last = message;
                }
            }
        }
        Err(HttpError::Unreachable {
            url: self.url.to_string(),
            attempts: self.retries,
            last,
        })
    }

    async fn attempt(&self, page: u32, results: usize) -> Result<Vec<User>, Attempt> {
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
                Attempt::Retry(
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection"
                    },
                    error_chain(&e),
                )
            })?;
        let status = reply.status();
        let body = reply
            .bytes()
            .await
            .map_err(|e| Attempt::Retry("connection", error_chain(&e)))?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Attempt::Retry(
                "http_429",
                "HTTP 429 Too Many Requests".into(),
            ));
        }
        if status.is_server_error() {
            return Err(Attempt::Retry("http_5xx", format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Attempt::Fatal(HttpError::Refused {
                url: self.url.to_string(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }));
        }
        // Results stay raw text until each is read on its own, so one bad
        // result costs only itself, and no JSON tree is built in between.
        let reply: Reply<Box<RawValue>> = serde_json::from_slice(&body).map_err(|e| {
            Attempt::Retry(
                "malformed",
                format!("reply is not a Random User API result list: {e}"),
            )
        })?;
        Ok(self.keep_complete(reply.results))
    }

    /// Makes each result a record, counting and logging those that cannot.
    fn keep_complete(&self, results: Vec<Box<RawValue>>) -> Vec<User> {
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
