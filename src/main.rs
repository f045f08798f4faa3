//! The `rtds` command line: parses flags and dispatches to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rtds::config::{Loaded, Override, Settings};
use rtds::metrics::Metrics;
use rtds::{process, produce, server, shutdown};

/// rtds: a real-time pipeline from the Random User API through Kafka into Cassandra.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Config file (TOML); default: ./rtds.toml when it exists
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers, host:port[,host:port]
    #[arg(long, global = true, value_name = "HOSTS")]
    bootstrap_servers: Option<String>,
    /// Kafka topic of user records
    #[arg(long, global = true)]
    topic: Option<String>,
    /// Cassandra contact points, host:port[,host:port]
    #[arg(long, global = true, value_name = "HOSTS")]
    contact_points: Option<String>,
    /// Cassandra keyspace
    #[arg(long, global = true)]
    keyspace: Option<String>,
    /// Cassandra table
    #[arg(long, global = true)]
    table: Option<String>,
    /// Serve Prometheus /metrics on this address while the job runs
    #[arg(long, global = true, value_name = "IP:PORT")]
    metrics_listen: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the effective settings (defaults < file < RTDS_* env < flags), secrets masked
    Config,
    /// Fetch users from the source and publish them to Kafka
    Produce(ProduceArgs),
    /// Consume the topic and write users to Cassandra; bad records go to the DLQ
    Process(ProcessArgs),
    /// The whole pipeline in one process: the processor runs continuously, the producer on a schedule
    Run(RunArgs),
    /// Show stored users (like the seed's `cqlsh -e "SELECT * ... LIMIT 10"`)
    Users(UsersArgs),
    /// Serve a local stand-in of the Random User API (for tests, benchmarks, offline use)
    RandomuserServer(server::ServerArgs),
}

#[derive(Args)]
struct ProduceArgs {
    /// Stop after this long, e.g. 60s, 5m (default 60s unless --count is given)
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many records
    #[arg(long)]
    count: Option<u64>,
    /// Users per API request (1..=5000)
    #[arg(long)]
    batch_size: Option<usize>,
    /// `builtin`, or the URL of a Random User API (default https://randomuser.me/api/)
    #[arg(long)]
    source: Option<String>,
    /// Users per second at most (default: the public API's limit for randomuser.me, else none)
    #[arg(long)]
    max_rate: Option<f64>,
    /// Seed for reproducible users
    #[arg(long)]
    seed: Option<String>,
    /// Nationalities, e.g. gb,us
    #[arg(long)]
    nat: Option<String>,
    /// Print the final summary as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RunArgs {
    /// When to produce: @hourly, @daily, @weekly, @monthly or five cron fields, in UTC (default @daily)
    #[arg(long)]
    schedule: Option<String>,
    /// Produce once right away for the current slot (unless that slot was already produced)
    #[arg(long)]
    now: bool,
    #[command(flatten)]
    produce: ProduceArgs,
}

#[derive(Args)]
struct ProcessArgs {
    /// Exit once no new record has arrived for this long, e.g. 10s (default: run until Ctrl-C)
    #[arg(long, value_parser = humantime::parse_duration)]
    until_idle: Option<Duration>,
    /// Kafka consumer group; processors in one group share the partitions
    #[arg(long)]
    group: Option<String>,
    /// Topic for records that fail validation
    #[arg(long)]
    dlq_topic: Option<String>,
    /// Print the final summary as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct UsersArgs {
    /// How many users to show
    #[arg(long, default_value_t = 10)]
    limit: u32,
    /// Print the number of stored users instead
    #[arg(long)]
    count: bool,
    /// One JSON object per line instead of a table
    #[arg(long)]
    json: bool,
}

impl ProduceArgs {
    /// `--count` alone runs until the count; otherwise the duration applies.
    fn limit(&self, settings: &Settings) -> produce::Limit {
        produce::Limit {
            count: self.count,
            duration: (self.count.is_none() || self.duration.is_some())
                .then_some(settings.produce.duration),
        }
    }
}

impl Cli {
    fn overrides(&self) -> Vec<Override> {
        let mut flags = Vec::new();
        let mut add = |key, flag, value: Option<String>| {
            if let Some(value) = value {
                flags.push(Override::new(key, flag, value));
            }
        };
        add(
            "kafka.bootstrap_servers",
            "--bootstrap-servers",
            self.bootstrap_servers.clone(),
        );
        add("kafka.topic", "--topic", self.topic.clone());
        add(
            "metrics.listen",
            "--metrics-listen",
            self.metrics_listen.clone(),
        );
        add(
            "cassandra.contact_points",
            "--contact-points",
            self.contact_points.clone(),
        );
        add("cassandra.keyspace", "--keyspace", self.keyspace.clone());
        add("cassandra.table", "--table", self.table.clone());
        if let Command::Process(args) = &self.command {
            add("kafka.group_id", "--group", args.group.clone());
            add("kafka.dlq_topic", "--dlq-topic", args.dlq_topic.clone());
        }
        let produce = match &self.command {
            Command::Produce(args) => Some(args),
            Command::Run(args) => {
                add("run.schedule", "--schedule", args.schedule.clone());
                Some(&args.produce)
            }
            _ => None,
        };
        if let Some(args) = produce {
            add(
                "produce.duration",
                "--duration",
                args.duration
                    .map(|d| humantime::format_duration(d).to_string()),
            );
            add(
                "produce.batch_size",
                "--batch-size",
                args.batch_size.map(|n| n.to_string()),
            );
            add("produce.source", "--source", args.source.clone());
            add(
                "produce.max_rate",
                "--max-rate",
                args.max_rate.map(|n| n.to_string()),
            );
            add("produce.seed", "--seed", args.seed.clone());
            add("produce.nat", "--nat", args.nat.clone());
        }
        flags
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    rtds::logging::init();
    // Few blocking threads: each holds a malloc arena, and more would only
    // compete for the same two or so cores with the clients' own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
        .expect("the async runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            if tracing::enabled!(tracing::Level::DEBUG) {
                eprintln!("error: {error:?}");
            } else {
                eprintln!("error: {}", one_line(&error));
            }
            ExitCode::FAILURE
        }
    }
}

/// An error as one line for people: rtds's own message, which names the
/// address and what to do, and the root cause unless the message already
/// says it. The clients' errors repeat their causes in their own messages, so
/// the whole chain says the same thing up to three times; `RUST_LOG=debug`
/// prints it all, one cause a line.
fn one_line(error: &anyhow::Error) -> String {
    let message = error.to_string();
    let root = error.root_cause().to_string();
    if message.contains(&root) {
        message
    } else {
        format!("{message}: {root}")
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Loaded { settings, .. } = Settings::load(cli.config.as_deref(), &cli.overrides())?;
    match cli.command {
        Command::Config => {
            print!("{}", settings.to_masked_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::RandomuserServer(args) => {
            server::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Process(args) => {
            let metrics = Metrics::new();
            let _exporter = rtds::exporter::serve(&settings.metrics, metrics.clone()).await?;
            let until = process::Until {
                idle: args.until_idle,
            };
            let summary = process::run(&settings, until, metrics, shutdown::on_signal()).await?;
            print_summary(&summary, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Users(args) => {
            let store = rtds::cassandra::Store::open(&settings.cassandra).await?;
            if args.count {
                println!("{}", store.count().await?);
            } else {
                let users = store.users(args.limit).await?;
                if args.json {
                    for user in &users {
                        println!("{}", serde_json::to_string(user)?);
                    }
                } else {
                    print!("{}", rtds::table::render(&users));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Produce(args) => {
            let metrics = Metrics::new();
            let _exporter = rtds::exporter::serve(&settings.metrics, metrics.clone()).await?;
            let summary = produce::run(
                &settings,
                args.limit(&settings),
                metrics,
                shutdown::on_signal(),
            )
            .await?;
            print_summary(&summary, args.json)?;
            if summary.delivered_all() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "error: {} records were not acknowledged by Kafka at {}",
                    summary.failed, settings.kafka.bootstrap_servers
                );
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Run(args) => {
            let metrics = Metrics::new();
            let _exporter = rtds::exporter::serve(&settings.metrics, metrics.clone()).await?;
            let limit = args.produce.limit(&settings);
            let summary =
                rtds::run::run(&settings, limit, args.now, metrics, shutdown::on_signal()).await?;
            print_summary(&summary, args.produce.json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The last line of a job: for people, or JSON for scripts.
fn print_summary<S: serde::Serialize + std::fmt::Display>(
    summary: &S,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        println!("{summary}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_line_with_its_root_cause_once() {
        let driver = anyhow::anyhow!("Connection refused (os error 111)")
            .context("pool is broken: Connection refused (os error 111)")
            .context("cannot connect to Cassandra at 127.0.0.1:1; is it running?");
        assert_eq!(
            one_line(&driver),
            "cannot connect to Cassandra at 127.0.0.1:1; is it running?: \
             Connection refused (os error 111)"
        );
        let repeated = anyhow::anyhow!("bad port").context("invalid value for `x`: bad port");
        assert_eq!(one_line(&repeated), "invalid value for `x`: bad port");
    }
}
