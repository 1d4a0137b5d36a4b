//! Logins between the redirect to the provider and the callback: kept by a
//! [`PendingLoginStore`] under their `state`, for
//! [`LOGIN_TIMEOUT`](super::LOGIN_TIMEOUT), taken (deleted) at first use.
//! In memory by default; a store shared by several instances lets a login
//! begun on one finish on another.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::{Clock, Timestamp};
use crate::revocation::{BoxFuture, StoreError};

/// At most this many logins wait in memory at once; past it the oldest are
/// dropped (a flood of login starts cannot grow memory without bound).
const CAPACITY: usize = 10_000;

/// What the callback needs to finish one login begun by
/// [`OidcLogin::begin`](super::OidcLogin::begin): the provider, the ID
/// token's nonce, the PKCE verifier, where to go afterwards and the
/// browser's binding. A store keeps it as [`PendingLogin::to_stored`]
/// text and gives it back with [`PendingLogin::from_stored`]; its fields
/// are the library's. `Debug` shows no secret.
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::oidc::PendingLogin;
///
/// # fn show(login: &PendingLogin) {
/// let stored = login.to_stored(); // e.g. a database column
/// let back = PendingLogin::from_stored(&stored).expect("what to_stored wrote");
/// assert_eq!(back.expires_at(), login.expires_at());
/// assert!(!format!("{login:?}").contains("nonce"));
/// # }
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub(super) provider: String,
    pub(super) nonce: Zeroizing<String>,
    pub(super) pkce_verifier: Zeroizing<String>,
    pub(super) next: String,
    pub(super) browser_binding: Zeroizing<String>,
    #[serde(rename = "expires_at_ms", with = "millis")]
    pub(super) expires_at: Timestamp,
}

/// A [`Timestamp`] as milliseconds since the epoch.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::clock::Timestamp;

    pub(super) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.as_millis())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp::from_millis)
    }
}

impl PendingLogin {
    /// When the login can no longer finish.
    ///
    /// ```
    /// # fn show(login: &tokengate::oidc::PendingLogin) {
    /// println!("expires at {}", login.expires_at().as_secs());
    /// # }
    /// ```
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The login as text for a store (JSON; it holds the nonce and the PKCE
    /// verifier: keep it where tokens would be kept).
    ///
    /// ```
    /// # fn show(login: &tokengate::oidc::PendingLogin) {
    /// assert!(login.to_stored().starts_with('{'));
    /// # }
    /// ```
    pub fn to_stored(&self) -> Zeroizing<String> {
        Zeroizing::new(serde_json::to_string(self).expect("a PendingLogin serializes"))
    }

    /// The login [`to_stored`](PendingLogin::to_stored) wrote; `None` for
    /// anything else.
    ///
    /// ```
    /// use tokengate::oidc::PendingLogin;
    ///
    /// assert!(PendingLogin::from_stored("not a login").is_none());
    /// ```
    pub fn from_stored(stored: &str) -> Option<PendingLogin> {
        serde_json::from_str(stored).ok()
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("next", &self.next)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Where logins wait for their callback, by `state`.
///
/// [`take`](PendingLoginStore::take) must remove and return atomically: of
/// two callbacks with the same state, on any instances sharing the store,
/// at most one may get the login (in SQL: `DELETE ... WHERE state = ?
/// RETURNING ...`). A store answers `None` for a login past its
/// [`expires_at`](PendingLogin::expires_at).
///
/// ```
/// use tokengate::oidc::{InMemoryPendingLogins, OidcLogin, PendingLogin, PendingLoginStore};
/// use tokengate::revocation::{BoxFuture, StoreError};
/// use std::sync::Arc;
///
/// /// Logins that a real store would keep in its shared database.
/// #[derive(Default)]
/// struct Shared { memory: InMemoryPendingLogins }
/// impl PendingLoginStore for Shared {
///     fn put<'a>(&'a self, state: &'a str, login: &'a PendingLogin) -> BoxFuture<'a, Result<(), StoreError>> {
///         self.memory.put(state, login)
///     }
///     fn take<'a>(&'a self, state: &'a str) -> BoxFuture<'a, Result<Option<PendingLogin>, StoreError>> {
///         self.memory.take(state)
///     }
/// }
///
/// let oidc = OidcLogin::new(Vec::new()).unwrap().with_pending_logins(Arc::new(Shared::default()));
/// ```
pub trait PendingLoginStore: Send + Sync + 'static {
    /// Keeps `login` under `state` until its expiry.
    fn put<'a>(
        &'a self,
        state: &'a str,
        login: &'a PendingLogin,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The login of `state`, removed; `None` if unknown, taken already, or
    /// expired.
    fn take<'a>(
        &'a self,
        state: &'a str,
    ) -> BoxFuture<'a, Result<Option<PendingLogin>, StoreError>>;
}

/// Pending logins in this process's memory (the default): at most 10 000
/// at once, the oldest dropped first. A login begun here finishes only here.
///
/// ```
/// use tokengate::oidc::InMemoryPendingLogins;
///
/// let logins = InMemoryPendingLogins::default();
/// ```
#[derive(Default)]
pub struct InMemoryPendingLogins {
    logins: Mutex<HashMap<String, PendingLogin>>,
    clock: Clock,
}

impl InMemoryPendingLogins {
    /// A store whose expiry follows `clock` (tests).
    ///
    /// ```
    /// use tokengate::clock::{Clock, ManualClock, Timestamp};
    /// use tokengate::oidc::InMemoryPendingLogins;
    ///
    /// let clock = ManualClock::new(Timestamp::from_secs(1_000));
    /// let logins = InMemoryPendingLogins::with_clock(Clock::from(clock.clone()));
    /// ```
    pub fn with_clock(clock: Clock) -> Self {
        InMemoryPendingLogins {
            logins: Mutex::default(),
            clock,
        }
    }
}

impl fmt::Debug for InMemoryPendingLogins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InMemoryPendingLogins")
    }
}

impl PendingLoginStore for InMemoryPendingLogins {
    fn put<'a>(
        &'a self,
        state: &'a str,
        login: &'a PendingLogin,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut map = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        map.retain(|_, l| l.expires_at > now);
        if map.len() >= CAPACITY {
            let oldest = map
                .iter()
                .min_by_key(|(_, l)| l.expires_at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        map.insert(state.to_owned(), login.clone());
        Box::pin(std::future::ready(Ok(())))
    }

    fn take<'a>(
        &'a self,
        state: &'a str,
    ) -> BoxFuture<'a, Result<Option<PendingLogin>, StoreError>> {
        let taken = self
            .logins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(state)
            .filter(|l| l.expires_at > self.clock.now());
        Box::pin(std::future::ready(Ok(taken)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    fn login(expires_at: Timestamp) -> PendingLogin {
        PendingLogin {
            provider: "dev".into(),
            nonce: Zeroizing::new("the-nonce".into()),
            pkce_verifier: Zeroizing::new("the-verifier".into()),
            next: "/memos".into(),
            browser_binding: Zeroizing::new("the-binding".into()),
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_login_is_taken_once_and_not_after_it_expires() {
        let clock = ManualClock::new(Timestamp::from_secs(1_000));
        let store = InMemoryPendingLogins::with_clock(Clock::from(clock.clone()));
        let expiry = Timestamp::from_secs(1_600);
        store.put("s1", &login(expiry)).await.unwrap();
        store.put("s2", &login(expiry)).await.unwrap();
        let taken = store.take("s1").await.unwrap().expect("the login");
        assert_eq!(taken.next, "/memos");
        assert_eq!(*taken.pkce_verifier, "the-verifier");
        assert!(store.take("s1").await.unwrap().is_none(), "taken twice");
        assert!(store.take("unknown").await.unwrap().is_none());
        clock.advance(Duration::from_secs(600));
        assert!(store.take("s2").await.unwrap().is_none(), "expired");
    }

    #[tokio::test]
    async fn a_flood_of_starts_keeps_the_newest() {
        let store = InMemoryPendingLogins::default();
        let base = crate::clock::now().as_millis() + 600_000;
        for i in 0..=CAPACITY as i64 {
            let at = Timestamp::from_millis(base + i);
            store.put(&format!("s{i}"), &login(at)).await.unwrap();
        }
        assert_eq!(store.logins.lock().unwrap().len(), CAPACITY);
        assert!(store.take("s0").await.unwrap().is_none(), "the oldest went");
        assert!(store.take(&format!("s{CAPACITY}")).await.unwrap().is_some());
    }

    #[test]
    fn stored_text_round_trips_and_debug_hides_secrets() {
        let original = login(Timestamp::from_millis(1_234_567));
        let back = PendingLogin::from_stored(&original.to_stored()).unwrap();
        assert_eq!(back.expires_at(), original.expires_at());
        assert_eq!(*back.nonce, "the-nonce");
        assert_eq!(*back.browser_binding, "the-binding");
        let debug = format!("{original:?}");
        for secret in ["the-nonce", "the-verifier", "the-binding"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(PendingLogin::from_stored("{}").is_none());
    }
}
