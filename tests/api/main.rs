//! API integration tests: the real server on an ephemeral port, on SQLite and
//! (when SUYUAN_TEST_DATABASE_URL is set) on PostgreSQL.

mod helpers;

mod append_only;
mod auth;
mod bad_input;
mod custody;
