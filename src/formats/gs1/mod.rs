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

mod scan;
pub use scan::*;

#[cfg(test)]
mod tests;
