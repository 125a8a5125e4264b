//! `GET` and `HEAD` of a label: read the Digital Link, call the scan use case
//! (a GET is a consumer scan, logged), answer in the form asked for.

use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::request::{self, Answer};
use super::respond::{bad_label, cors, label_href, server_error};
use super::strings::Lang;
use super::{json, page, ScanApp};
use crate::domain::time::Timestamp;
use crate::formats::gs1;

/// Answers a scan of a label.
pub(super) async fn scan(st: ScanApp, req: Request) -> Response {
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let p = request::params(uri.query());
    let lang = Lang::choose(p.lang.as_deref(), &headers);
    let s = lang.strings();
    let want = request::answer(&headers, &p);
    let json = want != Answer::Page;
    let scanned = match gs1::parse_path(uri.path(), uri.query()) {
        Ok(sc) => sc,
        Err(e) => return bad_label(s, &e, json),
    };
    let today = Timestamp::now().date();
    let href = label_href(&scanned.key.canonical_path(), scanned.sig.as_deref());
    if want == Answer::Linkset {
        let origin = request::origin(&headers);
        let mut r = json::linkset(&origin, &href, &scanned.key.canonical_path());
        cors(&mut r);
        return r;
    }
    let ledger = &st.app.ledger;
    // HEAD is what link checkers send: answered, but not a consumer scan.
    let scanner = if req.method() == Method::GET {
        let ip = request::client_ip(&req);
        match ledger.scanner(ip, request::user_agent(&headers)).await {
            Ok(sc) => Some(sc),
            Err(e) => return server_error(s, json, e.into()),
        }
    } else {
        None
    };
    let sig = scanned.sig.as_deref();
    let report = match ledger
        .scan_logged(&scanned.key, sig, today, scanner.as_ref())
        .await
    {
        Ok(r) => r,
        Err(e) => return server_error(s, json, e.into()),
    };
    let mut r = match want {
        Answer::Json => {
            let mut r = Json(&report).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Answer::RecallStatus => Json(json::recall_status(&report)).into_response(),
        _ => match page::respond(&st, &report, s, &href).await {
            Ok(r) => r,
            Err(e) => return server_error(s, false, e),
        },
    };
    cors(&mut r);
    r
}
