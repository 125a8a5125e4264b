//! Scan-page throughput: `suyuan serve` on SQLite against nginx serving one
//! saved scan page as a static file, same machine, same run, same wrk load.
//!
//! The server gets a batch of ≥10,000 units (shipped to and received by a
//! shop, so every verdict is "genuine"); wrk spreads requests over all their
//! distinct signed label URLs with a Lua script. Every request is a full scan:
//! label signature checked (through the in-memory cache of verified labels),
//! scan logged, page rendered. Every unit is scanned once before the measured
//! run, so the caches hold what a running server holds. The per-address rate limit is
//! off, since all of wrk's connections come from one loopback address.
//!
//! Run: `cargo bench --bench scan` (env UNITS=10000, DURATION=10s; with
//! APPENDS_PER_S=N the shop also sells N units a second during the measured
//! run, from a second lot, and the sales' round trips are printed). Needs the
//! Debian packages `wrk` and `nginx`. Only loopback addresses are used.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use suyuan::client::keystore::Keystore;
use suyuan::client::{draft_event, Client};
use suyuan::domain::statement::{BatchStatement, EventType, Input, Step, UnitRange, VERSION};
use suyuan::domain::time::{Date, Timestamp};
use suyuan::formats::gs1::{Gtin, Lot};
use suyuan::formats::sign::{self, Kind};

const BIN: &str = env!("CARGO_BIN_EXE_suyuan");
const LOT: &str = "BENCH1";

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master stops its workers only when it is asked
        // to (a SIGKILL left them running, idle, after every bench run).
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn wait_for(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() || r.status().is_client_error() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up");
}

/// Requests/s, p99 latency in ms, and non-2xx answers of one wrk run.
fn wrk(url: &str, script: &Path, duration: &str) -> (f64, f64, u64) {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{duration}"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{text}");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| {
            let v = v.trim();
            let (num, mult) = if let Some(n) = v.strip_suffix("us") {
                (n, 0.001)
            } else if let Some(n) = v.strip_suffix("ms") {
                (n, 1.0)
            } else if let Some(n) = v.strip_suffix('s') {
                (n, 1000.0)
            } else {
                (v, 1.0)
            };
            num.parse::<f64>().unwrap_or(f64::NAN) * mult
        })
        .unwrap_or(f64::NAN);
    let errors = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (rps, p99, errors)
}

fn record(factory: &Keystore, quantity: u64, lot: &str) -> BatchStatement {
    BatchStatement {
        v: VERSION,
        party: factory.party.clone(),
        key: factory.key_id.clone(),
        time: Timestamp::now(),
        gtin: Gtin::parse(&suyuan::app::demo::demo_gtin()).expect("gtin"),
        product: "婴儿配方奶粉 1段 900g / Infant formula stage 1, 900 g".into(),
        lot: Lot::parse(lot).expect("lot"),
        quantity,
        produced: Date::parse("2026-10-15").expect("date"),
        expires: Some(Date::parse("2028-10-14").expect("date")),
        line: Some("2号线 / Line 2".into()),
        serial_prefix: None,
        inputs: vec![Input {
            material: "生牛乳 raw cow milk".into(),
            supplier: "呼伦贝尔三号牧场 Hulunbuir Pasture No. 3".into(),
            supplier_lot: "HLBR3-20261013".into(),
            origin: "内蒙古呼伦贝尔 Hulunbuir, Inner Mongolia, CN".into(),
        }],
        steps: vec![Step {
            name: "浓缩与喷雾干燥 evaporation and spray drying".into(),
            time: None,
            place: None,
        }],
        certificates: vec![],
    }
}

#[tokio::main]
async fn main() {
    let units: u64 = std::env::var("UNITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
        .max(10_000);
    let duration = std::env::var("DURATION").unwrap_or_else(|_| "10s".into());
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(tmp.path().join("serve.log")).expect("log");
    let server = Proc(
        Command::new(BIN)
            .args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&data)
            .env_remove("SUYUAN_DATABASE_URL")
            .env_remove("SUYUAN_BASE_URL")
            .env("SUYUAN_SCAN_RATE", "off")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn suyuan serve"),
    );
    wait_for(&format!("{base}/api/v1/health")).await;

    // A batch of `units`, shipped to the shop and received there.
    let keys = data.join("keys");
    let token = |p: &str| {
        std::fs::read_to_string(keys.join(format!("{p}.token")))
            .expect("demo token")
            .trim()
            .to_owned()
    };
    let factory = Keystore::load(&keys.join("hengshan-dairy.json")).expect("factory keystore");
    let shop = Keystore::load(&keys.join("greenleaf-mart.json")).expect("shop keystore");
    let fc = Client::new(&base, Some(token("hengshan-dairy")));
    let sc = Client::new(&base, Some(token("greenleaf-mart")));
    stock_shop(&fc, &sc, &factory, &shop, units, LOT).await;
    // The units sold during the run (APPENDS_PER_S) come from a lot of their
    // own: the scanned lot's custody does not change.
    let sold_batch = stock_shop(&fc, &sc, &factory, &shop, units, "BENCH2").await;

    // Every unit's signed label path, for wrk.
    let script = tmp.path().join("scan.lua");
    let mut lua = std::fs::File::create(&script).expect("lua");
    writeln!(lua, "local paths = {{").expect("write");
    for i in 0..units {
        let url = suyuan::app::demo::label_url("", LOT, i, false).expect("label");
        writeln!(lua, "  \"{url}\",").expect("write");
    }
    writeln!(
        lua,
        "}}\nmath.randomseed(os.time())\nwrk.headers[\"Accept-Language\"] = \"zh-CN,zh;q=0.9\"\n\
         request = function()\n  return wrk.format(\"GET\", paths[math.random(#paths)])\nend"
    )
    .expect("write");
    drop(lua);

    // One page saved for nginx, checked to be a genuine verdict.
    let sample = suyuan::app::demo::label_url(&base, LOT, 1, false).expect("label");
    let page = reqwest::Client::new()
        .get(&sample)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .expect("GET page")
        .text()
        .await
        .expect("page");
    assert!(page.contains("data-verdict=\"genuine\""), "{page}");
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("index.html"), &page).expect("page");
    let nport = free_port();
    let t = tmp.path().display();
    let conf = tmp.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "user root;\nworker_processes 2;\ndaemon off;\npid {t}/nginx.pid;\nerror_log {t}/nginx-error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {t}/cb;\n  proxy_temp_path {t}/px;\n\
               fastcgi_temp_path {t}/fc;\n  uwsgi_temp_path {t}/uw;\n  scgi_temp_path {t}/sc;\n\
               server {{\n    listen 127.0.0.1:{nport};\n    root {www};\n    default_type text/html;\n\
                 location / {{ try_files /index.html =404; }}\n  }}\n}}\n",
            www = www.display()
        ),
    )
    .expect("nginx.conf");
    let _nginx = Proc(
        Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run nginx (apt-get install nginx)"),
    );
    let nbase = format!("http://127.0.0.1:{nport}");
    wait_for(&format!("{nbase}/")).await;

    // Warm up: scan every unit once (16 at a time), so the verified-label and
    // unit-view caches hold what a server that has been running holds; then a
    // short wrk run to settle connections; then measure.
    let mut warm = tokio::task::JoinSet::new();
    for k in 0..16u64 {
        let base = base.clone();
        warm.spawn(async move {
            let http = reqwest::Client::new();
            for i in (k..units).step_by(16) {
                let url = suyuan::app::demo::label_url(&base, LOT, i, false).expect("label");
                let r = http.get(&url).send().await.expect("warm-up scan");
                assert!(r.status().is_success(), "warm-up {url}: {}", r.status());
            }
        });
    }
    while let Some(done) = warm.join_next().await {
        done.expect("warm-up task");
    }
    let _ = wrk(&base, &script, "2s");
    // With APPENDS_PER_S set, the shop also sells units (one signed event
    // each, from the last unit down) while the scans run: every append ends
    // the cached unit views.
    let append_rate: f64 = std::env::var("APPENDS_PER_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sales = (append_rate > 0.0).then(|| {
        let stop = stop.clone();
        let sc = Client::new(&base, Some(token("greenleaf-mart")));
        tokio::spawn(async move {
            let mut ms = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / append_rate));
            for unit in (0..units).rev() {
                tick.tick().await;
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let one = vec![UnitRange {
                    batch: sold_batch,
                    first: unit,
                    last: unit,
                }];
                let sale = draft_event(&shop, EventType::RetailSelling, one);
                let t = Instant::now();
                if let Err(e) = sc.submit_event(&shop, sale).await {
                    return Err(format!("sale of unit {unit}: {e}"));
                }
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok(ms)
        })
    });
    let cpu_before = cpu_seconds(server.0.id());
    let (rps, p99, errors) = wrk(&base, &script, &duration);
    let cpu = cpu_seconds(server.0.id()) - cpu_before;
    if let Some(sales) = sales {
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut ms = match sales.await.expect("sales task") {
            Ok(ms) => ms,
            Err(e) => {
                let log = std::fs::read_to_string(tmp.path().join("serve.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!("{e}\nserver log:\n{}", tail.join("\n"));
            }
        };
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q) as usize];
        eprintln!(
            "appends={} append_p50_ms={:.2} append_p99_ms={:.2} (a sale's round trip, \
             with the client's read of the batch head)",
            ms.len(),
            at(0.5),
            at(0.99)
        );
    }
    let rss_mb = rss_kb(server.0.id()) as f64 / 1024.0;
    let (nginx_rps, nginx_p99, _) = wrk(&nbase, &script, &duration);
    let scans = count_scans(&data.join("suyuan.db")).await;
    eprintln!(
        "units={units} page_bytes={} non_2xx={errors} nginx_p99_ms={nginx_p99:.2} scans_logged={scans} \
         server_cpu_us_per_scan={:.1} server_rss_mb={rss_mb:.0}",
        page.len(),
        cpu * 1e6 / (rps * seconds(&duration)),
    );
    println!(
        "scan rps={rps:.0} p99_ms={p99:.2} nginx_rps={nginx_rps:.0} ratio={:.3}",
        rps / nginx_rps
    );
}

/// Mints a lot of `units`, ships it to the shop and receives it there.
async fn stock_shop(
    fc: &Client,
    sc: &Client,
    factory: &Keystore,
    shop: &Keystore,
    units: u64,
    lot: &str,
) -> suyuan::domain::statement::BatchId {
    let (stmt, batch) =
        sign::sign(Kind::Batch, &record(factory, units, lot), &factory.key).expect("sign");
    fc.submit(Kind::Batch, &stmt).await.expect("mint");
    let batch = suyuan::domain::statement::BatchId::parse(&batch).expect("id");
    let all = vec![UnitRange {
        batch,
        first: 0,
        last: units - 1,
    }];
    let mut ship = draft_event(factory, EventType::Shipping, all.clone());
    ship.to = Some(shop.party.clone());
    ship.asn = Some(format!("ASN-{lot}"));
    let shipped = fc.submit_event(factory, ship).await.expect("ship");
    let mut recv = draft_event(shop, EventType::Receiving, all);
    recv.shipment = Some(
        suyuan::domain::statement::BatchId::parse(shipped["id"].as_str().expect("id")).expect("id"),
    );
    sc.submit_event(shop, recv).await.expect("receive");
    batch
}

/// CPU time (user and system) a process has used so far, from /proc; 0 where
/// there is no /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which ends at the last ')': utime and
    // stime are the 12th and 13th, in clock ticks of 1/100 s on Linux.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    if f.len() < 13 {
        return 0.0;
    }
    (f[11] + f[12]) / 100.0
}

/// Resident memory of a process in KiB, from /proc; 0 where there is none.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Seconds in a wrk duration such as `10s`, `2m` or `1h`.
fn seconds(duration: &str) -> f64 {
    let d = duration.trim();
    let (n, scale) = match d.chars().last() {
        Some('s') => (&d[..d.len() - 1], 1.0),
        Some('m') => (&d[..d.len() - 1], 60.0),
        Some('h') => (&d[..d.len() - 1], 3600.0),
        _ => (d, 1.0),
    };
    n.parse::<f64>().unwrap_or(f64::NAN) * scale
}

async fn count_scans(db: &Path) -> i64 {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", db.display());
    match sqlx::SqliteConnection::connect(&url).await {
        Ok(mut c) => {
            // The scans still in the journal count too.
            if suyuan::store::sqlite::attach_scan_journal(&mut c)
                .await
                .is_err()
            {
                return -1;
            }
            sqlx::query_scalar("SELECT COUNT(*) FROM scans")
                .fetch_one(&mut c)
                .await
                .unwrap_or(-1)
        }
        Err(_) => -1,
    }
}
