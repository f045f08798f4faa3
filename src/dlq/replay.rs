//! `rtds dlq replay`: the dead letters a filter takes, sent back to the
//! source topic window by window (see the module above for why windows).

use super::*;

/// A window's most records read: how much a failed replay sends again, and
/// so how often it commits (a commit costs a round trip to Kafka).
const WINDOW_RECORDS: usize = 5_000;
/// A window's most bytes read (keys and payloads).
const WINDOW_BYTES: usize = 32 << 20;

/// What a replay did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Replayed {
    pub dry_run: bool,
    /// Dead letters read since the replay group's last run.
    pub read: u64,
    /// Of those, taken by the filter.
    pub matched: u64,
    /// Sent back to the source topic (or would be).
    pub replayed: u64,
    /// Refused: replayed `dlq.max_replays` times already.
    pub over_limit: u64,
    /// Refused: only their first bytes reached the DLQ.
    pub truncated: u64,
    pub group: String,
}

impl std::fmt::Display for Replayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{} of {} dead letters read ({} matched) {} the source topic; refused {} replayed too often, {} truncated (group {})",
            if self.dry_run { "dry run: " } else { "" },
            self.replayed,
            self.read,
            self.matched,
            if self.dry_run {
                "would go back to"
            } else {
                "went back to"
            },
            self.over_limit,
            self.truncated,
            self.group
        )
    }
}

/// Sends the dead letters `filter` takes back to the source topic, keeping
/// their key, payload, headers and time (so a later delete of the same user
/// still wins, see [`crate::cassandra::Store::upsert`]), from where this
/// filter's replay group left off (or the start with `from_beginning`).
/// Streams in windows (see the module's comment); a dry run prints what
/// would go, sends nothing and commits nothing.
pub async fn replay(
    settings: &Settings,
    filter: &Filter,
    dry_run: bool,
    from_beginning: bool,
) -> anyhow::Result<Replayed> {
    let mut own = settings.kafka.clone();
    own.group_id = filter.group(settings);
    let observer = Observer::new(&own)?;
    let found = tokio::task::spawn_blocking({
        let settings = settings.clone();
        move || -> anyhow::Result<_> {
            let dlq = dlq(&observer, &settings)?;
            let from = if from_beginning {
                HashMap::new()
            } else {
                observer.committed(&dlq)?
            };
            Ok((observer, dlq, from))
        }
    });
    let (observer, dlq, from) = found.await.expect("the look does not panic")?;
    let done = Arc::new(Mutex::new(Replayed {
        dry_run,
        group: own.group_id,
        ..Replayed::default()
    }));
    let run = Run {
        filter: filter.clone(),
        max_replays: settings.dlq.max_replays,
        sender: (!dry_run).then(|| Sender::new(settings)).transpose()?,
        window: Window::default(),
        done: done.clone(),
    };
    // A dry run's own lines show how it goes.
    let progress = (!dry_run).then(|| shown(dlq.left(&from), done.clone()));
    let streamed = tokio::task::spawn_blocking(move || run.over(&observer, &dlq, &from))
        .await
        .expect("the replay does not panic");
    if let Some(progress) = progress {
        progress.finish().await;
    }
    streamed?;
    let done = done.lock().expect("replay tally lock").clone();
    Ok(done)
}

/// The replay's progress: a bar on a terminal, else a log line every few
/// seconds.
fn shown(total: u64, done: Arc<Mutex<Replayed>>) -> Progress {
    let started = Instant::now();
    Progress::start("replay", Some(total), move || {
        let done = done.lock().expect("replay tally lock");
        let message = format!(
            "read {} of {total} dead letters, sent {} back, refused {} ({:.0} read/s)",
            done.read,
            done.replayed,
            done.over_limit + done.truncated,
            progress::rate(done.read, started.elapsed())
        );
        (done.read, message)
    })
}

/// What a dead letter becomes in a replay.
enum Verdict {
    /// The filter leaves it out.
    Skipped,
    /// Only its first bytes reached the DLQ: it cannot go back as it was.
    Truncated,
    /// Replayed `dlq.max_replays` times already.
    OverLimit,
    Replayed,
}

/// One replay's pass over the DLQ, on a blocking thread (librdkafka's
/// calls block).
struct Run {
    filter: Filter,
    max_replays: u32,
    /// None in a dry run.
    sender: Option<Sender>,
    window: Window,
    done: Arc<Mutex<Replayed>>,
}

impl Run {
    /// Reads `dlq` from `from` to its end, sends what it takes, and
    /// commits window by window.
    fn over(
        mut self,
        observer: &Observer,
        dlq: &Topic,
        from: &HashMap<i32, i64>,
    ) -> anyhow::Result<()> {
        observer.read(dlq, from, |message| {
            self.take(message)?;
            if self.window.full() {
                self.settle(observer, dlq)?;
            }
            Ok(())
        })?;
        self.settle(observer, dlq)
    }

    /// Decides about one dead letter, sends it back when it goes, and
    /// moves the window past it.
    fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let letter = DeadLetter::from(message);
        let verdict = if !self.filter.takes(&letter) {
            Verdict::Skipped
        } else if letter.truncated {
            Verdict::Truncated
        } else if letter.replays >= self.max_replays {
            Verdict::OverLimit
        } else {
            Verdict::Replayed
        };
        let at = format!("{}/{}", letter.partition, letter.offset);
        match verdict {
            Verdict::Skipped => {}
            Verdict::Truncated => {
                tracing::warn!("not replaying DLQ record {at}: only its first bytes were kept");
            }
            Verdict::OverLimit => tracing::warn!(
                "not replaying DLQ record {at}: replayed {} times already (dlq.max_replays = {}); \
                 it stays bad: look at it with `rtds dlq list`",
                letter.replays,
                self.max_replays
            ),
            Verdict::Replayed => match &mut self.sender {
                Some(sender) => sender.send(message, letter.replays)?,
                None => println!(
                    "would replay {at} ({}) key {}: {}",
                    letter.reason,
                    letter.key.as_deref().unwrap_or("-"),
                    letter.payload
                ),
            },
        }
        self.done.lock().expect("replay tally lock").count(&verdict);
        let bytes = message.payload_len() + message.key_len();
        let held = self.filter.may_take_later(&letter);
        self.window
            .past(letter.partition, letter.offset, bytes, held);
        Ok(())
    }

    /// Ends the window: once Kafka has every record it sent, commits its
    /// next offsets. A dry run commits nothing.
    fn settle(&mut self, observer: &Observer, dlq: &Topic) -> anyhow::Result<()> {
        let next = self.window.close();
        let Some(sender) = &mut self.sender else {
            return Ok(());
        };
        sender.acknowledged()?;
        if next.is_empty() {
            return Ok(());
        }
        observer.commit(dlq, &next).context(
            "every record of the window was sent back, but its place was not kept: running \
             the replay again sends that window again (harmless: writes are upserts by id)",
        )
    }
}

/// The records read since the last commit: how many, their bytes, and the
/// next offset of each partition, the place to commit once Kafka has
/// every record the window sent.
#[derive(Debug, Default)]
struct Window {
    records: usize,
    bytes: usize,
    next: HashMap<i32, i64>,
    /// Partitions whose place stays before a record a later run of the
    /// same replay may take (see [`Filter::may_take_later`]), for the rest
    /// of this run.
    held: HashSet<i32>,
}

impl Window {
    fn past(&mut self, partition: i32, offset: i64, bytes: usize, hold: bool) {
        self.records += 1;
        self.bytes += bytes;
        if hold {
            self.held.insert(partition);
        }
        if !self.held.contains(&partition) {
            self.next.insert(partition, offset + 1);
        }
    }

    fn full(&self) -> bool {
        self.records >= WINDOW_RECORDS || self.bytes >= WINDOW_BYTES
    }

    /// Starts the next window; the closed one's next offsets.
    fn close(&mut self) -> HashMap<i32, i64> {
        self.records = 0;
        self.bytes = 0;
        std::mem::take(&mut self.next)
    }
}

/// Sends replayed records through the producer's bounded queue: when it is
/// full, waits for the oldest send before the next.
struct Sender {
    producer: FutureProducer,
    topic: String,
    /// How long a send may wait for room in the queue.
    timeout: Duration,
    pending: Pending,
}

impl Sender {
    fn new(settings: &Settings) -> anyhow::Result<Sender> {
        let producer = kafka::client_config(&settings.kafka, Role::Producer)?
            .create()
            .context("cannot create the Kafka producer (check the kafka.* settings)")?;
        Ok(Sender {
            producer,
            topic: settings.kafka.topic.clone(),
            timeout: kafka::delivery_timeout(&settings.kafka),
            pending: Pending {
                sent: VecDeque::new(),
                kafka: settings.kafka.clone(),
            },
        })
    }

    /// Queues `message` as it was first produced: its key, payload, own
    /// headers (see [`wire::restored`]) and first time.
    fn send(&mut self, message: &BorrowedMessage<'_>, replays: u32) -> anyhow::Result<()> {
        let headers = wire::restored(message.headers(), replays);
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(ms) = wire::ours(message.headers(), wire::SOURCE_TIMESTAMP)
            .and_then(|ms| ms.parse().ok())
            .or(message.timestamp().to_millis())
        {
            record = record.timestamp(ms);
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.pending.sent.push_back(delivery);
                    return Ok(());
                }
                Err((error, returned))
                    if error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
                        && Instant::now() < deadline =>
                {
                    if self.pending.sent.is_empty() {
                        // librdkafka counts a record in its queue until just
                        // after its delivery report: a moment.
                        std::thread::sleep(Duration::from_millis(5));
                    } else {
                        self.pending.oldest_acknowledged()?;
                    }
                    record = returned;
                }
                Err((error, _)) => return Err(refused(&self.pending.kafka, &error)),
            }
        }
    }

    /// Waits until Kafka has every record sent so far.
    fn acknowledged(&mut self) -> anyhow::Result<()> {
        while !self.pending.sent.is_empty() {
            self.pending.oldest_acknowledged()?;
        }
        Ok(())
    }
}

/// Sends Kafka has not acknowledged yet, oldest first, to the topic of
/// `kafka`.
struct Pending {
    sent: VecDeque<DeliveryFuture>,
    kafka: KafkaSettings,
}

impl Pending {
    /// Waits for the oldest send; an error when Kafka refused it.
    fn oldest_acknowledged(&mut self) -> anyhow::Result<()> {
        let topic = &self.kafka.topic;
        let Some(oldest) = self.sent.pop_front() else {
            return Ok(());
        };
        match futures::executor::block_on(oldest) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((error, _))) => Err(refused(&self.kafka, &error)),
            Err(_) => bail!(
                "the Kafka producer stopped before it said whether {topic} has a replayed \
                 record; run the replay again: it sends the records since its last commit \
                 again (harmless: writes are upserts by id)"
            ),
        }
    }
}

/// Why Kafka did not take a replayed record: a refusal by its ACLs names
/// the grant that is missing (see [`kafka::refused_by_acls`]).
fn refused(kafka: &KafkaSettings, error: &KafkaError) -> anyhow::Error {
    let topic = &kafka.topic;
    let need = Need::Write { topic };
    if let Some(refused) = error
        .rdkafka_error_code()
        .and_then(|code| kafka::refused_by_acls(kafka, code, need))
    {
        return refused
            .context("the records since the replay's last commit were not marked replayed");
    }
    anyhow::anyhow!(
        "Kafka did not take a replayed record into {topic}: {error}; the records since the \
         replay's last commit were not marked replayed, so running it again sends them \
         again (harmless: writes are upserts by id)"
    )
}

impl Replayed {
    fn count(&mut self, verdict: &Verdict) {
        self.read += 1;
        let counter = match verdict {
            Verdict::Skipped => return,
            Verdict::Truncated => &mut self.truncated,
            Verdict::OverLimit => &mut self.over_limit,
            Verdict::Replayed => &mut self.replayed,
        };
        self.matched += 1;
        *counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_commits_up_to_its_last_record_but_not_past_a_held_one() {
        let mut window = Window::default();
        window.past(0, 5, 10, false);
        window.past(1, 8, 10, false);
        window.past(0, 6, 10, true);
        window.past(0, 7, 10, false);
        assert_eq!(window.close(), HashMap::from([(0, 6), (1, 9)]));
        window.past(0, 8, 10, false);
        window.past(1, 9, WINDOW_BYTES, false);
        assert!(window.full());
        assert_eq!(window.close(), HashMap::from([(1, 10)]));
        assert!(!window.full());
    }
}
