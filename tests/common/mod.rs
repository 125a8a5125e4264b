//! Helpers shared by the test binaries that drive the real `suyuan` binary
//! and a headless browser: free ports, child processes, a small W3C WebDriver client.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A child process killed when the test ends, however it ends.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn wait_for(url: &str) -> bool {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// One WebDriver session.
pub struct Driver {
    /// HTTP client speaking to chromedriver.
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    pub session: String,
}

impl Driver {
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = r.status();
        let v: Value = r.json().await.expect("WebDriver JSON");
        assert!(status.is_success(), "{path}: {status} {v}");
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    pub async fn js_async(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    pub async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// Clicks an element once it can take a click: on a loaded machine a
    /// control a script is about to show can still be hidden for a moment.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        let url = format!("{}/element/{id}/click", self.session);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self
                .http
                .post(&url)
                .json(&json!({}))
                .send()
                .await
                .unwrap_or_else(|e| panic!("click {css}: {e}"));
            let status = r.status();
            let v: Value = r.json().await.expect("WebDriver JSON");
            if status.is_success() {
                return;
            }
            let waiting = v["value"]["error"] == "element not interactable";
            assert!(
                waiting && Instant::now() < deadline,
                "click {css}: {status} {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Polls a script until it returns something truthy; panics with `what` and the page state.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.js(script, json!([])).await;
            let truthy =
                !matches!(v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let page = self
                    .js(
                        "return {text: document.body.innerText, \
                         feedback: (document.getElementById('feedback')||{}).textContent};",
                        json!([]),
                    )
                    .await;
                panic!("timed out waiting for {what}: {page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Starts chromedriver and a headless Chromium session; `args` and `options`
/// add to the flags and `goog:chromeOptions` every test uses. The processes
/// end with the returned guard.
pub async fn start_browser(
    chromedriver: &Path,
    chromium: &Path,
    profile: &Path,
    args: &[&str],
    options: Value,
) -> (Proc, Driver) {
    let dport = free_port();
    let driver = Proc(
        Command::new(chromedriver)
            .arg(format!("--port={dport}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver"),
    );
    let wd = format!("http://127.0.0.1:{dport}");
    assert!(
        wait_for(&format!("{wd}/status")).await,
        "chromedriver did not start"
    );
    let mut flags: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--no-first-run",
    ]
    .iter()
    .chain(args)
    .map(|s| s.to_string())
    .collect();
    flags.push(format!("--user-data-dir={}", profile.display()));
    let mut chrome = json!({"binary": chromium, "args": flags});
    if let (Some(c), Some(extra)) = (chrome.as_object_mut(), options.as_object()) {
        c.extend(extra.clone());
    }
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": chrome,
    }}});
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{wd}/session"))
        .json(&caps)
        .send()
        .await
        .expect("new session")
        .json()
        .await
        .expect("session JSON");
    let id = r["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {r}"))
        .to_owned();
    let d = Driver {
        http,
        session: format!("{wd}/session/{id}"),
    };
    (driver, d)
}
