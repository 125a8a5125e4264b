//! suyuan: QR-code product traceability with signed batch records and custody events.
#![forbid(unsafe_code)]

pub mod audit;
pub mod bundle;
pub mod cache;
pub mod client;
pub mod demo;
pub mod domain;
pub mod epcis;
pub mod gs1;
pub mod http;
pub mod jcs;
pub mod keystore;
pub mod label;
pub mod ledger;
pub mod log;
pub mod report;
pub mod sign;
pub mod store;
pub mod trace;
pub mod xml;
