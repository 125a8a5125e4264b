//! `GET /dock/api/station?key_id=…`: what the server thinks of this browser's
//! station key, in plain words, plus the server's clock.
//!
//! The page asks on load, while it waits for approval, and whenever the server
//! refuses one of its events for a key reason, so a revoked or expired station
//! is told so at once instead of failing scan after scan; its queue is kept.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Session;
use crate::domain::keys::KeyRecord;
use crate::domain::party::{Role, Slug};
use crate::domain::time::Timestamp;
use crate::http::error::ApiError;
use crate::http::AppState;

/// Where a station key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationState {
    /// Enrolled (or not yet), not certified by the party's root key.
    Pending,
    /// Certified for dock or retail work and valid now.
    Approved(Role),
    /// Revoked by the party's root key.
    Revoked(Timestamp),
    /// Certified, but its validity starts later.
    NotYetValid(Timestamp),
    /// Certified, but its validity ended.
    Expired(Timestamp),
    /// Certified for a role the dock page cannot use.
    WrongRole(Role),
    /// The key belongs to another party.
    OtherParty(Slug),
}

impl StationState {
    /// Machine-readable state for the page.
    pub fn code(&self) -> &'static str {
        match self {
            StationState::Pending => "pending",
            StationState::Approved(_) => "approved",
            StationState::Revoked(_) => "revoked",
            StationState::NotYetValid(_) => "not_yet_valid",
            StationState::Expired(_) => "expired",
            StationState::WrongRole(_) => "wrong_role",
            StationState::OtherParty(_) => "other_party",
        }
    }

    /// What the dock user reads.
    pub fn message(&self) -> String {
        match self {
            StationState::Pending => "This station is waiting for your admin's approval. Scans are kept until then. 本工位等待管理员批准，扫描记录会保留。".into(),
            StationState::Approved(r) => format!("Station approved for {} work. 工位已批准。", r.as_str()),
            StationState::Revoked(at) => format!(
                "This station was revoked at {at} — ask your admin. Scans already taken are kept; they are sent once a new station key is approved. 本工位已被吊销，请联系管理员；已扫描的记录会保留。"
            ),
            StationState::NotYetValid(from) => format!(
                "This station is approved from {from} on, not yet. Check the station clock, or ask your admin. 本工位尚未生效。"
            ),
            StationState::Expired(to) => format!(
                "This station's approval ended at {to} — ask your admin to approve it again. 本工位授权已过期，请联系管理员。"
            ),
            StationState::WrongRole(r) => format!(
                "This station key is certified for {} work, not dock or counter work — ask your admin. 本工位密钥角色不符。",
                r.as_str()
            ),
            StationState::OtherParty(p) => format!(
                "This station key belongs to {p}, not to the party you signed in for. 本工位密钥属于其他企业。"
            ),
        }
    }
}

/// Where a station key stands for `party` at `now`, from its key record (none: not certified).
pub fn station_state(key: Option<&KeyRecord>, party: &Slug, now: Timestamp) -> StationState {
    let Some(k) = key else {
        return StationState::Pending;
    };
    if k.party != *party {
        return StationState::OtherParty(k.party.clone());
    }
    if let Some(at) = k.revoked {
        return StationState::Revoked(at);
    }
    if !matches!(k.role, Role::Dock | Role::Retail | Role::Root) {
        return StationState::WrongRole(k.role);
    }
    if let Some(from) = k.not_before.filter(|f| now < *f) {
        return StationState::NotYetValid(from);
    }
    if let Some(to) = k.not_after.filter(|t| now > *t) {
        return StationState::Expired(to);
    }
    StationState::Approved(k.role)
}

/// The query.
#[derive(Debug, Deserialize)]
pub struct StationQuery {
    /// The station's key id.
    key_id: String,
}

/// The handler.
pub async fn status(
    State(s): State<AppState>,
    session: Session,
    q: Result<Query<StationQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest("malformed", e.body_text()))?;
    if q.key_id.is_empty() || q.key_id.len() > 64 {
        return Err(ApiError::BadRequest(
            "malformed",
            "key_id must be a station key id".into(),
        ));
    }
    let now = Timestamp::now();
    let key = s.ledger.store.key(&q.key_id).await?;
    let st = station_state(key.as_ref(), &session.0.party, now);
    Ok(Json(json!({
        "key_id": q.key_id,
        "state": st.code(),
        "message": st.message(),
        "server_time": now,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role) -> KeyRecord {
        KeyRecord {
            key_id: "k".into(),
            party: Slug::parse("north").unwrap(),
            public_key: "p".into(),
            role,
            not_before: Some(Timestamp::from_unix(100)),
            not_after: Some(Timestamp::from_unix(200)),
            revoked: None,
        }
    }

    #[test]
    fn states_in_order_of_precedence() {
        let north = Slug::parse("north").unwrap();
        let at = |t| Timestamp::from_unix(t);
        assert_eq!(station_state(None, &north, at(150)), StationState::Pending);
        let k = key(Role::Dock);
        assert_eq!(
            station_state(Some(&k), &north, at(150)),
            StationState::Approved(Role::Dock)
        );
        assert_eq!(
            station_state(Some(&k), &north, at(50)),
            StationState::NotYetValid(at(100))
        );
        assert_eq!(
            station_state(Some(&k), &north, at(250)),
            StationState::Expired(at(200))
        );
        let revoked = KeyRecord {
            revoked: Some(at(120)),
            ..k.clone()
        };
        let st = station_state(Some(&revoked), &north, at(150));
        assert_eq!(st, StationState::Revoked(at(120)));
        assert_eq!(st.code(), "revoked");
        assert!(st.message().contains("revoked"), "{}", st.message());
        assert!(st.message().contains("ask your admin"));
        assert_eq!(
            station_state(Some(&key(Role::Mint)), &north, at(150)),
            StationState::WrongRole(Role::Mint)
        );
        let south = Slug::parse("south").unwrap();
        assert_eq!(
            station_state(Some(&k), &south, at(150)),
            StationState::OtherParty(north)
        );
    }
}
