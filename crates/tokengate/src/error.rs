//! The one error type of request handling, and its mapping to HTTP.
//!
//! Every failure a client can cause maps, in [`Error::code`], [`Error::status`]
//! and [`Error::www_authenticate`], to a code, a status and an RFC 6750
//! header, and answers the JSON body `{"code": "...", "msg": "..."}`
//! ([`ErrorBody`]). Start-up failures (a bad key, a bad setting) are a
//! different type, [`KeyError`](crate::keys::KeyError), because no client
//! should ever see them.
//!
//! The codes, statuses and challenges are tabled on [`Error`].

use http::StatusCode;
use serde::Serialize;

/// A request that tokengate refuses, with the reason a client may see.
///
/// The `msg` strings never contain the token, a key or any secret.
///
/// | code | status | when | `WWW-Authenticate` |
/// |---|---|---|---|
/// | `authorization_header_missing` | 401 | no token in any enabled location | `Bearer realm="tokengate"` |
/// | `invalid_header` | 401 | `Authorization` present but not `Bearer <token>`; two `Authorization` headers; a token cookie sent twice | `Bearer realm="tokengate"` |
/// | `invalid_token` | 401 | malformed, bad signature, wrong algorithm, unknown key, `nbf` or `iat` in the future, a header tokengate refuses; also a token whose subject no longer loads as a user | `Bearer realm="tokengate", error="invalid_token"` |
/// | `invalid_claims` | 401 | wrong `aud` or `iss`, a required claim missing or of the wrong type | `Bearer realm="tokengate", error="invalid_token"` |
/// | `token_expired` | 401 | `exp` has passed (beyond the leeway) | `Bearer realm="tokengate", error="invalid_token"` |
/// | `token_revoked` | 401 | the `jti` or the login (`fam`) is revoked, or the token predates its subject's revoke-all time | `Bearer realm="tokengate", error="invalid_token"` |
/// | `wrong_token_type` | 401 | a refresh token where an access token is needed, or the reverse | `Bearer realm="tokengate", error="invalid_token"` |
/// | `fresh_token_required` | 401 | the route needs a fresh access token | `Bearer realm="tokengate", error="invalid_token"` |
/// | `csrf_failed` | 401 | a token from a cookie on POST, PUT, PATCH or DELETE (for forward auth: an original method not known to be GET, HEAD or OPTIONS) without a matching `X-CSRF-TOKEN` | `Bearer realm="tokengate", error="invalid_token"` |
/// | `invalid_credentials` | 401 | wrong username or password (one message for both) | `Bearer realm="tokengate"` |
/// | `insufficient_scope` | 403 | the token is valid but lacks a required scope | `Bearer realm="tokengate", error="insufficient_scope", scope="..."` |
/// | `insufficient_role` | 403 | the token is valid but lacks a required role | none |
/// | `registration_closed` | 403 | registration is disabled by configuration | none |
/// | `invalid_request` | 400 | a malformed body or field (the message names it) | none |
/// | `not_found` | 404 | the thing a route names does not exist | none |
/// | `username_taken` | 409 | registration of an existing username (in any case) | none |
/// | `rate_limited` | 429 | too many attempts; `Retry-After` says when to try again | none |
/// | `unavailable` | 503 | a backend failed; the request may succeed later | none |
/// | `store_unavailable` | 503 | the store of users, logins or revocations cannot be reached; `Retry-After: 5` | none |
///
/// The `scope=` of an `insufficient_scope` challenge names scopes that
/// would do: the first alternative of a [`Scoped`](crate::axum::Scoped)
/// requirement, or the scopes a forward-auth check found missing. With the `axum`
/// feature, an `Error` is a response with exactly this status, body and
/// headers; [`TokenGate::on_error`](crate::axum::TokenGate::on_error)
/// replaces any of them.
///
/// ```
/// use tokengate::Error;
///
/// let err = Error::TokenExpired;
/// assert_eq!(err.code(), "token_expired");
/// assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No token in any enabled location.
    #[error("missing authorization token")]
    AuthorizationHeaderMissing,
    /// `Authorization` present but not `<type> <token>`.
    #[error("{0}")]
    InvalidHeader(String),
    /// Malformed, bad signature, wrong algorithm, unknown key, not yet valid.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// Wrong `aud` or `iss`, or a required claim is missing or malformed.
    #[error("{0}")]
    InvalidClaims(String),
    /// `exp` has passed.
    #[error("token has expired")]
    TokenExpired,
    /// The token's `jti` is revoked, or it predates the user's revoke-all time.
    #[error("token has been revoked")]
    TokenRevoked,
    /// A refresh token where an access token is needed, or the reverse.
    #[error("only {0} tokens are allowed")]
    WrongTokenType(crate::claims::TokenType),
    /// The route needs a fresh access token.
    #[error("fresh token required")]
    FreshTokenRequired,
    /// A cookie-borne token on a state-changing method without a matching CSRF header.
    #[error("{0}")]
    CsrfFailed(&'static str),
    /// The token is valid but lacks a required scope. Holds the requirement as text.
    #[error("token lacks the required scope")]
    InsufficientScope(String),
    /// The token is valid but lacks a required role. Holds the requirement as text.
    #[error("token lacks the required role")]
    InsufficientRole(String),
    /// Malformed body or field; the message names the field.
    #[error("{0}")]
    InvalidRequest(String),
    /// Wrong username or password (one message for both).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Registration of an existing username.
    #[error("username is already taken")]
    UsernameTaken,
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many attempts, retry later")]
    RateLimited {
        /// Seconds until a new attempt may succeed.
        retry_after: u64,
    },
    /// Registration is disabled by configuration.
    #[error("registration is closed")]
    RegistrationClosed,
    /// The token is valid but its subject no longer loads as a user.
    #[error("user not found")]
    UserNotFound,
    /// A backend (database, cache) failed; the request may succeed later.
    /// The message is for logs; clients see a generic one.
    #[error("service temporarily unavailable")]
    Unavailable(String),
    /// The thing a route names does not exist (e.g. an unknown OIDC provider).
    #[error("not found")]
    NotFound,
    /// The store of users, logins or revocations cannot be reached; the
    /// request may succeed later. The message is for logs.
    #[error("the token store is temporarily unavailable")]
    StoreUnavailable(String),
}

/// The JSON body of every error response: `{"code": "...", "msg": "..."}`.
///
/// ```
/// use tokengate::{Error, ErrorBody};
///
/// let body: ErrorBody = Error::TokenRevoked.body();
/// assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"code":"token_revoked","msg":"token has been revoked"}"#);
/// ```
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// The machine-readable code, e.g. `token_expired`.
    pub code: String,
    /// A human-readable explanation.
    pub msg: String,
}

impl From<crate::revocation::StoreError> for Error {
    fn from(e: crate::revocation::StoreError) -> Self {
        Error::StoreUnavailable(e.to_string())
    }
}

impl From<crate::keys::KeyError> for Error {
    fn from(e: crate::keys::KeyError) -> Self {
        Error::Unavailable(format!("cannot sign: {e}"))
    }
}

impl Error {
    /// The machine-readable code (the module's table lists every one).
    ///
    /// ```
    /// use tokengate::Error;
    ///
    /// assert_eq!(Error::AuthorizationHeaderMissing.code(), "authorization_header_missing");
    /// assert_eq!(Error::InsufficientScope("admin".into()).code(), "insufficient_scope");
    /// assert_eq!(Error::InsufficientRole("admin".into()).code(), "insufficient_role");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::AuthorizationHeaderMissing => "authorization_header_missing",
            Error::InvalidHeader(_) => "invalid_header",
            Error::InvalidToken(_) | Error::UserNotFound => "invalid_token",
            Error::InvalidClaims(_) => "invalid_claims",
            Error::TokenExpired => "token_expired",
            Error::TokenRevoked => "token_revoked",
            Error::WrongTokenType(_) => "wrong_token_type",
            Error::FreshTokenRequired => "fresh_token_required",
            Error::CsrfFailed(_) => "csrf_failed",
            Error::InsufficientScope(_) => "insufficient_scope",
            Error::InsufficientRole(_) => "insufficient_role",
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidCredentials => "invalid_credentials",
            Error::UsernameTaken => "username_taken",
            Error::RateLimited { .. } => "rate_limited",
            Error::RegistrationClosed => "registration_closed",
            Error::Unavailable(_) => "unavailable",
            Error::StoreUnavailable(_) => "store_unavailable",
            Error::NotFound => "not_found",
        }
    }

    /// The HTTP status: 401 for token problems,
    /// 403 for a missing scope or role, never 401 for it.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tokengate::Error;
    ///
    /// assert_eq!(Error::InvalidToken("bad signature").status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(Error::InsufficientScope("admin".into()).status(), StatusCode::FORBIDDEN);
    /// assert_eq!(Error::InsufficientRole("admin".into()).status(), StatusCode::FORBIDDEN);
    /// assert_eq!(Error::RateLimited { retry_after: 30 }.status(), StatusCode::TOO_MANY_REQUESTS);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InsufficientScope(_)
            | Error::InsufficientRole(_)
            | Error::RegistrationClosed => StatusCode::FORBIDDEN,
            Error::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::UsernameTaken => StatusCode::CONFLICT,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) | Error::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3), for 401s and scope 403s.
    ///
    /// ```
    /// use tokengate::Error;
    ///
    /// assert_eq!(Error::AuthorizationHeaderMissing.www_authenticate().unwrap(), r#"Bearer realm="tokengate""#);
    /// assert_eq!(Error::TokenExpired.www_authenticate().unwrap(),
    ///    r#"Bearer realm="tokengate", error="invalid_token""#);
    /// assert_eq!(Error::InsufficientScope("read:messages".into()).www_authenticate().unwrap(),
    ///    r#"Bearer realm="tokengate", error="insufficient_scope", scope="read:messages""#);
    /// assert_eq!(Error::UsernameTaken.www_authenticate(), None);
    /// ```
    pub fn www_authenticate(&self) -> Option<String> {
        const REALM: &str = r#"Bearer realm="tokengate""#;
        match self {
            Error::AuthorizationHeaderMissing
            | Error::InvalidHeader(_)
            | Error::InvalidCredentials => Some(REALM.to_owned()),
            Error::InsufficientScope(scope) => Some(format!(
                r#"{REALM}, error="insufficient_scope", scope="{}""#,
                scope.replace(['"', '\\'], "")
            )),
            e if e.status() == StatusCode::UNAUTHORIZED => {
                Some(format!(r#"{REALM}, error="invalid_token""#))
            }
            _ => None,
        }
    }

    /// The `{"code","msg"}` body.
    ///
    /// ```
    /// use tokengate::Error;
    ///
    /// let body = Error::TokenExpired.body();
    /// assert_eq!((body.code.as_str(), body.msg.as_str()), ("token_expired", "token has expired"));
    /// ```
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            msg: self.to_string(),
        }
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        use http::header;
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(value) = self.www_authenticate()
            && let Ok(value) = http::HeaderValue::from_str(&value)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Error::RateLimited { retry_after } = self {
            headers.insert(header::RETRY_AFTER, http::HeaderValue::from(retry_after));
        }
        if let Error::StoreUnavailable(_) = self {
            // The pool finds a returned database within seconds.
            headers.insert(header::RETRY_AFTER, http::HeaderValue::from(5u64));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_401_with_a_token_says_invalid_token() {
        let err = Error::TokenExpired;
        assert_eq!(
            err.www_authenticate().unwrap(),
            r#"Bearer realm="tokengate", error="invalid_token""#
        );
        assert_eq!(
            Error::AuthorizationHeaderMissing
                .www_authenticate()
                .unwrap(),
            r#"Bearer realm="tokengate""#
        );
    }

    #[test]
    fn scope_errors_are_403_with_the_scope() {
        let err = Error::InsufficientScope("read:messages".into());
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            err.www_authenticate().unwrap(),
            r#"Bearer realm="tokengate", error="insufficient_scope", scope="read:messages""#
        );
    }
}
