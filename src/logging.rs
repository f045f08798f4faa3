//! Log output: human-readable lines on stderr, so stdout stays free for
//! summaries and `--json`. The level comes from `RUST_LOG`; by default rtds's
//! own lines at `info` and the Kafka and Cassandra clients' lines off, because
//! while connecting they repeat at WARN and ERROR, once per attempt, what the
//! final error already says once with the address and what to do.
//! `RUST_LOG=debug` shows everything, the clients included.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset. `librdkafka` is librdkafka's own log,
/// `rdkafka` the Rust client's; `scylla` the Cassandra driver's.
const DEFAULT_FILTER: &str = "info,scylla=off,librdkafka=off,rdkafka=off";

pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
