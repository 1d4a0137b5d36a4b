//! Seed 000: an Authlib / flask-oidc client of Keycloak. `/login` sends the
//! browser to the provider (authorization code with PKCE, `state`,
//! `nonce`), `/callback` checks the answer and the ID token and starts a
//! local cookie session, `/logout` ends it here and at the provider
//! (`id_token_hint`, `post_logout_redirect_uri`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{FromRef, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use tokengate::Error;
use tokengate::axum::{AccessToken, TokenGate};
use tokengate::oidc::{Callback, LOGIN_TIMEOUT, OidcLogin};

/// The provider's name in this app (one provider).
pub const PROVIDER: &str = "keycloak";
const BINDING_COOKIE: &str = "oidc_binding";

/// The router state.
#[derive(Clone)]
pub struct AppState {
    /// This app's session tokens.
    pub gate: TokenGate,
    /// The provider.
    pub oidc: OidcLogin,
    // The ID token of each login (by refresh family), for the logout's hint.
    id_tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl FromRef<AppState> for TokenGate {
    fn from_ref(state: &AppState) -> TokenGate {
        state.gate.clone()
    }
}

/// The routes; `oidc` must configure a provider named [`PROVIDER`].
pub fn app(gate: TokenGate, oidc: OidcLogin) -> Router {
    let state = AppState {
        gate,
        oidc,
        id_tokens: Arc::default(),
    };
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", get(logout))
        .with_state(state)
}

async fn home(token: Option<AccessToken>) -> String {
    match token {
        Some(token) => format!("logged in as {}", token.subject()),
        None => "not logged in: /login".to_owned(),
    }
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

// A provider that cannot be reached is a 503 `unavailable`, not a panic.
async fn login(
    State(state): State<AppState>,
    Query(query): Query<Next>,
) -> Result<Response, Error> {
    let begun = state.oidc.begin(PROVIDER, query.next.as_deref()).await?;
    // Ties the callback to this browser; Lax, as the callback is a
    // top-level navigation coming from the provider.
    let binding = format!(
        "{BINDING_COOKIE}={}; Path=/callback; Max-Age={}; HttpOnly; SameSite=Lax",
        begun.browser_binding,
        LOGIN_TIMEOUT.as_secs()
    );
    let binding = HeaderValue::try_from(binding).map_err(|e| Error::Unavailable(e.to_string()))?;
    Ok((
        AppendHeaders([(header::SET_COOKIE, binding)]),
        Redirect::to(&begun.redirect_url),
    )
        .into_response())
}

// Any failure (no state, another browser, a bad ID token, ...) is a 400 and starts nothing.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Result<Response, Error> {
    let binding = cookie(&headers, BINDING_COOKIE);
    let identity = state
        .oidc
        .finish(PROVIDER, &query, binding.as_deref())
        .await?;
    // The local user is the provider's `sub`, never the email.
    let pair = state
        .gate
        .login(&format!("{PROVIDER}:{}", identity.subject))
        .await?;
    if let Some(family) = &pair.refresh.family {
        state
            .id_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(family.clone(), identity.id_token);
    }
    let transport = state.gate.transport();
    let cookies = transport
        .set_access_cookies(&pair.access)
        .into_iter()
        .chain(transport.set_refresh_cookies(&pair.refresh));
    let cookies: Vec<_> = cookies.map(|c| (header::SET_COOKIE, c)).collect();
    Ok((AppendHeaders(cookies), Redirect::to(&identity.next)).into_response())
}

// A GET, as in the article: the session cookies are `SameSite` (default
// Lax), and a forced logout costs the user nothing but a new login.
async fn logout(
    State(state): State<AppState>,
    token: Option<AccessToken>,
) -> Result<Response, Error> {
    let mut hint = None;
    if let Some(token) = token {
        state.gate.logout(&token.token).await?;
        if let Some(family) = &token.claims().family {
            hint = state
                .id_tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(family);
        }
    }
    // Without an end_session_endpoint (or the provider down), just go home.
    let target = state
        .oidc
        .end_session_url(PROVIDER, hint.as_deref())
        .await
        .ok()
        .flatten();
    let cleared: Vec<_> = state
        .gate
        .transport()
        .unset_cookies()
        .into_iter()
        .map(|c| (header::SET_COOKIE, c))
        .collect();
    Ok((
        AppendHeaders(cleared),
        Redirect::to(target.as_deref().unwrap_or("/")),
    )
        .into_response())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
