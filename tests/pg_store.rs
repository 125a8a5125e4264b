//! The PostgreSQL store against a live server: runs only when
//! `SUYUAN_TEST_DATABASE_URL` names one (e.g. postgres://postgres@127.0.0.1:5432/postgres).
//! Each test creates its own database `suyuan_t_<random hex>` and drops it at the end.

use std::collections::BTreeMap;
use std::future::Future;

use ed25519_dalek::SigningKey;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection};

use suyuan::domain::custody::Disposition;
use suyuan::domain::keys::KeyRecord;
use suyuan::domain::party::{PartyKind, Role, Slug};
use suyuan::domain::statement::{
    BatchId, BatchStatement, EventStatement, EventType, Input, StatementId, Step, UnitRange,
};
use suyuan::domain::time::{Date, Timestamp};
use suyuan::formats::gs1::{Gtin, Lot};
use suyuan::formats::sign::{self, Kind};
use suyuan::store::{
    self, Appended, DynStore, KeyChange, NewStatement, Party, StoreError, TokenOwner,
};

const ENV: &str = "SUYUAN_TEST_DATABASE_URL";

/// The server URL, or None (after saying so) when the tests should skip.
fn server_url() -> Option<String> {
    match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipping: {ENV} not set");
            None
        }
    }
}

/// The same URL naming another database (any query string is kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..host_end])
}

/// Runs `body` against a fresh database and drops the database afterwards, even if `body` panics.
async fn with_fresh_db<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(server) = server_url() else {
        return;
    };
    let name = format!("suyuan_t_{:016x}", rand::random::<u64>());
    let mut admin = PgConnection::connect(&server)
        .await
        .expect("connect to the test server");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let outcome = tokio::spawn(body(with_database(&server, &name))).await;
    admin
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .expect("drop test database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A party with a deterministic root key.
struct Actor {
    slug: Slug,
    kind: PartyKind,
    key: SigningKey,
}

impl Actor {
    fn new(slug: &str, kind: PartyKind, seed: u8) -> Self {
        Actor {
            slug: Slug::parse(slug).unwrap(),
            kind,
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    fn key_id(&self) -> String {
        sign::key_id(&self.key.verifying_key())
    }

    fn root(&self) -> KeyRecord {
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

    fn party(&self) -> Party {
        Party {
            slug: self.slug.clone(),
            name: format!("{} Ltd", self.slug),
            kind: self.kind,
            gln: None,
        }
    }

    async fn register(&self, store: &DynStore) {
        let token = sign::id_of(format!("token of {}", self.slug).as_bytes());
        store
            .create_party(&self.party(), &self.root(), &token)
            .await
            .unwrap();
    }

    /// Signs a body as the stored statement the server would append.
    fn statement<T: serde::Serialize>(
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

    fn event(
        &self,
        event_type: EventType,
        objects: Vec<UnitRange>,
        prev: StatementId,
    ) -> EventStatement {
        let prev: BTreeMap<BatchId, StatementId> =
            objects.iter().map(|r| (r.batch, prev)).collect();
        EventStatement {
            v: 1,
            party: self.slug.clone(),
            key: self.key_id(),
            time: ts(),
            event_type,
            objects,
            containers: Vec::new(),
            parent: None,
            prev,
            to: None,
            asn: None,
            shipment: None,
            exceptions: Vec::new(),
            reason: None,
            instructions: None,
            resolution: None,
            result: None,
            method: None,
            certificate_sha256: None,
            place: None,
        }
    }
}

fn ts() -> Timestamp {
    Timestamp::parse("2026-03-01T08:00:00Z").unwrap()
}

fn id(text: &str) -> BatchId {
    BatchId::parse(text).unwrap()
}

fn batch_body(factory: &Actor, lot: &str, quantity: u64) -> BatchStatement {
    BatchStatement {
        v: 1,
        party: factory.slug.clone(),
        key: factory.key_id(),
        time: ts(),
        gtin: Gtin::parse("06901234567892").unwrap(),
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

fn range(batch: BatchId, first: u64, last: u64) -> UnitRange {
    UnitRange { batch, first, last }
}

fn spans(hs: &[suyuan::domain::custody::Holding]) -> Vec<(u64, u64, &str, Disposition)> {
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

#[tokio::test]
async fn custody_round_trip() {
    with_fresh_db(|url| async move {
        let store = store::open(&url).await.expect("open store");
        // Opening again re-runs migrations as a no-op.
        drop(store::open(&url).await.expect("reopen store"));

        let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
        let b1 = Actor::new("north-b1", PartyKind::B1, 2);
        factory.register(&store).await;
        b1.register(&store).await;

        // Registration refusals.
        match store
            .create_party(
                &factory.party(),
                &Actor::new("x1", PartyKind::B2, 9).root(),
                "t9",
            )
            .await
        {
            Err(StoreError::Exists(m)) => {
                assert_eq!(m, "party \"acme-foods\" is already registered")
            }
            other => panic!("expected Exists, got {other:?}"),
        }
        let thief = Actor::new("thief", PartyKind::B2, 1);
        match store
            .create_party(&thief.party(), &factory.root(), "t10")
            .await
        {
            Err(StoreError::Exists(m)) => assert_eq!(m, "that public key is already registered"),
            other => panic!("expected Exists, got {other:?}"),
        }
        assert_eq!(store.party("thief").await.unwrap(), None);
        let token = sign::id_of(b"token of north-b1");
        assert_eq!(
            store.token(&token).await.unwrap(),
            Some(TokenOwner::Party(b1.slug.clone()))
        );
        assert!(!store.has_admin().await.unwrap());
        store.add_token("admin-hash", None).await.unwrap();
        assert!(store.has_admin().await.unwrap());
        assert_eq!(
            store.token("admin-hash").await.unwrap(),
            Some(TokenOwner::Admin)
        );
        let slugs: Vec<String> = store
            .parties()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.slug.to_string())
            .collect();
        assert_eq!(slugs, ["acme-foods", "north-b1"]);
        assert_eq!(
            store.key(&factory.key_id()).await.unwrap(),
            Some(factory.root())
        );

        // Mint 1000 units: one statement at leaf 0, one holding row.
        let body = batch_body(&factory, "LOT-A", 1000);
        let st = factory.statement(Kind::Batch, &body, ts());
        let batch = id(&st.id);
        assert_eq!(
            store.append_batch(&st, &body).await.unwrap(),
            Appended::Stored(0)
        );
        assert_eq!(
            store.append_batch(&st, &body).await.unwrap(),
            Appended::Duplicate(0)
        );
        let other = factory.statement(Kind::Batch, &batch_body(&factory, "LOT-A", 5), ts());
        assert!(matches!(
            store.append_batch(&other, &body).await,
            Err(StoreError::Exists(_))
        ));
        let row = store.batch(&batch).await.unwrap().expect("batch on record");
        assert_eq!(
            (row.quantity, row.head, row.statement.seq),
            (1000, batch, 0)
        );
        assert_eq!(row.statement.json, st.json);
        let by_lot = store.batch_by_lot("06901234567892", "LOT-A").await.unwrap();
        assert_eq!(by_lot.map(|b| b.id), Some(batch));
        assert_eq!(
            spans(&store.holdings_of_batch(&batch).await.unwrap()),
            [(0, 999, "acme-foods", Disposition::Active)]
        );

        // Ship units 0..99 to the B1.
        let mut ship = factory.event(EventType::Shipping, vec![range(batch, 0, 99)], batch);
        ship.to = Some(b1.slug.clone());
        ship.asn = Some("ASN-1".into());
        let ship_st = factory.statement(Kind::Event, &ship, ts());
        let ship_id = id(&ship_st.id);
        assert_eq!(
            store
                .append_event(&ship_st, &ship, PartyKind::Factory)
                .await
                .unwrap(),
            Appended::Stored(1)
        );
        assert_eq!(
            store
                .append_event(&ship_st, &ship, PartyKind::Factory)
                .await
                .unwrap(),
            Appended::Duplicate(1)
        );
        assert_eq!(
            store.heads(&[batch]).await.unwrap(),
            BTreeMap::from([(batch, ship_id)])
        );
        assert_eq!(
            spans(&store.holdings_of_batch(&batch).await.unwrap()),
            [
                (0, 99, "acme-foods", Disposition::InTransit),
                (100, 999, "acme-foods", Disposition::Active)
            ]
        );
        let shipped = store.shipments_to(&b1.slug).await.unwrap();
        assert_eq!(
            shipped.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            [ship_st.id.as_str()]
        );

        // An event signed against the old head loses the compare-and-swap.
        let mut late = factory.event(EventType::Shipping, vec![range(batch, 500, 599)], batch);
        late.to = Some(b1.slug.clone());
        let late_st = factory.statement(Kind::Event, &late, ts());
        match store
            .append_event(&late_st, &late, PartyKind::Factory)
            .await
        {
            Err(StoreError::Conflict(heads)) => {
                assert_eq!(heads, BTreeMap::from([(batch, ship_id)]))
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
        // A custody refusal: the B1 does not hold units 100..199.
        let steal = b1.event(EventType::Destroying, vec![range(batch, 100, 199)], ship_id);
        let steal_st = b1.statement(Kind::Event, &steal, ts());
        assert!(matches!(
            store.append_event(&steal_st, &steal, PartyKind::B1).await,
            Err(StoreError::Custody(_))
        ));

        // The B1 receives half of the shipment.
        let mut recv = b1.event(EventType::Receiving, vec![range(batch, 0, 49)], ship_id);
        recv.shipment = Some(ship_id);
        let recv_st = b1.statement(Kind::Event, &recv, ts());
        assert_eq!(
            store
                .append_event(&recv_st, &recv, PartyKind::B1)
                .await
                .unwrap(),
            Appended::Stored(2)
        );
        assert_eq!(
            spans(&store.holdings_of_batch(&batch).await.unwrap()),
            [
                (0, 49, "north-b1", Disposition::Active),
                (50, 99, "acme-foods", Disposition::InTransit),
                (100, 999, "acme-foods", Disposition::Active)
            ]
        );
        let in_transit = store.in_shipment(&ship_id).await.unwrap();
        assert_eq!(
            spans(&in_transit),
            [(50, 99, "acme-foods", Disposition::InTransit)]
        );
        assert_eq!(in_transit[0].dest.as_ref(), Some(&b1.slug));
        assert_eq!(spans(&store.holdings_of(&b1.slug).await.unwrap()).len(), 2);
        let u10 = store.unit(&batch, 10).await.unwrap().unwrap();
        assert_eq!(
            (u10.holder.as_str(), u10.range.first, u10.range.last),
            ("north-b1", 0, 49)
        );
        assert_eq!(
            store.unit(&batch, 75).await.unwrap().unwrap().disposition,
            Disposition::InTransit
        );
        assert_eq!(store.unit(&batch, 1000).await.unwrap(), None);
        let seqs =
            |v: Vec<store::StoredStatement>| v.into_iter().map(|s| s.seq).collect::<Vec<_>>();
        assert_eq!(seqs(store.unit_events(&batch, 10).await.unwrap()), [1, 2]);
        assert_eq!(seqs(store.unit_events(&batch, 75).await.unwrap()), [1]);
        assert_eq!(
            seqs(store.unit_events(&batch, 500).await.unwrap()),
            Vec::<i64>::new()
        );
        assert_eq!(
            store.heads(&[batch]).await.unwrap(),
            BTreeMap::from([(batch, id(&recv_st.id))])
        );

        // Key statements: certify a dock key for the B1, then revoke it.
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
            Appended::Stored(3)
        );
        assert_eq!(
            store.append_key(&cert, &change).await.unwrap(),
            Appended::Duplicate(3)
        );
        let again = b1.statement(Kind::Key, &serde_json::json!({"certify": "again"}), ts());
        assert!(matches!(
            store.append_key(&again, &change).await,
            Err(StoreError::Exists(_))
        ));
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
            Appended::Stored(4)
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
        let stored_key = store.key(&dock_record.key_id).await.unwrap().unwrap();
        assert_eq!(
            stored_key,
            KeyRecord {
                revoked: Some(revoke_at),
                ..dock_record
            }
        );
        assert_eq!(store.keys_of(&b1.slug).await.unwrap().len(), 2);

        // Refusals took no leaf: the log is 0..=4 with no gap, leaf hashes as stored.
        let all = store.statements_from(0, 100).await.unwrap();
        assert_eq!(
            all.iter().map(|s| s.seq).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(seqs(store.statements_from(3, 1).await.unwrap()), [3]);
        assert_eq!(
            store.statement(&ship_st.id).await.unwrap().unwrap().kind,
            "event"
        );
        assert_eq!(store.statement(&"0".repeat(64)).await.unwrap(), None);

        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let size: i64 = sqlx::query_scalar("SELECT size FROM log_state")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(size, 5);
        let leaf: String = sqlx::query_scalar("SELECT leaf_hash FROM statements WHERE seq = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(leaf, store::leaf_hash(&ship_st.json));
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(sync, "on");
        pool.close().await;
    })
    .await;
}

#[tokio::test]
async fn append_only_triggers() {
    with_fresh_db(|url| async move {
        let store = store::open(&url).await.expect("open store");
        let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
        factory.register(&store).await;
        let body = batch_body(&factory, "LOT-T", 10);
        let st = factory.statement(Kind::Batch, &body, ts());
        store.append_batch(&st, &body).await.unwrap();

        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let refused = [
            "UPDATE statements SET json = 'x'",
            "DELETE FROM statements",
            "TRUNCATE statements",
            "UPDATE batches SET quantity = 1",
            "DELETE FROM keys",
            "TRUNCATE events",
            "UPDATE log_state SET size = 0",
            "DELETE FROM log_state",
        ];
        for sql in refused {
            let err = sqlx::query(sql).execute(&pool).await.expect_err(sql);
            let msg = err.to_string();
            assert!(
                msg.contains("append-only") || msg.contains("never shrinks"),
                "{sql}: unexpected error {msg}"
            );
        }
        let json: String = sqlx::query_scalar("SELECT json FROM statements WHERE seq = 0")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(json, st.json);
        pool.close().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_appenders_share_one_log() {
    with_fresh_db(|url| async move {
        // Two stores are two server processes sharing the database.
        let a = store::open(&url).await.expect("open store a");
        let b = store::open(&url).await.expect("open store b");
        let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
        let b1 = Actor::new("north-b1", PartyKind::B1, 2);
        factory.register(&a).await;
        b1.register(&b).await;

        // Racing registrations of one slug: exactly one wins, the other is told it exists.
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
                Err(StoreError::Exists(m)) => {
                    assert_eq!(m, "party \"racer\" is already registered")
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(won, 1);

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
            match t.await.unwrap().unwrap() {
                Appended::Stored(seq) => seqs.push(seq),
                other => panic!("expected Stored, got {other:?}"),
            }
        }
        seqs.sort();
        assert_eq!(seqs, (0..40).collect::<Vec<i64>>());

        // Twenty handoffs all signed against the same head: exactly one wins the CAS.
        let body = batch_body(&factory, "LOT-0", 100);
        let batch = id(&factory.statement(Kind::Batch, &body, ts()).id);
        let mut tasks = Vec::new();
        for i in 0..20u64 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let mut ev = factory.event(EventType::Shipping, vec![range(batch, i, i)], batch);
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
        let winner = id(&winner.unwrap());
        assert_eq!(
            a.heads(&[batch]).await.unwrap(),
            BTreeMap::from([(batch, winner)])
        );
        assert_eq!(b.statements_from(0, 1000).await.unwrap().len(), 41);
    })
    .await;
}

#[tokio::test]
async fn races_are_decided_by_the_database() {
    with_fresh_db(|url| async move {
        let store = store::open(&url).await.expect("open store");
        let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
        factory.register(&store).await;
        let mut other = PgConnection::connect(&url).await.unwrap();

        // Another server inserts the same slug after our pre-check: the unique index answers.
        other.execute("BEGIN").await.unwrap();
        other
            .execute("INSERT INTO parties (slug, name, kind, created_at) VALUES ('late', 'x', 'b2', 'now')")
            .await
            .unwrap();
        let late = Actor::new("late", PartyKind::B2, 7);
        let s = store.clone();
        let task = tokio::spawn(async move { s.create_party(&late.party(), &late.root(), "late-token").await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!task.is_finished(), "create_party should wait on the uncommitted row");
        other.execute("COMMIT").await.unwrap();
        match task.await.unwrap() {
            Err(StoreError::Exists(m)) => assert_eq!(m, "party \"late\" is already registered"),
            r => panic!("expected Exists, got {r:?}"),
        }

        // While another transaction holds the log lock, an append waits; then it takes the next leaf.
        other.execute("BEGIN").await.unwrap();
        other.execute("SELECT size FROM log_state WHERE id = 1 FOR UPDATE").await.unwrap();
        let body = batch_body(&factory, "LOT-L", 10);
        let st = factory.statement(Kind::Batch, &body, ts());
        let s = store.clone();
        let task = tokio::spawn(async move { s.append_batch(&st, &body).await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!task.is_finished(), "append should wait for the log lock");
        other.execute("COMMIT").await.unwrap();
        assert_eq!(task.await.unwrap().unwrap(), Appended::Stored(0));
        other.close().await.unwrap();
    })
    .await;
}
