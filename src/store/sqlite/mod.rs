//! SQLite store: the embedded default. Reads go through a read-only pool;
//! appends go to the single writer task (see `writer`), WAL with synchronous=FULL.

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::app::cache::Generations;
use crate::domain::custody::Disposition;
use crate::domain::party::Role;
use crate::domain::scanlog::{ScanRecord, ScanStats, ScannerDay, UnitScans};

use writer::{Job, Reply, GROUP_MAX, TREE_CONTAINERS, TREE_CTE, TREE_UNITS};

mod checkpoint;
mod scan_fold;
mod writer;

pub use scan_fold::attach as attach_scan_journal;

/// Units whose folded scan logs are kept in memory.
const SCAN_MEMORY: usize = 100_000;

fn poisoned() -> StoreError {
    StoreError::Corrupt("scan memory lock poisoned".into())
}

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    appends: mpsc::Sender<(Job, Reply)>,
    /// Scans and feedback (issue 5): plain inserts on their own connection with
    /// synchronous=NORMAL, since they are not signed statements and a scan must
    /// not cost an fsync; the writer's FULL connection is untouched.
    scans: SqlitePool,
    /// Scan logs of recently scanned units, folded, kept in step with the
    /// table by every insert this store makes (see `record_scans`).
    scan_memory: Arc<Mutex<Generations<String, UnitScans>>>,
    /// One scan group written at a time, whoever calls: the memory above is
    /// right only if no other group runs between a unit's read and its put-back.
    /// Holds the scan journal's rows (see `scan_fold`).
    scan_groups_lock: Arc<tokio::sync::Mutex<scan_fold::Journal>>,
    /// Tells the journal task the scan journal is full.
    scan_fold_due: mpsc::Sender<()>,
}

/// Pool options for every connection of the store. A connection is not
/// pinged before each use: an SQLite connection lives in this process and
/// cannot drop, and the ping was one more hand-off to the connection's
/// thread and back on every query.
fn pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new().test_before_acquire(false)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file a `sqlite://` URL names and migrates it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // WAL checkpoints run on a connection of their own (see `checkpoint`).
        let write = pool()
            .max_connections(1)
            .connect_with(
                opts.clone()
                    .pragma("wal_autocheckpoint", checkpoint::WRITER_AUTOCHECKPOINT),
            )
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        // The scan journal is made before any connection attaches it.
        {
            let mut conn = write.acquire().await?;
            scan_fold::attach(&mut conn).await?;
            scan_fold::prepare(&mut conn).await?;
            sqlx::query("DROP VIEW temp.scans")
                .execute(&mut *conn)
                .await?;
            sqlx::query("DETACH DATABASE journal")
                .execute(&mut *conn)
                .await?;
        }
        let read = pool()
            .max_connections(4)
            .after_connect(|conn, _| Box::pin(scan_fold::attach(conn)))
            .connect_with(opts.clone().read_only(true))
            .await?;
        let checkpoints = pool().max_connections(1).connect_with(opts.clone()).await?;
        let (committed, commits) = mpsc::channel(1);
        tokio::spawn(checkpoint::run(checkpoints, commits));
        let (appends, rx) = mpsc::channel(4 * GROUP_MAX);
        tokio::spawn(writer::run(write.clone(), rx, committed));
        // Scan groups (into the journal, see `scan_fold`), feedback and dock
        // writes. Groups no longer write the main database, so they need no
        // checkpoint of it; SQLite's default bound covers both files here.
        let scans = pool()
            .max_connections(1)
            .after_connect(|conn, _| Box::pin(scan_fold::attach(conn)))
            .connect_with(
                opts.clone()
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("wal_autocheckpoint", "1000")
                    // Reads of units not in memory walk the scan index.
                    .pragma("cache_size", "-16384"),
            )
            .await?;
        // Moves the scan journal into the indexed table, on its own connection
        // so that scan groups go on meanwhile; SQLite's default bound
        // checkpoints the main database after a copy. Its copies are synced
        // (synchronous=FULL) before the journal lets go of the rows, so a power
        // loss cannot keep the delete and lose the copy.
        let fold = pool()
            .max_connections(1)
            .after_connect(|conn, _| Box::pin(scan_fold::attach(conn)))
            .connect_with(
                // A move touches pages all over the scan index: 64 MB of page
                // cache keeps it in memory instead of re-reading pages.
                opts.pragma("cache_size", "-65536"),
            )
            .await?;
        let scan_groups_lock = Arc::new(tokio::sync::Mutex::new(
            scan_fold::Journal::load(&scans).await?,
        ));
        let (scan_fold_due, due) = mpsc::channel(1);
        tokio::spawn(scan_fold::run(
            fold,
            scans.clone(),
            scan_groups_lock.clone(),
            due,
        ));
        // A journal left full (or half moved) by the last run is moved now.
        let _ = scan_fold_due.try_send(());
        Ok(SqliteStore {
            read,
            write,
            appends,
            scans,
            scan_memory: Arc::new(Mutex::new(Generations::new(SCAN_MEMORY))),
            scan_groups_lock,
            scan_fold_due,
        })
    }

    /// Writes scans to the journal; wakes the move when it is full. The
    /// caller holds the scan groups' lock (`journal`).
    async fn journal_append(
        &self,
        journal: &mut scan_fold::Journal,
        rows: &[&ScanRecord],
    ) -> Result<(), StoreError> {
        let done = scan_fold::append(&self.scans, journal, rows).await;
        if journal.len() >= scan_fold::FOLD_ROWS {
            let _ = self.scan_fold_due.try_send(());
        }
        done
    }

    /// The folded scan logs of `units`, read from `table`: the view `scans`,
    /// or `main.scans` for units with no rows in the journal.
    async fn scan_groups(
        &self,
        units: &[&str],
        table: &'static str,
    ) -> Result<HashMap<String, UnitScans>, StoreError> {
        let mut rows_by_unit: HashMap<String, Vec<ScannerDay>> = HashMap::new();
        for chunk in units.chunks(500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "SELECT unit, day, scanner, COUNT(*), MIN(time), MAX(time) FROM {table} WHERE unit IN ("
            ));
            let mut list = q.separated(", ");
            for u in chunk {
                list.push_bind(*u);
            }
            q.push(") GROUP BY unit, day, scanner");
            let rows: Vec<(String, i64, String, i64, i64, i64)> =
                q.build_query_as().fetch_all(&self.scans).await?;
            for (unit, day, scanner, n, first, last) in rows {
                rows_by_unit.entry(unit).or_default().push(ScannerDay {
                    day,
                    scanner,
                    count: n.max(0) as u64,
                    first,
                    last,
                });
            }
        }
        Ok(units
            .iter()
            .map(|u| {
                let groups = rows_by_unit.remove(*u).unwrap_or_default();
                (u.to_string(), UnitScans::from_groups(groups))
            })
            .collect())
    }

    /// Queues an append for the writer and waits until its group is durable.
    async fn append(&self, job: Job) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.appends
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Commit("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Commit("the writer dropped the append".into()))?
    }
}

fn holding(row: &SqliteRow) -> Result<Holding, StoreError> {
    let opt_id = |col: &str| -> Result<Option<BatchId>, StoreError> {
        row.try_get::<Option<String>, _>(col)?
            .map(|s| parse_id(&s))
            .transpose()
    };
    let disposition: String = row.try_get("disposition")?;
    Ok(Holding {
        range: crate::domain::statement::UnitRange {
            batch: parse_id(&row.try_get::<String, _>("batch")?)?,
            first: row.try_get::<i64, _>("first")? as u64,
            last: row.try_get::<i64, _>("last")? as u64,
        },
        holder: parse_slug(&row.try_get::<String, _>("holder")?)?,
        disposition: Disposition::parse(&disposition)
            .ok_or_else(|| StoreError::Corrupt(format!("disposition {disposition}")))?,
        shipment: opt_id("shipment")?,
        dest: row
            .try_get::<Option<String>, _>("dest")?
            .map(|s| parse_slug(&s))
            .transpose()?,
        recall: opt_id("recall")?,
    })
}

fn stored(row: &SqliteRow) -> Result<StoredStatement, StoreError> {
    Ok(StoredStatement {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        party: row.try_get("party")?,
        json: row.try_get("json")?,
    })
}

fn party_row(row: &SqliteRow) -> Result<Party, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(Party {
        slug: parse_slug(&row.try_get::<String, _>("slug")?)?,
        name: row.try_get("name")?,
        kind: PartyKind::parse(&kind).map_err(StoreError::Corrupt)?,
        gln: row.try_get("gln")?,
    })
}

fn key_row(row: &SqliteRow) -> Result<KeyRecord, StoreError> {
    let ts = |col: &str| -> Result<Option<Timestamp>, StoreError> {
        row.try_get::<Option<String>, _>(col)?
            .map(|s| Timestamp::parse(&s).map_err(StoreError::Corrupt))
            .transpose()
    };
    let role: String = row.try_get("role")?;
    Ok(KeyRecord {
        key_id: row.try_get("key_id")?,
        party: parse_slug(&row.try_get::<String, _>("party")?)?,
        public_key: row.try_get("public_key")?,
        role: Role::parse(&role).map_err(StoreError::Corrupt)?,
        not_before: ts("not_before")?,
        not_after: ts("not_after")?,
        revoked: ts("revoked")?,
    })
}

const KEY_SELECT: &str =
    "SELECT k.key_id, k.party, k.public_key, k.role, k.not_before, k.not_after, r.time AS revoked \
     FROM keys k LEFT JOIN revocations r ON r.key_id = k.key_id";

const HOLDING_COLS: &str = "batch, first, last, holder, disposition, shipment, dest, recall";

async fn batch_row(
    pool: &SqlitePool,
    filter: &str,
    a: &str,
    b: Option<&str>,
) -> Result<Option<BatchRow>, StoreError> {
    let sql = format!(
        "SELECT b.id, b.party, b.quantity, h.head, s.seq, s.kind, s.json, s.party AS sparty \
         FROM batches b JOIN chain_heads h ON h.batch = b.id JOIN statements s ON s.id = b.id WHERE {filter}"
    );
    let mut q = sqlx::query(&sql).bind(a);
    if let Some(b) = b {
        q = q.bind(b);
    }
    let Some(row) = q.fetch_optional(pool).await? else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    Ok(Some(BatchRow {
        id: parse_id(&id)?,
        party: parse_slug(&row.try_get::<String, _>("party")?)?,
        quantity: row.try_get::<i64, _>("quantity")? as u64,
        head: parse_id(&row.try_get::<String, _>("head")?)?,
        statement: StoredStatement {
            seq: row.try_get("seq")?,
            id,
            kind: row.try_get("kind")?,
            party: row.try_get("sparty")?,
            json: row.try_get("json")?,
        },
    }))
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_party(
        &self,
        party: &Party,
        root: &KeyRecord,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        // IMMEDIATE, as for append groups (see `writer::commit_group`).
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT slug FROM parties WHERE slug = ?")
            .bind(party.slug.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Exists(format!(
                "party \"{}\" is already registered",
                party.slug
            )));
        }
        let key_taken: Option<String> =
            sqlx::query_scalar("SELECT key_id FROM keys WHERE public_key = ? OR key_id = ?")
                .bind(&root.public_key)
                .bind(&root.key_id)
                .fetch_optional(&mut *tx)
                .await?;
        if key_taken.is_some() {
            return Err(StoreError::Exists(
                "that public key is already registered".into(),
            ));
        }
        let now = Timestamp::now().to_string();
        sqlx::query(
            "INSERT INTO parties (slug, name, kind, gln, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(party.slug.as_str())
        .bind(&party.name)
        .bind(party.kind.as_str())
        .bind(&party.gln)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO keys (key_id, party, public_key, role) VALUES (?, ?, ?, 'root')")
            .bind(&root.key_id)
            .bind(party.slug.as_str())
            .bind(&root.public_key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(party.slug.as_str())
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_token(&self, hash: &str, party: Option<&Slug>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES (?, ?, ?)")
            .bind(hash)
            .bind(party.map(|p| p.as_str()))
            .bind(Timestamp::now().to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT party FROM tokens WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&self.read)
                .await?;
        match row {
            None => Ok(None),
            Some((None,)) => Ok(Some(TokenOwner::Admin)),
            Some((Some(p),)) => Ok(Some(TokenOwner::Party(parse_slug(&p)?))),
        }
    }

    async fn has_admin(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE party IS NULL")
            .fetch_one(&self.read)
            .await?;
        Ok(n > 0)
    }

    async fn party(&self, slug: &str) -> Result<Option<Party>, StoreError> {
        sqlx::query("SELECT slug, name, kind, gln FROM parties WHERE slug = ?")
            .bind(slug)
            .fetch_optional(&self.read)
            .await?
            .map(|r| party_row(&r))
            .transpose()
    }

    async fn parties(&self) -> Result<Vec<Party>, StoreError> {
        sqlx::query("SELECT slug, name, kind, gln FROM parties ORDER BY slug")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(party_row)
            .collect()
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query(&format!("{KEY_SELECT} WHERE k.key_id = ?"))
            .bind(key_id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| key_row(&r))
            .transpose()
    }

    async fn keys_of(&self, party: &Slug) -> Result<Vec<KeyRecord>, StoreError> {
        sqlx::query(&format!("{KEY_SELECT} WHERE k.party = ? ORDER BY k.key_id"))
            .bind(party.as_str())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(key_row)
            .collect()
    }

    async fn statement(&self, id: &str) -> Result<Option<StoredStatement>, StoreError> {
        sqlx::query("SELECT seq, id, kind, party, json FROM statements WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| stored(&r))
            .transpose()
    }

    async fn statements_from(
        &self,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT seq, id, kind, party, json FROM statements WHERE seq >= ? ORDER BY seq LIMIT ?",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn statement_page(&self, from: i64, limit: i64) -> Result<StatementPage, StoreError> {
        // One row for the whole page: no per-row hop from SQLite's worker thread.
        // The subquery yields the rows in leaf order and group_concat keeps it (an
        // ORDER BY inside the aggregate would sort the page again, spilling to a
        // temporary file); unpack refuses a page that is not in order.
        let row = sqlx::query(
            "SELECT count(*) AS n, coalesce(group_concat(
                 printf('%d,%d,%d,%d,', seq, length(CAST(id AS BLOB)),
                        length(CAST(kind AS BLOB)), length(CAST(json AS BLOB)))
                 || id || kind || json, ''), '') AS packed
             FROM (SELECT seq, id, kind, json FROM statements WHERE seq >= ? ORDER BY seq LIMIT ?)",
        )
        .bind(from)
        .bind(limit)
        .fetch_one(&self.read)
        .await?;
        let n: i64 = row.try_get("n")?;
        StatementPage::unpack(row.try_get("packed")?, n as usize)
    }

    async fn append_key(
        &self,
        st: &NewStatement,
        change: &KeyChange,
    ) -> Result<Appended, StoreError> {
        self.append(Job::Key(st.clone(), change.clone())).await
    }

    async fn append_batch(
        &self,
        st: &NewStatement,
        batch: &BatchStatement,
    ) -> Result<Appended, StoreError> {
        self.append(Job::Batch(st.clone(), batch.clone())).await
    }

    async fn append_event(
        &self,
        st: &NewStatement,
        ev: &EventStatement,
        signer_kind: PartyKind,
    ) -> Result<Appended, StoreError> {
        self.append(Job::Event(st.clone(), ev.clone(), signer_kind))
            .await
    }

    async fn batch(&self, id: &BatchId) -> Result<Option<BatchRow>, StoreError> {
        batch_row(&self.read, "b.id = ?", &id.hex(), None).await
    }

    async fn batch_by_lot(&self, gtin: &str, lot: &str) -> Result<Option<BatchRow>, StoreError> {
        batch_row(&self.read, "b.gtin = ? AND b.lot = ?", gtin, Some(lot)).await
    }

    async fn heads(
        &self,
        batches: &[BatchId],
    ) -> Result<BTreeMap<BatchId, StatementId>, StoreError> {
        let mut out = BTreeMap::new();
        for b in batches {
            let head: Option<String> =
                sqlx::query_scalar("SELECT head FROM chain_heads WHERE batch = ?")
                    .bind(b.hex())
                    .fetch_optional(&self.read)
                    .await?;
            if let Some(h) = head {
                out.insert(*b, parse_id(&h)?);
            }
        }
        Ok(out)
    }

    async fn unit(&self, batch: &BatchId, index: u64) -> Result<Option<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = ? AND first <= ? ORDER BY first DESC LIMIT 1"
        ))
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_optional(&self.read)
        .await?
        .map(|r| holding(&r))
        .transpose()
        .map(|h| h.filter(|h| h.range.last >= index))
    }

    async fn unit_events(
        &self,
        batch: &BatchId,
        index: u64,
    ) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT DISTINCT s.seq, s.id, s.kind, s.party, s.json FROM event_objects o \
             JOIN statements s ON s.id = o.event WHERE o.batch = ? AND o.first <= ? AND o.last >= ? ORDER BY s.seq",
        )
        .bind(batch.hex())
        .bind(index as i64)
        .bind(index as i64)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn holdings_of(&self, party: &Slug) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE holder = ?1 OR dest = ?1 ORDER BY batch, first"
        ))
        .bind(party.as_str())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn holdings_of_batch(&self, batch: &BatchId) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = ? ORDER BY first"
        ))
        .bind(batch.hex())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn in_shipment(&self, shipment: &StatementId) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE shipment = ? AND disposition = 'in_transit' ORDER BY batch, first"
        ))
        .bind(shipment.hex())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn shipments_to(&self, party: &Slug) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.dest = ? AND e.type IN ('shipping', 'returning') ORDER BY s.seq DESC",
        )
        .bind(party.as_str())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn receipts(&self, shipment: &StatementId) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.shipment = ? ORDER BY s.seq",
        )
        .bind(shipment.hex())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn container(
        &self,
        sscc: &crate::formats::gs1::Sscc,
    ) -> Result<Option<ContainerView>, StoreError> {
        let head: Option<(String, String)> =
            sqlx::query_as("SELECT party, packed_by FROM containers WHERE sscc = ?")
                .bind(sscc.as_str())
                .fetch_optional(&self.read)
                .await?;
        let Some((party, packed_by)) = head else {
            return Ok(None);
        };
        // The same index-driven tree reads as the writer's (see `writer::TREE_CTE`).
        let roots = serde_json::json!([sscc.as_str()]).to_string();
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as(&format!("{TREE_CTE} {TREE_CONTAINERS}"))
                .bind(&roots)
                .fetch_all(&self.read)
                .await?;
        let units: Vec<(String, String, i64, i64)> =
            sqlx::query_as(&format!("{TREE_CTE} {TREE_UNITS}"))
                .bind(&roots)
                .fetch_all(&self.read)
                .await?;
        let tree = tree_from_rows(rows, units)?;
        container_view(sscc, party, packed_by, &tree)
    }

    async fn unit_containers(
        &self,
        batch: &BatchId,
        index: u64,
    ) -> Result<Vec<crate::formats::gs1::Sscc>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("WITH RECURSIVE up(sscc, parent, depth) AS (SELECT c.sscc, c.parent, 0 FROM container_units u JOIN containers c ON c.sscc = u.sscc WHERE u.batch = ? AND u.first <= ? AND u.last >= ? UNION ALL SELECT c.sscc, c.parent, up.depth + 1 FROM containers c JOIN up ON c.sscc = up.parent) SELECT sscc FROM up ORDER BY depth")
            .bind(batch.hex())
            .bind(index as i64)
            .bind(index as i64)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|(s,)| {
                crate::formats::gs1::Sscc::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    // Transparency log (issue 7)
    async fn log_size(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT size FROM log_state WHERE id = 1")
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn leaf_hashes(&self, from: i64, to: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT leaf_hash FROM statements WHERE seq >= ? AND seq < ? ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.read)
        .await?)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row: Option<(i64, String, String, String)> = sqlx::query_as(
            "SELECT size, root, note, verifier FROM checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(size, root, note, verifier)| StoredCheckpoint {
            size,
            root,
            note,
            verifier,
        }))
    }

    async fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (size, root, note, verifier, signed_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
        )
        .bind(cp.size)
        .bind(&cp.root)
        .bind(&cp.note)
        .bind(&cp.verifier)
        .bind(Timestamp::now().to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn key_statements(&self, key_id: &str) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT seq, id, kind, party, json FROM statements WHERE id IN \
             (SELECT statement FROM keys WHERE key_id = ?1 UNION SELECT statement FROM revocations WHERE key_id = ?1) \
             ORDER BY seq",
        )
        .bind(key_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    // Scans and feedback (issue 5)
    async fn record_scan(
        &self,
        scan: &crate::domain::scanlog::ScanRecord,
    ) -> Result<(), StoreError> {
        let mut journal = self.scan_groups_lock.lock().await;
        self.journal_append(&mut journal, &[scan]).await?;
        // Read back from the table when next needed (see `record_scans`).
        self.scan_memory
            .lock()
            .map_err(|_| poisoned())?
            .take(&scan.unit);
        Ok(())
    }

    async fn scan_stats(
        &self,
        unit: &str,
        since: Option<i64>,
    ) -> Result<crate::domain::scanlog::ScanStats, StoreError> {
        // One grouped read gives the count, the first scan and the per-day distinct scanners.
        let rows: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT COUNT(*), MIN(time), COUNT(DISTINCT CASE WHEN time >= ? THEN scanner END) \
             FROM scans WHERE unit = ? GROUP BY day ORDER BY day",
        )
        .bind(since.unwrap_or(i64::MAX))
        .bind(unit)
        .fetch_all(&self.read)
        .await?;
        Ok(crate::domain::scanlog::ScanStats {
            count: rows.iter().map(|r| r.0.max(0) as u64).sum(),
            first: rows.iter().filter_map(|r| r.1).min(),
            per_day_since: rows
                .iter()
                .filter(|r| r.2 > 0)
                .map(|r| u32::try_from(r.2).unwrap_or(u32::MAX))
                .collect(),
        })
    }

    fn single_writer(&self) -> bool {
        true
    }

    async fn record_scans(
        &self,
        scans: &[(ScanRecord, Option<i64>)],
    ) -> Result<Vec<ScanStats>, StoreError> {
        // This process is the only writer of the scan log and groups are
        // written one at a time: units held in memory need no read,
        // the others are read once, before this group's rows go in. A warm
        // group costs one multi-row insert and nothing else. The group's units
        // are taken out of memory while it is written, so no eviction can drop
        // one half-way; they go back only once their rows are stored.
        let mut journal = self.scan_groups_lock.lock().await;
        let mut units: Vec<&str> = scans.iter().map(|(s, _)| s.unit.as_str()).collect();
        units.sort_unstable();
        units.dedup();
        let mut group: HashMap<String, UnitScans> = HashMap::with_capacity(units.len());
        let mut missing = Vec::new();
        {
            let mut memory = self.scan_memory.lock().map_err(|_| poisoned())?;
            for u in units {
                match memory.take(u) {
                    Some(held) => {
                        group.insert(u.to_owned(), held);
                    }
                    None => missing.push(u),
                }
            }
        }
        let (in_journal, table_only): (Vec<&str>, Vec<&str>) =
            missing.into_iter().partition(|u| journal.holds(u));
        group.extend(self.scan_groups(&in_journal, "scans").await?);
        group.extend(self.scan_groups(&table_only, "main.scans").await?);
        // On failure earlier statements may be stored: the group's units stay
        // out of memory and are read back from the table next time.
        let rows: Vec<&ScanRecord> = scans.iter().map(|(s, _)| s).collect();
        self.journal_append(&mut journal, &rows).await?;
        let mut out = Vec::with_capacity(scans.len());
        for (s, since) in scans {
            let u = group.entry(s.unit.clone()).or_default();
            u.add(s);
            out.push(u.stats(*since));
        }
        let mut memory = self.scan_memory.lock().map_err(|_| poisoned())?;
        for (unit, u) in group {
            memory.insert(unit, u);
        }
        Ok(out)
    }

    async fn day_salt(&self, day: i64, candidate: &str) -> Result<String, StoreError> {
        sqlx::query("DELETE FROM scan_salts WHERE day < ?")
            .bind(day)
            .execute(&self.scans)
            .await?;
        sqlx::query(
            "INSERT INTO scan_salts (day, salt) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
        )
        .bind(day)
        .bind(candidate)
        .execute(&self.scans)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT salt FROM scan_salts WHERE day = ?")
                .bind(day)
                .fetch_one(&self.scans)
                .await?,
        )
    }

    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(&self.scans)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
                .bind(name)
                .fetch_one(&self.scans)
                .await?,
        )
    }

    async fn add_feedback(
        &self,
        fb: &crate::domain::feedback::NewFeedback,
        parties: &[Slug],
    ) -> Result<i64, StoreError> {
        let mut tx = self.scans.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO feedback (unit, batch, unit_index, time, day, scanner, kind, rating, \
             category, comment, contact, signature_ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(&fb.unit)
        .bind(&fb.batch)
        .bind(fb.unit_index.map(|i| i as i64))
        .bind(fb.time)
        .bind(fb.day)
        .bind(&fb.scanner)
        .bind(fb.kind.as_str())
        .bind(fb.rating.map(i64::from))
        .bind(fb.category.map(|c| c.as_str()))
        .bind(&fb.comment)
        .bind(&fb.contact)
        .bind(fb.signature_ok)
        .fetch_one(&mut *tx)
        .await?;
        for p in parties {
            sqlx::query("INSERT INTO feedback_parties (party, feedback) VALUES (?, ?)")
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
    ) -> Result<Vec<crate::domain::feedback::Feedback>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.id, f.unit, f.batch, f.unit_index, f.time, f.kind, f.rating, f.category, \
             f.comment, f.contact, f.signature_ok FROM feedback_parties p \
             JOIN feedback f ON f.id = p.feedback WHERE p.party = ? ORDER BY f.id DESC LIMIT ?",
        )
        .bind(party.as_str())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::domain::feedback::Feedback {
                    id: r.try_get("id")?,
                    unit: r.try_get("unit")?,
                    batch: r.try_get("batch")?,
                    unit_index: r.try_get::<Option<i64>, _>("unit_index")?.map(|i| i as u64),
                    time: Timestamp::from_unix(r.try_get("time")?).to_string(),
                    kind: r.try_get("kind")?,
                    rating: r
                        .try_get::<Option<i64>, _>("rating")?
                        .and_then(|n| u8::try_from(n).ok()),
                    category: r.try_get("category")?,
                    comment: r.try_get("comment")?,
                    contact: r.try_get("contact")?,
                    signature_ok: r.try_get("signature_ok")?,
                })
            })
            .collect()
    }

    async fn feedback_count(
        &self,
        unit: &str,
        day: i64,
        scanner: &str,
    ) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN scanner = ? THEN 1 ELSE 0 END), 0), COUNT(*) \
             FROM feedback WHERE unit = ? AND day = ?",
        )
        .bind(scanner)
        .bind(unit)
        .bind(day)
        .fetch_one(&self.scans)
        .await?)
    }

    // Dock (issue 6): plain writes on the scans connection, not the statement
    // writer, since nothing here is a signed statement or needs synchronous=FULL.
    async fn add_dock_user(&self, user: &dock::DockUser, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dock_users (party, name, password_hash, created) VALUES (?, ?, ?, ?)",
        )
        .bind(user.party.as_str())
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(now)
        .execute(&self.scans)
        .await
        .map_err(|e| dock::dock_unique(e, user))?;
        Ok(())
    }

    async fn dock_user(
        &self,
        party: &str,
        name: &str,
    ) -> Result<Option<dock::DockUser>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT party, name, password_hash FROM dock_users WHERE party = ? AND name = ?",
        )
        .bind(party)
        .bind(name)
        .fetch_optional(&self.scans)
        .await?;
        row.map(|(p, name, password_hash)| {
            Ok(dock::DockUser {
                party: parse_slug(&p)?,
                name,
                password_hash,
            })
        })
        .transpose()
    }

    async fn add_dock_session(&self, s: &dock::DockSession, now: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dock_sessions WHERE expires < ?")
            .bind(now)
            .execute(&self.scans)
            .await?;
        sqlx::query("INSERT INTO dock_sessions (id_hash, party, name, csrf, expires) VALUES (?, ?, ?, ?, ?)")
            .bind(&s.id_hash)
            .bind(s.party.as_str())
            .bind(&s.name)
            .bind(&s.csrf)
            .bind(s.expires)
            .execute(&self.scans)
            .await?;
        Ok(())
    }

    async fn dock_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<dock::DockSession>, StoreError> {
        let row: Option<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id_hash, party, name, csrf, expires FROM dock_sessions WHERE id_hash = ? AND expires >= ?",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.scans)
        .await?;
        row.map(|(id_hash, p, name, csrf, expires)| {
            Ok(dock::DockSession {
                id_hash,
                party: parse_slug(&p)?,
                name,
                csrf,
                expires,
            })
        })
        .transpose()
    }

    async fn delete_dock_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dock_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.scans)
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
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (public_key) DO NOTHING",
        )
        .bind(st.party.as_str())
        .bind(&st.public_key)
        .bind(&st.key_id)
        .bind(&st.label)
        .bind(&st.requested_by)
        .bind(st.created)
        .execute(&self.scans)
        .await?;
        let row: dock::StationRow = sqlx::query_as(
            "SELECT id, party, public_key, key_id, label, requested_by, created FROM dock_stations WHERE public_key = ?",
        )
        .bind(&st.public_key)
        .fetch_one(&self.scans)
        .await?;
        dock::pending_row(row)
    }

    async fn pending_station(&self, id: i64) -> Result<Option<dock::PendingStation>, StoreError> {
        let row: Option<dock::StationRow> = sqlx::query_as(
            "SELECT id, party, public_key, key_id, label, requested_by, created FROM dock_stations WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.scans)
        .await?;
        row.map(dock::pending_row).transpose()
    }

    async fn dock_stations(&self, party: &Slug) -> Result<Vec<dock::PendingStation>, StoreError> {
        let rows: Vec<dock::StationRow> = sqlx::query_as(
            "SELECT id, party, public_key, key_id, label, requested_by, created FROM dock_stations \
             WHERE party = ? ORDER BY id DESC",
        )
        .bind(party.as_str())
        .fetch_all(&self.scans)
        .await?;
        rows.into_iter().map(dock::pending_row).collect()
    }

    async fn dock_user_names(&self, party: &Slug) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM dock_users WHERE party = ? ORDER BY name")
                .bind(party.as_str())
                .fetch_all(&self.scans)
                .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    // Trace (issue 7)

    async fn batches_by_supplier_lot(
        &self,
        supplier_lot: &str,
        supplier: Option<&str>,
    ) -> Result<Vec<BatchId>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT b.id FROM batches b JOIN statements s ON s.id = b.id \
             WHERE EXISTS (SELECT 1 FROM json_each(s.json, '$.inputs') i \
             WHERE json_extract(i.value, '$.supplier_lot') = ?1 \
             AND (?2 IS NULL OR json_extract(i.value, '$.supplier') = ?2)) ORDER BY s.seq",
        )
        .bind(supplier_lot)
        .bind(supplier)
        .fetch_all(&self.read)
        .await?;
        ids.iter().map(|(id,)| parse_id(id)).collect()
    }

    async fn batch_containers(
        &self,
        batch: &BatchId,
    ) -> Result<Vec<(String, Option<String>, crate::domain::statement::UnitRange)>, StoreError>
    {
        let rows: Vec<(String, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT u.sscc, c.parent, u.first, u.last FROM container_units u \
             JOIN containers c ON c.sscc = u.sscc WHERE u.batch = ? ORDER BY u.first",
        )
        .bind(batch.hex())
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(sscc, parent, f, l)| {
                let r = crate::domain::statement::UnitRange {
                    batch: *batch,
                    first: f as u64,
                    last: l as u64,
                };
                (sscc, parent, r)
            })
            .collect())
    }

    async fn recalls(
        &self,
    ) -> Result<Vec<(StoredStatement, Vec<crate::domain::statement::UnitRange>)>, StoreError> {
        let events: Vec<StoredStatement> = sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.type = 'recalling' ORDER BY s.seq",
        )
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect::<Result<_, _>>()?;
        let objects: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT o.event, o.batch, o.first, o.last FROM event_objects o \
             JOIN events e ON e.id = o.event WHERE e.type = 'recalling' ORDER BY o.batch, o.first",
        )
        .fetch_all(&self.read)
        .await?;
        recall_rows(events, objects)
    }

    async fn batch_events(
        &self,
        batch: &BatchId,
    ) -> Result<Vec<(StoredStatement, Vec<crate::domain::statement::UnitRange>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json, o.first, o.last FROM event_objects o \
             JOIN statements s ON s.id = o.event WHERE o.batch = ? ORDER BY s.seq, o.first",
        )
        .bind(batch.hex())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| Ok((stored(r)?, r.try_get("first")?, r.try_get("last")?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(event_rows(batch, rows))
    }

    async fn batches_handled_by(&self, party: &Slug) -> Result<Vec<BatchId>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT b.id FROM batches b JOIN statements s ON s.id = b.id \
             WHERE b.party = ?1 OR b.id IN (SELECT o.batch FROM event_objects o \
             JOIN events e ON e.id = o.event WHERE e.party = ?1 OR e.dest = ?1) ORDER BY s.seq",
        )
        .bind(party.as_str())
        .fetch_all(&self.read)
        .await?;
        ids.iter().map(|(id,)| parse_id(id)).collect()
    }

    async fn feedback_counts(
        &self,
        batch: &BatchId,
    ) -> Result<Vec<(String, Option<String>, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, category, COUNT(*) FROM feedback WHERE batch = ? \
             GROUP BY kind, category ORDER BY kind, category NULLS FIRST",
        )
        .bind(batch.hex())
        .fetch_all(&self.read)
        .await?)
    }

    async fn scans_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, i64, i64, String)>, StoreError> {
        // substr, not LIKE: lots and serials may hold `%` and `_` (percent-encoded or not).
        Ok(sqlx::query_as(
            "SELECT unit, time, day, scanner FROM scans WHERE substr(unit, 1, ?) = ? \
             ORDER BY time, id",
        )
        .bind(prefix.chars().count() as i64)
        .bind(prefix)
        .fetch_all(&self.read)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const UNIT: &str = "01/06901234567892/10/L1/21/";

    /// Scans of 40 units over 3 days by 7 scanners, in a fixed order.
    fn scans(n: usize) -> Vec<ScanRecord> {
        (0..n)
            .map(|i| ScanRecord {
                unit: format!("{UNIT}{}", i % 40),
                time: 1_800_000_000 + i as i64,
                day: 20_000 + (i / (n / 3 + 1)) as i64,
                scanner: format!("{:032x}", (i * 7 + i / 40) % 7),
            })
            .collect()
    }

    /// The statistics a unit's scans must give, computed from the list.
    fn expected(all: &[ScanRecord], unit: &str, since: i64) -> ScanStats {
        let mine: Vec<&ScanRecord> = all.iter().filter(|s| s.unit == unit).collect();
        let mut per_day: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
        for s in mine.iter().filter(|s| s.time >= since) {
            per_day.entry(s.day).or_default().insert(&s.scanner);
        }
        ScanStats {
            count: mine.len() as u64,
            first: mine.iter().map(|s| s.time).min(),
            per_day_since: per_day.values().map(|v| v.len() as u32).collect(),
        }
    }

    fn scan_of(unit: &str, time: i64, day: i64, scanner: i64) -> ScanRecord {
        ScanRecord {
            unit: unit.to_owned(),
            time,
            day,
            scanner: format!("{scanner:032x}"),
        }
    }

    /// Records `next` on `store` and checks the statistics it answers for
    /// its unit against `history` and `next`.
    async fn one_more_scan(
        store: &SqliteStore,
        history: &[ScanRecord],
        next: ScanRecord,
        since: i64,
    ) {
        let got = store
            .record_scans(&[(next.clone(), Some(since))])
            .await
            .unwrap();
        let unit = next.unit.clone();
        let mut all = history.to_vec();
        all.push(next);
        assert_eq!(got, vec![expected(&all, &unit, since)]);
    }

    async fn count(pool: &SqlitePool, table: &str) -> usize {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap();
        n as usize
    }

    #[tokio::test]
    async fn scans_moved_out_of_the_journal_are_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        // A unit scanned only before the move: its rows all leave the journal.
        let solo: Vec<ScanRecord> = (0..5)
            .map(|i| scan_of(&format!("{UNIT}solo"), 1_700_000_000 + i, 19_000, i % 2))
            .collect();
        let group: Vec<(ScanRecord, Option<i64>)> =
            solo.iter().map(|s| (s.clone(), None)).collect();
        store.record_scans(&group).await.unwrap();
        let all = scans(scan_fold::FOLD_ROWS + 3_000);
        for group in all.chunks(500) {
            let group: Vec<(ScanRecord, Option<i64>)> =
                group.iter().map(|s| (s.clone(), None)).collect();
            store.record_scans(&group).await.unwrap();
        }
        // The journal is moved into the indexed table in the background.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while count(&store.scans, "journal.scans_recent").await >= scan_fold::FOLD_ROWS {
            assert!(
                std::time::Instant::now() < deadline,
                "the journal was not moved"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(count(&store.scans, "main.scans").await >= scan_fold::FOLD_ROWS);
        assert_eq!(count(&store.scans, "scans").await, all.len() + solo.len());
        assert_eq!(count(&store.read, "scans").await, all.len() + solo.len());

        // A second store on the file holds nothing in memory: it reads both tables.
        let fresh = SqliteStore::open(&url).await.unwrap();
        let since = all[all.len() / 2].time;
        for k in [0, 7, 39] {
            let unit = format!("{UNIT}{k}");
            let want = expected(&all, &unit, since);
            assert!(want.count > 100 && want.per_day_since.len() == 2);
            assert_eq!(fresh.scan_stats(&unit, Some(since)).await.unwrap(), want);
        }
        // What the new store knows of the journal matches the file: the solo
        // unit is read from the indexed table alone, and still whole.
        {
            let journal = fresh.scan_groups_lock.lock().await;
            assert_eq!(
                journal.len(),
                count(&fresh.scans, "journal.scans_recent").await
            );
            assert!(journal.holds(&format!("{UNIT}0")));
            assert!(!journal.holds(&format!("{UNIT}solo")));
        }
        let solo_next = scan_of(&format!("{UNIT}solo"), 1_700_000_100, 19_000, 5);
        one_more_scan(&fresh, &solo, solo_next, 0).await;
        // A new scan of a unit it never saw adds to the stored history.
        let next = scan_of(&format!("{UNIT}3"), 1_900_000_000, 21_000, 99);
        one_more_scan(&fresh, &all, next, since).await;

        // The indexed table is read through its index, not scanned.
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "EXPLAIN QUERY PLAN SELECT unit, day, scanner, COUNT(*) FROM scans \
             WHERE unit IN ('a', 'b') GROUP BY unit, day, scanner",
        )
        .fetch_all(&fresh.scans)
        .await
        .unwrap();
        assert!(
            plan.iter()
                .any(|r| r.3.contains("main.scans USING INDEX scans_unit")),
            "{plan:?}"
        );
    }

    #[tokio::test]
    async fn writes_that_read_first_wait_for_another_connections_commit() {
        use crate::domain::keys::KeyRecord;
        use crate::domain::party::{PartyKind, Role};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        // Another connection commits to the main database without pause, as
        // the scan journal's copy does.
        let other = store.scans.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut day = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    day += 1;
                    sqlx::query("INSERT INTO main.scan_salts (day, salt) VALUES (?, 'x')")
                        .bind(day)
                        .execute(&other)
                        .await
                        .unwrap();
                }
                day
            })
        };
        // Creating a party reads, then writes, in one transaction: each must
        // wait for the other connection's commit, not fail with "locked".
        for i in 0..200 {
            let slug = crate::domain::party::Slug::parse(&format!("party-{i}")).unwrap();
            let key = crate::client::keystore::Keystore::generate(slug.clone());
            let party = Party {
                slug: slug.clone(),
                name: format!("Party {i}"),
                kind: PartyKind::B1,
                gln: None,
            };
            let root = KeyRecord {
                key_id: key.key_id.clone(),
                party: slug,
                public_key: key.public_key(),
                role: Role::Root,
                not_before: None,
                not_after: None,
                revoked: None,
            };
            store
                .create_party(&party, &root, &format!("token-hash-{i}"))
                .await
                .unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(busy.await.unwrap() > 0);
    }

    #[tokio::test]
    async fn a_move_cut_short_after_the_copy_shows_no_scan_twice() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let all = scans(900);
        let group: Vec<(ScanRecord, Option<i64>)> = all.iter().map(|s| (s.clone(), None)).collect();
        store.record_scans(&group).await.unwrap();
        // The copy commits, then the process dies before the journal is emptied.
        sqlx::query(
            "INSERT INTO main.scans (id, unit, time, day, scanner) \
             SELECT id, unit, time, day, scanner FROM journal.scans_recent",
        )
        .execute(&store.scans)
        .await
        .unwrap();
        assert_eq!(count(&store.scans, "journal.scans_recent").await, 900);
        assert_eq!(count(&store.scans, "main.scans").await, 900);
        assert_eq!(count(&store.scans, "scans").await, 900);
        drop(store);
        let again = SqliteStore::open(&url).await.unwrap();
        assert_eq!(count(&again.read, "scans").await, 900);
        let unit = format!("{UNIT}5");
        assert_eq!(
            again.scan_stats(&unit, None).await.unwrap(),
            expected(&all, &unit, i64::MAX)
        );
        // New scans get ids above the copied ones and are seen once too.
        again.record_scans(&group[..10]).await.unwrap();
        assert_eq!(count(&again.scans, "scans").await, 910);
    }
}
