//! Log output: human-readable lines on stderr, level from `RUST_LOG`
//! (default `info`, with the Cassandra driver's connection chatter at `warn`),
//! so stdout stays free for summaries and `--json`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,scylla=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
