//! Revocation: the store trait every backend implements, and the in-memory set.
//!
//! The check runs on every request, so it is synchronous and must not do
//! I/O: backends keep what they need in memory (loaded at start, kept in
//! step by notifications) and persist in [`RevocationStore::revoke`].
//!
//! ```
//! use tokengate::keys::{Algorithm, KeyRing, SigningKey};
//! use tokengate::revocation::{InMemoryRevocations, Revocation, RevocationStore};
//! use tokengate::token::{NewToken, TokenEngine};
//!
//! let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
//! let issued = engine.issue(NewToken::access("alice")).unwrap();
//! let store = InMemoryRevocations::new();
//! store.apply(&Revocation::Token { jti: issued.jti.clone(), expires_at: issued.expires_at });
//! assert!(store.is_revoked(&engine.verify(&issued.token).unwrap().claims));
//! ```

mod memory;

use std::future::Future;
use std::pin::Pin;

pub use memory::InMemoryRevocations;

use crate::claims::Claims;
use crate::token::jti_millis;

/// A boxed future, for the object-safe async methods of the store traits:
/// implementations answer with `Box::pin(async move { ... })`.
///
/// ```
/// use tokengate::revocation::{BoxFuture, StoreError};
///
/// fn ping(up: bool) -> BoxFuture<'static, Result<(), StoreError>> {
///     Box::pin(async move { if up { Ok(()) } else { Err(StoreError("down".into())) } })
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(ping(true).await.is_ok());
/// assert_eq!(ping(false).await.unwrap_err().to_string(), "revocation store: down");
/// # });
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something to revoke.
///
/// ```
/// use tokengate::revocation::{InMemoryRevocations, Revocation};
///
/// let store = InMemoryRevocations::new();
/// store.apply(&Revocation::Token { jti: "j1".into(), expires_at: i64::MAX });
/// store.apply(&Revocation::Family { family: "login-7".into(), expires_at: i64::MAX });
/// assert!(store.is_jti_revoked("j1"));
/// assert!(store.is_family_revoked("login-7"));
/// ```
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

/// A failure of a store's backend (database unreachable, ...). Requests
/// that needed the store answer 503 `store_unavailable`.
///
/// ```
/// use tokengate::Error;
/// use tokengate::revocation::StoreError;
///
/// let err = Error::from(StoreError("connection refused".into()));
/// assert_eq!((err.code(), err.status().as_u16()), ("store_unavailable", 503));
/// ```
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

/// Revokes every token of `sub` issued until now: what logout-all, a
/// password change and the admin's `revoke --user` do, in one place.
///
/// Tokens record their issue time to the millisecond (a UUIDv7 `jti`), and
/// the cut-off is inclusive; this returns only once the clock has stepped
/// past it, so that a token issued right after (the new login of a password
/// change) is on the valid side and one issued in the same millisecond
/// before is not.
///
/// ```
/// use tokengate::claims::Claims;
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::revocation::{InMemoryRevocations, RevocationStore, revoke_all};
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let claims = |engine: &TokenEngine| engine.verify(&engine.issue(NewToken::access("alice")).unwrap().token).unwrap().claims;
/// let store = InMemoryRevocations::new();
/// let before = claims(&engine);
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// revoke_all(&store, "alice").await.unwrap();
/// # });
/// let after = claims(&engine);
/// assert!(store.is_revoked(&before));
/// assert!(!store.is_revoked(&after));
/// ```
#[cfg(feature = "axum")]
pub async fn revoke_all(store: &dyn RevocationStore, sub: &str) -> Result<(), StoreError> {
    let cut = crate::token::now_millis();
    store
        .revoke(Revocation::SubjectBefore {
            sub: sub.to_owned(),
            before_ms: cut,
        })
        .await?;
    while crate::token::now_millis() <= cut {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    Ok(())
}

/// When a token was issued, in milliseconds: from a UUIDv7 `jti` (tokengate's
/// own tokens), else the end of its `iat` second (so that a revoke-all in
/// the same second covers a token whose finer time is unknown).
///
/// ```
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::revocation::issued_millis;
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let claims = engine.verify(&engine.issue(NewToken::access("alice")).unwrap().token).unwrap().claims;
/// assert_eq!(issued_millis(&claims) / 1000, claims.iat.unwrap());
/// ```
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
