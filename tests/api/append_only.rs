//! The database itself refuses to change or remove what was appended (triggers),
//! on whichever database this run uses.

use crate::helpers::*;
use suyuan::client::keystore::Keystore;
use suyuan::domain::party::Role;
use suyuan::domain::statement::{KeyAction, KeyStatement, VERSION};
use suyuan::domain::time::Timestamp;
use suyuan::formats::sign::Kind;

/// The message the trigger on `table` raises, as each database spells it.
fn trigger_message(table: &str) -> String {
    if on_postgres() {
        format!("{table} is append-only")
    } else {
        format!("{} are append-only", table.replace('_', " "))
    }
}

#[tokio::test]
async fn statement_tables_refuse_update_and_delete() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let batch = mint(&factory, "L1", 100).await;
    let s = ship(&factory, &b1, vec![range(batch, 0, 49)])
        .await
        .unwrap();
    receive(&b1, s, vec![range(batch, 0, 49)]).await.unwrap();
    recall(&factory, vec![range(batch, 0, 99)], "test", "return it")
        .await
        .unwrap();
    // A certified and then revoked station key, so keys and revocations have rows.
    let dock = Keystore::generate(factory.ks.party.clone());
    let now = Timestamp::now();
    let mut key = KeyStatement {
        v: VERSION,
        party: factory.ks.party.clone(),
        key: factory.ks.key_id.clone(),
        time: now,
        action: KeyAction::Certify,
        subject: dock.public_key(),
        role: Some(Role::Dock),
        not_before: Some(now),
        not_after: Some(Timestamp::from_unix(now.unix() + 86_400)),
        reason: None,
    };
    let (st, _) = signed(&factory, Kind::Key, &key);
    factory.client.submit(Kind::Key, &st).await.unwrap();
    key.action = KeyAction::Revoke;
    (key.role, key.not_before, key.not_after) = (None, None, None);
    let (st, _) = signed(&factory, Kind::Key, &key);
    factory.client.submit(Kind::Key, &st).await.unwrap();
    assert_eq!(app.log_size().await, 6);

    let db = RawDb::open(&app.db_url, true).await;
    let before = db.dump().await;
    for table in [
        "statements",
        "batches",
        "events",
        "event_objects",
        "keys",
        "revocations",
        "log_state",
    ] {
        assert!(
            !db.rows(table).await.is_empty(),
            "{table} should have rows to protect"
        );
    }
    let refused = [
        (
            "UPDATE statements SET json = 'x'",
            trigger_message("statements"),
        ),
        (
            "UPDATE statements SET seq = seq + 100",
            trigger_message("statements"),
        ),
        ("DELETE FROM statements", trigger_message("statements")),
        (
            "DELETE FROM statements WHERE seq = 5",
            trigger_message("statements"),
        ),
        (
            "UPDATE batches SET quantity = 1",
            trigger_message("batches"),
        ),
        ("DELETE FROM batches", trigger_message("batches")),
        ("UPDATE events SET party = 'x'", trigger_message("events")),
        ("DELETE FROM events", trigger_message("events")),
        (
            "UPDATE event_objects SET last = 0",
            trigger_message("event_objects"),
        ),
        (
            "DELETE FROM event_objects",
            trigger_message("event_objects"),
        ),
        ("UPDATE keys SET role = 'mint'", trigger_message("keys")),
        ("DELETE FROM keys", trigger_message("keys")),
        (
            "UPDATE revocations SET time = '2000-01-01T00:00:00Z'",
            trigger_message("revocations"),
        ),
        ("DELETE FROM revocations", trigger_message("revocations")),
        (
            "UPDATE log_state SET size = 0",
            "the log never shrinks".to_owned(),
        ),
        (
            "DELETE FROM log_state",
            if on_postgres() {
                trigger_message("log_state")
            } else {
                "the log never shrinks".to_owned()
            },
        ),
    ];
    for (sql, expected) in &refused {
        let err = db.execute(sql).await.expect_err(sql);
        assert!(
            err.contains(expected.as_str()),
            "{sql}: expected {expected:?}, got {err:?}"
        );
    }
    assert_eq!(db.dump().await, before, "a refused statement changed rows");
    assert_eq!(app.log_size().await, 6);

    // The server still appends on top, at the next leaf.
    let (code, v) = app
        .post_raw(
            "/api/v1/batches",
            Some(&factory.token),
            &signed(&factory, Kind::Batch, &batch_body(&factory, "L2", 5))
                .0
                .to_string(),
        )
        .await;
    assert_eq!((code, v["seq"].as_i64()), (201, Some(6)), "{v}");
}
