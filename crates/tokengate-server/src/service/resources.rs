//! The example resource routes, forward auth, discovery, and health.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use tokengate::axum::{AccessToken, ForwardAuth, Scoped};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::openapi::{Forbidden, InvalidRequest, Unauthorized, Unavailable};

tokengate::required_scopes!(ReadMessages = ["read:messages"]);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(jwks))
        .routes(routes!(openid_configuration))
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// The example resource routes (`examples = true`).
pub(super) fn examples() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(public))
        .routes(routes!(private))
        .routes(routes!(private_scoped))
        .routes(routes!(headers))
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

/// A ready instance.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// `ready`.
    status: &'static str,
    /// `ok`.
    database: &'static str,
    /// `ok`.
    keys: &'static str,
    /// `ok`: every revocation recorded before the start has been read.
    revocations: &'static str,
}

/// Readiness
///
/// 200 when this instance can serve every route: its database answers, it
/// holds a signing key and has read the revocations recorded before it
/// started (until then it checks each token in the database, which is exact
/// but slower); otherwise 503 `unavailable`, the message naming what is
/// missing (a load balancer then sends it no new traffic). Redis
/// is not required: without it revocations still reach this instance by
/// polling. `/healthz` is the liveness check.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, response = Unavailable),
    )
)]
async fn ready(State(state): State<AppState>) -> Response {
    let database = state.db.ping().await;
    let keys = state.gate.engine().keys().signing_key().is_some();
    let revocations = state.gate.revocation_store().is_complete();
    let missing: Vec<&str> = [
        (!database).then_some("the database is unavailable"),
        (!keys).then_some("no signing key is loaded"),
        (!revocations).then_some("the revocations are still loading"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        let msg = format!("not ready: {}", missing.join(", "));
        return super::error_body(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &msg);
    }
    Json(Readiness {
        status: "ready",
        database: "ok",
        keys: "ok",
        revocations: "ok",
    })
    .into_response()
}

/// The answer of the example resource routes.
#[derive(Serialize, ToSchema)]
struct Greeting<'a> {
    message: &'static str,
    /// The token's subject (not on the public route).
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
}

/// Public resource
#[utoipa::path(
    get,
    path = "/api/public",
    operation_id = "api_public",
    tag = "resources",
    responses((status = 200, description = "Needs no token", body = Greeting))
)]
async fn public() -> Json<Greeting<'static>> {
    Json(Greeting {
        message: "Hello from a public endpoint! You don't need to be authenticated to see this.",
        sub: None,
    })
}

/// Private resource
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
async fn private(token: AccessToken) -> Response {
    // Answered here, where the subject can be borrowed from the token.
    Json(Greeting {
        message: "Hello from a private endpoint! You need to be authenticated to see this.",
        sub: Some(token.subject()),
    })
    .into_response()
}

/// Scoped resource
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
async fn private_scoped(token: Scoped<ReadMessages>) -> Response {
    Json(Greeting {
        message: "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.",
        sub: Some(token.subject()),
    })
    .into_response()
}

/// `requires_auth`
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

/// `GET /auth/verify?scope=S&role=R&issuer=I`: what a protected location
/// demands of the forwarded request's token (documentation only: the
/// library's `ForwardAuth` reads it).
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct VerifyQuery {
    /// Space-separated scopes, all required (403 `insufficient_scope`); may repeat.
    scope: Option<String>,
    /// Space-separated roles, all required (403 `insufficient_role`); may repeat.
    role: Option<String>,
    /// `self` (this service's tokens) or a trusted issuer's exact `iss`
    /// (401 `invalid_claims` for another issuer's token).
    issuer: Option<String>,
}

/// Forward-auth
///
/// For a reverse proxy (nginx `auth_request`, Caddy `forward_auth`,
/// Traefik `ForwardAuth`): the forwarded request's access token
/// (Authorization header or cookie, this service's or a trusted issuer's).
/// The original request is described by `X-Forwarded-Method`,
/// `X-Forwarded-Uri`, `X-Forwarded-Host` or `X-Original-Method`,
/// `X-Original-URI`: a token from a cookie needs its `X-CSRF-TOKEN` unless
/// the original method is known to be GET, HEAD or OPTIONS (no method
/// header, or headers that disagree: CSRF required). 200 with the identity
/// headers (all four, possibly empty) and an empty body (nginx keeps its
/// connection to tokengate only then); 401 without a valid token or CSRF
/// header; 403 when `scope=` or `role=` names what the token lacks; 400 for
/// an unknown query parameter.
#[utoipa::path(
    get,
    path = "/auth/verify",
    operation_id = "verify",
    tag = "resources",
    params(VerifyQuery),
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The token is valid (and meets the query's requirements); no body",
            headers(
                ("X-Auth-Subject" = String, description = "The token's `sub`"),
                ("X-Auth-Scopes" = String, description = "Its scopes, space-separated"),
                ("X-Auth-Roles" = String, description = "Its roles, space-separated"),
                ("X-Auth-Issuer" = String, description = "Its `iss`: a trusted issuer's, or this service's"),
            )),
        (status = 400, response = InvalidRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn verify(auth: ForwardAuth) -> ForwardAuth {
    auth
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

/// The discovery document: only what is true of this service. It signs
/// access tokens (RFC 9068 style), not ID tokens, and has no OAuth
/// authorization or token endpoint, so none is named; it has the
/// introspection and revocation endpoints of its clients (`[[clients]]`),
/// named as RFC 8414 names them.
#[derive(Serialize, ToSchema)]
struct OpenIdConfiguration {
    /// The `iss` of this service's tokens.
    issuer: String,
    /// Its JWK Set.
    jwks_uri: String,
    /// The algorithms of the keys that verify its tokens (an extension
    /// member: no registered one names access-token algorithms).
    access_token_signing_alg_values_supported: Vec<&'static str>,
    #[serde(flatten)]
    endpoints: super::standards::Endpoints,
}

/// Discovery
///
/// The issuer and where its keys are, for resource servers that configure
/// themselves from an issuer URL; its introspection and revocation
/// endpoints.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "openid_configuration",
    tag = "discovery",
    responses((status = 200, description = "The discovery document", body = OpenIdConfiguration))
)]
async fn openid_configuration(State(state): State<AppState>) -> Json<OpenIdConfiguration> {
    let issuer = state.settings.issuer.trim_end_matches('/').to_owned();
    let mut algs: Vec<&str> = state
        .gate
        .engine()
        .keys()
        .verifying_keys()
        .iter()
        .map(|k| k.algorithm().as_str())
        .collect();
    algs.sort_unstable();
    algs.dedup();
    Json(OpenIdConfiguration {
        issuer: state.settings.issuer.clone(),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        access_token_signing_alg_values_supported: algs,
        endpoints: super::standards::endpoints(&state),
    })
}
