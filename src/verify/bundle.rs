//! Evidence bundles: one JSON file with everything needed to check, with no
//! server and no database, what the log says about one batch — the parties'
//! root keys, the key statements of the station keys used, every statement on
//! the batch's chain (exact stored JSON), a signed checkpoint and an inclusion
//! proof of each statement in the checkpoint's tree.
//!
//! What a bundle proves: each statement in it is signed by a key valid for its
//! party at its time, the batch's chain links are unbroken from the batch
//! record to the last event included, and the log with the given key committed
//! to every one of them at the checkpoint's size. It cannot prove that nothing
//! was logged after the export; a fresh checkpoint and `suyuan audit` do that.

use serde::{Deserialize, Serialize};

use crate::domain::keys::KeyRecord;
use crate::domain::party::{PartyKind, Role, Slug};
use crate::store::{Party, StoredStatement};
use crate::tlog::merkle::{self, Hash};
use crate::tlog::note::{Checkpoint, NoteError, Verifier};
use crate::verify::audit::{Auditor, Finding};

/// The format tag of version 1 bundles.
pub const FORMAT: &str = "suyuan-evidence/v1";

/// A bundle file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// The batch id.
    pub batch: String,
    /// The log's key and a checkpoint.
    pub log: BundleLog,
    /// Parties and their root keys.
    pub parties: Vec<BundleParty>,
    /// Statements in leaf order, each with its inclusion proof.
    pub statements: Vec<BundleStatement>,
}

/// The log part of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleLog {
    /// Verifier key `name+keyid+base64key`.
    pub verifier: String,
    /// The C2SP signed checkpoint note.
    pub checkpoint: String,
}

/// A party with its root keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleParty {
    /// Slug.
    pub slug: Slug,
    /// Kind.
    pub kind: PartyKind,
    /// Root keys.
    pub root_keys: Vec<BundleKey>,
}

/// A root key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleKey {
    /// Key id.
    pub key_id: String,
    /// base64url public key.
    pub public_key: String,
}

/// A logged statement with its inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleStatement {
    /// Leaf index.
    pub seq: u64,
    /// Statement id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Exact stored JSON (the leaf data).
    pub json: String,
    /// Hex inclusion proof in the checkpoint's tree.
    pub proof: Vec<String>,
}

/// Why a bundle does not verify.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not a bundle.
    #[error("not an evidence bundle: {0}")]
    Format(String),
    /// The checkpoint or key is bad.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A statement is not in the signed tree.
    #[error("leaf {seq}: {message}")]
    Proof {
        /// Leaf index.
        seq: u64,
        /// What failed.
        message: String,
    },
    /// Statements break rules.
    #[error("{} rule(s) broken:\n{}", .0.len(), .0.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<Finding>),
}

/// A bundle that verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The batch.
    pub batch: String,
    /// The checkpoint it was checked against.
    pub checkpoint: Checkpoint,
    /// Statements checked.
    pub statements: usize,
}

fn parse_hash(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Verifies a bundle. `trusted` pins the log key; without it the bundle's own key
/// is used (so the result says "signed by this key", which the reader must know).
pub fn verify(text: &str, trusted: Option<&Verifier>) -> Result<Verified, BundleError> {
    let b: Bundle = crate::formats::jcs::parse_strict(text)
        .map_err(|e| BundleError::Format(e.to_string()))
        .and_then(|v| serde_json::from_value(v).map_err(|e| BundleError::Format(e.to_string())))?;
    if b.format != FORMAT {
        return Err(BundleError::Format(format!(
            "format \"{}\", expected \"{FORMAT}\"",
            b.format
        )));
    }
    let own = Verifier::parse(&b.log.verifier)?;
    let verifier = trusted.unwrap_or(&own);
    let cp = Checkpoint::open(&b.log.checkpoint, verifier)?;
    let mut last = None;
    for st in &b.statements {
        if last.is_some_and(|l| st.seq <= l) {
            return Err(BundleError::Format(
                "statements are not in leaf order".into(),
            ));
        }
        last = Some(st.seq);
        let proof: Vec<Hash> = st
            .proof
            .iter()
            .map(|h| parse_hash(h))
            .collect::<Option<_>>()
            .ok_or_else(|| BundleError::Proof {
                seq: st.seq,
                message: "a proof hash is not 32 bytes of hex".into(),
            })?;
        let leaf = merkle::leaf_hash(st.json.as_bytes());
        merkle::verify_inclusion(&leaf, st.seq, cp.size, &proof, &cp.root).map_err(|e| {
            BundleError::Proof {
                seq: st.seq,
                message: e.to_string(),
            }
        })?;
    }
    if !b
        .statements
        .iter()
        .any(|s| s.id == b.batch && s.kind == "batch")
    {
        return Err(BundleError::Format(format!(
            "the batch record {} is not in the bundle",
            b.batch
        )));
    }
    let mut parties = Vec::new();
    let mut roots = Vec::new();
    for p in &b.parties {
        parties.push(Party {
            slug: p.slug.clone(),
            name: p.slug.to_string(),
            kind: p.kind,
            gln: None,
        });
        for k in &p.root_keys {
            roots.push(KeyRecord {
                key_id: k.key_id.clone(),
                party: p.slug.clone(),
                public_key: k.public_key.clone(),
                role: Role::Root,
                not_before: None,
                not_after: None,
                revoked: None,
            });
        }
    }
    let mut auditor = Auditor::partial(parties, roots);
    let stored: Vec<StoredStatement> = b
        .statements
        .iter()
        .map(|s| StoredStatement {
            seq: s.seq as i64,
            id: s.id.clone(),
            kind: s.kind.clone(),
            party: String::new(),
            json: s.json.clone(),
        })
        .collect();
    auditor.feed(&stored);
    auditor.flush();
    if !auditor.findings().is_empty() {
        return Err(BundleError::Rules(auditor.findings().to_vec()));
    }
    Ok(Verified {
        batch: b.batch,
        checkpoint: cp,
        statements: b.statements.len(),
    })
}
