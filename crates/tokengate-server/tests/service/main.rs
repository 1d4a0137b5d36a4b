//! Black-box tests of the tokengate service: each test starts the real
//! `tokengate` binary on 127.0.0.1:0 with its own data directory, reads the
//! address it prints, and drives it over HTTP (and the admin CLI).
//!
//! Run: `cargo build -p tokengate-server && cargo nextest run -p tokengate-server --test service`.
//! `TOKENGATE_TEST_DATABASE=postgres` runs them on PostgreSQL (127.0.0.1:5432,
//! user `postgres`), a fresh database per test; the `cluster` tests always
//! need PostgreSQL and Redis (127.0.0.1:6379); the `trusted_issuers` tests
//! and `oidc_login` tests need Node 20+ with `npm ci --prefix
//! testing/oidc-provider` done (the other OIDC tests use a provider of their
//! own, `fake_oidc`); `browser_demo` needs `/usr/bin/chromium`
//! (scripts/install-chromium.sh) and `npm ci --prefix testing/browser`;
//! `standards` builds a virtualenv with Authlib from PyPI (python3 with
//! `venv`, as the library's Python interop test does).
//! No test measures speed: what happens "within a few seconds" is polled
//! with a bounded number of retries. The one exception is the issue's own
//! bound for revocations between instances (`cluster`: 1 s with Redis).

mod attacks;
mod auth;
mod browser;
mod browser_demo;
mod cli;
mod cluster;
mod common;
mod concurrency;
mod dpop;
mod fake_oidc;
mod files;
mod forward_auth;
mod limits;
mod logs;
mod memos;
mod metrics;
mod oidc_attacks;
mod oidc_login;
mod oidc_provider;
mod oidc_redirects;
mod openapi;
mod package;
mod passkeys;
mod proxy;
mod resources;
mod restart;
mod rp;
mod secrets;
mod sessions;
mod standards;
mod trusted_issuers;
mod verify;
