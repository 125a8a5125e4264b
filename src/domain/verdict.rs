//! The verdict a scan gets, decided from facts alone.

use serde::{Deserialize, Serialize};

use super::custody::Disposition;
use super::party::PartyKind;
use super::time::Date;

/// What the scan page tells the person holding the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Signature verifies, unit minted, nothing wrong.
    Genuine,
    /// Under recall: takes precedence over everything but an unknown label.
    Recalled,
    /// Past its expiry date.
    Expired,
    /// Genuine signature, but the scan contradicts custody (copied label).
    Suspect,
    /// No such unit, or the signature does not verify.
    Unknown,
}

impl Verdict {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Genuine => "genuine",
            Verdict::Recalled => "recalled",
            Verdict::Expired => "expired",
            Verdict::Suspect => "suspect",
            Verdict::Unknown => "unknown",
        }
    }
}

/// Why a scan is suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspectReason {
    /// Scanned from more distinct devices after sale than one buyer would use.
    ManyScanners,
    /// A consumer scan of a unit that never reached a retailer.
    NeverReachedRetail,
}

/// The facts a verdict is decided from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFacts {
    /// The label signature verified under the factory's key.
    pub signature_ok: bool,
    /// The unit exists (batch on record and index minted).
    pub minted: bool,
    /// A recall covers the unit.
    pub recalled: bool,
    /// Expiry date, if any.
    pub expires: Option<Date>,
    /// Today's date where the scan happens.
    pub today: Date,
    /// Unit's movement state.
    pub disposition: Option<Disposition>,
    /// Kind of the current holder.
    pub holder_kind: Option<PartyKind>,
    /// Distinct scanners seen since the sale.
    pub scanners_after_sale: u32,
}

/// Distinct devices after sale beyond which a label is taken to be copied.
pub const MANY_SCANNERS: u32 = 5;

/// Decides the verdict; the order of checks is the order of precedence.
pub fn decide(f: &ScanFacts) -> (Verdict, Option<SuspectReason>) {
    if !f.signature_ok || !f.minted {
        return (Verdict::Unknown, None);
    }
    if f.recalled {
        return (Verdict::Recalled, None);
    }
    if f.expires.is_some_and(|e| f.today > e) {
        return (Verdict::Expired, None);
    }
    let sold = f.disposition.is_some_and(super::sale::is_sold);
    if sold && f.scanners_after_sale > MANY_SCANNERS {
        return (Verdict::Suspect, Some(SuspectReason::ManyScanners));
    }
    let at_retail = f.holder_kind == Some(PartyKind::B2);
    if !sold && !at_retail {
        return (Verdict::Suspect, Some(SuspectReason::NeverReachedRetail));
    }
    (Verdict::Genuine, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn base() -> ScanFacts {
        ScanFacts {
            signature_ok: true,
            minted: true,
            recalled: false,
            expires: Some(d("2027-01-01")),
            today: d("2026-11-28"),
            disposition: Some(Disposition::RetailSold),
            holder_kind: Some(PartyKind::B2),
            scanners_after_sale: 1,
        }
    }

    #[test]
    fn every_combination_follows_precedence() {
        // sig, minted, recalled, expired, many scanners, reached retail
        for bits in 0u32..64 {
            let b = |i: u32| bits & (1 << i) != 0;
            let mut f = base();
            f.signature_ok = b(0);
            f.minted = b(1);
            f.recalled = b(2);
            f.today = if b(3) {
                d("2027-01-02")
            } else {
                d("2026-11-28")
            };
            let sold = b(5);
            f.scanners_after_sale = if b(4) { MANY_SCANNERS + 1 } else { 1 };
            f.disposition = Some(if sold {
                Disposition::RetailSold
            } else {
                Disposition::Active
            });
            f.holder_kind = Some(if sold { PartyKind::B2 } else { PartyKind::B1 });
            let expected = if !b(0) || !b(1) {
                Verdict::Unknown
            } else if b(2) {
                Verdict::Recalled
            } else if b(3) {
                Verdict::Expired
            } else if b(4) || !sold {
                Verdict::Suspect
            } else {
                Verdict::Genuine
            };
            assert_eq!(decide(&f).0, expected, "bits {bits:06b}");
        }
    }

    #[test]
    fn expiry_day_itself_is_not_expired() {
        let mut f = base();
        f.today = d("2027-01-01");
        assert_eq!(decide(&f).0, Verdict::Genuine);
    }

    #[test]
    fn in_stock_at_retailer_is_genuine_and_upstream_is_suspect() {
        let mut f = base();
        f.disposition = Some(Disposition::Active);
        assert_eq!(decide(&f).0, Verdict::Genuine);
        f.holder_kind = Some(PartyKind::Factory);
        assert_eq!(
            decide(&f),
            (Verdict::Suspect, Some(SuspectReason::NeverReachedRetail))
        );
        f.scanners_after_sale = 100;
        f.disposition = Some(Disposition::RetailSold);
        assert_eq!(
            decide(&f),
            (Verdict::Suspect, Some(SuspectReason::ManyScanners))
        );
    }
}
