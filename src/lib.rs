//! rtds: the Random User API -> Kafka -> Cassandra pipeline as one library,
//! driven by the thin `rtds` binary in `main.rs`.
//!
//! # Layout
//!
//! Every module, in the order a record travels (`docs/ARCHITECTURE.md`
//! follows one record through it; `tests/layout.rs` fails when a module is
//! missing here):
//!
//! - [`source`]: pages of users from the Random User API ([`source::http`])
//!   or the built-in generator ([`source::builtin`], its word lists in
//!   `source::builtin::tables`), in the API's reply shape ([`source::api`]).
//! - [`mapping`]: which topic feeds which table and how each column is made
//!   from a record (`[[mapping]]`): CQL types (`mapping::types`), paths
//!   (`mapping::path`) into a record read in place (`mapping::borrowed`),
//!   values converted (`mapping::convert`) and read back as JSON
//!   (`mapping::json`), what a record gives besides its row
//!   (`mapping::record`: time to live, write time, a tombstone's key), the
//!   settings' spelling (`mapping::spec`), one guessed from a topic's
//!   records (`mapping::suggest`), their tests in `mapping::tests`;
//!   the users pipeline is the built-in one.
//! - [`registry`]: records of Avro, Protobuf and JSON Schema topics, in
//!   the schema registry's wire format (`registry::wire`), decoded with
//!   their schema, fetched once by id (`registry::avro`,
//!   `registry::protobuf`), into the JSON the mappings read; the users
//!   pipeline in Avro (`registry::users`).
//! - [`user`]: the record, twelve strings made from one API result, and its
//!   validation when it is read back.
//! - [`produce`]: records into the Kafka topic, each acknowledged or reported.
//! - [`kafka`]: the client settings both sides share, with what a refusal
//!   means (`kafka::access`), the observers' client context
//!   (`kafka::alarm`) and topic administration (`kafka::topics`).
//! - [`process`]: the stream job out of Kafka: the consumer loop
//!   (`process::listener`), one record to its row or the DLQ
//!   (`process::handler`), the consumer and its group
//!   (`process::consumer`), the offsets safe to commit
//!   (`process::offsets`), the write slots (`process::limiter`), rows
//!   gathered into batches (`process::batcher`), the tables written
//!   (`process::tables`: the users table, or the mappings'), a record made
//!   into every mapping's row (`process::mapped`); a bad record goes to the
//!   DLQ through `dlq::send`.
//! - [`retry`]: the one retry helper, backoff and which errors are worth a retry.
//! - [`cassandra`]: the store (prepared upsert and delete, the queries),
//!   over the session (`cassandra::session`: contact points, TLS, logins,
//!   consistency), the table's schema (`cassandra::schema`), the names CQL
//!   takes (`cassandra::names`), which rows may share a batch
//!   (`cassandra::batches`), the mappings' tables written
//!   (`cassandra::mapped`) and read (`cassandra::rows`).
//!
//! Delivery: an offset is committed only once every record before it in its
//! partition is written or dead-lettered, and writes are upserts by id, so
//! every valid record ends up exactly once in the table.
//!
//! Around the stages: [`run`] and [`schedule`] (the whole pipeline on a
//! schedule), [`shutdown`] (signals), [`metrics`] (every counter in one
//! registry, the names others read back in `metrics::names`; served as
//! `/metrics` by [`metrics::exporter`], shown as a bar or log lines by
//! [`metrics::progress`], read back from running jobs by
//! [`metrics::scrape`]), [`config`]
//! (the settings and their defaults; the file, environment and flags
//! applied in layers by `config::layers`, checked by `config::validate`,
//! passwords masked and read from files by `config::secrets`, the tests in
//! `config::tests`), [`logging`], [`table`] (`rtds users` output, and
//! `rtds rows`, and the one escape of outside text for terminals), and [`tools`], beside the
//! pipeline: `tools::randomuser_server`, the local stand-in of the Random
//! User API for tests and benchmarks.
//!
//! Looking at it: [`status`] checks every hop and says where records stop
//! (what Kafka tells in [`status::kafka`], what Cassandra tells in
//! [`status::cassandra`], each mapping's topic and table in
//! [`status::mapped`], the schema registry in [`status::registry`]); [`dashboard`] serves that report live
//! (`dashboard::watch`) with the flow's numbers and the stored data
//! (`dashboard::data`), behind its Host check (`dashboard::hosts`) on a
//! server of its own (`dashboard::serve`), reading the jobs' `/metrics`
//! through `metrics::scrape`. [`dlq`] is the dead-letter topic, one file per
//! concern: [`dlq::wire`] owns the headers rtds writes on dead letters,
//! `dlq::send` sends them, `dlq::list` lists and `dlq::replay` replays them
//! (their tests in `dlq::tests`).

pub mod cassandra;
pub mod config;
pub mod dashboard;
pub mod dlq;
pub mod kafka;
pub mod logging;
pub mod mapping;
pub mod metrics;
pub mod process;
pub mod produce;
pub mod registry;
pub mod retry;
pub mod run;
pub mod schedule;
pub mod shutdown;
pub mod source;
pub mod status;
pub mod table;
pub mod tools;
pub mod user;
