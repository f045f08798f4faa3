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
    /// The commit point last handed out, so it is handed out once.
    committed: i64,
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

    /// A record is written or dead-lettered. Returns the partition's new
    /// commit point (the next offset to read) when it moved forward.
    pub fn complete(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let p = self.partitions.get_mut(&partition)?;
        p.in_flight.remove(&offset);
        let point = p.commit_point();
        (point > p.committed).then(|| {
            p.committed = point;
            point
        })
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
        assert_eq!(t.complete(0, 12), Some(10));
        assert_eq!(t.complete(0, 11), None);
        assert_eq!(t.complete(0, 10), Some(13));
        assert_eq!(t.complete(0, 14), None);
        assert_eq!(t.complete(0, 13), Some(15));
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = Tracker::default();
        t.begin(0, 5);
        t.begin(1, 7);
        t.begin(0, 6);
        assert_eq!(t.complete(1, 7), Some(8));
        assert_eq!(t.complete(0, 6), Some(5));
        assert_eq!(t.complete(0, 5), Some(7));
    }

    #[test]
    fn a_replayed_offset_does_not_move_the_point_back() {
        let mut t = Tracker::default();
        t.begin(0, 3);
        assert_eq!(t.complete(0, 3), Some(4));
        t.begin(0, 3);
        assert_eq!(t.complete(0, 3), None);
    }
}
