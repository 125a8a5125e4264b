//! The engine over a small in-memory record: the container rules it adds and
//! the refusals it owes every caller.

use super::*;
use crate::domain::custody::Disposition;
use crate::domain::statement::Exception;
use crate::domain::time::Timestamp;

const BATCH: BatchId = BatchId([1; 32]);

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
        batch: BATCH,
        first,
        last,
    }
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap()
}

/// A record as a store keeps it: rows, containers, heads, parties, shipments.
#[derive(Default)]
struct Memory {
    holdings: Vec<Holding>,
    tree: Tree,
    head: Option<StatementId>,
    shipments: HashMap<StatementId, ShipmentFacts>,
}

impl Memory {
    /// Batch of 40 units held by the factory, packed as a pallet (1) of two
    /// cases (2: units 0..9, 3: units 10..19); units 20..39 loose.
    fn palletised() -> Memory {
        let mut m = Memory {
            head: Some(BATCH),
            ..Memory::default()
        };
        m.holdings.push(Holding {
            range: r(0, 39),
            holder: slug("ff"),
            disposition: Disposition::Active,
            shipment: None,
            dest: None,
            recall: None,
        });
        m.tree = aggregation::build_tree(
            vec![
                (sscc(1), None),
                (sscc(2), Some(sscc(1))),
                (sscc(3), Some(sscc(1))),
            ],
            vec![(sscc(2), r(0, 9)), (sscc(3), r(10, 19))],
        );
        m
    }

    /// Plans `ev` as event `n` and, if accepted, writes it.
    fn run(&mut self, n: u8, ev: &EventStatement, kind: PartyKind) -> Result<Plan, Refusal> {
        let id = BatchId([n; 32]);
        let plan = match ready(plan(id, ev, kind, self)).expect("reads never wait") {
            Ok(planned) => planned?,
            Err(never) => match never {},
        };
        self.holdings.retain(|h| !plan.ended.contains(h));
        self.holdings.extend(plan.started.iter().cloned());
        self.holdings.sort_by_key(|h| h.range);
        aggregation::apply(&mut self.tree, &plan.containers);
        self.head = Some(id);
        if matches!(ev.event_type, EventType::Shipping | EventType::Returning) {
            self.shipments.insert(id, ShipmentFacts::of(ev));
        }
        Ok(plan)
    }
}

impl Reads for Memory {
    type Error = std::convert::Infallible;

    async fn tree(&mut self, roots: &[Sscc]) -> Result<Tree, Self::Error> {
        let mut out = Tree::new();
        for root in roots {
            for s in aggregation::containers_within(root, &self.tree) {
                if let Some(c) = self.tree.get(&s) {
                    out.insert(s, c.clone());
                }
            }
        }
        Ok(out)
    }

    async fn memberships(
        &mut self,
        ranges: &[UnitRange],
    ) -> Result<Vec<(UnitRange, Sscc)>, Self::Error> {
        let mut out = Vec::new();
        for q in ranges {
            for c in self.tree.values() {
                for u in &c.units {
                    if u.batch == q.batch && u.first <= q.last && u.last >= q.first {
                        out.push((*u, c.sscc.clone()));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn batch(
        &mut self,
        batch: BatchId,
    ) -> Result<Option<(StatementId, BatchFacts)>, Self::Error> {
        let facts = BatchFacts {
            party: slug("ff"),
            quantity: 40,
        };
        Ok(self.head.filter(|_| batch == BATCH).map(|h| (h, facts)))
    }

    async fn party_exists(&mut self, s: &Slug) -> Result<bool, Self::Error> {
        Ok(["ff", "b1", "b2"].contains(&s.as_str()))
    }

    async fn shipment(&mut self, id: StatementId) -> Result<Option<ShipmentFacts>, Self::Error> {
        Ok(self.shipments.get(&id).cloned())
    }

    async fn holdings(&mut self, span: UnitRange) -> Result<Vec<Holding>, Self::Error> {
        let rows: Vec<&Holding> = self
            .holdings
            .iter()
            .filter(|h| h.range.batch == span.batch)
            .collect();
        let before = span.first.saturating_sub(1);
        let start = rows
            .iter()
            .filter(|h| h.range.first <= before)
            .map(|h| h.range.first)
            .max()
            .unwrap_or(0);
        Ok(rows
            .into_iter()
            .filter(|h| h.range.first >= start && h.range.first <= span.last + 1)
            .cloned()
            .collect())
    }
}

fn event(kind: EventType, party: &str, head: StatementId) -> EventStatement {
    EventStatement {
        prev: [(BATCH, head)].into_iter().collect(),
        ..EventStatement::new(
            slug(party),
            "k".into(),
            Timestamp::from_unix(0),
            kind,
            vec![],
        )
    }
}

fn ship(m: &Memory, containers: Vec<Sscc>, objects: Vec<UnitRange>) -> EventStatement {
    let mut ev = event(EventType::Shipping, "ff", m.head.unwrap());
    ev.to = Some(slug("b1"));
    ev.containers = containers;
    ev.objects = objects;
    ev
}

#[test]
fn a_case_shipped_off_a_pallet_leaves_it_and_loose_units_leave_their_case() {
    let mut m = Memory::palletised();
    let ev = ship(&m, vec![sscc(3)], vec![r(2, 4)]);
    let plan = m.run(10, &ev, PartyKind::Factory).unwrap();
    assert_eq!(plan.units, vec![r(2, 4), r(10, 19)]);
    assert_eq!(
        plan.containers,
        vec![
            ContainerChange::SetParent {
                child: sscc(3),
                parent: None
            },
            ContainerChange::CutUnits {
                sscc: sscc(2),
                row: r(0, 9),
                keep: vec![r(0, 1), r(5, 9)]
            },
        ]
    );
    let pallet = &m.tree[&sscc(1)];
    assert_eq!(pallet.children, vec![sscc(2)]);
    assert_eq!(m.tree[&sscc(2)].units, vec![r(0, 1), r(5, 9)]);
    assert_eq!(m.tree[&sscc(3)].parent, None);
    // The pallet now covers exactly what is still on it.
    assert_eq!(
        aggregation::expand(&[sscc(1)], &m.tree).unwrap(),
        vec![r(0, 1), r(5, 9)]
    );
}

#[test]
fn a_pallet_received_with_a_case_short_receives_the_rest_and_drops_the_case() {
    let mut m = Memory::palletised();
    m.run(10, &ship(&m, vec![sscc(1)], vec![]), PartyKind::Factory)
        .unwrap();
    let mut rx = event(EventType::Receiving, "b1", m.head.unwrap());
    rx.shipment = Some(BatchId([10; 32]));
    rx.containers = vec![sscc(1)];
    rx.exceptions = vec![
        Exception {
            kind: ExceptionType::Shortage,
            objects: vec![r(10, 19)],
            note: None,
        },
        Exception {
            kind: ExceptionType::Shortage,
            objects: vec![r(3, 3)],
            note: None,
        },
    ];
    let plan = m.run(11, &rx, PartyKind::B1).unwrap();
    assert_eq!(plan.units, vec![r(0, 2), r(4, 9)]);
    assert_eq!(m.tree[&sscc(1)].children, vec![sscc(2)]);
    assert_eq!(m.tree[&sscc(2)].units, vec![r(0, 2), r(4, 9)]);
    let state = |i: u64| {
        m.holdings
            .iter()
            .find(|h| h.range.first <= i && h.range.last >= i)
            .map(|h| (h.holder.to_string(), h.disposition))
            .unwrap()
    };
    assert_eq!(state(0), ("b1".into(), Disposition::Active));
    // Still in transit from the factory: short, not received.
    assert_eq!(state(3), ("ff".into(), Disposition::InTransit));
    assert_eq!(state(15), ("ff".into(), Disposition::InTransit));
}

#[test]
fn packing_into_a_container_someone_else_holds_is_refused() {
    let mut m = Memory::palletised();
    m.run(10, &ship(&m, vec![sscc(1)], vec![]), PartyKind::Factory)
        .unwrap();
    // The factory still holds loose units 20..39, but the pallet is in transit.
    let mut pack = event(EventType::Packing, "ff", m.head.unwrap());
    pack.parent = Some(sscc(1));
    pack.objects = vec![r(20, 29)];
    let refused = m.run(11, &pack, PartyKind::Factory).unwrap_err();
    assert!(
        matches!(&refused, Refusal::Custody(CustodyError::BadContainer(t)) if t.contains("in transit")),
        "{refused:?}"
    );
}

#[test]
fn a_stale_head_is_a_conflict_naming_the_current_head() {
    let mut m = Memory::palletised();
    let ev = ship(&m, vec![], vec![r(30, 30)]);
    m.run(10, &ev, PartyKind::Factory).unwrap();
    let again = ship(&m, vec![], vec![r(31, 31)]);
    let mut stale = again.clone();
    stale.prev = [(BATCH, BATCH)].into_iter().collect();
    let refused = m.run(11, &stale, PartyKind::Factory).unwrap_err();
    assert_eq!(
        refused,
        Refusal::Conflict([(BATCH, BatchId([10; 32]))].into_iter().collect())
    );
    m.run(11, &again, PartyKind::Factory).unwrap();
}

#[test]
fn minus_leaves_the_pieces_outside_the_cuts() {
    assert_eq!(minus(r(0, 9), &[r(3, 4)]), vec![r(0, 2), r(5, 9)]);
    assert_eq!(minus(r(0, 9), &[r(0, 9)]), vec![]);
    assert_eq!(minus(r(5, 9), &[r(0, 5), r(9, 20)]), vec![r(6, 8)]);
    assert_eq!(minus(r(0, 9), &[r(4, 6), r(2, 5)]), vec![r(0, 1), r(7, 9)]);
    let other = UnitRange {
        batch: BatchId([2; 32]),
        first: 0,
        last: 9,
    };
    assert_eq!(minus(r(0, 9), &[other]), vec![r(0, 9)]);
    assert_eq!(
        minus(r(0, u64::MAX), &[r(u64::MAX, u64::MAX)]),
        vec![r(0, u64::MAX - 1)]
    );
}
