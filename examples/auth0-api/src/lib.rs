//! The Auth0 Flask API quickstart, in axum with tokengate.
//!
//! Three routes: `/api/public` for anyone, `/api/private` for any valid
//! access token, `/api/private-scoped` for a token with `read:messages`.
//! Tokens of the Auth0 tenant are checked against its JWKS (signature,
//! `exp`, `aud`, `iss`); this service's own tokens are accepted too, so the
//! example runs (and is tested) without a tenant.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokengate::axum::{AccessToken, Scoped, TokenGate};
use tokengate::issuers::{IssuerError, TrustedIssuer, TrustedIssuers};
use tokengate::token::TokenEngine;

tokengate::required_scopes!(pub ReadMessages = ["read:messages"]);

/// The Auth0 API this service is, as the quickstart's `.env` names it.
#[derive(Debug, Clone)]
pub struct Auth0 {
    /// `AUTH0_DOMAIN`, e.g. `tenant.eu.auth0.com`.
    pub domain: String,
    /// `API_AUDIENCE`, the API identifier, e.g. `https://api.example.com`.
    pub audience: String,
}

impl Auth0 {
    /// From `AUTH0_DOMAIN` and `API_AUDIENCE`; `None` unless both are set.
    pub fn from_env() -> Option<Auth0> {
        Some(Auth0 {
            domain: std::env::var("AUTH0_DOMAIN").ok()?,
            audience: std::env::var("API_AUDIENCE").ok()?,
        })
    }
}

/// The gate: `engine`'s own tokens, plus the tenant's when `auth0` is given.
/// Call [`TrustedIssuers::start`] (inside a Tokio runtime) to fetch its keys.
pub fn gate(engine: TokenEngine, auth0: Option<&Auth0>) -> Result<TokenGate, IssuerError> {
    let gate = TokenGate::new(engine);
    let Some(auth0) = auth0 else {
        return Ok(gate);
    };
    // Auth0's `iss` is the tenant URL with a trailing slash, exactly.
    let tenant = TrustedIssuer::new(format!("https://{}/", auth0.domain), [&auth0.audience]);
    Ok(gate.with_trusted_issuers(TrustedIssuers::new(vec![tenant])?))
}

/// The quickstart's routes.
pub fn app(gate: TokenGate) -> Router {
    Router::new()
        .route("/api/public", get(public))
        .route("/api/private", get(private))
        .route("/api/private-scoped", get(private_scoped))
        .with_state(gate)
}

async fn public() -> Json<Value> {
    Json(json!({
        "message": "Hello from a public endpoint! You don't need to be authenticated to see this."
    }))
}

// The extractor answers 401 with `{"code","msg"}` and `WWW-Authenticate`
// before the handler runs: the handler only sees verified tokens.
async fn private(token: AccessToken) -> Json<Value> {
    Json(json!({
        "message": "Hello from a private endpoint! You need to be authenticated to see this.",
        "sub": token.subject(),
    }))
}

// A token without `read:messages` is a 403 `insufficient_scope` (RFC 6750).
async fn private_scoped(token: Scoped<ReadMessages>) -> Json<Value> {
    Json(json!({
        "message": "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.",
        "sub": token.subject(),
    }))
}
