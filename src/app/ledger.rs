//! The ledger: the application's state, that is the store and what is kept in
//! memory about it, and the reads the use cases share.
//!
//! The use cases are methods of [`Ledger`], one file per job beside this one:
//! [`super::submit`] verifies and appends statements, [`super::scan`] says what
//! a scan shows (through [`super::views`], the unit views kept between scans,
//! and [`super::scan_writer`], which writes scans in groups),
//! [`super::scanner`] names the device scanning, [`super::feedback`] takes the
//! scan page's feedback. HTTP handlers and the demo both come through here, so
//! every statement meets the same checks in the same order whatever door it
//! came in by.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::cache;
use super::scan_writer::ScanWriter;
use super::scanner::DaySalt;
use super::views::{Views, VIEW_CACHE};
use crate::domain::party::{Role, Slug};
use crate::domain::statement::BatchStatement;
use crate::formats::sign;
use crate::store::{BatchRow, DynStore, Party, StoreError};

pub use super::scan::{BatchView, ScanReport, ScanSummary};
pub use super::scanner::Scanner;
pub use super::submit::{Receipt, SubmitError, MAX_SKEW_SECS};

/// Label signatures remembered as verified.
pub const LABEL_CACHE: usize = 200_000;
/// Parsed batch records remembered.
pub const RECORD_CACHE: usize = 4096;

/// The store and the application's memory of it. Clones share everything.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// The database.
    pub store: DynStore,
    /// Parties never change once registered, so they are read once.
    parties: Arc<RwLock<HashMap<String, Party>>>,
    /// Label signatures already verified, by (canonical path, sig). Only
    /// successes are kept: a key is never removed, so a label that verified
    /// once always does; a failure is checked again each time.
    labels: Arc<cache::Shared<(String, String), ()>>,
    /// Parsed batch records by batch id: signed records never change.
    records: Arc<cache::Shared<String, Arc<BatchStatement>>>,
    /// What a scan shows of a unit, kept until a submit may have changed it.
    pub(super) views: Arc<Views>,
    /// The task that writes scans in groups.
    pub(super) scans: Arc<ScanWriter>,
    /// Today's salt of the scanner hashes.
    pub(super) salt: Arc<DaySalt>,
    /// Key of the scan page's form tokens, shared by all servers through the store.
    pub(super) form_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

impl Ledger {
    /// Wraps a store.
    pub fn new(store: DynStore) -> Self {
        Ledger {
            store,
            parties: Arc::default(),
            labels: Arc::new(cache::Shared::new(LABEL_CACHE)),
            records: Arc::new(cache::Shared::new(RECORD_CACHE)),
            views: Arc::new(Views::new(VIEW_CACHE)),
            scans: Arc::default(),
            salt: Arc::default(),
            form_key: Arc::default(),
        }
    }

    /// A registered party, from memory after the first read.
    pub async fn party(&self, slug: &str) -> Result<Option<Party>, StoreError> {
        if let Some(p) = self.parties.read().ok().and_then(|m| m.get(slug).cloned()) {
            return Ok(Some(p));
        }
        let found = self.store.party(slug).await?;
        if let (Some(p), Ok(mut m)) = (&found, self.parties.write()) {
            m.insert(slug.to_owned(), p.clone());
        }
        Ok(found)
    }

    /// Checks a label signature against the factory's minting keys; true if one verifies.
    pub async fn label_signature_ok(
        &self,
        factory: &Slug,
        path: &str,
        sig: &str,
    ) -> Result<bool, StoreError> {
        let cache_key = (path.to_owned(), sig.to_owned());
        if self.labels.get(&cache_key).is_some() {
            return Ok(true);
        }
        for k in self.store.keys_of(factory).await? {
            if !matches!(k.role, Role::Root | Role::Mint) {
                continue;
            }
            if let Ok(public) = sign::parse_public_key(&k.public_key) {
                if sign::verify_label(path, sig, &public).is_ok() {
                    self.labels.insert(cache_key, ());
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The parsed batch record, from memory after the first parse.
    pub(super) async fn record(&self, batch: &BatchRow) -> Result<Arc<BatchStatement>, StoreError> {
        let id = batch.id.hex();
        if let Some(r) = self.records.get(&id) {
            return Ok(r);
        }
        let r: Arc<BatchStatement> = Arc::new(parse_stored(&batch.statement.json)?);
        self.records.insert(id, r.clone());
        Ok(r)
    }
}

/// A statement as stored (JSON with `sig`), typed without its signature.
pub(super) fn parse_stored<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    let mut v: Value =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("sig");
    }
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}
