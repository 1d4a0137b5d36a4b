//! Logins between the redirect to the provider and the callback: kept in
//! memory by `state`, for [`LOGIN_TIMEOUT`](super::LOGIN_TIMEOUT), taken
//! (deleted) at first use.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use zeroize::Zeroizing;

/// At most this many logins wait at once; past it the oldest are dropped
/// (a flood of login starts cannot grow memory without bound).
const CAPACITY: usize = 10_000;

/// What the callback needs to finish one login.
pub(super) struct Pending {
    pub(super) provider: String,
    pub(super) nonce: Zeroizing<String>,
    pub(super) pkce_verifier: Zeroizing<String>,
    pub(super) next: String,
    pub(super) browser_binding: String,
}

#[derive(Default)]
pub(super) struct PendingLogins(Mutex<HashMap<String, (Instant, Pending)>>);

impl std::fmt::Debug for PendingLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingLogins")
    }
}

impl PendingLogins {
    pub(super) fn insert(&self, state: String, pending: Pending) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, (at, _)| now.duration_since(*at) < super::LOGIN_TIMEOUT);
        if map.len() >= CAPACITY {
            let oldest = map
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        map.insert(state, (now, pending));
    }

    /// The login of `state`, removed; `None` if unknown or expired.
    pub(super) fn take(&self, state: &str) -> Option<Pending> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (at, pending) = map.remove(state)?;
        (at.elapsed() < super::LOGIN_TIMEOUT).then_some(pending)
    }
}
