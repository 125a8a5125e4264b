//! Writing consumer scans: one task writes the scans that arrive together in
//! one group (see [`crate::store::Store::record_scans`]) and answers each with
//! its unit's statistics once its row is stored, so every answer counts its
//! own scan, as with one insert per request.

use std::sync::OnceLock;
use tokio::sync::{mpsc, oneshot};

use crate::domain::scanlog::{ScanRecord, ScanStats};
use crate::store::{DynStore, StoreError};

/// One scan for the writer task and where to answer its statistics.
type ScanJob = (
    ScanRecord,
    Option<i64>,
    oneshot::Sender<Result<ScanStats, String>>,
);

/// Scans written in one group at most.
const SCAN_GROUP_MAX: usize = 512;

/// The writer task's queue, started by the first scan recorded.
#[derive(Debug, Default)]
pub struct ScanWriter {
    queue: OnceLock<mpsc::UnboundedSender<ScanJob>>,
}

impl ScanWriter {
    /// Records a scan and answers the unit's statistics, counting scans
    /// after `since` (unix seconds) apart.
    pub async fn record(
        &self,
        store: &DynStore,
        rec: ScanRecord,
        since: Option<i64>,
    ) -> Result<ScanStats, StoreError> {
        let tx = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_groups(store.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        tx.send((rec, since, reply))
            .map_err(|_| StoreError::Corrupt("scan log task ended".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Corrupt("scan log task ended".into()))?
            .map_err(StoreError::Corrupt)
    }
}

/// Writes scans in groups: whatever has queued while the previous group was
/// written goes in the next one. Nobody is answered before their row is stored
/// (a failed group answers each of its members with the error), so a crash
/// loses no answered scan beyond what `synchronous=NORMAL` itself may lose.
async fn write_groups(store: DynStore, mut rx: mpsc::UnboundedReceiver<ScanJob>) {
    let mut jobs: Vec<ScanJob> = Vec::new();
    while rx.recv_many(&mut jobs, SCAN_GROUP_MAX).await > 0 {
        let group: Vec<(ScanRecord, Option<i64>)> =
            jobs.iter().map(|(r, s, _)| (r.clone(), *s)).collect();
        match store.record_scans(&group).await {
            Ok(stats) if stats.len() == jobs.len() => {
                for ((_, _, reply), st) in jobs.drain(..).zip(stats) {
                    let _ = reply.send(Ok(st));
                }
            }
            Ok(_) => {
                for (_, _, reply) in jobs.drain(..) {
                    let _ = reply.send(Err("scan statistics do not match the scans".into()));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for (_, _, reply) in jobs.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
