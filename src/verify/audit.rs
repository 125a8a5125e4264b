//! Audit from zero: re-verifies every statement of the log in leaf order.
//!
//! Checked for each leaf: it is the next index (no gap, no reorder), it parses
//! and its id is the hash of its message, its signature verifies under a key
//! that belonged to its party, for the role, at its time, and was not revoked
//! before it (the audit-time rule, [`keys::may_sign`] with `now = None`), each
//! event's `prev` is the batch's chain head at that point of the log (the
//! compare-and-swap order), and the custody rules hold when the events are
//! replayed from nothing over holdings kept in memory. At the end the root of
//! the recomputed tree is compared with a signed checkpoint and with the
//! checkpoint seen last time.
//!
//! Each page is parsed and hashed on all cores, then replayed in order on one
//! thread. Signatures are checked by batch verification on all cores in the
//! background while the next page is parsed and replayed ([`batch`]: the
//! ed25519-dalek batch equation with the terms of each key summed, since a log
//! has few keys); a batch that fails is re-checked one signature at a time
//! (strict verification) to name the failing statements. A stored statement that is already canonical
//! JSON (what the server stores) gives its signed message by cutting `sig` out
//! of the stored bytes ([`canonical`]); any other text is canonicalised as before.

mod batch;
mod canonical;
mod holdings;
mod record;
mod replay;

use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::domain::custody::{self, BatchFacts, Holding};
use crate::domain::keys::{self, KeyRecord};
use crate::domain::party::{Role, Slug};
use crate::domain::statement::{
    BatchId, BatchStatement, EventStatement, EventType, KeyAction, KeyStatement, StatementId,
    VERSION,
};
use crate::domain::time::Timestamp;
use crate::formats::sign::{self, Kind};
use crate::store::{Leaf, Party, StatementPage, StoredStatement};
use crate::tlog::merkle::{self, Hash, Tree};
use crate::tlog::note::{Checkpoint, Verifier};
use record::Record;

/// Signatures per `verify_batch` call: large enough that the multiscalar
/// multiplication amortises well, small enough that a page splits over the cores.
pub const SIG_BATCH: usize = 1024;

/// One broken rule, naming the statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Leaf index, when the finding is about a leaf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Statement id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Which rule: `sequence`, `parse`, `id`, `signature`, `key`, `batch`, `chain`,
    /// `custody`, `checkpoint`, `consistency`.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if let Some(s) = self.seq {
            write!(f, "leaf {s} ")?;
        }
        if let Some(id) = &self.id {
            write!(f, "({}) ", &id[..id.len().min(16)])?;
        }
        write!(f, "[{}] {}", self.rule, self.message)
    }
}

/// A checkpoint an auditor saw and checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    /// Verifier key of the log.
    pub verifier: String,
    /// Tree size.
    pub size: u64,
    /// Hex root.
    pub root: String,
}

/// A signature waiting for verification, with the leaf to name if it fails.
struct PendingSig {
    seq: i64,
    stored_id: String,
    key: VerifyingKey,
    message: Vec<u8>,
    sig: Signature,
}

/// The replay's hash maps: foldhash with a per-process random seed instead of
/// SipHash (the replay looks up several maps per statement; a malicious log
/// cannot aim at buckets whose seed it does not know).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The replay state.
pub struct Auditor {
    keys: Map<String, KeyRecord>,
    public_keys: Map<String, VerifyingKey>,
    /// Latest statement time per key, for revocations logged after a statement
    /// dated at or after them.
    last_use: Map<String, (Timestamp, i64, StatementId)>,
    lots: Map<(String, String), BatchId>,
    /// Holdings, heads, shipments and containers, replayed.
    record: Record,
    tree: Tree,
    findings: Vec<Finding>,
    /// Signature checks of the last page, running in the background.
    inflight: Option<std::thread::JoinHandle<Vec<(i64, String)>>>,
    /// Checking a subset of the log (an evidence bundle): no leaf-order or
    /// custody replay, and chain links only for batches whose record is present.
    partial: bool,
}

/// A page of leaves parsed and hashed, ready for [`Auditor::feed_prepared`].
pub struct PreparedPage(Vec<Prepared>);

impl PreparedPage {
    /// Parses and hashes a page on all cores (rayon's pool: the same threads for
    /// every page, shared with the signature checks, instead of new threads per
    /// page competing with them and starting with cold allocator heaps).
    pub fn new(page: &StatementPage) -> Self {
        let chunk: Vec<Leaf> = page.leaves().collect();
        let one = |st: &Leaf| Prepared {
            seq: st.seq,
            stored_id: st.id.to_owned(),
            leaf: merkle::leaf_hash(st.json.as_bytes()),
            parsed: parse_typed(st.kind, st.json),
        };
        PreparedPage(chunk.par_iter().with_min_len(64).map(one).collect())
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the page holds no leaf.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one leaf parsed into (computed in parallel).
struct Prepared {
    seq: i64,
    stored_id: String,
    leaf: Hash,
    parsed: Result<(Signed, Typed), String>,
}

/// The signed message of a statement, its id and its signature.
struct Signed {
    /// SHA-256 of the message (hex only where a finding names it).
    sid: StatementId,
    message: Vec<u8>,
    sig: Result<Signature, sign::SignError>,
}

/// A statement read into its type.
enum Typed {
    Batch(BatchStatement),
    Event(EventStatement),
    Key(KeyStatement),
}

impl Typed {
    fn from_slice(kind: Kind, body: &[u8]) -> Result<Typed, String> {
        match kind {
            Kind::Batch => serde_json::from_slice(body)
                .map(Typed::Batch)
                .map_err(|e| format!("batch statement: {e}")),
            Kind::Event => serde_json::from_slice(body)
                .map(Typed::Event)
                .map_err(|e| format!("event statement: {e}")),
            Kind::Key => serde_json::from_slice(body)
                .map(Typed::Key)
                .map_err(|e| format!("key statement: {e}")),
            Kind::Label => Err("label statements are never logged".into()),
        }
    }

    fn from_value(kind: Kind, body: Value) -> Result<Typed, String> {
        match kind {
            Kind::Batch => serde_json::from_value(body)
                .map(Typed::Batch)
                .map_err(|e| format!("batch statement: {e}")),
            Kind::Event => serde_json::from_value(body)
                .map(Typed::Event)
                .map_err(|e| format!("event statement: {e}")),
            Kind::Key => serde_json::from_value(body)
                .map(Typed::Key)
                .map_err(|e| format!("key statement: {e}")),
            Kind::Label => Err("label statements are never logged".into()),
        }
    }
}

/// Parses a stored statement into its signed message and its type. Canonical
/// text (what the server stores) is read once, straight into the type; other
/// text goes through the strict parser and is canonicalised, as on intake.
fn parse_typed(kind: &str, json: &str) -> Result<(Signed, Typed), String> {
    let kind: Kind = kind.parse().map_err(|e: sign::SignError| e.to_string())?;
    let (message, sig, typed) = match canonical::split_sig(json) {
        Some(cut) => {
            // One allocation of the final size (the message outlives the page).
            let tag = sign::message(kind, "");
            let prefix = tag.len();
            let mut message = Vec::with_capacity(prefix + cut.before.len() + cut.after.len());
            message.extend_from_slice(&tag);
            message.extend_from_slice(cut.before.as_bytes());
            message.extend_from_slice(cut.after.as_bytes());
            let typed = Typed::from_slice(kind, &message[prefix..])?;
            (message, sign::parse_sig(cut.sig), typed)
        }
        None => {
            let mut p = sign::parse_statement(kind, json).map_err(|e| e.to_string())?;
            let body = Value::Object(std::mem::take(&mut p.body));
            let typed = Typed::from_value(kind, body)?;
            (p.message, sign::parse_sig(&p.sig), typed)
        }
    };
    let digest: [u8; 32] = Sha256::digest(&message).into();
    let signed = Signed {
        sid: BatchId(digest),
        message,
        sig,
    };
    Ok((signed, typed))
}

impl Auditor {
    /// Starts from the registered parties and their root keys (the trust anchors;
    /// station keys come from key statements in the log).
    pub fn new(parties: Vec<Party>, root_keys: Vec<KeyRecord>) -> Self {
        Auditor {
            record: Record::new(
                parties
                    .into_iter()
                    .map(|p| (p.slug.to_string(), Arc::new(p)))
                    .collect(),
            ),
            keys: root_keys
                .into_iter()
                .filter(|k| k.role == Role::Root)
                .map(|k| (k.key_id.clone(), k))
                .collect(),
            public_keys: Map::default(),
            last_use: Map::default(),
            lots: Map::default(),
            tree: Tree::new(),
            findings: Vec::new(),
            partial: false,
            inflight: None,
        }
    }

    /// An auditor for a subset of the log (an evidence bundle): signatures, keys,
    /// batch rules and chain links of the batches present; no leaf order or custody.
    pub fn partial(parties: Vec<Party>, root_keys: Vec<KeyRecord>) -> Self {
        Auditor {
            partial: true,
            ..Auditor::new(parties, root_keys)
        }
    }

    /// Leaves checked so far.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Findings so far (signature findings of the last page only after [`Auditor::flush`]).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    fn find(&mut self, seq: Option<i64>, id: Option<&str>, rule: &'static str, message: String) {
        self.findings.push(Finding {
            seq,
            id: id.map(str::to_owned),
            rule,
            message,
        });
    }

    /// Checks the next leaves, in order.
    pub fn feed(&mut self, chunk: &[StoredStatement]) {
        self.feed_page(&StatementPage::from_rows(chunk));
    }

    /// Checks the next leaves, in order, from a page read in one piece.
    pub fn feed_page(&mut self, page: &StatementPage) {
        self.feed_prepared(PreparedPage::new(page));
    }

    /// Checks the next leaves, in order, parsed and hashed beforehand (so that the
    /// next page can be prepared while this one is replayed).
    pub fn feed_prepared(&mut self, page: PreparedPage) {
        let prepared = page.0;
        let mut pending = Vec::with_capacity(prepared.len());
        for p in prepared {
            let expected = self.tree.size() as i64;
            if p.seq != expected && !self.partial {
                self.find(
                    Some(p.seq),
                    Some(&p.stored_id),
                    "sequence",
                    format!("leaf index {} where {expected} was expected: a leaf is missing or out of order", p.seq),
                );
            }
            self.tree.push(p.leaf);
            let (signed, typed) = match p.parsed {
                Ok(pair) => pair,
                Err(e) => {
                    self.find(Some(p.seq), Some(&p.stored_id), "parse", e);
                    continue;
                }
            };
            // The stored id is the hash's hex exactly when it parses to the same
            // bytes (`BatchId::parse` takes only 64 lowercase hex digits).
            let computed =
                (BatchId::parse(&p.stored_id).ok() != Some(signed.sid)).then(|| signed.sid.hex());
            if let Some(computed) = &computed {
                self.find(
                    Some(p.seq),
                    Some(&p.stored_id),
                    "id",
                    format!(
                        "stored under id {} but its message hashes to {}",
                        p.stored_id, computed
                    ),
                );
            }
            let id = computed.as_deref().unwrap_or(&p.stored_id);
            let Signed { sid, message, sig } = signed;
            if let Some((key, sig)) = self.replay(p.seq, id, sid, typed, sig) {
                pending.push(PendingSig {
                    seq: p.seq,
                    stored_id: p.stored_id,
                    key,
                    message,
                    sig,
                });
            }
        }
        // Verify this page's signatures in the background while the next page is
        // parsed and replayed; `flush` (and `finish`) collect the outcome.
        self.flush();
        self.inflight = Some(std::thread::spawn(move || {
            let failed = verify_signatures(&pending);
            failed
                .into_iter()
                .map(|i| (pending[i].seq, pending[i].stored_id.clone()))
                .collect()
        }));
    }

    /// Waits for signature checks still running and records their findings.
    pub fn flush(&mut self) {
        if let Some(h) = self.inflight.take() {
            let failed = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (seq, id) in failed {
                self.find(
                    Some(seq),
                    Some(&id),
                    "signature",
                    "the signature does not verify under the statement's key".into(),
                );
            }
        }
    }

    /// Applies one statement's rules; returns its key and signature for verification.
    fn replay(
        &mut self,
        seq: i64,
        id: &str,
        sid: StatementId,
        typed: Typed,
        sig: Result<Signature, sign::SignError>,
    ) -> Option<(VerifyingKey, Signature)> {
        const MINT: &[Role] = &[Role::Mint];
        const ROOT: &[Role] = &[Role::Root];
        let (party, key_id, time, v, roles): (&Slug, &str, Timestamp, u32, &[Role]) = match &typed {
            Typed::Batch(b) => (&b.party, &b.key, b.time, b.v, MINT),
            Typed::Event(e) => (&e.party, &e.key, e.time, e.v, e.event_type.roles()),
            Typed::Key(k) => (&k.party, &k.key, k.time, k.v, ROOT),
        };
        if v != VERSION {
            self.find(
                Some(seq),
                Some(id),
                "parse",
                format!("statement version {v}"),
            );
        }
        let Some(p) = self.record.parties.get(party.as_str()).cloned() else {
            self.find(
                Some(seq),
                Some(id),
                "key",
                format!("party \"{party}\" is not registered"),
            );
            // Keep the chain moving so that one bad statement is one finding.
            if let Typed::Event(e) = &typed {
                for batch in e.prev.keys() {
                    if let Some(head) = self.record.heads.get_mut(batch) {
                        *head = sid;
                    }
                }
            }
            return None;
        };
        // The key as of this point of the log; its public key is decoded once
        // (decoding is a point decompression).
        let (key_error, public, signer) = match self.keys.get(key_id) {
            None => (
                Some(format!(
                    "key {key_id} was never certified before this statement"
                )),
                None,
                None,
            ),
            Some(k) => {
                let error = keys::may_sign(k, &p.slug, roles, time, None)
                    .err()
                    .map(|e| e.to_string());
                let public = match self.public_keys.get(key_id) {
                    Some(vk) => Ok(*vk),
                    None => sign::parse_public_key(&k.public_key).inspect(|vk| {
                        self.public_keys.insert(key_id.to_owned(), *vk);
                    }),
                };
                let signer = matches!(typed, Typed::Key(_)).then(|| k.clone());
                (error, Some(public), signer)
            }
        };
        if let Some(e) = key_error {
            self.find(Some(seq), Some(id), "key", e);
        }
        match self.last_use.get_mut(key_id) {
            Some(last) if time > last.0 => *last = (time, seq, sid),
            Some(_) => {}
            None => {
                self.last_use.insert(key_id.to_owned(), (time, seq, sid));
            }
        }
        let pending = match public.map(|k| (k, sig)) {
            None => None,
            Some((Ok(k), Ok(s))) => Some((k, s)),
            Some((Err(e), _) | (_, Err(e))) => {
                self.find(Some(seq), Some(id), "signature", e.to_string());
                None
            }
        };
        match typed {
            Typed::Batch(b) => self.replay_batch(seq, id, sid, &b, &p),
            Typed::Event(e) => self.replay_event(seq, id, sid, e, &p),
            Typed::Key(k) => {
                if let Some(signer) = signer {
                    self.replay_key(seq, id, &k, &signer);
                }
            }
        }
        pending
    }

    /// Ends the audit: compares the recomputed tree with a signed checkpoint and the
    /// checkpoint seen last time. Returns the checkpoint to remember, if it held.
    pub fn finish(
        &mut self,
        note: Option<&str>,
        verifier: &Verifier,
        last_seen: Option<&Seen>,
    ) -> Option<Seen> {
        self.flush();
        let size = self.tree.size();
        let mut seen = None;
        match note {
            None => self.find(None, None, "checkpoint", "the log has no signed checkpoint".into()),
            Some(n) => match Checkpoint::open(n, verifier) {
                Err(e) => self.find(None, None, "checkpoint", e.to_string()),
                Ok(cp) if cp.size > size => self.find(None, None, "checkpoint", format!(
                    "the signed checkpoint covers {} leaves but only {size} are stored: the log was rolled back or leaves were deleted", cp.size
                )),
                Ok(cp) => match self.tree.root(cp.size) {
                    Ok(root) if root == cp.root => {
                        seen = Some(Seen { verifier: verifier.to_string(), size: cp.size, root: hex::encode(cp.root) });
                    }
                    _ => self.find(None, None, "checkpoint", format!(
                        "the root of the first {} stored leaves is not the signed root: stored statements were changed, removed, reordered or re-signed", cp.size
                    )),
                },
            },
        }
        if let Some(last) = last_seen {
            if last.verifier != verifier.to_string() {
                self.find(
                    None,
                    None,
                    "consistency",
                    format!(
                        "the log key changed since the last audit (was {})",
                        last.verifier
                    ),
                );
            } else if last.size > size {
                self.find(None, None, "consistency", format!(
                    "the last audit saw a checkpoint of {} leaves; only {size} are stored now: the log was rolled back", last.size
                ));
            } else {
                let root = self
                    .tree
                    .root(last.size)
                    .map(hex::encode)
                    .unwrap_or_default();
                if root != last.root {
                    self.find(None, None, "consistency", format!(
                        "the first {} leaves no longer have the root the last audit saw: history was rewritten (a fork)", last.size
                    ));
                }
            }
            if let Some(s) = &seen {
                if s.size < last.size {
                    self.find(None, None, "consistency", format!(
                        "the server's checkpoint ({}) is older than the one the last audit saw ({})", s.size, last.size
                    ));
                }
            }
        }
        seen
    }
}

/// Verifies signatures in batches of [`SIG_BATCH`] on all cores (rayon's pool);
/// returns the indexes (into `sigs`) that fail.
fn verify_signatures(sigs: &[PendingSig]) -> Vec<usize> {
    sigs.par_chunks(SIG_BATCH)
        .enumerate()
        .flat_map_iter(|(n, batch)| {
            let msgs: Vec<&[u8]> = batch.iter().map(|p| p.message.as_slice()).collect();
            let ss: Vec<Signature> = batch.iter().map(|p| p.sig).collect();
            let ks: Vec<VerifyingKey> = batch.iter().map(|p| p.key).collect();
            let failed: Vec<usize> = if batch::verify_batch(&msgs, &ss, &ks) {
                Vec::new()
            } else {
                // Name the failing statements: each one checked on its own.
                batch
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.key.verify_strict(&p.message, &p.sig).is_err())
                    .map(|(i, _)| n * SIG_BATCH + i)
                    .collect()
            };
            failed
        })
        .collect()
}

#[cfg(test)]
mod tests;
