//! Trusted external issuers (Auth0 and Keycloak style): tokengate accepts
//! the RFC 9068 access tokens of a real OpenID Provider (node-oidc-provider,
//! client credentials) listed in its `[[trusted_issuers]]`, with the
//! provider's keys found through discovery and kept when it goes away.

use std::path::PathBuf;

use crate::common::{Server, TestDir, claims, jwt_part};
use crate::oidc_provider::{API, MACHINE_CLIENT_ID, OTHER_API, OidcProvider};

/// A provider issuing tokens for tokengate's API and for another one.
fn provider() -> OidcProvider {
    OidcProvider::start(&["--resources", &format!("{API},{OTHER_API}")])
}

/// Writes a config trusting `issuer` for [`API`] into the test directory
/// (beside `data/`) and returns its path, for `TOKENGATE_CONFIG`. No
/// `jwks_uri`: the keys must come from discovery.
fn trusting_config(dir: &TestDir, issuer: &str) -> PathBuf {
    let path = dir
        .data()
        .parent()
        .expect("the test directory")
        .join("tokengate.toml");
    std::fs::write(
        &path,
        format!(
            r#"[[trusted_issuers]]
issuer = "{issuer}"
audience = ["{API}"]
algorithms = ["RS256"]
required_typ = "at+jwt"
"#
        ),
    )
    .expect("write the config");
    path
}

/// tokengate trusting `provider`.
fn start_trusting(dir: &TestDir, provider: &OidcProvider) -> Server {
    let config = trusting_config(dir, provider.issuer());
    Server::start(
        dir,
        &[("TOKENGATE_CONFIG", config.to_str().expect("UTF-8 path"))],
    )
}

#[tokio::test]
async fn client_credentials_token_opens_private_and_scoped_routes() {
    let provider = provider();
    let token = provider.machine_token("read:messages", API).await;

    // What tokengate is up against: an RFC 9068 token signed with a key of
    // the provider's JWKS.
    let header = jwt_part(&token, 0);
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(header["alg"], "RS256", "{header}");
    let jwks = provider.jwks().await;
    assert!(
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == header["kid"]),
        "{header} not in {jwks}"
    );
    let body = claims(&token);
    assert_eq!(body["iss"], provider.issuer(), "{body}");
    assert_eq!(body["aud"], API, "{body}");
    assert_eq!(body["scope"], "read:messages", "{body}");

    let dir = TestDir::new("trusted-cc");
    let server = start_trusting(&dir, &provider);
    let api = server.api();
    let private = api.private(&token).await.expect(200).json();
    assert_eq!(private["sub"], MACHINE_CLIENT_ID, "{private}");
    let scoped = api
        .get_bearer("/api/private-scoped", &token)
        .await
        .expect(200)
        .json();
    assert_eq!(scoped["sub"], MACHINE_CLIENT_ID, "{scoped}");
    api.get_bearer("/headers", &token).await.expect(200);
}

#[tokio::test]
async fn token_without_read_messages_is_403_on_the_scoped_route() {
    let provider = provider();
    let token = provider.machine_token("write:messages", API).await;
    assert_eq!(claims(&token)["scope"], "write:messages");

    let dir = TestDir::new("trusted-scope");
    let server = start_trusting(&dir, &provider);
    let api = server.api();
    api.private(&token).await.expect(200);
    let resp = api.get_bearer("/api/private-scoped", &token).await;
    let challenge = resp.header("www-authenticate").unwrap_or_default();
    resp.expect_error(403, "insufficient_scope");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="read:messages""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn token_for_another_audience_is_invalid_claims() {
    let provider = provider();
    // Same issuer, same keys, valid signature: only `aud` is wrong.
    let token = provider.machine_token("read:messages", OTHER_API).await;
    assert_eq!(claims(&token)["aud"], OTHER_API);

    let dir = TestDir::new("trusted-aud");
    let server = start_trusting(&dir, &provider);
    let api = server.api();
    api.assert_refused(&token, "invalid_claims").await;
    api.get_bearer("/api/private-scoped", &token)
        .await
        .expect_token_error("invalid_claims");
}

#[tokio::test]
async fn forward_auth_reports_the_client_and_its_scopes() {
    let provider = provider();
    let reader = provider.machine_token("read:messages", API).await;
    let writer = provider.machine_token("write:messages", API).await;

    let dir = TestDir::new("trusted-verify");
    let server = start_trusting(&dir, &provider);
    let api = server.api();

    // A client-credentials token's subject is the client itself.
    let resp = api.get_bearer("/auth/verify", &reader).await.expect(200);
    assert_eq!(
        resp.header("x-auth-subject").as_deref(),
        Some(MACHINE_CLIENT_ID)
    );
    assert_eq!(
        resp.header("x-auth-scopes").as_deref(),
        Some("read:messages")
    );

    // A proxy asks for a scope: the token lacking it gets 403, not 401.
    api.get_bearer("/auth/verify?scope=read:messages", &reader)
        .await
        .expect(200);
    let resp = api
        .get_bearer("/auth/verify?scope=read:messages", &writer)
        .await;
    let challenge = resp.header("www-authenticate").unwrap_or_default();
    resp.expect_error(403, "insufficient_scope");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn cached_keys_outlive_the_provider() {
    let provider = provider();
    let token = provider.machine_token("read:messages", API).await;

    let dir = TestDir::new("trusted-cache");
    let server = start_trusting(&dir, &provider);
    let api = server.api();
    // Accepted once: tokengate has fetched discovery and the JWKS.
    api.assert_valid(&token).await;

    // The issuer goes away (nothing listens on its port any more).
    provider.stop();

    // The keys are kept: the same token is still accepted, again and again.
    for _ in 0..3 {
        api.assert_valid(&token).await;
        api.get_bearer("/api/private-scoped", &token)
            .await
            .expect(200);
    }
}
