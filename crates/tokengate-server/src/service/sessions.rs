//! The caller's sessions (logins): list them, end one, end the others.
//! The policy is the library's ([`TokenGate::sessions`](tokengate::axum::TokenGate::sessions)
//! and its neighbours); these routes only speak HTTP.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::Serialize;
use tokengate::axum::{AccessToken, FirstParty, IssuedBy};
use tokengate::clock::Timestamp;
use tokengate::ids::LoginId;
use tokengate::login::Session;
use tokengate::{Error, RequestRejection};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::metrics;
use super::openapi::{NotFound, Unauthorized, Unavailable};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, end_others))
        .routes(routes!(end_one))
}

/// The caller's live logins, newest first.
#[derive(Serialize, ToSchema)]
struct Sessions {
    sessions: Vec<SessionBody>,
}

/// One login: a refresh-token family neither ended nor expired.
#[derive(Serialize, ToSchema)]
struct SessionBody {
    /// The login's id (`DELETE /auth/sessions/{id}` ends it).
    id: String,
    /// When the user logged in (RFC 3339, UTC).
    #[schema(format = DateTime, example = "2026-12-03T07:10:23Z")]
    created_at: String,
    /// The login's last refresh, or its start (RFC 3339, UTC). Using an
    /// access token does not count: it is checked in memory.
    #[schema(format = DateTime, example = "2026-12-03T07:25:01Z")]
    last_used_at: String,
    /// The client's `User-Agent` at login, at most 256 characters.
    user_agent: Option<String>,
    /// The client's address at login (behind `trusted_proxies`, the forwarded one).
    #[schema(example = "192.0.2.7")]
    ip: Option<String>,
    /// `password`, `oidc` or `passkey`.
    #[schema(example = "password")]
    method: String,
    /// The OpenID provider's name, for an `oidc` login.
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    /// Whether this is the login of the token that asked.
    current: bool,
}

impl SessionBody {
    fn new(session: Session, current: Option<&LoginId>) -> Self {
        let details = session.details;
        SessionBody {
            current: current == Some(&session.id),
            id: session.id.into_string(),
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            user_agent: details.user_agent,
            ip: details.ip.map(|ip| ip.to_string()),
            method: details.method.as_str().to_owned(),
            provider: details.method.provider().map(str::to_owned),
        }
    }
}

/// `2026-12-03T07:10:23Z`: to the second, which is all a person reads.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp(at.as_secs())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// List the caller's sessions
///
/// Every live login of the caller (password, OpenID and passkey logins,
/// bearer and browser alike), newest first; `current` marks the login of the token
/// that asks. No token or CSRF value appears.
#[utoipa::path(
    get,
    path = "/auth/sessions",
    operation_id = "list_sessions",
    tag = "sessions",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The sessions", body = Sessions),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn list(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Json<Sessions>, Error> {
    let current = token.claims().family.as_ref();
    let sessions = state.gate.sessions(token.subject()).await?;
    Ok(Json(Sessions {
        sessions: sessions
            .into_iter()
            .map(|session| SessionBody::new(session, current))
            .collect(),
    }))
}

/// End a session
///
/// Every token of that login is refused from now on, on every instance
/// within the revocation propagation time, its refresh token too. Another
/// user's session and an unknown id get the same 404.
#[utoipa::path(
    delete,
    path = "/auth/sessions/{id}",
    operation_id = "end_session",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn end_one(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Error> {
    let Path(id) = id.map_err(|_| Error::Request(RequestRejection::NotFound))?;
    state
        .gate
        .end_session(token.subject(), &LoginId::from(id))
        .await?;
    metrics::sessions_ended("owner", 1);
    Ok(StatusCode::NO_CONTENT)
}

/// End the other sessions
///
/// Ends every login of the caller except the one of the token that asks.
#[utoipa::path(
    delete,
    path = "/auth/sessions",
    operation_id = "end_other_sessions",
    tag = "sessions",
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "The other sessions ended"),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn end_others(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<StatusCode, Error> {
    let ended = state.gate.end_other_sessions(&token.token).await?;
    metrics::sessions_ended("owner_others", ended);
    Ok(StatusCode::NO_CONTENT)
}
