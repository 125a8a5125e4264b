//! Dock benchmark (issue 6, item 9): receiving a whole pallet by one SSCC scan,
//! and shipments per second from 16 concurrent docks, on SQLite and, when
//! SUYUAN_BENCH_DATABASE_URL (or SUYUAN_TEST_DATABASE_URL) names a PostgreSQL
//! server, on PostgreSQL.
//!
//! The server is the library's real HTTP stack (`suyuan::http::router`, the
//! router `suyuan serve` runs) on 127.0.0.1, with one extra outer middleware
//! that times each `POST /api/v1/events` from the request head to the finished
//! response: that is the "server time" below; the client's round trip is
//! printed beside it. Every receipt is a fresh pallet: a factory mints a batch,
//! packs it into cases (one signed `packing` per case), the cases onto a pallet,
//! and ships the pallet with an ASN; the wholesaler's dock then sends one
//! pre-signed `receiving` naming only the pallet's SSCC (what one scan at the
//! dock produces). The same run receives 48×1 and 4×6 pallets and single loose
//! units, so the cost of the units inside (48×24 against 48×1) and of the cases
//! (48×1 against 4×6) can be read off directly.
//!
//! Shipments: the wholesaler unpacks its received pallets, and 16 docks (16
//! concurrent HTTP clients, each on its own pallets) ship their cases one
//! shipment (one case SSCC, one ASN) at a time to a shop, every event pre-signed
//! as a station would.
//!
//! Run: `cargo bench --bench dock` (env REPS=200 pallets per size, DOCKS=16,
//! SHIP_PALLETS=64 pallets unpacked and shipped case by case).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use serde_json::{json, Value};
use suyuan::app::ledger::Ledger;
use suyuan::client::keystore::Keystore;
use suyuan::client::{draft_event, Client};
use suyuan::domain::party::Slug;
use suyuan::domain::statement::{
    BatchId, BatchStatement, EventStatement, EventType, UnitRange, VERSION,
};
use suyuan::domain::time::{Date, Timestamp};
use suyuan::formats::gs1::{check_digit, Gtin, Lot, Sscc};
use suyuan::formats::sign::{self, Kind};
use suyuan::http::{self, AppState};
use suyuan::store::{self, DynStore};

/// Server times of `POST /api/v1/events`, collected by the timing middleware.
static SERVER_TIMES: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

fn take_server_times() -> Vec<Duration> {
    std::mem::take(&mut *SERVER_TIMES.lock().unwrap_or_else(|p| p.into_inner()))
}

async fn timed(req: Request, next: Next) -> Response {
    let event = req.method() == Method::POST && req.uri().path() == "/api/v1/events";
    let t = Instant::now();
    let r = next.run(req).await;
    if event {
        let d = t.elapsed();
        SERVER_TIMES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d);
    }
    r
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Percentile of sorted durations, in ms.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

struct Server {
    base: String,
    store: DynStore,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(url: &str) -> (Server, String) {
    let store = store::open(url).await.expect("open store");
    let admin = suyuan::http::auth::new_token();
    store
        .add_token(&suyuan::http::auth::token_hash(&admin), None)
        .await
        .expect("admin token");
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let log = suyuan::tlog::service::LogService::open(store.clone(), key, None, None)
        .await
        .expect("log");
    let state = AppState {
        ledger: Ledger::new(store.clone()),
        log,
    };
    let app = http::router(state)
        .layer(middleware::from_fn(timed))
        .into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (
        Server {
            base,
            store,
            _stop: tx,
        },
        admin,
    )
}

struct Actor {
    ks: Keystore,
    client: Client,
}

async fn party(base: &str, admin: &str, slug: &str, kind: &str) -> Actor {
    let ks = Keystore::generate(Slug::parse(slug).expect("slug"));
    let body = json!({"slug": slug, "name": slug, "kind": kind, "root_key": ks.public_key()});
    let v = Client::new(base, Some(admin.to_owned()))
        .post("/api/v1/parties", body.to_string())
        .await
        .expect("add party");
    let token = v["token"].as_str().expect("token").to_owned();
    Actor {
        ks,
        client: Client::new(base, Some(token)),
    }
}

/// A fresh, valid SSCC each call.
fn next_sscc() -> Sscc {
    static N: AtomicU64 = AtomicU64::new(1);
    let body = format!("3{:016}", N.fetch_add(1, Ordering::Relaxed));
    Sscc::parse(&format!("{body}{}", check_digit(&body))).expect("sscc")
}

fn batch_record(ks: &Keystore, lot: &str, quantity: u64) -> BatchStatement {
    BatchStatement {
        v: VERSION,
        party: ks.party.clone(),
        key: ks.key_id.clone(),
        time: Timestamp::now(),
        gtin: Gtin::parse("09506000134352").expect("gtin"),
        product: "bench pallet".into(),
        lot: Lot::parse(lot).expect("lot"),
        quantity,
        produced: Date::parse("2026-01-01").expect("date"),
        expires: None,
        line: None,
        serial_prefix: None,
        inputs: vec![],
        steps: vec![],
        certificates: vec![],
    }
}

/// Signs an event on top of `head` (the batch's chain head) and returns it with its id.
fn signed(ks: &Keystore, mut ev: EventStatement, batch: BatchId, head: &str) -> (Value, String) {
    ev.prev = [(batch, BatchId::parse(head).expect("id"))]
        .into_iter()
        .collect();
    sign::sign(Kind::Event, &ev, &ks.key).expect("sign")
}

async fn send(a: &Actor, stmt: &Value) -> Value {
    a.client
        .submit(Kind::Event, stmt)
        .await
        .unwrap_or_else(|e| panic!("event refused: {e}"))
}

/// What a receipt needs: the shipment, the batch and its head.
#[derive(Clone)]
struct Shipped {
    batch: BatchId,
    /// Containers shipped (one pallet), or none for a loose unit.
    pallet: Option<Sscc>,
    cases: Vec<Sscc>,
    quantity: u64,
    ship_id: String,
}

/// Mints, packs `cases`×`per_case` (or leaves one loose unit when `cases` is 0) and ships to `to`.
async fn build_and_ship(f: &Actor, to: &Slug, lot: &str, cases: u64, per_case: u64) -> Shipped {
    let quantity = (cases * per_case).max(1);
    let (stmt, batch) =
        sign::sign(Kind::Batch, &batch_record(&f.ks, lot, quantity), &f.ks.key).expect("sign");
    f.client.submit(Kind::Batch, &stmt).await.expect("mint");
    let batch = BatchId::parse(&batch).expect("id");
    let mut head = batch.hex();
    let mut case_codes = Vec::new();
    for c in 0..cases {
        let sscc = next_sscc();
        let mut ev = draft_event(
            &f.ks,
            EventType::Packing,
            vec![UnitRange {
                batch,
                first: c * per_case,
                last: c * per_case + per_case - 1,
            }],
        );
        ev.parent = Some(sscc.clone());
        let (stmt, id) = signed(&f.ks, ev, batch, &head);
        send(f, &stmt).await;
        head = id;
        case_codes.push(sscc);
    }
    let mut ship = if cases == 0 {
        draft_event(
            &f.ks,
            EventType::Shipping,
            vec![UnitRange {
                batch,
                first: 0,
                last: 0,
            }],
        )
    } else {
        draft_event(&f.ks, EventType::Shipping, vec![])
    };
    let pallet = (cases > 0).then(next_sscc);
    if let Some(p) = &pallet {
        let mut ev = draft_event(&f.ks, EventType::Packing, vec![]);
        ev.parent = Some(p.clone());
        ev.containers = case_codes.clone();
        let (stmt, id) = signed(&f.ks, ev, batch, &head);
        send(f, &stmt).await;
        head = id;
        ship.containers = vec![p.clone()];
    }
    ship.to = Some(to.clone());
    ship.asn = Some(format!("ASN-{lot}"));
    let (stmt, ship_id) = signed(&f.ks, ship, batch, &head);
    send(f, &stmt).await;
    Shipped {
        batch,
        pallet,
        cases: case_codes,
        quantity,
        ship_id,
    }
}

/// Builds `n` shipments of one shape with `par` factory lines at once.
async fn build_many(
    f: &Arc<Actor>,
    to: &Slug,
    prefix: &str,
    n: usize,
    cases: u64,
    per_case: u64,
    par: usize,
) -> Vec<Shipped> {
    let mut out = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let mut tasks = Vec::new();
        for i in next..(next + par).min(n) {
            let (f, to, lot) = (f.clone(), to.clone(), format!("{prefix}{i}"));
            tasks.push(tokio::spawn(async move {
                build_and_ship(&f, &to, &lot, cases, per_case).await
            }));
        }
        next += tasks.len();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
    }
    out
}

/// The dock's one-scan receipt, signed before the clock starts.
fn receipt(b1: &Actor, s: &Shipped) -> Value {
    let objects = if s.pallet.is_none() {
        vec![UnitRange {
            batch: s.batch,
            first: 0,
            last: 0,
        }]
    } else {
        vec![]
    };
    let mut ev = draft_event(&b1.ks, EventType::Receiving, objects);
    ev.containers = s.pallet.iter().cloned().collect();
    ev.shipment = Some(BatchId::parse(&s.ship_id).expect("id"));
    signed(&b1.ks, ev, s.batch, &s.ship_id).0
}

struct Timing {
    server: Vec<Duration>,
    client: Vec<Duration>,
    statements: Vec<i64>,
}

impl Timing {
    fn line(&mut self, what: &str) -> (f64, f64) {
        self.server.sort();
        self.client.sort();
        let stmts_min = self.statements.iter().min().copied().unwrap_or(-1);
        let stmts_max = self.statements.iter().max().copied().unwrap_or(-1);
        let (p50, p99) = (pct(&self.server, 0.50), pct(&self.server, 0.99));
        println!(
            "  {what:<28} n={:<4} server p50 {p50:6.2} ms  p99 {p99:6.2} ms  max {:6.2} ms | round trip p50 {:6.2} ms p99 {:6.2} ms | statements written per receipt {}",
            self.server.len(),
            pct(&self.server, 1.0),
            pct(&self.client, 0.50),
            pct(&self.client, 0.99),
            if stmts_min == stmts_max { stmts_min.to_string() } else { format!("{stmts_min}..{stmts_max}") },
        );
        (p50, p99)
    }
}

struct Figures {
    big_p50: f64,
    big_p99: f64,
    small_p99: f64,
    thin_p99: f64,
    unit_p99: f64,
    ships_per_s: f64,
}

async fn run(label: &str, url: &str) -> Figures {
    let reps = env_num("REPS", 200);
    let docks = env_num("DOCKS", 16).max(1);
    let ship_pallets = env_num("SHIP_PALLETS", 64).min(reps).max(docks);
    println!("{label}:");
    let (srv, admin) = start(url).await;
    let factory = Arc::new(party(&srv.base, &admin, "bench-factory", "factory").await);
    let b1 = party(&srv.base, &admin, "bench-wholesale", "b1").await;
    let shop = party(&srv.base, &admin, "bench-shop", "b2").await;
    let to = b1.ks.party.clone();

    let t = Instant::now();
    let big = build_many(&factory, &to, "P", reps, 48, 24, 16).await;
    let small = build_many(&factory, &to, "S", reps, 4, 6, 16).await;
    let thin = build_many(&factory, &to, "T", reps, 48, 1, 16).await;
    let loose = build_many(&factory, &to, "U", reps, 0, 1, 16).await;
    let setup_events = 2 * reps * (1 + 48 + 2) + reps * (1 + 4 + 2) + reps * 2;
    println!(
        "  setup: {setup_events} statements (mint, case packing, pallet packing, shipping with ASN) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    take_server_times();

    // Receipts, one at a time as at one dock door, the three shapes interleaved.
    let mut timings: Vec<Timing> = (0..4)
        .map(|_| Timing {
            server: vec![],
            client: vec![],
            statements: vec![],
        })
        .collect();
    let mut received = Vec::with_capacity(reps);
    for i in 0..reps {
        for (k, s) in [&big[i], &small[i], &loose[i], &thin[i]]
            .into_iter()
            .enumerate()
        {
            let stmt = receipt(&b1, s);
            let before = srv.store.log_size().await.expect("log size");
            let t = Instant::now();
            let v = send(&b1, &stmt).await;
            timings[k].client.push(t.elapsed());
            let after = srv.store.log_size().await.expect("log size");
            timings[k].statements.push(after - before);
            let server = take_server_times();
            assert_eq!(server.len(), 1, "one request per receipt");
            timings[k].server.extend(server);
            if k == 0 {
                received.push(v["id"].as_str().expect("id").to_owned());
            }
        }
    }
    // Custody really moved: the last unit of the last big pallet is the wholesaler's.
    let last = big.last().expect("a pallet");
    let h = srv
        .store
        .unit(&last.batch, last.quantity - 1)
        .await
        .expect("unit")
        .expect("held");
    assert_eq!(h.holder, b1.ks.party, "pallet receipt moved custody");
    let (big_p50, big_p99) = timings[0].line("pallet 48 cases x 24 units");
    let (_, small_p99) = timings[1].line("pallet 4 cases x 6 units");
    let (_, unit_p99) = timings[2].line("one loose unit (peer)");
    let (_, thin_p99) = timings[3].line("pallet 48 cases x 1 unit");

    // Shipments: unpack pallets (setup), then 16 docks ship case by case.
    let b1 = Arc::new(b1);
    let mut chains: Vec<Vec<Value>> = vec![Vec::new(); docks];
    for (i, (s, recv_id)) in big.iter().zip(&received).take(ship_pallets).enumerate() {
        let mut ev = draft_event(&b1.ks, EventType::Unpacking, vec![]);
        ev.parent = s.pallet.clone();
        let (stmt, mut head) = signed(&b1.ks, ev, s.batch, recv_id);
        send(&b1, &stmt).await;
        for (c, case) in s.cases.iter().enumerate() {
            let mut ev = draft_event(&b1.ks, EventType::Shipping, vec![]);
            ev.containers = vec![case.clone()];
            ev.to = Some(shop.ks.party.clone());
            ev.asn = Some(format!("OUT-{i}-{c}"));
            let (stmt, id) = signed(&b1.ks, ev, s.batch, &head);
            head = id;
            chains[i % docks].push(stmt);
        }
    }
    take_server_times();
    let n: usize = chains.iter().map(Vec::len).sum();
    let start_ships = Instant::now();
    let mut tasks = Vec::new();
    for chain in chains {
        let b1 = b1.clone();
        tasks.push(tokio::spawn(async move {
            for stmt in chain {
                send(&b1, &stmt).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("dock");
    }
    let elapsed = start_ships.elapsed().as_secs_f64();
    let mut st = take_server_times();
    st.sort();
    let ships_per_s = n as f64 / elapsed;
    println!(
        "  shipments: {n} (one case SSCC + ASN each) by {docks} concurrent docks in {elapsed:.2} s = {ships_per_s:.0}/s; server p50 {:.2} ms p99 {:.2} ms",
        pct(&st, 0.5),
        pct(&st, 0.99)
    );
    Figures {
        big_p50,
        big_p99,
        small_p99,
        thin_p99,
        unit_p99,
        ships_per_s,
    }
}

fn postgres_server() -> Option<String> {
    ["SUYUAN_BENCH_DATABASE_URL", "SUYUAN_TEST_DATABASE_URL"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lite = run(
        "sqlite (WAL)",
        &format!("sqlite://{}", dir.path().join("dock.db").display()),
    )
    .await;
    let mut line = format!(
        "dock pallet_p50_ms={:.2} pallet_p99_ms={:.2} pallet_48x1_p99_ms={:.2} pallet_4x6_p99_ms={:.2} unit_p99_ms={:.2} ships_per_s_sqlite={:.0}",
        lite.big_p50, lite.big_p99, lite.thin_p99, lite.small_p99, lite.unit_p99, lite.ships_per_s
    );
    match postgres_server() {
        Some(server) => {
            use sqlx::{Connection, Executor};
            let name = format!("suyuan_bench_{}", hex::encode(rand::random::<[u8; 4]>()));
            let mut c = sqlx::PgConnection::connect(&server)
                .await
                .expect("connect");
            c.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create");
            let (head, _) = server.split_once('?').unwrap_or((&server, ""));
            let url = format!(
                "{}/{name}",
                head.rsplit_once('/').map(|(a, _)| a).unwrap_or(head)
            );
            let pg = run("postgres", &url).await;
            c.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
                .await
                .expect("drop");
            line.push_str(&format!(
                " pg_pallet_p99_ms={:.2} ships_per_s_pg={:.0}",
                pg.big_p99, pg.ships_per_s
            ));
        }
        None => println!(
            "postgres: skipped (set SUYUAN_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres)"
        ),
    }
    let met = if lite.big_p99 < 20.0 {
        "met"
    } else {
        "NOT met"
    };
    println!("target pallet receipt p99 < 20 ms on sqlite: {met}");
    println!("{line}");
}
