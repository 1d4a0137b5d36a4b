//! Resource routes of seeds 001 and 002, discovery, and health.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::HeaderValue;
use serde::Deserialize;
use serde_json::{Value, json};
use tokengate::Error;
use tokengate::axum::{AccessToken, Scoped};

use super::AppState;

tokengate::required_scopes!(ReadMessages = ["read:messages"]);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/public", get(public))
        .route("/api/private", get(private))
        .route("/api/private-scoped", get(private_scoped))
        .route("/headers", get(headers))
        .route("/auth/verify", get(verify))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/healthz", get(health))
}

/// Always 200 while the instance can verify tokens (from memory); the body
/// says which dependency is down, so that a load balancer does not pull
/// every instance when the shared database goes away.
async fn health(State(state): State<AppState>) -> Json<Value> {
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
    Json(json!({
        "status": if degraded { "degraded" } else { "ok" },
        "database": word(database),
        "redis": redis.map_or("off", word),
    }))
}

async fn public() -> Json<Value> {
    Json(
        json!({"message": "Hello from a public endpoint! You don't need to be authenticated to see this."}),
    )
}

async fn private(token: AccessToken) -> Json<Value> {
    Json(json!({
        "message": "Hello from a private endpoint! You need to be authenticated to see this.",
        "sub": token.subject(),
    }))
}

async fn private_scoped(token: Scoped<ReadMessages>) -> Json<Value> {
    Json(json!({
        "message": "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.",
        "sub": token.subject(),
    }))
}

async fn headers(_: AccessToken) -> &'static str {
    "Access Granted"
}

/// `GET /auth/verify?scope=S`: the scopes a forwarded request needs.
#[derive(Debug, Deserialize)]
struct VerifyQuery {
    /// Space-separated scopes, all required.
    scope: Option<String>,
}

/// Forward-auth for a reverse proxy (nginx `auth_request`, Traefik
/// ForwardAuth): the forwarded request's token (Authorization header or
/// cookie, this service's or a trusted issuer's) → 200 with
/// `X-Auth-Subject`, `X-Auth-Scopes` (and `X-Auth-Issuer`, `X-Auth-Roles`
/// for an external token); 401 without a valid token; 403
/// `insufficient_scope` when `?scope=` names a scope the token lacks.
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
    let mut response = Json(json!({"sub": token.subject()})).into_response();
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

async fn jwks(State(state): State<AppState>) -> Json<tokengate::keys::JwkSet> {
    Json(state.gate.engine().keys().jwks())
}

async fn openid_configuration(State(state): State<AppState>) -> Json<Value> {
    let issuer = state.settings.issuer.trim_end_matches('/').to_owned();
    let algs: Vec<&str> = state
        .gate
        .engine()
        .keys()
        .verifying_keys()
        .iter()
        .map(|k| k.algorithm().as_str())
        .collect();
    Json(json!({
        "issuer": state.settings.issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/auth/login"),
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }))
}
