//! Black-box tests of the tokengate service: each test starts the real
//! `tokengate` binary on 127.0.0.1:0 with its own data directory, reads the
//! address it prints, and drives it over HTTP (and the admin CLI).
//!
//! Run: `cargo build -p tokengate-server && cargo nextest run -p tokengate-server --test service`.
//! No test measures time: what happens "within a few seconds" is polled
//! with a bounded number of retries.

mod auth;
mod browser;
mod cli;
mod common;
mod concurrency;
mod limits;
mod resources;
mod restart;
