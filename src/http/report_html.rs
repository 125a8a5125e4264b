//! The report as the `/inspect` page shows it: tables plus server-side SVG charts.

use super::report::ReportView;
use crate::app::report::svg::{self, Bar, Span};

/// A table row: first cell a label, then figures.
pub struct Row {
    /// First cell.
    pub label: String,
    /// Other cells.
    pub cells: Vec<String>,
}

/// Everything the template shows of one report.
pub struct ReportHtml {
    /// Heading.
    pub title: String,
    /// Batches covered, one line each.
    pub batches: Vec<String>,
    /// Units by holder (SVG, escaped when drawn).
    pub holders_svg: String,
    /// Units by holder and state.
    pub holders: Vec<Row>,
    /// Dwell per hop (SVG).
    pub dwell_svg: String,
    /// Dwell per hop.
    pub dwell: Vec<Row>,
    /// Receipts with open exceptions, one line each.
    pub exceptions: Vec<String>,
    /// Returns by kind and reason.
    pub returns: Vec<Row>,
    /// Feedback by kind and category.
    pub feedback: Vec<Row>,
    /// Suspect scans per day (SVG), when there are any.
    pub suspect_svg: Option<String>,
    /// One line of totals about scans.
    pub suspect_summary: String,
    /// Suspect units.
    pub suspects: Vec<Row>,
}

fn hop(kind: Option<crate::domain::party::PartyKind>) -> &'static str {
    kind.map(|k| k.as_str()).unwrap_or("?")
}

/// Builds the page view of a report.
pub fn view(v: &ReportView) -> ReportHtml {
    let r = &v.report;
    let title = match (&v.batch, &v.party) {
        (Some(b), _) => format!("Report on batch {b}"),
        (_, Some(p)) => format!("Report on party {p} ({} batches)", r.batches.len()),
        _ => "Report".into(),
    };
    let holders_svg = svg::bars(
        "Units by holder",
        &r.units_by_holder
            .iter()
            .map(|h| Bar {
                label: h.name.clone(),
                value: h.units,
                text: format!("{} units", h.units),
            })
            .collect::<Vec<_>>(),
    );
    let holders = r
        .units_by_holder
        .iter()
        .map(|h| Row {
            label: format!("{} ({}, {})", h.name, h.holder, hop(h.kind)),
            cells: vec![
                h.units.to_string(),
                h.by_state
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ],
        })
        .collect();
    let dwell_svg = svg::dwell(
        "Dwell time per hop",
        &r.dwell
            .iter()
            .map(|d| Span {
                label: format!("{} → {}", d.name, d.until.as_str()),
                p50: d.p50_secs,
                p90: d.p90_secs,
                max: d.max_secs,
            })
            .collect::<Vec<_>>(),
    );
    let dwell = r
        .dwell
        .iter()
        .map(|d| Row {
            label: format!("{} ({}) until {}", d.name, hop(d.kind), d.until.as_str()),
            cells: vec![
                d.units.to_string(),
                svg::duration(d.p50_secs),
                svg::duration(d.p90_secs),
                svg::duration(d.max_secs),
            ],
        })
        .collect();
    let exceptions = r
        .open_exceptions
        .iter()
        .map(|o| {
            let what: Vec<String> = o
                .exceptions
                .iter()
                .map(|e| {
                    let kind = serde_json::to_value(e.kind)
                        .ok()
                        .and_then(|k| k.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let note = e
                        .note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    if e.units > 0 {
                        format!("{kind}: {} of {} units open{note}", e.open_units, e.units)
                    } else {
                        format!("{kind}: units not named{note}")
                    }
                })
                .collect();
            format!(
                "{} received from {} at {}: {} — receipt {}",
                o.receiver,
                o.sender.as_deref().unwrap_or("?"),
                o.time,
                what.join("; "),
                o.receipt
            )
        })
        .collect();
    let returns = r
        .returns
        .iter()
        .map(|x| Row {
            label: x.kind.clone(),
            cells: vec![x.reason.clone(), x.units.to_string()],
        })
        .collect();
    let feedback = r
        .feedback
        .iter()
        .map(|f| Row {
            label: f.kind.clone(),
            cells: vec![
                f.category.clone().unwrap_or_else(|| "—".into()),
                f.count.to_string(),
            ],
        })
        .collect();
    let s = &r.suspect;
    let suspect_svg = (!s.per_day.is_empty()).then(|| {
        svg::per_day(
            "Suspect scans per day",
            &s.per_day
                .iter()
                .map(|d| (d.day.clone(), d.scans))
                .collect::<Vec<_>>(),
        )
    });
    let suspects = s
        .units
        .iter()
        .map(|u| Row {
            label: format!(
                "serial {} (batch {}…)",
                u.serial,
                &u.batch[..12.min(u.batch.len())]
            ),
            cells: vec![
                u.reasons
                    .iter()
                    .filter_map(|x| serde_json::to_value(x).ok())
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
                format!("{} of {}", u.suspect_scans, u.scans),
                u.first.clone(),
                u.last.clone(),
            ],
        })
        .collect();
    ReportHtml {
        title,
        batches: r
            .batches
            .iter()
            .map(|b| {
                format!(
                    "{} lot {} — {} units by {} (batch {})",
                    b.product, b.lot, b.quantity, b.party, b.batch
                )
            })
            .collect(),
        holders_svg,
        holders,
        dwell_svg,
        dwell,
        exceptions,
        returns,
        feedback,
        suspect_svg,
        suspect_summary: format!(
            "{} scans logged, {} suspect, on {} units",
            s.scans, s.suspect_scans, s.suspect_units
        ),
        suspects,
    }
}
