//! One trusted issuer's keys: fetched, kept fresh, refetched on an unknown
//! key id (one fetch at a time, at most once per cooldown), and kept when
//! the issuer cannot be reached.

use crate::TokenRejection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::fetch::{self, Failed, Failure, IssuerError};
use super::{ScopesClaim, TrustedIssuer, strings_at};
use crate::Error;
use crate::claims::{Fresh, TokenType};
use crate::keys::KeyRing;
use crate::token::{Origin, TokenEngine, Validation, VerifiedToken};

/// Refreshes never come closer than this, whatever `max-age` says.
const MIN_REFRESH: Duration = Duration::from_secs(60);
/// Nor further apart than this.
const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// The first retry after a failed fetch; doubles up to the refresh interval.
const FIRST_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(super) struct IssuerKeys {
    config: TrustedIssuer,
    origin: Origin,
    client: reqwest::Client,
    /// A verify-only engine over the current keys; replaced whole.
    engine: RwLock<Arc<TokenEngine>>,
    /// Bumped by every successful fetch.
    generation: AtomicU64,
    /// Shared by every issuer of the set, bumped with `generation`.
    keys_version: Arc<AtomicU64>,
    /// Held while fetching: concurrent callers wait for the one fetch.
    fetching: tokio::sync::Mutex<()>,
    /// When an unknown key id last caused a fetch.
    last_unknown_kid_fetch: Mutex<Option<Instant>>,
    /// The discovered JWKS URI, once known.
    jwks_uri: Mutex<Option<String>>,
}

impl IssuerKeys {
    pub(super) fn new(
        config: TrustedIssuer,
        client: reqwest::Client,
        keys_version: Arc<AtomicU64>,
    ) -> Self {
        let engine = engine(&config, KeyRing::verify_only([]));
        IssuerKeys {
            origin: Origin::Trusted(config.issuer.as_str().into()),
            jwks_uri: Mutex::new(config.jwks_uri.clone()),
            config,
            client,
            engine: RwLock::new(Arc::new(engine)),
            generation: AtomicU64::new(0),
            keys_version,
            fetching: tokio::sync::Mutex::new(()),
            last_unknown_kid_fetch: Mutex::new(None),
        }
    }

    pub(super) fn config(&self) -> &TrustedIssuer {
        &self.config
    }

    fn engine(&self) -> Arc<TokenEngine> {
        self.engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fetches the keys now (waiting for a fetch in progress first) and
    /// installs them; on failure the keys held stay. Returns the JWKS
    /// response's `max-age`.
    pub(super) async fn refresh(&self) -> Result<Option<Duration>, IssuerError> {
        let _one_at_a_time = self.fetching.lock().await;
        self.fetch_and_install().await
    }

    async fn fetch_and_install(&self) -> Result<Option<Duration>, IssuerError> {
        let fetched = self.fetch().await;
        #[cfg(feature = "metrics")]
        crate::metrics::jwks_fetch(
            &self.config.issuer,
            fetched
                .as_ref()
                .map_or_else(|f| f.failure.as_str(), |_| "ok"),
        );
        let fetched = fetched.map_err(|failed| {
            tracing::debug!(issuer = %self.config.issuer, failure = failed.failure.as_str(), "cannot load trusted issuer keys");
            failed.error
        })?;
        tracing::info!(issuer = %self.config.issuer, keys = fetched.keys.len(), "trusted issuer keys loaded");
        let ring = KeyRing::verify_only(fetched.keys);
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(engine(&self.config, ring));
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.keys_version.fetch_add(1, Ordering::AcqRel);
        Ok(fetched.max_age)
    }

    /// Discovery when the JWKS URI is not known yet, then the JWKS.
    async fn fetch(&self) -> Result<fetch::Keys, Failed> {
        let known = self
            .jwks_uri
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let uri = match known {
            Some(uri) => uri,
            None => {
                let uri = fetch::discover(&self.client, &self.config.issuer).await?;
                *self.jwks_uri.lock().unwrap_or_else(|e| e.into_inner()) = Some(uri.clone());
                uri
            }
        };
        let fetched = fetch::jwks(&self.client, &uri, &self.config).await?;
        if fetched.keys.is_empty() {
            // An empty set would lock every user out: keep what we have.
            return Err(Failed::new(
                Failure::Invalid,
                IssuerError::Jwks {
                    url: uri,
                    reason: "no usable signing key".into(),
                },
            ));
        }
        Ok(fetched)
    }

    /// Loads the keys, then refreshes them on `max-age` or the interval,
    /// retrying sooner after a failure; runs until the runtime stops.
    pub(super) async fn keep_fresh(self: Arc<Self>) {
        let mut retry = FIRST_RETRY;
        loop {
            let wait = match self.refresh().await {
                Ok(max_age) => {
                    retry = FIRST_RETRY;
                    max_age
                        .unwrap_or(self.config.refresh_interval)
                        .clamp(MIN_REFRESH, MAX_REFRESH)
                }
                Err(e) => {
                    tracing::warn!(issuer = %self.config.issuer, error = %e, "cannot load trusted issuer keys; keeping the current ones");
                    let wait = retry;
                    retry = (retry * 2).min(self.config.refresh_interval.max(FIRST_RETRY));
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// A token named a key id we do not hold: fetch once, unless a fetch
    /// finished since `seen` (its keys are what we would get) or the last
    /// such fetch is more recent than the cooldown.
    async fn refetch_for_unknown_kid(&self, seen: u64) {
        let _one_at_a_time = self.fetching.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        {
            let mut last = self
                .last_unknown_kid_fetch
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.config.unknown_kid_cooldown) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Err(e) = self.fetch_and_install().await {
            tracing::warn!(issuer = %self.config.issuer, error = %e, "cannot refetch trusted issuer keys");
        }
    }

    /// Verifies a token whose `iss` named this issuer.
    pub(super) async fn verify(&self, token: &str, now: i64) -> Result<VerifiedToken, Error> {
        let seen = self.generation.load(Ordering::Acquire);
        let mut engine = self.engine();
        let (header, known) = engine.peek(token)?;
        if !self.config.allows(header.alg) {
            return Err(TokenRejection::Invalid("algorithm not accepted for this issuer").into());
        }
        if !self.config.typ_matches(header.typ.as_deref()) {
            return Err(TokenRejection::Invalid("wrong token type (typ header)").into());
        }
        if !known {
            self.refetch_for_unknown_kid(seen).await;
            engine = self.engine();
        }
        let mut verified = engine.verify_at(token, now)?;
        // Refresh tokens, freshness and login families are this service's
        // own: another issuer's token is a plain access token.
        if verified.claims.token_type == Some(TokenType::Refresh) {
            return Err(TokenRejection::WrongType(TokenType::Access).into());
        }
        verified.claims.fresh = Fresh::No;
        verified.claims.family = None;
        if self.config.scopes_claim != ScopesClaim::Scope || self.config.roles_claim.is_some() {
            let payload = verified.payload();
            if self.config.scopes_claim != ScopesClaim::Scope {
                verified.claims.scopes = strings_at(&payload, self.config.scopes_claim.name())?;
            }
            if let Some(path) = &self.config.roles_claim {
                verified.claims.roles = strings_at(&payload, path)?;
            }
        }
        verified.origin = self.origin.clone();
        Ok(verified)
    }
}

/// A verify-only engine for `config`'s tokens over `ring`.
fn engine(config: &TrustedIssuer, ring: KeyRing) -> TokenEngine {
    // Access tokens of other issuers need not carry jti, type or iat.
    TokenEngine::new(ring).with_validation(
        Validation::external()
            .issuer(config.issuer.clone())
            .audience(config.audience.iter().cloned())
            .leeway(config.leeway),
    )
}
