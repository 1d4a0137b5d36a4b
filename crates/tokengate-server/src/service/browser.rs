//! Browser sessions: the same operations with tokens in HttpOnly
//! cookies and CSRF double submit.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokengate::Error;
use tokengate::axum::{AccessToken, AnyToken, FirstParty, IssuedBy, RefreshToken, TokenPair};
use tokengate::login::LoginMethod;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Credentials, Message, authenticate, subject};
use super::body::JsonBody;
use super::openapi::{InvalidRequest, RateLimited, Unauthorized, Unavailable};
use crate::storage::{User, UserId};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, logout))
        .routes(routes!(refresh))
        .routes(routes!(status))
}

/// The user of a new browser session (the tokens are in cookies).
#[derive(Serialize, ToSchema)]
struct Session {
    #[schema(value_type = i64)]
    id: UserId,
    username: String,
    /// Seconds until the access token expires.
    expires_in: i64,
}

/// The user of the session.
#[derive(Serialize, ToSchema)]
struct Status {
    #[schema(value_type = i64)]
    id: UserId,
    username: String,
    /// Granted scopes.
    scopes: Vec<String>,
}

/// The response of a login or refresh: the four cookies, no token in the body.
pub(super) fn with_cookies(state: &AppState, pair: &TokenPair, user: &User) -> Response {
    let cookies = state
        .gate
        .transport()
        .login_cookies(&pair.access, &pair.refresh);
    (
        cookies,
        Json(Session {
            id: user.id,
            username: user.username.clone(),
            expires_in: pair.access.expires_in(),
        }),
    )
        .into_response()
}

/// Log in (browser)
///
/// The same credentials as `POST /auth/login`; the tokens are set in
/// cookies, never in the body.
#[utoipa::path(
    post,
    path = "/auth/session",
    operation_id = "session_login",
    tag = "session",
    request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; four cookies set", body = Session,
            headers(("Set-Cookie" = String, description = "`access_token_cookie` and `refresh_token_cookie` (HttpOnly), `csrf_access_token` and `csrf_refresh_token` (readable by scripts)"))),
        (status = 400, response = InvalidRequest),
        (status = 401, description = "`invalid_credentials`: wrong username or password", body = super::openapi::ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, Error> {
    let user = authenticate(&state, peer, &headers, body).await?;
    let details = state.login_details(LoginMethod::Password, peer, &headers);
    let pair = state.gate.login_with(&user, details).await?;
    Ok(with_cookies(&state, &pair, &user))
}

/// Refresh the session (browser)
///
/// The refresh cookie with its CSRF header: new cookies; the used refresh
/// token is spent.
#[utoipa::path(
    post,
    path = "/auth/session/refresh",
    operation_id = "session_refresh",
    tag = "session",
    security(("refresh_cookie" = [], "csrf" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Refreshed; four cookies set", body = Session,
            headers(("Set-Cookie" = String, description = "`access_token_cookie` and `refresh_token_cookie` (HttpOnly), `csrf_access_token` and `csrf_refresh_token` (readable by scripts)"))),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn refresh(State(state): State<AppState>, token: RefreshToken) -> Result<Response, Error> {
    // Tokens bound to a DPoP key are refused in cookies: a bound login
    // cannot carry on as a cookie session (its refresh is `/auth/refresh`).
    if token.claims().confirmation.is_some() {
        return Err(tokengate::TokenRejection::Invalid(
            "a DPoP-bound login refreshes at /auth/refresh, not as a cookie session",
        )
        .into());
    }
    let user = subject(&state, token.subject()).await?;
    let pair = state.gate.refresh(&user, &token.token).await;
    super::metrics::refresh(&pair);
    Ok(with_cookies(&state, &pair?, &user))
}

/// Log out (browser)
///
/// Revokes the session's tokens and clears its cookies.
#[utoipa::path(
    delete,
    path = "/auth/session",
    operation_id = "session_logout",
    tag = "session",
    security(("access_cookie" = [], "csrf" = []), ("refresh_cookie" = [], "csrf" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Logged out; the cookies cleared", body = Message,
            headers(("Set-Cookie" = String, description = "The four session cookies, expired"))),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn logout(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AnyToken>,
) -> Result<Response, Error> {
    state.gate.logout(&token.token).await?;
    super::metrics::revoked("logout");
    Ok((state.cleared_cookies(), Json(Message { msg: "logged out" })).into_response())
}

/// Session status
///
/// 200 with the user while the session's access token is good, else 401.
#[utoipa::path(
    get,
    path = "/auth/status",
    operation_id = "session_status",
    tag = "session",
    security(("access_cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = Status),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn status(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Json<Status>, Error> {
    let user = subject(&state, token.subject()).await?;
    Ok(Json(Status {
        id: user.id,
        username: user.username,
        scopes: user.scopes,
    }))
}
