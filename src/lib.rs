//! suyuan: QR-code product traceability with signed batch records and custody events.
//!
//! The layers and what each may import are in `ARCHITECTURE.md`.
#![forbid(unsafe_code)]

pub mod app;
pub mod client;
pub mod domain;
pub mod formats;
pub mod http;
pub mod label;
pub mod store;
pub mod tlog;
pub mod verify;
