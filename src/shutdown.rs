//! Signals, in one place: Ctrl-C or SIGTERM cancels a token that every job
//! watches, so each can stop taking new work, drain and report; a second
//! one ends the process at once.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// The exit status after a second signal: 128 + SIGINT, as shells report
/// an interrupted command.
pub const ABORTED: i32 = 130;

/// SIGINT and SIGTERM, watched from the moment this is made, so none is
/// missed between two waits.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn watch() -> Signals {
        Signals {
            interrupt: signal(SignalKind::interrupt()).expect("SIGINT handler installs"),
            terminate: signal(SignalKind::terminate()).expect("SIGTERM handler installs"),
        }
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// A token cancelled at the first SIGINT or SIGTERM. The second ends the
/// process at once with status [`ABORTED`], without draining.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let mut signals = Signals::watch();
    tokio::spawn(async move {
        signals.next().await;
        info!("stopping: finishing in-flight work (signal again to abort)");
        cancel.cancel();
        signals.next().await;
        eprintln!("rtds: second signal, exiting at once without draining");
        std::process::exit(ABORTED);
    });
    token
}

/// Resolves at the first SIGINT or SIGTERM: for servers that only stop.
pub async fn first_signal() {
    Signals::watch().next().await;
}
