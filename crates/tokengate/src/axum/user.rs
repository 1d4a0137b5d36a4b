//! `CurrentUser<U>`: the user behind a verified access token, through a loader.

use crate::TokenRejection;
use std::future::Future;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use super::extract::{authenticate, count_verification, optional};
use super::{AuthRejection, Authenticated, Requirement, TokenGate};
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

/// The user of a verified access token, loaded by the state's
/// [`UserLoader`]; 401 when the user no longer exists. See [`UserLoader`]
/// for an example.
///
/// ```
/// use axum::extract::{FromRef, FromRequestParts};
/// use tokengate::axum::{CurrentUser, TokenGate, UserLoader};
/// use tokengate::token::VerifiedToken;
/// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// # use tokengate::token::TokenEngine;
/// # #[derive(Clone)]
/// # struct AppState { gate: TokenGate }
/// # impl FromRef<AppState> for TokenGate { fn from_ref(s: &AppState) -> TokenGate { s.gate.clone() } }
///
/// struct User { name: String }
/// impl UserLoader for AppState {
///     type User = User;
///     async fn load_user(&self, token: &VerifiedToken) -> Result<Option<User>, tokengate::Error> {
///         Ok((token.subject() == "alice").then(|| User { name: "Alice".into() })) // bob is gone
///     }
/// }
/// # let state = AppState { gate: TokenGate::with_generated_key(Algorithm::EdDSA).unwrap() };
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// for (who, expected) in [("alice", Ok("Alice")), ("bob", Err("invalid_token"))] {
///     let token = state.gate.login(who).await.unwrap().access.token;
///     let (mut parts, _) = http::Request::get("/me").header("Authorization", format!("Bearer {token}")).body(()).unwrap().into_parts();
///     let user = CurrentUser::<User>::from_request_parts(&mut parts, &state).await;
///     assert_eq!(user.map(|u| u.0.name).map_err(|e| e.error().code()), expected.map(String::from));
/// }
/// # });
/// ```
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
        count_verification(parts, Self::uncounted(parts, state).await)
    }
}

/// `Option<CurrentUser<U>>`: no token, `None`; a bad token, or one whose
/// user is gone, is still an error.
///
/// ```
/// use tokengate::axum::CurrentUser;
/// # #[derive(Clone)] struct AppState;
/// # struct User { name: String }
///
/// async fn greeting(user: Option<CurrentUser<User>>) -> String {
///     match user {
///         Some(CurrentUser(user, _)) => format!("hello {}", user.name),
///         None => "hello stranger".into(),
///     }
/// }
/// ```
impl<S, U> OptionalFromRequestParts<S> for CurrentUser<U>
where
    S: UserLoader<User = U> + Send + Sync,
    TokenGate: FromRef<S>,
    U: Send,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        optional(parts, Self::uncounted(parts, state).await)
    }
}

impl<U: Send> CurrentUser<U> {
    async fn uncounted<S>(parts: &Parts, state: &S) -> Result<Self, AuthRejection>
    where
        S: UserLoader<User = U> + Send + Sync,
        TokenGate: FromRef<S>,
    {
        let token = authenticate(parts, state, Requirement::ACCESS).await?;
        match state.load_user(&token.token).await {
            Ok(Some(user)) => Ok(CurrentUser(user, token)),
            Ok(None) => Err(AuthRejection::new(
                Error::Token(TokenRejection::SubjectGone),
                TokenGate::from_ref(state),
            )),
            Err(error) => Err(AuthRejection::new(error, TokenGate::from_ref(state))),
        }
    }
}
