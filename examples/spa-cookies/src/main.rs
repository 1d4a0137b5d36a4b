//! `cargo run -p spa-cookies`: the SPA's API on 127.0.0.1:$PORT
//! (default 3000), for a frontend at $FRONTEND_ORIGIN (default the Vue dev
//! server, http://localhost:5173).

use axum::http::HeaderValue;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::TokenEngine;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The article makes asymmetric keys optional; ES256 costs nothing more here.
    let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::ES256)?));
    let gate = spa_cookies::gate(engine);
    let frontend =
        std::env::var("FRONTEND_ORIGIN").unwrap_or_else(|_| "http://localhost:5173".into());
    let app = spa_cookies::app(gate, HeaderValue::try_from(frontend)?);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}
