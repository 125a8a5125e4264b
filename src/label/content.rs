//! What a label says: the signed Digital Link URL and the human-readable lines.

use ed25519_dalek::SigningKey;
use serde_json::Value;

use super::text::{Style, TextLine};
use super::LabelError;
use crate::domain::batch::serial_for;
use crate::formats::gs1::{self, Gtin, Key, Lot, Serial, Sscc};
use crate::formats::sign;

/// The parts of a batch record a unit label prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    /// Batch id (hex).
    pub id: String,
    /// The factory that signed the batch.
    pub party: String,
    /// Product GTIN-14.
    pub gtin: Gtin,
    /// Product name as printed.
    pub product: String,
    /// Lot (AI 10).
    pub lot: Lot,
    /// Units minted: indexes 0..quantity.
    pub quantity: u64,
    /// Expiry date, YYYY-MM-DD.
    pub expires: Option<String>,
    /// Prefix before the unit index in serials.
    pub serial_prefix: Option<String>,
}

impl BatchInfo {
    /// Reads the answer of `GET /api/v1/batches/{id}` (`{id, party, quantity, statement}`).
    pub fn from_api(v: &Value) -> Result<Self, LabelError> {
        let st = &v["statement"];
        let text = |val: &Value, name: &str| -> Result<String, LabelError> {
            val.as_str()
                .map(str::to_owned)
                .ok_or_else(|| LabelError::BadBatch(format!("no \"{name}\" in the answer")))
        };
        let quantity = v["quantity"]
            .as_u64()
            .or_else(|| st["quantity"].as_u64())
            .ok_or_else(|| LabelError::BadBatch("no \"quantity\" in the answer".into()))?;
        Ok(BatchInfo {
            id: text(&v["id"], "id")?,
            party: text(&st["party"], "statement.party")?,
            gtin: Gtin::parse(&text(&st["gtin"], "statement.gtin")?)?,
            product: text(&st["product"], "statement.product")?,
            lot: Lot::parse(&text(&st["lot"], "statement.lot")?)?,
            quantity,
            expires: st["expires"].as_str().map(str::to_owned),
            serial_prefix: st["serial_prefix"].as_str().map(str::to_owned),
        })
    }
}

/// What a run of labels is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Consumer units of a batch; label `i` is unit index `i`.
    Units(BatchInfo),
    /// Cases or pallets; label `i` is SSCC `first + i` (17-digit body, check digit added).
    Containers {
        /// The first SSCC body: extension digit, company prefix, serial reference (17 digits).
        first: u64,
        /// Optional contents line, e.g. "48 × 婴儿配方奶粉 900g".
        contents: Option<String>,
    },
}

/// Largest 17-digit SSCC body.
const SSCC_BODY_MAX: u64 = 99_999_999_999_999_999;

impl Subject {
    /// SSCC labels starting at `sscc`: 17 digits, or 18 with a check digit that is verified.
    pub fn containers(sscc: &str, contents: Option<String>) -> Result<Self, LabelError> {
        let body = match sscc.len() {
            17 if sscc.bytes().all(|b| b.is_ascii_digit()) => sscc.to_owned(),
            _ => Sscc::parse(sscc)?.as_str()[..17].to_owned(),
        };
        let first = body
            .parse()
            .map_err(|_| LabelError::BadOption(format!("SSCC {sscc:?} is not 17 or 18 digits")))?;
        Ok(Subject::Containers { first, contents })
    }

    /// Fails unless every index in `first..=last` can be labelled.
    pub fn check_range(&self, first: u64, last: u64) -> Result<(), LabelError> {
        match self {
            Subject::Units(b) if last >= b.quantity => Err(LabelError::RangeBeyondBatch {
                first,
                last,
                quantity: b.quantity,
            }),
            Subject::Containers { first: start, .. }
                if start.checked_add(last).is_none_or(|v| v > SSCC_BODY_MAX) =>
            {
                Err(LabelError::SsccOverflow {
                    first: format!("{start:017}"),
                    count: last - first + 1,
                })
            }
            _ => Ok(()),
        }
    }

    /// The GS1 key of label `index`.
    pub fn key(&self, index: u64) -> Result<Key, LabelError> {
        match self {
            Subject::Units(b) => Ok(Key::Unit {
                gtin: b.gtin.clone(),
                lot: b.lot.clone(),
                serial: Serial::parse(&serial_for(index, b.serial_prefix.as_deref()))?,
            }),
            Subject::Containers { first, .. } => {
                let body = format!("{:017}", first.saturating_add(index));
                let sscc = format!("{body}{}", gs1::check_digit(&body));
                Ok(Key::Container {
                    sscc: Sscc::parse(&sscc)?,
                })
            }
        }
    }

    /// The human-readable lines; `fixed` ones are the same on every label of the run.
    pub fn lines(&self, key: &Key) -> Vec<TextLine> {
        let fixed = |text: String, style| TextLine {
            text,
            style,
            max_lines: if style == Style::Title { 2 } else { 1 },
            fixed: true,
        };
        match (self, key) {
            (Subject::Units(b), Key::Unit { gtin, lot, serial }) => {
                let mut v = vec![
                    fixed(b.product.clone(), Style::Title),
                    fixed(format!("(01) {gtin}"), Style::Body),
                    fixed(format!("(10) {lot}"), Style::Body),
                    TextLine {
                        text: format!("(21) {serial}"),
                        style: Style::Body,
                        max_lines: 1,
                        fixed: false,
                    },
                ];
                if let Some(e) = &b.expires {
                    v.push(fixed(format!("EXP {e}"), Style::Body));
                }
                v
            }
            (Subject::Containers { contents, .. }, Key::Container { sscc }) => {
                let mut v = vec![
                    fixed("SSCC".into(), Style::Title),
                    TextLine {
                        text: format!("(00) {}", spaced_sscc(sscc.as_str())),
                        style: Style::Body,
                        max_lines: 1,
                        fixed: false,
                    },
                ];
                if let Some(c) = contents {
                    v.push(fixed(c.clone(), Style::Body));
                }
                v
            }
            // A subject only makes keys of its own kind.
            (_, k) => vec![fixed(gs1::hri(k), Style::Body)],
        }
    }

    /// A file name stem for label `key`: safe on every file system.
    pub fn file_stem(&self, key: &Key) -> String {
        match key {
            Key::Unit { .. } => key
                .canonical_path()
                .trim_start_matches("01/")
                .replace("/10/", "_")
                .replace("/21/", "_")
                .replace('%', "~"),
            Key::Container { sscc } => format!("sscc_{sscc}"),
        }
    }
}

// GS1 logistic labels print the SSCC in groups: extension, prefix+ref, check.
fn spaced_sscc(s: &str) -> String {
    format!("{} {} {}", &s[..1], &s[1..17], &s[17..])
}

/// Signs label paths with the factory's (or station's) key and builds URLs.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    base: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        f.debug_struct("Signer")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for labels resolving under `base` (e.g. `https://id.example.com`).
    pub fn new(key: SigningKey, base: &str) -> Self {
        Signer {
            key,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The signed Digital Link URL of a key.
    pub fn url(&self, key: &Key) -> String {
        let path = key.canonical_path();
        let sig = sign::sign_label(&path, &self.key);
        // `Key::url`, without making the path a second time (`base` has no trailing slash).
        format!("{}/{path}?s={sig}", self.base)
    }
}

/// One label: its key, signed URL and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelContent {
    /// What the label identifies.
    pub key: Key,
    /// The signed URL the QR code carries.
    pub url: String,
    /// Human-readable lines.
    pub lines: Vec<TextLine>,
}

impl LabelContent {
    /// Label `index` of a subject, signed.
    pub fn make(subject: &Subject, signer: &Signer, index: u64) -> Result<Self, LabelError> {
        let key = subject.key(index)?;
        Ok(LabelContent {
            url: signer.url(&key),
            lines: subject.lines(&key),
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::demo::{demo_gtin, demo_key, LOT};
    use serde_json::json;

    pub(crate) fn demo_batch() -> BatchInfo {
        BatchInfo::from_api(&json!({
            "id": "ab", "quantity": 1000,
            "statement": {"party": "hengshan-dairy", "gtin": demo_gtin(), "product": "婴儿配方奶粉 1段",
                          "lot": LOT, "expires": "2028-10-14"}
        }))
        .unwrap()
    }

    #[test]
    fn unit_label_url_verifies() {
        let s = Subject::Units(demo_batch());
        let signer = Signer::new(demo_key("hengshan-dairy"), "https://id.example.com/");
        let c = LabelContent::make(&s, &signer, 42).unwrap();
        let scanned = gs1::parse_scan(&c.url).unwrap();
        assert_eq!(scanned.key, c.key);
        let path = c.key.canonical_path();
        assert_eq!(path, format!("01/{}/10/{LOT}/21/42", demo_gtin()));
        sign::verify_label(
            &path,
            &scanned.sig.unwrap(),
            &demo_key("hengshan-dairy").verifying_key(),
        )
        .unwrap();
        assert!(c.url.starts_with("https://id.example.com/01/"));
        assert_eq!(c.lines[3].text, "(21) 42");
        assert!(!c.lines[3].fixed && c.lines[0].fixed);
        assert_eq!(c.lines.last().unwrap().text, "EXP 2028-10-14");
    }

    #[test]
    fn ranges_are_checked() {
        let s = Subject::Units(demo_batch());
        assert!(s.check_range(0, 999).is_ok());
        let e = s.check_range(990, 1000).unwrap_err().to_string();
        assert!(e.contains("1000 units (0..999)"), "{e}");
        let c = Subject::containers("30690123450000001", None).unwrap();
        assert!(c.check_range(0, 10).is_ok());
        let c = Subject::containers("99999999999999990", None).unwrap();
        assert!(c.check_range(0, 10).is_err());
    }

    #[test]
    fn sscc_labels_count_up_with_check_digits() {
        let c = Subject::containers("306901234500000014", None).unwrap();
        let Key::Container { sscc } = c.key(0).unwrap() else {
            panic!()
        };
        assert_eq!(sscc.as_str(), "306901234500000014");
        let Key::Container { sscc } = c.key(1).unwrap() else {
            panic!()
        };
        assert_eq!(&sscc.as_str()[..17], "30690123450000002");
        assert!(Subject::containers("306901234500000015", None).is_err());
        let lines = c.lines(&c.key(0).unwrap());
        assert_eq!(lines[1].text, "(00) 3 0690123450000001 4");
    }

    #[test]
    fn file_stems_are_safe() {
        let mut b = demo_batch();
        b.lot = Lot::parse("A/B%C").unwrap();
        let s = Subject::Units(b);
        let stem = s.file_stem(&s.key(7).unwrap());
        assert!(!stem.contains('/') && !stem.contains('%'), "{stem}");
        assert_eq!(stem, format!("{}_A~2FB~25C_7", demo_gtin()));
    }

    #[test]
    fn batch_answers_missing_fields_are_errors() {
        let e = BatchInfo::from_api(&json!({"id": "x", "quantity": 1, "statement": {}}));
        assert!(e.is_err());
    }
}
