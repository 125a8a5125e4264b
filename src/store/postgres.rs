//! PostgreSQL store: the scale-out path. Several servers may share one database;
//! every append first locks the single `log_state` row (`SELECT … FOR UPDATE`),
//! which serialises appenders across processes, and commits with
//! `synchronous_commit = on` so an acknowledged statement is durable.

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgConnection, PgPool};
use std::time::Duration;

use super::rows::{unit_scans, ScannerDayRow, SCANNER_DAYS};
use super::sql::{unique_to_exists, SqlBackend, TxSql, Work};
use super::*;
use crate::domain::aggregation::Tree;
use crate::domain::custody::{
    self, BatchFacts, ContainerChange, Disposition, Reads, ShipmentFacts,
};
use crate::domain::statement::UnitRange;
use crate::formats::gs1::Sscc;

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names and migrates it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // An append is acknowledged only once its commit is on disk.
                    conn.execute("SET synchronous_commit = on").await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

/// Locks the log state for this transaction and returns the next leaf index.
///
/// Must be the first statement of every append: it serialises appenders across
/// all servers sharing the database, so leaf indexes never gap or fork.
async fn lock_log(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT size FROM log_state WHERE id = 1 FOR UPDATE")
            .fetch_one(conn)
            .await?,
    )
}

async fn existing_seq(conn: &mut PgConnection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM statements WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Stores the statement under the leaf index taken by [`lock_log`] and grows the log.
async fn insert_statement(
    conn: &mut PgConnection,
    seq: i64,
    st: &NewStatement,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO statements (seq, id, kind, party, key_id, time, json, leaf_hash, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(seq)
    .bind(&st.id)
    .bind(st.kind.as_str())
    .bind(st.party.as_str())
    .bind(&st.key_id)
    .bind(st.time.to_string())
    .bind(&st.json)
    .bind(leaf_hash(&st.json))
    .bind(Timestamp::now().to_string())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE log_state SET size = size + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_holding(conn: &mut PgConnection, h: &Holding) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO holdings (batch, first, last, holder, disposition, shipment, dest, recall) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(h.range.batch.hex())
    .bind(h.range.first as i64)
    .bind(h.range.last as i64)
    .bind(h.holder.as_str())
    .bind(h.disposition.as_str())
    .bind(h.shipment.map(|s| s.hex()))
    .bind(h.dest.as_ref().map(|d| d.as_str()))
    .bind(h.recall.map(|s| s.hex()))
    .execute(conn)
    .await?;
    Ok(())
}
impl SqlBackend for PgStore {
    type Db = sqlx::Postgres;

    /// One pool for everything: every write is durable (`synchronous_commit = on`).
    fn pool(&self, _: Work) -> &PgPool {
        &self.pool
    }

    const BEGIN_DURABLE: &'static str = "BEGIN";

    // Byte order, as SQLite sorts: a linguistic collation orders case and
    // punctuation its own way.
    const BYTE_ORDER: &'static str = " COLLATE \"C\"";

    // One row for the whole page: one value to decode instead of four per row.
    const STATEMENT_PAGE: &'static str = "SELECT count(*) AS n, coalesce(string_agg(
             format('%s,%s,%s,%s,', seq, octet_length(id), octet_length(kind), octet_length(json))
             || id || kind || json, '' ORDER BY seq), '') AS packed
         FROM (SELECT seq, id, kind, json FROM statements WHERE seq >= $1 ORDER BY seq LIMIT $2) AS page";

    const SUPPLIER_LOT: &'static str = "SELECT b.id FROM batches b JOIN statements s ON s.id = b.id \
         WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(s.json::jsonb->'inputs', '[]'::jsonb)) i \
         WHERE i->>'supplier_lot' = $1 AND ($2::text IS NULL OR i->>'supplier' = $2)) ORDER BY s.seq";

    const TREE_CONTAINERS: &'static str = "WITH RECURSIVE t(sscc) AS (SELECT $1::text \
         UNION SELECT c.sscc FROM containers c JOIN t ON c.parent = t.sscc) \
         SELECT c.sscc, c.parent FROM containers c JOIN t ON c.sscc = t.sscc";

    const TREE_UNITS: &'static str = "WITH RECURSIVE t(sscc) AS (SELECT $1::text \
         UNION SELECT c.sscc FROM containers c JOIN t ON c.parent = t.sscc) \
         SELECT u.sscc, u.batch, u.first, u.last FROM container_units u JOIN t ON u.sscc = t.sscc";
}

#[async_trait]
impl LedgerStore for PgStore {
    async fn append_key(
        &self,
        st: &NewStatement,
        change: &KeyChange,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq = lock_log(&mut tx).await?;
        if let Some(seq) = existing_seq(&mut tx, &st.id).await? {
            return Ok(Appended::Duplicate(seq));
        }
        match change {
            KeyChange::Certify(k) => {
                let on_record = || format!("key {} is already on record", k.key_id);
                let taken: Option<String> = sqlx::query_scalar(
                    "SELECT key_id FROM keys WHERE public_key = $1 OR key_id = $2",
                )
                .bind(&k.public_key)
                .bind(&k.key_id)
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    return Err(StoreError::Exists(on_record()));
                }
                // create_party inserts root keys without the log lock: the index decides a race.
                sqlx::query(
                    "INSERT INTO keys (key_id, party, public_key, role, not_before, not_after, statement) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&k.key_id)
                .bind(k.party.as_str())
                .bind(&k.public_key)
                .bind(k.role.as_str())
                .bind(k.not_before.map(|t| t.to_string()))
                .bind(k.not_after.map(|t| t.to_string()))
                .bind(&st.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_to_exists(e, on_record))?;
            }
            KeyChange::Revoke { key_id, at } => {
                let done: Option<String> =
                    sqlx::query_scalar("SELECT key_id FROM revocations WHERE key_id = $1")
                        .bind(key_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if done.is_some() {
                    return Err(StoreError::Exists(format!(
                        "key {key_id} is already revoked"
                    )));
                }
                sqlx::query(
                    "INSERT INTO revocations (key_id, time, statement) VALUES ($1, $2, $3)",
                )
                .bind(key_id)
                .bind(at.to_string())
                .bind(&st.id)
                .execute(&mut *tx)
                .await?;
            }
        }
        insert_statement(&mut tx, seq, st).await?;
        tx.commit().await?;
        Ok(Appended::Stored(seq))
    }

    async fn append_batch(
        &self,
        st: &NewStatement,
        batch: &BatchStatement,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq = lock_log(&mut tx).await?;
        if let Some(seq) = existing_seq(&mut tx, &st.id).await? {
            return Ok(Appended::Duplicate(seq));
        }
        let clash: Option<String> =
            sqlx::query_scalar("SELECT id FROM batches WHERE gtin = $1 AND lot = $2")
                .bind(batch.gtin.as_str())
                .bind(batch.lot.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(other) = clash {
            return Err(StoreError::Exists(format!(
                "lot {} of GTIN {} is already minted as batch {other}",
                batch.lot.as_str(),
                batch.gtin.as_str()
            )));
        }
        insert_statement(&mut tx, seq, st).await?;
        sqlx::query(
            "INSERT INTO batches (id, party, gtin, lot, quantity) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&st.id)
        .bind(st.party.as_str())
        .bind(batch.gtin.as_str())
        .bind(batch.lot.as_str())
        .bind(batch.quantity as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO chain_heads (batch, head) VALUES ($1, $2)")
            .bind(&st.id)
            .bind(&st.id)
            .execute(&mut *tx)
            .await?;
        // The whole batch is one range: minting N units writes one row.
        let id = parse_id(&st.id)?;
        let minted = Holding {
            range: crate::domain::statement::UnitRange {
                batch: id,
                first: 0,
                last: batch.quantity - 1,
            },
            holder: st.party.clone(),
            disposition: Disposition::Active,
            shipment: None,
            dest: None,
            recall: None,
        };
        insert_holding(&mut tx, &minted).await?;
        tx.commit().await?;
        Ok(Appended::Stored(seq))
    }

    async fn append_event(
        &self,
        st: &NewStatement,
        ev: &EventStatement,
        signer_kind: PartyKind,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq = lock_log(&mut tx).await?;
        if let Some(seq) = existing_seq(&mut tx, &st.id).await? {
            return Ok(Appended::Duplicate(seq));
        }
        let id = parse_id(&st.id)?;
        let plan = custody::plan(id, ev, signer_kind, &mut TxReads(&mut tx)).await??;
        for (batch, lo, hi) in &plan.ended_spans {
            sqlx::query("DELETE FROM holdings WHERE batch = $1 AND first BETWEEN $2 AND $3")
                .bind(batch.hex())
                .bind(*lo as i64)
                .bind(*hi as i64)
                .execute(&mut *tx)
                .await?;
        }
        for h in &plan.started {
            insert_holding(&mut tx, h).await?;
        }
        insert_statement(&mut tx, seq, st).await?;
        sqlx::query(
            "INSERT INTO events (id, type, party, dest, shipment, units) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&st.id)
        .bind(ev.event_type.as_str())
        .bind(st.party.as_str())
        .bind(ev.to.as_ref().map(|t| t.as_str()))
        .bind(ev.shipment.map(|s| s.hex()))
        .bind(plan.unit_count() as i64)
        .execute(&mut *tx)
        .await?;
        // One round trip for all the ranges (a pallet names one per case).
        let batches: Vec<String> = plan.units.iter().map(|r| r.batch.hex()).collect();
        let firsts: Vec<i64> = plan.units.iter().map(|r| r.first as i64).collect();
        let lasts: Vec<i64> = plan.units.iter().map(|r| r.last as i64).collect();
        sqlx::query(
            "INSERT INTO event_objects (event, batch, first, last) \
             SELECT $1, b, f, l FROM UNNEST($2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS o(b, f, l, n) \
             ORDER BY n",
        )
        .bind(&st.id)
        .bind(&batches)
        .bind(&firsts)
        .bind(&lasts)
        .execute(&mut *tx)
        .await?;
        for (batch, prev) in &plan.heads {
            // The chain-head trigger refuses the update unless `prev` is the head it replaces.
            sqlx::query("UPDATE chain_heads SET prev = $1, head = $2 WHERE batch = $3")
                .bind(prev.hex())
                .bind(&st.id)
                .bind(batch.hex())
                .execute(&mut *tx)
                .await?;
        }
        for change in &plan.containers {
            write_container_change(&mut tx, st, change).await?;
        }
        tx.commit().await?;
        Ok(Appended::Stored(seq))
    }
}

#[async_trait]
impl ScanStore for PgStore {
    async fn record_scan(
        &self,
        scan: &crate::domain::scanlog::ScanRecord,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO scans (unit, time, day, scanner) VALUES ($1, $2, $3, $4)")
            .bind(&scan.unit)
            .bind(scan.time)
            .bind(scan.day)
            .bind(&scan.scanner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_scans(
        &self,
        scans: &[(crate::domain::scanlog::ScanRecord, Option<i64>)],
    ) -> Result<Vec<crate::domain::scanlog::ScanStats>, StoreError> {
        // Two round trips for the whole group: one insert of every row (as
        // arrays), then one grouped read of every unit's log, which includes
        // this group's rows and whatever other servers logged meanwhile.
        let unit: Vec<&str> = scans.iter().map(|(s, _)| s.unit.as_str()).collect();
        let time: Vec<i64> = scans.iter().map(|(s, _)| s.time).collect();
        let day: Vec<i64> = scans.iter().map(|(s, _)| s.day).collect();
        let scanner: Vec<&str> = scans.iter().map(|(s, _)| s.scanner.as_str()).collect();
        sqlx::query(
            "INSERT INTO scans (unit, time, day, scanner) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[])",
        )
        .bind(&unit)
        .bind(&time)
        .bind(&day)
        .bind(&scanner)
        .execute(&self.pool)
        .await?;
        let mut units = unit;
        units.sort_unstable();
        units.dedup();
        let rows: Vec<ScannerDayRow> = sqlx::query_as(&format!(
            "{SCANNER_DAYS} FROM scans WHERE unit = ANY($1) GROUP BY unit, day, scanner"
        ))
        .bind(&units)
        .fetch_all(&self.pool)
        .await?;
        let logs = unit_scans(rows);
        Ok(scans
            .iter()
            .map(|(s, since)| {
                logs.get(&s.unit)
                    .map(|u| u.stats(*since))
                    .unwrap_or_default()
            })
            .collect())
    }
}

/// Some containers and everything inside them.
///
/// Walked level by level, each level one lookup on the `containers_parent`
/// index. (A recursive CTE did the same walk, but PostgreSQL plans its
/// recursive step for a handful of rows and hash-joins the whole `containers`
/// table at every level: ~40 ms per query at 10,000 containers, measured with
/// EXPLAIN ANALYZE on the dock benchmark's database, against under 1 ms here.)
async fn load_tree(tx: &mut PgConnection, roots: &[Sscc]) -> Result<Tree, StoreError> {
    let roots: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    let mut rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT sscc, parent FROM containers WHERE sscc = ANY($1)")
            .bind(&roots)
            .fetch_all(&mut *tx)
            .await?;
    let mut seen: std::collections::HashSet<String> = roots.iter().cloned().collect();
    let mut level: Vec<String> = rows.iter().map(|(s, _)| s.clone()).collect();
    while !level.is_empty() {
        let next: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT sscc, parent FROM containers WHERE parent = ANY($1)")
                .bind(&level)
                .fetch_all(&mut *tx)
                .await?;
        // `seen` stops a cycle (which the packing rules never make) from looping.
        level = next
            .iter()
            .filter(|(s, _)| seen.insert(s.clone()))
            .map(|(s, _)| s.clone())
            .collect();
        rows.extend(next.into_iter().filter(|(s, _)| level.contains(s)));
    }
    let all: Vec<String> = seen.into_iter().collect();
    let units: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT sscc, batch, first, last FROM container_units WHERE sscc = ANY($1)")
            .bind(&all)
            .fetch_all(&mut *tx)
            .await?;
    tree_from_rows(rows, units)
}

/// Writes one container change of a plan.
async fn write_container_change(
    tx: &mut PgConnection,
    st: &NewStatement,
    change: &ContainerChange,
) -> Result<(), StoreError> {
    let add = |sscc: &Sscc, r: &UnitRange| {
        sqlx::query(
            "INSERT INTO container_units (sscc, batch, first, last) VALUES ($1, $2, $3, $4)",
        )
        .bind(sscc.to_string())
        .bind(r.batch.hex())
        .bind(r.first as i64)
        .bind(r.last as i64)
    };
    match change {
        ContainerChange::Create(s) => {
            sqlx::query(
                "INSERT INTO containers (sscc, parent, party, packed_by) VALUES ($1, NULL, $2, $3)",
            )
            .bind(s.as_str())
            .bind(st.party.as_str())
            .bind(&st.id)
            .execute(&mut *tx)
            .await?;
        }
        ContainerChange::AddUnits(s, units) => {
            for r in units {
                add(s, r).execute(&mut *tx).await?;
            }
        }
        ContainerChange::SetParent { child, parent } => {
            sqlx::query("UPDATE containers SET parent = $1 WHERE sscc = $2")
                .bind(parent.as_ref().map(|p| p.as_str()))
                .bind(child.as_str())
                .execute(&mut *tx)
                .await?;
        }
        ContainerChange::CutUnits { sscc, row, keep } => {
            sqlx::query("DELETE FROM container_units WHERE batch = $1 AND first = $2")
                .bind(row.batch.hex())
                .bind(row.first as i64)
                .execute(&mut *tx)
                .await?;
            for r in keep {
                add(sscc, r).execute(&mut *tx).await?;
            }
        }
        ContainerChange::Remove(s) => {
            for sql in [
                "DELETE FROM container_units WHERE sscc = $1",
                "UPDATE containers SET parent = NULL WHERE parent = $1",
                "DELETE FROM containers WHERE sscc = $1",
            ] {
                sqlx::query(sql).bind(s.as_str()).execute(&mut *tx).await?;
            }
        }
    }
    Ok(())
}

/// The engine's reads inside an append's transaction.
struct TxReads<'a>(&'a mut PgConnection);

impl Reads for TxReads<'_> {
    type Error = StoreError;

    async fn tree(&mut self, roots: &[Sscc]) -> Result<Tree, StoreError> {
        load_tree(self.0, roots).await
    }

    async fn memberships(
        &mut self,
        ranges: &[UnitRange],
    ) -> Result<Vec<(UnitRange, Sscc)>, StoreError> {
        TxSql::<sqlx::Postgres>(self.0).memberships(ranges).await
    }

    async fn batch(
        &mut self,
        batch: BatchId,
    ) -> Result<Option<(StatementId, BatchFacts)>, StoreError> {
        TxSql::<sqlx::Postgres>(self.0).batch(batch).await
    }

    async fn party_exists(&mut self, slug: &Slug) -> Result<bool, StoreError> {
        TxSql::<sqlx::Postgres>(self.0).party_exists(slug).await
    }

    async fn shipment(&mut self, id: StatementId) -> Result<Option<ShipmentFacts>, StoreError> {
        TxSql::<sqlx::Postgres>(self.0).shipment(id).await
    }

    async fn holdings(&mut self, span: UnitRange) -> Result<Vec<Holding>, StoreError> {
        TxSql::<sqlx::Postgres>(self.0).holdings(span).await
    }
}
