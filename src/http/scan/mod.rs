//! The consumer scan page and GS1 Digital Link resolver.
//!
//! `GET {base}/01/{gtin}/10/{lot}/21/{serial}?s={sig}` (and `/00/{sscc}`)
//! answers, by `Accept` and `linkType`: the HTML page (verdict first), the
//! same facts as JSON, or an RFC 9264 linkset. HEAD and OPTIONS are answered,
//! GET is open to CORS, malformed labels get a readable 400 page. A GET is a
//! consumer scan: it is logged (salted daily hash of a coarse fingerprint,
//! never an IP) and the log feeds the suspect verdict. `POST` on the same URL
//! takes feedback or a return/exchange request from the page's own form.
//!
//! One file per job: [`request`] reads what the client asked, [`resolve`]
//! answers a scan, [`page`] renders the HTML page, [`json`] the linkset and
//! recall status, [`feedback`] takes the form, [`form_token`] binds the form
//! to its unit, [`respond`] has the short pages and headers they share. The
//! use cases behind them are [`crate::app::scan`], [`crate::app::scanner`]
//! and [`crate::app::feedback`].

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tower_http::compression::CompressionLayer;

use super::ratelimit::{Rate, RateLimiter};
use super::AppState;
use frozen::{Frozen, Markers};
use strings::Lang;

mod feedback;
mod form_token;
mod frozen;
mod json;
mod page;
mod request;
mod resolve;
mod respond;
mod strings;

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
    /// Rendered pages with holes, by everything a page shows but this scan's
    /// count and token; see [`frozen`].
    pages: crate::app::cache::Shared<page::PageKey, Arc<Frozen>>,
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
    Router::new().route("/api/v1/feedback", get(feedback::list))
}

async fn rate_limit(State(st): State<ScanApp>, req: Request, next: Next) -> Response {
    if let Some(l) = &st.st.limiter {
        let ip = request::client_ip(&req).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if !l.check(ip) {
            let query = request::params(req.uri().query());
            let lang = Lang::choose(query.lang.as_deref(), req.headers());
            return respond::too_many(lang.strings(), l.retry_after().as_secs());
        }
    }
    next.run(req).await
}

async fn dispatch(State(st): State<ScanApp>, req: Request) -> Response {
    match *req.method() {
        Method::GET | Method::HEAD => resolve::scan(st, req).await,
        Method::POST => feedback::post(st, req).await,
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
            respond::cors(&mut r);
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
