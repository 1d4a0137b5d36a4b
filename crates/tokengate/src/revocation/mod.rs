//! Revocation: the store trait every backend implements, and the in-memory set.
//!
//! The check runs on every request, so it is synchronous and must not do
//! I/O: backends keep what they need in memory (loaded at start, kept in
//! step by notifications) and persist in [`RevocationStore::revoke`].

mod memory;

use std::future::Future;
use std::pin::Pin;

pub use memory::InMemoryRevocations;

use crate::claims::Claims;
use crate::token::jti_millis;

/// A boxed future, for the object-safe async methods of the store traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One token, by `jti`, kept until it would have expired anyway.
    Token {
        /// The token's `jti`.
        jti: String,
        /// Its `exp`: after this the entry can be purged.
        expires_at: i64,
    },
    /// Every token of one login (refresh-token family, the `fam` claim):
    /// logout, and refresh-token reuse.
    Family {
        /// The family id.
        family: String,
        /// When the family's last refresh token expires: after this the entry can be purged.
        expires_at: i64,
    },
    /// Every token of `sub` issued at or before `before_ms` (milliseconds
    /// since the epoch): logout everywhere, password change.
    SubjectBefore {
        /// The subject.
        sub: String,
        /// The cut-off, in milliseconds.
        before_ms: i64,
    },
}

/// A failure of a store's backend (database unreachable, ...).
#[derive(Debug, thiserror::Error)]
#[error("revocation store: {0}")]
pub struct StoreError(pub String);

/// Where revocations are kept.
///
/// ```
/// use tokengate::revocation::{InMemoryRevocations, Revocation, RevocationStore};
///
/// # tokio_test_block(async {
/// let store = InMemoryRevocations::new();
/// store.revoke(Revocation::Token { jti: "j1".into(), expires_at: i64::MAX }).await.unwrap();
/// assert!(store.is_jti_revoked("j1"));
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub trait RevocationStore: Send + Sync + 'static {
    /// Whether a verified token is revoked. Runs on every request: in memory only.
    fn is_revoked(&self, claims: &Claims) -> bool;

    /// Records a revocation durably; `Ok` means it survives a restart (for
    /// persistent backends) and is honoured by every instance.
    fn revoke(&self, revocation: Revocation) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// When a token was issued, in milliseconds: from a UUIDv7 `jti` (tokengate's
/// own tokens), else the end of its `iat` second (so that a revoke-all in
/// the same second covers a token whose finer time is unknown).
pub fn issued_millis(claims: &Claims) -> i64 {
    claims
        .jti
        .as_deref()
        .and_then(jti_millis)
        .map(|ms| ms as i64)
        .or_else(|| {
            claims
                .iat
                .map(|iat| iat.saturating_mul(1000).saturating_add(999))
        })
        .unwrap_or(i64::MIN)
}
