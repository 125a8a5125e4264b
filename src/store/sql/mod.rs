//! The queries both databases answer alike, written once.
//!
//! sqlx takes `$N` placeholders on SQLite as on PostgreSQL, so one SQL text
//! serves both; where the dialects differ, the text comes from the backend
//! ([`SqlBackend`]'s constants). Every capability trait whose methods are all
//! such queries is implemented here (one file each), for any backend, over the pool the
//! backend names for each kind of work. What a database does its own way
//! (appends, the scan log's writes) stays in `sqlite/` and `postgres.rs`.
//!
//! Each implementation repeats the same `where` clause: Rust does not carry
//! bounds on other types (`&str: Encode<Db>`) from a trait to its users, so
//! they are stated where the generic code needs them.

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

mod consumer;
mod dock;
mod log;
mod query;
mod registry;

use super::rows::*;
use super::*;
use crate::domain::statement::UnitRange;

/// What a pool is for: SQLite keeps one per kind of work, PostgreSQL one for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// Reads (a read-only pool on SQLite).
    Read,
    /// Durable writes beside the append path: parties, tokens, checkpoints.
    Durable,
    /// Rows that are not evidence (salts, secrets, feedback, dock rows), and
    /// the reads that must see those writes at once.
    Plain,
}

/// A database the shared queries run on: its pools by kind of work, and its dialect.
pub(crate) trait SqlBackend: Send + Sync {
    /// The sqlx driver.
    type Db: Database;
    /// The pool for this kind of work.
    fn pool(&self, work: Work) -> &Pool<Self::Db>;

    /// Opens a transaction on the durable pool that reads before it writes
    /// (SQLite takes the write lock first, so it waits instead of failing).
    const BEGIN_DURABLE: &'static str;
    /// Follows a text column in `ORDER BY` to sort it in byte order.
    const BYTE_ORDER: &'static str;
    /// One row (`n`, `packed`) packing the leaves from `$1` on, at most `$2` (see `page`).
    const STATEMENT_PAGE: &'static str;
    /// Ids of batches whose record lists an input of supplier lot `$1` (from
    /// supplier `$2` unless NULL), in log order.
    const SUPPLIER_LOT: &'static str;
    /// Every container reached from container `$1`, with its parent ([`ContainerRow`]).
    const TREE_CONTAINERS: &'static str;
    /// The loose units directly in every container reached from `$1` ([`ContainerUnitRow`]).
    const TREE_UNITS: &'static str;
}

/// The driver of a backend.
pub(crate) type Db<B> = <B as SqlBackend>::Db;

/// Turns a unique violation (a concurrent writer won the race a pre-check lost) into `Exists`.
pub(crate) fn unique_to_exists(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Exists(message()),
        _ => e.into(),
    }
}

/// Selects [`StoredStatement`] columns from `statements s`.
pub(crate) const STATEMENT: &str = "SELECT s.seq, s.id, s.kind, s.party, s.json";

/// The custody engine's reads inside an append's transaction that both
/// databases answer alike; each store's `Reads` adds what is its own (the
/// container walk, SQLite's head cache) around them.
pub(crate) struct TxSql<'a, DB: Database>(pub &'a mut DB::Connection);

impl<DB> TxSql<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> Option<String>: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    /// A batch's chain head and facts, if it is minted.
    pub(crate) async fn batch(
        &mut self,
        batch: BatchId,
    ) -> Result<Option<(StatementId, crate::domain::custody::BatchFacts)>, StoreError> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT h.head, b.party, b.quantity FROM batches b JOIN chain_heads h ON h.batch = b.id \
             WHERE b.id = $1",
        )
        .bind(batch.hex())
        .fetch_optional(&mut *self.0)
        .await?;
        row.map(|(head, party, quantity)| {
            let facts = crate::domain::custody::BatchFacts {
                party: parse_slug(&party)?,
                quantity: quantity as u64,
            };
            Ok((parse_id(&head)?, facts))
        })
        .transpose()
    }

    /// Whether a party is registered.
    pub(crate) async fn party_exists(&mut self, slug: &Slug) -> Result<bool, StoreError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT slug FROM parties WHERE slug = $1")
            .bind(slug.as_str())
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(found.is_some())
    }

    /// The type and receiver of an event named as a shipment.
    pub(crate) async fn shipment(
        &mut self,
        id: StatementId,
    ) -> Result<Option<crate::domain::custody::ShipmentFacts>, StoreError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT type, dest FROM events WHERE id = $1")
                .bind(id.hex())
                .fetch_optional(&mut *self.0)
                .await?;
        row.map(|(t, dest)| shipment_facts(&t, dest.as_deref()))
            .transpose()
    }

    /// The holding rows a span overlaps and one neighbour on each side (see `custody::Reads::holdings`).
    pub(crate) async fn holdings(&mut self, span: UnitRange) -> Result<Vec<Holding>, StoreError> {
        let rows: Vec<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = $1 AND first <= $3 AND first >= \
             COALESCE((SELECT MAX(first) FROM holdings WHERE batch = $1 AND first <= $2), 0) \
             ORDER BY first"
        ))
        .bind(span.batch.hex())
        .bind(span.first.saturating_sub(1) as i64)
        .bind(span.last.saturating_add(1) as i64)
        .fetch_all(&mut *self.0)
        .await?;
        convert(rows)
    }

    /// Stored container memberships overlapping any of `ranges`: the row's range and its container.
    pub(crate) async fn memberships(
        &mut self,
        ranges: &[UnitRange],
    ) -> Result<Vec<(UnitRange, Sscc)>, StoreError> {
        let mut out = Vec::new();
        for r in ranges {
            let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT sscc, first, last FROM container_units \
                 WHERE batch = $1 AND first <= $2 AND last >= $3",
            )
            .bind(r.batch.hex())
            .bind(r.last as i64)
            .bind(r.first as i64)
            .fetch_all(&mut *self.0)
            .await?;
            for (s, first, last) in rows {
                let sscc = Sscc::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let range = UnitRange {
                    batch: r.batch,
                    first: first as u64,
                    last: last as u64,
                };
                out.push((range, sscc));
            }
        }
        Ok(out)
    }
}
