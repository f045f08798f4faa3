//! rtds: the Random User API -> Kafka -> Cassandra pipeline as one library,
//! driven by the thin `rtds` binary in `main.rs`.

pub mod cassandra;
pub mod config;
pub mod exporter;
pub mod kafka;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod produce;
pub mod progress;
pub mod run;
pub mod schedule;
pub mod server;
pub mod shutdown;
pub mod source;
pub mod table;
pub mod user;
