//! The service: checks each request, then calls the inner service or
//! answers with a gRPC status.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::layer::Rule;

/// The service that [`RequireToken`](super::RequireToken) makes: an RPC
/// with an acceptable token goes on to the inner service with the
/// `Arc<VerifiedToken>` in its extensions; any other is answered here with
/// a gRPC status (`Status::into_http`).
///
/// ```
/// use tokengate::axum::TokenGate;
/// use tokengate::grpc::RequireToken;
/// use tokengate::keys::Algorithm;
/// use tokengate::scope::ScopeRequirement;
/// use tower::{Layer, ServiceExt};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let service = RequireToken::new(gate.clone())
///     .scopes(ScopeRequirement::any_of(["notes:write"]))
///     .layer(tower::service_fn(|_: http::Request<tonic::body::Body>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(tonic::body::Body::empty()))
///     }));
/// let reader = gate.access_token_for("alice").unwrap().token; // no scope
/// let request = http::Request::post("/notes.Notes/Write")
///     .header("authorization", format!("Bearer {reader}"))
///     .body(tonic::body::Body::empty()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.headers()["grpc-status"], "7"); // PERMISSION_DENIED
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct RequireTokenService<S> {
    inner: S,
    rule: Arc<Rule>,
}

impl<S> RequireTokenService<S> {
    pub(super) fn new(inner: S, rule: Arc<Rule>) -> Self {
        RequireTokenService { inner, rule }
    }
}

impl<S, B, ResBody> Service<http::Request<B>> for RequireTokenService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let rule = self.rule.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match rule.check(&parts).await {
                Ok(token) => {
                    parts.extensions.insert(token);
                    inner.call(http::Request::from_parts(parts, body)).await
                }
                Err(error) => Ok(tonic::Status::from(error).into_http()),
            }
        })
    }
}

/// The wrapped service keeps its name, so that one service of a server can
/// have a requirement of its own (`Server::builder().add_service(..)`).
///
/// ```
/// use tokengate::axum::TokenGate;
/// use tokengate::grpc::{RequireToken, RequireTokenService};
/// use tokengate::keys::Algorithm;
/// use tonic::server::NamedService;
/// use tower::Layer;
///
/// #[derive(Clone)]
/// struct Notes;
/// impl NamedService for Notes {
///     const NAME: &'static str = "notes.Notes";
/// }
/// fn name<S: NamedService>(_: &S) -> &'static str { S::NAME }
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let protected: RequireTokenService<Notes> = RequireToken::new(gate).layer(Notes);
/// assert_eq!(name(&protected), "notes.Notes");
/// ```
impl<S: tonic::server::NamedService> tonic::server::NamedService for RequireTokenService<S> {
    const NAME: &'static str = S::NAME;
}
