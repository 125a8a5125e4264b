//! The custody engine: what one event does, planned from what the record holds.
//!
//! Both stores and the audit apply an event through [`plan`] and nothing else.
//! It reads what it needs through [`Reads`] (a store's open transaction, or the
//! audit's replay state), checks every rule, and returns the [`Plan`] its
//! caller writes: the holding rows to end and to start, the chain heads to
//! advance, the container changes. A store adds only what is its own (the log
//! lock, duplicate check, how rows are written); the audit applies the same
//! plan to its memory, so server and auditor cannot drift apart.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use super::{rules, spans, BatchFacts, Context, CustodyError, Holding};
use crate::domain::aggregation::{self, Tree};
use crate::domain::party::{PartyKind, Slug};
use crate::domain::statement::{
    BatchId, EventStatement, EventType, ExceptionType, StatementId, UnitRange,
};
use crate::formats::gs1::Sscc;

/// What the rules read of a shipping or returning event named in `shipment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentFacts {
    /// shipping or returning.
    pub event_type: EventType,
    /// The receiver it named.
    pub to: Option<Slug>,
}

impl ShipmentFacts {
    /// The facts of a stored event.
    pub fn of(ev: &EventStatement) -> Self {
        ShipmentFacts {
            event_type: ev.event_type,
            to: ev.to.clone(),
        }
    }
}

/// Where custody is recorded, as the engine reads it: a store's transaction or
/// the audit's replay state. Every read sees the writes of earlier plans.
pub trait Reads: Send {
    /// Why a read failed (not a rule: a database error).
    type Error: Send;
    /// The containers `roots` and every container inside them, with their direct contents.
    fn tree(&mut self, roots: &[Sscc]) -> impl Future<Output = Result<Tree, Self::Error>> + Send;
    /// Stored container memberships (the row's range and its container) overlapping any of `ranges`.
    fn memberships(
        &mut self,
        ranges: &[UnitRange],
    ) -> impl Future<Output = Result<Vec<(UnitRange, Sscc)>, Self::Error>> + Send;
    /// A batch's current chain head and facts, if it is minted.
    fn batch(
        &mut self,
        batch: BatchId,
    ) -> impl Future<Output = Result<Option<(StatementId, BatchFacts)>, Self::Error>> + Send;
    /// Whether a party is registered.
    fn party_exists(
        &mut self,
        slug: &Slug,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// A stored event named as a shipment, if it is an event on record.
    fn shipment(
        &mut self,
        id: StatementId,
    ) -> impl Future<Output = Result<Option<ShipmentFacts>, Self::Error>> + Send;
    /// The holding rows of `span.batch` whose `first` lies between the start of
    /// the row holding unit `span.first - 1` (the batch's first row if none)
    /// and `span.last + 1`, ordered by `first`: the rows the span overlaps and
    /// one neighbour on each side, so that pieces left alike merge back.
    fn holdings(
        &mut self,
        span: UnitRange,
    ) -> impl Future<Output = Result<Vec<Holding>, Self::Error>> + Send;
}

/// Why an event is refused: a rule, or a chain head that moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The event breaks a custody rule.
    Custody(CustodyError),
    /// A `prev` is no longer the head: the current heads of the batches concerned.
    Conflict(BTreeMap<BatchId, StatementId>),
}

impl From<CustodyError> for Refusal {
    fn from(e: CustodyError) -> Self {
        Refusal::Custody(e)
    }
}

/// One change to the recorded containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerChange {
    /// A new, empty container, packed by the event's signer.
    Create(Sscc),
    /// Loose units put directly into a container.
    AddUnits(Sscc, Vec<UnitRange>),
    /// A container put into another, or taken out of the one it was in (`None`).
    SetParent {
        /// The container moved.
        child: Sscc,
        /// Where it is now.
        parent: Option<Sscc>,
    },
    /// A stored membership row (keyed by batch and first unit) replaced by what is left of it.
    CutUnits {
        /// The container the row is in.
        sscc: Sscc,
        /// The row as stored.
        row: UnitRange,
        /// The pieces that stay in the container (empty: the row goes).
        keep: Vec<UnitRange>,
    },
    /// A container emptied and removed; the containers in it become loose.
    Remove(Sscc),
}

/// What an accepted event changes, for the caller to write in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every unit the event covers (its loose units and its containers' contents), as recorded with it.
    pub units: Vec<UnitRange>,
    /// The holding rows read and ended; each is replaced by `started`.
    pub ended: Vec<Holding>,
    /// The same rows as spans `(batch, lowest first, highest first)`: every
    /// stored row of the batch whose `first` lies in a span is in `ended`.
    pub ended_spans: Vec<(BatchId, u64, u64)>,
    /// The holding rows that replace `ended`.
    pub started: Vec<Holding>,
    /// Chain heads that advance to this event: each batch with the head it replaces.
    pub heads: Vec<(BatchId, StatementId)>,
    /// Container changes, in the order they apply.
    pub containers: Vec<ContainerChange>,
}

impl Plan {
    /// How many units the event covers.
    pub fn unit_count(&self) -> u64 {
        self.units.iter().map(|r| r.len()).sum()
    }
}

/// Plans event `id` (already verified, signed by a party of `signer_kind`)
/// against the record. `Ok(Err(_))` is a refusal; `Err(_)` a failed read.
pub async fn plan<R: Reads>(
    id: StatementId,
    ev: &EventStatement,
    signer_kind: PartyKind,
    reads: &mut R,
) -> Result<Result<Plan, Refusal>, R::Error> {
    macro_rules! rule {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => return Ok(Err(Refusal::from(e))),
            }
        };
    }
    // Containers are expanded to the units inside them; the rules then see units only.
    let roots: Vec<Sscc> = ev.containers.iter().chain(&ev.parent).cloned().collect();
    let tree = if roots.is_empty() {
        Tree::new()
    } else {
        reads.tree(&roots).await?
    };
    let short = shortages(ev);
    let units = rule!(covered(ev, &tree, &short));
    let mut containers = Vec::new();
    match ev.event_type {
        EventType::Packing => {
            let inside = reads.memberships(&ev.objects).await?;
            let p = rule!(aggregation::pack(ev, &tree, &inside));
            if !p.new {
                let contents = rule!(aggregation::expand(std::slice::from_ref(&p.parent), &tree));
                let held = overlapping(reads, &contents).await?;
                rule!(aggregation::check_added_to(&p.parent, &ev.party, &held));
            }
            if p.new {
                containers.push(ContainerChange::Create(p.parent.clone()));
            }
            if !p.units.is_empty() {
                containers.push(ContainerChange::AddUnits(p.parent.clone(), p.units));
            }
            for child in p.children {
                containers.push(ContainerChange::SetParent {
                    child,
                    parent: Some(p.parent.clone()),
                });
            }
        }
        EventType::Unpacking => {
            containers.push(ContainerChange::Remove(rule!(aggregation::unpack(
                ev, &tree
            ))));
        }
        EventType::Shipping
        | EventType::Returning
        | EventType::RetailSelling
        | EventType::Destroying => {
            let members = if ev.objects.is_empty() {
                Vec::new()
            } else {
                reads.memberships(&ev.objects).await?
            };
            containers.extend(departures(ev, &tree, &members));
        }
        EventType::Receiving if !short.is_empty() => {
            containers.extend(short_departures(ev, &tree, &short));
        }
        _ => {}
    }

    let mut heads = BTreeMap::new();
    let mut facts = HashMap::new();
    for batch in ev.prev.keys() {
        let Some((head, f)) = reads.batch(*batch).await? else {
            return Ok(Err(CustodyError::UnknownBatch(batch.hex()).into()));
        };
        heads.insert(*batch, head);
        facts.insert(*batch, f);
    }
    let stale = rules::stale_heads(ev, &heads);
    if !stale.is_empty() {
        return Ok(Err(Refusal::Conflict(stale)));
    }
    let to_exists = match &ev.to {
        Some(to) => reads.party_exists(to).await?,
        None => false,
    };
    let shipment = match ev.shipment {
        Some(s) => reads.shipment(s).await?,
        None => None,
    };
    // Every holding row overlapping a range the event or its exceptions name,
    // plus its neighbours, read one span of touching ranges at a time (a
    // pallet's cases are one span): exactly the rows of range-by-range reads.
    let ranges: Vec<UnitRange> = units
        .iter()
        .chain(ev.exceptions.iter().flat_map(|e| e.objects.iter()))
        .copied()
        .collect();
    let mut fetched = Vec::new();
    let mut ended_spans = Vec::new();
    for span in spans::read_spans(&ranges) {
        let rows = reads.holdings(span).await?;
        let firsts = rows.iter().map(|h| h.range.first);
        if let (Some(lo), Some(hi)) = (firsts.clone().min(), firsts.max()) {
            ended_spans.push((span.batch, lo, hi));
        }
        fetched.extend(rows);
    }
    let ended = spans::as_read_per_range(&ranges, fetched);
    let ctx = Context {
        id,
        signer_kind,
        batches: &facts,
        to_exists,
        shipment: shipment.as_ref(),
    };
    let started = rule!(rules::apply_units(ev, &units, &ctx, &ended));
    Ok(Ok(Plan {
        units,
        ended,
        ended_spans,
        started,
        heads: ev.prev.iter().map(|(b, p)| (*b, *p)).collect(),
        containers,
    }))
}

/// The output of a future that never waits, as reads kept in memory never do
/// (the audit's record): `None` if it would wait.
pub fn ready<F: Future>(f: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// The ranges a receipt reports short.
fn shortages(ev: &EventStatement) -> Vec<UnitRange> {
    if ev.event_type != EventType::Receiving {
        return Vec::new();
    }
    ev.exceptions
        .iter()
        .filter(|e| e.kind == ExceptionType::Shortage)
        .flat_map(|e| e.objects.iter().copied())
        .collect()
}

/// The units an event covers. A receipt that names a container and reports
/// part of its contents short receives the rest: the dock scanned the pallet
/// and counted what was missing from it.
fn covered(
    ev: &EventStatement,
    tree: &Tree,
    short: &[UnitRange],
) -> Result<Vec<UnitRange>, CustodyError> {
    if short.is_empty() || ev.containers.is_empty() {
        return aggregation::covered_units(ev, tree);
    }
    let mut units = ev.objects.clone();
    for r in aggregation::expand(&ev.containers, tree)? {
        units.extend(minus(r, short));
    }
    Ok(units)
}

/// `r` without the units of `cuts`, as the pieces left.
pub fn minus(r: UnitRange, cuts: &[UnitRange]) -> Vec<UnitRange> {
    let mut inside: Vec<&UnitRange> = cuts
        .iter()
        .filter(|c| c.batch == r.batch && c.first <= r.last && c.last >= r.first)
        .collect();
    inside.sort();
    let mut out = Vec::new();
    let mut next = r.first;
    for c in inside {
        if c.first > next {
            out.push(UnitRange {
                first: next,
                last: c.first - 1,
                ..r
            });
        }
        if c.last >= r.last {
            return out;
        }
        next = next.max(c.last + 1);
    }
    if next <= r.last {
        out.push(UnitRange { first: next, ..r });
    }
    out
}

/// The holdings of `ranges` (rows overlapping them, no neighbours).
async fn overlapping<R: Reads>(
    reads: &mut R,
    ranges: &[UnitRange],
) -> Result<Vec<Holding>, R::Error> {
    let mut out = Vec::new();
    for span in spans::read_spans(ranges) {
        for h in reads.holdings(span).await? {
            let hit = ranges.iter().any(|r| {
                r.batch == h.range.batch && r.first <= h.range.last && r.last >= h.range.first
            });
            if hit {
                out.push(h);
            }
        }
    }
    Ok(out)
}

/// What leaves its container when an event takes it away on its own: a case
/// shipped off a pallet leaves the pallet, units sold or shipped out of a case
/// leave the case. (The event's own containers travel with their contents.)
fn departures(
    ev: &EventStatement,
    tree: &Tree,
    members: &[(UnitRange, Sscc)],
) -> Vec<ContainerChange> {
    let mut out = Vec::new();
    for c in &ev.containers {
        if tree.get(c).is_some_and(|c| c.parent.is_some()) {
            out.push(ContainerChange::SetParent {
                child: c.clone(),
                parent: None,
            });
        }
    }
    for (row, sscc) in members {
        out.push(ContainerChange::CutUnits {
            sscc: sscc.clone(),
            row: *row,
            keep: minus(*row, &ev.objects),
        });
    }
    out
}

/// What leaves its container when a receipt reports it short: a case wholly
/// missing from a pallet the receipt names leaves the pallet; units missing
/// from a case it names leave the case. (A case the receipt does not name is
/// missing whole, its contents with it.)
fn short_departures(ev: &EventStatement, tree: &Tree, short: &[UnitRange]) -> Vec<ContainerChange> {
    let mut out = Vec::new();
    // Outermost first: a missing case takes whatever is inside it along.
    let mut queue: Vec<(&Sscc, bool)> = ev.containers.iter().map(|c| (c, false)).collect();
    while let Some((sscc, nested)) = queue.pop() {
        let Some(c) = tree.get(sscc) else { continue };
        if nested {
            let inside = aggregation::expand(std::slice::from_ref(sscc), tree).unwrap_or_default();
            if !inside.is_empty() && inside.iter().all(|r| minus(*r, short).is_empty()) {
                out.push(ContainerChange::SetParent {
                    child: sscc.clone(),
                    parent: None,
                });
                continue;
            }
        }
        for row in &c.units {
            let keep = minus(*row, short);
            if keep != [*row] {
                out.push(ContainerChange::CutUnits {
                    sscc: sscc.clone(),
                    row: *row,
                    keep,
                });
            }
        }
        queue.extend(c.children.iter().map(|child| (child, true)));
    }
    out
}

#[cfg(test)]
mod tests;
