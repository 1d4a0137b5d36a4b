//! Extractors: a verified access token (typed custom claims), an optional
//! one, a fresh one, a refresh token, and a scoped one.

use crate::TokenRejection;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use std::any::TypeId;

use serde::de::{DeserializeOwned, IgnoredAny, IntoDeserializer};

use super::{Requirement, TokenGate, Verified};
use crate::Error;
use crate::claims::{Claims, TokenType};
use crate::scope::{RequiredRoles, RequiredScopes};
use crate::token::{Origin, VerifiedToken};
use crate::transport::TokenLocation;

/// A verified token with its custom claims decoded as `C`: what every
/// extractor holds and derefs to.
///
/// ```
/// use serde::Deserialize;
/// use tokengate::axum::AccessToken;
/// use tokengate::transport::TokenLocation;
///
/// #[derive(Deserialize)]
/// struct Tenant { tenant: String }
///
/// async fn handler(token: AccessToken<Tenant>) -> String {
///     let from_cookie = token.location == TokenLocation::Cookies;
///     format!("{} of {} (cookie: {from_cookie}, jti {:?})", token.subject(), token.custom.tenant, token.claims().jti)
/// }
/// ```
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
    ///
    /// ```
    /// use axum::extract::FromRequestParts;
    /// use tokengate::axum::AccessToken;
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    ///
    /// let login = gate.login("alice").await.unwrap();
    /// let (mut parts, _) = http::Request::get("/").header("Authorization", format!("Bearer {}", login.access.token))
    ///     .body(()).unwrap().into_parts();
    /// let token: AccessToken = AccessToken::from_request_parts(&mut parts, &gate).await.unwrap();
    /// assert_eq!(token.claims().jti.as_deref(), Some(login.access.jti.as_str()));
    /// # });
    /// ```
    pub fn claims(&self) -> &Claims {
        &self.token.claims
    }

    /// The `sub` claim.
    ///
    /// ```
    /// use axum::extract::FromRequestParts;
    /// use tokengate::axum::AccessToken;
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    ///
    /// let login = gate.login("alice").await.unwrap();
    /// let (mut parts, _) = http::Request::get("/").header("Authorization", format!("Bearer {}", login.access.token))
    ///     .body(()).unwrap().into_parts();
    /// let token: AccessToken = AccessToken::from_request_parts(&mut parts, &gate).await.unwrap();
    /// assert_eq!(token.subject(), "alice");
    /// # });
    /// ```
    pub fn subject(&self) -> &str {
        self.token.subject()
    }
}

/// The rejection of every tokengate extractor: the error, answered with the
/// gate's custom response if one is set. Take `Result<AccessToken,
/// AuthRejection>` to handle it in the handler.
///
/// ```
/// use tokengate::axum::{AccessToken, AuthRejection};
///
/// async fn greeting(token: Result<AccessToken, AuthRejection>) -> String {
///     match token {
///         Ok(token) => format!("hello {}", token.subject()),
///         Err(rejection) => format!("hello stranger ({})", rejection.error().code()),
///     }
/// }
/// ```
#[derive(Debug)]
pub struct AuthRejection {
    error: Error,
    gate: TokenGate,
}

impl AuthRejection {
    /// The error.
    ///
    /// ```
    /// use axum::extract::FromRequestParts;
    /// use tokengate::axum::AccessToken;
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    ///
    /// let (mut parts, _) = http::Request::get("/").header("Authorization", "Bearer not-a-jwt").body(()).unwrap().into_parts();
    /// let rejection = AccessToken::<serde::de::IgnoredAny>::from_request_parts(&mut parts, &gate).await.unwrap_err();
    /// assert_eq!(rejection.error().code(), "invalid_token");
    /// assert_eq!(rejection.error().status(), 401);
    /// # });
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.gate.error_response(self.error)
    }
}

/// The token of `requirement`, uncounted: what every extractor starts with.
/// Behind a [`RequireToken`](super::RequireToken) layer whose verification
/// answers `requirement` too, the layer's token, not verified again.
pub(super) async fn authenticate<S, C>(
    parts: &Parts,
    state: &S,
    requirement: Requirement,
) -> Result<Authenticated<C>, AuthRejection>
where
    TokenGate: FromRef<S>,
    C: DeserializeOwned + 'static,
{
    let gate = TokenGate::from_ref(state);
    let layered = parts
        .extensions
        .get::<Verified>()
        .filter(|verified| verified.satisfies(requirement, gate.engine().clock().now().as_secs()));
    let found = match layered {
        Some(verified) => Ok((verified.location, verified.token.clone())),
        None => gate
            .authenticate_found(parts, requirement)
            .await
            .map(|(located, token)| (located.location, token)),
    };
    let result = found.and_then(|(location, token)| {
        // The default `C` wants nothing: skip a second parse of the payload.
        let custom = if TypeId::of::<C>() == TypeId::of::<IgnoredAny>() {
            C::deserialize(().into_deserializer()).map_err(|e: serde::de::value::Error| {
                Error::Token(TokenRejection::InvalidClaims(e.to_string()))
            })?
        } else {
            token.custom::<C>()?
        };
        Ok(Authenticated {
            token,
            custom,
            location,
        })
    });
    result.map_err(|error| AuthRejection { error, gate })
}

/// Marks a request whose extractor wraps another ([`IssuedBy`]): the outer
/// one counts the answer, the inner one does not.
#[cfg(feature = "metrics")]
#[derive(Clone)]
struct OuterCounts;

/// Counts an extractor's answer (feature `metrics`), unless an outer
/// extractor will count its own, or a [`RequireToken`](super::RequireToken)
/// layer counted the request's verification.
#[cfg_attr(not(feature = "metrics"), inline(always))]
pub(super) fn count_verification<T>(
    parts: &Parts,
    result: Result<T, AuthRejection>,
) -> Result<T, AuthRejection> {
    #[cfg(feature = "metrics")]
    if parts.extensions.get::<OuterCounts>().is_none()
        && parts.extensions.get::<Verified>().is_none()
    {
        crate::metrics::token_verification(result.as_ref().err().map(AuthRejection::error));
    }
    #[cfg(not(feature = "metrics"))]
    let _ = parts;
    result
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
                count_verification(parts, authenticate(parts, state, requirement).await.map($name))
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
                let requirement = Requirement { token_type: $token_type, fresh: $fresh };
                optional(parts, authenticate(parts, state, requirement).await.map($name))
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
    /// Otherwise 401 `fresh_token_required`.
    ///
    /// ```
    /// use tokengate::axum::FreshAccessToken;
    ///
    /// async fn change_password(token: FreshAccessToken) -> String {
    ///     format!("{} may change the password", token.subject())
    /// }
    /// ```
    FreshAccessToken,
    TokenType::Access,
    true
);

token_extractor!(
    /// A verified, unrevoked refresh token; an access token is refused
    /// with 401 `wrong_token_type`.
    ///
    /// ```
    /// use axum::{Json, extract::State};
    /// use tokengate::Error;
    /// use tokengate::axum::{RefreshToken, TokenGate};
    ///
    /// async fn refresh(State(gate): State<TokenGate>, token: RefreshToken) -> Result<Json<String>, Error> {
    ///     let pair = gate.refresh(token.subject(), &token.token).await?;
    ///     Ok(Json(pair.access.token))
    /// }
    /// ```
    RefreshToken,
    TokenType::Refresh,
    false
);

/// A verified, unrevoked token of either type: for logout, which accepts
/// the access or the refresh token of a login.
///
/// ```
/// use axum::extract::State;
/// use tokengate::Error;
/// use tokengate::axum::{AnyToken, TokenGate};
///
/// async fn logout(State(gate): State<TokenGate>, token: AnyToken) -> Result<(), Error> {
///     gate.logout(&token.token).await
/// }
/// ```
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
        let access = Requirement::ACCESS;
        let result = match authenticate(parts, state, access).await {
            Err(AuthRejection {
                error:
                    Error::Token(TokenRejection::WrongType(_)) | Error::Token(TokenRejection::Missing),
                ..
            }) => {
                let refresh = Requirement::REFRESH;
                authenticate(parts, state, refresh).await
            }
            other => other,
        };
        count_verification(parts, result.map(AnyToken))
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

/// An uncounted answer as an optional extractor's: a missing token is
/// `None` (no token, no verification: not counted), anything else counted.
pub(super) fn optional<T>(
    parts: &Parts,
    result: Result<T, AuthRejection>,
) -> Result<Option<T>, AuthRejection> {
    match result {
        Err(AuthRejection {
            error: Error::Token(TokenRejection::Missing),
            ..
        }) => Ok(None),
        result => count_verification(parts, result.map(Some)),
    }
}

/// A verified access token whose roles include every role of `R`, else
/// 403 `insufficient_role`: Flask-JWT-Extended's role decorators, for
/// tokengate's tokens (`roles` claim) and trusted issuers' alike.
/// `Option<HasRole<R>>`: no token, `None`.
///
/// ```
/// use tokengate::axum::HasRole;
///
/// tokengate::required_roles!(Admin = ["admin"]);
///
/// async fn delete_user(admin: HasRole<Admin>) -> String {
///     format!("{} may delete users", admin.subject())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct HasRole<R, C = IgnoredAny>(pub Authenticated<C>, PhantomData<R>);

impl<R, C> Deref for HasRole<R, C> {
    type Target = Authenticated<C>;
    fn deref(&self) -> &Authenticated<C> {
        &self.0
    }
}

/// The extractor impls of an access token with a requirement `R` on its
/// claims (`Scoped`, `HasRole`): `$check` refuses what `R` does not allow;
/// `Option<...>` is `None` without a token and still refuses a bad one.
macro_rules! claims_guard {
    ($name:ident, $trait:ident, $check:expr) => {
        impl<S, R, C> FromRequestParts<S> for $name<R, C>
        where
            TokenGate: FromRef<S>,
            S: Send + Sync,
            R: $trait,
            C: DeserializeOwned + Send + 'static,
        {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                count_verification(parts, Self::uncounted(parts, state).await)
            }
        }

        impl<S, R, C> OptionalFromRequestParts<S> for $name<R, C>
        where
            TokenGate: FromRef<S>,
            S: Send + Sync,
            R: $trait,
            C: DeserializeOwned + Send + 'static,
        {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Option<Self>, Self::Rejection> {
                optional(parts, Self::uncounted(parts, state).await)
            }
        }

        impl<R: $trait, C: DeserializeOwned + Send + 'static> $name<R, C> {
            async fn uncounted<S>(parts: &Parts, state: &S) -> Result<Self, AuthRejection>
            where
                TokenGate: FromRef<S>,
            {
                let token = authenticate::<S, C>(parts, state, Requirement::ACCESS).await?;
                let check: fn(&Claims) -> Result<(), Error> = $check;
                match check(token.claims()) {
                    Ok(()) => Ok($name(token, PhantomData)),
                    Err(error) => Err(AuthRejection::new(error, TokenGate::from_ref(state))),
                }
            }
        }
    };
}

claims_guard!(Scoped, RequiredScopes, |claims| R::requirement()
    .check(claims));
claims_guard!(HasRole, RequiredRoles, R::check);

impl AuthRejection {
    pub(super) fn new(error: Error, gate: TokenGate) -> Self {
        AuthRejection { error, gate }
    }
}

/// The verified token an extractor holds: what [`IssuedBy`] inspects.
///
/// ```
/// use tokengate::axum::{AccessToken, HoldsToken};
///
/// fn issuer_of(token: &impl HoldsToken) -> Option<&str> {
///     token.verified().origin.issuer()
/// }
/// async fn handler(token: AccessToken) -> String {
///     issuer_of(&token).unwrap_or("this service").to_owned()
/// }
/// ```
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

holds_token!(AccessToken<C>, FreshAccessToken<C>, RefreshToken<C>, AnyToken<C>, Scoped<R, C>, HasRole<R, C>);

/// Which issuers a route accepts, for [`IssuedBy`]: [`FirstParty`], or an
/// issuer declared with [`trusted_issuer!`](crate::trusted_issuer), or your own:
///
/// ```
/// use tokengate::axum::{AcceptIssuer, AccessToken, IssuedBy};
/// use tokengate::token::Origin;
///
/// /// Any external issuer, never this service's own tokens.
/// struct Partners;
/// impl AcceptIssuer for Partners {
///     fn accepts(origin: &Origin) -> bool { !origin.is_first_party() }
/// }
/// async fn partner_api(token: IssuedBy<Partners, AccessToken>) -> String {
///     token.subject().to_owned()
/// }
/// ```
pub trait AcceptIssuer: Send + Sync + 'static {
    /// Whether a token of `origin` is accepted.
    fn accepts(origin: &Origin) -> bool;
}

/// Tokens this service's own keys signed: see [`IssuedBy`].
///
/// ```
/// use tokengate::axum::{AcceptIssuer, AccessToken, FirstParty, IssuedBy};
/// use tokengate::token::Origin;
///
/// assert!(FirstParty::accepts(&Origin::FirstParty));
/// assert!(!FirstParty::accepts(&Origin::Trusted("https://tenant.auth0.com/".into())));
/// // A route that refuses tokens of trusted issuers:
/// async fn admin(token: IssuedBy<FirstParty, AccessToken>) -> String { token.subject().to_owned() }
/// ```
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
        // The inner extractor's answer may be refused here: count only ours.
        #[cfg(feature = "metrics")]
        let outermost = parts.extensions.insert(OuterCounts).is_none();
        let inner = T::from_request_parts(parts, state).await;
        #[cfg(feature = "metrics")]
        if outermost {
            parts.extensions.remove::<OuterCounts>();
        }
        let result = inner.and_then(|inner| {
            if A::accepts(&inner.verified().origin) {
                Ok(IssuedBy(inner, PhantomData))
            } else {
                Err(AuthRejection {
                    error: Error::Token(TokenRejection::InvalidClaims(
                        "this route does not accept this issuer".into(),
                    )),
                    gate: TokenGate::from_ref(state),
                })
            }
        });
        count_verification(parts, result)
    }
}
