//! Unit views: everything a scan reads about a unit from the ledger, kept in
//! memory for the next scan of the same label until a submit may have changed it.
//!
//! The cache is a value owned by its [`Ledger`] (and shared by its clones):
//! submits through that ledger end its views. Another process appending to the
//! same database (PostgreSQL shared by several servers) is not seen; the views'
//! age bound covers that.

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cache;
use super::ledger::{parse_stored, Ledger};
use crate::domain::batch::unit_index;
use crate::domain::custody::Holding;
use crate::domain::sale::{self, Sale};
use crate::domain::statement::{BatchStatement, EventStatement};
use crate::formats::gs1;
use crate::store::{BatchRow, Party, StoreError};

/// Unit views remembered.
pub const VIEW_CACHE: usize = 100_000;
/// How long a cached unit view may be used at most when other processes may
/// append to the same database (PostgreSQL shared by several servers). Appends
/// made through this process's [`Ledger`] end views at once (see [`Views`]);
/// another server's appends are not seen by this process, so its scan pages
/// may show custody up to this old.
pub const VIEW_TTL_SHARED: Duration = Duration::from_secs(2);
/// The same bound when this process is the database's only writer (SQLite):
/// the submit count alone keeps views exact; the bound is a second guard
/// (say, a tool run against the file while the server runs).
pub const VIEW_TTL_SINGLE: Duration = Duration::from_secs(60);

/// The unit views of one ledger and the counts that say when they end.
#[derive(Debug)]
pub struct Views {
    /// By canonical path.
    cache: cache::Shared<String, Arc<UnitView>>,
    /// Submits ended through the ledger. Every submit bumps it when it ends,
    /// whatever the outcome, after any commit. A cached [`UnitView`] is used
    /// as it is while this is unchanged since the view was read (and within
    /// [`VIEW_TTL_SINGLE`] or [`VIEW_TTL_SHARED`]); after a change it is used
    /// only if its batch's chain head is still the one it was read with,
    /// since every stored event moves the head of each batch whose units it
    /// covers.
    appends: AtomicU64,
    /// Submits of anything but events (keys, batches) ended: they move no
    /// chain head, so a cached view is used only while this is unchanged.
    other_submits: AtomicU64,
    /// Source of [`UnitView::id`]; 0 is never given out.
    next_id: AtomicU64,
}

/// Counts a submit as ended when dropped, whatever the outcome.
#[derive(Debug)]
pub(super) struct SubmitEnded {
    views: Arc<Views>,
    event: bool,
}

impl Drop for SubmitEnded {
    fn drop(&mut self) {
        if !self.event {
            self.views.other_submits.fetch_add(1, SeqCst);
        }
        self.views.appends.fetch_add(1, SeqCst);
    }
}

impl Views {
    /// An empty cache of at most about `capacity` views.
    pub fn new(capacity: usize) -> Self {
        Views {
            cache: cache::Shared::new(capacity),
            appends: AtomicU64::new(0),
            other_submits: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    /// Called as a submit starts; the guard counts it as ended when dropped.
    pub(super) fn submit_started(self: &Arc<Self>, event: bool) -> SubmitEnded {
        SubmitEnded {
            views: self.clone(),
            event,
        }
    }
}

/// Everything a scan reads about a unit from the ledger, kept for repeat scans.
#[derive(Debug)]
pub(super) struct UnitView {
    /// Unique per view read by this ledger (see [`super::scan::ScanReport::view`]).
    pub id: u64,
    /// [`Views::appends`] before the reads began, or before its chain head
    /// was last found unchanged.
    appends: AtomicU64,
    /// [`Views::other_submits`] before the reads began.
    other_submits: u64,
    /// When the reads began.
    read_at: Instant,
    /// The batch row, with the chain head the view was read at.
    pub batch: BatchRow,
    /// The signed batch record.
    pub record: Arc<BatchStatement>,
    /// The unit's index, if the serial is one the batch minted.
    pub index: Option<u64>,
    /// The unit's holding.
    pub holding: Option<Holding>,
    /// Its holder.
    pub holder: Option<Party>,
    /// Custody events that named the unit, oldest first, as signed.
    pub history: Arc<Vec<Value>>,
    /// The same events, typed, parsed once for every page that shows them.
    pub events: Arc<Vec<EventStatement>>,
    /// Where the unit's retail sale stands.
    pub sale: Sale,
    /// The recall covering the unit.
    pub recall: Option<EventStatement>,
}

impl Ledger {
    /// The unit's view, from memory while no submit has ended since it was
    /// read and it is younger than [`VIEW_TTL_SINGLE`] or [`VIEW_TTL_SHARED`];
    /// `None` if the lot is unknown.
    pub(super) async fn unit_view(
        &self,
        path: &str,
        gtin: &gs1::Gtin,
        lot: &gs1::Lot,
        serial: &gs1::Serial,
    ) -> Result<Option<Arc<UnitView>>, StoreError> {
        let views = &self.views;
        let appends = views.appends.load(SeqCst);
        let other_submits = views.other_submits.load(SeqCst);
        let path = path.to_string();
        if let Some(v) = views.cache.get(&path) {
            let ttl = if self.store.single_writer() {
                VIEW_TTL_SINGLE
            } else {
                VIEW_TTL_SHARED
            };
            if v.other_submits == other_submits && v.read_at.elapsed() < ttl {
                if v.appends.load(SeqCst) == appends {
                    return Ok(Some(v));
                }
                // Events ended since: one read of the head tells whether any
                // of them covered this batch (a sale elsewhere leaves it be).
                let heads = self.store.heads(std::slice::from_ref(&v.batch.id)).await?;
                if heads.get(&v.batch.id) == Some(&v.batch.head) {
                    v.appends.fetch_max(appends, SeqCst);
                    return Ok(Some(v));
                }
            }
        }
        let read_at = Instant::now();
        let Some(batch) = self.store.batch_by_lot(gtin.as_str(), lot.as_str()).await? else {
            return Ok(None);
        };
        let record = self.record(&batch).await?;
        let index = unit_index(
            serial.as_str(),
            record.serial_prefix.as_deref(),
            batch.quantity,
        );
        let holding = match index {
            Some(i) => self.store.unit(&batch.id, i).await?,
            None => None,
        };
        let holder = match &holding {
            Some(h) => self.party(h.holder.as_str()).await?,
            None => None,
        };
        let mut history = Vec::new();
        let mut events = Vec::new();
        let mut recall = None;
        if let (Some(i), Some(h)) = (index, &holding) {
            for st in self.store.unit_events(&batch.id, i).await? {
                let v: Value = serde_json::from_str(&st.json)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let e: EventStatement = parse_stored(&st.json)?;
                history.push(v);
                events.push(e);
            }
            if let Some(r) = h.recall {
                if let Some(st) = self.store.statement(&r.hex()).await? {
                    recall = Some(parse_stored(&st.json)?);
                }
            }
        }
        let sale = sale::sale(&events, holding.as_ref().map(|h| h.disposition));
        let view = Arc::new(UnitView {
            id: views.next_id.fetch_add(1, Relaxed),
            appends: AtomicU64::new(appends),
            other_submits,
            read_at,
            batch,
            record,
            index,
            holding,
            holder,
            history: Arc::new(history),
            events: Arc::new(events),
            sale,
            recall,
        });
        views.cache.insert(path, view.clone());
        Ok(Some(view))
    }
}
