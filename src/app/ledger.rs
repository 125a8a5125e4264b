//! The ledger: verifies submitted statements against keys and rules, then appends them.
//!
//! HTTP handlers and the demo both come through here, so every statement meets
//! the same checks in the same order whatever door it came in by.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use crate::app::cache;
use crate::domain::batch::{self, unit_index, BatchError};
use crate::domain::custody::{self, CustodyError, Holding};
use crate::domain::keys::{self, KeyError, KeyRecord};
use crate::domain::party::{Role, Slug};
use crate::domain::sale;
use crate::domain::scanlog::{self, ScanRecord};
use crate::domain::statement::{
    BatchId, BatchStatement, EventStatement, EventType, KeyAction, KeyStatement, StatementId,
    VERSION,
};
use crate::domain::time::Timestamp;
use crate::domain::verdict::{self, ScanFacts, SuspectReason, Verdict};
use crate::formats::gs1::{self, Key};
use crate::formats::sign::{self, Kind, Parsed, SignError};
use crate::store::{Appended, DynStore, KeyChange, NewStatement, Party, StoreError, TokenOwner};

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

/// The verification pipeline in front of a store.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// The database.
    pub store: DynStore,
    /// Parties never change once registered, so they are read once.
    parties: Arc<RwLock<HashMap<String, Party>>>,
    /// Label signatures already verified, by (canonical path, sig). Only
    /// successes are kept: a key is never removed, so a label that verified
    /// once always does; a failure is checked again each time.
    labels: Arc<cache::Shared<(String, String), ()>>,
    /// Parsed batch records by batch id: signed records never change.
    records: Arc<cache::Shared<String, Arc<BatchStatement>>>,
    /// What a scan shows of a unit (batch row, holding, holder, parsed
    /// history, recall), by canonical path; see [`UnitView`].
    views: Arc<cache::Shared<String, Arc<UnitView>>>,
    /// The scan-log task's queue, started by the first logged scan.
    scan_log: Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<ScanJob>>>,
}

/// One scan for the scan-log task and where to answer its statistics.
type ScanJob = (
    ScanRecord,
    Option<i64>,
    tokio::sync::oneshot::Sender<Result<scanlog::ScanStats, String>>,
);

/// Scans written in one group at most.
const SCAN_GROUP_MAX: usize = 512;

/// Writes scans in groups: whatever has queued while the previous group was
/// written goes in the next one. Nobody is answered before their row is stored
/// (a failed group answers each of its members with the error), so a crash
/// loses no answered scan beyond what `synchronous=NORMAL` itself may lose.
async fn scan_log_task(store: DynStore, mut rx: tokio::sync::mpsc::UnboundedReceiver<ScanJob>) {
    let mut jobs: Vec<ScanJob> = Vec::new();
    while rx.recv_many(&mut jobs, SCAN_GROUP_MAX).await > 0 {
        let group: Vec<(ScanRecord, Option<i64>)> =
            jobs.iter().map(|(r, s, _)| (r.clone(), *s)).collect();
        match store.record_scans(&group).await {
            Ok(stats) if stats.len() == jobs.len() => {
                for ((_, _, reply), st) in jobs.drain(..).zip(stats) {
                    let _ = reply.send(Ok(st));
                }
            }
            Ok(_) => {
                for (_, _, reply) in jobs.drain(..) {
                    let _ = reply.send(Err("scan statistics do not match the scans".into()));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for (_, _, reply) in jobs.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Unit views remembered.
pub const VIEW_CACHE: usize = 100_000;
/// How long a cached unit view may be used at most when other processes may
/// append to the same database (PostgreSQL shared by several servers). Appends
/// made through any [`Ledger`] in this process invalidate views at once (see
/// [`APPENDS`]); another server's appends are not seen by this process, so its
/// scan pages may show custody up to this old.
pub const VIEW_TTL_SHARED: std::time::Duration = std::time::Duration::from_secs(2);
/// The same bound when this process is the database's only writer (SQLite):
/// the append counter alone keeps views exact; the bound is a second guard
/// (say, a tool run against the file while the server runs).
pub const VIEW_TTL_SINGLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Submits ended in this process. Every submit bumps it when it ends,
/// whatever the outcome, after any commit. A cached [`UnitView`] is used as
/// it is while this is unchanged since the view was read (and within
/// [`VIEW_TTL_SINGLE`] or [`VIEW_TTL_SHARED`]); after a change it is used
/// only if its batch's chain head is still the one it was read with, since
/// every stored event moves the head of each batch whose units it covers.
static APPENDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Submits of anything but events (keys, batches) ended in this process: they
/// move no chain head, so a cached view is used only while this is unchanged.
static OTHER_SUBMITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Bumps [`APPENDS`], and [`OTHER_SUBMITS`] unless the submit is an event.
struct BumpOnDrop {
    event: bool,
}

impl Drop for BumpOnDrop {
    fn drop(&mut self) {
        if !self.event {
            OTHER_SUBMITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        APPENDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Everything a scan reads about a unit from the ledger, kept for repeat scans.
#[derive(Debug)]
struct UnitView {
    /// Unique per view read in this process (see [`ScanReport::view`]).
    id: u64,
    /// [`APPENDS`] before the reads began, or before its chain head was last
    /// found unchanged.
    appends: std::sync::atomic::AtomicU64,
    /// [`OTHER_SUBMITS`] before the reads began.
    other_submits: u64,
    /// When the reads began.
    read_at: std::time::Instant,
    batch: crate::store::BatchRow,
    record: Arc<BatchStatement>,
    index: Option<u64>,
    holding: Option<Holding>,
    holder: Option<Party>,
    history: Arc<Vec<Value>>,
    /// The same events, typed, parsed once for every page that shows them.
    events: Arc<Vec<EventStatement>>,
    sold_at: Option<Timestamp>,
    recall: Option<EventStatement>,
}

/// Source of [`UnitView::id`].
static VIEW_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Label signatures remembered as verified.
pub const LABEL_CACHE: usize = 200_000;
/// Parsed batch records remembered.
pub const RECORD_CACHE: usize = 4096;

/// Who is scanning, as the scan log records it (see [`crate::domain::scanlog`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanner {
    /// Unix seconds of the scan.
    pub time: i64,
    /// Unix day of the salt.
    pub day: i64,
    /// Salted hash of the coarse fingerprint.
    pub hash: String,
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
    /// Wraps a store.
    pub fn new(store: DynStore) -> Self {
        Ledger {
            store,
            parties: Arc::default(),
            labels: Arc::new(cache::Shared::new(LABEL_CACHE)),
            records: Arc::new(cache::Shared::new(RECORD_CACHE)),
            views: Arc::new(cache::Shared::new(VIEW_CACHE)),
            scan_log: Arc::default(),
        }
    }

    /// A registered party, from memory after the first read.
    pub async fn party(&self, slug: &str) -> Result<Option<Party>, StoreError> {
        if let Some(p) = self.parties.read().ok().and_then(|m| m.get(slug).cloned()) {
            return Ok(Some(p));
        }
        let found = self.store.party(slug).await?;
        if let (Some(p), Ok(mut m)) = (&found, self.parties.write()) {
            m.insert(slug.to_owned(), p.clone());
        }
        Ok(found)
    }

    /// Verifies and appends one statement sent by `owner`.
    pub async fn submit(
        &self,
        kind: Kind,
        text: &str,
        owner: &TokenOwner,
    ) -> Result<Receipt, SubmitError> {
        // The submit runs in its own task, so a caller that goes away (a
        // client disconnecting) cannot cut it between the store's commit and
        // the bump of [`APPENDS`] that drops cached unit views; the bump comes
        // when the submit ends, whatever the outcome.
        let me = self.clone();
        let text = text.to_owned();
        let owner = owner.clone();
        let task = tokio::spawn(async move {
            let _bump = BumpOnDrop {
                event: kind == Kind::Event,
            };
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

    /// Checks a label signature against the factory's minting keys; true if one verifies.
    pub async fn label_signature_ok(
        &self,
        factory: &Slug,
        path: &str,
        sig: &str,
    ) -> Result<bool, StoreError> {
        let cache_key = (path.to_owned(), sig.to_owned());
        if self.labels.get(&cache_key).is_some() {
            return Ok(true);
        }
        for k in self.store.keys_of(factory).await? {
            if !matches!(k.role, Role::Root | Role::Mint) {
                continue;
            }
            if let Ok(public) = sign::parse_public_key(&k.public_key) {
                if sign::verify_label(path, sig, &public).is_ok() {
                    self.labels.insert(cache_key, ());
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Everything a scan of a label shows: verdict, batch, unit state and history.
    /// Reads only; nothing is logged (see [`Ledger::scan_logged`]).
    pub async fn scan(
        &self,
        key: &Key,
        sig: Option<&str>,
        today: crate::domain::time::Date,
    ) -> Result<ScanReport, StoreError> {
        self.scan_logged(key, sig, today, None).await
    }

    /// A scan by a consumer: like [`Ledger::scan`], and when the label verifies
    /// the scan is recorded and the unit's scan history feeds the verdict.
    pub async fn scan_logged(
        &self,
        key: &Key,
        sig: Option<&str>,
        today: crate::domain::time::Date,
        scanner: Option<&Scanner>,
    ) -> Result<ScanReport, StoreError> {
        let mut report = ScanReport {
            verdict: Verdict::Unknown,
            reason: None,
            path: key.canonical_path(),
            signature_ok: false,
            batch: None,
            unit_index: None,
            holding: None,
            holder: None,
            recall: None,
            history: Arc::default(),
            events: Arc::default(),
            view: 0,
            scans: None,
        };
        let Key::Unit { gtin, lot, serial } = key else {
            return Ok(report);
        };
        let Some(view) = self.unit_view(&report.path, gtin, lot, serial).await? else {
            return Ok(report);
        };
        report.signature_ok = match sig {
            Some(s) => {
                self.label_signature_ok(&view.batch.party, &report.path, s)
                    .await?
            }
            None => false,
        };
        let batch = &view.batch;
        let record = &view.record;
        let holding = view.holding.clone();
        let holder = view.holder.clone();
        let sold_at = view.sold_at;
        report.view = view.id;
        if let (Some(i), Some(_)) = (view.index, &holding) {
            report.unit_index = Some(i);
            report.history = view.history.clone();
            report.events = view.events.clone();
            report.recall = view.recall.clone();
        }
        let sold = holding
            .as_ref()
            .is_some_and(|h| sale::is_sold(h.disposition));
        // Only scans of labels that verify are logged: a forged URL must not be
        // able to make a genuine unit look copied.
        let mut scanners_after_sale = 0;
        if let (true, Some(_), Some(sc)) = (report.signature_ok, &holding, scanner) {
            let since = if sold {
                sold_at.map(|t| t.unix())
            } else {
                None
            };
            let rec = ScanRecord {
                unit: report.path.clone(),
                time: sc.time,
                day: sc.day,
                scanner: sc.hash.clone(),
            };
            let stats = self.log_scan(rec, since).await?;
            scanners_after_sale = scanlog::scanners_estimate(&stats.per_day_since);
            report.scans = Some(ScanSummary {
                count: stats.count,
                first_verified: stats.first.map(Timestamp::from_unix),
                scanners_after_sale,
            });
        }
        let facts = ScanFacts {
            signature_ok: report.signature_ok,
            minted: holding.is_some(),
            recalled: holding.as_ref().is_some_and(|h| h.recall.is_some()),
            expires: record.expires,
            today,
            disposition: holding.as_ref().map(|h| h.disposition),
            holder_kind: holder.as_ref().map(|p| p.kind),
            scanners_after_sale,
        };
        let (v, reason) = verdict::decide(&facts);
        report.verdict = v;
        report.reason = reason;
        report.batch = Some(BatchView {
            id: batch.id.hex(),
            head: batch.head.hex(),
            record: record.clone(),
        });
        report.holding = holding;
        report.holder = holder;
        Ok(report)
    }

    /// Records a scan through the scan-log task, which writes the scans that
    /// arrive together in one group (see [`crate::store::Store::record_scans`]), and answers
    /// the unit's statistics once its row is stored: every answer counts its
    /// own scan, as with one insert per request.
    async fn log_scan(
        &self,
        rec: ScanRecord,
        since: Option<i64>,
    ) -> Result<scanlog::ScanStats, StoreError> {
        let tx = self.scan_log.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(scan_log_task(self.store.clone(), rx));
            tx
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        tx.send((rec, since, reply))
            .map_err(|_| StoreError::Corrupt("scan log task ended".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Corrupt("scan log task ended".into()))?
            .map_err(StoreError::Corrupt)
    }

    /// The unit's view, from memory while no submit has ended since it was
    /// read and it is younger than [`VIEW_TTL_SINGLE`] or [`VIEW_TTL_SHARED`]; `None` if the lot is unknown.
    async fn unit_view(
        &self,
        path: &str,
        gtin: &gs1::Gtin,
        lot: &gs1::Lot,
        serial: &gs1::Serial,
    ) -> Result<Option<Arc<UnitView>>, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let appends = APPENDS.load(SeqCst);
        let other_submits = OTHER_SUBMITS.load(SeqCst);
        let path = path.to_string();
        if let Some(v) = self.views.get(&path) {
            let ttl = if self.store.single_writer() {
                VIEW_TTL_SINGLE
            } else {
                VIEW_TTL_SHARED
            };
            if v.other_submits == other_submits && v.read_at.elapsed() < ttl {
                if v.appends.load(SeqCst) == appends {
                    return Ok(Some(v));
                }
                // Events ended since: one read of the head tells whether any
                // of them covered this batch (a sale elsewhere leaves it be).
                let heads = self.store.heads(std::slice::from_ref(&v.batch.id)).await?;
                if heads.get(&v.batch.id) == Some(&v.batch.head) {
                    v.appends.fetch_max(appends, SeqCst);
                    return Ok(Some(v));
                }
            }
        }
        let read_at = std::time::Instant::now();
        let Some(batch) = self.store.batch_by_lot(gtin.as_str(), lot.as_str()).await? else {
            return Ok(None);
        };
        let record = self.record(&batch).await?;
        let index = unit_index(
            serial.as_str(),
            record.serial_prefix.as_deref(),
            batch.quantity,
        );
        let holding = match index {
            Some(i) => self.store.unit(&batch.id, i).await?,
            None => None,
        };
        let holder = match &holding {
            Some(h) => self.party(h.holder.as_str()).await?,
            None => None,
        };
        let mut sold_at = None;
        let mut history = Vec::new();
        let mut events = Vec::new();
        let mut recall = None;
        if let (Some(i), Some(h)) = (index, &holding) {
            for st in self.store.unit_events(&batch.id, i).await? {
                let v: Value = serde_json::from_str(&st.json)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let e: EventStatement = parse_stored(&st.json)?;
                if e.event_type == EventType::RetailSelling {
                    sold_at = Some(e.time);
                }
                history.push(v);
                events.push(e);
            }
            if let Some(r) = h.recall {
                if let Some(st) = self.store.statement(&r.hex()).await? {
                    recall = Some(parse_stored(&st.json)?);
                }
            }
        }
        let view = Arc::new(UnitView {
            id: VIEW_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            appends: std::sync::atomic::AtomicU64::new(appends),
            other_submits,
            read_at,
            batch,
            record,
            index,
            holding,
            holder,
            history: Arc::new(history),
            events: Arc::new(events),
            sold_at,
            recall,
        });
        self.views.insert(path, view.clone());
        Ok(Some(view))
    }

    /// The parsed batch record, from memory after the first parse.
    async fn record(
        &self,
        batch: &crate::store::BatchRow,
    ) -> Result<Arc<BatchStatement>, StoreError> {
        let id = batch.id.hex();
        if let Some(r) = self.records.get(&id) {
            return Ok(r);
        }
        let r: Arc<BatchStatement> = Arc::new(parse_stored(&batch.statement.json)?);
        self.records.insert(id, r.clone());
        Ok(r)
    }
}

fn parse_stored<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    let mut v: Value =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("sig");
    }
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
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

/// The batch-record rules of [`batch::check`] for a signer on record; the
/// audit replays batches through this.
pub fn check_batch(b: &BatchStatement, party: &Party) -> Result<(), SubmitError> {
    Ok(batch::check(b, &party.slug, party.kind)?)
}

/// The batch as a scan shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    /// Batch id.
    pub id: String,
    /// Current chain head.
    pub head: String,
    /// The signed record.
    pub record: Arc<BatchStatement>,
}

/// What a scan shows.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Why suspect, when suspect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SuspectReason>,
    /// Canonical Digital Link path that was (or would be) signed.
    pub path: String,
    /// The label signature verified.
    pub signature_ok: bool,
    /// The batch, if found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchView>,
    /// The unit index, if minted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_index: Option<u64>,
    /// The unit's holding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holding: Option<Holding>,
    /// The current holder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<Party>,
    /// The recall covering the unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<EventStatement>,
    /// Custody events that named this unit, oldest first, as signed.
    pub history: Arc<Vec<Value>>,
    /// The same events, typed (without their signatures).
    #[serde(skip)]
    pub events: Arc<Vec<EventStatement>>,
    /// Identifies the ledger state this report was read from: equal ids mean
    /// the same batch, holding and history (0: nothing was read). Lets the
    /// page cache what it derives from them.
    #[serde(skip)]
    pub view: u64,
    /// The scan log of the unit, when this scan was logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scans: Option<ScanSummary>,
}

/// What the scan log says about a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanSummary {
    /// Verified scans recorded, this one included.
    pub count: u64,
    /// When the label was first verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_verified: Option<Timestamp>,
    /// Estimated distinct devices since the sale (see [`scanlog::scanners_estimate`]).
    pub scanners_after_sale: u32,
}
