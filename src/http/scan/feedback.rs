//! The scan page's feedback form (`POST` on a label's URL) and the feedback
//! API a party reads it through.

use axum::body::Body;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};

use super::request;
use super::respond::{bad_label, label_href, message, server_error, thanks, too_many, with_param};
use super::strings::Lang;
use super::{form_token, ScanApp, FORM_BODY};
use crate::app::feedback::{FeedbackRefused, FeedbackRequest};
use crate::domain::feedback::{FeedbackKind, RawFeedback};
use crate::domain::party::Slug;
use crate::domain::time::Timestamp;
use crate::formats::gs1;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::AppState;

/// The feedback form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FeedbackForm {
    token: String,
    kind: Option<String>,
    rating: Option<String>,
    category: Option<String>,
    comment: Option<String>,
    contact: Option<String>,
}

/// Takes the form: limited per address, bound to its unit by the form token
/// and to our own page, then handed to the feedback use case.
pub(super) async fn post(st: ScanApp, req: Request) -> Response {
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let p = request::params(uri.query());
    let s = Lang::choose(p.lang.as_deref(), &headers).strings();
    let ip = request::client_ip(&req);
    let refuse = |status: StatusCode, text: &str, back: Option<String>| {
        message(status, s, s.cannot_send, text, None, back)
    };
    if !st
        .st
        .feedback_limiter
        .check(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    {
        return too_many(s, st.st.feedback_limiter.retry_after().as_secs());
    }
    let scanned = match gs1::parse_path(uri.path(), uri.query()) {
        Ok(sc) => sc,
        Err(e) => return bad_label(s, &e, false),
    };
    let path = scanned.key.canonical_path();
    let back = with_param(
        &label_href(&path, scanned.sig.as_deref()),
        &format!("lang={}", s.code),
    );
    if req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| {
        v.to_str()
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .is_none_or(|n| n > FORM_BODY)
    }) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, s.too_large, Some(back));
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, FORM_BODY));
    let form = match Form::<FeedbackForm>::from_request(Request::from_parts(parts, body), &()).await
    {
        Ok(Form(f)) => f,
        Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, s.too_large, Some(back))
        }
        Err(rej) => {
            return message(
                StatusCode::BAD_REQUEST,
                s,
                s.cannot_send,
                s.form_expired,
                Some(rej.body_text()),
                Some(back),
            )
        }
    };
    let now = Timestamp::now().unix();
    let ledger = &st.app.ledger;
    let key = match ledger.form_key().await {
        Ok(k) => k,
        Err(e) => return server_error(s, false, e.into()),
    };
    if request::cross_site(&headers) || !form_token::check(key, &path, &form.token, now) {
        return refuse(StatusCode::FORBIDDEN, s.form_expired, Some(back));
    }
    let sent = ledger
        .send_feedback(FeedbackRequest {
            key: &scanned.key,
            sig: scanned.sig.as_deref(),
            form: RawFeedback {
                kind: form.kind.as_deref(),
                rating: form.rating.as_deref(),
                category: form.category.as_deref(),
                comment: form.comment.as_deref(),
                contact: form.contact.as_deref(),
            },
            ip,
            agent: request::user_agent(&headers),
            now,
        })
        .await;
    let sent = match sent {
        Ok(sent) => sent,
        Err(FeedbackRefused::Invalid(e)) => {
            return refuse(StatusCode::BAD_REQUEST, s.feedback_error(&e), Some(back))
        }
        Err(FeedbackRefused::NotReturnable) => {
            return refuse(StatusCode::CONFLICT, s.not_returnable, Some(back))
        }
        Err(FeedbackRefused::TooMany) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                s.too_many_feedback,
                Some(back),
            )
        }
        Err(FeedbackRefused::Store(e)) => return server_error(s, false, e.into()),
    };
    let text = if sent.kind == FeedbackKind::Feedback {
        s.thanks_feedback
    } else {
        s.thanks_request
    };
    // The echo is the consumer's own text, escaped by the template.
    let echo = (!sent.comment.is_empty()).then_some(sent.comment);
    thanks(s, text, echo, back)
}

/// `?party=` and an optional `limit` (default 100, at most 1000).
#[derive(Debug, Deserialize)]
pub(super) struct FeedbackQuery {
    party: String,
    limit: Option<i64>,
}

/// `GET /api/v1/feedback?party=…`, with that party's token (or the operator's).
pub(super) async fn list(
    State(s): State<AppState>,
    auth: Auth,
    q: Result<Query<FeedbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest("malformed", e.body_text()))?;
    let party = Slug::parse(&q.party).map_err(|e| ApiError::BadRequest("malformed", e))?;
    auth.require_party_or_admin(&party)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items = s.ledger.feedback_for(&party, limit).await?;
    Ok(Json(json!({"party": party, "feedback": items})))
}
