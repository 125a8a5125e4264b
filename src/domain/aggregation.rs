//! Aggregation: units packed into SSCC cases, cases into pallets, to any depth.
//!
//! A container holds loose unit ranges and child containers. Acting on a
//! container acts on everything inside it, so a pallet is received with one scan.

use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

use super::custody::{ContainerChange, CustodyError, Disposition, Holding};
use super::party::Slug;
use super::statement::{EventStatement, EventType, UnitRange};
use crate::formats::gs1::Sscc;

/// One container's direct contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// Its SSCC.
    pub sscc: Sscc,
    /// The container it is packed in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Sscc>,
    /// Loose units packed directly in it.
    pub units: Vec<UnitRange>,
    /// Containers packed directly in it.
    pub children: Vec<Sscc>,
}

/// Containers by SSCC, as loaded for one event (every container reachable from the ones it names).
pub type Tree = HashMap<Sscc, Container>;

fn err(m: String) -> CustodyError {
    CustodyError::BadContainer(m)
}

/// Builds the tree from container rows `(sscc, parent)` and membership rows `(sscc, units)`.
pub fn build_tree(containers: Vec<(Sscc, Option<Sscc>)>, units: Vec<(Sscc, UnitRange)>) -> Tree {
    let mut tree: Tree = containers
        .iter()
        .map(|(s, p)| {
            let c = Container {
                sscc: s.clone(),
                parent: p.clone(),
                units: vec![],
                children: vec![],
            };
            (s.clone(), c)
        })
        .collect();
    for (s, p) in containers {
        if let Some(parent) = p.and_then(|p| tree.get_mut(&p)) {
            parent.children.push(s);
        }
    }
    for (s, r) in units {
        if let Some(c) = tree.get_mut(&s) {
            c.units.push(r);
        }
    }
    for c in tree.values_mut() {
        c.children.sort();
        c.units.sort();
    }
    tree
}

/// Every unit inside some containers, recursively.
pub fn expand(roots: &[Sscc], tree: &Tree) -> Result<Vec<UnitRange>, CustodyError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&Sscc> = roots.iter().collect();
    while let Some(s) = stack.pop() {
        if !seen.insert(s.clone()) {
            return Err(err(format!(
                "{s} is reached twice (named twice or packed in a loop)"
            )));
        }
        let c = tree
            .get(s)
            .ok_or_else(|| err(format!("{s} is not a packed container")))?;
        out.extend(c.units.iter().copied());
        stack.extend(c.children.iter());
    }
    Ok(out)
}

/// The units an event covers: its loose units plus the contents of the containers it names.
///
/// Packing covers what is put in; unpacking covers the emptied container's contents.
pub fn covered_units(ev: &EventStatement, tree: &Tree) -> Result<Vec<UnitRange>, CustodyError> {
    let mut units = ev.objects.clone();
    match (ev.event_type, &ev.parent) {
        (EventType::Unpacking, Some(p)) => units.extend(expand(std::slice::from_ref(p), tree)?),
        _ => units.extend(expand(&ev.containers, tree)?),
    }
    Ok(units)
}

/// What packing changes: the parent's new direct contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The container filled.
    pub parent: Sscc,
    /// Whether it is new.
    pub new: bool,
    /// Loose units now directly inside.
    pub units: Vec<UnitRange>,
    /// Containers now directly inside.
    pub children: Vec<Sscc>,
}

/// Checks a packing event against the containers on record and the units
/// already packed somewhere (`packed`: overlapping container memberships).
pub fn pack(
    ev: &EventStatement,
    tree: &Tree,
    packed: &[(UnitRange, Sscc)],
) -> Result<Packed, CustodyError> {
    let parent = ev
        .parent
        .clone()
        .ok_or_else(|| err("packing needs \"parent\"".into()))?;
    if let Some((r, s)) = packed.first() {
        return Err(err(format!(
            "units {}..{} of batch {} are already packed in {s}; unpack them first",
            r.first, r.last, r.batch
        )));
    }
    for child in &ev.containers {
        let c = tree
            .get(child)
            .ok_or_else(|| err(format!("{child} is not a packed container")))?;
        if let Some(p) = &c.parent {
            return Err(err(format!(
                "{child} is already packed in {p}; unpack it first"
            )));
        }
        // Packing a container into itself or into something inside it would make a loop.
        if containers_within(child, tree).contains(&parent) {
            return Err(err(format!("{parent} is {child} or inside it")));
        }
    }
    let new = !tree.contains_key(&parent);
    if let Some(p) = tree.get(&parent).and_then(|c| c.parent.clone()) {
        return Err(err(format!(
            "{parent} is packed in {p}; unpack it before adding to it"
        )));
    }
    Ok(Packed {
        parent,
        new,
        units: ev.objects.clone(),
        children: ev.containers.clone(),
    })
}

/// Checks that what is already inside a container being added to is held by
/// the packer and not in transit: a shipment's notice lists the containers it
/// sent, so their contents must not change until the receiver has them.
pub fn check_added_to(
    parent: &Sscc,
    packer: &Slug,
    contents: &[Holding],
) -> Result<(), CustodyError> {
    for h in contents {
        if h.disposition == Disposition::InTransit {
            let to = h
                .dest
                .as_ref()
                .map(|d| format!(" to {d}"))
                .unwrap_or_default();
            return Err(err(format!(
                "{parent} is in transit{to}; nothing can be added to it until it is received"
            )));
        }
        if &h.holder != packer {
            return Err(err(format!(
                "{parent} is held by {}; only its holder may add to it",
                h.holder
            )));
        }
    }
    Ok(())
}

/// A container and every container inside it.
pub fn containers_within(root: &Sscc, tree: &Tree) -> BTreeSet<Sscc> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.clone()];
    while let Some(s) = stack.pop() {
        if seen.insert(s.clone()) {
            if let Some(c) = tree.get(&s) {
                stack.extend(c.children.iter().cloned());
            }
        }
    }
    seen
}

/// Checks an unpacking event: the container must exist and not be inside another.
pub fn unpack(ev: &EventStatement, tree: &Tree) -> Result<Sscc, CustodyError> {
    let parent = ev
        .parent
        .clone()
        .ok_or_else(|| err("unpacking needs \"parent\"".into()))?;
    let c = tree
        .get(&parent)
        .ok_or_else(|| err(format!("{parent} is not a packed container")))?;
    if let Some(p) = &c.parent {
        return Err(err(format!("{parent} is inside {p}; unpack {p} first")));
    }
    Ok(parent)
}

/// Applies an event's container changes (see `custody::plan`) to containers held in memory.
pub fn apply(tree: &mut Tree, changes: &[ContainerChange]) {
    for change in changes {
        match change {
            ContainerChange::Create(s) => {
                tree.entry(s.clone()).or_insert_with(|| Container {
                    sscc: s.clone(),
                    parent: None,
                    units: Vec::new(),
                    children: Vec::new(),
                });
            }
            ContainerChange::AddUnits(s, units) => {
                if let Some(c) = tree.get_mut(s) {
                    c.units.extend(units.iter().copied());
                    c.units.sort();
                }
            }
            ContainerChange::SetParent { child, parent } => {
                let old = tree.get(child).and_then(|c| c.parent.clone());
                if let Some(p) = old.and_then(|p| tree.get_mut(&p)) {
                    p.children.retain(|c| c != child);
                }
                if let Some(p) = parent.as_ref().and_then(|p| tree.get_mut(p)) {
                    p.children.push(child.clone());
                    p.children.sort();
                }
                if let Some(c) = tree.get_mut(child) {
                    c.parent = parent.clone();
                }
            }
            ContainerChange::CutUnits { sscc, row, keep } => {
                if let Some(c) = tree.get_mut(sscc) {
                    c.units
                        .retain(|u| u.batch != row.batch || u.first != row.first);
                    c.units.extend(keep.iter().copied());
                    c.units.sort();
                }
            }
            ContainerChange::Remove(s) => {
                if let Some(c) = tree.remove(s) {
                    for child in c.children {
                        if let Some(c) = tree.get_mut(&child) {
                            c.parent = None;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statement::BatchId;

    fn sscc(n: u32) -> Sscc {
        let body = format!("10614141{n:09}");
        Sscc::parse(&format!(
            "{body}{}",
            crate::formats::gs1::check_digit(&body)
        ))
        .unwrap()
    }

    fn r(first: u64, last: u64) -> UnitRange {
        UnitRange {
            batch: BatchId([1; 32]),
            first,
            last,
        }
    }

    fn tree() -> Tree {
        // Pallet 1 holds cases 2 and 3; case 2 holds units 0..9, case 3 holds 10..19.
        let mut t = Tree::new();
        t.insert(
            sscc(1),
            Container {
                sscc: sscc(1),
                parent: None,
                units: vec![],
                children: vec![sscc(2), sscc(3)],
            },
        );
        t.insert(
            sscc(2),
            Container {
                sscc: sscc(2),
                parent: Some(sscc(1)),
                units: vec![r(0, 9)],
                children: vec![],
            },
        );
        t.insert(
            sscc(3),
            Container {
                sscc: sscc(3),
                parent: Some(sscc(1)),
                units: vec![r(10, 19)],
                children: vec![],
            },
        );
        t
    }

    fn event(
        t: EventType,
        objects: Vec<UnitRange>,
        containers: Vec<Sscc>,
        parent: Option<Sscc>,
    ) -> EventStatement {
        let ks = crate::client::keystore::Keystore::from_key(
            crate::domain::party::Slug::parse("b1-north").unwrap(),
            ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        );
        let mut ev = crate::client::draft_event(&ks, t, objects);
        ev.containers = containers;
        ev.parent = parent;
        ev
    }

    #[test]
    fn only_the_holder_adds_to_a_container_and_never_in_transit() {
        let me = Slug::parse("b1-north").unwrap();
        let other = Slug::parse("b2-shop").unwrap();
        let held = |holder: &Slug, disposition| Holding {
            range: r(0, 9),
            holder: holder.clone(),
            disposition,
            shipment: None,
            dest: None,
            recall: None,
        };
        assert!(check_added_to(&sscc(1), &me, &[]).is_ok());
        assert!(check_added_to(&sscc(1), &me, &[held(&me, Disposition::Active)]).is_ok());
        let mut moving = held(&me, Disposition::InTransit);
        moving.dest = Some(other.clone());
        let e = check_added_to(&sscc(1), &me, &[moving]).unwrap_err();
        assert!(e.to_string().contains("in transit to b2-shop"), "{e}");
        let e = check_added_to(&sscc(1), &me, &[held(&other, Disposition::Active)]).unwrap_err();
        assert!(e.to_string().contains("held by b2-shop"), "{e}");
    }

    #[test]
    fn a_pallet_expands_to_every_unit_inside() {
        let mut units = expand(&[sscc(1)], &tree()).unwrap();
        units.sort();
        assert_eq!(units, vec![r(0, 9), r(10, 19)]);
        assert!(expand(&[sscc(9)], &tree()).is_err());
        assert!(
            expand(&[sscc(1), sscc(2)], &tree()).is_err(),
            "case 2 reached twice"
        );
    }

    #[test]
    fn covered_units_of_unpacking_and_shipping() {
        let ship = event(EventType::Shipping, vec![r(50, 59)], vec![sscc(1)], None);
        assert_eq!(covered_units(&ship, &tree()).unwrap().len(), 3);
        let unpack_ev = event(EventType::Unpacking, vec![], vec![], Some(sscc(2)));
        assert_eq!(covered_units(&unpack_ev, &tree()).unwrap(), vec![r(0, 9)]);
    }

    #[test]
    fn packing_rules() {
        let t = tree();
        // A new case with loose units.
        let ok = pack(
            &event(EventType::Packing, vec![r(20, 29)], vec![], Some(sscc(4))),
            &t,
            &[],
        )
        .unwrap();
        assert!(ok.new);
        // Units already in a case.
        let e = event(EventType::Packing, vec![r(5, 5)], vec![], Some(sscc(4)));
        assert!(pack(&e, &t, &[(r(0, 9), sscc(2))]).is_err());
        // A case that is already on a pallet.
        assert!(pack(
            &event(EventType::Packing, vec![], vec![sscc(2)], Some(sscc(4))),
            &t,
            &[]
        )
        .is_err());
        // A pallet into one of its own cases.
        assert!(pack(
            &event(EventType::Packing, vec![], vec![sscc(1)], Some(sscc(2))),
            &t,
            &[]
        )
        .is_err());
        // Adding to a case that sits on a pallet.
        assert!(pack(
            &event(EventType::Packing, vec![r(30, 30)], vec![], Some(sscc(3))),
            &t,
            &[]
        )
        .is_err());
        // Unpacking a case still on a pallet is refused; the pallet first.
        assert!(unpack(
            &event(EventType::Unpacking, vec![], vec![], Some(sscc(2))),
            &t
        )
        .is_err());
        assert_eq!(
            unpack(
                &event(EventType::Unpacking, vec![], vec![], Some(sscc(1))),
                &t
            )
            .unwrap(),
            sscc(1)
        );
    }
}
