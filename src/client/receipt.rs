//! What `suyuan receive` signs: the units of a shipment still in transit, less
//! those reported short, with whole containers named by SSCC where nothing
//! inside them is short, and the receiver's exceptions.

use serde::Deserialize;

use crate::domain::custody::Holding;
use crate::domain::party::Slug;
use crate::domain::statement::{EventType, Exception, ExceptionType, StatementId, UnitRange};
use crate::formats::gs1::Sscc;

/// A shipment as `GET /api/v1/shipments/{id}` serves it (the fields a receipt reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ShipmentView {
    /// The shipping event's id.
    pub id: StatementId,
    /// Who shipped.
    pub from: Slug,
    /// Units the shipment covered when it was signed.
    pub expected_units: u64,
    /// Units of it still in transit.
    pub in_transit_units: u64,
    /// The holdings still in transit under it.
    pub in_transit: Vec<Holding>,
    /// The signed shipping event.
    pub statement: ShipmentNotice,
}

/// The parts of a signed shipping event a receipt needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ShipmentNotice {
    /// The event type (`shipping` for a shipment).
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The named receiver.
    pub to: Option<Slug>,
    /// Advance ship notice number.
    pub asn: Option<String>,
    /// Containers shipped by SSCC.
    #[serde(default)]
    pub containers: Vec<Sscc>,
}

/// A packed container as `GET /api/v1/containers/{sscc}` serves it (the fields a receipt reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ContainerContents {
    /// Its SSCC.
    pub sscc: Sscc,
    /// Containers directly inside.
    #[serde(default)]
    pub children: Vec<Sscc>,
    /// Every unit inside, at any depth.
    pub units: Vec<UnitRange>,
}

/// A container, every unit inside it and the containers inside it, to any depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Its SSCC.
    pub sscc: Sscc,
    /// Every unit inside, at any depth.
    pub units: Vec<UnitRange>,
    /// Containers directly inside.
    pub children: Vec<Packed>,
}

/// Why a receipt cannot be built from what the receiver reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// A short range names units the shipment does not have in transit.
    #[error("short units {0} are not in transit in this shipment")]
    ShortNotInTransit(String),
    /// A damaged range names units that are not being received.
    #[error("damaged units {0} are not among the units received (in transit and not short)")]
    DamagedNotReceived(String),
    /// Every unit still in transit was reported short.
    #[error("every unit is marked short; nothing to receive")]
    AllShort,
}

/// The objects, containers and exceptions of a receiving event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    /// Loose units received.
    pub objects: Vec<UnitRange>,
    /// Containers received whole.
    pub containers: Vec<Sscc>,
    /// Shortages, damage and overages, in the order reported.
    pub exceptions: Vec<Exception>,
}

fn show(r: &UnitRange) -> String {
    format!("{}:{}..{}", r.batch, r.first, r.last)
}

/// `ranges` less `cut`.
pub fn subtract(ranges: Vec<UnitRange>, cut: &UnitRange) -> Vec<UnitRange> {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    for r in ranges {
        if r.batch != cut.batch || cut.last < r.first || cut.first > r.last {
            out.push(r);
            continue;
        }
        if r.first < cut.first {
            out.push(UnitRange {
                last: cut.first - 1,
                ..r
            });
        }
        if r.last > cut.last {
            out.push(UnitRange {
                first: cut.last + 1,
                ..r
            });
        }
    }
    out
}

/// Whether every unit of `r` is in `set`.
fn within(r: &UnitRange, set: &[UnitRange]) -> bool {
    set.iter().fold(vec![*r], subtract).is_empty()
}

/// Names `c` whole if every unit in it is still pending and some of them
/// arrived, else looks at the containers inside it; the units of what is named
/// leave `loose`. Units reported short inside a named container stay in
/// transit, and the server takes them out of it.
fn take_whole(
    c: &Packed,
    pending: &[UnitRange],
    short: &[UnitRange],
    loose: &mut Vec<UnitRange>,
    whole: &mut Vec<Sscc>,
) {
    if !c.units.is_empty() && c.units.iter().all(|r| within(r, pending)) {
        // Missing whole, it is not named: its units are all short.
        if !c.units.iter().all(|r| within(r, short)) {
            *loose = c.units.iter().fold(std::mem::take(loose), subtract);
            whole.push(c.sscc.clone());
        }
        return;
    }
    // Partly received before (what was short left it then): its cases may still be whole.
    for child in &c.children {
        take_whole(child, pending, short, loose, whole);
    }
}

/// Builds the receipt of a shipment.
///
/// `pending` are the units still in transit under it; `containers` the
/// containers it named. A container is named by SSCC when all of its units are
/// still pending, even with some of them short (the receipt names the pallet
/// and counts what was missing from it); otherwise the cases inside it that are
/// still whole are named, and the rest of its units are received loose.
pub fn plan(
    pending: &[UnitRange],
    containers: &[Packed],
    short: &[UnitRange],
    damaged: &[UnitRange],
    over: &[String],
) -> Result<Receipt, ReceiptError> {
    let mut received: Vec<UnitRange> = pending.to_vec();
    let mut exceptions = Vec::new();
    for r in short {
        if !within(r, pending) {
            return Err(ReceiptError::ShortNotInTransit(show(r)));
        }
        received = subtract(received, r);
        exceptions.push(Exception {
            kind: ExceptionType::Shortage,
            objects: vec![*r],
            note: None,
        });
    }
    if received.is_empty() {
        return Err(ReceiptError::AllShort);
    }
    for r in damaged {
        if !within(r, &received) {
            return Err(ReceiptError::DamagedNotReceived(show(r)));
        }
        exceptions.push(Exception {
            kind: ExceptionType::Damaged,
            objects: vec![*r],
            note: None,
        });
    }
    for note in over {
        exceptions.push(Exception {
            kind: ExceptionType::Overage,
            objects: vec![],
            note: Some(note.clone()),
        });
    }
    let mut whole = Vec::new();
    for c in containers {
        take_whole(c, pending, short, &mut received, &mut whole);
    }
    received.sort();
    Ok(Receipt {
        objects: received,
        containers: whole,
        exceptions,
    })
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

    fn sscc(n: u32) -> Sscc {
        let body = format!("10614141{n:09}");
        Sscc::parse(&format!(
            "{body}{}",
            crate::formats::gs1::check_digit(&body)
        ))
        .unwrap()
    }

    #[test]
    fn subtract_cuts_holes() {
        assert_eq!(subtract(vec![r(0, 9)], &r(3, 4)), vec![r(0, 2), r(5, 9)]);
        assert_eq!(subtract(vec![r(0, 9)], &r(0, 9)), vec![]);
        assert_eq!(subtract(vec![r(0, 9)], &r(10, 20)), vec![r(0, 9)]);
        let other = UnitRange {
            batch: BatchId([2; 32]),
            ..r(0, 9)
        };
        assert_eq!(subtract(vec![r(0, 9)], &other), vec![r(0, 9)]);
    }

    #[test]
    fn the_served_shipment_view_parses() {
        // The shape the API serves: holdings carry holder, state, shipment and dest.
        let b = "94aeef242828ee80921c1444a1ae86136ac187d7d0f9fea5dbc4b5198b54e12d";
        let s = "4c9e6c75e8c73f59c51d8f0eac2023dcf368a6ce3dab3183d37e2d959b2cdb4f";
        let v = serde_json::json!({
            "id": s, "from": "north-wholesale", "expected_units": 10, "in_transit_units": 10,
            "in_transit": [{"batch": b, "dest": "sunrise-baby", "disposition": "in_transit",
                "first": 290, "holder": "north-wholesale", "last": 299, "shipment": s}],
            "statement": {"v": 1, "type": "shipping", "to": "sunrise-baby", "asn": "A-1",
                "containers": [sscc(1)], "sig": "x", "objects": []},
            "receipts": [], "exceptions": [],
        });
        let view: ShipmentView = serde_json::from_value(v).unwrap();
        assert_eq!(view.in_transit.len(), 1);
        assert_eq!(view.in_transit[0].range.first, 290);
        assert_eq!(view.in_transit[0].range.last, 299);
        assert_eq!(view.statement.containers, vec![sscc(1)]);
        assert_eq!(view.statement.event_type, EventType::Shipping);
    }

    #[test]
    fn shortages_leave_the_rest_and_damage_must_be_received() {
        let p = plan(
            &[r(0, 9)],
            &[],
            &[r(8, 9)],
            &[r(0, 0)],
            &["a pallet".into()],
        )
        .unwrap();
        assert_eq!(p.objects, vec![r(0, 7)]);
        let kinds: Vec<ExceptionType> = p.exceptions.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                ExceptionType::Shortage,
                ExceptionType::Damaged,
                ExceptionType::Overage
            ]
        );
        assert_eq!(
            plan(&[r(0, 9)], &[], &[r(8, 12)], &[], &[]),
            Err(ReceiptError::ShortNotInTransit(show(&r(8, 12))))
        );
        assert_eq!(
            plan(&[r(0, 9)], &[], &[r(8, 9)], &[r(7, 8)], &[]),
            Err(ReceiptError::DamagedNotReceived(show(&r(7, 8))))
        );
        assert_eq!(
            plan(&[r(0, 9)], &[], &[r(0, 9)], &[], &[]),
            Err(ReceiptError::AllShort)
        );
    }

    fn case(n: u32, units: UnitRange) -> Packed {
        Packed {
            sscc: sscc(n),
            units: vec![units],
            children: vec![],
        }
    }

    #[test]
    fn containers_are_named_unless_missing_whole() {
        let cases = [case(1, r(0, 9)), case(2, r(10, 19))];
        let p = plan(&[r(0, 19), r(30, 31)], &cases, &[], &[r(12, 12)], &[]).unwrap();
        assert_eq!(p.containers, vec![sscc(1), sscc(2)]);
        assert_eq!(p.objects, vec![r(30, 31)]);
        // A unit short in case 2: both named, the short unit stays in transit.
        let p = plan(&[r(0, 19)], &cases, &[r(19, 19)], &[], &[]).unwrap();
        assert_eq!(p.containers, vec![sscc(1), sscc(2)]);
        assert!(p.objects.is_empty());
        // Case 2 missing whole: not named.
        let p = plan(&[r(0, 19)], &cases, &[r(10, 19)], &[], &[]).unwrap();
        assert_eq!(p.containers, vec![sscc(1)]);
        // A case already received (nothing of it pending) is not named again.
        let p = plan(&[r(10, 19)], &cases, &[], &[], &[]).unwrap();
        assert_eq!(p.containers, vec![sscc(2)]);
        assert!(p.objects.is_empty());
    }

    #[test]
    fn a_pallet_partly_received_before_is_received_by_its_whole_cases() {
        // Pallet 9: cases 1 and 2, and units 20..21 packed on the pallet itself.
        let pallet = Packed {
            sscc: sscc(9),
            units: vec![r(0, 9), r(10, 19), r(20, 21)],
            children: vec![case(1, r(0, 9)), case(2, r(10, 19))],
        };
        let p = plan(&[r(0, 21)], std::slice::from_ref(&pallet), &[], &[], &[]).unwrap();
        assert_eq!((p.containers, p.objects), (vec![sscc(9)], vec![]));
        let p = plan(
            &[r(0, 21)],
            std::slice::from_ref(&pallet),
            &[r(15, 15)],
            &[],
            &[],
        )
        .unwrap();
        assert_eq!((p.containers, p.objects), (vec![sscc(9)], vec![]));
        // Units 20..21 came earlier: case 1 and case 2 are still whole.
        let p = plan(&[r(0, 19)], &[pallet], &[], &[r(3, 3)], &[]).unwrap();
        assert_eq!(p.containers, vec![sscc(1), sscc(2)]);
        assert!(p.objects.is_empty());
    }
}
