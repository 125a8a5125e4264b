//! The dock pages `/dock` (issue 6): sign-in for a party's dock users, station
//! enrollment, and a session-authenticated path for the events the browser signs
//! (receive, ship, pack, and at a retail counter sell and return), plus the
//! consumer feedback and return/exchange requests for the party's units.
//!
//! The browser holds the station's Ed25519 key (WebCrypto, non-extractable) and
//! signs every event itself; the session only decides which party's token the
//! submission counts as, exactly as a bearer token does on `/api/v1/events`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use super::auth::{token_hash, Auth};
use super::error::ApiError;
use super::{AppState, MAX_BODY};
use crate::domain::party::Slug;
use crate::domain::time::Timestamp;
use crate::formats::sign::{self, Kind};
use crate::store::dock::{DockSession, DockUser, PendingStation};
use crate::store::TokenOwner;

mod admin;
mod limit;
mod station;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "suyuan_dock";
/// Name of the pre-sign-in cookie the sign-in form double-submits against login CSRF.
pub const LOGIN_COOKIE: &str = "suyuan_dock_login";
/// Header the page echoes the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A shift plus some: a session lasts 12 hours.
pub const SESSION_SECONDS: i64 = 12 * 3600;

const DOCK_JS: &str = include_str!("../../../assets/dock.js");
const DOCK_CSS: &str = include_str!("../../../assets/dock.css");
// The camera fallback's QR decoder (assets/vendor/jsqr, Apache-2.0); the page
// fetches it only when the browser has no BarcodeDetector.
const JSQR_JS: &str = include_str!("../../../assets/vendor/jsqr/jsQR.js");

static SECURE_COOKIES: OnceLock<bool> = OnceLock::new();

/// Marks every dock cookie `Secure` (for `serve --secure-cookies`, behind HTTPS).
/// Set once at start; a request with `X-Forwarded-Proto: https` gets `Secure` anyway.
pub fn set_secure_cookies(on: bool) {
    let _ = SECURE_COOKIES.set(on);
}

/// Whether cookies set in answer to this request must be `Secure`.
fn secure(headers: &HeaderMap) -> bool {
    SECURE_COOKIES.get().copied().unwrap_or(false)
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// The client's address as the socket saw it (none when the server runs without connect info).
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Routes of the dock pages and their admin API.
pub fn router() -> Router<AppState> {
    // One set of sign-in limits per router, so each server (and each test server) has its own.
    let limits = Arc::new(limit::SignInLimits::default());
    let sign_in = move |State(s): State<AppState>,
                        ip: ClientIp,
                        headers: HeaderMap,
                        form: Form<LoginForm>| {
        let limits = limits.clone();
        async move { login(s, &limits, ip, headers, form).await }
    };
    Router::new()
        .route("/dock", get(page))
        .route("/dock/login", get(login_page).post(sign_in))
        .route("/dock/logout", post(logout))
        .route("/dock/assets/dock.js", get(js))
        .route("/dock/assets/dock.css", get(css))
        .route("/dock/assets/jsQR.js", get(jsqr))
        .route("/dock/api/stations", post(enroll))
        .route("/dock/api/station", get(station::status))
        .route("/dock/admin", get(admin::page))
        .route("/dock/assets/dock_admin.js", get(admin::js))
        .route("/api/v1/dock/stations", get(admin::stations))
        .route("/dock/api/shipments", get(shipments))
        .route("/dock/api/events", post(submit_event))
        .route("/dock/api/feedback", get(feedback))
        .route("/api/v1/dock/users", post(add_user).get(admin::users))
        .route("/api/v1/dock/stations/{id}", get(pending))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    sign::b64(&bytes)
}

/// Compares secrets without stopping at the first differing byte.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    // HttpOnly: page scripts never need it; SameSite=Strict: no cross-site request carries it;
    // Secure behind HTTPS, so a plain-HTTP request never carries the session.
    let secure = if secure { "; Secure" } else { "" };
    let c =
        format!("{name}={value}; Path=/dock; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A signed-in dock user, from the session cookie.
#[derive(Debug, Clone)]
pub struct Session(pub DockSession);

impl Session {
    /// Refuses a POST whose CSRF token is missing or wrong.
    fn check_csrf(&self, given: Option<&str>) -> Result<(), ApiError> {
        match given {
            Some(t) if same_secret(t, &self.0.csrf) => Ok(()),
            _ => Err(ApiError::Forbidden(
                "csrf",
                "the page's CSRF token is missing or stale; reload the page".into(),
            )),
        }
    }

    fn check_csrf_header(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        self.check_csrf(headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
    }
}

async fn session_of(headers: &HeaderMap, state: &AppState) -> Result<Option<Session>, ApiError> {
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let found = state
        .ledger
        .store
        .dock_session(&token_hash(value), Timestamp::now().unix())
        .await?;
    Ok(found.map(Session))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        session_of(&parts.headers, state).await?.ok_or_else(|| {
            ApiError::Unauthorized("not signed in, or the session expired: sign in again".into())
        })
    }
}

#[derive(Template)]
#[template(path = "dock_login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
    party: &'a str,
    name: &'a str,
}

#[derive(Template)]
#[template(path = "dock.html")]
struct DockPage<'a> {
    party: &'a str,
    name: &'a str,
    csrf: &'a str,
}

fn html(status: StatusCode, page: Result<String, askama::Error>) -> Response {
    match page {
        Ok(body) => (status, [(CACHE_CONTROL, "no-store")], Html(body)).into_response(),
        Err(e) => ApiError::Internal(format!("template: {e}")).into_response(),
    }
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}

async fn page(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(Session(sess)) = session_of(&headers, &s).await? else {
        return Ok(redirect("/dock/login"));
    };
    let page = DockPage {
        party: sess.party.as_str(),
        name: &sess.name,
        csrf: &sess.csrf,
    };
    Ok(html(StatusCode::OK, page.render()))
}

fn login_form(
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
    party: &str,
    name: &str,
) -> Response {
    let csrf = random_token();
    let page = LoginPage {
        csrf: &csrf,
        error,
        party,
        name,
    };
    let mut r = html(status, page.render());
    r.headers_mut().insert(
        SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &csrf, 3600, secure(headers)),
    );
    r
}

async fn login_page(headers: HeaderMap) -> Response {
    login_form(&headers, StatusCode::OK, None, "", "")
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    party: String,
    name: String,
    password: String,
    csrf: String,
}

// A missing user costs the same argon2 work as a wrong password, so the answer
// time does not tell which user names exist.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a password").unwrap_or_default())
}

fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

fn password_ok(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

async fn login(
    s: AppState,
    limits: &limit::SignInLimits,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let pre = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if pre.is_empty() || !same_secret(pre, &f.csrf) {
        return Ok(login_form(
            &headers,
            StatusCode::FORBIDDEN,
            Some("The form expired. Please sign in again."),
            &f.party,
            &f.name,
        ));
    }
    // Limits first: a refused attempt costs no argon2 work and no database read.
    let too_many = |r: limit::Refusal| {
        tracing::warn!(ip = ?ip, party = %f.party.trim(), "dock sign-in refused: {r:?}");
        let mut resp = login_form(
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(r.message()),
            &f.party,
            &f.name,
        );
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from(r.retry_after()),
        );
        resp
    };
    if let Err(r) = limits.admit(ip, &f.party, &f.name) {
        return Ok(too_many(r));
    }
    let _permit = match limits.check_permit().await {
        Ok(p) => p,
        Err(r) => return Ok(too_many(r)),
    };
    let user = s
        .ledger
        .store
        .dock_user(f.party.trim(), f.name.trim())
        .await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let password = f.password;
    let ok = tokio::task::spawn_blocking(move || password_ok(&password, &phc))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let user = match user {
        Some(u) if ok => u,
        _ => {
            return Ok(login_form(
                &headers,
                StatusCode::UNAUTHORIZED,
                Some("Wrong party, name or password."),
                &f.party,
                &f.name,
            ))
        }
    };
    let value = random_token();
    let now = Timestamp::now().unix();
    let session = DockSession {
        id_hash: token_hash(&value),
        party: user.party.clone(),
        name: user.name.clone(),
        csrf: random_token(),
        expires: now + SESSION_SECONDS,
    };
    s.ledger.store.add_dock_session(&session, now).await?;
    tracing::info!(party = %user.party, user = %user.name, "dock sign-in");
    let mut r = redirect("/dock");
    let h = r.headers_mut();
    let sec = secure(&headers);
    h.append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, &value, SESSION_SECONDS, sec),
    );
    h.append(SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0, sec));
    Ok(r)
}

/// The sign-out form carries the CSRF token as a field.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(s): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    session.check_csrf(Some(&f.csrf))?;
    s.ledger
        .store
        .delete_dock_session(&session.0.id_hash)
        .await?;
    let mut r = redirect("/dock/login");
    r.headers_mut().insert(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, secure(&headers)),
    );
    Ok(r)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    // Assets change with the binary; a short cache keeps upgrades visible.
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "max-age=300")],
        body,
    )
        .into_response()
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", DOCK_JS)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", DOCK_CSS)
}

async fn jsqr() -> Response {
    asset("text/javascript; charset=utf-8", JSQR_JS)
}

fn body_text(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let bytes = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(MAX_BODY),
        other => ApiError::BadRequest("malformed", other.body_text()),
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::BadRequest("malformed", "request body is not UTF-8".into()))
}

/// A browser's enrollment request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enroll {
    /// Raw Ed25519 public key, base64url.
    pub public_key: String,
    /// What the station calls itself ("dock 3 handheld").
    #[serde(default)]
    pub label: Option<String>,
}

async fn enroll(
    State(s): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    session.check_csrf_header(&headers)?;
    let req: Enroll = serde_json::from_str(&body_text(body)?)
        .map_err(|e| ApiError::BadRequest("malformed", format!("enrollment: {e}")))?;
    let key = sign::parse_public_key(&req.public_key)
        .map_err(|e| ApiError::BadRequest("malformed", format!("public_key: {e}")))?;
    let label: String = req
        .label
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect();
    let st = PendingStation {
        id: 0,
        party: session.0.party.clone(),
        public_key: sign::b64(key.as_bytes()),
        key_id: sign::key_id(&key),
        label,
        requested_by: session.0.name.clone(),
        created: Timestamp::now().unix(),
    };
    let stored = s.ledger.store.add_pending_station(&st).await?;
    if stored.party != st.party {
        return Err(ApiError::Exists(
            "this key is enrolled for another party".into(),
        ));
    }
    let certified = s
        .ledger
        .store
        .key(&stored.key_id)
        .await?
        .is_some_and(|k| k.public_key == stored.public_key && k.revoked.is_none());
    Ok((
        StatusCode::OK,
        Json(json!({"station": stored, "certified": certified})),
    ))
}

async fn shipments(State(s): State<AppState>, session: Session) -> Result<Json<Value>, ApiError> {
    let party = &session.0.party;
    let mut out = Vec::new();
    for st in s.ledger.store.shipments_to(party).await? {
        let id = crate::domain::statement::BatchId::parse(&st.id).map_err(ApiError::Internal)?;
        let in_transit = s.ledger.store.in_shipment(&id).await?;
        let statement: Value =
            serde_json::from_str(&st.json).map_err(|e| ApiError::Internal(e.to_string()))?;
        out.push(json!({
            "id": st.id, "from": st.party, "statement": statement, "in_transit": in_transit,
        }));
    }
    Ok(Json(json!({"to": party, "shipments": out})))
}

/// Consumer feedback and return/exchange requests for the signed-in party's units:
/// the same store read as `GET /api/v1/feedback?party=…`, with the session as the token.
async fn feedback(State(s): State<AppState>, session: Session) -> Result<Json<Value>, ApiError> {
    let party = &session.0.party;
    let items = s.ledger.store.feedback_for_party(party, 100).await?;
    Ok(Json(json!({"party": party, "feedback": items})))
}

async fn submit_event(
    State(s): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<crate::app::ledger::Receipt>), ApiError> {
    session.check_csrf_header(&headers)?;
    let text = body_text(body)?;
    // The session counts as the party's token: the ledger still checks the
    // signature, the station key's role and the custody rules.
    let owner = TokenOwner::Party(session.0.party.clone());
    let receipt = s.ledger.submit(Kind::Event, &text, &owner).await?;
    let status = if receipt.status == "stored" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(receipt)))
}

/// A new dock user from the operator or the party's own token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// The party.
    pub party: String,
    /// Sign-in name.
    pub name: String,
    /// Password in clear (hashed at once, never stored or logged).
    pub password: String,
}

async fn add_user(
    State(s): State<AppState>,
    auth: Auth,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: NewUser = serde_json::from_str(&body_text(body)?)
        .map_err(|e| ApiError::BadRequest("malformed", format!("dock user: {e}")))?;
    let bad = |m: String| ApiError::BadRequest("invalid_user", m);
    let party = Slug::parse(&req.party).map_err(bad)?;
    auth.require_party_or_admin(&party)?;
    if s.ledger.store.party(party.as_str()).await?.is_none() {
        return Err(ApiError::NotFound(format!("no party \"{party}\"")));
    }
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(bad("name must be 1-64 printable characters".into()));
    }
    if req.password.chars().count() < 8 {
        return Err(bad("password must be at least 8 characters".into()));
    }
    let password = req.password;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let user = DockUser {
        party: party.clone(),
        name: name.clone(),
        password_hash,
    };
    s.ledger
        .store
        .add_dock_user(&user, Timestamp::now().unix())
        .await?;
    tracing::info!(%party, user = %name, "dock user added");
    Ok((
        StatusCode::CREATED,
        Json(json!({"party": party, "name": name})),
    ))
}

async fn pending(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::BadRequest("malformed", format!("\"{id}\" is not a station number"))
    })?;
    let st = s
        .ledger
        .store
        .pending_station(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no pending station {id}")))?;
    auth.require_party_or_admin(&st.party)?;
    let certified = s.ledger.store.key(&st.key_id).await?;
    Ok(Json(json!({"station": st, "key": certified})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; suyuan_dock=xyz; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(password_ok("correct horse", &h));
        assert!(!password_ok("wrong horse", &h));
        assert!(!password_ok("x", "not a phc string"));
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
