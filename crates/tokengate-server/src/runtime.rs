//! Turning [`Settings`] into running parts: database, keys, token engine,
//! gate. Shared by `serve` and the admin commands, which act on the same
//! database and keys while the service runs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use tokengate::axum::TokenGate;
use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::oidc::{OidcLogin, OidcProvider};
use tokengate::token::{IssueSettings, TokenEngine, Validation};
use tokengate::transport::{CookieSettings, Transport};

#[cfg(feature = "redis")]
use crate::cluster::Redis;
use crate::config::{IpNetwork, Settings};
use crate::keystore::{KeyStore, KeyStoreError};
use crate::storage::{Database, SqlLogins, SqlRevocations, StorageError};

/// The default algorithm of a generated key. ES256 rather than EdDSA: every
/// JWT library and gateway verifies ES256 (it is "Recommended+" in RFC 7518,
/// EdDSA only optional, and some, e.g. AWS ALB and older Java stacks, lack
/// it), at a small cost: EdDSA verifies about 20% faster here (BENCHMARKS.md).
pub(crate) const DEFAULT_ALGORITHM: Algorithm = Algorithm::ES256;

/// A start-up failure, naming what could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("files_dir or link key: {0}")]
    Files(std::io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    #[error("private_key_file {0}: {1}")]
    KeyFile(String, String),
    #[error("secret_key: {0}")]
    Secret(String),
    #[error("revocations: {0}")]
    Revocations(#[from] sqlx::Error),
    #[error(transparent)]
    Issuers(#[from] tokengate::issuers::IssuerError),
    #[error("webauthn_rp_id, webauthn_origin: {0}")]
    Passkeys(String),
    #[cfg(feature = "redis")]
    #[error("redis_url: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Where the signing keys come from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// Generated and rotated in the data directory, or in PostgreSQL.
    Store(KeyStore, Algorithm),
    /// Configured (`private_key_file` or `secret_key`): never rotated here.
    Fixed(KeyRing),
}

impl KeySource {
    /// Configured keys, else the store of `db` if it is PostgreSQL and
    /// `key_encryption_secret` is set, else files in `data_dir`.
    pub(crate) fn from_settings(
        settings: &Settings,
        db: &Database,
    ) -> Result<KeySource, StartError> {
        if let Some(secret) = &settings.secret_key {
            let alg = settings.algorithm.unwrap_or(Algorithm::HS256);
            let key = SigningKey::from_secret(alg, secret.expose().as_bytes())
                .map_err(|e| StartError::Secret(e.to_string()))?;
            return Ok(KeySource::Fixed(KeyRing::new(key)));
        }
        if let Some(path) = &settings.private_key_file {
            let shown = path.display().to_string();
            let pem = fs::read_to_string(path)
                .map_err(|e| StartError::KeyFile(shown.clone(), e.to_string()))?;
            let key = SigningKey::from_pem(&pem, settings.algorithm)
                .map_err(|e| StartError::KeyFile(shown, e.to_string()))?;
            return Ok(KeySource::Fixed(KeyRing::new(key)));
        }
        let overlap = settings.access_token_ttl.max(settings.refresh_token_ttl);
        let alg = settings.algorithm.unwrap_or(DEFAULT_ALGORITHM);
        #[cfg(feature = "postgres")]
        if let (Some(secret), crate::storage::Pool::Postgres(pool)) =
            (&settings.key_encryption_secret, db.pool())
        {
            let store = KeyStore::database(pool.clone(), secret, overlap)?;
            return Ok(KeySource::Store(store, alg));
        }
        if db.is_shared() {
            tracing::warn!(
                "signing keys are kept in {}: instances on this database will not share them \
                 unless they share private_key_file or key_encryption_secret",
                settings.data_dir.join("keys").display()
            );
        }
        Ok(KeySource::Store(
            KeyStore::in_directory(&settings.data_dir, overlap),
            alg,
        ))
    }

    /// The current ring (generating the first key of a new store).
    pub(crate) async fn ring(&self) -> Result<KeyRing, StartError> {
        match self {
            KeySource::Store(store, alg) => Ok(store.load_or_generate(*alg).await?),
            KeySource::Fixed(ring) => Ok(ring.clone()),
        }
    }
}

/// The token engine of the settings: lifetimes, `iss`, `aud`, leeway.
pub(crate) fn engine(settings: &Settings, ring: KeyRing) -> TokenEngine {
    TokenEngine::new(ring)
        .with_settings(
            IssueSettings::default()
                .access_ttl(settings.access_token_ttl)
                .refresh_ttl(settings.refresh_token_ttl)
                .issuer(settings.issuer.clone())
                .audience(settings.audience.iter().cloned()),
        )
        // iss and aud come from the settings above.
        .with_validation(Validation::new().leeway(settings.leeway))
}

/// The `[[oidc_providers]]` of the settings (discovered at the first login).
pub(crate) fn oidc_login(settings: &Settings, db: &Database) -> Result<OidcLogin, StartError> {
    let list = settings.oidc_providers.iter().map(|c| {
        let mut provider = OidcProvider::new(
            c.name.clone(),
            c.issuer.clone(),
            c.client_id.clone(),
            c.redirect_url.clone(),
        )
        .scopes(c.scopes.iter().cloned());
        if let Some(secret) = &c.client_secret {
            provider = provider.client_secret(secret.expose());
        }
        if let Some(url) = &c.post_logout_redirect_url {
            provider = provider.post_logout_redirect_url(url.clone());
        }
        if let Some(claim) = &c.display_name_claim {
            provider = provider.display_name_claim(claim.clone());
        }
        provider
    });
    // In the database: any instance finishes a login another began.
    Ok(OidcLogin::new(list.collect())?
        .with_pending_logins(Arc::new(crate::storage::SqlPendingLogins::new(db.clone()))))
}

/// The relying party of passkeys. Its decoy credential ids (the answer to
/// a login started for an unknown username) derive from
/// `key_encryption_secret` when it is set, so that every instance and
/// restart gives one name the same ones; else from a key of this process.
pub(crate) fn relying_party(
    settings: &Settings,
) -> Result<tokengate::passkeys::RelyingParty, StartError> {
    let invalid = |e: tokengate::passkeys::PasskeyError| StartError::Passkeys(e.to_string());
    let rp =
        tokengate::passkeys::RelyingParty::new(&settings.webauthn_rp_id, &settings.webauthn_origin)
            .map_err(invalid)?;
    match &settings.key_encryption_secret {
        Some(secret) => {
            let key =
                aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.expose().as_bytes());
            let derived = aws_lc_rs::hmac::sign(&key, b"tokengate passkey decoy key v1");
            rp.decoy_key(derived.as_ref()).map_err(invalid)
        }
        None => Ok(rp),
    }
}

/// The `[[trusted_issuers]]` of the settings (their keys are fetched by
/// [`spawn_upkeep`], never at start: an issuer that is down must not keep
/// the service from starting).
fn trusted_issuers(settings: &Settings) -> Result<TrustedIssuers, StartError> {
    let list = settings.trusted_issuers.iter().map(|c| {
        let mut issuer = TrustedIssuer::new(c.issuer.clone(), c.audience.iter().cloned())
            .leeway(settings.leeway);
        if let Some(uri) = &c.jwks_uri {
            issuer = issuer.jwks_uri(uri.clone());
        }
        if let Some(algs) = &c.algorithms {
            issuer = issuer.algorithms(algs.iter().copied());
        }
        if let Some(claim) = c.scopes_claim.as_deref().and_then(|c| c.parse().ok()) {
            issuer = issuer.scopes_claim(claim);
        }
        if let Some(path) = &c.roles_claim {
            issuer = issuer.roles_claim(path.clone());
        }
        if let Some(typ) = &c.required_typ {
            issuer = issuer.required_typ(typ.clone());
        }
        issuer
    });
    Ok(TrustedIssuers::new(list.collect())?)
}

fn transport(settings: &Settings) -> Transport {
    let mut cookies = CookieSettings::default().same_site(settings.cookie_samesite);
    if settings.cookie_secure {
        cookies = cookies.secure();
    }
    if let Some(domain) = &settings.cookie_domain {
        cookies = cookies.domain(domain.clone());
    }
    Transport::default()
        .cookie_settings(cookies)
        .locations(settings.token_locations.iter().copied())
}

/// Creates the data directory, readable only by its owner.
pub(crate) fn ensure_data_dir(settings: &Settings) -> Result<(), StartError> {
    let dir = &settings.data_dir;
    let fail = |e| StartError::DataDir(dir.display().to_string(), e);
    fs::create_dir_all(dir).map_err(fail)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(fail)
}

/// Opens the database of the settings, creating the data directory and a
/// SQLite file if needed: what `serve` does.
pub(crate) async fn database(settings: &Settings) -> Result<Database, StartError> {
    ensure_data_dir(settings)?;
    Ok(Database::open(settings.database_url.as_str(), settings.database_pool_size).await?)
}

/// Opens the service's existing database: what the admin commands do. A
/// missing SQLite file is an error naming its path and the settings that
/// point at it, never a new empty database.
pub(crate) async fn existing_database(settings: &Settings) -> Result<Database, StartError> {
    Ok(
        Database::open_existing(settings.database_url.as_str(), settings.database_pool_size)
            .await?,
    )
}

/// Everything `serve` runs with.
pub(crate) struct Runtime {
    pub(crate) db: Database,
    pub(crate) keys: KeySource,
    pub(crate) gate: TokenGate,
    pub(crate) revocations: SqlRevocations,
    pub(crate) logins: SqlLogins,
    /// The Redis the instances share, if configured.
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<Redis>,
}

/// Opens the database and keys and builds the gate.
pub(crate) async fn open(settings: &Settings) -> Result<Runtime, StartError> {
    let db = database(settings).await?;
    let keys = KeySource::from_settings(settings, &db)?;
    let ring = keys.ring().await?;
    let lifetime = settings.access_token_ttl.max(settings.refresh_token_ttl);
    // Read in the background (spawn_upkeep): a million take a few seconds,
    // and the store is exact meanwhile.
    let revocations = SqlRevocations::open(db.clone(), lifetime);
    #[cfg(feature = "redis")]
    let redis = settings
        .redis_url
        .as_ref()
        .map(|url| Redis::new(url, &settings.redis_prefix))
        .transpose()?;
    #[cfg(feature = "redis")]
    let revocations = match &redis {
        Some(redis) => revocations.with_fanout(Arc::new(redis.clone())),
        None => revocations,
    };
    let logins = SqlLogins::new(db.clone());
    let gate = TokenGate::new(engine(settings, ring))
        .with_trusted_issuers(trusted_issuers(settings)?)
        .with_transport(transport(settings))
        .with_revocation(Arc::new(revocations.clone()))
        .with_logins(Arc::new(logins.clone()))
        .with_refresh_reuse_interval(settings.refresh_reuse_interval);
    #[cfg(feature = "redis")]
    let gate = gate.with_dpop(dpop(settings, redis.as_ref()));
    #[cfg(not(feature = "redis"))]
    let gate = gate.with_dpop(dpop(settings));
    Ok(Runtime {
        db,
        keys,
        gate,
        revocations,
        logins,
        #[cfg(feature = "redis")]
        redis,
    })
}

/// The DPoP rules of the settings. Proofs used are shared through Redis
/// when there is one; nonces are keyed by `key_encryption_secret` when it
/// is set, so that every instance accepts the others' (else by a key of
/// this process). A proof's URL is the one the client used: behind a
/// trusted proxy, its `X-Forwarded-Proto` and `X-Forwarded-Host`.
fn dpop(
    settings: &Settings,
    #[cfg(feature = "redis")] redis: Option<&Redis>,
) -> tokengate::dpop::Dpop {
    use tokengate::dpop::{Dpop, Nonces};
    let mut dpop = Dpop::default()
        .mode(settings.dpop)
        .algorithms(settings.dpop_algorithms.iter().copied())
        .max_age(settings.dpop_proof_max_age);
    // A nonce is good for one to two periods: long enough for a client's
    // retry, short enough that a stolen proof with it soon goes stale.
    let period = Duration::from_secs(300);
    if settings.dpop_nonce {
        dpop = dpop.nonces(match &settings.key_encryption_secret {
            Some(secret) => {
                let key = aws_lc_rs::hmac::Key::new(
                    aws_lc_rs::hmac::HMAC_SHA256,
                    secret.expose().as_bytes(),
                );
                let derived = aws_lc_rs::hmac::sign(&key, b"tokengate DPoP nonce key v1");
                Nonces::new(derived.as_ref(), period)
            }
            None => Nonces::random(period),
        });
    }
    #[cfg(feature = "redis")]
    if let Some(redis) = redis {
        dpop = dpop.replay_store(Arc::new(crate::cluster::SharedProofReplay::new(
            redis.clone(),
        )));
    }
    let proxies = settings.trusted_proxies.clone();
    dpop.url_of(move |parts| request_url(parts, &proxies))
}

/// The absolute URL a request was sent to: the `Host` header over plain
/// HTTP, or what a trusted proxy forwards (`X-Forwarded-Proto`,
/// `X-Forwarded-Host`).
fn request_url(parts: &http::request::Parts, proxies: &[IpNetwork]) -> Option<String> {
    let header = |name: &str| {
        let mut values = parts.headers.get_all(name).iter();
        let first = values.next()?.to_str().ok()?;
        // A list: the last value is the one the nearest (trusted) proxy added.
        values
            .next()
            .is_none()
            .then(|| first.rsplit(',').next().unwrap_or(first).trim())
    };
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let behind_proxy = peer.is_some_and(|ip| IpNetwork::any_contains(proxies, ip));
    let (scheme, host) = if behind_proxy {
        (
            header("x-forwarded-proto").unwrap_or("http"),
            header("x-forwarded-host").or_else(|| header("host"))?,
        )
    } else {
        (
            "http",
            parts.headers.get(http::header::HOST)?.to_str().ok()?,
        )
    };
    let path = tokengate::dpop::original_uri(parts).path();
    Some(format!("{scheme}://{host}{path}"))
}

/// Background upkeep: follow revocations written elsewhere, pick up key
/// rotations, purge what has expired.
pub(crate) fn spawn_upkeep(parts: &Runtime, settings: Arc<Settings>) {
    if let Some(issuers) = parts.gate.trusted_issuers() {
        issuers.start();
    }
    parts
        .revocations
        .clone()
        .follow(settings.revocation_poll_interval);
    #[cfg(feature = "redis")]
    if let Some(redis) = &parts.redis {
        redis.follow(parts.revocations.clone());
    }

    let (revocations, logins, db) = (
        parts.revocations.clone(),
        parts.logins.clone(),
        parts.db.clone(),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = tokengate::clock::now().as_secs();
            if let Err(e) = revocations.purge_expired(now).await {
                tracing::warn!(error = %e, "cannot purge revocations");
            }
            if let Err(e) = logins.purge_expired(now).await {
                tracing::warn!(error = %e, "cannot purge logins");
            }
            if let Err(e) = db.purge_expired_oidc_logins(now).await {
                tracing::warn!(error = %e, "cannot purge OIDC logins");
            }
            if let Err(e) = db.purge_expired_ceremonies(tokengate::clock::now()).await {
                tracing::warn!(error = %e, "cannot purge passkey ceremonies");
            }
        }
    });

    if let KeySource::Store(store, _) = &parts.keys {
        let (store, gate) = (store.clone(), parts.gate.clone());
        tokio::spawn(async move {
            // Unreadable (the database away): keep the keys, try next tick.
            let mut seen = store.fingerprint().await.ok();
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let now = match store.fingerprint().await {
                    Ok(now) => now,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot read the signing keys");
                        continue;
                    }
                };
                if seen.as_ref() == Some(&now) {
                    continue;
                }
                match store.ring().await {
                    Ok(ring) if ring.signing_key().is_some() => {
                        tracing::info!(keys = ring.verifying_keys().len(), "signing keys reloaded");
                        gate.replace_engine(engine(&settings, ring));
                        seen = Some(now);
                    }
                    Ok(_) => tracing::warn!("the key store has no key; keeping the current ones"),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reload keys; keeping the current ones")
                    }
                }
            }
        });
    }
}
