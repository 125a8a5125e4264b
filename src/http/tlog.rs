//! Transparency log endpoints under `/log`: the signed checkpoint, the verifier
//! key, inclusion and consistency proofs, the leaves themselves, and the tree
//! as C2SP tlog-tiles (`/log/tile/…`, with `/log/checkpoint` as its checkpoint).
//!
//! Hashes in JSON are lowercase hex; the checkpoint note itself uses base64 as
//! C2SP requires.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::domain::party::Role;
use crate::tlog::service::LogError;
use crate::tlog::tiles::{self, TileRef, TILE_WIDTH};
use crate::tlog::MerkleError;

/// Most leaves one `/log/entries` request returns.
pub const MAX_ENTRIES: u64 = 1000;

/// Routes of the log.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/key", get(key))
        .route("/log/proof/inclusion", get(inclusion))
        .route("/log/proof/consistency", get(consistency))
        .route("/log/leaf/{seq}", get(leaf))
        .route("/log/entries", get(entries))
        .route("/log/roots", get(roots))
        .route("/log/keys/{key_id}", get(key_statements))
        .route("/log/tile/{*path}", get(tile))
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Merkle(m @ MerkleError::OutOfRange { .. }) => {
                ApiError::NotFound(m.to_string())
            }
            LogError::Merkle(m) => ApiError::BadRequest("bad_request", m.to_string()),
            LogError::Store(s) => s.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn text(body: String) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// `GET /log/checkpoint`: the latest signed checkpoint (signing one if the tree grew).
async fn checkpoint(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(text(s.log.checkpoint().await?.note))
}

/// `GET /log/key`: the verifier key line `name+keyid+base64key`.
async fn key(State(s): State<AppState>) -> impl IntoResponse {
    text(format!("{}\n", s.log.verifier()))
}

/// Parses a non-negative integer query parameter.
fn number(value: Option<&str>, name: &str) -> Result<Option<u64>, ApiError> {
    value
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::BadRequest(
                    "bad_request",
                    format!("{name} must be a non-negative integer, got \"{v}\""),
                )
            })
        })
        .transpose()
}

#[derive(Debug, Deserialize)]
struct InclusionQuery {
    seq: Option<String>,
    id: Option<String>,
    size: Option<String>,
}

/// `GET /log/proof/inclusion?seq=N&size=M` or `?id=<statement id>` (size defaults to the
/// latest checkpoint's).
async fn inclusion(
    State(s): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<Value>, ApiError> {
    let seq = match (number(q.seq.as_deref(), "seq")?, &q.id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "bad_request",
                "give seq or id, not both".into(),
            ))
        }
        (Some(n), None) => n,
        (None, Some(id)) => {
            let st = s
                .ledger
                .store
                .statement(id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no statement {id}")))?;
            st.seq as u64
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "bad_request",
                "give seq=<leaf index> or id=<statement id>".into(),
            ))
        }
    };
    let size = match number(q.size.as_deref(), "size")? {
        Some(n) => n,
        None => s.log.checkpoint().await?.size as u64,
    };
    if seq >= size {
        return Err(ApiError::BadRequest(
            "bad_request",
            format!("leaf {seq} is not in a tree of size {size}"),
        ));
    }
    let proof = s.log.inclusion_proof(seq, size).await?;
    let leaf = s.log.leaf(seq).await?;
    Ok(Json(json!({
        "seq": seq,
        "tree_size": size,
        "leaf_hash": hex::encode(leaf),
        "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
struct ConsistencyQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /log/proof/consistency?from=A&to=B`.
async fn consistency(
    State(s): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<Value>, ApiError> {
    let (Some(from), Some(to)) = (
        number(q.from.as_deref(), "from")?,
        number(q.to.as_deref(), "to")?,
    ) else {
        return Err(ApiError::BadRequest(
            "bad_request",
            "give from=<old size> and to=<new size>".into(),
        ));
    };
    if from > to {
        return Err(ApiError::BadRequest(
            "bad_request",
            format!("from ({from}) must not be larger than to ({to})"),
        ));
    }
    let proof = s.log.consistency_proof(from, to).await?;
    Ok(Json(json!({
        "from": from,
        "to": to,
        "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
    })))
}

/// `GET /log/leaf/{seq}`: the stored statement JSON, byte for byte as hashed.
async fn leaf(
    State(s): State<AppState>,
    Path(seq): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let seq = number(Some(&seq), "seq")?.unwrap_or(0);
    let seq = i64::try_from(seq).map_err(|_| ApiError::NotFound(format!("no leaf {seq}")))?;
    let st = s
        .ledger
        .store
        .statements_from(seq, 1)
        .await?
        .into_iter()
        .find(|st| st.seq == seq)
        .ok_or_else(|| ApiError::NotFound(format!("no leaf {seq}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], st.json))
}

#[derive(Debug, Deserialize)]
struct EntriesQuery {
    start: Option<String>,
    limit: Option<String>,
}

/// `GET /log/entries?start=N&limit=M`: leaves in order, for auditors (at most 1000).
async fn entries(
    State(s): State<AppState>,
    Query(q): Query<EntriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let start = number(q.start.as_deref(), "start")?.unwrap_or(0);
    let limit = number(q.limit.as_deref(), "limit")?
        .unwrap_or(MAX_ENTRIES)
        .clamp(1, MAX_ENTRIES);
    let start = i64::try_from(start)
        .map_err(|_| ApiError::BadRequest("bad_request", "start is too large".into()))?;
    let rows = s.ledger.store.statements_from(start, limit as i64).await?;
    Ok(Json(Value::Array(
        rows.into_iter()
            .map(|st| json!({"seq": st.seq, "id": st.id, "kind": st.kind, "json": st.json}))
            .collect(),
    )))
}

/// `GET /log/keys/{key_id}`: the key statements that certified and revoked a key.
async fn key_statements(
    State(s): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = s.ledger.store.key_statements(&key_id).await?;
    Ok(Json(Value::Array(
        rows.into_iter()
            .map(|st| json!({"seq": st.seq, "id": st.id, "kind": st.kind, "json": st.json}))
            .collect(),
    )))
}

/// `GET /log/roots`: every party with its kind and root keys, the trust anchors an
/// auditor needs (station keys are certified inside the log itself).
async fn roots(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut out = Vec::new();
    for p in s.ledger.store.parties().await? {
        let keys: Vec<Value> = s
            .ledger
            .store
            .keys_of(&p.slug)
            .await?
            .into_iter()
            .filter(|k| k.role == Role::Root)
            .map(|k| json!({"key_id": k.key_id, "public_key": k.public_key}))
            .collect();
        out.push(json!({"slug": p.slug, "kind": p.kind, "root_keys": keys}));
    }
    Ok(Json(Value::Array(out)))
}

/// `GET /log/tile/<L>/<N>[.p/<W>]` and `/log/tile/entries/<N>[.p/<W>]`: C2SP
/// tlog-tiles. A tile's bytes never change once it exists, so every answer is
/// cacheable for good; a tile beyond the tree is a 404.
async fn tile(
    State(s): State<AppState>,
    Path(path): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let t =
        TileRef::parse(&path).map_err(|e| ApiError::BadRequest("bad_request", e.to_string()))?;
    let body = match t {
        TileRef::Hashes {
            level,
            index,
            width,
        } => s.log.tile(level, index, width).await?,
        TileRef::Entries { index, width } => {
            let missing =
                || ApiError::NotFound(format!("no entry bundle {path}: the log is shorter"));
            let start = index
                .checked_mul(TILE_WIDTH)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(missing)?;
            let rows = s.ledger.store.statements_from(start, width as i64).await?;
            let contiguous = rows.len() as u64 == width
                && rows.iter().zip(start..).all(|(st, seq)| st.seq == seq);
            if !contiguous {
                return Err(missing());
            }
            tiles::entry_bundle(rows.iter().map(|st| st.json.as_bytes())).ok_or_else(|| {
                ApiError::Internal(format!("bundle {path} holds an entry over 65,535 bytes"))
            })?
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    ))
}
