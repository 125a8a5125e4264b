//! Strict JSON parsing and RFC 8785 (JCS) canonical serialisation for signed statements.
//!
//! Statements are restricted to strings, safe integers, booleans, arrays and
//! objects, so JCS needs no number formatting beyond plain integers.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Largest integer a statement may carry: 2^53 − 1, the last one every JSON reader keeps exact.
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// Why a JSON text or value is not an acceptable statement body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JcsError {
    /// The text is not JSON, or breaks one of the statement rules while parsing.
    #[error("{0}")]
    Parse(String),
    /// A number that is not an integer.
    #[error("numbers must be integers; write decimals as strings")]
    Float,
    /// An integer outside ±(2^53−1).
    #[error("integer {0} is outside ±(2^53−1); send it as a decimal string")]
    IntegerRange(String),
    /// A JSON null.
    #[error("null is not allowed; omit the field instead")]
    Null,
}

/// Parses JSON text, rejecting duplicate keys at any depth, nulls, floats and unsafe integers.
pub fn parse_strict(text: &str) -> Result<Value, JcsError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict::deserialize(&mut de).map_err(|e| JcsError::Parse(e.to_string()))?;
    de.end().map_err(|e| JcsError::Parse(e.to_string()))?;
    Ok(value.0)
}

/// Canonical JCS text of a value that obeys the statement rules.
pub fn canonicalize(value: &Value) -> Result<String, JcsError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), JcsError> {
    match value {
        Value::Null => return Err(JcsError::Null),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let i = n.as_i64().ok_or_else(|| {
                if n.is_u64() {
                    JcsError::IntegerRange(n.to_string())
                } else {
                    JcsError::Float
                }
            })?;
            if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) {
                return Err(JcsError::IntegerRange(i.to_string()));
            }
            out.push_str(&i.to_string());
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

fn write_object(out: &mut String, map: &Map<String, Value>) -> Result<(), JcsError> {
    // JCS orders keys by UTF-16 code units, which differs from UTF-8 byte order
    // for characters above U+FFFF against U+E000..U+FFFF.
    let mut keys: Vec<(&String, Vec<u16>)> = map
        .keys()
        .map(|k| (k, k.encode_utf16().collect()))
        .collect();
    keys.sort_by(|a, b| a.1.cmp(&b.1));
    out.push('{');
    for (i, (key, _)) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, &map[key.as_str()])?;
    }
    out.push('}');
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON value read under the statement rules.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON string, integer, boolean, array or object")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
            Ok(Value::from(v))
        } else {
            Err(E::custom(JcsError::IntegerRange(v.to_string())))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if v <= MAX_SAFE_INTEGER as u64 {
            Ok(Value::from(v))
        } else {
            Err(E::custom(JcsError::IntegerRange(v.to_string())))
        }
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Err(E::custom(JcsError::Float))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Err(E::custom(JcsError::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
            let Strict(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> Result<String, JcsError> {
        canonicalize(&parse_strict(text)?)
    }

    #[test]
    fn sorts_keys_and_strips_whitespace() {
        assert_eq!(
            canon(r#"{ "b": 1, "a": [true, false, {"z": "x", "y": []}] }"#).unwrap(),
            r#"{"a":[true,false,{"y":[],"z":"x"}],"b":1}"#
        );
    }

    #[test]
    fn sorts_by_utf16_code_units_not_bytes() {
        // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB01 (FB01), the reverse of UTF-8 order.
        assert_eq!(
            canon("{\"\u{fb01}\":1,\"\u{1f600}\":2}").unwrap(),
            "{\"\u{1f600}\":2,\"\u{fb01}\":1}"
        );
    }

    #[test]
    fn escapes_only_what_jcs_escapes() {
        let text = r#"{"s":"q\" b\\ \b\f\n\r\t \u0001 \u001f \u007f é 奶粉 \u2028 \/"}"#;
        assert_eq!(
            canon(text).unwrap(),
            "{\"s\":\"q\\\" b\\\\ \\b\\f\\n\\r\\t \\u0001 \\u001f \u{7f} é 奶粉 \u{2028} /\"}"
        );
    }

    #[test]
    fn integer_limits() {
        assert_eq!(
            canon("[9007199254740991,-9007199254740991,0]").unwrap(),
            "[9007199254740991,-9007199254740991,0]"
        );
        assert!(matches!(
            parse_strict("[9007199254740992]"),
            Err(JcsError::Parse(m)) if m.contains("2^53")
        ));
        assert!(parse_strict("[-9007199254740992]").is_err());
        assert!(parse_strict("[1e400]").is_err());
        // serde_json reads -0 as a float; refusing it keeps one spelling per integer.
        assert!(parse_strict("[-0]").is_err());
    }

    #[test]
    fn rejects_floats_nulls_and_duplicates() {
        assert!(
            matches!(parse_strict("{\"a\":1.5}"), Err(JcsError::Parse(m)) if m.contains("integers"))
        );
        assert!(
            matches!(parse_strict("{\"a\":null}"), Err(JcsError::Parse(m)) if m.contains("null"))
        );
        assert!(
            matches!(parse_strict("{\"a\":{\"b\":1,\"b\":2}}"), Err(JcsError::Parse(m)) if m.contains("duplicate key \"b\""))
        );
        assert!(parse_strict("{\"a\":1} x").is_err());
        assert_eq!(canonicalize(&Value::Null), Err(JcsError::Null));
        assert_eq!(canonicalize(&serde_json::json!(1.5)), Err(JcsError::Float));
    }
}
