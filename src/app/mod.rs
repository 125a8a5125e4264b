//! Use cases between HTTP and the store: submit, scan views, trace, reports, demo data.

pub mod cache;
pub mod demo;
pub mod ledger;
pub mod report;
pub mod trace;
