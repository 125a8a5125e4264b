//! Bearer-token authentication: tokens are stored as SHA-256 hashes, never in clear.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::domain::party::Slug;
use crate::store::TokenOwner;

/// A fresh random bearer token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("sy_{}", crate::formats::sign::b64(&bytes))
}

/// What the database keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The caller, identified by a valid bearer token.
#[derive(Debug, Clone)]
pub struct Auth(pub TokenOwner);

impl Auth {
    /// Allows the operator or the named party.
    pub fn require_party_or_admin(&self, party: &Slug) -> Result<(), ApiError> {
        match &self.0 {
            TokenOwner::Admin => Ok(()),
            TokenOwner::Party(p) if p == party => Ok(()),
            TokenOwner::Party(p) => Err(ApiError::Forbidden(
                "forbidden",
                format!("this token is {p}'s; it cannot read {party}'s data"),
            )),
        }
    }

    /// Allows only the operator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.0 {
            TokenOwner::Admin => Ok(()),
            TokenOwner::Party(_) => Err(ApiError::Forbidden(
                "forbidden",
                "only the operator token may do this".into(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("send \"Authorization: Bearer <token>\"".into())
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be \"Bearer <token>\"".into())
            })?;
        match state.ledger.store.token(&token_hash(token)).await? {
            Some(owner) => Ok(Auth(owner)),
            None => Err(ApiError::Unauthorized("unknown token".into())),
        }
    }
}
