//! What the scan handlers answer besides the scan itself: the short message
//! page (errors, 429, thanks), the headers every page carries, and links back
//! to a label.

use askama::Template;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::strings::Strings;
use crate::formats::gs1;
use crate::http::error::ApiError;

/// The 429 page, with `Retry-After`.
pub(super) fn too_many(s: &'static Strings, retry: u64) -> Response {
    let mut r = message(
        StatusCode::TOO_MANY_REQUESTS,
        s,
        s.rate_title,
        s.rate_text,
        None,
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&retry.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[derive(Template)]
#[template(path = "scan_message.html")]
struct MessagePage<'a> {
    s: &'static Strings,
    title: &'a str,
    text: &'a str,
    class: &'static str,
    status: u16,
    detail_title: &'a str,
    detail: Option<String>,
    back: Option<String>,
}

/// A short page: errors, 429, thanks.
pub(super) fn message(
    status: StatusCode,
    s: &'static Strings,
    title: &str,
    text: &str,
    detail: Option<String>,
    back: Option<String>,
) -> Response {
    let page = MessagePage {
        s,
        title,
        text,
        class: if status.is_success() {
            "genuine"
        } else {
            "unknown"
        },
        status: status.as_u16(),
        detail_title: s.bad_label_detail,
        detail,
        back,
    };
    match page.render() {
        Ok(html) => (status, html_headers(), html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "message page did not render");
            (status, title.to_owned()).into_response()
        }
    }
}

/// The thanks page after a submission, showing back what the consumer wrote.
pub(super) fn thanks(
    s: &'static Strings,
    text: &str,
    echo: Option<String>,
    back: String,
) -> Response {
    let page = MessagePage {
        s,
        title: s.thanks_title,
        text,
        class: "genuine",
        status: 200,
        detail_title: s.you_wrote,
        detail: echo,
        back: Some(back),
    };
    match page.render() {
        Ok(html) => (html_headers(), html).into_response(),
        Err(e) => server_error(s, false, ApiError::Internal(e.to_string())),
    }
}

/// Headers of every HTML page: never cached, varying by what picks the answer.
pub(super) fn html_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Language, Accept-Encoding"),
        ),
    ]
}

/// Opens a GET answer to every origin.
pub(super) fn cors(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Link"),
    );
}

/// The 400 answer to a label that does not parse, as JSON or a page.
pub(super) fn bad_label(s: &'static Strings, e: &gs1::Gs1Error, json: bool) -> Response {
    let msg = e.to_string();
    let mut r = if json {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "bad_label", "message": msg})),
        )
            .into_response()
    } else {
        message(
            StatusCode::BAD_REQUEST,
            s,
            s.bad_label_title,
            s.bad_label_text,
            Some(msg),
            None,
        )
    };
    cors(&mut r);
    r
}

/// A 500: the API error as JSON, or a page that says only that it failed.
pub(super) fn server_error(s: &'static Strings, json: bool, e: ApiError) -> Response {
    if json {
        return e.into_response();
    }
    tracing::error!(error = %e, "scan failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        s,
        s.server_error,
        s.server_error,
        None,
        None,
    )
}

/// Characters escaped in a signature put back into a link: base64url needs none,
/// but a scanned `s` can hold anything.
const SIG_SET: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// `/{path}?s={sig}` of a label: the URL to link to, with only the signature kept.
pub(super) fn label_href(path: &str, sig: Option<&str>) -> String {
    match sig {
        Some(s) => format!(
            "/{path}?s={}",
            percent_encoding::utf8_percent_encode(s, SIG_SET)
        ),
        None => format!("/{path}"),
    }
}

/// `href` with one more query parameter.
pub(super) fn with_param(href: &str, param: &str) -> String {
    let sep = if href.contains('?') { '&' } else { '?' };
    format!("{href}{sep}{param}")
}
