//! The HTTP service: state, router and middleware. Handlers only
//! translate HTTP to calls of the tokengate library and the database.

mod auth;
mod body;
mod browser;
pub(crate) mod client_ip;
pub(crate) mod files;
pub(crate) mod limits;
mod memos;
pub(crate) mod metrics;
mod oidc;
mod openapi;
mod page;
mod resources;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use tokengate::axum::{TokenGate, UserLoader};
use tokengate::token::VerifiedToken;
use tokengate::transport::{SetCookies, TokenLocation};
use tokengate::users::{PasswordHasher, PasswordPolicy};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::config::{Registration, Settings};
use crate::storage::{Database, User, UserId};
use limits::LoginLimiter;

/// Request bodies larger than this are refused: 413 before reading when
/// `Content-Length` announces it, else 413 from the limit layer or 400
/// `invalid_request` from the JSON extractor when the body reaches it.
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
        let trusted = |ip: IpAddr| self.settings.trusted_proxies.iter().any(|n| n.contains(ip));
        client_ip::client_ip(peer.ip(), headers, &trusted)
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

/// The router of every route and `/openapi.json` (which describes exactly
/// the routes served), with the service's limits.
pub(crate) fn router(state: AppState) -> Router {
    let settings = &state.settings;
    let routes =
        openapi::with_document(routes(settings.examples, settings.metrics_listen.is_none()));
    // Tokens in JSON bodies are read by a middleware, installed only when
    // the `json` location is configured (it buffers JSON bodies).
    let routes = if state
        .settings
        .token_locations
        .contains(&TokenLocation::Json)
    {
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
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(limit_body_length))
        .layer(middleware::from_fn(limit_headers))
        .layer(middleware::from_fn_with_state(
            state.settings.request_timeout,
            limit_time,
        ));
    // No origin configured: no CORS headers at all (in particular no
    // `Access-Control-Allow-Credentials`).
    let routes = match cors(&state.settings.cors_origins) {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    routes
        // Outermost, so that every refusal above counts too; a `Router::layer`
        // sees the `MatchedPath` of the route.
        .layer(middleware::from_fn(metrics::count_requests))
        .with_state(state)
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
        ])
        .max_age(Duration::from_secs(600));
    Some(layer)
}

/// Answers 408 with a JSON body when a request (reading its body included)
/// takes longer than `request_timeout`; the listener bounds its head.
async fn limit_time(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error_body(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long",
        ),
    }
}

/// Refuses a body announced larger than [`BODY_LIMIT`] before reading it
/// (413), and says `Connection: close`: the unread body makes the
/// connection unusable, and a client must not send its next request on it.
/// (A chunked body is cut at the limit by `DefaultBodyLimit` instead.)
async fn limit_body_length(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > BODY_LIMIT as u64) {
        let mut response = error_body(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            &format!("the request body is larger than {} KiB", BODY_LIMIT / 1024),
        );
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    next.run(request).await
}

/// Refuses requests whose headers are larger than [`HEADER_LIMIT`] (431).
async fn limit_headers(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > HEADER_LIMIT {
        return error_body(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            "request headers are too large",
        );
    }
    next.run(request).await
}

/// A `{"code","msg"}` response for failures outside the token engine's errors.
fn error_body(status: StatusCode, code: &str, msg: &str) -> Response {
    let body = tokengate::ErrorBody {
        code: code.into(),
        msg: msg.into(),
    };
    (status, axum::Json(body)).into_response()
}
