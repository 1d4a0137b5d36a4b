//! Log in with an OpenID provider (Keycloak, Auth0, ...): the relying party
//! of an Authlib or flask-oidc login, done the way neither Authlib nor flask-oidc does it for you.
//!
//! - The protocol (discovery, the authorization request with PKCE S256,
//!   `state` and `nonce`, the code exchange) is the `openidconnect` crate's,
//!   its HTTP going through this crate's reqwest client.
//! - The ID token is checked by tokengate's own verifier against the
//!   provider's keys from [`crate::issuers`]' JWKS cache (refreshed, refetched
//!   on an unknown `kid`), then `nonce`, `azp` and `at_hash` here: a key
//!   rotation at the provider never breaks logins, as a JWKS loaded once would.
//! - `state`, `nonce` and the PKCE verifier stay on the server, bound to the
//!   browser by a random value the caller keeps in a short-lived cookie, and
//!   are deleted at first use.
//! - `next` is reduced to a local path.
//!
//! ```no_run
//! use tokengate::oidc::{OidcLogin, OidcProvider};
//!
//! # async fn run() -> Result<(), tokengate::Error> {
//! let keycloak = OidcProvider::new(
//!     "keycloak",
//!     "http://127.0.0.1:8080/realms/dev",
//!     "my-app",
//!     "http://127.0.0.1:5000/auth/oidc/keycloak/callback",
//! );
//! let login = OidcLogin::new(vec![keycloak]).map_err(|e| tokengate::Unavailable::new(tokengate::Backend::Service, e))?;
//! login.start();
//! let begun = login.begin("keycloak", Some("/memos")).await?;
//! // Redirect to begun.redirect_url, keeping begun.browser_binding in a
//! // cookie (`BindingCookie`).
//! # Ok(()) }
//! ```

mod binding;
mod client;
mod pending;

pub use binding::BindingCookie;

use crate::RequestRejection;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::Error;
use crate::issuers::IssuerError;

use client::ProviderClient;
pub use pending::{InMemoryPendingLogins, PendingLogin, PendingLoginStore};

/// How long a browser may take between the login redirect and the callback:
/// also the `Max-Age` to give the browser-binding cookie.
///
/// ```
/// assert_eq!(tokengate::oidc::LOGIN_TIMEOUT.as_secs(), 600);
/// ```
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);

/// One OpenID provider users may log in with.
///
/// ```
/// use tokengate::oidc::OidcProvider;
///
/// let p = OidcProvider::new("dev", "http://127.0.0.1:3000", "web", "http://127.0.0.1:5000/auth/oidc/dev/callback")
///     .client_secret("s3cret")
///     .post_logout_redirect_url("http://127.0.0.1:5000/");
/// assert_eq!(p.scopes, ["openid", "profile", "email"]);
/// assert!(!format!("{p:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct OidcProvider {
    /// Its name in routes (`/auth/oidc/{name}/...`).
    pub name: String,
    /// Its issuer: discovery at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// This application's client id there.
    pub client_id: String,
    /// The client secret; `None` for a public client (PKCE only).
    pub client_secret: Option<Zeroizing<String>>,
    /// Scopes asked for (default `openid profile email`).
    pub scopes: Vec<String>,
    /// This application's callback URL, as registered at the provider.
    pub redirect_url: String,
    /// Where the provider sends the browser after its logout.
    pub post_logout_redirect_url: Option<String>,
    /// The ID token claim used as the display name (default `preferred_username`,
    /// then `name`, then `email`).
    pub display_name_claim: Option<String>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

impl OidcProvider {
    /// A public client of `issuer` with the default scopes.
    ///
    /// ```
    /// use tokengate::oidc::OidcProvider;
    ///
    ///
    /// let p = OidcProvider::new("keycloak", "http://127.0.0.1:8080/realms/dev", "my-app",
    ///     "http://127.0.0.1:5000/auth/oidc/keycloak/callback");
    /// assert_eq!((p.name.as_str(), p.client_id.as_str()), ("keycloak", "my-app"));
    /// assert!(p.client_secret.is_none()); // a public client: PKCE only
    /// ```
    pub fn new(
        name: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_url: impl Into<String>,
    ) -> Self {
        OidcProvider {
            name: name.into(),
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
            redirect_url: redirect_url.into(),
            post_logout_redirect_url: None,
            display_name_claim: None,
        }
    }

    /// A confidential client: authenticates to the token endpoint.
    ///
    /// ```
    /// use tokengate::oidc::OidcProvider;
    ///
    /// let p = OidcProvider::new("dev", "http://127.0.0.1:3000", "web", "http://127.0.0.1:5000/auth/oidc/dev/callback")
    ///     .client_secret("s3cret");
    /// assert_eq!(p.client_secret.as_deref().map(String::as_str), Some("s3cret"));
    /// assert!(!format!("{p:?}").contains("s3cret"));
    /// ```
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(Zeroizing::new(secret.into()));
        self
    }

    /// Asks for these scopes (`openid` is always added).
    ///
    /// ```
    /// use tokengate::oidc::OidcProvider;
    ///
    /// let p = OidcProvider::new("dev", "http://127.0.0.1:3000", "web", "http://127.0.0.1:5000/auth/oidc/dev/callback")
    ///     .scopes(["openid", "email"]);
    /// assert_eq!(p.scopes, ["openid", "email"]);
    /// ```
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Where the provider's logout returns to.
    ///
    /// ```
    /// use tokengate::oidc::OidcProvider;
    ///
    /// let p = OidcProvider::new("dev", "http://127.0.0.1:3000", "web", "http://127.0.0.1:5000/auth/oidc/dev/callback")
    ///     .post_logout_redirect_url("http://127.0.0.1:5000/");
    /// assert_eq!(p.post_logout_redirect_url.as_deref(), Some("http://127.0.0.1:5000/"));
    /// ```
    pub fn post_logout_redirect_url(mut self, url: impl Into<String>) -> Self {
        self.post_logout_redirect_url = Some(url.into());
        self
    }

    /// Reads the display name from this claim.
    ///
    /// ```
    /// use tokengate::oidc::OidcProvider;
    ///
    /// let p = OidcProvider::new("dev", "http://127.0.0.1:3000", "web", "http://127.0.0.1:5000/auth/oidc/dev/callback")
    ///     .display_name_claim("nickname");
    /// assert_eq!(p.display_name_claim.as_deref(), Some("nickname"));
    /// ```
    pub fn display_name_claim(mut self, claim: impl Into<String>) -> Self {
        self.display_name_claim = Some(claim.into());
        self
    }
}

/// A login begun: send the browser to `redirect_url`, and keep
/// `browser_binding` in a short-lived HttpOnly cookie for the callback.
/// See [`OidcLogin::begin`] and the crate's step 8.
///
/// ```
/// use tokengate::oidc::{OidcLogin, OidcProvider};
/// # use axum::{Json, Router, routing::get};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// # let issuer = format!("http://{}", listener.local_addr().unwrap());
/// # let discovery = serde_json::json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
/// #     "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
/// #     "end_session_endpoint": format!("{issuer}/logout"), "response_types_supported": ["code"],
/// #     "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["ES256"]});
/// # let app = Router::new().route("/.well-known/openid-configuration", get(move || async move { Json(discovery) }))
/// #     .route("/jwks", get(|| async { Json(serde_json::json!({"keys": []})) }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// // `issuer`: a provider on 127.0.0.1, serving its discovery document.
/// let provider = OidcProvider::new("dev", issuer.as_str(), "web", "http://127.0.0.1:5000/auth/oidc/dev/callback");
/// let oidc = OidcLogin::new(vec![provider.post_logout_redirect_url("http://127.0.0.1:5000/")]).unwrap();
/// let begun = oidc.begin("dev", Some("/memos")).await.unwrap();
/// assert!(begun.redirect_url.starts_with(&format!("{issuer}/authorize?response_type=code&client_id=web")));
/// assert!(begun.redirect_url.contains("code_challenge_method=S256"));
/// assert_eq!(begun.browser_binding.len(), 36); // for a short-lived HttpOnly cookie
/// # });
/// ```
#[derive(Debug)]
pub struct BegunLogin {
    /// The provider's authorization URL with every parameter.
    pub redirect_url: String,
    /// The value that ties the callback to this browser.
    pub browser_binding: String,
}

/// The query of the callback.
///
/// ```
/// use tokengate::oidc::Callback;
///
/// // axum's `Query<Callback>` does this for a handler.
/// let callback: Callback = serde_json::from_value(serde_json::json!({
///     "code": "SplxlOBeZQQYbYS6WxSbIA", "state": "af0ifjsldkj", "iss": "https://server.example.com"
/// })).unwrap();
/// assert_eq!(callback.state.as_deref(), Some("af0ifjsldkj"));
/// assert_eq!(callback.error, None);
/// ```
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The state sent with the request.
    pub state: Option<String>,
    /// The provider's issuer (RFC 9207), when it sends one.
    pub iss: Option<String>,
    /// The provider's error code, when it refused.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

/// Who logged in: what [`OidcLogin::finish`] returns. Link it to a local
/// user by `provider` and `subject`, never by `email`. Its `Debug` shows
/// neither the ID token nor the email.
///
/// ```
/// use tokengate::oidc::OidcIdentity;
///
/// let who = OidcIdentity { provider: "keycloak".into(), subject: "f81d4fae".into(), display_name: Some("Alice".into()),
///     email: Some("alice@example.com".into()), id_token: "eyJ.secret.sig".into(), next: "/memos".into() };
/// let debug = format!("{who:?}");
/// assert!(debug.contains("f81d4fae") && !debug.contains("eyJ.secret.sig") && !debug.contains("alice@"));
/// ```
#[derive(Clone)]
pub struct OidcIdentity {
    /// The provider's name.
    pub provider: String,
    /// The ID token's `sub`: the identity at that provider.
    pub subject: String,
    /// A display name from the ID token.
    pub display_name: Option<String>,
    /// The `email` claim, if any (never used to link accounts).
    pub email: Option<String>,
    /// The ID token, for the provider logout's `id_token_hint`.
    pub id_token: String,
    /// The local path to return to.
    pub next: String,
}

impl std::fmt::Debug for OidcIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcIdentity")
            .field("provider", &self.provider)
            .field("subject", &self.subject)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// Every configured provider, and the logins in progress. Cheap to clone.
///
/// ```
/// use tokengate::oidc::{OidcLogin, OidcProvider};
///
/// let provider = |name: &str| OidcProvider::new(name, "http://127.0.0.1:8080/realms/dev", "my-app",
///     format!("http://127.0.0.1:5000/auth/oidc/{name}/callback"));
/// let oidc = OidcLogin::new(vec![provider("keycloak"), provider("staging")]).unwrap();
/// assert_eq!(oidc.providers().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["keycloak", "staging"]);
/// assert!(OidcLogin::new(vec![provider("keycloak"), provider("keycloak")]).is_err()); // one name, one provider
/// ```
#[derive(Clone)]
pub struct OidcLogin {
    providers: Arc<[ProviderClient]>,
    pending: Arc<dyn PendingLoginStore>,
}

impl std::fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLogin")
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

impl OidcLogin {
    /// The providers of `list`; nothing is fetched yet. Refuses two
    /// providers of one name.
    ///
    /// ```
    /// use tokengate::oidc::{OidcLogin, OidcProvider};
    ///
    /// let p = OidcProvider::new("dev", "http://127.0.0.1:3000", "web", "http://127.0.0.1:5000/auth/oidc/dev/callback");
    /// assert!(OidcLogin::new(vec![p.clone()]).is_ok()); // nothing fetched yet
    /// let err = OidcLogin::new(vec![p.clone(), p]).unwrap_err();
    /// assert_eq!(err.to_string(), "trusted issuers: OIDC provider dev is listed twice");
    /// ```
    pub fn new(list: Vec<OidcProvider>) -> Result<Self, IssuerError> {
        let mut providers: Vec<ProviderClient> = Vec::with_capacity(list.len());
        for config in list {
            if providers.iter().any(|p| p.config().name == config.name) {
                return Err(IssuerError::Config(format!(
                    "OIDC provider {} is listed twice",
                    config.name
                )));
            }
            providers.push(ProviderClient::new(config)?);
        }
        Ok(OidcLogin {
            providers: providers.into(),
            pending: Arc::new(InMemoryPendingLogins::default()),
        })
    }

    /// Keeps the logins in progress in `store` instead of this process's
    /// memory: instances sharing a store finish each other's logins (a
    /// load balancer needs no sticky sessions).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tokengate::oidc::{InMemoryPendingLogins, OidcLogin};
    ///
    /// let oidc = OidcLogin::new(Vec::new()).unwrap()
    ///     .with_pending_logins(Arc::new(InMemoryPendingLogins::default()));
    /// ```
    pub fn with_pending_logins(mut self, store: Arc<dyn PendingLoginStore>) -> Self {
        self.pending = store;
        self
    }

    /// Whether no provider is configured.
    ///
    /// ```
    /// use tokengate::oidc::{OidcLogin, OidcProvider};
    ///
    /// assert!(OidcLogin::new(Vec::new()).unwrap().is_empty());
    /// let p = OidcProvider::new("dev", "http://127.0.0.1:3000", "web", "http://127.0.0.1:5000/auth/oidc/dev/callback");
    /// assert!(!OidcLogin::new(vec![p]).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The configured providers.
    ///
    /// ```
    /// use tokengate::oidc::{OidcLogin, OidcProvider};
    ///
    /// let p = OidcProvider::new("dev", "http://127.0.0.1:3000", "web", "http://127.0.0.1:5000/auth/oidc/dev/callback");
    /// let oidc = OidcLogin::new(vec![p]).unwrap();
    /// let issuers: Vec<&str> = oidc.providers().map(|p| p.issuer.as_str()).collect();
    /// assert_eq!(issuers, ["http://127.0.0.1:3000"]);
    /// ```
    pub fn providers(&self) -> impl Iterator<Item = &OidcProvider> {
        self.providers.iter().map(|p| p.config())
    }

    /// Discovers every provider and keeps its keys fresh in the background.
    /// Needs a Tokio runtime.
    ///
    /// ```
    /// use tokengate::oidc::{OidcLogin, OidcProvider};
    /// # use axum::{Json, Router, routing::get};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let issuer = format!("http://{}", listener.local_addr().unwrap());
    /// # let discovery = serde_json::json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
    /// #     "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
    /// #     "end_session_endpoint": format!("{issuer}/logout"), "response_types_supported": ["code"],
    /// #     "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["ES256"]});
    /// # let app = Router::new().route("/.well-known/openid-configuration", get(move || async move { Json(discovery) }))
    /// #     .route("/jwks", get(|| async { Json(serde_json::json!({"keys": []})) }));
    /// # tokio::spawn(async move { axum::serve(listener, app).await });
    /// // `issuer`: a provider on 127.0.0.1, serving its discovery document.
    /// let provider = OidcProvider::new("dev", issuer.as_str(), "web", "http://127.0.0.1:5000/auth/oidc/dev/callback");
    /// let oidc = OidcLogin::new(vec![provider.post_logout_redirect_url("http://127.0.0.1:5000/")]).unwrap();
    /// oidc.start(); // from within a Tokio runtime: the provider's keys, in the background
    /// assert!(oidc.begin("dev", None).await.is_ok());
    /// # });
    /// ```
    pub fn start(&self) {
        for provider in self.providers.iter() {
            provider.start();
        }
    }

    fn provider(&self, name: &str) -> Result<&ProviderClient, Error> {
        self.providers
            .iter()
            .find(|p| p.config().name == name)
            .ok_or(Error::Request(RequestRejection::NotFound))
    }

    /// Starts a login with provider `name`, returning to `next` (a local
    /// path; anything else becomes `/`) afterwards. Discovers the provider
    /// at first use; an unreachable provider is 503 `unavailable`, an
    /// unknown name 404 `not_found`. The crate's step 8 runs it.
    ///
    /// ```
    /// use tokengate::oidc::{OidcLogin, OidcProvider};
    ///
    /// let oidc = OidcLogin::new(vec![OidcProvider::new("keycloak", "http://127.0.0.1:8080/realms/dev",
    ///     "my-app", "http://127.0.0.1:5000/auth/oidc/keycloak/callback")]).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// assert_eq!(oidc.begin("github", None).await.unwrap_err().code(), "not_found");
    /// # });
    /// ```
    pub async fn begin(&self, name: &str, next: Option<&str>) -> Result<BegunLogin, Error> {
        let provider = self.provider(name)?;
        let (redirect_url, secrets) = provider.authorization_request().await?;
        let browser_binding = crate::token::random_id();
        let login = PendingLogin {
            provider: name.to_owned(),
            nonce: secrets.nonce,
            pkce_verifier: secrets.pkce_verifier,
            next: local_path(next.unwrap_or("/")),
            browser_binding: Zeroizing::new(browser_binding.clone()),
            expires_at: crate::clock::now().saturating_add(LOGIN_TIMEOUT),
        };
        self.pending.put(&secrets.state, &login).await?;
        Ok(BegunLogin {
            redirect_url,
            browser_binding,
        })
    }

    /// Completes a login at provider `name`'s callback, for the browser
    /// holding `browser_binding`. Every failure refuses the login; the state
    /// is spent either way.
    ///
    /// ```
    /// use tokengate::oidc::Callback;
    /// use tokengate::oidc::{OidcLogin, OidcProvider};
    ///
    /// let oidc = OidcLogin::new(vec![OidcProvider::new("keycloak", "http://127.0.0.1:8080/realms/dev",
    ///     "my-app", "http://127.0.0.1:5000/auth/oidc/keycloak/callback")]).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// // A callback must carry a state that `begin` made, once.
    /// let forged = Callback { code: Some("abc".into()), state: Some("made-up".into()), ..Callback::default() };
    /// let err = oidc.finish("keycloak", &forged, Some("binding")).await.unwrap_err();
    /// assert_eq!(err.code(), "invalid_request");
    /// # });
    /// ```
    pub async fn finish(
        &self,
        name: &str,
        callback: &Callback,
        browser_binding: Option<&str>,
    ) -> Result<OidcIdentity, Error> {
        let provider = self.provider(name)?;
        let state = callback.state.as_deref().ok_or_else(|| {
            Error::Request(RequestRejection::Invalid(
                "the callback has no state".into(),
            ))
        })?;
        // Taken first: a state is good for one callback, whatever happens next.
        let pending = self.pending.take(state).await?.ok_or_else(|| {
            Error::Request(RequestRejection::Invalid(
                "unknown, expired or already used state".into(),
            ))
        })?;
        let bound = browser_binding.is_some_and(|b| {
            subtle::ConstantTimeEq::ct_eq(b.as_bytes(), pending.browser_binding.as_bytes()).into()
        });
        if !bound {
            return Err(RequestRejection::Invalid(
                "this login was started in another browser".into(),
            )
            .into());
        }
        if pending.provider != name {
            return Err(RequestRejection::Invalid(
                "this login was started with another provider".into(),
            )
            .into());
        }
        if let Some(error) = &callback.error {
            return Err(RequestRejection::Invalid(format!(
                "the provider refused: {error}{}",
                callback
                    .error_description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ))
            .into());
        }
        provider
            .check_response_issuer(callback.iss.as_deref())
            .await?;
        let code = callback.code.as_deref().ok_or_else(|| {
            Error::Request(RequestRejection::Invalid("the callback has no code".into()))
        })?;
        let checked = provider
            .exchange(code, &pending.pkce_verifier, &pending.nonce)
            .await?;
        Ok(OidcIdentity {
            provider: name.to_owned(),
            subject: checked.subject,
            display_name: checked.display_name,
            email: checked.email,
            id_token: checked.id_token,
            next: pending.next,
        })
    }

    /// Where to send the browser to end its session at provider `name`:
    /// the provider's `end_session_endpoint` with `id_token_hint` and the
    /// configured `post_logout_redirect_uri`, or `None` if it has none.
    ///
    /// ```
    /// use tokengate::oidc::{OidcLogin, OidcProvider};
    /// # use axum::{Json, Router, routing::get};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let issuer = format!("http://{}", listener.local_addr().unwrap());
    /// # let discovery = serde_json::json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
    /// #     "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
    /// #     "end_session_endpoint": format!("{issuer}/logout"), "response_types_supported": ["code"],
    /// #     "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["ES256"]});
    /// # let app = Router::new().route("/.well-known/openid-configuration", get(move || async move { Json(discovery) }))
    /// #     .route("/jwks", get(|| async { Json(serde_json::json!({"keys": []})) }));
    /// # tokio::spawn(async move { axum::serve(listener, app).await });
    /// // `issuer`: a provider on 127.0.0.1, serving its discovery document.
    /// let provider = OidcProvider::new("dev", issuer.as_str(), "web", "http://127.0.0.1:5000/auth/oidc/dev/callback");
    /// let oidc = OidcLogin::new(vec![provider.post_logout_redirect_url("http://127.0.0.1:5000/")]).unwrap();
    /// let url = oidc.end_session_url("dev", None).await.unwrap().unwrap();
    /// assert!(url.starts_with(&format!("{issuer}/logout?")));
    /// assert!(url.contains("post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2F"));
    /// assert_eq!(oidc.end_session_url("github", None).await.unwrap_err().code(), "not_found");
    /// # });
    /// ```
    pub async fn end_session_url(
        &self,
        name: &str,
        id_token_hint: Option<&str>,
    ) -> Result<Option<String>, Error> {
        self.provider(name)?.end_session_url(id_token_hint).await
    }
}

/// `next` if it is a local path (one leading `/`, not `//`, not `/\`, no
/// scheme, no control characters), else `/`.
///
/// ```
/// use tokengate::oidc::local_path;
///
/// assert_eq!(local_path("/memos?x=1"), "/memos?x=1");
/// for bad in ["https://evil.example", "//evil.example", "/\\evil.example",
///             "%2F%2Fevil.example", "javascript:alert(1)", "", "memos"] {
///     assert_eq!(local_path(bad), "/");
/// }
/// ```
pub fn local_path(next: &str) -> String {
    let bytes = next.as_bytes();
    let local = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && next.len() <= 2048;
    if local {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}
