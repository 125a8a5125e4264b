//! The dock admin page `/dock/admin` for a party's admin: the party's stations
//! (pending, approved, revoked) and dock users, adding a dock user.
//!
//! The page works with the party's API token, which the admin pastes and the
//! browser keeps for the tab only (sessionStorage); every read and write goes
//! through the bearer-token API, so the page has no powers of its own.
//! Approving and revoking need the party's root key, which never reaches the
//! server or this page: the page shows the exact `suyuan key …` command.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::station::station_state;
use crate::domain::party::Slug;
use crate::domain::time::Timestamp;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::AppState;

const ADMIN_JS: &str = include_str!("../../../assets/dock_admin.js");

#[derive(Template)]
#[template(path = "dock_admin.html")]
struct AdminPage;

/// `GET /dock/admin`: the page; its data comes from the API with the admin's token.
pub async fn page() -> Response {
    super::html(StatusCode::OK, AdminPage.render())
}

/// The page's script.
pub async fn js() -> Response {
    super::asset("text/javascript; charset=utf-8", ADMIN_JS)
}

/// `?party=…`
#[derive(Debug, Deserialize)]
pub struct PartyQuery {
    party: String,
}

fn party_of(auth: &Auth, q: Result<Query<PartyQuery>, QueryRejection>) -> Result<Slug, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest("malformed", e.body_text()))?;
    let party = Slug::parse(&q.party).map_err(|e| ApiError::BadRequest("malformed", e))?;
    auth.require_party_or_admin(&party)?;
    Ok(party)
}

/// `GET /api/v1/dock/stations?party=…`: every enrolled station with where its key stands.
pub async fn stations(
    State(s): State<AppState>,
    auth: Auth,
    q: Result<Query<PartyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let party = party_of(&auth, q)?;
    let now = Timestamp::now();
    let keys = s.ledger.store.keys_of(&party).await?;
    let mut out = Vec::new();
    for st in s.ledger.store.dock_stations(&party).await? {
        let key = keys
            .iter()
            .find(|k| k.key_id == st.key_id && k.public_key == st.public_key);
        let state = station_state(key, &party, now);
        out.push(json!({
            "station": st,
            "state": state.code(),
            "message": state.message(),
            "role": key.map(|k| k.role.as_str()),
        }));
    }
    Ok(Json(json!({"party": party, "stations": out})))
}

/// `GET /api/v1/dock/users?party=…`: the party's dock user names.
pub async fn users(
    State(s): State<AppState>,
    auth: Auth,
    q: Result<Query<PartyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let party = party_of(&auth, q)?;
    let names = s.ledger.store.dock_user_names(&party).await?;
    Ok(Json(json!({"party": party, "users": names})))
}
