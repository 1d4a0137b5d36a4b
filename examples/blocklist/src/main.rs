//! `cargo run -p blocklist`: the API on 127.0.0.1:$PORT (default
//! 3000), the blocklist in $BLOCKLIST (default `./blocklist.jsonl`).

use std::path::PathBuf;

use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::TokenEngine;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Tokens must outlive a restart for the blocklist to matter, so the key
    // must too: from $JWT_SECRET (32 bytes or more) when set.
    let key = match std::env::var("JWT_SECRET") {
        Ok(secret) => SigningKey::from_secret(Algorithm::HS256, secret.as_bytes())?,
        Err(_) => SigningKey::generate(Algorithm::ES256)?,
    };
    let blocklist =
        PathBuf::from(std::env::var("BLOCKLIST").unwrap_or_else(|_| "blocklist.jsonl".into()));
    let app = blocklist::app(TokenEngine::new(KeyRing::new(key)), &blocklist)?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "listening on http://127.0.0.1:{port}, blocklist {}",
        blocklist.display()
    );
    axum::serve(listener, app).await?;
    Ok(())
}
