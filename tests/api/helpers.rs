//! A real server on an ephemeral port over a fresh database: SQLite in a temp
//! dir, or PostgreSQL (own database, dropped afterwards) when
//! `SUYUAN_TEST_DATABASE_URL` is set.

use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use suyuan::app::ledger::Ledger;
use suyuan::client::keystore::Keystore;
use suyuan::client::{draft_event, Client, ClientError};
use suyuan::domain::party::Slug;
use suyuan::domain::statement::{
    BatchId, BatchStatement, EventStatement, EventType, Input, Step, UnitRange, VERSION,
};
use suyuan::domain::time::{Date, Timestamp};
use suyuan::formats::gs1::{Gtin, Lot};
use suyuan::formats::sign::{self, Kind};
use suyuan::http::{self, AppState};
use suyuan::store::{self, DynStore};

/// Environment variable naming a PostgreSQL server for the second run of the suite.
pub const PG_ENV: &str = "SUYUAN_TEST_DATABASE_URL";

/// A database made for one test and removed with it.
pub enum TestDb {
    /// SQLite file in a temp dir.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// A PostgreSQL database of our own.
    Postgres { server: String, name: String },
    /// Another app's database: that app removes it.
    Shared,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { server, name } = self {
            let (server, name) = (server.clone(), name.clone());
            // Drop runs outside async; use a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut c = PgConnection::connect(&server).await.ok()?;
                    c.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, db: &str) -> String {
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

/// A fresh database: its URL and the guard that removes it.
pub async fn fresh_db() -> (String, TestDb) {
    match std::env::var(PG_ENV) {
        Ok(server) if !server.is_empty() => {
            let name = format!("suyuan_t_{}", hex::encode(rand::random::<[u8; 8]>()));
            let mut c = PgConnection::connect(&server)
                .await
                .expect("connect to PostgreSQL");
            c.execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
                .expect("create database");
            (
                with_database(&server, &name),
                TestDb::Postgres { server, name },
            )
        }
        _ => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            (url, TestDb::Sqlite(dir))
        }
    }
}

/// True when this run uses PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(PG_ENV).is_ok_and(|v| !v.is_empty())
}

/// A running server and what tests need to talk to it.
pub struct TestApp {
    /// Base URL.
    pub base: String,
    /// Direct access for checking stored state.
    pub store: DynStore,
    /// Operator token.
    pub admin: String,
    /// Plain HTTP client.
    pub http: reqwest::Client,
    /// The database URL.
    pub db_url: String,
    /// Raw read-only SQL on the same database, for checking what is stored.
    pub raw: RawDb,
    /// The transparency log of this server.
    pub log: std::sync::Arc<suyuan::tlog::service::LogService>,
    /// The log signing key (shared by servers on one database).
    pub log_key: ed25519_dalek::SigningKey,
    shutdown: Option<oneshot::Sender<()>>,
    _db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A registered party with its root keystore and token.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Root keystore.
    pub ks: Keystore,
    /// Bearer token.
    pub token: String,
    /// Client with that token.
    pub client: Client,
}

/// Starts a server on 127.0.0.1:0 over a fresh database.
pub async fn spawn_app() -> TestApp {
    let (db_url, db) = fresh_db().await;
    spawn_on(db_url, db).await
}

/// Starts a server over a given database.
pub async fn spawn_on(db_url: String, db: TestDb) -> TestApp {
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    spawn_with_key(db_url, db, key).await
}

/// A second server on the same database as `app`, signing with the same log key.
pub async fn spawn_beside(app: &TestApp) -> TestApp {
    spawn_with_key(app.db_url.clone(), TestDb::Shared, app.log_key.clone()).await
}

/// Starts a server over a given database with a given log key.
pub async fn spawn_with_key(
    db_url: String,
    db: TestDb,
    log_key: ed25519_dalek::SigningKey,
) -> TestApp {
    let store = store::open(&db_url).await.expect("open store");
    let admin = suyuan::http::auth::new_token();
    store
        .add_token(&suyuan::http::auth::token_hash(&admin), None)
        .await
        .expect("admin token");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let raw = RawDb::open(&db_url, false).await;
    let (tx, rx) = oneshot::channel::<()>();
    let log = suyuan::tlog::service::LogService::open(store.clone(), log_key.clone(), None, None)
        .await
        .expect("open log");
    let state = AppState {
        ledger: Ledger::new(store.clone()),
        log: log.clone(),
    };
    tokio::spawn(async move {
        let _ = http::serve(listener, state, async {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        base,
        store,
        admin,
        http: reqwest::Client::new(),
        db_url,
        raw,
        log,
        log_key,
        shutdown: Some(tx),
        _db: db,
    }
}

impl TestApp {
    /// Registers a party with a fresh root key.
    pub async fn party(&self, slug: &str, kind: &str) -> Actor {
        let ks = Keystore::generate(Slug::parse(slug).expect("slug"));
        let admin = Client::new(&self.base, Some(self.admin.clone()));
        let body = json!({"slug": slug, "name": format!("{slug} Co."), "kind": kind, "root_key": ks.public_key()});
        let v = admin
            .post("/api/v1/parties", body.to_string())
            .await
            .expect("add party");
        let token = v["token"].as_str().expect("token").to_owned();
        Actor {
            client: Client::new(&self.base, Some(token.clone())),
            ks,
            token,
        }
    }

    /// POSTs raw text with a token; returns status and JSON body.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GETs a path with an optional token; returns status and JSON body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .header("accept", "application/json");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Number of statements in the log (for "nothing changed" checks).
    pub async fn log_size(&self) -> usize {
        self.store
            .statements_from(0, i64::MAX)
            .await
            .expect("statements")
            .len()
    }

    /// POSTs raw bytes (not necessarily UTF-8) with a token; returns status and JSON body.
    pub async fn post_bytes(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Every row of every table, as text: equal before and after means nothing changed.
    pub async fn dump(&self) -> Vec<String> {
        self.raw.dump().await
    }

    /// A snapshot of every holding of a batch.
    pub async fn holdings(&self, batch: &BatchId) -> Vec<suyuan::domain::custody::Holding> {
        self.store.holdings_of_batch(batch).await.expect("holdings")
    }
}

/// A realistic batch record body for `actor`.
pub fn batch_body(actor: &Actor, lot: &str, quantity: u64) -> BatchStatement {
    BatchStatement {
        v: VERSION,
        party: actor.ks.party.clone(),
        key: actor.ks.key_id.clone(),
        time: Timestamp::now(),
        gtin: Gtin::parse("09506000134352").expect("gtin"),
        product: "婴儿配方奶粉 900g".into(),
        lot: Lot::parse(lot).expect("lot"),
        quantity,
        produced: Date::parse("2026-10-01").expect("date"),
        expires: Some(Date::parse("2028-10-01").expect("date")),
        line: Some("Line 1".into()),
        serial_prefix: None,
        inputs: vec![Input {
            material: "raw milk".into(),
            supplier: "Pasture 3".into(),
            supplier_lot: "P3-1".into(),
            origin: "Hulunbuir".into(),
        }],
        steps: vec![Step {
            name: "spray drying".into(),
            time: None,
            place: None,
        }],
        certificates: vec![],
    }
}

/// Signs a statement body with the actor's root key.
pub fn signed<T: serde::Serialize>(actor: &Actor, kind: Kind, body: &T) -> (Value, String) {
    sign::sign(kind, body, &actor.ks.key).expect("sign")
}

/// Mints a batch; returns its id.
pub async fn mint(actor: &Actor, lot: &str, quantity: u64) -> BatchId {
    let (stmt, id) = signed(actor, Kind::Batch, &batch_body(actor, lot, quantity));
    actor.client.submit(Kind::Batch, &stmt).await.expect("mint");
    BatchId::parse(&id).expect("id")
}

/// One range.
pub fn range(batch: BatchId, first: u64, last: u64) -> UnitRange {
    UnitRange { batch, first, last }
}

/// Ships units; returns the shipping event id.
pub async fn ship(
    from: &Actor,
    to: &Actor,
    objects: Vec<UnitRange>,
) -> Result<BatchId, ClientError> {
    let mut ev = draft_event(&from.ks, EventType::Shipping, objects);
    ev.to = Some(to.ks.party.clone());
    ev.asn = Some("ASN-1".into());
    let v = from.client.submit_event(&from.ks, ev).await?;
    Ok(BatchId::parse(v["id"].as_str().expect("id")).expect("id"))
}

/// Receives units of a shipment.
pub async fn receive(
    by: &Actor,
    shipment: BatchId,
    objects: Vec<UnitRange>,
) -> Result<Value, ClientError> {
    let mut ev = draft_event(&by.ks, EventType::Receiving, objects);
    ev.shipment = Some(shipment);
    by.client.submit_event(&by.ks, ev).await
}

/// Submits an event of a type over some units.
pub async fn simple(
    by: &Actor,
    t: EventType,
    objects: Vec<UnitRange>,
    edit: impl FnOnce(&mut EventStatement),
) -> Result<Value, ClientError> {
    let mut ev = draft_event(&by.ks, t, objects);
    edit(&mut ev);
    by.client.submit_event(&by.ks, ev).await
}

/// Recalls units, with the reason and what holders should do.
pub async fn recall(
    by: &Actor,
    objects: Vec<UnitRange>,
    reason: &str,
    instructions: &str,
) -> Result<Value, ClientError> {
    simple(by, EventType::Recalling, objects, |e| {
        e.reason = Some(reason.into());
        e.instructions = Some(instructions.into());
    })
    .await
}

/// Status code of a client error.
pub fn status(e: &ClientError) -> u16 {
    match e {
        ClientError::Api { status, .. } => *status,
        _ => 0,
    }
}

/// Every table of the schema with its columns, for [`RawDb::dump`].
pub const TABLES: &[(&str, &[&str])] = &[
    ("parties", &["slug", "name", "kind", "gln", "created_at"]),
    ("tokens", &["hash", "party", "created_at"]),
    (
        "statements",
        &[
            "seq",
            "id",
            "kind",
            "party",
            "key_id",
            "time",
            "json",
            "leaf_hash",
            "received_at",
        ],
    ),
    (
        "keys",
        &[
            "key_id",
            "party",
            "public_key",
            "role",
            "not_before",
            "not_after",
            "statement",
        ],
    ),
    ("revocations", &["key_id", "time", "statement"]),
    ("batches", &["id", "party", "gtin", "lot", "quantity"]),
    ("events", &["id", "type", "party", "dest", "shipment"]),
    ("event_objects", &["event", "batch", "first", "last"]),
    ("chain_heads", &["batch", "head"]),
    (
        "holdings",
        &[
            "batch",
            "first",
            "last",
            "holder",
            "disposition",
            "shipment",
            "dest",
            "recall",
        ],
    ),
    ("log_state", &["id", "size"]),
];

/// Plain SQL on the test database, whichever kind it is, outside the store.
#[derive(Debug, Clone)]
pub enum RawDb {
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
}

impl RawDb {
    /// Connects to the database a URL names; read-only unless `writable` (SQLite).
    pub async fn open(url: &str, writable: bool) -> RawDb {
        if on_postgres() {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(url)
                .await
                .expect("raw PostgreSQL pool");
            RawDb::Postgres(pool)
        } else {
            use std::str::FromStr;
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .expect("sqlite url")
                .read_only(!writable)
                .busy_timeout(std::time::Duration::from_secs(10));
            // `scans` is the indexed table and the scan journal together, as the
            // store reads it (the store made the journal when it opened).
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(2)
                .after_connect(|c, _| Box::pin(suyuan::store::sqlite::attach_scan_journal(c)))
                .connect_with(opts)
                .await
                .expect("raw SQLite pool");
            RawDb::Sqlite(pool)
        }
    }

    /// Runs one statement; the database's error message on failure.
    pub async fn execute(&self, sql: &str) -> Result<u64, String> {
        match self {
            RawDb::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
            RawDb::Postgres(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
        }
        .map_err(|e| e.to_string())
    }

    /// A query whose single column is text.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        match self {
            RawDb::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await,
            RawDb::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The rows of one table as `col|col|…` text, sorted.
    pub async fn rows(&self, table: &str) -> Vec<String> {
        let cols = TABLES
            .iter()
            .find(|(t, _)| *t == table)
            .unwrap_or_else(|| panic!("no table {table}"))
            .1;
        let expr: Vec<String> = cols
            .iter()
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '<null>')"))
            .collect();
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY 1",
            expr.join(" || '|' || ")
        );
        self.texts(&sql).await
    }

    /// Every row of every table, each prefixed with its table name.
    pub async fn dump(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (table, _) in TABLES {
            for row in self.rows(table).await {
                out.push(format!("{table}: {row}"));
            }
        }
        out
    }
}

/// Runs the independent Python verifier (`tests/vectors/verify.py FLAG PATH`)
/// when python3 with `cryptography` is present, expecting success or refusal.
pub fn python_verifier(flag: &str, path: &std::path::Path, ok: bool) {
    use std::process::Command;
    let has = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        eprintln!("python3 with cryptography not found; skipping the independent {flag} check");
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/verify.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(flag)
        .arg(path)
        .output()
        .expect("python3");
    assert_eq!(
        out.status.success(),
        ok,
        "python verifier {flag} {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
