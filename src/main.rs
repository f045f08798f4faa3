//! The `rtds` command line: parses flags and dispatches to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rtds::config::{Loaded, Override, Settings};
use rtds::mapping::json;
use rtds::metrics::Metrics;
use rtds::tools::randomuser_server as server;
use rtds::{process, produce, shutdown};

/// rtds: a real-time pipeline from the Random User API through Kafka into Cassandra.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Config file (TOML); default: ./rtds.toml when it exists
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the effective settings (defaults < file < RTDS_* env < flags), secrets masked
    Config(ConfigArgs),
    /// Fetch users from the source and publish them to Kafka
    Produce(ProduceCommand),
    /// Consume the topic and write users to Cassandra (or each [[mapping]] entry's topic into its table); bad records go to the DLQ
    Process(ProcessArgs),
    /// The whole pipeline in one process: the processor runs continuously, the producer on a schedule
    Run(RunArgs),
    /// Show stored users (like the tutorial's `cqlsh -e "SELECT * ... LIMIT 10"`)
    Users(UsersArgs),
    /// Show the stored rows of a [[mapping]] entry's table
    Rows(RowsArgs),
    /// Create (or migrate) the keyspace and table, then exit: for an admin, where writers may not create
    Schema(SchemaArgs),
    /// Check each hop (source, Kafka, group, DLQ, Cassandra) and say where records stop; exit 1 if one fails
    Status(StatusArgs),
    /// Serve the live dashboard page: the hops, throughput, lag, the DLQ and the stored users
    Dashboard(DashboardArgs),
    /// Inspect the dead-letter topic, or send its records back once the cause is fixed
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Mappings of your own topics into tables
    #[command(subcommand)]
    Mapping(MappingCommand),
    /// Serve a local stand-in of the Random User API (for tests, benchmarks, offline use)
    RandomuserServer(server::ServerArgs),
}

/// Where Kafka is; for the commands that talk to it.
#[derive(Args)]
#[command(next_help_heading = "Kafka")]
struct KafkaFlags {
    /// Kafka bootstrap servers, host:port[,host:port]
    #[arg(long, value_name = "HOSTS")]
    bootstrap_servers: Option<String>,
    /// Kafka topic of user records
    #[arg(long)]
    topic: Option<String>,
}

/// Where Cassandra is; for the commands that talk to it.
#[derive(Args)]
#[command(next_help_heading = "Cassandra")]
struct CassandraFlags {
    /// Cassandra contact points, host:port[,host:port]
    #[arg(long, value_name = "HOSTS")]
    contact_points: Option<String>,
    /// Cassandra keyspace
    #[arg(long)]
    keyspace: Option<String>,
    /// Cassandra table
    #[arg(long)]
    table: Option<String>,
}

/// What the users topic carries; for the jobs that write or read it.
#[derive(Args)]
#[command(next_help_heading = "Format")]
struct FormatFlags {
    /// The users topic's records: json, or avro with its schema in the schema registry
    #[arg(long, value_name = "json|avro")]
    format: Option<String>,
    /// The schema registry, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (for avro)
    #[arg(long, value_name = "URL")]
    registry_url: Option<String>,
}

/// For the long-running jobs, which have counters to serve.
#[derive(Args)]
#[command(next_help_heading = "Metrics")]
struct MetricsFlags {
    /// Serve Prometheus /metrics on this address while the job runs
    #[arg(long, value_name = "IP:PORT")]
    metrics_listen: Option<String>,
}

#[derive(Args)]
struct ConfigArgs {
    /// Print the built-in users mapping as a [[mapping]] entry to copy and change
    #[arg(long)]
    builtin_mapping: bool,
    #[command(flatten)]
    kafka: KafkaFlags,
    #[command(flatten)]
    cassandra: CassandraFlags,
    #[command(flatten)]
    metrics: MetricsFlags,
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
    #[command(flatten)]
    kafka: KafkaFlags,
    #[command(flatten)]
    format: FormatFlags,
    #[command(flatten)]
    metrics: MetricsFlags,
}

#[derive(Args)]
struct ProduceCommand {
    /// Instead of users, publish a tombstone for this user id (repeatable): `rtds process` deletes the row
    #[arg(long = "delete", value_name = "ID", conflicts_with_all = ["duration", "count", "source"])]
    delete: Vec<uuid::Uuid>,
    #[command(flatten)]
    produce: ProduceArgs,
}

#[derive(Args)]
struct RunArgs {
    /// When to produce: @hourly, @daily, @weekly, @monthly or five cron fields, in UTC (default @daily)
    #[arg(long)]
    schedule: Option<String>,
    /// Produce once right away for the current slot (unless that slot was already produced)
    #[arg(long)]
    now: bool,
    /// Serve the live dashboard on this address while the pipeline runs, e.g. 127.0.0.1:8080
    #[arg(long, value_name = "IP:PORT")]
    dashboard: Option<String>,
    /// The producer's flags, with Kafka and metrics
    #[command(flatten)]
    produce: ProduceArgs,
    #[command(flatten)]
    cassandra: CassandraFlags,
}

#[derive(Args)]
struct ProcessArgs {
    /// Exit once no new record has arrived for this long and none is left on the topic, e.g. 10s
    /// (default: run until Ctrl-C)
    #[arg(long, value_parser = humantime::parse_duration)]
    until_idle: Option<Duration>,
    /// Kafka consumer group; processors in one group share the partitions
    #[arg(long)]
    group: Option<String>,
    /// Topic for records that fail validation
    #[arg(long)]
    dlq_topic: Option<String>,
    /// Run only this [[mapping]] entry of the settings (repeat for more;
    /// default: every entry, or the users pipeline when there are none)
    #[arg(long, value_name = "NAME")]
    mapping: Vec<String>,
    /// Print the final summary as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    kafka: KafkaFlags,
    #[command(flatten)]
    format: FormatFlags,
    #[command(flatten)]
    cassandra: CassandraFlags,
    #[command(flatten)]
    metrics: MetricsFlags,
}

/// What `rtds status` and `rtds dashboard` look at.
#[derive(Args)]
struct PipelineFlags {
    /// `builtin`, or the URL of the Random User API the producer uses
    #[arg(long)]
    source: Option<String>,
    /// Kafka consumer group of the processors
    #[arg(long)]
    group: Option<String>,
    #[command(flatten)]
    kafka: KafkaFlags,
    #[command(flatten)]
    cassandra: CassandraFlags,
}

#[derive(Args)]
struct SchemaArgs {
    #[command(flatten)]
    cassandra: CassandraFlags,
}

#[derive(Args)]
struct StatusArgs {
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pipeline: PipelineFlags,
}

#[derive(Args)]
struct DashboardArgs {
    /// Serve the page on this address (default 127.0.0.1:8080)
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<String>,
    /// A job's /metrics URL to chart, repeatable (default: the dashboard.scrape setting)
    #[arg(long, value_name = "URL")]
    scrape: Vec<String>,
    /// Also answer requests for this host name (a proxy's name for the page), repeatable
    /// (default: the dashboard.allowed_hosts setting)
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    #[command(flatten)]
    pipeline: PipelineFlags,
}

#[derive(Subcommand)]
enum MappingCommand {
    /// Read the newest records of a topic (without joining a group) and print a [[mapping]] for them, with its table's CQL
    Suggest(MappingSuggestArgs),
}

#[derive(Args)]
struct MappingSuggestArgs {
    /// Records to read, the newest of each partition
    #[arg(long, default_value_t = 200)]
    sample: usize,
    #[command(flatten)]
    kafka: KafkaFlags,
    #[command(flatten)]
    cassandra: CassandraFlags,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// The dead letters, newest first, as a table (reads without joining a group)
    List(DlqListArgs),
    /// Send dead letters back to the source topic, each at most dlq.max_replays times
    Replay(DlqReplayArgs),
}

/// Which dead letters, and where they are.
#[derive(Args)]
struct DlqFlags {
    /// Only records of this reason kind (too_large, bad_shape, not_utf8, empty, not_object, bad_tombstone, bad_timestamp, not_json, unmapped, not_registry_framed, unknown_schema, undecodable)
    #[arg(long)]
    kind: Option<String>,
    /// Only records from this time on: RFC 3339, or a duration meaning that long ago (2h)
    #[arg(long, value_parser = rtds::dlq::parse_time)]
    since: Option<rtds::dlq::Bound>,
    /// Only records before this time: RFC 3339, or a duration meaning that long ago
    #[arg(long, value_parser = rtds::dlq::parse_time)]
    until: Option<rtds::dlq::Bound>,
    /// The dead-letter topic (default <topic>.dlq)
    #[arg(long)]
    dlq_topic: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    kafka: KafkaFlags,
}

impl DlqFlags {
    fn filter(&self) -> rtds::dlq::Filter {
        rtds::dlq::Filter {
            kind: self.kind.clone(),
            since: self.since,
            until: self.until,
        }
    }
}

#[derive(Args)]
struct DlqListArgs {
    /// How many records to show
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    dlq: DlqFlags,
}

#[derive(Args)]
struct DlqReplayArgs {
    /// Print what would be replayed and how many; send nothing, remember nothing
    #[arg(long)]
    dry_run: bool,
    /// Start from the topic's beginning, not where this filter's last replay stopped
    #[arg(long)]
    from_beginning: bool,
    /// The processors' group, which the replay's own group is named after
    #[arg(long)]
    group: Option<String>,
    #[command(flatten)]
    dlq: DlqFlags,
}

/// How stored rows are shown, by `rtds users` and `rtds rows`.
#[derive(Args)]
struct ShowFlags {
    /// How many rows to show
    #[arg(long, default_value_t = 10)]
    limit: u32,
    /// Print the number of stored rows instead
    #[arg(long)]
    count: bool,
    /// One JSON object per line instead of a table
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cassandra: CassandraFlags,
}

#[derive(Args)]
struct UsersArgs {
    #[command(flatten)]
    show: ShowFlags,
}

#[derive(Args)]
struct RowsArgs {
    /// The [[mapping]] entry whose table to show
    #[arg(long, value_name = "NAME")]
    mapping: String,
    #[command(flatten)]
    show: ShowFlags,
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

/// The flags given, as overrides of the settings they stand for.
#[derive(Default)]
struct Overrides(Vec<Override>);

impl Overrides {
    fn add(&mut self, key: &'static str, flag: &'static str, value: Option<impl ToString>) {
        if let Some(value) = value {
            self.0.push(Override::new(key, flag, value));
        }
    }

    fn kafka(&mut self, flags: &KafkaFlags) {
        let KafkaFlags {
            bootstrap_servers,
            topic,
        } = flags;
        self.add(
            "kafka.bootstrap_servers",
            "--bootstrap-servers",
            bootstrap_servers.as_ref(),
        );
        self.add("kafka.topic", "--topic", topic.as_ref());
    }

    fn cassandra(&mut self, flags: &CassandraFlags) {
        let CassandraFlags {
            contact_points,
            keyspace,
            table,
        } = flags;
        self.add(
            "cassandra.contact_points",
            "--contact-points",
            contact_points.as_ref(),
        );
        self.add("cassandra.keyspace", "--keyspace", keyspace.as_ref());
        self.add("cassandra.table", "--table", table.as_ref());
    }

    fn dlq(&mut self, flags: &DlqFlags) {
        self.kafka(&flags.kafka);
        self.add("kafka.dlq_topic", "--dlq-topic", flags.dlq_topic.as_ref());
    }

    fn pipeline(&mut self, flags: &PipelineFlags) {
        self.kafka(&flags.kafka);
        self.cassandra(&flags.cassandra);
        self.add("produce.source", "--source", flags.source.as_ref());
        self.add("kafka.group_id", "--group", flags.group.as_ref());
    }

    fn format(&mut self, flags: &FormatFlags) {
        self.add("kafka.format", "--format", flags.format.as_ref());
        self.add(
            "registry.url",
            "--registry-url",
            flags.registry_url.as_ref(),
        );
    }

    fn metrics(&mut self, flags: &MetricsFlags) {
        self.add(
            "metrics.listen",
            "--metrics-listen",
            flags.metrics_listen.as_ref(),
        );
    }

    fn produce(&mut self, args: &ProduceArgs) {
        self.kafka(&args.kafka);
        self.format(&args.format);
        self.metrics(&args.metrics);
        self.add(
            "produce.duration",
            "--duration",
            args.duration.map(humantime::format_duration),
        );
        self.add("produce.batch_size", "--batch-size", args.batch_size);
        self.add("produce.source", "--source", args.source.as_ref());
        self.add("produce.max_rate", "--max-rate", args.max_rate);
        self.add("produce.seed", "--seed", args.seed.as_ref());
        self.add("produce.nat", "--nat", args.nat.as_ref());
    }
}

impl Command {
    /// The settings this command's flags override.
    fn overrides(&self) -> Vec<Override> {
        let mut flags = Overrides::default();
        match self {
            Command::Config(args) => {
                flags.kafka(&args.kafka);
                flags.cassandra(&args.cassandra);
                flags.metrics(&args.metrics);
            }
            Command::Produce(args) => flags.produce(&args.produce),
            Command::Process(args) => {
                flags.kafka(&args.kafka);
                flags.format(&args.format);
                flags.cassandra(&args.cassandra);
                flags.metrics(&args.metrics);
                flags.add("kafka.group_id", "--group", args.group.as_ref());
                flags.add("kafka.dlq_topic", "--dlq-topic", args.dlq_topic.as_ref());
            }
            Command::Run(args) => {
                flags.produce(&args.produce);
                flags.cassandra(&args.cassandra);
                flags.add("run.schedule", "--schedule", args.schedule.as_ref());
                flags.add("dashboard.listen", "--dashboard", args.dashboard.as_ref());
            }
            Command::Users(args) => flags.cassandra(&args.show.cassandra),
            Command::Rows(args) => flags.cassandra(&args.show.cassandra),
            Command::Mapping(MappingCommand::Suggest(args)) => {
                flags.kafka(&args.kafka);
                flags.cassandra(&args.cassandra);
            }
            Command::Schema(args) => flags.cassandra(&args.cassandra),
            Command::Status(args) => flags.pipeline(&args.pipeline),
            Command::Dlq(DlqCommand::List(args)) => flags.dlq(&args.dlq),
            Command::Dlq(DlqCommand::Replay(args)) => {
                flags.dlq(&args.dlq);
                flags.add("kafka.group_id", "--group", args.group.as_ref());
            }
            Command::Dashboard(args) => {
                flags.pipeline(&args.pipeline);
                flags.add("dashboard.listen", "--listen", args.listen.as_ref());
                if !args.scrape.is_empty() {
                    flags.add("dashboard.scrape", "--scrape", Some(args.scrape.join(",")));
                }
                if !args.allow_host.is_empty() {
                    let hosts = args.allow_host.join(",");
                    flags.add("dashboard.allowed_hosts", "--allow-host", Some(hosts));
                }
            }
            Command::RandomuserServer(_) => {}
        }
        flags.0
    }
}

/// jemalloc, not the system's malloc: `malloc` and `free` took 15 % of
/// `rtds process`'s CPU. Measured in alternating runs of 200,000 records,
/// a faster allocator cut the CPU per row by 9 to 26 % (mimalloc, at a
/// peak RSS of 62 MB against 57), and jemalloc as much at 52 MB.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    rtds::logging::init();
    // Few blocking threads: more would only compete for the same two or so
    // cores with the clients' own threads.
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
                eprintln!("error: {}", rtds::logging::one_line(&error));
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Loaded { settings, .. } = Settings::load(cli.config.as_deref(), &cli.command.overrides())?;
    match cli.command {
        Command::Config(args) if args.builtin_mapping => {
            let (kafka, cassandra) = (&settings.kafka, &settings.cassandra);
            let spec =
                rtds::mapping::builtin_spec(&kafka.topic, &cassandra.keyspace, &cassandra.table);
            print!("{}", rtds::mapping::as_settings(&spec));
        }
        Command::Config(_) => print!("{}", settings.to_masked_toml()),
        Command::RandomuserServer(args) => server::run(args).await?,
        Command::Process(args) => process_command(&settings, args).await?,
        Command::Users(args) => users_command(&settings, args.show).await?,
        Command::Rows(args) => rows_command(&settings, args.mapping, args.show).await?,
        Command::Mapping(MappingCommand::Suggest(args)) => {
            let settings = settings.clone();
            let text = tokio::task::spawn_blocking(move || {
                rtds::mapping::suggest::from_topic(&settings, args.sample)
            })
            .await??;
            print!("{text}");
        }
        Command::Schema(_) => schema_command(&settings).await?,
        Command::Status(args) => return status_command(&settings, args).await,
        Command::Dlq(DlqCommand::List(args)) => dlq_list_command(&settings, args).await?,
        Command::Dlq(DlqCommand::Replay(args)) => {
            let filter = args.dlq.filter();
            let done =
                rtds::dlq::replay(&settings, &filter, args.dry_run, args.from_beginning).await?;
            print_summary(&done, args.dlq.json)?;
        }
        Command::Dashboard(_) => {
            let server = rtds::dashboard::start(&settings, None, shutdown::on_signal()).await?;
            server.await?;
        }
        Command::Produce(args) => return produce_command(&settings, args).await,
        Command::Run(args) => run_command(&settings, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn process_command(settings: &Settings, args: ProcessArgs) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let _exporter = rtds::metrics::exporter::serve(&settings.metrics, metrics.clone()).await?;
    let options = process::Options {
        idle: args.until_idle,
        ready: None,
        mappings: args.mapping,
    };
    let summary = process::run(settings, options, metrics, shutdown::on_signal()).await?;
    print_summary(&summary, args.json)
}

async fn users_command(settings: &Settings, args: ShowFlags) -> anyhow::Result<()> {
    let store = rtds::cassandra::Store::open_existing(&settings.cassandra).await?;
    if args.count {
        println!("{}", store.count().await?);
        return Ok(());
    }
    let users = store.users(args.limit).await?;
    if args.json {
        for user in &users {
            println!("{}", serde_json::to_string(user)?);
        }
    } else {
        print!("{}", rtds::table::render(&users));
    }
    Ok(())
}

/// `rtds rows --mapping NAME`: a mapping's stored rows (or their count),
/// as a table or as JSON objects like the records they came from.
async fn rows_command(settings: &Settings, name: String, args: ShowFlags) -> anyhow::Result<()> {
    let [mapping] = &rtds::mapping::chosen(&settings.mapping, &[name])?[..] else {
        unreachable!("one name chooses one entry");
    };
    let session = rtds::cassandra::connect(&settings.cassandra).await?;
    if args.count {
        println!(
            "{}",
            rtds::cassandra::count_mapped(&session, mapping).await?
        );
        return Ok(());
    }
    let rows = rtds::cassandra::read_rows(&session, mapping, args.limit).await?;
    let names: Vec<String> = mapping.columns.iter().map(|c| c.name.clone()).collect();
    if args.json {
        for row in &rows {
            let object: serde_json::Map<String, serde_json::Value> = names
                .iter()
                .zip(&row.cells)
                .map(|(name, cell)| {
                    let value = cell.as_ref().map_or(serde_json::Value::Null, json::to_json);
                    (name.clone(), value)
                })
                .collect();
            println!("{}", serde_json::Value::Object(object));
        }
    } else {
        let cells = rows
            .iter()
            .map(|row| {
                row.cells
                    .iter()
                    .map(|cell| json::shown(cell.as_ref()))
                    .collect()
            })
            .collect();
        print!("{}", rtds::table::grid(&names, cells, "rows"));
    }
    Ok(())
}

/// `rtds schema`: the users table, or with `[[mapping]]` entries each
/// mapping's table; the statements run, or that nothing needed one.
async fn schema_command(settings: &Settings) -> anyhow::Result<()> {
    let done = if settings.mapping.is_empty() {
        vec![rtds::cassandra::create_schema(&settings.cassandra).await?]
    } else {
        let mappings = rtds::mapping::chosen(&settings.mapping, &[])?;
        rtds::cassandra::create_mapped_schemas(&settings.cassandra, &mappings).await?
    };
    for (table, ran) in done {
        if ran.is_empty() {
            println!("{table} is ready: nothing to create");
        }
        for statement in ran {
            println!("{statement}");
        }
    }
    Ok(())
}

/// `rtds status`: exit status 1 when a hop is broken.
async fn status_command(settings: &Settings, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let look = rtds::status::look(settings, rtds::status::SAMPLE_ROWS).await;
    let report = rtds::status::Report::of(&look, settings);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn dlq_list_command(settings: &Settings, args: DlqListArgs) -> anyhow::Result<()> {
    let letters = tokio::task::spawn_blocking({
        let (settings, filter) = (settings.clone(), args.dlq.filter());
        move || rtds::dlq::list(&settings, &filter, args.limit)
    })
    .await??;
    if args.dlq.json {
        for letter in &letters {
            println!("{}", serde_json::to_string(letter)?);
        }
    } else {
        print!("{}", rtds::dlq::render(&letters));
    }
    Ok(())
}

/// `rtds produce`: exit status 1 when Kafka did not acknowledge every record.
async fn produce_command(settings: &Settings, args: ProduceCommand) -> anyhow::Result<ExitCode> {
    let metrics = Metrics::new();
    let _exporter = rtds::metrics::exporter::serve(&settings.metrics, metrics.clone()).await?;
    let summary = if args.delete.is_empty() {
        let limit = args.produce.limit(settings);
        produce::run(settings, limit, metrics, shutdown::on_signal()).await?
    } else {
        produce::tombstones(settings, &args.delete, metrics).await?
    };
    print_summary(&summary, args.produce.json)?;
    if summary.delivered_all() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: {} records were not acknowledged by Kafka at {}",
        summary.failed, settings.kafka.bootstrap_servers
    );
    Ok(ExitCode::FAILURE)
}

/// `rtds run`: the dashboard, when asked for, lives as long as the run.
async fn run_command(settings: &Settings, args: RunArgs) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let _exporter = rtds::metrics::exporter::serve(&settings.metrics, metrics.clone()).await?;
    let limit = args.produce.limit(settings);
    let shutdown = shutdown::on_signal();
    let dashboard = match args.dashboard {
        Some(_) => {
            Some(rtds::dashboard::start(settings, Some(metrics.clone()), shutdown.clone()).await?)
        }
        None => None,
    };
    let summary = rtds::run::run(settings, limit, args.now, metrics, shutdown).await;
    if let Some(dashboard) = dashboard {
        dashboard.abort();
    }
    print_summary(&summary?, args.produce.json)
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
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    /// What `rtds ARGS` prints for `--help`.
    fn help(args: &[&str]) -> String {
        let argv = ["rtds"].iter().chain(args).chain(&["--help"]);
        let error = Cli::try_parse_from(argv)
            .err()
            .expect("--help stops parsing");
        assert_eq!(error.kind(), ErrorKind::DisplayHelp);
        error.to_string()
    }

    fn overrides(args: &[&str]) -> Vec<(&'static str, String)> {
        let argv = ["rtds"].iter().chain(args);
        let cli = Cli::try_parse_from(argv).expect("valid flags");
        let flags = cli.command.overrides();
        flags.into_iter().map(|o| (o.key, o.value)).collect()
    }

    const KAFKA: [&str; 2] = ["--bootstrap-servers", "--topic"];
    const CASSANDRA: [&str; 3] = ["--contact-points", "--keyspace", "--table"];
    const METRICS: &str = "--metrics-listen";

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn produce_shows_kafka_flags_and_no_cassandra_flags() {
        let text = help(&["produce"]);
        for flag in KAFKA.into_iter().chain([METRICS, "--source", "--config"]) {
            assert!(text.contains(flag), "{flag} missing from:\n{text}");
        }
        for flag in CASSANDRA {
            assert!(!text.contains(flag), "{flag} in:\n{text}");
        }
    }

    #[test]
    fn the_server_shows_only_its_own_flags() {
        let text = help(&["randomuser-server"]);
        assert!(
            text.contains("--listen") && text.contains("--fail-rate"),
            "{text}"
        );
        for flag in KAFKA.into_iter().chain(CASSANDRA).chain([METRICS]) {
            assert!(!text.contains(flag), "{flag} in:\n{text}");
        }
    }

    #[test]
    fn users_shows_cassandra_flags_and_no_kafka_flags() {
        let text = help(&["users"]);
        for flag in CASSANDRA {
            assert!(text.contains(flag), "{flag} missing from:\n{text}");
        }
        for flag in KAFKA.into_iter().chain([METRICS]) {
            assert!(!text.contains(flag), "{flag} in:\n{text}");
        }
    }

    #[test]
    fn status_and_dashboard_look_at_every_hop() {
        for command in ["status", "dashboard"] {
            let text = help(&[command]);
            for flag in KAFKA
                .into_iter()
                .chain(CASSANDRA)
                .chain(["--source", "--group"])
            {
                assert!(
                    text.contains(flag),
                    "{flag} missing from {command}:\n{text}"
                );
            }
        }
        let keys: Vec<&str> = overrides(&[
            "dashboard",
            "--listen",
            "127.0.0.1:1",
            "--scrape",
            "http://a:1/metrics",
            "--scrape",
            "http://b:2/metrics",
            "--allow-host",
            "dash.example",
        ])
        .into_iter()
        .map(|(key, _)| key)
        .collect();
        assert_eq!(
            keys,
            [
                "dashboard.listen",
                "dashboard.scrape",
                "dashboard.allowed_hosts"
            ]
        );
    }

    #[test]
    fn connection_flags_follow_their_command() {
        assert!(Cli::try_parse_from(["rtds", "--topic", "t", "produce"]).is_err());
        assert!(Cli::try_parse_from(["rtds", "users", "--topic", "t"]).is_err());
        // `--count` is no setting: only the topic overrides one.
        assert_eq!(
            overrides(&["produce", "--topic", "t", "--count", "5"]),
            [("kafka.topic", "t".to_string())]
        );
    }

    #[test]
    fn run_takes_every_connection_flag() {
        let keys: Vec<&str> = overrides(&[
            "run",
            "--bootstrap-servers",
            "k:9092",
            "--contact-points",
            "c:9042",
            "--keyspace",
            "ks",
            "--metrics-listen",
            "127.0.0.1:9100",
            "--schedule",
            "@hourly",
        ])
        .into_iter()
        .map(|(key, _)| key)
        .collect();
        assert_eq!(
            keys,
            [
                "kafka.bootstrap_servers",
                "metrics.listen",
                "cassandra.contact_points",
                "cassandra.keyspace",
                "run.schedule"
            ]
        );
    }

    #[test]
    fn config_shows_the_effect_of_every_connection_flag() {
        let keys: Vec<&str> = overrides(&[
            "--config",
            "/dev/null",
            "config",
            "--topic",
            "t",
            "--table",
            "users",
            "--metrics-listen",
            "127.0.0.1:1",
        ])
        .into_iter()
        .map(|(key, _)| key)
        .collect();
        assert_eq!(keys, ["kafka.topic", "cassandra.table", "metrics.listen"]);
    }
}
