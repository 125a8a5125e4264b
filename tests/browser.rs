//! A real phone-sized browser on the scan pages (issue 5): Debian's headless
//! chromium driven over the W3C WebDriver protocol (plain JSON over HTTP with
//! reqwest, no extra crate). It starts `suyuan serve --demo`, opens the demo's
//! genuine, recalled, tampered and unknown URLs at 390×844, checks the verdict
//! is visible without scrolling and nothing overflows sideways, submits the
//! feedback form and finds the feedback in the factory's API. It saves a
//! screenshot of the genuine page to `target/scan-genuine.png`.
//!
//! Skipped (passing) when chromium or chromedriver is not installed.

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_suyuan");

mod common;
use common::{free_port, start_browser, wait_for, which, Proc};

const LAYOUT: &str = "const v = document.querySelector('[data-verdict]'); \
    const r = v.getBoundingClientRect(); \
    return {verdict: v.dataset.verdict, top: r.top, bottom: r.bottom, \
    innerHeight: window.innerHeight, innerWidth: window.innerWidth, \
    scrollWidth: document.documentElement.scrollWidth};";

#[tokio::test]
async fn phone_browser_sees_the_verdict_and_sends_feedback() {
    let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        println!("skipping: chromium not installed");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(tmp.path().join("serve.log")).expect("log");
    let _server = Proc(
        Command::new(BIN)
            .args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&data)
            .env_remove("SUYUAN_DATABASE_URL")
            .env_remove("SUYUAN_BASE_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn suyuan serve"),
    );
    assert!(
        wait_for(&format!("{base}/api/v1/health")).await,
        "server did not start: {}",
        std::fs::read_to_string(tmp.path().join("serve.log")).unwrap_or_default()
    );
    let info = suyuan::app::demo::read_info(&data).expect("demo.json");

    let (_driver, d) = start_browser(
        &chromedriver,
        &chromium,
        &tmp.path().join("profile"),
        &["--lang=zh-CN"],
        json!({
            "prefs": {"intl.accept_languages": "zh-CN,zh"},
            "mobileEmulation": {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0}},
        }),
    )
    .await;
    let http = reqwest::Client::new();

    for (url, want) in [
        (&info.sold, "genuine"),
        (&info.recalled, "recalled"),
        (&info.tampered, "unknown"),
        (&info.unknown, "unknown"),
    ] {
        d.goto(url).await;
        let l = d.js(LAYOUT, json!([])).await;
        assert_eq!(l["verdict"], want, "{url}: {l}");
        assert_eq!(l["innerWidth"], 390, "{l}");
        let bottom = l["bottom"].as_f64().unwrap();
        let height = l["innerHeight"].as_f64().unwrap();
        assert!(
            bottom <= height && l["top"].as_f64().unwrap() >= 0.0,
            "{want}: verdict below the fold: {l}"
        );
        assert!(
            l["scrollWidth"].as_f64().unwrap() <= l["innerWidth"].as_f64().unwrap(),
            "{want}: horizontal overflow: {l}"
        );
        if want == "genuine" {
            let shot = d.call(reqwest::Method::GET, "/screenshot", None).await;
            let png = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                shot.as_str().expect("screenshot"),
            )
            .expect("base64 PNG");
            // Into the test's own temporary directory: a clone built with
            // CARGO_TARGET_DIR elsewhere has no ./target to write to.
            let out = tmp.path().join("scan-genuine.png");
            std::fs::write(&out, &png).expect("write screenshot");
            assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        }
    }

    // The feedback form, as a person fills it in.
    d.goto(&info.sold).await;
    d.click("#feedback input[name=rating][value='4']").await;
    d.type_into(
        "#feedback textarea[name=comment]",
        "browser test: 奶粉结块 <b>lumpy</b>",
    )
    .await;
    d.click("#feedback button[type=submit]").await;
    // The click starts a navigation; wait for the answer page.
    let mut after = Value::Null;
    for _ in 0..50 {
        after = d
            .js(
                "const h = document.querySelector('[data-status]'); \
                 return {status: h ? h.dataset.status : null, text: document.body.innerText};",
                json!([]),
            )
            .await;
        if !after["status"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(after["status"], "200", "{after}");
    assert!(after["text"].as_str().unwrap().contains("lumpy"), "{after}");

    let token = std::fs::read_to_string(data.join("keys/hengshan-dairy.token"))
        .expect("factory token")
        .trim()
        .to_owned();
    let v: Value = http
        .get(format!("{base}/api/v1/feedback?party=hengshan-dairy"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("feedback API")
        .json()
        .await
        .expect("JSON");
    let f = &v["feedback"][0];
    assert_eq!(f["rating"], 4, "{v}");
    assert_eq!(
        f["comment"], "browser test: 奶粉结块 &lt;b&gt;lumpy&lt;/b&gt;",
        "{v}"
    );
    let _ = http.delete(&d.session).send().await;
}
