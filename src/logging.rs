//! Log output: human-readable lines on stderr, so stdout stays free for
//! summaries and `--json`. The level comes from `RUST_LOG`; by default rtds's
//! own lines at `info` and the Kafka and Cassandra clients' lines off, because
//! while connecting they repeat at WARN and ERROR, once per attempt, what the
//! final error already says once with the address and what to do.
//! `RUST_LOG=debug` shows everything, the clients included. Errors reach
//! people as one line ([`one_line`]).

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

/// An error as one line for people: rtds's own messages, which name what
/// failed and what to do, then each cause the line does not say yet. The
/// clients' errors repeat their causes in their own messages, so the whole
/// chain would say the same thing up to three times; `RUST_LOG=debug` prints
/// it all, one cause a line.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The error and its causes on one line: reqwest hides the useful part
/// ("Connection refused") in the source chain.
pub fn error_chain(error: &dyn std::error::Error) -> String {
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

    #[test]
    fn an_error_is_one_line_with_its_root_cause_once() {
        let driver = anyhow::anyhow!("Connection refused (os error 111)")
            .context("pool is broken: Connection refused (os error 111)")
            .context("cannot connect to Cassandra at 127.0.0.1:1; is it running?")
            .context("the processor stopped");
        assert_eq!(
            one_line(&driver),
            "the processor stopped: cannot connect to Cassandra at 127.0.0.1:1; is it running?: \
             pool is broken: Connection refused (os error 111)"
        );
        let repeated = anyhow::anyhow!("bad port").context("invalid value for `x`: bad port");
        assert_eq!(one_line(&repeated), "invalid value for `x`: bad port");
    }
}
