//! The rules of one event over the holdings it touches: shape, signer, links,
//! states, exceptions, and the rows that result.

use std::collections::BTreeMap;

use super::{Context, CustodyError, Disposition, Holding};
use crate::domain::party::PartyKind;
use crate::domain::statement::{
    BatchId, EventStatement, EventType, ExceptionType, Resolution, StatementId, UnitRange,
};

/// The checks that need only the event: ranges well-formed, fields fit the type.
pub fn check_shape(ev: &EventStatement) -> Result<(), CustodyError> {
    use EventType::*;
    let name = ev.event_type.as_str();
    let unpacking = ev.event_type == Unpacking;
    if ev.objects.is_empty() && ev.containers.is_empty() && !unpacking {
        return Err(CustodyError::NoObjects);
    }
    let all_ranges = ev
        .objects
        .iter()
        .chain(ev.exceptions.iter().flat_map(|e| e.objects.iter()));
    for r in all_ranges {
        if r.first > r.last {
            return Err(CustodyError::Backwards {
                first: r.first,
                last: r.last,
            });
        }
    }
    check_overlap(&ev.objects)?;
    let mut sscc: Vec<_> = ev.containers.iter().chain(&ev.parent).collect();
    sscc.sort();
    if sscc.windows(2).any(|w| w[0] == w[1]) {
        return Err(CustodyError::BadContainer(
            "a container is named twice".into(),
        ));
    }
    // With containers or unpacking, the units are known only once contents are looked up.
    if ev.containers.is_empty() && !unpacking {
        check_prev(ev, &ev.objects)?;
    }
    let need = |ok: bool, field: &'static str| {
        if ok {
            Ok(())
        } else {
            Err(CustodyError::Missing { event: name, field })
        }
    };
    let refuse = |present: bool, field: &'static str| {
        if present {
            Err(CustodyError::Unexpected { event: name, field })
        } else {
            Ok(())
        }
    };
    match ev.event_type {
        Shipping => {
            need(ev.to.is_some(), "to")?;
            refuse(ev.shipment.is_some(), "shipment")?;
        }
        Receiving => need(ev.shipment.is_some(), "shipment")?,
        AcceptingReturn => need(ev.resolution.is_some(), "resolution")?,
        Recalling => {
            need(ev.reason.is_some(), "reason")?;
            need(ev.instructions.is_some(), "instructions")?;
        }
        Inspecting => {
            need(ev.result.is_some(), "result")?;
            check_inspection(ev)?;
        }
        Packing => need(ev.parent.is_some(), "parent")?,
        Unpacking => {
            need(ev.parent.is_some(), "parent")?;
            refuse(!ev.objects.is_empty(), "objects")?;
            refuse(!ev.containers.is_empty(), "containers")?;
        }
        RetailSelling | Returning | Destroying => {}
    }
    if !matches!(ev.event_type, Packing | Unpacking) {
        refuse(ev.parent.is_some(), "parent")?;
    }
    if ev.event_type != Receiving {
        refuse(!ev.exceptions.is_empty(), "exceptions")?;
    }
    if !matches!(ev.event_type, Shipping | Returning) {
        refuse(ev.to.is_some(), "to")?;
    }
    if !matches!(ev.event_type, Receiving | AcceptingReturn) {
        refuse(ev.shipment.is_some(), "shipment")?;
    }
    if ev.event_type != Inspecting {
        refuse(ev.method.is_some(), "method")?;
        refuse(ev.certificate_sha256.is_some(), "certificate_sha256")?;
    }
    Ok(())
}

/// An inspection's fields: a result and method with text in them, and a
/// certificate hash spelled the one way (64 lowercase hex digits).
///
/// `method` and `certificate_sha256` stay optional in the format, so inspections
/// signed before they existed still verify and replay; `suyuan inspect` always
/// sends both.
fn check_inspection(ev: &EventStatement) -> Result<(), CustodyError> {
    let blank = |v: &Option<String>| v.as_deref().is_some_and(|t| t.trim().is_empty());
    for (field, value) in [("result", &ev.result), ("method", &ev.method)] {
        if blank(value) {
            return Err(CustodyError::BadField {
                field,
                why: "is empty".into(),
            });
        }
    }
    if let Some(h) = &ev.certificate_sha256 {
        let ok = h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(CustodyError::BadField {
                field: "certificate_sha256",
                why: format!(
                    "must be the SHA-256 of the certificate document as 64 lowercase hex digits, not \"{}\"",
                    h.chars().take(80).collect::<String>()
                ),
            });
        }
    }
    Ok(())
}

/// Two ranges of one batch may not overlap.
fn check_overlap(units: &[UnitRange]) -> Result<(), CustodyError> {
    let mut sorted = units.to_vec();
    sorted.sort();
    for w in sorted.windows(2) {
        if w[0].batch == w[1].batch && w[1].first <= w[0].last {
            return Err(CustodyError::Overlap {
                batch: w[1].batch.hex(),
                first: w[1].first,
                last: w[0].last.min(w[1].last),
            });
        }
    }
    Ok(())
}

/// `prev` must name exactly the batches of the units the event covers.
fn check_prev(ev: &EventStatement, units: &[UnitRange]) -> Result<(), CustodyError> {
    let touched = batches_of(units);
    let named: Vec<BatchId> = ev.prev.keys().copied().collect();
    if touched != named {
        let list: Vec<String> = touched.iter().map(|b| b.hex()).collect();
        return Err(CustodyError::PrevBatches(list.join(", ")));
    }
    Ok(())
}

/// Batches of some unit ranges, sorted and without repeats.
pub fn batches_of(units: &[UnitRange]) -> Vec<BatchId> {
    let mut b: Vec<BatchId> = units.iter().map(|r| r.batch).collect();
    b.sort();
    b.dedup();
    b
}

/// Batches an event's loose units touch, sorted and without repeats.
pub fn batches_touched(ev: &EventStatement) -> Vec<BatchId> {
    batches_of(&ev.objects)
}

/// Compares `prev` with the current chain heads; returns the heads that moved on.
pub fn stale_heads(
    ev: &EventStatement,
    heads: &BTreeMap<BatchId, StatementId>,
) -> BTreeMap<BatchId, StatementId> {
    ev.prev
        .iter()
        .filter_map(|(batch, prev)| match heads.get(batch) {
            Some(head) if head != prev => Some((*batch, *head)),
            _ => None,
        })
        .collect()
}

/// Applies an event to every unit it covers: its loose units plus the contents
/// of its containers (see `aggregation::expand`).
///
/// `current` must hold every holding row overlapping any of `units`; the
/// result replaces exactly those rows.
pub(crate) fn apply_units(
    ev: &EventStatement,
    units: &[UnitRange],
    ctx: &Context,
    current: &[Holding],
) -> Result<Vec<Holding>, CustodyError> {
    check_shape(ev)?;
    check_party_kind(ev, ctx)?;
    check_overlap(units)?;
    check_prev(ev, units)?;
    if units.is_empty() {
        return Err(CustodyError::NoObjects);
    }
    for r in units {
        let facts = ctx
            .batches
            .get(&r.batch)
            .ok_or_else(|| CustodyError::UnknownBatch(r.batch.hex()))?;
        if r.last >= facts.quantity {
            return Err(CustodyError::NotMinted {
                batch: r.batch.hex(),
                last: r.last,
                quantity: facts.quantity,
            });
        }
    }
    check_links(ev, units, ctx)?;

    let mut out = Vec::with_capacity(current.len() + 2 * units.len());
    for h in current {
        // Cut the holding at every object boundary that falls inside it.
        let mut cursor = h.range.first;
        let mut inside: Vec<&UnitRange> = units
            .iter()
            .filter(|r| {
                r.batch == h.range.batch && r.first <= h.range.last && r.last >= h.range.first
            })
            .collect();
        inside.sort();
        for r in inside {
            let lo = r.first.max(h.range.first);
            let hi = r.last.min(h.range.last);
            if cursor < lo {
                out.push(h.piece(cursor, lo - 1));
            }
            for (a, b) in damage_cuts(ev, h.range.batch, lo, hi) {
                out.push(transform(ev, ctx, h.piece(a, b))?);
            }
            cursor = hi + 1;
        }
        if cursor <= h.range.last {
            out.push(h.piece(cursor, h.range.last));
        }
    }
    check_exceptions(ev, units, current)?;
    Ok(merge(out))
}

fn check_party_kind(ev: &EventStatement, ctx: &Context) -> Result<(), CustodyError> {
    use EventType::*;
    let ok = match ev.event_type {
        RetailSelling | Returning | AcceptingReturn => {
            matches!(
                ctx.signer_kind,
                PartyKind::B2 | PartyKind::B1 | PartyKind::Factory
            )
        }
        Recalling => matches!(ctx.signer_kind, PartyKind::Factory | PartyKind::Inspector),
        Inspecting => ctx.signer_kind == PartyKind::Inspector,
        Shipping | Receiving | Destroying | Packing | Unpacking => {
            ctx.signer_kind != PartyKind::Inspector
        }
    };
    // Retail sale is the B2's step in the F2B2B2C chain.
    let ok = ok && (ev.event_type != RetailSelling || ctx.signer_kind == PartyKind::B2);
    if ok {
        Ok(())
    } else {
        Err(CustodyError::PartyKind {
            kind: ctx.signer_kind.as_str(),
            event: ev.event_type.as_str(),
        })
    }
}

fn check_links(
    ev: &EventStatement,
    units: &[UnitRange],
    ctx: &Context,
) -> Result<(), CustodyError> {
    if let Some(to) = &ev.to {
        if !ctx.to_exists || *to == ev.party {
            return Err(CustodyError::BadReceiver(to.to_string()));
        }
    }
    if let Some(id) = ev.shipment {
        let expected = match ev.event_type {
            EventType::Receiving => EventType::Shipping,
            _ => EventType::Returning,
        };
        let ok = ctx
            .shipment
            .is_some_and(|s| s.event_type == expected && s.to.as_ref() == Some(&ev.party));
        if !ok {
            return Err(CustodyError::BadShipment(id.hex()));
        }
    }
    if ev.event_type == EventType::Recalling && ctx.signer_kind == PartyKind::Factory {
        for r in units {
            let own = ctx
                .batches
                .get(&r.batch)
                .is_some_and(|b| b.party == ev.party);
            if !own {
                return Err(CustodyError::PartyKind {
                    kind: "factory other than the batch's maker",
                    event: "recalling",
                });
            }
        }
    }
    Ok(())
}

/// Receiving exceptions must agree with what was received and what was shipped.
fn check_exceptions(
    ev: &EventStatement,
    units: &[UnitRange],
    current: &[Holding],
) -> Result<(), CustodyError> {
    let covered = |r: &UnitRange, set: &[UnitRange]| {
        set.iter()
            .any(|o| o.batch == r.batch && o.first <= r.first && o.last >= r.last)
    };
    for ex in &ev.exceptions {
        for r in &ex.objects {
            match ex.kind {
                ExceptionType::Damaged if !covered(r, units) => {
                    return Err(CustodyError::BadException(format!(
                        "damaged units {}..{} must also be listed as received",
                        r.first, r.last
                    )));
                }
                ExceptionType::Shortage => {
                    let overlaps_received = units
                        .iter()
                        .any(|o| o.batch == r.batch && o.first <= r.last && o.last >= r.first);
                    // Every unit short must still be in transit to the signer in this shipment.
                    let in_transit: Vec<UnitRange> = current
                        .iter()
                        .filter(|h| {
                            h.disposition == Disposition::InTransit
                                && h.shipment == ev.shipment
                                && h.dest.as_ref() == Some(&ev.party)
                        })
                        .map(|h| h.range)
                        .collect();
                    let in_shipment = super::plan::minus(*r, &in_transit).is_empty();
                    if overlaps_received || !in_shipment {
                        return Err(CustodyError::BadException(format!(
                            "shortage {}..{} must be units of the shipment that were not received",
                            r.first, r.last
                        )));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn wrong_state(ev: &EventStatement, h: &Holding, needs: &'static str) -> CustodyError {
    CustodyError::WrongState {
        batch: h.range.batch.hex(),
        first: h.range.first,
        last: h.range.last,
        is: h.disposition.as_str(),
        event: ev.event_type.as_str(),
        needs,
    }
}

fn require_holder(ev: &EventStatement, h: &Holding) -> Result<(), CustodyError> {
    if h.holder == ev.party {
        Ok(())
    } else {
        Err(CustodyError::NotHolder {
            signer: ev.party.to_string(),
            holder: h.holder.to_string(),
            batch: h.range.batch.hex(),
            first: h.range.first,
            last: h.range.last,
        })
    }
}

fn require_in_shipment(ev: &EventStatement, h: &Holding) -> Result<(), CustodyError> {
    let ok = h.disposition == Disposition::InTransit
        && h.shipment == ev.shipment
        && h.dest.as_ref() == Some(&ev.party);
    if ok {
        Ok(())
    } else {
        Err(CustodyError::NotInShipment {
            signer: ev.party.to_string(),
            batch: h.range.batch.hex(),
            first: h.range.first,
            last: h.range.last,
            shipment: ev.shipment.map(|s| s.hex()).unwrap_or_default(),
        })
    }
}

fn arrive(ev: &EventStatement, mut h: Holding, disposition: Disposition) -> Holding {
    h.holder = ev.party.clone();
    h.disposition = disposition;
    h.shipment = None;
    h.dest = None;
    h
}

fn resolved(r: Option<Resolution>) -> Disposition {
    match r {
        Some(Resolution::Restock) => Disposition::Active,
        Some(Resolution::Destroy) => Disposition::Destroyed,
        Some(Resolution::Quarantine) | None => Disposition::Returned,
    }
}

/// `lo..=hi` cut at the edges of a receipt's damaged ranges, so that damage
/// reported for part of a received case or range sets aside exactly those units.
fn damage_cuts(ev: &EventStatement, batch: BatchId, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let mut edges: Vec<u64> = Vec::new();
    if ev.event_type == EventType::Receiving {
        for r in ev
            .exceptions
            .iter()
            .filter(|e| e.kind == ExceptionType::Damaged)
            .flat_map(|e| &e.objects)
            .filter(|r| r.batch == batch)
        {
            // A piece starts at each damaged range's first unit and after its last.
            if r.first > lo && r.first <= hi {
                edges.push(r.first);
            }
            if r.last >= lo && r.last < hi {
                edges.push(r.last + 1);
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let mut pieces = Vec::with_capacity(edges.len() + 1);
    let mut start = lo;
    for e in edges {
        pieces.push((start, e - 1));
        start = e;
    }
    pieces.push((start, hi));
    pieces
}

/// One piece of a holding, fully inside the event's objects, under the event.
fn transform(ev: &EventStatement, ctx: &Context, mut h: Holding) -> Result<Holding, CustodyError> {
    use Disposition as D;
    use EventType::*;
    match ev.event_type {
        Shipping => {
            require_holder(ev, &h)?;
            if !matches!(
                h.disposition,
                D::Active | D::Returned | D::SellableNotAccessible
            ) {
                return Err(wrong_state(ev, &h, "in stock"));
            }
            h.disposition = D::InTransit;
            h.shipment = Some(ctx.id);
            h.dest = ev.to.clone();
        }
        Receiving => {
            require_in_shipment(ev, &h)?;
            let damaged = ev.exceptions.iter().any(|e| {
                e.kind == ExceptionType::Damaged
                    && e.objects.iter().any(|r| {
                        r.batch == h.range.batch
                            && r.first <= h.range.first
                            && r.last >= h.range.last
                    })
            });
            let d = if damaged {
                D::SellableNotAccessible
            } else {
                D::Active
            };
            h = arrive(ev, h, d);
        }
        RetailSelling => {
            require_holder(ev, &h)?;
            if h.disposition != D::Active {
                return Err(wrong_state(ev, &h, "active (in stock)"));
            }
            if h.recall.is_some() {
                return Err(CustodyError::Recalled {
                    batch: h.range.batch.hex(),
                    first: h.range.first,
                    last: h.range.last,
                });
            }
            h.disposition = D::RetailSold;
        }
        Returning => {
            require_holder(ev, &h)?;
            match (&ev.to, h.disposition) {
                // A consumer brings a sold unit back to the counter that sold it.
                (None, D::RetailSold) => h.disposition = D::Returned,
                (None, _) => return Err(wrong_state(ev, &h, "retail_sold")),
                // Stock sent back upstream travels like a shipment.
                (Some(to), D::Active | D::Returned | D::SellableNotAccessible) => {
                    h.disposition = D::InTransit;
                    h.shipment = Some(ctx.id);
                    h.dest = Some(to.clone());
                }
                (Some(_), _) => return Err(wrong_state(ev, &h, "in stock or returned")),
            }
        }
        AcceptingReturn => {
            if ev.shipment.is_some() {
                require_in_shipment(ev, &h)?;
                h = arrive(ev, h, resolved(ev.resolution));
            } else {
                require_holder(ev, &h)?;
                if h.disposition != D::Returned {
                    return Err(wrong_state(ev, &h, "returned"));
                }
                h.disposition = resolved(ev.resolution);
            }
        }
        Recalling => h.recall = Some(ctx.id),
        Inspecting => {}
        // Aggregation changes no custody, but only the holder may pack what it has in hand.
        Packing | Unpacking => {
            require_holder(ev, &h)?;
            if matches!(h.disposition, D::InTransit | D::RetailSold | D::Destroyed) {
                return Err(wrong_state(ev, &h, "in stock"));
            }
        }
        Destroying => {
            require_holder(ev, &h)?;
            if matches!(h.disposition, D::InTransit | D::Destroyed | D::RetailSold) {
                return Err(wrong_state(ev, &h, "held"));
            }
            h.disposition = D::Destroyed;
        }
    }
    Ok(h)
}

/// Joins neighbouring ranges in the same state so holdings stay few.
fn merge(mut hs: Vec<Holding>) -> Vec<Holding> {
    hs.sort_by_key(|h| h.range);
    let mut out: Vec<Holding> = Vec::with_capacity(hs.len());
    for h in hs {
        if let Some(prev) = out.last_mut() {
            let same = prev.range.batch == h.range.batch
                && prev.range.last + 1 == h.range.first
                && prev.holder == h.holder
                && prev.disposition == h.disposition
                && prev.shipment == h.shipment
                && prev.dest == h.dest
                && prev.recall == h.recall;
            if same {
                prev.range.last = h.range.last;
                continue;
            }
        }
        out.push(h);
    }
    out
}

#[cfg(test)]
mod tests;
