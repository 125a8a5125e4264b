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

use std::sync::Arc;

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, Mutex};

use crate::store::StoreError;

/// Journal rows at which a move starts: what the journal holds at most, give
/// or take the scans that arrive during one move. Reading a unit the server
/// does not hold in memory scans the journal, so this bounds that read.
pub(super) const FOLD_ROWS: usize = 16_384;

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
    recent: Arc<Mutex<usize>>,
    mut due: mpsc::Receiver<()>,
) {
    while due.recv().await.is_some() {
        if *recent.lock().await < FOLD_ROWS {
            continue;
        }
        if let Err(e) = copy(&fold).await {
            // Scans are stored either way; the next full group asks again.
            tracing::warn!(error = %e, "copying the scan journal into the scan table failed");
            continue;
        }
        let mut rows = recent.lock().await;
        match forget_copied(&scans).await {
            Ok(n) => *rows = rows.saturating_sub(n),
            Err(e) => tracing::warn!(error = %e, "emptying the scan journal failed"),
        }
        drop(rows);
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

/// Deletes the journal's rows already copied; returns how many.
async fn forget_copied(scans: &SqlitePool) -> Result<usize, StoreError> {
    let gone = sqlx::query(
        "DELETE FROM journal.scans_recent \
         WHERE id <= (SELECT COALESCE(MAX(id), 0) FROM main.scans)",
    )
    .execute(scans)
    .await?;
    Ok(gone.rows_affected() as usize)
}
