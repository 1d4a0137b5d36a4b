//! Failed-login limits per username and per client IP, the same for the
//! OAuth clients' failed authentications, and request rates (registrations,
//! OAuth clients' requests): in memory, and in Redis when instances share
//! one (so the limit holds across them).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokengate::{Error, RequestRejection};

#[cfg(feature = "redis")]
use crate::cluster::SharedCounters;

/// What a limit counts attempts of. Its text (`ip:…`, `user:…`,
/// `register:ip:…`, `client:…`, `client-ip:…`, `client-requests:…`) names
/// the counter in Redis, the same on every instance; no two kinds share a
/// prefix, whatever a client id holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LimitKey {
    /// Failed logins from one client address.
    LoginFrom(IpAddr),
    /// Failed logins of one username, in any case.
    LoginOf(String),
    /// Registrations from one client address.
    RegistrationFrom(IpAddr),
    /// Failed authentications of one OAuth client id (`[[clients]]`).
    ClientAuthOf(String),
    /// Failed OAuth client authentications from one client address.
    ClientAuthFrom(IpAddr),
    /// Requests of one authenticated OAuth client (its `rate`).
    ClientRequests(String),
    /// Passkey login ceremonies started from one client address.
    PasskeyStartsFrom(IpAddr),
}

impl LimitKey {
    /// The failed logins of `username`; names that differ only in case share one.
    pub(crate) fn login_of(username: &str) -> Self {
        LimitKey::LoginOf(username.to_lowercase())
    }
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitKey::LoginFrom(ip) => write!(f, "ip:{ip}"),
            LimitKey::LoginOf(name) => write!(f, "user:{name}"),
            LimitKey::RegistrationFrom(ip) => write!(f, "register:ip:{ip}"),
            LimitKey::ClientAuthOf(id) => write!(f, "client:{id}"),
            LimitKey::ClientAuthFrom(ip) => write!(f, "client-ip:{ip}"),
            LimitKey::ClientRequests(id) => write!(f, "client-requests:{id}"),
            LimitKey::PasskeyStartsFrom(ip) => write!(f, "passkey-starts:ip:{ip}"),
        }
    }
}

/// Counts failed logins in a sliding window and refuses further attempts
/// past the limit with `rate_limited` and the seconds to wait. Failures
/// are always counted in memory; with shared counters, those decide while
/// Redis answers and memory takes over when it does not.
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    memory: FailureWindow,
    #[cfg(feature = "redis")]
    shared: Option<SharedCounters>,
}

impl LoginLimiter {
    /// A limiter over `window`, in this instance's memory.
    pub(crate) fn new(window: Duration) -> Self {
        LoginLimiter {
            memory: FailureWindow::new(window),
            #[cfg(feature = "redis")]
            shared: None,
        }
    }

    /// Counts in `shared` too.
    #[cfg(feature = "redis")]
    pub(crate) fn with_shared(mut self, shared: SharedCounters) -> Self {
        self.shared = Some(shared);
        self
    }

    /// `Ok` if every `(key, limit)` is under its limit; else the longest wait.
    pub(crate) async fn check(&self, keys: &[(&LimitKey, u32)]) -> Result<(), Error> {
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            match shared.check(keys).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(rate_limited(wait)),
                Err(e) => {
                    tracing::warn!(error = %e, "shared login counters unavailable; counting here")
                }
            }
        }
        match self.memory.check(keys) {
            None => Ok(()),
            Some(wait) => Err(rate_limited(wait)),
        }
    }

    /// Records a failure under each key.
    pub(crate) async fn record_failure(&self, keys: &[&LimitKey]) {
        self.memory.record_failure(keys);
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared
            && let Err(e) = shared.record_failure(keys).await
        {
            tracing::warn!(error = %e, "cannot record a failed login in Redis");
        }
    }

    /// Forgets the failures of `key` (after a successful login).
    pub(crate) async fn clear(&self, key: &LimitKey) {
        self.memory.clear(key);
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared
            && let Err(e) = shared.clear(key).await
        {
            tracing::warn!(error = %e, "cannot clear failed logins in Redis");
        }
    }
}

fn rate_limited(wait: Duration) -> Error {
    Error::Request(RequestRejection::RateLimited {
        retry_after: wait.as_secs().max(1),
    })
}

/// Failure times per key, in this instance's memory.
#[derive(Debug)]
struct FailureWindow {
    window: Duration,
    failures: Mutex<HashMap<LimitKey, VecDeque<Instant>>>,
}

/// Bounds the map: past this many keys, idle ones are dropped first.
const MAX_KEYS: usize = 100_000;

impl FailureWindow {
    fn new(window: Duration) -> Self {
        FailureWindow {
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<LimitKey, VecDeque<Instant>>) -> T) -> T {
        f(&mut self.failures.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The longest wait among the keys over their limit.
    fn check(&self, keys: &[(&LimitKey, u32)]) -> Option<Duration> {
        let now = Instant::now();
        self.with(|map| {
            keys.iter()
                .filter_map(|(key, limit)| {
                    let times = map.get_mut(*key)?;
                    while times
                        .front()
                        .is_some_and(|t| now.duration_since(*t) >= self.window)
                    {
                        times.pop_front();
                    }
                    if times.len() < *limit as usize {
                        return None;
                    }
                    // The attempt that ends the block is when the oldest counted failure leaves the window.
                    let oldest = times[times.len() - *limit as usize];
                    Some(self.window.saturating_sub(now.duration_since(oldest)))
                })
                .max()
        })
    }

    fn record_failure(&self, keys: &[&LimitKey]) {
        let now = Instant::now();
        self.with(|map| {
            if map.len() >= MAX_KEYS {
                let window = self.window;
                map.retain(|_, times| {
                    times
                        .back()
                        .is_some_and(|t| now.duration_since(*t) < window)
                });
            }
            for key in keys {
                let times = map.entry((*key).clone()).or_default();
                times.push_back(now);
                // Never more than needed to answer any limit.
                if times.len() > 10_000 {
                    times.pop_front();
                }
            }
        });
    }

    fn clear(&self, key: &LimitKey) {
        self.with(|map| map.remove(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_with_a_wait() {
        let l = FailureWindow::new(Duration::from_secs(60));
        let (a, b) = (LimitKey::login_of("A"), LimitKey::login_of("b"));
        for _ in 0..3 {
            assert!(l.check(&[(&a, 3)]).is_none());
            l.record_failure(&[&a]);
        }
        let wait = l
            .check(&[(&LimitKey::login_of("a"), 3)])
            .expect("blocked in any case");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        // Other keys are unaffected; clearing lifts the block.
        assert!(l.check(&[(&b, 3)]).is_none());
        l.clear(&a);
        assert!(l.check(&[(&a, 3)]).is_none());
    }

    #[test]
    fn failures_leave_the_window() {
        let l = FailureWindow::new(Duration::from_millis(1));
        let k = LimitKey::LoginFrom([127, 0, 0, 1].into());
        l.record_failure(&[&k]);
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.check(&[(&k, 1)]).is_none());
    }

    #[test]
    fn keys_keep_the_names_of_their_redis_counters() {
        let ip: IpAddr = [192, 0, 2, 7].into();
        assert_eq!(LimitKey::LoginFrom(ip).to_string(), "ip:192.0.2.7");
        assert_eq!(LimitKey::login_of("Alice").to_string(), "user:alice");
        assert_eq!(
            LimitKey::RegistrationFrom(ip).to_string(),
            "register:ip:192.0.2.7"
        );
        assert_eq!(LimitKey::ClientAuthOf("rs".into()).to_string(), "client:rs");
        assert_eq!(
            LimitKey::ClientAuthFrom(ip).to_string(),
            "client-ip:192.0.2.7"
        );
        assert_eq!(
            LimitKey::ClientRequests("rs".into()).to_string(),
            "client-requests:rs"
        );
    }
}
