//! Which offset of each partition is safe to commit: the lowest one still in
//! flight, or one past the highest consumed when none is. Records finish out
//! of order (writes run concurrently); the commit point only ever moves over
//! a contiguous run of finished records.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct Tracker {
    partitions: HashMap<i32, Partition>,
}

#[derive(Debug, Default)]
struct Partition {
    in_flight: BTreeSet<i64>,
    /// One past the highest offset consumed.
    next: i64,
    /// The commit point last handed out by [`Tracker::moved`].
    stored: i64,
}

impl Partition {
    fn commit_point(&self) -> i64 {
        self.in_flight.first().copied().unwrap_or(self.next)
    }
}

impl Tracker {
    /// A record was consumed and is now in flight.
    pub fn begin(&mut self, partition: i32, offset: i64) {
        let p = self.partitions.entry(partition).or_default();
        p.in_flight.insert(offset);
        p.next = p.next.max(offset + 1);
    }

    /// A record is written or dead-lettered. A partition forgotten since
    /// (revoked) is ignored: its new owner replays from the last commit.
    pub fn complete(&mut self, partition: i32, offset: i64) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            p.in_flight.remove(&offset);
        }
    }

    /// The partitions whose commit point moved forward since the last call,
    /// with that point (the next offset to read).
    pub fn moved(&mut self) -> Vec<(i32, i64)> {
        let mut moved = Vec::new();
        for (&partition, p) in &mut self.partitions {
            let point = p.commit_point();
            if point > p.stored {
                p.stored = point;
                moved.push((partition, point));
            }
        }
        moved
    }

    /// Drops a partition that is no longer ours.
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_point_waits_for_the_oldest_record() {
        let mut t = Tracker::default();
        for offset in 10..15 {
            t.begin(0, offset);
        }
        t.complete(0, 12);
        assert_eq!(t.moved(), vec![(0, 10)]);
        t.complete(0, 11);
        assert_eq!(t.moved(), vec![]);
        t.complete(0, 10);
        assert_eq!(t.moved(), vec![(0, 13)]);
        t.complete(0, 14);
        t.complete(0, 13);
        assert_eq!(t.moved(), vec![(0, 15)]);
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = Tracker::default();
        t.begin(0, 5);
        t.begin(1, 7);
        t.begin(0, 6);
        t.complete(1, 7);
        t.complete(0, 6);
        let mut moved = t.moved();
        moved.sort();
        assert_eq!(moved, vec![(0, 5), (1, 8)]);
        t.complete(0, 5);
        assert_eq!(t.moved(), vec![(0, 7)]);
    }

    #[test]
    fn a_forgotten_partition_starts_over() {
        let mut t = Tracker::default();
        t.begin(0, 3);
        t.forget(0);
        t.complete(0, 3);
        assert_eq!(t.moved(), vec![]);
        t.begin(0, 1);
        t.complete(0, 1);
        assert_eq!(t.moved(), vec![(0, 2)]);
    }
}
