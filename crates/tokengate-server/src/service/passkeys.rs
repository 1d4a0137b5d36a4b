//! Passkeys (WebAuthn): register them, list and remove them, log in with
//! them, and make an account with one instead of a password. The protocol
//! is the library's ([`tokengate::passkeys`], over webauthn-rs); these
//! routes keep each ceremony's state in the database (by its challenge,
//! spent once, [`CEREMONY_TTL`]) and speak HTTP.
//!
//! Failures: a malformed body or credential, and a challenge that is
//! unknown, expired, used already or another user's, are 400
//! `invalid_request`; at registration, so is a credential the relying
//! party refuses (another origin or relying party, a tampered
//! `clientDataJSON`, ...) or one registered already. At login, every
//! refusal of the passkey itself (unknown, another user's, a bad
//! signature, another origin, a cloned authenticator, a disabled user) is
//! one 401 `invalid_credentials`.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokengate::axum::{AccessToken, FirstParty, FreshAccessToken, IssuedBy};
use tokengate::clock::{self, Timestamp};
use tokengate::login::LoginMethod;
use tokengate::passkeys::{
    AuthenticationResponse, CEREMONY_TTL, PasskeyError, PasskeyId, RegistrationResponse, UserHandle,
};
use tokengate::users::Username;
use tokengate::{AccountRejection, Error, RequestRejection};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{subject, token_answer};
use super::body::JsonBody;
use super::limits::LimitKey;
use super::metrics;
use super::openapi::{InvalidRequest, NotFound, RateLimited, Unauthorized, Unavailable};
use super::sessions::rfc3339;
use crate::storage::{Ceremony, CeremonyKind, StoredPasskey, UserId};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(list))
        .routes(routes!(remove))
        .routes(routes!(login_start))
        .routes(routes!(login_finish))
        .routes(routes!(signup_start))
        .routes(routes!(signup_finish))
}

/// The longest passkey name, in characters.
const NAME_MAX_CHARS: usize = 64;

/// `{"publicKey": {...}}`: WebAuthn Level 3 JSON options for
/// `navigator.credentials.create()` or `.get()` (binary fields in
/// base64url; `PublicKeyCredential.parseCreationOptionsFromJSON` and
/// `parseRequestOptionsFromJSON` read them). A login without a username
/// adds `"mediation": "conditional"`.
#[derive(Serialize, ToSchema)]
// Described, never built: the library serializes the options.
#[allow(dead_code)]
struct Options {
    /// `PublicKeyCredentialCreationOptionsJSON` or
    /// `PublicKeyCredentialRequestOptionsJSON`.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: (),
    /// `conditional`, for a login without a username.
    #[serde(skip_serializing_if = "Option::is_none")]
    mediation: Option<String>,
}

/// A new passkey's name and the browser's answer.
#[derive(Deserialize, ToSchema)]
struct Finish {
    /// 1–64 characters (trimmed), no control characters: how the user
    /// tells their passkeys apart.
    #[schema(example = "laptop")]
    name: String,
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.create()`.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// A registered passkey.
#[derive(Serialize, ToSchema)]
struct PasskeyBody {
    /// The credential id (base64url); `DELETE /auth/passkeys/{id}` removes it.
    id: String,
    #[schema(example = "laptop")]
    name: String,
}

/// The caller's passkeys, newest first.
#[derive(Serialize, ToSchema)]
struct Passkeys {
    passkeys: Vec<PasskeyListed>,
}

/// One passkey.
#[derive(Serialize, ToSchema)]
struct PasskeyListed {
    /// The credential id (base64url).
    id: String,
    name: String,
    /// When it was registered (RFC 3339, UTC).
    #[schema(format = DateTime, example = "2026-12-03T07:10:23Z")]
    created_at: String,
    /// Its last login (RFC 3339, UTC); null if never used.
    #[schema(format = DateTime, example = "2026-12-03T07:25:01Z")]
    last_used_at: Option<String>,
}

/// An optional username: without one, any passkey of this site may answer
/// (a discoverable credential names its user).
#[derive(Deserialize, ToSchema, Default)]
struct LoginStart {
    #[schema(example = "ada")]
    username: Option<String>,
}

/// The browser's answer to a login.
#[derive(Deserialize, ToSchema)]
struct LoginFinish {
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.get()`.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// `true`: the tokens in the browser-session cookies, as
    /// `POST /auth/session` sets them; else a token pair, as
    /// `POST /auth/login` answers.
    #[serde(default)]
    session: bool,
}

/// The username of a new account without a password.
#[derive(Deserialize, ToSchema)]
struct SignupStart {
    /// 3–64 letters, digits, `.`, `_`, `-`; unique whatever the case.
    #[schema(example = "ada")]
    username: String,
}

/// A new account and its passkey.
#[derive(Serialize, ToSchema)]
struct SignedUp {
    #[schema(value_type = i64)]
    id: UserId,
    username: String,
    passkey: PasskeyBody,
}

fn invalid(msg: impl Into<String>) -> Error {
    RequestRejection::Invalid(msg.into()).into()
}

/// A passkey's name: trimmed, 1–64 characters, no control characters.
fn passkey_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "name must be 1-{NAME_MAX_CHARS} characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

/// The browser's answer, as the library reads it; 400 naming the field.
fn credential<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| {
        invalid(format!(
            "credential is not a PublicKeyCredential's JSON: {e}"
        ))
    })
}

fn unknown_challenge(what: &str) -> Error {
    invalid(format!(
        "no passkey {what} is waiting for this challenge (unknown, expired, used already or \
         another user's): start again"
    ))
}

fn expires(now: Timestamp) -> Timestamp {
    now.saturating_add(CEREMONY_TTL)
}

fn options_answer(options: &impl Serialize) -> Response {
    Json(options).into_response()
}

/// Start registering a passkey
///
/// For the signed-in caller: the options of `navigator.credentials.create()`
/// (the caller's passkeys excluded). The challenge is kept on the server
/// for 5 minutes, for this user, and is used once.
#[utoipa::path(
    post,
    path = "/auth/passkeys/register/start",
    operation_id = "passkey_register_start",
    tag = "passkeys",
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The creation options", body = Options),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn register_start(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Response, Error> {
    let user = subject(&state, token.subject()).await?;
    let handle = state.db.webauthn_handle(user.id).await?;
    let held: Vec<PasskeyId> = state
        .db
        .passkeys_of(user.id)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let user_id = user.id;
    start_registration(&state, &handle, &user.username, &held, |started| {
        Ceremony::Register {
            user: user_id,
            state: started,
        }
    })
    .await
}

/// The options of a registration for `handle`, its ceremony (made by
/// `ceremony` from the started state) kept until [`expires`].
async fn start_registration(
    state: &AppState,
    handle: &UserHandle,
    name: &str,
    held: &[PasskeyId],
    ceremony: impl FnOnce(tokengate::passkeys::RegistrationState) -> Ceremony,
) -> Result<Response, Error> {
    let (options, started) = state
        .passkeys
        .start_registration(handle, name, held)
        .map_err(unavailable)?;
    let now = clock::now();
    state
        .db
        .put_ceremony(&options.challenge(), &ceremony(started), expires(now), now)
        .await?;
    Ok(options_answer(&options))
}

/// A relying-party failure that is not the client's: 503.
fn unavailable(e: PasskeyError) -> Error {
    Error::from(tokengate::Unavailable::new(tokengate::Backend::Service, e))
}

/// Finish registering a passkey
///
/// The browser's answer to the options of `register/start`, and a name. A
/// user may hold several passkeys; one registered already (by anyone) is
/// refused with 400.
#[utoipa::path(
    post,
    path = "/auth/passkeys/register/finish",
    operation_id = "passkey_register_finish",
    tag = "passkeys",
    request_body = Finish,
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The new passkey", body = PasskeyBody),
        (status = 400, description = "`invalid_request`: a bad name or body; no registration waiting for the challenge (expired, finished, another user's); the relying party refused the credential (another origin or relying party, a tampered `clientDataJSON`, no user verification, ...); the passkey is registered already", body = super::openapi::ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn register_finish(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
    JsonBody(body): JsonBody<Finish>,
) -> Result<(StatusCode, Json<PasskeyBody>), Error> {
    let user = subject(&state, token.subject()).await?;
    let name = passkey_name(&body.name)?;
    let response: RegistrationResponse = credential(body.credential)?;
    let challenge = response
        .challenge()
        .ok_or_else(|| invalid("credential: its clientDataJSON names no challenge"))?;
    let now = clock::now();
    let Some(Ceremony::Register { state: started, .. }) = state
        .db
        .take_ceremony(&challenge, CeremonyKind::Register(user.id), now)
        .await?
    else {
        return Err(unknown_challenge("registration"));
    };
    let passkey = state
        .passkeys
        .finish_registration(&response, &started)
        .map_err(|e| invalid(format!("credential: {e}")))?;
    let stored = state.db.add_passkey(user.id, &name, &passkey, now).await?;
    tracing::info!(user = %user.id, passkey = %stored.id, "passkey registered");
    Ok((
        StatusCode::CREATED,
        Json(PasskeyBody {
            id: stored.id.into_string(),
            name: stored.name,
        }),
    ))
}

/// List the caller's passkeys
///
/// Newest first; no key material.
#[utoipa::path(
    get,
    path = "/auth/passkeys",
    operation_id = "list_passkeys",
    tag = "passkeys",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The passkeys", body = Passkeys),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn list(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Json<Passkeys>, Error> {
    let user = subject(&state, token.subject()).await?;
    let passkeys = state.db.passkeys_of(user.id).await?;
    Ok(Json(Passkeys {
        passkeys: passkeys.into_iter().map(listed).collect(),
    }))
}

fn listed(passkey: StoredPasskey) -> PasskeyListed {
    PasskeyListed {
        id: passkey.id.into_string(),
        name: passkey.name,
        created_at: rfc3339(passkey.created_at),
        last_used_at: passkey.last_used_at.map(rfc3339),
    }
}

/// Remove a passkey
///
/// Needs a fresh access token (from a login, not a refresh), as a password
/// change does. Another user's passkey and an unknown id get the same 404.
/// The logins made with it go on (`DELETE /auth/sessions/{id}` ends them).
#[utoipa::path(
    delete,
    path = "/auth/passkeys/{id}",
    operation_id = "remove_passkey",
    tag = "passkeys",
    params(("id" = String, Path, description = "The passkey's id (base64url)")),
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn remove(
    State(state): State<AppState>,
    token: FreshAccessToken,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Error> {
    let Path(id) = id.map_err(|_| Error::Request(RequestRejection::NotFound))?;
    let user = subject(&state, token.subject()).await?;
    if !state
        .db
        .remove_passkey(user.id, &PasskeyId::from(id))
        .await?
    {
        return Err(RequestRejection::NotFound.into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Start a passkey login
///
/// With `{"username"}`: the options list that user's passkeys (an unknown
/// user, or one without passkeys, gets options of the same shape that no
/// passkey can answer). Without a body (or without `username`): any
/// passkey of this site may answer, and names its user (a discoverable
/// credential). The challenge is kept on the server for 5 minutes and is
/// used once.
#[utoipa::path(
    post,
    path = "/auth/passkeys/login/start",
    operation_id = "passkey_login_start",
    tag = "passkeys",
    request_body(content = Option<LoginStart>, description = "Optional: `{}` or no body for a login without a username"),
    responses(
        (status = 200, description = "The request options", body = Options),
        (status = 400, response = InvalidRequest),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn login_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    // Every start stores a ceremony: a client address may start as many as
    // it may fail password logins (10x `login_max_failures` per
    // `login_failure_window`), so that a flood from one address cannot push
    // other people's ceremonies out of the table.
    let ip_key = LimitKey::PasskeyStartsFrom(state.client_ip(peer, &headers));
    let max = state.settings.login_max_failures.saturating_mul(10);
    state.limiter.check(&[(&ip_key, max)]).await?;
    state.limiter.record_failure(&[&ip_key]).await;
    let start: LoginStart = if body.iter().all(u8::is_ascii_whitespace) {
        LoginStart::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| invalid(format!("invalid body: {e}")))?
    };
    let rp = &state.passkeys;
    let service = unavailable;
    let (options, ceremony) = match start.username.as_deref() {
        None => {
            let (options, started) = rp.start_discoverable_authentication().map_err(service)?;
            (
                options,
                Ceremony::Login {
                    user: None,
                    state: started,
                },
            )
        }
        Some(name) => {
            let user = match Username::parse(name) {
                Ok(username) => state.db.user_by_name(&username).await?,
                Err(_) => None,
            };
            let passkeys = match &user {
                Some(user) => state.db.passkeys_of(user.id).await?,
                None => Vec::new(),
            };
            match user {
                Some(user) if !passkeys.is_empty() => {
                    let credentials: Vec<_> = passkeys.into_iter().map(|p| p.credential).collect();
                    let (options, started) =
                        rp.start_authentication(&credentials).map_err(service)?;
                    (
                        options,
                        Ceremony::Login {
                            user: Some(user.id),
                            state: started,
                        },
                    )
                }
                // No account, or no passkey: options no passkey answers,
                // of the same shape, the same for the name every time.
                _ => {
                    let (options, started) = rp
                        .start_decoy_authentication(&name.to_lowercase())
                        .map_err(service)?;
                    (
                        options,
                        Ceremony::Login {
                            user: None,
                            state: started,
                        },
                    )
                }
            }
        }
    };
    let now = clock::now();
    state
        .db
        .put_ceremony(&options.challenge(), &ceremony, expires(now), now)
        .await?;
    Ok(options_answer(&options))
}

/// Log in with a passkey
///
/// The browser's answer to the options of `login/start`. Answers as
/// `POST /auth/login` (a token pair), or with `"session": true` as
/// `POST /auth/session` (the four cookies). The login is listed in
/// `GET /auth/sessions` with `method` `passkey`.
#[utoipa::path(
    post,
    path = "/auth/passkeys/login/finish",
    operation_id = "passkey_login_finish",
    tag = "passkeys",
    request_body = LoginFinish,
    responses(
        (status = 200, description = "A token pair (`{\"access_token\",\"refresh_token\",\"token_type\",\"expires_in\"}`), or with `session` the user of the new browser session (`{\"id\",\"username\",\"expires_in\"}`) and four cookies", body = Object,
            headers(("Set-Cookie" = String, description = "With `session`: `access_token_cookie` and `refresh_token_cookie` (HttpOnly), `csrf_access_token` and `csrf_refresh_token`"))),
        (status = 400, description = "`invalid_request`: a bad body or credential JSON; no login waiting for the challenge (unknown, expired or used already)", body = super::openapi::ErrorBody),
        (status = 401, description = "`invalid_credentials`: the passkey was not accepted (unknown, another user's, a bad signature, another origin or relying party, a tampered `clientDataJSON`, a cloned authenticator, a disabled user)", body = super::openapi::ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn login_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginFinish>,
) -> Result<Response, Error> {
    let session = body.session;
    let result = check_passkey(&state, peer, &headers, body).await;
    metrics::login("passkey", &result);
    let user = result?;
    let details = state.login_details(LoginMethod::Passkey, peer, &headers);
    let pair = state.gate.login_with(&user, details).await?;
    Ok(if session {
        super::browser::with_cookies(&state, &pair, &user)
    } else {
        token_answer(&state, &pair).into_response()
    })
}

/// The user a login's answer proves, under the failed-login limit of the
/// client's address; every refusal of the passkey is one 401.
async fn check_passkey(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: LoginFinish,
) -> Result<crate::storage::User, Error> {
    let ip_key = LimitKey::LoginFrom(state.client_ip(peer, headers));
    let max = state.settings.login_max_failures.saturating_mul(10);
    state.limiter.check(&[(&ip_key, max)]).await?;
    let response: AuthenticationResponse = credential(body.credential)?;
    let challenge = response
        .challenge()
        .ok_or_else(|| invalid("credential: its clientDataJSON names no challenge"))?;
    let now = clock::now();
    let Some(Ceremony::Login {
        user: expected,
        state: started,
    }) = state
        .db
        .take_ceremony(&challenge, CeremonyKind::Login, now)
        .await?
    else {
        return Err(unknown_challenge("login"));
    };
    let verified = verify(state, &response, &started, expected, now).await?;
    match verified {
        Ok(user) => Ok(user),
        Err(why) => {
            tracing::info!(passkey = %response.passkey_id(), reason = why, "passkey login refused");
            state.limiter.record_failure(&[&ip_key]).await;
            Err(AccountRejection::PasskeyRefused.into())
        }
    }
}

/// The passkey's owner if the answer is good (`Err`: why not, for the log).
async fn verify(
    state: &AppState,
    response: &AuthenticationResponse,
    started: &tokengate::passkeys::AuthenticationState,
    expected: Option<UserId>,
    now: Timestamp,
) -> Result<Result<crate::storage::User, String>, Error> {
    let id = response.passkey_id();
    let Some((mut passkey, handle)) = state.db.passkey(&id).await? else {
        return Ok(Err("unknown passkey".into()));
    };
    if expected.is_some_and(|user| user != passkey.user_id) {
        return Ok(Err("another user's passkey".into()));
    }
    let Some(handle) = handle else {
        return Ok(Err("its owner has no user handle".into()));
    };
    let done = match state.passkeys.finish_authentication(
        response,
        started,
        &mut passkey.credential,
        &handle,
    ) {
        Ok(done) => done,
        Err(e) => return Ok(Err(e.to_string())),
    };
    // Recorded before the user is checked: the signature was good, and a
    // counter it moved must not be accepted again.
    let updated = done.updated.then_some((&passkey.credential, done.counter));
    state.db.passkey_used(&id, updated, now).await?;
    match state.db.user_by_id(passkey.user_id).await? {
        Some(user) if !user.disabled => Ok(Ok(user)),
        Some(_) => Ok(Err("the user is disabled".into())),
        None => Ok(Err("the user is gone".into())),
    }
}

/// Start an account with a passkey
///
/// A new account without a password: the options of
/// `navigator.credentials.create()` for `username` (registration must be
/// open; limited by `registration_rate` like `POST /auth/register`). The
/// name is taken only when `register/passkey/finish` succeeds.
#[utoipa::path(
    post,
    path = "/auth/register/passkey/start",
    operation_id = "passkey_signup_start",
    tag = "passkeys",
    request_body = SignupStart,
    responses(
        (status = 200, description = "The creation options", body = Options),
        (status = 400, response = InvalidRequest),
        (status = 403, description = "`registration_closed`: registration is disabled", body = super::openapi::ErrorBody),
        (status = 409, description = "`username_taken`: the name exists (in any case)", body = super::openapi::ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
async fn signup_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignupStart>,
) -> Result<Response, Error> {
    if !state.registration_open() {
        return Err(AccountRejection::RegistrationClosed.into());
    }
    // Every attempt counts, as at /auth/register.
    let ip_key = LimitKey::RegistrationFrom(state.client_ip(peer, &headers));
    let rate = state.settings.registration_rate;
    state.registrations.check(&[(&ip_key, rate.count)]).await?;
    state.registrations.record_failure(&[&ip_key]).await;
    let username = Username::parse(&body.username)?;
    if state.db.user_by_name(&username).await?.is_some() {
        return Err(AccountRejection::UsernameTaken.into());
    }
    let handle = UserHandle::random();
    let name = username.as_str().to_owned();
    start_registration(&state, &handle, &name, &[], |started| Ceremony::Signup {
        username,
        handle,
        state: started,
    })
    .await
}

/// Finish an account with a passkey
///
/// The browser's answer to the options of `register/passkey/start`, and
/// the passkey's name: the user (without a password: `POST /auth/login`
/// refuses it until one is set) and its passkey, made together or not at
/// all. No tokens: log in with the passkey next.
#[utoipa::path(
    post,
    path = "/auth/register/passkey/finish",
    operation_id = "passkey_signup_finish",
    tag = "passkeys",
    request_body = Finish,
    responses(
        (status = 201, description = "The new user and its passkey", body = SignedUp),
        (status = 400, description = "`invalid_request`: a bad name or body; no account waiting for the challenge (expired or finished); the relying party refused the credential; the passkey is registered already", body = super::openapi::ErrorBody),
        (status = 403, description = "`registration_closed`: registration is disabled", body = super::openapi::ErrorBody),
        (status = 409, description = "`username_taken`: the name was taken meanwhile", body = super::openapi::ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
async fn signup_finish(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Finish>,
) -> Result<(StatusCode, Json<SignedUp>), Error> {
    if !state.registration_open() {
        return Err(AccountRejection::RegistrationClosed.into());
    }
    let name = passkey_name(&body.name)?;
    let response: RegistrationResponse = credential(body.credential)?;
    let challenge = response
        .challenge()
        .ok_or_else(|| invalid("credential: its clientDataJSON names no challenge"))?;
    let now = clock::now();
    let Some(Ceremony::Signup {
        username,
        handle,
        state: started,
    }) = state
        .db
        .take_ceremony(&challenge, CeremonyKind::Signup, now)
        .await?
    else {
        return Err(unknown_challenge("account"));
    };
    let passkey = state
        .passkeys
        .finish_registration(&response, &started)
        .map_err(|e| invalid(format!("credential: {e}")))?;
    let (user, stored) = state
        .db
        .create_passkey_user(&username, &handle, &name, &passkey, now)
        .await?;
    tracing::info!(user = %user.id, passkey = %stored.id, "account made with a passkey");
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            id: user.id,
            username: user.username,
            passkey: PasskeyBody {
                id: stored.id.into_string(),
                name: stored.name,
            },
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_short_and_printable() {
        assert_eq!(passkey_name("  laptop ").unwrap(), "laptop");
        assert_eq!(passkey_name(&"é".repeat(64)).unwrap(), "é".repeat(64));
        for bad in ["", "   ", "a\u{7}b", "tab\there", &"x".repeat(65)] {
            assert!(passkey_name(bad).is_err(), "{bad:?}");
        }
    }
}
