//! Use cases between HTTP and the store: submit, scan, feedback, export,
//! trace, reports, demo data. [`ledger::Ledger`] is the application's state; each
//! use case is a file of its own.

pub mod cache;
pub mod demo;
pub mod export;
pub mod feedback;
pub mod ledger;
pub mod report;
pub mod scan;
pub mod scan_writer;
pub mod scanner;
pub mod submit;
pub mod trace;
pub mod views;
