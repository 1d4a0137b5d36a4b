//! The layer: what an RPC demands of a token.

use std::sync::Arc;

use tower_layer::Layer;

use super::RequireTokenService;
use crate::Error;
use crate::axum::TokenGate;
use crate::scope::ScopeRequirement;
use crate::token::VerifiedToken;
use crate::transport::TokenLocation;

/// A tower layer requiring an access token (the gate's own or a trusted
/// issuer's) in the `authorization` metadata of every RPC of the services
/// it wraps, optionally with scopes and roles. See the [module
/// docs](super) for what a refusal looks like.
///
/// Only the `authorization` metadata is read, as `Bearer <token>`, whatever
/// the gate's [`Transport`](crate::transport::Transport) says for HTTP (no cookies, query strings or
/// bodies; so no CSRF check either). The gate's keys, cache, trusted
/// issuers and revocation store are shared with it: a key rotation or a
/// revocation reaches running gRPC servers at once.
///
/// On a whole server, every service gets the same requirement; on one
/// service, each its own (the wrapped service keeps its
/// [`NamedService`](tonic::server::NamedService) name):
///
/// ```
/// use tokengate::axum::TokenGate;
/// use tokengate::grpc::RequireToken;
/// use tokengate::keys::Algorithm;
/// use tokengate::scope::ScopeRequirement;
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let any_user = RequireToken::new(gate.clone());
/// let admins = RequireToken::new(gate).scopes(ScopeRequirement::any_of(["admin"])).role("ops");
/// // tonic::transport::Server::builder().layer(any_user)...
/// // ...or .add_service(tower::Layer::layer(&admins, AdminServer::new(admin)))
/// # let _ = (any_user, admins);
/// ```
#[derive(Debug, Clone)]
pub struct RequireToken {
    rule: Arc<Rule>,
}

/// The axum layer's rule with the `authorization` header as the only
/// location: one implementation of what a token must be.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    require: crate::axum::RequireToken,
}

impl RequireToken {
    /// Any valid access token of `gate`, in `authorization: Bearer <token>`.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::grpc::RequireToken;
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let layer = RequireToken::new(gate);
    /// # let _ = layer;
    /// ```
    pub fn new(gate: TokenGate) -> Self {
        let require = gate.require().locations([TokenLocation::Headers]);
        RequireToken {
            rule: Arc::new(Rule { require }),
        }
    }

    fn with(mut self, change: impl FnOnce(RequireTokenRule) -> RequireTokenRule) -> Self {
        let rule = Arc::make_mut(&mut self.rule);
        rule.require = change(rule.require.clone());
        self
    }

    /// Also requires these scopes (an OR of ANDs, as for
    /// [`Scoped`](crate::axum::Scoped)): `PERMISSION_DENIED`
    /// (`insufficient_scope`) otherwise.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::grpc::RequireToken;
    /// use tokengate::keys::Algorithm;
    /// use tokengate::scope::{RequiredScopes, ScopeRequirement};
    ///
    /// tokengate::required_scopes!(WriteNotes = ["notes:write", "admin"]);
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let writers = RequireToken::new(gate.clone()).scopes(WriteNotes::requirement());
    /// let readers = RequireToken::new(gate).scopes(ScopeRequirement::any_of(["notes:read"]));
    /// # let _ = (writers, readers);
    /// ```
    pub fn scopes(self, scopes: ScopeRequirement) -> Self {
        self.with(|require| require.scopes(scopes))
    }

    /// Also requires this role in the token's `roles` claim (each call adds
    /// one; all are required): `PERMISSION_DENIED` (`insufficient_role`)
    /// otherwise.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::grpc::RequireToken;
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let operators = RequireToken::new(gate).role("ops").role("oncall");
    /// # let _ = operators;
    /// ```
    pub fn role(self, role: impl Into<String>) -> Self {
        let role = role.into();
        self.with(|require| require.role(role))
    }
}

type RequireTokenRule = crate::axum::RequireToken;

impl Rule {
    /// The token of a request that meets the rule, or why not.
    pub(super) async fn check(
        &self,
        parts: &http::request::Parts,
    ) -> Result<Arc<VerifiedToken>, Error> {
        self.require
            .check(parts)
            .await
            .map(|verified| verified.token)
    }
}

/// Wraps a service (a tonic server's routes, or one generated service).
///
/// ```
/// use tokengate::axum::TokenGate;
/// use tokengate::grpc::RequireToken;
/// use tokengate::keys::Algorithm;
/// use tower::Layer;
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// let inner = tower::service_fn(|_: http::Request<tonic::body::Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(tonic::body::Body::empty()))
/// });
/// let service = RequireToken::new(gate).layer(inner);
/// # let _ = service;
/// ```
impl<S> Layer<S> for RequireToken {
    type Service = RequireTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireTokenService::new(inner, self.rule.clone())
    }
}
