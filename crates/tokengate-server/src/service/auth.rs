//! Bearer clients: register, login, refresh, logout, logout-all,
//! password change, me.

use std::net::SocketAddr;
use tokengate::{AccountRejection, Backend, RequestRejection, TokenRejection};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tokengate::Error;
use tokengate::axum::{
    AccessToken, AnyToken, CurrentUser, FirstParty, FreshAccessToken, IssuedBy, RefreshToken,
    TokenPair,
};
use tokengate::login::LoginMethod;
use tokengate::users::{Password, Username};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::body::JsonBody;
use super::limits::LimitKey;
use super::metrics;
use super::openapi::{InvalidRequest, RateLimited, Unauthorized, Unavailable};
use crate::storage::{NewUser, User, UserId};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout, logout_by_delete))
        .routes(routes!(logout_all))
        .routes(routes!(change_password))
        .routes(routes!(me))
}

/// A username and a password.
#[derive(Deserialize, ToSchema)]
pub(super) struct Credentials {
    /// 3–64 letters, digits, `.`, `_`, `-`; unique whatever the case.
    #[schema(example = "ada")]
    pub(super) username: String,
    /// At least 8 characters (`password_min_length`), at most 1024 bytes.
    #[schema(format = Password)]
    pub(super) password: String,
}

/// A registered user.
#[derive(Serialize, ToSchema)]
struct Registered {
    #[schema(value_type = i64)]
    id: UserId,
    username: String,
}

/// A new token pair.
#[derive(Serialize, ToSchema)]
pub(super) struct TokenPairBody {
    access_token: String,
    refresh_token: String,
    /// Always `Bearer`.
    /// `Bearer`, or `DPoP` for tokens bound to the key of the request's DPoP proof.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
}

/// A confirmation.
#[derive(Serialize, ToSchema)]
pub(super) struct Message {
    #[schema(example = "logged out")]
    pub(super) msg: &'static str,
}

/// Register an account
#[utoipa::path(
    post,
    path = "/auth/register",
    operation_id = "register",
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 201, description = "The new user", body = Registered),
        (status = 400, response = InvalidRequest),
        (status = 403, description = "`registration_closed`: registration is disabled", body = super::openapi::ErrorBody),
        (status = 409, description = "`username_taken`: the name exists (in any case)", body = super::openapi::ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<Registered>), Error> {
    if !state.registration_open() {
        return Err(AccountRejection::RegistrationClosed.into());
    }
    // Every attempt counts, taken or not: each may cost a hash.
    let ip_key = LimitKey::RegistrationFrom(state.client_ip(peer, &headers));
    let rate = state.settings.registration_rate;
    state.registrations.check(&[(&ip_key, rate.count)]).await?;
    state.registrations.record_failure(&[&ip_key]).await;
    let username = Username::parse(&body.username)?;
    let password = Password::new(body.password, &state.password_policy())?;
    let hash = state
        .hasher
        .hash(&password)
        .await
        .map_err(|e| Error::from(tokengate::Unavailable::new(Backend::Service, e)))?;
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
        Json(Registered {
            id: user.id,
            username: user.username,
        }),
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
    let ip_key = LimitKey::LoginFrom(state.client_ip(peer, headers));
    // An unparseable name cannot exist, but it is checked (and counted) like any other.
    let username = Username::parse(&credentials.username).ok();
    let user_key = LimitKey::login_of(&credentials.username);
    let max = state.settings.login_max_failures;
    state
        .limiter
        .check(&[(&user_key, max), (&ip_key, max.saturating_mul(10))])
        .await?;
    let password = Password::for_login(credentials.password)
        .map_err(|_| Error::Account(AccountRejection::InvalidCredentials));
    let user = match &username {
        Some(name) => state.db.user_by_name(name).await?,
        None => None,
    };
    let valid = match &password {
        Ok(password) => {
            state
                .hasher
                .verify(
                    password,
                    user.as_ref().and_then(|u| u.password_hash.as_ref()),
                )
                .await
        }
        // Too long to hash: refuse after the same work as a wrong password.
        Err(_) => {
            let dummy = Password::for_login(String::new())
                .map_err(|_| Error::Account(AccountRejection::InvalidCredentials))?;
            state.hasher.verify(&dummy, None).await
        }
    };
    match user {
        // A disabled user is refused like a wrong password, after the same work.
        Some(user) if valid && !user.disabled => {
            state.limiter.clear(&user_key).await;
            Ok(user)
        }
        _ => {
            state.limiter.record_failure(&[&user_key, &ip_key]).await;
            Err(AccountRejection::InvalidCredentials.into())
        }
    }
}

/// A token pair's body: `token_type` `DPoP` for tokens bound to a key.
fn token_pair(pair: &TokenPair) -> Json<TokenPairBody> {
    Json(TokenPairBody {
        access_token: pair.access.token.clone(),
        refresh_token: pair.refresh.token.clone(),
        token_type: pair.token_type(),
        expires_in: pair.access.expires_in(),
    })
}

/// A token pair answer, with the next DPoP nonce when nonces are in use
/// (RFC 9449 §8.2: a client then needs no failed request to learn it).
pub(super) fn token_answer(state: &AppState, pair: &TokenPair) -> (HeaderMap, Json<TokenPairBody>) {
    let mut headers = HeaderMap::new();
    let now = state.gate.engine().clock().now();
    if let Some(nonce) = state.gate.dpop().nonce_at(now)
        && let Ok(value) = http::HeaderValue::from_str(&nonce)
    {
        headers.insert(tokengate::dpop::DPOP_NONCE, value);
    }
    (headers, token_pair(pair))
}

/// Log in
///
/// A fresh access token and a refresh token. Failed logins are limited per
/// username and per client IP.
#[utoipa::path(
    post,
    path = "/auth/login",
    operation_id = "login",
    tag = "auth",
    request_body = Credentials,
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for this request: the tokens are then bound to its key (`token_type` `DPoP`). Required when `dpop = \"required\"`")),
    responses(
        (status = 200, description = "A token pair (`DPoP-Nonce` holds the next nonce when nonces are on)", body = TokenPairBody),
        (status = 400, response = InvalidRequest),
        (status = 401, description = "`invalid_credentials`: wrong username or password; `invalid_dpop_proof` or `use_dpop_nonce`: the DPoP proof is refused", body = super::openapi::ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    parts: http::request::Parts,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<(HeaderMap, Json<TokenPairBody>), Error> {
    // The proof first: it costs a signature check, the password a hash.
    let key = state.gate.proof_key(&parts).await?;
    let headers = &parts.headers;
    let user = authenticate(&state, peer, headers, body).await?;
    let details = state.login_details(LoginMethod::Password, peer, headers);
    let details = match key {
        Some(key) => details.bound_to(key),
        None => details,
    };
    let pair = state.gate.login_with(&user, details).await?;
    Ok(token_answer(&state, &pair))
}

/// The user behind a token's `sub`; a deleted or disabled user's tokens
/// are refused.
pub(super) async fn subject(state: &AppState, sub: &str) -> Result<User, Error> {
    let id = sub
        .parse()
        .map_err(|_| Error::Token(TokenRejection::SubjectGone))?;
    state
        .db
        .user_by_id(UserId(id))
        .await?
        .filter(|user| !user.disabled)
        .ok_or(Error::Token(TokenRejection::SubjectGone))
}

/// Refresh a token pair
///
/// With a refresh token: a new pair; the used refresh token is spent, and
/// presenting it again revokes every token of that login.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    operation_id = "refresh",
    tag = "auth",
    security(("bearer" = []), ("refresh_cookie" = [], "csrf" = [])),
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof by the login's key, with `ath` over the refresh token, for a DPoP-bound refresh token (sent as `Authorization: DPoP <token>`)")),
    responses(
        (status = 200, description = "A new token pair, bound to the same key as the refresh token", body = TokenPairBody),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    token: RefreshToken,
) -> Result<(HeaderMap, Json<TokenPairBody>), Error> {
    let user = subject(&state, token.subject()).await?;
    let pair = state.gate.refresh(&user, &token.token).await;
    metrics::refresh(&pair);
    Ok(token_answer(&state, &pair?))
}

/// Log out
///
/// With an access or refresh token of this service: that token and its
/// login's refresh token are revoked.
#[utoipa::path(
    post,
    path = "/auth/logout",
    operation_id = "logout",
    tag = "auth",
    security(("bearer" = []), ("access_cookie" = [], "csrf" = []), ("refresh_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Logged out", body = Message),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn logout(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AnyToken>,
) -> Result<Json<Message>, Error> {
    state.gate.logout(&token.token).await?;
    metrics::revoked("logout");
    Ok(Json(Message { msg: "logged out" }))
}

/// Log out (DELETE)
///
/// The same as `POST /auth/logout` (an operation of its own: OpenAPI
/// operation ids are unique).
#[utoipa::path(
    delete,
    path = "/auth/logout",
    operation_id = "logout_delete",
    tag = "auth",
    security(("bearer" = []), ("access_cookie" = [], "csrf" = []), ("refresh_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Logged out", body = Message),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn logout_by_delete(
    state: State<AppState>,
    token: IssuedBy<FirstParty, AnyToken>,
) -> Result<Json<Message>, Error> {
    logout(state, token).await
}

/// Log out everywhere
///
/// Every token of the user issued before this request is revoked. Only this
/// service's tokens name a local user: a trusted issuer's `sub` lives in
/// that issuer's namespace, so these routes refuse its tokens.
#[utoipa::path(
    post,
    path = "/auth/logout-all",
    operation_id = "logout_all",
    tag = "auth",
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Every session logged out", body = Message),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn logout_all(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Json<Message>, Error> {
    state.gate.logout_all(token.subject()).await?;
    metrics::revoked("logout_all");
    Ok(Json(Message {
        msg: "every session logged out",
    }))
}

/// A password change.
#[derive(Deserialize, ToSchema)]
struct PasswordChange {
    #[schema(format = Password)]
    current_password: String,
    /// At least 8 characters (`password_min_length`), at most 1024 bytes.
    #[schema(format = Password)]
    new_password: String,
}

/// Change the password
///
/// Needs a fresh access token (from a login, not a refresh). Every token
/// issued before is revoked; the answer is a new pair.
#[utoipa::path(
    post,
    path = "/auth/password",
    operation_id = "change_password",
    tag = "auth",
    request_body = PasswordChange,
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "A new token pair", body = TokenPairBody),
        (status = 400, response = InvalidRequest),
        (status = 401, description = "A token error (`fresh_token_required` for a refreshed token, …) \
            or `invalid_credentials`: the current password is wrong", body = super::openapi::ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tokengate\"`, with `error=\"invalid_token\"` for a token error"))),
        (status = 503, response = Unavailable),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    token: FreshAccessToken,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<(HeaderMap, Json<TokenPairBody>), Error> {
    let user = subject(&state, token.subject()).await?;
    let current = Password::for_login(body.current_password)
        .map_err(|_| Error::Account(AccountRejection::InvalidCredentials))?;
    if !state
        .hasher
        .verify(&current, user.password_hash.as_ref())
        .await
    {
        return Err(AccountRejection::InvalidCredentials.into());
    }
    let new = Password::new(body.new_password, &state.password_policy()).map_err(|_| {
        Error::Request(RequestRejection::Invalid(format!(
            "new_password must be {}-1024 characters",
            state.settings.password_min_length
        )))
    })?;
    let hash = state
        .hasher
        .hash(&new)
        .await
        .map_err(|e| Error::from(tokengate::Unavailable::new(Backend::Service, e)))?;
    state.db.set_password(user.id, &hash).await?;
    state.gate.logout_all(token.subject()).await?;
    metrics::revoked("password_change");
    let details = state.login_details(LoginMethod::Password, peer, &headers);
    // A client with a DPoP key keeps it: the new login is bound like the old.
    let details = match token.claims().confirmation.clone() {
        Some(key) => details.bound_to(key),
        None => details,
    };
    let pair = state.gate.login_with(&user, details).await?;
    Ok(token_answer(&state, &pair))
}

/// The caller's account.
#[derive(Serialize, ToSchema)]
struct Me {
    #[schema(value_type = i64)]
    id: UserId,
    username: String,
    /// Granted scopes.
    scopes: Vec<String>,
    /// Granted roles.
    roles: Vec<String>,
    /// Provider accounts linked to the user (OIDC logins).
    identities: Vec<Identity>,
}

/// A provider account linked to a user.
#[derive(Serialize, ToSchema)]
struct Identity {
    /// The provider's configured name.
    provider: String,
    /// The user's `sub` at that provider.
    sub: String,
}

/// The current user
///
/// The user of this service's access token, with the provider accounts
/// linked to it (OIDC logins).
#[utoipa::path(
    get,
    path = "/auth/me",
    operation_id = "me",
    tag = "auth",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The user", body = Me),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn me(
    State(state): State<AppState>,
    CurrentUser(user, _): CurrentUser<User>,
) -> Result<Json<Me>, Error> {
    let identities = state
        .db
        .oidc_identities(user.id)
        .await?
        .into_iter()
        .map(|(provider, sub)| Identity { provider, sub })
        .collect();
    Ok(Json(Me {
        id: user.id,
        username: user.username,
        scopes: user.scopes,
        roles: user.roles,
        identities,
    }))
}
