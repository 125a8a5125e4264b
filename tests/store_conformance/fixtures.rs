//! Signed statements for the cases: parties with fixed keys, batches, events.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use suyuan::domain::custody::{Disposition, Holding};
use suyuan::domain::keys::KeyRecord;
use suyuan::domain::party::{PartyKind, Role, Slug};
use suyuan::domain::statement::{
    BatchId, BatchStatement, EventStatement, EventType, Input, StatementId, Step, UnitRange,
};
use suyuan::domain::time::{Date, Timestamp};
use suyuan::formats::gs1::{check_digit, Gtin, Lot, Sscc};
use suyuan::formats::sign::{self, Kind};
use suyuan::store::{Appended, DynStore, NewStatement, Party, StoreError};

/// The GTIN every test batch is minted under.
pub const GTIN: &str = "06901234567892";

/// A party with a deterministic root key.
pub struct Actor {
    pub slug: Slug,
    pub kind: PartyKind,
    pub key: SigningKey,
}

impl Actor {
    pub fn new(slug: &str, kind: PartyKind, seed: u8) -> Self {
        Actor {
            slug: Slug::parse(slug).unwrap(),
            kind,
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    pub fn key_id(&self) -> String {
        sign::key_id(&self.key.verifying_key())
    }

    pub fn root(&self) -> KeyRecord {
        KeyRecord {
            key_id: self.key_id(),
            party: self.slug.clone(),
            public_key: sign::b64(self.key.verifying_key().as_bytes()),
            role: Role::Root,
            not_before: None,
            not_after: None,
            revoked: None,
        }
    }

    pub fn party(&self) -> Party {
        Party {
            slug: self.slug.clone(),
            name: format!("{} Ltd", self.slug),
            kind: self.kind,
            gln: None,
        }
    }

    /// The hash of this party's first token.
    pub fn token(&self) -> String {
        sign::id_of(format!("token of {}", self.slug).as_bytes())
    }

    pub async fn register(&self, store: &DynStore) {
        store
            .create_party(&self.party(), &self.root(), &self.token())
            .await
            .unwrap();
    }

    /// Signs a body as the stored statement the server would append.
    pub fn statement<T: serde::Serialize>(
        &self,
        kind: Kind,
        body: &T,
        time: Timestamp,
    ) -> NewStatement {
        let (value, id) = sign::sign(kind, body, &self.key).unwrap();
        NewStatement {
            id,
            kind,
            party: self.slug.clone(),
            key_id: self.key_id(),
            time,
            json: suyuan::formats::jcs::canonicalize(&value).unwrap(),
        }
    }

    /// An event of this party over `objects`, following `prev` on every batch they touch.
    pub fn event(
        &self,
        event_type: EventType,
        objects: Vec<UnitRange>,
        prev: &BTreeMap<BatchId, StatementId>,
    ) -> EventStatement {
        EventStatement {
            prev: prev.clone(),
            ..EventStatement::new(self.slug.clone(), self.key_id(), ts(), event_type, objects)
        }
    }

    /// Signs and appends an event as this party.
    pub async fn append(
        &self,
        store: &DynStore,
        ev: &EventStatement,
    ) -> (NewStatement, Result<Appended, StoreError>) {
        let st = self.statement(Kind::Event, ev, ts());
        let r = store.append_event(&st, ev, self.kind).await;
        (st, r)
    }

    /// Appends an event that must be stored; returns its id.
    pub async fn stored(&self, store: &DynStore, ev: &EventStatement) -> StatementId {
        let (st, r) = self.append(store, ev).await;
        match r {
            Ok(Appended::Stored(_)) => sid(&st.id),
            other => panic!(
                "{:?} by {}: expected Stored, got {other:?}",
                ev.event_type, self.slug
            ),
        }
    }

    /// Mints a batch; returns its id.
    pub async fn mint(&self, store: &DynStore, lot: &str, quantity: u64) -> BatchId {
        let body = batch_body(self, lot, quantity);
        let st = self.statement(Kind::Batch, &body, ts());
        match store.append_batch(&st, &body).await {
            Ok(Appended::Stored(_)) => bid(&st.id),
            other => panic!("mint {lot}: {other:?}"),
        }
    }
}

pub fn ts() -> Timestamp {
    Timestamp::parse("2026-03-01T08:00:00Z").unwrap()
}

/// A batch id from its hex.
pub fn bid(text: &str) -> BatchId {
    BatchId::parse(text).unwrap()
}

/// A statement id from its hex.
pub fn sid(text: &str) -> StatementId {
    StatementId::parse(text).unwrap()
}

/// The batch's own id as the head of its chain (the batch record is its first link).
pub fn head_of(batch: BatchId) -> StatementId {
    sid(&batch.hex())
}

pub fn batch_body(factory: &Actor, lot: &str, quantity: u64) -> BatchStatement {
    BatchStatement {
        v: 1,
        party: factory.slug.clone(),
        key: factory.key_id(),
        time: ts(),
        gtin: Gtin::parse(GTIN).unwrap(),
        product: "全脂奶粉 900g".into(),
        lot: Lot::parse(lot).unwrap(),
        quantity,
        produced: Date::parse("2026-02-27").unwrap(),
        expires: Some(Date::parse("2027-08-27").unwrap()),
        line: Some("L2".into()),
        serial_prefix: None,
        inputs: vec![Input {
            material: "raw milk".into(),
            supplier: "Hulunbuir Dairy Co-op".into(),
            supplier_lot: "RM-0227".into(),
            origin: "Inner Mongolia, CN".into(),
        }],
        steps: vec![Step {
            name: "spray drying".into(),
            time: None,
            place: None,
        }],
        certificates: Vec::new(),
    }
}

pub fn range(batch: BatchId, first: u64, last: u64) -> UnitRange {
    UnitRange { batch, first, last }
}

/// The current heads of some batches, as the store answers them.
pub async fn heads(store: &DynStore, batches: &[BatchId]) -> BTreeMap<BatchId, StatementId> {
    store.heads(batches).await.unwrap()
}

/// Holdings as (first, last, holder, state).
pub fn spans(hs: &[Holding]) -> Vec<(u64, u64, &str, Disposition)> {
    hs.iter()
        .map(|h| {
            (
                h.range.first,
                h.range.last,
                h.holder.as_str(),
                h.disposition,
            )
        })
        .collect()
}

/// The holdings of a batch as (first, last, holder, state).
pub async fn holdings(store: &DynStore, batch: BatchId) -> Vec<(u64, u64, String, Disposition)> {
    spans(&store.holdings_of_batch(&batch).await.unwrap())
        .into_iter()
        .map(|(f, l, h, d)| (f, l, h.to_owned(), d))
        .collect()
}

/// A valid SSCC numbered `n`.
pub fn sscc(n: u32) -> Sscc {
    let body = format!("10614141{n:09}");
    Sscc::parse(&format!("{body}{}", check_digit(&body))).unwrap()
}

/// Everything an append could have changed, to compare before and after a refusal.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    size: i64,
    leaves: Vec<String>,
    holdings: Vec<Vec<Holding>>,
    heads: BTreeMap<BatchId, StatementId>,
}

pub async fn snapshot(store: &DynStore, batches: &[BatchId]) -> Snapshot {
    let size = store.log_size().await.unwrap();
    let mut holdings = Vec::new();
    for b in batches {
        holdings.push(store.holdings_of_batch(b).await.unwrap());
    }
    Snapshot {
        size,
        leaves: store.leaf_hashes(0, size).await.unwrap(),
        holdings,
        heads: store.heads(batches).await.unwrap(),
    }
}
