//! A tower layer that protects a whole group of routes (or any tower
//! service) with one requirement, and the per-route options of
//! Flask-JWT-Extended's `jwt_required(...)`: where the token may be, whether
//! it must be fresh, scopes, roles, and whether the revocation check runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{Requirement, TokenGate};
use crate::Error;
use crate::claims::TokenType;
use crate::scope::ScopeRequirement;
use crate::token::VerifiedToken;
use crate::transport::{TokenLocation, Transport};

/// The token a [`RequireToken`] layer verified, in the request's
/// extensions: the service behind reads it there, and tokengate's
/// extractors behind it take it instead of verifying the token again.
///
/// ```
/// use tokengate::axum::{TokenGate, Verified};
/// use tokengate::keys::Algorithm;
/// use tower::{Layer, Service, ServiceExt};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let login = gate.login("alice").await.unwrap();
/// // Any tower service, not only axum's: here a bare function.
/// let service = gate.require().layer(tower::service_fn(|request: http::Request<axum::body::Body>| async move {
///     let verified = request.extensions().get::<Verified>().unwrap();
///     Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::from(verified.token.subject().to_owned())))
/// }));
/// let request = http::Request::get("/").header("Authorization", format!("Bearer {}", login.access.token))
///     .body(axum::body::Body::empty()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verified {
    /// The verified token.
    pub token: Arc<VerifiedToken>,
    /// Where it was found.
    pub location: TokenLocation,
    /// What it was checked for.
    pub requirement: Requirement,
}

impl Verified {
    /// Whether this verification answers `requirement` too: the same token
    /// type, and fresh now if freshness is asked.
    pub(super) fn satisfies(&self, requirement: Requirement, now_secs: i64) -> bool {
        self.requirement.token_type == requirement.token_type
            && (!requirement.fresh
                || self.requirement.fresh
                || self.token.claims.fresh.is_fresh_at(now_secs))
    }
}

/// A route group's requirement, as a tower [`Layer`]: made by
/// [`TokenGate::require`], given to `Router::route_layer` (or any tower
/// stack). A request without an acceptable token gets tokengate's error
/// response (the same status, `{"code","msg"}` body and
/// `WWW-Authenticate` as the extractors, or the gate's
/// [`on_error`](TokenGate::on_error) answer); an accepted one goes on with
/// [`Verified`] in its extensions.
///
/// The options are those of Flask-JWT-Extended's `jwt_required(...)`:
/// [`fresh`](RequireToken::fresh), [`refresh`](RequireToken::refresh)
/// (`refresh=True`), [`locations`](RequireToken::locations)
/// (`locations=`), [`skip_revocation_check`](RequireToken::skip_revocation_check)
/// (`verify_type`-style opt-outs), plus scopes and roles.
///
/// ```
/// use axum::{Router, routing::get};
/// use tokengate::axum::{AccessToken, TokenGate};
/// use tokengate::keys::Algorithm;
/// use tokengate::scope::ScopeRequirement;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let admin = Router::new()
///     .route("/admin/users", get(|token: AccessToken| async move { format!("{} sees the users", token.subject()) }))
///     .route("/admin/stats", get(|| async { "stats" }))
///     .route_layer(gate.require().scopes(ScopeRequirement::any_of(["admin"])).role("ops"));
/// let app: Router = Router::new().merge(admin).route("/", get(|| async { "public" })).with_state(gate.clone());
///
/// let anonymous = http::Request::get("/admin/stats").body(axum::body::Body::empty()).unwrap();
/// let response = app.clone().oneshot(anonymous).await.unwrap();
/// assert_eq!(response.status(), 401);
/// assert!(response.headers().contains_key("www-authenticate"));
/// let public = http::Request::get("/").body(axum::body::Body::empty()).unwrap();
/// assert_eq!(app.oneshot(public).await.unwrap().status(), 200);
/// # });
/// ```
#[derive(Clone)]
pub struct RequireToken {
    gate: TokenGate,
    rule: Arc<Rule>,
}

#[derive(Clone)]
struct Rule {
    requirement: Requirement,
    scopes: Option<ScopeRequirement>,
    roles: Vec<String>,
    /// The gate's transport with this route's locations, if it has its own.
    transport: Option<Transport>,
    check_revocation: bool,
}

impl std::fmt::Debug for RequireToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rule = &self.rule;
        f.debug_struct("RequireToken")
            .field("requirement", &rule.requirement)
            .field("scopes", &rule.scopes)
            .field("roles", &rule.roles)
            .field("locations", &rule.transport.as_ref().map(|t| &t.locations))
            .field("check_revocation", &rule.check_revocation)
            .finish()
    }
}

impl TokenGate {
    /// A tower layer requiring an access token (this gate's or a trusted
    /// issuer's) on every request of the service it wraps: see
    /// [`RequireToken`] for its options.
    ///
    /// With `route_layer` it protects a group of routes (axum boxes each
    /// route once more for any route layer: about 8 % of a cached request
    /// in BENCHMARKS.md). To protect everything a router serves, wrap the
    /// router itself, `gate.require().layer(router)`: then the layer costs
    /// what the `AccessToken` extractor costs.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let api: Router = Router::new()
    ///     .route("/reports", get(|| async { "reports" }))
    ///     .route_layer(gate.require())
    ///     .with_state(gate.clone());
    ///
    /// // Everything the router serves, 404s included.
    /// use tower::Layer;
    /// let app: Router = Router::new().route("/", get(|| async { "home" }));
    /// let whole = gate.require().layer(app);
    /// # let _ = whole;
    /// ```
    pub fn require(&self) -> RequireToken {
        RequireToken {
            gate: self.clone(),
            rule: Arc::new(Rule {
                requirement: Requirement::ACCESS,
                scopes: None,
                roles: Vec::new(),
                transport: None,
                check_revocation: true,
            }),
        }
    }
}

impl RequireToken {
    fn with(mut self, change: impl FnOnce(&mut Rule)) -> Self {
        change(Arc::make_mut(&mut self.rule));
        self
    }

    /// Requires a fresh access token (from a login, not a refresh), as
    /// `FreshAccessToken` does: `fresh_token_required` otherwise.
    ///
    /// ```
    /// # let gate = tokengate::axum::TokenGate::with_generated_key(tokengate::keys::Algorithm::EdDSA).unwrap();
    /// let sensitive = gate.require().fresh();
    /// # let _ = sensitive;
    /// ```
    pub fn fresh(self) -> Self {
        self.with(|rule| rule.requirement.fresh = true)
    }

    /// Requires a refresh token instead of an access token (a group of
    /// refresh routes: Flask-JWT-Extended's `refresh=True`).
    ///
    /// ```
    /// # let gate = tokengate::axum::TokenGate::with_generated_key(tokengate::keys::Algorithm::EdDSA).unwrap();
    /// let refresh_routes = gate.require().refresh();
    /// # let _ = refresh_routes;
    /// ```
    pub fn refresh(self) -> Self {
        self.with(|rule| {
            rule.requirement = Requirement {
                token_type: TokenType::Refresh,
                fresh: false,
            }
        })
    }

    /// Requires the scopes: `insufficient_scope` (403) otherwise.
    ///
    /// ```
    /// use tokengate::scope::ScopeRequirement;
    /// # let gate = tokengate::axum::TokenGate::with_generated_key(tokengate::keys::Algorithm::EdDSA).unwrap();
    /// // (read and write) or admin
    /// let writers = gate.require().scopes(ScopeRequirement::any_of(["read write", "admin"]));
    /// # let _ = writers;
    /// ```
    pub fn scopes(self, scopes: ScopeRequirement) -> Self {
        self.with(|rule| rule.scopes = Some(scopes))
    }

    /// Requires a role (the `roles` claim; a trusted issuer's roles where
    /// its claims put them); called again, every role named is required:
    /// `insufficient_role` (403) naming the missing ones otherwise.
    ///
    /// ```
    /// # let gate = tokengate::axum::TokenGate::with_generated_key(tokengate::keys::Algorithm::EdDSA).unwrap();
    /// let operators = gate.require().role("ops").role("admin");
    /// # let _ = operators;
    /// ```
    pub fn role(self, role: impl Into<String>) -> Self {
        let role = role.into();
        self.with(|rule| rule.roles.push(role))
    }

    /// Looks for the token only in these locations, in this order (the
    /// cookie names and CSRF rules stay the gate's): Flask-JWT-Extended's
    /// `locations=`. An empty list keeps the gate's.
    ///
    /// ```
    /// use tokengate::transport::TokenLocation;
    /// # let gate = tokengate::axum::TokenGate::with_generated_key(tokengate::keys::Algorithm::EdDSA).unwrap();
    /// // Machine clients only: a cookie is not looked at.
    /// let headers_only = gate.require().locations([TokenLocation::Headers]);
    /// # let _ = headers_only;
    /// ```
    pub fn locations(self, locations: impl IntoIterator<Item = TokenLocation>) -> Self {
        let locations: Vec<TokenLocation> = locations.into_iter().collect();
        let transport =
            (!locations.is_empty()).then(|| self.gate.transport().clone().locations(locations));
        self.with(|rule| rule.transport = transport)
    }

    /// Skips the revocation check on these routes: a revoked but otherwise
    /// valid token is accepted (for routes that must answer while the
    /// revocation store is down, or that only read public data for any
    /// holder of a signed token). Extractors behind the layer take its
    /// verdict, so they skip it too.
    ///
    /// ```
    /// # let gate = tokengate::axum::TokenGate::with_generated_key(tokengate::keys::Algorithm::EdDSA).unwrap();
    /// let status_page = gate.require().skip_revocation_check();
    /// # let _ = status_page;
    /// ```
    pub fn skip_revocation_check(self) -> Self {
        self.with(|rule| rule.check_revocation = false)
    }

    /// Checks the request: the verified token, or the error to answer.
    pub(crate) async fn check(&self, parts: &http::request::Parts) -> Result<Verified, Error> {
        let rule = &self.rule;
        let transport = rule
            .transport
            .as_ref()
            .unwrap_or_else(|| self.gate.transport());
        let csrf_needed = transport.csrf_methods.contains(&parts.method);
        let (located, token) = self
            .gate
            .authenticate_with(
                parts,
                rule.requirement,
                csrf_needed,
                transport,
                rule.check_revocation,
                None,
            )
            .await?;
        if let Some(scopes) = &rule.scopes {
            scopes.check(&token.claims)?;
        }
        crate::scope::check_roles(&token.claims, rule.roles.iter().map(String::as_str))?;
        Ok(Verified {
            token,
            location: located.location,
            requirement: rule.requirement,
        })
    }
}

impl<S> Layer<S> for RequireToken {
    type Service = RequireTokenService<S>;

    fn layer(&self, inner: S) -> RequireTokenService<S> {
        RequireTokenService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`RequireToken`] layer. Its answers have axum's body
/// (the wrapped service's body, boxed only if it is not axum's already).
///
/// ```
/// use tokengate::axum::{RequireTokenService, TokenGate};
/// use tokengate::keys::Algorithm;
/// use tower::Layer;
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let service: RequireTokenService<_> = gate.require().layer(tower::service_fn(|_: http::Request<axum::body::Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
/// }));
/// # let _ = service;
/// ```
#[derive(Debug, Clone)]
pub struct RequireTokenService<S> {
    inner: S,
    layer: RequireToken,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B, ResBody> Service<Request<B>> for RequireTokenService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    ResBody: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Answer<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        // Most checks finish at the first poll (the token cached or verified
        // in memory, revocations in memory): then the ready inner service
        // answers at once, with no clone of it and no boxed future.
        let checked = {
            let check = std::pin::pin!(self.layer.check(&parts));
            check.poll(&mut Context::from_waker(std::task::Waker::noop()))
        };
        match checked {
            Poll::Ready(checked) => {
                #[cfg(feature = "metrics")]
                crate::metrics::token_verification(checked.as_ref().err());
                match checked {
                    Ok(verified) => {
                        parts.extensions.insert(verified);
                        let future = self.inner.call(Request::from_parts(parts, body));
                        Answer {
                            state: State::Inner { future },
                        }
                    }
                    Err(error) => Answer {
                        state: State::Refused {
                            response: Some(self.layer.gate.error_response(error)),
                        },
                    },
                }
            }
            // It waits (a trusted issuer's keys being fetched, or the
            // revocation record looked up while it loads): checked again
            // in a future of its own, which the ready service answers (its
            // clone waits for the next request). The first check's work is
            // shared through the gate's caches.
            Poll::Pending => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let layer = self.layer.clone();
                let future = Box::pin(async move {
                    let checked = layer.check(&parts).await;
                    #[cfg(feature = "metrics")]
                    crate::metrics::token_verification(checked.as_ref().err());
                    match checked {
                        Ok(verified) => {
                            parts.extensions.insert(verified);
                            let response = inner.call(Request::from_parts(parts, body)).await?;
                            Ok(response.map(Body::new))
                        }
                        Err(error) => Ok(layer.gate.error_response(error)),
                    }
                });
                Answer {
                    state: State::Waiting { future },
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`RequireTokenService`]'s answer.
    pub struct Answer<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F, E> {
        // The check passed: the wrapped service's answer.
        Inner {
            #[pin]
            future: F,
        },
        // The check refused the request; the refusal until it is taken.
        Refused {
            response: Option<Response<Body>>,
        },
        // The check had to wait: check and answer in one boxed future.
        Waiting {
            future: Pin<Box<dyn Future<Output = Result<Response<Body>, E>> + Send>>,
        },
    }
}

impl<F, ResBody, E> Future for Answer<F, E>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Inner { future } => future
                .poll(cx)
                .map(|answer| answer.map(|response| response.map(Body::new))),
            StateProjection::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            StateProjection::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}
