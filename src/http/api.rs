//! JSON API under `/api/v1`: submit statements, read batches, units, holdings and shipments.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{new_token, token_hash, Auth};
use super::error::ApiError;
use super::{AppState, MAX_BODY};
use crate::app::export::ExportError;
use crate::app::ledger::Receipt;
use crate::domain::batch::unit_index;
use crate::domain::keys::KeyRecord;
use crate::domain::party::{self, PartyKind, Role, Slug};
use crate::domain::statement::{BatchId, BatchStatement};
use crate::formats::gs1;
use crate::formats::sign::{self, Kind};
use crate::store::{Party, StoredStatement};

/// Routes of the JSON API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/parties", post(add_party).get(list_parties))
        .route("/api/v1/parties/{slug}", get(get_party))
        .route("/api/v1/batches", post(submit_batch))
        .route("/api/v1/events", post(submit_event))
        .route("/api/v1/keys", post(submit_key))
        .route("/api/v1/batches/{id}", get(get_batch))
        .route("/api/v1/batches/{id}/holdings", get(batch_holdings))
        .route("/api/v1/units/{batch}/{index}", get(get_unit))
        .route("/api/v1/resolve", get(resolve))
        .route("/api/v1/statements/{id}", get(get_statement))
        .route("/api/v1/holdings", get(holdings))
        .route("/api/v1/shipments", get(shipments))
        .route("/api/v1/shipments/{id}", get(get_shipment))
        .route("/api/v1/containers/{sscc}", get(get_container))
        .route("/api/v1/epcis/events", get(epcis_events))
}

async fn health(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    s.ledger.store.has_admin().await?;
    Ok(Json(
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    ))
}

fn body_text(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let bytes = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(MAX_BODY),
        other => ApiError::BadRequest("malformed", other.body_text()),
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::BadRequest("malformed", "request body is not UTF-8".into()))
}

async fn submit(
    s: AppState,
    auth: Auth,
    kind: Kind,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Receipt>), ApiError> {
    let text = body_text(body)?;
    let receipt = s.ledger.submit(kind, &text, &auth.0).await?;
    let status = if receipt.status == "stored" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(receipt)))
}

async fn submit_batch(
    State(s): State<AppState>,
    auth: Auth,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Receipt>), ApiError> {
    submit(s, auth, Kind::Batch, body).await
}

async fn submit_event(
    State(s): State<AppState>,
    auth: Auth,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Receipt>), ApiError> {
    submit(s, auth, Kind::Event, body).await
}

async fn submit_key(
    State(s): State<AppState>,
    auth: Auth,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Receipt>), ApiError> {
    submit(s, auth, Kind::Key, body).await
}

/// A party registration request from the operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewParty {
    /// Short name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// factory, b1, b2 or inspector.
    pub kind: String,
    /// Optional GLN-13.
    #[serde(default)]
    pub gln: Option<String>,
    /// Root public key, base64url.
    pub root_key: String,
}

async fn add_party(
    State(s): State<AppState>,
    auth: Auth,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth.require_admin()?;
    let text = body_text(body)?;
    let req: NewParty = serde_json::from_str(&text)
        .map_err(|e| ApiError::BadRequest("malformed", format!("party: {e}")))?;
    let bad = |m: String| ApiError::BadRequest("invalid_party", m);
    let slug = Slug::parse(&req.slug).map_err(bad)?;
    let kind = PartyKind::parse(&req.kind).map_err(bad)?;
    if req.name.trim().is_empty() {
        return Err(bad("name is empty".into()));
    }
    if let Some(g) = &req.gln {
        party::check_gln(g).map_err(bad)?;
    }
    let public =
        sign::parse_public_key(&req.root_key).map_err(|e| bad(format!("root_key: {e}")))?;
    let root = KeyRecord {
        key_id: sign::key_id(&public),
        party: slug.clone(),
        public_key: sign::b64(public.as_bytes()),
        role: Role::Root,
        not_before: None,
        not_after: None,
        revoked: None,
    };
    let party = Party {
        slug: slug.clone(),
        name: req.name,
        kind,
        gln: req.gln,
    };
    let token = new_token();
    s.ledger
        .store
        .create_party(&party, &root, &token_hash(&token))
        .await?;
    tracing::info!(party = %slug, kind = kind.as_str(), "party registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({"party": party, "root_key_id": root.key_id, "token": token})),
    ))
}

async fn list_parties(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"parties": s.ledger.store.parties().await?})))
}

async fn get_party(
    State(s): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let party = s
        .ledger
        .store
        .party(&slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no party \"{slug}\"")))?;
    let keys = s.ledger.store.keys_of(&party.slug).await?;
    Ok(Json(json!({"party": party, "keys": keys})))
}

fn parse_batch_id(text: &str) -> Result<BatchId, ApiError> {
    BatchId::parse(text).map_err(|m| ApiError::BadRequest("malformed", m))
}

fn statement_json(st: &StoredStatement) -> Result<Value, ApiError> {
    serde_json::from_str(&st.json).map_err(|e| ApiError::Internal(e.to_string()))
}

async fn get_batch(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_batch_id(&id)?;
    let b = s
        .ledger
        .store
        .batch(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no batch {id}")))?;
    Ok(Json(json!({
        "id": b.id, "party": b.party, "quantity": b.quantity, "head": b.head,
        "seq": b.statement.seq, "statement": statement_json(&b.statement)?,
    })))
}

async fn batch_holdings(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_batch_id(&id)?;
    let b = s
        .ledger
        .store
        .batch(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no batch {id}")))?;
    auth.require_party_or_admin(&b.party)?;
    Ok(Json(
        json!({"batch": id, "holdings": s.ledger.store.holdings_of_batch(&id).await?}),
    ))
}

async fn unit_view(s: &AppState, batch: BatchId, index: u64) -> Result<Value, ApiError> {
    let store = &s.ledger.store;
    let b = store
        .batch(&batch)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no batch {batch}")))?;
    let holding = store.unit(&batch, index).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "unit {index} was never minted in batch {batch} ({} units)",
            b.quantity
        ))
    })?;
    let history: Vec<Value> = store
        .unit_events(&batch, index)
        .await?
        .iter()
        .map(statement_json)
        .collect::<Result<_, _>>()?;
    Ok(
        json!({"batch": batch, "index": index, "head": b.head, "holding": holding, "history": history}),
    )
}

async fn get_unit(
    State(s): State<AppState>,
    Path((batch, index)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let batch = parse_batch_id(&batch)?;
    let index: u64 = index.parse().map_err(|_| {
        ApiError::BadRequest(
            "malformed",
            format!("unit index \"{index}\" is not a number"),
        )
    })?;
    Ok(Json(unit_view(&s, batch, index).await?))
}

/// `?code=` holds whatever a scanner delivered.
#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    /// Scanned text.
    pub code: String,
}

async fn resolve(
    State(s): State<AppState>,
    Query(q): Query<CodeQuery>,
) -> Result<Json<Value>, ApiError> {
    let scanned =
        gs1::parse_scan(&q.code).map_err(|e| ApiError::BadRequest("bad_code", e.to_string()))?;
    let gs1::Key::Unit { gtin, lot, serial } = &scanned.key else {
        return Err(ApiError::NotFound(
            "containers (SSCC) are not on record yet".into(),
        ));
    };
    let b = s
        .ledger
        .store
        .batch_by_lot(gtin.as_str(), lot.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no batch of GTIN {gtin} lot {lot}")))?;
    let record: BatchStatement = serde_json::from_str::<Value>(&b.statement.json)
        .ok()
        .and_then(|mut v| {
            v.as_object_mut()?.remove("sig");
            serde_json::from_value(v).ok()
        })
        .ok_or_else(|| ApiError::Internal("stored batch record does not parse".into()))?;
    let index = unit_index(serial.as_str(), record.serial_prefix.as_deref(), b.quantity)
        .ok_or_else(|| {
            ApiError::NotFound(format!("serial {serial} was never minted in this batch"))
        })?;
    Ok(Json(unit_view(&s, b.id, index).await?))
}

async fn get_statement(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let st = s
        .ledger
        .store
        .statement(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no statement {id}")))?;
    Ok(Json(
        json!({"id": st.id, "kind": st.kind, "seq": st.seq, "statement": statement_json(&st)?}),
    ))
}

/// `?party=` names whose data to read.
#[derive(Debug, Deserialize)]
pub struct PartyQuery {
    /// The party.
    pub party: Option<String>,
    /// The receiver (shipments).
    pub to: Option<String>,
}

fn query_party(q: &PartyQuery, auth: &Auth) -> Result<Slug, ApiError> {
    let named = q.party.as_deref().or(q.to.as_deref());
    let slug = match (named, &auth.0) {
        (Some(p), _) => Slug::parse(p).map_err(|m| ApiError::BadRequest("malformed", m))?,
        (None, crate::store::TokenOwner::Party(p)) => p.clone(),
        (None, crate::store::TokenOwner::Admin) => {
            return Err(ApiError::BadRequest(
                "malformed",
                "name the party: ?party=slug".into(),
            ))
        }
    };
    auth.require_party_or_admin(&slug)?;
    Ok(slug)
}

async fn holdings(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<PartyQuery>,
) -> Result<Json<Value>, ApiError> {
    let party = query_party(&q, &auth)?;
    let hs = s.ledger.store.holdings_of(&party).await?;
    let units: u64 = hs
        .iter()
        .filter(|h| h.holder == party)
        .map(|h| h.range.len())
        .sum();
    Ok(Json(
        json!({"party": party, "units": units, "holdings": hs}),
    ))
}

async fn shipment_view(s: &AppState, st: &StoredStatement) -> Result<Value, ApiError> {
    let id = parse_batch_id(&st.id)?;
    let pending = s.ledger.store.in_shipment(&id).await?;
    let statement = statement_json(st)?;
    // What the store recorded at ship time: loose units and the contents of every container named.
    let expected = s.ledger.store.event_unit_count(&id).await?;
    let in_transit: u64 = pending.iter().map(|h| h.range.len()).sum();
    // The discrepancy report: every receipt against this shipment and its exceptions.
    let mut receipts = Vec::new();
    let mut exceptions = Vec::new();
    for r in s.ledger.store.receipts(&id).await? {
        let v = statement_json(&r)?;
        if let Some(list) = v["exceptions"].as_array() {
            for e in list {
                exceptions.push(json!({"receipt": r.id, "by": r.party, "exception": e}));
            }
        }
        receipts.push(v);
    }
    Ok(json!({
        "id": st.id, "from": st.party, "expected_units": expected, "in_transit_units": in_transit,
        "in_transit": pending, "statement": statement,
        "receipts": receipts, "exceptions": exceptions,
    }))
}

async fn shipments(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<PartyQuery>,
) -> Result<Json<Value>, ApiError> {
    let party = query_party(&q, &auth)?;
    let mut out = Vec::new();
    for st in s.ledger.store.shipments_to(&party).await? {
        out.push(shipment_view(&s, &st).await?);
    }
    Ok(Json(json!({"to": party, "shipments": out})))
}

async fn get_shipment(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let st = s
        .ledger
        .store
        .statement(&id)
        .await?
        .filter(|st| st.kind == "event");
    let st = st.ok_or_else(|| ApiError::NotFound(format!("no shipment {id}")))?;
    let view = shipment_view(&s, &st).await?;
    let to = view["statement"]["to"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let sender = Slug::parse(&st.party).map_err(ApiError::Internal)?;
    if auth.require_party_or_admin(&sender).is_err() {
        let receiver =
            Slug::parse(&to).map_err(|_| ApiError::NotFound(format!("{id} is not a shipment")))?;
        auth.require_party_or_admin(&receiver)?;
    }
    Ok(Json(view))
}

async fn get_container(
    State(s): State<AppState>,
    Path(sscc): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let code = gs1::parse_scan(&sscc)
        .ok()
        .and_then(|sc| match sc.key {
            gs1::Key::Container { sscc } => Some(sscc),
            gs1::Key::Unit { .. } => None,
        })
        .map(Ok)
        .unwrap_or_else(|| gs1::Sscc::parse(&sscc))
        .map_err(|e| ApiError::BadRequest("malformed", format!("SSCC: {e}")))?;
    let view = s
        .ledger
        .store
        .container(&code)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("container {code} is not packed")))?;
    Ok(Json(json!(view)))
}

/// `?batch=` of the EPCIS export.
#[derive(Debug, Deserialize)]
pub struct EpcisQuery {
    /// Batch id (hex).
    pub batch: Option<String>,
}

/// EPCIS 2.0 export of one batch: its record and every event on its chain,
/// for the operator and for parties that handled it (see [`crate::app::export`]).
async fn epcis_events(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<EpcisQuery>,
) -> Result<Json<Value>, ApiError> {
    let text = q
        .batch
        .ok_or_else(|| ApiError::BadRequest("malformed", "name the batch: ?batch=ID".into()))?;
    let id = parse_batch_id(&text)?;
    let doc = s.ledger.epcis(id, &auth.0).await.map_err(|e| match e {
        ExportError::NotFound(_) => ApiError::NotFound(e.to_string()),
        ExportError::Forbidden(_) => ApiError::Forbidden("forbidden", e.to_string()),
        ExportError::Corrupt(m) => ApiError::Internal(m),
        ExportError::Store(e) => e.into(),
    })?;
    Ok(Json(doc))
}
