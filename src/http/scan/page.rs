//! The HTML scan page: what it shows of the report (product, journey,
//! inspections, sale), rendered once per ledger state and language and kept
//! with holes for what changes on every scan (see [`super::frozen`]).

use askama::Template;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::form_token;
use super::frozen::Frozen;
use super::respond::{html_headers, with_param};
use super::strings::Strings;
use super::ScanApp;
use crate::app::ledger::ScanReport;
use crate::domain::feedback::Category;
use crate::domain::party::Slug;
use crate::domain::sale::{self, Sale};
use crate::domain::statement::EventType;
use crate::domain::time::Timestamp;
use crate::domain::verdict::{SuspectReason, Verdict};
use crate::http::error::ApiError;
use crate::http::AppState;

/// The HTML page of a scan: the cached page with this scan's count line and
/// a fresh form token filled in, and a `Link` header to the linkset.
pub(super) async fn respond(
    st: &ScanApp,
    report: &ScanReport,
    s: &'static Strings,
    href: &str,
) -> Result<Response, ApiError> {
    let key = st.app.ledger.form_key().await?;
    let token = form_token::issue(key, &report.path, Timestamp::now().unix());
    let page = frozen_page(st, report, s, href).await?;
    let html = page.fill(&scans_line(report, s).unwrap_or_default(), &token);
    let mut r = (html_headers(), html).into_response();
    let link = format!(
        "<{}>; rel=\"linkset\"; type=\"application/linkset+json\"",
        with_param(href, "linkType=all")
    );
    if let Ok(v) = HeaderValue::from_str(&link) {
        r.headers_mut().insert(header::LINK, v);
    }
    Ok(r)
}

/// What a rendered page depends on besides this scan's count and token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct PageKey {
    view: u64,
    lang: &'static str,
    verdict: Verdict,
    reason: Option<SuspectReason>,
    scans: bool,
    returnable: bool,
    href: String,
}

/// The report's page with holes, from the cache when it was rendered before.
async fn frozen_page(
    st: &ScanApp,
    report: &ScanReport,
    s: &'static Strings,
    href: &str,
) -> Result<Arc<Frozen>, ApiError> {
    let key = PageKey {
        view: report.view,
        lang: s.code,
        verdict: report.verdict,
        reason: report.reason,
        scans: report.scans.is_some(),
        returnable: returnable(report),
        href: href.to_owned(),
    };
    // Only pages of labels that verify are kept: view 0 is "no such unit",
    // and a forged signature makes a new href each time, so keeping either
    // would let made-up labels push real pages out of the cache.
    let keep = report.view != 0 && report.signature_ok;
    if keep {
        if let Some(p) = st.st.pages.get(&key) {
            return Ok(p);
        }
    }
    let parts = build_page_parts(&st.app, report, s).await;
    let m = &st.st.markers;
    let html = page_view(&parts, report, s, href, m.scans(), m.token())
        .render()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let page = Arc::new(Frozen::cut(&html, m));
    if keep {
        st.st.pages.insert(key, page.clone());
    }
    Ok(page)
}

/// "First verified on … · scanned N times", when the scan was logged.
fn scans_line(report: &ScanReport, s: &'static Strings) -> Option<String> {
    report.scans.as_ref().map(|sc| {
        let mut parts = Vec::new();
        if let Some(first) = sc.first_verified {
            parts.push(s.first_verified.replace("{date}", &s.time(first)));
        }
        parts.push(s.scanned_times.replace("{n}", &sc.count.to_string()));
        parts.join(" · ")
    })
}

/// Whether the page offers a return (see [`sale::returnable`]).
fn returnable(report: &ScanReport) -> bool {
    sale::returnable(
        report.signature_ok,
        report.holding.as_ref().map(|h| h.disposition),
    )
}

/// The product part of the page.
#[derive(Debug)]
struct ProductView {
    name: String,
    gtin: String,
    lot: String,
    serial: String,
    factory: String,
    produced: String,
    line: Option<String>,
    expires: Option<String>,
    /// material, supplier, supplier lot, origin
    inputs: Vec<(String, String, String, String)>,
    /// name, when and where
    steps: Vec<(String, String)>,
}

#[derive(Debug)]
struct HopView {
    what: &'static str,
    when: String,
    party: String,
    to: Option<String>,
    place: Option<String>,
    signed: String,
}

struct FormView {
    action: String,
    token: String,
}

#[derive(Template)]
#[template(path = "scan.html")]
struct ScanPage<'a> {
    s: &'static Strings,
    verdict: &'static str,
    mark: &'static str,
    headline: &'static str,
    advice: &'static str,
    scans_line: Option<String>,
    report_hint: bool,
    recall: Option<(String, String)>,
    product: Option<&'a ProductView>,
    hops: &'a [HopView],
    /// result, when and who, signature line, method and certificate hash
    inspections: &'a [(String, String, String, String)],
    sale: Option<&'a str>,
    form: Option<FormView>,
    returnable: bool,
    categories: Vec<(&'static str, &'static str)>,
    other_lang_href: String,
    linkset_href: String,
}

/// What a page shows that depends only on the ledger state read for the scan
/// and the language.
#[derive(Debug)]
struct PageParts {
    product: Option<ProductView>,
    hops: Vec<HopView>,
    /// result, when and who, signature line, method and certificate hash
    inspections: Vec<(String, String, String, String)>,
    sale: Option<String>,
}

async fn party_name(app: &AppState, slug: &Slug) -> String {
    match app.ledger.party(slug.as_str()).await {
        Ok(Some(p)) => p.name,
        _ => slug.to_string(),
    }
}

fn short_key(key: &str) -> &str {
    key.get(..8).unwrap_or(key)
}

async fn build_page_parts(app: &AppState, report: &ScanReport, s: &'static Strings) -> PageParts {
    let mut product = None;
    if let Some(b) = &report.batch {
        let r = &b.record;
        let serial = report
            .path
            .rsplit_once("/21/")
            .map(|(_, sr)| {
                percent_encoding::percent_decode_str(sr)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        product = Some(ProductView {
            name: r.product.clone(),
            gtin: r.gtin.to_string(),
            lot: r.lot.to_string(),
            serial,
            factory: party_name(app, &r.party).await,
            produced: s.date(r.produced),
            line: r.line.clone(),
            expires: r.expires.map(|e| s.date(e)),
            inputs: r
                .inputs
                .iter()
                .map(|i| {
                    (
                        i.material.clone(),
                        i.supplier.clone(),
                        i.supplier_lot.clone(),
                        i.origin.clone(),
                    )
                })
                .collect(),
            steps: r
                .steps
                .iter()
                .map(|st| {
                    let when = st.time.map(|t| s.time(t)).unwrap_or_default();
                    let at = match (&st.place, when.is_empty()) {
                        (Some(p), true) => p.clone(),
                        (Some(p), false) => format!("{when} · {p}"),
                        (None, _) => when,
                    };
                    (st.name.clone(), at)
                })
                .collect(),
        });
    }
    let mut hops = Vec::new();
    let mut inspections = Vec::new();
    for e in report.events.iter() {
        let who = party_name(app, &e.party).await;
        let signed = s
            .signed_by
            .replace("{party}", &who)
            .replace("{key}", short_key(&e.key));
        if e.event_type == EventType::Inspecting {
            // Method and certificate hash were added later; older inspections lack them.
            let details: Vec<String> = [
                (s.inspection_method, &e.method),
                (s.inspection_certificate, &e.certificate_sha256),
            ]
            .into_iter()
            .filter_map(|(label, v)| v.as_ref().map(|v| format!("{label}: {v}")))
            .collect();
            inspections.push((
                e.result.clone().unwrap_or_default(),
                format!("{} · {who}", s.time(e.time)),
                signed,
                details.join(" · "),
            ));
            continue;
        }
        // A handoff names its receiver; packing names the case or pallet; a
        // container handoff names the containers the unit travelled in.
        let to = match (&e.to, &e.parent) {
            (Some(t), _) => Some(party_name(app, t).await),
            (None, Some(p)) => Some(format!("SSCC {p}")),
            (None, None) => None,
        };
        let to = match (to, e.containers.is_empty()) {
            (to, true) => to,
            (to, false) => {
                let boxes: Vec<String> = e.containers.iter().map(|c| format!("SSCC {c}")).collect();
                Some(match to {
                    Some(t) => format!("{t} ({})", boxes.join(", ")),
                    None => boxes.join(", "),
                })
            }
        };
        hops.push(HopView {
            what: s.event(e.event_type),
            when: s.time(e.time),
            party: who,
            to,
            place: e.place.clone(),
            signed,
        });
    }
    let sale = match &report.sale {
        Sale::NotSold => None,
        Sale::Sold {
            time,
            seller,
            place,
        } => {
            let place = match place {
                Some(p) => p.clone(),
                None => party_name(app, seller).await,
            };
            Some(
                s.sold_on
                    .replace("{date}", &s.time(*time))
                    .replace("{place}", &place),
            )
        }
        Sale::Returned { time, .. } => Some(s.returned_on.replace("{date}", &s.time(*time))),
    };
    PageParts {
        product,
        hops,
        inspections,
        sale,
    }
}

fn page_view<'a>(
    parts: &'a PageParts,
    report: &ScanReport,
    s: &'static Strings,
    href: &str,
    scans_hole: &str,
    token: &str,
) -> ScanPage<'a> {
    let v = report.verdict;
    let mark = match v {
        Verdict::Genuine => "✓",
        Verdict::Unknown => "?",
        _ => "!",
    };
    let scans_line = report.scans.as_ref().map(|_| scans_hole.to_owned());
    let recall = report.recall.as_ref().map(|r| {
        (
            r.reason.clone().unwrap_or_default(),
            r.instructions.clone().unwrap_or_default(),
        )
    });
    let lang_param = format!("lang={}", s.code);
    ScanPage {
        s,
        verdict: v.as_str(),
        mark,
        headline: s.verdict(v),
        advice: s.advice(v, report.reason),
        scans_line,
        report_hint: matches!(v, Verdict::Unknown | Verdict::Suspect),
        recall,
        product: parts.product.as_ref(),
        hops: &parts.hops,
        inspections: &parts.inspections,
        sale: parts.sale.as_deref(),
        form: Some(FormView {
            action: with_param(href, &lang_param),
            token: token.to_owned(),
        }),
        returnable: returnable(report),
        categories: Category::ALL
            .iter()
            .map(|c| (c.as_str(), s.category(*c)))
            .collect(),
        other_lang_href: with_param(href, &format!("lang={}", s.other_code)),
        linkset_href: with_param(href, "linkType=all"),
    }
}
