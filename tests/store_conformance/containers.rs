//! Containers (SSCC cases and pallets): packing, acting on a container, unpacking.

use std::collections::BTreeMap;

use suyuan::domain::custody::{CustodyError, Disposition as D};
use suyuan::domain::party::PartyKind;
use suyuan::domain::statement::{BatchId, EventStatement, EventType as T, StatementId, UnitRange};
use suyuan::formats::gs1::Sscc;
use suyuan::store::{BatchContainer, DynStore, StoreError};

use crate::fixtures::*;
use crate::Db;

struct Dock {
    store: DynStore,
    factory: Actor,
    b1: Actor,
    b2: Actor,
    a: BatchId,
    b: BatchId,
}

async fn dock(db: &Db) -> Dock {
    let store = db.open().await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    let b2 = Actor::new("corner-shop", PartyKind::B2, 3);
    for x in [&factory, &b1, &b2] {
        x.register(&store).await;
    }
    let a = factory.mint(&store, "LOT-A", 100).await;
    let b = factory.mint(&store, "LOT-B", 100).await;
    Dock {
        store,
        factory,
        b1,
        b2,
        a,
        b,
    }
}

impl Dock {
    /// An event of `who` over loose `objects` and `containers`, following the heads of `batches`.
    async fn event(
        &self,
        who: &Actor,
        t: T,
        objects: Vec<UnitRange>,
        containers: Vec<Sscc>,
        batches: &[BatchId],
    ) -> EventStatement {
        let prev: BTreeMap<BatchId, StatementId> = heads(&self.store, batches).await;
        let mut ev = who.event(t, objects, &prev);
        ev.containers = containers;
        ev
    }

    async fn pack(
        &self,
        who: &Actor,
        parent: Sscc,
        objects: Vec<UnitRange>,
        containers: Vec<Sscc>,
        batches: &[BatchId],
    ) -> EventStatement {
        let mut ev = self
            .event(who, T::Packing, objects, containers, batches)
            .await;
        ev.parent = Some(parent);
        ev
    }

    async fn unpack(&self, who: &Actor, parent: Sscc, batches: &[BatchId]) -> EventStatement {
        let mut ev = self.event(who, T::Unpacking, vec![], vec![], batches).await;
        ev.parent = Some(parent);
        ev
    }

    /// Appends `ev`, expects a container or custody refusal, and checks nothing changed.
    async fn refused(&self, who: &Actor, ev: &EventStatement, watch: &[Sscc]) -> CustodyError {
        let batches = [self.a, self.b];
        let before = snapshot(&self.store, &batches).await;
        let mut views = Vec::new();
        for s in watch {
            views.push(self.store.container(s).await.unwrap());
        }
        let (st, r) = who.append(&self.store, ev).await;
        let err = match r {
            Err(StoreError::Custody(e)) => e,
            other => panic!("{:?}: expected a refusal, got {other:?}", ev.event_type),
        };
        assert_eq!(snapshot(&self.store, &batches).await, before, "{err}");
        for (s, v) in watch.iter().zip(views) {
            assert_eq!(self.store.container(s).await.unwrap(), v, "{err}");
        }
        assert_eq!(self.store.statement(&st.id).await.unwrap(), None);
        err
    }
}

fn sorted(mut v: Vec<UnitRange>) -> Vec<UnitRange> {
    v.sort();
    v
}

pub async fn pack_ship_receive_unpack(db: Db) {
    let d = dock(&db).await;
    let (store, a, b) = (&d.store, d.a, d.b);
    let (case1, case2, pallet) = (sscc(1), sscc(2), sscc(9));

    let ev = d
        .pack(
            &d.factory,
            case1.clone(),
            vec![range(a, 0, 9)],
            vec![],
            &[a],
        )
        .await;
    d.factory.stored(store, &ev).await;
    let ev = d
        .pack(
            &d.factory,
            case2.clone(),
            vec![range(a, 10, 19), range(b, 0, 9)],
            vec![],
            &[a, b],
        )
        .await;
    d.factory.stored(store, &ev).await;
    let ev = d
        .pack(
            &d.factory,
            pallet.clone(),
            vec![],
            vec![case1.clone(), case2.clone()],
            &[a, b],
        )
        .await;
    let packed_by = d.factory.stored(store, &ev).await;
    // Packing moves no custody.
    assert_eq!(
        holdings(store, a).await,
        [(0, 99, "acme-foods".into(), D::Active)]
    );

    let view = store
        .container(&pallet)
        .await
        .unwrap()
        .expect("pallet packed");
    assert_eq!(
        (
            view.sscc.clone(),
            view.parent.clone(),
            view.party.as_str(),
            view.packed_by.as_str()
        ),
        (pallet.clone(), None, "acme-foods", packed_by.hex().as_str())
    );
    assert_eq!(view.children, [case1.clone(), case2.clone()]);
    assert_eq!(
        sorted(view.units),
        sorted(vec![range(a, 0, 9), range(a, 10, 19), range(b, 0, 9)])
    );
    let inner = store.container(&case1).await.unwrap().expect("case packed");
    assert_eq!(
        (inner.parent, inner.children, inner.units),
        (Some(pallet.clone()), vec![], vec![range(a, 0, 9)])
    );
    assert_eq!(store.container(&sscc(77)).await.unwrap(), None);
    assert_eq!(
        store.unit_containers(&a, 5).await.unwrap(),
        [case1.clone(), pallet.clone()]
    );
    assert_eq!(
        store.unit_containers(&b, 9).await.unwrap(),
        [case2.clone(), pallet.clone()]
    );
    assert!(store.unit_containers(&a, 50).await.unwrap().is_empty());
    let inside = |sscc: &Sscc, units| BatchContainer {
        sscc: sscc.to_string(),
        parent: Some(pallet.to_string()),
        units,
    };
    assert_eq!(
        store.batch_containers(&a).await.unwrap(),
        [
            inside(&case1, range(a, 0, 9)),
            inside(&case2, range(a, 10, 19))
        ]
    );
    assert_eq!(
        store.batch_containers(&b).await.unwrap(),
        [inside(&case2, range(b, 0, 9))]
    );

    // One scan of the pallet ships everything inside it.
    let mut ship = d
        .event(
            &d.factory,
            T::Shipping,
            vec![],
            vec![pallet.clone()],
            &[a, b],
        )
        .await;
    ship.to = Some(d.b1.slug.clone());
    let ship = d.factory.stored(store, &ship).await;
    assert_eq!(
        store
            .in_shipment(&ship)
            .await
            .unwrap()
            .iter()
            .map(|h| h.range)
            .collect::<Vec<_>>(),
        sorted(vec![range(a, 0, 19), range(b, 0, 9)])
    );
    let shipped: Vec<(StatementId, Vec<UnitRange>)> = store
        .batch_events(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (sid(&e.statement.id), e.units))
        .collect();
    assert_eq!(
        shipped.last().unwrap(),
        &(ship, vec![range(a, 0, 9), range(a, 10, 19)])
    );
    let mut recv = d
        .event(&d.b1, T::Receiving, vec![], vec![pallet.clone()], &[a, b])
        .await;
    recv.shipment = Some(ship);
    d.b1.stored(store, &recv).await;
    assert_eq!(
        holdings(store, a).await,
        [
            (0, 19, "north-b1".into(), D::Active),
            (20, 99, "acme-foods".into(), D::Active)
        ]
    );
    assert_eq!(
        holdings(store, b).await,
        [
            (0, 9, "north-b1".into(), D::Active),
            (10, 99, "acme-foods".into(), D::Active)
        ]
    );

    // Unpacking the pallet leaves its cases loose, still packed.
    let ev = d.unpack(&d.b1, pallet.clone(), &[a, b]).await;
    d.b1.stored(store, &ev).await;
    assert_eq!(store.container(&pallet).await.unwrap(), None);
    assert_eq!(store.container(&case1).await.unwrap().unwrap().parent, None);
    assert_eq!(
        store.unit_containers(&a, 5).await.unwrap(),
        std::slice::from_ref(&case1)
    );
    assert_eq!(store.batch_containers(&a).await.unwrap()[0].parent, None);

    // A case goes on alone, and is emptied at the shop.
    let mut ship = d
        .event(&d.b1, T::Shipping, vec![], vec![case1.clone()], &[a])
        .await;
    ship.to = Some(d.b2.slug.clone());
    let ship = d.b1.stored(store, &ship).await;
    let mut recv = d
        .event(&d.b2, T::Receiving, vec![], vec![case1.clone()], &[a])
        .await;
    recv.shipment = Some(ship);
    d.b2.stored(store, &recv).await;
    let ev = d.unpack(&d.b2, case1.clone(), &[a]).await;
    d.b2.stored(store, &ev).await;
    assert_eq!(store.container(&case1).await.unwrap(), None);
    assert!(store.unit_containers(&a, 5).await.unwrap().is_empty());
    assert_eq!(
        holdings(store, a).await,
        [
            (0, 9, "corner-shop".into(), D::Active),
            (10, 19, "north-b1".into(), D::Active),
            (20, 99, "acme-foods".into(), D::Active)
        ]
    );

    // A recall of a case names the units inside it.
    let mut recall = d
        .event(
            &d.factory,
            T::Recalling,
            vec![],
            vec![case2.clone()],
            &[a, b],
        )
        .await;
    recall.reason = Some("seal".into());
    recall.instructions = Some("hold".into());
    let recall = d.factory.stored(store, &recall).await;
    let recalls: Vec<(StatementId, Vec<UnitRange>)> = store
        .recalls()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (sid(&e.statement.id), sorted(e.units)))
        .collect();
    assert_eq!(
        recalls,
        [(recall, sorted(vec![range(a, 10, 19), range(b, 0, 9)]))]
    );
}

pub async fn packing_refusals(db: Db) {
    let d = dock(&db).await;
    let (store, a) = (&d.store, d.a);
    let (case1, case3, pallet, pallet2) = (sscc(1), sscc(3), sscc(9), sscc(8));
    let watch = [
        case1.clone(),
        case3.clone(),
        pallet.clone(),
        pallet2.clone(),
    ];
    let ev = d
        .pack(
            &d.factory,
            case1.clone(),
            vec![range(a, 0, 9)],
            vec![],
            &[a],
        )
        .await;
    d.factory.stored(store, &ev).await;

    let bad = |e: CustodyError| assert!(matches!(e, CustodyError::BadContainer(_)), "{e:?}");
    // Units already in a case.
    let ev = d
        .pack(
            &d.factory,
            case3.clone(),
            vec![range(a, 5, 14)],
            vec![],
            &[a],
        )
        .await;
    bad(d.refused(&d.factory, &ev, &watch).await);
    // A container into itself.
    let ev = d
        .pack(&d.factory, case1.clone(), vec![], vec![case1.clone()], &[a])
        .await;
    bad(d.refused(&d.factory, &ev, &watch).await);
    // A container that is not packed.
    let ev = d
        .pack(&d.factory, pallet.clone(), vec![], vec![sscc(77)], &[a])
        .await;
    bad(d.refused(&d.factory, &ev, &watch).await);
    let ev = d.unpack(&d.factory, sscc(77), &[a]).await;
    bad(d.refused(&d.factory, &ev, &watch).await);
    // Units the packer does not hold.
    let ev = d
        .pack(&d.b1, case3.clone(), vec![range(a, 50, 59)], vec![], &[a])
        .await;
    assert!(matches!(
        d.refused(&d.b1, &ev, &watch).await,
        CustodyError::NotHolder { .. }
    ));

    // A case already on a pallet cannot go on another, nor be unpacked first.
    let ev = d
        .pack(
            &d.factory,
            pallet.clone(),
            vec![],
            vec![case1.clone()],
            &[a],
        )
        .await;
    d.factory.stored(store, &ev).await;
    let ev = d
        .pack(
            &d.factory,
            pallet2.clone(),
            vec![],
            vec![case1.clone()],
            &[a],
        )
        .await;
    bad(d.refused(&d.factory, &ev, &watch).await);
    let ev = d.unpack(&d.factory, case1.clone(), &[a]).await;
    bad(d.refused(&d.factory, &ev, &watch).await);
    // Nothing is added to a pallet on its way.
    let mut ship = d
        .event(&d.factory, T::Shipping, vec![], vec![pallet.clone()], &[a])
        .await;
    ship.to = Some(d.b1.slug.clone());
    d.factory.stored(store, &ship).await;
    let ev = d
        .pack(
            &d.factory,
            pallet.clone(),
            vec![range(a, 60, 69)],
            vec![],
            &[a],
        )
        .await;
    bad(d.refused(&d.factory, &ev, &watch).await);
    // Nor unpacked by the sender while in transit.
    let ev = d.unpack(&d.factory, pallet.clone(), &[a]).await;
    assert!(matches!(
        d.refused(&d.factory, &ev, &watch).await,
        CustodyError::WrongState { .. }
    ));
    let view = store.container(&pallet).await.unwrap().unwrap();
    assert_eq!(
        (view.children, view.units),
        (vec![case1.clone()], vec![range(a, 0, 9)])
    );
}
