//! Storage: the business operations as traits by capability, one implementation per database
//! of what each does its own way, and one (`sql`) of the queries both answer alike.
//!
//! Every append runs in one transaction that checks for a duplicate id, takes
//! the next leaf index under the log lock, checks chain heads (compare-and-swap),
//! applies the custody rules and writes statement, holdings and heads together.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::custody::{CustodyError, Holding};
use crate::domain::feedback::{Feedback, NewFeedback};
use crate::domain::keys::KeyRecord;
use crate::domain::party::{PartyKind, Slug};
use crate::domain::scanlog::{ScanRecord, ScanStats};
use crate::domain::statement::{BatchId, BatchStatement, EventStatement, StatementId, UnitRange};
use crate::domain::time::Timestamp;
use crate::formats::gs1::Sscc;
use crate::formats::sign::Kind;

pub mod dock;
mod page;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

pub use page::{Leaf, StatementPage};

/// A registered party.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Party {
    /// Short name.
    pub slug: Slug,
    /// Display name.
    pub name: String,
    /// Place in the chain.
    pub kind: PartyKind,
    /// GS1 Global Location Number, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gln: Option<String>,
}

/// Who a bearer token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// The server operator.
    Admin,
    /// A party.
    Party(Slug),
}

/// A verified statement ready to append.
#[derive(Debug, Clone)]
pub struct NewStatement {
    /// Statement id.
    pub id: String,
    /// Kind.
    pub kind: Kind,
    /// Signing party.
    pub party: Slug,
    /// Signing key id.
    pub key_id: String,
    /// Statement time.
    pub time: Timestamp,
    /// Stored JSON (JCS with `sig`).
    pub json: String,
}

/// A statement as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct StoredStatement {
    /// Leaf index in the log.
    pub seq: i64,
    /// Statement id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Signing party.
    pub party: String,
    /// Stored JSON.
    pub json: String,
}

/// A batch on record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    /// Batch id.
    pub id: BatchId,
    /// The factory.
    pub party: Slug,
    /// Units minted.
    pub quantity: u64,
    /// Current chain head.
    pub head: StatementId,
    /// The signed batch record.
    pub statement: StoredStatement,
}

/// A key certification or revocation to record.
#[derive(Debug, Clone)]
pub enum KeyChange {
    /// A newly certified station key.
    Certify(KeyRecord),
    /// A key revoked at a time.
    Revoke {
        /// Key id.
        key_id: String,
        /// From when.
        at: Timestamp,
    },
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Newly stored at this leaf index.
    Stored(i64),
    /// Already stored at this leaf index; nothing changed.
    Duplicate(i64),
}

impl From<crate::domain::custody::Refusal> for StoreError {
    fn from(r: crate::domain::custody::Refusal) -> Self {
        match r {
            crate::domain::custody::Refusal::Custody(e) => StoreError::Custody(e),
            crate::domain::custody::Refusal::Conflict(heads) => StoreError::Conflict(heads),
        }
    }
}

/// Storage failures and refusals that only the database can decide.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A chain head moved on: the current heads of the batches concerned.
    #[error("the batch chain moved on since this event was signed; re-read the head and re-sign")]
    Conflict(BTreeMap<BatchId, StatementId>),
    /// The event breaks a custody rule.
    #[error(transparent)]
    Custody(#[from] CustodyError),
    /// Something unique already exists.
    #[error("{0}")]
    Exists(String),
    /// A referenced row is missing.
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The transaction carrying this append could not commit: it was not stored.
    #[error("commit failed, nothing stored: {0}")]
    Commit(String),
    /// A stored row does not parse: the database was changed behind our back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Appends to the log, each database its own way (locking, group commit, bulk writes).
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Appends a key statement.
    async fn append_key(
        &self,
        st: &NewStatement,
        change: &KeyChange,
    ) -> Result<Appended, StoreError>;
    /// Appends a batch record, minting its units to the factory in one range.
    async fn append_batch(
        &self,
        st: &NewStatement,
        batch: &BatchStatement,
    ) -> Result<Appended, StoreError>;
    /// Appends a custody event under compare-and-swap of its `prev` heads.
    async fn append_event(
        &self,
        st: &NewStatement,
        event: &EventStatement,
        signer_kind: PartyKind,
    ) -> Result<Appended, StoreError>;
    /// Whether this process is the only one expected to append to this
    /// database (SQLite: one server owns the file), so caches invalidated by
    /// this process's own appends stay exact; false when several servers may
    /// share it (PostgreSQL).
    fn single_writer(&self) -> bool {
        false
    }
}

/// Parties, their tokens and their keys.
#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Registers a party, its root key and its first token.
    async fn create_party(
        &self,
        party: &Party,
        root: &KeyRecord,
        token_hash: &str,
    ) -> Result<(), StoreError>;
    /// Adds a bearer token (hashed) for a party, or for the operator when `party` is None.
    async fn add_token(&self, hash: &str, party: Option<&Slug>) -> Result<(), StoreError>;
    /// Looks up a token hash.
    async fn token(&self, hash: &str) -> Result<Option<TokenOwner>, StoreError>;
    /// Whether an operator token exists.
    async fn has_admin(&self) -> Result<bool, StoreError>;
    /// A party by slug.
    async fn party(&self, slug: &str) -> Result<Option<Party>, StoreError>;
    /// All parties, in byte order of their slugs.
    async fn parties(&self) -> Result<Vec<Party>, StoreError>;
    /// A key by id, with its revocation.
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// Every key of a party.
    async fn keys_of(&self, party: &Slug) -> Result<Vec<KeyRecord>, StoreError>;
}

/// Reads of the ledger: statements, batches, chain heads, holdings, containers, trace and reports.
#[async_trait]
pub trait QueryStore: Send + Sync {
    /// A statement by id.
    async fn statement(&self, id: &str) -> Result<Option<StoredStatement>, StoreError>;
    /// Statements from leaf `from` on, at most `limit`.
    async fn statements_from(
        &self,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredStatement>, StoreError>;
    /// The same leaves as [`QueryStore::statements_from`], in one buffer (the audit's bulk read).
    async fn statement_page(&self, from: i64, limit: i64) -> Result<StatementPage, StoreError>;
    /// A batch by id.
    async fn batch(&self, id: &BatchId) -> Result<Option<BatchRow>, StoreError>;
    /// A batch by product and lot.
    async fn batch_by_lot(&self, gtin: &str, lot: &str) -> Result<Option<BatchRow>, StoreError>;
    /// Current chain heads of some batches.
    async fn heads(
        &self,
        batches: &[BatchId],
    ) -> Result<BTreeMap<BatchId, StatementId>, StoreError>;
    /// The holding that contains one unit.
    async fn unit(&self, batch: &BatchId, index: u64) -> Result<Option<Holding>, StoreError>;
    /// Events that named one unit, oldest first.
    async fn unit_events(
        &self,
        batch: &BatchId,
        index: u64,
    ) -> Result<Vec<StoredStatement>, StoreError>;
    /// Everything a party holds or has in transit.
    async fn holdings_of(&self, party: &Slug) -> Result<Vec<Holding>, StoreError>;
    /// Every holding of a batch.
    async fn holdings_of_batch(&self, batch: &BatchId) -> Result<Vec<Holding>, StoreError>;
    /// Every holding row, ordered by batch and first unit (the audit's comparison).
    async fn all_holdings(&self) -> Result<Vec<Holding>, StoreError>;
    /// The chain head of every batch (the audit's comparison).
    async fn all_heads(&self) -> Result<BTreeMap<BatchId, StatementId>, StoreError>;
    /// Units still in transit under a shipping or returning event.
    async fn in_shipment(&self, shipment: &StatementId) -> Result<Vec<Holding>, StoreError>;
    /// How many units an event covered (containers expanded), as recorded when it was appended.
    async fn event_unit_count(&self, event: &StatementId) -> Result<u64, StoreError>;
    /// Shipping and returning events addressed to a party, newest first.
    async fn shipments_to(&self, party: &Slug) -> Result<Vec<StoredStatement>, StoreError>;
    /// Receiving and accepting_return events that name a shipment, oldest first.
    async fn receipts(&self, shipment: &StatementId) -> Result<Vec<StoredStatement>, StoreError>;
    /// A container (SSCC) with everything inside it, if it is packed.
    async fn container(&self, sscc: &Sscc) -> Result<Option<ContainerView>, StoreError>;
    /// The containers a unit sits in, innermost first.
    async fn unit_containers(&self, batch: &BatchId, index: u64) -> Result<Vec<Sscc>, StoreError>;
    /// Batches whose record lists an input from `supplier_lot` (from `supplier`, if given), oldest first.
    async fn batches_by_supplier_lot(
        &self,
        supplier_lot: &str,
        supplier: Option<&str>,
    ) -> Result<Vec<BatchId>, StoreError>;
    /// The containers directly holding units of a batch, by first unit.
    async fn batch_containers(&self, batch: &BatchId) -> Result<Vec<BatchContainer>, StoreError>;
    /// Every recalling event, oldest first, with the unit ranges it named (containers expanded).
    async fn recalls(&self) -> Result<Vec<EventUnits>, StoreError>;
    /// Events that covered units of a batch, in log order, each with the ranges
    /// of that batch it covered (containers expanded).
    async fn batch_events(&self, batch: &BatchId) -> Result<Vec<EventUnits>, StoreError>;
    /// Batches a party minted, signed an event about, or was sent, oldest first.
    async fn batches_handled_by(&self, party: &Slug) -> Result<Vec<BatchId>, StoreError>;
}

/// Writes of the scan log (issue 5): plain inserts, each database its own way.
#[async_trait]
pub trait ScanStore: Send + Sync {
    /// Records one scan of a verified label: one plain insert, not a log append.
    async fn record_scan(&self, scan: &ScanRecord) -> Result<(), StoreError>;
    /// Records several scans and answers, for each, the unit's statistics (as
    /// [`ConsumerStore::scan_stats`] with its `since`) with at least that scan and
    /// the group's earlier ones recorded, and all of the group's by its unit's last answer.
    async fn record_scans(
        &self,
        scans: &[(ScanRecord, Option<i64>)],
    ) -> Result<Vec<ScanStats>, StoreError>;
}

/// What consumers leave behind (issue 5): scans read back, the day's salts, feedback.
#[async_trait]
pub trait ConsumerStore: Send + Sync {
    /// A unit's scan count and first scan, and distinct scanners per day from `since` on.
    async fn scan_stats(&self, unit: &str, since: Option<i64>) -> Result<ScanStats, StoreError>;
    /// Logged scans of units whose canonical path starts with `prefix`, oldest first.
    async fn scans_with_prefix(&self, prefix: &str) -> Result<Vec<ScanRow>, StoreError>;
    /// The salt of `day`: stores `candidate` if the day has none, returns the stored
    /// one (so every server process agrees), and deletes the salts of earlier days.
    async fn day_salt(&self, day: i64, candidate: &str) -> Result<String, StoreError>;
    /// A named server-wide secret: stores `candidate` the first time, returns the stored one.
    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError>;
    /// Stores feedback readable by `parties`; returns its id.
    async fn add_feedback(&self, fb: &NewFeedback, parties: &[Slug]) -> Result<i64, StoreError>;
    /// Feedback a party may read, newest first, at most `limit`.
    async fn feedback_for_party(
        &self,
        party: &Slug,
        limit: i64,
    ) -> Result<Vec<Feedback>, StoreError>;
    /// Feedback about a unit on `day`, for flood limits.
    async fn feedback_count(
        &self,
        unit: &str,
        day: i64,
        scanner: &str,
    ) -> Result<FeedbackToday, StoreError>;
    /// Consumer submissions about a batch, by kind then category in byte order,
    /// no category first.
    async fn feedback_counts(&self, batch: &BatchId) -> Result<Vec<FeedbackTally>, StoreError>;
}

/// The transparency log's leaves and checkpoints (issue 7).
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Number of leaves in the log.
    async fn log_size(&self) -> Result<i64, StoreError>;
    /// Hex leaf hashes of leaves `from..to`, in leaf order.
    async fn leaf_hashes(&self, from: i64, to: i64) -> Result<Vec<String>, StoreError>;
    /// The largest stored checkpoint.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Stores a signed checkpoint before it is published. The database refuses one
    /// smaller than the largest stored or larger than the log; storing the same
    /// size again is a no-op.
    async fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError>;
    /// The key statements that certified and revoked a key, in log order.
    async fn key_statements(&self, key_id: &str) -> Result<Vec<StoredStatement>, StoreError>;
}

/// The dock pages' rows (issue 6): users, sessions, stations waiting for approval.
#[async_trait]
pub trait DockStore: Send + Sync {
    /// Adds a dock user; `Exists` if the party already has one of that name.
    async fn add_dock_user(&self, user: &dock::DockUser, now: i64) -> Result<(), StoreError>;
    /// A dock user by party and name.
    async fn dock_user(
        &self,
        party: &str,
        name: &str,
    ) -> Result<Option<dock::DockUser>, StoreError>;
    /// Stores a new session, dropping expired ones on the way.
    async fn add_dock_session(
        &self,
        session: &dock::DockSession,
        now: i64,
    ) -> Result<(), StoreError>;
    /// A session by the hash of its cookie, if it has not expired at `now`.
    async fn dock_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<dock::DockSession>, StoreError>;
    /// Ends a session.
    async fn delete_dock_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Records a station key waiting for approval; the same public key again returns the first row.
    async fn add_pending_station(
        &self,
        st: &dock::PendingStation,
    ) -> Result<dock::PendingStation, StoreError>;
    /// A pending station by id.
    async fn pending_station(&self, id: i64) -> Result<Option<dock::PendingStation>, StoreError>;
    /// Every station a party's browsers enrolled, newest first (the admin page's list).
    async fn dock_stations(&self, party: &Slug) -> Result<Vec<dock::PendingStation>, StoreError>;
    /// A party's dock user names in byte order (never their hashes).
    async fn dock_user_names(&self, party: &Slug) -> Result<Vec<String>, StoreError>;
}

/// Everything suyuan needs from a database, by capability. The capabilities
/// whose queries both databases answer alike are implemented once (`sql`);
/// [`LedgerStore`] and [`ScanStore`] by each database.
pub trait Store:
    LedgerStore
    + RegistryStore
    + QueryStore
    + ScanStore
    + ConsumerStore
    + LogStore
    + DockStore
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: LedgerStore
        + RegistryStore
        + QueryStore
        + ScanStore
        + ConsumerStore
        + LogStore
        + DockStore
        + std::fmt::Debug
{
}

/// A unit range of a batch inside a container (trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchContainer {
    /// The container's SSCC.
    pub sscc: String,
    /// The container it sits in.
    pub parent: Option<String>,
    /// The units of the batch directly inside.
    pub units: UnitRange,
}

/// An event with unit ranges it covered (containers expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventUnits {
    /// The event as stored.
    pub statement: StoredStatement,
    /// The ranges.
    pub units: Vec<UnitRange>,
}

/// A logged scan as the reports read it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScanRow {
    /// Canonical Digital Link path of the unit.
    pub unit: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix day of the scanner hash's salt.
    pub day: i64,
    /// Salted scanner hash.
    pub scanner: String,
}

/// Feedback about a unit on one day, for flood limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedbackToday {
    /// From this scanner.
    pub mine: i64,
    /// From anyone.
    pub all: i64,
}

/// How many submissions of one kind and category a batch has.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedbackTally {
    /// feedback, return or exchange.
    pub kind: String,
    /// Problem category, if any.
    pub category: Option<String>,
    /// How many.
    pub count: i64,
}

/// A signed checkpoint as stored (issue 7).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: i64,
    /// Hex root hash.
    pub root: String,
    /// The signed note.
    pub note: String,
    /// Verifier key of the signer.
    pub verifier: String,
}

/// A packed container as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerView {
    /// Its SSCC.
    pub sscc: crate::formats::gs1::Sscc,
    /// The container it sits in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<crate::formats::gs1::Sscc>,
    /// Who packed it.
    pub party: String,
    /// The packing event that created it.
    pub packed_by: String,
    /// Containers directly inside.
    pub children: Vec<crate::formats::gs1::Sscc>,
    /// Every unit inside, at any depth.
    pub units: Vec<crate::domain::statement::UnitRange>,
}

/// Builds the API view of a container from its loaded tree.
pub(crate) fn container_view(
    sscc: &crate::formats::gs1::Sscc,
    party: String,
    packed_by: String,
    tree: &crate::domain::aggregation::Tree,
) -> Result<Option<ContainerView>, StoreError> {
    let Some(c) = tree.get(sscc) else {
        return Ok(None);
    };
    let units = crate::domain::aggregation::expand(std::slice::from_ref(sscc), tree)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(ContainerView {
        sscc: sscc.clone(),
        parent: c.parent.clone(),
        party,
        packed_by,
        children: c.children.clone(),
        units,
    }))
}

/// A store shared by the server's handlers.
pub type DynStore = Arc<dyn Store>;

/// Opens the database a URL names (`sqlite://…` or `postgres://…`) and applies migrations.
pub async fn open(url: &str) -> Result<DynStore, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    }
}

/// Leaf hash of a stored statement per RFC 6962: SHA-256(0x00 ‖ json).
pub fn leaf_hash(json: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(json.as_bytes());
    hex::encode(h.finalize())
}

/// Parses container rows `(sscc, parent)` and `(sscc, batch, first, last)` into the domain's tree.
pub(crate) fn tree_from_rows(
    rows: Vec<(String, Option<String>)>,
    units: Vec<(String, String, i64, i64)>,
) -> Result<crate::domain::aggregation::Tree, StoreError> {
    let rows = rows
        .into_iter()
        .map(|(sscc, parent)| rows::ContainerRow { sscc, parent })
        .collect();
    let units = units
        .into_iter()
        .map(|(sscc, batch, first, last)| rows::ContainerUnitRow {
            sscc,
            batch,
            first,
            last,
        })
        .collect();
    rows::tree(rows, units)
}

/// Parses a stored id column.
pub(crate) fn parse_id(text: &str) -> Result<BatchId, StoreError> {
    BatchId::parse(text).map_err(StoreError::Corrupt)
}

/// What the custody engine reads of an event named as a shipment, from its `events` row.
pub(crate) fn shipment_facts(
    event_type: &str,
    dest: Option<&str>,
) -> Result<crate::domain::custody::ShipmentFacts, StoreError> {
    let event_type = crate::domain::statement::EventType::parse(event_type)
        .ok_or_else(|| StoreError::Corrupt(format!("event type {event_type:?}")))?;
    Ok(crate::domain::custody::ShipmentFacts {
        event_type,
        to: dest.map(parse_slug).transpose()?,
    })
}

/// Parses a stored slug column.
pub(crate) fn parse_slug(text: &str) -> Result<Slug, StoreError> {
    Slug::parse(text).map_err(StoreError::Corrupt)
}
