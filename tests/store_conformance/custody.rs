//! Custody events: appends under compare-and-swap, refusals, holdings, shipments, reports.

use std::collections::BTreeMap;

use suyuan::domain::custody::{CustodyError, Disposition as D};
use suyuan::domain::party::PartyKind;
use suyuan::domain::statement::{
    BatchId, EventStatement, EventType as T, Exception, ExceptionType, Input, Resolution,
    StatementId, UnitRange,
};
use suyuan::formats::sign::Kind;
use suyuan::store::{self, Appended, DynStore, StoreError};

use crate::fixtures::*;
use crate::Db;

/// A factory, two distributors down the chain, an inspector and a minted batch.
struct Chain {
    store: DynStore,
    factory: Actor,
    b1: Actor,
    b2: Actor,
    inspector: Actor,
    batch: BatchId,
}

async fn chain(db: &Db, quantity: u64) -> Chain {
    let store = db.open().await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    let b2 = Actor::new("corner-shop", PartyKind::B2, 3);
    let inspector = Actor::new("city-lab", PartyKind::Inspector, 4);
    for a in [&factory, &b1, &b2, &inspector] {
        a.register(&store).await;
    }
    let batch = factory.mint(&store, "LOT-A", quantity).await;
    Chain {
        store,
        factory,
        b1,
        b2,
        inspector,
        batch,
    }
}

impl Chain {
    /// The heads of the batches these ranges touch.
    async fn prev(&self, objects: &[UnitRange]) -> BTreeMap<BatchId, StatementId> {
        let batches: Vec<BatchId> = objects.iter().map(|r| r.batch).collect();
        heads(&self.store, &batches).await
    }

    /// An event of `who` over `objects`, following the current heads.
    async fn event(&self, who: &Actor, t: T, objects: Vec<UnitRange>) -> EventStatement {
        let prev = self.prev(&objects).await;
        who.event(t, objects, &prev)
    }

    async fn ship(&self, from: &Actor, to: &Actor, objects: Vec<UnitRange>) -> StatementId {
        let mut ev = self.event(from, T::Shipping, objects).await;
        ev.to = Some(to.slug.clone());
        from.stored(&self.store, &ev).await
    }

    async fn receive(
        &self,
        who: &Actor,
        shipment: StatementId,
        objects: Vec<UnitRange>,
    ) -> StatementId {
        let mut ev = self.event(who, T::Receiving, objects).await;
        ev.shipment = Some(shipment);
        who.stored(&self.store, &ev).await
    }

    fn r(&self, first: u64, last: u64) -> UnitRange {
        range(self.batch, first, last)
    }

    async fn holdings(&self) -> Vec<(u64, u64, String, D)> {
        holdings(&self.store, self.batch).await
    }

    /// Appends `ev` as `who`, expects a custody refusal, and checks nothing changed.
    async fn refused(&self, who: &Actor, ev: &EventStatement) -> CustodyError {
        let batches: Vec<BatchId> = ev.prev.keys().copied().collect();
        let before = snapshot(&self.store, &batches).await;
        let (st, r) = who.append(&self.store, ev).await;
        let err = match r {
            Err(StoreError::Custody(e)) => e,
            other => panic!(
                "{:?} by {}: expected a custody refusal, got {other:?}",
                ev.event_type, who.slug
            ),
        };
        assert_eq!(
            snapshot(&self.store, &batches).await,
            before,
            "refused {err}"
        );
        assert_eq!(self.store.statement(&st.id).await.unwrap(), None);
        err
    }
}

fn h(first: u64, last: u64, holder: &str, d: D) -> (u64, u64, String, D) {
    (first, last, holder.to_owned(), d)
}

fn seqs(v: Vec<store::StoredStatement>) -> Vec<i64> {
    v.into_iter().map(|s| s.seq).collect()
}

fn ids(v: Vec<store::StoredStatement>) -> Vec<StatementId> {
    v.into_iter().map(|s| sid(&s.id)).collect()
}

pub async fn ship_receive_and_conflict(db: Db) {
    let c = chain(&db, 1000).await;
    let (store, batch) = (&c.store, c.batch);

    // Ship units 0..99 to the B1: leaf 1; the same statement again is its duplicate.
    let mut ship = c.event(&c.factory, T::Shipping, vec![c.r(0, 99)]).await;
    ship.to = Some(c.b1.slug.clone());
    ship.asn = Some("ASN-1".into());
    let (ship_st, r) = c.factory.append(store, &ship).await;
    assert_eq!(r.unwrap(), Appended::Stored(1));
    let ship_id = sid(&ship_st.id);
    let (_, again) = c.factory.append(store, &ship).await;
    assert_eq!(again.unwrap(), Appended::Duplicate(1));
    assert_eq!(store.log_size().await.unwrap(), 2);
    let stored = store.statement(&ship_st.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.seq,
            stored.kind.as_str(),
            stored.party.as_str(),
            &stored.json
        ),
        (1, "event", "acme-foods", &ship_st.json)
    );
    assert_eq!(heads(store, &[batch]).await, [(batch, ship_id)].into());
    assert_eq!(
        c.holdings().await,
        [
            h(0, 99, "acme-foods", D::InTransit),
            h(100, 999, "acme-foods", D::Active)
        ]
    );
    let moving = store.unit(&batch, 0).await.unwrap().unwrap();
    assert_eq!(
        (moving.shipment, moving.dest.as_ref(), moving.recall),
        (Some(ship_id), Some(&c.b1.slug), None)
    );
    assert_eq!(
        ids(store.shipments_to(&c.b1.slug).await.unwrap()),
        [ship_id]
    );
    assert!(store.shipments_to(&c.b2.slug).await.unwrap().is_empty());

    // An event signed against the old head loses the compare-and-swap, and is told the new head.
    let mut late = c.factory.event(
        T::Shipping,
        vec![c.r(500, 599)],
        &[(batch, head_of(batch))].into(),
    );
    late.to = Some(c.b1.slug.clone());
    let before = snapshot(store, &[batch]).await;
    let (late_st, r) = c.factory.append(store, &late).await;
    match r {
        Err(StoreError::Conflict(heads)) => assert_eq!(heads, [(batch, ship_id)].into()),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(snapshot(store, &[batch]).await, before);
    assert_eq!(store.statement(&late_st.id).await.unwrap(), None);

    // The B1 receives half of the shipment.
    let recv = c.receive(&c.b1, ship_id, vec![c.r(0, 49)]).await;
    assert_eq!(store.statement(&recv.hex()).await.unwrap().unwrap().seq, 2);
    assert_eq!(
        c.holdings().await,
        [
            h(0, 49, "north-b1", D::Active),
            h(50, 99, "acme-foods", D::InTransit),
            h(100, 999, "acme-foods", D::Active)
        ]
    );
    let arrived = store.unit(&batch, 10).await.unwrap().unwrap();
    assert_eq!(
        (
            arrived.holder.as_str(),
            arrived.range.first,
            arrived.range.last
        ),
        ("north-b1", 0, 49)
    );
    assert_eq!((arrived.shipment, arrived.dest), (None, None));
    assert_eq!(
        store.unit(&batch, 75).await.unwrap().unwrap().disposition,
        D::InTransit
    );
    assert_eq!(
        store.unit(&batch, 999).await.unwrap().unwrap().range.first,
        100
    );
    assert_eq!(store.unit(&batch, 1000).await.unwrap(), None);
    assert_eq!(store.unit(&bid(&"0".repeat(64)), 0).await.unwrap(), None);
    // What a party holds or has coming, and what the factory still holds.
    assert_eq!(
        spans(&store.holdings_of(&c.b1.slug).await.unwrap()),
        [
            (0, 49, "north-b1", D::Active),
            (50, 99, "acme-foods", D::InTransit)
        ]
    );
    assert_eq!(store.holdings_of(&c.factory.slug).await.unwrap().len(), 2);
    assert!(store.holdings_of(&c.b2.slug).await.unwrap().is_empty());
    assert_eq!(seqs(store.unit_events(&batch, 10).await.unwrap()), [1, 2]);
    assert_eq!(seqs(store.unit_events(&batch, 75).await.unwrap()), [1]);
    assert!(store.unit_events(&batch, 500).await.unwrap().is_empty());
    assert_eq!(heads(store, &[batch]).await, [(batch, recv)].into());
    assert_eq!(ids(store.receipts(&ship_id).await.unwrap()), [recv]);

    // The rest arrives; the two received pieces are one holding again.
    let recv2 = c.receive(&c.b1, ship_id, vec![c.r(50, 99)]).await;
    assert_eq!(
        c.holdings().await,
        [
            h(0, 99, "north-b1", D::Active),
            h(100, 999, "acme-foods", D::Active)
        ]
    );
    assert!(store.in_shipment(&ship_id).await.unwrap().is_empty());
    assert_eq!(ids(store.receipts(&ship_id).await.unwrap()), [recv, recv2]);
    assert_eq!(seqs(store.unit_events(&batch, 75).await.unwrap()), [1, 3]);
}

pub async fn refusals_leave_nothing_stored(db: Db) {
    let c = chain(&db, 100).await;
    let (store, batch) = (&c.store, c.batch);
    let ship = c.ship(&c.factory, &c.b1, vec![c.r(0, 9)]).await;

    // Not the holder.
    let ev = c.event(&c.b1, T::Destroying, vec![c.r(50, 59)]).await;
    assert!(matches!(
        c.refused(&c.b1, &ev).await,
        CustodyError::NotHolder { .. }
    ));
    // Units in transit cannot be shipped again.
    let mut ev = c.event(&c.factory, T::Shipping, vec![c.r(5, 14)]).await;
    ev.to = Some(c.b2.slug.clone());
    assert!(matches!(
        c.refused(&c.factory, &ev).await,
        CustodyError::WrongState { .. }
    ));
    // Units never minted.
    let mut ev = c.event(&c.factory, T::Shipping, vec![c.r(90, 100)]).await;
    ev.to = Some(c.b1.slug.clone());
    assert!(matches!(
        c.refused(&c.factory, &ev).await,
        CustodyError::NotMinted { quantity: 100, .. }
    ));
    // A receiver that is not registered, or is the sender.
    for to in ["nobody-here", "acme-foods"] {
        let mut ev = c.event(&c.factory, T::Shipping, vec![c.r(20, 29)]).await;
        ev.to = Some(suyuan::domain::party::Slug::parse(to).unwrap());
        assert!(matches!(
            c.refused(&c.factory, &ev).await,
            CustodyError::BadReceiver(_)
        ));
    }
    // Receiving under a shipment addressed to someone else, or under something that is no shipment.
    let mut ev = c.event(&c.b2, T::Receiving, vec![c.r(0, 9)]).await;
    ev.shipment = Some(ship);
    assert!(matches!(
        c.refused(&c.b2, &ev).await,
        CustodyError::BadShipment(_)
    ));
    let mut ev = c.event(&c.b1, T::Receiving, vec![c.r(0, 9)]).await;
    ev.shipment = Some(head_of(batch));
    assert!(matches!(
        c.refused(&c.b1, &ev).await,
        CustodyError::BadShipment(_)
    ));
    // Receiving more than the shipment carried.
    let mut ev = c.event(&c.b1, T::Receiving, vec![c.r(0, 10)]).await;
    ev.shipment = Some(ship);
    assert!(matches!(
        c.refused(&c.b1, &ev).await,
        CustodyError::NotInShipment { .. }
    ));
    // A party kind that may not sign this event.
    let mut ev = c.event(&c.inspector, T::Shipping, vec![c.r(20, 29)]).await;
    ev.to = Some(c.b1.slug.clone());
    assert!(matches!(
        c.refused(&c.inspector, &ev).await,
        CustodyError::PartyKind { .. }
    ));
    // A batch not on record.
    let ghost = bid(&"ab".repeat(32));
    let ev = c.factory.event(
        T::Destroying,
        vec![range(ghost, 0, 0)],
        &[(ghost, ghost)].into(),
    );
    assert!(matches!(
        c.refused(&c.factory, &ev).await,
        CustodyError::UnknownBatch(_)
    ));
    // `prev` naming a batch the event does not touch.
    let other = c.factory.mint(store, "LOT-B", 10).await;
    let mut prev = c.prev(&[c.r(20, 29)]).await;
    prev.insert(other, head_of(other));
    let ev = c.factory.event(T::Destroying, vec![c.r(20, 29)], &prev);
    let before = snapshot(store, &[batch, other]).await;
    let (_, r) = c.factory.append(store, &ev).await;
    assert!(
        matches!(r, Err(StoreError::Custody(CustodyError::PrevBatches(_)))),
        "{r:?}"
    );
    assert_eq!(snapshot(store, &[batch, other]).await, before);

    // None of them took a leaf: the next append follows on directly.
    let size = store.log_size().await.unwrap();
    assert_eq!(size, 3);
    let ev = c.event(&c.factory, T::Destroying, vec![c.r(20, 29)]).await;
    let (st, r) = c.factory.append(store, &ev).await;
    assert_eq!(r.unwrap(), Appended::Stored(size));
    assert_eq!(
        store.leaf_hashes(size, size + 1).await.unwrap(),
        [store::leaf_hash(&st.json)]
    );
}

pub async fn holdings_split_and_merge(db: Db) {
    let c = chain(&db, 100).await;
    let (store, batch) = (&c.store, c.batch);
    let s1 = c.ship(&c.factory, &c.b1, vec![c.r(10, 19)]).await;
    let s2 = c.ship(&c.factory, &c.b1, vec![c.r(30, 39)]).await;
    let s3 = c.ship(&c.factory, &c.b1, vec![c.r(20, 29)]).await;
    // Neighbours in transit under different shipments stay apart.
    assert_eq!(
        c.holdings().await,
        [
            h(0, 9, "acme-foods", D::Active),
            h(10, 19, "acme-foods", D::InTransit),
            h(20, 29, "acme-foods", D::InTransit),
            h(30, 39, "acme-foods", D::InTransit),
            h(40, 99, "acme-foods", D::Active),
        ]
    );
    let shipments: Vec<_> = store
        .holdings_of_batch(&batch)
        .await
        .unwrap()
        .iter()
        .map(|x| x.shipment)
        .collect();
    assert_eq!(shipments, [None, Some(s1), Some(s3), Some(s2), None]);

    // Received in any order, they merge into one holding with each neighbour in the same state.
    c.receive(&c.b1, s1, vec![c.r(10, 19)]).await;
    c.receive(&c.b1, s2, vec![c.r(30, 39)]).await;
    c.receive(&c.b1, s3, vec![c.r(20, 29)]).await;
    assert_eq!(
        c.holdings().await,
        [
            h(0, 9, "acme-foods", D::Active),
            h(10, 39, "north-b1", D::Active),
            h(40, 99, "acme-foods", D::Active),
        ]
    );

    // One event with two ranges cuts one holding in five.
    let s4 = c.ship(&c.b1, &c.b2, vec![c.r(12, 14), c.r(20, 22)]).await;
    assert_eq!(
        c.holdings().await,
        [
            h(0, 9, "acme-foods", D::Active),
            h(10, 11, "north-b1", D::Active),
            h(12, 14, "north-b1", D::InTransit),
            h(15, 19, "north-b1", D::Active),
            h(20, 22, "north-b1", D::InTransit),
            h(23, 39, "north-b1", D::Active),
            h(40, 99, "acme-foods", D::Active),
        ]
    );
    c.receive(&c.b2, s4, vec![c.r(12, 14), c.r(20, 22)]).await;
    assert_eq!(
        spans(&store.holdings_of(&c.b2.slug).await.unwrap()),
        [
            (12, 14, "corner-shop", D::Active),
            (20, 22, "corner-shop", D::Active)
        ]
    );
    // Units handed back up the chain and received rejoin their neighbours.
    let back = c.ship(&c.b2, &c.b1, vec![c.r(12, 14)]).await;
    c.receive(&c.b1, back, vec![c.r(12, 14)]).await;
    assert_eq!(
        c.holdings().await,
        [
            h(0, 9, "acme-foods", D::Active),
            h(10, 19, "north-b1", D::Active),
            h(20, 22, "corner-shop", D::Active),
            h(23, 39, "north-b1", D::Active),
            h(40, 99, "acme-foods", D::Active),
        ]
    );

    // The audit's whole-database reads agree with the per-batch ones.
    let other = c.factory.mint(store, "LOT-B", 5).await;
    let mut all = store.holdings_of_batch(&batch).await.unwrap();
    all.extend(store.holdings_of_batch(&other).await.unwrap());
    all.sort_by_key(|x| (x.range.batch.hex(), x.range.first));
    assert_eq!(store.all_holdings().await.unwrap(), all);
    assert_eq!(
        store.all_heads().await.unwrap(),
        heads(store, &[batch, other]).await
    );
}

pub async fn receiving_exceptions(db: Db) {
    let c = chain(&db, 100).await;
    let store = &c.store;
    let ship = c.ship(&c.factory, &c.b1, vec![c.r(0, 19)]).await;

    // Damage reported for units listed as received must be among them.
    let mut ev = c.event(&c.b1, T::Receiving, vec![c.r(0, 9)]).await;
    ev.shipment = Some(ship);
    ev.exceptions = vec![Exception {
        kind: ExceptionType::Damaged,
        objects: vec![c.r(8, 11)],
        note: None,
    }];
    assert!(matches!(
        c.refused(&c.b1, &ev).await,
        CustodyError::BadException(_)
    ));
    // A shortage cannot name units that were received.
    ev.exceptions = vec![Exception {
        kind: ExceptionType::Shortage,
        objects: vec![c.r(5, 12)],
        note: None,
    }];
    assert!(matches!(
        c.refused(&c.b1, &ev).await,
        CustodyError::BadException(_)
    ));

    // Ten received, two of them damaged; the other ten reported short stay in transit.
    ev.exceptions = vec![
        Exception {
            kind: ExceptionType::Damaged,
            objects: vec![c.r(3, 4)],
            note: Some("crushed".into()),
        },
        Exception {
            kind: ExceptionType::Shortage,
            objects: vec![c.r(10, 19)],
            note: None,
        },
    ];
    c.b1.stored(store, &ev).await;
    assert_eq!(
        c.holdings().await,
        [
            h(0, 2, "north-b1", D::Active),
            h(3, 4, "north-b1", D::SellableNotAccessible),
            h(5, 9, "north-b1", D::Active),
            h(10, 19, "acme-foods", D::InTransit),
            h(20, 99, "acme-foods", D::Active),
        ]
    );
    assert_eq!(
        spans(&store.in_shipment(&ship).await.unwrap()),
        [(10, 19, "acme-foods", D::InTransit)]
    );
    // The missing units turn up later and join the stock received first.
    c.receive(&c.b1, ship, vec![c.r(10, 19)]).await;
    assert_eq!(
        c.holdings().await,
        [
            h(0, 2, "north-b1", D::Active),
            h(3, 4, "north-b1", D::SellableNotAccessible),
            h(5, 19, "north-b1", D::Active),
            h(20, 99, "acme-foods", D::Active),
        ]
    );
    // Damaged stock may still be shipped on (back to the factory, say).
    let back = c.ship(&c.b1, &c.factory, vec![c.r(3, 4)]).await;
    assert_eq!(
        spans(&store.in_shipment(&back).await.unwrap()),
        [(3, 4, "north-b1", D::InTransit)]
    );
}

pub async fn sale_return_recall_destroy(db: Db) {
    let c = chain(&db, 100).await;
    let (store, batch) = (&c.store, c.batch);
    let s = c.ship(&c.factory, &c.b1, vec![c.r(0, 49)]).await;
    c.receive(&c.b1, s, vec![c.r(0, 49)]).await;
    let s = c.ship(&c.b1, &c.b2, vec![c.r(0, 29)]).await;
    c.receive(&c.b2, s, vec![c.r(0, 29)]).await;

    // Only a shop sells to consumers.
    let ev = c.event(&c.b1, T::RetailSelling, vec![c.r(30, 30)]).await;
    assert!(matches!(
        c.refused(&c.b1, &ev).await,
        CustodyError::PartyKind { .. }
    ));
    let ev = c.event(&c.b2, T::RetailSelling, vec![c.r(0, 4)]).await;
    c.b2.stored(store, &ev).await;
    // Selling a sold unit again is refused.
    let ev = c.event(&c.b2, T::RetailSelling, vec![c.r(4, 5)]).await;
    assert!(matches!(
        c.refused(&c.b2, &ev).await,
        CustodyError::WrongState { .. }
    ));
    // Two come back at the counter: one restocked, one quarantined.
    let ev = c.event(&c.b2, T::Returning, vec![c.r(0, 1)]).await;
    c.b2.stored(store, &ev).await;
    let mut ev = c.event(&c.b2, T::AcceptingReturn, vec![c.r(0, 0)]).await;
    ev.resolution = Some(Resolution::Restock);
    c.b2.stored(store, &ev).await;
    let mut ev = c.event(&c.b2, T::AcceptingReturn, vec![c.r(1, 1)]).await;
    ev.resolution = Some(Resolution::Quarantine);
    c.b2.stored(store, &ev).await;
    // A unit the consumer kept cannot be destroyed by the shop; stock can.
    let ev = c.event(&c.b2, T::Destroying, vec![c.r(2, 2)]).await;
    assert!(matches!(
        c.refused(&c.b2, &ev).await,
        CustodyError::WrongState { .. }
    ));
    let ev = c.event(&c.b2, T::Destroying, vec![c.r(20, 24)]).await;
    c.b2.stored(store, &ev).await;

    // Only the batch's maker (or an inspector) recalls it.
    let other = Actor::new("other-foods", PartyKind::Factory, 5);
    other.register(store).await;
    let mut recall = c.event(&other, T::Recalling, vec![c.r(25, 29)]).await;
    recall.reason = Some("salmonella".into());
    recall.instructions = Some("return to shop".into());
    assert!(matches!(
        c.refused(&other, &recall).await,
        CustodyError::PartyKind { .. }
    ));
    let mut recall = c.event(&c.b1, T::Recalling, vec![c.r(25, 29)]).await;
    recall.reason = Some("salmonella".into());
    recall.instructions = Some("return to shop".into());
    assert!(matches!(
        c.refused(&c.b1, &recall).await,
        CustodyError::PartyKind { .. }
    ));
    let mut recall = c
        .event(&c.factory, T::Recalling, vec![c.r(25, 29), c.r(40, 49)])
        .await;
    recall.reason = Some("salmonella".into());
    recall.instructions = Some("return to shop".into());
    let (recall_st, r) = c.factory.append(store, &recall).await;
    assert!(matches!(r, Ok(Appended::Stored(_))), "{r:?}");
    let recall_id = sid(&recall_st.id);
    // Recalled units may not be sold; others may.
    let ev = c.event(&c.b2, T::RetailSelling, vec![c.r(25, 25)]).await;
    assert!(matches!(
        c.refused(&c.b2, &ev).await,
        CustodyError::Recalled { .. }
    ));
    let ev = c.event(&c.b2, T::RetailSelling, vec![c.r(5, 5)]).await;
    c.b2.stored(store, &ev).await;
    // An inspection changes nothing held; only an inspector inspects.
    let mut inspect = c.event(&c.b2, T::Inspecting, vec![c.r(10, 12)]).await;
    inspect.result = Some("pass".into());
    inspect.method = Some("GB 19644".into());
    assert!(matches!(
        c.refused(&c.b2, &inspect).await,
        CustodyError::PartyKind { .. }
    ));
    let mut inspect = c
        .event(&c.inspector, T::Inspecting, vec![c.r(10, 12)])
        .await;
    inspect.result = Some("pass".into());
    inspect.method = Some("GB 19644".into());
    let before = c.holdings().await;
    c.inspector.stored(store, &inspect).await;
    assert_eq!(c.holdings().await, before);

    assert_eq!(
        before,
        [
            h(0, 0, "corner-shop", D::Active),
            h(1, 1, "corner-shop", D::Returned),
            h(2, 5, "corner-shop", D::RetailSold),
            h(6, 19, "corner-shop", D::Active),
            h(20, 24, "corner-shop", D::Destroyed),
            h(25, 29, "corner-shop", D::Active),
            h(30, 39, "north-b1", D::Active),
            h(40, 49, "north-b1", D::Active),
            h(50, 99, "acme-foods", D::Active),
        ]
    );
    let recalls: Vec<_> = store
        .holdings_of_batch(&batch)
        .await
        .unwrap()
        .iter()
        .map(|x| x.recall)
        .collect();
    let r = Some(recall_id);
    assert_eq!(recalls, [None, None, None, None, None, r, None, r, None]);
    let listed = store.recalls().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].statement.id, recall_st.id);
    assert_eq!(listed[0].units, [c.r(25, 29), c.r(40, 49)]);
}

pub async fn in_transit_by_shipment(db: Db) {
    let c = chain(&db, 100).await;
    let (store, a) = (&c.store, c.batch);
    let b = c.factory.mint(store, "LOT-B", 10).await;
    let s1 = c.ship(&c.factory, &c.b1, vec![c.r(0, 9)]).await;
    let s2 = c.ship(&c.factory, &c.b2, vec![c.r(10, 19)]).await;
    // One shipment of two batches.
    let s3 = c
        .ship(&c.factory, &c.b1, vec![c.r(20, 29), range(b, 0, 4)])
        .await;
    let transit =
        |hs: Vec<suyuan::domain::custody::Holding>| -> Vec<(UnitRange, String, Option<String>)> {
            hs.into_iter()
                .map(|h| (h.range, h.holder.to_string(), h.dest.map(|d| d.to_string())))
                .collect()
        };
    let to = |s: &str| Some(s.to_owned());
    assert_eq!(
        transit(store.in_shipment(&s1).await.unwrap()),
        [(c.r(0, 9), "acme-foods".into(), to("north-b1"))]
    );
    assert_eq!(
        transit(store.in_shipment(&s2).await.unwrap()),
        [(c.r(10, 19), "acme-foods".into(), to("corner-shop"))]
    );
    let mut both = vec![c.r(20, 29), range(b, 0, 4)];
    both.sort();
    assert_eq!(
        store
            .in_shipment(&s3)
            .await
            .unwrap()
            .iter()
            .map(|h| h.range)
            .collect::<Vec<_>>(),
        both,
        "by batch, then first unit"
    );
    assert!(store.in_shipment(&head_of(a)).await.unwrap().is_empty());
    // Newest first.
    assert_eq!(ids(store.shipments_to(&c.b1.slug).await.unwrap()), [s3, s1]);
    assert_eq!(ids(store.shipments_to(&c.b2.slug).await.unwrap()), [s2]);

    let r1 = c.receive(&c.b1, s1, vec![c.r(0, 4)]).await;
    assert_eq!(
        transit(store.in_shipment(&s1).await.unwrap()),
        [(c.r(5, 9), "acme-foods".into(), to("north-b1"))]
    );
    assert_eq!(ids(store.receipts(&s1).await.unwrap()), [r1]);
    assert!(store.receipts(&s2).await.unwrap().is_empty());

    // Goods sent back upstream travel like a shipment, and are taken back under it.
    c.receive(&c.b2, s2, vec![c.r(10, 19)]).await;
    let mut ret = c.event(&c.b2, T::Returning, vec![c.r(10, 14)]).await;
    ret.to = Some(c.factory.slug.clone());
    let ret = c.b2.stored(store, &ret).await;
    assert_eq!(
        ids(store.shipments_to(&c.factory.slug).await.unwrap()),
        [ret]
    );
    assert_eq!(
        transit(store.in_shipment(&ret).await.unwrap()),
        [(c.r(10, 14), "corner-shop".into(), to("acme-foods"))]
    );
    let mut back = c
        .event(&c.factory, T::AcceptingReturn, vec![c.r(10, 14)])
        .await;
    back.shipment = Some(ret);
    back.resolution = Some(Resolution::Destroy);
    let back = c.factory.stored(store, &back).await;
    assert!(store.in_shipment(&ret).await.unwrap().is_empty());
    assert_eq!(ids(store.receipts(&ret).await.unwrap()), [back]);
    let u = store.unit(&a, 12).await.unwrap().unwrap();
    assert_eq!(
        (
            u.range,
            u.holder.as_str(),
            u.disposition,
            u.shipment,
            u.dest
        ),
        (c.r(10, 14), "acme-foods", D::Destroyed, None, None)
    );
}

pub async fn trace_and_reports(db: Db) {
    let c = chain(&db, 100).await;
    let (store, a) = (&c.store, c.batch);
    let input = |supplier: &str, lot: &str| Input {
        material: "raw milk".into(),
        supplier: supplier.into(),
        supplier_lot: lot.into(),
        origin: "CN".into(),
    };
    let mint = |lot: &str, inputs: Vec<Input>| {
        let mut body = batch_body(&c.factory, lot, 10);
        body.inputs = inputs;
        let st = c.factory.statement(Kind::Batch, &body, ts());
        async move {
            assert!(matches!(
                store.append_batch(&st, &body).await,
                Ok(Appended::Stored(_))
            ));
            bid(&st.id)
        }
    };
    let b = mint("LOT-B", vec![input("Other Co-op", "RM-0301")]).await;
    let d = mint(
        "LOT-D",
        vec![
            input("Other Co-op", "RM-0301"),
            input("Other Co-op", "RM-0227"),
        ],
    )
    .await;
    let e = mint("LOT-E", vec![]).await;

    // Batches by an input's supplier lot, oldest first, optionally of one supplier.
    let by = |lot: &'static str, supplier: Option<&'static str>| async move {
        store.batches_by_supplier_lot(lot, supplier).await.unwrap()
    };
    assert_eq!(by("RM-0227", None).await, [a, d]);
    assert_eq!(by("RM-0227", Some("Hulunbuir Dairy Co-op")).await, [a]);
    assert_eq!(by("RM-0227", Some("Other Co-op")).await, [d]);
    assert_eq!(by("RM-0301", None).await, [b, d]);
    assert!(by("RM-9999", None).await.is_empty());
    assert!(by("Hulunbuir Dairy Co-op", None).await.is_empty());

    // Events per batch, in log order, with the ranges of that batch only.
    let s1 = c
        .ship(&c.factory, &c.b1, vec![c.r(0, 9), range(b, 0, 4)])
        .await;
    let r1 = c.receive(&c.b1, s1, vec![c.r(0, 4), range(b, 0, 4)]).await;
    let s2 = c
        .ship(&c.factory, &c.b1, vec![c.r(20, 29), c.r(40, 49)])
        .await;
    let events = |batch: BatchId| async move {
        store
            .batch_events(&batch)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (sid(&e.statement.id), e.units))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        events(a).await,
        [
            (s1, vec![c.r(0, 9)]),
            (r1, vec![c.r(0, 4)]),
            (s2, vec![c.r(20, 29), c.r(40, 49)])
        ]
    );
    assert_eq!(
        events(b).await,
        [(s1, vec![range(b, 0, 4)]), (r1, vec![range(b, 0, 4)])]
    );
    assert!(events(e).await.is_empty());

    // Who handled what: minted, signed an event about it, or was sent it.
    let mut recall = c
        .event(&c.inspector, T::Recalling, vec![range(d, 0, 9)])
        .await;
    recall.reason = Some("aflatoxin".into());
    recall.instructions = Some("hold stock".into());
    let recall = c.inspector.stored(store, &recall).await;
    assert_eq!(
        store.batches_handled_by(&c.factory.slug).await.unwrap(),
        [a, b, d, e]
    );
    assert_eq!(store.batches_handled_by(&c.b1.slug).await.unwrap(), [a, b]);
    assert_eq!(
        store.batches_handled_by(&c.inspector.slug).await.unwrap(),
        [d]
    );
    assert!(store
        .batches_handled_by(&c.b2.slug)
        .await
        .unwrap()
        .is_empty());
    let recalls: Vec<_> = store
        .recalls()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (sid(&e.statement.id), e.units))
        .collect();
    assert_eq!(recalls, [(recall, vec![range(d, 0, 9)])]);
    assert_eq!(seqs(store.unit_events(&a, 3).await.unwrap()).len(), 2);
    assert_eq!(ids(store.unit_events(&a, 25).await.unwrap()), [s2]);
    assert_eq!(ids(store.unit_events(&b, 4).await.unwrap()), [s1, r1]);
}
