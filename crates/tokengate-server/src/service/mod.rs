//! The HTTP service: state, router and middleware. Handlers only
//! translate HTTP to calls of the tokengate library and the database.

mod auth;
mod body;
mod browser;
pub(crate) mod client_ip;
pub(crate) mod files;
mod guard;
pub(crate) mod limits;
mod memos;
pub(crate) mod metrics;
mod observe;
mod oidc;
mod openapi;
mod page;
mod passkeys;
mod resources;
pub(crate) mod sessions;
pub(crate) mod standards;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use tokengate::axum::{TokenGate, UserLoader};
use tokengate::login::{LoginDetails, LoginMethod};
use tokengate::token::VerifiedToken;
use tokengate::transport::{SetCookies, TokenLocation};
use tokengate::users::{PasswordHasher, PasswordPolicy};
use tower::util::Either;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::config::{IpNetwork, Registration, Settings};
use crate::storage::{Database, User, UserId};
use limits::LoginLimiter;

/// Request bodies larger than this are refused: 413 before reading when
/// `Content-Length` announces it; a body of unannounced length is cut here
/// ([`guard`]), and refused when read past it: 400 `invalid_request` from
/// the JSON extractor, 413 from axum's other body extractors.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Requests whose headers add up to more than this are refused.
pub(crate) const HEADER_LIMIT: usize = 16 * 1024;

/// What every handler can reach: one `Arc`, so that the extractors and
/// middleware that take the state clone one pointer, not every field.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl AppState {
    pub(crate) fn new(state: Shared) -> AppState {
        AppState(Arc::new(state))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
pub(crate) struct Shared {
    pub(crate) gate: TokenGate,
    pub(crate) db: Database,
    pub(crate) hasher: PasswordHasher,
    pub(crate) limiter: Arc<LoginLimiter>,
    /// Registrations per client IP (`registration_rate`).
    pub(crate) registrations: Arc<LoginLimiter>,
    /// OIDC providers users can log in with (possibly none).
    pub(crate) oidc: tokengate::oidc::OidcLogin,
    /// The Redis the instances share, if configured.
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<crate::cluster::Redis>,
    pub(crate) settings: Arc<Settings>,
    /// The key of signed file links.
    pub(crate) links: files::LinkKey,
    /// The renderer of `/metrics`.
    pub(crate) metrics: metrics::Metrics,
    /// The clients of the OAuth endpoints (`[[clients]]`; possibly none).
    pub(crate) clients: standards::Clients,
    /// The relying party of passkeys (`webauthn_rp_id`, `webauthn_origin`).
    pub(crate) passkeys: tokengate::passkeys::RelyingParty,
}

impl FromRef<AppState> for TokenGate {
    fn from_ref(state: &AppState) -> TokenGate {
        state.gate.clone()
    }
}

impl UserLoader for AppState {
    type User = User;

    async fn load_user(&self, token: &VerifiedToken) -> Result<Option<User>, tokengate::Error> {
        // Another issuer's `sub` is not one of our user ids, whatever it looks like.
        if !token.origin.is_first_party() {
            return Ok(None);
        }
        match token.subject().parse::<i64>() {
            // A disabled user is no user: its tokens are refused like a deleted one's.
            Ok(id) => Ok(self
                .db
                .user_by_id(UserId(id))
                .await?
                .filter(|u| !u.disabled)),
            Err(_) => Ok(None),
        }
    }
}

impl AppState {
    /// `Set-Cookie` headers that clear every session cookie (logouts).
    pub(crate) fn cleared_cookies(&self) -> SetCookies {
        self.gate.transport().logout_cookies()
    }

    pub(crate) fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_length: self.settings.password_min_length,
        }
    }

    pub(crate) fn registration_open(&self) -> bool {
        self.settings.registration == Registration::Open
    }

    /// The client address, believing `X-Forwarded-For` only from trusted proxies.
    pub(crate) fn client_ip(&self, peer: SocketAddr, headers: &http::HeaderMap) -> IpAddr {
        let trusted = |ip: IpAddr| IpNetwork::any_contains(&self.settings.trusted_proxies, ip);
        client_ip::client_ip(peer.ip(), headers, &trusted)
    }

    /// What a new login records of its client: the address (behind trusted
    /// proxies, the forwarded one) and the `User-Agent`, for its owner's
    /// sessions list.
    pub(crate) fn login_details(
        &self,
        method: LoginMethod,
        peer: SocketAddr,
        headers: &http::HeaderMap,
    ) -> LoginDetails {
        let details = LoginDetails::new(method).ip(self.client_ip(peer, headers));
        match headers.get(header::USER_AGENT) {
            Some(agent) => details.user_agent(&String::from_utf8_lossy(agent.as_bytes())),
            None => details,
        }
    }
}

/// Every route of the service, each with its OpenAPI documentation (a
/// module adds a route with `routes!`, which takes the handler's
/// `#[utoipa::path]`).
/// The service's routes; `/metrics` unless it has an address of its own
/// (`metrics_listen`); with `examples`, also the example resource routes,
/// memos, files and the demo page.
fn routes(examples: bool, metrics_here: bool) -> OpenApiRouter<AppState> {
    let service = OpenApiRouter::new()
        .merge(auth::routes())
        .merge(browser::routes())
        .merge(oidc::routes())
        .merge(sessions::routes())
        .merge(passkeys::routes())
        .merge(standards::routes())
        .merge(resources::routes());
    let service = if metrics_here {
        service.merge(metrics::routes())
    } else {
        service
    };
    if !examples {
        return service;
    }
    service
        .merge(resources::examples())
        .merge(memos::routes())
        .merge(files::routes())
        .merge(page::routes())
}

/// The service as the listener serves it: the router of every route and
/// `/openapi.json`, behind the layers every request meets.
pub(crate) type App = observe::Observed<Either<Cors<Limits>, Limits>>;
type Limits = guard::Limited<Router>;

/// The service: the router of every route and `/openapi.json`, behind the
/// request's observation (id, access line, metrics), CORS and the limits.
///
/// The layers wrap the router rather than being `Router::layer`s: axum
/// applies those to each route, and clones and boxes the route's whole
/// layered stack for every request (BENCHMARKS.md, the plumbing). The
/// route's pattern, which the metrics name, is therefore found by the
/// observing layer itself, in a table of the same patterns.
pub(crate) fn router(state: AppState) -> App {
    let settings = state.settings.clone();
    let (routes, paths) =
        openapi::with_document(routes(settings.examples, settings.metrics_listen.is_none()));
    // Tokens in JSON bodies are read by a middleware, installed only when
    // the `json` location is configured (it buffers JSON bodies).
    let routes = if settings.token_locations.contains(&TokenLocation::Json) {
        routes.layer(middleware::from_fn(tokengate::axum::json_tokens))
    } else {
        routes
    };
    let routes = routes
        .fallback(|| async { error_body(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            error_body(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "method not allowed on this route",
            )
        })
        .with_state(state);
    tower::ServiceBuilder::new()
        // The request's id, span, access line and count, around the rest
        // so that every refusal is logged and counted too.
        .layer(observe::ObserveRequests::new(
            &settings,
            observe::RoutePatterns::new(&paths),
        ))
        // No origin configured: no CORS headers at all (in particular no
        // `Access-Control-Allow-Credentials`). Outside the limits, so that
        // a browser can read their refusals.
        .option_layer(cors(&settings.cors_origins))
        .layer(guard::RequestLimits::new(settings.request_timeout))
        .service(routes)
}

/// `/metrics` alone, for the `metrics_listen` address.
pub(crate) fn metrics_router(state: AppState) -> Router {
    let (routes, _) = metrics::routes().split_for_parts();
    routes
        .fallback(|| async { error_body(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            http::HeaderName::from_static("x-csrf-token"),
            tokengate::dpop::DPOP,
        ])
        // A page making DPoP proofs reads the nonce and the challenge.
        .expose_headers([tokengate::dpop::DPOP_NONCE, header::WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(600));
    Some(layer)
}

/// A `{"code","msg"}` response for failures outside the token engine's errors.
fn error_body(status: StatusCode, code: &str, msg: &str) -> Response {
    let body = tokengate::ErrorBody {
        code: code.into(),
        msg: msg.into(),
    };
    (status, axum::Json(body)).into_response()
}
