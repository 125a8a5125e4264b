//! Recognises a stored statement whose text is already its own canonical form
//! (RFC 8785 under the statement rules of [`crate::formats::jcs`]), so that the audit can
//! cut the signed body straight out of the stored bytes instead of building a
//! JSON tree and serialising it again.
//!
//! This is only a shortcut: [`split_sig`] answers `Some` only when
//! `jcs::canonicalize(jcs::parse_strict(text))` would give `text` back and the
//! top level has a plain string `sig` (and for every such text nested less than
//! 32 deep). Anything else (other spacing, key order, escapes, duplicate keys,
//! nulls, floats, deep nesting) answers `None` and the audit takes the general
//! path, which reports it as it always did.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::formats::jcs::MAX_SAFE_INTEGER;

/// Deepest nesting taken here; deeper texts go the general way (bounded recursion).
const MAX_DEPTH: usize = 32;

/// A canonical stored statement cut around its top-level `"sig"` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigSplit<'a> {
    /// Canonical body text before the removed member (and its comma).
    pub before: &'a str,
    /// Canonical body text after it.
    pub after: &'a str,
    /// The signature text (a string without escapes).
    pub sig: &'a str,
}

/// Cuts a canonical stored statement into its body without `sig`, and `sig`;
/// `None` when the text is not canonical or has no plain string `sig`.
pub fn split_sig(text: &str) -> Option<SigSplit<'_>> {
    let mut s = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        sig: None,
    };
    s.object(0)?;
    if s.pos != s.bytes.len() {
        return None;
    }
    let (start, end, sig) = s.sig?;
    Some(SigSplit {
        before: &text[..start],
        after: &text[end..],
        sig,
    })
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Span to remove for the top-level `sig` member, and the signature.
    sig: Option<(usize, usize, &'a str)>,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'-' | b'0'..=b'9' => self.integer(),
            // null, whitespace or anything else is not canonical under the rules.
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// A safe integer in its shortest spelling (no `-0`, no leading zeros, no fraction).
    fn integer(&mut self) -> Option<()> {
        let negative = self.eat(b'-').is_some();
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let digits = &self.bytes[start..self.pos];
        if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || negative)) {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) || digits.len() > 16 {
            return None;
        }
        let value = digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        (value <= MAX_SAFE_INTEGER).then_some(())
    }

    /// A string in canonical spelling; returns its raw text between the quotes.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    match *self.bytes.get(self.pos + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.bytes.get(self.pos + 2..self.pos + 6)?;
                            let lower = |b: u8| matches!(b, b'0'..=b'9' | b'a'..=b'f');
                            if hex[0] != b'0'
                                || hex[1] != b'0'
                                || !hex[2..].iter().all(|&b| lower(b))
                            {
                                return None;
                            }
                            let c = u8::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16)
                                .ok()?;
                            // Only controls without a short escape are written as \u00xx.
                            if c >= 0x20 || matches!(c, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.pos += 4;
                        }
                        _ => return None,
                    }
                    self.pos += 2;
                }
                b if b < 0x20 => return None,
                _ => self.pos += 1,
            }
        }
        let raw = &self.text[start..self.pos];
        self.pos += 1;
        Some(raw)
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            if self.eat(b']').is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }

    /// An object with keys in strictly increasing UTF-16 order (so no duplicates);
    /// at depth 0, notes the `sig` member.
    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut last: Option<Cow<'a, str>> = None;
        let mut first = true;
        loop {
            let member = self.pos;
            let key = unescape(self.string()?);
            if last
                .as_deref()
                .is_some_and(|l| utf16_cmp(l, &key) != Ordering::Less)
            {
                return None;
            }
            self.eat(b':')?;
            if depth == 0 && key == "sig" {
                let sig = self.string()?;
                if sig.contains('\\') {
                    return None;
                }
                // Remove the member with the comma before it, or after it when first.
                let span = if !first {
                    (member - 1, self.pos)
                } else if self.peek() == Some(b',') {
                    (member, self.pos + 1)
                } else {
                    (member, self.pos)
                };
                self.sig = Some((span.0, span.1, sig));
            } else {
                self.value(depth)?;
            }
            last = Some(key);
            first = false;
            if self.eat(b'}').is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }
}

/// The text of a canonical string body (only short escapes and `\u00xx` occur).
fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).ok();
                out.extend(code.and_then(char::from_u32));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Orders keys as JCS does: by UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::jcs;
    use serde_json::{json, Value};

    /// What the general path makes of `text`: the canonical body without `sig`
    /// and the signature, when `text` is its own canonical form.
    fn general(text: &str) -> Option<(String, String)> {
        let value = jcs::parse_strict(text).ok()?;
        if jcs::canonicalize(&value).ok()? != text {
            return None;
        }
        let Value::Object(mut body) = value else {
            return None;
        };
        let Some(Value::String(sig)) = body.remove("sig") else {
            return None;
        };
        // A signature that needs escapes is left to the general path (it is not base64url).
        if sig.chars().any(|c| c == '"' || c == '\\' || c < ' ') {
            return None;
        }
        Some((jcs::canonicalize(&Value::Object(body)).ok()?, sig))
    }

    fn fast(text: &str) -> Option<(String, String)> {
        split_sig(text).map(|s| (format!("{}{}", s.before, s.after), s.sig.to_owned()))
    }

    fn agrees(text: &str) {
        assert_eq!(fast(text), general(text), "on {text:?}");
    }

    #[test]
    fn agrees_with_the_general_path_on_canonical_texts() {
        let values = [
            json!({"sig": "abc"}),
            json!({"a": 1, "sig": "abc"}),
            json!({"sig": "abc", "z": [1, -2, true, false, {"b": "x", "a": []}]}),
            json!({"a": {"sig": "inner"}, "sig": "s", "t": "é\u{1F600}\u{E000}\"\\\n\t\u{1}\u{7f}/"}),
            json!({"\u{E000}": 1, "\u{1F600}": 2, "sig": "q"}),
            json!({"n": 9_007_199_254_740_991i64, "m": -9_007_199_254_740_991i64, "z": 0, "sig": "q"}),
            json!({"a\nb": "k", "a\u{1}": "k", "sig": "q", "x": {}}),
            json!({"no": "sig here"}),
            json!({"sig": 5}),
            json!({"sig": "with \"quote\""}),
        ];
        for v in values {
            let text = jcs::canonicalize(&v).unwrap();
            agrees(&text);
        }
        // A real signed statement, as stored.
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let (stored, _) = crate::formats::sign::sign_value(
            crate::formats::sign::Kind::Event,
            json!({"v": 1, "party": "p1", "prev": {}, "type": "shipping", "reason": "ü ☃"})
                .as_object()
                .unwrap(),
            &key,
        )
        .unwrap();
        let text = jcs::canonicalize(&stored).unwrap();
        assert!(fast(&text).is_some());
        agrees(&text);
    }

    #[test]
    fn refuses_everything_that_is_not_its_own_canonical_form() {
        let texts = [
            r#"{"a":1,"sig":"x","a":2}"#,
            r#"{"b":1,"a":2,"sig":"x"}"#,
            r#"{"a": 1,"sig":"x"}"#,
            r#" {"sig":"x"}"#,
            r#"{"sig":"x"} "#,
            r#"{"a":null,"sig":"x"}"#,
            r#"{"a":1.5,"sig":"x"}"#,
            r#"{"a":1e3,"sig":"x"}"#,
            r#"{"a":-0,"sig":"x"}"#,
            r#"{"a":007,"sig":"x"}"#,
            r#"{"a":9007199254740992,"sig":"x"}"#,
            r#"{"a":"\u0041","sig":"x"}"#,
            r#"{"a":"\u000A","sig":"x"}"#,
            r#"{"a":"\u001F","sig":"x"}"#,
            r#"{"a":"\/","sig":"x"}"#,
            r#"{"a":"\ud83d\ude00","sig":"x"}"#,
            r#"{"sig":"x\u0001"}"#,
            r#"{"sig":"x",}"#,
            r#"{"sig":"x""#,
            r#"["sig"]"#,
            r#"{"a":[1,],"sig":"x"}"#,
            r#"{"a":tru,"sig":"x"}"#,
            "{\"a\":\"\u{1}\",\"sig\":\"x\"}",
            r#"{"":1,"sig":"x"}"#,
        ];
        for t in texts {
            agrees(t);
        }
        // Deep nesting is canonical but left to the general path.
        let mut nested = "1".to_owned();
        for _ in 0..40 {
            nested = format!("{{\"a\":[{nested}]}}");
        }
        let deep = format!("{{\"a\":{nested},\"sig\":\"x\"}}");
        assert!(general(&deep).is_some());
        assert_eq!(fast(&deep), None);
    }
}
