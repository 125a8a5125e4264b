//! Receiving exceptions after the receipt: which later signed events resolve them.
//!
//! An exception that names units stays open for each unit until a later event
//! that deals with it covers that unit: missing units are settled only when
//! they are received against the same shipment; damaged or unexpected units
//! when they are received, sent on or back, sold or destroyed. Events that
//! only mark or look at units (a recall, an inspection) or repack them resolve
//! nothing. An exception that names no units (an overage or wrong item seen but
//! not identified) stays open until the shipment is received against again.

use super::statement::{EventType, ExceptionType, StatementId, UnitRange};

/// A later event as the rule reads it.
#[derive(Debug, Clone, Copy)]
pub struct Later<'a> {
    /// Its type.
    pub event_type: EventType,
    /// The shipment it names, if any.
    pub shipment: Option<StatementId>,
    /// The units it covered, containers expanded.
    pub units: &'a [UnitRange],
}

/// Whether `later` resolves, for the units it covers, an exception of `kind`
/// on a receipt against `shipment`.
pub fn resolves(kind: ExceptionType, shipment: StatementId, later: &Later) -> bool {
    use EventType::*;
    match kind {
        ExceptionType::Shortage => {
            later.event_type == Receiving && later.shipment == Some(shipment)
        }
        ExceptionType::Damaged | ExceptionType::Overage | ExceptionType::WrongItem => matches!(
            later.event_type,
            Receiving | Shipping | Returning | AcceptingReturn | RetailSelling | Destroying
        ),
    }
}

/// Whether `later` resolves an exception that names no units: a new receipt
/// against the same shipment.
pub fn resolves_unnamed(shipment: StatementId, later: &Later) -> bool {
    later.event_type == EventType::Receiving && later.shipment == Some(shipment)
}

/// Units of `want` not covered by any of `cover`.
pub fn uncovered(want: &UnitRange, cover: &[UnitRange]) -> u64 {
    let mut pieces: Vec<(u64, u64)> = cover
        .iter()
        .filter(|c| c.batch == want.batch && c.first <= want.last && c.last >= want.first)
        .map(|c| (c.first.max(want.first), c.last.min(want.last)))
        .collect();
    pieces.sort_unstable();
    let mut covered = 0u64;
    let mut next = want.first; // first index not yet counted
    for (f, l) in pieces {
        let f = f.max(next);
        if f <= l {
            covered += l - f + 1;
            next = l + 1;
        }
    }
    want.len() - covered
}

/// How much of an exception of `kind` over `objects`, on a receipt against
/// `shipment`, is still open after the `later` events: the units no resolving
/// event covered, or for one that names no units 1 while open and 0 once resolved.
pub fn open_units(
    kind: ExceptionType,
    objects: &[UnitRange],
    shipment: StatementId,
    later: &[Later],
) -> u64 {
    if objects.is_empty() {
        return u64::from(!later.iter().any(|l| resolves_unnamed(shipment, l)));
    }
    let cover: Vec<UnitRange> = later
        .iter()
        .filter(|l| resolves(kind, shipment, l))
        .flat_map(|l| l.units.iter().copied())
        .collect();
    objects.iter().map(|r| uncovered(r, &cover)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statement::BatchId;

    fn r(first: u64, last: u64) -> UnitRange {
        UnitRange {
            batch: BatchId([1; 32]),
            first,
            last,
        }
    }

    const SHIPMENT: StatementId = BatchId([7; 32]);
    const OTHER: StatementId = BatchId([8; 32]);

    fn later(
        event_type: EventType,
        shipment: Option<StatementId>,
        units: &[UnitRange],
    ) -> Later<'_> {
        Later {
            event_type,
            shipment,
            units,
        }
    }

    #[test]
    fn coverage_counts_overlaps_once() {
        let want = r(10, 19);
        assert_eq!(uncovered(&want, &[]), 10);
        assert_eq!(uncovered(&want, &[r(0, 12), r(11, 14)]), 5);
        assert_eq!(uncovered(&want, &[r(0, 100)]), 0);
        let other = UnitRange {
            batch: BatchId([2; 32]),
            ..r(0, 100)
        };
        assert_eq!(uncovered(&want, &[other]), 10);
        assert_eq!(uncovered(&want, &[r(19, 30), r(10, 10)]), 8);
    }

    #[test]
    fn recalls_inspections_and_packing_resolve_nothing() {
        let all = [r(0, 99)];
        for t in [
            EventType::Recalling,
            EventType::Inspecting,
            EventType::Packing,
            EventType::Unpacking,
        ] {
            for kind in [
                ExceptionType::Shortage,
                ExceptionType::Damaged,
                ExceptionType::Overage,
                ExceptionType::WrongItem,
            ] {
                let l = later(t, None, &all);
                assert!(!resolves(kind, SHIPMENT, &l), "{t:?} resolved {kind:?}");
                assert_eq!(open_units(kind, &[r(48, 59)], SHIPMENT, &[l]), 12);
            }
            assert!(!resolves_unnamed(SHIPMENT, &later(t, None, &all)));
        }
    }

    #[test]
    fn a_shortage_is_resolved_only_by_receiving_against_its_shipment() {
        let got = [r(48, 55)];
        let short = [r(48, 59)];
        let receipt = later(EventType::Receiving, Some(SHIPMENT), &got);
        assert_eq!(
            open_units(ExceptionType::Shortage, &short, SHIPMENT, &[receipt]),
            4
        );
        let elsewhere = later(EventType::Receiving, Some(OTHER), &got);
        assert_eq!(
            open_units(ExceptionType::Shortage, &short, SHIPMENT, &[elsewhere]),
            12
        );
        let destroyed = later(EventType::Destroying, None, &got);
        assert!(!resolves(ExceptionType::Shortage, SHIPMENT, &destroyed));
    }

    #[test]
    fn damaged_units_are_resolved_by_what_is_done_with_them() {
        let one = [r(0, 0)];
        for t in [
            EventType::Shipping,
            EventType::Returning,
            EventType::Destroying,
            EventType::RetailSelling,
            EventType::AcceptingReturn,
        ] {
            let l = later(t, None, &one);
            assert!(resolves(ExceptionType::Damaged, SHIPMENT, &l), "{t:?}");
            assert_eq!(
                open_units(ExceptionType::Damaged, &[r(0, 1)], SHIPMENT, &[l]),
                1
            );
        }
    }

    #[test]
    fn an_unnamed_exception_waits_for_the_next_receipt_of_its_shipment() {
        let none: [UnitRange; 0] = [];
        assert_eq!(open_units(ExceptionType::Overage, &none, SHIPMENT, &[]), 1);
        let recall = later(EventType::Recalling, None, &[]);
        assert_eq!(
            open_units(ExceptionType::Overage, &none, SHIPMENT, &[recall]),
            1
        );
        let again = later(EventType::Receiving, Some(SHIPMENT), &[]);
        assert_eq!(
            open_units(ExceptionType::WrongItem, &none, SHIPMENT, &[recall, again]),
            0
        );
    }
}
