//! The scan endpoint at GS1 Digital Link paths: JSON verdicts and a small HTML page.

use askama::Template;
use axum::extract::State;
use axum::http::header::{ACCEPT, ACCEPT_LANGUAGE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::domain::verdict::Verdict;
use crate::gs1;
use crate::ledger::{BatchView, ScanReport};

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

fn chinese(headers: &HeaderMap, query: Option<&str>) -> bool {
    let q = query.unwrap_or("");
    if q.split('&').any(|p| p == "lang=zh") {
        return true;
    }
    if q.split('&').any(|p| p == "lang=en") {
        return false;
    }
    headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.trim_start().starts_with("zh"))
}

#[derive(Template)]
#[template(path = "scan.html")]
struct ScanPage {
    lang: &'static str,
    title: String,
    verdict: &'static str,
    headline: &'static str,
    advice: &'static str,
    recall: Option<String>,
    batch: Option<BatchView>,
    hops: Vec<String>,
    t_lot: &'static str,
    t_factory: &'static str,
    t_produced: &'static str,
    t_expires: &'static str,
    t_inputs: &'static str,
    t_steps: &'static str,
    t_custody: &'static str,
}

fn words(v: Verdict, zh: bool) -> (&'static str, &'static str) {
    match (v, zh) {
        (Verdict::Genuine, false) => ("Genuine", "Signature verified; this unit is on record."),
        (Verdict::Genuine, true) => ("正品", "签名已验证，此商品在册。"),
        (Verdict::Recalled, false) => (
            "Recalled — do not use",
            "This product is under recall. See below.",
        ),
        (Verdict::Recalled, true) => ("已召回 — 请勿使用", "此产品正在召回，请看下方说明。"),
        (Verdict::Expired, false) => ("Expired", "This unit is past its expiry date."),
        (Verdict::Expired, true) => ("已过期", "此商品已超过保质期。"),
        (Verdict::Suspect, false) => (
            "Suspect — possible copied label",
            "The label is signed, but its scans contradict its custody record.",
        ),
        (Verdict::Suspect, true) => (
            "可疑 — 标签可能被复制",
            "标签签名有效，但扫码记录与流通记录不符。",
        ),
        (Verdict::Unknown, false) => (
            "Could not verify — possibly counterfeit",
            "No such unit, or the label signature does not verify.",
        ),
        (Verdict::Unknown, true) => (
            "无法验证 — 可能是假冒产品",
            "查无此商品，或标签签名无法验证。",
        ),
    }
}

fn page(report: &ScanReport, zh: bool) -> ScanPage {
    let (headline, advice) = words(report.verdict, zh);
    let hops = report
        .history
        .iter()
        .map(|e| {
            let field = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let to = field("to");
            let arrow = if to.is_empty() {
                String::new()
            } else {
                format!(" → {to}")
            };
            format!(
                "{} {} {}{}",
                field("time"),
                field("type"),
                field("party"),
                arrow
            )
        })
        .collect();
    let recall = report.recall.as_ref().map(|r| {
        format!(
            "{} {}",
            r.reason.clone().unwrap_or_default(),
            r.instructions.clone().unwrap_or_default()
        )
    });
    let t = |en: &'static str, cn: &'static str| if zh { cn } else { en };
    ScanPage {
        lang: if zh { "zh-CN" } else { "en" },
        title: format!("suyuan — {headline}"),
        verdict: report.verdict.as_str(),
        headline,
        advice,
        recall,
        batch: report.batch.clone(),
        hops,
        t_lot: t("Lot", "批号"),
        t_factory: t("Factory", "生产厂家"),
        t_produced: t("Produced", "生产日期"),
        t_expires: t("Expires", "有效期至"),
        t_inputs: t("Raw materials", "原料"),
        t_steps: t("Process", "工艺"),
        t_custody: t("Custody", "流通记录"),
    }
}

/// Answers a scanned label URL (the router's fallback: any path that is a Digital Link).
pub async fn scan(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let json = wants_json(&headers);
    let scanned = match gs1::parse_path(uri.path(), uri.query()) {
        Ok(sc) => sc,
        Err(e) => {
            let msg = e.to_string();
            return if json {
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "bad_label", "message": msg})),
                )
                    .into_response()
            } else {
                let body = format!(
                    "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\"><title>Bad label</title><h1>This is not a label suyuan can read</h1><p>{}</p>",
                    askama_escape(&msg)
                );
                (StatusCode::BAD_REQUEST, Html(body)).into_response()
            };
        }
    };
    let today = crate::domain::time::Timestamp::now().date();
    let report = match s
        .ledger
        .scan(&scanned.key, scanned.sig.as_deref(), today)
        .await
    {
        Ok(r) => r,
        Err(e) => return super::error::ApiError::from(e).into_response(),
    };
    if json {
        return Json(report).into_response();
    }
    match page(&report, chinese(&headers, uri.query())).render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => super::error::ApiError::Internal(e.to_string()).into_response(),
    }
}

fn askama_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
