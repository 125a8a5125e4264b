//! Submitting a statement: parse, check the signer and its key, check the
//! rules of the statement's kind, append. Every door (the API, the dock, the
//! demo) comes through [`Ledger::submit`], so every statement meets the same
//! checks in the same order.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

use super::ledger::Ledger;
use crate::domain::batch::{self, BatchError};
use crate::domain::custody::{self, CustodyError};
use crate::domain::keys::{self, KeyError, KeyRecord};
use crate::domain::party::{Role, Slug};
use crate::domain::statement::{
    BatchId, BatchStatement, EventStatement, KeyAction, KeyStatement, StatementId, VERSION,
};
use crate::domain::time::Timestamp;
use crate::formats::sign::{self, Kind, Parsed, SignError};
use crate::store::{Appended, KeyChange, NewStatement, Party, StoreError, TokenOwner};

/// How far in the future a statement time may lie (clock skew between stations).
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a submission was refused. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Not acceptable JSON or no valid `sig` (400).
    #[error("{0}")]
    Malformed(String),
    /// JSON, but not a statement of this kind: missing, unknown or mistyped fields (400).
    #[error("{0}")]
    Schema(String),
    /// The token does not speak for the signing party (403).
    #[error("{0}")]
    Forbidden(String),
    /// The signing key is revoked (403).
    #[error("{0}")]
    Revoked(String),
    /// The signature does not verify (422).
    #[error("signature does not verify under key {0}")]
    BadSignature(String),
    /// Key not on record or not allowed to sign this (422).
    #[error("{0}")]
    Key(String),
    /// A rule of the statement kind is broken (422).
    #[error("{0}")]
    Rule(String),
    /// A custody rule is broken (422).
    #[error(transparent)]
    Custody(#[from] CustodyError),
    /// A chain head moved on (409).
    #[error("the batch chain moved on since this event was signed; re-read the head and re-sign")]
    Conflict(BTreeMap<BatchId, StatementId>),
    /// Something unique already exists (409).
    #[error("{0}")]
    Exists(String),
    /// The database failed (500).
    #[error("storage failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for SubmitError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(h) => SubmitError::Conflict(h),
            StoreError::Custody(c) => SubmitError::Custody(c),
            StoreError::Exists(m) => SubmitError::Exists(m),
            other => SubmitError::Store(other),
        }
    }
}

impl From<BatchError> for SubmitError {
    fn from(e: BatchError) -> Self {
        SubmitError::Rule(e.to_string())
    }
}

impl From<SignError> for SubmitError {
    fn from(e: SignError) -> Self {
        SubmitError::Malformed(e.to_string())
    }
}

impl From<KeyError> for SubmitError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Revoked { .. } => SubmitError::Revoked(e.to_string()),
            other => SubmitError::Key(other.to_string()),
        }
    }
}

/// What the ledger answers for an accepted (or already stored) statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// Statement id.
    pub id: String,
    /// Kind.
    pub kind: Kind,
    /// Leaf index in the log.
    pub seq: i64,
    /// `stored` or `duplicate`.
    pub status: &'static str,
}

/// A statement that parsed, whose signing party and key are known.
struct Checked {
    parsed: Parsed,
    party: Party,
    key: KeyRecord,
    time: Timestamp,
}

fn typed<T: serde::de::DeserializeOwned>(parsed: &Parsed) -> Result<T, SubmitError> {
    // The path names the field, so "inputs[0].origin: missing field" says where to look.
    serde_path_to_error::deserialize(Value::Object(parsed.body.clone())).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" (at {path})")
        };
        SubmitError::Schema(format!("{} statement: {}{at}", parsed.kind, e.into_inner()))
    })
}

impl Ledger {
    /// Verifies and appends one statement sent by `owner`.
    pub async fn submit(
        &self,
        kind: Kind,
        text: &str,
        owner: &TokenOwner,
    ) -> Result<Receipt, SubmitError> {
        // The submit runs in its own task, so a caller that goes away (a
        // client disconnecting) cannot cut it between the store's commit and
        // the count that ends cached unit views; the count comes when the
        // submit ends, whatever the outcome.
        let me = self.clone();
        let text = text.to_owned();
        let owner = owner.clone();
        let task = tokio::spawn(async move {
            let _ended = me.views.submit_started(kind == Kind::Event);
            me.submit_inner(kind, &text, &owner).await
        });
        match task.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(SubmitError::Store(StoreError::Corrupt(
                "submit cancelled at shutdown".into(),
            ))),
        }
    }

    async fn submit_inner(
        &self,
        kind: Kind,
        text: &str,
        owner: &TokenOwner,
    ) -> Result<Receipt, SubmitError> {
        let parsed = sign::parse_statement(kind, text)?;
        // A `sig` that is not 64 bytes of base64url is a malformed request, not a failed verification.
        sign::parse_sig(&parsed.sig)?;
        match kind {
            Kind::Batch => {
                let b: BatchStatement = typed(&parsed)?;
                let Some(c) = self
                    .check(parsed, owner, &b.party, &b.key, b.time, b.v, &[Role::Mint])
                    .await?
                else {
                    return self.duplicate_of_text(kind, text).await;
                };
                batch::check(&b, &c.party.slug, c.party.kind)?;
                let appended = self.store.append_batch(&self.new_statement(&c), &b).await?;
                Ok(receipt(&c.parsed, appended))
            }
            Kind::Event => {
                let e: EventStatement = typed(&parsed)?;
                let roles = e.event_type.roles();
                let Some(c) = self
                    .check(parsed, owner, &e.party, &e.key, e.time, e.v, roles)
                    .await?
                else {
                    return self.duplicate_of_text(kind, text).await;
                };
                custody::check_shape(&e)?;
                let appended = self
                    .store
                    .append_event(&self.new_statement(&c), &e, c.party.kind)
                    .await?;
                Ok(receipt(&c.parsed, appended))
            }
            Kind::Key => {
                let k: KeyStatement = typed(&parsed)?;
                let Some(c) = self
                    .check(parsed, owner, &k.party, &k.key, k.time, k.v, &[Role::Root])
                    .await?
                else {
                    return self.duplicate_of_text(kind, text).await;
                };
                keys::check_key_statement(&k, &c.key)?;
                let change = self.key_change(&k).await?;
                let appended = self
                    .store
                    .append_key(&self.new_statement(&c), &change)
                    .await?;
                Ok(receipt(&c.parsed, appended))
            }
            Kind::Label => Err(SubmitError::Rule(
                "labels are not stored; they are verified when scanned".into(),
            )),
        }
    }

    async fn duplicate_of_text(&self, kind: Kind, text: &str) -> Result<Receipt, SubmitError> {
        let parsed = sign::parse_statement(kind, text)?;
        let stored = self
            .store
            .statement(&parsed.id)
            .await?
            .ok_or_else(|| SubmitError::Store(StoreError::NotFound(parsed.id.clone())))?;
        Ok(Receipt {
            id: parsed.id,
            kind,
            seq: stored.seq,
            status: "duplicate",
        })
    }

    /// The checks every kind shares. `None` means the statement is already stored.
    #[allow(clippy::too_many_arguments)]
    async fn check(
        &self,
        parsed: Parsed,
        owner: &TokenOwner,
        party: &Slug,
        key_id: &str,
        time: Timestamp,
        version: u32,
        roles: &[Role],
    ) -> Result<Option<Checked>, SubmitError> {
        if version != VERSION {
            return Err(SubmitError::Schema(format!(
                "statement version {version} is not supported; this server reads v{VERSION}"
            )));
        }
        match owner {
            TokenOwner::Party(p) if p == party => {}
            TokenOwner::Party(p) => {
                return Err(SubmitError::Forbidden(format!(
                    "this token is {p}'s; it cannot submit a statement signed by {party}"
                )))
            }
            TokenOwner::Admin => {
                return Err(SubmitError::Forbidden(
                    "the operator token cannot submit party statements; use the party's token"
                        .into(),
                ))
            }
        }
        match self
            .verify_signer(&parsed, party, key_id, time, roles)
            .await
        {
            Ok((party, key)) => Ok(Some(Checked {
                parsed,
                party,
                key,
                time,
            })),
            // A replay answers with what is stored, even if its key has since been
            // revoked; checking only on failure keeps the common path to one read.
            Err(e) => match self.store.statement(&parsed.id).await? {
                Some(_) => Ok(None),
                None => Err(e),
            },
        }
    }

    /// Party registered, key on record and allowed, signature valid, time sane.
    async fn verify_signer(
        &self,
        parsed: &Parsed,
        party: &Slug,
        key_id: &str,
        time: Timestamp,
        roles: &[Role],
    ) -> Result<(Party, KeyRecord), SubmitError> {
        let party = self
            .party(party.as_str())
            .await?
            .ok_or_else(|| SubmitError::Key(format!("party \"{party}\" is not registered")))?;
        let key = self
            .store
            .key(key_id)
            .await?
            .ok_or_else(|| SubmitError::Key(format!("key {key_id} is not on record")))?;
        let public =
            sign::parse_public_key(&key.public_key).map_err(|e| SubmitError::Key(e.to_string()))?;
        parsed
            .verify(&public)
            .map_err(|_| SubmitError::BadSignature(key_id.to_owned()))?;
        let now = Timestamp::now();
        if time.unix() > now.unix() + MAX_SKEW_SECS {
            return Err(SubmitError::Rule(format!(
                "statement is dated {time}, in the future (server time {now}); check the station clock"
            )));
        }
        keys::may_sign(&key, &party.slug, roles, time, Some(now))?;
        Ok((party, key))
    }

    fn new_statement(&self, c: &Checked) -> NewStatement {
        NewStatement {
            id: c.parsed.id.clone(),
            kind: c.parsed.kind,
            party: c.party.slug.clone(),
            key_id: c.key.key_id.clone(),
            time: c.time,
            json: c.parsed.stored_json(),
        }
    }

    async fn key_change(&self, k: &KeyStatement) -> Result<KeyChange, SubmitError> {
        let subject = sign::parse_public_key(&k.subject)
            .map_err(|e| SubmitError::Rule(format!("subject: {e}")))?;
        let key_id = sign::key_id(&subject);
        match k.action {
            KeyAction::Certify => Ok(KeyChange::Certify(KeyRecord {
                key_id,
                party: k.party.clone(),
                public_key: sign::b64(subject.as_bytes()),
                // check_key_statement guaranteed role and window are present.
                role: k.role.unwrap_or(Role::Dock),
                not_before: k.not_before,
                not_after: k.not_after,
                revoked: None,
            })),
            KeyAction::Revoke => {
                let rec = self.store.key(&key_id).await?;
                match rec {
                    Some(r) if r.party == k.party && r.role != Role::Root => {
                        Ok(KeyChange::Revoke { key_id, at: k.time })
                    }
                    _ => Err(KeyError::NotStationKey(key_id).into()),
                }
            }
        }
    }
}

fn receipt(parsed: &Parsed, appended: Appended) -> Receipt {
    let (seq, status) = match appended {
        Appended::Stored(s) => (s, "stored"),
        Appended::Duplicate(s) => (s, "duplicate"),
    };
    Receipt {
        id: parsed.id.clone(),
        kind: parsed.kind,
        seq,
        status,
    }
}
