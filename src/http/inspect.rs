//! Trace and recall follow-up (issue 7): `GET /api/v1/trace`, `GET /api/v1/recalls`
//! and the inspector page `/inspect`.
//!
//! Access: the JSON endpoints need an operator, inspector or factory bearer token
//! (a factory sees only its own batches in a trace). The `/inspect` page shows
//! recalls to anyone as public safety information (batch, reason, instructions,
//! counts by holder kind); per-holder detail, material-lot traces and reports
//! need a token, which the page's forms POST in the body: a browser form cannot
//! send a bearer header, and a token in a URL would land in request logs,
//! history and Referer headers, so `GET /inspect?token=` is refused.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::HashMap;

use super::auth::{token_hash, Auth};
use super::error::ApiError;
use super::AppState;
use crate::app::trace::{self, BatchTrace, LotTrace, RecallTrace, Whereabouts};
use crate::domain::custody::Holding;
use crate::domain::party::{PartyKind, Slug};
use crate::domain::statement::{BatchId, BatchStatement, EventStatement};
use crate::store::{EventUnits, Store, TokenOwner};

/// Routes of the trace API and the inspector page.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/trace", get(trace_api))
        .route("/api/v1/recalls", get(recalls_api))
        .route("/inspect", get(page).post(page_post))
}

/// Longest supplier lot or supplier name accepted in a query.
const MAX_QUERY: usize = 200;

/// Whose data a caller may trace.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Viewer {
    /// Operator or inspector: everything.
    All,
    /// A factory: its own batches.
    Factory(Slug),
}

async fn viewer(store: &dyn Store, owner: &TokenOwner) -> Result<Viewer, ApiError> {
    let p = match owner {
        TokenOwner::Admin => return Ok(Viewer::All),
        TokenOwner::Party(p) => p,
    };
    let kind = store.party(p.as_str()).await?.map(|party| party.kind);
    match kind {
        Some(PartyKind::Inspector) => Ok(Viewer::All),
        Some(PartyKind::Factory) => Ok(Viewer::Factory(p.clone())),
        other => Err(ApiError::Forbidden(
            "forbidden",
            format!(
                "this token is {p}'s (a {} party); only the operator, an inspector or a factory may trace and follow recalls",
                other.map(PartyKind::as_str).unwrap_or("unknown")
            ),
        )),
    }
}

async fn kinds(store: &dyn Store) -> Result<HashMap<Slug, PartyKind>, ApiError> {
    Ok(store
        .parties()
        .await?
        .into_iter()
        .map(|p| (p.slug, p.kind))
        .collect())
}

fn corrupt(e: String) -> ApiError {
    ApiError::Internal(format!("stored statement does not parse: {e}"))
}

/// Query of a material-lot trace.
#[derive(Debug, Default, Deserialize)]
pub struct TraceQuery {
    /// The raw-material supplier lot.
    #[serde(default)]
    pub material_lot: Option<String>,
    /// Narrows to one supplier.
    #[serde(default)]
    pub supplier: Option<String>,
    /// Bearer token, for the browser page only.
    #[serde(default)]
    pub token: Option<String>,
    /// Report on a batch (page only).
    #[serde(default)]
    pub batch: Option<String>,
    /// Report on a party (page only).
    #[serde(default)]
    pub party: Option<String>,
}

fn clean(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Follows a supplier lot downstream to every batch that used it.
async fn trace_lot(
    store: &dyn Store,
    lot: &str,
    supplier: Option<&str>,
    who: &Viewer,
) -> Result<LotTrace, ApiError> {
    if lot.len() > MAX_QUERY || supplier.is_some_and(|s| s.len() > MAX_QUERY) {
        return Err(ApiError::BadRequest(
            "malformed",
            format!("material_lot and supplier are at most {MAX_QUERY} bytes"),
        ));
    }
    let kinds = kinds(store).await?;
    let mut batches: Vec<BatchTrace> = Vec::new();
    let mut all: Vec<Holding> = Vec::new();
    for id in store.batches_by_supplier_lot(lot, supplier).await? {
        let Some(row) = store.batch(&id).await? else {
            continue;
        };
        if let Viewer::Factory(f) = who {
            if &row.party != f {
                continue;
            }
        }
        let record: BatchStatement = trace::parse_stored(&row.statement.json).map_err(corrupt)?;
        let inputs = trace::matching_inputs(&record, lot, supplier);
        let holdings = store.holdings_of_batch(&id).await?;
        let containers = store
            .batch_containers(&id)
            .await?
            .into_iter()
            .map(|c| (c.sscc, c.parent, c.units))
            .collect();
        batches.push(BatchTrace::new(
            id, &record, inputs, &holdings, containers, &kinds,
        ));
        all.extend(holdings);
    }
    if batches.is_empty() {
        let from = supplier
            .map(|s| format!(" from supplier \"{s}\""))
            .unwrap_or_default();
        let whose = match who {
            Viewer::All => "no batch on record".to_owned(),
            Viewer::Factory(f) => format!("no batch of {f}"),
        };
        return Err(ApiError::NotFound(format!(
            "{whose} used raw-material lot \"{lot}\"{from}"
        )));
    }
    Ok(trace::lot_trace(lot, supplier, batches, &all, &kinds))
}

/// Every recall and where its units are now.
async fn recall_traces(store: &dyn Store) -> Result<Vec<RecallTrace>, ApiError> {
    let kinds = kinds(store).await?;
    let mut records: HashMap<BatchId, BatchStatement> = HashMap::new();
    let mut holdings: HashMap<BatchId, Vec<Holding>> = HashMap::new();
    let mut out = Vec::new();
    for EventUnits {
        statement: st,
        units,
    } in store.recalls().await?
    {
        let ev: EventStatement = trace::parse_stored(&st.json).map_err(corrupt)?;
        for r in &units {
            if records.contains_key(&r.batch) {
                continue;
            }
            if let Some(row) = store.batch(&r.batch).await? {
                let rec = trace::parse_stored(&row.statement.json).map_err(corrupt)?;
                records.insert(r.batch, rec);
            }
            holdings.insert(r.batch, store.holdings_of_batch(&r.batch).await?);
        }
        out.push(RecallTrace::new(
            st.id.clone(),
            &ev,
            &units,
            &records,
            &holdings,
            &kinds,
        ));
    }
    // Newest first: the recall an inspector follows up is usually the latest.
    out.reverse();
    Ok(out)
}

async fn trace_api(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<TraceQuery>,
) -> Result<Json<LotTrace>, ApiError> {
    let store = s.ledger.store.as_ref();
    let who = viewer(store, &auth.0).await?;
    let lot = clean(&q.material_lot).ok_or_else(|| {
        ApiError::BadRequest(
            "malformed",
            "give ?material_lot=<supplier lot> (and optionally &supplier=<name>)".into(),
        )
    })?;
    Ok(Json(trace_lot(store, lot, clean(&q.supplier), &who).await?))
}

async fn recalls_api(
    State(s): State<AppState>,
    auth: Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = s.ledger.store.as_ref();
    viewer(store, &auth.0).await?;
    Ok(Json(
        serde_json::json!({"recalls": recall_traces(store).await?}),
    ))
}

/// One row of counts in the page's tables.
struct Counts {
    label: String,
    cells: [u64; 10],
}

fn counts(label: String, w: &Whereabouts) -> Counts {
    Counts {
        label,
        cells: [
            w.units,
            w.at_factory,
            w.at_b1,
            w.at_b2,
            w.at_other,
            w.in_transit,
            w.sold,
            w.returned,
            w.destroyed,
            w.recalled,
        ],
    }
}

fn holder_lines(w: &Whereabouts) -> Vec<String> {
    w.holders
        .iter()
        .map(|h| {
            let kind = h.kind.map(PartyKind::as_str).unwrap_or("?");
            let dest = h
                .dest
                .as_ref()
                .map(|d| format!(" → {d}"))
                .unwrap_or_default();
            let recalled = if h.recalled > 0 {
                format!(" ({} recalled)", h.recalled)
            } else {
                String::new()
            };
            format!(
                "{} ({kind}): {} {}{dest}{recalled}",
                h.holder,
                h.units,
                h.disposition.as_str()
            )
        })
        .collect()
}

struct RecallView {
    id: String,
    party: String,
    time: String,
    reason: String,
    instructions: String,
    batches: Vec<String>,
    counts: Counts,
    holders: Vec<String>,
}

struct BatchView {
    title: String,
    inputs: Vec<String>,
    containers: Vec<String>,
    holders: Vec<String>,
}

#[derive(Template)]
#[template(path = "inspect.html")]
struct InspectPage<'a> {
    recalls: Vec<RecallView>,
    detailed: bool,
    material_lot: &'a str,
    supplier: &'a str,
    token: &'a str,
    message: Option<String>,
    trace_rows: Vec<Counts>,
    trace_batches: Vec<BatchView>,
    columns: [&'static str; 10],
    report_batch: &'a str,
    report_party: &'a str,
    report: Option<super::report_html::ReportHtml>,
}

const COLUMNS: [&str; 10] = [
    "units",
    "at factory",
    "at B1",
    "at B2",
    "elsewhere",
    "in transit",
    "sold",
    "returned",
    "destroyed",
    "recalled",
];

async fn page(State(s): State<AppState>, Query(mut q): Query<TraceQuery>) -> Response {
    if q.token.take().is_some() {
        // Never act on a token that came in a URL; show the public page and say why.
        q.material_lot = None;
        q.batch = None;
        q.party = None;
        let refused = "a token in the URL is refused: URLs end up in request logs and browser \
                       history. Use the forms on this page, which send it in the request body, \
                       and consider the token exposed if it was shared in a link.";
        return respond_with(&s, &q, Some((StatusCode::BAD_REQUEST, refused))).await;
    }
    respond(&s, &q).await
}

/// The page's forms post here, so a token travels in the body, never in a URL.
async fn page_post(State(s): State<AppState>, Form(q): Form<TraceQuery>) -> Response {
    respond(&s, &q).await
}

async fn respond(s: &AppState, q: &TraceQuery) -> Response {
    respond_with(s, q, None).await
}

async fn respond_with(
    s: &AppState,
    q: &TraceQuery,
    refusal: Option<(StatusCode, &str)>,
) -> Response {
    match render(s, q, refusal).await {
        Ok((status, body)) => (
            status,
            [
                (CACHE_CONTROL, "no-store"),
                (axum::http::header::REFERRER_POLICY, "no-referrer"),
            ],
            Html(body),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn render(
    s: &AppState,
    q: &TraceQuery,
    refusal: Option<(StatusCode, &str)>,
) -> Result<(StatusCode, String), ApiError> {
    let store = s.ledger.store.as_ref();
    let token = clean(&q.token).unwrap_or("");
    let lot = clean(&q.material_lot);
    let (mut status, mut message) = match refusal {
        Some((st, m)) => (st, Some(m.to_owned())),
        None => (StatusCode::OK, None),
    };
    let wants_report = clean(&q.batch).is_some() || clean(&q.party).is_some();
    // Who is looking: nobody (public view), or a known token.
    let owner = if token.is_empty() {
        None
    } else {
        let owner = store.token(&token_hash(token)).await?;
        if owner.is_none() {
            status = StatusCode::UNAUTHORIZED;
            message = Some("unknown token".to_owned());
        }
        owner
    };
    // Whether that token may see traces and recall detail.
    let who = match &owner {
        None => None,
        Some(o) => match viewer(store, o).await {
            Ok(v) => Some(v),
            // A party on a batch's chain may still read that batch's report.
            Err(_) if wants_report => None,
            Err(e) => {
                status = StatusCode::FORBIDDEN;
                message = Some(e.to_string());
                None
            }
        },
    };
    let detailed = who.is_some();
    let recalls = recall_traces(store)
        .await?
        .iter()
        .map(|r| RecallView {
            id: r.id.clone(),
            party: r.party.to_string(),
            time: r.time.clone(),
            reason: r.reason.clone(),
            instructions: r.instructions.clone(),
            batches: r
                .batches
                .iter()
                .map(|b| {
                    format!(
                        "{} lot {} ({} units, batch {})",
                        b.product, b.lot, b.units, b.batch
                    )
                })
                .collect(),
            counts: counts("now".into(), &r.whereabouts),
            holders: if detailed {
                holder_lines(&r.whereabouts)
            } else {
                Vec::new()
            },
        })
        .collect();
    let mut trace_rows = Vec::new();
    let mut trace_batches = Vec::new();
    if let Some(lot) = lot {
        match &who {
            None if message.is_none() => {
                status = StatusCode::UNAUTHORIZED;
                message = Some(
                    "tracing a material lot needs an operator, inspector or factory token".into(),
                );
            }
            None => {}
            Some(v) => match trace_lot(store, lot, clean(&q.supplier), v).await {
                Ok(t) => {
                    trace_rows.push(counts("all batches".into(), &t.total));
                    for b in &t.batches {
                        trace_rows.push(counts(
                            format!("{} lot {}", b.product, b.lot),
                            &b.whereabouts,
                        ));
                        trace_batches.push(BatchView {
                            title: format!(
                                "{} lot {} — {} units by {}, produced {} (batch {})",
                                b.product, b.lot, b.quantity, b.party, b.produced, b.batch
                            ),
                            inputs: b
                                .inputs
                                .iter()
                                .map(|i| {
                                    format!(
                                        "{} from {} lot {} ({})",
                                        i.material, i.supplier, i.supplier_lot, i.origin
                                    )
                                })
                                .collect(),
                            containers: b
                                .containers
                                .iter()
                                .map(|c| {
                                    let parent = c
                                        .parent
                                        .as_ref()
                                        .map(|p| format!(" in {p}"))
                                        .unwrap_or_default();
                                    format!("{}{parent}: {} units", c.sscc, c.units)
                                })
                                .collect(),
                            holders: holder_lines(&b.whereabouts),
                        });
                    }
                }
                Err(ApiError::NotFound(m)) => {
                    status = StatusCode::NOT_FOUND;
                    message = Some(m);
                }
                Err(ApiError::BadRequest(_, m)) => {
                    status = StatusCode::BAD_REQUEST;
                    message = Some(m);
                }
                Err(e) => return Err(e),
            },
        }
    }
    let mut report = None;
    if wants_report {
        let subject = super::report::ReportQuery {
            batch: q.batch.clone(),
            party: q.party.clone(),
        }
        .subject();
        match (&owner, subject) {
            (_, Err(e)) => {
                status = StatusCode::BAD_REQUEST;
                message = Some(e.to_string());
            }
            (None, Ok(_)) => {
                if message.is_none() {
                    status = StatusCode::UNAUTHORIZED;
                    message = Some("a report needs a token: the operator's, an inspector's or a party's on the chain".into());
                }
            }
            (Some(o), Ok(subject)) => match super::report::report_for(store, o, &subject).await {
                Ok(v) => report = Some(super::report_html::view(&v)),
                Err(e @ ApiError::Internal(_)) => return Err(e),
                Err(e) => {
                    status = match e {
                        ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
                        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
                        _ => StatusCode::BAD_REQUEST,
                    };
                    message = Some(e.to_string());
                }
            },
        }
    }
    let page = InspectPage {
        recalls,
        detailed,
        material_lot: lot.unwrap_or(""),
        supplier: clean(&q.supplier).unwrap_or(""),
        token,
        message,
        trace_rows,
        trace_batches,
        columns: COLUMNS,
        report_batch: clean(&q.batch).unwrap_or(""),
        report_party: clean(&q.party).unwrap_or(""),
        report,
    };
    let body = page
        .render()
        .map_err(|e| ApiError::Internal(format!("template: {e}")))?;
    Ok((status, body))
}
