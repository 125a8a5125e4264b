//! API integration tests: the real server on an ephemeral port, on SQLite and
//! (when SUYUAN_TEST_DATABASE_URL is set) on PostgreSQL.

mod helpers;

mod aggregation;
mod append_only;
mod audit;
mod auth;
mod bad_input;
mod cli_receive;
mod custody;
mod epcis;
mod log;
mod reports;
mod scan;
mod trace;
