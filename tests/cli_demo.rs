//! The real binary as a user runs it: `suyuan serve --demo`, the demo's scan URLs,
//! `suyuan sell` and `suyuan key gen` against it, a clean SIGTERM shutdown, and a
//! restart on the same data that reuses the demo. On SQLite, and on PostgreSQL
//! when `SUYUAN_TEST_DATABASE_URL` is set.

use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use suyuan::app::demo::DemoInfo;

const BIN: &str = env!("CARGO_BIN_EXE_suyuan");
const PG_ENV: &str = "SUYUAN_TEST_DATABASE_URL";

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A PostgreSQL database of our own, dropped at the end.
struct PgDb {
    server: String,
    name: String,
    url: String,
}

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

impl PgDb {
    async fn create() -> Option<PgDb> {
        let server = std::env::var(PG_ENV).ok().filter(|s| !s.is_empty())?;
        let name = format!("suyuan_cli_{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut c = PgConnection::connect(&server)
            .await
            .expect("connect to PostgreSQL");
        c.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create database");
        let url = with_database(&server, &name);
        Some(PgDb { server, name, url })
    }

    async fn drop_db(self) {
        if let Ok(mut c) = PgConnection::connect(&self.server).await {
            let _ = c
                .execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
                .await;
        }
    }
}

/// A running `suyuan serve --demo`; killed if the test fails half-way.
struct Server {
    child: Option<Child>,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    /// Starts the server on a free port and waits until it answers.
    async fn start(data: &Path, db: Option<&str>, run: &str) -> Server {
        let mut last_log = String::new();
        // A port found free can be taken before the server binds it: try a few.
        for attempt in 0..5 {
            let port = free_port();
            let log = data
                .parent()
                .expect("data dir has a parent")
                .join(format!("serve-{run}-{attempt}.log"));
            let out = File::create(&log).expect("log file");
            let err = out.try_clone().expect("log file");
            let mut cmd = Command::new(BIN);
            cmd.arg("serve")
                .arg("--demo")
                .arg("--data-dir")
                .arg(data)
                .arg("--addr")
                .arg(format!("127.0.0.1:{port}"))
                .env_remove("SUYUAN_DATABASE_URL")
                .env_remove("SUYUAN_BASE_URL")
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            if let Some(url) = db {
                cmd.arg("--database-url").arg(url);
            }
            let child = cmd.spawn().expect("spawn suyuan serve");
            let mut server = Server {
                child: Some(child),
                base: format!("http://127.0.0.1:{port}"),
                log,
            };
            if server.wait_healthy().await {
                return server;
            }
            last_log = server.log_text();
            if !last_log.contains("cannot listen") {
                break;
            }
        }
        panic!("the server did not come up; its log:\n{last_log}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls /api/v1/health; false if the process exited or a minute passed.
    async fn wait_healthy(&mut self) -> bool {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if c.try_wait().expect("try_wait").is_some() {
                    self.child = None;
                    return false;
                }
            }
            let url = format!("{}/api/v1/health", self.base);
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    let v: Value = r.json().await.expect("health JSON");
                    assert_eq!(v["status"], "ok", "{v}");
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Sends SIGTERM and waits for the process to exit.
    async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no exit 30 s after SIGTERM; log:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs the CLI to completion.
fn cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SUYUAN_SERVER")
        .env_remove("SUYUAN_TOKEN")
        .env_remove("SUYUAN_KEYSTORE")
        .stdin(Stdio::null())
        .output()
        .expect("run suyuan")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// GETs a scan URL (or any URL) as JSON.
async fn json(url: &str) -> Value {
    let r = reqwest::Client::new()
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(r.status().as_u16(), 200, "GET {url}");
    r.json().await.expect("JSON")
}

fn demo_info(data: &Path) -> DemoInfo {
    suyuan::app::demo::read_info(data).expect("demo.json is written and parses")
}

#[tokio::test]
async fn serve_demo_then_drive_the_cli() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let pg = PgDb::create().await;
    let db = pg.as_ref().map(|p| p.url.clone());

    let mut server = Server::start(&data, db.as_deref(), "first").await;
    // The database is the one asked for: SQLite in the data dir, or PostgreSQL.
    assert_eq!(data.join("suyuan.db").exists(), pg.is_none());
    let info = demo_info(&data);
    assert_eq!(info.base_url, server.base);
    assert!(info.sold.starts_with(&format!("{}/01/", server.base)));

    // The five demo URLs get the verdicts the demo promises.
    let sold = json(&info.sold).await;
    assert_eq!(sold["verdict"], "genuine", "{sold}");
    assert_eq!(sold["holding"]["disposition"], "retail_sold", "{sold}");
    let in_stock = json(&info.in_stock).await;
    assert_eq!(in_stock["verdict"], "genuine", "{in_stock}");
    assert_eq!(in_stock["holding"]["disposition"], "active", "{in_stock}");
    assert_eq!(in_stock["holding"]["holder"], "greenleaf-mart");
    let recalled = json(&info.recalled).await;
    assert_eq!(recalled["verdict"], "recalled", "{recalled}");
    assert!(recalled["recall"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("Cronobacter")));
    let tampered = json(&info.tampered).await;
    assert_eq!(tampered["verdict"], "unknown", "{tampered}");
    assert_eq!(tampered["signature_ok"], false, "{tampered}");
    let unknown = json(&info.unknown).await;
    assert_eq!(unknown["verdict"], "unknown", "{unknown}");
    assert!(unknown.get("unit_index").is_none(), "{unknown}");

    // The HTML page of the recalled unit.
    let page = reqwest::get(&info.recalled).await.expect("GET page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-verdict=\"recalled\""), "{html}");

    // A shop assistant sells the can on the shelf with the CLI.
    let keys = data.join("keys");
    let token = std::fs::read_to_string(keys.join("greenleaf-mart.token"))
        .expect("demo token file")
        .trim()
        .to_owned();
    let keystore = keys.join("greenleaf-mart.json");
    let keystore = keystore.to_str().unwrap();
    let sell = [
        "sell",
        "--server",
        &server.base,
        "--token",
        &token,
        "--keystore",
        keystore,
        "--unit",
        &info.in_stock,
    ];
    let out = cli(&sell);
    assert!(out.status.success(), "{}", text(&out));
    let receipt: Value = serde_json::from_slice(&out.stdout).expect("receipt JSON");
    assert_eq!(receipt["status"], "stored", "{receipt}");
    assert_eq!(receipt["kind"], "event", "{receipt}");
    let after = json(&info.in_stock).await;
    assert_eq!(after["holding"]["disposition"], "retail_sold", "{after}");
    assert_eq!(after["verdict"], "genuine", "{after}");

    // Selling it again is refused, and the message says why.
    let out = cli(&sell);
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("retail_sold") && stderr.contains("422"),
        "{}",
        text(&out)
    );

    // A new station key: written with mode 0600, and loadable.
    let ks_path = tmp.path().join("station.json");
    let ks = ks_path.to_str().unwrap();
    let out = cli(&["key", "gen", "--party", "x", "--out", ks]);
    assert!(!out.status.success(), "one letter is not a slug");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2–40 characters"),
        "{}",
        text(&out)
    );
    assert!(!ks_path.exists());
    let out = cli(&["key", "gen", "--party", "greenleaf-mart", "--out", ks]);
    assert!(out.status.success(), "{}", text(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("key gen JSON");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ks_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "keystore mode {mode:o}");
    }
    let loaded = suyuan::client::keystore::Keystore::load(&ks_path).expect("keystore loads");
    assert_eq!(printed["key_id"], loaded.key_id.as_str());
    assert_eq!(printed["public_key"], loaded.public_key().as_str());
    // It refuses to overwrite a private key.
    let out = cli(&["key", "gen", "--party", "greenleaf-mart", "--out", ks]);
    assert!(!out.status.success(), "{}", text(&out));

    // What the restart must keep.
    let batch = json(&format!("{}/api/v1/batches/{}", server.base, info.batch_id)).await;
    let head = batch["head"].as_str().expect("head").to_owned();
    let sold_history = json(&info.sold).await["history"]
        .as_array()
        .expect("history")
        .len();
    assert!(sold_history >= 5, "{sold_history}");

    // SIGTERM: a clean exit.
    let status = server.terminate().await;
    assert!(
        status.success(),
        "exit {status:?}; log:\n{}",
        server.log_text()
    );
    assert!(server.log_text().contains("shutting down"));

    // Restarted on the same data, the demo is reused, not minted again.
    let server = Server::start(&data, db.as_deref(), "second").await;
    let again = demo_info(&data);
    assert_eq!(again.batch_id, info.batch_id);
    assert_eq!(again.recalled_batch_id, info.recalled_batch_id);
    assert_eq!(again.base_url, server.base);
    let batch = json(&format!("{}/api/v1/batches/{}", server.base, info.batch_id)).await;
    assert_eq!(batch["head"], head.as_str(), "the chain moved on restart");
    let sold = json(&again.sold).await;
    assert_eq!(sold["verdict"], "genuine", "{sold}");
    assert_eq!(sold["history"].as_array().unwrap().len(), sold_history);
    let in_stock = json(&again.in_stock).await;
    assert_eq!(in_stock["holding"]["disposition"], "retail_sold");
    assert!(
        !server.log_text().contains("operator token"),
        "a second operator token was made"
    );
    drop(server);
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

/// A kill -9 in the middle of a stream of sales loses nothing that was
/// acknowledged and leaves nothing half-applied.
#[tokio::test]
async fn kill_9_during_appends_loses_nothing_acknowledged() {
    use suyuan::client::keystore::Keystore;
    use suyuan::client::{draft_event, Client};
    use suyuan::domain::statement::{BatchId, EventType, UnitRange};

    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let pg = PgDb::create().await;
    let db = pg.as_ref().map(|p| p.url.clone());
    let mut server = Server::start(&data, db.as_deref(), "crash").await;
    let info = demo_info(&data);
    let batch = BatchId::parse(&info.batch_id).expect("batch id");
    let shop = Keystore::load(&data.join("keys/greenleaf-mart.json")).expect("keystore");
    let token = std::fs::read_to_string(data.join("keys/greenleaf-mart.token")).expect("token");
    let client = Client::new(&server.base, Some(token.trim().to_owned()));

    // Four tills sell cans 5..=199 one by one; each records what the server acknowledged.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tills = Vec::new();
    for till in 0..4u64 {
        let (client, shop, acked) = (client.clone(), shop.clone(), acked.clone());
        tills.push(tokio::spawn(async move {
            let mut i = 5 + till;
            while i <= 199 {
                let ev = draft_event(
                    &shop,
                    EventType::RetailSelling,
                    vec![UnitRange {
                        batch,
                        first: i,
                        last: i,
                    }],
                );
                match client.submit_event(&shop, ev).await {
                    Ok(v) => acked
                        .lock()
                        .expect("lock")
                        .push(v["id"].as_str().expect("id").to_owned()),
                    Err(_) => return,
                }
                i += 4;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut child = server.child.take().expect("running");
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    for t in tills {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        !acked.is_empty(),
        "no sale was acknowledged before the kill"
    );
    println!("{} sales acknowledged before kill -9", acked.len());

    let server = Server::start(&data, db.as_deref(), "after-crash").await;
    let http = reqwest::Client::new();
    for id in &acked {
        let r = http
            .get(format!("{}/api/v1/statements/{id}", server.base))
            .send()
            .await
            .expect("get");
        assert_eq!(
            r.status(),
            200,
            "acknowledged sale {id} is missing after kill -9"
        );
    }
    // Nothing half-applied: every unit is held exactly once, and sold units match stored sales.
    let r: Value = http
        .get(format!(
            "{}/api/v1/holdings?party=greenleaf-mart",
            server.base
        ))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("holdings")
        .json()
        .await
        .expect("json");
    let holdings = r["holdings"].as_array().expect("holdings");
    let units: u64 = holdings
        .iter()
        .filter(|h| h["batch"] == info.batch_id.as_str())
        .map(|h| h["last"].as_u64().unwrap() - h["first"].as_u64().unwrap() + 1)
        .sum();
    assert_eq!(units, 200, "greenleaf's 200 cans, sold or not: {r}");
    let sold: u64 = holdings
        .iter()
        .filter(|h| h["batch"] == info.batch_id.as_str() && h["disposition"] == "retail_sold")
        .map(|h| h["last"].as_u64().unwrap() - h["first"].as_u64().unwrap() + 1)
        .sum();
    assert!(
        sold >= 5 + acked.len() as u64,
        "sold {sold}, acknowledged {}",
        acked.len()
    );
    drop(server);
    if let Some(p) = pg {
        p.drop_db().await;
    }
}
