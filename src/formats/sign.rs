//! Signing format v1: domain-separated message over a JCS body, SHA-256 id, strict Ed25519.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

use crate::formats::jcs::{self, JcsError};

/// What a statement is; the kind is part of the signed message so a signature cannot be moved between kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A factory's batch record.
    Batch,
    /// A custody event.
    Event,
    /// A key certification or revocation.
    Key,
    /// A unit or container label (body is the canonical Digital Link path).
    Label,
}

impl Kind {
    /// The kind as it appears in the message prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Batch => "batch",
            Kind::Event => "event",
            Kind::Key => "key",
            Kind::Label => "label",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = SignError;
    fn from_str(s: &str) -> Result<Self, SignError> {
        match s {
            "batch" => Ok(Kind::Batch),
            "event" => Ok(Kind::Event),
            "key" => Ok(Kind::Key),
            "label" => Ok(Kind::Label),
            other => Err(SignError::UnknownKind(other.to_owned())),
        }
    }
}

/// Why a statement, key or signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    /// The body is not acceptable JSON.
    #[error("statement JSON: {0}")]
    Json(#[from] JcsError),
    /// The top level is not an object.
    #[error("a statement must be a JSON object")]
    NotObject,
    /// No `sig` field, or not a string.
    #[error("the statement has no \"sig\" string")]
    MissingSig,
    /// `sig` is not 64 bytes of base64url.
    #[error("\"sig\" must be 86 characters of base64url (64 bytes), got {0}")]
    SigEncoding(String),
    /// A public key that is not 32 bytes of base64url or not a curve point.
    #[error("public key must be 43 characters of base64url encoding a valid Ed25519 point")]
    KeyEncoding,
    /// A small-order public key, which would let anyone forge signatures under it.
    #[error("public key is of small order (weak) and is refused")]
    WeakKey,
    /// A secret key that is not a 32-byte base64url seed.
    #[error("secret key must be 43 characters of base64url (a 32-byte seed)")]
    SecretEncoding,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
    /// A kind name we do not know.
    #[error("unknown statement kind \"{0}\" (batch, event, key or label)")]
    UnknownKind(String),
}

/// The exact bytes that are signed: `"suyuan/v1/" + kind + "\n" + body`.
pub fn message(kind: Kind, body: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(12 + kind.as_str().len() + body.len());
    m.extend_from_slice(b"suyuan/v1/");
    m.extend_from_slice(kind.as_str().as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body.as_bytes());
    m
}

/// Lowercase hex SHA-256 of a message: the statement id.
pub fn id_of(message: &[u8]) -> String {
    hex::encode(Sha256::digest(message))
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (the only spelling the format uses).
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Parses a base64url public key, refusing non-points and small-order points.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, SignError> {
    let bytes: [u8; 32] = unb64(text)
        .and_then(|b| b.try_into().ok())
        .ok_or(SignError::KeyEncoding)?;
    // RFC 8032 5.1.3: an encoding with y >= p must fail to decode, so one key has one spelling.
    let canonical = curve25519_dalek::edwards::CompressedEdwardsY(bytes)
        .decompress()
        .is_some_and(|p| p.compress().to_bytes() == bytes);
    if !canonical {
        return Err(SignError::KeyEncoding);
    }
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| SignError::KeyEncoding)?;
    if key.is_weak() {
        return Err(SignError::WeakKey);
    }
    Ok(key)
}

/// Parses a base64url 32-byte seed into a signing key.
pub fn parse_secret_key(text: &str) -> Result<SigningKey, SignError> {
    let seed: [u8; 32] = unb64(text)
        .and_then(|b| b.try_into().ok())
        .ok_or(SignError::SecretEncoding)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Short key id: first 16 hex digits of SHA-256 of the 32-byte public key.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..8])
}

/// Decodes a `sig` field: exactly 64 bytes of canonical base64url without padding.
pub fn parse_sig(text: &str) -> Result<Signature, SignError> {
    let bytes: [u8; 64] = unb64(text).and_then(|b| b.try_into().ok()).ok_or_else(|| {
        if text.len() == 86 {
            SignError::SigEncoding("86 characters that are not canonical base64url".into())
        } else {
            SignError::SigEncoding(format!("{} characters", text.len()))
        }
    })?;
    Ok(Signature::from_bytes(&bytes))
}

/// Strict Ed25519 verification (canonical S, no small-order key or R).
pub fn verify_message(key: &VerifyingKey, message: &[u8], sig: &str) -> Result<(), SignError> {
    let sig = parse_sig(sig)?;
    key.verify_strict(message, &sig)
        .map_err(|_| SignError::BadSignature)
}

/// A statement parsed and canonicalised but whose signature is not yet checked.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The kind it will be verified as.
    pub kind: Kind,
    /// Hex SHA-256 of the message.
    pub id: String,
    /// The statement without `sig`.
    pub body: Map<String, Value>,
    /// The `sig` field as sent.
    pub sig: String,
    /// The signed message bytes.
    pub message: Vec<u8>,
}

impl Parsed {
    /// Checks the signature against `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), SignError> {
        verify_message(key, &self.message, &self.sig)
    }

    /// The canonical stored form: the body plus `sig`, as JCS text.
    pub fn stored_json(&self) -> String {
        let mut full = self.body.clone();
        full.insert("sig".into(), Value::String(self.sig.clone()));
        // The body was canonicalisable already and a string field cannot break that.
        jcs::canonicalize(&Value::Object(full)).unwrap_or_default()
    }
}

/// Parses a transmitted statement (JSON object with `sig`) under the strict rules and computes its id.
pub fn parse_statement(kind: Kind, text: &str) -> Result<Parsed, SignError> {
    parse_value(kind, jcs::parse_strict(text)?)
}

/// Like [`parse_statement`], for a value that was already read strictly.
pub fn parse_value(kind: Kind, value: Value) -> Result<Parsed, SignError> {
    let Value::Object(mut body) = value else {
        return Err(SignError::NotObject);
    };
    let sig = match body.remove("sig") {
        Some(Value::String(s)) => s,
        _ => return Err(SignError::MissingSig),
    };
    let canonical = jcs::canonicalize(&Value::Object(body.clone()))?;
    let message = message(kind, &canonical);
    Ok(Parsed {
        kind,
        id: id_of(&message),
        body,
        sig,
        message,
    })
}

/// Signs a statement body (an object without `sig`); returns the statement with `sig` and its id.
pub fn sign_value(
    kind: Kind,
    body: &Map<String, Value>,
    key: &SigningKey,
) -> Result<(Value, String), SignError> {
    let canonical = jcs::canonicalize(&Value::Object(body.clone()))?;
    let message = message(kind, &canonical);
    let sig = b64(&key.sign(&message).to_bytes());
    let mut full = body.clone();
    full.insert("sig".into(), Value::String(sig));
    Ok((Value::Object(full), id_of(&message)))
}

/// Signs a serialisable statement body.
pub fn sign<T: serde::Serialize>(
    kind: Kind,
    body: &T,
    key: &SigningKey,
) -> Result<(Value, String), SignError> {
    match serde_json::to_value(body) {
        Ok(Value::Object(map)) => sign_value(kind, &map, key),
        _ => Err(SignError::NotObject),
    }
}

/// Label signature over a canonical Digital Link path (86 characters of base64url).
pub fn sign_label(path: &str, key: &SigningKey) -> String {
    b64(&key.sign(&message(Kind::Label, path)).to_bytes())
}

/// Verifies a label signature over a canonical Digital Link path.
pub fn verify_label(path: &str, sig: &str, key: &VerifyingKey) -> Result<(), SignError> {
    verify_message(key, &message(Kind::Label, path), sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn demo_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn sign_then_verify_round_trip() {
        let key = demo_key();
        let body = json!({"party": "acme", "n": 3, "名": "奶粉"});
        let (stmt, id) = sign(Kind::Batch, &body, &key).unwrap();
        let parsed = parse_statement(Kind::Batch, &stmt.to_string()).unwrap();
        assert_eq!(parsed.id, id);
        parsed.verify(&key.verifying_key()).unwrap();
        assert_eq!(
            parsed.message,
            "suyuan/v1/batch\n{\"n\":3,\"party\":\"acme\",\"名\":\"奶粉\"}".as_bytes()
        );
    }

    #[test]
    fn spacing_and_order_do_not_change_the_id() {
        let key = demo_key();
        let (stmt, id) = sign(Kind::Event, &json!({"a": 1, "b": [1, 2]}), &key).unwrap();
        let sig = stmt["sig"].as_str().unwrap();
        let respelled = format!("{{ \"sig\": \"{sig}\", \"b\" : [1,2], \"a\":1 }}");
        let parsed = parse_statement(Kind::Event, &respelled).unwrap();
        assert_eq!(parsed.id, id);
        parsed.verify(&key.verifying_key()).unwrap();
    }

    #[test]
    fn wrong_kind_or_key_or_body_fails() {
        let key = demo_key();
        let (stmt, _) = sign(Kind::Event, &json!({"a": 1}), &key).unwrap();
        let as_batch = parse_statement(Kind::Batch, &stmt.to_string()).unwrap();
        assert_eq!(
            as_batch.verify(&key.verifying_key()),
            Err(SignError::BadSignature)
        );
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        let parsed = parse_statement(Kind::Event, &stmt.to_string()).unwrap();
        assert_eq!(parsed.verify(&other), Err(SignError::BadSignature));
        let mut tampered = stmt.clone();
        tampered["a"] = json!(2);
        let parsed = parse_statement(Kind::Event, &tampered.to_string()).unwrap();
        assert_eq!(
            parsed.verify(&key.verifying_key()),
            Err(SignError::BadSignature)
        );
    }

    #[test]
    fn label_signature_is_86_chars() {
        let key = demo_key();
        let sig = sign_label("01/09506000134352/10/L1/21/7", &key);
        assert_eq!(sig.len(), 86);
        verify_label("01/09506000134352/10/L1/21/7", &sig, &key.verifying_key()).unwrap();
        assert!(verify_label("01/09506000134352/10/L1/21/8", &sig, &key.verifying_key()).is_err());
    }

    #[test]
    fn weak_and_malformed_keys_are_refused() {
        // The identity point (y = 1) has order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(parse_public_key(&b64(&identity)), Err(SignError::WeakKey));
        assert_eq!(parse_public_key("abc"), Err(SignError::KeyEncoding));
        // y = p + 3: decodes in lenient readers, refused here.
        let mut big = [0xffu8; 32];
        big[0] = 0xf0;
        big[31] = 0x7f;
        assert_eq!(parse_public_key(&b64(&big)), Err(SignError::KeyEncoding));
        let good = b64(demo_key().verifying_key().as_bytes());
        assert!(parse_public_key(&good).is_ok());
        assert_eq!(key_id(&demo_key().verifying_key()).len(), 16);
    }
}
