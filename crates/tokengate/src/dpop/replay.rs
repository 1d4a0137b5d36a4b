//! The proofs already seen: a proof is good once (RFC 9449 §11.1).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Timestamp;
use crate::revocation::{BoxFuture, StoreError};

/// A proof's identity in a replay store: SHA-256 of its key's thumbprint
/// and its `jti`, so that two clients choosing the same `jti` do not
/// collide and the store never holds what a client sent.
///
/// ```
/// use tokengate::dpop::ProofId;
///
/// let a = ProofId::new("key-a", "jti-1");
/// assert_ne!(a, ProofId::new("key-b", "jti-1"));
/// assert_eq!(a.to_hex().len(), 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProofId([u8; 32]);

impl ProofId {
    /// The id of the proof with this `jti` made with the key of this thumbprint.
    ///
    /// ```
    /// use tokengate::dpop::ProofId;
    ///
    /// assert_eq!(ProofId::new("k", "j"), ProofId::new("k", "j"));
    /// ```
    pub fn new(jkt: &str, jti: &str) -> Self {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(jkt.as_bytes());
        ctx.update(b"\0");
        ctx.update(jti.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(ctx.finish().as_ref());
        ProofId(bytes)
    }

    /// The 32 bytes.
    ///
    /// ```
    /// use tokengate::dpop::ProofId;
    ///
    /// assert_eq!(ProofId::new("k", "j").as_bytes().len(), 32);
    /// ```
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, for a key in an external store.
    ///
    /// ```
    /// use tokengate::dpop::ProofId;
    ///
    /// assert!(ProofId::new("k", "j").to_hex().bytes().all(|b| b.is_ascii_hexdigit()));
    /// ```
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Where the proofs already accepted are kept until they are too old to be
/// accepted again. Several instances share one (the service uses Redis);
/// one process can use [`InMemoryProofReplay`].
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::dpop::{InMemoryProofReplay, ProofId, ProofReplay};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryProofReplay::default();
/// let id = ProofId::new("key", "jti-1");
/// let (now, until) = (Timestamp::from_secs(1_000), Timestamp::from_secs(1_060));
/// assert!(store.first_use(id, now, until).await.unwrap());
/// assert!(!store.first_use(id, now, until).await.unwrap()); // a replay
/// # });
/// ```
pub trait ProofReplay: Send + Sync + 'static {
    /// Records `id` until `expires_at` (`now` is the verifier's clock):
    /// `true` the first time, `false` when it is already recorded and not
    /// expired (a replay).
    fn first_use(
        &self,
        id: ProofId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
}

/// The proofs seen by this process, each kept until it expires (swept as the
/// map grows). Enough for one instance; several need a shared store.
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::dpop::{InMemoryProofReplay, ProofId, ProofReplay};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryProofReplay::default();
/// let (now, until) = (Timestamp::from_secs(1_000), Timestamp::from_secs(1_060));
/// assert!(store.first_use(ProofId::new("k", "a"), now, until).await.unwrap());
/// assert_eq!(store.len(), 1);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryProofReplay {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    ids: HashMap<ProofId, Timestamp>,
    sweep_at: usize,
}

impl InMemoryProofReplay {
    /// How many proofs are remembered.
    ///
    /// ```
    /// use tokengate::dpop::InMemoryProofReplay;
    ///
    /// assert_eq!(InMemoryProofReplay::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .len()
    }

    /// Whether no proof is remembered.
    ///
    /// ```
    /// use tokengate::dpop::InMemoryProofReplay;
    ///
    /// assert!(InMemoryProofReplay::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, id: ProofId, expires_at: Timestamp, now: Timestamp) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Sweeping when the map has doubled keeps the cost per proof constant.
        if seen.ids.len() >= seen.sweep_at {
            seen.ids.retain(|_, until| *until > now);
            seen.sweep_at = (seen.ids.len() * 2).max(1024);
        }
        match seen.ids.get(&id) {
            Some(until) if *until > now => false,
            _ => {
                seen.ids.insert(id, expires_at);
                true
            }
        }
    }
}

impl ProofReplay for InMemoryProofReplay {
    fn first_use(
        &self,
        id: ProofId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let fresh = self.record(id, expires_at, now);
        Box::pin(async move { Ok(fresh) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_swept_and_may_be_seen_again() {
        let store = InMemoryProofReplay::default();
        let now = Timestamp::from_secs(1_000);
        for i in 0..2000 {
            let id = ProofId::new("k", &i.to_string());
            assert!(store.record(id, Timestamp::from_secs(1_010), now));
        }
        let later = Timestamp::from_secs(1_011);
        // An expired entry no longer counts as a replay.
        assert!(store.record(ProofId::new("k", "0"), Timestamp::from_secs(1_020), later));
        assert!(!store.record(ProofId::new("k", "0"), Timestamp::from_secs(1_020), later));
        // The next growth past the threshold sweeps the expired ones.
        for i in 0..1024 {
            store.record(
                ProofId::new("j", &i.to_string()),
                Timestamp::from_secs(1_020),
                later,
            );
        }
        assert!(store.len() < 2000, "{}", store.len());
    }
}
