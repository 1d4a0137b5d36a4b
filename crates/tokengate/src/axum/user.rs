//! `CurrentUser<U>`: the user behind a verified access token, through a loader.

use std::future::Future;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use super::{AccessToken, AuthRejection, Authenticated, TokenGate};
use crate::Error;
use crate::token::VerifiedToken;

/// Loads the user a token is for: Flask-JWT-Extended's `user_lookup_loader`.
/// Implement it on your router state.
///
/// ```
/// use tokengate::axum::{CurrentUser, TokenGate, UserLoader};
/// use tokengate::token::VerifiedToken;
/// use axum::extract::FromRef;
///
/// #[derive(Clone)]
/// struct AppState { gate: TokenGate }
/// impl FromRef<AppState> for TokenGate {
///     fn from_ref(s: &AppState) -> TokenGate { s.gate.clone() }
/// }
/// struct User { name: String }
/// impl UserLoader for AppState {
///     type User = User;
///     async fn load_user(&self, token: &VerifiedToken) -> Result<Option<User>, tokengate::Error> {
///         Ok(Some(User { name: token.subject().to_owned() }))
///     }
/// }
/// async fn me(CurrentUser(user, _): CurrentUser<User>) -> String { user.name }
/// ```
pub trait UserLoader: Send + Sync {
    /// The user type.
    type User: Send;

    /// The user for this token; `Ok(None)` when it no longer exists (401).
    fn load_user(
        &self,
        token: &VerifiedToken,
    ) -> impl Future<Output = Result<Option<Self::User>, Error>> + Send;
}

/// The user of a verified access token, loaded by the state's [`UserLoader`].
#[derive(Debug, Clone)]
pub struct CurrentUser<U>(pub U, pub Authenticated);

impl<S, U> FromRequestParts<S> for CurrentUser<U>
where
    S: UserLoader<User = U> + Send + Sync,
    TokenGate: FromRef<S>,
    U: Send,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AccessToken(token) =
            <AccessToken as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        match state.load_user(&token.token).await {
            Ok(Some(user)) => Ok(CurrentUser(user, token)),
            Ok(None) => Err(AuthRejection::new(
                Error::UserNotFound,
                TokenGate::from_ref(state),
            )),
            Err(error) => Err(AuthRejection::new(error, TokenGate::from_ref(state))),
        }
    }
}
