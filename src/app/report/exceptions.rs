//! Shipments with unresolved receiving exceptions.
//!
//! Which later events resolve which exception is the domain's rule
//! (`domain::exceptions`); this module applies it to each batch's chain and
//! merges the result by receipt.

use serde::Serialize;
use std::collections::BTreeMap;

use super::BatchInput;
use crate::domain::exceptions::{self, Later};
use crate::domain::statement::{ExceptionType, UnitRange};

/// One exception of a receipt and how much of it is still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenException {
    /// shortage, overage, damaged or wrong_item.
    #[serde(rename = "type")]
    pub kind: ExceptionType,
    /// Units it named (0 when it named none).
    pub units: u64,
    /// Units no later event has covered.
    pub open_units: u64,
    /// The receiver's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A receipt with at least one open exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenReceipt {
    /// The receiving event.
    pub receipt: String,
    /// The shipment it received.
    pub shipment: String,
    /// Who signed the receipt.
    pub receiver: String,
    /// Who shipped, when the shipment is among the events read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Receipt time.
    pub time: String,
    /// Its open exceptions.
    pub exceptions: Vec<OpenException>,
}

/// Open exceptions of every batch, merged by receipt (one receipt may span batches).
pub fn open(inputs: &[BatchInput]) -> Vec<OpenReceipt> {
    let mut by: BTreeMap<String, OpenReceipt> = BTreeMap::new();
    for b in inputs {
        for (i, ce) in b.events.iter().enumerate() {
            let ev = &ce.event;
            let Some(shipment) = ev.shipment.filter(|_| !ev.exceptions.is_empty()) else {
                continue;
            };
            let later: Vec<Later> = b.events[i + 1..]
                .iter()
                .map(|l| Later {
                    event_type: l.event.event_type,
                    shipment: l.event.shipment,
                    units: &l.units,
                })
                .collect();
            let mut open = Vec::new();
            for ex in &ev.exceptions {
                // Of a receipt spanning batches, this batch's part of each exception.
                let mine: Vec<UnitRange> = ex
                    .objects
                    .iter()
                    .filter(|r| r.batch == b.id)
                    .copied()
                    .collect();
                if !ex.objects.is_empty() && mine.is_empty() {
                    continue;
                }
                let units = mine.iter().map(|r| r.len()).sum();
                let open_units = exceptions::open_units(ex.kind, &mine, shipment, &later);
                if open_units > 0 {
                    open.push(OpenException {
                        kind: ex.kind,
                        units,
                        open_units,
                        note: ex.note.clone(),
                    });
                }
            }
            if open.is_empty() {
                continue;
            }
            let sender = b
                .events
                .iter()
                .find(|s| s.id == shipment)
                .map(|s| s.event.party.to_string());
            let entry = by.entry(ce.id.hex()).or_insert_with(|| OpenReceipt {
                receipt: ce.id.hex(),
                shipment: shipment.hex(),
                receiver: ev.party.to_string(),
                sender: None,
                time: ev.time.to_string(),
                exceptions: Vec::new(),
            });
            entry.sender = entry.sender.take().or(sender);
            for o in open {
                // The same unit-less exception is seen once per batch: keep one.
                if o.units == 0 && entry.exceptions.contains(&o) {
                    continue;
                }
                match entry
                    .exceptions
                    .iter_mut()
                    .find(|e| e.kind == o.kind && e.note == o.note && e.units > 0 && o.units > 0)
                {
                    Some(e) => {
                        e.units += o.units;
                        e.open_units += o.open_units;
                    }
                    None => entry.exceptions.push(o),
                }
            }
        }
    }
    let mut out: Vec<OpenReceipt> = by.into_values().collect();
    out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.receipt.cmp(&b.receipt)));
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;
    use crate::domain::statement::{EventType, Exception};

    fn exception(kind: ExceptionType, objects: Vec<UnitRange>) -> Exception {
        Exception {
            kind,
            objects,
            note: None,
        }
    }

    #[test]
    fn a_shortage_stays_open_until_the_rest_is_received() {
        let b = id(1);
        let mut ship = ev(1, EventType::Shipping, "acme", H, vec![range(b, 0, 9)]);
        ship.event.to = Some(slug("north"));
        let mut rec = ev(
            2,
            EventType::Receiving,
            "north",
            2 * H,
            vec![range(b, 0, 6)],
        );
        rec.event.shipment = Some(ship.id);
        rec.event.exceptions = vec![
            exception(ExceptionType::Shortage, vec![range(b, 7, 9)]),
            exception(ExceptionType::Overage, vec![]),
        ];
        let events = vec![ship.clone(), rec.clone()];
        let open1 = open(&[input(10, events.clone())]);
        assert_eq!(open1.len(), 1);
        assert_eq!(open1[0].sender.as_deref(), Some("acme"));
        assert_eq!(open1[0].receiver, "north");
        let kinds: Vec<(ExceptionType, u64, u64)> = open1[0]
            .exceptions
            .iter()
            .map(|e| (e.kind, e.units, e.open_units))
            .collect();
        assert_eq!(
            kinds,
            [
                (ExceptionType::Shortage, 3, 3),
                (ExceptionType::Overage, 0, 1)
            ]
        );

        // Two of the three missing units turn up: one still open.
        let mut late = ev(
            3,
            EventType::Receiving,
            "north",
            5 * H,
            vec![range(b, 7, 8)],
        );
        late.event.shipment = Some(ship.id);
        let mut events2 = events.clone();
        events2.push(late);
        let open2 = open(&[input(10, events2.clone())]);
        assert_eq!(
            open2[0].exceptions.len(),
            1,
            "receiving again settles the overage"
        );
        assert_eq!(open2[0].exceptions[0].open_units, 1);

        // The last one arrives: nothing open.
        let mut last = ev(
            4,
            EventType::Receiving,
            "north",
            6 * H,
            vec![range(b, 9, 9)],
        );
        last.event.shipment = Some(ship.id);
        events2.push(last);
        assert!(open(&[input(10, events2)]).is_empty());
    }

    #[test]
    fn a_recall_over_the_short_and_damaged_units_leaves_them_open() {
        let b = id(1);
        let mut ship = ev(1, EventType::Shipping, "acme", H, vec![range(b, 0, 59)]);
        ship.event.to = Some(slug("north"));
        let mut rec = ev(
            2,
            EventType::Receiving,
            "north",
            2 * H,
            vec![range(b, 0, 47)],
        );
        rec.event.shipment = Some(ship.id);
        rec.event.exceptions = vec![
            exception(ExceptionType::Shortage, vec![range(b, 48, 59)]),
            exception(ExceptionType::Damaged, vec![range(b, 0, 1)]),
        ];
        let recall = ev(
            3,
            EventType::Recalling,
            "acme",
            3 * H,
            vec![range(b, 0, 99)],
        );
        let o = open(&[input(100, vec![ship, rec, recall])]);
        let open: Vec<(ExceptionType, u64)> = o[0]
            .exceptions
            .iter()
            .map(|e| (e.kind, e.open_units))
            .collect();
        assert_eq!(
            open,
            [(ExceptionType::Shortage, 12), (ExceptionType::Damaged, 2)]
        );
    }

    #[test]
    fn damaged_units_are_open_until_something_is_done_with_them() {
        let b = id(1);
        let mut ship = ev(1, EventType::Shipping, "acme", H, vec![range(b, 0, 9)]);
        ship.event.to = Some(slug("north"));
        let mut rec = ev(
            2,
            EventType::Receiving,
            "north",
            2 * H,
            vec![range(b, 0, 9)],
        );
        rec.event.shipment = Some(ship.id);
        rec.event.exceptions = vec![exception(ExceptionType::Damaged, vec![range(b, 0, 1)])];
        let destroy = ev(
            3,
            EventType::Destroying,
            "north",
            3 * H,
            vec![range(b, 0, 0)],
        );
        let o = open(&[input(10, vec![ship, rec, destroy])]);
        assert_eq!(o[0].exceptions[0].units, 2);
        assert_eq!(o[0].exceptions[0].open_units, 1);
    }
}
