//! One error type for HTTP, mapped once to a status and `{"error", "message"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::BTreeMap;

use crate::app::ledger::SubmitError;
use crate::domain::statement::{BatchId, StatementId};
use crate::store::StoreError;

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is malformed.
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// 401: no or unknown bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the token may not do this.
    #[error("{1}")]
    Forbidden(&'static str, String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409 with the current chain heads.
    #[error("{0}")]
    Conflict(String, BTreeMap<BatchId, StatementId>),
    /// 409: already exists.
    #[error("{0}")]
    Exists(String),
    /// 422: valid JSON that breaks a rule.
    #[error("{1}")]
    Unprocessable(&'static str, String),
    /// 413: request body over the limit.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// 500: logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        let m = e.to_string();
        match e {
            SubmitError::Malformed(_) => ApiError::BadRequest("malformed", m),
            SubmitError::Schema(_) => ApiError::BadRequest("invalid_statement", m),
            SubmitError::Forbidden(_) => ApiError::Forbidden("forbidden", m),
            SubmitError::Revoked(_) => ApiError::Forbidden("key_revoked", m),
            SubmitError::BadSignature(_) => ApiError::Unprocessable("bad_signature", m),
            SubmitError::Key(_) => ApiError::Unprocessable("key_not_valid", m),
            SubmitError::Rule(_) => ApiError::Unprocessable("rule", m),
            SubmitError::Custody(_) => ApiError::Unprocessable("custody", m),
            SubmitError::Conflict(heads) => ApiError::Conflict(m, heads),
            SubmitError::Exists(_) => ApiError::Exists(m),
            SubmitError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let m = e.to_string();
        match e {
            StoreError::Conflict(h) => ApiError::Conflict(m, h),
            StoreError::Custody(c) => ApiError::Unprocessable("custody", c.to_string()),
            StoreError::Exists(m) => ApiError::Exists(m),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code, extra) = match self {
            ApiError::BadRequest(c, _) => (StatusCode::BAD_REQUEST, c, None),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden(c, _) => (StatusCode::FORBIDDEN, c, None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Conflict(_, heads) => (StatusCode::CONFLICT, "conflict", Some(heads)),
            ApiError::Exists(_) => (StatusCode::CONFLICT, "exists", None),
            ApiError::Unprocessable(c, _) => (StatusCode::UNPROCESSABLE_ENTITY, c, None),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", None),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                let body =
                    json!({"error": "internal", "message": "internal error; see the server log"});
                return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
            }
        };
        let mut body = json!({"error": code, "message": message});
        if let Some(heads) = extra {
            body["heads"] = json!(heads);
        }
        (status, Json(body)).into_response()
    }
}
