//! Domain rules: identifiers, statements, custody and verdicts. No I/O here.

pub mod aggregation;
pub mod batch;
pub mod custody;
pub mod feedback;
pub mod keys;
pub mod party;
pub mod sale;
pub mod scanlog;
pub mod statement;
pub mod time;
pub mod verdict;
