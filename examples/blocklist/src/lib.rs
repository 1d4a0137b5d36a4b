//! The Flask-JWT-Extended API of the blocklist article. Register (409 on a
//! taken name), log in for an access and a refresh token, refresh, and log
//! out by putting the token's `jti` in a blocklist that outlives restarts.

mod blocklist;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokengate::{AccountRejection, Backend, Unavailable};

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
pub use blocklist::FileBlocklist;
use serde::Deserialize;
use serde_json::{Value, json};
use tokengate::Error;
use tokengate::axum::{
    AccessToken, AnyToken, CurrentUser, RefreshToken, TokenGate, TokenPair, UserLoader,
};
use tokengate::token::{TokenEngine, VerifiedToken};
use tokengate::transport::{TokenLocation, Transport};
use tokengate::users::{Password, PasswordHash, PasswordHasher, PasswordPolicy, Username};

/// The router state: the gate and the users.
#[derive(Clone)]
pub struct AppState {
    gate: TokenGate,
    hasher: PasswordHasher,
    // Kept in memory for brevity: a real application keeps users in its
    // database. Only the blocklist must survive a restart for this example.
    users: Arc<Mutex<HashMap<String, PasswordHash>>>,
}

impl FromRef<AppState> for TokenGate {
    fn from_ref(state: &AppState) -> TokenGate {
        state.gate.clone()
    }
}

// `current_user`: the user a token's `sub` names, or 401 if gone.
impl UserLoader for AppState {
    type User = String;
    async fn load_user(&self, token: &VerifiedToken) -> Result<Option<String>, Error> {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        Ok(users
            .contains_key(token.subject())
            .then(|| token.subject().to_owned()))
    }
}

/// The API, with tokens in the `Authorization` header and revocations in
/// the JSON-lines file `blocklist`.
pub fn app(engine: TokenEngine, blocklist: &Path) -> std::io::Result<Router> {
    let gate = TokenGate::new(engine)
        .with_transport(Transport::default().locations([TokenLocation::Headers]))
        .with_revocation(Arc::new(FileBlocklist::open(blocklist)?));
    let state = AppState {
        gate,
        hasher: PasswordHasher::new(2),
        users: Arc::default(),
    };
    Ok(Router::new()
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
        .route("/protected", get(protected))
        .route("/me", get(me))
        .with_state(state))
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

fn pair_json(pair: TokenPair) -> Json<Value> {
    Json(json!({
        "access_token": pair.access.token,
        "refresh_token": pair.refresh.token,
        "token_type": "Bearer",
        "expires_in": pair.access.expires_in(),
    }))
}

async fn register(
    State(state): State<AppState>,
    Json(body): Json<Credentials>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let username = Username::parse(&body.username)?;
    let password = Password::new(body.password, &PasswordPolicy::default())?;
    let hash = state
        .hasher
        .hash(&password)
        .await
        .map_err(|e| Error::from(Unavailable::new(Backend::Store, e)))?;
    // Names are unique whatever their case: `Alice` is taken once `alice` is.
    let key = username.key();
    let mut users = state.users.lock().unwrap_or_else(|e| e.into_inner());
    if users.contains_key(&key) {
        return Err(AccountRejection::UsernameTaken.into());
    }
    users.insert(key.clone(), hash);
    Ok((StatusCode::CREATED, Json(json!({"username": key}))))
}

async fn login(
    State(state): State<AppState>,
    Json(body): Json<Credentials>,
) -> Result<Json<Value>, Error> {
    let key = Username::parse(&body.username)
        .map(|u| u.key())
        .unwrap_or_default();
    let hash = state
        .users
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    let password = Password::for_login(body.password)?;
    // Verified even for an unknown user, so timing does not tell which names exist.
    if !state.hasher.verify(&password, hash.as_ref()).await || hash.is_none() {
        return Err(AccountRejection::InvalidCredentials.into());
    }
    Ok(pair_json(state.gate.login(key.as_str()).await?))
}

// Rotation: the presented refresh token is spent; presenting it again
// revokes the whole login (`token_revoked`), as a stolen copy would.
async fn refresh(State(state): State<AppState>, token: RefreshToken) -> Result<Json<Value>, Error> {
    Ok(pair_json(
        state.gate.refresh(token.subject(), &token.token).await?,
    ))
}

// Either token of a login ends both: their `jti`s land in the file.
async fn logout(State(state): State<AppState>, token: AnyToken) -> Result<Json<Value>, Error> {
    state.gate.logout(&token.token).await?;
    Ok(Json(json!({"msg": "logged out"})))
}

async fn protected(token: AccessToken) -> Json<Value> {
    Json(json!({"logged_in_as": token.subject()}))
}

async fn me(CurrentUser(username, _): CurrentUser<String>) -> Json<Value> {
    Json(json!({"username": username}))
}
