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
use crate::logging::error_chain;
use crate::metrics::Metrics;
use crate::retry::{Class, LogPacer, RATE_LIMIT_PATIENCE, Stop, api_page_retry};
use crate::user::User;

/// The largest reply body read: a few times the largest page (5000 users of
/// about 1.2 kB). A bigger one is refused, not held in memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

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
        "rate limited by the API at {url} (HTTP 429): waited {waited} s in all for one page, \
         and it asks for {asked} s more, past the {patience} s rtds waits for a page; \
         lower --max-rate or try again later",
        patience = RATE_LIMIT_PATIENCE.as_secs()
    )]
    RateLimited {
        url: String,
        waited: u64,
        asked: u64,
    },
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
    said: LogPacer,
}

/// One failed attempt, as the retry loop sorts it.
#[derive(Debug)]
enum PageFailure {
    /// Worth another try; the reason is a metrics label.
    Retry(&'static str, String),
    /// HTTP 429: come back after this long.
    RateLimited(Duration),
    Fatal(HttpError),
}

impl std::fmt::Display for PageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageFailure::Retry(_, message) => f.write_str(message),
            PageFailure::RateLimited(wait) => write!(
                f,
                "rate limited by the API (HTTP 429), asked to wait {} s",
                wait.as_secs_f64()
            ),
            PageFailure::Fatal(error) => error.fmt(f),
        }
    }
}

impl PageFailure {
    fn class(&self) -> Class {
        match self {
            PageFailure::Retry(..) => Class::Transient,
            PageFailure::RateLimited(wait) => Class::Later(*wait),
            PageFailure::Fatal(_) => Class::Permanent,
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
            said: LogPacer::default(),
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
        let mut rate_limited = Duration::ZERO;
        let result = api_page_retry(self.retries)
            .run(
                stop,
                &self.said,
                PageFailure::class,
                |failure| match failure {
                    PageFailure::Retry(reason, _) => self.metrics.source_errors.inc(reason),
                    PageFailure::RateLimited(wait) => {
                        rate_limited += *wait;
                        self.metrics.source_errors.inc("http_429");
                    }
                    PageFailure::Fatal(_) => {}
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
            Err(Stop::Permanent(PageFailure::Fatal(error))) => Err(error),
            Err(Stop::Exhausted(PageFailure::RateLimited(asked))) => Err(HttpError::RateLimited {
                url: masked_url(&self.url),
                waited: rate_limited.as_secs(),
                asked: asked.as_secs(),
            }),
            Err(Stop::Exhausted(PageFailure::Retry("malformed", message))) => {
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

    async fn attempt(&self, page: u32, results: usize) -> Result<Vec<User>, PageFailure> {
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
                PageFailure::Retry(reason, error_chain(&e.without_url()))
            })?;
        let status = reply.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let asked = retry_after(reply.headers(), chrono::Utc::now());
            return Err(PageFailure::RateLimited(asked));
        }
        let body = self.body(reply).await?;
        if status.is_server_error() {
            return Err(PageFailure::Retry("http_5xx", format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(PageFailure::Fatal(HttpError::Refused {
                url: masked_url(&self.url),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }));
        }
        // Results stay raw text until each is read on its own, so one bad
        // result costs only itself, and no JSON tree is built in between;
        // the raw texts borrow the body, they are not copied out of it.
        let reply: Reply<&RawValue> = serde_json::from_slice(&body).map_err(|e| {
            PageFailure::Retry(
                "malformed",
                format!("reply is not a Random User API result list: {e}"),
            )
        })?;
        Ok(self.keep_complete(reply.results))
    }

    /// The reply's body, at most [`MAX_BODY_BYTES`] of it.
    async fn body(&self, mut reply: reqwest::Response) -> Result<Vec<u8>, PageFailure> {
        let too_large = || {
            PageFailure::Fatal(HttpError::TooLarge {
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
            .map_err(|e| PageFailure::Retry("connection", error_chain(&e.without_url())))?
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
/// HTTP date (counted from `now`; a date past is no wait), else a second.
/// Taken as the server says, however long: the retry policy gives up on a
/// wait beyond its patience rather than waiting it.
fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Duration {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let Some(value) = value else {
        return Duration::from_secs(1);
    };
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More seconds than a u64 holds is as good as for ever.
        return Duration::from_secs(value.parse().unwrap_or(u64::MAX));
    }
    match chrono::DateTime::parse_from_rfc2822(value) {
        // A date is within a few hundred thousand years of now: no overflow.
        Ok(at) => (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
        Err(_) => Duration::from_secs(1),
    }
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

    /// Headers holding `Retry-After: value`.
    fn asking(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        // Whole seconds, as HTTP dates are.
        let now = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap();
        assert_eq!(retry_after(&HeaderMap::new(), now), Duration::from_secs(1));
        assert_eq!(retry_after(&asking("7"), now), Duration::from_secs(7));
        assert_eq!(retry_after(&asking("soon"), now), Duration::from_secs(1));
        let soon = (now + chrono::Duration::seconds(30)).to_rfc2822();
        assert_eq!(retry_after(&asking(&soon), now), Duration::from_secs(30));
        let past = "Mon, 01 Jan 1900 00:00:00 GMT";
        assert_eq!(retry_after(&asking(past), now), Duration::ZERO);
        let far = retry_after(&asking("Fri, 31 Dec 9999 23:59:59 GMT"), now);
        assert!(far > Duration::from_secs(7_900 * 365 * 86_400), "{far:?}");
        let beyond_u64 = retry_after(&asking(&format!("{}0", u64::MAX)), now);
        assert_eq!(beyond_u64, Duration::from_secs(u64::MAX));
    }

    /// Runs one page's retry policy over 429 replies asking `values` in
    /// turn (then a success) on a paused clock: how long it waited, and how
    /// it ended.
    fn waits_for(values: &[String]) -> (Duration, Result<(), Stop<PageFailure>>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let now = chrono::Utc::now();
            let mut replies = values.iter();
            let started = tokio::time::Instant::now();
            let result = api_page_retry(8)
                .run(
                    &CancellationToken::new(),
                    &LogPacer::default(),
                    PageFailure::class,
                    |_| {},
                    || {
                        let asked = replies.next().map(|v| retry_after(&asking(v), now));
                        async move { asked.map_or(Ok(()), |a| Err(PageFailure::RateLimited(a))) }
                    },
                )
                .await;
            (started.elapsed(), result)
        })
    }

    #[test]
    fn a_wait_too_long_after_a_short_one_gives_up_at_once() {
        let (waited, result) = waits_for(&["1".into(), u64::MAX.to_string()]);
        assert_eq!(waited, Duration::from_secs(1));
        assert!(
            matches!(result, Err(Stop::Exhausted(PageFailure::RateLimited(_)))),
            "{result:?}"
        );
        // "0" again and again is waited a little each time, until the
        // patience is used up: no spinning.
        let zeros = vec!["0".to_string(); 4000];
        let (waited, result) = waits_for(&zeros);
        assert!(waited <= RATE_LIMIT_PATIENCE && waited >= RATE_LIMIT_PATIENCE / 2);
        assert!(matches!(result, Err(Stop::Exhausted(_))), "{result:?}");
    }

    /// Any `Retry-After` the API could send: seconds of any size, dates
    /// from centuries ago to centuries ahead, garbage.
    fn any_retry_after() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let now = chrono::Utc::now();
        prop_oneof![
            (0u64..600).prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            "[0-9]{1,40}",
            (-10_000_000_000i64..10_000_000_000)
                .prop_map(move |s| (now + chrono::Duration::seconds(s)).to_rfc2822()),
            "[ -~]{0,40}",
        ]
    }

    proptest::proptest! {
        /// Whatever a hostile API asks, in whatever order: no panic, and
        /// never more waiting for one page than the patience.
        #[test]
        fn no_retry_after_sequence_panics_or_waits_past_the_patience(
            values in proptest::collection::vec(any_retry_after(), 1..30)
        ) {
            let (waited, result) = waits_for(&values);
            proptest::prop_assert!(waited <= RATE_LIMIT_PATIENCE, "{waited:?}");
            let rate_limited = matches!(result, Ok(()) | Err(Stop::Exhausted(PageFailure::RateLimited(_))));
            proptest::prop_assert!(rate_limited, "{result:?}");
        }
    }

    /// A local server answering each request with the next status and
    /// `Retry-After` of `replies`, then 200 with no results.
    async fn serve_replies(replies: Vec<(u16, String)>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut replies = replies.into_iter();
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let reply = match replies.next() {
                    Some((status, wait)) => format!(
                        "HTTP/1.1 {status} Too Many Requests\r\nRetry-After: {wait}\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    None => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: 14\r\nConnection: close\r\n\r\n{\"results\":[]}"
                        .to_string(),
                };
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        url
    }

    /// The reply sequence that used to panic `rtds produce` (and `rtds run`
    /// with it): a 429 asking one second, then one asking 2^64-1 seconds.
    #[tokio::test]
    async fn a_hostile_retry_after_is_an_error_not_a_panic() {
        let url = serve_replies(vec![(429, "1".into()), (429, u64::MAX.to_string())]).await;
        let mut settings = crate::config::Settings::default().produce;
        settings.source = url;
        let client = ApiClient::new(&settings, "seed", None, Metrics::new()).unwrap();
        let error = client
            .page(1, 10, &CancellationToken::new())
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(error, HttpError::RateLimited { waited: 1, .. })
                && text.contains(&format!("asks for {} s more", u64::MAX)),
            "{text}"
        );
    }
}
