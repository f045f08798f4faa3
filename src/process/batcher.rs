//! Groups the upserts of records in flight into batches: one open batch per
//! replica set, sent when it is full (rows or bytes, see
//! [`crate::cassandra::BatchLimits`]), when its first row has waited
//! `linger`, or at once when the node is idle and no more rows are waiting
//! to join it: a low rate is not held back for rows that do not come.
//!
//! Each record's task hands its user over with [`Batcher::write`] and waits
//! for the batch's outcome: true once written, false when the job stops
//! first. The record's commit point moves only then, so an offset is never
//! committed before every row of its batch is written.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::tables::Row;
use crate::cassandra::{BatchLimits, Replicas};

/// A batch's rows go to one table, and have the same replicas.
type Bucket = (usize, Replicas);

/// One row waiting in a batch, and the task waiting on it.
pub struct Queued {
    pub row: Row,
    /// The write time, microseconds.
    pub at: i64,
    done: oneshot::Sender<bool>,
}

impl Queued {
    /// Tells the record's task whether its row was written.
    pub fn finish(self, written: bool) {
        let _ = self.done.send(written);
    }
}

/// The handle records' tasks write through.
pub struct Batcher {
    queue: mpsc::UnboundedSender<(Bucket, Queued)>,
}

impl Batcher {
    /// Starts the task that groups rows and calls `send` with each batch;
    /// `send` must finish every row of it.
    ///
    /// `idle` tells when the writes in flight leave the node room: then a
    /// batch is sent as soon as no more rows are waiting to join it, rather
    /// than after `linger`, so a low rate is not held back at all.
    pub fn start(
        limits: BatchLimits,
        linger: Duration,
        idle: impl Fn() -> bool + Send + 'static,
        send: impl Fn(Vec<Queued>) + Send + 'static,
    ) -> (Batcher, tokio::task::JoinHandle<()>) {
        let (queue, mut arrivals) = mpsc::unbounded_channel::<(Bucket, Queued)>();
        let task = tokio::spawn(async move {
            let mut open = Open::new(limits, linger);
            loop {
                let due = open.next_due();
                tokio::select! {
                    arrived = arrivals.recv() => match arrived {
                        Some((bucket, row)) => {
                            open.add(bucket, row, &send);
                            if arrivals.is_empty() && idle() {
                                // Every open batch, however short its wait.
                                open.send_due(Instant::now() + linger, &send);
                            }
                        }
                        None => break,
                    },
                    _ = sleep_until(due) => open.send_due(Instant::now(), &send),
                }
            }
            open.send_due(Instant::now() + linger, &send);
        });
        (Batcher { queue }, task)
    }

    /// Puts the upsert into a batch of rows of its table with the same
    /// replicas and waits until that batch is written (true) or the job
    /// stops (false).
    pub async fn write(&self, replicas: Replicas, row: Row, at: i64) -> bool {
        let (done, outcome) = oneshot::channel();
        let bucket = (row.table(), replicas);
        let queued = Queued { row, at, done };
        if self.queue.send((bucket, queued)).is_err() {
            return false;
        }
        outcome.await.unwrap_or(false)
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The batches being filled, one per table and replica set.
struct Open {
    limits: BatchLimits,
    linger: Duration,
    filling: HashMap<Bucket, Filling>,
}

struct Filling {
    rows: Vec<Queued>,
    bytes: usize,
    /// When its first row came: it is sent `linger` later at the latest.
    since: Instant,
}

impl Open {
    fn new(limits: BatchLimits, linger: Duration) -> Open {
        Open {
            limits,
            linger,
            filling: HashMap::new(),
        }
    }

    /// Adds a row to its replicas' batch, sending the batch first when the
    /// row would take it past the byte limit, and after when it is full.
    fn add(&mut self, bucket: Bucket, row: Queued, send: &impl Fn(Vec<Queued>)) {
        let bytes = row.row.bytes();
        let limits = self.limits;
        let filling = self.filling.entry(bucket).or_insert_with(|| Filling {
            rows: Vec::with_capacity(limits.rows),
            bytes: 0,
            since: Instant::now(),
        });
        if !filling.rows.is_empty() && filling.bytes + bytes > limits.bytes {
            send(std::mem::replace(
                &mut filling.rows,
                Vec::with_capacity(limits.rows),
            ));
            filling.bytes = 0;
        }
        if filling.rows.is_empty() {
            filling.since = Instant::now();
        }
        filling.rows.push(row);
        filling.bytes += bytes;
        if filling.rows.len() >= limits.rows {
            send(std::mem::replace(
                &mut filling.rows,
                Vec::with_capacity(limits.rows),
            ));
            filling.bytes = 0;
        }
    }

    /// When the oldest batch that holds rows is due.
    fn next_due(&self) -> Option<Instant> {
        self.filling
            .values()
            .filter(|f| !f.rows.is_empty())
            .map(|f| f.since + self.linger)
            .min()
    }

    /// Sends every batch that has waited `linger` by `now`.
    fn send_due(&mut self, now: Instant, send: &impl Fn(Vec<Queued>)) {
        for filling in self.filling.values_mut() {
            if !filling.rows.is_empty() && filling.since + self.linger <= now {
                send(std::mem::take(&mut filling.rows));
                filling.bytes = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::cassandra::row_bytes;
    use crate::user::User;

    fn users(n: usize) -> Vec<User> {
        let generator = crate::source::builtin::Generator::new("batcher", None).unwrap();
        generator.users(1, n).map(User::from_api).collect()
    }

    fn queued(user: User) -> (Queued, oneshot::Receiver<bool>) {
        let (done, outcome) = oneshot::channel();
        let row = Row::User(Box::new(user));
        (Queued { row, at: 1, done }, outcome)
    }

    #[tokio::test(start_paused = true)]
    async fn rows_with_the_same_replicas_share_a_batch_up_to_the_limits() {
        let limits = BatchLimits {
            rows: 3,
            bytes: usize::MAX,
        };
        let sent = Mutex::new(Vec::new());
        let send = |batch: Vec<Queued>| sent.lock().unwrap().push(batch);
        let mut open = Open::new(limits, Duration::from_millis(2));
        let (a, b) = (Replicas::default(), Replicas::from(vec![uuid::Uuid::nil()]));
        for (i, user) in users(7).into_iter().enumerate() {
            let replicas = if i % 2 == 0 { a.clone() } else { b.clone() };
            open.add((0, replicas), queued(user).0, &send);
        }
        // Rows 0, 2, 4 filled one batch; 1, 3, 5 the other; 6 waits.
        let sizes: Vec<usize> = sent.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3]);
        assert!(open.next_due().is_some());
        open.send_due(Instant::now(), &send);
        assert_eq!(sent.lock().unwrap().len(), 2, "sent before its linger");
        tokio::time::advance(Duration::from_millis(2)).await;
        open.send_due(Instant::now(), &send);
        assert_eq!(sent.lock().unwrap().last().unwrap().len(), 1);
        assert_eq!(open.next_due(), None);
    }

    #[tokio::test]
    async fn a_batch_never_holds_more_bytes_than_the_limit() {
        let users = users(20);
        let largest = users.iter().map(row_bytes).max().unwrap();
        let limits = BatchLimits {
            rows: 20,
            bytes: largest * 3,
        };
        let sent = Mutex::new(Vec::new());
        let send = |batch: Vec<Queued>| sent.lock().unwrap().push(batch);
        let mut open = Open::new(limits, Duration::ZERO);
        for user in users {
            open.add((0, Replicas::default()), queued(user).0, &send);
        }
        open.send_due(Instant::now(), &send);
        let sent = sent.into_inner().unwrap();
        assert_eq!(sent.iter().map(Vec::len).sum::<usize>(), 20);
        assert!(sent.len() >= 7, "{} batches", sent.len());
        for batch in &sent {
            let bytes: usize = batch.iter().map(|q| q.row.bytes()).sum();
            assert!(bytes <= limits.bytes, "{bytes} > {}", limits.bytes);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_writer_learns_its_batch_outcome() {
        let limits = BatchLimits {
            rows: 2,
            bytes: usize::MAX,
        };
        // Full batches are written; one sent by its linger is not.
        let busy = || false;
        let (batches, _task) = Batcher::start(limits, Duration::from_millis(2), busy, |batch| {
            let written = batch.len() == 2;
            for row in batch {
                row.finish(written);
            }
        });
        let mut users = users(3);
        let (one, two) = tokio::join!(
            batches.write(Replicas::default(), Row::User(Box::new(users.remove(0))), 1),
            batches.write(Replicas::default(), Row::User(Box::new(users.remove(0))), 1),
        );
        assert!(one && two);
        let alone = batches.write(Replicas::default(), Row::User(Box::new(users.remove(0))), 1);
        assert!(!alone.await);
    }

    #[tokio::test(start_paused = true)]
    async fn with_the_node_idle_a_lone_row_leaves_without_its_linger() {
        let limits = BatchLimits {
            rows: 10,
            bytes: usize::MAX,
        };
        let sent = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (batches, _task) = Batcher::start(limits, Duration::from_secs(60), || true, {
            let sent = sent.clone();
            move |batch: Vec<Queued>| {
                sent.lock().unwrap().push(batch.len());
                batch.into_iter().for_each(|row| row.finish(true));
            }
        });
        let started = Instant::now();
        let user = users(1).remove(0);
        assert!(
            batches
                .write(Replicas::default(), Row::User(Box::new(user)), 1)
                .await
        );
        // Time is paused: a row held for its 60 s linger would show it.
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(*sent.lock().unwrap(), [1]);
    }
}
