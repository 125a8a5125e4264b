//! The consumer scan page and GS1 Digital Link resolver.
//!
//! `GET {base}/01/{gtin}/10/{lot}/21/{serial}?s={sig}` (and `/00/{sscc}`)
//! answers, by `Accept` and `linkType`: the HTML page (verdict first), the
//! same facts as JSON, or an RFC 9264 linkset. HEAD and OPTIONS are answered,
//! GET is open to CORS, malformed labels get a readable 400 page. A GET is a
//! consumer scan: it is logged (salted daily hash of a coarse fingerprint,
//! never an IP) and the log feeds the suspect verdict. `POST` on the same URL
//! takes feedback or a return/exchange request from the page's own form.

use askama::Template;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use tower_http::compression::CompressionLayer;

use super::auth::Auth;
use super::error::ApiError;
use super::AppState;
use crate::app::ledger::{ScanReport, Scanner};
use crate::domain::feedback::{self, Category, FeedbackKind, NewFeedback, RawFeedback};
use crate::domain::party::Slug;
use crate::domain::scanlog::{self, day_of};
use crate::domain::statement::EventType;
use crate::domain::time::Timestamp;
use crate::domain::verdict::Verdict;
use crate::formats::gs1;

mod frozen;
mod strings;

use super::ratelimit::{Rate, RateLimiter};
use frozen::{Frozen, Markers};
use strings::{Lang, Strings};

/// Default per-address limit on scan pages: 10 requests/s, bursts of 40.
/// Generous because many phones share one carrier-grade NAT address.
pub const DEFAULT_RATE: Rate = Rate {
    per_sec: 10.0,
    burst: 40.0,
};
/// Per-address limit on feedback posts: one every 5 s, bursts of 12.
pub const FEEDBACK_RATE: Rate = Rate {
    per_sec: 0.2,
    burst: 12.0,
};
/// Feedback per unit per day from one device, and from everyone.
pub const FEEDBACK_PER_DEVICE_DAY: i64 = 5;
/// See [`FEEDBACK_PER_DEVICE_DAY`].
pub const FEEDBACK_PER_UNIT_DAY: i64 = 100;
/// How long a feedback form stays valid, in seconds.
pub const FORM_TTL: i64 = 6 * 3600;
/// Largest feedback form body, in bytes.
pub const FORM_BODY: usize = 16 * 1024;

/// Rendered pages remembered: at ~5 KB each, at most ~80 MB.
pub const PAGE_CACHE: usize = 16_384;

/// Environment variable with the scan rate limit: `RATE[,BURST]` per second per
/// client address, or `off`.
pub const RATE_ENV: &str = "SUYUAN_SCAN_RATE";

/// Shared by the scan handlers of one process.
#[derive(Debug)]
struct ScanState {
    limiter: Option<RateLimiter>,
    feedback_limiter: RateLimiter,
    /// (unix day, salt) of the current day, read once per day from the store.
    salt: RwLock<Option<(i64, String)>>,
    /// Key of the form tokens, shared by all processes through the store.
    form_key: tokio::sync::OnceCell<Vec<u8>>,
    /// Rendered pages with holes, by everything a page shows but this scan's
    /// count and token; see [`frozen`].
    pages: crate::app::cache::Shared<PageKey, Arc<Frozen>>,
    /// Where the holes go in a rendered page.
    markers: Markers,
}

#[derive(Debug, Clone)]
struct ScanApp {
    app: AppState,
    st: Arc<ScanState>,
}

fn rate_from_env() -> Option<Rate> {
    match std::env::var(RATE_ENV) {
        Ok(v) if v.trim().eq_ignore_ascii_case("off") => None,
        Ok(v) => match Rate::parse(&v) {
            Some(r) => Some(r),
            None => {
                tracing::warn!(value = %v, "{RATE_ENV} is not RATE[,BURST] or off; using the default");
                Some(DEFAULT_RATE)
            }
        },
        Err(_) => Some(DEFAULT_RATE),
    }
}

/// The scan pages as a service, for the application router's fallback: any
/// path not routed elsewhere is read as a Digital Link.
pub fn router(app: AppState) -> Router {
    let state = ScanApp {
        app,
        st: Arc::new(ScanState {
            limiter: rate_from_env().map(RateLimiter::new),
            feedback_limiter: RateLimiter::new(FEEDBACK_RATE),
            salt: RwLock::new(None),
            form_key: tokio::sync::OnceCell::new(),
            pages: crate::app::cache::Shared::new(PAGE_CACHE),
            markers: Markers::new(),
        }),
    };
    Router::new()
        .route("/favicon.ico", get(StatusCode::NOT_FOUND))
        .route("/robots.txt", get("User-agent: *\nDisallow: /\n"))
        .fallback(dispatch)
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(CompressionLayer::new())
        .with_state(state)
}

/// `GET /api/v1/feedback?party=…`: feedback for a party, with its token.
pub fn api_router() -> Router<AppState> {
    Router::new().route("/api/v1/feedback", get(list_feedback))
}

fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Query parameters the resolver reads; all others are ignored.
#[derive(Debug, Default)]
struct Params {
    lang: Option<String>,
    link_type: Option<String>,
}

fn params(query: Option<&str>) -> Params {
    let mut p = Params::default();
    // Bounded: a huge query string costs at most this many pairs.
    for pair in query.unwrap_or("").split('&').take(64) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "lang" => p.lang = Some(v),
            "linkType" => p.link_type = Some(v),
            _ => {}
        }
    }
    p
}

async fn rate_limit(State(st): State<ScanApp>, req: Request, next: Next) -> Response {
    if let Some(l) = &st.st.limiter {
        let ip = client_ip(&req).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if !l.check(ip) {
            let lang = Lang::choose(params(req.uri().query()).lang.as_deref(), req.headers());
            return too_many(lang.strings(), l.retry_after().as_secs());
        }
    }
    next.run(req).await
}

fn too_many(s: &'static Strings, retry: u64) -> Response {
    let mut r = message(
        StatusCode::TOO_MANY_REQUESTS,
        s,
        s.rate_title,
        s.rate_text,
        None,
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&retry.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[derive(Template)]
#[template(path = "scan_message.html")]
struct MessagePage<'a> {
    s: &'static Strings,
    title: &'a str,
    text: &'a str,
    class: &'static str,
    status: u16,
    detail_title: &'a str,
    detail: Option<String>,
    back: Option<String>,
}

/// A short page: errors, 429, thanks.
fn message(
    status: StatusCode,
    s: &'static Strings,
    title: &str,
    text: &str,
    detail: Option<String>,
    back: Option<String>,
) -> Response {
    let page = MessagePage {
        s,
        title,
        text,
        class: if status.is_success() {
            "genuine"
        } else {
            "unknown"
        },
        status: status.as_u16(),
        detail_title: s.bad_label_detail,
        detail,
        back,
    };
    match page.render() {
        Ok(html) => (status, html_headers(), html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "message page did not render");
            (status, title.to_owned()).into_response()
        }
    }
}

fn html_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Language, Accept-Encoding"),
        ),
    ]
}

fn cors(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Link"),
    );
}

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Page,
    Json,
    Linkset,
    RecallStatus,
}

fn answer(headers: &HeaderMap, p: &Params) -> Answer {
    match p.link_type.as_deref() {
        Some("all") | Some("linkset") => return Answer::Linkset,
        Some("gs1:traceability") | Some("https://gs1.org/voc/traceability") => return Answer::Json,
        Some("gs1:recallStatus") | Some("https://gs1.org/voc/recallStatus") => {
            return Answer::RecallStatus
        }
        Some("gs1:pip") | Some("https://gs1.org/voc/pip") => return Answer::Page,
        _ => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/linkset+json") {
        Answer::Linkset
    } else if accept.contains("application/json") && !accept.contains("text/html") {
        Answer::Json
    } else {
        Answer::Page
    }
}

async fn dispatch(State(st): State<ScanApp>, req: Request) -> Response {
    match *req.method() {
        Method::GET | Method::HEAD => scan(st, req).await,
        Method::POST => post_feedback(st, req).await,
        Method::OPTIONS => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Accept, Accept-Language"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
            cors(&mut r);
            r
        }
        _ => {
            let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS, POST"),
            );
            r
        }
    }
}

fn bad_label(s: &'static Strings, e: &gs1::Gs1Error, json: bool) -> Response {
    let msg = e.to_string();
    let mut r = if json {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "bad_label", "message": msg})),
        )
            .into_response()
    } else {
        message(
            StatusCode::BAD_REQUEST,
            s,
            s.bad_label_title,
            s.bad_label_text,
            Some(msg),
            None,
        )
    };
    cors(&mut r);
    r
}

fn server_error(s: &'static Strings, json: bool, e: ApiError) -> Response {
    if json {
        return e.into_response();
    }
    tracing::error!(error = %e, "scan failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        s,
        s.server_error,
        s.server_error,
        None,
        None,
    )
}

impl ScanState {
    /// Today's salt, from memory, or from the store once a day.
    async fn salt(&self, app: &AppState, day: i64) -> Result<String, ApiError> {
        if let Some((d, s)) = self.salt.read().ok().and_then(|g| g.clone()) {
            if d == day {
                return Ok(s);
            }
        }
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let salt = app.ledger.store.day_salt(day, &candidate).await?;
        if let Ok(mut g) = self.salt.write() {
            *g = Some((day, salt.clone()));
        }
        Ok(salt)
    }

    async fn scanner(
        &self,
        app: &AppState,
        ip: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> Result<Scanner, ApiError> {
        let now = Timestamp::now().unix();
        let day = day_of(now);
        let salt = self.salt(app, day).await?;
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let fp = scanlog::coarse_fingerprint(ip, agent);
        Ok(Scanner {
            time: now,
            day,
            hash: scanlog::scanner_hash(&salt, &fp),
        })
    }

    async fn form_key(&self, app: &AppState) -> Result<&[u8], ApiError> {
        let key = self
            .form_key
            .get_or_try_init(|| async {
                let candidate = hex::encode(rand::random::<[u8; 32]>());
                let stored = app
                    .ledger
                    .store
                    .server_secret("feedback-form", &candidate)
                    .await?;
                Ok::<_, ApiError>(stored.into_bytes())
            })
            .await?;
        Ok(key)
    }
}

/// Form tokens: `{expiry}.{mac}` with the MAC over the unit path and expiry,
/// so a token is good for one unit's form, for a while, from our page only.
mod form_token {
    use super::*;

    fn mac(key: &[u8], unit: &str, expiry: i64) -> Option<Hmac<Sha256>> {
        let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
        m.update(b"suyuan/feedback-form\n");
        m.update(unit.as_bytes());
        m.update(b"\n");
        m.update(expiry.to_string().as_bytes());
        Some(m)
    }

    /// A token for `unit` valid until `now + FORM_TTL`.
    pub fn issue(key: &[u8], unit: &str, now: i64) -> String {
        let expiry = now + FORM_TTL;
        match mac(key, unit, expiry) {
            Some(m) => format!(
                "{expiry}.{}",
                crate::formats::sign::b64(&m.finalize().into_bytes())
            ),
            None => String::new(),
        }
    }

    /// Whether `token` was issued for `unit` and has not expired at `now`.
    pub fn check(key: &[u8], unit: &str, token: &str, now: i64) -> bool {
        let Some((exp, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(expiry) = exp.parse::<i64>() else {
            return false;
        };
        if expiry < now || expiry > now + FORM_TTL + 60 {
            return false;
        }
        let Ok(tag) =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, tag)
        else {
            return false;
        };
        mac(key, unit, expiry).is_some_and(|m| m.verify_slice(&tag).is_ok())
    }
}

/// The scheme and host the client used, for absolute links.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// Characters escaped in a signature put back into a link: base64url needs none,
/// but a scanned `s` can hold anything.
const SIG_SET: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// `/{path}?s={sig}` of a label: the URL to link to, with only the signature kept.
fn label_href(path: &str, sig: Option<&str>) -> String {
    match sig {
        Some(s) => format!(
            "/{path}?s={}",
            percent_encoding::utf8_percent_encode(s, SIG_SET)
        ),
        None => format!("/{path}"),
    }
}

fn with_param(href: &str, param: &str) -> String {
    let sep = if href.contains('?') { '&' } else { '?' };
    format!("{href}{sep}{param}")
}

async fn scan(st: ScanApp, req: Request) -> Response {
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let p = params(uri.query());
    let lang = Lang::choose(p.lang.as_deref(), &headers);
    let s = lang.strings();
    let want = answer(&headers, &p);
    let json = want != Answer::Page;
    let scanned = match gs1::parse_path(uri.path(), uri.query()) {
        Ok(sc) => sc,
        Err(e) => return bad_label(s, &e, json),
    };
    let today = Timestamp::now().date();
    let href = label_href(&scanned.key.canonical_path(), scanned.sig.as_deref());
    if want == Answer::Linkset {
        let mut r = linkset(&origin(&headers), &href, &scanned.key.canonical_path());
        cors(&mut r);
        return r;
    }
    // HEAD is what link checkers send: answered, but not a consumer scan.
    let scanner = if req.method() == Method::GET {
        match st.st.scanner(&st.app, client_ip(&req), &headers).await {
            Ok(sc) => Some(sc),
            Err(e) => return server_error(s, json, e),
        }
    } else {
        None
    };
    let report = match st
        .app
        .ledger
        .scan_logged(
            &scanned.key,
            scanned.sig.as_deref(),
            today,
            scanner.as_ref(),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return server_error(s, json, e.into()),
    };
    let mut r = match want {
        Answer::Json => {
            let mut r = Json(&report).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Answer::RecallStatus => Json(recall_status(&report)).into_response(),
        _ => {
            let key = match st.st.form_key(&st.app).await {
                Ok(k) => k,
                Err(e) => return server_error(s, false, e),
            };
            let token = form_token::issue(key, &report.path, Timestamp::now().unix());
            match frozen_page(&st, &report, s, &href).await {
                Ok(page) => {
                    let html = page.fill(&scans_line(&report, s).unwrap_or_default(), &token);
                    let mut r = (html_headers(), html).into_response();
                    let link = format!(
                        "<{}>; rel=\"linkset\"; type=\"application/linkset+json\"",
                        with_param(&href, "linkType=all")
                    );
                    if let Ok(v) = HeaderValue::from_str(&link) {
                        r.headers_mut().insert(header::LINK, v);
                    }
                    r
                }
                Err(e) => return server_error(s, false, e),
            }
        }
    };
    cors(&mut r);
    r
}

/// What a rendered page depends on besides this scan's count and token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PageKey {
    view: u64,
    lang: &'static str,
    verdict: Verdict,
    reason: Option<crate::domain::verdict::SuspectReason>,
    scans: bool,
    returnable: bool,
    href: String,
}

/// The report's page with holes, from the cache when it was rendered before.
async fn frozen_page(
    st: &ScanApp,
    report: &ScanReport,
    s: &'static Strings,
    href: &str,
) -> Result<Arc<Frozen>, ApiError> {
    let key = PageKey {
        view: report.view,
        lang: s.code,
        verdict: report.verdict,
        reason: report.reason,
        scans: report.scans.is_some(),
        returnable: returnable(report),
        href: href.to_owned(),
    };
    // Only pages of labels that verify are kept: view 0 is "no such unit",
    // and a forged signature makes a new href each time, so keeping either
    // would let made-up labels push real pages out of the cache.
    let keep = report.view != 0 && report.signature_ok;
    if keep {
        if let Some(p) = st.st.pages.get(&key) {
            return Ok(p);
        }
    }
    let parts = build_page_parts(&st.app, report, s).await;
    let m = &st.st.markers;
    let html = page_view(&parts, report, s, href, m.scans(), m.token())
        .render()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let page = Arc::new(Frozen::cut(&html, m));
    if keep {
        st.st.pages.insert(key, page.clone());
    }
    Ok(page)
}

/// "First verified on … · scanned N times", when the scan was logged.
fn scans_line(report: &ScanReport, s: &'static Strings) -> Option<String> {
    report.scans.as_ref().map(|sc| {
        let mut parts = Vec::new();
        if let Some(first) = sc.first_verified {
            parts.push(s.first_verified.replace("{date}", &s.time(first)));
        }
        parts.push(s.scanned_times.replace("{n}", &sc.count.to_string()));
        parts.join(" · ")
    })
}

/// Whether the page offers a return: a genuine label of a unit sold at retail.
fn returnable(report: &ScanReport) -> bool {
    report.signature_ok
        && report
            .holding
            .as_ref()
            .is_some_and(|h| h.disposition == crate::domain::custody::Disposition::RetailSold)
}

fn recall_status(report: &ScanReport) -> Value {
    let mut v = json!({
        "path": report.path,
        "verdict": report.verdict,
        "recalled": report.verdict == Verdict::Recalled,
    });
    if let Some(r) = &report.recall {
        v["reason"] = json!(r.reason);
        v["instructions"] = json!(r.instructions);
        v["time"] = json!(r.time);
    }
    v
}

/// An RFC 9264 linkset in the GS1 Digital Link resolver's vocabulary.
fn linkset(origin: &str, href: &str, path: &str) -> Response {
    let abs = |h: String| format!("{origin}{h}");
    let body = json!({
        "linkset": [{
            "anchor": format!("{origin}/{path}"),
            "https://gs1.org/voc/defaultLink": [{"href": abs(href.to_owned())}],
            "https://gs1.org/voc/pip": [{
                "href": abs(with_param(href, "linkType=gs1:pip")),
                "title": "Product information and verification / 产品信息与验证",
                "type": "text/html",
                "hreflang": ["zh", "en"],
            }],
            "https://gs1.org/voc/traceability": [{
                "href": abs(with_param(href, "linkType=gs1:traceability")),
                "title": "Custody history / 流通记录",
                "type": "application/json",
            }],
            "https://gs1.org/voc/recallStatus": [{
                "href": abs(with_param(href, "linkType=gs1:recallStatus")),
                "title": "Recall status / 召回状态",
                "type": "application/json",
            }],
        }]
    });
    let mut r = Json(body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/linkset+json"),
    );
    r
}

/// The product part of the page.
#[derive(Debug)]
struct ProductView {
    name: String,
    gtin: String,
    lot: String,
    serial: String,
    factory: String,
    produced: String,
    line: Option<String>,
    expires: Option<String>,
    /// material, supplier, supplier lot, origin
    inputs: Vec<(String, String, String, String)>,
    /// name, when and where
    steps: Vec<(String, String)>,
}

#[derive(Debug)]
struct HopView {
    what: &'static str,
    when: String,
    party: String,
    to: Option<String>,
    place: Option<String>,
    signed: String,
}

struct FormView {
    action: String,
    token: String,
}

#[derive(Template)]
#[template(path = "scan.html")]
struct ScanPage<'a> {
    s: &'static Strings,
    verdict: &'static str,
    mark: &'static str,
    headline: &'static str,
    advice: &'static str,
    scans_line: Option<String>,
    report_hint: bool,
    recall: Option<(String, String)>,
    product: Option<&'a ProductView>,
    hops: &'a [HopView],
    /// result, when and who, signature line, method and certificate hash
    inspections: &'a [(String, String, String, String)],
    sale: Option<&'a str>,
    form: Option<FormView>,
    returnable: bool,
    categories: Vec<(&'static str, &'static str)>,
    other_lang_href: String,
    linkset_href: String,
}

/// What a page shows that depends only on the ledger state read for the scan
/// and the language.
#[derive(Debug)]
struct PageParts {
    product: Option<ProductView>,
    hops: Vec<HopView>,
    /// result, when and who, signature line, method and certificate hash
    inspections: Vec<(String, String, String, String)>,
    sale: Option<String>,
}

async fn party_name(app: &AppState, slug: &Slug) -> String {
    match app.ledger.party(slug.as_str()).await {
        Ok(Some(p)) => p.name,
        _ => slug.to_string(),
    }
}

fn short_key(key: &str) -> &str {
    key.get(..8).unwrap_or(key)
}

async fn build_page_parts(app: &AppState, report: &ScanReport, s: &'static Strings) -> PageParts {
    let mut product = None;
    if let Some(b) = &report.batch {
        let r = &b.record;
        let serial = report
            .path
            .rsplit_once("/21/")
            .map(|(_, sr)| {
                percent_encoding::percent_decode_str(sr)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        product = Some(ProductView {
            name: r.product.clone(),
            gtin: r.gtin.to_string(),
            lot: r.lot.to_string(),
            serial,
            factory: party_name(app, &r.party).await,
            produced: s.date(r.produced),
            line: r.line.clone(),
            expires: r.expires.map(|e| s.date(e)),
            inputs: r
                .inputs
                .iter()
                .map(|i| {
                    (
                        i.material.clone(),
                        i.supplier.clone(),
                        i.supplier_lot.clone(),
                        i.origin.clone(),
                    )
                })
                .collect(),
            steps: r
                .steps
                .iter()
                .map(|st| {
                    let when = st.time.map(|t| s.time(t)).unwrap_or_default();
                    let at = match (&st.place, when.is_empty()) {
                        (Some(p), true) => p.clone(),
                        (Some(p), false) => format!("{when} · {p}"),
                        (None, _) => when,
                    };
                    (st.name.clone(), at)
                })
                .collect(),
        });
    }
    let mut hops = Vec::new();
    let mut inspections = Vec::new();
    let mut sale = None;
    for e in report.events.iter() {
        let who = party_name(app, &e.party).await;
        let signed = s
            .signed_by
            .replace("{party}", &who)
            .replace("{key}", short_key(&e.key));
        match e.event_type {
            EventType::Inspecting => {
                // Method and certificate hash were added later; older inspections lack them.
                let details: Vec<String> = [
                    (s.inspection_method, &e.method),
                    (s.inspection_certificate, &e.certificate_sha256),
                ]
                .into_iter()
                .filter_map(|(label, v)| v.as_ref().map(|v| format!("{label}: {v}")))
                .collect();
                inspections.push((
                    e.result.clone().unwrap_or_default(),
                    format!("{} · {who}", s.time(e.time)),
                    signed,
                    details.join(" · "),
                ));
                continue;
            }
            EventType::RetailSelling => {
                sale = Some(
                    s.sold_on
                        .replace("{date}", &s.time(e.time))
                        .replace("{place}", e.place.as_deref().unwrap_or(&who)),
                );
            }
            _ => {}
        }
        // A handoff names its receiver; packing names the case or pallet; a
        // container handoff names the containers the unit travelled in.
        let to = match (&e.to, &e.parent) {
            (Some(t), _) => Some(party_name(app, t).await),
            (None, Some(p)) => Some(format!("SSCC {p}")),
            (None, None) => None,
        };
        let to = match (to, e.containers.is_empty()) {
            (to, true) => to,
            (to, false) => {
                let boxes: Vec<String> = e.containers.iter().map(|c| format!("SSCC {c}")).collect();
                Some(match to {
                    Some(t) => format!("{t} ({})", boxes.join(", ")),
                    None => boxes.join(", "),
                })
            }
        };
        hops.push(HopView {
            what: s.event(e.event_type),
            when: s.time(e.time),
            party: who,
            to,
            place: e.place.clone(),
            signed,
        });
    }
    PageParts {
        product,
        hops,
        inspections,
        sale,
    }
}

fn page_view<'a>(
    parts: &'a PageParts,
    report: &ScanReport,
    s: &'static Strings,
    href: &str,
    scans_hole: &str,
    token: &str,
) -> ScanPage<'a> {
    let v = report.verdict;
    let mark = match v {
        Verdict::Genuine => "✓",
        Verdict::Unknown => "?",
        _ => "!",
    };
    let scans_line = report.scans.as_ref().map(|_| scans_hole.to_owned());
    let recall = report.recall.as_ref().map(|r| {
        (
            r.reason.clone().unwrap_or_default(),
            r.instructions.clone().unwrap_or_default(),
        )
    });
    let lang_param = format!("lang={}", s.code);
    ScanPage {
        s,
        verdict: v.as_str(),
        mark,
        headline: s.verdict(v),
        advice: s.advice(v, report.reason),
        scans_line,
        report_hint: matches!(v, Verdict::Unknown | Verdict::Suspect),
        recall,
        product: parts.product.as_ref(),
        hops: &parts.hops,
        inspections: &parts.inspections,
        sale: parts.sale.as_deref(),
        form: Some(FormView {
            action: with_param(href, &lang_param),
            token: token.to_owned(),
        }),
        returnable: returnable(report),
        categories: Category::ALL
            .iter()
            .map(|c| (c.as_str(), s.category(*c)))
            .collect(),
        other_lang_href: with_param(href, &format!("lang={}", s.other_code)),
        linkset_href: with_param(href, "linkType=all"),
    }
}

/// The feedback form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FeedbackForm {
    token: String,
    kind: Option<String>,
    rating: Option<String>,
    category: Option<String>,
    comment: Option<String>,
    contact: Option<String>,
}

/// Refuses a post that a browser says came from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if site == "cross-site" || site == "same-site" {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // Compare hosts only: a TLS-terminating proxy changes the scheme.
        Some(o) if o != "null" => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            o.split_once("://").map(|(_, h)| h) != Some(host)
        }
        _ => false,
    }
}

async fn post_feedback(st: ScanApp, req: Request) -> Response {
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let p = params(uri.query());
    let s = Lang::choose(p.lang.as_deref(), &headers).strings();
    let ip = client_ip(&req);
    let refuse = |status: StatusCode, text: &str, back: Option<String>| {
        message(status, s, s.cannot_send, text, None, back)
    };
    if !st
        .st
        .feedback_limiter
        .check(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    {
        return too_many(s, st.st.feedback_limiter.retry_after().as_secs());
    }
    let scanned = match gs1::parse_path(uri.path(), uri.query()) {
        Ok(sc) => sc,
        Err(e) => return bad_label(s, &e, false),
    };
    let path = scanned.key.canonical_path();
    let back = with_param(
        &label_href(&path, scanned.sig.as_deref()),
        &format!("lang={}", s.code),
    );
    if req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| {
        v.to_str()
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .is_none_or(|n| n > FORM_BODY)
    }) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, s.too_large, Some(back));
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, FORM_BODY));
    let form = match Form::<FeedbackForm>::from_request(Request::from_parts(parts, body), &()).await
    {
        Ok(Form(f)) => f,
        Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, s.too_large, Some(back))
        }
        Err(rej) => {
            return message(
                StatusCode::BAD_REQUEST,
                s,
                s.cannot_send,
                s.form_expired,
                Some(rej.body_text()),
                Some(back),
            )
        }
    };
    let now = Timestamp::now().unix();
    let key = match st.st.form_key(&st.app).await {
        Ok(k) => k,
        Err(e) => return server_error(s, false, e),
    };
    if cross_site(&headers) || !form_token::check(key, &path, &form.token, now) {
        return refuse(StatusCode::FORBIDDEN, s.form_expired, Some(back));
    }
    let valid = match feedback::validate(&RawFeedback {
        kind: form.kind.as_deref(),
        rating: form.rating.as_deref(),
        category: form.category.as_deref(),
        comment: form.comment.as_deref(),
        contact: form.contact.as_deref(),
    }) {
        Ok(v) => v,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, s.feedback_error(&e), Some(back)),
    };
    let today = Timestamp::now().date();
    let report = match st
        .app
        .ledger
        .scan(&scanned.key, scanned.sig.as_deref(), today)
        .await
    {
        Ok(r) => r,
        Err(e) => return server_error(s, false, e.into()),
    };
    let custody: Vec<(EventType, Slug)> = report
        .events
        .iter()
        .map(|e| (e.event_type, e.party.clone()))
        .collect();
    let seller = custody
        .iter()
        .rev()
        .find(|(t, _)| *t == EventType::RetailSelling)
        .map(|(_, p)| p.clone());
    if valid.kind != FeedbackKind::Feedback && !(returnable(&report) && seller.is_some()) {
        return refuse(StatusCode::CONFLICT, s.not_returnable, Some(back));
    }
    let scanner = match st.st.scanner(&st.app, ip, &headers).await {
        Ok(sc) => sc,
        Err(e) => return server_error(s, false, e),
    };
    match st
        .app
        .ledger
        .store
        .feedback_count(&path, scanner.day, &scanner.hash)
        .await
    {
        Ok(crate::store::FeedbackToday { mine, all })
            if mine < FEEDBACK_PER_DEVICE_DAY && all < FEEDBACK_PER_UNIT_DAY => {}
        Ok(_) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                s.too_many_feedback,
                Some(back),
            )
        }
        Err(e) => return server_error(s, false, e.into()),
    }
    let recipients = match &report.batch {
        Some(b) => feedback::recipients(valid.kind, &b.record.party, &custody, seller.as_ref()),
        None => Vec::new(),
    };
    let fb = NewFeedback {
        unit: path,
        batch: report.batch.as_ref().map(|b| b.id.clone()),
        unit_index: report.unit_index,
        time: now,
        day: scanner.day,
        scanner: scanner.hash,
        kind: valid.kind,
        rating: valid.rating,
        category: valid.category,
        comment: feedback::escape_html(&valid.comment),
        contact: valid.contact.as_deref().map(feedback::escape_html),
        signature_ok: report.signature_ok,
    };
    if let Err(e) = st.app.ledger.store.add_feedback(&fb, &recipients).await {
        return server_error(s, false, e.into());
    }
    let text = if valid.kind == FeedbackKind::Feedback {
        s.thanks_feedback
    } else {
        s.thanks_request
    };
    // The echo is the consumer's own text, escaped by the template.
    let echo = (!valid.comment.is_empty()).then(|| valid.comment.clone());
    let page = MessagePage {
        s,
        title: s.thanks_title,
        text,
        class: "genuine",
        status: 200,
        detail_title: s.you_wrote,
        detail: echo,
        back: Some(back),
    };
    match page.render() {
        Ok(html) => (html_headers(), html).into_response(),
        Err(e) => server_error(s, false, ApiError::Internal(e.to_string())),
    }
}

/// `?party=` and an optional `limit` (default 100, at most 1000).
#[derive(Debug, Deserialize)]
struct FeedbackQuery {
    party: String,
    limit: Option<i64>,
}

async fn list_feedback(
    State(s): State<AppState>,
    auth: Auth,
    q: Result<Query<FeedbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest("malformed", e.body_text()))?;
    let party = Slug::parse(&q.party).map_err(|e| ApiError::BadRequest("malformed", e))?;
    auth.require_party_or_admin(&party)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items = s.ledger.store.feedback_for_party(&party, limit).await?;
    Ok(Json(json!({"party": party, "feedback": items})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens_are_bound_to_unit_and_time() {
        let key = b"k".repeat(32);
        let unit = "01/06901234567892/10/L1/21/0";
        let t = form_token::issue(&key, unit, 1_000_000);
        assert!(form_token::check(&key, unit, &t, 1_000_000));
        assert!(form_token::check(&key, unit, &t, 1_000_000 + FORM_TTL));
        assert!(!form_token::check(&key, unit, &t, 1_000_000 + FORM_TTL + 1));
        assert!(!form_token::check(
            &key,
            "01/06901234567892/10/L1/21/1",
            &t,
            1_000_000
        ));
        assert!(!form_token::check(b"other", unit, &t, 1_000_000));
        // An expiry moved forward breaks the MAC.
        let (_, tag) = t.split_once('.').unwrap();
        let forged = format!("{}.{tag}", 1_000_000 + FORM_TTL + 10);
        assert!(!form_token::check(&key, unit, &forged, 1_000_000));
        for junk in ["", ".", "x.y", "1.", "99999999999999999999.abc"] {
            assert!(!form_token::check(&key, unit, junk, 1_000_000), "{junk}");
        }
    }

    #[test]
    fn answer_by_accept_and_link_type() {
        let mut h = HeaderMap::new();
        let none = Params::default();
        assert_eq!(answer(&h, &none), Answer::Page);
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(answer(&h, &none), Answer::Json);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/linkset+json"),
        );
        assert_eq!(answer(&h, &none), Answer::Linkset);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/json;q=0.9"),
        );
        assert_eq!(answer(&h, &none), Answer::Page);
        let all = params(Some("s=abc&linkType=all&utm_source=x"));
        assert_eq!(answer(&HeaderMap::new(), &all), Answer::Linkset);
        let rs = params(Some("linkType=gs1%3ArecallStatus"));
        assert_eq!(answer(&HeaderMap::new(), &rs), Answer::RecallStatus);
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("id.example.cn"));
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://id.example.cn"),
        );
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.test"),
        );
        assert!(cross_site(&h));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
    }
}
