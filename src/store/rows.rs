//! Rows as both databases return them: one `FromRow` struct per shape of
//! result, and the checked conversion of each into the domain's type.
//!
//! Stored text is parsed here once (ids, slugs, states); a row that does not
//! parse is [`StoreError::Corrupt`]: the database was changed behind our back.

use std::collections::HashMap;

use crate::domain::custody::{Disposition, Holding};
use crate::domain::feedback::Feedback;
use crate::domain::keys::KeyRecord;
use crate::domain::party::{PartyKind, Role};
use crate::domain::scanlog::{ScannerDay, UnitScans};
use crate::domain::statement::{BatchId, UnitRange};
use crate::domain::time::Timestamp;
use crate::formats::gs1::Sscc;

use super::{parse_id, parse_slug, BatchContainer, BatchRow, Party, StoreError, StoredStatement};

/// Columns of a `holdings` row, in [`HoldingRow`]'s order.
pub(crate) const HOLDING_COLS: &str =
    "batch, first, last, holder, disposition, shipment, dest, recall";

/// A `holdings` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HoldingRow {
    batch: String,
    first: i64,
    last: i64,
    holder: String,
    disposition: String,
    shipment: Option<String>,
    dest: Option<String>,
    recall: Option<String>,
}

impl TryFrom<HoldingRow> for Holding {
    type Error = StoreError;
    fn try_from(r: HoldingRow) -> Result<Self, StoreError> {
        let opt_id = |s: Option<String>| s.as_deref().map(parse_id).transpose();
        Ok(Holding {
            range: UnitRange {
                batch: parse_id(&r.batch)?,
                first: r.first as u64,
                last: r.last as u64,
            },
            holder: parse_slug(&r.holder)?,
            disposition: Disposition::parse(&r.disposition)
                .ok_or_else(|| StoreError::Corrupt(format!("disposition {}", r.disposition)))?,
            shipment: opt_id(r.shipment)?,
            dest: r.dest.as_deref().map(parse_slug).transpose()?,
            recall: opt_id(r.recall)?,
        })
    }
}

/// Converts rows, failing on the first that does not parse.
pub(crate) fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// A `parties` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PartyRow {
    slug: String,
    name: String,
    kind: String,
    gln: Option<String>,
}

impl TryFrom<PartyRow> for Party {
    type Error = StoreError;
    fn try_from(r: PartyRow) -> Result<Self, StoreError> {
        Ok(Party {
            slug: parse_slug(&r.slug)?,
            name: r.name,
            kind: PartyKind::parse(&r.kind).map_err(StoreError::Corrupt)?,
            gln: r.gln,
        })
    }
}

/// Reads a key with its revocation, as [`KeyRow`] wants it.
pub(crate) const KEY_SELECT: &str =
    "SELECT k.key_id, k.party, k.public_key, k.role, k.not_before, k.not_after, r.time AS revoked \
     FROM keys k LEFT JOIN revocations r ON r.key_id = k.key_id";

/// A `keys` row joined with its revocation.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    key_id: String,
    party: String,
    public_key: String,
    role: String,
    not_before: Option<String>,
    not_after: Option<String>,
    revoked: Option<String>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        let ts = |s: Option<String>| {
            s.map(|s| Timestamp::parse(&s).map_err(StoreError::Corrupt))
                .transpose()
        };
        Ok(KeyRecord {
            key_id: r.key_id,
            party: parse_slug(&r.party)?,
            public_key: r.public_key,
            role: Role::parse(&r.role).map_err(StoreError::Corrupt)?,
            not_before: ts(r.not_before)?,
            not_after: ts(r.not_after)?,
            revoked: ts(r.revoked)?,
        })
    }
}

/// Reads a batch with its head and record, as [`BatchJoin`] wants it.
pub(crate) const BATCH_SELECT: &str =
    "SELECT b.id, b.party, b.quantity, h.head, s.seq, s.kind, s.json, s.party AS sparty \
     FROM batches b JOIN chain_heads h ON h.batch = b.id JOIN statements s ON s.id = b.id";

/// A batch joined with its chain head and its statement.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BatchJoin {
    id: String,
    party: String,
    quantity: i64,
    head: String,
    seq: i64,
    kind: String,
    json: String,
    sparty: String,
}

impl TryFrom<BatchJoin> for BatchRow {
    type Error = StoreError;
    fn try_from(r: BatchJoin) -> Result<Self, StoreError> {
        Ok(BatchRow {
            id: parse_id(&r.id)?,
            party: parse_slug(&r.party)?,
            quantity: r.quantity as u64,
            head: parse_id(&r.head)?,
            statement: StoredStatement {
                seq: r.seq,
                id: r.id,
                kind: r.kind,
                party: r.sparty,
                json: r.json,
            },
        })
    }
}

/// One unit range of a batch, as `first, last` columns.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RangeRow {
    first: i64,
    last: i64,
}

impl RangeRow {
    /// The range of `batch` this row names.
    pub(crate) fn of(&self, batch: BatchId) -> UnitRange {
        UnitRange {
            batch,
            first: self.first as u64,
            last: self.last as u64,
        }
    }
}

/// A statement with one of its event's ranges (`batch_events`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StatementRange {
    #[sqlx(flatten)]
    pub statement: StoredStatement,
    #[sqlx(flatten)]
    pub range: RangeRow,
}

/// An event's range of any batch (`recalls`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventObject {
    pub event: String,
    batch: String,
    first: i64,
    last: i64,
}

impl EventObject {
    /// The range it names.
    pub(crate) fn range(&self) -> Result<UnitRange, StoreError> {
        Ok(UnitRange {
            batch: parse_id(&self.batch)?,
            first: self.first as u64,
            last: self.last as u64,
        })
    }
}

/// A `containers` row as the tree wants it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ContainerRow {
    pub sscc: String,
    pub parent: Option<String>,
}

/// A `container_units` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ContainerUnitRow {
    pub sscc: String,
    pub batch: String,
    pub first: i64,
    pub last: i64,
}

/// One scanner's scans of a unit on one day, as grouped by the databases.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ScannerDayRow {
    unit: String,
    day: i64,
    scanner: String,
    count: i64,
    first: i64,
    last: i64,
}

/// Selects [`ScannerDayRow`]s from a scans table; the caller adds the unit filter.
pub(crate) const SCANNER_DAYS: &str =
    "SELECT unit, day, scanner, COUNT(*) AS count, MIN(time) AS first, MAX(time) AS last";

/// Folds grouped rows into each unit's scan log.
pub(crate) fn unit_scans(rows: Vec<ScannerDayRow>) -> HashMap<String, UnitScans> {
    let mut by_unit: HashMap<String, Vec<ScannerDay>> = HashMap::new();
    for r in rows {
        by_unit.entry(r.unit).or_default().push(ScannerDay {
            day: r.day,
            scanner: r.scanner,
            count: r.count.max(0) as u64,
            first: r.first,
            last: r.last,
        });
    }
    by_unit
        .into_iter()
        .map(|(u, g)| (u, UnitScans::from_groups(g)))
        .collect()
}

/// Builds the domain's container tree from container and membership rows.
pub(crate) fn tree(
    containers: Vec<ContainerRow>,
    units: Vec<ContainerUnitRow>,
) -> Result<crate::domain::aggregation::Tree, StoreError> {
    let sscc = |s: &str| Sscc::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()));
    let containers = containers
        .iter()
        .map(|c| Ok((sscc(&c.sscc)?, c.parent.as_deref().map(sscc).transpose()?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let units = units
        .iter()
        .map(|u| {
            let r = UnitRange {
                batch: parse_id(&u.batch)?,
                first: u.first as u64,
                last: u.last as u64,
            };
            Ok((sscc(&u.sscc)?, r))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(crate::domain::aggregation::build_tree(containers, units))
}

/// A container's range of one batch, with the container's parent (`batch_containers`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ContainerRange {
    sscc: String,
    parent: Option<String>,
    first: i64,
    last: i64,
}

impl ContainerRange {
    /// The row as the trace wants it, for `batch`.
    pub(crate) fn of(self, batch: BatchId) -> BatchContainer {
        BatchContainer {
            sscc: self.sscc,
            parent: self.parent,
            units: UnitRange {
                batch,
                first: self.first as u64,
                last: self.last as u64,
            },
        }
    }
}

/// A `feedback` row as a party reads it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FeedbackRow {
    id: i64,
    unit: String,
    batch: Option<String>,
    unit_index: Option<i64>,
    time: i64,
    kind: String,
    rating: Option<i32>,
    category: Option<String>,
    comment: String,
    contact: Option<String>,
    signature_ok: bool,
}

impl From<FeedbackRow> for Feedback {
    fn from(r: FeedbackRow) -> Self {
        Feedback {
            id: r.id,
            unit: r.unit,
            batch: r.batch,
            unit_index: r.unit_index.map(|i| i as u64),
            time: Timestamp::from_unix(r.time).to_string(),
            kind: r.kind,
            rating: r.rating.and_then(|n| u8::try_from(n).ok()),
            category: r.category,
            comment: r.comment,
            contact: r.contact,
            signature_ok: r.signature_ok,
        }
    }
}
