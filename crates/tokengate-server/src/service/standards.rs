//! The OAuth endpoints of the service's clients (`[[clients]]`): token
//! introspection (RFC 7662), token revocation (RFC 7009), and the
//! authorization server metadata that names them (RFC 8414).
//!
//! What a token's answer is (active? what does revoking it reach?) is the
//! library's policy, `TokenGate::introspect` and `TokenGate::revoke_token`;
//! this module speaks the protocol: form bodies, client authentication
//! (HTTP Basic, `client_secret_basic`, or the form, `client_secret_post`;
//! a public client names itself with `client_id` and may only revoke),
//! which client may call which endpoint (its `scopes`), the limits on
//! failed authentications and on each client's requests (its `rate`), and
//! RFC 6749's error bodies, with the service's `code` and `msg` beside
//! `error` so that both OAuth libraries and the service's own clients read
//! them.
//!
//! The routes always exist; without `[[clients]]`, every call is 401
//! `invalid_client`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use aws_lc_rs::{constant_time, digest};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokengate::claims::TokenType;
use tokengate::token::VerifiedToken;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::limits::{LimitKey, LoginLimiter};
use super::metrics;
use crate::config::{ClientConfig, ClientScope};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(introspect))
        .routes(routes!(revoke))
        .routes(routes!(authorization_server_metadata))
}

/// The introspection endpoint's path.
const INTROSPECTION_PATH: &str = "/auth/introspect";
/// The revocation endpoint's path.
const REVOCATION_PATH: &str = "/auth/revoke";
/// How a confidential client authenticates (RFC 6749 2.3.1; the names of
/// RFC 8414's `*_auth_methods_supported`).
const SECRET_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

// ---------------------------------------------------------------------------
// The configured clients

/// The configured clients, by id, each with its request counter.
pub(crate) struct Clients {
    by_id: HashMap<String, Client>,
}

struct Client {
    id: String,
    /// SHA-256 of its secret; `None` for a public client. Secrets are
    /// compared as digests, in constant time: neither their bytes nor
    /// their length show in the time an answer takes.
    secret: Option<digest::Digest>,
    allowed: Vec<ClientScope>,
    rate: crate::config::Rate,
    /// Its requests, over its `rate`'s window.
    requests: LoginLimiter,
}

impl Clients {
    /// The clients of `configs`; `limiter` makes a counter over a window
    /// (in memory, and in Redis when the instances share one).
    pub(crate) fn new(
        configs: &[ClientConfig],
        limiter: impl Fn(Duration) -> LoginLimiter,
    ) -> Clients {
        let by_id = configs
            .iter()
            .map(|config| {
                let client = Client {
                    id: config.client_id.clone(),
                    secret: config
                        .client_secret
                        .as_ref()
                        .map(|s| digest::digest(&digest::SHA256, s.expose().as_bytes())),
                    allowed: config.allowed.clone(),
                    rate: config.request_rate,
                    requests: limiter(config.request_rate.per),
                };
                (config.client_id.clone(), client)
            })
            .collect();
        Clients { by_id }
    }

    /// Whether any client is public (the revocation endpoint then
    /// supports the `none` authentication method).
    fn any_public(&self) -> bool {
        self.by_id.values().any(|c| c.secret.is_none())
    }
}

// ---------------------------------------------------------------------------
// Errors

/// The body of the OAuth endpoints' failures: RFC 6749 5.2's `error`, and
/// the service's `code` (the same value) and `msg`.
#[derive(Serialize, ToSchema)]
pub(super) struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unauthorized_client`,
    /// `rate_limited`, `store_unavailable` or `unavailable`.
    #[schema(example = "invalid_client")]
    error: &'static str,
    /// The same as `error`.
    #[schema(example = "invalid_client")]
    code: &'static str,
    /// A human-readable explanation.
    msg: String,
}

/// A failure of the OAuth endpoints.
pub(super) enum OAuthError {
    /// The endpoints' own.
    Own {
        status: StatusCode,
        code: &'static str,
        msg: String,
    },
    /// The library's (`rate_limited`, the 503s), with its headers.
    Library(tokengate::Error),
}

impl OAuthError {
    fn invalid_request(msg: impl Into<String>) -> OAuthError {
        OAuthError::Own {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            msg: msg.into(),
        }
    }

    fn invalid_client(msg: impl Into<String>) -> OAuthError {
        OAuthError::Own {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            msg: msg.into(),
        }
    }

    fn unauthorized_client(msg: impl Into<String>) -> OAuthError {
        OAuthError::Own {
            status: StatusCode::FORBIDDEN,
            code: "unauthorized_client",
            msg: msg.into(),
        }
    }
}

impl From<tokengate::Error> for OAuthError {
    fn from(error: tokengate::Error) -> Self {
        OAuthError::Library(error)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        match self {
            OAuthError::Own { status, code, msg } => {
                let body = OAuthErrorBody {
                    error: code,
                    code,
                    msg,
                };
                let mut response = (status, Json(body)).into_response();
                if status == StatusCode::UNAUTHORIZED {
                    // RFC 6749 5.2: a 401 names the scheme the client may use.
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"Basic realm="tokengate""#),
                    );
                }
                response
            }
            OAuthError::Library(error) => {
                let body = OAuthErrorBody {
                    error: error.code(),
                    code: error.code(),
                    msg: error.to_string(),
                };
                // Its status, `Retry-After` and log line; this body.
                let mut response = error.into_response();
                let json = serde_json::to_vec(&body).expect("strings serialize");
                *response.body_mut() = Body::from(json);
                response
            }
        }
    }
}

/// `Cache-Control: no-store` (and HTTP/1.0's `Pragma`) on every answer:
/// an introspection says who a token is for, and no cache should keep it.
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

// ---------------------------------------------------------------------------
// The form body

/// A form body (`application/x-www-form-urlencoded`) whose every rejection
/// (another content type, a parameter given twice, an oversized body) is
/// 400 `invalid_request` in the endpoints' error shape.
pub(super) struct FormBody<T>(T);

impl<S, T> FromRequest<S> for FormBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(FormBody(value)),
            Err(rejection) => Err(OAuthError::invalid_request(form_message(&rejection))),
        }
    }
}

fn form_message(rejection: &FormRejection) -> String {
    match rejection {
        FormRejection::InvalidFormContentType(_) => {
            "expected a form body (Content-Type: application/x-www-form-urlencoded)".into()
        }
        // serde's text names the parameter: "duplicate field `token`".
        FormRejection::FailedToDeserializeForm(e) => format!("invalid form: {}", e.body_text()),
        FormRejection::FailedToDeserializeFormBody(e) => format!(
            "invalid form: {}",
            e.body_text()
                .trim_start_matches("Failed to deserialize form body: ")
        ),
        FormRejection::BytesRejection(_) => "the body is too large or could not be read".into(),
        _ => "invalid form body".into(),
    }
}

/// The parameters of both endpoints: RFC 7662 2.1 and RFC 7009 2.1, and
/// RFC 6749 2.3.1's client credentials in the body. Unknown parameters are
/// ignored (RFC 6749 3.2); a parameter given twice is `invalid_request`.
#[derive(Deserialize, ToSchema)]
pub(super) struct TokenForm {
    /// The token (an access or a refresh token).
    token: Option<String>,
    /// `access_token` or `refresh_token`: only a hint (any other value is
    /// ignored); the token's own `type` claim decides.
    token_type_hint: Option<String>,
    /// `client_secret_post`, or a public client naming itself.
    client_id: Option<String>,
    /// `client_secret_post`: the client's secret (never with HTTP Basic).
    #[schema(format = Password)]
    client_secret: Option<String>,
}

impl TokenForm {
    /// The token, required by both endpoints.
    fn token(&self) -> Result<&str, OAuthError> {
        self.token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("the token parameter is required"))
    }

    /// The hint, when it is one of RFC 7009's two values.
    fn hint(&self) -> Option<TokenType> {
        match self.token_type_hint.as_deref() {
            Some("access_token") => Some(TokenType::Access),
            Some("refresh_token") => Some(TokenType::Refresh),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Client authentication

/// What a request presents of its client.
enum Credentials {
    /// A confidential client: its id and secret, from HTTP Basic or the form.
    Secret { id: String, secret: String },
    /// A public client: its `client_id` in the form, nothing else.
    Public { id: String },
}

impl Credentials {
    fn id(&self) -> &str {
        match self {
            Credentials::Secret { id, .. } | Credentials::Public { id } => id,
        }
    }
}

/// The client credentials of a request: HTTP Basic, else the form's.
/// `None`: none at all.
fn credentials(headers: &HeaderMap, form: &TokenForm) -> Result<Option<Credentials>, OAuthError> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = authorization.next() else {
        return Ok(match (&form.client_id, &form.client_secret) {
            (Some(id), Some(secret)) => Some(Credentials::Secret {
                id: id.clone(),
                secret: secret.clone(),
            }),
            (Some(id), None) => Some(Credentials::Public { id: id.clone() }),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_client(
                    "client_secret without client_id",
                ));
            }
            (None, None) => None,
        });
    };
    if authorization.next().is_some() {
        return Err(OAuthError::invalid_client("two Authorization headers"));
    }
    if form.client_secret.is_some() {
        // RFC 6749 2.3: one authentication method per request.
        return Err(OAuthError::invalid_request(
            "the client authenticated twice: HTTP Basic and client_secret in the form",
        ));
    }
    let (id, secret) = basic(value).ok_or_else(|| {
        OAuthError::invalid_client(
            "the Authorization header is not HTTP Basic with a url-encoded client_id:client_secret",
        )
    })?;
    if form
        .client_id
        .as_ref()
        .is_some_and(|form_id| *form_id != id)
    {
        return Err(OAuthError::invalid_request(
            "client_id differs from the client of the Authorization header",
        ));
    }
    Ok(Some(Credentials::Secret { id, secret }))
}

/// `Basic base64(urlencode(client_id) ":" urlencode(client_secret))`
/// (RFC 6749 2.3.1, RFC 7617), decoded; `None` for anything else.
fn basic(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// One `application/x-www-form-urlencoded` value: `+` is a space, `%XX`
/// a byte; `None` when the bytes are not UTF-8.
fn form_decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// A digest no secret has (the comparison an unknown client gets, so that
/// it takes the time a known one does).
const NO_SECRET: [u8; 32] = [0; 32];

/// Authenticates the request's client and checks that it may call
/// `scope`'s endpoint, under the failed-authentication limits (per client
/// id and per client address, as failed logins) and the client's `rate`.
/// A public client is refused at the introspection endpoint: it cannot
/// authenticate.
async fn authenticate<'a>(
    state: &'a AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: &TokenForm,
    scope: ClientScope,
) -> Result<&'a Client, OAuthError> {
    let Some(presented) = credentials(headers, form)? else {
        return Err(OAuthError::invalid_client(
            "client authentication is required (HTTP Basic, or client_id and client_secret in the form)",
        ));
    };
    if matches!(presented, Credentials::Public { .. }) && scope == ClientScope::Introspect {
        return Err(OAuthError::invalid_client(
            "introspection needs client authentication: client_secret_basic or client_secret_post",
        ));
    }
    let id_key = LimitKey::ClientAuthOf(presented.id().to_owned());
    let ip_key = LimitKey::ClientAuthFrom(state.client_ip(peer, headers));
    let max = state.settings.login_max_failures;
    state
        .limiter
        .check(&[(&id_key, max), (&ip_key, max.saturating_mul(10))])
        .await?;
    let client = state.clients.by_id.get(presented.id());
    let valid = match &presented {
        Credentials::Secret { secret, .. } => {
            let expected = client.and_then(|c| c.secret.as_ref());
            let given = digest::digest(&digest::SHA256, secret.as_bytes());
            let same = constant_time::verify_slices_are_equal(
                given.as_ref(),
                expected.map_or(&NO_SECRET[..], |d| d.as_ref()),
            )
            .is_ok();
            same && expected.is_some()
        }
        Credentials::Public { .. } => client.is_some_and(|c| c.secret.is_none()),
    };
    let client = match client {
        Some(client) if valid => client,
        // An unknown client, a wrong secret, a confidential client without
        // its secret: one answer, and a failure counted.
        _ => {
            state.limiter.record_failure(&[&id_key, &ip_key]).await;
            return Err(OAuthError::invalid_client(
                "unknown client, or wrong client credentials",
            ));
        }
    };
    state.limiter.clear(&id_key).await;
    if !client.allowed.contains(&scope) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not call {}",
            match scope {
                ClientScope::Introspect => INTROSPECTION_PATH,
                ClientScope::Revoke => REVOCATION_PATH,
            }
        )));
    }
    let key = LimitKey::ClientRequests(client.id.clone());
    client.requests.check(&[(&key, client.rate.count)]).await?;
    client.requests.record_failure(&[&key]).await;
    Ok(client)
}

// ---------------------------------------------------------------------------
// Introspection

/// RFC 7662 2.2's answer. An inactive token is `{"active":false}` and
/// nothing else, whatever made it inactive.
#[derive(Serialize, ToSchema, Default)]
struct Introspection {
    /// Whether the token is one of this service's, valid and not revoked.
    active: bool,
    /// Its scopes, space-separated (absent when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// Its subject: the user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// A string for one audience, an array for several.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    aud: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// `DPoP` for a token bound to a key (`cnf.jkt`), else `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Bearer")]
    token_type: Option<&'static str>,
    /// tokengate's own token type: `access` or `refresh`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(example = "access")]
    kind: Option<&'static str>,
    /// The token's confirmation claim (RFC 7800), as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    cnf: Option<serde_json::Map<String, Value>>,
}

impl Introspection {
    fn of(token: &VerifiedToken) -> Introspection {
        let claims = &token.claims;
        let cnf = token
            .custom::<serde_json::Map<String, Value>>()
            .ok()
            .and_then(|mut payload| match payload.remove("cnf") {
                Some(Value::Object(cnf)) => Some(cnf),
                _ => None,
            });
        let bound = cnf
            .as_ref()
            .is_some_and(|cnf| cnf.get("jkt").is_some_and(Value::is_string));
        let aud = match claims.aud.as_slice() {
            [] => None,
            [one] => Some(Value::String(one.clone())),
            many => Some(many.into()),
        };
        Introspection {
            active: true,
            scope: (!claims.scopes.is_empty()).then(|| claims.scopes.join(" ")),
            sub: claims.sub.as_ref().map(|s| s.as_str().to_owned()),
            exp: Some(claims.exp),
            iat: claims.iat,
            nbf: claims.nbf,
            iss: claims.iss.clone(),
            aud,
            jti: claims.jti.as_ref().map(|j| j.as_str().to_owned()),
            token_type: Some(if bound { "DPoP" } else { "Bearer" }),
            kind: Some(claims.token_type.unwrap_or(TokenType::Access).as_str()),
            cnf,
        }
    }
}

/// Introspect a token (RFC 7662)
///
/// For a client of `[[clients]]` allowed `introspect` (HTTP Basic, or
/// `client_id` and `client_secret` in the form). 200 `{"active":true,…}`
/// with the token's claims for one of this service's access or refresh
/// tokens that is valid and not revoked; for anything else (malformed,
/// expired, revoked, another issuer's, a trusted issuer's) 200
/// `{"active":false}` and nothing more.
#[utoipa::path(
    post,
    path = "/auth/introspect",
    operation_id = "introspect",
    tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Whether the token is active, and its claims if it is", body = Introspection,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request`: not a form, a parameter twice, no `token`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: no, unknown or wrong client credentials, or a public client", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"tokengate\"`"))),
        (status = 403, description = "`unauthorized_client`: the client may not introspect", body = OAuthErrorBody),
        (status = 429, description = "`rate_limited`: too many failed client authentications, or the client's `rate`", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = "`store_unavailable`: the revocations cannot be read", body = OAuthErrorBody),
    )
)]
async fn introspect(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<FormBody<TokenForm>, OAuthError>,
) -> Response {
    no_store(answer_introspection(&state, peer, &headers, form).await)
}

async fn answer_introspection(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: Result<FormBody<TokenForm>, OAuthError>,
) -> Response {
    let result = async {
        let FormBody(form) = form?;
        authenticate(state, peer, headers, &form, ClientScope::Introspect).await?;
        let token = form.token()?;
        Ok::<_, OAuthError>(state.gate.introspect(token).await?)
    }
    .await;
    match result {
        Ok(Some(token)) => {
            metrics::introspected(true);
            Json(Introspection::of(&token)).into_response()
        }
        Ok(None) => {
            metrics::introspected(false);
            Json(Introspection::default()).into_response()
        }
        Err(error) => error.into_response(),
    }
}

// ---------------------------------------------------------------------------
// Revocation

/// Revoke a token (RFC 7009)
///
/// For a client of `[[clients]]` allowed `revoke`: a confidential one
/// (HTTP Basic, or `client_id` and `client_secret` in the form) or a public
/// one (`client_id` alone in the form). A refresh token ends its whole
/// login, as a logout does; an access token is revoked alone (its login
/// stays). 200 with an empty body whatever the token: valid, invalid,
/// expired, already revoked, another issuer's (nothing is done for those).
#[utoipa::path(
    post,
    path = "/auth/revoke",
    operation_id = "revoke",
    tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke; an empty body"),
        (status = 400, description = "`invalid_request`: not a form, a parameter twice, no `token`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: no, unknown or wrong client credentials", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"tokengate\"`"))),
        (status = 403, description = "`unauthorized_client`: the client may not revoke", body = OAuthErrorBody),
        (status = 429, description = "`rate_limited`: too many failed client authentications, or the client's `rate`", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = "`store_unavailable`: the revocation cannot be recorded; retry", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<FormBody<TokenForm>, OAuthError>,
) -> Response {
    let result = async {
        let FormBody(form) = form?;
        let client = authenticate(&state, peer, &headers, &form, ClientScope::Revoke).await?;
        let token = form.token()?;
        let revoked = state.gate.revoke_token(token, form.hint()).await?;
        Ok::<_, OAuthError>((client.id.clone(), revoked))
    }
    .await;
    no_store(match result {
        Ok((client, revoked)) => {
            if let Some(kind) = revoked {
                metrics::revoked("revocation_endpoint");
                tracing::info!(client = %client, token_type = %kind, "token revoked at the revocation endpoint");
            }
            StatusCode::OK.into_response()
        }
        Err(error) => error.into_response(),
    })
}

// ---------------------------------------------------------------------------
// Metadata

/// The algorithms a DPoP proof may use (`dpop_signing_alg_values_supported`,
/// RFC 9449 §5.1); none with `dpop = "off"`, and the member is left out.
fn dpop_algorithms(state: &AppState) -> Vec<&'static str> {
    let dpop = state.gate.dpop();
    if dpop.mode_of() == tokengate::dpop::DpopMode::Off {
        return Vec::new();
    }
    dpop.accepted_algorithms()
        .iter()
        .map(|a| a.as_str())
        .collect()
}

/// The OAuth endpoints and DPoP algorithms, as both discovery documents
/// name them (flattened into each).
#[derive(Serialize, ToSchema)]
pub(super) struct Endpoints {
    /// `POST /auth/introspect` (RFC 7662).
    introspection_endpoint: String,
    /// `client_secret_basic`, `client_secret_post`.
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `POST /auth/revoke` (RFC 7009).
    revocation_endpoint: String,
    /// `client_secret_basic`, `client_secret_post`, and `none` while a
    /// public client is configured.
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The algorithms a DPoP proof may use (RFC 9449); left out with `dpop = "off"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dpop_signing_alg_values_supported: Vec<&'static str>,
}

/// The endpoints' URLs under the issuer, and their authentication methods:
/// a secret, HTTP Basic or in the form; `none` (RFC 7009's public
/// clients) for revocation while a public client is configured.
pub(super) fn endpoints(state: &AppState) -> Endpoints {
    let base = state.settings.issuer.trim_end_matches('/');
    let mut revocation_methods = SECRET_METHODS.to_vec();
    if state.clients.any_public() {
        revocation_methods.push("none");
    }
    Endpoints {
        introspection_endpoint: format!("{base}{INTROSPECTION_PATH}"),
        introspection_endpoint_auth_methods_supported: SECRET_METHODS.to_vec(),
        revocation_endpoint: format!("{base}{REVOCATION_PATH}"),
        revocation_endpoint_auth_methods_supported: revocation_methods,
        dpop_signing_alg_values_supported: dpop_algorithms(state),
    }
}

/// RFC 8414's authorization server metadata: only what exists. The
/// service has no authorization and no token endpoint (its logins are not
/// OAuth grants), so neither is named, and `response_types_supported` and
/// `grant_types_supported` are empty arrays: the first is required, and
/// leaving the second out would mean the default, `authorization_code`
/// and `implicit`.
#[derive(Serialize, ToSchema)]
struct AuthorizationServerMetadata {
    /// The `iss` of the service's tokens.
    issuer: String,
    /// Its JWK Set.
    jwks_uri: String,
    #[serde(flatten)]
    endpoints: Endpoints,
    /// Empty: no authorization endpoint.
    response_types_supported: Vec<&'static str>,
    /// Empty: no grant (no token endpoint).
    grant_types_supported: Vec<&'static str>,
}

/// Authorization server metadata (RFC 8414)
///
/// The issuer, its keys, and its introspection and revocation endpoints
/// with their client authentication methods; no endpoint that does not
/// exist.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "oauth_authorization_server",
    tag = "discovery",
    responses((status = 200, description = "The metadata", body = AuthorizationServerMetadata))
)]
async fn authorization_server_metadata(
    State(state): State<AppState>,
) -> Json<AuthorizationServerMetadata> {
    let base = state.settings.issuer.trim_end_matches('/');
    Json(AuthorizationServerMetadata {
        issuer: state.settings.issuer.clone(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        endpoints: endpoints(&state),
        response_types_supported: Vec::new(),
        grant_types_supported: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    fn b64(text: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn basic_credentials_are_url_decoded_after_base64() {
        let encoded = b64(b"my%20client:s%3Acret+with%2Bplus");
        assert_eq!(
            basic(&header(&format!("Basic {encoded}"))),
            Some(("my client".into(), "s:cret with+plus".into()))
        );
        // The scheme in any case; the secret may hold colons once encoded
        // or not (the first colon separates).
        let encoded = b64(b"rs:a:b");
        assert_eq!(
            basic(&header(&format!("bAsIc {encoded}"))),
            Some(("rs".into(), "a:b".into()))
        );
        assert_eq!(
            basic(&header(&format!("Basic {}", b64("é:ü".as_bytes())))),
            Some(("é".into(), "ü".into()))
        );
    }

    #[test]
    fn malformed_basic_credentials_are_none() {
        for value in [
            "Basic".to_owned(),
            "Basic !!!not-base64!!!".to_owned(),
            format!("Basic {}", b64(b"no-colon")),
            format!("Basic {}", b64(b"\xff\xfe:secret")),
            format!("Basic {}", b64(b"rs:%ff%fe")),
            format!("Bearer {}", b64(b"rs:secret")),
            "Digest username=rs".to_owned(),
        ] {
            assert_eq!(basic(&header(&value)), None, "{value}");
        }
    }

    #[test]
    fn hints_are_only_the_rfc_values() {
        let form = |hint: &str| TokenForm {
            token: None,
            token_type_hint: Some(hint.into()),
            client_id: None,
            client_secret: None,
        };
        assert_eq!(form("access_token").hint(), Some(TokenType::Access));
        assert_eq!(form("refresh_token").hint(), Some(TokenType::Refresh));
        assert_eq!(form("id_token").hint(), None);
        assert_eq!(form("").hint(), None);
    }
}
