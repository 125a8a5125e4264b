//! What scanners deliver, read into one [`Key`]: the Digital Link URL or path,
//! the human-readable `(01)…` text and the raw element string.

use super::*;

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
