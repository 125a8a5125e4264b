//! Small server-side SVG charts for the inspector page: horizontal bars, dwell
//! ranges and a per-day column chart. No JS, no fonts to fetch; every label is
//! XML-escaped here, since party names are free text (Chinese, `<`, `&`).

use std::fmt::Write;

use crate::formats::xml::escape;

/// Chart width in pixels.
const WIDTH: u32 = 640;
/// Left column for labels.
const LABEL_W: u32 = 200;
/// Space right of the bars for the value text.
const VALUE_W: u32 = 110;
/// One row of a bar chart.
const ROW_H: u32 = 24;
/// Longest label drawn, in characters; longer ones end in "…" (the full text is in the tooltip).
const MAX_LABEL: usize = 22;
/// Longest run of days drawn one column per day.
const MAX_DAYS: usize = 120;

fn short(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(MAX_LABEL - 1).collect();
        s.push('…');
        s
    }
}

fn open(out: &mut String, title: &str, height: u32) {
    let t = escape(title);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{t}\" font-family=\"sans-serif\" font-size=\"12\">\
         <title>{t}</title>"
    );
}

fn scale(value: u64, max: u64) -> u32 {
    let span = u64::from(WIDTH - LABEL_W - VALUE_W);
    // An empty chart (max 0) draws no bars.
    value
        .min(max)
        .saturating_mul(span)
        .checked_div(max)
        .unwrap_or(0) as u32
}

/// One bar: a label, a length and the text shown beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Row label (escaped here).
    pub label: String,
    /// Length, in the chart's unit.
    pub value: u64,
    /// Text beside the bar (escaped here).
    pub text: String,
}

/// A horizontal bar chart, one `rect.bar` per row.
pub fn bars(title: &str, rows: &[Bar]) -> String {
    let height = ROW_H * rows.len().max(1) as u32 + 8;
    let max = rows.iter().map(|r| r.value).max().unwrap_or(0);
    let mut out = String::new();
    open(&mut out, title, height);
    for (i, r) in rows.iter().enumerate() {
        let y = 4 + ROW_H * i as u32;
        let w = scale(r.value, max).max(u32::from(r.value > 0));
        let (label, text) = (escape(&r.label), escape(&r.text));
        let _ = write!(
            out,
            "<g><title>{label}: {text}</title>\
             <text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{sl}</text>\
             <rect class=\"bar\" x=\"{LABEL_W}\" y=\"{ry}\" width=\"{w}\" height=\"{bh}\" fill=\"#2b6cb0\"/>\
             <text x=\"{vx}\" y=\"{ty}\">{text}</text></g>",
            lx = LABEL_W - 6,
            ty = y + 16,
            sl = escape(&short(&r.label)),
            ry = y + 3,
            bh = ROW_H - 6,
            vx = LABEL_W + w + 6,
        );
    }
    out.push_str("</svg>");
    out
}

/// One hop of the dwell chart, in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Row label (escaped here).
    pub label: String,
    /// Median.
    pub p50: i64,
    /// 90th percentile.
    pub p90: i64,
    /// Longest.
    pub max: i64,
}

/// "3.5 h", "2.0 d": a duration the way people read it.
pub fn duration(secs: i64) -> String {
    let h = secs as f64 / 3600.0;
    if h < 48.0 {
        format!("{h:.1} h")
    } else {
        format!("{:.1} d", h / 24.0)
    }
}

/// Dwell per hop: a dark bar to the median, a light one to p90, a tick at the maximum.
pub fn dwell(title: &str, rows: &[Span]) -> String {
    let height = ROW_H * rows.len().max(1) as u32 + 8;
    let max = rows.iter().map(|r| r.max.max(0) as u64).max().unwrap_or(0);
    let mut out = String::new();
    open(&mut out, title, height);
    for (i, r) in rows.iter().enumerate() {
        let y = 4 + ROW_H * i as u32;
        let px = |v: i64| scale(v.max(0) as u64, max);
        let (w50, w90, wmax) = (px(r.p50), px(r.p90), px(r.max));
        let label = escape(&r.label);
        let text = format!(
            "p50 {} · p90 {} · max {}",
            duration(r.p50),
            duration(r.p90),
            duration(r.max)
        );
        let _ = write!(
            out,
            "<g><title>{label}: {text}</title>\
             <text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{sl}</text>\
             <rect class=\"p90\" x=\"{LABEL_W}\" y=\"{ry}\" width=\"{w90}\" height=\"{bh}\" fill=\"#bee3f8\"/>\
             <rect class=\"bar\" x=\"{LABEL_W}\" y=\"{ry}\" width=\"{w50}\" height=\"{bh}\" fill=\"#2b6cb0\"/>\
             <line class=\"max\" x1=\"{mx}\" x2=\"{mx}\" y1=\"{ry}\" y2=\"{ly}\" stroke=\"#c53030\" stroke-width=\"2\"/>\
             <text x=\"{vx}\" y=\"{ty}\">{mt}</text></g>",
            lx = LABEL_W - 6,
            ty = y + 16,
            sl = escape(&short(&r.label)),
            ry = y + 3,
            bh = ROW_H - 6,
            mx = LABEL_W + wmax,
            ly = y + ROW_H - 3,
            vx = LABEL_W + wmax + 6,
            mt = escape(&duration(r.p50)),
        );
    }
    out.push_str("</svg>");
    out
}

/// Days from `first` to `last` (YYYY-MM-DD) inclusive, when both parse and the run is short.
fn day_run(first: &str, last: &str) -> Option<Vec<String>> {
    use crate::domain::time::{Date, Timestamp};
    let unix = |d: &str| {
        let (y, m, dd) = Date::parse(d).ok()?.ymd();
        let t = Timestamp::parse(&format!("{y:04}-{m:02}-{dd:02}T00:00:00Z")).ok()?;
        Some(t.unix() / 86_400)
    };
    let (a, b) = (unix(first)?, unix(last)?);
    let n = usize::try_from(b - a + 1).ok()?;
    (n <= MAX_DAYS).then(|| {
        (a..=b)
            .map(|d| Timestamp::from_unix(d * 86_400).date().to_string())
            .collect()
    })
}

/// Counts per day as columns, one `rect.bar` per day with any; missing days in a
/// short run are drawn as gaps so the time axis stays even.
pub fn per_day(title: &str, days: &[(String, u64)]) -> String {
    let run = match (days.first(), days.last()) {
        (Some(f), Some(l)) => {
            day_run(&f.0, &l.0).unwrap_or_else(|| days.iter().map(|d| d.0.clone()).collect())
        }
        _ => Vec::new(),
    };
    let plot_h = 120u32;
    let height = plot_h + 40;
    let col = ((WIDTH - 40) / run.len().max(1) as u32).clamp(2, 40);
    let max = days.iter().map(|d| d.1).max().unwrap_or(0);
    let mut out = String::new();
    open(&mut out, title, height);
    let _ = write!(
        out,
        "<line x1=\"30\" x2=\"{WIDTH}\" y1=\"{plot_h}\" y2=\"{plot_h}\" stroke=\"#999\"/>\
         <text x=\"26\" y=\"12\" text-anchor=\"end\">{max}</text>"
    );
    for (i, day) in run.iter().enumerate() {
        let x = 32 + col * i as u32;
        let n = days.iter().find(|d| &d.0 == day).map_or(0, |d| d.1);
        if n > 0 {
            let h = (n.saturating_mul(u64::from(plot_h - 10)) / max.max(1)).max(1) as u32;
            let d = escape(day);
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"#c53030\">\
                 <title>{d}: {n}</title></rect>",
                y = plot_h - h,
                w = col.saturating_sub(1).max(1),
            );
        }
        // Label the first and last day, and every tenth in between.
        if i == 0 || i + 1 == run.len() || i % 10 == 0 {
            let _ = write!(
                out,
                "<text x=\"{x}\" y=\"{ty}\" font-size=\"10\">{d}</text>",
                ty = plot_h + 14 + 12 * (i % 2) as u32,
                d = escape(&day[5.min(day.len())..]),
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_labels_are_cut_and_durations_read_naturally() {
        assert_eq!(short("abc"), "abc");
        let s = short(&"长".repeat(40));
        assert_eq!(s.chars().count(), MAX_LABEL);
        assert!(s.ends_with('…'));
        assert_eq!(duration(5400), "1.5 h");
        assert_eq!(duration(3 * 86_400), "3.0 d");
    }

    #[test]
    fn bars_scale_to_the_longest() {
        let rows = [
            Bar {
                label: "a".into(),
                value: 10,
                text: "10".into(),
            },
            Bar {
                label: "b".into(),
                value: 5,
                text: "5".into(),
            },
        ];
        let svg = bars("t", &rows);
        let full = WIDTH - LABEL_W - VALUE_W;
        assert!(svg.contains(&format!("width=\"{full}\"")), "{svg}");
        assert!(svg.contains(&format!("width=\"{}\"", full / 2)), "{svg}");
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
    }

    #[test]
    fn day_runs_fill_gaps_and_give_up_on_long_spans() {
        let run = day_run("2026-02-27", "2026-03-02").unwrap();
        assert_eq!(
            run,
            ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
        );
        assert!(day_run("2020-01-01", "2026-01-01").is_none());
        let svg = per_day("t", &[("2026-02-27".into(), 3), ("2026-03-02".into(), 1)]);
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        // The gap days keep their place: the last column sits three columns on.
        let col = ((WIDTH - 40) / 4).clamp(2, 40);
        assert!(svg.contains(&format!("x=\"{}\"", 32 + col * 3)), "{svg}");
        assert!(svg.contains("02-27") && svg.contains("03-02"), "{svg}");
    }
}
