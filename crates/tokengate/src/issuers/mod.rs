//! Trusted external issuers: access tokens of Auth0, Keycloak or any OpenID
//! provider, checked against the issuer's JWKS.
//!
//! A token's issuer is chosen by its `iss` among the configured ones (an
//! exact string match), then the key by `kid` within that issuer's keys
//! only; a token never names its own key (`jku`, `x5u`, `jwk` are refused
//! by the header rules). Keys come from discovery and the JWKS, are cached,
//! refreshed on the response's `Cache-Control: max-age` (or an interval),
//! kept while the issuer is unreachable, and refetched when a token names an
//! unknown `kid`: one fetch at a time per issuer, at most once per cooldown.
//!
//! ```no_run
//! use tokengate::issuers::{ScopesClaim, TrustedIssuer, TrustedIssuers};
//!
//! # async fn run() -> Result<(), tokengate::issuers::IssuerError> {
//! let auth0 = TrustedIssuer::new("https://tenant.eu.auth0.com/", ["https://api.example.com"])
//!     .scopes_claim(ScopesClaim::Permissions);
//! let issuers = TrustedIssuers::new(vec![auth0])?;
//! issuers.start(); // first fetch in the background: start-up never waits on the issuer
//! let verified = issuers.verify("eyJ...").await;
//! # Ok(()) }
//! ```

mod fetch;
mod keys;

use crate::TokenRejection;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::Error;
use crate::jws::{self, ClaimValue};
use crate::keys::Algorithm;
use crate::token::VerifiedToken;

pub use fetch::IssuerError;
use keys::IssuerKeys;

/// Where a trusted issuer's tokens carry their scopes.
///
/// ```
/// use tokengate::issuers::ScopesClaim;
///
/// let auth0_rbac: ScopesClaim = "permissions".parse().unwrap();
/// assert_eq!(auth0_rbac, ScopesClaim::Permissions);
/// assert_eq!(ScopesClaim::default().name(), "scope");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScopesClaim {
    /// `scope`: a space-separated string (RFC 9068, Keycloak, Auth0 with scopes).
    #[default]
    Scope,
    /// `scp`: an array of strings (or a string), as Azure AD and Okta send.
    Scp,
    /// `permissions`: Auth0's RBAC permissions, an array of strings.
    Permissions,
}

impl ScopesClaim {
    /// The claim's name.
    ///
    /// ```
    /// use tokengate::issuers::ScopesClaim;
    ///
    /// assert_eq!(ScopesClaim::Scp.name(), "scp");
    /// assert_eq!(ScopesClaim::Permissions.name().parse::<ScopesClaim>(), Ok(ScopesClaim::Permissions));
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ScopesClaim::Scope => "scope",
            ScopesClaim::Scp => "scp",
            ScopesClaim::Permissions => "permissions",
        }
    }
}

impl std::str::FromStr for ScopesClaim {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "scope" => Ok(ScopesClaim::Scope),
            "scp" => Ok(ScopesClaim::Scp),
            "permissions" => Ok(ScopesClaim::Permissions),
            _ => Err(format!("{s:?} is not scope, scp or permissions")),
        }
    }
}

/// One trusted issuer: whose tokens, for which audience, with which keys.
///
/// ```
/// use std::time::Duration;
/// use tokengate::issuers::TrustedIssuer;
/// use tokengate::keys::Algorithm;
///
/// let keycloak = TrustedIssuer::new("http://127.0.0.1:8080/realms/dev", ["account"])
///     .algorithms([Algorithm::RS256])
///     .roles_claim("realm_access.roles")
///     .required_typ("at+jwt")
///     .refresh_interval(Duration::from_secs(600));
/// assert_eq!(keycloak.issuer, "http://127.0.0.1:8080/realms/dev");
/// ```
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    /// The exact `iss` of its tokens (also the base of its discovery document).
    pub issuer: String,
    /// Accepted `aud` values: a token must name at least one.
    pub audience: Vec<String>,
    /// Its JWKS; `None`: from `{issuer}/.well-known/openid-configuration`.
    pub jwks_uri: Option<String>,
    /// Accepted algorithms; empty: every asymmetric one. HMAC is never
    /// accepted from an issuer: its JWKS would have to publish the secret.
    pub algorithms: Vec<Algorithm>,
    /// Where scopes come from.
    pub scopes_claim: ScopesClaim,
    /// A dotted path to an array of roles (`realm_access.roles`,
    /// `resource_access.my-client.roles`).
    pub roles_claim: Option<String>,
    /// The `typ` header its tokens must carry (`at+jwt`, RFC 9068);
    /// compared case-insensitively, with or without `application/`.
    pub required_typ: Option<String>,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// How often the keys are refreshed when the JWKS response has no
    /// `Cache-Control: max-age` (default 1 hour).
    pub refresh_interval: Duration,
    /// Least time between two refetches caused by unknown key ids (default 60 s).
    pub unknown_kid_cooldown: Duration,
}

impl TrustedIssuer {
    /// An issuer with the defaults: discovery, asymmetric algorithms,
    /// `scope`, no roles, any `typ`, no leeway.
    ///
    /// ```
    /// use tokengate::issuers::TrustedIssuer;
    ///
    ///
    /// let auth0 = TrustedIssuer::new("https://tenant.eu.auth0.com/", ["https://api.example.com"]);
    /// assert_eq!(auth0.audience, ["https://api.example.com"]);
    /// assert!(auth0.jwks_uri.is_none() && auth0.algorithms.is_empty() && auth0.leeway == 0);
    /// ```
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        issuer: impl Into<String>,
        audience: I,
    ) -> Self {
        TrustedIssuer {
            issuer: issuer.into(),
            audience: audience.into_iter().map(Into::into).collect(),
            jwks_uri: None,
            algorithms: Vec::new(),
            scopes_claim: ScopesClaim::Scope,
            roles_claim: None,
            required_typ: None,
            leeway: 0,
            refresh_interval: Duration::from_secs(3600),
            unknown_kid_cooldown: Duration::from_secs(60),
        }
    }

    /// Fetches keys from this JWKS instead of discovering it.
    ///
    /// ```
    /// use tokengate::issuers::TrustedIssuer;
    ///
    ///
    /// let issuer = TrustedIssuer::new("https://idp.example/", ["api"]).jwks_uri("https://idp.example/keys");
    /// assert_eq!(issuer.jwks_uri.as_deref(), Some("https://idp.example/keys"));
    /// ```
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Accepts only these algorithms.
    ///
    /// ```
    /// use tokengate::issuers::TrustedIssuer;
    /// use tokengate::keys::Algorithm;
    ///
    ///
    /// let issuer = TrustedIssuer::new("https://idp.example/", ["api"]).algorithms([Algorithm::RS256, Algorithm::PS256]);
    /// assert_eq!(issuer.algorithms, [Algorithm::RS256, Algorithm::PS256]);
    /// ```
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Reads scopes from this claim.
    ///
    /// ```
    /// use tokengate::issuers::{ScopesClaim, TrustedIssuer};
    ///
    /// let okta = TrustedIssuer::new("https://dev.okta.com/oauth2/default", ["api://default"]).scopes_claim(ScopesClaim::Scp);
    /// assert_eq!(okta.scopes_claim, ScopesClaim::Scp);
    /// ```
    pub fn scopes_claim(mut self, claim: ScopesClaim) -> Self {
        self.scopes_claim = claim;
        self
    }

    /// Reads roles from this dotted path.
    ///
    /// ```
    /// use tokengate::issuers::TrustedIssuer;
    ///
    ///
    /// let issuer = TrustedIssuer::new("https://kc.example/realms/dev", ["account"]).roles_claim("resource_access.memos.roles");
    /// assert_eq!(issuer.roles_claim.as_deref(), Some("resource_access.memos.roles"));
    /// ```
    pub fn roles_claim(mut self, path: impl Into<String>) -> Self {
        self.roles_claim = Some(path.into());
        self
    }

    /// Requires this `typ` header.
    ///
    /// ```
    /// use tokengate::issuers::TrustedIssuer;
    ///
    ///
    /// let issuer = TrustedIssuer::new("https://idp.example/", ["api"]).required_typ("at+jwt"); // RFC 9068
    /// assert_eq!(issuer.required_typ.as_deref(), Some("at+jwt"));
    /// ```
    pub fn required_typ(mut self, typ: impl Into<String>) -> Self {
        self.required_typ = Some(typ.into());
        self
    }

    /// Allows this much clock skew, in seconds.
    ///
    /// ```
    /// use tokengate::issuers::TrustedIssuer;
    ///
    ///
    /// assert_eq!(TrustedIssuer::new("https://idp.example/", ["api"]).leeway(30).leeway, 30);
    /// ```
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Refreshes keys this often when the issuer gives no `max-age`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::issuers::TrustedIssuer;
    ///
    ///
    /// let issuer = TrustedIssuer::new("https://idp.example/", ["api"]);
    /// assert_eq!(issuer.refresh_interval, Duration::from_secs(3600));
    /// assert_eq!(issuer.refresh_interval(Duration::from_secs(600)).refresh_interval, Duration::from_secs(600));
    /// ```
    pub fn refresh_interval(mut self, every: Duration) -> Self {
        self.refresh_interval = every;
        self
    }

    /// Refetches for unknown key ids at most this often.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::issuers::TrustedIssuer;
    ///
    ///
    /// let issuer = TrustedIssuer::new("https://idp.example/", ["api"]);
    /// assert_eq!(issuer.unknown_kid_cooldown, Duration::from_secs(60));
    /// let issuer = issuer.unknown_kid_cooldown(Duration::from_secs(5));
    /// assert_eq!(issuer.unknown_kid_cooldown, Duration::from_secs(5));
    /// ```
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.unknown_kid_cooldown = cooldown;
        self
    }

    /// Whether tokens of this issuer may use `alg`.
    fn allows(&self, alg: Algorithm) -> bool {
        use crate::keys::KeyFamily;
        if self.algorithms.is_empty() {
            alg.family() != KeyFamily::Hmac
        } else {
            self.algorithms.contains(&alg)
        }
    }

    fn typ_matches(&self, typ: Option<&str>) -> bool {
        let Some(required) = &self.required_typ else {
            return true;
        };
        // RFC 7515 §4.1.9: "application/" may be left out, case-insensitive.
        let bare = |t: &str| {
            let t = t.trim();
            match t.get(..12) {
                Some(prefix) if prefix.eq_ignore_ascii_case("application/") => t[12..].to_owned(),
                _ => t.to_owned(),
            }
        };
        typ.is_some_and(|typ| bare(typ).eq_ignore_ascii_case(&bare(required)))
    }
}

/// The configured issuers, with their keys. Cheap to clone. Give them to
/// [`TokenGate::with_trusted_issuers`](crate::axum::TokenGate::with_trusted_issuers)
/// so that the extractors accept their tokens.
///
/// ```
/// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
///
/// let issuers = TrustedIssuers::new(vec![
///     TrustedIssuer::new("https://tenant.eu.auth0.com/", ["https://api.example.com"]).leeway(30),
///     TrustedIssuer::new("https://keycloak.example.com/realms/dev", ["account"]),
/// ]).unwrap();
/// assert!(issuers.trusts("https://tenant.eu.auth0.com/"));
/// assert!(!issuers.trusts("https://tenant.eu.auth0.com")); // exact match: no trailing slash, no trust
/// assert_eq!(issuers.leeway_of("https://tenant.eu.auth0.com/"), Some(30));
/// assert_eq!(issuers.configs().count(), 2);
///
/// // Refused: an issuer without an audience, and one listed twice.
/// assert!(TrustedIssuers::new(vec![TrustedIssuer::new("https://a.example/", [""; 0])]).is_err());
/// let twice = TrustedIssuer::new("https://a.example/", ["api"]);
/// assert!(TrustedIssuers::new(vec![twice.clone(), twice]).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct TrustedIssuers {
    issuers: Arc<[Arc<IssuerKeys>]>,
    /// Bumped whenever any issuer's keys change: what a verification
    /// remembered with older keys must be checked again.
    keys_version: Arc<AtomicU64>,
}

impl TrustedIssuers {
    /// The issuers of `list`, no keys yet: call [`TrustedIssuers::start`]
    /// (or let the first token fetch them). Refuses two entries for one
    /// `iss` and an HTTP client that cannot be built.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    ///
    ///
    /// let issuers = TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", ["api"])]).unwrap();
    /// assert!(issuers.trusts("https://idp.example/"));
    /// let err = TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", [""])]).unwrap_err();
    /// assert_eq!(err.to_string(), "trusted issuers: issuer https://idp.example/ has no audience");
    /// ```
    pub fn new(list: Vec<TrustedIssuer>) -> Result<Self, IssuerError> {
        let client = fetch::client()?;
        let keys_version = Arc::new(AtomicU64::new(1));
        let mut issuers: Vec<Arc<IssuerKeys>> = Vec::with_capacity(list.len());
        for config in list {
            if config.audience.iter().all(|a| a.trim().is_empty()) {
                // Without an audience, a token minted for any API of the
                // issuer would pass here.
                return Err(IssuerError::Config(format!(
                    "issuer {} has no audience",
                    config.issuer
                )));
            }
            if issuers.iter().any(|i| i.config().issuer == config.issuer) {
                return Err(IssuerError::Config(format!(
                    "issuer {} is listed twice",
                    config.issuer
                )));
            }
            issuers.push(Arc::new(IssuerKeys::new(
                config,
                client.clone(),
                keys_version.clone(),
            )));
        }
        Ok(TrustedIssuers {
            issuers: issuers.into(),
            keys_version,
        })
    }

    /// Whether no issuer is configured.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    ///
    ///
    /// assert!(TrustedIssuers::new(Vec::new()).unwrap().is_empty());
    /// assert!(!TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", ["api"])]).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The configured issuers.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    ///
    ///
    /// let issuers = TrustedIssuers::new(vec![
    ///     TrustedIssuer::new("https://a.example/", ["api"]),
    ///     TrustedIssuer::new("https://b.example/", ["api"]),
    /// ]).unwrap();
    /// let names: Vec<&str> = issuers.configs().map(|c| c.issuer.as_str()).collect();
    /// assert_eq!(names, ["https://a.example/", "https://b.example/"]);
    /// ```
    pub fn configs(&self) -> impl Iterator<Item = &TrustedIssuer> {
        self.issuers.iter().map(|i| i.config())
    }

    /// Fetches every issuer's keys in the background and keeps them fresh,
    /// for as long as the runtime runs. Needs a Tokio runtime.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    /// # use axum::{Json, Router, routing::get};
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{IssueSettings, NewToken, TokenEngine};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let settings = IssueSettings::default().issuer("https://idp.example/").audience(["api"]);
    /// # let idp = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::ES256).unwrap())).with_settings(settings);
    /// # let jwks = idp.keys().jwks();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    /// # tokio::spawn(async move { axum::serve(listener, Router::new().route("/jwks", get(move || async move { Json(jwks) }))).await });
    ///
    /// // `idp`: a provider whose keys are served at `jwks_uri`.
    /// let issuers = TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", ["api"]).jwks_uri(jwks_uri)]).unwrap();
    /// issuers.start(); // from within a Tokio runtime
    /// let token = idp.issue(NewToken::access("alice")).unwrap().token;
    /// assert_eq!(issuers.verify(&token).await.unwrap().subject(), "alice");
    /// # });
    /// ```
    pub fn start(&self) {
        for issuer in self.issuers.iter() {
            tokio::spawn(IssuerKeys::keep_fresh(issuer.clone()));
        }
    }

    /// Fetches every issuer's keys now (for tests and tools); the first error.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    /// # use axum::{Json, Router, routing::get};
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{IssueSettings, NewToken, TokenEngine};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let settings = IssueSettings::default().issuer("https://idp.example/").audience(["api"]);
    /// # let idp = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::ES256).unwrap())).with_settings(settings);
    /// # let jwks = idp.keys().jwks();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    /// # tokio::spawn(async move { axum::serve(listener, Router::new().route("/jwks", get(move || async move { Json(jwks) }))).await });
    /// let issuers = TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", ["api"]).jwks_uri(jwks_uri)]).unwrap();
    /// issuers.refresh_all().await.unwrap();
    /// let unreachable = TrustedIssuer::new("https://idp.example/", ["api"]).jwks_uri("http://127.0.0.1:1/jwks");
    /// let err = TrustedIssuers::new(vec![unreachable]).unwrap().refresh_all().await.unwrap_err();
    /// assert!(err.to_string().starts_with("http://127.0.0.1:1/jwks: "));
    /// # });
    /// ```
    pub async fn refresh_all(&self) -> Result<(), IssuerError> {
        for issuer in self.issuers.iter() {
            issuer.refresh().await?;
        }
        Ok(())
    }

    /// The configured issuer whose `iss` is exactly `iss`.
    fn find(&self, iss: &str) -> Option<&Arc<IssuerKeys>> {
        self.issuers.iter().find(|i| i.config().issuer == iss)
    }

    /// Whether `iss` is one of the configured issuers.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    ///
    ///
    /// let issuers = TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", ["api"])]).unwrap();
    /// assert!(issuers.trusts("https://idp.example/"));
    /// assert!(!issuers.trusts("https://idp.example")); // an exact match only
    /// ```
    pub fn trusts(&self, iss: &str) -> bool {
        self.find(iss).is_some()
    }

    /// The leeway of the issuer `iss`, if it is configured.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    ///
    ///
    /// let issuers = TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", ["api"]).leeway(10)]).unwrap();
    /// assert_eq!(issuers.leeway_of("https://idp.example/"), Some(10));
    /// assert_eq!(issuers.leeway_of("https://other.example/"), None);
    /// ```
    pub fn leeway_of(&self, iss: &str) -> Option<u64> {
        self.find(iss).map(|i| i.config().leeway)
    }

    /// A number that changes whenever any issuer's keys change.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    /// # use axum::{Json, Router, routing::get};
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{IssueSettings, NewToken, TokenEngine};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let settings = IssueSettings::default().issuer("https://idp.example/").audience(["api"]);
    /// # let idp = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::ES256).unwrap())).with_settings(settings);
    /// # let jwks = idp.keys().jwks();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    /// # tokio::spawn(async move { axum::serve(listener, Router::new().route("/jwks", get(move || async move { Json(jwks) }))).await });
    /// let issuers = TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", ["api"]).jwks_uri(jwks_uri)]).unwrap();
    /// let before = issuers.keys_version();
    /// issuers.refresh_all().await.unwrap(); // the first keys
    /// assert_ne!(issuers.keys_version(), before);
    /// # });
    /// ```
    pub fn keys_version(&self) -> u64 {
        self.keys_version.load(Ordering::Acquire)
    }

    /// Verifies an access token of one of the issuers at the current time.
    /// A token of any other issuer is refused before any key is fetched.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{IssueSettings, NewToken, TokenEngine};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let issuers = TrustedIssuers::new(vec![TrustedIssuer::new("https://tenant.eu.auth0.com/", ["api"])]).unwrap();
    /// let settings = IssueSettings::default().issuer("https://evil.example/");
    /// let stranger = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::ES256).unwrap()))
    ///     .with_settings(settings);
    /// let token = stranger.issue(NewToken::access("mallory")).unwrap().token;
    /// assert_eq!(issuers.verify(&token).await.unwrap_err().code(), "invalid_claims"); // untrusted issuer
    /// # });
    /// ```
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Error> {
        self.verify_at(token, crate::clock::now().as_secs()).await
    }

    /// Verifies an access token of one of the issuers as of `now`: the
    /// issuer by `iss`, its algorithms, `typ`, the key by `kid` among its
    /// keys (refetched once if unknown), the signature, `exp`/`nbf`/`iat`,
    /// `iss` and `aud`; then scopes and roles from the configured claims.
    ///
    /// ```
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    /// # use axum::{Json, Router, routing::get};
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{IssueSettings, NewToken, TokenEngine};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let settings = IssueSettings::default().issuer("https://idp.example/").audience(["api"]);
    /// # let idp = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::ES256).unwrap())).with_settings(settings);
    /// # let jwks = idp.keys().jwks();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    /// # tokio::spawn(async move { axum::serve(listener, Router::new().route("/jwks", get(move || async move { Json(jwks) }))).await });
    ///
    /// // `idp`: a provider whose keys are served at `jwks_uri`.
    /// let issuers = TrustedIssuers::new(vec![TrustedIssuer::new("https://idp.example/", ["api"]).jwks_uri(jwks_uri)]).unwrap();
    /// let issued = idp.issue(NewToken::access("alice").scope("read")).unwrap();
    /// let verified = issuers.verify_at(&issued.token, issued.expires_at - 1).await.unwrap();
    /// assert_eq!((verified.subject(), verified.origin.issuer()), ("alice", Some("https://idp.example/")));
    /// assert_eq!(issuers.verify_at(&issued.token, issued.expires_at).await.unwrap_err().code(), "token_expired");
    /// # });
    /// ```
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<VerifiedToken, Error> {
        let iss = peek_issuer(token)?.ok_or(Error::Token(TokenRejection::InvalidClaims(
            "missing claim: iss".into(),
        )))?;
        let issuer = self.find(&iss).ok_or_else(|| {
            Error::Token(TokenRejection::InvalidClaims("untrusted issuer".into()))
        })?;
        issuer.verify(token, now).await
    }
}

/// The `iss` of a token's payload, read before any signature check, only
/// to choose which issuer's keys may check it.
pub(crate) fn peek_issuer(token: &str) -> Result<Option<String>, Error> {
    if token.len() > jws::MAX_TOKEN_LEN {
        return Err(TokenRejection::Invalid("token is too large").into());
    }
    let payload = token
        .split('.')
        .nth(1)
        .ok_or(Error::Token(TokenRejection::Invalid(
            "token must have three segments",
        )))?;
    let json = jws::decode_segment(payload)?;
    let [iss] = jws::scan(&json, &["iss"])
        .map_err(|_| Error::Token(TokenRejection::Invalid("payload is not a JSON object")))?;
    match iss {
        None => Ok(None),
        Some(ClaimValue::Str(iss)) => Ok(Some(iss.into_owned())),
        Some(_) => Err(TokenRejection::InvalidClaims("iss must be a string".into()).into()),
    }
}

/// The strings at a dotted path of a payload (an array of strings, or one
/// string split on spaces); empty when absent.
fn strings_at(payload: &serde_json::Map<String, Value>, path: &str) -> Result<Vec<String>, Error> {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let mut value = match payload.get(first) {
        Some(v) => v,
        None => return Ok(Vec::new()),
    };
    for part in parts {
        match value.get(part) {
            Some(v) => value = v,
            None => return Ok(Vec::new()),
        }
    }
    match value {
        Value::String(s) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                Error::Token(TokenRejection::InvalidClaims(format!(
                    "{path} must hold strings"
                )))
            }),
        _ => Err(
            TokenRejection::InvalidClaims(format!("{path} must be a string or an array")).into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_is_compared_as_rfc_7515_says() {
        let issuer = TrustedIssuer::new("https://i", ["a"]).required_typ("at+jwt");
        assert!(issuer.typ_matches(Some("at+jwt")));
        assert!(issuer.typ_matches(Some("AT+JWT")));
        assert!(issuer.typ_matches(Some("application/at+jwt")));
        assert!(!issuer.typ_matches(Some("JWT")));
        assert!(!issuer.typ_matches(None));
        assert!(TrustedIssuer::new("https://i", ["a"]).typ_matches(None));
    }

    #[test]
    fn hmac_is_never_accepted_by_default() {
        let issuer = TrustedIssuer::new("https://i", ["a"]);
        assert!(issuer.allows(Algorithm::RS256) && issuer.allows(Algorithm::EdDSA));
        assert!(!issuer.allows(Algorithm::HS256));
        let only = issuer.algorithms([Algorithm::ES256]);
        assert!(only.allows(Algorithm::ES256) && !only.allows(Algorithm::RS256));
    }

    #[test]
    fn roles_and_scopes_come_from_dotted_paths() {
        let payload: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"realm_access":{"roles":["admin","user"]},"scp":"a b","permissions":["read:x"]}"#,
        )
        .unwrap();
        assert_eq!(
            strings_at(&payload, "realm_access.roles").unwrap(),
            ["admin", "user"]
        );
        assert_eq!(strings_at(&payload, "scp").unwrap(), ["a", "b"]);
        assert_eq!(strings_at(&payload, "permissions").unwrap(), ["read:x"]);
        assert!(
            strings_at(&payload, "resource_access.x.roles")
                .unwrap()
                .is_empty()
        );
        let bad: serde_json::Map<String, Value> = serde_json::from_str(r#"{"scp":[1]}"#).unwrap();
        assert!(strings_at(&bad, "scp").is_err());
    }
}
