//! The Prometheus endpoint: `GET /metrics` on `metrics.listen` while a job runs.

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::MetricsSettings;
use crate::metrics::Metrics;

/// The routes that expose `metrics`; the dashboard mounts them too.
pub fn routes(metrics: Metrics) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    metrics.encode(),
                )
            }
        }),
    )
}

/// Serves `/metrics` when `settings.listen` is set; the server stops when the
/// returned handle is dropped with the job.
pub async fn serve(
    settings: &MetricsSettings,
    metrics: Metrics,
) -> anyhow::Result<Option<AbortOnDrop>> {
    if settings.listen.is_empty() {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| {
            format!(
                "cannot serve metrics on {} (metrics.listen); is the port taken?",
                settings.listen
            )
        })?;
    info!("metrics on http://{}/metrics", settings.listen);
    let app = routes(metrics);
    Ok(Some(AbortOnDrop(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))))
}

/// A background task that ends with its owner.
pub struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
