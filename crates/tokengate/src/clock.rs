//! The one clock: every wall-clock reading of tokengate goes through here,
//! and a [`TokenEngine`](crate::token::TokenEngine) can be given a
//! [`ManualClock`] so that tests move time instead of sleeping.
//!
//! Times are [`Timestamp`]s, milliseconds since the Unix epoch: the
//! precision of issue times (a UUIDv7 `jti`) and of revoke-all cut-offs;
//! JWT claims (`exp`, `iat`, `nbf`) are its seconds.
//!
//! ```
//! use std::time::Duration;
//! use tokengate::clock::{Clock, ManualClock, Timestamp};
//!
//! let manual = ManualClock::new(Timestamp::from_secs(1_700_000_000));
//! let clock = Clock::from(manual.clone());
//! manual.advance(Duration::from_millis(1500));
//! assert_eq!(clock.now().as_millis(), 1_700_000_001_500);
//! assert_eq!(clock.now().as_secs(), 1_700_000_001);
//! assert!(Clock::system().now() > Timestamp::from_secs(1_700_000_000));
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A moment, in milliseconds since the Unix epoch.
///
/// ```
/// use std::time::Duration;
/// use tokengate::clock::Timestamp;
///
/// let t = Timestamp::from_secs(10);
/// assert_eq!(t.as_millis(), 10_000);
/// assert_eq!(t.saturating_add(Duration::from_secs(5)).as_secs(), 15);
/// assert_eq!(Timestamp::from_millis(-1).as_secs(), -1); // floors
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The moment `ms` milliseconds after the epoch.
    ///
    /// ```
    /// assert_eq!(tokengate::clock::Timestamp::from_millis(1500).as_secs(), 1);
    /// ```
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// The moment `secs` seconds after the epoch (a JWT NumericDate).
    ///
    /// ```
    /// assert_eq!(tokengate::clock::Timestamp::from_secs(2).as_millis(), 2000);
    /// ```
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    ///
    /// ```
    /// assert_eq!(tokengate::clock::Timestamp::from_millis(7).as_millis(), 7);
    /// ```
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down): a JWT NumericDate.
    ///
    /// ```
    /// assert_eq!(tokengate::clock::Timestamp::from_millis(1999).as_secs(), 1);
    /// ```
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `self` plus `d`, at most the end of time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::clock::Timestamp;
    ///
    /// assert_eq!(Timestamp::from_millis(i64::MAX).saturating_add(Duration::from_secs(1)).as_millis(), i64::MAX);
    /// ```
    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

/// Where "now" comes from: the system clock, or a [`ManualClock`] in tests.
/// Cheap to clone; clones share the source.
///
/// ```
/// use tokengate::clock::Clock;
///
/// let clock = Clock::default(); // the system clock
/// assert!(clock.now().as_secs() > 1_700_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<ManualClock>,
}

impl Clock {
    /// The system's wall clock.
    ///
    /// ```
    /// let a = tokengate::clock::Clock::system().now();
    /// assert!(tokengate::clock::Clock::system().now() >= a);
    /// ```
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// The current time.
    ///
    /// ```
    /// use tokengate::clock::{Clock, ManualClock, Timestamp};
    ///
    /// let clock = Clock::from(ManualClock::new(Timestamp::from_millis(42)));
    /// assert_eq!(clock.now(), Timestamp::from_millis(42));
    /// ```
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(manual) => manual.now(),
            None => system_now(),
        }
    }

    /// Returns once the clock reads later than `t`: the system clock is
    /// waited for (in 1 ms steps), a manual clock is moved there.
    ///
    /// ```
    /// use tokengate::clock::{Clock, ManualClock, Timestamp};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let manual = ManualClock::new(Timestamp::from_millis(10));
    /// let clock = Clock::from(manual.clone());
    /// clock.pass(Timestamp::from_millis(10)).await;
    /// assert_eq!(manual.now(), Timestamp::from_millis(11));
    /// # });
    /// ```
    #[cfg(feature = "axum")]
    pub async fn pass(&self, t: Timestamp) {
        if let Some(manual) = &self.manual {
            manual.0.fetch_max(t.0.saturating_add(1), Ordering::SeqCst);
            return;
        }
        while system_now() <= t {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A clock that moves only when told: for tests of expiry and revocation
/// that should not sleep. Clones share one time.
///
/// ```
/// use std::time::Duration;
/// use tokengate::clock::{ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_secs(100));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now().as_secs(), 160);
/// clock.set(Timestamp::from_secs(5));
/// assert_eq!(clock.now().as_secs(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `start`.
    ///
    /// ```
    /// use tokengate::clock::{ManualClock, Timestamp};
    ///
    /// assert_eq!(ManualClock::new(Timestamp::from_millis(1)).now().as_millis(), 1);
    /// ```
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.0)))
    }

    /// The time it reads.
    ///
    /// ```
    /// use tokengate::clock::{ManualClock, Timestamp};
    ///
    /// assert_eq!(ManualClock::new(Timestamp::from_secs(3)).now(), Timestamp::from_secs(3));
    /// ```
    pub fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }

    /// Moves the clock forward by `d`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::clock::{ManualClock, Timestamp};
    ///
    /// let clock = ManualClock::new(Timestamp::from_millis(0));
    /// clock.advance(Duration::from_millis(5));
    /// assert_eq!(clock.now().as_millis(), 5);
    /// ```
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            })
            .ok();
    }

    /// Sets the clock to `t` (backwards too: a clock step).
    ///
    /// ```
    /// use tokengate::clock::{ManualClock, Timestamp};
    ///
    /// let clock = ManualClock::new(Timestamp::from_secs(9));
    /// clock.set(Timestamp::from_secs(1));
    /// assert_eq!(clock.now().as_secs(), 1);
    /// ```
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Clock {
            manual: Some(manual),
        }
    }
}

/// The system clock's reading; before the epoch reads as the epoch.
fn system_now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(ms)
}

/// Now, by the system clock: for the few readings that no engine owns
/// (database timestamps, link expiry). Prefer an engine's
/// [`TokenEngine::clock`](crate::token::TokenEngine::clock).
///
/// ```
/// assert!(tokengate::clock::now().as_secs() > 1_700_000_000);
/// ```
pub fn now() -> Timestamp {
    system_now()
}
