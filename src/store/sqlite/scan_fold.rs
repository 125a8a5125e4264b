//! The scan journal: scans written without index updates, moved in bulk.
//!
//! A consumer scan is committed before its page is answered. Written straight
//! into `scans`, each scan also updated one random page of the (unit, time)
//! index, so a group of scans wrote one WAL page per scan, and SQLite copied
//! all of them into the database at the next checkpoint. Instead a group is
//! committed to `scans_recent` in a database file of its own (the journal,
//! `<database>-scans`), which has no secondary index: a group writes the
//! journal's last page or two. Once the journal holds [`FOLD_ROWS`], a task
//! copies them into `scans` in one transaction sorted by unit, on its own
//! connection, so each index page is written once for all the rows that land
//! on it. The journal has its own write lock, so scan groups go on while the
//! copy runs; the copied rows then leave the journal between two groups.
//!
//! Every connection that reads scans sees the union through a temporary view
//! named `scans` ([`attach`]): the indexed table, and the journal's rows above
//! the largest id already copied. Ids come from the journal's AUTOINCREMENT
//! and are copied with the rows, so a crash between the copy and the delete
//! shows no scan twice, and the delete is simply done later.
//!
//! The groups' lock also keeps which units have rows in the journal
//! ([`Journal`]). A unit the server no longer holds in memory has almost
//! never any, and then its scans are read from the indexed table alone,
//! instead of by a scan of the whole journal.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, Mutex};

use crate::domain::scanlog::ScanRecord;
use crate::store::StoreError;

/// Journal rows at which a move starts: what the journal holds at most, give
/// or take the scans that arrive during one move. Reading a unit that has
/// rows in the journal but is not held in memory scans the journal, so this
/// bounds that read.
pub(super) const FOLD_ROWS: usize = 16_384;

/// The journal's rows as the scan groups' lock holds them: id and unit of
/// each, in id order, and how many rows each unit has.
#[derive(Debug, Default)]
pub(super) struct Journal {
    rows: VecDeque<(i64, Arc<str>)>,
    per_unit: HashMap<Arc<str>, u32>,
}

impl Journal {
    /// Reads the journal file's rows.
    pub(super) async fn load(scans: &SqlitePool) -> Result<Journal, sqlx::Error> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, unit FROM journal.scans_recent ORDER BY id")
                .fetch_all(scans)
                .await?;
        let mut journal = Journal::default();
        for (id, unit) in rows {
            journal.push(id, &unit);
        }
        Ok(journal)
    }

    /// Rows in the journal file.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether `unit` has any rows in the journal file.
    pub(super) fn holds(&self, unit: &str) -> bool {
        self.per_unit.contains_key(unit)
    }

    /// Notes a row written to the journal file; ids only grow.
    fn push(&mut self, id: i64, unit: &str) {
        let unit: Arc<str> = match self.per_unit.get_key_value(unit) {
            Some((k, _)) => k.clone(),
            None => Arc::from(unit),
        };
        *self.per_unit.entry(unit.clone()).or_default() += 1;
        self.rows.push_back((id, unit));
    }

    /// Notes that the rows up to id `last` left the journal file.
    fn forget_upto(&mut self, last: i64) {
        while let Some((id, unit)) = self.rows.front() {
            if *id > last {
                break;
            }
            if let Some(n) = self.per_unit.get_mut(unit) {
                *n -= 1;
                if *n == 0 {
                    self.per_unit.remove(unit);
                }
            }
            self.rows.pop_front();
        }
    }
}

/// Writes scans to the journal file and notes them in `journal`: one
/// statement per 200 rows, each committed on its own.
pub(super) async fn append(
    scans: &SqlitePool,
    journal: &mut Journal,
    rows: &[&ScanRecord],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(200) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO journal.scans_recent (unit, time, day, scanner) ",
        );
        q.push_values(chunk, |mut b, s| {
            b.push_bind(&s.unit)
                .push_bind(s.time)
                .push_bind(s.day)
                .push_bind(&s.scanner);
        });
        let done = q.build().execute(scans).await?;
        // One statement numbers its rows in order, ending at the last rowid.
        let first = done.last_insert_rowid() - chunk.len() as i64 + 1;
        for (id, s) in (first..).zip(chunk) {
            journal.push(id, &s.unit);
        }
    }
    Ok(())
}

/// The journal's file, next to the database file.
pub(super) fn journal_file(database: &str) -> String {
    format!("{database}-scans")
}

/// Creates the journal's table if it is new and keeps its ids above every id
/// already in `scans`. Runs on a connection with the journal attached.
pub(super) async fn prepare(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA journal.journal_mode = WAL")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS journal.scans_recent (\
           id INTEGER PRIMARY KEY AUTOINCREMENT, unit TEXT NOT NULL, \
           time INTEGER NOT NULL, day INTEGER NOT NULL, scanner TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let top: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM main.scans")
        .fetch_one(&mut *conn)
        .await?;
    let raised = sqlx::query(
        "UPDATE journal.sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'scans_recent'",
    )
    .bind(top)
    .execute(&mut *conn)
    .await?;
    if raised.rows_affected() == 0 {
        sqlx::query("INSERT INTO journal.sqlite_sequence (name, seq) VALUES ('scans_recent', ?)")
            .bind(top)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Attaches the journal of the connection's database and defines the view
/// `scans` over both tables. Every connection that reads scans runs this.
pub async fn attach(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let main: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query("ATTACH DATABASE ? AS journal")
        .bind(journal_file(&main))
        .execute(&mut *conn)
        .await?;
    // Scans are not signed statements: a journal commit survives a crash of
    // the process but is not synced on its own (as the scan table's were).
    sqlx::query("PRAGMA journal.synchronous = NORMAL")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "CREATE TEMP VIEW IF NOT EXISTS scans AS \
         SELECT id, unit, time, day, scanner FROM main.scans \
         UNION ALL \
         SELECT id, unit, time, day, scanner FROM journal.scans_recent \
         WHERE id > (SELECT COALESCE(MAX(id), 0) FROM main.scans)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves the journal whenever `due` signals and it holds [`FOLD_ROWS`]; ends
/// when the store is dropped. `fold` is a connection of its own; `scans` is
/// the scan groups' connection, used for the short delete.
pub(super) async fn run(
    fold: SqlitePool,
    scans: SqlitePool,
    recent: Arc<Mutex<Journal>>,
    mut due: mpsc::Receiver<()>,
) {
    while due.recv().await.is_some() {
        if recent.lock().await.len() < FOLD_ROWS {
            continue;
        }
        if let Err(e) = copy(&fold).await {
            // Scans are stored either way; the next full group asks again.
            tracing::warn!(error = %e, "copying the scan journal into the scan table failed");
            continue;
        }
        let mut journal = recent.lock().await;
        match forget_copied(&scans).await {
            Ok(last) => journal.forget_upto(last),
            Err(e) => tracing::warn!(error = %e, "emptying the scan journal failed"),
        }
        drop(journal);
        // Keep the journal's WAL short; nothing waits for this.
        if let Err(e) = sqlx::query("PRAGMA journal.wal_checkpoint(PASSIVE)")
            .execute(&fold)
            .await
        {
            tracing::warn!(error = %e, "scan journal checkpoint failed");
        }
    }
}

/// Copies the journal's rows not yet in `main.scans`, sorted by unit, in one
/// transaction that locks only the main database.
async fn copy(fold: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO main.scans (id, unit, time, day, scanner) \
         SELECT id, unit, time, day, scanner FROM journal.scans_recent \
         WHERE id > (SELECT COALESCE(MAX(id), 0) FROM main.scans) \
         ORDER BY unit, time",
    )
    .execute(fold)
    .await?;
    Ok(())
}

/// Deletes the journal's rows already copied; returns the last id deleted.
async fn forget_copied(scans: &SqlitePool) -> Result<i64, StoreError> {
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM main.scans")
        .fetch_one(scans)
        .await?;
    sqlx::query("DELETE FROM journal.scans_recent WHERE id <= ?")
        .bind(last)
        .execute(scans)
        .await?;
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_knows_which_units_it_holds_until_their_rows_leave() {
        let mut j = Journal::default();
        for (id, unit) in [(1, "a"), (2, "b"), (3, "a"), (4, "c"), (5, "a")] {
            j.push(id, unit);
        }
        assert_eq!(j.len(), 5);
        assert!(j.holds("a") && j.holds("b") && j.holds("c") && !j.holds("d"));
        j.forget_upto(2);
        assert_eq!(j.len(), 3);
        assert!(j.holds("a") && !j.holds("b") && j.holds("c"));
        // Ids below what is left change nothing.
        j.forget_upto(1);
        assert_eq!(j.len(), 3);
        j.forget_upto(4);
        assert!(j.holds("a") && !j.holds("c"));
        j.forget_upto(i64::MAX);
        assert_eq!(j.len(), 0);
        assert!(!j.holds("a"));
        assert!(j.per_unit.is_empty());
    }
}
