//! Bearer clients (seed 004): register, login, refresh, logout, logout-all,
//! password change, me.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokengate::Error;
use tokengate::axum::{
    AccessToken, AnyToken, CurrentUser, FirstParty, FreshAccessToken, IssuedBy, RefreshToken,
    TokenPair,
};
use tokengate::users::{Password, Username};

use super::AppState;
use super::body::JsonBody;
use super::metrics;
use crate::storage::{NewUser, User, UserId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout).delete(logout))
        .route("/auth/logout-all", post(logout_all))
        .route("/auth/password", post(change_password))
        .route("/auth/me", get(me))
}

#[derive(Deserialize)]
pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: String,
}

async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<Value>), Error> {
    if !state.registration_open() {
        return Err(Error::RegistrationClosed);
    }
    let username = Username::parse(&body.username)?;
    let password = Password::new(body.password, &state.password_policy())?;
    let hash = metrics::hashing(state.hasher.hash(&password))
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let user = state
        .db
        .create_user(NewUser {
            username: &username,
            password_hash: &hash,
            scopes: &[],
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": user.id, "username": user.username})),
    ))
}

/// Checks credentials under the failed-login limits: the same status and
/// body for an unknown user and a wrong password, after the same work.
/// Counted in `logins_total{method="password"}`.
pub(super) async fn authenticate(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    credentials: Credentials,
) -> Result<User, Error> {
    let result = check_credentials(state, peer, headers, credentials).await;
    metrics::login("password", &result);
    result
}

async fn check_credentials(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    credentials: Credentials,
) -> Result<User, Error> {
    let ip_key = format!("ip:{}", state.client_ip(peer, headers));
    // An unparseable name cannot exist, but it is checked (and counted) like any other.
    let username = Username::parse(&credentials.username).ok();
    let user_key = format!("user:{}", credentials.username.to_lowercase());
    let max = state.settings.login_max_failures;
    state
        .limiter
        .check(&[(&user_key, max), (&ip_key, max.saturating_mul(10))])
        .await?;
    let password = Password::for_login(credentials.password).map_err(|_| Error::InvalidCredentials);
    let user = match &username {
        Some(name) => state.db.user_by_name(name).await?,
        None => None,
    };
    let valid = match &password {
        Ok(password) => {
            metrics::hashing(state.hasher.verify(
                password,
                user.as_ref().and_then(|u| u.password_hash.as_ref()),
            ))
            .await
        }
        // Too long to hash: refuse after the same work as a wrong password.
        Err(_) => {
            let dummy =
                Password::for_login(String::new()).map_err(|_| Error::InvalidCredentials)?;
            metrics::hashing(state.hasher.verify(&dummy, None)).await
        }
    };
    match user {
        Some(user) if valid => {
            state.limiter.clear(&user_key).await;
            Ok(user)
        }
        _ => {
            state.limiter.record_failure(&[&user_key, &ip_key]).await;
            Err(Error::InvalidCredentials)
        }
    }
}

fn token_pair(pair: &TokenPair) -> Json<Value> {
    Json(json!({
        "access_token": pair.access.token,
        "refresh_token": pair.refresh.token,
        "token_type": "Bearer",
        "expires_in": pair.access.expires_in(),
    }))
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Json<Value>, Error> {
    let user = authenticate(&state, peer, &headers, body).await?;
    let pair = state.gate.login(&user).await?;
    Ok(token_pair(&pair))
}

/// The user behind a token's `sub`; a deleted user's tokens are refused.
pub(super) async fn subject(state: &AppState, sub: &str) -> Result<User, Error> {
    let id = sub.parse().map_err(|_| Error::UserNotFound)?;
    state
        .db
        .user_by_id(UserId(id))
        .await?
        .ok_or(Error::UserNotFound)
}

async fn refresh(State(state): State<AppState>, token: RefreshToken) -> Result<Json<Value>, Error> {
    let user = subject(&state, token.subject()).await?;
    let pair = state.gate.refresh(&user, &token.token).await;
    metrics::refresh(&pair);
    Ok(token_pair(&pair?))
}

async fn logout(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AnyToken>,
) -> Result<Json<Value>, Error> {
    state.gate.logout(&token.token).await?;
    metrics::revoked("logout");
    Ok(Json(json!({"msg": "logged out"})))
}

/// Only this service's tokens name a local user: a trusted issuer's `sub`
/// lives in that issuer's namespace, so these routes refuse its tokens.
async fn logout_all(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Json<Value>, Error> {
    state.gate.logout_all(token.subject()).await?;
    metrics::revoked("logout_all");
    Ok(Json(json!({"msg": "every session logged out"})))
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    token: FreshAccessToken,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<Json<Value>, Error> {
    let user = subject(&state, token.subject()).await?;
    let current =
        Password::for_login(body.current_password).map_err(|_| Error::InvalidCredentials)?;
    if !metrics::hashing(state.hasher.verify(&current, user.password_hash.as_ref())).await {
        return Err(Error::InvalidCredentials);
    }
    let new = Password::new(body.new_password, &state.password_policy()).map_err(|_| {
        Error::InvalidRequest(format!(
            "new_password must be {}-1024 characters",
            state.settings.password_min_length
        ))
    })?;
    let hash = metrics::hashing(state.hasher.hash(&new))
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    state.db.set_password(user.id, &hash).await?;
    state.gate.logout_all(token.subject()).await?;
    metrics::revoked("password_change");
    let pair = state.gate.login(&user).await?;
    Ok(token_pair(&pair))
}

/// The user, with the provider accounts linked to it (OIDC logins).
async fn me(
    State(state): State<AppState>,
    CurrentUser(user, _): CurrentUser<User>,
) -> Result<Json<Value>, Error> {
    let identities: Vec<Value> = state
        .db
        .oidc_identities(user.id)
        .await?
        .into_iter()
        .map(|(provider, sub)| json!({"provider": provider, "sub": sub}))
        .collect();
    Ok(Json(json!({
        "id": user.id,
        "username": user.username,
        "scopes": user.scopes,
        "identities": identities,
    })))
}
