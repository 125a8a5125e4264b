//! The EPCIS export of one batch: its record and every event on its chain,
//! for the operator and for the parties that handled it.

use serde_json::Value;
use std::collections::BTreeMap;

use super::ledger::Ledger;
use crate::domain::batch;
use crate::domain::statement::BatchId;
use crate::domain::time::Timestamp;
use crate::formats::epcis::{self, Record};
use crate::store::{StoreError, StoredStatement, TokenOwner};

/// Why an export was not made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No such batch.
    #[error("no batch {0}")]
    NotFound(BatchId),
    /// The caller never handled the batch.
    #[error("only the operator and parties that handled batch {0} may export it")]
    Forbidden(BatchId),
    /// What is stored does not make a chain or a document.
    #[error("{0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn record(st: &StoredStatement) -> Result<Record, ExportError> {
    Record::parse(&st.id, st.seq, &st.kind, &st.json)
        .map_err(|e| ExportError::Corrupt(e.to_string()))
}

impl Ledger {
    /// The batch as an EPCIS 2.0 JSON-LD document, if `owner` may read it
    /// (see [`batch::handled_by`]).
    pub async fn epcis(&self, id: BatchId, owner: &TokenOwner) -> Result<Value, ExportError> {
        let store = &self.store;
        let b = store.batch(&id).await?.ok_or(ExportError::NotFound(id))?;
        // Walk the chain back from the head to the batch record.
        let mut records = Vec::new();
        let mut cursor = b.head;
        while cursor != id {
            let st = store.statement(&cursor.hex()).await?.ok_or_else(|| {
                ExportError::Corrupt(format!("chain of {id}: statement {cursor} missing"))
            })?;
            let rec = record(&st)?;
            let prev = rec.event().and_then(|e| e.prev.get(&id)).copied();
            cursor = prev.ok_or_else(|| {
                ExportError::Corrupt(format!("chain of {id}: {cursor} has no prev for it"))
            })?;
            records.push(rec);
        }
        records.push(record(&b.statement)?);
        records.reverse();
        let allowed = match owner {
            TokenOwner::Admin => true,
            TokenOwner::Party(p) => {
                batch::handled_by(p, &b.party, records.iter().filter_map(Record::event))
            }
        };
        if !allowed {
            return Err(ExportError::Forbidden(id));
        }
        let mut batches = BTreeMap::new();
        for r in records.iter().filter_map(Record::event) {
            for o in &r.objects {
                if batches.contains_key(&o.batch) {
                    continue;
                }
                let other = store
                    .batch(&o.batch)
                    .await?
                    .ok_or_else(|| ExportError::Corrupt(format!("batch {} missing", o.batch)))?;
                if let Some(bs) = record(&other.statement)?.batch() {
                    batches.insert(o.batch, bs.clone());
                }
            }
        }
        if let Some(bs) = records[0].batch() {
            batches.insert(id, bs.clone());
        }
        epcis::document(&records, &batches, Timestamp::now())
            .map_err(|e| ExportError::Corrupt(e.to_string()))
    }
}
