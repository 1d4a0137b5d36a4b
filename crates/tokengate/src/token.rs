//! Issue and verify tokens: the one place that decides which keys, claims
//! and times are acceptable.
//!
//! ```
//! use tokengate::keys::{Algorithm, KeyRing, SigningKey};
//! use tokengate::token::{NewToken, TokenEngine};
//!
//! let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
//! let issued = engine.issue(NewToken::access("alice").scope("read:messages")).unwrap();
//! let verified = engine.verify(&issued.token).unwrap();
//! assert_eq!(verified.subject(), "alice");
//! assert!(verified.claims.has_scope("read:messages"));
//! ```

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::claims::{Claims, Fresh, TokenType};
use crate::clock::Clock;
use crate::ids::{LoginId, TokenId};
use crate::jws::{self, Header};
use crate::keys::{KeyError, KeyRing};
use crate::{Error, TokenRejection};

/// What verification demands of a token's claims.
///
/// ```
/// use tokengate::token::Validation;
///
/// let v = Validation::new().issuer("https://auth.example").audience(["api"]).leeway(5);
/// assert_eq!(v.leeway, 5);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Validation {
    /// Required `iss`, if any.
    pub issuer: Option<String>,
    /// Accepted audiences; a token must name at least one. Empty: `aud` not checked.
    pub audience: Vec<String>,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// Require tokengate's own claims: `sub` (string), `iat`, `jti`, `type`.
    pub own_tokens: bool,
}

impl Default for Validation {
    fn default() -> Self {
        Validation::new()
    }
}

impl Validation {
    /// tokengate's own tokens: `sub`, `iat`, `exp`, `jti`, `type` required, no leeway.
    ///
    /// ```
    /// use tokengate::token::Validation;
    ///
    /// let v = Validation::new();
    /// assert!(v.own_tokens && v.issuer.is_none() && v.audience.is_empty());
    /// assert_eq!(v.leeway, 0);
    /// ```
    pub fn new() -> Self {
        Validation {
            issuer: None,
            audience: Vec::new(),
            leeway: 0,
            own_tokens: true,
        }
    }

    /// Requires this `iss`.
    ///
    /// ```
    /// use tokengate::token::Validation;
    ///
    /// let v = Validation::new().issuer("https://auth.example");
    /// assert_eq!(v.issuer.as_deref(), Some("https://auth.example"));
    /// ```
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires one of these audiences.
    ///
    /// ```
    /// use tokengate::token::Validation;
    ///
    /// let v = Validation::new().audience(["api", "admin"]);
    /// assert_eq!(v.audience, ["api", "admin"]);
    /// ```
    pub fn audience<I: IntoIterator<Item = S>, S: Into<String>>(mut self, aud: I) -> Self {
        self.audience = aud.into_iter().map(Into::into).collect();
        self
    }

    /// Allows this much clock skew, in seconds.
    ///
    /// ```
    /// use tokengate::token::Validation;
    ///
    /// assert_eq!(Validation::new().leeway(30).leeway, 30);
    /// ```
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Another issuer's tokens: only `exp` is required of every token
    /// (`sub`, `iat`, `jti` and `type` are tokengate's own claims).
    ///
    /// ```
    /// use tokengate::token::Validation;
    ///
    /// let v = Validation::external().issuer("https://tenant.auth0.com/");
    /// assert!(!v.own_tokens);
    /// ```
    pub fn external() -> Self {
        Validation {
            own_tokens: false,
            ..Validation::new()
        }
    }

    /// Checks the claims of a token whose signature already verified.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine, Validation};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let claims = engine.verify(&engine.issue(NewToken::access("alice")).unwrap().token).unwrap().claims;
    /// assert!(Validation::new().check(&claims, claims.exp - 1).is_ok());
    /// assert_eq!(Validation::new().check(&claims, claims.exp).unwrap_err().code(), "token_expired");
    /// let wrong_issuer = Validation::new().issuer("https://auth.example");
    /// assert_eq!(wrong_issuer.check(&claims, claims.exp - 1).unwrap_err().code(), "invalid_claims");
    /// ```
    pub fn check(&self, claims: &Claims, now: i64) -> Result<(), Error> {
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        if self.own_tokens {
            let missing = |name: &str| {
                Error::Token(TokenRejection::InvalidClaims(format!(
                    "missing claim: {name}"
                )))
            };
            claims.sub.as_ref().ok_or_else(|| missing("sub"))?;
            claims.iat.ok_or_else(|| missing("iat"))?;
            claims.jti.as_ref().ok_or_else(|| missing("jti"))?;
            claims.token_type.ok_or_else(|| missing("type"))?;
        }
        if claims.exp.saturating_add(leeway) <= now {
            return Err(TokenRejection::Expired.into());
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf.saturating_sub(leeway) > now)
        {
            return Err(TokenRejection::Invalid("token is not valid yet").into());
        }
        if claims
            .iat
            .is_some_and(|iat| iat.saturating_sub(leeway) > now)
        {
            return Err(TokenRejection::Invalid("token is issued in the future").into());
        }
        if let Some(issuer) = &self.issuer
            && claims.iss.as_deref() != Some(issuer.as_str())
        {
            return Err(TokenRejection::InvalidClaims("invalid issuer".into()).into());
        }
        if !self.audience.is_empty() && !claims.aud.iter().any(|a| self.audience.contains(a)) {
            return Err(TokenRejection::InvalidClaims("invalid audience".into()).into());
        }
        Ok(())
    }
}

/// Lifetimes and claims of the tokens an engine issues.
///
/// ```
/// use std::time::Duration;
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::{IssueSettings, NewToken, TokenEngine};
///
/// let settings = IssueSettings::default()
///     .access_ttl(Duration::from_secs(5 * 60))
///     .issuer("https://auth.example.com")
///     .audience(["api"]);
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()))
///     .with_settings(settings);
/// let issued = engine.issue(NewToken::access("alice")).unwrap();
/// assert_eq!(issued.expires_in(), 300);
/// let claims = engine.verify(&issued.token).unwrap().claims;
/// assert_eq!((claims.iss.as_deref(), claims.aud), (Some("https://auth.example.com"), vec!["api".to_string()]));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssueSettings {
    /// Lifetime of access tokens (default 15 minutes).
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens (default 30 days).
    pub refresh_ttl: Duration,
    /// `iss` of issued tokens.
    pub issuer: Option<String>,
    /// `aud` of issued tokens.
    pub audience: Vec<String>,
}

impl Default for IssueSettings {
    fn default() -> Self {
        IssueSettings {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            issuer: None,
            audience: Vec::new(),
        }
    }
}

impl IssueSettings {
    /// Sets the lifetime of access tokens.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::token::IssueSettings;
    ///
    /// assert_eq!(IssueSettings::default().access_ttl(Duration::from_secs(60)).access_ttl.as_secs(), 60);
    /// ```
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Sets the lifetime of refresh tokens.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::token::IssueSettings;
    ///
    /// assert_eq!(IssueSettings::default().refresh_ttl(Duration::from_secs(3600)).refresh_ttl.as_secs(), 3600);
    /// ```
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Sets the `iss` of issued tokens (verification then requires it).
    ///
    /// ```
    /// use tokengate::token::IssueSettings;
    ///
    /// assert_eq!(IssueSettings::default().issuer("https://auth.example").issuer.as_deref(), Some("https://auth.example"));
    /// ```
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the `aud` of issued tokens (verification then requires one).
    ///
    /// ```
    /// use tokengate::token::IssueSettings;
    ///
    /// assert_eq!(IssueSettings::default().audience(["api"]).audience, ["api"]);
    /// ```
    pub fn audience<I: IntoIterator<Item = S>, S: Into<String>>(mut self, aud: I) -> Self {
        self.audience = aud.into_iter().map(Into::into).collect();
        self
    }
}

/// A token to issue.
///
/// ```
/// use tokengate::token::NewToken;
/// use serde_json::json;
///
/// let t = NewToken::access("alice").fresh().scope("read:messages").claim("role", json!("admin"));
/// assert_eq!(t.subject, "alice");
/// ```
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The identity (`sub`).
    pub subject: String,
    /// `access` or `refresh`.
    pub token_type: TokenType,
    /// Freshness (access tokens only).
    pub fresh: Fresh,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Roles: the `roles` claim (an array of strings), when not empty.
    pub roles: Vec<String>,
    /// Additional claims; registered claims take precedence.
    pub claims: Map<String, Value>,
    /// Additional header parameters (`alg` and `kid` are always the key's).
    pub headers: Map<String, Value>,
    /// Overrides the configured lifetime.
    pub ttl: Option<Duration>,
    /// Adds a `csrf` claim, for a token that will travel in a cookie.
    pub csrf: bool,
    /// Overrides the issue time (tests, and the CLI).
    pub issued_at: Option<i64>,
    /// The login (refresh-token family) this token belongs to: the `fam` claim.
    pub family: Option<LoginId>,
    /// Overrides the new token id (`jti`): a login's current refresh token
    /// issued again within the reuse interval keeps its id.
    pub id: Option<TokenId>,
    /// The DPoP key the token is bound to: the `cnf.jkt` claim.
    pub confirmation: Option<crate::dpop::Jkt>,
}

impl NewToken {
    fn new(subject: impl Into<String>, token_type: TokenType) -> Self {
        NewToken {
            subject: subject.into(),
            token_type,
            fresh: Fresh::No,
            scope: None,
            roles: Vec::new(),
            claims: Map::new(),
            headers: Map::new(),
            ttl: None,
            csrf: false,
            issued_at: None,
            family: None,
            id: None,
            confirmation: None,
        }
    }

    /// An access token for `subject`.
    ///
    /// ```
    /// use tokengate::claims::{Fresh, TokenType};
    /// use tokengate::token::NewToken;
    ///
    /// let t = NewToken::access("alice");
    /// assert_eq!((t.subject.as_str(), t.token_type, t.fresh), ("alice", TokenType::Access, Fresh::No));
    /// ```
    pub fn access(subject: impl Into<String>) -> Self {
        Self::new(subject, TokenType::Access)
    }

    /// A refresh token for `subject`.
    ///
    /// ```
    /// use tokengate::claims::TokenType;
    /// use tokengate::token::NewToken;
    ///
    /// assert_eq!(NewToken::refresh("alice").token_type, TokenType::Refresh);
    /// ```
    pub fn refresh(subject: impl Into<String>) -> Self {
        Self::new(subject, TokenType::Refresh)
    }

    /// Marks the access token fresh (as after a password login).
    ///
    /// ```
    /// use tokengate::claims::Fresh;
    /// use tokengate::token::NewToken;
    ///
    /// assert_eq!(NewToken::access("alice").fresh().fresh, Fresh::Yes);
    /// ```
    pub fn fresh(mut self) -> Self {
        self.fresh = Fresh::Yes;
        self
    }

    /// Sets the scopes (space-separated).
    ///
    /// ```
    /// use tokengate::token::NewToken;
    ///
    /// let t = NewToken::access("alice").scope("read:messages write:messages");
    /// assert_eq!(t.scope.as_deref(), Some("read:messages write:messages"));
    /// ```
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the roles: the `roles` claim, an array of strings (none: no claim).
    ///
    /// ```
    /// use tokengate::token::NewToken;
    ///
    /// let t = NewToken::access("alice").roles(["admin", "billing"]);
    /// assert_eq!(t.roles, ["admin", "billing"]);
    /// ```
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a claim.
    ///
    /// ```
    /// use serde_json::json;
    /// use tokengate::token::NewToken;
    ///
    /// let t = NewToken::access("alice").claim("role", json!("admin"));
    /// assert_eq!(t.claims["role"], "admin");
    /// ```
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    /// Sets the lifetime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice").ttl(Duration::from_secs(60))).unwrap();
    /// assert_eq!(issued.expires_in(), 60);
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Adds a `csrf` claim. [`TokenGate`](crate::axum::TokenGate) does it
    /// by itself when cookies are a token location.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice").with_csrf()).unwrap();
    /// let claims = engine.verify(&issued.token).unwrap().claims;
    /// assert_eq!(claims.csrf, issued.csrf);
    /// ```
    pub fn with_csrf(mut self) -> Self {
        self.csrf = true;
        self
    }

    /// Binds the token to a DPoP key (RFC 9449): a `cnf` claim with the
    /// key's thumbprint. It is then good only with proofs made with that key.
    ///
    /// ```
    /// use tokengate::dpop::Jkt;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let jkt = Jkt::from("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    /// let issued = engine.issue(NewToken::access("alice").bound_to(jkt.clone())).unwrap();
    /// assert_eq!(issued.confirmation.as_ref(), Some(&jkt));
    /// assert_eq!(engine.verify(&issued.token).unwrap().claims.confirmation, Some(jkt));
    /// ```
    pub fn bound_to(mut self, jkt: crate::dpop::Jkt) -> Self {
        self.confirmation = Some(jkt);
        self
    }
}

/// A token just issued, with what the caller needs to store or send.
///
/// ```
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let issued = engine.issue(NewToken::access("alice")).unwrap();
/// assert_eq!(issued.token.split('.').count(), 3);
/// assert_eq!(issued.expires_in(), 15 * 60);
/// assert_eq!(issued.csrf, None); // no `with_csrf`
/// ```
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// Its `jti`.
    pub jti: TokenId,
    /// Its `csrf` claim, for the CSRF cookie.
    pub csrf: Option<String>,
    /// Its `iat`.
    pub issued_at: i64,
    /// Its `exp`.
    pub expires_at: i64,
    /// Its login (`fam`), if it belongs to one.
    pub family: Option<LoginId>,
    /// The DPoP key it is bound to (`cnf.jkt`), if any.
    pub confirmation: Option<crate::dpop::Jkt>,
}

impl IssuedToken {
    /// Seconds from issue to expiry.
    ///
    /// ```
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{NewToken, TokenEngine};
    /// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// use std::time::Duration;
    ///
    /// let issued = engine.issue(NewToken::access("alice").ttl(Duration::from_secs(90))).unwrap();
    /// assert_eq!(issued.expires_in(), 90);
    /// assert_eq!(issued.expires_at - issued.issued_at, 90);
    /// ```
    pub fn expires_in(&self) -> i64 {
        self.expires_at - self.issued_at
    }
}

/// Who issued a verified token.
///
/// ```
/// use tokengate::token::Origin;
///
/// assert!(Origin::FirstParty.is_first_party());
/// assert_eq!(Origin::Trusted("https://tenant.auth0.com/".into()).issuer(), Some("https://tenant.auth0.com/"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// This engine's keys signed it.
    FirstParty,
    /// A trusted external issuer signed it; its `iss`.
    Trusted(Arc<str>),
}

impl Origin {
    /// Whether the engine's own keys signed it.
    ///
    /// ```
    /// use tokengate::token::Origin;
    ///
    /// assert!(Origin::FirstParty.is_first_party());
    /// assert!(!Origin::Trusted("https://tenant.auth0.com/".into()).is_first_party());
    /// ```
    pub fn is_first_party(&self) -> bool {
        matches!(self, Origin::FirstParty)
    }

    /// The trusted issuer's `iss`, for an external token.
    ///
    /// ```
    /// use tokengate::token::Origin;
    ///
    /// assert_eq!(Origin::FirstParty.issuer(), None);
    /// assert_eq!(Origin::Trusted("https://idp.example/".into()).issuer(), Some("https://idp.example/"));
    /// ```
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Origin::FirstParty => None,
            Origin::Trusted(iss) => Some(iss),
        }
    }
}

/// A token whose signature and claims verified.
///
/// ```
/// use serde::Deserialize;
/// use serde_json::json;
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let issued = engine.issue(NewToken::access("alice").claim("role", json!("admin"))).unwrap();
/// let verified = engine.verify(&issued.token).unwrap();
/// assert_eq!(verified.subject(), "alice");
/// assert!(verified.origin.is_first_party());
/// assert_eq!(verified.payload()["role"], "admin");
///
/// #[derive(Deserialize)]
/// struct Custom { role: String }
/// assert_eq!(verified.custom::<Custom>().unwrap().role, "admin");
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The protected header (shared by the tokens that have the same one).
    pub header: Arc<Header>,
    /// The registered claims.
    pub claims: Claims,
    /// Who issued it.
    pub origin: Origin,
    payload_json: Vec<u8>,
}

impl VerifiedToken {
    /// The payload as a typed claim set.
    ///
    /// ```
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{NewToken, TokenEngine};
    /// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize)]
    /// struct Mine { sub: String, tenant: u32 }
    /// let issued = engine.issue(NewToken::access("alice").claim("tenant", 7.into())).unwrap();
    /// let mine: Mine = engine.verify(&issued.token).unwrap().custom().unwrap();
    /// assert_eq!((mine.sub.as_str(), mine.tenant), ("alice", 7));
    /// ```
    pub fn custom<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload_json).map_err(|e| {
            Error::Token(TokenRejection::InvalidClaims(format!(
                "claims do not match: {e}"
            )))
        })
    }

    /// The whole payload, for custom claims.
    ///
    /// ```
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{NewToken, TokenEngine};
    /// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice").claim("role", "admin".into())).unwrap();
    /// let payload = engine.verify(&issued.token).unwrap().payload();
    /// assert_eq!((payload["role"].as_str(), payload["sub"].as_str()), (Some("admin"), Some("alice")));
    /// ```
    pub fn payload(&self) -> Map<String, Value> {
        // Already read strictly once; a JSON object always parses as a map.
        serde_json::from_slice(&self.payload_json).unwrap_or_default()
    }

    /// The payload's JSON text, as signed.
    ///
    /// ```
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{NewToken, TokenEngine};
    /// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice")).unwrap();
    /// let verified = engine.verify(&issued.token).unwrap();
    /// let json: serde_json::Value = serde_json::from_slice(verified.payload_json()).unwrap();
    /// assert_eq!(json["jti"], issued.jti.as_str());
    /// ```
    pub fn payload_json(&self) -> &[u8] {
        &self.payload_json
    }

    /// `sub`, or `""` for an external token without one.
    ///
    /// ```
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{NewToken, TokenEngine};
    /// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice")).unwrap();
    /// assert_eq!(engine.verify(&issued.token).unwrap().subject(), "alice");
    /// ```
    pub fn subject(&self) -> &str {
        self.claims.sub.as_deref().unwrap_or_default()
    }
}

/// A token whose header rules and signature verified; claims not checked.
/// See [`TokenEngine::verify_signature`].
///
/// ```
/// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// # use tokengate::token::{NewToken, TokenEngine};
/// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let issued = engine.issue(NewToken::access("alice")).unwrap();
/// let signed = engine.verify_signature(&issued.token).unwrap();
/// let claims: serde_json::Value = serde_json::from_slice(&signed.payload).unwrap();
/// assert_eq!((signed.header.alg, claims["sub"].as_str()), (Algorithm::EdDSA, Some("alice")));
/// ```
#[derive(Debug, Clone)]
pub struct SignedPayload {
    /// The protected header.
    pub header: Arc<Header>,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
}

/// A random UUIDv4 string, as Flask-JWT-Extended uses for `jti` and `csrf`.
///
/// ```
/// let id = tokengate::token::random_id();
/// assert_eq!((id.len(), &id[14..15]), (36, "4"));
/// assert_ne!(id, tokengate::token::random_id());
/// ```
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // SystemRandom only fails if the OS RNG is unavailable, where nothing is safe.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random generator failed");
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A UUIDv7 string for `ms` (milliseconds since the epoch): unique, and
/// ordered in time finer than `iat`, so a revoke-all can spare tokens issued
/// later within the same second.
///
/// ```
/// use tokengate::token::{jti_millis, time_ordered_id};
///
/// let id = time_ordered_id(1_700_000_000_123);
/// assert_eq!(jti_millis(&id), Some(1_700_000_000_123));
/// assert!(time_ordered_id(1_700_000_000_123) < time_ordered_id(1_700_000_000_124));
/// ```
pub fn time_ordered_id(ms: u64) -> String {
    let mut random = [0u8; 10];
    SystemRandom::new()
        .fill(&mut random)
        .expect("the operating system's random generator failed");
    uuid::Builder::from_unix_timestamp_millis(ms, &random)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// The issue time in milliseconds encoded in a UUIDv7 `jti`, if it is one.
///
/// ```
/// use tokengate::token::{jti_millis, random_id};
///
/// assert_eq!(jti_millis(&random_id()), None); // a UUIDv4: no time in it
/// assert_eq!(jti_millis("not a uuid"), None);
/// ```
pub fn jti_millis(jti: &str) -> Option<u64> {
    let id = uuid::Uuid::try_parse(jti).ok()?;
    if id.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

/// Issues and verifies tokens with one key ring and one policy.
///
/// ```
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let issued = engine.issue(NewToken::access("alice").fresh()).unwrap();
/// let verified = engine.verify(&issued.token).unwrap();
/// assert_eq!(verified.subject(), "alice");
/// assert!(engine.verify(&format!("{}x", issued.token)).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct TokenEngine {
    keys: KeyRing,
    headers: Arc<jws::HeaderCache>,
    /// What verification checks: `own_validation`, its `iss` and `aud`
    /// defaulted from `settings` (computed once, whatever the order of
    /// `with_settings` and `with_validation`).
    validation: Validation,
    own_validation: Validation,
    settings: IssueSettings,
    clock: Clock,
}

impl TokenEngine {
    /// An engine with default settings (15 min access, 30 days refresh, no leeway).
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// assert_eq!(engine.settings().access_ttl.as_secs(), 15 * 60);
    /// assert_eq!(engine.validation().leeway, 0);
    /// ```
    pub fn new(keys: KeyRing) -> Self {
        TokenEngine {
            keys,
            headers: Arc::default(),
            validation: Validation::new(),
            own_validation: Validation::new(),
            settings: IssueSettings::default(),
            clock: Clock::system(),
        }
    }

    /// The same engine (settings, validation, clock) with other keys: after
    /// a rotation, for [`TokenGate::replace_engine`](crate::axum::TokenGate::replace_engine).
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{IssueSettings, TokenEngine};
    /// use std::time::Duration;
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()))
    ///     .with_settings(IssueSettings::default().access_ttl(Duration::from_secs(60)));
    /// let mut keys = engine.keys().clone();
    /// keys.rotate(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// let rotated = engine.with_keys(keys);
    /// assert_eq!(rotated.settings().access_ttl.as_secs(), 60);
    /// assert_eq!(rotated.keys().verifying_keys().len(), 2);
    /// ```
    pub fn with_keys(&self, keys: KeyRing) -> Self {
        TokenEngine {
            keys,
            // Headers were cached for the old keys' tokens: start afresh.
            headers: Arc::default(),
            ..self.clone()
        }
    }

    /// Reads time from `clock` instead of the system clock: for tests that
    /// move time instead of sleeping. Issue times, expiry, freshness and
    /// revoke-all cut-offs all follow it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::clock::{ManualClock, Timestamp};
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let time = ManualClock::new(Timestamp::from_secs(1_800_000_000));
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()))
    ///     .with_clock(time.clone().into());
    /// let issued = engine.issue(NewToken::access("alice").ttl(Duration::from_secs(60))).unwrap();
    /// assert_eq!(issued.issued_at, 1_800_000_000);
    /// assert!(engine.verify(&issued.token).is_ok());
    /// time.advance(Duration::from_secs(61));
    /// assert_eq!(engine.verify(&issued.token).unwrap_err().code(), "token_expired");
    /// ```
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock this engine reads.
    ///
    /// ```
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// assert!(engine.clock().now().as_secs() > 1_700_000_000);
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn derive_validation(&mut self) {
        let mut validation = self.own_validation.clone();
        if validation.issuer.is_none() {
            validation.issuer = self.settings.issuer.clone();
        }
        if validation.audience.is_empty() {
            validation.audience = self.settings.audience.clone();
        }
        self.validation = validation;
    }

    /// Sets the lifetimes, and `iss`/`aud` of issued tokens; verification
    /// then requires the same `iss` and `aud`. See [`IssueSettings`].
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{IssueSettings, TokenEngine};
    ///
    /// let settings = IssueSettings::default().issuer("https://auth.example");
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()))
    ///     .with_settings(settings);
    /// assert_eq!(engine.validation().issuer.as_deref(), Some("https://auth.example"));
    /// ```
    pub fn with_settings(mut self, settings: IssueSettings) -> Self {
        self.settings = settings;
        self.derive_validation();
        self
    }

    /// Sets the validation policy (leeway, required claims, ...). Its `iss`
    /// and `aud`, when it sets none, are those of the [`IssueSettings`],
    /// in whichever order the two are given.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{IssueSettings, TokenEngine, Validation};
    ///
    /// let settings = IssueSettings::default().issuer("https://auth.example");
    /// let key = || KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// let first = TokenEngine::new(key()).with_validation(Validation::new().leeway(5)).with_settings(settings.clone());
    /// let second = TokenEngine::new(key()).with_settings(settings).with_validation(Validation::new().leeway(5));
    /// for engine in [first, second] {
    ///     assert_eq!((engine.validation().issuer.as_deref(), engine.validation().leeway), (Some("https://auth.example"), 5));
    /// }
    /// ```
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine, Validation};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()))
    ///     .with_validation(Validation::new().leeway(30));
    /// let issued = engine.issue(NewToken::access("alice")).unwrap();
    /// // Expired 10 seconds ago, but within the 30 seconds of leeway.
    /// assert!(engine.verify_at(&issued.token, issued.expires_at + 10).is_ok());
    /// ```
    pub fn with_validation(mut self, validation: Validation) -> Self {
        self.own_validation = validation;
        self.derive_validation();
        self
    }

    /// The key ring.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    /// let kid = key.kid().clone();
    /// let engine = TokenEngine::new(KeyRing::new(key));
    /// assert_eq!(engine.keys().signing_key().unwrap().kid(), &kid);
    /// ```
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The validation policy.
    ///
    /// ```
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{NewToken, TokenEngine};
    /// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// use tokengate::token::Validation;
    ///
    /// let engine = engine.with_validation(Validation::new().leeway(10));
    /// assert_eq!(engine.validation().leeway, 10);
    /// ```
    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// The issue settings.
    ///
    /// ```
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::{NewToken, TokenEngine};
    /// # let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// assert_eq!(engine.settings().refresh_ttl.as_secs(), 30 * 24 * 3600);
    /// assert!(engine.settings().issuer.is_none());
    /// ```
    pub fn settings(&self) -> &IssueSettings {
        &self.settings
    }

    /// Signs a new token with the ring's signing key. Fails only without a
    /// signing key (a [`KeyRing::verify_only`] ring) or for a token over
    /// [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN).
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let key = SigningKey::generate(Algorithm::ES256).unwrap();
    /// let verifier = TokenEngine::new(KeyRing::verify_only([key.verifying_key().clone()]));
    /// let engine = TokenEngine::new(KeyRing::new(key));
    /// let issued = engine.issue(NewToken::access("alice").fresh().scope("read:messages")).unwrap();
    /// assert!(verifier.verify(&issued.token).unwrap().claims.has_scope("read:messages"));
    /// assert!(verifier.issue(NewToken::access("alice")).is_err());
    /// ```
    pub fn issue(&self, new: NewToken) -> Result<IssuedToken, KeyError> {
        let key = self.keys.signing_key().ok_or(KeyError::NoSigningKey)?;
        let (now, now_ms) = match new.issued_at {
            Some(t) => (t, t.saturating_mul(1000)),
            None => {
                let now = self.clock.now();
                (now.as_secs(), now.as_millis())
            }
        };
        let ttl = new.ttl.unwrap_or(match new.token_type {
            TokenType::Access => self.settings.access_ttl,
            TokenType::Refresh => self.settings.refresh_ttl,
        });
        let exp = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let jti = match new.id {
            Some(id) => id.into_string(),
            None => time_ordered_id(now_ms.max(0) as u64),
        };
        let csrf = new.csrf.then(random_id);

        let mut claims = new.claims;
        claims.insert("sub".into(), Value::String(new.subject));
        claims.insert("iat".into(), now.into());
        claims.insert("nbf".into(), now.into());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), Value::String(jti.clone()));
        claims.insert("type".into(), new.token_type.as_str().into());
        if new.token_type == TokenType::Access {
            claims.insert("fresh".into(), new.fresh.to_value());
        }
        if let Some(csrf) = &csrf {
            claims.insert("csrf".into(), Value::String(csrf.clone()));
        }
        if let Some(iss) = &self.settings.issuer {
            claims.insert("iss".into(), Value::String(iss.clone()));
        }
        match self.settings.audience.as_slice() {
            [] => {}
            [one] => {
                claims.insert("aud".into(), Value::String(one.clone()));
            }
            many => {
                claims.insert("aud".into(), many.into());
            }
        }
        if let Some(scope) = new.scope {
            claims.insert("scope".into(), Value::String(scope));
        }
        if !new.roles.is_empty() {
            claims.insert("roles".into(), new.roles.into());
        }
        if let Some(family) = &new.family {
            claims.insert("fam".into(), Value::String(family.to_string()));
        }
        if let Some(jkt) = &new.confirmation {
            let mut cnf = Map::new();
            cnf.insert("jkt".into(), Value::String(jkt.as_str().to_owned()));
            claims.insert("cnf".into(), Value::Object(cnf));
        }

        let mut header = new.headers;
        header.insert("typ".into(), "JWT".into());
        header.insert("alg".into(), key.algorithm().as_str().into());
        header.insert("kid".into(), key.kid().as_str().into());
        let token = sign_compact(key, &header, &claims)?;
        Ok(IssuedToken {
            token,
            jti: TokenId::from(jti),
            csrf,
            issued_at: now,
            expires_at: exp,
            family: new.family,
            confirmation: new.confirmation,
        })
    }

    /// Verifies signature and claims at the current time. The token type is
    /// not checked here: see [`TokenEngine::verify_type`].
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice")).unwrap();
    /// assert_eq!(engine.verify(&issued.token).unwrap().subject(), "alice");
    /// let other = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// assert_eq!(other.verify(&issued.token).unwrap_err().code(), "invalid_token");
    /// assert_eq!(engine.verify("not.a.token").unwrap_err().code(), "invalid_token");
    /// ```
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, Error> {
        self.verify_at(token, self.clock.now().as_secs())
    }

    /// Verifies signature and claims, and that the token is of `expected` type.
    ///
    /// ```
    /// use tokengate::claims::TokenType;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let refresh = engine.issue(NewToken::refresh("alice")).unwrap();
    /// assert!(engine.verify_type(&refresh.token, TokenType::Refresh).is_ok());
    /// let err = engine.verify_type(&refresh.token, TokenType::Access).unwrap_err();
    /// assert_eq!(err.code(), "wrong_token_type");
    /// ```
    pub fn verify_type(&self, token: &str, expected: TokenType) -> Result<VerifiedToken, Error> {
        let verified = self.verify(token)?;
        verified.claims.check_type(expected)?;
        Ok(verified)
    }

    /// Verifies signature and claims as of `now` (seconds since the epoch).
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice")).unwrap();
    /// assert!(engine.verify_at(&issued.token, issued.expires_at - 1).is_ok());
    /// assert_eq!(engine.verify_at(&issued.token, issued.expires_at).unwrap_err().code(), "token_expired");
    /// ```
    pub fn verify_at(&self, token: &str, now: i64) -> Result<VerifiedToken, Error> {
        let compact = self.check_signature(token)?;
        let payload_json = jws::decode_segment(compact.payload_b64)?;
        let claims = Claims::from_json(&payload_json)?;
        self.validation.check(&claims, now)?;
        Ok(VerifiedToken {
            header: compact.header,
            claims,
            origin: Origin::FirstParty,
            payload_json,
        })
    }

    /// Checks the header rules and the signature only, for a JWS whose
    /// payload need not be a claim set.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice")).unwrap();
    /// let signed = engine.verify_signature(&issued.token).unwrap();
    /// assert_eq!(signed.header.alg, Algorithm::EdDSA);
    /// assert!(signed.payload.starts_with(b"{"));
    /// ```
    pub fn verify_signature(&self, token: &str) -> Result<SignedPayload, Error> {
        let compact = self.check_signature(token)?;
        let payload = jws::decode_segment(compact.payload_b64)?;
        Ok(SignedPayload {
            header: compact.header,
            payload,
        })
    }

    /// The header of `token` after the header rules, and whether this
    /// engine holds a key for its algorithm and key id; nothing verified.
    #[cfg(feature = "issuers")]
    pub(crate) fn peek(&self, token: &str) -> Result<(Arc<Header>, bool), Error> {
        let compact = jws::parse_compact(token, &self.headers)?;
        let known = self
            .keys
            .candidates(compact.header.alg, compact.header.kid.as_deref())
            .next()
            .is_some();
        Ok((compact.header, known))
    }

    fn check_signature<'t>(&self, token: &'t str) -> Result<jws::Compact<'t>, Error> {
        let compact = jws::parse_compact(token, &self.headers)?;
        let valid = {
            let mut candidates = self
                .keys
                .candidates(compact.header.alg, compact.header.kid.as_deref())
                .peekable();
            if candidates.peek().is_none() {
                return Err(TokenRejection::Invalid(NO_KEY).into());
            }
            candidates.any(|k| k.verify_signature(compact.signing_input, &compact.signature))
        };
        if valid {
            self.headers.remember(compact.header_b64, &compact.header);
            Ok(compact)
        } else {
            Err(TokenRejection::Invalid("signature verification failed").into())
        }
    }
}

/// The error of a token no key of the engine can check.
pub(crate) const NO_KEY: &str = "no key for this token's algorithm and key id";

/// Signs a header and claim set into a compact JWS.
pub(crate) fn sign_compact(
    key: &crate::keys::SigningKey,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<String, KeyError> {
    let header = serde_json::to_vec(header).map_err(|_| KeyError::Malformed("header"))?;
    let claims = serde_json::to_vec(claims).map_err(|_| KeyError::Malformed("claims"))?;
    let mut token = jws::b64_encode(&header);
    token.push('.');
    token.push_str(&jws::b64_encode(&claims));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&jws::b64_encode(&signature));
    if token.len() > jws::MAX_TOKEN_LEN {
        return Err(KeyError::TokenTooLarge(token.len()));
    }
    Ok(token)
}
