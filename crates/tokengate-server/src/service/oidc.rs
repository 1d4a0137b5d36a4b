//! Log in with an OpenID provider (seed 000): `/auth/oidc/{name}/login`,
//! `/callback` and `/logout`. The protocol and the ID token checks are the
//! library's ([`tokengate::oidc`]); here the login becomes a local user
//! (linked by provider and `sub`, never by email) and tokengate's own
//! session cookies.

use axum::extract::{Path, Query, Request, State};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::{ACCEPT, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use tokengate::Error;
use tokengate::axum::Requirement;
use tokengate::claims::TokenType;
use tokengate::oidc::{Callback, LOGIN_TIMEOUT};

use super::AppState;

/// The cookie that ties a callback to the browser that started the login.
const BINDING_COOKIE: &str = "tg_oidc";
const BINDING_PATH: &str = "/auth/oidc";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc", get(providers))
        .route("/auth/oidc/{name}/login", get(login))
        .route("/auth/oidc/{name}/callback", get(callback))
        .route("/auth/oidc/{name}/logout", get(logout))
}

/// The providers users can log in with, for a login page's buttons.
async fn providers(State(state): State<AppState>) -> Json<serde_json::Value> {
    let names: Vec<serde_json::Value> = state
        .oidc
        .providers()
        .map(|p| serde_json::json!({"name": p.name}))
        .collect();
    Json(serde_json::Value::Array(names))
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, Error> {
    let begun = state.oidc.begin(&name, query.next.as_deref()).await?;
    let cookie = binding_cookie(&state, &begun.browser_binding, LOGIN_TIMEOUT.as_secs());
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        Redirect::to(&begun.redirect_url),
    )
        .into_response())
}

async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    let binding = cookie(&headers, BINDING_COOKIE);
    let clear = binding_cookie(&state, "", 0);
    let finished = finish(&state, &name, &query, binding.as_deref()).await;
    super::metrics::login("oidc", &finished);
    match finished {
        Ok((next, session)) => {
            let cookies = session.into_iter().chain([clear]).map(|c| (SET_COOKIE, c));
            (
                AppendHeaders(cookies.collect::<Vec<_>>()),
                Redirect::to(&next),
            )
                .into_response()
        }
        Err(error) => {
            tracing::info!(provider = %name, error = %error, "OIDC login refused");
            let mut response = refusal(&headers, &error);
            response.headers_mut().append(SET_COOKIE, clear);
            response
        }
    }
}

/// The login: checked by the library, then a local user and a session.
async fn finish(
    state: &AppState,
    name: &str,
    query: &Callback,
    binding: Option<&str>,
) -> Result<(String, Vec<HeaderValue>), Error> {
    let identity = state.oidc.finish(name, query, binding).await?;
    let user = state
        .db
        .user_for_oidc(
            &identity.provider,
            &identity.subject,
            identity.display_name.as_deref(),
        )
        .await?;
    let pair = state.gate.login(&user).await?;
    if let Some(family) = &pair.refresh.family {
        state
            .db
            .save_oidc_login(
                family,
                &identity.provider,
                &identity.id_token,
                pair.refresh.expires_at,
            )
            .await?;
    }
    let transport = state.gate.transport();
    let cookies = transport
        .set_access_cookies(&pair.access)
        .into_iter()
        .chain(transport.set_refresh_cookies(&pair.refresh))
        .collect();
    Ok((identity.next, cookies))
}

/// A refused callback: 400 (404 for an unknown provider, 503 when the
/// provider cannot be reached) with SPEC.md's body, or a readable page for
/// a browser.
fn refusal(headers: &HeaderMap, error: &Error) -> Response {
    let status = match error.status() {
        StatusCode::NOT_FOUND | StatusCode::SERVICE_UNAVAILABLE => error.status(),
        _ => StatusCode::BAD_REQUEST,
    };
    let wants_html = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let body = error.body();
    if wants_html {
        let page = format!(
            "<!doctype html><meta charset=utf-8><title>Login failed</title>\
             <h1>Login failed</h1><p>{}</p><p><code>{}</code></p><p><a href=\"/\">Back</a></p>",
            escape(&body.msg),
            escape(&body.code)
        );
        (status, Html(page)).into_response()
    } else {
        (status, Json(body)).into_response()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Ends tokengate's session (whichever of its tokens the cookies hold) and
/// sends the browser to the provider's logout with the login's ID token.
async fn logout(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, Error> {
    if !state.oidc.providers().any(|p| p.name == name) {
        return Err(Error::NotFound);
    }
    let (parts, _) = request.into_parts();
    let mut id_token = None;
    for token_type in [TokenType::Access, TokenType::Refresh] {
        let requirement = Requirement {
            token_type,
            fresh: false,
        };
        let Ok((_, token)) = state.gate.authenticate(&parts, requirement).await else {
            continue;
        };
        if !token.origin.is_first_party() {
            continue;
        }
        if let Some(family) = &token.claims.family
            && let Some((provider, saved)) = state.db.oidc_login(family).await?
            && provider == name
        {
            id_token = Some(saved);
            state.db.delete_oidc_login(family).await?;
        }
        state.gate.logout(&token).await?;
        super::metrics::revoked("logout");
        break;
    }
    let target = state
        .oidc
        .end_session_url(&name, id_token.as_deref())
        .await
        .unwrap_or(None)
        .unwrap_or_else(|| "/".to_owned());
    Ok((state.cleared_cookies(), Redirect::to(&target)).into_response())
}

fn binding_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.settings.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    // Lax: the callback is a top-level navigation from the provider.
    let cookie = format!(
        "{BINDING_COOKIE}={value}; Path={BINDING_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    );
    // The value is a UUID (or empty): always a valid header value.
    HeaderValue::try_from(cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
