//! Logins: a *login* is one refresh-token family, rotated with reuse
//! detection.
//!
//! A password login starts a login; its access and refresh tokens carry its
//! [`LoginId`] in `fam`. Each refresh spends the presented refresh token and
//! issues the next one of the same login. Presenting a spent one again
//! means it was stolen (or replayed): the whole login is revoked. (The
//! service's *browser session* is a login whose tokens travel in cookies.)
//!
//! ```
//! use tokengate::clock::Timestamp;
//! use tokengate::ids::{LoginId, Subject, TokenId};
//! use tokengate::login::{InMemoryLogins, LoginStore, Rotation};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let logins = InMemoryLogins::default();
//! let (login, never) = (LoginId::from("login-1"), Timestamp::from_millis(i64::MAX));
//! let [r1, r2, r3, r4] = ["refresh-1", "refresh-2", "refresh-3", "refresh-4"].map(TokenId::from);
//! logins.start(&login, &Subject::from("alice"), &r1, never).await.unwrap();
//! assert_eq!(logins.rotate(&login, &r1, &r2, never).await.unwrap(), Rotation::Rotated);
//! // A thief replays the spent refresh-1: the whole login ends.
//! assert_eq!(logins.rotate(&login, &r1, &r3, never).await.unwrap(), Rotation::Reused);
//! assert_eq!(logins.rotate(&login, &r2, &r4, never).await.unwrap(), Rotation::Ended);
//! # });
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Timestamp;
use crate::ids::{LoginId, Subject, TokenId};
use crate::revocation::{BoxFuture, StoreError};

/// What a rotation found: see [`LoginStore::rotate`].
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::ids::{LoginId, TokenId};
/// use tokengate::login::{InMemoryLogins, LoginStore, Rotation};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryLogins::default();
/// let (r1, r2) = (TokenId::from("r1"), TokenId::from("r2"));
/// let never = Timestamp::from_millis(i64::MAX);
/// assert_eq!(store.rotate(&LoginId::from("nope"), &r1, &r2, never).await.unwrap(), Rotation::Ended);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was the login's current one; the next one is now current.
    Rotated,
    /// The presented token was spent already: reuse. The store has ended the login.
    Reused,
    /// No such login, or it has ended.
    Ended,
}

/// Where logins (refresh-token families) are kept.
///
/// [`LoginStore::rotate`] must be atomic: of two concurrent rotations of
/// the same token, at most one may see [`Rotation::Rotated`] (in SQL: an
/// `UPDATE ... WHERE login = ? AND current = ? AND NOT ended`, then look
/// at the rows changed).
///
/// ```
/// use std::sync::Arc;
/// use tokengate::axum::TokenGate;
/// use tokengate::clock::Timestamp;
/// use tokengate::ids::{LoginId, Subject, TokenId};
/// use tokengate::keys::Algorithm;
/// use tokengate::login::{InMemoryLogins, LoginStore, Rotation};
/// use tokengate::revocation::{BoxFuture, StoreError};
///
/// /// Logins that a real store would keep in its database.
/// #[derive(Default)]
/// struct Logins { memory: InMemoryLogins }
/// impl LoginStore for Logins {
///     fn start<'a>(&'a self, login: &'a LoginId, subject: &'a Subject, refresh: &'a TokenId, expires_at: Timestamp)
///         -> BoxFuture<'a, Result<(), StoreError>> { self.memory.start(login, subject, refresh, expires_at) }
///     fn rotate<'a>(&'a self, login: &'a LoginId, presented: &'a TokenId, next: &'a TokenId, expires_at: Timestamp)
///         -> BoxFuture<'a, Result<Rotation, StoreError>> { self.memory.rotate(login, presented, next, expires_at) }
///     fn end<'a>(&'a self, login: &'a LoginId) -> BoxFuture<'a, Result<(), StoreError>> { self.memory.end(login) }
/// }
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap().with_logins(Arc::new(Logins::default()));
/// ```
pub trait LoginStore: Send + Sync + 'static {
    /// Records a new login of `subject` whose current refresh token is
    /// `refresh`, kept until `expires_at`.
    fn start<'a>(
        &'a self,
        login: &'a LoginId,
        subject: &'a Subject,
        refresh: &'a TokenId,
        expires_at: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// If `presented` is the login's current refresh token, makes `next`
    /// current (kept until `expires_at`). If the login lives but
    /// `presented` is not current, ends the login and answers
    /// [`Rotation::Reused`].
    fn rotate<'a>(
        &'a self,
        login: &'a LoginId,
        presented: &'a TokenId,
        next: &'a TokenId,
        expires_at: Timestamp,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>>;

    /// Ends a login (logout).
    fn end<'a>(&'a self, login: &'a LoginId) -> BoxFuture<'a, Result<(), StoreError>>;
}

#[derive(Debug)]
struct Family {
    current: TokenId,
    ended: bool,
}

/// Logins in memory: for tests and single-process applications that
/// accept losing logins on restart.
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::ids::{LoginId, Subject, TokenId};
/// use tokengate::login::{InMemoryLogins, LoginStore, Rotation};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryLogins::default();
/// let (login, never) = (LoginId::from("l1"), Timestamp::from_millis(i64::MAX));
/// let [r1, r2, r3] = ["r1", "r2", "r3"].map(TokenId::from);
/// store.start(&login, &Subject::from("alice"), &r1, never).await.unwrap();
/// assert_eq!(store.rotate(&login, &r1, &r2, never).await.unwrap(), Rotation::Rotated);
/// assert_eq!(store.rotate(&login, &r1, &r3, never).await.unwrap(), Rotation::Reused);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryLogins {
    logins: Mutex<HashMap<LoginId, Family>>,
}

impl InMemoryLogins {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<LoginId, Family>) -> T) -> T {
        f(&mut self.logins.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl LoginStore for InMemoryLogins {
    fn start<'a>(
        &'a self,
        login: &'a LoginId,
        _subject: &'a Subject,
        refresh: &'a TokenId,
        _expires_at: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|m| {
            m.insert(
                login.clone(),
                Family {
                    current: refresh.clone(),
                    ended: false,
                },
            )
        });
        Box::pin(async { Ok(()) })
    }

    fn rotate<'a>(
        &'a self,
        login: &'a LoginId,
        presented: &'a TokenId,
        next: &'a TokenId,
        _expires_at: Timestamp,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        let outcome = self.with(|m| match m.get_mut(login) {
            None => Rotation::Ended,
            Some(f) if f.ended => Rotation::Ended,
            Some(f) if f.current == *presented => {
                f.current = next.clone();
                Rotation::Rotated
            }
            Some(f) => {
                f.ended = true;
                Rotation::Reused
            }
        });
        Box::pin(async move { Ok(outcome) })
    }

    fn end<'a>(&'a self, login: &'a LoginId) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|m| {
            if let Some(f) = m.get_mut(login) {
                f.ended = true;
            }
        });
        Box::pin(async { Ok(()) })
    }
}
