//! The dock page in a real headless Chromium (issue 6), driven over W3C WebDriver
//! the same way as tests/browser.rs: `suyuan serve --demo`, a dock user for the
//! demo's B1 made with `suyuan dock-user add`, sign-in, station enrollment with a
//! non-extractable WebCrypto Ed25519 key approved by `suyuan key approve`, then a
//! case shipped by the factory with the CLI is received by typing its SSCC as a
//! keyboard-wedge scanner would, signed in the browser; custody moves. Then the
//! network "drops" (a switch in the page's fetch wrapper), three of four units
//! are scanned and submitted, the network comes back, the queued event syncs, each
//! unit has exactly one receiving event, the unscanned fourth is a shortage both
//! parties see, and a resend is answered as a duplicate. A pallet of two cases
//! and a third case arrive in one shipment: the third case is marked damaged and
//! three units of one case on the pallet short, and the signed receipt's
//! `damaged` and `shortage` ranges show in the holdings. Then pack and ship
//! modes, and a 409: an event signed before the factory moved the batch's head
//! is re-signed once on sync and goes through. Also checks that the page's JS
//! JCS reproduces the signing vectors' messages. A second test covers sign-in,
//! sessions, CSRF and the admin API over plain HTTP. A third drives the retail
//! counter for the demo's B2 `greenleaf-mart`: feedback posted through the scan
//! page's form shows in the dock's feedback panel; a unit is sold by wedge scan
//! (`retail_selling`), taken back at the counter and restocked (`returning`, then
//! `accepting_return`), and a sold unit is sent back upstream to the wholesaler
//! it came from; refusals (already sold, another holder, recalled) are shown.
//! On PostgreSQL too when `SUYUAN_TEST_DATABASE_URL` is set.
//!
//! Skipped (passing) when chromium or chromedriver is not installed.

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_suyuan");
const B1: &str = "north-wholesale";
const FACTORY: &str = "hengshan-dairy";

mod common;
use common::{free_port, start_browser, wait_for, which, Driver, Proc};

const PG_ENV: &str = "SUYUAN_TEST_DATABASE_URL";

/// A PostgreSQL database of our own, used when `SUYUAN_TEST_DATABASE_URL` is set.
struct PgDb {
    server: String,
    name: String,
}

impl PgDb {
    async fn create() -> Option<(PgDb, String)> {
        use sqlx::{Connection, Executor};
        let server = std::env::var(PG_ENV).ok().filter(|s| !s.is_empty())?;
        let name = format!("suyuan_dock_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut c = sqlx::PgConnection::connect(&server)
            .await
            .expect("connect to PostgreSQL");
        c.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create database");
        let (head, query) = server.split_once('?').unwrap_or((&server, ""));
        let after = head.find("://").map_or(0, |i| i + 3);
        let host_end = head[after..].find('/').map_or(head.len(), |i| after + i);
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let url = format!("{}/{name}{q}", &head[..host_end]);
        Some((PgDb { server, name }, url))
    }

    async fn drop_db(self) {
        use sqlx::{Connection, Executor};
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.server).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = c.execute(sql.as_str()).await;
        }
    }
}

/// `suyuan serve --demo` on a free port, on SQLite or on a fresh PostgreSQL database.
async fn start(tmp: &Path) -> (Proc, String, PathBuf, Option<PgDb>) {
    let data = tmp.join("data");
    let pg = PgDb::create().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = tmp.join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data)
        .env_remove("SUYUAN_DATABASE_URL")
        .env_remove("SUYUAN_BASE_URL")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    if let Some((_, url)) = &pg {
        cmd.arg("--database-url").arg(url);
    }
    let server = Proc(cmd.spawn().expect("spawn suyuan serve"));
    assert!(
        wait_for(&format!("{base}/api/v1/health")).await,
        "server did not start: {}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    (server, base, data, pg.map(|(db, _)| db))
}

/// Runs the CLI to completion, with `stdin` fed in; panics with its output on failure.
fn cli(args: &[&str], stdin: &str) -> Value {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("SUYUAN_DATABASE_URL")
        .env_remove("SUYUAN_TOKEN")
        .env_remove("SUYUAN_KEYSTORE")
        .env_remove("SUYUAN_SERVER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn suyuan");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("suyuan ran");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "suyuan {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }))
}

/// Enter, as the WebDriver key code a wedge scanner's terminator becomes.
const ENTER: &str = "\u{E007}";

/// What the demo's data dir gives a test: its facts, tokens and keystore paths.
struct Demo {
    info: suyuan::app::demo::DemoInfo,
    admin: String,
    factory_token: String,
    b1_token: String,
    shop_token: String,
    factory_ks: String,
    b1_ks: String,
}

fn demo(data: &Path) -> Demo {
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p)
            .expect("token")
            .trim()
            .to_owned()
    };
    let keys = data.join("keys");
    let path = |p: PathBuf| p.to_str().expect("path").to_owned();
    Demo {
        info: suyuan::app::demo::read_info(data).expect("demo.json"),
        admin: read(data.join("admin.token")),
        factory_token: read(keys.join(format!("{FACTORY}.token"))),
        b1_token: read(keys.join(format!("{B1}.token"))),
        shop_token: read(keys.join("greenleaf-mart.token")),
        factory_ks: path(keys.join(format!("{FACTORY}.json"))),
        b1_ks: path(keys.join(format!("{B1}.json"))),
    }
}

async fn unit(http: &reqwest::Client, base: &str, batch: &str, i: u64) -> Value {
    http.get(format!("{base}/api/v1/units/{batch}/{i}"))
        .send()
        .await
        .expect("unit API")
        .json()
        .await
        .expect("unit JSON")
}

#[tokio::test]
async fn dock_receives_a_case_by_wedge_scan_and_syncs_offline_scans_once() {
    let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        println!("skipping: chromium not installed");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_server, base, data, pg) = start(tmp.path()).await;
    let Demo {
        info,
        admin,
        factory_token,
        b1_token,
        factory_ks,
        b1_ks,
        ..
    } = demo(&data);
    let (factory_ks, b1_ks) = (factory_ks.as_str(), b1_ks.as_str());
    let batch = info.batch_id.clone();

    // A dock user for B1, made by the operator.
    cli(
        &[
            "dock-user",
            "add",
            "--server",
            &base,
            "--token",
            &admin,
            "--party",
            B1,
            "--name",
            "anna",
        ],
        "dock-pass-123\n",
    );

    // The factory packs 24 units (600..623, which it still holds) into a case and
    // ships the case by its SSCC; then three loose units in a second shipment.
    // Extension digit 0, the demo's company prefix 690123456, serial 0000042.
    let body = "06901234560000042";
    let sscc = format!("{body}{}", suyuan::formats::gs1::check_digit(body));
    let signer = [
        "--server",
        &base,
        "--token",
        &factory_token,
        "--keystore",
        factory_ks,
    ];
    let mut a: Vec<&str> = vec!["pack"];
    a.extend(signer);
    a.extend(["--batch", &batch, "--range", "600..623", "--into", &sscc]);
    cli(&a, "");
    let mut a: Vec<&str> = vec!["ship"];
    a.extend(signer);
    a.extend(["--sscc", &sscc, "--to", B1, "--asn", "ASN-DOCK-1"]);
    let case_shipment = cli(&a, "")["id"].as_str().expect("shipment id").to_owned();
    let mut a: Vec<&str> = vec!["ship"];
    a.extend(signer);
    a.extend([
        "--batch",
        &batch,
        "--range",
        "630..633",
        "--to",
        B1,
        "--asn",
        "ASN-DOCK-2",
    ]);
    let loose_shipment = cli(&a, "")["id"].as_str().expect("shipment id").to_owned();
    // A pallet of two cases of twelve (900..911, 912..923) and a third case
    // (924..935) beside it, in one shipment.
    let sscc_of = |n: u32| {
        let body = format!("069012345600000{n:02}");
        format!("{body}{}", suyuan::formats::gs1::check_digit(&body))
    };
    let (case_x, case_y, pallet, case_z) = (sscc_of(50), sscc_of(51), sscc_of(52), sscc_of(53));
    for (case, range) in [
        (&case_x, "900..911"),
        (&case_y, "912..923"),
        (&case_z, "924..935"),
    ] {
        let mut a: Vec<&str> = vec!["pack"];
        a.extend(signer);
        a.extend(["--batch", &batch, "--range", range, "--into", case]);
        cli(&a, "");
    }
    let mut a: Vec<&str> = vec!["pack"];
    a.extend(signer);
    a.extend(["--sscc", &case_x, "--sscc", &case_y, "--into", &pallet]);
    cli(&a, "");
    let mut a: Vec<&str> = vec!["ship"];
    a.extend(signer);
    a.extend([
        "--sscc",
        &pallet,
        "--sscc",
        &case_z,
        "--to",
        B1,
        "--asn",
        "ASN-DOCK-3",
    ]);
    let pallet_shipment = cli(&a, "")["id"].as_str().expect("shipment id").to_owned();

    // The browser.
    let (_driver, d) = browser(tmp.path(), &chromium, &chromedriver).await;
    let http = reqwest::Client::new();

    // Without a session /dock sends the browser to the sign-in form; a wrong password stays there.
    d.goto(&format!("{base}/dock")).await;
    d.until(
        "the sign-in form",
        "return !!document.getElementById('login');",
    )
    .await;
    d.type_into("#party", B1).await;
    d.type_into("#name", "anna").await;
    d.type_into("#password", "wrong-password").await;
    d.click("#login button[type=submit]").await;
    d.until(
        "the wrong-password message",
        "return !!document.getElementById('login-error');",
    )
    .await;
    d.type_into("#password", "dock-pass-123").await;
    submit_sign_in(&d).await;

    // The page's JCS reproduces the signed message of every valid statement vector.
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut checked = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&vectors)
        .expect("vectors")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for p in names {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("vector"))
            .expect("vector JSON");
        let kind = v["kind"].as_str().unwrap_or_default();
        if v["valid"] != json!(true) || kind == "label" || !v["statement"].is_object() {
            continue;
        }
        let got = d
            .js(
                "return window.suyuanDock.messageHex(arguments[0], arguments[1]);",
                json!([kind, v["statement"]]),
            )
            .await;
        assert_eq!(got, v["message_hex"], "JS JCS differs on {}", p.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} vectors checked");

    // Enrollment: the browser made a key and posted it; the admin approves it with the CLI.
    let pending = d
        .until(
            "a pending station number",
            "return document.getElementById('station-id').textContent;",
        )
        .await;
    let pending = pending.as_str().expect("station id").to_owned();
    let key_id = d
        .js(
            "return document.getElementById('station-key').textContent;",
            json!([]),
        )
        .await;
    cli(
        &[
            "key",
            "approve",
            "--server",
            &base,
            "--token",
            &b1_token,
            "--keystore",
            b1_ks,
            "--pending",
            &pending,
        ],
        "",
    );
    d.until(
        "the station to be approved",
        "return document.getElementById('station').dataset.state === 'approved';",
    )
    .await;
    // The key the browser holds cannot be read out of it.
    let extractable = d
        .js_async(
            "const done = arguments[arguments.length - 1]; \
             const r = indexedDB.open('suyuan-dock'); \
             r.onsuccess = () => { const g = r.result.transaction('keys').objectStore('keys').get(arguments[0]); \
             g.onsuccess = () => done({ext: g.result.privateKey.extractable, alg: g.result.privateKey.algorithm.name}); };",
            json!([B1]),
        )
        .await;
    assert_eq!(extractable, json!({"ext": false, "alg": "Ed25519"}));

    // Receive the case: pick the expected shipment, scan the SSCC with a symbology identifier.
    d.until(
        "the case shipment in the list",
        &format!("return !!document.querySelector(\"#shipment option[value='{case_shipment}']\");"),
    )
    .await;
    d.click(&format!("#shipment option[value='{case_shipment}']"))
        .await;
    d.until(
        "the expected case row",
        &format!("return !!document.querySelector(\"tr.short[data-sscc='{sscc}']\");"),
    )
    .await;
    d.type_into("#scan", &format!("]C100{sscc}{ENTER}")).await;
    d.until(
        "the case row to turn ok",
        &format!("return !!document.querySelector(\"tr.ok[data-sscc='{sscc}']\");"),
    )
    .await;
    // A unit that is not in the shipment shows as an overage, in red.
    let stray = format!(
        "(01){}(10){}(21)700",
        suyuan::app::demo::demo_gtin(),
        suyuan::app::demo::LOT
    );
    d.type_into("#scan", &format!("{stray}{ENTER}")).await;
    d.until(
        "the overage row",
        "return document.querySelectorAll('#list tbody tr.over').length === 1;",
    )
    .await;
    // Scanning the case again is refused on the spot.
    d.type_into("#scan", &format!("(00){sscc}{ENTER}")).await;
    let fb = d
        .until(
            "the duplicate warning",
            "const f = document.getElementById('feedback'); \
             return f.classList.contains('bad') && f.textContent.includes('Already') ? f.textContent : null;",
        )
        .await;
    assert!(fb.as_str().unwrap_or_default().contains("Already"), "{fb}");
    // The focus never left the scan input.
    let focused = d.js("return document.activeElement.id;", json!([])).await;
    assert_eq!(focused, "scan");
    d.click("#submit").await;
    d.until(
        "the receipt to be sent",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.includes('receive stored');",
    )
    .await;
    for i in [600, 611, 623] {
        let u = unit(&http, &base, &batch, i).await;
        assert_eq!(u["holding"]["holder"], B1, "unit {i}: {u}");
        assert_eq!(u["holding"]["disposition"], "active", "unit {i}: {u}");
        let last = u["history"].as_array().and_then(|h| h.last()).cloned();
        let last = last.unwrap_or_default();
        assert_eq!(last["type"], "receiving", "{u}");
        assert_eq!(
            last["key"], key_id,
            "signed by the browser's station key: {u}"
        );
        assert_eq!(last["containers"], json!([sscc]), "{u}");
        assert_eq!(last["exceptions"][0]["type"], "overage", "{u}");
    }
    let shot = d.call(reqwest::Method::GET, "/screenshot", None).await;
    if let Some(png) = shot
        .as_str()
        .and_then(|s| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).ok())
    {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dock-receive.png");
        let _ = std::fs::write(out, png);
    }
    let u = unit(&http, &base, &batch, 624).await;
    assert_eq!(u["holding"]["holder"], FACTORY, "outside the case: {u}");

    // Offline: the loose shipment is picked while online, then the network drops.
    d.until(
        "the loose shipment in the list",
        &format!(
            "return !!document.querySelector(\"#shipment option[value='{loose_shipment}']\");"
        ),
    )
    .await;
    d.click(&format!("#shipment option[value='{loose_shipment}']"))
        .await;
    d.until(
        "the expected loose units",
        "return document.querySelectorAll('#list tbody tr.short').length === 1 && \
         document.querySelector('#list tbody tr.short').textContent.includes('630–633');",
    )
    .await;
    d.js("window.suyuanDock.forceOffline = true;", json!([]))
        .await;
    let gtin = suyuan::app::demo::demo_gtin();
    for serial in [630, 631, 632] {
        let code = format!("]Q3(01){gtin}(10){}(21){serial}", suyuan::app::demo::LOT);
        d.type_into("#scan", &format!("{code}{ENTER}")).await;
    }
    d.until(
        "three queued scans",
        "return document.querySelectorAll('#list tbody tr.queued').length === 3;",
    )
    .await;
    d.click("#submit").await;
    d.until(
        "the receipt to be queued",
        "return document.getElementById('outbox-count').dataset.count === '1';",
    )
    .await;
    let u = unit(&http, &base, &batch, 631).await;
    assert_eq!(
        u["holding"]["disposition"], "in_transit",
        "nothing sent yet: {u}"
    );

    // Back online: the queued scans resolve, the event is signed and stored once.
    d.js(
        "window.suyuanDock.forceOffline = false; window.dispatchEvent(new Event('online'));",
        json!([]),
    )
    .await;
    d.until(
        "the queued receipt to sync",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.split('receive stored').length === 3;",
    )
    .await;
    let mut ids = Vec::new();
    for i in [630, 631, 632] {
        let u = unit(&http, &base, &batch, i).await;
        assert_eq!(u["holding"]["holder"], B1, "unit {i}: {u}");
        let receipts: Vec<&Value> = u["history"]
            .as_array()
            .expect("history")
            .iter()
            .filter(|e| e["type"] == "receiving")
            .collect();
        assert_eq!(receipts.len(), 1, "unit {i} received once: {u}");
        ids.push(receipts[0]["objects"].clone());
    }
    assert!(
        ids.iter().all(|o| *o == ids[0]),
        "one event for all three: {ids:?}"
    );
    let s: Value = http
        .get(format!("{base}/api/v1/shipments/{loose_shipment}"))
        .bearer_auth(&b1_token)
        .send()
        .await
        .expect("shipment")
        .json()
        .await
        .expect("shipment JSON");
    // Unit 633 was not scanned: a shortage, still in transit, seen by both parties.
    assert_eq!(s["in_transit_units"], 1, "{s}");
    let factory_view: Value = http
        .get(format!("{base}/api/v1/shipments/{loose_shipment}"))
        .bearer_auth(&factory_token)
        .send()
        .await
        .expect("shipment")
        .json()
        .await
        .expect("shipment JSON");
    assert_eq!(
        factory_view["in_transit"], s["in_transit"],
        "{factory_view}"
    );
    assert_eq!(s["in_transit"][0]["first"], 633, "{s}");
    let u = unit(&http, &base, &batch, 630).await;
    let receipt = u["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        receipt["exceptions"],
        json!([{"type": "shortage", "objects": [{"batch": batch, "first": 633, "last": 633}]}]),
        "{receipt}"
    );

    // Resending the same signed event is harmless: answered as a duplicate.
    let resend = d
        .js_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/dock/api/events', {method: 'POST', body: window.suyuanDock.lastSent, \
               headers: {'content-type': 'application/json', 'x-csrf-token': document.body.dataset.csrf}}) \
             .then(r => r.json().then(b => done({status: r.status, body: b})));",
            json!([]),
        )
        .await;
    assert_eq!(resend["status"], 200, "{resend}");
    assert_eq!(resend["body"]["status"], "duplicate", "{resend}");

    // A POST without the CSRF token is refused even with the session cookie.
    let no_csrf = d
        .js_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/dock/api/events', {method: 'POST', body: window.suyuanDock.lastSent, \
               headers: {'content-type': 'application/json'}}).then(r => done(r.status));",
            json!([]),
        )
        .await;
    assert_eq!(no_csrf, 403);

    // The pallet and the third case arrive: the third case is crushed, and
    // three units of the pallet's second case are missing.
    d.until(
        "the pallet shipment in the list",
        &format!(
            "return !!document.querySelector(\"#shipment option[value='{pallet_shipment}']\");"
        ),
    )
    .await;
    d.click(&format!("#shipment option[value='{pallet_shipment}']"))
        .await;
    d.until(
        "the expected pallet and case rows",
        &format!(
            "return !!document.querySelector(\"tr.short[data-sscc='{pallet}']\") && \
             !!document.querySelector(\"tr.short[data-sscc='{case_z}']\");"
        ),
    )
    .await;
    d.type_into("#scan", &format!("]C100{pallet}{ENTER}")).await;
    d.until(
        "the pallet's two cases, each with a short count",
        "return document.querySelectorAll('#list tbody tr[data-case] input.short-count').length === 2;",
    )
    .await;
    d.type_into("#scan", &format!("(00){case_z}{ENTER}")).await;
    d.until(
        "the third case to turn ok",
        &format!("return !!document.querySelector(\"tr.ok[data-sscc='{case_z}']\");"),
    )
    .await;
    d.click(&format!("button[data-mark='sscc:{case_z}']")).await;
    d.until(
        "the third case marked damaged",
        &format!(
            "return !!document.querySelector(\"tr.damaged[data-sscc='{case_z}'] button[aria-pressed=true]\");"
        ),
    )
    .await;
    d.type_into(&format!("input.short-count[data-case='{case_y}']"), "3")
        .await;
    d.until(
        "the second case three short",
        &format!(
            "const r = document.querySelector(\"tr.short[data-case='{case_y}']\"); \
             return !!r && r.cells[2].textContent === '9';"
        ),
    )
    .await;
    d.click("#submit").await;
    d.until(
        "the pallet receipt to be sent",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.split('receive stored').length === 4;",
    )
    .await;
    // The signed receipt: the pallet and the third case by SSCC, the short
    // case's last three units short, the third case damaged.
    let u = unit(&http, &base, &batch, 900).await;
    let receipt = u["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(receipt["type"], "receiving", "{u}");
    assert_eq!(receipt["key"], key_id, "{receipt}");
    assert_eq!(receipt["containers"], json!([pallet, case_z]), "{receipt}");
    assert!(receipt.get("objects").is_none(), "{receipt}");
    assert_eq!(
        receipt["exceptions"],
        json!([
            {"type": "shortage", "objects": [{"batch": batch, "first": 921, "last": 923}]},
            {"type": "damaged", "objects": [{"batch": batch, "first": 924, "last": 935}]},
        ]),
        "{receipt}"
    );
    // Holdings through the API: received and active, short still in transit, damaged set aside.
    let held: Value = http
        .get(format!("{base}/api/v1/holdings?party={B1}"))
        .bearer_auth(&b1_token)
        .send()
        .await
        .expect("holdings")
        .json()
        .await
        .expect("holdings JSON");
    let holding = |i: u64| -> Value {
        held["holdings"]
            .as_array()
            .expect("holdings")
            .iter()
            .find(|h| {
                h["batch"] == batch.as_str()
                    && h["first"].as_u64() <= Some(i)
                    && h["last"].as_u64() >= Some(i)
            })
            .cloned()
            .unwrap_or_else(|| panic!("no holding of unit {i}: {held}"))
    };
    for (i, holder, disposition) in [
        (900, B1, "active"),
        (911, B1, "active"),
        (912, B1, "active"),
        (920, B1, "active"),
        (921, FACTORY, "in_transit"),
        (923, FACTORY, "in_transit"),
        (924, B1, "sellable_not_accessible"),
        (935, B1, "sellable_not_accessible"),
    ] {
        let h = holding(i);
        assert_eq!(
            (h["holder"].as_str(), h["disposition"].as_str()),
            (Some(holder), Some(disposition)),
            "unit {i}: {h}"
        );
    }
    let s: Value = http
        .get(format!("{base}/api/v1/shipments/{pallet_shipment}"))
        .bearer_auth(&b1_token)
        .send()
        .await
        .expect("shipment")
        .json()
        .await
        .expect("shipment JSON");
    assert_eq!(
        (s["expected_units"].as_u64(), s["in_transit_units"].as_u64()),
        (Some(36), Some(3)),
        "{s}"
    );
    // The missing units left their case; when they turn up they are expected loose.
    let c: Value = http
        .get(format!("{base}/api/v1/containers/{case_y}"))
        .send()
        .await
        .expect("container")
        .json()
        .await
        .expect("container JSON");
    assert_eq!(
        c["units"],
        json!([{"batch": batch, "first": 912, "last": 920}]),
        "{c}"
    );
    // The list reloads after a receipt; picked by value so a reload cannot race the click.
    d.until(
        "the pallet shipment, three units left",
        &format!(
            "const o = document.querySelector(\"#shipment option[value='{pallet_shipment}']\"); \
             return !!o && o.textContent.includes('3 units');"
        ),
    )
    .await;
    d.js(
        "const s = document.getElementById('shipment'); s.value = arguments[0]; \
         s.dispatchEvent(new Event('change'));",
        json!([pallet_shipment]),
    )
    .await;
    d.until(
        "only the three loose units expected",
        &format!(
            "return document.querySelectorAll('#list tbody tr').length === 1 && \
             !document.querySelector(\"tr[data-sscc='{pallet}']\") && \
             document.querySelector('#list tbody tr.short').textContent.includes('921–923');"
        ),
    )
    .await;
    for serial in [921, 922, 923] {
        let code = format!("(01){gtin}(10){}(21){serial}", suyuan::app::demo::LOT);
        d.type_into("#scan", &format!("{code}{ENTER}")).await;
    }
    d.until(
        "the three units scanned",
        "return document.querySelectorAll('#list tbody tr[data-unit]').length === 3;",
    )
    .await;
    d.click("#submit").await;
    d.until(
        "the late receipt to be sent",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.split('receive stored').length === 5;",
    )
    .await;
    let u = unit(&http, &base, &batch, 922).await;
    assert_eq!(
        (
            u["holding"]["holder"].as_str(),
            u["holding"]["disposition"].as_str()
        ),
        (Some(B1), Some("active")),
        "{u}"
    );

    // A unit of the recalled batch is blocked at the scan, with the recall's reason.
    d.click(".mode[data-mode=ship]").await;
    d.type_into("#scan", &format!("{}{ENTER}", info.recalled))
        .await;
    let fb = d
        .until(
            "the recall warning",
            "const f = document.getElementById('feedback'); \
             return f.classList.contains('bad') && f.textContent.includes('RECALLED') ? f.textContent : null;",
        )
        .await;
    assert_eq!(
        d.js(
            "return document.querySelectorAll('#list tbody tr').length;",
            json!([])
        )
        .await,
        0,
        "not added: {fb}"
    );
    // The page fits a phone: nothing overflows sideways at 390 px.
    d.call(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    )
    .await;
    let w = d
        .js(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            json!([]),
        )
        .await;
    assert!(w[0].as_f64() <= w[1].as_f64(), "horizontal overflow: {w}");
    d.call(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({"width": 1024, "height": 900})),
    )
    .await;

    // Pack: the case label first, then two of the received units go in.
    let body2 = "06901234560000043";
    let case2 = format!("{body2}{}", suyuan::formats::gs1::check_digit(body2));
    d.click(".mode[data-mode=pack]").await;
    d.type_into("#scan", &format!("]C100{case2}{ENTER}")).await;
    d.until(
        "the pack target",
        &format!("return document.getElementById('pack-parent').textContent === '{case2}';"),
    )
    .await;
    for serial in [630, 631] {
        let code = format!("(01){gtin}(10){}(21){serial}", suyuan::app::demo::LOT);
        d.type_into("#scan", &format!("{code}{ENTER}")).await;
    }
    d.until(
        "two scanned units",
        "return document.querySelectorAll('#list tbody tr.ok').length === 2;",
    )
    .await;
    d.click("#submit").await;
    d.until(
        "the packing event",
        "return document.getElementById('log').textContent.includes('pack stored');",
    )
    .await;
    let c: Value = http
        .get(format!("{base}/api/v1/containers/{case2}"))
        .send()
        .await
        .expect("container")
        .json()
        .await
        .expect("container JSON");
    assert_eq!(
        c["units"],
        json!([{"batch": batch, "first": 630, "last": 631}]),
        "{c}"
    );

    // Ship: the new case and a loose unit to a shop, with an ASN.
    d.click(".mode[data-mode=ship]").await;
    d.click("#ship-to option[value='greenleaf-mart']").await;
    d.type_into("#asn", "ASN-B1-7").await;
    d.type_into("#scan", &format!("00{case2}{ENTER}")).await;
    let code = format!("(01){gtin}(10){}(21)632", suyuan::app::demo::LOT);
    d.type_into("#scan", &format!("{code}{ENTER}")).await;
    d.until(
        "two items to ship",
        "return document.querySelectorAll('#list tbody tr.ok').length === 2;",
    )
    .await;
    d.click("#submit").await;
    d.until(
        "the shipping event",
        "return document.getElementById('log').textContent.includes('ship stored');",
    )
    .await;
    for i in [630, 632] {
        let u = unit(&http, &base, &batch, i).await;
        assert_eq!(u["holding"]["disposition"], "in_transit", "unit {i}: {u}");
        assert_eq!(u["holding"]["dest"], "greenleaf-mart", "unit {i}: {u}");
        let last = u["history"].as_array().and_then(|h| h.last()).cloned();
        assert_eq!(last.unwrap_or_default()["asn"], "ASN-B1-7", "{u}");
    }

    // A conflict: the case is signed for a shop, the network drops before it is
    // sent, and meanwhile the factory moves the batch's head with another event.
    // On sync the page gets 409, re-reads the head, re-signs once and succeeds.
    d.js("window.suyuanDock.dropEventPosts = true;", json!([]))
        .await;
    d.click("#ship-to option[value='sunrise-baby']").await;
    d.type_into("#scan", &format!("(00){sscc}{ENTER}")).await;
    d.until(
        "the case to ship",
        "return document.querySelectorAll('#list tbody tr.ok').length === 1;",
    )
    .await;
    d.click("#submit").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let signed = d
            .js_async(
                "const done = arguments[arguments.length - 1]; \
                 window.suyuanDock.outbox().then(o => done(o.map(e => !!e.signed)));",
                json!([]),
            )
            .await;
        if signed == json!([true]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no signed event queued: {signed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut a: Vec<&str> = vec!["ship"];
    a.extend(signer);
    a.extend(["--batch", &batch, "--range", "800", "--to", B1]);
    cli(&a, "");
    d.js(
        "window.suyuanDock.dropEventPosts = false; window.suyuanDock.sync();",
        json!([]),
    )
    .await;
    d.until(
        "the re-signed shipment",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.includes('conflict') && \
         document.getElementById('log').textContent.split('ship stored').length === 3;",
    )
    .await;
    let u = unit(&http, &base, &batch, 611).await;
    assert_eq!(u["holding"]["dest"], "sunrise-baby", "{u}");
    assert_eq!(u["holding"]["disposition"], "in_transit", "{u}");

    let _ = http.delete(&d.session).send().await;
    if let Some(db) = pg {
        db.drop_db().await;
    }
}

/// Sets a cookie jar by hand: reqwest here has no cookie feature.
fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Sessions, CSRF and the admin API over plain HTTP: runs without a browser.
#[tokio::test]
async fn dock_sign_in_sessions_and_csrf_over_http() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_server, base, data, pg) = start(tmp.path()).await;
    let Demo {
        admin,
        b1_token,
        shop_token,
        ..
    } = demo(&data);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // Users: the operator or the party itself may add them, not another party.
    let add = |token: String, name: &str| {
        http.post(format!("{base}/api/v1/dock/users"))
            .bearer_auth(token)
            .json(&json!({"party": B1, "name": name, "password": "dock-pass-123"}))
            .send()
    };
    assert_eq!(add(admin.clone(), "anna").await.expect("add").status(), 201);
    assert_eq!(add(admin.clone(), "anna").await.expect("add").status(), 409);
    assert_eq!(
        add(b1_token.clone(), "ben").await.expect("add").status(),
        201
    );
    assert_eq!(
        add(shop_token.clone(), "eve").await.expect("add").status(),
        403
    );
    let short = http
        .post(format!("{base}/api/v1/dock/users"))
        .bearer_auth(&admin)
        .json(&json!({"party": B1, "name": "x", "password": "short"}))
        .send()
        .await
        .expect("add");
    assert_eq!(short.status(), 400);

    // No session: the page redirects, the API says 401.
    let r = http.get(format!("{base}/dock")).send().await.expect("dock");
    assert_eq!(r.status(), 303);
    let r = http
        .get(format!("{base}/dock/api/shipments"))
        .send()
        .await
        .expect("shipments");
    assert_eq!(r.status(), 401);

    // The sign-in form double-submits a cookie against login CSRF.
    let r = http
        .get(format!("{base}/dock/login"))
        .send()
        .await
        .expect("login");
    let set = set_cookies(&r);
    let pre = cookie_value(&set, "suyuan_dock_login").expect("login cookie");
    assert!(
        set[0].contains("HttpOnly") && set[0].contains("SameSite=Strict"),
        "{set:?}"
    );
    let html = r.text().await.expect("html");
    assert!(html.contains(&format!("value=\"{pre}\"")), "{html}");
    let login = |cookie: Option<String>, csrf: String, pw: &'static str| {
        let mut req = http.post(format!("{base}/dock/login")).form(&[
            ("party", B1),
            ("name", "anna"),
            ("password", pw),
            ("csrf", &csrf),
        ]);
        if let Some(c) = cookie {
            req = req.header(reqwest::header::COOKIE, format!("suyuan_dock_login={c}"));
        }
        req.send()
    };
    assert_eq!(
        login(None, pre.clone(), "dock-pass-123")
            .await
            .expect("post")
            .status(),
        403
    );
    assert_eq!(
        login(Some(pre.clone()), "forged".into(), "dock-pass-123")
            .await
            .expect("post")
            .status(),
        403
    );
    assert_eq!(
        login(Some(pre.clone()), pre.clone(), "wrong-pass")
            .await
            .expect("post")
            .status(),
        401
    );
    let r = login(Some(pre.clone()), pre.clone(), "dock-pass-123")
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    let set = set_cookies(&r);
    let session = cookie_value(&set, "suyuan_dock").expect("session cookie");
    let sc = set
        .iter()
        .find(|c| c.starts_with("suyuan_dock="))
        .expect("cookie");
    assert!(
        sc.contains("HttpOnly") && sc.contains("SameSite=Strict"),
        "{sc}"
    );
    let jar = format!("suyuan_dock={session}");

    // The database keeps only a hash of the session id, and an argon2 hash of the password
    // (looked at in the SQLite file; the PostgreSQL run shares the code path).
    if pg.is_none() {
        let db =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("suyuan.db").display()))
                .await
                .expect("sqlite");
        let stored: Vec<(String,)> = sqlx::query_as("SELECT id_hash FROM dock_sessions")
            .fetch_all(&db)
            .await
            .expect("sessions");
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0].0, session);
        let pw: (String,) =
            sqlx::query_as("SELECT password_hash FROM dock_users WHERE name = 'anna'")
                .fetch_one(&db)
                .await
                .expect("user");
        assert!(pw.0.starts_with("$argon2id$"), "{}", pw.0);
    }

    let page = http
        .get(format!("{base}/dock"))
        .header(reqwest::header::COOKIE, &jar)
        .send()
        .await
        .expect("dock")
        .text()
        .await
        .expect("html");
    let csrf = page
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf in page")
        .to_owned();

    // Every POST needs the CSRF token besides the cookie.
    let post = |path: &str, csrf: Option<&str>, body: Value| {
        let mut req = http
            .post(format!("{base}{path}"))
            .header(reqwest::header::COOKIE, &jar)
            .json(&body);
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    let key = suyuan::client::keystore::Keystore::generate(
        suyuan::domain::party::Slug::parse(B1).unwrap(),
    );
    let enroll = json!({"public_key": key.public_key(), "label": "test dock"});
    assert_eq!(
        post("/dock/api/stations", None, enroll.clone())
            .await
            .expect("post")
            .status(),
        403
    );
    assert_eq!(
        post("/dock/api/stations", Some("wrong"), enroll.clone())
            .await
            .expect("post")
            .status(),
        403
    );
    assert_eq!(
        post("/dock/api/events", None, json!({}))
            .await
            .expect("post")
            .status(),
        403
    );
    let r = post("/dock/api/stations", Some(&csrf), enroll.clone())
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    let id = v["station"]["id"].as_i64().expect("id");
    assert_eq!(v["certified"], false);
    let again: Value = post("/dock/api/stations", Some(&csrf), enroll.clone())
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(
        again["station"]["id"], id,
        "re-enrolling returns the same station"
    );
    let bad = post(
        "/dock/api/stations",
        Some(&csrf),
        json!({"public_key": "AAAA"}),
    )
    .await
    .expect("post");
    assert_eq!(bad.status(), 400);
    let bad = post("/dock/api/events", Some(&csrf), json!({"v": 1}))
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);

    // Pending stations are readable by their party and the operator only.
    let get = |token: String| {
        http.get(format!("{base}/api/v1/dock/stations/{id}"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get(shop_token).await.expect("get").status(), 403);
    let v: Value = get(b1_token)
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(v["station"]["public_key"], key.public_key());
    assert_eq!(v["station"]["key_id"], key.key_id);

    // Signing out ends the session on the server, not only in the browser.
    let r = http
        .post(format!("{base}/dock/logout"))
        .header(reqwest::header::COOKIE, &jar)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let r = http
        .get(format!("{base}/dock/api/shipments"))
        .header(reqwest::header::COOKIE, &jar)
        .send()
        .await
        .expect("shipments");
    assert_eq!(r.status(), 401);
    if let Some(db) = pg {
        db.drop_db().await;
    }
}

/// A headless Chromium session over chromedriver; the processes end with the returned guards.
async fn browser(tmp: &Path, chromium: &Path, chromedriver: &Path) -> (Proc, Driver) {
    let profile = tmp.join("profile");
    start_browser(
        chromedriver,
        chromium,
        &profile,
        &["--window-size=1024,900"],
        json!({}),
    )
    .await
}

const B2: &str = "greenleaf-mart";

/// Waits until the scan feedback line is `ok` (or `bad`) and contains `text`.
async fn scan_feedback(d: &Driver, ok: bool, text: &str) -> Value {
    let class = if ok { "ok" } else { "bad" };
    d.until(
        &format!("scan feedback {class} with {text:?}"),
        &format!(
            "const f = document.getElementById('feedback'); \
             return f.classList.contains('{class}') && f.textContent.includes({}) ? f.textContent : null;",
            json!(text)
        ),
    )
    .await
}

#[tokio::test]
async fn dock_retail_counter_sells_takes_returns_and_shows_feedback() {
    let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        println!("skipping: chromium not installed");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_server, base, data, pg) = start(tmp.path()).await;
    let info = suyuan::app::demo::read_info(&data).expect("demo.json");
    let keys = data.join("keys");
    let admin = std::fs::read_to_string(data.join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let b2_token = std::fs::read_to_string(keys.join(format!("{B2}.token")))
        .expect("B2 token")
        .trim()
        .to_owned();
    let b2_ks = keys.join(format!("{B2}.json"));
    let b2_ks = b2_ks.to_str().expect("path");
    let batch = info.batch_id.clone();
    let gtin = suyuan::app::demo::demo_gtin();
    let lot = suyuan::app::demo::LOT;
    let http = reqwest::Client::new();

    cli(
        &[
            "dock-user",
            "add",
            "--server",
            &base,
            "--token",
            &admin,
            "--party",
            B2,
            "--name",
            "mei",
        ],
        "counter-pass-456\n",
    );
    // The feedback panel's endpoint needs a session.
    let r = http
        .get(format!("{base}/dock/api/feedback"))
        .send()
        .await
        .expect("feedback without session");
    assert_eq!(r.status(), 401);

    let (_driver, d) = browser(tmp.path(), &chromium, &chromedriver).await;

    // A consumer sends feedback about a unit the shop sold, through the scan page's form.
    d.goto(&info.sold).await;
    d.click("#feedback input[name=rating][value='2']").await;
    d.type_into(
        "#feedback textarea[name=comment]",
        "dock retail test: 罐子凹陷 dented <i>can</i>",
    )
    .await;
    d.click("#feedback button[type=submit]").await;
    d.until(
        "the feedback answer page",
        "const h = document.querySelector('[data-status]'); return h ? h.dataset.status : null;",
    )
    .await;

    // Sign in as the shop's counter user, enroll and approve the station.
    sign_in(&d, &base, B2, "mei", "counter-pass-456").await;
    let pending = d
        .until(
            "a pending station number",
            "return document.getElementById('station-id').textContent;",
        )
        .await;
    let pending = pending.as_str().expect("station id").to_owned();
    let key_id = d
        .js(
            "return document.getElementById('station-key').textContent;",
            json!([]),
        )
        .await;
    cli(
        &[
            "key",
            "approve",
            "--server",
            &base,
            "--token",
            &b2_token,
            "--keystore",
            b2_ks,
            "--pending",
            &pending,
        ],
        "",
    );
    d.until(
        "the station to be approved",
        "return document.getElementById('station').dataset.state === 'approved';",
    )
    .await;

    // Sell mode: the feedback panel shows the consumer's words (unescaped once, as text).
    d.click("#modes .mode[data-mode=sell]").await;
    let panel = d
        .until(
            "the consumer feedback in the panel",
            "const t = document.getElementById('consumer-feedback').textContent; \
             return t.includes('dock retail test') ? t : null;",
        )
        .await;
    assert!(
        panel
            .as_str()
            .unwrap_or_default()
            .contains("dented <i>can</i>"),
        "{panel}"
    );
    assert_eq!(
        d.js(
            "return document.querySelectorAll('#consumer-feedback i').length;",
            json!([])
        )
        .await,
        0,
        "feedback text is never HTML"
    );

    // A unit already sold, and one another shop holds, are refused at the scan with the reason.
    d.type_into("#scan", &format!("(01){gtin}(10){lot}(21)0{ENTER}"))
        .await;
    scan_feedback(&d, false, "already sold").await;
    d.type_into("#scan", &format!("(01){gtin}(10){lot}(21)250{ENTER}"))
        .await;
    scan_feedback(&d, false, "not held by").await;
    // A recalled unit is blocked.
    d.type_into(
        "#scan",
        &format!(
            "(01){gtin}(10){}(21)7{ENTER}",
            suyuan::app::demo::RECALLED_LOT
        ),
    )
    .await;
    scan_feedback(&d, false, "RECALLED").await;

    // Sell unit 42 by a wedge scan with a symbology identifier.
    d.type_into("#scan", &format!("]Q3(01){gtin}(10){lot}(21)42{ENTER}"))
        .await;
    scan_feedback(&d, true, "OK to sell").await;
    d.click("#submit").await;
    d.until(
        "the sale to be sent",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.includes('sell stored');",
    )
    .await;
    let u = unit(&http, &base, &batch, 42).await;
    assert_eq!(u["holding"]["holder"], B2, "{u}");
    assert_eq!(u["holding"]["disposition"], "retail_sold", "{u}");
    let last = u["history"].as_array().and_then(|h| h.last()).cloned();
    let last = last.unwrap_or_default();
    assert_eq!(last["type"], "retail_selling", "{u}");
    assert_eq!(last["key"], key_id, "signed by the station key: {u}");

    // Return mode: the consumer brings unit 42 back; it goes back to stock.
    d.click("#modes .mode[data-mode=return]").await;
    d.type_into("#scan", &format!("(01){gtin}(10){lot}(21)42{ENTER}"))
        .await;
    scan_feedback(&d, true, "Return of unit 42").await;
    // A unit still in stock was never sold: nothing to take back.
    d.type_into("#scan", &format!("(01){gtin}(10){lot}(21)43{ENTER}"))
        .await;
    scan_feedback(&d, false, "not sold here").await;
    d.type_into("#return-reason", "wrong flavour, unopened")
        .await;
    d.click("#submit").await;
    d.until(
        "the return and its acceptance to be sent",
        "const l = document.getElementById('log').textContent; \
         return document.getElementById('outbox-count').dataset.count === '0' && \
         l.includes('counter-return stored') && l.includes('accept stored');",
    )
    .await;
    let u = unit(&http, &base, &batch, 42).await;
    assert_eq!(u["holding"]["holder"], B2, "{u}");
    assert_eq!(u["holding"]["disposition"], "active", "{u}");
    let hist = u["history"].as_array().cloned().unwrap_or_default();
    let n = hist.len();
    assert!(n >= 2, "{u}");
    assert_eq!(hist[n - 2]["type"], "returning", "{u}");
    assert!(hist[n - 2].get("to").is_none(), "a counter return: {u}");
    assert_eq!(hist[n - 1]["type"], "accepting_return", "{u}");
    assert_eq!(hist[n - 1]["resolution"], "restock", "{u}");
    assert_eq!(hist[n - 1]["reason"], "wrong flavour, unopened", "{u}");

    // A unit sold in the demo comes back and is sent upstream to the wholesaler it came from.
    d.type_into("#scan", &format!("(01){gtin}(10){lot}(21)1{ENTER}"))
        .await;
    scan_feedback(&d, true, "Return of unit 1").await;
    d.js(
        "document.getElementById('return-resolution').value = 'upstream';",
        json!([]),
    )
    .await;
    d.type_into("#return-reason", "seal broken").await;
    d.click("#submit").await;
    d.until(
        "the upstream return to be sent",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.includes('upstream stored');",
    )
    .await;
    let u = unit(&http, &base, &batch, 1).await;
    assert_eq!(u["holding"]["disposition"], "in_transit", "{u}");
    assert_eq!(u["holding"]["dest"], B1, "{u}");
    let last = u["history"].as_array().and_then(|h| h.last()).cloned();
    let last = last.unwrap_or_default();
    assert_eq!(last["type"], "returning", "{u}");
    assert_eq!(last["to"], B1, "{u}");

    let _ = http.delete(&d.session).send().await;
    if let Some(db) = pg {
        db.drop_db().await;
    }
}

/// Opens /dock and signs in through its form.
async fn sign_in(d: &Driver, base: &str, party: &str, name: &str, password: &str) {
    d.goto(&format!("{base}/dock")).await;
    d.until(
        "the sign-in form",
        "return !!document.getElementById('login');",
    )
    .await;
    d.type_into("#party", party).await;
    d.type_into("#name", name).await;
    d.type_into("#password", password).await;
    submit_sign_in(d).await;
}

/// Submits the filled sign-in form and waits for the dock page.
async fn submit_sign_in(d: &Driver) {
    d.click("#login button[type=submit]").await;
    d.until(
        "the dock page",
        "return document.body.dataset.party || null;",
    )
    .await;
}

/// Sign-in limits (per address, per user name), `Secure` cookies behind HTTPS,
/// the station-status endpoint through enroll → approve → revoke, and the admin
/// page's lists, over plain HTTP.
#[tokio::test]
async fn dock_sign_in_limits_station_status_and_admin_lists() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_server, base, data, pg) = start(tmp.path()).await;
    let Demo {
        admin,
        b1_token,
        shop_token,
        b1_ks,
        ..
    } = demo(&data);
    let b1_ks = b1_ks.as_str();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for name in ["anna", "ben"] {
        let r = http
            .post(format!("{base}/api/v1/dock/users"))
            .bearer_auth(&admin)
            .json(&json!({"party": B1, "name": name, "password": "dock-pass-123"}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 201);
    }

    // `Secure` only when the request came through HTTPS (a proxy says so).
    let r = http
        .get(format!("{base}/dock/login"))
        .send()
        .await
        .expect("login");
    assert!(
        !set_cookies(&r)[0].contains("Secure"),
        "{:?}",
        set_cookies(&r)
    );
    let r = http
        .get(format!("{base}/dock/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("login");
    let set = set_cookies(&r);
    assert!(set[0].contains("; Secure"), "{set:?}");
    let pre = cookie_value(&set, "suyuan_dock_login").expect("login cookie");

    let attempt = |name: &str, pw: &str| {
        http.post(format!("{base}/dock/login"))
            .header("x-forwarded-proto", "https")
            .header(reqwest::header::COOKIE, format!("suyuan_dock_login={pre}"))
            .form(&[
                ("party", B1),
                ("name", name),
                ("password", pw),
                ("csrf", &pre),
            ])
            .send()
    };
    // Guessing anna's password: five tries, then her name is locked for a while.
    for _ in 0..5 {
        assert_eq!(
            attempt("anna", "guess-1234").await.expect("post").status(),
            401
        );
    }
    let r = attempt("anna", "dock-pass-123").await.expect("post");
    assert_eq!(r.status(), 429, "even the right password waits");
    assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));
    let page = r.text().await.expect("html");
    assert!(
        page.contains("Too many sign-in attempts for this user"),
        "{page}"
    );
    // Another user from the same address still signs in, with a Secure session cookie.
    let r = attempt("ben", "dock-pass-123").await.expect("post");
    assert_eq!(r.status(), 303);
    let set = set_cookies(&r);
    let session = cookie_value(&set, "suyuan_dock").expect("session");
    assert!(
        set.iter()
            .any(|c| c.starts_with("suyuan_dock=") && c.contains("; Secure")),
        "{set:?}"
    );
    // A flood from this address: answered 429 with plain words, never a crash.
    let mut codes = Vec::new();
    for i in 0..12 {
        codes.push(
            attempt(&format!("nobody{i}"), "guess-1234")
                .await
                .expect("post")
                .status()
                .as_u16(),
        );
    }
    assert_eq!(codes.last(), Some(&429), "{codes:?}");
    let r = attempt("ben", "dock-pass-123").await.expect("post");
    assert_eq!(r.status(), 429);
    assert!(r
        .text()
        .await
        .expect("html")
        .contains("Too many sign-in attempts from this device"));
    let health = http
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .expect("health");
    assert!(health.status().is_success());

    // Station status: pending after enrollment, approved by the CLI, revoked by the CLI.
    let jar = format!("suyuan_dock={session}");
    let page = http
        .get(format!("{base}/dock"))
        .header(reqwest::header::COOKIE, &jar)
        .send()
        .await
        .expect("dock")
        .text()
        .await
        .expect("html");
    let csrf = page
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf in page")
        .to_owned();
    let key = suyuan::client::keystore::Keystore::generate(
        suyuan::domain::party::Slug::parse(B1).unwrap(),
    );
    let v: Value = http
        .post(format!("{base}/dock/api/stations"))
        .header(reqwest::header::COOKIE, &jar)
        .header("x-csrf-token", &csrf)
        .json(&json!({"public_key": key.public_key(), "label": "dock 9"}))
        .send()
        .await
        .expect("enroll")
        .json()
        .await
        .expect("json");
    let pending = v["station"]["id"].as_i64().expect("id").to_string();
    let status = || async {
        let r = http
            .get(format!("{base}/dock/api/station?key_id={}", key.key_id))
            .header(reqwest::header::COOKIE, &jar)
            .send()
            .await
            .expect("status");
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.expect("json")
    };
    let s = status().await;
    assert_eq!(s["state"], "pending", "{s}");
    assert!(s["server_time"].as_str().is_some(), "{s}");
    let r = http
        .get(format!("{base}/dock/api/station"))
        .header(reqwest::header::COOKIE, &jar)
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), 400, "no key_id");
    let signer = ["--server", &base, "--token", &b1_token, "--keystore", b1_ks];
    let mut a: Vec<&str> = vec!["key", "approve"];
    a.extend(signer);
    a.extend(["--pending", &pending]);
    cli(&a, "");
    assert_eq!(status().await["state"], "approved");

    // The admin lists: stations with their state, users by name; not for another party.
    let list = |token: &str, what: &str| {
        http.get(format!("{base}/api/v1/dock/{what}?party={B1}"))
            .bearer_auth(token)
            .send()
    };
    let v: Value = list(&b1_token, "stations")
        .await
        .expect("stations")
        .json()
        .await
        .expect("json");
    let row = v["stations"]
        .as_array()
        .expect("stations")
        .iter()
        .find(|s| s["station"]["key_id"] == key.key_id.as_str())
        .cloned()
        .expect("our station listed");
    assert_eq!(row["state"], "approved", "{v}");
    assert_eq!(row["role"], "dock", "{v}");
    let v: Value = list(&b1_token, "users")
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    assert_eq!(v["users"], json!(["anna", "ben"]), "{v}");
    assert!(!v.to_string().contains("argon2"), "{v}");
    assert_eq!(
        list(&shop_token, "users").await.expect("users").status(),
        403
    );
    assert_eq!(
        list(&shop_token, "stations")
            .await
            .expect("stations")
            .status(),
        403
    );
    let admin_page = http
        .get(format!("{base}/dock/admin"))
        .send()
        .await
        .expect("admin page");
    assert_eq!(admin_page.status(), 200);
    assert!(admin_page
        .text()
        .await
        .expect("html")
        .contains("dock_admin.js"));

    let pk = key.public_key();
    let mut a: Vec<&str> = vec!["key", "revoke"];
    a.extend(signer);
    a.extend(["--public-key", &pk, "--reason", "handheld lost"]);
    cli(&a, "");
    let s = status().await;
    assert_eq!(s["state"], "revoked", "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked at"),
        "{s}"
    );
    assert!(
        s["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ask your admin"),
        "{s}"
    );
    let v: Value = list(&b1_token, "stations")
        .await
        .expect("stations")
        .json()
        .await
        .expect("json");
    assert_eq!(v["stations"][0]["state"], "revoked", "{v}");
    if let Some(db) = pg {
        db.drop_db().await;
    }
}

/// A Y4M video (what Chromium's fake camera plays) of one QR code, 640×480 grey.
fn qr_video(path: &Path, text: &str) {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("qr");
    let n = code.width();
    let colors = code.to_colors();
    let (w, h) = (640usize, 480usize);
    let module = (h - 80) / (n + 8);
    let size = module * (n + 8);
    let (x0, y0) = ((w - size) / 2, (h - size) / 2);
    let mut y = vec![235u8; w * h];
    for r in 0..n {
        for c in 0..n {
            if colors[r * n + c] == qrcode::Color::Dark {
                for dy in 0..module {
                    let row = y0 + (r + 4) * module + dy;
                    let col = x0 + (c + 4) * module;
                    y[row * w + col..row * w + col + module].fill(16);
                }
            }
        }
    }
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..2 {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&y);
        out.extend(std::iter::repeat_n(128u8, w * h / 2));
    }
    std::fs::write(path, out).expect("y4m");
}

/// The outbox as the page holds it: (queued, refused) entries.
async fn outbox(d: &Driver) -> (u64, u64) {
    let v = d
        .js_async(
            "const done = arguments[arguments.length - 1]; \
             window.suyuanDock.outbox().then(o => done([o.filter(e => !e.failed).length, o.filter(e => e.failed).length]));",
            json!([]),
        )
        .await;
    (v[0].as_u64().expect("n"), v[1].as_u64().expect("n"))
}

/// The dock page's gaps and bad input: a camera without BarcodeDetector decodes
/// with the vendored jsQR; a wedge scanner's Ctrl+] (GS) and AIM symbology
/// identifiers; an unpacked case said in plain words; a session that expires
/// with unsynced work (kept, synced after signing in again); a station clock
/// hours off (events dated by the server's clock); a revoked station (told at
/// once, work kept, re-signed with a new approved key).
#[tokio::test]
async fn dock_camera_fallback_wedge_gs_expired_session_clock_and_revoked_station() {
    let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        println!("skipping: chromium not installed");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_server, base, data, pg) = start(tmp.path()).await;
    let Demo {
        info,
        admin,
        factory_token,
        b1_token,
        factory_ks,
        b1_ks,
        ..
    } = demo(&data);
    let (factory_ks, b1_ks) = (factory_ks.as_str(), b1_ks.as_str());
    let batch = info.batch_id.clone();
    let gtin = suyuan::app::demo::demo_gtin();
    let lot = suyuan::app::demo::LOT;
    cli(
        &[
            "dock-user",
            "add",
            "--server",
            &base,
            "--token",
            &admin,
            "--party",
            B1,
            "--name",
            "anna",
        ],
        "dock-pass-123\n",
    );
    // B1 holds units 300..599 of the demo batch; the factory packs 710..711 into a
    // case and unpacks it again.
    let fsign = [
        "--server",
        &base,
        "--token",
        &factory_token,
        "--keystore",
        factory_ks,
    ];
    let bsign = ["--server", &base, "--token", &b1_token, "--keystore", b1_ks];
    let body = "06901234560000077";
    let unpacked = format!("{body}{}", suyuan::formats::gs1::check_digit(body));
    let mut a: Vec<&str> = vec!["pack"];
    a.extend(fsign);
    a.extend([
        "--batch", &batch, "--range", "710..711", "--into", &unpacked,
    ]);
    cli(&a, "");
    let mut a: Vec<&str> = vec!["unpack"];
    a.extend(fsign);
    a.extend(["--into", &unpacked]);
    cli(&a, "");

    // The fake camera shows a pallet label (an SSCC as a GS1 Digital Link).
    let body = "06901234560000078";
    let camera_sscc = format!("{body}{}", suyuan::formats::gs1::check_digit(body));
    let video = tmp.path().join("qr.y4m");
    qr_video(&video, &format!("https://id.example.com/00/{camera_sscc}"));
    let fake = format!("--use-file-for-fake-video-capture={}", video.display());
    let (_driver, d) = start_browser(
        &chromedriver,
        &chromium,
        &tmp.path().join("profile"),
        &[
            "--window-size=1024,900",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            &fake,
        ],
        json!({}),
    )
    .await;
    let http = reqwest::Client::new();
    sign_in(&d, &base, B1, "anna", "dock-pass-123").await;
    let pending = d
        .until(
            "a pending station number",
            "return document.getElementById('station-id').textContent;",
        )
        .await;
    let pending = pending.as_str().expect("id").to_owned();
    let mut a: Vec<&str> = vec!["key", "approve"];
    a.extend(bsign);
    a.extend(["--pending", &pending]);
    cli(&a, "");
    d.until(
        "the station to be approved",
        "return document.getElementById('station').dataset.state === 'approved';",
    )
    .await;

    // Camera without BarcodeDetector: the page loads jsQR and reads the label.
    d.click(".mode[data-mode=pack]").await;
    d.js("window.suyuanDock.noBarcodeDetector = true;", json!([]))
        .await;
    d.click("#camera").await;
    d.until(
        "the camera's SSCC as the pack target",
        &format!("return document.getElementById('pack-parent').textContent === '{camera_sscc}';"),
    )
    .await;
    assert_eq!(
        d.js("return window.suyuanDock.decoder;", json!([])).await,
        "jsQR"
    );
    d.click("#camera").await;

    // Wedge scanners: GS typed as Ctrl+], with and without AIM symbology identifiers.
    d.click(".mode[data-mode=ship]").await;
    d.click("#ship-to option[value='greenleaf-mart']").await;
    const CTRL: &str = "\u{E009}";
    const RELEASE: &str = "\u{E000}";
    for (aim, serial) in [("]d2", 500), ("]Q3", 501), ("", 502)] {
        let code = format!("{aim}01{gtin}10{lot}{CTRL}]{RELEASE}21{serial}{ENTER}");
        d.type_into("#scan", &code).await;
        d.until(
            &format!("unit {serial} in the list"),
            &format!(
                "return [...document.querySelectorAll('#list tbody tr.ok')].some(r => r.textContent.includes('unit {serial}'));"
            ),
        )
        .await;
    }
    // A case that was unpacked is refused in plain words, and not added.
    d.type_into("#scan", &format!("]C100{unpacked}{ENTER}"))
        .await;
    scan_feedback(&d, false, "already unpacked").await;
    assert_eq!(
        d.js(
            "return document.querySelectorAll('#list tbody tr').length;",
            json!([])
        )
        .await,
        3
    );

    // The session ends on the server (as when it expires) before the work is sent.
    let cookie = d
        .call(reqwest::Method::GET, "/cookie/suyuan_dock", None)
        .await;
    let value = cookie["value"].as_str().expect("session cookie").to_owned();
    let csrf = d.js("return document.body.dataset.csrf;", json!([])).await;
    let r = http
        .post(format!("{base}/dock/logout"))
        .header(reqwest::header::COOKIE, format!("suyuan_dock={value}"))
        .form(&[("csrf", csrf.as_str().expect("csrf"))])
        .send()
        .await
        .expect("logout");
    assert!(r.status().is_success() || r.status().is_redirection());
    d.click("#submit").await;
    scan_feedback(&d, false, "Session expired").await;
    d.until(
        "the sign-in link",
        "return !document.getElementById('relogin').hidden;",
    )
    .await;
    assert_eq!(outbox(&d).await, (1, 0), "the work is kept");
    let u = unit(&http, &base, &batch, 500).await;
    assert_eq!(u["holding"]["disposition"], "active", "not sent: {u}");
    // Signing in again sends it.
    d.click("#relogin").await;
    d.until(
        "the sign-in form",
        "return !!document.getElementById('login');",
    )
    .await;
    d.type_into("#party", B1).await;
    d.type_into("#name", "anna").await;
    d.type_into("#password", "dock-pass-123").await;
    submit_sign_in(&d).await;
    d.until(
        "the kept shipment to sync",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.includes('ship stored');",
    )
    .await;
    for i in [500, 501, 502] {
        let u = unit(&http, &base, &batch, i).await;
        assert_eq!(u["holding"]["disposition"], "in_transit", "unit {i}: {u}");
        assert_eq!(u["holding"]["dest"], "greenleaf-mart", "unit {i}: {u}");
    }

    // A station clock three hours fast: the page says so and dates events by the server.
    d.js(
        "const real = Date.now.bind(Date); Date.now = () => real() + 3 * 3600 * 1000; \
         window.suyuanDock.checkStation();",
        json!([]),
    )
    .await;
    let warn = d
        .until(
            "the clock warning",
            "const c = document.getElementById('clock'); return c.hidden ? null : c.textContent;",
        )
        .await;
    assert!(
        warn.as_str().unwrap_or_default().contains("3 h ahead"),
        "{warn}"
    );
    d.click(".mode[data-mode=ship]").await;
    d.click("#ship-to option[value='greenleaf-mart']").await;
    d.type_into("#scan", &format!("(01){gtin}(10){lot}(21)503{ENTER}"))
        .await;
    d.until(
        "unit 503 in the list",
        "return document.querySelectorAll('#list tbody tr.ok').length === 1;",
    )
    .await;
    d.click("#submit").await;
    d.until(
        "the shipment dated by the server clock",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.split('ship stored').length === 3;",
    )
    .await;
    let u = unit(&http, &base, &batch, 503).await;
    let last = u["history"].as_array().and_then(|h| h.last()).cloned();
    let time = last.unwrap_or_default()["time"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let now = suyuan::domain::time::Timestamp::now().unix();
    let t = suyuan::domain::time::Timestamp::parse(&time)
        .expect("time")
        .unix();
    assert!((now - t).abs() < 600, "event time {time} is not near now");

    // Revoked while in use: the refusal is shown as a station problem, the work is kept.
    let pk = d
        .js_async(
            "const done = arguments[arguments.length - 1]; \
             const r = indexedDB.open('suyuan-dock'); \
             r.onsuccess = () => { const g = r.result.transaction('keys').objectStore('keys').get(arguments[0]); \
             g.onsuccess = () => done(g.result.pub); };",
            json!([B1]),
        )
        .await;
    let pk = pk.as_str().expect("public key").to_owned();
    let mut a: Vec<&str> = vec!["key", "revoke"];
    a.extend(bsign);
    a.extend(["--public-key", &pk, "--reason", "handheld lost"]);
    cli(&a, "");
    d.type_into("#scan", &format!("(01){gtin}(10){lot}(21)504{ENTER}"))
        .await;
    d.until(
        "unit 504 in the list",
        "return document.querySelectorAll('#list tbody tr.ok').length === 1;",
    )
    .await;
    d.click("#submit").await;
    let text = d
        .until(
            "the revoked station message",
            "const s = document.getElementById('station'); \
             return s.dataset.state === 'revoked' ? s.textContent : null;",
        )
        .await;
    assert!(
        text.as_str().unwrap_or_default().contains("ask your admin"),
        "{text}"
    );
    assert_eq!(outbox(&d).await, (1, 0), "kept, not dropped as refused");
    // A new station key, approved, sends the kept work signed with it.
    d.click("#new-key").await;
    let again = d
        .until(
            "a new pending station number",
            &format!(
                "const t = document.getElementById('station-id').textContent; \
                 return t && t !== '{pending}' && document.getElementById('station').dataset.state === 'pending' ? t : null;"
            ),
        )
        .await;
    let again = again.as_str().expect("id").to_owned();
    let mut a: Vec<&str> = vec!["key", "approve"];
    a.extend(bsign);
    a.extend(["--pending", &again]);
    cli(&a, "");
    d.until(
        "the kept shipment to go out with the new key",
        "return document.getElementById('outbox-count').dataset.count === '0' && \
         document.getElementById('log').textContent.split('ship stored').length === 4;",
    )
    .await;
    let u = unit(&http, &base, &batch, 504).await;
    assert_eq!(u["holding"]["disposition"], "in_transit", "{u}");
    let key_now = d
        .js(
            "return document.getElementById('station-key').textContent;",
            json!([]),
        )
        .await;
    let last = u["history"].as_array().and_then(|h| h.last()).cloned();
    assert_eq!(last.unwrap_or_default()["key"], key_now, "{u}");

    let _ = http.delete(&d.session).send().await;
    if let Some(db) = pg {
        db.drop_db().await;
    }
}
