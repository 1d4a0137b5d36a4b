//! gRPC (tonic): the same tokens, checks and error codes for RPCs.
//!
//! [`RequireToken`] is a tower layer for a tonic server (`Server::builder()
//! .layer(..)`, or around one service). It reads the `authorization`
//! metadata (`Bearer <token>`), authenticates it with the
//! [`TokenGate`](crate::axum::TokenGate) (signature, claims, trusted
//! issuers, revocation: [`TokenGate::authenticate`]), checks the scopes and
//! roles it was given, and hands the request on with the verified token
//! (`Arc<VerifiedToken>`) in its extensions; [`token`] reads it in the
//! handler. The layer is async (a trusted issuer may fetch its keys, a
//! revocation store may be asked), which tonic's synchronous `Interceptor`
//! cannot be.
//!
//! A refusal never reaches the service: the client gets a gRPC status (an
//! HTTP 200 with `grpc-status` and `grpc-message`), whose message starts
//! with tokengate's error code:
//!
//! | tokengate | gRPC status | message, e.g. |
//! |---|---|---|
//! | 401 (no token, a bad, expired or revoked token) | `UNAUTHENTICATED` | `token_expired: token has expired` |
//! | 403 (`insufficient_scope`, `insufficient_role`) | `PERMISSION_DENIED` | `insufficient_scope: token lacks the required scope (notes:write)` |
//! | 503 (`store_unavailable`, `unavailable`) | `UNAVAILABLE` | `store_unavailable: the token store is temporarily unavailable` |
//!
//! The conversion is `tonic::Status::from(error)`, so a handler can also
//! answer any [`Error`] of its own with `?`.
//!
//! ```
//! use tokengate::axum::TokenGate;
//! use tokengate::grpc::RequireToken;
//! use tokengate::keys::Algorithm;
//! use tower::{Layer, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
//! // The service a tonic server would wrap; here a bare function.
//! let service = RequireToken::new(gate.clone()).layer(tower::service_fn(
//!     |request: http::Request<tonic::body::Body>| async move {
//!         let token = tokengate::grpc::token(&tonic::Request::from_http(request))?;
//!         let mut response = http::Response::new(tonic::body::Body::empty());
//!         response.headers_mut().insert("x-subject", token.subject().parse().unwrap());
//!         Ok::<_, tonic::Status>(response)
//!     },
//! ));
//!
//! let anonymous = http::Request::post("/notes.Notes/List").body(tonic::body::Body::empty()).unwrap();
//! let refused = service.clone().oneshot(anonymous).await.unwrap();
//! assert_eq!(refused.status(), 200); // gRPC answers in its own headers
//! assert_eq!(refused.headers()["grpc-status"], "16"); // UNAUTHENTICATED
//! assert!(refused.headers()["grpc-message"].to_str().unwrap().starts_with("authorization_header_missing"));
//!
//! let token = gate.access_token_for("alice").unwrap().token;
//! let request = http::Request::post("/notes.Notes/List")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(tonic::body::Body::empty()).unwrap();
//! assert_eq!(service.oneshot(request).await.unwrap().headers()["x-subject"], "alice");
//! # });
//! ```
//!
//! `examples/grpc.rs` is a complete tonic server and client.
//!
//! [`TokenGate::authenticate`]: crate::axum::TokenGate::authenticate

mod layer;
mod service;

use std::sync::Arc;

pub use layer::RequireToken;
pub use service::RequireTokenService;

use crate::token::VerifiedToken;
use crate::{AccessRejection, Error};

/// The token that [`RequireToken`] verified for this RPC: what a handler
/// calls first. Without the layer in front there is none, and the RPC is
/// refused with `INTERNAL` (and an error log): a server that forgot the
/// layer fails closed.
///
/// ```
/// use std::sync::Arc;
/// use tokengate::axum::TokenGate;
/// use tokengate::keys::Algorithm;
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let issued = gate.access_token_for("alice").unwrap();
/// // What the layer leaves in the request's extensions.
/// let mut request = tonic::Request::new(());
/// request.extensions_mut().insert(Arc::new(gate.engine().verify(&issued.token).unwrap()));
/// assert_eq!(tokengate::grpc::token(&request).unwrap().subject(), "alice");
///
/// let unprotected = tonic::Request::new(());
/// assert_eq!(tokengate::grpc::token(&unprotected).unwrap_err().code(), tonic::Code::Internal);
/// ```
pub fn token<T>(request: &tonic::Request<T>) -> Result<Arc<VerifiedToken>, tonic::Status> {
    request
        .extensions()
        .get::<Arc<VerifiedToken>>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!(
                "no verified token: the RPC is not behind tokengate::grpc::RequireToken"
            );
            tonic::Status::internal("no verified token")
        })
}

/// A refusal as a gRPC status: the code follows the HTTP status of the
/// error (401 → `UNAUTHENTICATED`, 403 → `PERMISSION_DENIED`, 503 →
/// `UNAVAILABLE`; also 400 → `INVALID_ARGUMENT`, 404 → `NOT_FOUND`, 409 →
/// `ALREADY_EXISTS`, 429 → `RESOURCE_EXHAUSTED`), the message is
/// `"<code>: <msg>"`, and for `insufficient_scope` the scopes that would do
/// in parentheses (what the HTTP answer's `WWW-Authenticate` names). A
/// backend failure logs its source chain, as the HTTP response does; the
/// client sees only the generic message.
///
/// ```
/// use tokengate::{AccessRejection, Error, TokenRejection};
///
/// let status = tonic::Status::from(Error::from(TokenRejection::Revoked));
/// assert_eq!(status.code(), tonic::Code::Unauthenticated);
/// assert_eq!(status.message(), "token_revoked: token has been revoked");
///
/// let status = tonic::Status::from(Error::from(AccessRejection::InsufficientRole("admin".into())));
/// assert_eq!(status.code(), tonic::Code::PermissionDenied);
/// assert!(status.message().starts_with("insufficient_role: "));
/// ```
impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        use tonic::Code;
        if let Error::Unavailable(e) = &error {
            tracing::error!(code = error.code(), error = %e.chain(), "backend unavailable");
        }
        let code = match error.status().as_u16() {
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            503 => Code::Unavailable,
            400 => Code::InvalidArgument,
            404 => Code::NotFound,
            409 => Code::AlreadyExists,
            429 => Code::ResourceExhausted,
            _ => Code::Internal,
        };
        let message = match &error {
            Error::Access(AccessRejection::InsufficientScope(scope)) if !scope.is_empty() => {
                format!("{}: {error} ({scope})", error.code())
            }
            _ => format!("{}: {error}", error.code()),
        };
        tonic::Status::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backend, TokenRejection, Unavailable};

    #[test]
    fn every_status_names_the_code_first() {
        let cases = [
            (
                Error::from(TokenRejection::Missing),
                tonic::Code::Unauthenticated,
                "authorization_header_missing: missing authorization token",
            ),
            (
                Error::from(AccessRejection::InsufficientScope("a b".into())),
                tonic::Code::PermissionDenied,
                "insufficient_scope: token lacks the required scope (a b)",
            ),
            (
                Error::from(Unavailable::new(Backend::Store, "connection refused")),
                tonic::Code::Unavailable,
                "store_unavailable: the token store is temporarily unavailable",
            ),
            (
                Error::from(crate::RequestRejection::RateLimited { retry_after: 3 }),
                tonic::Code::ResourceExhausted,
                "rate_limited: ",
            ),
        ];
        for (error, code, message) in cases {
            let status = tonic::Status::from(error);
            assert_eq!(status.code(), code);
            assert!(status.message().starts_with(message), "{status:?}");
            // A backend's own words stay in the log.
            assert!(!status.message().contains("refused"), "{status:?}");
        }
    }
}
