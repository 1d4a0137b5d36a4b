//! The errors of request handling, one type per concern, and their one
//! mapping to HTTP.
//!
//! Like axum's rejections, each concern has its own type: finding and
//! verifying a token ([`TokenRejection`], always 401), what a valid token
//! lacks ([`AccessRejection`], 403), logging in and registering
//! ([`AccountRejection`]), the request itself ([`RequestRejection`]) and a
//! backend that failed ([`Unavailable`], 503, keeping its source). [`Error`]
//! is their sum: the one type handlers return, mapped once, in
//! [`Error::code`], [`Error::status`] and [`Error::www_authenticate`], to a
//! code, a status and an RFC 6750 header, with the JSON body
//! `{"code": "...", "msg": "..."}` ([`ErrorBody`]). Start-up failures (a bad
//! key, a bad setting) are a different type,
//! [`KeyError`](crate::keys::KeyError), because no client should ever see
//! them.
//!
//! The codes, statuses and challenges are tabled on [`Error`].

use std::sync::Arc;

use http::StatusCode;
use serde::Serialize;

use crate::claims::TokenType;

/// A request that tokengate refuses, with the reason a client may see.
///
/// The `msg` strings never contain the token, a key or any secret.
///
/// | code | status | variant | when | `WWW-Authenticate` |
/// |---|---|---|---|---|
/// | `authorization_header_missing` | 401 | [`TokenRejection::Missing`] | no token in any enabled location | `Bearer realm="tokengate"` |
/// | `invalid_header` | 401 | [`TokenRejection::InvalidHeader`] | `Authorization` present but not `Bearer <token>`; two `Authorization` headers; a token cookie sent twice | `Bearer realm="tokengate"` |
/// | `invalid_token` | 401 | [`TokenRejection::Invalid`], [`TokenRejection::SubjectGone`] | malformed, bad signature, wrong algorithm, unknown key, `nbf` or `iat` in the future, a header tokengate refuses; also a token whose subject no longer loads as a user | `Bearer realm="tokengate", error="invalid_token"` |
/// | `invalid_claims` | 401 | [`TokenRejection::InvalidClaims`] | wrong `aud` or `iss`, a required claim missing or of the wrong type | `Bearer realm="tokengate", error="invalid_token"` |
/// | `token_expired` | 401 | [`TokenRejection::Expired`] | `exp` has passed (beyond the leeway) | `Bearer realm="tokengate", error="invalid_token"` |
/// | `token_revoked` | 401 | [`TokenRejection::Revoked`] | the `jti` or the login (`fam`) is revoked, or the token predates its subject's revoke-all time | `Bearer realm="tokengate", error="invalid_token"` |
/// | `wrong_token_type` | 401 | [`TokenRejection::WrongType`] | a refresh token where an access token is needed, or the reverse | `Bearer realm="tokengate", error="invalid_token"` |
/// | `fresh_token_required` | 401 | [`TokenRejection::FreshRequired`] | the route needs a fresh access token | `Bearer realm="tokengate", error="invalid_token"` |
/// | `csrf_failed` | 401 | [`TokenRejection::CsrfFailed`] | a token from a cookie on POST, PUT, PATCH or DELETE (for forward auth: an original method not known to be GET, HEAD or OPTIONS) without a matching `X-CSRF-TOKEN` | `Bearer realm="tokengate", error="invalid_token"` |
/// | `invalid_dpop_proof` | 401 | [`TokenRejection::Dpop`] | a DPoP-bound token without a good proof: none, two, malformed, HMAC or unlisted `alg`, a private key in `jwk`, bad signature, another method or URL, `iat` too old or in the future, no or wrong `ath`, a replayed `jti`, another key than the token's | `DPoP algs="...", error="invalid_dpop_proof"` |
/// | `use_dpop_nonce` | 401 | [`TokenRejection::Dpop`] | nonces are required and the proof has none or an old one; `DPoP-Nonce` holds the one to use | `DPoP algs="...", error="use_dpop_nonce"` |
/// | `invalid_token` | 401 | [`TokenRejection::Dpop`] | a DPoP-bound token sent as `Bearer` (or in a cookie, the query or the body), the `DPoP` scheme with an unbound token, an unbound token where DPoP is required | `DPoP algs="...", error="invalid_token"` |
/// | `invalid_credentials` | 401 | [`AccountRejection::InvalidCredentials`] | wrong username or password (one message for both) | `Bearer realm="tokengate"` |
/// | `invalid_credentials` | 401 | [`AccountRejection::PasskeyRefused`] | a passkey login refused (one message for every reason) | `Bearer realm="tokengate"` |
/// | `insufficient_scope` | 403 | [`AccessRejection::InsufficientScope`] | the token is valid but lacks a required scope | `Bearer realm="tokengate", error="insufficient_scope", scope="..."` |
/// | `insufficient_role` | 403 | [`AccessRejection::InsufficientRole`] | the token is valid but lacks a required role | none |
/// | `registration_closed` | 403 | [`AccountRejection::RegistrationClosed`] | registration is disabled by configuration | none |
/// | `invalid_request` | 400 | [`RequestRejection::Invalid`] | a malformed body or field (the message names it) | none |
/// | `not_found` | 404 | [`RequestRejection::NotFound`] | the thing a route names does not exist | none |
/// | `username_taken` | 409 | [`AccountRejection::UsernameTaken`] | registration of an existing username (in any case) | none |
/// | `rate_limited` | 429 | [`RequestRejection::RateLimited`] | too many attempts; `Retry-After` says when to try again | none |
/// | `unavailable` | 503 | [`Unavailable`] of a [`Backend::Service`] | a backend failed; the request may succeed later | none |
/// | `store_unavailable` | 503 | [`Unavailable`] of a [`Backend::Store`] | the store of users, logins or revocations cannot be reached; `Retry-After: 5` | none |
///
/// The `scope=` of an `insufficient_scope` challenge names scopes that
/// would do: the first alternative of a [`Scoped`](crate::axum::Scoped)
/// requirement, or the scopes a forward-auth check found missing. With the `axum`
/// feature, an `Error` (and each rejection type) is a response with exactly
/// this status, body and headers, and a 503 logs its source chain;
/// [`TokenGate::on_error`](crate::axum::TokenGate::on_error) replaces any of
/// them.
///
/// ```
/// use tokengate::{Error, TokenRejection};
///
/// let err = Error::from(TokenRejection::Expired);
/// assert_eq!(err.code(), "token_expired");
/// assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
/// assert!(matches!(err, Error::Token(TokenRejection::Expired)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Finding or verifying the token failed: always 401.
    #[error(transparent)]
    Token(#[from] TokenRejection),
    /// The token is valid but lacks what the route requires: 403.
    #[error(transparent)]
    Access(#[from] AccessRejection),
    /// A login or a registration was refused.
    #[error(transparent)]
    Account(#[from] AccountRejection),
    /// The request is malformed, names nothing, or comes too often.
    #[error(transparent)]
    Request(#[from] RequestRejection),
    /// A backend failed; the request may succeed later: 503.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Why no valid token was found: every one answers 401.
///
/// ```
/// use tokengate::TokenRejection;
///
/// assert_eq!(TokenRejection::Revoked.to_string(), "token has been revoked");
/// assert_eq!(TokenRejection::Invalid("malformed token").to_string(), "malformed token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// No token in any enabled location.
    #[error("missing authorization token")]
    Missing,
    /// `Authorization` present but not `<type> <token>`, or sent twice.
    #[error("{0}")]
    InvalidHeader(String),
    /// Malformed, bad signature, wrong algorithm, unknown key, not yet valid.
    #[error("{0}")]
    Invalid(&'static str),
    /// Wrong `aud` or `iss`, or a required claim is missing or malformed.
    #[error("{0}")]
    InvalidClaims(String),
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
    /// The token's `jti` or login is revoked, or it predates the subject's revoke-all time.
    #[error("token has been revoked")]
    Revoked,
    /// A refresh token where an access token is needed, or the reverse:
    /// holds the type that is allowed.
    #[error("only {0} tokens are allowed")]
    WrongType(TokenType),
    /// The route needs a fresh access token.
    #[error("fresh token required")]
    FreshRequired,
    /// A cookie-borne token on a state-changing method without a matching CSRF header.
    #[error("{0}")]
    CsrfFailed(&'static str),
    /// The token is valid but its subject no longer loads as a user
    /// (code `invalid_token`).
    #[error("user not found")]
    SubjectGone,
    /// A DPoP refusal (RFC 9449): `invalid_dpop_proof`, `use_dpop_nonce`
    /// or `invalid_token`, with a `DPoP` challenge naming the accepted
    /// algorithms.
    #[error("{0}")]
    Dpop(crate::dpop::DpopRejection),
}

/// What a valid token lacks: 403, never 401.
///
/// ```
/// use tokengate::{AccessRejection, Error};
///
/// let err = Error::from(AccessRejection::InsufficientScope("admin".into()));
/// assert_eq!((err.code(), err.status().as_u16()), ("insufficient_scope", 403));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessRejection {
    /// The token lacks a required scope. Holds the scopes that would do.
    #[error("token lacks the required scope")]
    InsufficientScope(String),
    /// The token lacks a required role. Holds the requirement as text.
    #[error("token lacks the required role")]
    InsufficientRole(String),
}

/// A refused login or registration.
///
/// ```
/// use tokengate::{AccountRejection, Error};
///
/// let err = Error::from(AccountRejection::UsernameTaken);
/// assert_eq!((err.code(), err.status().as_u16()), ("username_taken", 409));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountRejection {
    /// Wrong username or password (one message for both).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Registration of an existing username.
    #[error("username is already taken")]
    UsernameTaken,
    /// Registration is disabled by configuration.
    #[error("registration is closed")]
    RegistrationClosed,
    /// A passkey login was refused: an unknown or another user's passkey,
    /// a bad signature, another origin, a cloned authenticator, a disabled
    /// user (one message for all; code `invalid_credentials`).
    #[error("the passkey was not accepted")]
    PasskeyRefused,
}

/// A request refused for itself rather than for its token.
///
/// ```
/// use tokengate::{Error, RequestRejection};
///
/// let err = Error::from(RequestRejection::Invalid("username: must not be empty".into()));
/// assert_eq!((err.code(), err.status().as_u16()), ("invalid_request", 400));
/// assert_eq!(err.to_string(), "username: must not be empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestRejection {
    /// Malformed body or field; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The thing a route names does not exist (e.g. an unknown OIDC provider).
    #[error("not found")]
    NotFound,
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many attempts, retry later")]
    RateLimited {
        /// Seconds until a new attempt may succeed.
        retry_after: u64,
    },
}

/// Which kind of backend failed, which decides the code.
///
/// ```
/// use tokengate::Backend;
///
/// assert_ne!(Backend::Store, Backend::Service);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The store of users, logins or revocations (`store_unavailable`,
    /// with `Retry-After: 5`).
    Store,
    /// Anything else: an OIDC provider, a hashing pool (`unavailable`).
    Service,
}

/// A backend failed: the client sees a generic message, the source stays
/// for logs ([`std::error::Error::source`]).
///
/// ```
/// use std::error::Error as _;
/// use tokengate::{Backend, Error, Unavailable};
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
/// let err = Error::from(Unavailable::new(Backend::Store, io));
/// assert_eq!((err.code(), err.status().as_u16()), ("store_unavailable", 503));
/// assert_eq!(err.to_string(), "the token store is temporarily unavailable");
/// assert_eq!(err.source().unwrap().to_string(), "connection refused");
/// ```
#[derive(Clone, thiserror::Error)]
#[error("{}", match .backend {
    Backend::Store => "the token store is temporarily unavailable",
    Backend::Service => "service temporarily unavailable",
})]
pub struct Unavailable {
    backend: Backend,
    #[source]
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl Unavailable {
    /// A failure of `backend`, caused by `source`.
    ///
    /// ```
    /// use tokengate::{Backend, Unavailable};
    ///
    /// let err = Unavailable::new(Backend::Service, "the provider timed out");
    /// assert_eq!(err.backend(), Backend::Service);
    /// ```
    pub fn new(
        backend: Backend,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            backend,
            source: Arc::from(source.into()),
        }
    }

    /// Which kind of backend failed.
    ///
    /// ```
    /// use tokengate::{Backend, Unavailable};
    ///
    /// assert_eq!(Unavailable::new(Backend::Store, "down").backend(), Backend::Store);
    /// ```
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The source and its own sources, joined with `": "`: what a log line
    /// needs.
    ///
    /// ```
    /// use tokengate::{Backend, Unavailable};
    ///
    /// assert_eq!(Unavailable::new(Backend::Store, "refused").chain(), "refused");
    /// ```
    pub fn chain(&self) -> String {
        let mut text = self.source.to_string();
        let mut next = self.source.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }
}

impl std::fmt::Debug for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unavailable")
            .field("backend", &self.backend)
            .field("source", &self.source)
            .finish()
    }
}

/// Two failures are equal when the same kind of backend failed for the
/// same stated reason (the source has no equality of its own).
impl PartialEq for Unavailable {
    fn eq(&self, other: &Self) -> bool {
        self.backend == other.backend && self.chain() == other.chain()
    }
}

impl Eq for Unavailable {}

/// The JSON body of every error response: `{"code": "...", "msg": "..."}`.
///
/// ```
/// use tokengate::{Error, ErrorBody, TokenRejection};
///
/// let body: ErrorBody = Error::from(TokenRejection::Revoked).body();
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
        Unavailable::new(Backend::Store, e).into()
    }
}

impl From<crate::keys::KeyError> for Error {
    fn from(e: crate::keys::KeyError) -> Self {
        Unavailable::new(Backend::Service, e).into()
    }
}

impl Error {
    /// The machine-readable code (the table above lists every one).
    ///
    /// ```
    /// use tokengate::{AccessRejection, Error, TokenRejection};
    ///
    /// assert_eq!(Error::from(TokenRejection::Missing).code(), "authorization_header_missing");
    /// assert_eq!(Error::from(AccessRejection::InsufficientRole("admin".into())).code(), "insufficient_role");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::Token(rejection) => match rejection {
                TokenRejection::Missing => "authorization_header_missing",
                TokenRejection::InvalidHeader(_) => "invalid_header",
                TokenRejection::Invalid(_) | TokenRejection::SubjectGone => "invalid_token",
                TokenRejection::InvalidClaims(_) => "invalid_claims",
                TokenRejection::Expired => "token_expired",
                TokenRejection::Revoked => "token_revoked",
                TokenRejection::WrongType(_) => "wrong_token_type",
                TokenRejection::FreshRequired => "fresh_token_required",
                TokenRejection::CsrfFailed(_) => "csrf_failed",
                TokenRejection::Dpop(dpop) => dpop.error.as_str(),
            },
            Error::Access(AccessRejection::InsufficientScope(_)) => "insufficient_scope",
            Error::Access(AccessRejection::InsufficientRole(_)) => "insufficient_role",
            Error::Account(rejection) => match rejection {
                AccountRejection::InvalidCredentials | AccountRejection::PasskeyRefused => {
                    "invalid_credentials"
                }
                AccountRejection::UsernameTaken => "username_taken",
                AccountRejection::RegistrationClosed => "registration_closed",
            },
            Error::Request(rejection) => match rejection {
                RequestRejection::Invalid(_) => "invalid_request",
                RequestRejection::NotFound => "not_found",
                RequestRejection::RateLimited { .. } => "rate_limited",
            },
            Error::Unavailable(e) => match e.backend {
                Backend::Store => "store_unavailable",
                Backend::Service => "unavailable",
            },
        }
    }

    /// The HTTP status: 401 for token problems,
    /// 403 for a missing scope or role, never 401 for it.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tokengate::{AccessRejection, Error, RequestRejection, TokenRejection};
    ///
    /// assert_eq!(Error::from(TokenRejection::Invalid("bad signature")).status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(Error::from(AccessRejection::InsufficientScope("admin".into())).status(), StatusCode::FORBIDDEN);
    /// assert_eq!(Error::from(RequestRejection::RateLimited { retry_after: 30 }).status(), StatusCode::TOO_MANY_REQUESTS);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Token(_)
            | Error::Account(
                AccountRejection::InvalidCredentials | AccountRejection::PasskeyRefused,
            ) => StatusCode::UNAUTHORIZED,
            Error::Access(_) | Error::Account(AccountRejection::RegistrationClosed) => {
                StatusCode::FORBIDDEN
            }
            Error::Account(AccountRejection::UsernameTaken) => StatusCode::CONFLICT,
            Error::Request(RequestRejection::Invalid(_)) => StatusCode::BAD_REQUEST,
            Error::Request(RequestRejection::NotFound) => StatusCode::NOT_FOUND,
            Error::Request(RequestRejection::RateLimited { .. }) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3), for 401s and scope 403s.
    ///
    /// ```
    /// use tokengate::{AccessRejection, AccountRejection, Error, TokenRejection};
    ///
    /// assert_eq!(Error::from(TokenRejection::Missing).www_authenticate().unwrap(), r#"Bearer realm="tokengate""#);
    /// assert_eq!(Error::from(TokenRejection::Expired).www_authenticate().unwrap(),
    ///    r#"Bearer realm="tokengate", error="invalid_token""#);
    /// assert_eq!(Error::from(AccessRejection::InsufficientScope("read:messages".into())).www_authenticate().unwrap(),
    ///    r#"Bearer realm="tokengate", error="insufficient_scope", scope="read:messages""#);
    /// assert_eq!(Error::from(AccountRejection::UsernameTaken).www_authenticate(), None);
    /// ```
    pub fn www_authenticate(&self) -> Option<String> {
        const REALM: &str = r#"Bearer realm="tokengate""#;
        match self {
            Error::Token(TokenRejection::Missing | TokenRejection::InvalidHeader(_))
            | Error::Account(
                AccountRejection::InvalidCredentials | AccountRejection::PasskeyRefused,
            ) => Some(REALM.to_owned()),
            Error::Token(TokenRejection::Dpop(dpop)) => Some(dpop.challenge()),
            Error::Token(_) => Some(format!(r#"{REALM}, error="invalid_token""#)),
            Error::Access(AccessRejection::InsufficientScope(scope)) => Some(format!(
                r#"{REALM}, error="insufficient_scope", scope="{}""#,
                scope.replace(['"', '\\'], "")
            )),
            _ => None,
        }
    }

    /// The `{"code","msg"}` body.
    ///
    /// ```
    /// use tokengate::{Error, TokenRejection};
    ///
    /// let body = Error::from(TokenRejection::Expired).body();
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
        if let Error::Unavailable(e) = &self {
            // The client sees a generic message; the operator needs why.
            tracing::error!(code = self.code(), error = %e.chain(), "backend unavailable");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(value) = self.www_authenticate()
            && let Ok(value) = http::HeaderValue::from_str(&value)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        match self {
            Error::Request(RequestRejection::RateLimited { retry_after }) => {
                headers.insert(header::RETRY_AFTER, http::HeaderValue::from(retry_after));
            }
            Error::Unavailable(e) if e.backend == Backend::Store => {
                // The pool finds a returned database within seconds.
                headers.insert(header::RETRY_AFTER, http::HeaderValue::from(5u64));
            }
            Error::Token(TokenRejection::Dpop(crate::dpop::DpopRejection {
                nonce: Some(nonce),
                ..
            })) => {
                if let Ok(value) = http::HeaderValue::from_str(&nonce) {
                    headers.insert(crate::dpop::DPOP_NONCE, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// Each rejection is a response of its own, the same as its [`Error`].
macro_rules! rejection_responses {
    ($($rejection:ty),*) => {$(
        #[cfg(feature = "axum")]
        impl axum::response::IntoResponse for $rejection {
            fn into_response(self) -> axum::response::Response {
                Error::from(self).into_response()
            }
        }
    )*};
}

rejection_responses!(
    TokenRejection,
    AccessRejection,
    AccountRejection,
    RequestRejection,
    Unavailable
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_401_with_a_token_says_invalid_token() {
        let err = Error::from(TokenRejection::Expired);
        assert_eq!(
            err.www_authenticate().unwrap(),
            r#"Bearer realm="tokengate", error="invalid_token""#
        );
        assert_eq!(
            Error::from(TokenRejection::Missing)
                .www_authenticate()
                .unwrap(),
            r#"Bearer realm="tokengate""#
        );
    }

    #[test]
    fn scope_errors_are_403_with_the_scope() {
        let err = Error::from(AccessRejection::InsufficientScope("read:messages".into()));
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            err.www_authenticate().unwrap(),
            r#"Bearer realm="tokengate", error="insufficient_scope", scope="read:messages""#
        );
    }

    #[test]
    fn a_backend_failure_keeps_its_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("query failed")]
        struct Query(#[source] std::io::Error);
        let io = std::io::Error::other("connection reset");
        let err = Error::from(Unavailable::new(Backend::Store, Query(io)));
        let Error::Unavailable(unavailable) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(unavailable.chain(), "query failed: connection reset");
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(source.to_string(), "query failed");
        assert_eq!(source.source().unwrap().to_string(), "connection reset");
        // The client's message names no backend detail.
        assert!(!err.body().msg.contains("connection"));
    }
}
