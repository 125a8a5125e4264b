//! Bad input: every refusal has its own status, error code and a message naming the
//! problem, and leaves the database exactly as it was.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::helpers::*;
use suyuan::client::keystore::Keystore;
use suyuan::client::{draft_event, sign_event};
use suyuan::domain::custody::Holding;
use suyuan::domain::party::Role;
use suyuan::domain::statement::{
    BatchId, EventStatement, EventType, KeyAction, KeyStatement, UnitRange, VERSION,
};
use suyuan::domain::time::Timestamp;
use suyuan::formats::sign::{self, Kind};

const BATCHES: &str = "/api/v1/batches";
const EVENTS: &str = "/api/v1/events";
const KEYS: &str = "/api/v1/keys";
const PARTIES: &str = "/api/v1/parties";

/// A chain with some history: a factory's batch of 100, units 0..49 received by a wholesaler.
struct World {
    app: TestApp,
    factory: Actor,
    b1: Actor,
    b2: Actor,
    batch: BatchId,
}

/// What "the database is unchanged" compares.
#[derive(Debug, PartialEq)]
struct Snapshot {
    log_size: usize,
    holdings: Vec<Holding>,
    rows: Vec<String>,
}

async fn world() -> World {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let b2 = app.party("corner-shop", "b2").await;
    let batch = mint(&factory, "L1", 100).await;
    let s = ship(&factory, &b1, vec![range(batch, 0, 49)])
        .await
        .expect("ship");
    receive(&b1, s, vec![range(batch, 0, 49)])
        .await
        .expect("receive");
    World {
        app,
        factory,
        b1,
        b2,
        batch,
    }
}

/// Serialises a statement body, lets `edit` change the JSON, then signs it with `ks`.
fn edited<T: Serialize>(
    ks: &Keystore,
    kind: Kind,
    body: &T,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> String {
    let Value::Object(mut map) = serde_json::to_value(body).expect("to JSON") else {
        panic!("a statement body is an object");
    };
    edit(&mut map);
    sign::sign_value(kind, &map, &ks.key)
        .expect("sign")
        .0
        .to_string()
}

impl World {
    async fn snapshot(&self) -> Snapshot {
        Snapshot {
            log_size: self.app.log_size().await,
            holdings: self.app.holdings(&self.batch).await,
            rows: self.app.dump().await,
        }
    }

    /// Posts raw bytes; asserts status, code, message and that nothing changed. Returns the answer.
    async fn refused_bytes(
        &self,
        path: &str,
        token: &str,
        body: Vec<u8>,
        status: u16,
        code: &str,
        needle: &str,
    ) -> Value {
        let before = self.snapshot().await;
        let (got, v) = self.app.post_bytes(path, Some(token), body).await;
        assert_eq!(got, status, "status of {path}: {v}");
        assert_eq!(v["error"], code, "error code: {v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "message {message:?} should mention {needle:?}"
        );
        let after = self.snapshot().await;
        assert_eq!(after.log_size, before.log_size, "log size changed");
        assert_eq!(after.holdings, before.holdings, "holdings changed");
        assert_eq!(after.rows, before.rows, "database rows changed");
        v
    }

    async fn refused(
        &self,
        path: &str,
        token: &str,
        body: &str,
        status: u16,
        code: &str,
        needle: &str,
    ) -> Value {
        self.refused_bytes(path, token, body.as_bytes().to_vec(), status, code, needle)
            .await
    }

    /// Posts a statement that must be accepted; returns the receipt.
    async fn accepted(&self, path: &str, token: &str, body: &str) -> Value {
        let (got, v) = self.app.post_raw(path, Some(token), body).await;
        assert_eq!(got, 201, "{v}");
        assert_eq!(v["status"], "stored", "{v}");
        v
    }

    /// The factory's batch record for a new lot, edited as JSON before it is signed.
    fn batch_text(&self, lot: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        edited(
            &self.factory.ks,
            Kind::Batch,
            &batch_body(&self.factory, lot, 10),
            edit,
        )
    }

    /// An event signed by `ks` on the current heads of the batches it touches.
    async fn event_text(
        &self,
        ks: &Keystore,
        event_type: EventType,
        objects: Vec<UnitRange>,
        edit: impl FnOnce(&mut EventStatement),
    ) -> String {
        let mut ev = draft_event(ks, event_type, objects);
        let touched = suyuan::domain::custody::batches_touched(&ev);
        ev.prev = self.app.store.heads(&touched).await.expect("heads");
        edit(&mut ev);
        sign_event(ks, &mut ev).expect("sign").0.to_string()
    }

    /// A factory shipment of some of its own units to the second-tier shop.
    async fn shipment_to_b2(&self, first: u64, last: u64) -> String {
        let to = self.b2.ks.party.clone();
        self.event_text(
            &self.factory.ks,
            EventType::Shipping,
            vec![range(self.batch, first, last)],
            |e| e.to = Some(to),
        )
        .await
    }

    /// Certifies a new station key of the factory, signed by its root key.
    async fn certify(&self, role: Role, not_before: Timestamp, not_after: Timestamp) -> Keystore {
        let station = Keystore::generate(self.factory.ks.party.clone());
        let stmt = KeyStatement {
            v: VERSION,
            party: self.factory.ks.party.clone(),
            key: self.factory.ks.key_id.clone(),
            time: Timestamp::now(),
            action: KeyAction::Certify,
            subject: station.public_key(),
            role: Some(role),
            not_before: Some(not_before),
            not_after: Some(not_after),
            reason: None,
        };
        let (s, _) = signed(&self.factory, Kind::Key, &stmt);
        self.factory
            .client
            .submit(Kind::Key, &s)
            .await
            .expect("certify");
        station
    }

    /// A station key valid from a minute ago for a day.
    async fn station(&self, role: Role) -> Keystore {
        let now = Timestamp::now().unix();
        self.certify(
            role,
            Timestamp::from_unix(now - 60),
            Timestamp::from_unix(now + 86_400),
        )
        .await
    }
}

// ---- JSON that is not an acceptable statement: 400 malformed ----

#[tokio::test]
async fn malformed_json() {
    let w = world().await;
    let v = w
        .refused(
            BATCHES,
            &w.factory.token,
            r#"{"v":1,"party":"#,
            400,
            "malformed",
            "EOF while parsing",
        )
        .await;
    assert!(v["message"].as_str().unwrap().contains("statement JSON"));
}

#[tokio::test]
async fn trailing_garbage() {
    let w = world().await;
    let text = format!("{} x", w.batch_text("L2", |_| {}));
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "malformed",
        "trailing characters",
    )
    .await;
}

#[tokio::test]
async fn not_an_object() {
    let w = world().await;
    let text = format!("[{}]", w.batch_text("L2", |_| {}));
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "malformed",
        "must be a JSON object",
    )
    .await;
}

#[tokio::test]
async fn missing_sig() {
    let w = world().await;
    let mut v: Value = serde_json::from_str(&w.batch_text("L2", |_| {})).unwrap();
    v.as_object_mut().unwrap().remove("sig");
    w.refused(
        BATCHES,
        &w.factory.token,
        &v.to_string(),
        400,
        "malformed",
        "no \"sig\"",
    )
    .await;
    // A sig that is not a string is just as missing.
    v["sig"] = json!(12);
    w.refused(
        BATCHES,
        &w.factory.token,
        &v.to_string(),
        400,
        "malformed",
        "no \"sig\"",
    )
    .await;
}

#[tokio::test]
async fn sig_of_the_wrong_length() {
    let w = world().await;
    let good = w.batch_text("L2", |_| {});
    let mut v: Value = serde_json::from_str(&good).unwrap();
    let sig = v["sig"].as_str().unwrap().to_owned();
    v["sig"] = json!(&sig[..80]);
    w.refused(
        BATCHES,
        &w.factory.token,
        &v.to_string(),
        400,
        "malformed",
        "86 characters",
    )
    .await;
    v["sig"] = json!(format!("{sig}=="));
    w.refused(
        BATCHES,
        &w.factory.token,
        &v.to_string(),
        400,
        "malformed",
        "got 88 characters",
    )
    .await;
    w.accepted(BATCHES, &w.factory.token, &good).await;
}

#[tokio::test]
async fn duplicate_key_in_body() {
    let w = world().await;
    let good = w.batch_text("L2", |_| {});
    // The same key twice, both spellings the same: still refused before anything else.
    let text = good.replacen('{', "{\"lot\":\"L2\",", 1);
    assert!(text.matches("\"lot\":\"L2\"").count() == 2);
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "malformed",
        "duplicate key \"lot\"",
    )
    .await;
}

#[tokio::test]
async fn float() {
    let w = world().await;
    let text = w
        .batch_text("L2", |_| {})
        .replace("\"quantity\":10", "\"quantity\":10.0");
    assert!(text.contains("10.0"));
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "malformed",
        "numbers must be integers",
    )
    .await;
}

#[tokio::test]
async fn null() {
    let w = world().await;
    let text = w
        .batch_text("L2", |_| {})
        .replacen('{', "{\"serial_prefix\":null,", 1);
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "malformed",
        "null is not allowed",
    )
    .await;
}

#[tokio::test]
async fn integer_beyond_2_pow_53_minus_1() {
    let w = world().await;
    let text = w
        .batch_text("L2", |_| {})
        .replace("\"quantity\":10", "\"quantity\":9007199254740992");
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "malformed",
        "integer 9007199254740992 is outside",
    )
    .await;
}

#[tokio::test]
async fn non_utf8_body() {
    let w = world().await;
    let mut body = w.batch_text("L2", |_| {}).into_bytes();
    body.splice(1..1, [0xff, 0xfe]);
    w.refused_bytes(
        BATCHES,
        &w.factory.token,
        body,
        400,
        "malformed",
        "not UTF-8",
    )
    .await;
}

#[tokio::test]
async fn oversized_body() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.insert("line".into(), json!("x".repeat(300 * 1024)));
    });
    assert!(text.len() > suyuan::http::MAX_BODY);
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        413,
        "too_large",
        "larger than 262144 bytes",
    )
    .await;
}

// ---- JSON, but not a statement of this kind: 400 invalid_statement ----

#[tokio::test]
async fn unknown_top_level_field() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.insert("colour".into(), json!("red"));
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "invalid_statement",
        "unknown field `colour`",
    )
    .await;
}

#[tokio::test]
async fn unknown_nested_field() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.get_mut("inputs").unwrap()[0]["grade"] = json!("A");
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "invalid_statement",
        "unknown field `grade`",
    )
    .await;
}

#[tokio::test]
async fn wrong_type() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.insert("quantity".into(), json!("10"));
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "invalid_statement",
        "invalid type: string \"10\", expected u64",
    )
    .await;
}

#[tokio::test]
async fn missing_field() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.remove("gtin");
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "invalid_statement",
        "missing field `gtin`",
    )
    .await;
}

#[tokio::test]
async fn date_that_does_not_parse() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.insert("produced".into(), json!("2026-13-01"));
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "invalid_statement",
        "date \"2026-13-01\" must be YYYY-MM-DD",
    )
    .await;
}

#[tokio::test]
async fn time_not_rfc3339_utc() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.insert("time".into(), json!("2026-11-28T22:02:25+08:00"));
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "invalid_statement",
        "time \"2026-11-28T22:02:25+08:00\" must be RFC 3339 UTC",
    )
    .await;
}

#[tokio::test]
async fn version_2() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.insert("v".into(), json!(2));
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        400,
        "invalid_statement",
        "statement version 2 is not supported",
    )
    .await;
}

#[tokio::test]
async fn statement_posted_to_the_endpoint_of_another_kind() {
    let w = world().await;
    let batch = w.batch_text("L2", |_| {});
    w.refused(
        EVENTS,
        &w.factory.token,
        &batch,
        400,
        "invalid_statement",
        "event statement: unknown field",
    )
    .await;
    let event = w.shipment_to_b2(50, 59).await;
    w.refused(
        BATCHES,
        &w.factory.token,
        &event,
        400,
        "invalid_statement",
        "batch statement: unknown field",
    )
    .await;
    w.refused(
        KEYS,
        &w.factory.token,
        &event,
        400,
        "invalid_statement",
        "key statement: unknown field",
    )
    .await;
    // Each is fine at its own door.
    w.accepted(BATCHES, &w.factory.token, &batch).await;
    w.accepted(EVENTS, &w.factory.token, &event).await;
}

// ---- signatures and keys ----

#[tokio::test]
async fn bad_signature() {
    let w = world().await;
    let good = w.batch_text("L2", |_| {});
    let mut v: Value = serde_json::from_str(&good).unwrap();
    // One character of a signed field changed after signing.
    v["product"] = json!(v["product"].as_str().unwrap().replace("900g", "800g"));
    let needle = format!(
        "signature does not verify under key {}",
        w.factory.ks.key_id
    );
    w.refused(
        BATCHES,
        &w.factory.token,
        &v.to_string(),
        422,
        "bad_signature",
        &needle,
    )
    .await;
    // Or one character of the signature itself.
    let mut v: Value = serde_json::from_str(&good).unwrap();
    let sig = v["sig"].as_str().unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    v["sig"] = json!(format!("{flipped}{}", &sig[1..]));
    w.refused(
        BATCHES,
        &w.factory.token,
        &v.to_string(),
        422,
        "bad_signature",
        &needle,
    )
    .await;
}

#[tokio::test]
async fn key_of_another_party() {
    let w = world().await;
    let other = w.app.party("other-dairy", "factory").await;
    // Says acme-dairy, signed with other-dairy's key (and naming it), sent with acme's token.
    let mut body = batch_body(&w.factory, "L2", 10);
    body.key = other.ks.key_id.clone();
    let text = edited(&other.ks, Kind::Batch, &body, |_| {});
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        422,
        "key_not_valid",
        &format!(
            "key {} belongs to other-dairy, not acme-dairy",
            other.ks.key_id
        ),
    )
    .await;
}

#[tokio::test]
async fn unknown_key_id() {
    let w = world().await;
    let mut body = batch_body(&w.factory, "L2", 10);
    body.key = "0123456789abcdef".into();
    let text = edited(&w.factory.ks, Kind::Batch, &body, |_| {});
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        422,
        "key_not_valid",
        "key 0123456789abcdef is not on record",
    )
    .await;
}

#[tokio::test]
async fn revoked_station_key() {
    let w = world().await;
    let dock = w.station(Role::Dock).await;
    // Before the revocation the dock key ships.
    let first = w
        .event_text(
            &dock,
            EventType::Shipping,
            vec![range(w.batch, 50, 59)],
            |e| e.to = Some(w.b2.ks.party.clone()),
        )
        .await;
    w.accepted(EVENTS, &w.factory.token, &first).await;

    let revoke = KeyStatement {
        v: VERSION,
        party: w.factory.ks.party.clone(),
        key: w.factory.ks.key_id.clone(),
        time: Timestamp::now(),
        action: KeyAction::Revoke,
        subject: dock.public_key(),
        role: None,
        not_before: None,
        not_after: None,
        reason: Some("handheld lost".into()),
    };
    let (s, _) = signed(&w.factory, Kind::Key, &revoke);
    w.accepted(KEYS, &w.factory.token, &s.to_string()).await;

    let next = w
        .event_text(
            &dock,
            EventType::Shipping,
            vec![range(w.batch, 60, 69)],
            |e| e.to = Some(w.b2.ks.party.clone()),
        )
        .await;
    w.refused(
        EVENTS,
        &w.factory.token,
        &next,
        403,
        "key_revoked",
        &format!("key {} was revoked at", dock.key_id),
    )
    .await;
    // The statement stored before the revocation still answers as a duplicate.
    let (code, v) = w.app.post_raw(EVENTS, Some(&w.factory.token), &first).await;
    assert_eq!(
        (code, v["status"].as_str()),
        (200, Some("duplicate")),
        "{v}"
    );
}

#[tokio::test]
async fn expired_station_key() {
    let w = world().await;
    let dock = w
        .certify(
            Role::Dock,
            Timestamp::parse("2020-01-01T00:00:00Z").unwrap(),
            Timestamp::parse("2021-01-01T00:00:00Z").unwrap(),
        )
        .await;
    let text = w
        .event_text(
            &dock,
            EventType::Shipping,
            vec![range(w.batch, 50, 59)],
            |e| e.to = Some(w.b2.ks.party.clone()),
        )
        .await;
    w.refused(
        EVENTS,
        &w.factory.token,
        &text,
        422,
        "key_not_valid",
        "is valid from 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z",
    )
    .await;
}

#[tokio::test]
async fn station_key_used_for_the_wrong_role() {
    let w = world().await;
    let dock = w.station(Role::Dock).await;
    let mut body = batch_body(&w.factory, "L2", 10);
    body.key = dock.key_id.clone();
    let text = edited(&dock, Kind::Batch, &body, |_| {});
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        422,
        "key_not_valid",
        "is certified for dock; this statement needs mint",
    )
    .await;
}

#[tokio::test]
async fn station_key_certifying_another_key() {
    let w = world().await;
    let dock = w.station(Role::Dock).await;
    let rogue = Keystore::generate(w.factory.ks.party.clone());
    let now = Timestamp::now();
    let stmt = KeyStatement {
        v: VERSION,
        party: w.factory.ks.party.clone(),
        key: dock.key_id.clone(),
        time: now,
        action: KeyAction::Certify,
        subject: rogue.public_key(),
        role: Some(Role::Mint),
        not_before: Some(now),
        not_after: Some(Timestamp::from_unix(now.unix() + 86_400)),
        reason: None,
    };
    let text = edited(&dock, Kind::Key, &stmt, |_| {});
    w.refused(
        KEYS,
        &w.factory.token,
        &text,
        422,
        "key_not_valid",
        "this statement needs root",
    )
    .await;
}

#[tokio::test]
async fn statement_dated_far_in_the_future() {
    let w = world().await;
    let later = Timestamp::from_unix(Timestamp::now().unix() + 30 * 86_400);
    let text = w.batch_text("L2", |m| {
        m.insert("time".into(), json!(later.to_string()));
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        422,
        "rule",
        &format!("statement is dated {later}, in the future"),
    )
    .await;
}

// ---- replays ----

#[tokio::test]
async fn replay_is_answered_with_the_stored_result() {
    let w = world().await;
    let text = w.shipment_to_b2(50, 59).await;
    let size = w.app.log_size().await;
    let (c1, v1) = w.app.post_raw(EVENTS, Some(&w.factory.token), &text).await;
    assert_eq!((c1, v1["status"].as_str()), (201, Some("stored")), "{v1}");
    let stored = w.snapshot().await;
    for _ in 0..2 {
        let (c2, v2) = w.app.post_raw(EVENTS, Some(&w.factory.token), &text).await;
        assert_eq!(
            (c2, v2["status"].as_str()),
            (200, Some("duplicate")),
            "{v2}"
        );
        assert_eq!(v2["seq"], v1["seq"]);
        assert_eq!(v2["id"], v1["id"]);
    }
    assert_eq!(w.app.log_size().await, size + 1);
    assert_eq!(w.snapshot().await, stored);
}

// ---- custody rules: 422 custody ----

#[tokio::test]
async fn event_on_units_the_signer_does_not_hold() {
    let w = world().await;
    // The wholesaler holds 0..49; 60..69 are still the factory's.
    let text = w
        .event_text(
            &w.b1.ks,
            EventType::Shipping,
            vec![range(w.batch, 60, 69)],
            |e| e.to = Some(w.b2.ks.party.clone()),
        )
        .await;
    w.refused(
        EVENTS,
        &w.b1.token,
        &text,
        422,
        "custody",
        &format!(
            "north-wholesale does not hold units 60..69 of batch {} (acme-dairy does)",
            w.batch
        ),
    )
    .await;
}

#[tokio::test]
async fn receiving_by_someone_not_the_named_receiver() {
    let w = world().await;
    let shipment = ship(&w.factory, &w.b1, vec![range(w.batch, 50, 59)])
        .await
        .unwrap();
    let text = w
        .event_text(
            &w.b2.ks,
            EventType::Receiving,
            vec![range(w.batch, 50, 59)],
            |e| e.shipment = Some(shipment),
        )
        .await;
    w.refused(
        EVENTS,
        &w.b2.token,
        &text,
        422,
        "custody",
        &format!("shipment {shipment} is not a shipment addressed to the signer"),
    )
    .await;
}

#[tokio::test]
async fn units_never_minted() {
    let w = world().await;
    let text = w.shipment_to_b2(95, 100).await;
    w.refused(
        EVENTS,
        &w.factory.token,
        &text,
        422,
        "custody",
        &format!(
            "unit 100 of batch {} was never minted (the batch has 100 units, 0..99)",
            w.batch
        ),
    )
    .await;
}

#[tokio::test]
async fn overlapping_ranges_in_one_event() {
    let w = world().await;
    let text = w
        .event_text(
            &w.factory.ks,
            EventType::Shipping,
            vec![range(w.batch, 50, 59), range(w.batch, 55, 64)],
            |e| e.to = Some(w.b2.ks.party.clone()),
        )
        .await;
    w.refused(
        EVENTS,
        &w.factory.token,
        &text,
        422,
        "custody",
        &format!("units 55..59 of batch {} are named twice", w.batch),
    )
    .await;
}

#[tokio::test]
async fn prev_naming_the_wrong_batches() {
    let w = world().await;
    let other = mint(&w.factory, "L2", 10).await;
    let text = w
        .event_text(
            &w.factory.ks,
            EventType::Shipping,
            vec![range(w.batch, 50, 59)],
            |e| {
                e.to = Some(w.b2.ks.party.clone());
                e.prev = [(other, other)].into_iter().collect();
            },
        )
        .await;
    w.refused(
        EVENTS,
        &w.factory.token,
        &text,
        422,
        "custody",
        &format!(
            "\"prev\" must name exactly the batches the event touches: {}",
            w.batch
        ),
    )
    .await;
    // Naming one batch too many is refused alike.
    let text = w
        .event_text(
            &w.factory.ks,
            EventType::Shipping,
            vec![range(w.batch, 50, 59)],
            |e| {
                e.to = Some(w.b2.ks.party.clone());
                e.prev.insert(other, other);
            },
        )
        .await;
    w.refused(
        EVENTS,
        &w.factory.token,
        &text,
        422,
        "custody",
        "\"prev\" must name exactly the batches",
    )
    .await;
}

// ---- batch rules ----

#[tokio::test]
async fn batch_with_an_existing_gtin_and_lot() {
    let w = world().await;
    // Another record (other quantity, so another id) for lot L1 of the same GTIN.
    let text = edited(
        &w.factory.ks,
        Kind::Batch,
        &batch_body(&w.factory, "L1", 5),
        |_| {},
    );
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        409,
        "exists",
        &format!(
            "lot L1 of GTIN 09506000134352 is already minted as batch {}",
            w.batch
        ),
    )
    .await;
}

#[tokio::test]
async fn quantity_zero() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.insert("quantity".into(), json!(0));
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        422,
        "rule",
        "quantity must be 1 to 1000000000, got 0",
    )
    .await;
}

#[tokio::test]
async fn expiry_before_production() {
    let w = world().await;
    let text = w.batch_text("L2", |m| {
        m.insert("produced".into(), json!("2026-10-01"));
        m.insert("expires".into(), json!("2026-09-30"));
    });
    w.refused(
        BATCHES,
        &w.factory.token,
        &text,
        422,
        "rule",
        "expiry 2026-09-30 is before production date 2026-10-01",
    )
    .await;
}

#[tokio::test]
async fn b2_minting_a_batch() {
    let w = world().await;
    let text = edited(&w.b2.ks, Kind::Batch, &batch_body(&w.b2, "L2", 10), |_| {});
    w.refused(
        BATCHES,
        &w.b2.token,
        &text,
        422,
        "rule",
        "only a factory mints batches; corner-shop is a b2",
    )
    .await;
}

// ---- party registration (operator) ----

fn party_body(slug: &str, kind: &str, root_key: &str) -> Value {
    json!({"slug": slug, "name": "Some Co.", "kind": kind, "root_key": root_key})
}

fn fresh_key() -> String {
    Keystore::generate(suyuan::domain::party::Slug::parse("tmp").unwrap()).public_key()
}

#[tokio::test]
async fn party_with_a_bad_slug() {
    let w = world().await;
    let body = party_body("Bad_Slug", "b2", &fresh_key());
    w.refused(
        PARTIES,
        &w.app.admin,
        &body.to_string(),
        400,
        "invalid_party",
        "party \"Bad_Slug\" must be 2–40 characters",
    )
    .await;
}

#[tokio::test]
async fn party_with_a_bad_kind() {
    let w = world().await;
    let body = party_body("new-shop", "retailer", &fresh_key());
    w.refused(
        PARTIES,
        &w.app.admin,
        &body.to_string(),
        400,
        "invalid_party",
        "party kind \"retailer\" must be factory, b1, b2 or inspector",
    )
    .await;
}

#[tokio::test]
async fn party_with_a_weak_root_key() {
    let w = world().await;
    // The identity point (y = 1): small order, so anyone could forge under it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let body = party_body("new-shop", "b2", &sign::b64(&identity));
    w.refused(
        PARTIES,
        &w.app.admin,
        &body.to_string(),
        400,
        "invalid_party",
        "root_key: public key is of small order",
    )
    .await;
    let body = party_body("new-shop", "b2", "not-a-key");
    w.refused(
        PARTIES,
        &w.app.admin,
        &body.to_string(),
        400,
        "invalid_party",
        "root_key: public key must be 43 characters",
    )
    .await;
}

#[tokio::test]
async fn party_with_a_bad_gln_check_digit() {
    let w = world().await;
    let digits = "401234500000";
    let good = suyuan::formats::gs1::check_digit(digits);
    let bad = (good + 1) % 10;
    let mut body = party_body("new-shop", "b2", &fresh_key());
    body["gln"] = json!(format!("{digits}{bad}"));
    w.refused(
        PARTIES,
        &w.app.admin,
        &body.to_string(),
        400,
        "invalid_party",
        &format!("GLN check digit is {good}, given {bad}"),
    )
    .await;
    // With the right digit it registers.
    body["gln"] = json!(format!("{digits}{good}"));
    let (code, v) = w
        .app
        .post_raw(PARTIES, Some(&w.app.admin), &body.to_string())
        .await;
    assert_eq!(code, 201, "{v}");
}

#[tokio::test]
async fn party_with_an_unknown_field() {
    let w = world().await;
    let mut body = party_body("new-shop", "b2", &fresh_key());
    body["phone"] = json!("123");
    w.refused(
        PARTIES,
        &w.app.admin,
        &body.to_string(),
        400,
        "malformed",
        "unknown field `phone`",
    )
    .await;
}

#[tokio::test]
async fn party_with_a_slug_taken() {
    let w = world().await;
    let body = party_body("north-wholesale", "b1", &fresh_key());
    w.refused(
        PARTIES,
        &w.app.admin,
        &body.to_string(),
        409,
        "exists",
        "party \"north-wholesale\" is already registered",
    )
    .await;
    // A root key already registered to someone else is refused alike.
    let body = party_body("new-shop", "b2", &w.b2.ks.public_key());
    w.refused(
        PARTIES,
        &w.app.admin,
        &body.to_string(),
        409,
        "exists",
        "public key is already registered",
    )
    .await;
}
