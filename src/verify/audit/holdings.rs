//! The audit's holdings: per batch, the runs of units keyed by their first index.
//!
//! One map per batch instead of one ordered map over (batch, first): lookups hash
//! the batch once and then compare `u64`s, not 32-byte ids. Most batches hold a
//! few runs, kept in a sorted `Vec`; a batch split into many runs moves to a
//! `BTreeMap` so that one event stays O(log n) however fragmented the batch is.

use std::collections::BTreeMap;

use crate::domain::custody::Holding;

/// Runs above which a batch's holdings move from a `Vec` to a `BTreeMap`.
const SMALL: usize = 64;

/// The holdings of one batch, ordered by first unit index.
#[derive(Debug)]
pub(super) enum Runs {
    /// Sorted by `range.first`, no duplicate first index.
    Small(Vec<Holding>),
    /// Keyed by `range.first`.
    Large(BTreeMap<u64, Holding>),
}

impl Default for Runs {
    fn default() -> Self {
        Runs::Small(Vec::new())
    }
}

impl Runs {
    /// First indexes of the runs an event naming units `first..=last` reads: the
    /// run starting at or before `first - 1` and every run starting up to
    /// `last + 1` (the neighbours are read so that runs can be merged), as the
    /// stores do. Pushed to `out` (with `batch`) unless already there.
    pub(super) fn around<K: PartialEq + Copy>(
        &self,
        first: u64,
        last: u64,
        batch: K,
        out: &mut Vec<(K, u64)>,
    ) {
        let lo = first.saturating_sub(1);
        let hi = last.saturating_add(1);
        let mut push = |f: u64| {
            if !out.contains(&(batch, f)) {
                out.push((batch, f));
            }
        };
        match self {
            Runs::Small(v) => {
                let below = v.partition_point(|h| h.range.first <= lo);
                let start = below.checked_sub(1).map_or(0, |i| v[i].range.first);
                let from = v.partition_point(|h| h.range.first < start);
                v[from..]
                    .iter()
                    .take_while(|h| h.range.first <= hi)
                    .for_each(|h| push(h.range.first));
            }
            Runs::Large(m) => {
                let start = m.range(..=lo).next_back().map_or(0, |(f, _)| *f);
                if start <= hi {
                    m.range(start..=hi).for_each(|(f, _)| push(*f));
                }
            }
        }
    }

    /// The runs [`Runs::around`] finds, in order: what a store reads for one span.
    pub(super) fn span(&self, first: u64, last: u64) -> Vec<Holding> {
        let mut keys = Vec::new();
        self.around(first, last, (), &mut keys);
        keys.iter()
            .filter_map(|((), f)| self.get(*f).cloned())
            .collect()
    }

    /// Every run, in order.
    pub(super) fn all(&self) -> Vec<&Holding> {
        match self {
            Runs::Small(v) => v.iter().collect(),
            Runs::Large(m) => m.values().collect(),
        }
    }

    /// The run starting at `first`.
    pub(super) fn get(&self, first: u64) -> Option<&Holding> {
        match self {
            Runs::Small(v) => v
                .binary_search_by_key(&first, |h| h.range.first)
                .ok()
                .map(|i| &v[i]),
            Runs::Large(m) => m.get(&first),
        }
    }

    /// Removes the run starting at `first`.
    pub(super) fn remove(&mut self, first: u64) {
        match self {
            Runs::Small(v) => {
                if let Ok(i) = v.binary_search_by_key(&first, |h| h.range.first) {
                    v.remove(i);
                }
            }
            Runs::Large(m) => {
                m.remove(&first);
            }
        }
    }

    /// Inserts a run, replacing the one with the same first index.
    pub(super) fn insert(&mut self, h: Holding) {
        match self {
            Runs::Small(v) => match v.binary_search_by_key(&h.range.first, |x| x.range.first) {
                Ok(i) => v[i] = h,
                Err(i) => {
                    v.insert(i, h);
                    if v.len() > SMALL {
                        let m = std::mem::take(v)
                            .into_iter()
                            .map(|h| (h.range.first, h))
                            .collect();
                        *self = Runs::Large(m);
                    }
                }
            },
            Runs::Large(m) => {
                m.insert(h.range.first, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::custody::Disposition;
    use crate::domain::party::Slug;
    use crate::domain::statement::{BatchId, UnitRange};

    fn run(first: u64, last: u64) -> Holding {
        Holding {
            range: UnitRange {
                batch: BatchId([1; 32]),
                first,
                last,
            },
            holder: Slug::parse("ff").unwrap(),
            disposition: Disposition::Active,
            shipment: None,
            dest: None,
            recall: None,
        }
    }

    /// The same answers from the small and the large form, and from the ordered
    /// map over (batch, first) the audit used before.
    #[test]
    fn small_and_large_agree_with_the_ordered_map() {
        for n in [3u64, 200] {
            let mut runs = Runs::default();
            let mut model: BTreeMap<u64, Holding> = BTreeMap::new();
            for i in 0..n {
                runs.insert(run(i * 10, i * 10 + 9));
                model.insert(i * 10, run(i * 10, i * 10 + 9));
            }
            assert_eq!(matches!(runs, Runs::Large(_)), n > SMALL as u64);
            for (first, last) in [(0, 0), (5, 25), (10, 10), (11, 19), (29, 41), (1000, 5000)] {
                let mut got = Vec::new();
                runs.around(first, last, 7u8, &mut got);
                let lo = u64::saturating_sub(first, 1);
                let start = model.range(..=lo).next_back().map_or(0, |(f, _)| *f);
                let want: Vec<(u8, u64)> = model
                    .range(start..=last + 1)
                    .map(|(f, _)| (7u8, *f))
                    .collect();
                assert_eq!(got, want, "{first}..{last} over {n} runs");
            }
            runs.remove(10);
            assert!(runs.get(10).is_none());
            runs.insert(run(10, 12));
            assert_eq!(runs.get(10).map(|h| h.range.last), Some(12));
            runs.insert(run(10, 11));
            assert_eq!(runs.get(10).map(|h| h.range.last), Some(11));
        }
    }

    /// A backwards range reads nothing instead of panicking.
    #[test]
    fn a_backwards_range_reads_nothing() {
        let mut runs = Runs::default();
        for i in 0..100u64 {
            runs.insert(run(i * 10, i * 10 + 9));
        }
        let mut got = Vec::new();
        runs.around(500, 20, 0u8, &mut got);
        assert!(got.is_empty());
    }
}
