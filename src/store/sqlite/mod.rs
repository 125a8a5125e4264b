//! SQLite store: the embedded default. Reads go through a read-only pool;
//! appends go to the single writer task (see `writer`), WAL with synchronous=FULL.

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::app::cache::Generations;
use crate::domain::scanlog::UnitScans;

use super::rows::{unit_scans, ScannerDayRow, SCANNER_DAYS};
use super::sql::{SqlBackend, Work};
use writer::{Job, Reply, GROUP_MAX};

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
        let mut logs: HashMap<String, UnitScans> = HashMap::new();
        for chunk in units.chunks(500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "{SCANNER_DAYS} FROM {table} WHERE unit IN ("
            ));
            let mut list = q.separated(", ");
            for u in chunk {
                list.push_bind(*u);
            }
            q.push(") GROUP BY unit, day, scanner");
            let rows: Vec<ScannerDayRow> = q.build_query_as().fetch_all(&self.scans).await?;
            logs.extend(unit_scans(rows));
        }
        Ok(units
            .iter()
            .map(|u| (u.to_string(), logs.remove(*u).unwrap_or_default()))
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

impl SqlBackend for SqliteStore {
    type Db = sqlx::Sqlite;

    fn pool(&self, work: Work) -> &SqlitePool {
        match work {
            Work::Read => &self.read,
            // The writer's connection: synchronous=FULL.
            Work::Durable => &self.write,
            // Scans and feedback (issue 5) and dock rows (issue 6): not
            // statements, so no fsync each (see `scans`).
            Work::Plain => &self.scans,
        }
    }

    // IMMEDIATE, as for append groups (see `writer::commit_group`).
    const BEGIN_DURABLE: &'static str = "BEGIN IMMEDIATE";

    const BYTE_ORDER: &'static str = "";

    // One row for the whole page: no per-row hop from SQLite's worker thread.
    // The subquery yields the rows in leaf order and group_concat keeps it (an
    // ORDER BY inside the aggregate would sort the page again, spilling to a
    // temporary file); unpack refuses a page that is not in order.
    const STATEMENT_PAGE: &'static str = "SELECT count(*) AS n, coalesce(group_concat(
             printf('%d,%d,%d,%d,', seq, length(CAST(id AS BLOB)),
                    length(CAST(kind AS BLOB)), length(CAST(json AS BLOB)))
             || id || kind || json, ''), '') AS packed
         FROM (SELECT seq, id, kind, json FROM statements WHERE seq >= $1 ORDER BY seq LIMIT $2)";

    const SUPPLIER_LOT: &'static str =
        "SELECT b.id FROM batches b JOIN statements s ON s.id = b.id \
         WHERE EXISTS (SELECT 1 FROM json_each(s.json, '$.inputs') i \
         WHERE json_extract(i.value, '$.supplier_lot') = $1 \
         AND ($2 IS NULL OR json_extract(i.value, '$.supplier') = $2)) ORDER BY s.seq";

    // Index-driven, as the writer's tree reads (see `writer::TREE_CTE`): the
    // CROSS JOINs keep the tree on the outside of each lookup.
    const TREE_CONTAINERS: &'static str = "WITH RECURSIVE t(sscc) AS (SELECT $1 \
         UNION SELECT c.sscc FROM t CROSS JOIN containers c ON c.parent = t.sscc) \
         SELECT c.sscc, c.parent FROM t CROSS JOIN containers c ON c.sscc = t.sscc";

    const TREE_UNITS: &'static str = "WITH RECURSIVE t(sscc) AS (SELECT $1 \
         UNION SELECT c.sscc FROM t CROSS JOIN containers c ON c.parent = t.sscc) \
         SELECT u.sscc, u.batch, u.first, u.last FROM t CROSS JOIN container_units u ON u.sscc = t.sscc";
}

#[async_trait]
impl LedgerStore for SqliteStore {
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

    fn single_writer(&self) -> bool {
        true
    }
}

#[async_trait]
impl ScanStore for SqliteStore {
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
