//! Failed-login limits per username and per client IP: in memory, and in
//! Redis when instances share one (so the limit holds across them).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokengate::Error;

#[cfg(feature = "redis")]
use crate::cluster::SharedCounters;

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
    pub(crate) async fn check(&self, keys: &[(&str, u32)]) -> Result<(), Error> {
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
    pub(crate) async fn record_failure(&self, keys: &[&str]) {
        self.memory.record_failure(keys);
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared
            && let Err(e) = shared.record_failure(keys).await
        {
            tracing::warn!(error = %e, "cannot record a failed login in Redis");
        }
    }

    /// Forgets the failures of `key` (after a successful login).
    pub(crate) async fn clear(&self, key: &str) {
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
    Error::RateLimited {
        retry_after: wait.as_secs().max(1),
    }
}

/// Failure times per key, in this instance's memory.
#[derive(Debug)]
struct FailureWindow {
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
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

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, VecDeque<Instant>>) -> T) -> T {
        f(&mut self.failures.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The longest wait among the keys over their limit.
    fn check(&self, keys: &[(&str, u32)]) -> Option<Duration> {
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

    fn record_failure(&self, keys: &[&str]) {
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
                let times = map.entry((*key).to_owned()).or_default();
                times.push_back(now);
                // Never more than needed to answer any limit.
                if times.len() > 10_000 {
                    times.pop_front();
                }
            }
        });
    }

    fn clear(&self, key: &str) {
        self.with(|map| map.remove(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_with_a_wait() {
        let l = FailureWindow::new(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check(&[("u:a", 3)]).is_none());
            l.record_failure(&["u:a"]);
        }
        let wait = l.check(&[("u:a", 3)]).expect("blocked");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        // Other keys are unaffected; clearing lifts the block.
        assert!(l.check(&[("u:b", 3)]).is_none());
        l.clear("u:a");
        assert!(l.check(&[("u:a", 3)]).is_none());
    }

    #[test]
    fn failures_leave_the_window() {
        let l = FailureWindow::new(Duration::from_millis(1));
        l.record_failure(&["k"]);
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.check(&[("k", 1)]).is_none());
    }
}
