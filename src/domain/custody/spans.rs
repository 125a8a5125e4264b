//! Reading the holdings an event touches with one query per span, not per range.
//!
//! The rules need every holding row overlapping one of the event's ranges plus
//! the row on each side, so that ranges left in the same state merge back. Read
//! range by range, a pallet of 48 cases costs 48 queries that mostly return the
//! same one row. Adjacent or overlapping ranges of one batch read as one span
//! return exactly the union of those per-range reads (see [`read_spans`]), and
//! [`as_read_per_range`] puts the rows back in the order the per-range reads
//! found them, so the rules get the very same input, errors included.

use std::collections::{HashMap, HashSet};

use crate::domain::custody::Holding;
use crate::domain::statement::{BatchId, UnitRange};

/// The spans to read for `ranges`: per batch, ranges that overlap or touch
/// joined into one, sorted.
///
/// Each span is read as the per-range query reads a range: rows whose `first`
/// lies between the start of the row holding unit `first - 1` (0 if none) and
/// `last + 1`. Joining only ranges that touch keeps that exact: the read of
/// each joined range starts at or before `first - 1`, which is inside the
/// reach of the one before it, so the per-range reads cover the span's read
/// without a gap and nothing beyond it.
pub fn read_spans(ranges: &[UnitRange]) -> Vec<UnitRange> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut out: Vec<UnitRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(s) if s.batch == r.batch && r.first <= s.last.saturating_add(1) => {
                s.last = s.last.max(r.last);
            }
            _ => out.push(r),
        }
    }
    out
}

/// The rows read for `spans` (see [`read_spans`]) as reading `ranges` one
/// by one would have listed them: in the order of the ranges, each row once.
pub fn as_read_per_range(ranges: &[UnitRange], rows: Vec<Holding>) -> Vec<Holding> {
    let mut by_batch: HashMap<BatchId, Vec<Holding>> = HashMap::new();
    for h in rows {
        by_batch.entry(h.range.batch).or_default().push(h);
    }
    for rows in by_batch.values_mut() {
        // Neighbour rows can be read by two spans; (batch, first) is the key.
        rows.sort_by_key(|h| h.range.first);
        rows.dedup_by_key(|h| h.range.first);
    }
    let mut seen: HashSet<(BatchId, u64)> = HashSet::new();
    let mut out = Vec::new();
    for r in ranges {
        let Some(rows) = by_batch.get(&r.batch) else {
            continue;
        };
        // The per-range read starts at the last row starting at or before
        // `first - 1`, or at the batch's first row when there is none.
        let before = r.first.saturating_sub(1);
        let lo = rows
            .partition_point(|h| h.range.first <= before)
            .saturating_sub(1);
        let hi = rows.partition_point(|h| h.range.first <= r.last.saturating_add(1));
        for h in rows.get(lo..hi).unwrap_or_default() {
            if seen.insert((h.range.batch, h.range.first)) {
                out.push(h.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::custody::Disposition;
    use crate::domain::party::Slug;

    fn r(batch: u8, first: u64, last: u64) -> UnitRange {
        UnitRange {
            batch: BatchId([batch; 32]),
            first,
            last,
        }
    }

    fn row(range: UnitRange) -> Holding {
        Holding {
            range,
            holder: Slug::parse("b1-north").unwrap(),
            disposition: Disposition::Active,
            shipment: None,
            dest: None,
            recall: None,
        }
    }

    /// What the per-range query returns for `r` from the table `rows`.
    fn per_range_read(table: &[Holding], r: &UnitRange) -> Vec<Holding> {
        let start = table
            .iter()
            .filter(|h| h.range.batch == r.batch && h.range.first <= r.first.saturating_sub(1))
            .map(|h| h.range.first)
            .max()
            .unwrap_or(0);
        let mut out: Vec<Holding> = table
            .iter()
            .filter(|h| {
                h.range.batch == r.batch && h.range.first >= start && h.range.first <= r.last + 1
            })
            .cloned()
            .collect();
        out.sort_by_key(|h| h.range.first);
        out
    }

    /// Reading per range, with the old first-seen dedup.
    fn old_way(table: &[Holding], ranges: &[UnitRange]) -> Vec<Holding> {
        let mut current: Vec<Holding> = Vec::new();
        for r in ranges {
            for h in per_range_read(table, r) {
                if !current.iter().any(|c| c.range == h.range) {
                    current.push(h);
                }
            }
        }
        current
    }

    fn new_way(table: &[Holding], ranges: &[UnitRange]) -> Vec<Holding> {
        let mut rows = Vec::new();
        for s in read_spans(ranges) {
            rows.extend(per_range_read(table, &s));
        }
        as_read_per_range(ranges, rows)
    }

    #[test]
    fn touching_ranges_join_and_others_do_not() {
        let spans = read_spans(&[r(1, 24, 47), r(1, 0, 23), r(1, 50, 59), r(2, 48, 60)]);
        assert_eq!(spans, vec![r(1, 0, 47), r(1, 50, 59), r(2, 48, 60)]);
        // Overlapping (an exception inside a received range) joins too.
        assert_eq!(read_spans(&[r(1, 0, 9), r(1, 3, 4)]), vec![r(1, 0, 9)]);
        assert!(read_spans(&[]).is_empty());
    }

    /// The same rows in the same order as range-by-range reads, on tables cut
    /// in many ways, for ranges given in many orders.
    #[test]
    fn span_reads_equal_per_range_reads() {
        let tables: Vec<Vec<Holding>> = vec![
            vec![row(r(1, 0, 1151))],
            (0..48).map(|c| row(r(1, c * 24, c * 24 + 23))).collect(),
            vec![
                row(r(1, 0, 4)),
                row(r(1, 5, 30)),
                row(r(1, 31, 31)),
                row(r(1, 32, 99)),
                row(r(2, 0, 9)),
                row(r(2, 10, 99)),
            ],
            // Rows that do not start at 0 (a table as later events leave it is
            // always gapless; the reads must agree anyway).
            vec![row(r(1, 7, 20)), row(r(1, 40, 99))],
        ];
        let range_sets: Vec<Vec<UnitRange>> = vec![
            (0..48).rev().map(|c| r(1, c * 24, c * 24 + 23)).collect(),
            (0..48).map(|c| r(1, c * 24, c * 24 + 23)).collect(),
            vec![r(1, 10, 19), r(1, 0, 9), r(1, 90, 99), r(1, 20, 20)],
            vec![r(1, 0, 0)],
            vec![r(1, 31, 31), r(2, 5, 15), r(1, 33, 40), r(1, 3, 4)],
            vec![r(1, 40, 49), r(1, 45, 46), r(1, 60, 60), r(2, 99, 99)],
            vec![r(1, 8, 9), r(1, 21, 39)],
        ];
        for table in &tables {
            for ranges in &range_sets {
                assert_eq!(
                    new_way(table, ranges),
                    old_way(table, ranges),
                    "table {table:?} ranges {ranges:?}"
                );
            }
        }
    }
}
