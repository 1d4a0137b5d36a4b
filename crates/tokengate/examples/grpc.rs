//! A gRPC service behind tokengate: a tonic server whose RPCs need an access
//! token in the `authorization` metadata, and a client calling it with and
//! without one.
//!
//! ```text
//! cargo run -p tokengate --example grpc --features grpc
//! ```
//!
//! The service is written by hand (what `tonic-build` would generate from
//! the `.proto` below), so the example needs no `protoc`:
//!
//! ```proto
//! package greeter;
//! service Greeter { rpc SayHello (HelloRequest) returns (HelloReply); }
//! message HelloRequest { string name = 1; }
//! message HelloReply { string message = 1; }
//! ```

use tokengate::axum::TokenGate;
use tokengate::grpc::RequireToken;
use tokengate::keys::Algorithm;
use tokengate::token::NewToken;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One gate for HTTP and gRPC alike: the same keys, revocations, issuers.
    let gate = TokenGate::with_generated_key(Algorithm::EdDSA)?;

    // Every RPC of this server needs a token with the `greet` scope.
    let require = RequireToken::new(gate.clone())
        .scopes(tokengate::scope::ScopeRequirement::any_of(["greet"]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = Server::builder()
        .layer(require)
        .add_service(greeter::GreeterServer)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);
    println!("gRPC server on {addr}");

    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let greeter = greeter::GreeterClient::new(channel);

    let token = gate
        .engine()
        .issue(NewToken::access("alice").scope("greet"))?
        .token;
    let reply = greeter.say_hello("Alice", Some(&token)).await?;
    println!("with a token:    {}", reply.message);

    let refused = greeter.say_hello("Mallory", None).await.unwrap_err();
    println!(
        "without a token: {:?} {}",
        refused.code(),
        refused.message()
    );

    let unscoped = gate.engine().issue(NewToken::access("bob"))?.token;
    let refused = greeter.say_hello("Bob", Some(&unscoped)).await.unwrap_err();
    println!(
        "without `greet`: {:?} {}",
        refused.code(),
        refused.message()
    );
    Ok(())
}

/// What `tonic-build` generates from the `.proto`, by hand: the messages,
/// the server (routing by path to one unary method) and a client.
mod greeter {
    use std::convert::Infallible;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http::uri::PathAndQuery;
    use tonic::body::Body;
    use tonic::{Request, Response, Status};
    use tonic_prost::ProstCodec;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct HelloRequest {
        #[prost(string, tag = "1")]
        pub(super) name: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct HelloReply {
        #[prost(string, tag = "1")]
        pub(super) message: String,
    }

    const SAY_HELLO: &str = "/greeter.Greeter/SayHello";

    /// The RPC itself: the token that tokengate verified is in the request.
    async fn say_hello(request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let token = tokengate::grpc::token(&request)?;
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello {name} (signed in as {})", token.subject()),
        }))
    }

    #[derive(Clone)]
    pub(super) struct GreeterServer;

    impl tonic::server::NamedService for GreeterServer {
        const NAME: &'static str = "greeter.Greeter";
    }

    type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

    impl tower::Service<http::Request<Body>> for GreeterServer {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<Body>) -> Self::Future {
            if request.uri().path() != SAY_HELLO {
                return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
            }
            Box::pin(async move {
                let codec = ProstCodec::<HelloReply, HelloRequest>::default();
                let method = tower::service_fn(say_hello);
                Ok(tonic::server::Grpc::new(codec).unary(method, request).await)
            })
        }
    }

    #[derive(Clone)]
    pub(super) struct GreeterClient(tonic::client::Grpc<tonic::transport::Channel>);

    impl GreeterClient {
        pub(super) fn new(channel: tonic::transport::Channel) -> Self {
            GreeterClient(tonic::client::Grpc::new(channel))
        }

        /// Calls `SayHello`, with `authorization: Bearer <token>` if given.
        pub(super) async fn say_hello(
            &self,
            name: &str,
            token: Option<&str>,
        ) -> Result<HelloReply, Status> {
            let mut request = Request::new(HelloRequest { name: name.into() });
            if let Some(token) = token {
                let value = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| Status::invalid_argument("a token is ASCII"))?;
                request.metadata_mut().insert("authorization", value);
            }
            let mut client = self.0.clone();
            client
                .ready()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            let codec = ProstCodec::<HelloRequest, HelloReply>::default();
            let path = PathAndQuery::from_static(SAY_HELLO);
            Ok(client.unary(request, path, codec).await?.into_inner())
        }
    }
}
