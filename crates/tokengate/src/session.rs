//! Logins as refresh-token families: rotation with reuse detection.
//!
//! A password login starts a family; its access and refresh tokens carry the
//! family id in `fam`. Each refresh spends the presented refresh token and
//! issues the next one of the same family. Presenting a spent one again
//! means it was stolen (or replayed): the whole family is revoked.
//!
//! ```
//! use tokengate::session::{InMemorySessions, Rotation, SessionStore};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let logins = InMemorySessions::default();
//! logins.start("fam-1", "alice", "refresh-1", i64::MAX).await.unwrap();
//! assert_eq!(logins.rotate("fam-1", "refresh-1", "refresh-2", i64::MAX).await.unwrap(), Rotation::Rotated);
//! // A thief replays the spent refresh-1: the whole login ends.
//! assert_eq!(logins.rotate("fam-1", "refresh-1", "refresh-3", i64::MAX).await.unwrap(), Rotation::Reused);
//! assert_eq!(logins.rotate("fam-1", "refresh-2", "refresh-4", i64::MAX).await.unwrap(), Rotation::Ended);
//! # });
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use crate::revocation::{BoxFuture, StoreError};

/// What a rotation found: see [`SessionStore::rotate`] and the example of
/// [`InMemorySessions`].
///
/// ```
/// use tokengate::session::{InMemorySessions, Rotation, SessionStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemorySessions::default();
/// assert_eq!(store.rotate("nope", "r1", "r2", i64::MAX).await.unwrap(), Rotation::Ended);
/// store.start("f1", "alice", "r1", i64::MAX).await.unwrap();
/// assert_eq!(store.rotate("f1", "r1", "r2", i64::MAX).await.unwrap(), Rotation::Rotated);
/// assert_eq!(store.rotate("f1", "r1", "r3", i64::MAX).await.unwrap(), Rotation::Reused);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was the family's current one; the next one is now current.
    Rotated,
    /// The presented token was spent already: reuse. The store has ended the family.
    Reused,
    /// No such family, or it has ended.
    Ended,
}

/// Where refresh-token families are kept.
///
/// [`SessionStore::rotate`] must be atomic: of two concurrent rotations of
/// the same token, at most one may see [`Rotation::Rotated`] (in SQL: an
/// `UPDATE ... WHERE family = ? AND current = ? AND NOT ended`, then look
/// at the rows changed).
///
/// ```
/// use std::sync::Arc;
/// use tokengate::axum::TokenGate;
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::revocation::{BoxFuture, StoreError};
/// use tokengate::session::{InMemorySessions, Rotation, SessionStore};
/// use tokengate::token::TokenEngine;
///
/// /// Logins that a real store would keep in its database.
/// #[derive(Default)]
/// struct Logins { memory: InMemorySessions }
/// impl SessionStore for Logins {
///     fn start<'a>(&'a self, family: &'a str, sub: &'a str, jti: &'a str, exp: i64)
///         -> BoxFuture<'a, Result<(), StoreError>> { self.memory.start(family, sub, jti, exp) }
///     fn rotate<'a>(&'a self, family: &'a str, presented: &'a str, next: &'a str, exp: i64)
///         -> BoxFuture<'a, Result<Rotation, StoreError>> { self.memory.rotate(family, presented, next, exp) }
///     fn end<'a>(&'a self, family: &'a str) -> BoxFuture<'a, Result<(), StoreError>> { self.memory.end(family) }
/// }
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let gate = TokenGate::new(engine).with_sessions(Arc::new(Logins::default()));
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// Records a new family whose current refresh token is `jti`.
    fn start<'a>(
        &'a self,
        family: &'a str,
        sub: &'a str,
        jti: &'a str,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// If `presented` is the family's current token, makes `next` current.
    /// If the family lives but `presented` is not current, ends the family
    /// and answers [`Rotation::Reused`].
    fn rotate<'a>(
        &'a self,
        family: &'a str,
        presented: &'a str,
        next: &'a str,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>>;

    /// Ends a family (logout).
    fn end<'a>(&'a self, family: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

#[derive(Debug)]
struct Family {
    current: String,
    ended: bool,
}

/// Families in memory: for tests and single-process applications that
/// accept losing logins on restart.
///
/// ```
/// use tokengate::session::{InMemorySessions, Rotation, SessionStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemorySessions::default();
/// store.start("f1", "alice", "r1", i64::MAX).await.unwrap();
/// assert_eq!(store.rotate("f1", "r1", "r2", i64::MAX).await.unwrap(), Rotation::Rotated);
/// assert_eq!(store.rotate("f1", "r1", "r3", i64::MAX).await.unwrap(), Rotation::Reused);
/// assert_eq!(store.rotate("f1", "r2", "r4", i64::MAX).await.unwrap(), Rotation::Ended);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemorySessions {
    families: Mutex<HashMap<String, Family>>,
}

impl InMemorySessions {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Family>) -> T) -> T {
        f(&mut self.families.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl SessionStore for InMemorySessions {
    fn start<'a>(
        &'a self,
        family: &'a str,
        _sub: &'a str,
        jti: &'a str,
        _exp: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|m| {
            m.insert(
                family.to_owned(),
                Family {
                    current: jti.to_owned(),
                    ended: false,
                },
            )
        });
        Box::pin(async { Ok(()) })
    }

    fn rotate<'a>(
        &'a self,
        family: &'a str,
        presented: &'a str,
        next: &'a str,
        _exp: i64,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        let outcome = self.with(|m| match m.get_mut(family) {
            None => Rotation::Ended,
            Some(f) if f.ended => Rotation::Ended,
            Some(f) if f.current == presented => {
                f.current = next.to_owned();
                Rotation::Rotated
            }
            Some(f) => {
                f.ended = true;
                Rotation::Reused
            }
        });
        Box::pin(async move { Ok(outcome) })
    }

    fn end<'a>(&'a self, family: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|m| {
            if let Some(f) = m.get_mut(family) {
                f.ended = true;
            }
        });
        Box::pin(async { Ok(()) })
    }
}
