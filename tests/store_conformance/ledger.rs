//! Parties, tokens, keys, batches and the statements behind them.

use ed25519_dalek::SigningKey;

use suyuan::domain::custody::Disposition;
use suyuan::domain::keys::KeyRecord;
use suyuan::domain::party::{PartyKind, Role};
use suyuan::domain::time::Timestamp;
use suyuan::formats::sign::{self, Kind};
use suyuan::store::{self, Appended, KeyChange, StoreError, TokenOwner};

use crate::fixtures::*;
use crate::Db;

pub async fn parties_tokens_and_keys(db: Db) {
    let store = db.open().await;
    // Opening again re-runs migrations as a no-op.
    drop(db.open().await);

    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    // Byte order puts '-' before letters; a collation that skipped it would not.
    let b2 = Actor::new("acmea", PartyKind::B2, 3);
    for a in [&factory, &b1, &b2] {
        a.register(&store).await;
    }

    // Registration refusals, each leaving nothing behind.
    match store
        .create_party(
            &factory.party(),
            &Actor::new("x1", PartyKind::B2, 9).root(),
            "t9",
        )
        .await
    {
        Err(StoreError::Exists(m)) => assert_eq!(m, "party \"acme-foods\" is already registered"),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(store.token("t9").await.unwrap(), None);
    assert_eq!(
        store
            .key(&Actor::new("x1", PartyKind::B2, 9).key_id())
            .await
            .unwrap(),
        None
    );
    let thief = Actor::new("thief", PartyKind::B2, 1);
    match store
        .create_party(&thief.party(), &factory.root(), "t10")
        .await
    {
        Err(StoreError::Exists(m)) => assert_eq!(m, "that public key is already registered"),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(store.party("thief").await.unwrap(), None);
    assert_eq!(store.token("t10").await.unwrap(), None);

    // Tokens.
    assert_eq!(
        store.token(&b1.token()).await.unwrap(),
        Some(TokenOwner::Party(b1.slug.clone()))
    );
    assert_eq!(store.token("no such hash").await.unwrap(), None);
    assert!(!store.has_admin().await.unwrap());
    store.add_token("admin-hash", None).await.unwrap();
    assert!(store.has_admin().await.unwrap());
    assert_eq!(
        store.token("admin-hash").await.unwrap(),
        Some(TokenOwner::Admin)
    );
    store.add_token("second", Some(&b1.slug)).await.unwrap();
    assert_eq!(
        store.token("second").await.unwrap(),
        Some(TokenOwner::Party(b1.slug.clone()))
    );
    assert!(
        store.add_token("second", None).await.is_err(),
        "a token hash is stored once"
    );
    assert_eq!(
        store.token("second").await.unwrap(),
        Some(TokenOwner::Party(b1.slug.clone()))
    );

    // Parties, in byte order of their slugs.
    assert_eq!(store.party("north-b1").await.unwrap(), Some(b1.party()));
    assert_eq!(store.party("nobody").await.unwrap(), None);
    let slugs: Vec<String> = store
        .parties()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.slug.to_string())
        .collect();
    assert_eq!(slugs, ["acme-foods", "acmea", "north-b1"]);
    let mut with_gln = Actor::new("gln-shop", PartyKind::B2, 4).party();
    with_gln.gln = Some("0950600013435".into());
    let gln_key = Actor::new("gln-shop", PartyKind::B2, 4).root();
    store
        .create_party(&with_gln, &gln_key, "t-gln")
        .await
        .unwrap();
    assert_eq!(store.party("gln-shop").await.unwrap(), Some(with_gln));

    // Keys.
    assert_eq!(
        store.key(&factory.key_id()).await.unwrap(),
        Some(factory.root())
    );
    assert_eq!(store.key("0000000000000000").await.unwrap(), None);
    assert_eq!(store.keys_of(&b1.slug).await.unwrap(), vec![b1.root()]);
}

pub async fn batches_and_duplicates(db: Db) {
    let store = db.open().await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    factory.register(&store).await;
    assert_eq!(store.log_size().await.unwrap(), 0);

    // Mint 1000 units: one statement at leaf 0, one holding row.
    let body = batch_body(&factory, "LOT-A", 1000);
    let st = factory.statement(Kind::Batch, &body, ts());
    let batch = bid(&st.id);
    assert_eq!(
        store.append_batch(&st, &body).await.unwrap(),
        Appended::Stored(0)
    );
    // The same statement again is answered with its leaf, and stores nothing.
    assert_eq!(
        store.append_batch(&st, &body).await.unwrap(),
        Appended::Duplicate(0)
    );
    assert_eq!(store.log_size().await.unwrap(), 1);
    // Another statement for a lot on record is refused.
    let other = factory.statement(Kind::Batch, &batch_body(&factory, "LOT-A", 5), ts());
    match store.append_batch(&other, &body).await {
        Err(StoreError::Exists(m)) => assert_eq!(
            m,
            format!("lot LOT-A of GTIN {GTIN} is already minted as batch {batch}")
        ),
        r => panic!("expected Exists, got {r:?}"),
    }
    assert_eq!(store.statement(&other.id).await.unwrap(), None);
    assert_eq!(store.log_size().await.unwrap(), 1);

    let row = store.batch(&batch).await.unwrap().expect("batch on record");
    assert_eq!(
        (row.id, row.party.as_str(), row.quantity, row.head),
        (batch, "acme-foods", 1000, head_of(batch))
    );
    assert_eq!(
        row.statement,
        store::StoredStatement {
            seq: 0,
            id: st.id.clone(),
            kind: "batch".into(),
            party: "acme-foods".into(),
            json: st.json.clone(),
        }
    );
    let by_lot = store.batch_by_lot(GTIN, "LOT-A").await.unwrap();
    assert_eq!(by_lot.map(|b| b.id), Some(batch));
    assert_eq!(store.batch_by_lot(GTIN, "LOT-B").await.unwrap(), None);
    assert_eq!(
        store.batch_by_lot("00000000000000", "LOT-A").await.unwrap(),
        None
    );
    assert_eq!(store.batch(&bid(&"0".repeat(64))).await.unwrap(), None);
    assert_eq!(
        holdings(&store, batch).await,
        [(0, 999, "acme-foods".into(), Disposition::Active)]
    );
    assert_eq!(
        heads(&store, &[batch, bid(&"0".repeat(64))]).await,
        [(batch, head_of(batch))].into()
    );

    // A second batch takes the next leaf; a one-unit batch is one unit.
    let small = factory.mint(&store, "LOT-1", 1).await;
    assert_eq!(store.batch(&small).await.unwrap().unwrap().statement.seq, 1);
    assert_eq!(
        holdings(&store, small).await,
        [(0, 0, "acme-foods".into(), Disposition::Active)]
    );
    assert_eq!(store.holdings_of(&factory.slug).await.unwrap().len(), 2);
}

pub async fn key_statements(db: Db) {
    let store = db.open().await;
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    b1.register(&store).await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    factory.register(&store).await;
    factory.mint(&store, "LOT-K", 10).await;

    // Certify a dock key for the B1, then revoke it.
    let dock = SigningKey::from_bytes(&[42; 32]);
    let dock_record = KeyRecord {
        key_id: sign::key_id(&dock.verifying_key()),
        party: b1.slug.clone(),
        public_key: sign::b64(dock.verifying_key().as_bytes()),
        role: Role::Dock,
        not_before: Some(ts()),
        not_after: Some(Timestamp::parse("2027-03-01T08:00:00Z").unwrap()),
        revoked: None,
    };
    let cert = b1.statement(
        Kind::Key,
        &serde_json::json!({"certify": dock_record.key_id}),
        ts(),
    );
    let change = KeyChange::Certify(dock_record.clone());
    assert_eq!(
        store.append_key(&cert, &change).await.unwrap(),
        Appended::Stored(1)
    );
    assert_eq!(
        store.append_key(&cert, &change).await.unwrap(),
        Appended::Duplicate(1)
    );
    assert_eq!(
        store.key(&dock_record.key_id).await.unwrap(),
        Some(dock_record.clone())
    );
    // The same key certified by another statement is refused, and takes no leaf.
    let again = b1.statement(Kind::Key, &serde_json::json!({"certify": "again"}), ts());
    match store.append_key(&again, &change).await {
        Err(StoreError::Exists(m)) => assert_eq!(
            m,
            format!("key {} is already on record", dock_record.key_id)
        ),
        r => panic!("expected Exists, got {r:?}"),
    }
    // So is a root key of a party certified as a station key.
    let root_again = KeyChange::Certify(KeyRecord {
        role: Role::Dock,
        ..factory.root()
    });
    let st = b1.statement(Kind::Key, &serde_json::json!({"certify": "root"}), ts());
    assert!(matches!(
        store.append_key(&st, &root_again).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(store.log_size().await.unwrap(), 2);

    let revoke_at = Timestamp::parse("2026-04-01T00:00:00Z").unwrap();
    let rev = b1.statement(
        Kind::Key,
        &serde_json::json!({"revoke": dock_record.key_id}),
        revoke_at,
    );
    let revoke = KeyChange::Revoke {
        key_id: dock_record.key_id.clone(),
        at: revoke_at,
    };
    assert_eq!(
        store.append_key(&rev, &revoke).await.unwrap(),
        Appended::Stored(2)
    );
    let rev2 = b1.statement(
        Kind::Key,
        &serde_json::json!({"revoke": "twice"}),
        revoke_at,
    );
    match store.append_key(&rev2, &revoke).await {
        Err(StoreError::Exists(m)) => {
            assert_eq!(m, format!("key {} is already revoked", dock_record.key_id))
        }
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(store.log_size().await.unwrap(), 3);
    assert_eq!(
        store.key(&dock_record.key_id).await.unwrap(),
        Some(KeyRecord {
            revoked: Some(revoke_at),
            ..dock_record.clone()
        })
    );
    let mut keys = store.keys_of(&b1.slug).await.unwrap();
    assert_eq!(keys.len(), 2);
    keys.retain(|k| k.role == Role::Root);
    assert_eq!(keys, vec![b1.root()]);

    // The statements behind a key, in log order; none for a root key or an unknown one.
    let ids: Vec<(i64, String)> = store
        .key_statements(&dock_record.key_id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.seq, s.id))
        .collect();
    assert_eq!(ids, [(1, cert.id.clone()), (2, rev.id.clone())]);
    assert!(store.key_statements(&b1.key_id()).await.unwrap().is_empty());
    assert!(store.key_statements("nope").await.unwrap().is_empty());
}

pub async fn statements_and_pages(db: Db) {
    let store = db.open().await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    factory.register(&store).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            factory
                .mint(&store, &format!("LOT-{i}"), 10 + i)
                .await
                .hex(),
        );
    }
    let seqs = |v: Vec<store::StoredStatement>| v.into_iter().map(|s| s.seq).collect::<Vec<_>>();
    let all = store.statements_from(0, 100).await.unwrap();
    assert_eq!(seqs(all.clone()), (0..7).collect::<Vec<i64>>());
    assert_eq!(
        all.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        ids,
        "leaf order is append order"
    );
    assert_eq!(seqs(store.statements_from(3, 2).await.unwrap()), [3, 4]);
    assert_eq!(seqs(store.statements_from(6, 10).await.unwrap()), [6]);
    assert!(store.statements_from(7, 10).await.unwrap().is_empty());
    assert_eq!(
        store.statement(&ids[2]).await.unwrap(),
        Some(all[2].clone())
    );
    assert_eq!(store.statement(&"0".repeat(64)).await.unwrap(), None);

    // The bulk page holds the same leaves as the row-by-row read.
    for (from, limit) in [(0, 100), (2, 3), (6, 1), (7, 5)] {
        let page = store.statement_page(from, limit).await.unwrap();
        let rows = store.statements_from(from, limit).await.unwrap();
        assert_eq!(page.len(), rows.len());
        for (leaf, row) in page.leaves().zip(&rows) {
            assert_eq!(
                (leaf.seq, leaf.id, leaf.kind, leaf.json),
                (
                    row.seq,
                    row.id.as_str(),
                    row.kind.as_str(),
                    row.json.as_str()
                )
            );
        }
    }
}
