//! Browser sessions (seed 003): the same operations with tokens in HttpOnly
//! cookies and CSRF double submit.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::header::SET_COOKIE;
use serde_json::json;
use tokengate::Error;
use tokengate::axum::{AccessToken, AnyToken, FirstParty, IssuedBy, RefreshToken, TokenPair};

use super::AppState;
use super::auth::{Credentials, authenticate, subject};
use super::body::JsonBody;
use crate::storage::User;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/session", post(login).delete(logout))
        .route("/auth/session/refresh", post(refresh))
        .route("/auth/status", get(status))
}

/// The response of a login or refresh: the four cookies, no token in the body.
fn with_cookies(state: &AppState, pair: &TokenPair, user: &User) -> Response {
    let transport = state.gate.transport();
    let cookies: Vec<_> = transport
        .set_access_cookies(&pair.access)
        .into_iter()
        .chain(transport.set_refresh_cookies(&pair.refresh))
        .map(|c| (SET_COOKIE, c))
        .collect();
    (
        AppendHeaders(cookies),
        Json(json!({"id": user.id, "username": user.username, "expires_in": pair.access.expires_in()})),
    )
        .into_response()
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, Error> {
    let user = authenticate(&state, peer, &headers, body).await?;
    let pair = state.gate.login(&user).await?;
    Ok(with_cookies(&state, &pair, &user))
}

async fn refresh(State(state): State<AppState>, token: RefreshToken) -> Result<Response, Error> {
    let user = subject(&state, token.subject()).await?;
    let pair = state.gate.refresh(&user, &token.token).await;
    super::metrics::refresh(&pair);
    Ok(with_cookies(&state, &pair?, &user))
}

async fn logout(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AnyToken>,
) -> Result<Response, Error> {
    state.gate.logout(&token.token).await?;
    super::metrics::revoked("logout");
    Ok((state.cleared_cookies(), Json(json!({"msg": "logged out"}))).into_response())
}

async fn status(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Json<serde_json::Value>, Error> {
    let user = subject(&state, token.subject()).await?;
    Ok(Json(
        json!({"id": user.id, "username": user.username, "scopes": user.scopes}),
    ))
}
