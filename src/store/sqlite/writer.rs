//! The SQLite writer: one task, one connection, appends committed in groups.
//!
//! Each append first reads what it needs and decides (custody rules, chain-head
//! compare-and-swap); a refused append has written nothing. An accepted one
//! sends all its writes in one multi-statement round trip. The group then
//! commits with one fsync, and only after that is anyone answered. A database
//! failure aborts the whole group, so nothing is ever half-applied or
//! acknowledged without being durable.

use sqlx::{SqliteConnection, SqlitePool};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

use crate::domain::aggregation::Tree;
use crate::domain::custody::{
    self, BatchFacts, ContainerChange, Disposition, Holding, Reads, ShipmentFacts,
};
use crate::domain::party::{PartyKind, Slug};
use crate::domain::statement::{BatchId, BatchStatement, EventStatement, StatementId, UnitRange};
use crate::domain::time::Timestamp;
use crate::formats::gs1::Sscc;
use crate::store::sql::TxSql;
use crate::store::{leaf_hash, parse_id, Appended, KeyChange, NewStatement, StoreError};

/// An append waiting for the writer task.
#[derive(Debug)]
pub(super) enum Job {
    Key(NewStatement, KeyChange),
    Batch(NewStatement, BatchStatement),
    Event(NewStatement, EventStatement, PartyKind),
}

pub(super) type Reply = oneshot::Sender<Result<Appended, StoreError>>;

/// Most appends committed in one transaction.
pub(super) const GROUP_MAX: usize = 256;

/// Chain heads and batch facts as last written by this writer. The writer is
/// the only one, so this mirrors the database; the chain-head trigger checks
/// every advance anyway, so a stale entry fails a group instead of forking.
type HeadCache = HashMap<BatchId, (StatementId, BatchFacts)>;

/// Takes queued appends in groups and commits each group once; signals each
/// commit to the checkpoint task (see `checkpoint`).
pub(super) async fn run(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<(Job, Reply)>,
    committed: mpsc::Sender<()>,
) {
    let mut heads = HeadCache::new();
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        match commit_group(&pool, &group, &mut heads).await {
            Ok(results) => {
                for ((_, reply), result) in group.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
                // Full means a checkpoint is already due.
                let _ = committed.try_send(());
            }
            Err(e) => {
                heads.clear();
                tracing::error!(error = %e, appends = group.len(), "group commit failed; nothing of it was stored");
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::Commit(e.to_string())));
                }
            }
        }
    }
}

/// A refusal of one append (the group goes on) or a failure of the group.
type JobResult = Result<Result<Appended, StoreError>, StoreError>;

async fn commit_group(
    pool: &SqlitePool,
    group: &[(Job, Reply)],
    heads: &mut HeadCache,
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    // IMMEDIATE: the group reads before it writes, and another connection
    // (the scan journal's copy) may commit to the database in between; a
    // deferred transaction then fails at its first write with SQLITE_BUSY at
    // once, without waiting. Taking the write lock first waits for it instead.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut size: i64 = sqlx::query_scalar("SELECT size FROM log_state WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let mut results = Vec::with_capacity(group.len());
    for (job, _) in group {
        let result = match job {
            Job::Key(st, change) => append_key(&mut tx, st, change, size).await?,
            Job::Batch(st, batch) => append_batch(&mut tx, st, batch, size, heads).await?,
            Job::Event(st, ev, kind) => append_event(&mut tx, st, ev, *kind, size, heads).await?,
        };
        if let Ok(Appended::Stored(_)) = result {
            size += 1;
        }
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// `INSERT … VALUES (?, …), (?, …);` for `rows` rows of `cols` columns (empty when no rows).
fn values_sql(head: &str, cols: usize, rows: usize) -> String {
    if rows == 0 {
        return String::new();
    }
    let one = format!("({})", vec!["?"; cols].join(", "));
    format!("{head}{};\n", vec![one; rows].join(", "))
}

const INSERT_STATEMENT: &str =
    "INSERT INTO statements (seq, id, kind, party, key_id, time, json, leaf_hash, received_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);\n";

fn bind_statement<'q>(q: Query<'q>, st: &'q NewStatement, seq: i64) -> Query<'q> {
    q.bind(seq)
        .bind(&st.id)
        .bind(st.kind.as_str())
        .bind(st.party.as_str())
        .bind(&st.key_id)
        .bind(st.time.to_string())
        .bind(&st.json)
        .bind(leaf_hash(&st.json))
        .bind(Timestamp::now().to_string())
}

const INSERT_HOLDING: &str =
    "INSERT INTO holdings (batch, first, last, holder, disposition, shipment, dest, recall) VALUES ";

fn bind_holding<'q>(q: Query<'q>, h: &Holding) -> Query<'q> {
    q.bind(h.range.batch.hex())
        .bind(h.range.first as i64)
        .bind(h.range.last as i64)
        .bind(h.holder.to_string())
        .bind(h.disposition.as_str())
        .bind(h.shipment.map(|s| s.hex()))
        .bind(h.dest.as_ref().map(|d| d.to_string()))
        .bind(h.recall.map(|s| s.hex()))
}

/// The leaf index of an already stored statement.
async fn stored_seq(tx: &mut SqliteConnection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM statements WHERE id = ?")
            .bind(id)
            .fetch_optional(tx)
            .await?,
    )
}

/// Whether a query with these text parameters finds a row.
async fn exists(tx: &mut SqliteConnection, sql: &str, params: &[&str]) -> Result<bool, StoreError> {
    let mut q = sqlx::query(sql);
    for p in params {
        q = q.bind(*p);
    }
    Ok(q.fetch_optional(tx).await?.is_some())
}

async fn append_key(
    tx: &mut SqliteConnection,
    st: &NewStatement,
    change: &KeyChange,
    seq: i64,
) -> JobResult {
    if let Some(s) = stored_seq(tx, &st.id).await? {
        return Ok(Ok(Appended::Duplicate(s)));
    }
    let sql = match change {
        KeyChange::Certify(k) => {
            let taken = "SELECT 1 FROM keys WHERE public_key = ? OR key_id = ?";
            if exists(tx, taken, &[&k.public_key, &k.key_id]).await? {
                return Ok(Err(StoreError::Exists(format!(
                    "key {} is already on record",
                    k.key_id
                ))));
            }
            format!(
                "INSERT INTO keys (key_id, party, public_key, role, not_before, not_after, statement) \
                 VALUES (?, ?, ?, ?, ?, ?, ?);\n{INSERT_STATEMENT}"
            )
        }
        KeyChange::Revoke { key_id, .. } => {
            let done = "SELECT 1 FROM revocations WHERE key_id = ?";
            if exists(tx, done, &[key_id]).await? {
                return Ok(Err(StoreError::Exists(format!(
                    "key {key_id} is already revoked"
                ))));
            }
            format!("INSERT INTO revocations (key_id, time, statement) VALUES (?, ?, ?);\n{INSERT_STATEMENT}")
        }
    };
    let q = match change {
        KeyChange::Certify(k) => sqlx::query(&sql)
            .bind(&k.key_id)
            .bind(k.party.as_str())
            .bind(&k.public_key)
            .bind(k.role.as_str())
            .bind(k.not_before.map(|t| t.to_string()))
            .bind(k.not_after.map(|t| t.to_string()))
            .bind(&st.id),
        KeyChange::Revoke { key_id, at } => sqlx::query(&sql)
            .bind(key_id)
            .bind(at.to_string())
            .bind(&st.id),
    };
    bind_statement(q, st, seq).execute(&mut *tx).await?;
    Ok(Ok(Appended::Stored(seq)))
}

async fn append_batch(
    tx: &mut SqliteConnection,
    st: &NewStatement,
    batch: &BatchStatement,
    seq: i64,
    heads: &mut HeadCache,
) -> JobResult {
    if let Some(s) = stored_seq(tx, &st.id).await? {
        return Ok(Ok(Appended::Duplicate(s)));
    }
    let clash: Option<String> =
        sqlx::query_scalar("SELECT id FROM batches WHERE gtin = ? AND lot = ?")
            .bind(batch.gtin.as_str())
            .bind(batch.lot.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(other) = clash {
        return Ok(Err(StoreError::Exists(format!(
            "lot {} of GTIN {} is already minted as batch {other}",
            batch.lot.as_str(),
            batch.gtin.as_str()
        ))));
    }
    let id = parse_id(&st.id)?;
    // The whole batch is one range: minting N units writes one holdings row.
    let minted = Holding {
        range: UnitRange {
            batch: id,
            first: 0,
            last: batch.quantity.saturating_sub(1),
        },
        holder: st.party.clone(),
        disposition: Disposition::Active,
        shipment: None,
        dest: None,
        recall: None,
    };
    let sql = format!(
        "{INSERT_STATEMENT}INSERT INTO batches (id, party, gtin, lot, quantity) VALUES (?, ?, ?, ?, ?);\n\
         INSERT INTO chain_heads (batch, head) VALUES (?, ?);\n{}",
        values_sql(INSERT_HOLDING, 8, 1)
    );
    let q = bind_statement(sqlx::query(&sql), st, seq)
        .bind(&st.id)
        .bind(st.party.as_str())
        .bind(batch.gtin.as_str())
        .bind(batch.lot.as_str())
        .bind(batch.quantity as i64)
        .bind(&st.id)
        .bind(&st.id);
    bind_holding(q, &minted).execute(&mut *tx).await?;
    let facts = BatchFacts {
        party: st.party.clone(),
        quantity: batch.quantity,
    };
    heads.insert(id, (id, facts));
    Ok(Ok(Appended::Stored(seq)))
}

async fn append_event(
    tx: &mut SqliteConnection,
    st: &NewStatement,
    ev: &EventStatement,
    signer_kind: PartyKind,
    seq: i64,
    heads: &mut HeadCache,
) -> JobResult {
    if let Some(s) = stored_seq(tx, &st.id).await? {
        return Ok(Ok(Appended::Duplicate(s)));
    }
    let id = parse_id(&st.id)?;
    let mut reads = TxReads { tx, heads };
    let plan = match custody::plan(id, ev, signer_kind, &mut reads).await? {
        Ok(p) => p,
        Err(refusal) => return Ok(Err(refusal.into())),
    };
    let TxReads { tx, heads } = reads;

    // All writes of the event in one round trip to the database worker.
    let mut sql = String::from(INSERT_STATEMENT);
    for _ in &plan.ended_spans {
        sql.push_str("DELETE FROM holdings WHERE batch = ? AND first BETWEEN ? AND ?;\n");
    }
    sql.push_str(&values_sql(INSERT_HOLDING, 8, plan.started.len()));
    sql.push_str(
        "INSERT INTO events (id, type, party, dest, shipment, units) VALUES (?, ?, ?, ?, ?, ?);\n",
    );
    sql.push_str(&values_sql(
        "INSERT INTO event_objects (event, batch, first, last) VALUES ",
        4,
        plan.units.len(),
    ));
    for _ in &plan.heads {
        // The chain-head trigger refuses the update unless `prev` is the head it replaces.
        sql.push_str("UPDATE chain_heads SET prev = ?, head = ? WHERE batch = ?;\n");
    }
    let mut container_binds: Vec<Param> = Vec::new();
    for change in &plan.containers {
        container_sql(change, st, &mut sql, &mut container_binds);
    }
    let mut q = bind_statement(sqlx::query(&sql), st, seq);
    for (batch, lo, hi) in &plan.ended_spans {
        q = q.bind(batch.hex()).bind(*lo as i64).bind(*hi as i64);
    }
    for h in &plan.started {
        q = bind_holding(q, h);
    }
    q = q
        .bind(&st.id)
        .bind(ev.event_type.as_str())
        .bind(st.party.as_str())
        .bind(ev.to.as_ref().map(|t| t.as_str()))
        .bind(ev.shipment.map(|s| s.hex()))
        .bind(plan.unit_count() as i64);
    for r in &plan.units {
        q = q
            .bind(&st.id)
            .bind(r.batch.hex())
            .bind(r.first as i64)
            .bind(r.last as i64);
    }
    for (batch, prev) in &plan.heads {
        q = q.bind(prev.hex()).bind(&st.id).bind(batch.hex());
    }
    for p in container_binds {
        q = match p {
            Param::Text(t) => q.bind(t),
            Param::Int(i) => q.bind(i),
        };
    }
    q.execute(&mut *tx).await?;
    for (batch, _) in &plan.heads {
        if let Some(entry) = heads.get_mut(batch) {
            entry.0 = id;
        }
    }
    Ok(Ok(Appended::Stored(seq)))
}

/// A parameter of a container change's SQL.
enum Param {
    Text(Option<String>),
    Int(i64),
}

/// Appends the SQL of one container change to `sql` and its parameters, in
/// order, to `binds`.
fn container_sql(
    change: &ContainerChange,
    st: &NewStatement,
    sql: &mut String,
    binds: &mut Vec<Param>,
) {
    let text = |t: &str| Param::Text(Some(t.to_owned()));
    let units = |sscc: &Sscc, rs: &[UnitRange], sql: &mut String, binds: &mut Vec<Param>| {
        sql.push_str(&values_sql(
            "INSERT INTO container_units (sscc, batch, first, last) VALUES ",
            4,
            rs.len(),
        ));
        for r in rs {
            binds.extend([
                text(sscc.as_str()),
                text(&r.batch.hex()),
                Param::Int(r.first as i64),
                Param::Int(r.last as i64),
            ]);
        }
    };
    match change {
        ContainerChange::Create(s) => {
            sql.push_str(
                "INSERT INTO containers (sscc, parent, party, packed_by) VALUES (?, NULL, ?, ?);\n",
            );
            binds.extend([text(s.as_str()), text(st.party.as_str()), text(&st.id)]);
        }
        ContainerChange::AddUnits(s, rs) => units(s, rs, sql, binds),
        ContainerChange::SetParent { child, parent } => {
            sql.push_str("UPDATE containers SET parent = ? WHERE sscc = ?;\n");
            binds.extend([
                Param::Text(parent.as_ref().map(|p| p.as_str().to_owned())),
                text(child.as_str()),
            ]);
        }
        ContainerChange::CutUnits { sscc, row, keep } => {
            sql.push_str("DELETE FROM container_units WHERE batch = ? AND first = ?;\n");
            binds.extend([text(&row.batch.hex()), Param::Int(row.first as i64)]);
            units(sscc, keep, sql, binds);
        }
        ContainerChange::Remove(s) => {
            sql.push_str(
                "DELETE FROM container_units WHERE sscc = ?;\n\
                 UPDATE containers SET parent = NULL WHERE parent = ?;\n\
                 DELETE FROM containers WHERE sscc = ?;\n",
            );
            binds.extend([text(s.as_str()), text(s.as_str()), text(s.as_str())]);
        }
    }
}

/// The engine's reads inside the writer's transaction.
struct TxReads<'a> {
    tx: &'a mut SqliteConnection,
    heads: &'a mut HeadCache,
}

impl Reads for TxReads<'_> {
    type Error = StoreError;

    async fn tree(&mut self, roots: &[Sscc]) -> Result<Tree, StoreError> {
        load_tree(self.tx, roots).await
    }

    async fn memberships(
        &mut self,
        ranges: &[UnitRange],
    ) -> Result<Vec<(UnitRange, Sscc)>, StoreError> {
        TxSql::<sqlx::Sqlite>(self.tx).memberships(ranges).await
    }

    async fn batch(
        &mut self,
        batch: BatchId,
    ) -> Result<Option<(StatementId, BatchFacts)>, StoreError> {
        // This writer is the only one: the heads it wrote are the database's.
        if let Some(known) = self.heads.get(&batch) {
            return Ok(Some(known.clone()));
        }
        let known = TxSql::<sqlx::Sqlite>(self.tx).batch(batch).await?;
        if let Some(k) = &known {
            self.heads.insert(batch, k.clone());
        }
        Ok(known)
    }

    async fn party_exists(&mut self, slug: &Slug) -> Result<bool, StoreError> {
        TxSql::<sqlx::Sqlite>(self.tx).party_exists(slug).await
    }

    async fn shipment(&mut self, id: StatementId) -> Result<Option<ShipmentFacts>, StoreError> {
        TxSql::<sqlx::Sqlite>(self.tx).shipment(id).await
    }

    async fn holdings(&mut self, span: UnitRange) -> Result<Vec<Holding>, StoreError> {
        TxSql::<sqlx::Sqlite>(self.tx).holdings(span).await
    }
}

/// The containers named in the JSON array `?` and everything inside them.
///
/// `t CROSS JOIN …` makes SQLite loop over the few containers reached and look
/// each one up by its index; left to choose, SQLite 3.46 scanned the whole
/// containers table (and container_units) against an automatic index on `t`,
/// which made every container event cost in proportion to all containers ever
/// packed (see `tree_reads_use_indexes`).
pub(super) const TREE_CTE: &str = "WITH RECURSIVE t(sscc) AS (SELECT value FROM json_each(?) \
     UNION SELECT c.sscc FROM t CROSS JOIN containers c ON c.parent = t.sscc)";
/// With [`TREE_CTE`]: every container reached and its parent.
pub(super) const TREE_CONTAINERS: &str =
    "SELECT c.sscc, c.parent FROM t CROSS JOIN containers c ON c.sscc = t.sscc";
/// With [`TREE_CTE`]: the loose unit ranges directly in each container reached.
pub(super) const TREE_UNITS: &str =
    "SELECT u.sscc, u.batch, u.first, u.last FROM t CROSS JOIN container_units u ON u.sscc = t.sscc";

/// Some containers and everything inside them.
async fn load_tree(tx: &mut SqliteConnection, roots: &[Sscc]) -> Result<Tree, StoreError> {
    let roots: Vec<&str> = roots.iter().map(|s| s.as_str()).collect();
    let roots = serde_json::to_string(&roots).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as(&format!("{TREE_CTE} {TREE_CONTAINERS}"))
            .bind(&roots)
            .fetch_all(&mut *tx)
            .await?;
    let units: Vec<(String, String, i64, i64)> =
        sqlx::query_as(&format!("{TREE_CTE} {TREE_UNITS}"))
            .bind(&roots)
            .fetch_all(&mut *tx)
            .await?;
    crate::store::tree_from_rows(rows, units)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of `sql` on a migrated database with some containers in it.
    async fn plan(pool: &SqlitePool, sql: &str) -> String {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .bind("[\"100000000000000000\"]")
                .fetch_all(pool)
                .await
                .unwrap();
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
    }

    /// Every table the tree reads touches is searched by an index, never
    /// scanned: a container event must not cost more as containers pile up.
    #[tokio::test]
    async fn tree_reads_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = super::super::SqliteStore::open(&url).await.unwrap();
        let pool = &store.write;
        // Enough rows that a scan would be a real choice for the planner.
        for i in 0..200 {
            let sscc = format!("{:018}", 200_000 + i);
            let parent = (i % 10 != 0).then(|| format!("{:018}", 200_000 + i - i % 10));
            sqlx::query(
                "INSERT INTO containers (sscc, parent, party, packed_by) VALUES (?, ?, 'p', 'e')",
            )
            .bind(&sscc)
            .bind(parent)
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO container_units (sscc, batch, first, last) VALUES (?, 'b', ?, ?)",
            )
            .bind(&sscc)
            .bind(i * 10)
            .bind(i * 10 + 9)
            .execute(pool)
            .await
            .unwrap();
        }
        for query in [TREE_CONTAINERS, TREE_UNITS] {
            let p = plan(pool, &format!("{TREE_CTE} {query}")).await;
            for table in ["c", "u"] {
                assert!(!p.contains(&format!("SCAN {table}")), "{p}");
            }
            assert!(p.contains("USING INDEX"), "{p}");
        }
    }
}
