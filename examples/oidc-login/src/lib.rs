//! An Authlib / flask-oidc client of Keycloak. `/login` sends the
//! browser to the provider (authorization code with PKCE, `state`,
//! `nonce`), `/callback` checks the answer and the ID token and starts a
//! local cookie session, `/logout` ends it here and at the provider
//! (`id_token_hint`, `post_logout_redirect_uri`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{FromRef, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use tokengate::Error;
use tokengate::axum::{AccessToken, TokenGate};
use tokengate::ids::LoginId;
use tokengate::oidc::{BindingCookie, Callback, OidcLogin};
use tokengate::transport::SetCookies;

/// The provider's name in this app (one provider).
pub const PROVIDER: &str = "keycloak";

/// The router state.
#[derive(Clone)]
pub struct AppState {
    /// This app's session tokens.
    pub gate: TokenGate,
    /// The provider.
    pub oidc: OidcLogin,
    // The ID token of each login (by refresh family), for the logout's hint.
    id_tokens: Arc<Mutex<HashMap<LoginId, String>>>,
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
    // Ties the callback to this browser (HttpOnly, SameSite=Lax: the
    // callback is a top-level navigation coming from the provider).
    let binding = binding().set(state.gate.transport(), &begun.browser_binding);
    Ok((
        SetCookies::from(vec![binding]),
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
    // A binding cookie sent twice (one planted) is refused.
    let bound = binding().read(&headers)?;
    let identity = state
        .oidc
        .finish(PROVIDER, &query, bound.as_deref())
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
    let cookies = state
        .gate
        .transport()
        .login_cookies(&pair.access, &pair.refresh)
        .and(SetCookies::from(vec![
            binding().clear(state.gate.transport()),
        ]));
    Ok((cookies, Redirect::to(&identity.next)).into_response())
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
    Ok((
        state.gate.transport().logout_cookies(),
        Redirect::to(target.as_deref().unwrap_or("/")),
    )
        .into_response())
}

/// The browser binding of a login, on the callback's path.
fn binding() -> BindingCookie {
    BindingCookie::new("/callback")
}
