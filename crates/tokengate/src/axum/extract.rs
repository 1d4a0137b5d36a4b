//! Extractors: a verified access token (typed custom claims), an optional
//! one, a fresh one, a refresh token, and a scoped one.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use std::any::TypeId;

use serde::de::{DeserializeOwned, IgnoredAny, IntoDeserializer};

use super::{Requirement, TokenGate};
use crate::Error;
use crate::claims::{Claims, TokenType};
use crate::scope::RequiredScopes;
use crate::token::{Origin, VerifiedToken};
use crate::transport::TokenLocation;

/// A verified token with its custom claims decoded as `C`.
#[derive(Debug, Clone)]
pub struct Authenticated<C = IgnoredAny> {
    /// The verified token.
    pub token: Arc<VerifiedToken>,
    /// The payload decoded as `C` (default: not decoded).
    pub custom: C,
    /// Where the token was found.
    pub location: TokenLocation,
}

impl<C> Authenticated<C> {
    /// The registered claims.
    pub fn claims(&self) -> &Claims {
        &self.token.claims
    }

    /// The `sub` claim.
    pub fn subject(&self) -> &str {
        self.token.subject()
    }
}

/// The rejection of every tokengate extractor: the error, answered with the
/// gate's custom response if one is set.
#[derive(Debug)]
pub struct AuthRejection {
    error: Error,
    gate: TokenGate,
}

impl AuthRejection {
    /// The error.
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.gate.error_response(self.error)
    }
}

async fn authenticate<S, C>(
    parts: &Parts,
    state: &S,
    requirement: Requirement,
) -> Result<Authenticated<C>, AuthRejection>
where
    TokenGate: FromRef<S>,
    C: DeserializeOwned + 'static,
{
    let gate = TokenGate::from_ref(state);
    let result = gate
        .authenticate(parts, requirement)
        .await
        .and_then(|(located, token)| {
            // The default `C` wants nothing: skip a second parse of the payload.
            let custom = if TypeId::of::<C>() == TypeId::of::<IgnoredAny>() {
                C::deserialize(().into_deserializer())
                    .map_err(|e: serde::de::value::Error| Error::InvalidClaims(e.to_string()))?
            } else {
                token.custom::<C>()?
            };
            Ok(Authenticated {
                token,
                custom,
                location: located.location,
            })
        });
    result.map_err(|error| AuthRejection { error, gate })
}

macro_rules! token_extractor {
    ($(#[$doc:meta])* $name:ident, $token_type:expr, $fresh:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name<C = IgnoredAny>(pub Authenticated<C>);

        impl<C> Deref for $name<C> {
            type Target = Authenticated<C>;
            fn deref(&self) -> &Authenticated<C> {
                &self.0
            }
        }

        impl<S, C> FromRequestParts<S> for $name<C>
        where
            TokenGate: FromRef<S>,
            S: Send + Sync,
            C: DeserializeOwned + Send + 'static,
        {
            type Rejection = AuthRejection;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
                let requirement = Requirement { token_type: $token_type, fresh: $fresh };
                authenticate(parts, state, requirement).await.map($name)
            }
        }

        /// Absent token: `None`. A token that is present but bad is still an error.
        impl<S, C> OptionalFromRequestParts<S> for $name<C>
        where
            TokenGate: FromRef<S>,
            S: Send + Sync,
            C: DeserializeOwned + Send + 'static,
        {
            type Rejection = AuthRejection;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
                match <Self as FromRequestParts<S>>::from_request_parts(parts, state).await {
                    Ok(token) => Ok(Some(token)),
                    Err(AuthRejection { error: Error::AuthorizationHeaderMissing, .. }) => Ok(None),
                    Err(rejection) => Err(rejection),
                }
            }
        }
    };
}

token_extractor!(
    /// A verified, unrevoked access token. `Option<AccessToken>` makes it optional.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use tokengate::axum::AccessToken;
    ///
    /// #[derive(Deserialize)]
    /// struct MyClaims { role: String }
    ///
    /// async fn handler(token: AccessToken<MyClaims>) -> String {
    ///     format!("{} is {}", token.subject(), token.custom.role)
    /// }
    /// ```
    AccessToken,
    TokenType::Access,
    false
);

token_extractor!(
    /// A verified access token that is fresh (issued by a password login,
    /// not by a refresh): for sensitive routes such as a password change.
    FreshAccessToken,
    TokenType::Access,
    true
);

token_extractor!(
    /// A verified, unrevoked refresh token.
    RefreshToken,
    TokenType::Refresh,
    false
);

/// A verified, unrevoked token of either type: for logout, which accepts
/// the access or the refresh token of a login.
#[derive(Debug, Clone)]
pub struct AnyToken<C = IgnoredAny>(pub Authenticated<C>);

impl<C> Deref for AnyToken<C> {
    type Target = Authenticated<C>;
    fn deref(&self) -> &Authenticated<C> {
        &self.0
    }
}

impl<S, C> FromRequestParts<S> for AnyToken<C>
where
    TokenGate: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let access = Requirement {
            token_type: TokenType::Access,
            fresh: false,
        };
        match authenticate(parts, state, access).await {
            Err(AuthRejection {
                error: Error::WrongTokenType(_) | Error::AuthorizationHeaderMissing,
                ..
            }) => {
                let refresh = Requirement {
                    token_type: TokenType::Refresh,
                    fresh: false,
                };
                authenticate(parts, state, refresh).await.map(AnyToken)
            }
            other => other.map(AnyToken),
        }
    }
}

/// A verified access token that meets the scope requirement `R`; 403
/// `insufficient_scope` otherwise.
///
/// ```
/// use tokengate::axum::Scoped;
///
/// tokengate::required_scopes!(ReadMessages = ["read:messages"]);
///
/// async fn scoped(token: Scoped<ReadMessages>) -> String {
///     token.subject().to_owned()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Scoped<R, C = IgnoredAny>(pub Authenticated<C>, PhantomData<R>);

impl<R, C> Deref for Scoped<R, C> {
    type Target = Authenticated<C>;
    fn deref(&self) -> &Authenticated<C> {
        &self.0
    }
}

impl<S, R, C> FromRequestParts<S> for Scoped<R, C>
where
    TokenGate: FromRef<S>,
    S: Send + Sync,
    R: RequiredScopes,
    C: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AccessToken(token) =
            <AccessToken<C> as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        match R::requirement().check(token.claims()) {
            Ok(()) => Ok(Scoped(token, PhantomData)),
            Err(error) => Err(AuthRejection {
                error,
                gate: TokenGate::from_ref(state),
            }),
        }
    }
}

impl AuthRejection {
    pub(super) fn new(error: Error, gate: TokenGate) -> Self {
        AuthRejection { error, gate }
    }
}

/// The verified token an extractor holds: what [`IssuedBy`] inspects.
pub trait HoldsToken {
    /// The verified token.
    fn verified(&self) -> &VerifiedToken;
}

macro_rules! holds_token {
    ($($name:ident<$($param:ident),*>),* $(,)?) => {
        $(impl<$($param),*> HoldsToken for $name<$($param),*> {
            fn verified(&self) -> &VerifiedToken {
                &self.0.token
            }
        })*
    };
}

holds_token!(AccessToken<C>, FreshAccessToken<C>, RefreshToken<C>, AnyToken<C>, Scoped<R, C>);

/// Which issuers a route accepts, for [`IssuedBy`]: [`FirstParty`], or an
/// issuer declared with [`trusted_issuer!`](crate::trusted_issuer).
pub trait AcceptIssuer: Send + Sync + 'static {
    /// Whether a token of `origin` is accepted.
    fn accepts(origin: &Origin) -> bool;
}

/// Tokens this service's own keys signed.
#[derive(Debug, Clone, Copy)]
pub struct FirstParty;

impl AcceptIssuer for FirstParty {
    fn accepts(origin: &Origin) -> bool {
        origin.is_first_party()
    }
}

/// Declares a marker type for [`IssuedBy`] that accepts the tokens of one
/// trusted issuer (by its exact `iss`).
///
/// ```
/// use tokengate::axum::{AccessToken, IssuedBy};
///
/// tokengate::trusted_issuer!(Auth0 = "https://tenant.eu.auth0.com/");
///
/// // Only Auth0's access tokens; a plain `AccessToken` takes this
/// // service's and every trusted issuer's.
/// async fn partner_api(token: IssuedBy<Auth0, AccessToken>) -> String {
///     token.subject().to_owned()
/// }
/// ```
#[macro_export]
macro_rules! trusted_issuer {
    ($(#[$doc:meta])* $name:ident = $iss:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $crate::axum::AcceptIssuer for $name {
            fn accepts(origin: &$crate::token::Origin) -> bool {
                origin.issuer() == Some($iss)
            }
        }
    };
}

/// The extractor `T` (e.g. [`AccessToken`], [`Scoped`]) limited to the
/// tokens of the issuers `A` accepts; another issuer's token is refused with
/// 401 `invalid_claims`.
///
/// ```
/// use tokengate::axum::{AccessToken, FirstParty, IssuedBy};
///
/// async fn admin(token: IssuedBy<FirstParty, AccessToken>) -> String {
///     token.subject().to_owned()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct IssuedBy<A, T>(pub T, PhantomData<A>);

impl<A, T> Deref for IssuedBy<A, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<S, A, T> FromRequestParts<S> for IssuedBy<A, T>
where
    TokenGate: FromRef<S>,
    S: Send + Sync,
    A: AcceptIssuer,
    T: FromRequestParts<S, Rejection = AuthRejection> + HoldsToken,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let inner = T::from_request_parts(parts, state).await?;
        if A::accepts(&inner.verified().origin) {
            Ok(IssuedBy(inner, PhantomData))
        } else {
            Err(AuthRejection {
                error: Error::InvalidClaims("this route does not accept this issuer".into()),
                gate: TokenGate::from_ref(state),
            })
        }
    }
}
