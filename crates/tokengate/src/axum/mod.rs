//! axum integration: the [`TokenGate`] state, extractors, and the JSON-body
//! token middleware.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tokengate::axum::{AccessToken, TokenGate};
//! use tokengate::keys::{Algorithm, KeyRing, SigningKey};
//! use tokengate::token::TokenEngine;
//!
//! async fn private(token: AccessToken) -> String {
//!     format!("hello {}", token.subject())
//! }
//!
//! let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
//! let gate = TokenGate::new(engine);
//! let app: Router = Router::new().route("/private", get(private)).with_state(gate);
//! ```

mod cache;
mod extract;
mod forward;
mod json;
mod layer;
mod logins;
mod rotation;
mod standards;
mod user;

use crate::TokenRejection;
use std::sync::Arc;

use crossbeam_utils::sync::ShardedLock;

use axum::response::{IntoResponse, Response};

pub use extract::{
    AcceptIssuer, AccessToken, AnyToken, AuthRejection, Authenticated, FirstParty,
    FreshAccessToken, HasRole, HoldsToken, IssuedBy, RefreshToken, Scoped,
};
pub use forward::ForwardAuth;
pub use json::{JSON_BODY_LIMIT, json_tokens};
pub use layer::{Answer, RequireToken, RequireTokenService, Verified};
pub use logins::TokenPair;
pub use rotation::KeyRotation;
pub use user::{CurrentUser, UserLoader};

use crate::Error;
use crate::claims::TokenType;
use crate::forward::OriginalRequest;
use crate::ids::LoginId;
use crate::keys::KeyError;
use crate::login::{InMemoryLogins, LoginStore};
use crate::revocation::{InMemoryRevocations, RevocationStore};
use crate::token::{IssuedToken, NewToken, TokenEngine, VerifiedToken};
use crate::transport::{Found, LocatedToken, Transport, double_submit};

type ErrorResponder = dyn Fn(&Error) -> Option<Response> + Send + Sync;

/// Appends each cookie as a `Set-Cookie` header.
impl axum::response::IntoResponseParts for crate::transport::SetCookies {
    type Error = std::convert::Infallible;

    fn into_response_parts(
        self,
        mut res: axum::response::ResponseParts,
    ) -> Result<axum::response::ResponseParts, Self::Error> {
        for value in self {
            res.headers_mut().append(http::header::SET_COOKIE, value);
        }
        Ok(res)
    }
}

/// An empty 200 with the cookies (a logout that answers nothing else).
impl IntoResponse for crate::transport::SetCookies {
    fn into_response(self) -> Response {
        (self, ()).into_response()
    }
}

/// Who a token is for: what Flask-JWT-Extended's `user_identity_loader` and
/// `additional_claims_loader` provide.
///
/// ```
/// use tokengate::axum::Identity;
///
/// struct User { id: u64, admin: bool }
/// impl Identity for User {
///     fn identity(&self) -> String { self.id.to_string() }
///     fn scope(&self) -> Option<String> { self.admin.then(|| "admin".into()) }
///     fn roles(&self) -> Vec<String> { if self.admin { vec!["admin".into()] } else { vec![] } }
/// }
/// assert_eq!(User { id: 7, admin: true }.identity(), "7");
/// assert_eq!(User { id: 7, admin: true }.roles(), ["admin"]);
/// ```
pub trait Identity {
    /// The `sub` claim.
    fn identity(&self) -> String;
    /// Claims added to every token of this identity.
    fn additional_claims(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
    /// The `scope` claim (space-separated), if any.
    fn scope(&self) -> Option<String> {
        None
    }
    /// The `roles` claim (an array of strings); none by default.
    fn roles(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Identity for str {
    fn identity(&self) -> String {
        self.to_owned()
    }
}

impl Identity for String {
    fn identity(&self) -> String {
        self.clone()
    }
}

/// What a route demands of a token, for [`TokenGate::authenticate`].
///
/// ```
/// use tokengate::axum::Requirement;
/// use tokengate::claims::TokenType;
///
/// // What `FreshAccessToken` asks for.
/// let sensitive = Requirement { token_type: TokenType::Access, fresh: true };
/// # let _ = sensitive;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// Access or refresh.
    pub token_type: TokenType,
    /// Must be fresh.
    pub fresh: bool,
}

impl Requirement {
    /// Any access token (`AccessToken`, `Scoped`, `CurrentUser`).
    pub const ACCESS: Requirement = Requirement {
        token_type: TokenType::Access,
        fresh: false,
    };
    /// Any refresh token (`RefreshToken`, `AnyToken`'s fallback).
    pub const REFRESH: Requirement = Requirement {
        token_type: TokenType::Refresh,
        fresh: false,
    };
}

/// Everything a route needs to authenticate requests: the token engine, the
/// transport, the revocation store and the error responses. Cheap to clone;
/// use it as (part of) the router state.
///
/// ```
/// use std::sync::Arc;
/// use axum::extract::FromRef;
/// use tokengate::axum::{AccessToken, TokenGate};
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::revocation::InMemoryRevocations;
/// use tokengate::token::TokenEngine;
/// use tokengate::transport::{TokenLocation, Transport};
///
/// // In a larger state, the extractors find the gate through `FromRef`.
/// #[derive(Clone)]
/// struct AppState { gate: TokenGate, app_name: &'static str }
/// impl FromRef<AppState> for TokenGate {
///     fn from_ref(state: &AppState) -> TokenGate { state.gate.clone() }
/// }
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let gate = TokenGate::new(engine)
///     .with_transport(Transport::default().locations([TokenLocation::Headers]))
///     .with_revocation(Arc::new(InMemoryRevocations::new()));
/// let app: axum::Router = axum::Router::new()
///     .route("/me", axum::routing::get(|token: AccessToken| async move { token.subject().to_owned() }))
///     .with_state(AppState { gate, app_name: "memos" });
/// ```
#[derive(Clone)]
pub struct TokenGate {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    // Swappable so that a key rotation reaches running routers; sharded by
    // thread, as it is read on every request.
    engine: Arc<ShardedLock<Arc<TokenEngine>>>,
    cache: Arc<cache::VerifiedCache>,
    transport: Transport,
    revocation: Arc<dyn RevocationStore>,
    logins: Arc<dyn LoginStore>,
    refresh_reuse_interval: std::time::Duration,
    dpop: crate::dpop::Dpop,
    on_error: Option<Arc<ErrorResponder>>,
    #[cfg(feature = "issuers")]
    issuers: Option<crate::issuers::TrustedIssuers>,
}

impl std::fmt::Debug for TokenGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGate")
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

impl TokenGate {
    /// The common case in one call: a gate whose engine signs with a new
    /// key of `alg` (default settings, default transport, revocations and
    /// logins in memory). [`TokenGate::new`] takes an engine of your own.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::ES256).unwrap();
    /// assert_eq!(gate.engine().keys().jwks().keys.len(), 1);
    /// ```
    pub fn with_generated_key(alg: crate::keys::Algorithm) -> Result<Self, KeyError> {
        let key = crate::keys::SigningKey::generate(alg)?;
        Ok(TokenGate::new(TokenEngine::new(crate::keys::KeyRing::new(
            key,
        ))))
    }

    /// A gate with the default transport (headers, then cookies), and
    /// revocations and logins kept in memory (lost on restart: give it
    /// persistent stores with [`TokenGate::with_revocation`] and
    /// [`TokenGate::with_logins`]).
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    /// use tokengate::transport::TokenLocation;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// assert_eq!(gate.transport().locations, [TokenLocation::Headers, TokenLocation::Cookies]);
    /// ```
    pub fn new(engine: TokenEngine) -> Self {
        TokenGate {
            inner: Arc::new(Inner {
                engine: Arc::new(ShardedLock::new(Arc::new(engine))),
                cache: Arc::new(cache::VerifiedCache::default()),
                transport: Transport::default(),
                revocation: Arc::new(InMemoryRevocations::new()),
                logins: Arc::new(InMemoryLogins::default()),
                refresh_reuse_interval: std::time::Duration::ZERO,
                dpop: crate::dpop::Dpop::default(),
                on_error: None,
                #[cfg(feature = "issuers")]
                issuers: None,
            }),
        }
    }

    /// Sets where tokens travel. See [`Transport`].
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// use tokengate::transport::{TokenLocation, Transport};
    ///
    /// let gate = gate.with_transport(Transport::default().locations([TokenLocation::Cookies]));
    /// assert!(gate.transport().uses_cookies());
    /// assert_eq!(gate.transport().locations, [TokenLocation::Cookies]);
    /// ```
    pub fn with_transport(mut self, transport: Transport) -> Self {
        Arc::make_mut(&mut self.inner).transport = transport;
        self
    }

    /// Checks every token against this store. See
    /// [`RevocationStore`].
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// use std::sync::Arc;
    /// use tokengate::revocation::{InMemoryRevocations, Revocation};
    ///
    /// let store = Arc::new(InMemoryRevocations::new());
    /// let gate = gate.with_revocation(store.clone());
    /// let issued = gate.engine().issue(tokengate::token::NewToken::access("alice")).unwrap();
    /// store.apply(&Revocation::token(&issued));
    /// assert!(gate.revocation_store().is_revoked(&gate.engine().verify(&issued.token).unwrap().claims));
    /// ```
    pub fn with_revocation(mut self, store: Arc<dyn RevocationStore>) -> Self {
        Arc::make_mut(&mut self.inner).revocation = store;
        self
    }

    /// Keeps logins (refresh-token families) in this store. See
    /// [`LoginStore`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tokengate::login::InMemoryLogins;
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let gate = gate.with_logins(Arc::new(InMemoryLogins::default()));
    /// ```
    pub fn with_logins(mut self, store: Arc<dyn LoginStore>) -> Self {
        Arc::make_mut(&mut self.inner).logins = store;
        self
    }

    /// Also accepts access tokens of these external issuers (a token is
    /// routed to them by its `iss`); start their key fetching with
    /// [`TrustedIssuers::start`](crate::issuers::TrustedIssuers::start).
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
    ///
    /// let auth0 = TrustedIssuer::new("https://tenant.eu.auth0.com/", ["https://api.example.com"]);
    /// let gate = gate.with_trusted_issuers(TrustedIssuers::new(vec![auth0]).unwrap());
    /// assert!(gate.trusted_issuers().unwrap().trusts("https://tenant.eu.auth0.com/"));
    /// ```
    #[cfg(feature = "issuers")]
    pub fn with_trusted_issuers(mut self, issuers: crate::issuers::TrustedIssuers) -> Self {
        Arc::make_mut(&mut self.inner).issuers = (!issuers.is_empty()).then_some(issuers);
        self
    }

    /// The trusted external issuers, if any.
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// use tokengate::issuers::TrustedIssuers;
    ///
    /// assert!(gate.trusted_issuers().is_none());
    /// let gate = gate.with_trusted_issuers(TrustedIssuers::new(Vec::new()).unwrap()); // empty: none
    /// assert!(gate.trusted_issuers().is_none());
    /// ```
    #[cfg(feature = "issuers")]
    pub fn trusted_issuers(&self) -> Option<&crate::issuers::TrustedIssuers> {
        self.inner.issuers.as_ref()
    }

    /// Replaces the response of any error: return `Some` to answer with your
    /// own response, `None` to keep tokengate's.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use tokengate::{Error, TokenRejection};
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// // Flask-JWT-Extended's expired-token body, `{"msg": ...}` only.
    /// let gate = gate.on_error(|error| match error {
    ///     Error::Token(TokenRejection::Expired) => Some((http::StatusCode::UNAUTHORIZED,
    ///         axum::Json(serde_json::json!({"msg": "Token has expired"}))).into_response()),
    ///     _ => None,
    /// });
    /// assert_eq!(gate.error_response(TokenRejection::Expired.into()).status(), 401);
    /// ```
    pub fn on_error<F>(mut self, responder: F) -> Self
    where
        F: Fn(&Error) -> Option<Response> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.inner).on_error = Some(Arc::new(responder));
        self
    }

    /// The current engine.
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// use tokengate::token::NewToken;
    ///
    /// let issued = gate.engine().issue(NewToken::access("alice")).unwrap();
    /// assert_eq!(gate.engine().verify(&issued.token).unwrap().subject(), "alice");
    /// ```
    pub fn engine(&self) -> Arc<TokenEngine> {
        self.inner
            .engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the engine (after a key rotation); every clone of this gate sees it.
    ///
    /// ```
    /// use tokengate::token::NewToken;
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let clone = gate.clone(); // e.g. the router's state
    /// let mut keys = gate.engine().keys().clone();
    /// let old = gate.engine().issue(NewToken::access("alice")).unwrap();
    /// keys.rotate(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// gate.replace_engine(TokenEngine::new(keys));
    /// let new = clone.engine().issue(NewToken::access("alice")).unwrap();
    /// assert!(clone.engine().verify(&old.token).is_ok()); // the old key still verifies
    /// assert!(clone.engine().verify(&new.token).is_ok());
    /// ```
    pub fn replace_engine(&self, engine: TokenEngine) {
        *self.inner.engine.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(engine);
        self.inner.cache.clear();
    }

    /// The transport.
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// assert_eq!(gate.transport().header_type, "Bearer");
    /// assert_eq!(gate.transport().query_param, "jwt");
    /// ```
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The revocation store.
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// use tokengate::revocation::Revocation;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let login = gate.login("alice").await.unwrap();
    /// gate.revocation_store().revoke(Revocation::token(&login.access)).await.unwrap();
    /// let claims = gate.engine().verify(&login.access.token).unwrap().claims;
    /// assert!(gate.revocation_store().is_revoked(&claims));
    /// # });
    /// ```
    pub fn revocation_store(&self) -> &Arc<dyn RevocationStore> {
        &self.inner.revocation
    }

    /// The store of logins (refresh-token families).
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// use tokengate::clock::Timestamp;
    /// use tokengate::ids::TokenId;
    /// use tokengate::login::{RefreshUse, Rotation};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let login = gate.login("alice").await.unwrap();
    /// let id = login.refresh.family.clone().unwrap();
    /// let (next, never) = (TokenId::from("next"), Timestamp::from_millis(i64::MAX));
    /// let spend = RefreshUse::new(id, login.refresh.jti.clone(), next, never, gate.engine().clock().now());
    /// assert_eq!(gate.logins().rotate(&spend).await.unwrap(), Rotation::Rotated);
    /// # });
    /// ```
    pub fn logins(&self) -> &Arc<dyn LoginStore> {
        &self.inner.logins
    }

    /// The response for `error`: the custom responder's, else tokengate's.
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// use tokengate::{RequestRejection, TokenRejection};
    ///
    /// let response = gate.error_response(TokenRejection::Expired.into());
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(gate.error_response(RequestRejection::NotFound.into()).status(), 404);
    /// ```
    pub fn error_response(&self, error: Error) -> Response {
        self.inner
            .on_error
            .as_ref()
            .and_then(|f| f(&error))
            .unwrap_or_else(|| error.into_response())
    }

    /// Finds, verifies and checks the token of a request: location, signature,
    /// claims, type, CSRF, revocation, freshness, in that order. The
    /// extractors call it; call it yourself in a middleware.
    ///
    /// ```
    /// use tokengate::axum::Requirement;
    /// use tokengate::claims::TokenType;
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let login = gate.login("alice").await.unwrap();
    /// let (parts, _) = http::Request::get("/").header("Authorization", format!("Bearer {}", login.access.token))
    ///     .body(()).unwrap().into_parts();
    /// let fresh = Requirement { token_type: TokenType::Access, fresh: true };
    /// let (_, token) = gate.authenticate(&parts, fresh).await.unwrap();
    /// assert_eq!(token.subject(), "alice");
    /// let refresh = Requirement { token_type: TokenType::Refresh, fresh: false };
    /// assert_eq!(gate.authenticate(&parts, refresh).await.unwrap_err().code(), "wrong_token_type");
    /// # });
    /// ```
    pub async fn authenticate(
        &self,
        parts: &http::request::Parts,
        requirement: Requirement,
    ) -> Result<(LocatedToken, Arc<VerifiedToken>), Error> {
        let (found, token) = self.authenticate_found(parts, requirement).await?;
        Ok((found.into_located(&self.inner.transport)?, token))
    }

    /// [`TokenGate::authenticate`] without copying the token out of the
    /// request: what the extractors call.
    pub(crate) async fn authenticate_found<'a>(
        &self,
        parts: &'a http::request::Parts,
        requirement: Requirement,
    ) -> Result<(Found<'a>, Arc<VerifiedToken>), Error> {
        let transport = &self.inner.transport;
        let csrf_needed = transport.csrf_methods.contains(&parts.method);
        self.authenticate_with(parts, requirement, csrf_needed, transport, true, None)
            .await
    }

    /// [`TokenGate::authenticate`] for a forward-auth request: the access
    /// token of the request a proxy describes, its CSRF header judged by the
    /// original method ([`OriginalRequest::needs_csrf`]), not by the proxy's
    /// own `GET`.
    ///
    /// ```
    /// use tokengate::axum::{Requirement, TokenGate};
    /// use tokengate::forward::OriginalRequest;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let login = gate.login("alice").await.unwrap();
    /// let cookie = format!("access_token_cookie={}", login.access.token);
    /// let (parts, _) = http::Request::get("/auth/verify").header("Cookie", &cookie)
    ///     .header("X-Forwarded-Method", "POST").body(()).unwrap().into_parts();
    /// let original = OriginalRequest::from_headers(&parts.headers);
    /// // A cookie on a forwarded POST needs the CSRF header, though this request is a GET.
    /// assert!(gate.authenticate(&parts, Requirement::ACCESS).await.is_ok());
    /// assert_eq!(gate.authenticate_forwarded(&parts, &original).await.unwrap_err().code(), "csrf_failed");
    /// # });
    /// ```
    pub async fn authenticate_forwarded(
        &self,
        parts: &http::request::Parts,
        original: &OriginalRequest,
    ) -> Result<(LocatedToken, Arc<VerifiedToken>), Error> {
        let transport = &self.inner.transport;
        let csrf_needed = original.needs_csrf(transport);
        let (found, token) = self
            .authenticate_with(
                parts,
                Requirement::ACCESS,
                csrf_needed,
                transport,
                true,
                Some(original),
            )
            .await?;
        Ok((found.into_located(transport)?, token))
    }

    /// [`TokenGate::authenticate`] with the tokens looked for where
    /// `transport` says, and the revocation check only if
    /// `check_revocation`: a route's own options ([`RequireToken`]).
    async fn authenticate_with<'a>(
        &self,
        parts: &'a http::request::Parts,
        requirement: Requirement,
        csrf_needed: bool,
        transport: &Transport,
        check_revocation: bool,
        original: Option<&OriginalRequest>,
    ) -> Result<(Found<'a>, Arc<VerifiedToken>), Error> {
        let located = transport.find(parts, requirement.token_type)?;
        // Without DPoP, its scheme is a malformed header, whatever the token.
        if self.inner.dpop.mode_of() == crate::dpop::DpopMode::Off && located.dpop {
            return Err(TokenRejection::InvalidHeader(
                "the DPoP scheme is not accepted here".into(),
            )
            .into());
        }
        // A token verified before is text: its characters are read only
        // when it is new.
        let verified = match self.remembered(located.token.bytes()) {
            Some(verified) => verified,
            None => self.verify_new(located.token.text(transport)?).await?,
        };
        // Another issuer's token is an access token, never fresh: only this
        // service's logins make refresh tokens and fresh tokens.
        if !verified.origin.is_first_party()
            && (requirement.token_type == TokenType::Refresh || requirement.fresh)
        {
            return Err(if requirement.fresh {
                Error::Token(TokenRejection::FreshRequired)
            } else {
                Error::Token(TokenRejection::WrongType(TokenType::Refresh))
            });
        }
        verified.claims.check_type(requirement.token_type)?;
        double_submit(
            transport,
            csrf_needed,
            &parts.headers,
            located.location,
            verified.claims.csrf.as_deref(),
        )?;
        let revocation = &self.inner.revocation;
        // While the store loads, what memory does not refuse is looked up
        // in the record: exact, at one query per request for that while.
        if check_revocation
            && (revocation.is_revoked(&verified.claims)
                || (!revocation.is_complete() && revocation.lookup(&verified.claims).await?))
        {
            return Err(TokenRejection::Revoked.into());
        }
        if requirement.fresh
            && !verified
                .claims
                .fresh
                .is_fresh_at(self.engine().clock().now().as_secs())
        {
            return Err(TokenRejection::FreshRequired.into());
        }
        self.check_binding(parts, &located, &verified, original)
            .await?;
        Ok((located, verified))
    }

    /// RFC 9449's rules for the token's binding: a bound token only with the
    /// `DPoP` scheme and a proof by its key for this request; the scheme
    /// only with a bound token. A bearer token costs one comparison.
    async fn check_binding(
        &self,
        parts: &http::request::Parts,
        located: &Found<'_>,
        verified: &VerifiedToken,
        original: Option<&OriginalRequest>,
    ) -> Result<(), Error> {
        use crate::dpop::{DpopError, DpopMode, ProofTarget};
        use crate::transport::TokenLocation;
        let dpop = &self.inner.dpop;
        let scheme = located.dpop;
        let bound = verified.claims.confirmation.as_ref();
        let refuse = |error, reason| Error::Token(TokenRejection::Dpop(dpop.refuse(error, reason)));
        match (dpop.mode_of(), scheme, bound) {
            (DpopMode::Off, true, _) => Err(TokenRejection::InvalidHeader(
                "the DPoP scheme is not accepted here".into(),
            )
            .into()),
            // No DPoP here: a bound token is refused as a bearer token
            // would be, without advertising DPoP.
            (DpopMode::Off, false, Some(_)) => {
                Err(TokenRejection::Invalid("DPoP-bound tokens are not accepted here").into())
            }
            (DpopMode::Required, false, None) if located.location != TokenLocation::Cookies => Err(
                refuse(DpopError::InvalidToken, "a DPoP-bound token is required"),
            ),
            (_, false, None) => Ok(()),
            (_, false, Some(_)) => Err(refuse(
                DpopError::InvalidToken,
                "a DPoP-bound token must be sent with the DPoP scheme and a proof",
            )),
            (_, true, None) => Err(refuse(
                DpopError::InvalidToken,
                "the DPoP scheme needs a DPoP-bound token",
            )),
            (_, true, Some(jkt)) => {
                let proof = dpop
                    .proof_header(&parts.headers)
                    .map_err(|r| Error::Token(TokenRejection::Dpop(r)))?
                    .ok_or_else(|| refuse(DpopError::InvalidProof, "a DPoP proof is required"))?;
                let (method, url) = match original {
                    Some(original) => (original.method(), original.url()),
                    None => (Some(&parts.method), dpop.request_url(parts)),
                };
                let (Some(method), Some(url)) = (method, url) else {
                    return Err(refuse(
                        DpopError::InvalidProof,
                        "the request's method and URL are not known",
                    ));
                };
                let token = located.token.text(&self.inner.transport)?;
                let target = ProofTarget::new(method, &url).access_token(token);
                let now = self.engine().clock().now().as_secs();
                // Boxed, as another issuer's token is in `verify`.
                let proof = Box::pin(dpop.verify(proof, &target, now)).await?;
                if proof.jkt != *jkt {
                    return Err(refuse(
                        DpopError::InvalidProof,
                        "the DPoP proof is signed by another key than the token's",
                    ));
                }
                Ok(())
            }
        }
    }

    /// The key a login or token request is bound to: its `DPoP` proof's
    /// (checked, no access token), `None` without a proof, an error for a
    /// bad proof or, when DPoP is required, none. With DPoP off, proofs are
    /// ignored (RFC 9449: a server without DPoP issues bearer tokens).
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let (parts, _) = http::Request::post("/auth/login").body(()).unwrap().into_parts();
    /// assert_eq!(gate.proof_key(&parts).await.unwrap(), None);
    /// let (parts, _) = http::Request::post("/auth/login").header("DPoP", "x.y.z").body(()).unwrap().into_parts();
    /// assert_eq!(gate.proof_key(&parts).await.unwrap_err().code(), "invalid_dpop_proof");
    /// # });
    /// ```
    pub async fn proof_key(
        &self,
        parts: &http::request::Parts,
    ) -> Result<Option<crate::dpop::Jkt>, Error> {
        use crate::dpop::{DpopError, DpopMode, ProofTarget};
        let dpop = &self.inner.dpop;
        if dpop.mode_of() == DpopMode::Off {
            return Ok(None);
        }
        let refuse = |reason| {
            Error::Token(TokenRejection::Dpop(
                dpop.refuse(DpopError::InvalidProof, reason),
            ))
        };
        let proof = dpop
            .proof_header(&parts.headers)
            .map_err(|r| Error::Token(TokenRejection::Dpop(r)))?;
        let Some(proof) = proof else {
            return match dpop.mode_of() {
                DpopMode::Required => Err(refuse("a DPoP proof is required")),
                _ => Ok(None),
            };
        };
        let url = dpop
            .request_url(parts)
            .ok_or_else(|| refuse("the request's URL is not known"))?;
        let target = ProofTarget::new(&parts.method, &url);
        let now = self.engine().clock().now().as_secs();
        Ok(Some(dpop.verify(proof, &target, now).await?.jkt))
    }

    /// Sets the DPoP rules ([`Dpop`](crate::dpop::Dpop); default: allowed,
    /// in-memory replay store, no nonces).
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::dpop::{Dpop, DpopMode};
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap()
    ///     .with_dpop(Dpop::default().mode(DpopMode::Required));
    /// assert_eq!(gate.dpop().mode_of(), DpopMode::Required);
    /// ```
    pub fn with_dpop(mut self, dpop: crate::dpop::Dpop) -> Self {
        Arc::make_mut(&mut self.inner).dpop = dpop;
        self
    }

    /// The DPoP rules.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::dpop::DpopMode;
    /// use tokengate::keys::Algorithm;
    ///
    /// assert_eq!(TokenGate::with_generated_key(Algorithm::EdDSA).unwrap().dpop().mode_of(), DpopMode::Allowed);
    /// ```
    pub fn dpop(&self) -> &crate::dpop::Dpop {
        &self.inner.dpop
    }

    /// Verifies a token (this engine's, or a trusted issuer's), or finds it
    /// among those verified before and not yet expired. Revocation is not
    /// checked here: see [`TokenGate::authenticate`].
    ///
    /// ```
    /// use tokengate::token::NewToken;
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let issued = gate.engine().issue(NewToken::access("alice")).unwrap();
    /// assert_eq!(gate.verify(&issued.token).await.unwrap().subject(), "alice");
    /// assert_eq!(gate.verify("a.b.c").await.unwrap_err().code(), "invalid_token");
    /// # });
    /// ```
    pub async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, Error> {
        match self.remembered(token.as_bytes()) {
            Some(verified) => Ok(verified),
            None => self.verify_new(token).await,
        }
    }

    /// The token of these bytes if it was verified before and has not
    /// expired (nor have the trusted issuers' keys changed since).
    fn remembered(&self, token: &[u8]) -> Option<Arc<VerifiedToken>> {
        // Read under the lock: cloning the engine's `Arc` writes a count
        // that every core shares.
        let now = self
            .inner
            .engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clock()
            .now()
            .as_secs();
        self.inner.cache.get(token, now, self.keys_version())
    }

    /// The version of the trusted issuers' keys (0 without any): a cached
    /// token of theirs is current only under the keys it was verified with.
    fn keys_version(&self) -> u64 {
        #[cfg(feature = "issuers")]
        return self.inner.issuers.as_ref().map_or(0, |i| i.keys_version());
        #[cfg(not(feature = "issuers"))]
        0
    }

    /// [`TokenGate::verify`] for a token not remembered: its signature and
    /// claims checked, and the result remembered.
    async fn verify_new(&self, token: &str) -> Result<Arc<VerifiedToken>, Error> {
        let engine = self.engine();
        let now = engine.clock().now().as_secs();
        let keys_version = self.keys_version();
        #[cfg(feature = "issuers")]
        if let Some(issuers) = &self.inner.issuers
            && let Some(iss) = crate::issuers::peek_issuer(token)?
            && engine.validation().issuer.as_deref() != Some(iss.as_str())
            && let Some(leeway) = issuers.leeway_of(&iss)
        {
            // Boxed: kept inline, this rare path (another issuer's token,
            // not yet cached) made every request's future several hundred
            // bytes larger, and its allocation slower.
            let verified = Arc::new(Box::pin(issuers.verify_at(token, now)).await?);
            let leeway = i64::try_from(leeway).unwrap_or(i64::MAX);
            self.inner
                .cache
                .insert(token, verified.clone(), leeway, keys_version);
            return Ok(verified);
        }
        let verified = Arc::new(engine.verify_at(token, now)?);
        let leeway = i64::try_from(engine.validation().leeway).unwrap_or(i64::MAX);
        self.inner.cache.insert(token, verified.clone(), leeway, 0);
        Ok(verified)
    }

    pub(super) fn issue_in_login(
        &self,
        user: &(impl Identity + ?Sized),
        new: NewToken,
        login: &LoginId,
    ) -> Result<IssuedToken, KeyError> {
        let mut new = new;
        new.family = Some(login.clone());
        self.issue_for(user, new)
    }

    fn issue_for(
        &self,
        user: &(impl Identity + ?Sized),
        new: NewToken,
    ) -> Result<IssuedToken, KeyError> {
        let mut new = new;
        new.claims = user.additional_claims();
        new.scope = user.scope();
        new.roles = user.roles();
        if self.inner.transport.uses_cookies() && self.inner.transport.csrf_protect {
            new.csrf = true;
        }
        self.engine().issue(new)
    }

    /// Issues an access token for `user` outside any login (no refresh
    /// family), with a `csrf` claim when cookies are a location: for
    /// machine clients and tests. A login is [`TokenGate::login`].
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let issued = gate.access_token_for("alice").unwrap();
    /// assert!(issued.csrf.is_some()); // the default transport accepts cookies
    /// assert_eq!(issued.family, None);
    /// ```
    pub fn access_token_for(
        &self,
        user: &(impl Identity + ?Sized),
    ) -> Result<IssuedToken, KeyError> {
        self.issue_for(user, NewToken::access(user.identity()))
    }

    /// [`TokenGate::access_token_for`], fresh (Flask-JWT-Extended's
    /// `create_access_token(identity, fresh=True)`): for a route that needs
    /// a [`FreshAccessToken`] right after the user proved who they are.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::claims::Fresh;
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let issued = gate.fresh_access_token_for("alice").unwrap();
    /// assert_eq!(gate.engine().verify(&issued.token).unwrap().claims.fresh, Fresh::Yes);
    /// ```
    pub fn fresh_access_token_for(
        &self,
        user: &(impl Identity + ?Sized),
    ) -> Result<IssuedToken, KeyError> {
        self.issue_for(user, NewToken::access(user.identity()).fresh())
    }
}
