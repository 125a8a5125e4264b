//! Domain rules: identifiers, statements, custody and verdicts. No I/O here.

pub mod custody;
pub mod keys;
pub mod party;
pub mod statement;
pub mod time;
pub mod verdict;
