//! What a scan of a label shows: the verdict, the batch, the unit's state and
//! history, and (for a consumer's scan) its scan log.

use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

use super::ledger::Ledger;
use super::scanner::Scanner;
use crate::domain::custody::Holding;
use crate::domain::sale::{self, Sale};
use crate::domain::scanlog::{self, ScanRecord};
use crate::domain::statement::{BatchStatement, EventStatement};
use crate::domain::time::{Date, Timestamp};
use crate::domain::verdict::{self, ScanFacts, SuspectReason, Verdict};
use crate::formats::gs1::Key;
use crate::store::{Party, StoreError};

impl Ledger {
    /// Everything a scan of a label shows: verdict, batch, unit state and history.
    /// Reads only; nothing is logged (see [`Ledger::scan_logged`]).
    pub async fn scan(
        &self,
        key: &Key,
        sig: Option<&str>,
        today: Date,
    ) -> Result<ScanReport, StoreError> {
        self.scan_logged(key, sig, today, None).await
    }

    /// A scan by a consumer: like [`Ledger::scan`], and when the label verifies
    /// the scan is recorded and the unit's scan history feeds the verdict.
    pub async fn scan_logged(
        &self,
        key: &Key,
        sig: Option<&str>,
        today: Date,
        scanner: Option<&Scanner>,
    ) -> Result<ScanReport, StoreError> {
        let mut report = ScanReport {
            verdict: Verdict::Unknown,
            reason: None,
            path: key.canonical_path(),
            signature_ok: false,
            batch: None,
            unit_index: None,
            holding: None,
            holder: None,
            recall: None,
            sale: Sale::NotSold,
            history: Arc::default(),
            events: Arc::default(),
            view: 0,
            scans: None,
        };
        let Key::Unit { gtin, lot, serial } = key else {
            return Ok(report);
        };
        let Some(view) = self.unit_view(&report.path, gtin, lot, serial).await? else {
            return Ok(report);
        };
        report.signature_ok = match sig {
            Some(s) => {
                self.label_signature_ok(&view.batch.party, &report.path, s)
                    .await?
            }
            None => false,
        };
        let batch = &view.batch;
        let record = &view.record;
        let holding = view.holding.clone();
        let holder = view.holder.clone();
        report.view = view.id;
        if let (Some(i), Some(_)) = (view.index, &holding) {
            report.unit_index = Some(i);
            report.history = view.history.clone();
            report.events = view.events.clone();
            report.recall = view.recall.clone();
            report.sale = view.sale.clone();
        }
        let sold = holding
            .as_ref()
            .is_some_and(|h| sale::is_sold(h.disposition));
        // Only scans of labels that verify are logged: a forged URL must not be
        // able to make a genuine unit look copied.
        let mut scanners_after_sale = 0;
        if let (true, Some(_), Some(sc)) = (report.signature_ok, &holding, scanner) {
            let since = if sold {
                view.sale.last_sold().map(|t| t.unix())
            } else {
                None
            };
            let rec = ScanRecord {
                unit: report.path.clone(),
                time: sc.time,
                day: sc.day,
                scanner: sc.hash.clone(),
            };
            let stats = self.scans.record(&self.store, rec, since).await?;
            scanners_after_sale = scanlog::scanners_estimate(&stats.per_day_since);
            report.scans = Some(ScanSummary {
                count: stats.count,
                first_verified: stats.first.map(Timestamp::from_unix),
                scanners_after_sale,
            });
        }
        let facts = ScanFacts {
            signature_ok: report.signature_ok,
            minted: holding.is_some(),
            recalled: holding.as_ref().is_some_and(|h| h.recall.is_some()),
            expires: record.expires,
            today,
            disposition: holding.as_ref().map(|h| h.disposition),
            holder_kind: holder.as_ref().map(|p| p.kind),
            scanners_after_sale,
        };
        let (v, reason) = verdict::decide(&facts);
        report.verdict = v;
        report.reason = reason;
        report.batch = Some(BatchView {
            id: batch.id.hex(),
            head: batch.head.hex(),
            record: record.clone(),
        });
        report.holding = holding;
        report.holder = holder;
        Ok(report)
    }
}

/// The batch as a scan shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    /// Batch id.
    pub id: String,
    /// Current chain head.
    pub head: String,
    /// The signed record.
    pub record: Arc<BatchStatement>,
}

/// What a scan shows.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Why suspect, when suspect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SuspectReason>,
    /// Canonical Digital Link path that was (or would be) signed.
    pub path: String,
    /// The label signature verified.
    pub signature_ok: bool,
    /// The batch, if found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchView>,
    /// The unit index, if minted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_index: Option<u64>,
    /// The unit's holding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holding: Option<Holding>,
    /// The current holder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<Party>,
    /// The recall covering the unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<EventStatement>,
    /// Where the unit's retail sale stands.
    #[serde(skip)]
    pub sale: Sale,
    /// Custody events that named this unit, oldest first, as signed.
    pub history: Arc<Vec<Value>>,
    /// The same events, typed (without their signatures).
    #[serde(skip)]
    pub events: Arc<Vec<EventStatement>>,
    /// Identifies the ledger state this report was read from: equal ids mean
    /// the same batch, holding and history (0: nothing was read). Lets the
    /// page cache what it derives from them.
    #[serde(skip)]
    pub view: u64,
    /// The scan log of the unit, when this scan was logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scans: Option<ScanSummary>,
}

/// What the scan log says about a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanSummary {
    /// Verified scans recorded, this one included.
    pub count: u64,
    /// When the label was first verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_verified: Option<Timestamp>,
    /// Estimated distinct devices since the sale (see [`scanlog::scanners_estimate`]).
    pub scanners_after_sale: u32,
}
