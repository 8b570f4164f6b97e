//! HTTP integration tests of the Varsel server: a real server per test on port 0 with a
//! fresh database (SQLite, or PostgreSQL when `VARSEL_TEST_DATABASE_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod abuse;
mod admin;
mod bad_input;
mod bell;
mod channels;
mod email;
mod events;
mod faults;
mod feed;
mod grouping;
mod isolation;
mod links;
mod openapi;
mod precedence;
mod prefs;
mod quiet;
mod rules;
mod scheduler;
mod stream;
mod system;
