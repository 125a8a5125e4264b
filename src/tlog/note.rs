//! C2SP signed notes (c2sp.org/signed-note) carrying C2SP tlog checkpoints
//! (c2sp.org/tlog-checkpoint), with Ed25519 signatures.
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root hash>\n
//! \n
//! — <key name> base64(key id[4] ‖ Ed25519 signature[64])\n
//! ```
//! key id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]; the verifier key is
//! written `name+hex(key id)+base64(0x01 ‖ public key)`. Base64 is the standard
//! alphabet with padding (RFC 4648 §4), as the specs say.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// Signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

/// Why a note, key or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Not a well-formed verifier key string.
    #[error("verifier key: {0}")]
    Key(String),
    /// Not a well-formed signed note.
    #[error("signed note: {0}")]
    Format(String),
    /// No signature by the expected key, or it does not verify.
    #[error("signed note: {0}")]
    Signature(String),
    /// The note text is not a checkpoint.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// Key names are non-empty, without spaces or `+`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(format!(
            "key name \"{name}\" must be non-empty, without spaces or '+'"
        ));
    }
    Ok(())
}

/// The 4-byte key id of an Ed25519 key under a name.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A, ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A public key that checks notes: name, id and Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    /// Key name (the log's origin).
    pub name: String,
    /// Key id.
    pub id: [u8; 4],
    /// The key.
    pub key: VerifyingKey,
}

impl Verifier {
    /// The verifier of a key under a name.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_name(name).map_err(NoteError::Key)?;
        Ok(Verifier {
            name: name.to_owned(),
            id: key_id(name, &key),
            key,
        })
    }

    /// Parses `name+hex(key id)+base64(0x01 ‖ key)`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |m: &str| NoteError::Key(m.to_owned());
        let text = text.trim_end_matches('\n');
        // The name has no '+' but base64 may: split from the left.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected name+keyid+key"));
        };
        check_name(name).map_err(NoteError::Key)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| bad("the key is not standard base64"))?;
        let (Some(&ED25519), Ok(bytes)) =
            (raw.first(), <[u8; 32]>::try_from(&raw[1.min(raw.len())..]))
        else {
            return Err(bad("the key is not 0x01 followed by a 32-byte Ed25519 key"));
        };
        let key = crate::formats::sign::parse_public_key(&crate::formats::sign::b64(&bytes))
            .map_err(|e| NoteError::Key(e.to_string()))?;
        let v = Verifier::new(name, key)?;
        if id_hex.len() != 8 || hex::encode(v.id) != id_hex {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(v)
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(raw)
        )
    }
}

/// Signs note text (ending in a newline) as a one-signature note.
pub fn sign_note(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_name(name).map_err(NoteError::Format)?;
    check_text(text)?;
    let id = key_id(name, &key.verifying_key());
    let sig = key.sign(text.as_bytes());
    let mut raw = id.to_vec();
    raw.extend_from_slice(&sig.to_bytes());
    Ok(format!(
        "{text}\n\u{2014} {name} {}\n",
        STANDARD.encode(raw)
    ))
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Format("the text must end with a newline".into()));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Format(
            "control characters other than newline are not allowed".into(),
        ));
    }
    Ok(())
}

/// Verifies a note's signature by `verifier` and returns its text.
/// Signatures by other keys are ignored, as the spec requires.
pub fn open_note<'a>(note: &'a str, verifier: &Verifier) -> Result<&'a str, NoteError> {
    let fmt = |m: &str| NoteError::Format(m.to_owned());
    if note.len() > 64 * 1024 {
        return Err(fmt("longer than 64 KiB"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| fmt("no blank line before the signatures"))?;
    let text = &note[..split + 1];
    check_text(text)?;
    let sigs = &note[split + 2..];
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(fmt("no signature lines"));
    }
    let mut found = false;
    for line in sigs[..sigs.len() - 1].split('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| fmt("a signature line must start with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| fmt("a signature line needs a key name and a signature"))?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| fmt("a signature is not standard base64"))?;
        if raw.len() < 5 {
            return Err(fmt("a signature is shorter than a key id"));
        }
        if name != verifier.name || raw[..4] != verifier.id {
            continue;
        }
        let sig = <[u8; 64]>::try_from(&raw[4..])
            .map(|b| Signature::from_bytes(&b))
            .map_err(|_| NoteError::Signature("the Ed25519 signature is not 64 bytes".into()))?;
        verifier
            .key
            .verify_strict(text.as_bytes(), &sig)
            .map_err(|_| {
                NoteError::Signature(format!(
                    "the signature by {} does not verify",
                    verifier.name
                ))
            })?;
        found = true;
    }
    if !found {
        return Err(NoteError::Signature(format!(
            "no signature by {}+{}",
            verifier.name,
            hex::encode(verifier.id)
        )));
    }
    Ok(text)
}

/// A tree head: origin, size, root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (also its key name).
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// RFC 6962 root hash.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: three lines.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a checkpoint note text (extension lines are allowed and ignored).
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let bad = |m: String| NoteError::Checkpoint(m);
        let mut lines = text.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size_text = lines
            .next()
            .ok_or_else(|| bad("no tree size line".into()))?;
        let root_text = lines
            .next()
            .ok_or_else(|| bad("no root hash line".into()))?;
        if origin.is_empty() {
            return Err(bad("empty origin".into()));
        }
        let canonical = !size_text.is_empty()
            && size_text.bytes().all(|b| b.is_ascii_digit())
            && (size_text == "0" || !size_text.starts_with('0'));
        let size: u64 = size_text
            .parse()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| bad(format!("tree size \"{size_text}\" is not a decimal number")))?;
        let root: Hash = STANDARD
            .decode(root_text)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root hash is not 32 bytes of base64".into()))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Signs this checkpoint with the log key (named by the origin).
    pub fn sign(&self, key: &SigningKey) -> Result<String, NoteError> {
        sign_note(&self.body(), &self.origin, key)
    }

    /// Verifies a signed checkpoint note whose origin is the verifier's name.
    pub fn open(note: &str, verifier: &Verifier) -> Result<Self, NoteError> {
        let cp = Checkpoint::parse_body(open_note(note, verifier)?)?;
        if cp.origin != verifier.name {
            return Err(NoteError::Checkpoint(format!(
                "origin \"{}\" is not the log \"{}\"",
                cp.origin, verifier.name
            )));
        }
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python's `cryptography` package: seed bytes
    // 0..32, name suyuan.example/log, the RFC 6962 size-8 test root
    // (key id = sha256(name‖0x0A‖0x01‖pk)[:4], Ed25519 is deterministic).
    const VKEY: &str = "suyuan.example/log+4c6a86d9+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
    const NOTE: &str = "suyuan.example/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\u{2014} suyuan.example/log TGqG2ZZLhG7h4o3oh1/W3bLPjt3hCQ2dZVS+6g+sh6cPorSuqvF2fay45CVvyiQuF1+a3F6t7XOxRNRM2qgQj9cYKQE=\n";

    fn key() -> SigningKey {
        let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
        SigningKey::from_bytes(&seed)
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "suyuan.example/log".into(),
            size: 8,
            root: hex::decode("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
                .unwrap()
                .try_into()
                .unwrap(),
        }
    }

    #[test]
    fn signs_and_verifies_known_answer() {
        let v = Verifier::new("suyuan.example/log", key().verifying_key()).unwrap();
        assert_eq!(v.to_string(), VKEY);
        assert_eq!(Verifier::parse(VKEY).unwrap(), v);
        assert_eq!(cp().sign(&key()).unwrap(), NOTE);
        assert_eq!(Checkpoint::open(NOTE, &v).unwrap(), cp());
    }

    #[test]
    fn refuses_changed_notes_and_other_keys() {
        let v = Verifier::parse(VKEY).unwrap();
        let changed = NOTE.replacen("\n8\n", "\n9\n", 1);
        assert!(matches!(
            Checkpoint::open(&changed, &v),
            Err(NoteError::Signature(_))
        ));
        let other = SigningKey::from_bytes(&[7u8; 32]);
        let by_other = cp().sign(&other).unwrap();
        assert!(matches!(
            Checkpoint::open(&by_other, &v),
            Err(NoteError::Signature(_))
        ));
        assert!(Checkpoint::open("no blank line", &v).is_err());
        assert!(Verifier::parse(
            "suyuan.example/log+00000000+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
        )
        .is_err());
        assert!(Verifier::parse("nonsense").is_err());
        assert!(
            Checkpoint::parse_body("o\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n")
                .is_err()
        );
        assert!(Checkpoint::parse_body("o\n8\nshort\n").is_err());
    }
}
