//! The auditor over small logs built and signed here: clean, tampered, rolled back.

use super::*;
use crate::client::keystore::Keystore;
use crate::domain::party::{PartyKind, Slug};
use crate::domain::statement::{BatchId, EventType, UnitRange};

fn party(ks: &Keystore, kind: PartyKind) -> (Party, KeyRecord) {
    (
        Party {
            slug: ks.party.clone(),
            name: ks.party.to_string(),
            kind,
            gln: None,
        },
        KeyRecord {
            key_id: ks.key_id.clone(),
            party: ks.party.clone(),
            public_key: ks.public_key(),
            role: Role::Root,
            not_before: None,
            not_after: None,
            revoked: None,
        },
    )
}

fn stored(seq: i64, kind: Kind, v: &serde_json::Value, id: &str) -> StoredStatement {
    StoredStatement {
        seq,
        id: id.to_owned(),
        kind: kind.as_str().to_owned(),
        party: String::new(),
        json: crate::formats::jcs::canonicalize(v).unwrap(),
    }
}

/// A mint and a shipment of part of it, signed in memory.
fn log() -> (Vec<Party>, Vec<KeyRecord>, Vec<StoredStatement>) {
    let f = Keystore::generate(Slug::parse("ff").unwrap());
    let w = Keystore::generate(Slug::parse("ww").unwrap());
    let (pf, kf) = party(&f, PartyKind::Factory);
    let (pw, kw) = party(&w, PartyKind::B1);
    let batch: BatchStatement = serde_json::from_value(serde_json::json!({
        "v": 1, "party": "ff", "key": f.key_id, "time": "2026-11-01T00:00:00Z",
        "gtin": "06901234567892", "product": "milk", "lot": "L1", "quantity": 10,
        "produced": "2026-10-01"
    }))
    .unwrap();
    let (b, bid) = sign::sign(Kind::Batch, &batch, &f.key).unwrap();
    let batch_id = BatchId::parse(&bid).unwrap();
    let mut ev = crate::client::draft_event(
        &f,
        EventType::Shipping,
        vec![UnitRange {
            batch: batch_id,
            first: 0,
            last: 4,
        }],
    );
    ev.time = Timestamp::parse("2026-11-01T00:00:01Z").unwrap();
    ev.to = Some(w.party.clone());
    ev.prev.insert(batch_id, batch_id);
    let (e, eid) = sign::sign(Kind::Event, &ev, &f.key).unwrap();
    let rows = vec![
        stored(0, Kind::Batch, &b, &bid),
        stored(1, Kind::Event, &e, &eid),
    ];
    (vec![pf, pw], vec![kf, kw], rows)
}

#[test]
fn a_valid_log_has_no_findings_and_its_root() {
    let (parties, keys, rows) = log();
    let mut a = Auditor::new(parties, keys);
    a.feed(&rows);
    a.flush();
    assert_eq!(a.findings(), &[]);
    let expected = Tree::from_leaves(rows.iter().map(|r| merkle::leaf_hash(r.json.as_bytes())));
    assert_eq!(a.tree.root(2), expected.root(2));
}

#[test]
fn tampering_is_named_by_leaf_and_rule() {
    let (parties, keys, rows) = log();
    let mut changed = rows.clone();
    changed[0].json = changed[0]
        .json
        .replace("\"quantity\":10", "\"quantity\":11");
    let mut a = Auditor::new(parties.clone(), keys.clone());
    a.feed(&changed);
    a.flush();
    let rules: Vec<_> = a.findings().iter().map(|f| (f.seq, f.rule)).collect();
    // The changed record hashes to another id, which the event's prev does not
    // name, and its signature no longer verifies.
    assert_eq!(
        rules,
        [(Some(0), "id"), (Some(1), "chain"), (Some(0), "signature")]
    );

    // A missing leaf, and an event whose chain link does not hold.
    let mut a = Auditor::new(parties.clone(), keys.clone());
    a.feed(&rows[1..]);
    a.flush();
    let rules: Vec<_> = a.findings().iter().map(|f| f.rule).collect();
    assert_eq!(rules, ["sequence", "chain"]);

    // An event signed by a key that was never certified.
    let mut a = Auditor::new(parties, Vec::new());
    a.feed(&rows);
    a.flush();
    assert!(a.findings().iter().all(|f| f.rule == "key"));
    assert_eq!(a.findings().len(), 2);
}

#[test]
fn finish_compares_roots_with_the_checkpoint_and_the_last_one_seen() {
    let (parties, keys, rows) = log();
    let mut a = Auditor::new(parties, keys);
    a.feed(&rows);
    a.flush();
    let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let v = Verifier::new("test/log", key.verifying_key()).unwrap();
    let good = Checkpoint {
        origin: "test/log".into(),
        size: 2,
        root: a.tree.root(2).unwrap(),
    };
    let seen = a.finish(Some(&good.sign(&key).unwrap()), &v, None).unwrap();
    assert_eq!(seen.size, 2);
    assert!(a.findings().is_empty());
    // A later audit against a rolled-back or rewritten view fails.
    let bigger = Seen {
        size: 3,
        ..seen.clone()
    };
    assert!(a
        .finish(Some(&good.sign(&key).unwrap()), &v, Some(&bigger))
        .is_some());
    assert_eq!(a.findings()[0].rule, "consistency");
    let forged = Checkpoint {
        root: [0u8; 32],
        ..good
    };
    let mut b = Auditor::new(Vec::new(), Vec::new());
    b.feed(&[]);
    assert!(b
        .finish(Some(&forged.sign(&key).unwrap()), &v, None)
        .is_none());
}
