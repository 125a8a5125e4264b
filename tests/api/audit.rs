//! `suyuan audit` over a real database: a clean log passes; tampering that
//! bypasses the append-only triggers is caught, on SQLite and on PostgreSQL.
//! `suyuan export` and `suyuan verify` round-trip an evidence bundle, and the
//! independent Python verifier checks it when python3 and `cryptography` exist.

use serde_json::Value;
use std::process::Command;

use crate::helpers::*;
use suyuan::domain::statement::{BatchId, EventType};
use suyuan::formats::sign::{self, Kind};

const BIN: &str = env!("CARGO_BIN_EXE_suyuan");

/// A small history: mint, ship, receive, ship on, receive, sell; then a checkpoint.
struct Scene {
    app: TestApp,
    b2: Actor,
    batch: BatchId,
    state: tempfile::TempDir,
}

async fn scene() -> Scene {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let b2 = app.party("corner-shop", "b2").await;
    let batch = mint(&factory, "L1", 100).await;
    let s = ship(&factory, &b1, vec![range(batch, 0, 49)])
        .await
        .unwrap();
    receive(&b1, s, vec![range(batch, 0, 49)]).await.unwrap();
    let s = ship(&b1, &b2, vec![range(batch, 0, 9)]).await.unwrap();
    receive(&b2, s, vec![range(batch, 0, 9)]).await.unwrap();
    simple(
        &b2,
        EventType::RetailSelling,
        vec![range(batch, 0, 0)],
        |_| {},
    )
    .await
    .unwrap();
    let r = app
        .http
        .get(format!("{}/log/checkpoint", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    Scene {
        app,
        b2,
        batch,
        state: tempfile::tempdir().unwrap(),
    }
}

/// Runs the binary off the runtime thread (the test server shares this runtime);
/// exit code and stdout+stderr.
async fn run(args: &[&str]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output())
        .await
        .expect("join")
        .expect("run suyuan");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn audit_db(s: &Scene) -> (i32, String) {
    let state = s.state.path().join("audit-state.json");
    run(&[
        "audit",
        "--quiet",
        "--database-url",
        &s.app.db_url,
        "--state",
        state.to_str().unwrap(),
    ])
    .await
}

/// Makes a table writable behind the store's back, as an attacker with database access would.
async fn unguard(raw: &RawDb, table: &str) {
    if on_postgres() {
        raw.execute(&format!("ALTER TABLE {table} DISABLE TRIGGER ALL"))
            .await
            .unwrap();
    } else {
        let names = raw
            .texts(&format!(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '{table}'"
            ))
            .await;
        for n in names {
            raw.execute(&format!("DROP TRIGGER {n}")).await.unwrap();
        }
    }
}

async fn writable(s: &Scene) -> RawDb {
    let raw = RawDb::open(&s.app.db_url, true).await;
    unguard(&raw, "statements").await;
    raw
}

fn assert_caught(code: i32, out: &str, rules: &[&str]) {
    assert_eq!(code, 1, "audit must fail:\n{out}");
    for r in rules {
        assert!(
            out.contains(&format!("[{r}]")),
            "expected a [{r}] finding:\n{out}"
        );
    }
}

#[tokio::test]
async fn a_clean_log_passes_over_the_database_and_over_http() {
    let s = scene().await;
    let (code, out) = audit_db(&s).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit ok: 6 statements"), "{out}");
    assert!(
        out.contains("chain heads and holdings of all 1 batches match the replay"),
        "{out}"
    );
    let state = s.state.path().join("http-state.json");
    let (code, out) = run(&[
        "audit",
        "--quiet",
        "--server",
        &s.app.base,
        "--state",
        state.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    // A second run checks consistency with the checkpoint the first one saw.
    assert_eq!(audit_db(&s).await.0, 0);
}

/// A holder rewritten in the holdings table (the signed log untouched): the
/// scan page would tell a consumer the wrong story, so the audit compares the
/// store's rows with its own replay of the same engine.
#[tokio::test]
async fn audit_catches_holdings_that_differ_from_the_replay() {
    let s = scene().await;
    let raw = RawDb::open(&s.app.db_url, true).await;
    raw.execute("UPDATE holdings SET holder = 'acme-dairy' WHERE holder = 'north-wholesale'")
        .await
        .unwrap();
    let (code, out) = audit_db(&s).await;
    assert_caught(code, &out, &["recorded"]);
    assert!(out.contains("stored holdings of batch"), "{out}");
    // A chain head moved back behind the log's back is caught too.
    let s = scene().await;
    let raw = RawDb::open(&s.app.db_url, true).await;
    unguard(&raw, "chain_heads").await;
    raw.execute("UPDATE chain_heads SET head = batch")
        .await
        .unwrap();
    let (code, out) = audit_db(&s).await;
    assert_caught(code, &out, &["recorded"]);
    assert!(out.contains("stored chain head of batch"), "{out}");
}

#[tokio::test]
async fn audit_catches_a_changed_quantity() {
    let s = scene().await;
    let raw = writable(&s).await;
    raw.execute(
        "UPDATE statements SET json = REPLACE(json, '\"quantity\":100', '\"quantity\":1000') WHERE kind = 'batch'",
    )
    .await
    .unwrap();
    let (code, out) = audit_db(&s).await;
    assert_caught(code, &out, &["id", "checkpoint"]);
    assert!(out.contains("leaf 0 "), "{out}");
}

#[tokio::test]
async fn audit_catches_a_deleted_event() {
    let s = scene().await;
    let raw = writable(&s).await;
    raw.execute("DELETE FROM statements WHERE seq = 2")
        .await
        .unwrap();
    let (code, out) = audit_db(&s).await;
    assert_caught(code, &out, &["sequence", "checkpoint"]);
}

#[tokio::test]
async fn audit_catches_two_swapped_events() {
    let s = scene().await;
    let raw = writable(&s).await;
    for sql in [
        "UPDATE statements SET seq = -1 WHERE seq = 3",
        "UPDATE statements SET seq = 3 WHERE seq = 4",
        "UPDATE statements SET seq = 4 WHERE seq = -1",
    ] {
        raw.execute(sql).await.unwrap();
    }
    let (code, out) = audit_db(&s).await;
    assert_caught(code, &out, &["chain", "checkpoint"]);
}

#[tokio::test]
async fn audit_catches_history_re_signed_as_a_fork() {
    let s = scene().await;
    // The shop re-signs its sale as a sale of another unit: every signature,
    // chain link and custody rule holds, the leaf hash column is updated, but
    // the tree no longer has the signed root.
    let old: Vec<String> = s
        .app
        .raw
        .texts("SELECT json FROM statements WHERE seq = 5")
        .await;
    let mut v: Value = serde_json::from_str(&old[0]).unwrap();
    let body = v.as_object_mut().unwrap();
    body.remove("sig");
    body["objects"][0]["first"] = 1.into();
    body["objects"][0]["last"] = 1.into();
    let (stmt, id) = sign::sign_value(Kind::Event, body, &s.b2.ks.key).unwrap();
    let json = suyuan::formats::jcs::canonicalize(&stmt).unwrap();
    let raw = writable(&s).await;
    raw.execute(&format!(
        "UPDATE statements SET json = '{json}', id = '{id}', leaf_hash = '{}' WHERE seq = 5",
        suyuan::store::leaf_hash(&json)
    ))
    .await
    .unwrap();
    let (code, out) = audit_db(&s).await;
    assert_caught(code, &out, &["checkpoint"]);
    assert!(!out.contains("[signature]"), "{out}");
    // And a server restarted on this database refuses to serve the forked tree.
    let err = suyuan::tlog::service::LogService::open(
        s.app.store.clone(),
        s.app.log_key.clone(),
        None,
        None,
    )
    .await
    .expect_err("forked");
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[tokio::test]
async fn audit_catches_a_rolled_back_log() {
    let s = scene().await;
    assert_eq!(
        audit_db(&s).await.0,
        0,
        "first audit remembers the checkpoint"
    );
    let raw = writable(&s).await;
    unguard(&raw, "checkpoints").await;
    unguard(&raw, "log_state").await;
    for sql in [
        "DELETE FROM statements WHERE seq >= 4",
        "DELETE FROM checkpoints",
        "UPDATE log_state SET size = 4",
    ] {
        raw.execute(sql).await.unwrap();
    }
    let (code, out) = audit_db(&s).await;
    assert_caught(code, &out, &["consistency"]);
    assert!(out.contains("rolled back"), "{out}");
}

#[tokio::test]
async fn a_bundle_exports_and_verifies_offline() {
    let s = scene().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.json");
    let (code, out) = run(&[
        "export",
        "--server",
        &s.app.base,
        "--batch",
        &s.batch.hex(),
        "--out",
        file.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&["verify", file.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bundle ok"), "{out}");
    python_verifier("--bundle", &file, true);

    // One byte changed in a statement: its inclusion proof fails.
    let text = std::fs::read_to_string(&file).unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        text.replacen(r#"\"quantity\":100"#, r#"\"quantity\":101"#, 1),
    )
    .unwrap();
    let (code, out) = run(&["verify", bad.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not lead to the root"), "{out}");
    python_verifier("--bundle", &bad, false);

    // A checkpoint signed by another key, when the log key is pinned.
    let other = suyuan::tlog::note::Verifier::new(
        "suyuan.log/other",
        ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key(),
    )
    .unwrap();
    let (code, out) = run(&[
        "verify",
        file.to_str().unwrap(),
        "--log-key",
        &other.to_string(),
    ])
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no signature by suyuan.log/other"), "{out}");
}

#[tokio::test]
async fn a_busy_log_with_station_keys_packing_recalls_and_shortages_passes() {
    use suyuan::client::keystore::Keystore;
    use suyuan::domain::party::Role;
    use suyuan::domain::statement::{KeyAction, KeyStatement, VERSION};
    use suyuan::domain::time::Timestamp;
    use suyuan::formats::gs1::{check_digit, Sscc};

    let app = spawn_app().await;
    // The demo: shipments with shortages, sales, a recall, an inspection.
    let dir = tempfile::tempdir().unwrap();
    let ledger = suyuan::app::ledger::Ledger::new(app.store.clone());
    suyuan::app::demo::setup(&ledger, dir.path(), &app.base)
        .await
        .expect("demo");

    // A station key certified, used, then revoked: what it signed before stays valid.
    let factory = app.party("second-factory", "factory").await;
    let b1 = app.party("second-wholesale", "b1").await;
    let batch = mint(&factory, "S1", 100).await;
    let dock = Keystore::generate(factory.ks.party.clone());
    let now = Timestamp::now();
    let mut key = KeyStatement {
        v: VERSION,
        party: factory.ks.party.clone(),
        key: factory.ks.key_id.clone(),
        time: Timestamp::from_unix(now.unix() - 60),
        action: KeyAction::Certify,
        subject: dock.public_key(),
        role: Some(Role::Dock),
        not_before: Some(Timestamp::from_unix(now.unix() - 60)),
        not_after: Some(Timestamp::from_unix(now.unix() + 86_400)),
        reason: None,
    };
    let (st, _) = signed(&factory, Kind::Key, &key);
    factory.client.submit(Kind::Key, &st).await.unwrap();
    let station = Actor {
        ks: dock.clone(),
        ..factory.clone()
    };

    // Cases on a pallet, shipped and received by scanning the pallet, then unpacked.
    let sscc = |n: u32| {
        let body = format!("10614141{n:09}");
        Sscc::parse(&format!("{body}{}", check_digit(&body))).unwrap()
    };
    simple(
        &station,
        EventType::Packing,
        vec![range(batch, 0, 23)],
        |e| e.parent = Some(sscc(1)),
    )
    .await
    .unwrap();
    simple(
        &factory,
        EventType::Packing,
        vec![range(batch, 24, 47)],
        |e| e.parent = Some(sscc(2)),
    )
    .await
    .unwrap();
    simple(&factory, EventType::Packing, vec![], |e| {
        e.parent = Some(sscc(9));
        e.containers = vec![sscc(1), sscc(2)];
    })
    .await
    .unwrap();
    let mut ev = suyuan::client::draft_event(&dock, EventType::Shipping, vec![]);
    ev.containers = vec![sscc(9)];
    ev.to = Some(b1.ks.party.clone());
    let v = factory.client.submit_event(&dock, ev).await.unwrap();
    let shipment = BatchId::parse(v["id"].as_str().unwrap()).unwrap();
    let mut ev = suyuan::client::draft_event(&b1.ks, EventType::Receiving, vec![]);
    ev.containers = vec![sscc(9)];
    ev.shipment = Some(shipment);
    b1.client.submit_event(&b1.ks, ev).await.unwrap();
    simple(&b1, EventType::Unpacking, vec![], |e| {
        e.parent = Some(sscc(9))
    })
    .await
    .unwrap();

    key.action = KeyAction::Revoke;
    key.time = Timestamp::now();
    (key.role, key.not_before, key.not_after) = (None, None, None);
    let (st, _) = signed(&factory, Kind::Key, &key);
    factory.client.submit(Kind::Key, &st).await.unwrap();

    let r = app
        .http
        .get(format!("{}/log/checkpoint", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("s.json");
    let (code, out) = run(&[
        "audit",
        "--quiet",
        "--database-url",
        &app.db_url,
        "--state",
        path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
}
