//! Resource routes of seeds 001 and 002, discovery, and health.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use tokengate::Error;
use tokengate::axum::{AccessToken, Scoped};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::openapi::{Forbidden, Unauthorized};

tokengate::required_scopes!(ReadMessages = ["read:messages"]);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(public))
        .routes(routes!(private))
        .routes(routes!(private_scoped))
        .routes(routes!(headers))
        .routes(routes!(verify))
        .routes(routes!(jwks))
        .routes(routes!(openid_configuration))
        .routes(routes!(health))
}

/// The instance's view of its dependencies.
#[derive(Serialize, ToSchema)]
struct Health {
    /// `ok`, or `degraded` when a dependency is down.
    #[schema(example = "ok")]
    status: &'static str,
    /// `ok` or `unavailable`.
    database: &'static str,
    /// `ok`, `unavailable`, or `off` (not configured).
    redis: &'static str,
}

/// Health
///
/// Always 200 while the instance can verify tokens (from memory); the body
/// says which dependency is down, so that a load balancer does not pull
/// every instance when the shared database goes away.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health",
    tag = "operations",
    responses((status = 200, description = "The instance's health", body = Health))
)]
async fn health(State(state): State<AppState>) -> Json<Health> {
    let database = state.db.ping().await;
    #[cfg(feature = "redis")]
    let redis = match &state.redis {
        Some(redis) => Some(redis.ping().await && redis.is_subscribed()),
        None => None,
    };
    #[cfg(not(feature = "redis"))]
    let redis: Option<bool> = None;
    let word = |up: bool| if up { "ok" } else { "unavailable" };
    let degraded = !database || redis == Some(false);
    Json(Health {
        status: if degraded { "degraded" } else { "ok" },
        database: word(database),
        redis: redis.map_or("off", word),
    })
}

/// The answer of the seed articles' resource routes.
#[derive(Serialize, ToSchema)]
struct Greeting {
    message: &'static str,
    /// The token's subject (not on the public route).
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
}

/// Public resource (seed 001)
#[utoipa::path(
    get,
    path = "/api/public",
    operation_id = "api_public",
    tag = "resources",
    responses((status = 200, description = "Needs no token", body = Greeting))
)]
async fn public() -> Json<Greeting> {
    Json(Greeting {
        message: "Hello from a public endpoint! You don't need to be authenticated to see this.",
        sub: None,
    })
}

/// Private resource (seed 001)
///
/// Any valid access token: this service's or a trusted issuer's.
#[utoipa::path(
    get,
    path = "/api/private",
    operation_id = "api_private",
    tag = "resources",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The token is valid", body = Greeting),
        (status = 401, response = Unauthorized),
    )
)]
async fn private(token: AccessToken) -> Json<Greeting> {
    Json(Greeting {
        message: "Hello from a private endpoint! You need to be authenticated to see this.",
        sub: Some(token.subject().to_owned()),
    })
}

/// Scoped resource (seed 001)
///
/// An access token with the scope `read:messages`.
#[utoipa::path(
    get,
    path = "/api/private-scoped",
    operation_id = "api_private_scoped",
    tag = "resources",
    security(("bearer" = ["read:messages"]), ("access_cookie" = ["read:messages"])),
    responses(
        (status = 200, description = "The token has the scope", body = Greeting),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn private_scoped(token: Scoped<ReadMessages>) -> Json<Greeting> {
    Json(Greeting {
        message: "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.",
        sub: Some(token.subject().to_owned()),
    })
}

/// `requires_auth` (seed 002)
#[utoipa::path(
    get,
    path = "/headers",
    operation_id = "headers",
    tag = "resources",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "`Access Granted`", body = String, content_type = "text/plain", example = "Access Granted"),
        (status = 401, response = Unauthorized),
    )
)]
async fn headers(_: AccessToken) -> &'static str {
    "Access Granted"
}

/// `GET /auth/verify?scope=S`: the scopes a forwarded request needs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VerifyQuery {
    /// Space-separated scopes, all required.
    scope: Option<String>,
}

/// The subject of a verified token.
#[derive(Serialize, ToSchema)]
struct Verified {
    sub: String,
}

/// Forward-auth
///
/// For a reverse proxy (nginx `auth_request`, Traefik ForwardAuth): the
/// forwarded request's token (Authorization header or cookie, this
/// service's or a trusted issuer's) → 200 with `X-Auth-Subject`,
/// `X-Auth-Scopes` (and `X-Auth-Issuer`, `X-Auth-Roles` for an external
/// token); 401 without a valid token; 403 `insufficient_scope` when
/// `?scope=` names a scope the token lacks.
#[utoipa::path(
    get,
    path = "/auth/verify",
    operation_id = "verify",
    tag = "resources",
    params(VerifyQuery),
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The token is valid (and has the scopes)", body = Verified,
            headers(
                ("X-Auth-Subject" = String, description = "The token's `sub`"),
                ("X-Auth-Scopes" = String, description = "Its scopes, space-separated"),
                ("X-Auth-Issuer" = String, description = "The issuer of an external token"),
                ("X-Auth-Roles" = String, description = "The roles of an external token, space-separated"),
            )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn verify(token: AccessToken, query: Query<VerifyQuery>) -> Result<Response, Error> {
    if let Some(required) = query.scope.as_deref() {
        let scopes = &token.claims().scopes;
        let missing: Vec<&str> = required
            .split_whitespace()
            .filter(|s| !scopes.iter().any(|have| have == s))
            .collect();
        if !missing.is_empty() {
            return Err(Error::InsufficientScope(missing.join(" ")));
        }
    }
    let mut response = Json(Verified {
        sub: token.subject().to_owned(),
    })
    .into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("x-auth-subject", token.subject());
    set("x-auth-scopes", &token.claims().scopes.join(" "));
    if let Some(issuer) = token.token.origin.issuer() {
        set("x-auth-issuer", issuer);
    }
    if !token.claims().roles.is_empty() {
        set("x-auth-roles", &token.claims().roles.join(" "));
    }
    Ok(response)
}

/// Public keys
///
/// The keys that verify this service's tokens (`kid`, `alg`, `use`; old
/// and new during a rotation), as a JWK Set (RFC 7517).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "discovery",
    responses((status = 200, description = "The JWK Set", body = super::openapi::JwkSet))
)]
async fn jwks(State(state): State<AppState>) -> Json<tokengate::keys::JwkSet> {
    Json(state.gate.engine().keys().jwks())
}

/// The discovery document (a subset of OpenID Connect Discovery).
#[derive(Serialize, ToSchema)]
struct OpenIdConfiguration {
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: [&'static str; 1],
    response_types_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
}

/// Discovery
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "openid_configuration",
    tag = "discovery",
    responses((status = 200, description = "The discovery document", body = OpenIdConfiguration))
)]
async fn openid_configuration(State(state): State<AppState>) -> Json<OpenIdConfiguration> {
    let issuer = state.settings.issuer.trim_end_matches('/').to_owned();
    let algs: Vec<&str> = state
        .gate
        .engine()
        .keys()
        .verifying_keys()
        .iter()
        .map(|k| k.algorithm().as_str())
        .collect();
    Json(OpenIdConfiguration {
        issuer: state.settings.issuer.clone(),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        token_endpoint: format!("{issuer}/auth/login"),
        id_token_signing_alg_values_supported: algs,
        token_endpoint_auth_methods_supported: ["none"],
        response_types_supported: ["token"],
        subject_types_supported: ["public"],
    })
}
