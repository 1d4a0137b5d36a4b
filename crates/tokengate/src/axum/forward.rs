//! The forward-auth extractor: a whole `/auth/verify` endpoint in one type.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::request::Parts;

use super::TokenGate;
use super::extract::{AuthRejection, count_verification};
use crate::forward::{ForwardPolicy, OriginalRequest, identity_headers};
use crate::token::VerifiedToken;
use crate::transport::TokenLocation;

/// A forward-auth request that passed: the access token of the request a
/// proxy is about to pass on, checked against the original method's CSRF
/// rule ([`OriginalRequest`]) and the query's requirements
/// ([`ForwardPolicy`]: `scope=`, `role=`, `issuer=`).
///
/// As a response it is the proxy's answer: 200 with the `X-Auth-Subject`,
/// `X-Auth-Scopes`, `X-Auth-Roles`, `X-Auth-Issuer` headers and an empty
/// body (nginx's `auth_request` never reads a body, and closes an upstream
/// connection whose answer had one: no keep-alive to tokengate). Its rejection is the usual one: 401 with `WWW-Authenticate`
/// (`csrf_failed` for a cookie without its CSRF header on a state-changing
/// original request), 403 `insufficient_scope` / `insufficient_role`, 400
/// `invalid_request` for an unknown query parameter.
///
/// ```
/// use axum::{Router, routing::get};
/// use tokengate::axum::{ForwardAuth, TokenGate};
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::TokenEngine;
/// use tower::ServiceExt;
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let app: Router = Router::new()
///     .route("/auth/verify", get(|auth: ForwardAuth| async move { auth }))
///     .with_state(gate.clone());
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let login = gate.login("alice").await.unwrap();
/// let ask = |query: &str, method: &str| http::Request::get(format!("/auth/verify{query}"))
///     .header("Authorization", format!("Bearer {}", login.access.token))
///     .header("X-Forwarded-Method", method)
///     .body(axum::body::Body::empty()).unwrap();
/// let ok = app.clone().oneshot(ask("", "DELETE")).await.unwrap();
/// assert_eq!(ok.status(), 200);
/// assert_eq!(ok.headers()["x-auth-subject"], "alice");
/// assert_eq!(ok.headers()["content-length"], "0");
/// let forbidden = app.oneshot(ask("?role=admin", "GET")).await.unwrap();
/// assert_eq!(forbidden.status(), 403);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ForwardAuth {
    /// The verified token.
    pub token: Arc<VerifiedToken>,
    /// Where the token was found.
    pub location: TokenLocation,
    /// The request the proxy described.
    pub original: OriginalRequest,
    identity: HeaderMap,
}

impl ForwardAuth {
    /// The `X-Auth-*` headers of the answer ([`identity_headers`]).
    ///
    /// ```
    /// use axum::extract::FromRequestParts;
    /// use tokengate::axum::{ForwardAuth, TokenGate};
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    ///
    /// let login = gate.login("alice").await.unwrap();
    /// let (mut parts, _) = http::Request::get("/auth/verify")
    ///     .header("Authorization", format!("Bearer {}", login.access.token))
    ///     .body(()).unwrap().into_parts();
    /// let auth = ForwardAuth::from_request_parts(&mut parts, &gate).await.unwrap();
    /// assert_eq!(auth.identity_headers()["x-auth-subject"], "alice");
    /// # });
    /// ```
    pub fn identity_headers(&self) -> &HeaderMap {
        &self.identity
    }
}

impl<S> FromRequestParts<S> for ForwardAuth
where
    TokenGate: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let gate = TokenGate::from_ref(state);
        let original = OriginalRequest::from_headers(&parts.headers);
        let result = match ForwardPolicy::from_query(parts.uri.query()) {
            Err(error) => Err(error),
            Ok(policy) => gate
                .authenticate_forwarded(parts, &original)
                .await
                .and_then(|(located, token)| {
                    policy.check(&token)?;
                    let identity = identity_headers(&token)?;
                    Ok(ForwardAuth {
                        token,
                        location: located.location,
                        original,
                        identity,
                    })
                }),
        };
        count_verification(
            parts,
            result.map_err(|error| AuthRejection::new(error, gate)),
        )
    }
}

impl IntoResponse for ForwardAuth {
    fn into_response(self) -> Response {
        (self.identity, ()).into_response()
    }
}
