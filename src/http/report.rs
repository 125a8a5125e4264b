//! Reports (issue 7): `GET /api/v1/reports?batch=ID` or `?party=SLUG`, plus the
//! loading and access rules the `/inspect` page shares.
//!
//! Access follows the EPCIS export: a batch's report is for the operator,
//! inspectors and the parties that handled the batch (its factory, any signer
//! of one of its events, any receiver named in one); a party's report is for
//! the operator, inspectors and the party itself.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::Auth;
use super::error::ApiError;
use super::AppState;
use crate::app::report::{
    self, BatchInput, ChainEvent, Directory, FeedbackCount, PartyInfo, Report,
};
use crate::domain::party::{PartyKind, Slug};
use crate::domain::statement::{BatchId, BatchStatement, EventStatement};
use crate::formats::gs1::{Key, Serial};
use crate::store::{EventUnits, FeedbackTally, ScanRow, Store, TokenOwner};

/// Routes of the report API.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/reports", get(report_api))
}

/// `?batch=` or `?party=`: what to report on.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ReportQuery {
    /// Batch id (hex).
    #[serde(default)]
    pub batch: Option<String>,
    /// Party slug.
    #[serde(default)]
    pub party: Option<String>,
}

/// What a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One batch.
    Batch(BatchId),
    /// Every batch a party handled.
    Party(Slug),
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ReportQuery {
    /// The subject, or a 400 saying what to send.
    pub fn subject(&self) -> Result<Subject, ApiError> {
        match (given(&self.batch), given(&self.party)) {
            (Some(b), None) => BatchId::parse(b)
                .map(Subject::Batch)
                .map_err(|m| ApiError::BadRequest("malformed", format!("batch: {m}"))),
            (None, Some(p)) => Slug::parse(p)
                .map(Subject::Party)
                .map_err(|m| ApiError::BadRequest("malformed", format!("party: {m}"))),
            (Some(_), Some(_)) => Err(ApiError::BadRequest(
                "malformed",
                "give either ?batch=ID or ?party=SLUG, not both".into(),
            )),
            (None, None) => Err(ApiError::BadRequest(
                "malformed",
                "name what to report on: ?batch=ID or ?party=SLUG".into(),
            )),
        }
    }
}

/// A report with what it covers, as served.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    /// The batch reported on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// The party reported on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    /// The figures.
    #[serde(flatten)]
    pub report: Report,
}

fn corrupt(e: String) -> ApiError {
    ApiError::Internal(format!("stored statement does not parse: {e}"))
}

/// Every registered party's kind and name.
pub async fn directory(store: &dyn Store) -> Result<Directory, ApiError> {
    Ok(store
        .parties()
        .await?
        .into_iter()
        .map(|p| {
            (
                p.slug,
                PartyInfo {
                    kind: p.kind,
                    name: p.name,
                },
            )
        })
        .collect())
}

/// The canonical path every unit of the batch starts with: `01/…/10/…/21/`.
fn unit_prefix(record: &BatchStatement) -> Result<String, ApiError> {
    let serial = Serial::parse("0").map_err(|e| ApiError::Internal(e.to_string()))?;
    let path = Key::Unit {
        gtin: record.gtin.clone(),
        lot: record.lot.clone(),
        serial,
    }
    .canonical_path();
    Ok(path[..path.len() - 1].to_owned())
}

/// Loads what a batch's report needs.
async fn load(store: &dyn Store, id: BatchId) -> Result<BatchInput, ApiError> {
    let row = store
        .batch(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no batch {id}")))?;
    let record: BatchStatement =
        crate::app::trace::parse_stored(&row.statement.json).map_err(corrupt)?;
    let mut events = Vec::new();
    for EventUnits {
        statement: st,
        units,
    } in store.batch_events(&id).await?
    {
        let event: EventStatement = crate::app::trace::parse_stored(&st.json).map_err(corrupt)?;
        let id = BatchId::parse(&st.id).map_err(corrupt)?;
        events.push(ChainEvent { id, event, units });
    }
    let feedback = store
        .feedback_counts(&id)
        .await?
        .into_iter()
        .map(
            |FeedbackTally {
                 kind,
                 category,
                 count: n,
             }| FeedbackCount {
                kind,
                category,
                count: n.max(0) as u64,
            },
        )
        .collect();
    let prefix = unit_prefix(&record)?;
    let mut scans = Vec::new();
    for ScanRow {
        unit,
        time,
        day,
        scanner,
    } in store.scans_with_prefix(&prefix).await?
    {
        let encoded = &unit[prefix.len().min(unit.len())..];
        let serial = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
        let index = crate::domain::batch::unit_index(
            &serial,
            record.serial_prefix.as_deref(),
            record.quantity,
        );
        if let Some(index) = index {
            scans.push(report::Scan {
                index,
                time,
                day,
                scanner,
            });
        }
    }
    Ok(BatchInput {
        id,
        holdings: store.holdings_of_batch(&id).await?,
        record,
        events,
        feedback,
        scans,
    })
}

/// Whether the token may read every report.
async fn sees_all(store: &dyn Store, owner: &TokenOwner) -> Result<bool, ApiError> {
    Ok(match owner {
        TokenOwner::Admin => true,
        TokenOwner::Party(p) => {
            store.party(p.as_str()).await?.map(|x| x.kind) == Some(PartyKind::Inspector)
        }
    })
}

/// Builds the report a token asked for, or says why not.
pub async fn report_for(
    store: &dyn Store,
    owner: &TokenOwner,
    subject: &Subject,
) -> Result<ReportView, ApiError> {
    let all = sees_all(store, owner).await?;
    let dir = directory(store).await?;
    match subject {
        Subject::Batch(id) => {
            let input = load(store, *id).await?;
            if let (false, TokenOwner::Party(p)) = (all, owner) {
                let events = input.events.iter().map(|e| &e.event);
                if !crate::domain::batch::handled_by(p, &input.record.party, events) {
                    return Err(ApiError::Forbidden(
                        "forbidden",
                        format!(
                            "this token is {p}'s, which never handled batch {id}; only the operator, \
                             inspectors and parties on the batch's chain may read its report"
                        ),
                    ));
                }
            }
            Ok(ReportView {
                batch: Some(id.hex()),
                party: None,
                report: report::build(&[input], &dir),
            })
        }
        Subject::Party(slug) => {
            if let (false, TokenOwner::Party(p)) = (all, owner) {
                if p != slug {
                    return Err(ApiError::Forbidden(
                        "forbidden",
                        format!(
                            "this token is {p}'s; a party's report is for that party, the operator \
                             and inspectors"
                        ),
                    ));
                }
            }
            if !dir.contains_key(slug) {
                return Err(ApiError::NotFound(format!("no party \"{slug}\"")));
            }
            let mut inputs = Vec::new();
            for id in store.batches_handled_by(slug).await? {
                inputs.push(load(store, id).await?);
            }
            Ok(ReportView {
                batch: None,
                party: Some(slug.to_string()),
                report: report::build(&inputs, &dir),
            })
        }
    }
}

async fn report_api(
    State(s): State<AppState>,
    auth: Auth,
    Query(q): Query<ReportQuery>,
) -> Result<Json<ReportView>, ApiError> {
    let subject = q.subject()?;
    Ok(Json(
        report_for(s.ledger.store.as_ref(), &auth.0, &subject).await?,
    ))
}
