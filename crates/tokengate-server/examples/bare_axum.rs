//! A bare axum 0.8 app: the anchor that `scripts/bench-service.sh`
//! measures beside the service in the same run. No middleware, no log, no
//! metrics recorder: what the service's plumbing is compared with.
//!
//! - `/api/public` answers what the service's `/api/public` answers, with
//!   no state at all.
//! - `/api/private` answers what the service's `/api/private` answers,
//!   behind the library's [`AccessToken`] extractor on a bare
//!   [`TokenGate`] (a generated ES256 key, the service's default `iss`,
//!   revocations in memory):
//!   the library's own cost, without the service around it.
//!
//! ```text
//! cargo run --release -p tokengate-server --example bare_axum
//! ```
//!
//! It listens on 127.0.0.1:0 with tokio's default multi-threaded runtime
//! (one worker per core, like the service) and prints
//! `tokengate listening on http://ADDR`, the service's own start line, so
//! that the benchmark scripts start it the same way, then
//! `private listening on http://ADDR` (`/api/private`, on a listener of its
//! own) and `access token: TOKEN`, a token of a login on its gate.

use axum::Router;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Serialize;
use tokengate::axum::{AccessToken, TokenGate};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{IssueSettings, TokenEngine};

#[derive(Serialize)]
struct Greeting<'a> {
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
}

async fn public() -> Json<Greeting<'static>> {
    Json(Greeting {
        message: "Hello from a public endpoint! You don't need to be authenticated to see this.",
        sub: None,
    })
}

async fn private(token: AccessToken) -> Response {
    Json(Greeting {
        message: "Hello from a private endpoint! You need to be authenticated to see this.",
        sub: Some(token.subject()),
    })
    .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The service's default key and `iss` (its default `issuer`): a token of
    // the same claims and length as the one the benchmark sends the service.
    let key = SigningKey::generate(Algorithm::ES256)?;
    let gate = TokenGate::new(
        TokenEngine::new(KeyRing::new(key))
            .with_settings(IssueSettings::default().issuer("http://127.0.0.1:0")),
    );
    // The service's first user is "1".
    let login = gate.login("1").await?;
    // Two apps on two listeners: `/api/public`'s router has that one route
    // and no state, as it had before the private route was added (a second
    // route costs every lookup).
    let public_app = Router::new().route("/api/public", get(public));
    let private_app = Router::new()
        .route("/api/private", get(private))
        .with_state(gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let private_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("tokengate listening on http://{}", listener.local_addr()?);
    println!(
        "private listening on http://{}",
        private_listener.local_addr()?
    );
    println!("access token: {}", login.access.token);
    tokio::spawn(async move { axum::serve(private_listener, private_app).await });
    axum::serve(listener, public_app).await?;
    Ok(())
}
