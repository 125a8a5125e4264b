//! Inspector reports (issue 7, item 8): units by holder, dwell time per hop,
//! shipments with unresolved exceptions, returns and feedback by category, and
//! suspect scans. Pure computation over what the caller loaded; no I/O.
//!
//! A report covers one batch or several (a party's report is the merge of the
//! batches it handled), so every part is computed per batch and then summed.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

use crate::domain::custody::Holding;
use crate::domain::party::{PartyKind, Slug};
use crate::domain::statement::{BatchId, BatchStatement, EventStatement, StatementId, UnitRange};

pub mod dwell;
pub mod exceptions;
pub mod returns;
pub mod suspect;
pub mod svg;

/// What the report needs to know about a party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyInfo {
    /// Place in the chain.
    pub kind: PartyKind,
    /// Display name (any language).
    pub name: String,
}

/// Every registered party, by slug.
pub type Directory = HashMap<Slug, PartyInfo>;

/// One event of a batch's chain with the units of that batch it covered.
#[derive(Debug, Clone)]
pub struct ChainEvent {
    /// Statement id.
    pub id: StatementId,
    /// The signed event.
    pub event: EventStatement,
    /// Units of this batch it covered, containers expanded.
    pub units: Vec<UnitRange>,
}

/// One logged scan of a unit of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Unit index.
    pub index: u64,
    /// Unix seconds.
    pub time: i64,
    /// Unix day of the scanner hash's salt.
    pub day: i64,
    /// Salted scanner hash (distinct within one day only).
    pub scanner: String,
}

/// Consumer submissions about a batch of one kind and category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedbackCount {
    /// feedback, return or exchange.
    pub kind: String,
    /// Problem category, if one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// How many.
    pub count: u64,
}

/// Everything known about one batch, as loaded by the caller.
#[derive(Debug, Clone)]
pub struct BatchInput {
    /// Batch id.
    pub id: BatchId,
    /// The signed batch record.
    pub record: BatchStatement,
    /// Events that covered units of the batch, in log order.
    pub events: Vec<ChainEvent>,
    /// Current holdings.
    pub holdings: Vec<Holding>,
    /// Consumer submissions by kind and category.
    pub feedback: Vec<FeedbackCount>,
    /// Logged scans of its units.
    pub scans: Vec<Scan>,
}

/// A batch the report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    /// Batch id.
    pub batch: String,
    /// Product name.
    pub product: String,
    /// Lot.
    pub lot: String,
    /// Units minted.
    pub quantity: u64,
    /// The factory.
    pub party: String,
}

/// Units one party holds (or has in transit), by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderUnits {
    /// Holder slug.
    pub holder: String,
    /// Display name.
    pub name: String,
    /// Kind, if the party is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<PartyKind>,
    /// All units.
    pub units: u64,
    /// Units by disposition.
    pub by_state: BTreeMap<String, u64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Batches covered.
    pub batches: Vec<BatchSummary>,
    /// Units by current holder, most units first.
    pub units_by_holder: Vec<HolderUnits>,
    /// Dwell time at each hop.
    pub dwell: Vec<dwell::HopDwell>,
    /// Receipts whose exceptions no later signed event resolved.
    pub open_exceptions: Vec<exceptions::OpenReceipt>,
    /// Returns by kind and reason.
    pub returns: Vec<returns::ReturnCount>,
    /// Consumer feedback by kind and category.
    pub feedback: Vec<FeedbackCount>,
    /// Scans that contradict custody.
    pub suspect: suspect::SuspectReport,
}

/// Display name of a party, its slug when unknown.
pub fn name_of(dir: &Directory, slug: &Slug) -> String {
    dir.get(slug)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| slug.to_string())
}

/// Builds the report over some batches.
pub fn build(inputs: &[BatchInput], dir: &Directory) -> Report {
    let batches = inputs
        .iter()
        .map(|b| BatchSummary {
            batch: b.id.hex(),
            product: b.record.product.clone(),
            lot: b.record.lot.to_string(),
            quantity: b.record.quantity,
            party: b.record.party.to_string(),
        })
        .collect();
    let mut samples = Vec::new();
    let mut suspects = Vec::new();
    for b in inputs {
        let replay = dwell::replay(b, dir);
        suspects.push(suspect::batch(b, &replay.timeline));
        samples.extend(replay.samples);
    }
    Report {
        batches,
        units_by_holder: units_by_holder(inputs, dir),
        dwell: dwell::stats(&samples, dir),
        open_exceptions: exceptions::open(inputs),
        returns: returns::count(inputs),
        feedback: feedback(inputs),
        suspect: suspect::merge(suspects),
    }
}

fn units_by_holder(inputs: &[BatchInput], dir: &Directory) -> Vec<HolderUnits> {
    let mut by: BTreeMap<&Slug, BTreeMap<String, u64>> = BTreeMap::new();
    for h in inputs.iter().flat_map(|b| &b.holdings) {
        *by.entry(&h.holder)
            .or_default()
            .entry(h.disposition.as_str().to_owned())
            .or_default() += h.range.len();
    }
    let mut out: Vec<HolderUnits> = by
        .into_iter()
        .map(|(slug, by_state)| HolderUnits {
            holder: slug.to_string(),
            name: name_of(dir, slug),
            kind: dir.get(slug).map(|p| p.kind),
            units: by_state.values().sum(),
            by_state,
        })
        .collect();
    // Most units first; ties by slug so the order is stable.
    out.sort_by(|a, b| b.units.cmp(&a.units).then_with(|| a.holder.cmp(&b.holder)));
    out
}

fn feedback(inputs: &[BatchInput]) -> Vec<FeedbackCount> {
    let mut by: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
    for f in inputs.iter().flat_map(|b| &b.feedback) {
        *by.entry((f.kind.clone(), f.category.clone())).or_default() += f.count;
    }
    by.into_iter()
        .map(|((kind, category), count)| FeedbackCount {
            kind,
            category,
            count,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod fixture {
    //! Hand-built inputs shared by the report's unit tests.

    use super::*;
    use crate::domain::statement::{EventType, Input, VERSION};
    use crate::domain::time::{Date, Timestamp};
    use crate::formats::gs1::{Gtin, Lot};

    /// Base time of the fixtures: 2026-11-01T00:00:00Z.
    pub const T0: i64 = 1_793_491_200;
    /// One hour.
    pub const H: i64 = 3600;

    pub fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    pub fn id(n: u8) -> BatchId {
        BatchId([n; 32])
    }

    pub fn dir() -> Directory {
        [
            ("acme", PartyKind::Factory, "Acme <&> 工厂"),
            ("north", PartyKind::B1, "North"),
            ("shop", PartyKind::B2, "小店"),
        ]
        .into_iter()
        .map(|(s, kind, name)| {
            (
                slug(s),
                PartyInfo {
                    kind,
                    name: name.into(),
                },
            )
        })
        .collect()
    }

    pub fn record(quantity: u64) -> BatchStatement {
        BatchStatement {
            v: VERSION,
            party: slug("acme"),
            key: "k".into(),
            time: Timestamp::from_unix(T0),
            gtin: Gtin::parse("09506000134352").unwrap(),
            product: "奶粉".into(),
            lot: Lot::parse("L1").unwrap(),
            quantity,
            produced: Date::parse("2026-10-01").unwrap(),
            expires: None,
            line: None,
            serial_prefix: None,
            inputs: vec![Input {
                material: "milk".into(),
                supplier: "P".into(),
                supplier_lot: "P1".into(),
                origin: "X".into(),
            }],
            steps: vec![],
            certificates: vec![],
        }
    }

    pub fn range(b: BatchId, first: u64, last: u64) -> UnitRange {
        UnitRange {
            batch: b,
            first,
            last,
        }
    }

    /// An event by `party` at T0 + `at`, covering `units`.
    pub fn ev(n: u8, t: EventType, party: &str, at: i64, units: Vec<UnitRange>) -> ChainEvent {
        ChainEvent {
            id: BatchId([n; 32]),
            event: EventStatement::new(
                slug(party),
                "k".into(),
                Timestamp::from_unix(T0 + at),
                t,
                units.clone(),
            ),
            units,
        }
    }

    pub fn input(quantity: u64, events: Vec<ChainEvent>) -> BatchInput {
        BatchInput {
            id: id(1),
            record: record(quantity),
            events,
            holdings: vec![],
            feedback: vec![],
            scans: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;
    use crate::domain::custody::Disposition;

    fn holding(first: u64, last: u64, holder: &str, d: Disposition) -> Holding {
        Holding {
            range: range(id(1), first, last),
            holder: slug(holder),
            disposition: d,
            shipment: None,
            dest: None,
            recall: None,
        }
    }

    #[test]
    fn units_are_summed_per_holder_and_state_and_names_come_from_the_directory() {
        let mut a = input(100, vec![]);
        a.holdings = vec![
            holding(0, 9, "shop", Disposition::RetailSold),
            holding(10, 29, "shop", Disposition::Active),
            holding(30, 99, "acme", Disposition::Active),
        ];
        let mut b = input(5, vec![]);
        b.id = id(2);
        b.holdings = vec![holding(0, 4, "ghost", Disposition::InTransit)];
        b.feedback = vec![FeedbackCount {
            kind: "feedback".into(),
            category: Some("quality".into()),
            count: 2,
        }];
        a.feedback = b.feedback.clone();
        let r = build(&[a, b], &dir());
        let rows: Vec<(&str, &str, u64)> = r
            .units_by_holder
            .iter()
            .map(|h| (h.holder.as_str(), h.name.as_str(), h.units))
            .collect();
        assert_eq!(
            rows,
            [
                ("acme", "Acme <&> 工厂", 70),
                ("shop", "小店", 30),
                ("ghost", "ghost", 5)
            ]
        );
        assert_eq!(r.units_by_holder[1].by_state["retail_sold"], 10);
        assert_eq!(r.units_by_holder[1].by_state["active"], 20);
        assert_eq!(r.units_by_holder[2].kind, None);
        assert_eq!(r.feedback.len(), 1);
        assert_eq!(r.feedback[0].count, 4);
        assert_eq!(r.batches.len(), 2);
    }
}
