//! Rows of the dock pages (issue 6): users, sessions and pending station keys.
//!
//! These are plain mutable rows, not signed statements: a session or a password
//! is not evidence of anything, the signed events the dock sends are.

use crate::domain::party::Slug;

/// A dock user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct DockUser {
    /// The party the user works for.
    pub party: Slug,
    /// Sign-in name, unique within the party.
    pub name: String,
    /// argon2 PHC string.
    pub password_hash: String,
}

// The hash is not a secret in the cryptographic sense, but it has no business in logs.
impl std::fmt::Debug for DockUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockUser")
            .field("party", &self.party)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A signed-in browser.
#[derive(Clone, PartialEq, Eq)]
pub struct DockSession {
    /// SHA-256 (hex) of the cookie value; the value itself is never stored.
    pub id_hash: String,
    /// The user's party.
    pub party: Slug,
    /// The user's name.
    pub name: String,
    /// CSRF token the page must echo on every POST.
    pub csrf: String,
    /// Unix seconds after which the session is refused.
    pub expires: i64,
}

impl std::fmt::Debug for DockSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockSession")
            .field("party", &self.party)
            .field("name", &self.name)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// A station key a browser generated, waiting for the party's root key to certify it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingStation {
    /// Number the admin names to `suyuan key approve --pending`.
    pub id: i64,
    /// The party.
    pub party: Slug,
    /// Public key, base64url.
    pub public_key: String,
    /// Its key id.
    pub key_id: String,
    /// What the browser called itself.
    pub label: String,
    /// The dock user who enrolled it.
    pub requested_by: String,
    /// Unix seconds.
    pub created: i64,
}

/// Maps a unique violation on `dock_users` to `Exists`, naming the user.
pub(crate) fn dock_unique(e: sqlx::Error, user: &DockUser) -> super::StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => super::StoreError::Exists(format!(
            "{} already has a dock user named \"{}\"",
            user.party, user.name
        )),
        _ => super::StoreError::Db(e),
    }
}

/// Selects a [`StationRow`] from `dock_stations`; the caller adds the filter.
pub(crate) const STATION_SELECT: &str =
    "SELECT id, party, public_key, key_id, label, requested_by, created FROM dock_stations";

/// A `dock_stations` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StationRow {
    id: i64,
    party: String,
    public_key: String,
    key_id: String,
    label: String,
    requested_by: String,
    created: i64,
}

impl TryFrom<StationRow> for PendingStation {
    type Error = super::StoreError;
    fn try_from(r: StationRow) -> Result<Self, super::StoreError> {
        Ok(PendingStation {
            id: r.id,
            party: super::parse_slug(&r.party)?,
            public_key: r.public_key,
            key_id: r.key_id,
            label: r.label,
            requested_by: r.requested_by,
            created: r.created,
        })
    }
}

/// A `dock_users` row (without its creation time).
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    party: String,
    name: String,
    password_hash: String,
}

impl TryFrom<UserRow> for DockUser {
    type Error = super::StoreError;
    fn try_from(r: UserRow) -> Result<Self, super::StoreError> {
        Ok(DockUser {
            party: super::parse_slug(&r.party)?,
            name: r.name,
            password_hash: r.password_hash,
        })
    }
}

/// A `dock_sessions` row.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id_hash: String,
    party: String,
    name: String,
    csrf: String,
    expires: i64,
}

impl TryFrom<SessionRow> for DockSession {
    type Error = super::StoreError;
    fn try_from(r: SessionRow) -> Result<Self, super::StoreError> {
        Ok(DockSession {
            id_hash: r.id_hash,
            party: super::parse_slug(&r.party)?,
            name: r.name,
            csrf: r.csrf,
            expires: r.expires,
        })
    }
}
