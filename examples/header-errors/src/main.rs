//! `cargo run -p header-errors`: `/headers` on 127.0.0.1:$PORT (default 3000).

use tokengate::keys::{Algorithm, SigningKey};
use tokengate::token::NewToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = header_errors::engine(SigningKey::generate(Algorithm::ES256)?);
    // A token to try the route with.
    eprintln!("TOKEN={}", engine.issue(NewToken::access("demo"))?.token);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, header_errors::app(engine)).await?;
    Ok(())
}
