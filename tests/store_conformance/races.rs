//! Concurrent appenders: the database decides, leaf indexes never gap or repeat.
//!
//! Where a store may be shared by several servers (`single_writer()` is
//! false), the racers are split over two stores opened on one database, as two
//! server processes would be; a single-writer store is raced through one.

use suyuan::domain::party::PartyKind;
use suyuan::domain::statement::EventType as T;
use suyuan::formats::sign::Kind;
use suyuan::store::{Appended, DynStore, StoreError};

use crate::fixtures::*;
use crate::Db;

/// A second handle on the database: another server where the store allows one.
async fn second(db: &Db, first: &DynStore) -> DynStore {
    if first.single_writer() {
        first.clone()
    } else {
        db.open().await
    }
}

pub async fn one_of_two_conflicting_appends_wins(db: Db) {
    let a = db.open().await;
    let b = second(&db, &a).await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    factory.register(&a).await;
    b1.register(&a).await;
    let batch = factory.mint(&a, "LOT-R", 100).await;

    for round in 0..10u64 {
        // Two shipments of different units, both signed against the same head.
        let prev = heads(&a, &[batch]).await;
        let mut racers = Vec::new();
        for (i, s) in [a.clone(), b.clone()].into_iter().enumerate() {
            let unit = 2 * round + i as u64;
            let mut ev = factory.event(T::Shipping, vec![range(batch, unit, unit)], &prev);
            ev.to = Some(b1.slug.clone());
            let st = factory.statement(Kind::Event, &ev, ts());
            racers.push(tokio::spawn(async move {
                (
                    st.id.clone(),
                    s.append_event(&st, &ev, PartyKind::Factory).await,
                )
            }));
        }
        let mut won = Vec::new();
        let mut told = Vec::new();
        for r in racers {
            match r.await.unwrap() {
                (id, Ok(Appended::Stored(seq))) => won.push((id, seq)),
                (_, Err(StoreError::Conflict(heads))) => told.push(heads),
                (_, other) => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!((won.len(), told.len()), (1, 1), "round {round}");
        let (winner, seq) = won.pop().unwrap();
        assert_eq!(seq, 1 + round as i64, "round {round}");
        // The loser is told the head the winner left.
        assert_eq!(told[0], [(batch, sid(&winner))].into());
        assert_eq!(heads(&b, &[batch]).await, [(batch, sid(&winner))].into());
        assert_eq!(store_size(&a).await, 2 + round as i64);
    }
    // Exactly the ten winners' units left; the losers' stayed put.
    let moving: Vec<u64> = a
        .holdings_of_batch(&batch)
        .await
        .unwrap()
        .iter()
        .filter(|h| h.shipment.is_some())
        .flat_map(|h| h.range.first..=h.range.last)
        .collect();
    assert_eq!(moving.len(), 10);
}

async fn store_size(s: &DynStore) -> i64 {
    s.log_size().await.unwrap()
}

pub async fn concurrent_appenders_share_one_log(db: Db) {
    let a = db.open().await;
    let b = second(&db, &a).await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    factory.register(&a).await;
    b1.register(&b).await;

    // Racing registrations of one slug: exactly one wins, the others are told it exists.
    let racers: Vec<_> = (0..6u8)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let who = Actor::new("racer", PartyKind::B2, 100 + i);
            tokio::spawn(async move {
                s.create_party(&who.party(), &who.root(), &format!("race{i}"))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Exists(m)) => assert_eq!(m, "party \"racer\" is already registered"),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        a.keys_of(&Actor::new("racer", PartyKind::B2, 0).slug)
            .await
            .unwrap()
            .len(),
        1
    );

    // Mint 40 batches from both stores at once: leaves 0..40, no gap, no repeat.
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let body = batch_body(&factory, &format!("LOT-{i}"), 100);
        let st = factory.statement(Kind::Batch, &body, ts());
        tasks.push(tokio::spawn(
            async move { s.append_batch(&st, &body).await },
        ));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(Appended::Stored(seq)) => seqs.push(seq),
            other => panic!("expected Stored, got {other:?}"),
        }
    }
    seqs.sort();
    assert_eq!(seqs, (0..40).collect::<Vec<i64>>());

    // Twenty handoffs all signed against the same head: exactly one wins the CAS.
    let body = batch_body(&factory, "LOT-0", 100);
    let batch = bid(&factory.statement(Kind::Batch, &body, ts()).id);
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let mut ev = factory.event(
            T::Shipping,
            vec![range(batch, i, i)],
            &[(batch, head_of(batch))].into(),
        );
        ev.to = Some(b1.slug.clone());
        let st = factory.statement(Kind::Event, &ev, ts());
        tasks.push(tokio::spawn(async move {
            (
                st.id.clone(),
                s.append_event(&st, &ev, PartyKind::Factory).await,
            )
        }));
    }
    let mut winner = None;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            (id, Ok(Appended::Stored(seq))) => {
                assert!(winner.is_none(), "two events won the compare-and-swap");
                assert_eq!(seq, 40);
                winner = Some(id);
            }
            (_, Err(StoreError::Conflict(_))) => conflicts += 1,
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(conflicts, 19);
    let winner = sid(&winner.unwrap());
    assert_eq!(heads(&a, &[batch]).await, [(batch, winner)].into());
    assert_eq!(b.statements_from(0, 1000).await.unwrap().len(), 41);
}

pub async fn refusals_in_a_busy_log_take_no_leaf(db: Db) {
    let a = db.open().await;
    let b = second(&db, &a).await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    factory.register(&a).await;
    b1.register(&a).await;
    let body = batch_body(&factory, "LOT-0", 100);
    let first = factory.statement(Kind::Batch, &body, ts());
    assert_eq!(
        a.append_batch(&first, &body).await.unwrap(),
        Appended::Stored(0)
    );
    let batch = bid(&first.id);

    // Accepted mints, duplicates of the first, custody refusals and lots
    // already minted, all at once: whatever is grouped with whatever, only
    // the accepted take leaves, and each refusal is answered on its own.
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (factory, b1) = (
            Actor::new("acme-foods", PartyKind::Factory, 1),
            Actor::new("north-b1", PartyKind::B1, 2),
        );
        let (first, body) = (first.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            match i % 4 {
                0 => {
                    let body = batch_body(&factory, &format!("LOT-N{i}"), 10);
                    let st = factory.statement(Kind::Batch, &body, ts());
                    ("mint", st.id.clone(), s.append_batch(&st, &body).await)
                }
                1 => (
                    "duplicate",
                    first.id.clone(),
                    s.append_batch(&first, &body).await,
                ),
                2 => {
                    let ev = b1.event(
                        T::Destroying,
                        vec![range(batch, i, i)],
                        &[(batch, head_of(batch))].into(),
                    );
                    let st = b1.statement(Kind::Event, &ev, ts());
                    (
                        "custody",
                        st.id.clone(),
                        s.append_event(&st, &ev, PartyKind::B1).await,
                    )
                }
                _ => {
                    let body = batch_body(&factory, "LOT-0", 10 + i);
                    let st = factory.statement(Kind::Batch, &body, ts());
                    ("exists", st.id.clone(), s.append_batch(&st, &body).await)
                }
            }
        }));
    }
    let mut stored = Vec::new();
    for t in tasks {
        let (what, id, r) = t.await.unwrap();
        match (what, r) {
            ("mint", Ok(Appended::Stored(seq))) => stored.push((seq, id)),
            ("duplicate", Ok(Appended::Duplicate(0))) => {}
            ("custody", Err(StoreError::Custody(_))) | ("exists", Err(StoreError::Exists(_))) => {
                assert_eq!(a.statement(&id).await.unwrap(), None, "{what} was stored")
            }
            (what, r) => panic!("{what}: unexpected {r:?}"),
        }
    }
    stored.sort();
    assert_eq!(
        stored.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<i64>>()
    );
    assert_eq!(a.log_size().await.unwrap(), 11);
    for (seq, id) in &stored {
        assert_eq!(b.statement(id).await.unwrap().unwrap().seq, *seq);
    }
    assert_eq!(heads(&a, &[batch]).await, [(batch, head_of(batch))].into());
    assert_eq!(
        holdings(&a, batch).await,
        [(
            0,
            99,
            "acme-foods".into(),
            suyuan::domain::custody::Disposition::Active
        )]
    );
}

pub async fn races_are_decided_by_the_database(db: Db) {
    let store = db.open().await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    factory.register(&store).await;
    let mut other = db.raw().await;

    // Another server inserts the same slug after our pre-check: the database answers.
    let begin = db.lock_log_sql()[0];
    other.execute(begin).await.unwrap();
    other
        .execute(
            "INSERT INTO parties (slug, name, kind, created_at) VALUES ('late', 'x', 'b2', 'now')",
        )
        .await
        .unwrap();
    let late = Actor::new("late", PartyKind::B2, 7);
    let s = store.clone();
    let task = tokio::spawn(async move {
        s.create_party(&late.party(), &late.root(), "late-token")
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !task.is_finished(),
        "create_party should wait on the uncommitted row"
    );
    other.execute("COMMIT").await.unwrap();
    match task.await.unwrap() {
        Err(StoreError::Exists(m)) => assert_eq!(m, "party \"late\" is already registered"),
        r => panic!("expected Exists, got {r:?}"),
    }
    assert_eq!(store.token("late-token").await.unwrap(), None);

    // While another transaction holds the log lock, an append waits; then it takes the next leaf.
    for sql in db.lock_log_sql() {
        other.execute(sql).await.unwrap();
    }
    let body = batch_body(&factory, "LOT-L", 10);
    let st = factory.statement(Kind::Batch, &body, ts());
    let s = store.clone();
    let task = tokio::spawn(async move { s.append_batch(&st, &body).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "append should wait for the log lock");
    other.execute("COMMIT").await.unwrap();
    assert_eq!(task.await.unwrap().unwrap(), Appended::Stored(0));
    other.close().await;
}
