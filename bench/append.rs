//! Signed-event append throughput through the ledger (parse, strict signature
//! verification, key and custody checks, durable commit), on SQLite and, when
//! SUYUAN_BENCH_DATABASE_URL names a PostgreSQL server, on PostgreSQL.
//!
//! Run: `cargo bench --bench append` (env EVENTS=20000 WRITERS=32 to change size).

use std::time::{Duration, Instant};

use suyuan::app::ledger::Ledger;
use suyuan::client::draft_event;
use suyuan::client::keystore::Keystore;
use suyuan::domain::keys::KeyRecord;
use suyuan::domain::party::{PartyKind, Role, Slug};
use suyuan::domain::statement::{BatchId, BatchStatement, EventType, UnitRange, VERSION};
use suyuan::domain::time::{Date, Timestamp};
use suyuan::formats::gs1::{Gtin, Lot};
use suyuan::formats::sign::{self, Kind};
use suyuan::store::{self, Party, TokenOwner};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn setup(
    url: &str,
    writers: usize,
    per_writer: usize,
) -> (Ledger, Keystore, Vec<Vec<String>>) {
    let store = store::open(url).await.expect("open");
    let ledger = Ledger::new(store.clone());
    let party = |s: &str| Slug::parse(s).expect("slug");
    let shop = Keystore::generate(party("bench-shop"));
    let root = |k: &Keystore| KeyRecord {
        key_id: k.key_id.clone(),
        party: k.party.clone(),
        public_key: k.public_key(),
        role: Role::Root,
        not_before: None,
        not_after: None,
        revoked: None,
    };
    // A factory that "sells" directly is refused by the rules, so mint at a factory,
    // and give the retailer its stock through a shipment first.
    let factory = Keystore::generate(party("bench-factory"));
    for (k, kind) in [(&factory, PartyKind::Factory), (&shop, PartyKind::B2)] {
        let p = Party {
            slug: k.party.clone(),
            name: k.party.to_string(),
            kind,
            gln: None,
        };
        store
            .create_party(&p, &root(k), &hex::encode(rand::random::<[u8; 32]>()))
            .await
            .expect("party");
    }
    let mut chains = Vec::new();
    for w in 0..writers {
        let batch = BatchStatement {
            v: VERSION,
            party: factory.party.clone(),
            key: factory.key_id.clone(),
            time: Timestamp::now(),
            gtin: Gtin::parse("09506000134352").expect("gtin"),
            product: "bench".into(),
            lot: Lot::parse(&format!("B{w}")).expect("lot"),
            quantity: per_writer as u64,
            produced: Date::parse("2026-01-01").expect("date"),
            expires: None,
            line: None,
            serial_prefix: None,
            inputs: vec![],
            steps: vec![],
            certificates: vec![],
        };
        let (stmt, id) = sign::sign(Kind::Batch, &batch, &factory.key).expect("sign");
        ledger
            .submit(
                Kind::Batch,
                &stmt.to_string(),
                &TokenOwner::Party(factory.party.clone()),
            )
            .await
            .expect("mint");
        let batch_id = BatchId::parse(&id).expect("id");
        let all = vec![UnitRange {
            batch: batch_id,
            first: 0,
            last: per_writer as u64 - 1,
        }];
        let mut ship = draft_event(&factory, EventType::Shipping, all.clone());
        ship.to = Some(shop.party.clone());
        ship.prev = [(batch_id, batch_id)].into_iter().collect();
        let (stmt, ship_id) = sign::sign(Kind::Event, &ship, &factory.key).expect("sign");
        ledger
            .submit(
                Kind::Event,
                &stmt.to_string(),
                &TokenOwner::Party(factory.party.clone()),
            )
            .await
            .expect("ship");
        let ship_id = BatchId::parse(&ship_id).expect("id");
        let mut recv = draft_event(&shop, EventType::Receiving, all);
        recv.shipment = Some(ship_id);
        recv.prev = [(batch_id, ship_id)].into_iter().collect();
        let (stmt, mut head) = sign::sign(Kind::Event, &recv, &shop.key).expect("sign");
        ledger
            .submit(
                Kind::Event,
                &stmt.to_string(),
                &TokenOwner::Party(shop.party.clone()),
            )
            .await
            .expect("receive");
        // Pre-sign a chain of single-unit sales: signing is the station's work, not the server's.
        let mut chain = Vec::with_capacity(per_writer);
        for i in 0..per_writer as u64 {
            let mut sale = draft_event(
                &shop,
                EventType::RetailSelling,
                vec![UnitRange {
                    batch: batch_id,
                    first: i,
                    last: i,
                }],
            );
            sale.prev = [(batch_id, BatchId::parse(&head).expect("id"))]
                .into_iter()
                .collect();
            let (stmt, id) = sign::sign(Kind::Event, &sale, &shop.key).expect("sign");
            chain.push(stmt.to_string());
            head = id;
        }
        chains.push(chain);
    }
    (ledger, shop, chains)
}

async fn run(label: &str, url: &str) -> f64 {
    let events = env_num("EVENTS", 20_000);
    let writers = env_num("WRITERS", 32);
    let per_writer = events / writers;
    let (ledger, shop, chains) = setup(url, writers, per_writer).await;
    let owner = TokenOwner::Party(shop.party.clone());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for chain in chains {
        let (ledger, owner) = (ledger.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(chain.len());
            for text in chain {
                let t = Instant::now();
                ledger
                    .submit(Kind::Event, &text, &owner)
                    .await
                    .expect("append");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat: Vec<Duration> = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("task"));
    }
    let elapsed = start.elapsed();
    lat.sort();
    let n = lat.len();
    let rate = n as f64 / elapsed.as_secs_f64();
    let pct = |p: f64| lat[((n as f64 * p) as usize).min(n - 1)].as_secs_f64() * 1000.0;
    println!(
        "{label}: {n} signed events by {writers} writers in {:.2} s = {rate:.0} events/s; latency p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
    rate
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = run(
        "sqlite (WAL, synchronous=FULL)",
        &format!("sqlite://{}", dir.path().join("b.db").display()),
    )
    .await;
    let mut line = format!("events/s sqlite={sqlite:.0}");
    match std::env::var("SUYUAN_BENCH_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            use sqlx::{Connection, Executor};
            let name = format!("suyuan_bench_{}", hex::encode(rand::random::<[u8; 4]>()));
            let mut c = sqlx::PgConnection::connect(&server).await.expect("connect");
            c.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create");
            let url = format!("{}/{name}", server.rsplit_once('/').map(|(a, _)| a).unwrap_or(&server));
            let pg = run("postgres (synchronous_commit=on)", &url).await;
            c.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.expect("drop");
            line.push_str(&format!(" postgres={pg:.0}"));
        }
        _ => println!("postgres: skipped (set SUYUAN_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres)"),
    }
    println!("{line}");
}
