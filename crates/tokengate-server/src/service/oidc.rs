//! Log in with an OpenID provider: `/auth/oidc/{name}/login`,
//! `/callback` and `/logout`. The protocol and the ID token checks are the
//! library's ([`tokengate::oidc`]); here the login becomes a local user
//! (linked by provider and `sub`, never by email) and tokengate's own
//! session cookies.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use std::sync::LazyLock;
use tokengate::{AccountRejection, RequestRejection};

use axum::response::{Html, IntoResponse, Redirect, Response};
use http::header::{ACCEPT, SET_COOKIE};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tokengate::Error;
use tokengate::axum::Requirement;
use tokengate::claims::TokenType;
use tokengate::forward::OriginalRequest;
use tokengate::login::{LoginDetails, LoginMethod};
use tokengate::oidc::{BindingCookie, Callback};
use tokengate::transport::SetCookies;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::openapi::{NotFound, Unavailable};

/// The cookie that ties a callback to the browser that started the login.
/// The browser binding of a login, on the path of every provider's callback.
static BINDING: LazyLock<BindingCookie> = LazyLock::new(|| BindingCookie::new("/auth/oidc"));

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(providers))
        .routes(routes!(login))
        .routes(routes!(callback))
        .routes(routes!(logout))
}

/// A provider users can log in with.
#[derive(Serialize, ToSchema)]
#[schema(as = OidcProvider)]
struct Provider {
    /// Its configured name, as in `/auth/oidc/{name}/login`.
    name: String,
}

/// OpenID providers
///
/// The providers users can log in with, for a login page's buttons.
#[utoipa::path(
    get,
    path = "/auth/oidc",
    operation_id = "oidc_providers",
    tag = "oidc",
    responses((status = 200, description = "The configured providers", body = Vec<Provider>))
)]
async fn providers(State(state): State<AppState>) -> Json<Vec<Provider>> {
    let names = state
        .oidc
        .providers()
        .map(|p| Provider {
            name: p.name.clone(),
        })
        .collect();
    Json(names)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LoginQuery {
    /// A local path to return to after the login (default: the original
    /// URI a forward-auth proxy sends in `X-Forwarded-Uri` or
    /// `X-Original-URI`, else `/`).
    next: Option<String>,
}

/// The provider's name of the OIDC routes' path.
const PROVIDER_NAME: &str = "A configured provider's name";

/// Start an OpenID login
///
/// Redirects to the provider's authorization endpoint (authorization code
/// with PKCE, state and nonce) and sets a cookie binding the login to this
/// browser.
#[utoipa::path(
    get,
    path = "/auth/oidc/{name}/login",
    operation_id = "oidc_login",
    tag = "oidc",
    params(("name" = String, Path, description = PROVIDER_NAME), LoginQuery),
    responses(
        (status = 303, description = "To the provider",
            headers(("Location" = String), ("Set-Cookie" = String, description = "`tg_oidc`, the browser binding"))),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn login(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<LoginQuery>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    // A proxy that sends a browser here in place of a refused request names
    // that request's URI in a header: nginx cannot url-encode it into
    // `next=`. It is reduced to a local path like `next`.
    let original = OriginalRequest::from_headers(&headers);
    let next = query.next.as_deref().or(original.uri());
    let begun = state.oidc.begin(&name, next).await?;
    let cookie = BINDING.set(state.gate.transport(), &begun.browser_binding);
    Ok((
        SetCookies::from(vec![cookie]),
        Redirect::to(&begun.redirect_url),
    )
        .into_response())
}

/// Finish an OpenID login
///
/// The provider's redirect: the code is exchanged, the ID token checked,
/// the identity linked to a local user, and the session cookies set. A
/// refusal is JSON, or an HTML page for a browser (`Accept: text/html`).
#[utoipa::path(
    get,
    path = "/auth/oidc/{name}/callback",
    operation_id = "oidc_callback",
    tag = "oidc",
    params(
        ("name" = String, Path, description = PROVIDER_NAME),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state of the request"),
        ("iss" = Option<String>, Query, description = "The provider's issuer (RFC 9207)"),
        ("error" = Option<String>, Query, description = "The provider's error code"),
        ("error_description" = Option<String>, Query, description = "Its description"),
    ),
    responses(
        (status = 303, description = "Logged in: to the `next` path, with the session cookies",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "The login was refused (`invalid_request`, `invalid_token`, …)",
            content((super::openapi::ErrorBody = "application/json"), (String = "text/html"))),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    let clear = BINDING.clear(state.gate.transport());
    let finished = match BINDING.read(&headers) {
        Ok(binding) => {
            let provider = LoginMethod::Oidc {
                provider: name.clone(),
            };
            let details = state.login_details(provider, peer, &headers);
            finish(&state, &name, &query, binding.as_deref(), details).await
        }
        Err(tossed) => Err(tossed),
    };
    super::metrics::login("oidc", &finished);
    match finished {
        Ok((next, session)) => {
            let cookies = session.and(SetCookies::from(vec![clear]));
            (cookies, Redirect::to(&next)).into_response()
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
    details: LoginDetails,
) -> Result<(String, SetCookies), Error> {
    let identity = state.oidc.finish(name, query, binding).await?;
    let user = state
        .db
        .user_for_oidc(
            &identity.provider,
            &identity.subject,
            identity.display_name.as_deref(),
        )
        .await?;
    if user.disabled {
        // The provider vouches for the account; tokengate's admin has disabled it.
        return Err(AccountRejection::InvalidCredentials.into());
    }
    let pair = state.gate.login_with(&user, details).await?;
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
    let cookies = state
        .gate
        .transport()
        .login_cookies(&pair.access, &pair.refresh);
    Ok((identity.next, cookies))
}

/// A refused callback: 400 (404 for an unknown provider, 503 when the
/// provider cannot be reached) with the `{"code","msg"}` body, or a readable page for
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

/// Log out at the provider
///
/// Ends tokengate's session (whichever of its tokens the cookies hold) and
/// sends the browser to the provider's logout with the login's ID token.
#[utoipa::path(
    get,
    path = "/auth/oidc/{name}/logout",
    operation_id = "oidc_logout",
    tag = "oidc",
    params(("name" = String, Path, description = PROVIDER_NAME)),
    security((), ("access_cookie" = []), ("refresh_cookie" = []), ("bearer" = [])),
    responses(
        (status = 303, description = "To the provider's logout (or `/`); the cookies cleared",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn logout(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, Error> {
    if !state.oidc.providers().any(|p| p.name == name) {
        return Err(RequestRejection::NotFound.into());
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
