//! gRPC: a real tonic server on 127.0.0.1 behind `tokengate::grpc::RequireToken`,
//! called by a real tonic client over HTTP/2.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use tokengate::axum::TokenGate;
use tokengate::clock::{ManualClock, Timestamp};
use tokengate::grpc::RequireToken;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::revocation::{InMemoryRevocations, Revocation};
use tokengate::scope::ScopeRequirement;
use tokengate::token::{NewToken, TokenEngine};
use tonic::body::Body;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};
use tonic_prost::ProstCodec;
use tower::Layer;

/// `message Empty {}`
#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

/// `message Identity { string subject = 1; repeated string scopes = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
struct Identity {
    #[prost(string, tag = "1")]
    subject: String,
    #[prost(string, repeated, tag = "2")]
    scopes: Vec<String>,
}

const WHO_AM_I: &str = "/test.Identity/WhoAmI";

/// `service Identity { rpc WhoAmI (Empty) returns (Identity); }`, by hand:
/// the handler answers with the token that tokengate put in the request.
#[derive(Clone)]
struct IdentityServer;

impl tonic::server::NamedService for IdentityServer {
    const NAME: &'static str = "test.Identity";
}

impl tower::Service<http::Request<Body>> for IdentityServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        assert_eq!(request.uri().path(), WHO_AM_I);
        Box::pin(async move {
            let who_am_i = tower::service_fn(|request: Request<Empty>| async move {
                let token = tokengate::grpc::token(&request)?;
                Ok::<_, Status>(Response::new(Identity {
                    subject: token.subject().to_owned(),
                    scopes: token.claims.scopes.clone(),
                }))
            });
            let codec = ProstCodec::<Identity, Empty>::default();
            Ok(tonic::server::Grpc::new(codec)
                .unary(who_am_i, request)
                .await)
        })
    }
}

/// Serves `IdentityServer` behind `layer` on 127.0.0.1:0 and connects to it;
/// `per_service` wraps the one service instead of the whole server.
async fn serve(layer: RequireToken, per_service: bool) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = TcpIncoming::from(listener);
    if per_service {
        let server = Server::builder()
            .add_service(layer.layer(IdentityServer))
            .serve_with_incoming(incoming);
        tokio::spawn(server);
    } else {
        let server = Server::builder()
            .layer(layer)
            .add_service(IdentityServer)
            .serve_with_incoming(incoming);
        tokio::spawn(server);
    }
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Calls `WhoAmI` with `authorization: Bearer <token>` if given.
async fn who_am_i(channel: &Channel, token: Option<&str>) -> Result<Identity, Status> {
    let mut request = Request::new(Empty {});
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    let mut client = tonic::client::Grpc::new(channel.clone());
    client.ready().await.unwrap();
    let path = PathAndQuery::from_static(WHO_AM_I);
    let codec = ProstCodec::<Empty, Identity>::default();
    Ok(client.unary(request, path, codec).await?.into_inner())
}

fn refused(result: Result<Identity, Status>, code: Code, error_code: &str) {
    let status = result.expect_err("the RPC was let through");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{error_code}: ")),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_subject() {
    let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    let channel = serve(RequireToken::new(gate.clone()), false).await;
    let login = gate.login("alice").await.unwrap();

    let identity = who_am_i(&channel, Some(&login.access.token)).await.unwrap();
    assert_eq!(identity.subject, "alice");
}

#[tokio::test]
async fn no_token_or_a_bad_one_is_unauthenticated_with_the_code() {
    let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    let channel = serve(RequireToken::new(gate.clone()), false).await;

    let missing = who_am_i(&channel, None).await;
    refused(
        missing,
        Code::Unauthenticated,
        "authorization_header_missing",
    );
    let garbage = who_am_i(&channel, Some("a.b.c")).await;
    refused(garbage, Code::Unauthenticated, "invalid_token");
    // A refresh token is no access token.
    let login = gate.login("alice").await.unwrap();
    let refresh = who_am_i(&channel, Some(&login.refresh.token)).await;
    refused(refresh, Code::Unauthenticated, "wrong_token_type");
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated_token_expired() {
    let clock = ManualClock::new(Timestamp::from_secs(1_800_000_000));
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let engine = TokenEngine::new(KeyRing::new(key)).with_clock(clock.clone().into());
    let gate = TokenGate::new(engine);
    let channel = serve(RequireToken::new(gate.clone()), false).await;
    let issued = gate
        .engine()
        .issue(NewToken::access("alice").ttl(Duration::from_secs(60)))
        .unwrap();
    assert!(who_am_i(&channel, Some(&issued.token)).await.is_ok());

    clock.advance(Duration::from_secs(61));
    let status = who_am_i(&channel, Some(&issued.token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "token_expired: token has expired");
}

#[tokio::test]
async fn a_revoked_token_is_unauthenticated_token_revoked() {
    let store = Arc::new(InMemoryRevocations::new());
    let gate = TokenGate::with_generated_key(Algorithm::EdDSA)
        .unwrap()
        .with_revocation(store.clone());
    let channel = serve(RequireToken::new(gate.clone()), false).await;
    let issued = gate.access_token_for("alice").unwrap();
    assert!(who_am_i(&channel, Some(&issued.token)).await.is_ok());

    // Revoked after the server started: the layer shares the gate's store.
    gate.revocation_store()
        .revoke(Revocation::token(&issued))
        .await
        .unwrap();
    let revoked = who_am_i(&channel, Some(&issued.token)).await;
    refused(revoked, Code::Unauthenticated, "token_revoked");
}

#[tokio::test]
async fn a_missing_scope_or_role_is_permission_denied() {
    let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    let writers = RequireToken::new(gate.clone()).scopes(ScopeRequirement::any_of([
        "notes:read notes:write",
        "admin",
    ]));
    let channel = serve(writers, true).await;
    let issue = |new: NewToken| gate.engine().issue(new).unwrap().token;

    let reader = issue(NewToken::access("alice").scope("notes:read"));
    let status = who_am_i(&channel, Some(&reader)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "insufficient_scope: token lacks the required scope (notes:read notes:write)"
    );
    let writer = issue(NewToken::access("bob").scope("notes:read notes:write"));
    let identity = who_am_i(&channel, Some(&writer)).await.unwrap();
    assert_eq!(identity.subject, "bob");
    assert_eq!(identity.scopes, ["notes:read", "notes:write"]);
    let admin = issue(NewToken::access("root").scope("admin"));
    assert!(who_am_i(&channel, Some(&admin)).await.is_ok());

    let operators = RequireToken::new(gate.clone()).role("ops");
    let channel = serve(operators, true).await;
    let user = issue(NewToken::access("alice").roles(["user"]));
    refused(
        who_am_i(&channel, Some(&user)).await,
        Code::PermissionDenied,
        "insufficient_role",
    );
    let ops = issue(NewToken::access("carol").roles(["user", "ops"]));
    assert_eq!(
        who_am_i(&channel, Some(&ops)).await.unwrap().subject,
        "carol"
    );
    // Scopes and roles are checked after the token: no token is still 401.
    refused(
        who_am_i(&channel, None).await,
        Code::Unauthenticated,
        "authorization_header_missing",
    );
}

#[tokio::test]
async fn cookies_do_not_count_over_grpc() {
    // The gate accepts cookies over HTTP; gRPC reads `authorization` alone.
    let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    let channel = serve(RequireToken::new(gate.clone()), false).await;
    let token = gate.access_token_for("alice").unwrap().token;

    let mut request = Request::new(Empty {});
    let cookie = format!("access_token_cookie={token}").parse().unwrap();
    request.metadata_mut().insert("cookie", cookie);
    let mut client = tonic::client::Grpc::new(channel.clone());
    client.ready().await.unwrap();
    let path = PathAndQuery::from_static(WHO_AM_I);
    let codec = ProstCodec::<Empty, Identity>::default();
    let result = client.unary(request, path, codec).await;
    refused(
        result.map(Response::into_inner),
        Code::Unauthenticated,
        "authorization_header_missing",
    );
}
