//! Failed-login limits per username and per client IP, in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokengate::Error;

/// Counts failed logins in a sliding window and refuses further attempts
/// past the limit with `rate_limited` and the seconds to wait.
///
/// ```ignore
/// let limiter = LoginLimiter::new(10, Duration::from_secs(900));
/// ```
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Bounds the map: past this many keys, idle ones are dropped first.
const MAX_KEYS: usize = 100_000;

impl LoginLimiter {
    /// A limiter over `window`.
    pub(crate) fn new(window: Duration) -> Self {
        LoginLimiter {
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, VecDeque<Instant>>) -> T) -> T {
        f(&mut self.failures.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// `Ok` if every `(key, limit)` is under its limit; else the longest wait.
    pub(crate) fn check(&self, keys: &[(&str, u32)]) -> Result<(), Error> {
        let now = Instant::now();
        let wait = self.with(|map| {
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
        });
        match wait {
            None => Ok(()),
            Some(wait) => Err(Error::RateLimited {
                retry_after: wait.as_secs().max(1),
            }),
        }
    }

    /// Records a failure under each key.
    pub(crate) fn record_failure(&self, keys: &[&str]) {
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

    /// Forgets the failures of `key` (after a successful login).
    pub(crate) fn clear(&self, key: &str) {
        self.with(|map| map.remove(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_with_a_wait() {
        let l = LoginLimiter::new(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check(&[("u:a", 3)]).is_ok());
            l.record_failure(&["u:a"]);
        }
        match l.check(&[("u:a", 3)]) {
            Err(Error::RateLimited { retry_after }) => assert!((1..=60).contains(&retry_after)),
            other => panic!("{other:?}"),
        }
        // Other keys are unaffected; clearing lifts the block.
        assert!(l.check(&[("u:b", 3)]).is_ok());
        l.clear("u:a");
        assert!(l.check(&[("u:a", 3)]).is_ok());
    }

    #[test]
    fn failures_leave_the_window() {
        let l = LoginLimiter::new(Duration::from_millis(1));
        l.record_failure(&["k"]);
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.check(&[("k", 1)]).is_ok());
    }
}
