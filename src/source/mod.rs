//! Where users come from: the Random User API over HTTP, or the built-in
//! generator. (The local stand-in that speaks the API is a tool, not a
//! source: see [`crate::tools::randomuser_server`].)
//!
//! Both sources answer the same question, "page P of N users", so the
//! producer drives them alike: a bounded number of pages in flight, paced by
//! `max_rate` when one is set.

pub mod api;
pub mod builtin;
pub mod http;

use tokio_util::sync::CancellationToken;

use crate::config::{BUILTIN, ProduceSettings};
use crate::metrics::Metrics;
use crate::user::User;

/// Largest page the built-in generator makes at once.
const BUILTIN_PAGE: usize = 1000;

/// The public API allows about 20,000 users per 5 minutes per client.
pub const RANDOMUSER_MAX_RATE: f64 = 20_000.0 / 300.0;

/// A source of users, asked for one page at a time.
pub enum Source {
    Builtin(builtin::Generator),
    Http(Box<http::ApiClient>),
}

/// Why a page could not be had; each stops the run with its message.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Nationality(#[from] builtin::UnknownNationality),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error(
        "{name} gave no usable user in {pages} pages in a row (replies malformed or results \
         incomplete, see the warnings above); check the source, or use `--source builtin`"
    )]
    NothingUsable { name: String, pages: u32 },
}

impl Source {
    /// Builds the source named by `settings.source`, with `seed` shared by
    /// every page so that pages never repeat users.
    pub fn new(
        settings: &ProduceSettings,
        seed: &str,
        metrics: Metrics,
    ) -> Result<Self, SourceError> {
        let nats: Vec<String> = settings
            .nat
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        let nats = (!nats.is_empty()).then_some(nats);
        if settings.source == BUILTIN {
            return Ok(Source::Builtin(builtin::Generator::new(
                seed,
                nats.as_deref(),
            )?));
        }
        let client = http::ApiClient::new(settings, seed, nats, metrics)?;
        Ok(Source::Http(Box::new(client)))
    }

    /// Users per second this source is held to: the setting when given, else
    /// the public API's limit for randomuser.me and no limit for the rest.
    pub fn max_rate(settings: &ProduceSettings) -> Option<f64> {
        if settings.max_rate > 0.0 {
            Some(settings.max_rate)
        } else if settings.source.contains("randomuser.me") {
            Some(RANDOMUSER_MAX_RATE)
        } else {
            None
        }
    }

    /// Page `page` (1-based) of `results` users, made into records. Results
    /// that lack a field the record needs are already counted and left out.
    /// `stop` (shutdown, the run's deadline) ends retry waits: no users.
    pub async fn page(
        &self,
        page: u32,
        results: usize,
        stop: &CancellationToken,
    ) -> Result<Vec<User>, SourceError> {
        match self {
            Source::Builtin(generator) => {
                // CPU work: kept off the async workers the processor may share.
                let generator = generator.clone();
                let records = tokio::task::spawn_blocking(move || {
                    generator.users(page, results).map(User::from_api).collect()
                });
                Ok(records.await.expect("generator does not panic"))
            }
            Source::Http(client) => Ok(client.page(page, results, stop).await?),
        }
    }

    /// Users to ask for per page. The API wants big pages (fewer round
    /// trips); the generator has no round trips to save, and small pages keep
    /// the records in flight, and so memory, small.
    pub fn page_size(&self, batch_size: usize) -> usize {
        match self {
            Source::Builtin(_) => batch_size.min(BUILTIN_PAGE),
            Source::Http(_) => batch_size,
        }
    }

    /// A name for logs and summaries: the URL with its password masked.
    pub fn describe(&self) -> String {
        match self {
            Source::Builtin(_) => BUILTIN.to_string(),
            Source::Http(client) => crate::config::masked_url(client.url()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn describe_masks_the_password_of_a_source_url() {
        let mut settings = Settings::default().produce;
        settings.source = "https://me:hunter2@127.0.0.1:1/api/".into();
        let source = Source::new(&settings, "seed", Metrics::new()).unwrap();
        assert_eq!(source.describe(), "https://me:***@127.0.0.1:1/api/");
    }
}
