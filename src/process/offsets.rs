//! Which offset of each partition is safe to commit: the lowest one still in
//! flight, or one past the highest consumed when none is. Records finish out
//! of order (writes run concurrently); the commit point only ever moves over
//! a contiguous run of finished records.
//!
//! Every assignment of a partition is a new generation of it, and every
//! call carries the generation its record was received in. A record of an
//! older one changes nothing: when a partition is revoked and comes back
//! (another member joined, then left), the records of its first tenure that
//! are still waiting or retrying must not start or move the new tenure's
//! commit point, or it could pass offsets whose rows were never written.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Keyed by partition: its number alone when one topic is read, with its
/// topic when several are.
#[derive(Debug)]
pub struct Tracker<P = i32> {
    partitions: HashMap<P, Partition>,
    /// Counts assignments; the generation of the latest.
    generations: u64,
}

/// Which tenure of a partition a record belongs to.
pub type Generation = u64;

#[derive(Debug)]
struct Partition {
    generation: Generation,
    in_flight: BTreeSet<i64>,
    /// One past the highest offset consumed; none before the first.
    next: Option<i64>,
    /// The commit point last handed out by [`Tracker::moved`].
    stored: Option<i64>,
}

impl Partition {
    fn commit_point(&self) -> Option<i64> {
        self.in_flight.first().copied().or(self.next)
    }
}

impl<P> Default for Tracker<P> {
    fn default() -> Self {
        Tracker {
            partitions: HashMap::new(),
            generations: 0,
        }
    }
}

impl<P: Copy + Eq + Hash> Tracker<P> {
    /// Partitions now ours: each starts a new generation, with nothing in
    /// flight.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = P>) {
        self.generations += 1;
        for partition in partitions {
            let fresh = Partition {
                generation: self.generations,
                in_flight: BTreeSet::new(),
                next: None,
                stored: None,
            };
            self.partitions.insert(partition, fresh);
        }
    }

    /// Drops a partition that is no longer ours: records of its generation
    /// neither start nor complete from now on.
    pub fn forget(&mut self, partition: P) {
        self.partitions.remove(&partition);
    }

    /// The generation of a record received now from `partition`; none when
    /// the partition is not ours.
    pub fn generation(&self, partition: P) -> Option<Generation> {
        self.partitions.get(&partition).map(|p| p.generation)
    }

    /// A record is about to start: true, and it is in flight, when its
    /// partition is still ours in the generation it was received in; false,
    /// and it must be dropped unstarted, when not.
    pub fn begin(&mut self, partition: P, offset: i64, generation: Generation) -> bool {
        let Some(p) = self.current(partition, generation) else {
            return false;
        };
        p.in_flight.insert(offset);
        p.next = Some(p.next.map_or(offset + 1, |next| next.max(offset + 1)));
        true
    }

    /// A record is written or dead-lettered. One of an older generation is
    /// ignored: its partition's new tenure replays it from the last commit.
    pub fn complete(&mut self, partition: P, offset: i64, generation: Generation) {
        if let Some(p) = self.current(partition, generation) {
            p.in_flight.remove(&offset);
        }
    }

    /// The partitions whose commit point moved forward since the last call,
    /// with that point (the next offset to read).
    pub fn moved(&mut self) -> Vec<(P, i64)> {
        let mut moved = Vec::new();
        for (&partition, p) in &mut self.partitions {
            if let Some(point) = p.commit_point()
                && p.stored.is_none_or(|stored| point > stored)
            {
                p.stored = Some(point);
                moved.push((partition, point));
            }
        }
        moved
    }

    fn current(&mut self, partition: P, generation: Generation) -> Option<&mut Partition> {
        self.partitions
            .get_mut(&partition)
            .filter(|p| p.generation == generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(partitions: &[i32]) -> (Tracker, Generation) {
        let mut t = Tracker::default();
        t.assign(partitions.iter().copied());
        let generation = t.generation(partitions[0]).unwrap();
        (t, generation)
    }

    #[test]
    fn commit_point_waits_for_the_oldest_record() {
        let (mut t, g) = tracker(&[0]);
        for offset in 10..15 {
            assert!(t.begin(0, offset, g));
        }
        t.complete(0, 12, g);
        assert_eq!(t.moved(), vec![(0, 10)]);
        t.complete(0, 11, g);
        assert_eq!(t.moved(), vec![]);
        t.complete(0, 10, g);
        assert_eq!(t.moved(), vec![(0, 13)]);
        t.complete(0, 14, g);
        t.complete(0, 13, g);
        assert_eq!(t.moved(), vec![(0, 15)]);
    }

    #[test]
    fn partitions_are_independent() {
        let (mut t, g) = tracker(&[0, 1]);
        t.begin(0, 5, g);
        t.begin(1, 7, g);
        t.begin(0, 6, g);
        t.complete(1, 7, g);
        t.complete(0, 6, g);
        let mut moved = t.moved();
        moved.sort();
        assert_eq!(moved, vec![(0, 5), (1, 8)]);
        t.complete(0, 5, g);
        assert_eq!(t.moved(), vec![(0, 7)]);
    }

    #[test]
    fn a_partition_not_ours_starts_nothing() {
        let mut t = Tracker::default();
        assert_eq!(t.generation(0), None);
        assert!(!t.begin(0, 1, 1));
        assert_eq!(t.moved(), vec![]);
    }

    /// The sequence that lost rows: records of partition 0 in flight
    /// (retrying) and more waiting for a permit; partition 0 revoked (a
    /// member joined) and given back (it left); the waiting ones then start
    /// and finish while the retried ones are still unwritten. The commit
    /// point must stay at the oldest unwritten record.
    #[test]
    fn a_revoked_partition_given_back_never_commits_past_its_first_tenure() {
        let (mut t, first) = tracker(&[0, 1]);
        for offset in 10..13 {
            assert!(t.begin(0, offset, first)); // retrying: Cassandra is frozen
        }
        // 13 and 14 were received in the first tenure and wait for a permit.
        let waiting = [(13, t.generation(0).unwrap()), (14, first)];
        t.forget(0);
        t.forget(1);
        t.assign([1]); // a second member took partition 0
        t.forget(1);
        t.assign([0, 1]); // it left: partition 0 is ours again
        let second = t.generation(0).unwrap();
        assert_ne!(first, second);
        // The waiting records of the first tenure are dropped unstarted ...
        for (offset, generation) in waiting {
            assert!(!t.begin(0, offset, generation));
        }
        // ... and the retried ones finishing change nothing either.
        t.complete(0, 11, first);
        assert_eq!(t.moved(), vec![]);
        // The new tenure reads again from the last commit, 10.
        for offset in 10..15 {
            assert!(t.begin(0, offset, second));
        }
        for offset in [14, 13, 12, 11] {
            t.complete(0, offset, second);
        }
        assert_eq!(t.moved(), vec![(0, 10)]);
        t.complete(0, 10, second);
        assert_eq!(t.moved(), vec![(0, 15)]);
    }
}
