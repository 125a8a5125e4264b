//! Trace (issue 7): where the units of a batch, of a recall or of every batch
//! that used a raw-material supplier lot are now.
//!
//! Pure logic, no I/O. Everything works on holding *ranges*, never on single
//! units, so a million-unit batch costs as much as its handful of holdings.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

use crate::domain::custody::{Disposition, Holding};
use crate::domain::party::{PartyKind, Slug};
use crate::domain::statement::{BatchId, BatchStatement, EventStatement, Input, UnitRange};

/// Units of one holder in one state (and, in transit, to one receiver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderCount {
    /// Who has custody (the sender, while in transit).
    pub holder: Slug,
    /// The holder's kind, when the party is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<PartyKind>,
    /// Movement state.
    pub disposition: Disposition,
    /// The receiver, while in transit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest: Option<Slug>,
    /// Number of units.
    pub units: u64,
    /// How many of them are recalled.
    pub recalled: u64,
}

/// Where a set of units is now, by holder kind and disposition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Whereabouts {
    /// Units counted.
    pub units: u64,
    /// In stock (active or set aside) at a factory.
    pub at_factory: u64,
    /// In stock at a B1 wholesaler.
    pub at_b1: u64,
    /// In stock at a B2 wholesaler/retailer.
    pub at_b2: u64,
    /// In stock at an inspector or an unregistered holder.
    pub at_other: u64,
    /// Shipped or sent back, not yet received.
    pub in_transit: u64,
    /// Sold to consumers.
    pub sold: u64,
    /// Returned (by a consumer, or quarantined after a return).
    pub returned: u64,
    /// Destroyed.
    pub destroyed: u64,
    /// Under a recall (any of the above).
    pub recalled: u64,
    /// The same units per holder, disposition and receiver.
    pub holders: Vec<HolderCount>,
}

type HolderKey = (Slug, &'static str, Option<Slug>);

/// Adds up holding pieces into [`Whereabouts`].
#[derive(Debug, Default)]
pub struct Tally {
    w: Whereabouts,
    per: BTreeMap<HolderKey, HolderCount>,
}

impl Tally {
    /// Counts `units` units of holding `h` (`units` ≤ its length).
    pub fn add(&mut self, h: &Holding, units: u64, kinds: &HashMap<Slug, PartyKind>) {
        use Disposition as D;
        let kind = kinds.get(&h.holder).copied();
        let w = &mut self.w;
        w.units += units;
        match h.disposition {
            D::InTransit => w.in_transit += units,
            D::RetailSold => w.sold += units,
            D::Returned => w.returned += units,
            D::Destroyed => w.destroyed += units,
            D::Active | D::SellableNotAccessible => match kind {
                Some(PartyKind::Factory) => w.at_factory += units,
                Some(PartyKind::B1) => w.at_b1 += units,
                Some(PartyKind::B2) => w.at_b2 += units,
                _ => w.at_other += units,
            },
        }
        let recalled = if h.recall.is_some() { units } else { 0 };
        w.recalled += recalled;
        let key = (h.holder.clone(), h.disposition.as_str(), h.dest.clone());
        let row = self.per.entry(key).or_insert_with(|| HolderCount {
            holder: h.holder.clone(),
            kind,
            disposition: h.disposition,
            dest: h.dest.clone(),
            units: 0,
            recalled: 0,
        });
        row.units += units;
        row.recalled += recalled;
    }

    /// Counts every holding whole.
    pub fn add_all(&mut self, holdings: &[Holding], kinds: &HashMap<Slug, PartyKind>) {
        for h in holdings {
            self.add(h, h.range.len(), kinds);
        }
    }

    /// Counts only the parts of `holdings` inside `only` (ranges of any batches).
    pub fn add_within(
        &mut self,
        holdings: &[Holding],
        only: &[UnitRange],
        kinds: &HashMap<Slug, PartyKind>,
    ) {
        let mut sorted = only.to_vec();
        sorted.sort();
        for h in holdings {
            let n = overlap(&h.range, &sorted);
            if n > 0 {
                self.add(h, n, kinds);
            }
        }
    }

    /// The totals.
    pub fn finish(self) -> Whereabouts {
        let mut w = self.w;
        w.holders = self.per.into_values().collect();
        w
    }
}

/// Units of `r` inside the sorted, non-overlapping `ranges`.
fn overlap(r: &UnitRange, ranges: &[UnitRange]) -> u64 {
    // Ranges sort by (batch, first, last): skip those of earlier batches or ending before r.
    let start =
        ranges.partition_point(|x| x.batch < r.batch || (x.batch == r.batch && x.last < r.first));
    ranges[start..]
        .iter()
        .take_while(|x| x.batch == r.batch && x.first <= r.last)
        .map(|x| x.last.min(r.last) - x.first.max(r.first) + 1)
        .sum()
}

/// The inputs of a batch that come from `supplier_lot` (and `supplier`, if given).
pub fn matching_inputs(
    batch: &BatchStatement,
    supplier_lot: &str,
    supplier: Option<&str>,
) -> Vec<Input> {
    batch
        .inputs
        .iter()
        .filter(|i| i.supplier_lot == supplier_lot && supplier.is_none_or(|s| i.supplier == s))
        .cloned()
        .collect()
}

/// Units of one batch inside one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerCount {
    /// The container's SSCC.
    pub sscc: String,
    /// The container it sits in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Units of this batch directly inside.
    pub units: u64,
    /// The ranges.
    pub ranges: Vec<UnitRange>,
}

/// Groups container rows `(sscc, parent, range)` by container.
pub fn containers(rows: Vec<(String, Option<String>, UnitRange)>) -> Vec<ContainerCount> {
    let mut by: BTreeMap<String, ContainerCount> = BTreeMap::new();
    for (sscc, parent, r) in rows {
        let c = by.entry(sscc.clone()).or_insert_with(|| ContainerCount {
            sscc,
            parent,
            units: 0,
            ranges: Vec::new(),
        });
        c.units += r.len();
        c.ranges.push(r);
    }
    let mut out: Vec<_> = by.into_values().collect();
    for c in &mut out {
        c.ranges.sort();
    }
    out
}

/// One batch that used the lot, and where its units are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchTrace {
    /// Batch id.
    pub batch: BatchId,
    /// The factory.
    pub party: Slug,
    /// Product name.
    pub product: String,
    /// GTIN-14.
    pub gtin: String,
    /// Product lot.
    pub lot: String,
    /// Units minted.
    pub quantity: u64,
    /// Production date.
    pub produced: String,
    /// Expiry date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The inputs that came from the traced lot.
    pub inputs: Vec<Input>,
    /// Where its units are.
    pub whereabouts: Whereabouts,
    /// Containers holding its units.
    pub containers: Vec<ContainerCount>,
}

impl BatchTrace {
    /// Builds the trace of one batch from its record, holdings and container rows.
    pub fn new(
        id: BatchId,
        record: &BatchStatement,
        inputs: Vec<Input>,
        holdings: &[Holding],
        container_rows: Vec<(String, Option<String>, UnitRange)>,
        kinds: &HashMap<Slug, PartyKind>,
    ) -> Self {
        let mut t = Tally::default();
        t.add_all(holdings, kinds);
        BatchTrace {
            batch: id,
            party: record.party.clone(),
            product: record.product.clone(),
            gtin: record.gtin.as_str().to_owned(),
            lot: record.lot.as_str().to_owned(),
            quantity: record.quantity,
            produced: record.produced.to_string(),
            expires: record.expires.as_ref().map(|d| d.to_string()),
            inputs,
            whereabouts: t.finish(),
            containers: containers(container_rows),
        }
    }
}

/// A material-lot trace: every batch that used the lot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LotTrace {
    /// The supplier lot traced.
    pub material_lot: String,
    /// The supplier, if the trace was narrowed to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// Units of all these batches together.
    pub total: Whereabouts,
    /// The batches, oldest first.
    pub batches: Vec<BatchTrace>,
}

/// Sums batch traces into a lot trace.
pub fn lot_trace(
    material_lot: &str,
    supplier: Option<&str>,
    batches: Vec<BatchTrace>,
    holdings: &[Holding],
    kinds: &HashMap<Slug, PartyKind>,
) -> LotTrace {
    let mut t = Tally::default();
    t.add_all(holdings, kinds);
    LotTrace {
        material_lot: material_lot.to_owned(),
        supplier: supplier.map(str::to_owned),
        total: t.finish(),
        batches,
    }
}

/// Units of one batch named by a recall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecalledBatch {
    /// Batch id.
    pub batch: BatchId,
    /// Product name.
    pub product: String,
    /// Product lot.
    pub lot: String,
    /// Units the recall named.
    pub units: u64,
}

/// A recall and where its units are now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecallTrace {
    /// The recalling event's id.
    pub id: String,
    /// Who signed it.
    pub party: Slug,
    /// When.
    pub time: String,
    /// Why.
    pub reason: String,
    /// What holders and consumers should do.
    pub instructions: String,
    /// The batches it covers.
    pub batches: Vec<RecalledBatch>,
    /// Where the recalled units are now.
    pub whereabouts: Whereabouts,
}

impl RecallTrace {
    /// Builds the view of one recall from its event, the unit ranges it named,
    /// the records of those batches and their current holdings.
    pub fn new(
        id: String,
        ev: &EventStatement,
        units: &[UnitRange],
        records: &HashMap<BatchId, BatchStatement>,
        holdings: &HashMap<BatchId, Vec<Holding>>,
        kinds: &HashMap<Slug, PartyKind>,
    ) -> Self {
        let mut per: BTreeMap<BatchId, u64> = BTreeMap::new();
        for r in units {
            *per.entry(r.batch).or_default() += r.len();
        }
        let mut t = Tally::default();
        let batches = per
            .into_iter()
            .map(|(b, n)| {
                if let Some(hs) = holdings.get(&b) {
                    t.add_within(hs, units, kinds);
                }
                let rec = records.get(&b);
                RecalledBatch {
                    batch: b,
                    product: rec.map(|r| r.product.clone()).unwrap_or_default(),
                    lot: rec.map(|r| r.lot.as_str().to_owned()).unwrap_or_default(),
                    units: n,
                }
            })
            .collect();
        RecallTrace {
            id,
            party: ev.party.clone(),
            time: ev.time.to_string(),
            reason: ev.reason.clone().unwrap_or_default(),
            instructions: ev.instructions.clone().unwrap_or_default(),
            batches,
            whereabouts: t.finish(),
        }
    }
}

/// Parses a stored statement (JSON with `sig`) into its typed body.
pub fn parse_stored<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
    let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if let Some(o) = v.as_object_mut() {
        o.remove("sig");
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    fn h(b: BatchId, first: u64, last: u64, holder: &str, d: Disposition) -> Holding {
        Holding {
            range: UnitRange {
                batch: b,
                first,
                last,
            },
            holder: slug(holder),
            disposition: d,
            shipment: None,
            dest: None,
            recall: None,
        }
    }

    fn kinds() -> HashMap<Slug, PartyKind> {
        [
            (slug("fa"), PartyKind::Factory),
            (slug("wh"), PartyKind::B1),
            (slug("re"), PartyKind::B2),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_million_units_in_three_ranges() {
        let b = BatchId([7; 32]);
        let mut sold = h(b, 999_000, 999_999, "re", Disposition::RetailSold);
        sold.recall = Some(BatchId([9; 32]));
        let hs = vec![
            h(b, 0, 499_999, "fa", Disposition::Active),
            h(b, 500_000, 998_999, "wh", Disposition::Active),
            sold,
        ];
        let mut t = Tally::default();
        t.add_all(&hs, &kinds());
        let w = t.finish();
        assert_eq!(w.units, 1_000_000);
        assert_eq!(
            (w.at_factory, w.at_b1, w.at_b2, w.sold, w.recalled),
            (500_000, 499_000, 0, 1000, 1000)
        );
        assert_eq!(w.holders.len(), 3);
    }

    #[test]
    fn within_counts_only_the_overlap() {
        let b = BatchId([1; 32]);
        let other = BatchId([2; 32]);
        let hs = vec![
            h(b, 0, 9, "fa", Disposition::Active),
            h(b, 10, 19, "wh", Disposition::InTransit),
            h(b, 20, 29, "re", Disposition::Returned),
        ];
        let only = [
            UnitRange {
                batch: b,
                first: 5,
                last: 12,
            },
            UnitRange {
                batch: other,
                first: 0,
                last: 100,
            },
            UnitRange {
                batch: b,
                first: 25,
                last: 40,
            },
        ];
        let mut t = Tally::default();
        t.add_within(&hs, &only, &kinds());
        let w = t.finish();
        assert_eq!(
            (w.units, w.at_factory, w.in_transit, w.returned),
            (13, 5, 3, 5)
        );
    }

    #[test]
    fn containers_group_by_sscc() {
        let b = BatchId([1; 32]);
        let r = |f, l| UnitRange {
            batch: b,
            first: f,
            last: l,
        };
        let out = containers(vec![
            ("2".into(), None, r(10, 19)),
            ("1".into(), Some("9".into()), r(0, 4)),
            ("2".into(), None, r(0, 0)),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].units, out[1].units), (5, 11));
        assert_eq!(out[1].ranges[0].first, 0);
    }
}
