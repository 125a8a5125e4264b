//! Suspect scans: scans of genuine labels that contradict custody, judged by
//! the scan page's own rules (`domain::verdict`) as they stood at each scan's
//! time: a consumer scan of a unit that had not reached a retailer yet, or more
//! distinct devices after the sale than one buyer uses (a copied label).
//!
//! Recall and expiry are left out of the facts on purpose: they take precedence
//! on the scan page, but they do not make a copied label any less copied.

use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

use super::dwell::Timeline;
use super::BatchInput;
use crate::domain::custody::Disposition;
use crate::domain::party::PartyKind;
use crate::domain::scanlog::scanners_estimate;
use crate::domain::time::Timestamp;
use crate::domain::verdict::{decide, ScanFacts, SuspectReason, Verdict};

/// Most suspect units listed by name; the counts cover all of them.
pub const MAX_UNITS: usize = 200;

/// One unit whose scans contradict custody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuspectUnit {
    /// Batch id.
    pub batch: String,
    /// Unit index.
    pub index: u64,
    /// Printed serial.
    pub serial: String,
    /// Why its scans were suspect.
    pub reasons: Vec<SuspectReason>,
    /// All its logged scans.
    pub scans: u64,
    /// Those that were suspect.
    pub suspect_scans: u64,
    /// First suspect scan.
    pub first: String,
    /// Last suspect scan.
    pub last: String,
}

/// Suspect scans on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// YYYY-MM-DD.
    pub day: String,
    /// Suspect scans that day.
    pub scans: u64,
}

/// Suspect scans of the batches covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SuspectReport {
    /// Logged scans, all of them.
    pub scans: u64,
    /// Suspect scans.
    pub suspect_scans: u64,
    /// Units with at least one suspect scan.
    pub suspect_units: u64,
    /// Those units, most suspect scans first (at most [`MAX_UNITS`]).
    pub units: Vec<SuspectUnit>,
    /// Suspect scans per day, oldest first, days without any left out.
    pub per_day: Vec<DayCount>,
}

/// Judges every scan of one batch.
pub fn batch(b: &BatchInput, timeline: &Timeline) -> SuspectReport {
    let mut by_unit: BTreeMap<u64, Vec<&super::Scan>> = BTreeMap::new();
    for s in &b.scans {
        by_unit.entry(s.index).or_default().push(s);
    }
    let mut report = SuspectReport {
        scans: b.scans.len() as u64,
        ..Default::default()
    };
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    for (index, mut scans) in by_unit {
        scans.sort_by_key(|s| s.time);
        let seg = timeline.unit(index);
        let sold_at = seg.and_then(|s| s.sold_at);
        let retail_at = seg.and_then(|s| s.retail_at);
        let mut after_sale: BTreeMap<i64, HashSet<&str>> = BTreeMap::new();
        let mut reasons = Vec::new();
        let mut hits: Vec<i64> = Vec::new();
        for s in &scans {
            let sold = sold_at.is_some_and(|t| s.time >= t);
            if sold {
                after_sale.entry(s.day).or_default().insert(&s.scanner);
            }
            let counts: Vec<u32> = after_sale.values().map(|d| d.len() as u32).collect();
            let facts = ScanFacts {
                signature_ok: true,
                minted: seg.is_some(),
                recalled: false,
                expires: None,
                today: Timestamp::from_unix(s.time).date(),
                disposition: Some(if sold {
                    Disposition::RetailSold
                } else {
                    Disposition::Active
                }),
                holder_kind: retail_at.filter(|&t| s.time >= t).map(|_| PartyKind::B2),
                scanners_after_sale: scanners_estimate(&counts),
            };
            if let (Verdict::Suspect, Some(r)) = decide(&facts) {
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
                hits.push(s.time);
                let day = Timestamp::from_unix(s.time).date().to_string();
                *per_day.entry(day).or_default() += 1;
            }
        }
        let (Some(&first), Some(&last)) = (hits.first(), hits.last()) else {
            continue;
        };
        report.suspect_scans += hits.len() as u64;
        report.units.push(SuspectUnit {
            batch: b.id.hex(),
            index,
            serial: crate::domain::batch::serial_for(index, b.record.serial_prefix.as_deref()),
            reasons,
            scans: scans.len() as u64,
            suspect_scans: hits.len() as u64,
            first: Timestamp::from_unix(first).to_string(),
            last: Timestamp::from_unix(last).to_string(),
        });
    }
    report.suspect_units = report.units.len() as u64;
    report.per_day = days(per_day);
    report
}

fn days(m: BTreeMap<String, u64>) -> Vec<DayCount> {
    m.into_iter()
        .map(|(day, scans)| DayCount { day, scans })
        .collect()
}

/// Sums the reports of several batches.
pub fn merge(parts: Vec<SuspectReport>) -> SuspectReport {
    let mut out = SuspectReport::default();
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    for p in parts {
        out.scans += p.scans;
        out.suspect_scans += p.suspect_scans;
        out.suspect_units += p.suspect_units;
        out.units.extend(p.units);
        for d in p.per_day {
            *per_day.entry(d.day).or_default() += d.scans;
        }
    }
    out.units.sort_by(|a, b| {
        b.suspect_scans
            .cmp(&a.suspect_scans)
            .then_with(|| (&a.batch, a.index).cmp(&(&b.batch, b.index)))
    });
    out.units.truncate(MAX_UNITS);
    out.per_day = days(per_day);
    out
}

#[cfg(test)]
mod tests {
    use super::super::dwell::replay;
    use super::super::fixture::*;
    use super::super::Scan;
    use super::*;
    use crate::domain::statement::EventType;
    use crate::domain::verdict::MANY_SCANNERS;

    const DAY: i64 = 86_400;

    fn scan(index: u64, time: i64, scanner: &str) -> Scan {
        Scan {
            index,
            time: T0 + time,
            day: (T0 + time).div_euclid(DAY),
            scanner: scanner.into(),
        }
    }

    #[test]
    fn scans_before_retail_and_crowds_after_sale_are_suspect() {
        let b = id(1);
        let mut s1 = ev(1, EventType::Shipping, "acme", H, vec![range(b, 0, 9)]);
        s1.event.to = Some(slug("shop"));
        let r1 = ev(
            2,
            EventType::Receiving,
            "shop",
            2 * DAY,
            vec![range(b, 0, 9)],
        );
        let sale = ev(
            3,
            EventType::RetailSelling,
            "shop",
            3 * DAY,
            vec![range(b, 0, 1)],
        );
        let mut input = input(10, vec![s1, r1, sale]);
        let mut scans = vec![
            // Unit 5 scanned by a consumer while still at the factory: suspect.
            scan(5, 2 * H, "x"),
            // ...and on the shelf after receipt: fine.
            scan(5, 2 * DAY + H, "y"),
            // Unit 0: the buyer scans it every day for a week: fine.
            scan(0, 3 * DAY + H, "buyer"),
        ];
        for d in 1..7 {
            scans.push(scan(0, 3 * DAY + d * DAY, &format!("buyer-day{d}")));
        }
        // Unit 1: a copied label, many devices on one day after the sale.
        for n in 0..(MANY_SCANNERS + 3) {
            scans.push(scan(1, 5 * DAY + i64::from(n), &format!("phone{n}")));
        }
        input.scans = scans;
        let tl = replay(&input, &dir()).timeline;
        let r = batch(&input, &tl);
        assert_eq!(r.scans, input.scans.len() as u64);
        let units: Vec<(u64, Vec<SuspectReason>, u64)> = r
            .units
            .iter()
            .map(|u| (u.index, u.reasons.clone(), u.suspect_scans))
            .collect();
        // The 6th, 7th and 8th distinct phone each push the estimate over the limit.
        assert_eq!(
            units,
            [
                (1, vec![SuspectReason::ManyScanners], 3),
                (5, vec![SuspectReason::NeverReachedRetail], 1)
            ]
        );
        assert_eq!(r.suspect_scans, 4);
        assert_eq!(r.suspect_units, 2);
        assert_eq!(
            r.per_day,
            [
                DayCount {
                    day: "2026-11-01".into(),
                    scans: 1
                },
                DayCount {
                    day: "2026-11-06".into(),
                    scans: 3
                }
            ]
        );
        assert_eq!(r.units[1].first, "2026-11-01T02:00:00Z");

        let merged = merge(vec![r.clone(), r]);
        assert_eq!(merged.suspect_scans, 8);
        assert_eq!(merged.per_day[1].scans, 6);
        assert_eq!(merged.units[0].suspect_scans, 3);
    }
}
