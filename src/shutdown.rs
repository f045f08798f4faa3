//! Graceful shutdown: Ctrl-C or SIGTERM cancels a token that every job
//! watches, so each can stop taking new work, drain and report.

use tokio_util::sync::CancellationToken;
use tracing::info;

/// A token cancelled at the first SIGINT or SIGTERM. A second signal is left
/// to the default handler, which ends the process at once.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        info!("stopping: finishing in-flight work (signal again to abort)");
        cancel.cancel();
    });
    token
}
