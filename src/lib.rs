//! suyuan: QR-code product traceability with signed batch records and custody events.
#![forbid(unsafe_code)]

pub mod client;
pub mod demo;
pub mod domain;
pub mod gs1;
pub mod http;
pub mod jcs;
pub mod keystore;
pub mod ledger;
pub mod sign;
pub mod store;
