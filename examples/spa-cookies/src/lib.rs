//! Flask-JWT-Extended behind a Vue SPA. The JWTs live in HttpOnly
//! `SameSite=Strict` cookies that scripts cannot read; every POST must echo
//! the script-readable `csrf_access_token` cookie in `X-CSRF-TOKEN` (double
//! submit), so another site cannot post with the user's cookies.

use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokengate::Error;
use tokengate::axum::{AccessToken, AnyToken, Identity, RefreshToken, TokenGate, TokenPair};
use tokengate::token::TokenEngine;
use tokengate::transport::{CookieSettings, SameSite, SetCookies, TokenLocation, Transport};
use tokengate::{AccountRejection, TokenRejection};
use tower_http::cors::CorsLayer;

/// A user of the demo. A real application loads users from its database
/// and checks an argon2 hash (see the `blocklist` example).
struct User {
    name: &'static str,
    role: &'static str,
}

const USERS: &[(User, &str)] = &[(
    User {
        name: "alice",
        role: "admin",
    },
    "correct horse",
)];

// The article's extra claims: the role travels in the token, so routes need no lookup.
impl Identity for User {
    fn identity(&self) -> String {
        self.name.to_owned()
    }
    fn additional_claims(&self) -> Map<String, Value> {
        Map::from_iter([("role".to_owned(), json!(self.role))])
    }
}

#[derive(Deserialize)]
struct Role {
    role: Option<String>,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// The gate: tokens from cookies only, `SameSite=Strict`, CSRF checked on
/// POST/PUT/PATCH/DELETE (tokengate's default once cookies are a location).
pub fn gate(engine: TokenEngine) -> TokenGate {
    let transport = Transport::default()
        .locations([TokenLocation::Cookies])
        .cookie_settings(CookieSettings::default().same_site(SameSite::Strict));
    TokenGate::new(engine).with_transport(transport)
}

/// The SPA's API, answering CORS requests of `frontend` (the Vue dev
/// server's origin) with credentials, so the browser sends the cookies.
pub fn app(gate: TokenGate, frontend: HeaderValue) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(frontend)
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, gate.transport().csrf_header.clone()]);
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/status", get(status))
        .route("/api/memos", post(create_memo))
        .layer(cors)
        .with_state(gate)
}

fn session_cookies(gate: &TokenGate, pair: &TokenPair) -> SetCookies {
    gate.transport().login_cookies(&pair.access, &pair.refresh)
}

async fn login(
    State(gate): State<TokenGate>,
    Json(body): Json<Credentials>,
) -> Result<impl IntoResponse, Error> {
    let (user, _) = USERS
        .iter()
        .find(|(u, password)| u.name == body.username && *password == body.password)
        .ok_or(Error::Account(AccountRejection::InvalidCredentials))?;
    let pair = gate.login(user).await?;
    Ok((
        session_cookies(&gate, &pair),
        Json(json!({"user": user.name, "role": user.role})),
    ))
}

// The refresh cookie has its own CSRF cookie (`csrf_refresh_token`).
async fn refresh(
    State(gate): State<TokenGate>,
    token: RefreshToken,
) -> Result<impl IntoResponse, Error> {
    let user = USERS
        .iter()
        .map(|(u, _)| u)
        .find(|u| u.name == token.subject())
        .ok_or(Error::Token(TokenRejection::SubjectGone))?;
    let pair = gate.refresh(user, &token.token).await?;
    Ok((
        session_cookies(&gate, &pair),
        Json(json!({"refreshed": true})),
    ))
}

// Revokes the login (both tokens), then clears all four cookies.
async fn logout(
    State(gate): State<TokenGate>,
    token: AnyToken,
) -> Result<impl IntoResponse, Error> {
    gate.logout(&token.token).await?;
    Ok((
        gate.transport().logout_cookies(),
        Json(json!({"logged_out": true})),
    ))
}

// What the SPA asks on load: no cookie is not an error, just logged out.
async fn status(token: Option<AccessToken<Role>>) -> Json<Value> {
    match token {
        Some(token) => {
            Json(json!({"logged_in": true, "user": token.subject(), "role": token.custom.role}))
        }
        None => Json(json!({"logged_in": false})),
    }
}

// The extractor checks `X-CSRF-TOKEN` against the token's `csrf` claim
// before this runs: a cross-site POST is a 401 `csrf_failed`.
async fn create_memo(token: AccessToken, Json(memo): Json<Value>) -> Json<Value> {
    Json(json!({"author": token.subject(), "memo": memo}))
}
