//! Verified tokens, remembered by their exact bytes until they expire.
//!
//! A client sends the same token on every request until it refreshes; the
//! signature over those bytes does not change, so checking it again proves
//! nothing new. Expiry is still checked on every hit, and the gate still
//! runs the type, CSRF, revocation and freshness checks on every request.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use crossbeam_utils::sync::ShardedLock;

use crate::token::VerifiedToken;

/// At most this many tokens are remembered; past it the cache starts over.
pub(super) const CAPACITY: usize = 4096;

/// Entries are found by a keyed hash of the token's last bytes (its
/// signature: cheap to hash, and different for every token) and then
/// compared in full, so a token that merely shares a signature never hits.
#[derive(Debug, Default)]
pub(super) struct VerifiedCache {
    // Found by the fingerprint, itself a keyed hash: hashed again cheaply.
    // Sharded by thread: hits on different cores write no common lock word.
    tokens: ShardedLock<HashMap<u64, Entry, foldhash::fast::FixedState>>,
    // Keyed per cache (random seeds): which tokens collide is not known to
    // a client; a few times cheaper than SipHash on the 32 bytes.
    hasher: foldhash::fast::RandomState,
}

/// A token's exact bytes, what verifying them gave, the leeway its expiry
/// was checked with, and the version of the trusted issuers' keys then
/// (0 for this engine's tokens: its key changes clear the cache).
type Entry = (Box<str>, Arc<VerifiedToken>, i64, u64);

/// How many trailing bytes identify a token for lookup.
const TAIL: usize = 32;

impl VerifiedCache {
    fn fingerprint(&self, bytes: &[u8]) -> u64 {
        self.hasher
            .hash_one(&bytes[bytes.len().saturating_sub(TAIL)..])
    }
}

impl VerifiedCache {
    /// The verified token for these bytes, if remembered, not expired at
    /// `now`, and (for a trusted issuer's token) verified with the issuers'
    /// keys of `keys_version`.
    pub(super) fn get(
        &self,
        token: &[u8],
        now: i64,
        keys_version: u64,
    ) -> Option<Arc<VerifiedToken>> {
        let key = self.fingerprint(token);
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let (bytes, hit, leeway, version) = tokens.get(&key)?;
        let current = hit.origin.is_first_party() || *version == keys_version;
        (bytes.as_bytes() == token && current && hit.claims.exp.saturating_add(*leeway) > now)
            .then(|| hit.clone())
    }

    /// Remembers a token verified with `leeway` (and issuer keys of `keys_version`).
    pub(super) fn insert(
        &self,
        token: &str,
        verified: Arc<VerifiedToken>,
        leeway: i64,
        keys_version: u64,
    ) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        // Starting over is O(1) amortized and bounds memory without bookkeeping;
        // the cost is one signature check per live token afterwards.
        if tokens.len() >= CAPACITY {
            tokens.clear();
        }
        tokens.insert(
            self.fingerprint(token.as_bytes()),
            (token.into(), verified, leeway, keys_version),
        );
    }

    /// Forgets everything (the keys changed).
    pub(super) fn clear(&self) {
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, KeyRing, SigningKey};
    use crate::token::{NewToken, TokenEngine};

    #[test]
    fn hits_until_expiry_and_starts_over_when_full() {
        let engine = TokenEngine::new(KeyRing::new(
            SigningKey::generate(Algorithm::EdDSA).unwrap(),
        ));
        let issued = engine.issue(NewToken::access("a")).unwrap();
        let verified = Arc::new(engine.verify(&issued.token).unwrap());
        let cache = VerifiedCache::default();
        assert!(cache.get(issued.token.as_bytes(), 0, 0).is_none());
        cache.insert(&issued.token, verified.clone(), 0, 0);
        assert!(
            cache
                .get(issued.token.as_bytes(), issued.expires_at - 1, 0)
                .is_some()
        );
        // Expired: no hit, whatever was cached.
        assert!(
            cache
                .get(issued.token.as_bytes(), issued.expires_at, 0)
                .is_none()
        );
        cache.insert(&issued.token, verified.clone(), 5, 0);
        assert!(
            cache
                .get(issued.token.as_bytes(), issued.expires_at, 0)
                .is_some()
        );
        // Other bytes never hit, even with the same signature.
        assert!(
            cache
                .get(format!("{}x", issued.token).as_bytes(), 0, 0)
                .is_none()
        );
        let same_tail = format!("x{}", &issued.token[1..]);
        assert!(cache.get(same_tail.as_bytes(), 0, 0).is_none());
        for i in 0..CAPACITY {
            cache.insert(&i.to_string(), verified.clone(), 0, 0);
        }
        assert!(cache.tokens.read().unwrap().len() <= CAPACITY);
        cache.clear();
        assert!(cache.get(b"0", 0, 0).is_none());
    }
}
