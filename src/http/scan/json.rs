//! The JSON answers besides the scan report itself: the recall status and the
//! RFC 9264 linkset of the GS1 Digital Link resolver.

use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::respond::with_param;
use crate::app::ledger::ScanReport;
use crate::domain::verdict::Verdict;

/// `linkType=gs1:recallStatus`: whether the unit is recalled, and why.
pub(super) fn recall_status(report: &ScanReport) -> Value {
    let mut v = json!({
        "path": report.path,
        "verdict": report.verdict,
        "recalled": report.verdict == Verdict::Recalled,
    });
    if let Some(r) = &report.recall {
        v["reason"] = json!(r.reason);
        v["instructions"] = json!(r.instructions);
        v["time"] = json!(r.time);
    }
    v
}

/// An RFC 9264 linkset in the GS1 Digital Link resolver's vocabulary.
pub(super) fn linkset(origin: &str, href: &str, path: &str) -> Response {
    let abs = |h: String| format!("{origin}{h}");
    let body = json!({
        "linkset": [{
            "anchor": format!("{origin}/{path}"),
            "https://gs1.org/voc/defaultLink": [{"href": abs(href.to_owned())}],
            "https://gs1.org/voc/pip": [{
                "href": abs(with_param(href, "linkType=gs1:pip")),
                "title": "Product information and verification / 产品信息与验证",
                "type": "text/html",
                "hreflang": ["zh", "en"],
            }],
            "https://gs1.org/voc/traceability": [{
                "href": abs(with_param(href, "linkType=gs1:traceability")),
                "title": "Custody history / 流通记录",
                "type": "application/json",
            }],
            "https://gs1.org/voc/recallStatus": [{
                "href": abs(with_param(href, "linkType=gs1:recallStatus")),
                "title": "Recall status / 召回状态",
                "type": "application/json",
            }],
        }]
    });
    let mut r = Json(body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/linkset+json"),
    );
    r
}
