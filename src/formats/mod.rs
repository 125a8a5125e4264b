//! Byte-exact formats other programs re-implement: JCS, signing, GS1 syntax, EPCIS, XML escaping.
//!
//! Pure: nothing here does I/O or imports axum, sqlx or tokio.

pub mod epcis;
pub mod gs1;
pub mod jcs;
pub mod sign;
pub mod xml;
