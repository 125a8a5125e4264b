//! GS1 identifiers on suyuan labels: GTIN, SSCC, lot and serial, check
//! digits, and the three shapes scanners deliver (Digital Link URL,
//! human-readable `(01)…` text, raw element string), all read into one [`Key`].
//!
//! The canonical Digital Link path built here is the body of the `label`
//! statement (DESIGN.md, "Signing format"), so it must be byte-for-byte
//! stable: GTIN always 14 digits, lot and serial percent-encoded with
//! uppercase hex outside `A-Z a-z 0-9 - . _ ~`.

#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

/// ASCII 29, the group separator that stands for FNC1 in a raw element string.
pub const GS: char = '\u{1d}';

/// The 82 characters GS1 allows in lot (10) and serial (21) values.
pub const SET_82: &str =
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// Longest lot or serial GS1 allows for AI 10 and AI 21.
pub const MAX_LOT_SERIAL_LEN: usize = 20;

// RFC 3986 unreserved characters stay literal; everything else is escaped so
// that the signed path is the same whichever spelling the scanner delivered.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a GS1 identifier or a scan could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Gs1Error {
    /// Nothing (or only whitespace / a symbology identifier) was scanned.
    #[error("the scan is empty")]
    Empty,
    /// The text is neither a Digital Link URL, `(01)…` text nor an element string.
    #[error("not a GS1 Digital Link URL, (01)… text or GS1 element string")]
    Unrecognized,
    /// The GTIN has a character that is not 0-9.
    #[error("GTIN may contain only the digits 0-9")]
    GtinNotDigits,
    /// The GTIN has the wrong number of digits.
    #[error("GTIN must have 8, 12, 13 or 14 digits, got {0}")]
    GtinLength(usize),
    /// The GTIN's last digit does not match its check digit.
    #[error("GTIN check digit is {expected}, label says {found}")]
    GtinCheckDigit {
        /// Check digit computed from the other digits.
        expected: u8,
        /// Check digit printed on the label.
        found: u8,
    },
    /// The SSCC has a character that is not 0-9.
    #[error("SSCC may contain only the digits 0-9")]
    SsccNotDigits,
    /// The SSCC does not have 18 digits.
    #[error("SSCC must have 18 digits, got {0}")]
    SsccLength(usize),
    /// The SSCC's last digit does not match its check digit.
    #[error("SSCC check digit is {expected}, label says {found}")]
    SsccCheckDigit {
        /// Check digit computed from the other digits.
        expected: u8,
        /// Check digit printed on the label.
        found: u8,
    },
    /// The lot (10) is empty.
    #[error("lot (10) is empty")]
    LotEmpty,
    /// The lot (10) is longer than 20 characters.
    #[error("lot (10) has {0} characters, at most 20 are allowed")]
    LotTooLong(usize),
    /// The lot (10) has a character outside GS1 set 82.
    #[error("lot (10) contains {0:?}; GS1 set 82 allows only A-Z a-z 0-9 !\"%&'()*+,-./:;<=>?_")]
    LotBadChar(char),
    /// The serial (21) is empty.
    #[error("serial (21) is empty")]
    SerialEmpty,
    /// The serial (21) is longer than 20 characters.
    #[error("serial (21) has {0} characters, at most 20 are allowed")]
    SerialTooLong(usize),
    /// The serial (21) has a character outside GS1 set 82.
    #[error(
        "serial (21) contains {0:?}; GS1 set 82 allows only A-Z a-z 0-9 !\"%&'()*+,-./:;<=>?_"
    )]
    SerialBadChar(char),
    /// An application identifier suyuan does not read.
    #[error("unknown application identifier ({0}); suyuan reads (00), (01), (10), (21) and dates (11), (13), (15), (17)")]
    UnknownAi(String),
    /// A required application identifier is absent: "01", "10" or "21".
    #[error("{}", missing_message(.0))]
    MissingAi(&'static str),
    /// Digital Link path AIs are not in the order 01, 10, 21.
    #[error("in a Digital Link path the GTIN (01) comes first, then lot (10), then serial (21)")]
    AiOrder,
    /// The same application identifier appears twice.
    #[error("application identifier ({0}) appears twice")]
    DuplicateAi(String),
    /// A container SSCC (00) mixed with unit data (01, 10, 21).
    #[error(
        "the label has both an SSCC (00) and a GTIN, lot or serial; expected one or the other"
    )]
    MixedKeys,
    /// A `%` not followed by two hex digits, or escapes that are not UTF-8.
    #[error(
        "bad percent-encoding in the link: % must be followed by two hex digits forming UTF-8"
    )]
    BadPercentEncoding,
    /// A fixed-length AI whose value is cut short by the end of the scan.
    #[error("({ai}) needs {need} characters but the scan ends after {got}")]
    Truncated {
        /// The application identifier whose value is short.
        ai: String,
        /// How many characters the AI's value must have.
        need: usize,
        /// How many were left in the scan.
        got: usize,
    },
    /// A date AI (11, 13, 15, 17) that is not a YYMMDD date.
    #[error("({ai}) must be a date YYMMDD, got {value:?}")]
    BadDate {
        /// The date application identifier.
        ai: String,
        /// The value as scanned.
        value: String,
    },
}

fn missing_message(ai: &str) -> &'static str {
    match ai {
        "10" => "the label has a GTIN (01) but no lot (10)",
        "21" => "the label has a GTIN (01) but no serial (21)",
        _ => "the label has no GTIN (01) or SSCC (00)",
    }
}

/// GS1 mod-10 check digit (weights 3, 1, 3, … from the right) of the given digits.
///
/// Callers validate digits first; a non-digit counts as 0 so this never panics.
pub fn check_digit(digits_without_check: &str) -> u8 {
    let sum: u32 = digits_without_check
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = if b.is_ascii_digit() {
                u32::from(b - b'0')
            } else {
                0
            };
            if i % 2 == 0 {
                d * 3
            } else {
                d
            }
        })
        .sum();
    // `sum % 10` is below 10, so the result always fits in a u8.
    ((10 - sum % 10) % 10) as u8
}

/// Whether `c` is in the GS1 AI encodable character set 82.
pub fn is_set82(c: char) -> bool {
    matches!(c, '!' | '"' | '%'..='?' | 'A'..='Z' | '_' | 'a'..='z')
}

// Splits an all-digit string into (body, last digit) and compares the last
// digit with the computed check digit; returns (expected, found) on mismatch.
fn verify_check_digit(digits: &str) -> Result<(), (u8, u8)> {
    let Some((body, last)) = digits.len().checked_sub(1).map(|i| digits.split_at(i)) else {
        return Ok(());
    };
    let found = last.bytes().next().map_or(0, |b| b.wrapping_sub(b'0'));
    let expected = check_digit(body);
    if expected == found {
        Ok(())
    } else {
        Err((expected, found))
    }
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

// Shared impls for the four string newtypes: read-only access, Display,
// FromStr, and the String conversions serde's try_from/into use.
macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            /// The validated value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $t {
            type Err = Gs1Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = Gs1Error;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    };
}

/// GTIN-14 (8/12/13 accepted, left-padded with zeros), check digit verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Gtin(String);

impl Gtin {
    /// Parses a GTIN-8/12/13/14, verifies its check digit and pads it to 14 digits.
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        if !all_digits(s) {
            return Err(Gs1Error::GtinNotDigits);
        }
        if !matches!(s.len(), 8 | 12 | 13 | 14) {
            return Err(Gs1Error::GtinLength(s.len()));
        }
        // Leading zeros do not change the mod-10 sum, so padding first is safe.
        let padded = format!("{s:0>14}");
        verify_check_digit(&padded)
            .map_err(|(expected, found)| Gs1Error::GtinCheckDigit { expected, found })?;
        Ok(Gtin(padded))
    }
}
string_newtype!(Gtin);

/// SSCC-18 with check digit verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sscc(String);

impl Sscc {
    /// Parses an 18-digit SSCC and verifies its check digit.
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        if !all_digits(s) {
            return Err(Gs1Error::SsccNotDigits);
        }
        if s.len() != 18 {
            return Err(Gs1Error::SsccLength(s.len()));
        }
        verify_check_digit(s)
            .map_err(|(expected, found)| Gs1Error::SsccCheckDigit { expected, found })?;
        Ok(Sscc(s.to_owned()))
    }
}
string_newtype!(Sscc);

enum Set82Error {
    Empty,
    TooLong(usize),
    BadChar(char),
}

// Lot and serial share the rule (1–20 chars of set 82); only the error names differ.
fn check_set82(s: &str) -> Result<(), Set82Error> {
    if s.is_empty() {
        return Err(Set82Error::Empty);
    }
    if let Some(c) = s.chars().find(|&c| !is_set82(c)) {
        return Err(Set82Error::BadChar(c));
    }
    // All chars are ASCII now, so bytes == chars.
    if s.len() > MAX_LOT_SERIAL_LEN {
        return Err(Set82Error::TooLong(s.len()));
    }
    Ok(())
}

/// AI 10 lot: 1–20 chars of the GS1 AI encodable character set 82.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lot(String);

impl Lot {
    /// Parses a lot, checking length and character set.
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        check_set82(s).map_err(|e| match e {
            Set82Error::Empty => Gs1Error::LotEmpty,
            Set82Error::TooLong(n) => Gs1Error::LotTooLong(n),
            Set82Error::BadChar(c) => Gs1Error::LotBadChar(c),
        })?;
        Ok(Lot(s.to_owned()))
    }
}
string_newtype!(Lot);

/// AI 21 serial: 1–20 chars of set 82.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Serial(String);

impl Serial {
    /// Parses a serial, checking length and character set.
    pub fn parse(s: &str) -> Result<Self, Gs1Error> {
        check_set82(s).map_err(|e| match e {
            Set82Error::Empty => Gs1Error::SerialEmpty,
            Set82Error::TooLong(n) => Gs1Error::SerialTooLong(n),
            Set82Error::BadChar(c) => Gs1Error::SerialBadChar(c),
        })?;
        Ok(Serial(s.to_owned()))
    }
}
string_newtype!(Serial);

/// What a label identifies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// One consumer unit: product, lot and serial.
    Unit {
        /// Product (AI 01).
        gtin: Gtin,
        /// Batch/lot (AI 10).
        lot: Lot,
        /// Serial within the lot (AI 21).
        serial: Serial,
    },
    /// A case or pallet (AI 00).
    Container {
        /// Serial shipping container code.
        sscc: Sscc,
    },
}

fn encode_value(s: &str) -> String {
    utf8_percent_encode(s, PATH_VALUE).to_string()
}

impl Key {
    /// Canonical Digital Link path without leading slash; this is the signed label body.
    pub fn canonical_path(&self) -> String {
        match self {
            Key::Unit { gtin, lot, serial } => format!(
                "01/{gtin}/10/{}/21/{}",
                encode_value(lot.as_str()),
                encode_value(serial.as_str())
            ),
            Key::Container { sscc } => format!("00/{sscc}"),
        }
    }

    /// Full label URL `{base}/{canonical_path}?s={sig}`; one trailing slash on `base` is dropped.
    pub fn url(&self, base: &str, sig: &str) -> String {
        let base = base.strip_suffix('/').unwrap_or(base);
        format!("{base}/{}?s={sig}", self.canonical_path())
    }
}

/// A key read from a scan, plus the label signature if the scan carried one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scanned {
    /// What the label identifies.
    pub key: Key,
    /// The `s` query parameter, exactly as scanned (only Digital Link URLs carry it).
    pub sig: Option<String>,
}

/// Human-readable form "(01)…(10)…(21)…" / "(00)…".
pub fn hri(key: &Key) -> String {
    match key {
        Key::Unit { gtin, lot, serial } => format!("(01){gtin}(10){lot}(21){serial}"),
        Key::Container { sscc } => format!("(00){sscc}"),
    }
}

/// Raw element string with GS after variable-length AIs that are not last.
pub fn element_string(key: &Key) -> String {
    match key {
        Key::Unit { gtin, lot, serial } => format!("01{gtin}10{lot}{GS}21{serial}"),
        Key::Container { sscc } => format!("00{sscc}"),
    }
}

/// Parses anything a scanner delivers into the key plus the `s` signature if present.
pub fn parse_scan(text: &str) -> Result<Scanned, Gs1Error> {
    // Scanners append Enter (CR/LF); stray spaces are never part of set 82.
    let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    let text = strip_symbology_id(text);
    // A leading FNC1 is sometimes transmitted as GS; it carries no data.
    let text = text.trim_start_matches(GS);
    if text.is_empty() {
        return Err(Gs1Error::Empty);
    }
    if let Some(rest) = strip_http_scheme(text) {
        // Drop the host (and port); the resolver domain is not part of the key.
        let path_start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (path, query) = split_query(&rest[path_start..]);
        return parse_dl(path, query);
    }
    if text.starts_with('(') {
        return parse_hri(text).map(|key| Scanned { key, sig: None });
    }
    // An element string starts with 00/01 plus digits, never "00/" or "01/".
    if text.starts_with('/') || text.starts_with("00/") || text.starts_with("01/") {
        let (path, query) = split_query(text);
        return parse_dl(path, query);
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_element_string(text).map(|key| Scanned { key, sig: None });
    }
    // A URL without its scheme ("id.example.com/01/…"): the host is just a
    // prefix. Other schemes (ftp://, file://) are not label links.
    if text.contains('/') && !text.contains("://") {
        let (path, query) = split_query(text);
        return parse_dl(path, query);
    }
    Err(Gs1Error::Unrecognized)
}

/// Parses a Digital Link path ("/01/…/10/…/21/…" or "00/…", percent-encoded) plus optional query.
pub fn parse_path(path: &str, query: Option<&str>) -> Result<Scanned, Gs1Error> {
    let (path, inline_query) = split_query(path);
    if path.trim_matches('/').is_empty() {
        return Err(Gs1Error::Empty);
    }
    parse_dl(path, query.or(inline_query))
}

// A symbology identifier is "]" plus two characters (e.g. "]Q3", "]d2", "]C1").
fn strip_symbology_id(text: &str) -> &str {
    if text.starts_with(']') {
        text.get(3..).unwrap_or(text)
    } else {
        text
    }
}

// QR codes often carry uppercase URLs (alphanumeric mode is denser), so the
// scheme is matched case-insensitively.
fn strip_http_scheme(text: &str) -> Option<&str> {
    ["https://", "http://"].iter().find_map(|scheme| {
        let head = text.get(..scheme.len())?;
        if head.eq_ignore_ascii_case(scheme) {
            text.get(scheme.len()..)
        } else {
            None
        }
    })
}

// Splits "path?query#fragment" into path and query; the fragment is dropped.
fn split_query(s: &str) -> (&str, Option<&str>) {
    let s = s.split_once('#').map_or(s, |(before, _)| before);
    match s.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (s, None),
    }
}

fn sig_from_query(query: Option<&str>) -> Option<String> {
    let query = query?;
    let query = query.strip_prefix('?').unwrap_or(query);
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == "s" && !v.is_empty()).then(|| v.to_owned())
    })
}

fn is_ai_like(s: &str) -> bool {
    (2..=4).contains(&s.len()) && all_digits(s)
}

// Strict percent-decoding: percent_decode_str passes a stray "%" through
// silently, which would let two different URLs decode to one lot.
fn decode_segment(seg: &str) -> Result<String, Gs1Error> {
    for (i, _) in seg.match_indices('%') {
        let hex_ok = seg
            .get(i + 1..i + 3)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !hex_ok {
            return Err(Gs1Error::BadPercentEncoding);
        }
    }
    percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Gs1Error::BadPercentEncoding)
}

// Reads the AI/value pairs from the right, as the Digital Link spec does, so
// any resolver prefix before the primary key is skipped whatever it contains.
fn parse_dl(path: &str, query: Option<&str>) -> Result<Scanned, Gs1Error> {
    let mut segs: Vec<&str> = path.split('/').collect();
    if segs.last() == Some(&"") {
        segs.pop();
    }
    let mut quals: Vec<(&str, &str)> = Vec::new();
    let mut end = segs.len();
    let primary = loop {
        if end < 2 {
            break None;
        }
        let (ai, value) = (segs[end - 2], segs[end - 1]);
        match ai {
            "00" | "01" => break Some((end - 2, ai, value)),
            "10" | "21" => {
                quals.push((ai, value));
                end -= 2;
            }
            // Only an unknown AI if a key follows to its left; otherwise
            // this is just a path that is not a Digital Link at all.
            _ if is_ai_like(ai) && segs[..end - 2].iter().any(|s| matches!(*s, "00" | "01")) => {
                return Err(Gs1Error::UnknownAi(ai.to_owned()));
            }
            _ => break None,
        }
    };
    let Some((key_at, key_ai, key_value)) = primary else {
        return Err(if quals.is_empty() {
            Gs1Error::Unrecognized
        } else {
            Gs1Error::MissingAi("01")
        });
    };
    quals.reverse();

    // A known AI just before the key is out of place, not a prefix.
    if key_at >= 2 {
        let before = segs[key_at - 2];
        if before == key_ai || quals.iter().any(|(q, _)| *q == before) {
            return Err(Gs1Error::DuplicateAi(before.to_owned()));
        }
        match (before, key_ai) {
            ("00" | "01", _) | ("10" | "21", "00") => return Err(Gs1Error::MixedKeys),
            ("10" | "21", _) => return Err(Gs1Error::AiOrder),
            _ => {}
        }
    }

    let mut fields = Fields::default();
    fields.add(key_ai, &decode_segment(key_value)?)?;
    for (ai, value) in &quals {
        fields.add(ai, &decode_segment(value)?)?;
    }
    // No duplicates remain, so the only wrong order is 21 before 10.
    if quals.len() == 2 && quals[0].0 == "21" {
        return Err(Gs1Error::AiOrder);
    }
    Ok(Scanned {
        key: fields.into_key()?,
        sig: sig_from_query(query),
    })
}

// Collects AI values from HRI or element strings, in any order.
#[derive(Default)]
struct Fields {
    seen: Vec<String>,
    sscc: Option<Sscc>,
    gtin: Option<Gtin>,
    lot: Option<Lot>,
    serial: Option<Serial>,
}

impl Fields {
    fn add(&mut self, ai: &str, value: &str) -> Result<(), Gs1Error> {
        if self.seen.iter().any(|s| s == ai) {
            return Err(Gs1Error::DuplicateAi(ai.to_owned()));
        }
        match ai {
            "00" => self.sscc = Some(Sscc::parse(value)?),
            "01" => self.gtin = Some(Gtin::parse(value)?),
            "10" => self.lot = Some(Lot::parse(value)?),
            "21" => self.serial = Some(Serial::parse(value)?),
            // Dates (production, packaging, best before, expiry) are read so a
            // label carrying them still scans, but they are not part of the key.
            "11" | "13" | "15" | "17" => check_date(ai, value)?,
            _ => return Err(Gs1Error::UnknownAi(ai.to_owned())),
        }
        self.seen.push(ai.to_owned());
        Ok(())
    }

    fn into_key(self) -> Result<Key, Gs1Error> {
        match (self.sscc, self.gtin, self.lot, self.serial) {
            (Some(sscc), None, None, None) => Ok(Key::Container { sscc }),
            (Some(_), ..) => Err(Gs1Error::MixedKeys),
            (None, Some(gtin), Some(lot), Some(serial)) => Ok(Key::Unit { gtin, lot, serial }),
            (None, Some(_), None, _) => Err(Gs1Error::MissingAi("10")),
            (None, Some(_), Some(_), None) => Err(Gs1Error::MissingAi("21")),
            (None, None, _, _) => Err(Gs1Error::MissingAi("01")),
        }
    }
}

// YYMMDD; GS1 allows day 00 meaning "end of the month".
fn check_date(ai: &str, value: &str) -> Result<(), Gs1Error> {
    let b = value.as_bytes();
    let ok = b.len() == 6 && all_digits(value) && {
        let month = (b[2] - b'0') * 10 + (b[3] - b'0');
        let day = (b[4] - b'0') * 10 + (b[5] - b'0');
        (1..=12).contains(&month) && day <= 31
    };
    if ok {
        Ok(())
    } else {
        Err(Gs1Error::BadDate {
            ai: ai.to_owned(),
            value: value.to_owned(),
        })
    }
}

fn fixed_length(ai: &str) -> Option<usize> {
    match ai {
        "00" => Some(18),
        "01" => Some(14),
        "11" | "13" | "15" | "17" => Some(6),
        _ => None,
    }
}

fn parse_element_string(text: &str) -> Result<Key, Gs1Error> {
    let mut fields = Fields::default();
    let mut rest = text;
    loop {
        // Some encoders put FNC1 after fixed-length AIs too; it is harmless.
        rest = rest.trim_start_matches(GS);
        if rest.is_empty() {
            break;
        }
        let Some(ai) = rest.get(..2).filter(|a| all_digits(a)) else {
            return Err(Gs1Error::UnknownAi(rest.chars().take(4).collect()));
        };
        let after_ai = &rest[2..];
        let (value, next) = match fixed_length(ai) {
            Some(need) => {
                let end = after_ai
                    .char_indices()
                    .nth(need)
                    .map_or(after_ai.len(), |(i, _)| i);
                let value = &after_ai[..end];
                let got = value.chars().count();
                if got < need {
                    return Err(Gs1Error::Truncated {
                        ai: ai.to_owned(),
                        need,
                        got,
                    });
                }
                (value, &after_ai[end..])
            }
            None => {
                let end = after_ai.find(GS).unwrap_or(after_ai.len());
                (&after_ai[..end], &after_ai[end..])
            }
        };
        fields.add(ai, value)?;
        rest = next;
    }
    fields.into_key()
}

// "(" + 2–4 digits + ")" starts an AI; anything else in parentheses is data
// (set 82 allows "(" and ")" inside lots and serials).
fn hri_tag(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('(')?;
    let close = inner.find(')')?;
    let ai = &inner[..close];
    is_ai_like(ai).then(|| (ai, &inner[close + 1..]))
}

fn next_hri_tag(s: &str) -> Option<usize> {
    s.match_indices('(')
        .map(|(i, _)| i)
        .find(|&i| hri_tag(&s[i..]).is_some())
}

fn parse_hri(text: &str) -> Result<Key, Gs1Error> {
    let is_blank = |c: char| c == ' ' || c == '\t';
    let mut fields = Fields::default();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(is_blank);
        if rest.is_empty() {
            break;
        }
        let Some((ai, after)) = hri_tag(rest) else {
            return Err(Gs1Error::Unrecognized);
        };
        let end = next_hri_tag(after).unwrap_or(after.len());
        fields.add(ai, after[..end].trim_matches(is_blank))?;
        rest = &after[end..];
    }
    fields.into_key()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as DeError, StringDeserializer};
    use serde::de::IntoDeserializer;

    const GTIN: &str = "09506000134352";
    const SSCC: &str = "106141411234567897";

    fn unit(gtin: &str, lot: &str, serial: &str) -> Key {
        Key::Unit {
            gtin: Gtin::parse(gtin).unwrap(),
            lot: Lot::parse(lot).unwrap(),
            serial: Serial::parse(serial).unwrap(),
        }
    }

    fn container(sscc: &str) -> Key {
        Key::Container {
            sscc: Sscc::parse(sscc).unwrap(),
        }
    }

    fn key_of(text: &str) -> Key {
        match parse_scan(text) {
            Ok(s) => s.key,
            Err(e) => panic!("{text:?} did not parse: {e}"),
        }
    }

    fn err_of(text: &str) -> Gs1Error {
        match parse_scan(text) {
            Ok(s) => panic!("{text:?} parsed unexpectedly: {s:?}"),
            Err(e) => e,
        }
    }

    // ---- check digits -------------------------------------------------

    #[test]
    fn check_digit_known_values() {
        assert_eq!(check_digit("0950600013435"), 2);
        assert_eq!(check_digit("10614141123456789"), 7);
        assert_eq!(check_digit("400638133393"), 1);
        assert_eq!(check_digit("9638507"), 4);
        assert_eq!(check_digit("03600029145"), 2);
        assert_eq!(check_digit(""), 0);
        assert_eq!(check_digit("0000000000000"), 0);
    }

    #[test]
    fn check_digit_non_digit_does_not_panic() {
        // Treated as 0, keeping the weight positions.
        assert_eq!(check_digit("095060001343x"), check_digit("0950600013430"));
    }

    #[test]
    fn gtin_valid_14() {
        let g = Gtin::parse(GTIN).unwrap();
        assert_eq!(g.as_str(), GTIN);
        assert_eq!(g.to_string(), GTIN);
        assert_eq!(GTIN.parse::<Gtin>().unwrap(), g);
    }

    #[test]
    fn gtin_every_wrong_check_digit_is_reported() {
        for found in 0..=9u8 {
            if found == 2 {
                continue;
            }
            let s = format!("0950600013435{found}");
            assert_eq!(
                Gtin::parse(&s),
                Err(Gs1Error::GtinCheckDigit { expected: 2, found }),
                "{s}"
            );
        }
        assert_eq!(
            Gtin::parse("09506000134355").unwrap_err().to_string(),
            "GTIN check digit is 2, label says 5"
        );
    }

    #[test]
    fn gtin_short_forms_are_padded() {
        assert_eq!(Gtin::parse("96385074").unwrap().as_str(), "00000096385074");
        assert_eq!(
            Gtin::parse("036000291452").unwrap().as_str(),
            "00036000291452"
        );
        assert_eq!(
            Gtin::parse("4006381333931").unwrap().as_str(),
            "04006381333931"
        );
        assert_eq!(Gtin::parse("9506000134352").unwrap().as_str(), GTIN);
        // A bad check digit is caught in the short form too.
        assert_eq!(
            Gtin::parse("96385075"),
            Err(Gs1Error::GtinCheckDigit {
                expected: 4,
                found: 5
            })
        );
    }

    #[test]
    fn gtin_lengths_and_digits() {
        for n in [0usize, 1, 7, 9, 10, 11, 15, 18] {
            let s = "0".repeat(n);
            assert_eq!(Gtin::parse(&s), Err(Gs1Error::GtinLength(n)), "{n}");
        }
        assert_eq!(
            Gtin::parse("00000000000").unwrap_err().to_string(),
            "GTIN must have 8, 12, 13 or 14 digits, got 11"
        );
        assert_eq!(Gtin::parse("0950600013435A"), Err(Gs1Error::GtinNotDigits));
        assert_eq!(Gtin::parse(" 9506000134352"), Err(Gs1Error::GtinNotDigits));
        // Non-ASCII digits are not GS1 digits.
        assert_eq!(Gtin::parse("0950600013435٢"), Err(Gs1Error::GtinNotDigits));
    }

    #[test]
    fn sscc_valid_and_invalid() {
        let s = Sscc::parse(SSCC).unwrap();
        assert_eq!(s.as_str(), SSCC);
        assert_eq!(s.to_string(), SSCC);
        for found in 0..=9u8 {
            if found == 7 {
                continue;
            }
            let text = format!("10614141123456789{found}");
            assert_eq!(
                Sscc::parse(&text),
                Err(Gs1Error::SsccCheckDigit { expected: 7, found })
            );
        }
        assert_eq!(
            Sscc::parse("10614141123456789"),
            Err(Gs1Error::SsccLength(17))
        );
        assert_eq!(
            Sscc::parse("1061414112345678970"),
            Err(Gs1Error::SsccLength(19))
        );
        assert_eq!(Sscc::parse(""), Err(Gs1Error::SsccLength(0)));
        assert_eq!(
            Sscc::parse("10614141123456789X"),
            Err(Gs1Error::SsccNotDigits)
        );
        assert_eq!(
            Sscc::parse("106141411234567898").unwrap_err().to_string(),
            "SSCC check digit is 7, label says 8"
        );
    }

    // ---- lot / serial ---------------------------------------------------

    #[test]
    fn set82_matches_the_published_list() {
        let from_fn: String = (0u8..=127)
            .map(char::from)
            .filter(|&c| is_set82(c))
            .collect();
        assert_eq!(from_fn, SET_82);
        assert_eq!(SET_82.len(), 82);
        assert!(!is_set82('é'));
        assert!(!is_set82('中'));
    }

    #[test]
    fn set82_boundary_chars() {
        // Every allowed char works as a lot and a serial.
        for c in SET_82.chars() {
            assert!(Lot::parse(&c.to_string()).is_ok(), "{c:?}");
            assert!(Serial::parse(&c.to_string()).is_ok(), "{c:?}");
        }
        // Neighbours of the allowed ranges, and the usual suspects, are refused.
        for c in [
            ' ', '#', '$', '@', '[', '\\', ']', '^', '`', '{', '|', '}', '~', '\u{7f}', GS, '\n',
            'é', '中',
        ] {
            assert_eq!(Lot::parse(&format!("A{c}B")), Err(Gs1Error::LotBadChar(c)));
            assert_eq!(
                Serial::parse(&format!("A{c}B")),
                Err(Gs1Error::SerialBadChar(c))
            );
        }
    }

    #[test]
    fn lot_and_serial_lengths() {
        let twenty = "ABCDEFGHIJ0123456789";
        let twenty_one = "ABCDEFGHIJ0123456789X";
        assert_eq!(Lot::parse(twenty).unwrap().as_str(), twenty);
        assert_eq!(Serial::parse(twenty).unwrap().as_str(), twenty);
        assert_eq!(Lot::parse(twenty_one), Err(Gs1Error::LotTooLong(21)));
        assert_eq!(Serial::parse(twenty_one), Err(Gs1Error::SerialTooLong(21)));
        assert_eq!(Lot::parse(""), Err(Gs1Error::LotEmpty));
        assert_eq!(Serial::parse(""), Err(Gs1Error::SerialEmpty));
        assert_eq!(Lot::parse("1").unwrap().to_string(), "1");
        assert_eq!(
            Lot::parse("A B").unwrap_err().to_string(),
            "lot (10) contains ' '; GS1 set 82 allows only A-Z a-z 0-9 !\"%&'()*+,-./:;<=>?_"
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        fn de<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T, DeError> {
            let d: StringDeserializer<DeError> = s.to_owned().into_deserializer();
            T::deserialize(d)
        }
        assert_eq!(de::<Gtin>("9506000134352").unwrap().as_str(), GTIN);
        assert!(de::<Gtin>("09506000134355").is_err());
        assert_eq!(de::<Sscc>(SSCC).unwrap().as_str(), SSCC);
        assert!(de::<Sscc>("106141411234567898").is_err());
        assert_eq!(de::<Lot>("A/B").unwrap().as_str(), "A/B");
        assert!(de::<Lot>("A B").is_err());
        assert_eq!(de::<Serial>("42").unwrap().as_str(), "42");
        assert!(de::<Serial>("").is_err());
        assert_eq!(String::from(Gtin::parse(GTIN).unwrap()), GTIN);
        assert_eq!(String::from(Lot::parse("L1").unwrap()), "L1");
        let err = de::<Gtin>("123").unwrap_err().to_string();
        assert!(err.contains("got 3"), "{err}");
    }

    // ---- building ---------------------------------------------------------

    #[test]
    fn canonical_path_plain() {
        assert_eq!(
            unit(GTIN, "ABC123", "42").canonical_path(),
            "01/09506000134352/10/ABC123/21/42"
        );
        assert_eq!(
            unit("96385074", "L", "0").canonical_path(),
            "01/00000096385074/10/L/21/0"
        );
        assert_eq!(container(SSCC).canonical_path(), "00/106141411234567897");
    }

    #[test]
    fn canonical_path_escapes_with_uppercase_hex() {
        let k = unit(GTIN, "A/B%C&D", "x?y=z");
        assert_eq!(
            k.canonical_path(),
            "01/09506000134352/10/A%2FB%25C%26D/21/x%3Fy%3Dz"
        );
        // Unreserved punctuation in set 82 stays literal.
        assert_eq!(
            unit(GTIN, "a-b.c_d", "Zz9").canonical_path(),
            "01/09506000134352/10/a-b.c_d/21/Zz9"
        );
        // Every other set-82 punctuation char is escaped.
        let k = unit(GTIN, "!\"'()*+,:;<=>", "1");
        assert_eq!(
            k.canonical_path(),
            "01/09506000134352/10/%21%22%27%28%29%2A%2B%2C%3A%3B%3C%3D%3E/21/1"
        );
    }

    #[test]
    fn url_building() {
        let k = unit(GTIN, "ABC123", "42");
        let want = "https://id.example.com/01/09506000134352/10/ABC123/21/42?s=SIG";
        assert_eq!(k.url("https://id.example.com", "SIG"), want);
        assert_eq!(k.url("https://id.example.com/", "SIG"), want);
        assert_eq!(
            container(SSCC).url("https://x.test/r", "abc_-"),
            "https://x.test/r/00/106141411234567897?s=abc_-"
        );
    }

    #[test]
    fn hri_and_element_string() {
        let k = unit(GTIN, "ABC123", "42");
        assert_eq!(hri(&k), "(01)09506000134352(10)ABC123(21)42");
        assert_eq!(element_string(&k), "010950600013435210ABC123\u{1d}2142");
        let c = container(SSCC);
        assert_eq!(hri(&c), "(00)106141411234567897");
        assert_eq!(element_string(&c), "00106141411234567897");
    }

    // ---- parsing: the three shapes -----------------------------------------

    #[test]
    fn three_shapes_parse_equal() {
        let want = unit(GTIN, "ABC123", "42");
        let shapes = [
            "https://id.example.com/01/09506000134352/10/ABC123/21/42?s=SIG",
            "(01)09506000134352(10)ABC123(21)42",
            "010950600013435210ABC123\u{1d}2142",
        ];
        for shape in shapes {
            for prefix in ["", "]Q3", "]d2", "]C1", "]Q1", "]e0"] {
                for suffix in ["", "\r\n", "\n", "\r"] {
                    let text = format!("{prefix}{shape}{suffix}");
                    assert_eq!(key_of(&text), want, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn container_three_shapes() {
        let want = container(SSCC);
        for text in [
            "https://id.example.com/00/106141411234567897?s=S",
            "/00/106141411234567897",
            "00/106141411234567897",
            "(00)106141411234567897",
            "00106141411234567897",
            "]C100106141411234567897\r\n",
            "]d2\u{1d}00106141411234567897",
        ] {
            assert_eq!(key_of(text), want, "{text:?}");
        }
    }

    #[test]
    fn url_signature_and_extra_query() {
        let s = parse_scan(
            "https://id.example.com:8443/shop/cn/01/09506000134352/10/ABC123/21/42?lang=zh&s=abc-DEF_123&linkType=all#top",
        )
        .unwrap();
        assert_eq!(s.key, unit(GTIN, "ABC123", "42"));
        assert_eq!(s.sig.as_deref(), Some("abc-DEF_123"));

        let s = parse_scan("https://id.example.com/01/09506000134352/10/A/21/1").unwrap();
        assert_eq!(s.sig, None);
        let s = parse_scan("https://id.example.com/01/09506000134352/10/A/21/1?s=").unwrap();
        assert_eq!(s.sig, None);
        // Non-signature parameters are ignored, as are date AIs in the query.
        let s = parse_scan("http://h/01/09506000134352/10/A/21/1?17=250101&x").unwrap();
        assert_eq!(s.sig, None);
        assert_eq!(s.key, unit(GTIN, "A", "1"));
        // HRI and element strings carry no signature.
        assert_eq!(parse_scan(&hri(&s.key)).unwrap().sig, None);
    }

    #[test]
    fn url_variants() {
        let want = unit(GTIN, "ABC123", "42");
        for text in [
            "HTTPS://ID.EXAMPLE.COM/01/09506000134352/10/ABC123/21/42",
            "http://localhost:3000/01/09506000134352/10/ABC123/21/42/",
            "https://id.example.com/01/9506000134352/10/ABC123/21/42",
            "https://a.b/x/y/z/01/09506000134352/10/ABC123/21/42?s=1",
            "https://a.b/2024/01/01/09506000134352/10/ABC123/21/42",
            "/01/09506000134352/10/ABC123/21/42?s=1",
            "01/09506000134352/10/ABC123/21/42",
            "id.example.com/01/09506000134352/10/ABC123/21/42",
            "  https://id.example.com/01/09506000134352/10/ABC123/21/42  ",
        ] {
            assert_eq!(key_of(text), want, "{text:?}");
        }
        // GTIN-8 and GTIN-12 in the URL.
        assert_eq!(
            key_of("https://h/01/96385074/10/L/21/1"),
            unit("00000096385074", "L", "1")
        );
        assert_eq!(
            key_of("https://h/01/036000291452/10/L/21/1"),
            unit("00036000291452", "L", "1")
        );
    }

    #[test]
    fn percent_encoding_round_trips() {
        for lot in [
            "A/B",
            "50%",
            "A&B",
            "x?y",
            "(1)",
            "a+b",
            "\"!'*,:;<=>",
            "%25",
        ] {
            let k = unit(GTIN, lot, "S/1");
            let url = k.url("https://id.example.com", "SIG");
            let s = parse_scan(&url).unwrap();
            assert_eq!(s.key, k, "{url}");
            assert_eq!(s.sig.as_deref(), Some("SIG"));
            assert_eq!(s.key.canonical_path(), k.canonical_path());
            // parse_path as axum hands it.
            let path = format!("/{}", k.canonical_path());
            assert_eq!(parse_path(&path, Some("s=SIG")).unwrap(), s);
        }
    }

    #[test]
    fn other_spellings_canonicalise() {
        // Lowercase hex, needless escapes and literal set-82 chars all
        // rebuild the same canonical path (and so verify alike).
        let want = unit(GTIN, "A/B&C", "1");
        for text in [
            "/01/09506000134352/10/A%2fB%26C/21/1",
            "/01/09506000134352/10/%41%2FB&C/21/%31",
            "/01/9506000134352/10/A%2FB&C/21/1",
        ] {
            let k = key_of(text);
            assert_eq!(k, want, "{text}");
            assert_eq!(k.canonical_path(), "01/09506000134352/10/A%2FB%26C/21/1");
        }
        // "+" in a path is a literal plus, not a space.
        assert_eq!(
            key_of("/01/09506000134352/10/a+b/21/1"),
            unit(GTIN, "a+b", "1")
        );
    }

    #[test]
    fn space_is_not_allowed_even_encoded() {
        assert_eq!(
            err_of("/01/09506000134352/10/A%20B/21/1"),
            Gs1Error::LotBadChar(' ')
        );
        assert_eq!(
            err_of("/01/09506000134352/10/AB/21/%20"),
            Gs1Error::SerialBadChar(' ')
        );
        assert_eq!(
            err_of("/01/09506000134352/10/%C3%A9/21/1"),
            Gs1Error::LotBadChar('é')
        );
    }

    #[test]
    fn parse_path_forms() {
        let want = Scanned {
            key: unit(GTIN, "ABC123", "42"),
            sig: Some("SIG".to_owned()),
        };
        let p = "/01/09506000134352/10/ABC123/21/42";
        assert_eq!(parse_path(p, Some("s=SIG")).unwrap(), want);
        assert_eq!(parse_path(&p[1..], Some("s=SIG")).unwrap(), want);
        assert_eq!(parse_path(p, Some("?s=SIG&lang=en")).unwrap(), want);
        assert_eq!(parse_path(&format!("{p}?s=SIG"), None).unwrap(), want);
        assert_eq!(parse_path(p, None).unwrap().sig, None);
        assert_eq!(
            parse_path("/00/106141411234567897", Some("s=X")).unwrap(),
            Scanned {
                key: container(SSCC),
                sig: Some("X".to_owned())
            }
        );
        assert_eq!(parse_path("", None), Err(Gs1Error::Empty));
        assert_eq!(parse_path("/", None), Err(Gs1Error::Empty));
        assert_eq!(
            parse_path("/favicon.ico", None),
            Err(Gs1Error::Unrecognized)
        );
    }

    #[test]
    fn hri_variants() {
        let want = unit(GTIN, "ABC123", "42");
        for text in [
            "(01)09506000134352(10)ABC123(21)42",
            "(21)42(10)ABC123(01)09506000134352",
            "(10)ABC123(01)09506000134352(21)42",
            "  (01) 09506000134352 (10) ABC123 (21) 42  ",
            "(01)09506000134352(17)250131(10)ABC123(21)42",
            "(11)240101(13)240102(15)251200(01)09506000134352(10)ABC123(21)42",
        ] {
            assert_eq!(key_of(text), want, "{text:?}");
        }
        // Parentheses that are not an AI tag stay part of the value.
        assert_eq!(
            key_of("(01)09506000134352(10)A(1)(21)(x)"),
            unit(GTIN, "A(1)", "(x)")
        );
    }

    #[test]
    fn element_string_variants() {
        let want = unit(GTIN, "ABC123", "42");
        for text in [
            "010950600013435210ABC123\u{1d}2142",
            "\u{1d}010950600013435210ABC123\u{1d}2142",
            "01095060001343522142\u{1d}10ABC123",
            "01095060001343521725013110ABC123\u{1d}2142",
            "0109506000134352\u{1d}10ABC123\u{1d}2142\u{1d}",
            "10ABC123\u{1d}2142\u{1d}0109506000134352",
            "]d2010950600013435210ABC123\u{1d}2142\r\n",
        ] {
            assert_eq!(key_of(text), want, "{text:?}");
        }
        // A lot with "/" in an element string is not mistaken for a path.
        assert_eq!(
            key_of("010950600013435210A/B\u{1d}21X"),
            unit(GTIN, "A/B", "X")
        );
    }

    #[test]
    fn generated_forms_round_trip() {
        let keys = [
            unit(GTIN, "ABC123", "42"),
            unit(GTIN, "A/B", "0"),
            unit("96385074", "50%&x", "ABCDEFGHIJ0123456789"),
            unit("4006381333931", "!\"%&'()*+,-./:;<=>?_", "z"),
            container(SSCC),
        ];
        for k in keys {
            let url = k.url("https://id.example.com/p", "SIG");
            assert_eq!(key_of(&url), k, "{url}");
            assert_eq!(key_of(&format!("]Q1{url}\r\n")), k, "{url}");
            assert_eq!(key_of(&hri(&k)), k, "{}", hri(&k));
            let es = element_string(&k);
            assert_eq!(key_of(&es), k, "{es:?}");
            assert_eq!(key_of(&format!("]C1{es}\r\n")), k, "{es:?}");
            let path = format!("/{}", k.canonical_path());
            assert_eq!(parse_path(&path, None).unwrap().key, k);
        }
    }

    // ---- errors -------------------------------------------------------------

    #[test]
    fn empty_and_unrecognized() {
        for text in ["", "   ", "\r\n", "]Q3", "]d2\r\n", "\u{1d}"] {
            assert_eq!(err_of(text), Gs1Error::Empty, "{text:?}");
        }
        for text in [
            "hello",
            "]",
            "(hello)",
            "(01",
            "https://example.com",
            "https://example.com/about/us",
            "ftp://example.com/01/09506000134352/10/A/21/1x",
        ] {
            assert_eq!(err_of(text), Gs1Error::Unrecognized, "{text:?}");
        }
    }

    #[test]
    fn missing_ai_errors() {
        assert_eq!(
            err_of("(01)09506000134352(21)42"),
            Gs1Error::MissingAi("10")
        );
        assert_eq!(
            err_of("(01)09506000134352(21)42").to_string(),
            "the label has a GTIN (01) but no lot (10)"
        );
        assert_eq!(err_of("(01)09506000134352(10)A"), Gs1Error::MissingAi("21"));
        assert_eq!(
            err_of("(01)09506000134352(10)A").to_string(),
            "the label has a GTIN (01) but no serial (21)"
        );
        assert_eq!(err_of("(10)A(21)42"), Gs1Error::MissingAi("01"));
        assert_eq!(err_of("(17)250101"), Gs1Error::MissingAi("01"));
        assert_eq!(err_of("0109506000134352"), Gs1Error::MissingAi("10"));
        assert_eq!(
            err_of("https://h/01/09506000134352/21/42"),
            Gs1Error::MissingAi("10")
        );
        assert_eq!(
            err_of("https://h/01/09506000134352/10/A"),
            Gs1Error::MissingAi("21")
        );
        assert_eq!(err_of("https://h/10/A/21/42"), Gs1Error::MissingAi("01"));
        assert_eq!(
            err_of("https://h/01/09506000134352"),
            Gs1Error::MissingAi("10")
        );
    }

    #[test]
    fn ai_order_in_digital_link() {
        for text in [
            "/01/09506000134352/21/42/10/A",
            "/10/A/01/09506000134352/21/42",
            "/21/42/10/A/01/09506000134352",
        ] {
            assert_eq!(err_of(text), Gs1Error::AiOrder, "{text}");
        }
    }

    #[test]
    fn duplicate_ai() {
        assert_eq!(
            err_of("(01)09506000134352(10)A(10)B(21)1"),
            Gs1Error::DuplicateAi("10".to_owned())
        );
        assert_eq!(
            err_of("(01)09506000134352(10)A(10)B(21)1").to_string(),
            "application identifier (10) appears twice"
        );
        assert_eq!(
            err_of("010950600013435201095060001343521"),
            Gs1Error::DuplicateAi("01".to_owned())
        );
        assert_eq!(
            err_of("/01/09506000134352/10/A/21/1/10/B"),
            Gs1Error::DuplicateAi("10".to_owned())
        );
        assert_eq!(
            err_of("/01/09506000134352/01/09506000134352/10/A/21/1"),
            Gs1Error::DuplicateAi("01".to_owned())
        );
        assert_eq!(
            err_of("(17)250101(17)250102"),
            Gs1Error::DuplicateAi("17".to_owned())
        );
    }

    #[test]
    fn mixed_keys() {
        for text in [
            "(00)106141411234567897(01)09506000134352(10)A(21)1",
            "(00)106141411234567897(10)A",
            "/00/106141411234567897/10/A",
            "/00/106141411234567897/01/09506000134352/10/A/21/1",
            "/10/A/00/106141411234567897",
        ] {
            assert_eq!(err_of(text), Gs1Error::MixedKeys, "{text}");
        }
    }

    #[test]
    fn unknown_ai() {
        assert_eq!(
            err_of("(01)09506000134352(10)A(21)1(99)X"),
            Gs1Error::UnknownAi("99".to_owned())
        );
        assert!(err_of("(99)X")
            .to_string()
            .starts_with("unknown application identifier (99)"));
        assert_eq!(
            err_of("(02)09506000134352(37)10"),
            Gs1Error::UnknownAi("02".to_owned())
        );
        assert_eq!(
            err_of("0109506000134352991234"),
            Gs1Error::UnknownAi("99".to_owned())
        );
        assert_eq!(
            err_of("/01/09506000134352/10/A/21/1/22/X"),
            Gs1Error::UnknownAi("22".to_owned())
        );
        // One stray digit where the next AI should start.
        assert_eq!(
            err_of("01095060001343521"),
            Gs1Error::UnknownAi("1".to_owned())
        );
        assert_eq!(
            err_of("010950600013435210A\u{1d}X1"),
            Gs1Error::UnknownAi("X1".to_owned())
        );
    }

    #[test]
    fn truncated() {
        assert_eq!(
            err_of("01095060001343"),
            Gs1Error::Truncated {
                ai: "01".to_owned(),
                need: 14,
                got: 12
            }
        );
        assert_eq!(
            err_of("01095060001343").to_string(),
            "(01) needs 14 characters but the scan ends after 12"
        );
        assert_eq!(
            err_of("0010614141123456789"),
            Gs1Error::Truncated {
                ai: "00".to_owned(),
                need: 18,
                got: 17
            }
        );
        assert_eq!(
            err_of("01095060001343521725"),
            Gs1Error::Truncated {
                ai: "17".to_owned(),
                need: 6,
                got: 2
            }
        );
    }

    #[test]
    fn bad_dates() {
        for (text, value) in [
            ("(17)2501", "2501"),
            ("(17)251301", "251301"),
            ("(15)250132", "250132"),
            ("(11)25010A", "25010A"),
            ("(13)2501011", "2501011"),
        ] {
            let ai = &text[1..3];
            assert_eq!(
                err_of(text),
                Gs1Error::BadDate {
                    ai: ai.to_owned(),
                    value: value.to_owned()
                },
                "{text}"
            );
        }
        assert_eq!(
            err_of("01095060001343521725AB01"),
            Gs1Error::BadDate {
                ai: "17".to_owned(),
                value: "25AB01".to_owned()
            }
        );
        // Day 00 means end of month and is valid.
        assert_eq!(
            key_of("(17)251200(01)09506000134352(10)A(21)1"),
            unit(GTIN, "A", "1")
        );
    }

    #[test]
    fn bad_percent_encoding() {
        for text in [
            "/01/09506000134352/10/A%2/21/1",
            "/01/09506000134352/10/A%/21/1",
            "/01/09506000134352/10/A%G1/21/1",
            "/01/09506000134352/10/A/21/%FF",
            "/01/09506000134352/10/A/21/%C3",
            "/01/09506000134352/10/A%é1/21/1",
        ] {
            assert_eq!(err_of(text), Gs1Error::BadPercentEncoding, "{text}");
        }
    }

    #[test]
    fn value_errors_surface_from_every_shape() {
        assert_eq!(
            err_of("(01)09506000134355(10)A(21)1"),
            Gs1Error::GtinCheckDigit {
                expected: 2,
                found: 5
            }
        );
        assert_eq!(
            err_of("https://h/01/0950600013435/10/A/21/1"),
            Gs1Error::GtinCheckDigit {
                expected: 9,
                found: 5
            }
        );
        assert_eq!(
            err_of("https://h/01/09506000134/10/A/21/1"),
            Gs1Error::GtinLength(11)
        );
        assert_eq!(
            err_of("01095060001343X210A\u{1d}211"),
            Gs1Error::GtinNotDigits
        );
        assert_eq!(
            err_of("00106141411234567898"),
            Gs1Error::SsccCheckDigit {
                expected: 7,
                found: 8
            }
        );
        assert_eq!(err_of("/00/1061414112345678"), Gs1Error::SsccLength(16));
        assert_eq!(err_of("(00)10614141123456789X"), Gs1Error::SsccNotDigits);
        assert_eq!(err_of("010950600013435210\u{1d}211"), Gs1Error::LotEmpty);
        assert_eq!(err_of("/01/09506000134352/10//21/1"), Gs1Error::LotEmpty);
        assert_eq!(
            err_of("(01)09506000134352(10)ABCDEFGHIJ0123456789X(21)1"),
            Gs1Error::LotTooLong(21)
        );
        assert_eq!(
            err_of("(01)09506000134352(10)A B(21)1"),
            Gs1Error::LotBadChar(' ')
        );
        assert_eq!(err_of("010950600013435210A\u{1d}21"), Gs1Error::SerialEmpty);
        assert_eq!(
            err_of("010950600013435210A\u{1d}21ABCDEFGHIJ0123456789X"),
            Gs1Error::SerialTooLong(21)
        );
        assert_eq!(
            err_of("(01)09506000134352(10)A(21)1#"),
            Gs1Error::SerialBadChar('#')
        );
    }

    #[test]
    fn error_messages_are_nonempty_and_single_line() {
        let errors = [
            Gs1Error::Empty,
            Gs1Error::Unrecognized,
            Gs1Error::GtinNotDigits,
            Gs1Error::GtinLength(3),
            Gs1Error::GtinCheckDigit {
                expected: 1,
                found: 2,
            },
            Gs1Error::SsccNotDigits,
            Gs1Error::SsccLength(3),
            Gs1Error::SsccCheckDigit {
                expected: 1,
                found: 2,
            },
            Gs1Error::LotEmpty,
            Gs1Error::LotTooLong(21),
            Gs1Error::LotBadChar('#'),
            Gs1Error::SerialEmpty,
            Gs1Error::SerialTooLong(21),
            Gs1Error::SerialBadChar('#'),
            Gs1Error::UnknownAi("99".to_owned()),
            Gs1Error::MissingAi("01"),
            Gs1Error::AiOrder,
            Gs1Error::DuplicateAi("10".to_owned()),
            Gs1Error::MixedKeys,
            Gs1Error::BadPercentEncoding,
            Gs1Error::Truncated {
                ai: "01".to_owned(),
                need: 14,
                got: 3,
            },
            Gs1Error::BadDate {
                ai: "17".to_owned(),
                value: "x".to_owned(),
            },
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{e:?}: {msg}");
        }
        assert_eq!(
            Gs1Error::MissingAi("01").to_string(),
            "the label has no GTIN (01) or SSCC (00)"
        );
        assert_eq!(
            Gs1Error::SerialBadChar(GS).to_string(),
            "serial (21) contains '\\u{1d}'; GS1 set 82 allows only A-Z a-z 0-9 !\"%&'()*+,-./:;<=>?_"
        );
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for text in [
            "]",
            "]é",
            "]éé01",
            "(",
            ")",
            "()",
            "(0)",
            "(01)",
            "(01)é",
            "0",
            "00",
            "01é",
            "01ééééééééééééééé",
            "17éééééé",
            "https://",
            "https://h/01",
            "https://h/01/",
            "//",
            "/01//10//21/",
            "%",
            "/%",
            "10\u{1d}\u{1d}\u{1d}",
            "中文/01/09506000134352/10/中/21/1",
        ] {
            let _ = parse_scan(text);
            let _ = parse_path(text, Some(text));
        }
    }
}
