//! What the client asked for: its address and user agent, the query
//! parameters the resolver reads, which answer it wants, the origin for
//! absolute links, and whether a post came from another site.

use axum::extract::{ConnectInfo, Request};
use axum::http::header;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// The client's address, as the connection gives it.
pub(super) fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The client's user agent, empty if it sent none.
pub(super) fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Query parameters the resolver reads; all others are ignored.
#[derive(Debug, Default)]
pub(super) struct Params {
    /// `lang`: the page's language.
    pub lang: Option<String>,
    /// `linkType`: which answer.
    pub link_type: Option<String>,
}

/// Reads the query parameters the resolver knows.
pub(super) fn params(query: Option<&str>) -> Params {
    let mut p = Params::default();
    // Bounded: a huge query string costs at most this many pairs.
    for pair in query.unwrap_or("").split('&').take(64) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "lang" => p.lang = Some(v),
            "linkType" => p.link_type = Some(v),
            _ => {}
        }
    }
    p
}

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// The HTML page.
    Page,
    /// The scan report as JSON.
    Json,
    /// The RFC 9264 linkset.
    Linkset,
    /// The recall status as JSON.
    RecallStatus,
}

/// What to answer, by `linkType` first and then `Accept`.
pub(super) fn answer(headers: &HeaderMap, p: &Params) -> Answer {
    match p.link_type.as_deref() {
        Some("all") | Some("linkset") => return Answer::Linkset,
        Some("gs1:traceability") | Some("https://gs1.org/voc/traceability") => return Answer::Json,
        Some("gs1:recallStatus") | Some("https://gs1.org/voc/recallStatus") => {
            return Answer::RecallStatus
        }
        Some("gs1:pip") | Some("https://gs1.org/voc/pip") => return Answer::Page,
        _ => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/linkset+json") {
        Answer::Linkset
    } else if accept.contains("application/json") && !accept.contains("text/html") {
        Answer::Json
    } else {
        Answer::Page
    }
}

/// The scheme and host the client used, for absolute links.
pub(super) fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// Refuses a post that a browser says came from another site.
pub(super) fn cross_site(headers: &HeaderMap) -> bool {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if site == "cross-site" || site == "same-site" {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // Compare hosts only: a TLS-terminating proxy changes the scheme.
        Some(o) if o != "null" => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            o.split_once("://").map(|(_, h)| h) != Some(host)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn answer_by_accept_and_link_type() {
        let mut h = HeaderMap::new();
        let none = Params::default();
        assert_eq!(answer(&h, &none), Answer::Page);
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(answer(&h, &none), Answer::Json);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/linkset+json"),
        );
        assert_eq!(answer(&h, &none), Answer::Linkset);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/json;q=0.9"),
        );
        assert_eq!(answer(&h, &none), Answer::Page);
        let all = params(Some("s=abc&linkType=all&utm_source=x"));
        assert_eq!(answer(&HeaderMap::new(), &all), Answer::Linkset);
        let rs = params(Some("linkType=gs1%3ArecallStatus"));
        assert_eq!(answer(&HeaderMap::new(), &rs), Answer::RecallStatus);
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("id.example.cn"));
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://id.example.cn"),
        );
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.test"),
        );
        assert!(cross_site(&h));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
    }
}
