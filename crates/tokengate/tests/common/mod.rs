//! Helpers shared by the library's integration tests: base64url and
//! hand-assembled JWS tokens (`jwt`), a fake OpenID provider with the keys
//! and engines its tests use (`issuer`), and an axum app state holding a
//! gate (`app`, feature `axum`).
//!
//! Every test binary compiles the whole module and uses only some of it.
#![allow(dead_code)]

#[cfg(feature = "axum")]
pub(crate) mod app;
pub(crate) mod issuer;
pub(crate) mod jwt;
