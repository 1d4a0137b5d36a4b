//! `cargo run -p auth0-api`: the API on 127.0.0.1:$PORT (default 3000).

use auth0_api::{Auth0, app, gate};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{NewToken, TokenEngine};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::ES256)?));
    // Tokens to try the routes with when no Auth0 tenant is at hand.
    let scoped = engine.issue(NewToken::access("demo").scope("read:messages"))?;
    let plain = engine.issue(NewToken::access("demo"))?;
    eprintln!("TOKEN={}\nUNSCOPED_TOKEN={}", scoped.token, plain.token);

    let auth0 = Auth0::from_env();
    let gate = gate(engine, auth0.as_ref())?;
    if let Some(issuers) = gate.trusted_issuers() {
        // Keys are fetched in the background: start-up never waits on Auth0.
        issuers.start();
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app(gate)).await?;
    Ok(())
}
