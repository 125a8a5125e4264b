//! suyuan: QR-code product traceability with signed batch records and custody events.
#![forbid(unsafe_code)]

pub mod domain;
pub mod gs1;
pub mod jcs;
pub mod ledger;
pub mod sign;
pub mod store;
