//! Key rotation on a schedule, for applications that embed the library: a
//! new signing key now and then, each previous key kept verifying for as
//! long as a token it signed can live, then dropped.

use std::collections::VecDeque;
use std::time::Duration;

use super::TokenGate;
use crate::clock::Timestamp;
use crate::keys::{Algorithm, KeyError, Kid, SigningKey};

/// Rotates a [`TokenGate`]'s signing key: [`KeyRotation::rotate_now`] on
/// your own schedule, or [`KeyRotation::spawn`] for a tokio task that
/// rotates every so often. Each retired key keeps verifying for
/// [`keep_for`](KeyRotation::keep_for) (by default the longest token
/// lifetime plus the leeway, so no token it signed is refused early) and is
/// then removed from the ring and the JWKS.
///
/// ```
/// use std::time::Duration;
/// use tokengate::axum::{KeyRotation, TokenGate};
/// use tokengate::clock::{ManualClock, Timestamp};
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::{IssueSettings, TokenEngine};
///
/// let clock = ManualClock::new(Timestamp::from_secs(1_900_000_000));
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()))
///     .with_settings(IssueSettings::default().access_ttl(Duration::from_secs(600)).refresh_ttl(Duration::from_secs(3600)))
///     .with_clock(clock.clone().into());
/// let gate = TokenGate::new(engine);
/// let mut rotation = KeyRotation::new(gate.clone(), Algorithm::EdDSA);
/// assert_eq!(rotation.keeps_for(), Duration::from_secs(3600));
///
/// let old = gate.engine().issue(tokengate::token::NewToken::access("alice")).unwrap();
/// rotation.rotate_now().unwrap();
/// assert_eq!(gate.engine().keys().jwks().keys.len(), 2); // the old key still verifies
/// assert!(gate.engine().verify(&old.token).is_ok());
/// clock.advance(Duration::from_secs(3600));
/// rotation.rotate_now().unwrap(); // the first key has served its time: gone
/// assert_eq!(gate.engine().keys().jwks().keys.len(), 2);
/// assert!(gate.engine().verify(&old.token).is_err());
/// ```
#[derive(Debug)]
pub struct KeyRotation {
    gate: TokenGate,
    alg: Algorithm,
    keep: Duration,
    /// Retired keys, oldest first, with when they stopped signing.
    retired: VecDeque<(Kid, Timestamp)>,
}

impl KeyRotation {
    /// Rotation of `gate`'s keys to new keys of `alg`, keeping each retired
    /// key for the longest token lifetime plus the leeway.
    pub fn new(gate: TokenGate, alg: Algorithm) -> Self {
        let engine = gate.engine();
        let settings = engine.settings();
        let leeway = Duration::from_secs(engine.validation().leeway);
        let keep = settings.access_ttl.max(settings.refresh_ttl) + leeway;
        KeyRotation {
            gate,
            alg,
            keep,
            retired: VecDeque::new(),
        }
    }

    /// Keeps each retired key verifying for `keep` instead (never less than
    /// your tokens live, or they are refused before they expire).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::axum::{KeyRotation, TokenGate};
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let rotation = KeyRotation::new(gate, Algorithm::EdDSA).keep_for(Duration::from_secs(7 * 86400));
    /// assert_eq!(rotation.keeps_for().as_secs(), 7 * 86400);
    /// ```
    pub fn keep_for(mut self, keep: Duration) -> Self {
        self.keep = keep;
        self
    }

    /// How long a retired key keeps verifying.
    pub fn keeps_for(&self) -> Duration {
        self.keep
    }

    /// Signs with a new key from now on, and removes the retired keys whose
    /// time is up; the new key's id. Every clone of the gate sees the
    /// change (see [`TokenGate::replace_engine`]).
    pub fn rotate_now(&mut self) -> Result<Kid, KeyError> {
        self.rotate_to(SigningKey::generate(self.alg)?)
    }

    /// [`KeyRotation::rotate_now`] to a key of your own (one with a `kid`
    /// you chose, [`SigningKey::with_kid`], or from your key store).
    ///
    /// ```
    /// use tokengate::axum::{KeyRotation, TokenGate};
    /// use tokengate::keys::{Algorithm, Kid, SigningKey};
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::ES256).unwrap();
    /// let mut rotation = KeyRotation::new(gate.clone(), Algorithm::ES256);
    /// let key = SigningKey::generate(Algorithm::ES256).unwrap().with_kid(Kid::new("2026-12"));
    /// rotation.rotate_to(key).unwrap();
    /// assert_eq!(gate.engine().keys().signing_key().unwrap().kid().as_str(), "2026-12");
    /// ```
    pub fn rotate_to(&mut self, key: SigningKey) -> Result<Kid, KeyError> {
        let engine = self.gate.engine();
        let now = engine.clock().now();
        let mut keys = engine.keys().clone();
        if let Some(old) = keys.signing_key() {
            self.retired.push_back((old.kid().clone(), now));
        }
        let kid = key.kid().clone();
        keys.rotate(key);
        while let Some((old, retired_at)) = self.retired.front() {
            if retired_at.saturating_add(self.keep) > now {
                break;
            }
            keys.remove(old);
            self.retired.pop_front();
        }
        self.gate.replace_engine(engine.with_keys(keys));
        Ok(kid)
    }

    /// Rotates every `every` on a tokio task (the first rotation one
    /// `every` from now), until the handle is aborted or the runtime ends.
    /// A failed key generation is logged and tried again at the next tick.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::axum::{KeyRotation, TokenGate};
    /// use tokengate::keys::Algorithm;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let task = KeyRotation::new(gate.clone(), Algorithm::EdDSA).spawn(Duration::from_secs(30 * 86400));
    /// task.abort();
    /// # });
    /// ```
    pub fn spawn(mut self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let start = tokio::time::Instant::now() + every;
            let mut ticks = tokio::time::interval_at(start, every);
            loop {
                ticks.tick().await;
                match self.rotate_now() {
                    Ok(kid) => tracing::info!(kid = %kid, "signing key rotated"),
                    Err(error) => tracing::error!(%error, "signing key rotation failed"),
                }
            }
        })
    }
}
