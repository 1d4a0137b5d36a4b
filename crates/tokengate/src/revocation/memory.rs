//! Revocations held in memory: the hot-path set of every backend.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{BoxFuture, Revocation, RevocationStore, StoreError, issued_at};
use crate::claims::Claims;
use crate::clock::Timestamp;
use crate::ids::{LoginId, Subject, TokenId};

/// Revoked `jti`s and per-subject cut-offs, in memory.
///
/// Used alone it is the store of a single process that may forget on
/// restart; persistent backends wrap it as their in-memory view.
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::revocation::{InMemoryRevocations, Revocation};
///
/// let store = InMemoryRevocations::new();
/// store.apply(&Revocation::SubjectBefore { subject: "alice".into(), before: Timestamp::from_millis(5_000) });
/// assert!(store.is_subject_revoked_at("alice", Timestamp::from_millis(4_999)));
/// assert!(!store.is_subject_revoked_at("alice", Timestamp::from_millis(5_001)));
/// ```
#[derive(Debug, Default)]
pub struct InMemoryRevocations {
    jtis: RwLock<HashMap<TokenId, Timestamp>>,
    logins: RwLock<HashMap<LoginId, Timestamp>>,
    subjects: RwLock<HashMap<Subject, Timestamp>>,
}

impl InMemoryRevocations {
    /// An empty set.
    ///
    /// ```
    /// use tokengate::revocation::InMemoryRevocations;
    ///
    /// let store = InMemoryRevocations::new();
    /// assert!(store.is_empty() && !store.is_jti_revoked("j1"));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a revocation to the in-memory view.
    ///
    /// ```
    /// use tokengate::clock::Timestamp;
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// let cut = |ms| Revocation::SubjectBefore { subject: "bob".into(), before: Timestamp::from_millis(ms) };
    /// store.apply(&cut(2_000));
    /// store.apply(&cut(1_000)); // the later cut-off stays
    /// assert!(store.is_subject_revoked_at("bob", Timestamp::from_millis(1_500)));
    /// ```
    pub fn apply(&self, revocation: &Revocation) {
        match revocation {
            Revocation::Token { jti, expires_at } => {
                write(&self.jtis).insert(jti.clone(), *expires_at);
            }
            Revocation::Login { login, expires_at } => {
                write(&self.logins).insert(login.clone(), *expires_at);
            }
            Revocation::SubjectBefore { subject, before } => {
                let mut subjects = write(&self.subjects);
                let cut = subjects.entry(subject.clone()).or_insert(*before);
                *cut = (*cut).max(*before);
            }
        }
    }

    /// Whether this `jti` is revoked.
    ///
    /// ```
    /// use tokengate::clock::Timestamp;
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::Token { jti: "j1".into(), expires_at: Timestamp::from_secs(i64::MAX) });
    /// assert!(store.is_jti_revoked("j1"));
    /// assert!(!store.is_jti_revoked("j2"));
    /// ```
    pub fn is_jti_revoked(&self, jti: &str) -> bool {
        read(&self.jtis).contains_key(jti)
    }

    /// Whether this login (refresh-token family) is revoked.
    ///
    /// ```
    /// use tokengate::clock::Timestamp;
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::Login { login: "login-1".into(), expires_at: Timestamp::from_secs(i64::MAX) });
    /// assert!(store.is_login_revoked("login-1"));
    /// assert!(!store.is_login_revoked("login-2"));
    /// ```
    pub fn is_login_revoked(&self, login: &str) -> bool {
        read(&self.logins).contains_key(login)
    }

    /// Whether a token of `subject` issued at `issued` predates the subject's cut-off.
    ///
    /// ```
    /// use tokengate::clock::Timestamp;
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// let ms = Timestamp::from_millis;
    /// store.apply(&Revocation::SubjectBefore { subject: "alice".into(), before: ms(1_000) });
    /// assert!(store.is_subject_revoked_at("alice", ms(1_000))); // at the cut-off: revoked
    /// assert!(!store.is_subject_revoked_at("alice", ms(1_001)));
    /// assert!(!store.is_subject_revoked_at("bob", ms(0)));
    /// ```
    pub fn is_subject_revoked_at(&self, subject: &str, issued: Timestamp) -> bool {
        read(&self.subjects)
            .get(subject)
            .is_some_and(|&cut| issued <= cut)
    }

    /// Drops `jti` and login entries whose tokens expired before `now`,
    /// returning how many; call it now and then.
    ///
    /// ```
    /// use tokengate::clock::Timestamp;
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::Token { jti: "old".into(), expires_at: Timestamp::from_secs(100) });
    /// store.apply(&Revocation::Token { jti: "new".into(), expires_at: Timestamp::from_secs(300) });
    /// assert_eq!(store.purge_expired(Timestamp::from_secs(200)), 1);
    /// assert_eq!(store.len(), 1);
    /// assert!(store.is_jti_revoked("new"));
    /// ```
    pub fn purge_expired(&self, now: Timestamp) -> usize {
        fn purge<K>(lock: &RwLock<HashMap<K, Timestamp>>, now: Timestamp) -> usize {
            let mut map = write(lock);
            let before = map.len();
            map.retain(|_, &mut exp| exp >= now);
            before - map.len()
        }
        purge(&self.jtis, now) + purge(&self.logins, now)
    }

    /// Number of revoked `jti`s held.
    ///
    /// ```
    /// use tokengate::clock::Timestamp;
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// let never = Timestamp::from_secs(i64::MAX);
    /// store.apply(&Revocation::Token { jti: "j1".into(), expires_at: never });
    /// store.apply(&Revocation::Login { login: "l1".into(), expires_at: never }); // not counted
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        read(&self.jtis).len()
    }

    /// Whether no `jti` is held.
    ///
    /// ```
    /// use tokengate::clock::Timestamp;
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// assert!(store.is_empty());
    /// store.apply(&Revocation::Token { jti: "j1".into(), expires_at: Timestamp::from_secs(i64::MAX) });
    /// assert!(!store.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// A poisoned lock only means another thread panicked mid-insert of a plain
// map entry; the data is still a valid set, so keep serving it.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl RevocationStore for InMemoryRevocations {
    fn is_revoked(&self, claims: &Claims) -> bool {
        let jti_revoked = claims
            .jti
            .as_deref()
            .is_some_and(|jti| self.is_jti_revoked(jti));
        let login_revoked = claims
            .family
            .as_deref()
            .is_some_and(|login| self.is_login_revoked(login));
        if jti_revoked || login_revoked {
            return true;
        }
        match &claims.sub {
            Some(sub) => self.is_subject_revoked_at(sub, issued_at(claims)),
            None => false,
        }
    }

    fn revoke(&self, revocation: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        self.apply(&revocation);
        Box::pin(async { Ok(()) })
    }
}
