//! The queries both databases answer alike, written once.
//!
//! sqlx takes `$N` placeholders on SQLite as on PostgreSQL, so one SQL text
//! serves both; where the dialects differ, the text comes from the backend
//! ([`SqlBackend`]'s constants). Every capability trait whose methods are all
//! such queries is implemented here, for any backend, over the pool the
//! backend names for each kind of work. What a database does its own way
//! (appends, the scan log's writes) stays in `sqlite/` and `postgres.rs`.
//!
//! Each implementation repeats the same `where` clause: Rust does not carry
//! bounds on other types (`&str: Encode<Db>`) from a trait to its users, so
//! they are stated where the generic code needs them.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};
use std::collections::{BTreeMap, HashMap};

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
type Db<B> = <B as SqlBackend>::Db;

/// Turns a unique violation (a concurrent writer won the race a pre-check lost) into `Exists`.
pub(crate) fn unique_to_exists(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Exists(message()),
        _ => e.into(),
    }
}

/// Selects [`StoredStatement`] columns from `statements s`.
const STATEMENT: &str = "SELECT s.seq, s.id, s.kind, s.party, s.json";

#[async_trait]
impl<B> RegistryStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> String: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'r> String: Decode<'r, Db<B>>,
    for<'r> i64: Decode<'r, Db<B>> + Type<Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn create_party(
        &self,
        party: &Party,
        root: &KeyRecord,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        let party_taken = || format!("party \"{}\" is already registered", party.slug);
        let key_taken = || "that public key is already registered".to_string();
        let mut tx = self
            .pool(Work::Durable)
            .begin_with(B::BEGIN_DURABLE)
            .await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT slug FROM parties WHERE slug = $1")
            .bind(party.slug.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Exists(party_taken()));
        }
        let key: Option<String> =
            sqlx::query_scalar("SELECT key_id FROM keys WHERE public_key = $1 OR key_id = $2")
                .bind(root.public_key.as_str())
                .bind(root.key_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if key.is_some() {
            return Err(StoreError::Exists(key_taken()));
        }
        // The checks above can race with another server; the unique indexes cannot.
        let now = Timestamp::now().to_string();
        sqlx::query(
            "INSERT INTO parties (slug, name, kind, gln, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(party.slug.as_str())
        .bind(party.name.as_str())
        .bind(party.kind.as_str())
        .bind(party.gln.as_deref())
        .bind(now.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_to_exists(e, party_taken))?;
        sqlx::query(
            "INSERT INTO keys (key_id, party, public_key, role) VALUES ($1, $2, $3, 'root')",
        )
        .bind(root.key_id.as_str())
        .bind(party.slug.as_str())
        .bind(root.public_key.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_to_exists(e, key_taken))?;
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(party.slug.as_str())
            .bind(now.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_token(&self, hash: &str, party: Option<&Slug>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(party.map(|p| p.as_str()))
            .bind(Timestamp::now().to_string())
            .execute(self.pool(Work::Durable))
            .await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT party FROM tokens WHERE hash = $1")
                .bind(hash)
                .fetch_optional(self.pool(Work::Read))
                .await?;
        match row {
            None => Ok(None),
            Some((None,)) => Ok(Some(TokenOwner::Admin)),
            Some((Some(p),)) => Ok(Some(TokenOwner::Party(parse_slug(&p)?))),
        }
    }

    async fn has_admin(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE party IS NULL")
            .fetch_one(self.pool(Work::Read))
            .await?;
        Ok(n > 0)
    }

    async fn party(&self, slug: &str) -> Result<Option<Party>, StoreError> {
        let row: Option<PartyRow> =
            sqlx::query_as("SELECT slug, name, kind, gln FROM parties WHERE slug = $1")
                .bind(slug)
                .fetch_optional(self.pool(Work::Read))
                .await?;
        row.map(Party::try_from).transpose()
    }

    async fn parties(&self) -> Result<Vec<Party>, StoreError> {
        let sql = format!(
            "SELECT slug, name, kind, gln FROM parties ORDER BY slug{}",
            B::BYTE_ORDER
        );
        let rows: Vec<PartyRow> = sqlx::query_as(&sql)
            .fetch_all(self.pool(Work::Read))
            .await?;
        convert(rows)
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(&format!("{KEY_SELECT} WHERE k.key_id = $1"))
            .bind(key_id)
            .fetch_optional(self.pool(Work::Read))
            .await?;
        row.map(KeyRecord::try_from).transpose()
    }

    async fn keys_of(&self, party: &Slug) -> Result<Vec<KeyRecord>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(&format!(
            "{KEY_SELECT} WHERE k.party = $1 ORDER BY k.key_id"
        ))
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }
}

/// A batch by a filter on `batches b`, its values bound in order.
async fn batch_where<B>(
    b: &B,
    filter: &str,
    values: &[&str],
) -> Result<Option<BatchRow>, StoreError>
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'r> String: Decode<'r, Db<B>> + Type<Db<B>>,
    for<'r> i64: Decode<'r, Db<B>> + Type<Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
{
    let sql = format!("{BATCH_SELECT} WHERE {filter}");
    let mut q = sqlx::query_as::<_, BatchJoin>(&sql);
    for v in values {
        q = q.bind(*v);
    }
    q.fetch_optional(b.pool(Work::Read))
        .await?
        .map(BatchRow::try_from)
        .transpose()
}

#[async_trait]
impl<B> QueryStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> String: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> i64: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'r> String: Decode<'r, Db<B>>,
    for<'r> i64: Decode<'r, Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn statement(&self, id: &str) -> Result<Option<StoredStatement>, StoreError> {
        Ok(
            sqlx::query_as(&format!("{STATEMENT} FROM statements s WHERE s.id = $1"))
                .bind(id)
                .fetch_optional(self.pool(Work::Read))
                .await?,
        )
    }

    async fn statements_from(
        &self,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{STATEMENT} FROM statements s WHERE s.seq >= $1 ORDER BY s.seq LIMIT $2"
        ))
        .bind(from)
        .bind(limit)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn statement_page(&self, from: i64, limit: i64) -> Result<StatementPage, StoreError> {
        let (n, packed): (i64, String) = sqlx::query_as(B::STATEMENT_PAGE)
            .bind(from)
            .bind(limit)
            .fetch_one(self.pool(Work::Read))
            .await?;
        StatementPage::unpack(packed, n as usize)
    }

    async fn batch(&self, id: &BatchId) -> Result<Option<BatchRow>, StoreError> {
        batch_where(self, "b.id = $1", &[&id.hex()]).await
    }

    async fn batch_by_lot(&self, gtin: &str, lot: &str) -> Result<Option<BatchRow>, StoreError> {
        batch_where(self, "b.gtin = $1 AND b.lot = $2", &[gtin, lot]).await
    }

    async fn heads(
        &self,
        batches: &[BatchId],
    ) -> Result<BTreeMap<BatchId, StatementId>, StoreError> {
        if batches.is_empty() {
            return Ok(BTreeMap::new());
        }
        let list: Vec<String> = (1..=batches.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT batch, head FROM chain_heads WHERE batch IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for b in batches {
            q = q.bind(b.hex());
        }
        let rows = q.fetch_all(self.pool(Work::Read)).await?;
        rows.iter()
            .map(|(b, h)| Ok((parse_id(b)?, parse_id(h)?)))
            .collect()
    }

    async fn unit(&self, batch: &BatchId, index: u64) -> Result<Option<Holding>, StoreError> {
        let row: Option<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = $1 AND first <= $2 \
             ORDER BY first DESC LIMIT 1"
        ))
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_optional(self.pool(Work::Read))
        .await?;
        Ok(row
            .map(Holding::try_from)
            .transpose()?
            .filter(|h| h.range.last >= index))
    }

    async fn unit_events(
        &self,
        batch: &BatchId,
        index: u64,
    ) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT s.seq, s.id, s.kind, s.party, s.json FROM event_objects o \
             JOIN statements s ON s.id = o.event \
             WHERE o.batch = $1 AND o.first <= $2 AND o.last >= $2 ORDER BY s.seq",
        )
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn holdings_of(&self, party: &Slug) -> Result<Vec<Holding>, StoreError> {
        let rows: Vec<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE holder = $1 OR dest = $1 ORDER BY batch, first"
        ))
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }

    async fn holdings_of_batch(&self, batch: &BatchId) -> Result<Vec<Holding>, StoreError> {
        let rows: Vec<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = $1 ORDER BY first"
        ))
        .bind(batch.hex())
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }

    async fn in_shipment(&self, shipment: &StatementId) -> Result<Vec<Holding>, StoreError> {
        let rows: Vec<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE shipment = $1 AND disposition = 'in_transit' \
             ORDER BY batch, first"
        ))
        .bind(shipment.hex())
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }

    async fn shipments_to(&self, party: &Slug) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{STATEMENT} FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.dest = $1 AND e.type IN ('shipping', 'returning') ORDER BY s.seq DESC"
        ))
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn receipts(&self, shipment: &StatementId) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{STATEMENT} FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.shipment = $1 ORDER BY s.seq"
        ))
        .bind(shipment.hex())
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn container(&self, sscc: &Sscc) -> Result<Option<ContainerView>, StoreError> {
        let head: Option<(String, String)> =
            sqlx::query_as("SELECT party, packed_by FROM containers WHERE sscc = $1")
                .bind(sscc.as_str())
                .fetch_optional(self.pool(Work::Read))
                .await?;
        let Some((party, packed_by)) = head else {
            return Ok(None);
        };
        let rows: Vec<ContainerRow> = sqlx::query_as(B::TREE_CONTAINERS)
            .bind(sscc.as_str())
            .fetch_all(self.pool(Work::Read))
            .await?;
        let units: Vec<ContainerUnitRow> = sqlx::query_as(B::TREE_UNITS)
            .bind(sscc.as_str())
            .fetch_all(self.pool(Work::Read))
            .await?;
        container_view(sscc, party, packed_by, &tree(rows, units)?)
    }

    async fn unit_containers(&self, batch: &BatchId, index: u64) -> Result<Vec<Sscc>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "WITH RECURSIVE up(sscc, parent, depth) AS (SELECT c.sscc, c.parent, 0 \
             FROM container_units u JOIN containers c ON c.sscc = u.sscc \
             WHERE u.batch = $1 AND u.first <= $2 AND u.last >= $2 \
             UNION ALL SELECT c.sscc, c.parent, up.depth + 1 FROM containers c JOIN up ON c.sscc = up.parent) \
             SELECT sscc FROM up ORDER BY depth",
        )
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_all(self.pool(Work::Read))
        .await?;
        rows.iter()
            .map(|(s,)| Sscc::parse(s).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn batches_by_supplier_lot(
        &self,
        supplier_lot: &str,
        supplier: Option<&str>,
    ) -> Result<Vec<BatchId>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(B::SUPPLIER_LOT)
            .bind(supplier_lot)
            .bind(supplier)
            .fetch_all(self.pool(Work::Read))
            .await?;
        ids.iter().map(|(id,)| parse_id(id)).collect()
    }

    async fn batch_containers(&self, batch: &BatchId) -> Result<Vec<BatchContainer>, StoreError> {
        let rows: Vec<ContainerRange> = sqlx::query_as(
            "SELECT u.sscc, c.parent, u.first, u.last FROM container_units u \
             JOIN containers c ON c.sscc = u.sscc WHERE u.batch = $1 ORDER BY u.first",
        )
        .bind(batch.hex())
        .fetch_all(self.pool(Work::Read))
        .await?;
        Ok(rows.into_iter().map(|r| r.of(*batch)).collect())
    }

    async fn recalls(&self) -> Result<Vec<EventUnits>, StoreError> {
        let events: Vec<StoredStatement> = sqlx::query_as(&format!(
            "{STATEMENT} FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.type = 'recalling' ORDER BY s.seq"
        ))
        .fetch_all(self.pool(Work::Read))
        .await?;
        let objects: Vec<EventObject> = sqlx::query_as(
            "SELECT o.event, o.batch, o.first, o.last FROM event_objects o \
             JOIN events e ON e.id = o.event WHERE e.type = 'recalling' ORDER BY o.batch, o.first",
        )
        .fetch_all(self.pool(Work::Read))
        .await?;
        let mut by: HashMap<String, Vec<UnitRange>> = HashMap::new();
        for o in objects {
            let r = o.range()?;
            by.entry(o.event).or_default().push(r);
        }
        Ok(events
            .into_iter()
            .map(|statement| {
                let units = by.remove(&statement.id).unwrap_or_default();
                EventUnits { statement, units }
            })
            .collect())
    }

    async fn batch_events(&self, batch: &BatchId) -> Result<Vec<EventUnits>, StoreError> {
        let rows: Vec<StatementRange> = sqlx::query_as(
            "SELECT s.seq, s.id, s.kind, s.party, s.json, o.first, o.last FROM event_objects o \
             JOIN statements s ON s.id = o.event WHERE o.batch = $1 ORDER BY s.seq, o.first",
        )
        .bind(batch.hex())
        .fetch_all(self.pool(Work::Read))
        .await?;
        // Rows come in log order: consecutive rows of one event are its ranges.
        let mut out: Vec<EventUnits> = Vec::new();
        for row in rows {
            let r = row.range.of(*batch);
            match out.last_mut() {
                Some(e) if e.statement.seq == row.statement.seq => e.units.push(r),
                _ => out.push(EventUnits {
                    statement: row.statement,
                    units: vec![r],
                }),
            }
        }
        Ok(out)
    }

    async fn batches_handled_by(&self, party: &Slug) -> Result<Vec<BatchId>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT b.id FROM batches b JOIN statements s ON s.id = b.id \
             WHERE b.party = $1 OR b.id IN (SELECT o.batch FROM event_objects o \
             JOIN events e ON e.id = o.event WHERE e.party = $1 OR e.dest = $1) ORDER BY s.seq",
        )
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Read))
        .await?;
        ids.iter().map(|(id,)| parse_id(id)).collect()
    }
}

#[async_trait]
impl<B> ConsumerStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> String: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> i64: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> i32: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> bool: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<i64>: Encode<'q, Db<B>>,
    for<'q> Option<i32>: Encode<'q, Db<B>>,
    for<'r> String: Decode<'r, Db<B>>,
    for<'r> i64: Decode<'r, Db<B>>,
    for<'r> i32: Decode<'r, Db<B>>,
    for<'r> bool: Decode<'r, Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn scan_stats(&self, unit: &str, since: Option<i64>) -> Result<ScanStats, StoreError> {
        // One grouped read gives the count, the first scan and the per-day distinct scanners.
        let rows: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT COUNT(*), MIN(time), COUNT(DISTINCT CASE WHEN time >= $1 THEN scanner END) \
             FROM scans WHERE unit = $2 GROUP BY day ORDER BY day",
        )
        .bind(since.unwrap_or(i64::MAX))
        .bind(unit)
        .fetch_all(self.pool(Work::Read))
        .await?;
        Ok(ScanStats {
            count: rows.iter().map(|r| r.0.max(0) as u64).sum(),
            first: rows.iter().filter_map(|r| r.1).min(),
            per_day_since: rows
                .iter()
                .filter(|r| r.2 > 0)
                .map(|r| u32::try_from(r.2).unwrap_or(u32::MAX))
                .collect(),
        })
    }

    async fn scans_with_prefix(&self, prefix: &str) -> Result<Vec<ScanRow>, StoreError> {
        // substr, not LIKE: lots and serials may hold `%` and `_` (percent-encoded or not).
        Ok(sqlx::query_as(
            "SELECT unit, time, day, scanner FROM scans \
             WHERE substr(unit, 1, CAST($1 AS INTEGER)) = $2 ORDER BY time, id",
        )
        .bind(prefix.chars().count() as i64)
        .bind(prefix)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn day_salt(&self, day: i64, candidate: &str) -> Result<String, StoreError> {
        sqlx::query("DELETE FROM scan_salts WHERE day < $1")
            .bind(day)
            .execute(self.pool(Work::Plain))
            .await?;
        sqlx::query(
            "INSERT INTO scan_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
        )
        .bind(day)
        .bind(candidate)
        .execute(self.pool(Work::Plain))
        .await?;
        Ok(
            sqlx::query_scalar("SELECT salt FROM scan_salts WHERE day = $1")
                .bind(day)
                .fetch_one(self.pool(Work::Plain))
                .await?,
        )
    }

    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(self.pool(Work::Plain))
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(self.pool(Work::Plain))
                .await?,
        )
    }

    async fn add_feedback(&self, fb: &NewFeedback, parties: &[Slug]) -> Result<i64, StoreError> {
        let mut tx = self.pool(Work::Plain).begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO feedback (unit, batch, unit_index, time, day, scanner, kind, rating, \
             category, comment, contact, signature_ok) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(fb.unit.as_str())
        .bind(fb.batch.as_deref())
        .bind(fb.unit_index.map(|i| i as i64))
        .bind(fb.time)
        .bind(fb.day)
        .bind(fb.scanner.as_str())
        .bind(fb.kind.as_str())
        .bind(fb.rating.map(i32::from))
        .bind(fb.category.map(|c| c.as_str()))
        .bind(fb.comment.as_str())
        .bind(fb.contact.as_deref())
        .bind(fb.signature_ok)
        .fetch_one(&mut *tx)
        .await?;
        for p in parties {
            sqlx::query("INSERT INTO feedback_parties (party, feedback) VALUES ($1, $2)")
                .bind(p.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn feedback_for_party(
        &self,
        party: &Slug,
        limit: i64,
    ) -> Result<Vec<Feedback>, StoreError> {
        let rows: Vec<FeedbackRow> = sqlx::query_as(
            "SELECT f.id, f.unit, f.batch, f.unit_index, f.time, f.kind, f.rating, f.category, \
             f.comment, f.contact, f.signature_ok FROM feedback_parties p \
             JOIN feedback f ON f.id = p.feedback WHERE p.party = $1 ORDER BY f.id DESC LIMIT $2",
        )
        .bind(party.as_str())
        .bind(limit)
        .fetch_all(self.pool(Work::Read))
        .await?;
        Ok(rows.into_iter().map(Feedback::from).collect())
    }

    async fn feedback_count(
        &self,
        unit: &str,
        day: i64,
        scanner: &str,
    ) -> Result<FeedbackToday, StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE scanner = $1) AS mine, COUNT(*) AS \"all\" \
             FROM feedback WHERE unit = $2 AND day = $3",
        )
        .bind(scanner)
        .bind(unit)
        .bind(day)
        .fetch_one(self.pool(Work::Plain))
        .await?)
    }

    async fn feedback_counts(&self, batch: &BatchId) -> Result<Vec<FeedbackTally>, StoreError> {
        let bytes = B::BYTE_ORDER;
        Ok(sqlx::query_as(&format!(
            "SELECT kind, category, COUNT(*) AS count FROM feedback WHERE batch = $1 \
             GROUP BY kind, category ORDER BY kind{bytes}, category{bytes} NULLS FIRST"
        ))
        .bind(batch.hex())
        .fetch_all(self.pool(Work::Read))
        .await?)
    }
}

#[async_trait]
impl<B> LogStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> String: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> i64: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'r> String: Decode<'r, Db<B>>,
    for<'r> i64: Decode<'r, Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn log_size(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT size FROM log_state WHERE id = 1")
                .fetch_one(self.pool(Work::Read))
                .await?,
        )
    }

    async fn leaf_hashes(&self, from: i64, to: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT leaf_hash FROM statements WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT size, root, note, verifier FROM checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(self.pool(Work::Read))
        .await?)
    }

    async fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (size, root, note, verifier, signed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING",
        )
        .bind(cp.size)
        .bind(cp.root.as_str())
        .bind(cp.note.as_str())
        .bind(cp.verifier.as_str())
        .bind(Timestamp::now().to_string())
        .execute(self.pool(Work::Durable))
        .await?;
        Ok(())
    }

    async fn key_statements(&self, key_id: &str) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{STATEMENT} FROM statements s WHERE s.id IN \
             (SELECT statement FROM keys WHERE key_id = $1 \
             UNION SELECT statement FROM revocations WHERE key_id = $1) ORDER BY s.seq"
        ))
        .bind(key_id)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }
}

// Dock (issue 6): plain writes, not the statement writer: nothing here is a
// signed statement.
#[async_trait]
impl<B> DockStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> i64: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'r> String: Decode<'r, Db<B>> + Type<Db<B>>,
    for<'r> i64: Decode<'r, Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn add_dock_user(&self, user: &dock::DockUser, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dock_users (party, name, password_hash, created) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.party.as_str())
        .bind(user.name.as_str())
        .bind(user.password_hash.as_str())
        .bind(now)
        .execute(self.pool(Work::Plain))
        .await
        .map_err(|e| dock::dock_unique(e, user))?;
        Ok(())
    }

    async fn dock_user(
        &self,
        party: &str,
        name: &str,
    ) -> Result<Option<dock::DockUser>, StoreError> {
        let row: Option<dock::UserRow> = sqlx::query_as(
            "SELECT party, name, password_hash FROM dock_users WHERE party = $1 AND name = $2",
        )
        .bind(party)
        .bind(name)
        .fetch_optional(self.pool(Work::Plain))
        .await?;
        row.map(dock::DockUser::try_from).transpose()
    }

    async fn add_dock_session(&self, s: &dock::DockSession, now: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dock_sessions WHERE expires < $1")
            .bind(now)
            .execute(self.pool(Work::Plain))
            .await?;
        sqlx::query(
            "INSERT INTO dock_sessions (id_hash, party, name, csrf, expires) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(s.id_hash.as_str())
        .bind(s.party.as_str())
        .bind(s.name.as_str())
        .bind(s.csrf.as_str())
        .bind(s.expires)
        .execute(self.pool(Work::Plain))
        .await?;
        Ok(())
    }

    async fn dock_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<dock::DockSession>, StoreError> {
        let row: Option<dock::SessionRow> = sqlx::query_as(
            "SELECT id_hash, party, name, csrf, expires FROM dock_sessions \
             WHERE id_hash = $1 AND expires >= $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.pool(Work::Plain))
        .await?;
        row.map(dock::DockSession::try_from).transpose()
    }

    async fn delete_dock_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dock_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool(Work::Plain))
            .await?;
        Ok(())
    }

    async fn add_pending_station(
        &self,
        st: &dock::PendingStation,
    ) -> Result<dock::PendingStation, StoreError> {
        // A browser that retries its enrollment gets its first row back, not a second one.
        sqlx::query(
            "INSERT INTO dock_stations (party, public_key, key_id, label, requested_by, created) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (public_key) DO NOTHING",
        )
        .bind(st.party.as_str())
        .bind(st.public_key.as_str())
        .bind(st.key_id.as_str())
        .bind(st.label.as_str())
        .bind(st.requested_by.as_str())
        .bind(st.created)
        .execute(self.pool(Work::Plain))
        .await?;
        let row: dock::StationRow =
            sqlx::query_as(&format!("{} WHERE public_key = $1", dock::STATION_SELECT))
                .bind(st.public_key.as_str())
                .fetch_one(self.pool(Work::Plain))
                .await?;
        dock::PendingStation::try_from(row)
    }

    async fn pending_station(&self, id: i64) -> Result<Option<dock::PendingStation>, StoreError> {
        let row: Option<dock::StationRow> =
            sqlx::query_as(&format!("{} WHERE id = $1", dock::STATION_SELECT))
                .bind(id)
                .fetch_optional(self.pool(Work::Plain))
                .await?;
        row.map(dock::PendingStation::try_from).transpose()
    }

    async fn dock_stations(&self, party: &Slug) -> Result<Vec<dock::PendingStation>, StoreError> {
        let rows: Vec<dock::StationRow> = sqlx::query_as(&format!(
            "{} WHERE party = $1 ORDER BY id DESC",
            dock::STATION_SELECT
        ))
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Plain))
        .await?;
        convert(rows)
    }

    async fn dock_user_names(&self, party: &Slug) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT name FROM dock_users WHERE party = $1 ORDER BY name{}",
            B::BYTE_ORDER
        );
        let rows: Vec<(String,)> = sqlx::query_as(&sql)
            .bind(party.as_str())
            .fetch_all(self.pool(Work::Plain))
            .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }
}

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
