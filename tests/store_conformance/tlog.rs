//! The transparency log's leaves and checkpoints, and the append-only tables under it.

use ed25519_dalek::SigningKey;

use suyuan::domain::keys::KeyRecord;
use suyuan::domain::party::{PartyKind, Role};
use suyuan::domain::statement::EventType as T;
use suyuan::domain::time::Timestamp;
use suyuan::formats::sign::{self, Kind};
use suyuan::store::{self, KeyChange, StoreError, StoredCheckpoint};

use crate::fixtures::*;
use crate::{Db, Dialect};

fn checkpoint(size: i64, note: &str) -> StoredCheckpoint {
    StoredCheckpoint {
        size,
        root: format!("{size:064x}"),
        note: note.into(),
        verifier: "suyuan.example+1234abcd+AQID".into(),
    }
}

/// Expects a refusal whose message says `why`.
fn refused(r: Result<(), StoreError>, why: &str) {
    match r {
        Err(StoreError::Db(e)) => assert!(e.to_string().contains(why), "{e}"),
        other => panic!("expected a refusal ({why}), got {other:?}"),
    }
}

pub async fn log_and_checkpoints(db: Db) {
    let store = db.open().await;
    assert_eq!(store.log_size().await.unwrap(), 0);
    assert!(store.leaf_hashes(0, 0).await.unwrap().is_empty());
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);

    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    factory.register(&store).await;
    for i in 0..3 {
        factory.mint(&store, &format!("LOT-{i}"), 10).await;
    }
    assert_eq!(store.log_size().await.unwrap(), 3);
    // Leaf hashes are RFC 6962 hashes of the stored JSON, in leaf order.
    let want: Vec<String> = store
        .statements_from(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|s| store::leaf_hash(&s.json))
        .collect();
    assert_eq!(store.leaf_hashes(0, 3).await.unwrap(), want);
    assert_eq!(store.leaf_hashes(1, 2).await.unwrap(), want[1..2]);
    assert_eq!(store.leaf_hashes(2, 10).await.unwrap(), want[2..]);
    assert!(store.leaf_hashes(3, 10).await.unwrap().is_empty());

    // Checkpoints grow with the log: the same size again is a no-op, a smaller
    // one or one beyond the log is refused.
    store.put_checkpoint(&checkpoint(2, "two")).await.unwrap();
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(checkpoint(2, "two"))
    );
    store
        .put_checkpoint(&checkpoint(2, "two again"))
        .await
        .unwrap();
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(checkpoint(2, "two"))
    );
    refused(
        store.put_checkpoint(&checkpoint(1, "one")).await,
        "may not be smaller than the last one",
    );
    refused(
        store.put_checkpoint(&checkpoint(4, "four")).await,
        "may not be larger than the log",
    );
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(checkpoint(2, "two"))
    );
    store.put_checkpoint(&checkpoint(3, "three")).await.unwrap();
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(checkpoint(3, "three"))
    );
    // Another server on the database reads the same.
    let again = db.open().await;
    assert_eq!(
        again.latest_checkpoint().await.unwrap(),
        Some(checkpoint(3, "three"))
    );

    // An acknowledged append is durable: what each database needs for that is on.
    let mut raw = db.raw().await;
    match db.dialect {
        Dialect::Sqlite => assert_eq!(raw.text("PRAGMA journal_mode").await, "wal"),
        Dialect::Postgres => assert_eq!(raw.text("SHOW synchronous_commit").await, "on"),
    }
    assert_eq!(raw.int("SELECT size FROM log_state").await, 3);
    raw.close().await;
}

pub async fn append_only_triggers(db: Db) {
    let store = db.open().await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    factory.register(&store).await;
    b1.register(&store).await;
    let batch = factory.mint(&store, "LOT-T", 10).await;
    let mut ship = factory.event(
        T::Shipping,
        vec![range(batch, 0, 4)],
        &heads(&store, &[batch]).await,
    );
    ship.to = Some(b1.slug.clone());
    let ship = factory.stored(&store, &ship).await;
    let dock = SigningKey::from_bytes(&[42; 32]);
    let key_id = sign::key_id(&dock.verifying_key());
    let record = KeyRecord {
        key_id: key_id.clone(),
        party: b1.slug.clone(),
        public_key: sign::b64(dock.verifying_key().as_bytes()),
        role: Role::Dock,
        not_before: Some(ts()),
        not_after: None,
        revoked: None,
    };
    let cert = b1.statement(Kind::Key, &serde_json::json!({"certify": key_id}), ts());
    store
        .append_key(&cert, &KeyChange::Certify(record))
        .await
        .unwrap();
    let rev = b1.statement(Kind::Key, &serde_json::json!({"revoke": key_id}), ts());
    let at = Timestamp::parse("2026-04-01T00:00:00Z").unwrap();
    store
        .append_key(
            &rev,
            &KeyChange::Revoke {
                key_id: key_id.clone(),
                at,
            },
        )
        .await
        .unwrap();
    store.put_checkpoint(&checkpoint(4, "four")).await.unwrap();
    let before = snapshot(&store, &[batch]).await;
    let statements = store.statements_from(0, 10).await.unwrap();

    let mut raw = db.raw().await;
    let mut refused = vec![
        "UPDATE statements SET json = 'x'",
        "DELETE FROM statements",
        "UPDATE batches SET quantity = 1",
        "DELETE FROM batches",
        "UPDATE keys SET role = 'root'",
        "DELETE FROM keys",
        "UPDATE revocations SET time = 'x'",
        "DELETE FROM revocations",
        "UPDATE events SET type = 'destroying'",
        "DELETE FROM events",
        "UPDATE event_objects SET first = 1",
        "DELETE FROM event_objects",
        // A head may only move on from the head it replaces.
        "UPDATE chain_heads SET head = 'x'",
        "DELETE FROM chain_heads",
        "UPDATE log_state SET size = 0",
        "DELETE FROM log_state",
        "UPDATE checkpoints SET root = 'x'",
        "DELETE FROM checkpoints",
    ];
    if db.dialect == Dialect::Postgres {
        refused.extend([
            "TRUNCATE statements",
            "TRUNCATE batches",
            "TRUNCATE events",
            "TRUNCATE event_objects",
            "TRUNCATE chain_heads",
            "TRUNCATE log_state",
            "TRUNCATE checkpoints",
        ]);
    }
    for sql in refused {
        let err = raw.execute(sql).await.expect_err(sql).to_string();
        let said = [
            "append-only",
            "never shrinks",
            "chain head moved on",
            "never deleted",
        ];
        assert!(
            said.iter().any(|s| err.contains(s)),
            "{sql}: unexpected error {err}"
        );
    }
    // The same connection may write what is not evidence.
    raw.execute("DELETE FROM scan_salts").await.unwrap();
    raw.close().await;

    assert_eq!(snapshot(&store, &[batch]).await, before);
    assert_eq!(store.statements_from(0, 10).await.unwrap(), statements);
    assert_eq!(heads(&store, &[batch]).await, [(batch, ship)].into());
    assert_eq!(store.key(&key_id).await.unwrap().unwrap().revoked, Some(at));
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(checkpoint(4, "four"))
    );
    assert_eq!(store.batch(&batch).await.unwrap().unwrap().quantity, 10);
}
