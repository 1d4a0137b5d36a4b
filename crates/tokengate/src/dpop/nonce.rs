//! Server-provided nonces (RFC 9449 §8): stateless, so that any instance
//! holding the same key accepts a nonce another one gave out.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::Timestamp;

/// Nonces that prove a proof was made after the server asked: each is the
/// period it was made in and an HMAC of it; a nonce of the current or the
/// previous period is accepted.
///
/// ```
/// use std::time::Duration;
/// use tokengate::clock::Timestamp;
/// use tokengate::dpop::Nonces;
///
/// let nonces = Nonces::new(&[7; 32], Duration::from_secs(300));
/// let t = Timestamp::from_secs(1_700_000_000);
/// let nonce = nonces.issue(t);
/// assert!(nonces.is_valid(&nonce, t));
/// assert!(nonces.is_valid(&nonce, Timestamp::from_secs(1_700_000_300)));
/// assert!(!nonces.is_valid(&nonce, Timestamp::from_secs(1_700_000_900)));
/// assert!(!Nonces::new(&[8; 32], Duration::from_secs(300)).is_valid(&nonce, t));
/// ```
#[derive(Clone)]
pub struct Nonces {
    key: hmac::Key,
    period: u64,
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

const TAG: usize = 32;

impl Nonces {
    /// Nonces under `key` (instances that share it accept each other's),
    /// each good for one to two `period`s (at least one second).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::dpop::Nonces;
    ///
    /// let nonces = Nonces::new(b"a key the instances share........", Duration::from_secs(60));
    /// assert_eq!(nonces.period(), Duration::from_secs(60));
    /// ```
    pub fn new(key: &[u8], period: Duration) -> Self {
        Nonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            period: period.as_secs().max(1),
        }
    }

    /// Nonces under a random key: one process only.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::clock::Timestamp;
    /// use tokengate::dpop::Nonces;
    ///
    /// let nonces = Nonces::random(Duration::from_secs(60));
    /// let t = Timestamp::from_secs(1_000);
    /// assert!(nonces.is_valid(&nonces.issue(t), t));
    /// ```
    pub fn random(period: Duration) -> Self {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &aws_lc_rs::rand::SystemRandom::new())
            .expect("the operating system's random generator failed");
        Nonces {
            key,
            period: period.as_secs().max(1),
        }
    }

    /// How long a period lasts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::dpop::Nonces;
    ///
    /// assert_eq!(Nonces::random(Duration::ZERO).period(), Duration::from_secs(1));
    /// ```
    pub fn period(&self) -> Duration {
        Duration::from_secs(self.period)
    }

    fn epoch(&self, now: Timestamp) -> u64 {
        u64::try_from(now.as_secs()).unwrap_or(0) / self.period
    }

    /// The nonce to give out at `now`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::clock::Timestamp;
    /// use tokengate::dpop::Nonces;
    ///
    /// let nonces = Nonces::random(Duration::from_secs(60));
    /// let t = Timestamp::from_secs(1_000);
    /// assert_eq!(nonces.issue(t), nonces.issue(Timestamp::from_secs(1_010)));
    /// ```
    pub fn issue(&self, now: Timestamp) -> String {
        let epoch = self.epoch(now).to_be_bytes();
        let tag = hmac::sign(&self.key, &epoch);
        let mut bytes = Vec::with_capacity(8 + TAG);
        bytes.extend_from_slice(&epoch);
        bytes.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was given out in this period or the previous one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::clock::Timestamp;
    /// use tokengate::dpop::Nonces;
    ///
    /// let nonces = Nonces::random(Duration::from_secs(60));
    /// assert!(!nonces.is_valid("not a nonce", Timestamp::from_secs(1_000)));
    /// ```
    pub fn is_valid(&self, nonce: &str, now: Timestamp) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        if bytes.len() != 8 + TAG {
            return false;
        }
        let (epoch, tag) = bytes.split_at(8);
        let Ok(epoch_bytes) = <[u8; 8]>::try_from(epoch) else {
            return false;
        };
        let current = self.epoch(now);
        let epoch = u64::from_be_bytes(epoch_bytes);
        (epoch == current || epoch.saturating_add(1) == current)
            && hmac::verify(&self.key, &epoch_bytes, tag).is_ok()
    }
}
