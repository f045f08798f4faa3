//! The nemesis: records flow while faults come at random, then a checker
//! compares the table with the topic.
//!
//! A workload writes new users, updates of earlier ids (some two in one
//! millisecond), tombstones and invalid records into a topic of 6
//! partitions, while two `rtds process` share it in one group. A nemesis,
//! driven by a seeded random generator, kills processors (SIGKILL) and
//! stops them (SIGTERM), starts a third and stops it later (rebalances),
//! freezes Cassandra, kills the broker or Cassandra and starts them again,
//! and slows Cassandra with a competing writer; several of these overlap.
//! Then everything is healed, the processors drain, and the checker reads
//! the topic from the start: per id, the last record in partition order
//! says what the table must hold (that user, or no row after a delete), and
//! every invalid record must be in the DLQ.
//!
//! `RTDS_NEMESIS_SEED` replays a run (the seed is printed at the start),
//! `RTDS_NEMESIS_MINUTES` sets its length (3 by default, the CI run), and
//! `RTDS_NEMESIS_CLUSTER=1` plays it on the local cluster: topics and the
//! keyspace with 3 replicas, the faults hitting one broker or one Cassandra
//! node at a time. `scripts/nemesis` runs it by hand. The timeline and the checker's report
//! are written to `target/nemesis/<topic>/`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rtds::user::User;

const PARTITIONS: i32 = 6;
/// How long the processors have to commit the whole topic once healed.
const DRAIN_WITHIN: Duration = Duration::from_secs(600);
/// Records the workload sends per second, about.
const RATE: u64 = 400;

#[test]
fn the_table_equals_the_topic_after_random_faults() {
    let site = match std::env::var("RTDS_NEMESIS_CLUSTER").as_deref() {
        Ok("1") => Site::Cluster,
        _ => Site::Local,
    };
    let _stack = exclusive_on(site);
    let seed = std::env::var("RTDS_NEMESIS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    let minutes: f64 = std::env::var("RTDS_NEMESIS_MINUTES")
        .ok()
        .and_then(|minutes| minutes.parse().ok())
        .unwrap_or(3.0);
    let (topic, keyspace) = (unique("nemesis"), unique("ks"));
    let timeline = Timeline::new(&topic);
    timeline.note(&format!(
        "seed {seed}, {minutes} minutes, {site:?}, topic {topic}, keyspace {keyspace}"
    ));
    create_topic_on(site, &topic, PARTITIONS, &[]);

    let stop = Arc::new(AtomicBool::new(false));
    let workload = std::thread::spawn({
        let (topic, stop) = (topic.clone(), stop.clone());
        move || Workload::new(seed).run(site, &topic, &stop)
    });
    let mut fleet = Fleet::new(site, &topic, &keyspace, &timeline);
    let faults = Nemesis::new(seed, site, &timeline)
        .run(&mut fleet, Duration::from_secs_f64(minutes * 60.0));
    stop.store(true, Ordering::SeqCst);
    let sent = workload.join().expect("the workload does not panic");
    timeline.note(&format!("workload stopped: {sent:?}"));

    fleet.drain();
    let report = check(site, &topic, &keyspace);
    timeline.note(&format!("faults injected: {faults:?}"));
    timeline.report(&report);
    assert!(
        report.differences.is_empty(),
        "seed {seed}: {} differences between the table and the topic (see {}):\n{}",
        report.differences.len(),
        timeline.dir.display(),
        report
            .differences
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// What happened when, written as it happens to `timeline.txt` and printed.
struct Timeline {
    dir: PathBuf,
    file: Mutex<std::fs::File>,
    started: Instant,
}

impl Timeline {
    fn new(topic: &str) -> Timeline {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("nemesis")
            .join(topic);
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join("timeline.txt")).unwrap();
        Timeline {
            dir,
            file: Mutex::new(file),
            started: Instant::now(),
        }
    }

    fn note(&self, what: &str) {
        let line = format!("[{:7.1} s] {what}", self.started.elapsed().as_secs_f64());
        println!("{line}");
        let _ = writeln!(self.file.lock().unwrap(), "{line}");
    }

    /// Writes the checker's report next to the timeline, and prints its
    /// counts.
    fn report(&self, report: &Report) {
        let mut text = format!("{:#?}\n", report.counts);
        for difference in &report.differences {
            text.push_str(difference);
            text.push('\n');
        }
        std::fs::write(self.dir.join("report.txt"), &text).unwrap();
        self.note(&format!(
            "checker: {:?}, {} differences",
            report.counts,
            report.differences.len()
        ));
    }
}

/// What the workload sent, by kind.
#[derive(Debug, Default)]
struct Sent {
    new: u64,
    updates: u64,
    same_millisecond: u64,
    deletes: u64,
    invalid: u64,
    failed: u64,
}

/// The records: a seeded mix of new users, updates of earlier ids, deletes
/// and invalid records, each keyed by its id so that one id stays in one
/// partition, in order.
struct Workload {
    rng: StdRng,
    ids: Vec<uuid::Uuid>,
    sent: Sent,
}

impl Workload {
    fn new(seed: u64) -> Workload {
        Workload {
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            ids: Vec::new(),
            sent: Sent::default(),
        }
    }

    /// Sends about [`RATE`] records a second until `stop`, then waits for
    /// every acknowledgement. The producer is idempotent and waits out a
    /// broker outage: what reached the topic is what the checker reads.
    fn run(mut self, site: Site, topic: &str, stop: &AtomicBool) -> Sent {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", site.kafka())
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "300000")
            .create()
            .unwrap();
        let tick = Duration::from_millis(50);
        while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            for _ in 0..RATE / 20 {
                self.one(&producer, topic);
            }
            producer.poll(tick.saturating_sub(started.elapsed()));
        }
        if producer.flush(Duration::from_secs(300)).is_err() {
            self.sent.failed += producer.in_flight_count() as u64;
        }
        self.sent
    }

    /// Sends one record, or two updates of one id in one millisecond.
    fn one(&mut self, producer: &BaseProducer, topic: &str) {
        let roll = self.rng.random_range(0..100);
        let known = !self.ids.is_empty();
        match roll {
            0..60 => {
                let id = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
                self.ids.push(id);
                self.sent.new += 1;
                send(producer, topic, id, Some(self.user(id)), None);
            }
            60..75 if known => {
                let id = self.ids[self.rng.random_range(0..self.ids.len())];
                self.sent.updates += 1;
                send(producer, topic, id, Some(self.user(id)), None);
            }
            75..82 if known => {
                let id = self.ids[self.rng.random_range(0..self.ids.len())];
                let now = Some(chrono::Utc::now().timestamp_millis());
                self.sent.same_millisecond += 2;
                send(producer, topic, id, Some(self.user(id)), now);
                send(producer, topic, id, Some(self.user(id)), now);
            }
            82..95 if known => {
                let id = self.ids[self.rng.random_range(0..self.ids.len())];
                self.sent.deletes += 1;
                send(producer, topic, id, None, None);
            }
            _ => {
                let id = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
                self.sent.invalid += 1;
                let payload = format!(r#"{{"id":"{id}","first_name":"#).into_bytes();
                send(producer, topic, id, Some(payload), None);
            }
        }
    }

    /// A valid user of `id` with random values.
    fn user(&mut self, id: uuid::Uuid) -> Vec<u8> {
        let n: u32 = self.rng.random();
        format!(
            r#"{{"id":"{id}","first_name":"F{n}","last_name":"L{n}","gender":"female","address":"{n} Street","post_code":"{n}","email":"u{n}@example.com","username":"u{n}","dob":"1990-01-01T00:00:00.000Z","registered_date":"2015-01-01T00:00:00.000Z","phone":"{n}","picture":"https://randomuser.me/api/portraits/med/women/1.jpg"}}"#
        )
        .into_bytes()
    }
}

/// Queues one record keyed by `id` (a tombstone without `payload`), waiting
/// for room in the producer's queue.
fn send(
    producer: &BaseProducer,
    topic: &str,
    id: uuid::Uuid,
    payload: Option<Vec<u8>>,
    timestamp: Option<i64>,
) {
    let key = id.to_string();
    let mut record = BaseRecord::<String, Vec<u8>>::to(topic).key(&key);
    if let Some(payload) = &payload {
        record = record.payload(payload);
    }
    if let Some(ms) = timestamp {
        record = record.timestamp(ms);
    }
    while let Err((_, returned)) = producer.send(record) {
        producer.poll(Duration::from_millis(10));
        record = returned;
    }
}

/// The processors of the run, in one group, each with /metrics on a port
/// of its own; restarted when one exits, as a service manager would.
struct Fleet<'a> {
    site: Site,
    topic: String,
    keyspace: String,
    members: Vec<Followed>,
    timeline: &'a Timeline,
}

impl<'a> Fleet<'a> {
    fn new(site: Site, topic: &str, keyspace: &str, timeline: &'a Timeline) -> Fleet<'a> {
        let mut fleet = Fleet {
            site,
            topic: topic.into(),
            keyspace: keyspace.into(),
            members: Vec::new(),
            timeline,
        };
        for _ in 0..2 {
            let member = fleet.spawn();
            fleet.members.push(member);
        }
        fleet
    }

    fn spawn(&self) -> Followed {
        let port = free_port().to_string();
        let command = process_command_on(
            self.site,
            &self.topic,
            &self.keyspace,
            &["--metrics-listen", &format!("127.0.0.1:{port}")],
        );
        let member = Followed::spawn(command);
        self.timeline
            .note(&format!("processor {} started", member.pid()));
        member
    }

    /// Restarts the members that exited, noting how they ended.
    fn supervise(&mut self) {
        for at in 0..self.members.len() {
            if self.members[at].exited() {
                let fresh = self.spawn();
                let gone = std::mem::replace(&mut self.members[at], fresh);
                self.ended(gone, "exited by itself");
            }
        }
    }

    /// Writes the logs of the members still running next to the timeline.
    fn keep_logs(&self) {
        for member in &self.members {
            let file = self
                .timeline
                .dir
                .join(format!("processor-{}.log", member.pid()));
            std::fs::write(file, member.logged()).unwrap();
        }
    }

    /// Notes how `member` ended and keeps its log next to the timeline.
    fn ended(&self, member: Followed, how: &str) -> std::process::ExitStatus {
        let pid = member.pid();
        let output = member.wait();
        let log = String::from_utf8_lossy(&output.stderr);
        let file = self.timeline.dir.join(format!("processor-{pid}.log"));
        std::fs::write(file, log.as_bytes()).unwrap();
        let last = log.lines().rev().find(|line| !line.trim().is_empty());
        self.timeline.note(&format!(
            "processor {pid} {how}: {}, last said: {}",
            output.status,
            last.unwrap_or("-")
        ));
        output.status
    }

    /// Sends `signal` to member `at` and replaces it with a fresh one.
    fn replace(&mut self, at: usize, signal: &str) {
        let fresh = self.spawn();
        let gone = std::mem::replace(&mut self.members[at], fresh);
        self.stop(gone, signal);
    }

    /// Sends `signal` to `member` and waits for its exit.
    fn stop(&self, member: Followed, signal: &str) -> std::process::ExitStatus {
        let sent = Instant::now();
        send_signal(signal, &member.pid());
        let member = wait_exit(member, Duration::from_secs(90));
        let took = sent.elapsed().as_secs_f64();
        self.ended(member, &format!("got {signal}, exited {took:.1} s later"))
    }

    /// Waits until the group has committed every record of the topic, then
    /// stops every member with SIGTERM: each must exit cleanly.
    fn drain(mut self) {
        self.supervise();
        let group = format!("{}-group", self.topic);
        let started = Instant::now();
        loop {
            self.supervise();
            let lags = group_lag(self.site, &self.topic, &group);
            if lags
                .as_ref()
                .is_some_and(|lags| lags.values().all(|&lag| lag == 0))
            {
                break;
            }
            if started.elapsed() > DRAIN_WITHIN {
                self.keep_logs();
                panic!(
                    "the group has not committed the whole topic after {DRAIN_WITHIN:?}: \
                     lag by partition {lags:?} (timeline and logs in {})",
                    self.timeline.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.timeline
            .note("drained: the group committed the whole topic");
        for member in std::mem::take(&mut self.members) {
            let status = self.stop(member, "-TERM");
            assert!(
                status.success(),
                "a processor stopped at the end with {status}"
            );
        }
    }
}

/// Waits for `member` to exit, failing the test after `within`.
fn wait_exit(mut member: Followed, within: Duration) -> Followed {
    wait_until("a processor to exit", within, || member.exited());
    member
}

/// The faults, by name, and how many of each the run injected.
type Faults = BTreeMap<&'static str, u32>;

/// The faults that last a while, and when each ends.
#[derive(Default)]
struct Ongoing {
    frozen: Option<(Frozen, Instant)>,
    slowed: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>, Instant)>,
    extra: Option<(Followed, Instant)>,
}

/// Picks faults at random, with a seeded generator, and injects them.
struct Nemesis<'a> {
    rng: StdRng,
    site: Site,
    timeline: &'a Timeline,
    ongoing: Ongoing,
    faults: Faults,
}

impl<'a> Nemesis<'a> {
    fn new(seed: u64, site: Site, timeline: &'a Timeline) -> Nemesis<'a> {
        Nemesis {
            rng: StdRng::seed_from_u64(seed),
            site,
            timeline,
            ongoing: Ongoing::default(),
            faults: Faults::new(),
        }
    }

    /// Injects faults for `length`, then heals everything.
    fn run(mut self, fleet: &mut Fleet, length: Duration) -> Faults {
        let started = Instant::now();
        let mut next = Instant::now() + Duration::from_secs(5);
        while started.elapsed() < length {
            std::thread::sleep(Duration::from_millis(250));
            self.end_what_is_over(fleet, false);
            fleet.supervise();
            if Instant::now() >= next {
                self.inject(fleet);
                next = Instant::now() + Duration::from_millis(self.rng.random_range(2_000..12_000));
            }
        }
        self.end_what_is_over(fleet, true);
        self.site.up();
        self.timeline
            .note("healed: the stack is up, nothing frozen or slowed");
        self.faults
    }

    fn inject(&mut self, fleet: &mut Fleet) {
        let service_busy = self.ongoing.frozen.is_some();
        let fault = match self.rng.random_range(0..8) {
            0 | 1 => "kill a processor",
            2 => "stop a processor",
            3 if self.ongoing.extra.is_none() => "start an extra processor",
            4 if !service_busy => "freeze cassandra",
            5 if !service_busy => "kill the broker",
            6 if !service_busy => "kill cassandra",
            7 if self.ongoing.slowed.is_none() => "slow cassandra",
            _ => return,
        };
        *self.faults.entry(fault).or_default() += 1;
        self.timeline.note(fault);
        let lasting = Duration::from_millis(self.rng.random_range(5_000..40_000));
        match fault {
            "kill a processor" | "stop a processor" => {
                let at = self.rng.random_range(0..fleet.members.len());
                let signal = if fault == "kill a processor" {
                    "-KILL"
                } else {
                    "-TERM"
                };
                fleet.replace(at, signal);
            }
            "start an extra processor" => {
                self.ongoing.extra = Some((fleet.spawn(), Instant::now() + lasting));
            }
            "freeze cassandra" => {
                let node = self.node("cassandra");
                self.ongoing.frozen =
                    Some((Frozen::on(self.site, &node), Instant::now() + lasting));
            }
            "kill the broker" | "kill cassandra" => {
                let service = self.node(if fault == "kill the broker" {
                    "kafka"
                } else {
                    "cassandra"
                });
                let killed = Killed::on(self.site, &service);
                std::thread::sleep(Duration::from_millis(self.rng.random_range(0..5_000)));
                killed.restart();
                self.timeline.note(&format!("{service} is back"));
            }
            _ => self.ongoing.slowed = Some(slow_cassandra(self.site, Instant::now() + lasting)),
        }
    }

    /// A service of `kind` to hit: the one, or a node of the cluster at
    /// random; the timeline says which.
    fn node(&mut self, kind: &str) -> String {
        let services = self.site.services(kind);
        let service = services[self.rng.random_range(0..services.len())].clone();
        self.timeline.note(&format!("  on {service}"));
        service
    }

    /// Ends the lasting faults whose time is over, or all of them.
    fn end_what_is_over(&mut self, fleet: &Fleet, all: bool) {
        let over = |until: &Instant| all || Instant::now() >= *until;
        if self
            .ongoing
            .frozen
            .as_ref()
            .is_some_and(|(_, until)| over(until))
        {
            self.ongoing.frozen = None;
            self.timeline.note("cassandra thawed");
        }
        if self
            .ongoing
            .slowed
            .as_ref()
            .is_some_and(|(_, _, until)| over(until))
        {
            let (stop, writer, _) = self.ongoing.slowed.take().unwrap();
            stop.store(true, Ordering::SeqCst);
            writer.join().unwrap();
            self.timeline.note("the competing writer stopped");
        }
        if self
            .ongoing
            .extra
            .as_ref()
            .is_some_and(|(_, until)| over(until))
        {
            let (extra, _) = self.ongoing.extra.take().unwrap();
            fleet.stop(extra, "-TERM");
        }
    }
}

/// A competing writer: many concurrent inserts into a table of its own,
/// until its flag is set.
fn slow_cassandra(
    site: Site,
    until: Instant,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>, Instant) {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(compete(site, &stop));
        }
    });
    (stop, writer, until)
}

async fn compete(site: Site, stop: &AtomicBool) {
    let Some((session, table)) = load_table(site, stop).await else {
        return;
    };
    let insert = format!("INSERT INTO {table} (id, v) VALUES (?, ?)");
    let value = "x".repeat(2_000);
    while !stop.load(Ordering::SeqCst) {
        let writes = (0..64).map(|_| {
            session.query_unpaged(insert.as_str(), (uuid::Uuid::new_v4(), value.as_str()))
        });
        // Errors are expected while another fault holds the node.
        let _ = futures::future::join_all(writes).await;
    }
}

/// A session and a table of the competing writer's own, once Cassandra
/// answers (another fault may hold it now); none when stopped first.
async fn load_table(
    site: Site,
    stop: &AtomicBool,
) -> Option<(scylla::client::session::Session, String)> {
    let keyspace = unique("nemesis_load");
    let table = format!("{keyspace}.load");
    let statements = [
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': {}}}",
            site.replicas()
        ),
        format!("CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY, v text)"),
    ];
    while !stop.load(Ordering::SeqCst) {
        let builder =
            scylla::client::session_builder::SessionBuilder::new().known_node(site.cassandra());
        if let Ok(session) = builder.build().await {
            let mut ready = true;
            for statement in &statements {
                ready = ready && session.query_unpaged(statement.as_str(), ()).await.is_ok();
            }
            if ready {
                return Some((session, table));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    None
}

/// What the checker found: counts, and every difference in words.
struct Report {
    counts: BTreeMap<&'static str, usize>,
    differences: Vec<String>,
}

/// Reads the topic from the start and the whole table, and compares: per
/// id, the last record in partition order is the row (or no row, after a
/// tombstone); every invalid record is in the DLQ (at least once: a crash
/// between a dead letter and its commit sends it again), and nothing else.
fn check(site: Site, topic: &str, keyspace: &str) -> Report {
    let size = topic_size_on(site, topic) as usize;
    let mut records = read_topic_on(site, topic, size);
    let mut differences = Vec::new();
    if records.len() != size {
        differences.push(format!(
            "read {} records of the {size} in the topic",
            records.len()
        ));
    }
    records.sort_by_key(|m| (m.partition(), m.offset()));
    let (last, invalid) = final_states(&records);
    let rows = stored_rows_on(site, topic, keyspace);
    compare_rows(&last, &rows, &mut differences);
    let dead = dead_letters(site, topic);
    let distinct: HashSet<(i32, i64)> = dead.iter().copied().collect();
    for missing in invalid.difference(&distinct) {
        differences.push(format!("invalid record {missing:?} is not in the DLQ"));
    }
    for extra in distinct.difference(&invalid) {
        differences.push(format!(
            "DLQ holds {extra:?}, which is not an invalid record"
        ));
    }
    let counts = BTreeMap::from([
        ("records", records.len()),
        ("ids", last.len()),
        (
            "rows expected",
            last.values().filter(|user| user.is_some()).count(),
        ),
        ("rows stored", rows.len()),
        ("invalid", invalid.len()),
        ("dead letters", dead.len()),
        ("dead letters sent again", dead.len() - distinct.len()),
    ]);
    Report {
        counts,
        differences,
    }
}

/// Per id, the row its last record makes; none after a tombstone.
type Expected = HashMap<uuid::Uuid, Option<User>>;
/// Records by partition and offset.
type Places = HashSet<(i32, i64)>;

/// Per id, what its last record says the row is (none after a tombstone);
/// and where the invalid records are.
fn final_states(records: &[OwnedMessage]) -> (Expected, Places) {
    let (mut last, mut invalid) = (HashMap::new(), HashSet::new());
    for record in records {
        let key = std::str::from_utf8(record.key().expect("keyed")).unwrap();
        let id: uuid::Uuid = key.parse().unwrap();
        match record.payload() {
            None => {
                last.insert(id, None);
            }
            Some(payload) => match User::parse(payload, 1 << 20) {
                Ok(user) => {
                    last.insert(id, Some(user));
                }
                Err(_) => {
                    invalid.insert((record.partition(), record.offset()));
                }
            },
        }
    }
    (last, invalid)
}

fn compare_rows(last: &Expected, rows: &HashMap<uuid::Uuid, User>, differences: &mut Vec<String>) {
    for (id, expected) in last {
        match (expected, rows.get(id)) {
            (Some(user), Some(row)) if user != row => {
                differences.push(format!(
                    "{id}: the row is {row:?}, the last record {user:?}"
                ));
            }
            (Some(_), None) => {
                differences.push(format!("{id}: no row, though its last record is a user"))
            }
            (None, Some(row)) => {
                differences.push(format!("{id}: deleted last, but the row is there: {row:?}"))
            }
            _ => {}
        }
    }
    for id in rows.keys().filter(|id| !last.contains_key(id)) {
        differences.push(format!("{id}: a row no record made"));
    }
}

/// The source partition and offset of every dead letter of `topic`.
fn dead_letters(site: Site, topic: &str) -> Vec<(i32, i64)> {
    use rdkafka::message::Headers;
    let dlq = format!("{topic}.dlq");
    let size = topic_size_on(site, &dlq) as usize;
    read_topic_on(site, &dlq, size)
        .iter()
        .map(|letter| {
            let header = |name: &str| {
                let headers = letter.headers().expect("a dead letter has headers");
                let found = headers.iter().filter(|h| h.key == name).last();
                let value = found.and_then(|h| h.value).expect("the header is there");
                String::from_utf8_lossy(value).parse().unwrap()
            };
            let partition: i64 = header(rtds::dlq::wire::SOURCE_PARTITION);
            (partition as i32, header(rtds::dlq::wire::SOURCE_OFFSET))
        })
        .collect()
}
