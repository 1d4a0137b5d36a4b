//! Revocations held in memory: the hot-path set of every backend.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{BoxFuture, Revocation, RevocationStore, StoreError, issued_millis};
use crate::claims::Claims;

/// Revoked `jti`s and per-subject cut-offs, in memory.
///
/// Used alone it is the store of a single process that may forget on
/// restart; persistent backends wrap it as their in-memory view.
///
/// ```
/// use tokengate::revocation::{InMemoryRevocations, Revocation};
///
/// let store = InMemoryRevocations::new();
/// store.apply(&Revocation::SubjectBefore { sub: "alice".into(), before_ms: 5_000 });
/// assert!(store.is_subject_revoked_at("alice", 4_999));
/// assert!(!store.is_subject_revoked_at("alice", 5_001));
/// ```
#[derive(Debug, Default)]
pub struct InMemoryRevocations {
    jtis: RwLock<HashMap<String, i64>>,
    families: RwLock<HashMap<String, i64>>,
    subjects: RwLock<HashMap<String, i64>>,
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
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::SubjectBefore { sub: "bob".into(), before_ms: 2_000 });
    /// store.apply(&Revocation::SubjectBefore { sub: "bob".into(), before_ms: 1_000 }); // the later cut-off stays
    /// assert!(store.is_subject_revoked_at("bob", 1_500));
    /// ```
    pub fn apply(&self, revocation: &Revocation) {
        match revocation {
            Revocation::Token { jti, expires_at } => {
                write(&self.jtis).insert(jti.clone(), *expires_at);
            }
            Revocation::Family { family, expires_at } => {
                write(&self.families).insert(family.clone(), *expires_at);
            }
            Revocation::SubjectBefore { sub, before_ms } => {
                let mut subjects = write(&self.subjects);
                let cut = subjects.entry(sub.clone()).or_insert(*before_ms);
                *cut = (*cut).max(*before_ms);
            }
        }
    }

    /// Whether this `jti` is revoked.
    ///
    /// ```
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::Token { jti: "j1".into(), expires_at: i64::MAX });
    /// assert!(store.is_jti_revoked("j1"));
    /// assert!(!store.is_jti_revoked("j2"));
    /// ```
    pub fn is_jti_revoked(&self, jti: &str) -> bool {
        read(&self.jtis).contains_key(jti)
    }

    /// Whether this login (refresh-token family) is revoked.
    ///
    /// ```
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::Family { family: "login-1".into(), expires_at: i64::MAX });
    /// assert!(store.is_family_revoked("login-1"));
    /// assert!(!store.is_family_revoked("login-2"));
    /// ```
    pub fn is_family_revoked(&self, family: &str) -> bool {
        read(&self.families).contains_key(family)
    }

    /// Whether a token of `sub` issued at `issued_ms` predates the subject's cut-off.
    ///
    /// ```
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::SubjectBefore { sub: "alice".into(), before_ms: 1_000 });
    /// assert!(store.is_subject_revoked_at("alice", 1_000)); // at the cut-off: revoked
    /// assert!(!store.is_subject_revoked_at("alice", 1_001));
    /// assert!(!store.is_subject_revoked_at("bob", 0));
    /// ```
    pub fn is_subject_revoked_at(&self, sub: &str, issued_ms: i64) -> bool {
        read(&self.subjects)
            .get(sub)
            .is_some_and(|&cut| issued_ms <= cut)
    }

    /// Drops `jti` and family entries whose tokens expired before `now`,
    /// returning how many; call it now and then.
    ///
    /// ```
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::Token { jti: "old".into(), expires_at: 100 });
    /// store.apply(&Revocation::Token { jti: "new".into(), expires_at: 300 });
    /// assert_eq!(store.purge_expired(200), 1);
    /// assert_eq!(store.len(), 1);
    /// assert!(store.is_jti_revoked("new"));
    /// ```
    pub fn purge_expired(&self, now: i64) -> usize {
        [&self.jtis, &self.families]
            .into_iter()
            .map(|lock| {
                let mut map = write(lock);
                let before = map.len();
                map.retain(|_, &mut exp| exp >= now);
                before - map.len()
            })
            .sum()
    }

    /// Number of revoked `jti`s held.
    ///
    /// ```
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// store.apply(&Revocation::Token { jti: "j1".into(), expires_at: i64::MAX });
    /// store.apply(&Revocation::Family { family: "f1".into(), expires_at: i64::MAX }); // not counted
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        read(&self.jtis).len()
    }

    /// Whether no `jti` is held.
    ///
    /// ```
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = InMemoryRevocations::new();
    /// assert!(store.is_empty());
    /// store.apply(&Revocation::Token { jti: "j1".into(), expires_at: i64::MAX });
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
        let family_revoked = claims
            .family
            .as_deref()
            .is_some_and(|f| self.is_family_revoked(f));
        if jti_revoked || family_revoked {
            return true;
        }
        match &claims.sub {
            Some(sub) => self.is_subject_revoked_at(sub, issued_millis(claims)),
            None => false,
        }
    }

    fn revoke(&self, revocation: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        self.apply(&revocation);
        Box::pin(async { Ok(()) })
    }
}
