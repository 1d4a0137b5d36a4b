//! Revocations held in memory: the hot-path set of every backend.

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use std::collections::HashMap;

use super::{BoxFuture, Revocation, RevocationStore, StoreError, issued_at};
use crate::claims::Claims;
use crate::clock::Timestamp;
use crate::ids::Subject;

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
    // One lock for the three sets: a request's check takes it once. Sharded
    // by thread: checks on different cores write no common lock word.
    sets: ShardedLock<Sets>,
}

/// The hasher of the sets: keyed per map (random seeds), and a few times
/// cheaper than SipHash on 16-byte keys. The keys are not an attacker's
/// to choose freely: token and login ids are made by the issuer, and a
/// subject gets an entry only from its own logout-all or an admin.
type Hasher = foldhash::fast::RandomState;

#[derive(Debug, Default)]
struct Sets {
    jtis: IdMap,
    logins: IdMap,
    subjects: HashMap<Subject, Timestamp, Hasher>,
}

/// Ids and their expiry, compactly: an id in the canonical UUID form
/// (lowercase, hyphenated: what tokengate issues as `jti` and login id) is
/// kept as its 16 bytes, 24 bytes an entry with its expiry instead of a
/// string's 36 bytes on the heap plus its pointer, length and capacity;
/// any other id (another issuer's `jti`) as its text. Only the canonical
/// spelling is packed, so two spellings of one UUID stay two ids.
#[derive(Debug, Default)]
struct IdMap {
    uuids: HashMap<[u8; 16], Timestamp, Hasher>,
    others: HashMap<Box<str>, Timestamp, Hasher>,
}

impl IdMap {
    /// The 16 bytes of `id` if it is a UUID in canonical form.
    fn packed(id: &str) -> Option<[u8; 16]> {
        crate::ids::canonical_uuid(id)
    }

    fn insert(&mut self, id: &str, expires_at: Timestamp) {
        match Self::packed(id) {
            Some(bytes) => self.uuids.insert(bytes, expires_at),
            None => self.others.insert(id.into(), expires_at),
        };
    }

    fn contains(&self, id: &str) -> bool {
        self.contains_packed(id, Self::packed(id))
    }

    /// [`IdMap::contains`] of an id whose bytes were read already.
    fn contains_packed(&self, id: &str, packed: Option<[u8; 16]>) -> bool {
        match packed {
            Some(bytes) => self.uuids.contains_key(&bytes),
            None => self.others.contains_key(id),
        }
    }

    /// Drops the entries that expired before `now`; how many.
    fn purge(&mut self, now: Timestamp) -> usize {
        let before = self.len();
        self.uuids.retain(|_, &mut exp| exp >= now);
        self.others.retain(|_, &mut exp| exp >= now);
        before - self.len()
    }

    fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }
}

impl Sets {
    /// Whether a token of `subject` issued at `issued` predates its
    /// cut-off; `issued` is read only for a subject that has one.
    fn revoked_subject(&self, subject: &str, issued: impl FnOnce() -> Timestamp) -> bool {
        !self.subjects.is_empty()
            && self
                .subjects
                .get(subject)
                .is_some_and(|&cut| issued() <= cut)
    }
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
        let mut sets = write(&self.sets);
        match revocation {
            Revocation::Token { jti, expires_at } => {
                sets.jtis.insert(jti.as_str(), *expires_at);
            }
            Revocation::Login { login, expires_at } => {
                sets.logins.insert(login.as_str(), *expires_at);
            }
            Revocation::SubjectBefore { subject, before } => {
                let cut = sets.subjects.entry(subject.clone()).or_insert(*before);
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
        read(&self.sets).jtis.contains(jti)
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
        read(&self.sets).logins.contains(login)
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
        read(&self.sets).revoked_subject(subject, || issued)
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
        let mut sets = write(&self.sets);
        sets.jtis.purge(now) + sets.logins.purge(now)
    }

    /// Makes room for `tokens` more revoked `jti`s and `logins` more ended
    /// logins (UUIDs, the ids tokengate issues), for a load whose size is
    /// known: the sets then grow once instead of doubling as they fill, and
    /// no outgrown table is freed along the way (at a million entries, a
    /// 25 MB one that the allocator may keep).
    ///
    /// ```
    /// use tokengate::revocation::InMemoryRevocations;
    ///
    /// let store = InMemoryRevocations::new();
    /// store.reserve(1_000, 10);
    /// assert!(store.is_empty());
    /// ```
    pub fn reserve(&self, tokens: usize, logins: usize) {
        let mut sets = write(&self.sets);
        sets.jtis.uuids.reserve(tokens);
        sets.logins.uuids.reserve(logins);
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
        read(&self.sets).jtis.len()
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
fn read<T>(lock: &ShardedLock<T>) -> ShardedLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &ShardedLock<T>) -> ShardedLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl RevocationStore for InMemoryRevocations {
    fn is_revoked(&self, claims: &Claims) -> bool {
        let sets = read(&self.sets);
        claims
            .jti
            .as_ref()
            .is_some_and(|jti| sets.jtis.contains_packed(jti, jti.uuid_bytes()))
            || claims
                .family
                .as_ref()
                .is_some_and(|login| sets.logins.contains_packed(login, login.uuid_bytes()))
            || claims
                .sub
                .as_deref()
                .is_some_and(|sub| sets.revoked_subject(sub, || issued_at(claims)))
    }

    fn revoke(&self, revocation: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        self.apply(&revocation);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEVER: Timestamp = Timestamp::from_millis(i64::MAX);

    fn token(jti: &str, expires_at: Timestamp) -> Revocation {
        Revocation::Token {
            jti: jti.into(),
            expires_at,
        }
    }

    #[test]
    fn uuids_are_packed_and_other_ids_kept_as_text() {
        let store = InMemoryRevocations::new();
        let uuid = crate::token::random_id();
        store.apply(&token(&uuid, NEVER));
        store.apply(&token("auth0|not-a-uuid", NEVER));
        store.apply(&Revocation::Login {
            login: crate::token::random_id().as_str().into(),
            expires_at: NEVER,
        });
        {
            let jtis = &read(&store.sets).jtis;
            assert_eq!((jtis.uuids.len(), jtis.others.len()), (1, 1));
        }
        assert!(store.is_jti_revoked(&uuid));
        assert!(store.is_jti_revoked("auth0|not-a-uuid"));
        assert!(!store.is_jti_revoked(&crate::token::random_id()));
        // Another spelling of the same UUID is another id.
        assert!(!store.is_jti_revoked(&uuid.to_uppercase()));
        assert!(!store.is_jti_revoked(&uuid.replace('-', "")));
        store.apply(&token(&uuid.to_uppercase(), NEVER));
        assert_eq!(read(&store.sets).jtis.others.len(), 2, "kept as text");
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn packing_is_the_uuid_crates_canonical_form() {
        let canonical = |id: &str| {
            uuid::Uuid::try_parse(id)
                .ok()
                .filter(|u| u.hyphenated().to_string() == id)
                .map(|u| *u.as_bytes())
        };
        let mut ids = vec![
            String::new(),
            "not-a-uuid".into(),
            "00000000-0000-0000-0000-000000000000".into(),
            "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
        ];
        for _ in 0..50 {
            let id = crate::token::random_id();
            // Every character replaced by a few others, and the id as it is.
            for (at, _) in id.char_indices() {
                for other in [
                    '0', '9', 'a', 'f', 'g', 'A', 'F', '-', '/', ':', '`', 'G', '{',
                ] {
                    let mut changed = id.clone();
                    changed.replace_range(at..at + 1, &other.to_string());
                    ids.push(changed);
                }
            }
            ids.push(id.replace('-', ""));
            ids.push(format!("{{{id}}}"));
            ids.push(id);
        }
        for id in &ids {
            assert_eq!(IdMap::packed(id), canonical(id), "{id}");
        }
    }

    #[test]
    fn purge_drops_expired_ids_of_both_kinds() {
        let store = InMemoryRevocations::new();
        let (old, new) = (Timestamp::from_secs(100), Timestamp::from_secs(300));
        let (uuid_old, uuid_new) = (crate::token::random_id(), crate::token::random_id());
        store.apply(&token(&uuid_old, old));
        store.apply(&token(&uuid_new, new));
        store.apply(&token("text-old", old));
        store.apply(&token("text-new", new));
        assert_eq!(store.purge_expired(Timestamp::from_secs(200)), 2);
        assert!(!store.is_jti_revoked(&uuid_old) && !store.is_jti_revoked("text-old"));
        assert!(store.is_jti_revoked(&uuid_new) && store.is_jti_revoked("text-new"));
    }
}
