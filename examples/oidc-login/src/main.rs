//! `cargo run -p oidc-login`: the app on 127.0.0.1:$PORT (default
//! 3000), logging in with the provider at $OIDC_ISSUER.

use tokengate::axum::TokenGate;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::oidc::{OidcLogin, OidcProvider};
use tokengate::token::TokenEngine;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = env("PORT", "3000").parse()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut provider = OidcProvider::new(
        oidc_login::PROVIDER,
        env("OIDC_ISSUER", "http://127.0.0.1:8080/realms/dev"),
        env("OIDC_CLIENT_ID", "tokengate-example"),
        env("OIDC_REDIRECT_URL", &format!("{base}/callback")),
    )
    .post_logout_redirect_url(format!("{base}/"));
    // Without a secret the client is public: PKCE alone protects the code.
    if let Ok(secret) = std::env::var("OIDC_CLIENT_SECRET") {
        provider = provider.client_secret(secret);
    }
    let oidc = OidcLogin::new(vec![provider])?;
    // Discovery and keys in the background: start-up never waits on the provider.
    oidc.start();
    let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::ES256)?));
    let app = oidc_login::app(TokenGate::new(engine), oidc);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on {base}");
    axum::serve(listener, app).await?;
    Ok(())
}
