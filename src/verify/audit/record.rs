//! The custody record the audit rebuilds in memory, read by the same engine
//! the stores use (`custody::plan`) and changed by the plans it returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::holdings::Runs;
use super::Map;
use crate::domain::aggregation::{self, Tree};
use crate::domain::custody::{BatchFacts, ContainerChange, Holding, Plan, Reads, ShipmentFacts};
use crate::domain::party::Slug;
use crate::domain::statement::{BatchId, StatementId, UnitRange};
use crate::formats::gs1::Sscc;
use crate::store::Party;

/// Holdings, chain heads, shipments and containers as replayed so far.
#[derive(Default)]
pub(super) struct Record {
    /// Registered parties by slug.
    pub parties: Map<String, Arc<Party>>,
    /// Chain head of every batch minted.
    pub heads: Map<BatchId, StatementId>,
    /// Maker and quantity of every batch minted.
    pub facts: HashMap<BatchId, BatchFacts>,
    /// Holdings per batch.
    pub holdings: Map<BatchId, Runs>,
    /// Shipping and returning events, as receipts read them.
    pub shipments: Map<StatementId, ShipmentFacts>,
    /// Every container packed and not unpacked.
    pub containers: Tree,
    /// Which container each packed range is directly in: batch → first → (last, container).
    members: Map<BatchId, BTreeMap<u64, (u64, Sscc)>>,
}

impl Record {
    /// An empty record of these registered parties.
    pub fn new(parties: Map<String, Arc<Party>>) -> Self {
        Record {
            parties,
            ..Record::default()
        }
    }

    /// Writes a plan, as a store would in its transaction.
    pub fn apply(&mut self, plan: Plan) {
        for h in &plan.ended {
            if let Some(runs) = self.holdings.get_mut(&h.range.batch) {
                runs.remove(h.range.first);
            }
        }
        for h in plan.started {
            self.holdings.entry(h.range.batch).or_default().insert(h);
        }
        for change in &plan.containers {
            self.index(change);
            aggregation::apply(&mut self.containers, std::slice::from_ref(change));
        }
    }

    /// Keeps `members` in step with one change, before it applies to the tree.
    fn index(&mut self, change: &ContainerChange) {
        let add =
            |members: &mut Map<BatchId, BTreeMap<u64, (u64, Sscc)>>, s: &Sscc, r: &UnitRange| {
                members
                    .entry(r.batch)
                    .or_default()
                    .insert(r.first, (r.last, s.clone()));
            };
        match change {
            ContainerChange::AddUnits(s, units) => {
                for r in units {
                    add(&mut self.members, s, r);
                }
            }
            ContainerChange::CutUnits { sscc, row, keep } => {
                if let Some(m) = self.members.get_mut(&row.batch) {
                    m.remove(&row.first);
                }
                for r in keep {
                    add(&mut self.members, sscc, r);
                }
            }
            ContainerChange::Remove(s) => {
                if let Some(c) = self.containers.get(s) {
                    for r in &c.units {
                        if let Some(m) = self.members.get_mut(&r.batch) {
                            m.remove(&r.first);
                        }
                    }
                }
            }
            ContainerChange::Create(_) | ContainerChange::SetParent { .. } => {}
        }
    }
}

impl Reads for Record {
    type Error = std::convert::Infallible;

    async fn tree(&mut self, roots: &[Sscc]) -> Result<Tree, Self::Error> {
        let mut out = Tree::new();
        let mut stack: Vec<&Sscc> = roots.iter().collect();
        while let Some(s) = stack.pop() {
            if out.contains_key(s) {
                continue;
            }
            if let Some(c) = self.containers.get(s) {
                stack.extend(c.children.iter());
                out.insert(s.clone(), c.clone());
            }
        }
        Ok(out)
    }

    async fn memberships(
        &mut self,
        ranges: &[UnitRange],
    ) -> Result<Vec<(UnitRange, Sscc)>, Self::Error> {
        let mut out = Vec::new();
        for r in ranges {
            let Some(m) = self.members.get(&r.batch) else {
                continue;
            };
            // Rows never overlap, so their lasts rise with their firsts.
            let mut hits: Vec<(UnitRange, Sscc)> = m
                .range(..=r.last)
                .rev()
                .take_while(|(_, (last, _))| *last >= r.first)
                .map(|(first, (last, s))| {
                    let row = UnitRange {
                        batch: r.batch,
                        first: *first,
                        last: *last,
                    };
                    (row, s.clone())
                })
                .collect();
            hits.reverse();
            out.extend(hits);
        }
        Ok(out)
    }

    async fn batch(
        &mut self,
        batch: BatchId,
    ) -> Result<Option<(StatementId, BatchFacts)>, Self::Error> {
        Ok(self
            .heads
            .get(&batch)
            .zip(self.facts.get(&batch))
            .map(|(h, f)| (*h, f.clone())))
    }

    async fn party_exists(&mut self, slug: &Slug) -> Result<bool, Self::Error> {
        Ok(self.parties.contains_key(slug.as_str()))
    }

    async fn shipment(&mut self, id: StatementId) -> Result<Option<ShipmentFacts>, Self::Error> {
        Ok(self.shipments.get(&id).cloned())
    }

    async fn holdings(&mut self, span: UnitRange) -> Result<Vec<Holding>, Self::Error> {
        Ok(self
            .holdings
            .get(&span.batch)
            .map(|runs| runs.span(span.first, span.last))
            .unwrap_or_default())
    }
}
