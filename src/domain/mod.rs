//! Domain rules: identifiers, statements, custody and verdicts. No I/O here.

pub mod aggregation;
pub mod custody;
pub mod exceptions;
pub mod feedback;
pub mod keys;
pub mod party;
pub mod scanlog;
pub mod statement;
pub mod time;
pub mod verdict;
