//! Revocation: the store trait every backend implements, and the in-memory set.
//!
//! The check runs on every request, so it is synchronous and must not do
//! I/O: backends keep what they need in memory (loaded at start, kept in
//! step by notifications) and persist in [`RevocationStore::revoke`]. A
//! backend that loads its set in the background says so with
//! [`RevocationStore::is_complete`]; until it is, the gate asks
//! [`RevocationStore::lookup`] (the durable record) about every token the
//! in-memory set does not refuse, so that a restart neither refuses a good
//! token nor accepts a revoked one while it loads.
//!
//! ```
//! use tokengate::keys::{Algorithm, KeyRing, SigningKey};
//! use tokengate::revocation::{InMemoryRevocations, Revocation, RevocationStore};
//! use tokengate::token::{NewToken, TokenEngine};
//!
//! let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
//! let issued = engine.issue(NewToken::access("alice")).unwrap();
//! let store = InMemoryRevocations::new();
//! store.apply(&Revocation::token(&issued));
//! assert!(store.is_revoked(&engine.verify(&issued.token).unwrap().claims));
//! ```

mod memory;

use std::future::Future;
use std::pin::Pin;

pub use memory::InMemoryRevocations;

use crate::claims::Claims;
#[cfg(feature = "axum")]
use crate::clock::Clock;
use crate::clock::Timestamp;
use crate::ids::{LoginId, Subject, TokenId};
use crate::token::{IssuedToken, jti_millis};

/// A boxed future, for the object-safe async methods of the store traits:
/// implementations answer with `Box::pin(async move { ... })`.
///
/// ```
/// use tokengate::revocation::{BoxFuture, StoreError};
///
/// fn ping(up: bool) -> BoxFuture<'static, Result<(), StoreError>> {
///     Box::pin(async move { if up { Ok(()) } else { Err(StoreError::new("down")) } })
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(ping(true).await.is_ok());
/// assert_eq!(ping(false).await.unwrap_err().to_string(), "the store failed");
/// # });
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something to revoke.
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::revocation::{InMemoryRevocations, Revocation};
///
/// let store = InMemoryRevocations::new();
/// let never = Timestamp::from_secs(i64::MAX);
/// store.apply(&Revocation::Token { jti: "j1".into(), expires_at: never });
/// store.apply(&Revocation::Login { login: "login-7".into(), expires_at: never });
/// assert!(store.is_jti_revoked("j1"));
/// assert!(store.is_login_revoked("login-7"));
/// ```
// Not `#[non_exhaustive]` on purpose: a store must persist every kind, so a
// new kind should fail to compile in each store, not fall into a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One token, by `jti`, kept until it would have expired anyway.
    Token {
        /// The token's `jti`.
        jti: TokenId,
        /// Its `exp`: after this the entry can be purged.
        expires_at: Timestamp,
    },
    /// Every token of one login (refresh-token family, the `fam` claim):
    /// logout, and refresh-token reuse.
    Login {
        /// The login.
        login: LoginId,
        /// When the login's last refresh token expires: after this the entry can be purged.
        expires_at: Timestamp,
    },
    /// Every token of `subject` issued at or before `before`: logout
    /// everywhere, password change.
    SubjectBefore {
        /// The subject.
        subject: Subject,
        /// The cut-off (inclusive).
        before: Timestamp,
    },
}

impl Revocation {
    /// Revokes one issued token, until it would expire.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::revocation::Revocation;
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice")).unwrap();
    /// let Revocation::Token { jti, expires_at } = Revocation::token(&issued) else { unreachable!() };
    /// assert_eq!((jti, expires_at.as_secs()), (issued.jti, issued.expires_at));
    /// ```
    pub fn token(issued: &IssuedToken) -> Self {
        Revocation::Token {
            jti: issued.jti.clone(),
            expires_at: Timestamp::from_secs(issued.expires_at),
        }
    }
}

/// A failure of a store's backend (database unreachable, ...), keeping its
/// cause. Requests that needed the store answer 503 `store_unavailable`;
/// the cause goes to the log, never to the client.
///
/// ```
/// use std::error::Error as _;
/// use tokengate::Error;
/// use tokengate::revocation::StoreError;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
/// let err = Error::from(StoreError::new(io));
/// assert_eq!((err.code(), err.status().as_u16()), ("store_unavailable", 503));
/// let store = err.source().unwrap();
/// assert_eq!(store.to_string(), "the store failed");
/// assert_eq!(store.source().unwrap().to_string(), "connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the store failed")]
pub struct StoreError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// A store failure caused by `source` (a driver's error, or a message).
    ///
    /// ```
    /// use tokengate::revocation::StoreError;
    ///
    /// use std::error::Error as _;
    ///
    /// let err = StoreError::new("down");
    /// assert_eq!(err.source().unwrap().to_string(), "down");
    /// ```
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Where revocations are kept.
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::revocation::{InMemoryRevocations, Revocation, RevocationStore};
///
/// # tokio_test_block(async {
/// let store = InMemoryRevocations::new();
/// let never = Timestamp::from_secs(i64::MAX);
/// store.revoke(Revocation::Token { jti: "j1".into(), expires_at: never }).await.unwrap();
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

    /// Whether [`RevocationStore::is_revoked`] knows every revocation. A
    /// store that loads its set after the service has started answers
    /// `false` until the load is done; the default, `true`, suits a store
    /// that is complete from the start.
    ///
    /// ```
    /// use tokengate::revocation::{InMemoryRevocations, RevocationStore};
    ///
    /// assert!(InMemoryRevocations::new().is_complete());
    /// ```
    fn is_complete(&self) -> bool {
        true
    }

    /// Whether a verified token is revoked, from the durable record: what
    /// [`TokenGate`](crate::axum::TokenGate) asks, per request, while the
    /// store [is not complete](RevocationStore::is_complete) and
    /// [`RevocationStore::is_revoked`] did not refuse the token. The
    /// default answers from memory.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::revocation::{InMemoryRevocations, Revocation, RevocationStore};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice")).unwrap();
    /// let claims = engine.verify(&issued.token).unwrap().claims;
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::token(&issued));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert!(store.lookup(&claims).await.unwrap());
    /// # });
    /// ```
    fn lookup<'a>(&'a self, claims: &'a Claims) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(self.is_revoked(claims))))
    }
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
/// use tokengate::clock::Clock;
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::revocation::{InMemoryRevocations, RevocationStore, revoke_all};
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let claims = |engine: &TokenEngine| engine.verify(&engine.issue(NewToken::access("alice")).unwrap().token).unwrap().claims;
/// let store = InMemoryRevocations::new();
/// let before = claims(&engine);
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// revoke_all(&store, &"alice".into(), engine.clock()).await.unwrap();
/// # });
/// let after = claims(&engine);
/// assert!(store.is_revoked(&before));
/// assert!(!store.is_revoked(&after));
/// ```
#[cfg(feature = "axum")]
pub async fn revoke_all(
    store: &dyn RevocationStore,
    subject: &Subject,
    clock: &Clock,
) -> Result<(), StoreError> {
    let cut = clock.now();
    store
        .revoke(Revocation::SubjectBefore {
            subject: subject.clone(),
            before: cut,
        })
        .await?;
    clock.pass(cut).await;
    Ok(())
}

/// When a token was issued, to the millisecond: from a UUIDv7 `jti`
/// (tokengate's own tokens), else the end of its `iat` second (so that a
/// revoke-all in the same second covers a token whose finer time is
/// unknown).
///
/// ```
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::revocation::issued_at;
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let claims = engine.verify(&engine.issue(NewToken::access("alice")).unwrap().token).unwrap().claims;
/// assert_eq!(issued_at(&claims).as_secs(), claims.iat.unwrap());
/// ```
pub fn issued_at(claims: &Claims) -> Timestamp {
    let ms = claims
        .jti
        .as_deref()
        .and_then(jti_millis)
        .map(|ms| ms as i64)
        .or_else(|| {
            claims
                .iat
                .map(|iat| iat.saturating_mul(1000).saturating_add(999))
        })
        .unwrap_or(i64::MIN);
    Timestamp::from_millis(ms)
}
