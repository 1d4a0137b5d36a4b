//! The article's hand-written `requires_auth` decorator parses
//! `Authorization: Bearer` itself and answers
//! `authorization_header_missing`, `invalid_header`, `token_expired` or
//! `invalid_claims`. With tokengate the extractor does all of it, with the
//! same codes in a `{"code","msg"}` body (and RFC 6750's `WWW-Authenticate`).

use axum::Router;
use axum::routing::get;
use tokengate::axum::{AccessToken, TokenGate};
use tokengate::keys::{KeyRing, SigningKey};
use tokengate::token::{IssueSettings, TokenEngine, Validation};
use tokengate::transport::{TokenLocation, Transport};

/// The audience tokens must name: a token for another API is `invalid_claims`.
pub const AUDIENCE: &str = "https://api.example.com";

/// An engine that issues tokens for [`AUDIENCE`] and accepts only those.
pub fn engine(key: SigningKey) -> TokenEngine {
    let settings = IssueSettings::default().audience([AUDIENCE]);
    TokenEngine::new(KeyRing::new(key))
        .with_settings(settings)
        .with_validation(Validation::new().audience([AUDIENCE]))
}

/// `/headers`, behind a gate that reads the `Authorization` header only, as
/// the decorator does (no cookie can stand in for a missing header).
pub fn app(engine: TokenEngine) -> Router {
    let gate = TokenGate::new(engine)
        .with_transport(Transport::default().locations([TokenLocation::Headers]));
    Router::new()
        .route("/headers", get(headers))
        .with_state(gate)
}

async fn headers(_token: AccessToken) -> &'static str {
    "Access Granted"
}
