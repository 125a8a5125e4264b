//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that takes the WAL past
//! its threshold (1,000 pages by default): that one append waits while the
//! whole WAL is copied into the database file and synced, a spike of several
//! milliseconds every few dozen appends, which set the p99 of a pallet receipt
//! (`bench/dock.rs`). Here a task of its own checkpoints on its own
//! connection shortly after commits, so no append waits for it.
//!
//! The WAL file starts over from its beginning only when a write begins after
//! a checkpoint that copied every frame. After a burst of appends that is the
//! first write once this task has caught up. Under appends without a pause
//! (the bench) each of its checkpoints is outrun by the commits made while it
//! runs, and the WAL grows until the writer's own automatic checkpoint, kept
//! as a bound at ten times SQLite's default, finds only those last commits
//! left to copy and lets the WAL start over.
//!
//! Durability does not depend on checkpoints: every commit is synced to the
//! WAL (synchronous=FULL), and a checkpoint cut short is redone from the WAL.

use sqlx::SqlitePool;
use std::time::Duration;
use tokio::sync::mpsc;

/// WAL pages at which the writer checkpoints by itself (the safety bound).
pub(super) const WRITER_AUTOCHECKPOINT: &str = "10000";

/// How long the task lets commits gather before it checkpoints them.
const DELAY: Duration = Duration::from_millis(200);

/// Checkpoints (PASSIVE) after commits until the writer is gone. `commits`
/// carries one signal per commit at most queued; a dropped sender ends the task.
pub(super) async fn run(pool: SqlitePool, mut commits: mpsc::Receiver<()>) {
    while commits.recv().await.is_some() {
        tokio::time::sleep(DELAY).await;
        // What arrived meanwhile is covered by this checkpoint.
        while commits.try_recv().is_ok() {}
        let done: Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await;
        if let Err(e) = done {
            // The writer's own bound still keeps the WAL from growing without end.
            tracing::warn!(error = %e, "background WAL checkpoint failed");
        }
    }
}
