//! Forward auth: answering a reverse proxy (nginx `auth_request`, Caddy
//! `forward_auth`, Traefik `ForwardAuth`) about a request it is about to
//! pass on to an application.
//!
//! The proxy asks with a `GET` of its own, so the method of *that* request
//! says nothing. What decides is the original request, which the proxy
//! describes in headers ([`OriginalRequest`]): a cookie-borne token needs
//! its CSRF header unless the original method is known to be safe. The
//! requirements of the protected location travel in the query string
//! ([`ForwardPolicy`]), and the answer carries the identity the proxy hands
//! to the application ([`identity_headers`]).
//!
//! ```
//! use tokengate::forward::{ForwardPolicy, OriginalRequest};
//!
//! let (parts, _) = http::Request::get("/auth/verify?scope=read:reports&role=admin")
//!     .header("X-Original-Method", "POST")
//!     .header("X-Original-URI", "/reports/7")
//!     .body(()).unwrap().into_parts();
//! let original = OriginalRequest::from_headers(&parts.headers);
//! assert_eq!(original.method(), Some(&http::Method::POST));
//! assert_eq!(original.uri(), Some("/reports/7"));
//! let policy = ForwardPolicy::from_query(parts.uri.query()).unwrap();
//! assert_eq!((policy.scopes(), policy.roles()), (&["read:reports".to_owned()][..], &["admin".to_owned()][..]));
//! ```

use crate::{AccessRejection, RequestRejection, TokenRejection};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::Error;
use crate::token::VerifiedToken;
use crate::transport::Transport;

/// Headers naming the original method: Traefik's and Caddy's, then nginx's
/// convention.
const METHOD_HEADERS: [&str; 2] = ["x-forwarded-method", "x-original-method"];
/// Headers naming the original URI (path and query), in the same order.
const URI_HEADERS: [&str; 2] = ["x-forwarded-uri", "x-original-uri"];

/// The request a proxy is about to pass on, as its headers describe it:
/// `X-Forwarded-Method`, `X-Forwarded-Uri`, `X-Forwarded-Host` (Traefik,
/// Caddy) or `X-Original-Method`, `X-Original-URI` (nginx).
///
/// The method is read strictly: it is *unknown* when no header names it,
/// when a value is not a method, or when the values disagree (two headers,
/// or one sent twice). An unknown method counts as state-changing, so a
/// proxy that forgot to say, or a client that added its own header next to
/// the proxy's, never skips the CSRF check.
///
/// ```
/// use tokengate::forward::OriginalRequest;
///
/// let headers = |pairs: &[(&'static str, &str)]| {
///     let mut map = http::HeaderMap::new();
///     for (k, v) in pairs { map.append(*k, v.parse().unwrap()); }
///     map
/// };
/// let get = OriginalRequest::from_headers(&headers(&[("X-Forwarded-Method", "GET")]));
/// assert_eq!(get.method(), Some(&http::Method::GET));
/// // The proxy says POST, the client added GET: unknown.
/// let mixed = OriginalRequest::from_headers(&headers(&[("X-Forwarded-Method", "GET"), ("X-Original-Method", "POST")]));
/// assert_eq!(mixed.method(), None);
/// assert_eq!(OriginalRequest::from_headers(&http::HeaderMap::new()).method(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalRequest {
    method: Option<Method>,
    uri: Option<String>,
    host: Option<String>,
    proto: Option<String>,
}

impl OriginalRequest {
    /// Reads the original request from a forward-auth request's headers.
    ///
    /// ```
    /// use tokengate::forward::OriginalRequest;
    ///
    /// let (parts, _) = http::Request::get("/auth/verify")
    ///     .header("X-Forwarded-Method", "DELETE")
    ///     .header("X-Forwarded-Uri", "/memos/3")
    ///     .header("X-Forwarded-Host", "app.example")
    ///     .body(()).unwrap().into_parts();
    /// let original = OriginalRequest::from_headers(&parts.headers);
    /// assert_eq!(original.method(), Some(&http::Method::DELETE));
    /// assert_eq!((original.uri(), original.host()), (Some("/memos/3"), Some("app.example")));
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Self {
        OriginalRequest {
            method: method(headers),
            uri: first_text(headers, &URI_HEADERS),
            host: first_text(headers, &["x-forwarded-host"]),
            proto: first_text(headers, &["x-forwarded-proto"]),
        }
    }

    /// The original absolute URL, when the proxy names its scheme
    /// (`X-Forwarded-Proto`), host and URI: what a DPoP proof for the
    /// original request names.
    ///
    /// ```
    /// use tokengate::forward::OriginalRequest;
    ///
    /// let (parts, _) = http::Request::get("/auth/verify")
    ///     .header("X-Forwarded-Proto", "https")
    ///     .header("X-Forwarded-Host", "app.example")
    ///     .header("X-Forwarded-Uri", "/memos/3?x=1")
    ///     .body(()).unwrap().into_parts();
    /// let original = OriginalRequest::from_headers(&parts.headers);
    /// assert_eq!(original.url().unwrap(), "https://app.example/memos/3?x=1");
    /// assert_eq!(OriginalRequest::default().url(), None);
    /// ```
    pub fn url(&self) -> Option<String> {
        let (proto, host, uri) = (
            self.proto.as_deref()?,
            self.host.as_deref()?,
            self.uri.as_deref()?,
        );
        uri.starts_with('/')
            .then(|| format!("{proto}://{host}{uri}"))
    }

    /// The original method, when the headers name one without contradiction.
    ///
    /// ```
    /// use tokengate::forward::OriginalRequest;
    ///
    /// let (parts, _) = http::Request::get("/").header("X-Original-Method", "get").body(()).unwrap().into_parts();
    /// // Methods are case-sensitive: `get` is not GET (and so is not safe).
    /// assert_ne!(OriginalRequest::from_headers(&parts.headers).method(), Some(&http::Method::GET));
    /// ```
    pub fn method(&self) -> Option<&Method> {
        self.method.as_ref()
    }

    /// The original path and query (`X-Forwarded-Uri`, else `X-Original-URI`).
    ///
    /// ```
    /// use tokengate::forward::OriginalRequest;
    ///
    /// let (parts, _) = http::Request::get("/").header("X-Original-URI", "/app?a=1&b=2").body(()).unwrap().into_parts();
    /// assert_eq!(OriginalRequest::from_headers(&parts.headers).uri(), Some("/app?a=1&b=2"));
    /// ```
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }

    /// The original host (`X-Forwarded-Host`).
    ///
    /// ```
    /// use tokengate::forward::OriginalRequest;
    ///
    /// assert_eq!(OriginalRequest::default().host(), None);
    /// ```
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// Whether a cookie-borne token needs its CSRF header for this request:
    /// unless the original method is known to be GET, HEAD or OPTIONS (and
    /// not one of the transport's CSRF methods).
    ///
    /// ```
    /// use tokengate::forward::OriginalRequest;
    /// use tokengate::transport::Transport;
    ///
    /// let of = |method: &str| {
    ///     let (parts, _) = http::Request::get("/").header("X-Forwarded-Method", method).body(()).unwrap().into_parts();
    ///     OriginalRequest::from_headers(&parts.headers)
    /// };
    /// let transport = Transport::default();
    /// assert!(!of("GET").needs_csrf(&transport));
    /// assert!(of("POST").needs_csrf(&transport));
    /// assert!(of("PROPFIND").needs_csrf(&transport));
    /// assert!(OriginalRequest::default().needs_csrf(&transport)); // unknown: fail closed
    /// ```
    pub fn needs_csrf(&self, transport: &Transport) -> bool {
        match &self.method {
            None => true,
            Some(method) => {
                transport.csrf_methods.contains(method)
                    || !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            }
        }
    }
}

/// The one method every method header names, or `None`.
fn method(headers: &HeaderMap) -> Option<Method> {
    let mut found: Option<Method> = None;
    for name in METHOD_HEADERS {
        for value in headers.get_all(name) {
            let method = Method::from_bytes(value.as_bytes()).ok()?;
            match &found {
                Some(seen) if *seen != method => return None,
                _ => found = Some(method),
            }
        }
    }
    found
}

fn first_text(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Which issuer a forwarded request's token must come from (`?issuer=`).
///
/// ```
/// use tokengate::forward::{ForwardPolicy, IssuerRule};
///
/// let policy = ForwardPolicy::from_query(Some("issuer=self")).unwrap();
/// assert_eq!(policy.issuer(), Some(&IssuerRule::FirstParty));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerRule {
    /// `self`: this service's own tokens.
    FirstParty,
    /// A trusted issuer, by its exact `iss`.
    Exact(String),
}

/// What a protected location demands of a token, from the forward-auth
/// query string: `scope=` and `role=` (space-separated, all required; the
/// parameter may repeat), `issuer=` (`self`, or a trusted issuer's exact
/// `iss`). An unknown parameter is refused (400 `invalid_request`): a typo
/// such as `scopes=admin` must not let every token through.
///
/// ```
/// use tokengate::forward::ForwardPolicy;
///
/// let policy = ForwardPolicy::from_query(Some("scope=read%20write&scope=admin&role=ops")).unwrap();
/// assert_eq!(policy.scopes(), ["read", "write", "admin"]);
/// assert_eq!(policy.roles(), ["ops"]);
/// assert_eq!(ForwardPolicy::from_query(Some("scopes=admin")).unwrap_err().code(), "invalid_request");
/// assert_eq!(ForwardPolicy::from_query(None).unwrap(), ForwardPolicy::default());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardPolicy {
    scopes: Vec<String>,
    roles: Vec<String>,
    issuer: Option<IssuerRule>,
}

impl ForwardPolicy {
    /// Reads the policy from a query string (without the `?`).
    ///
    /// ```
    /// use tokengate::forward::{ForwardPolicy, IssuerRule};
    ///
    /// let policy = ForwardPolicy::from_query(Some("issuer=https%3A%2F%2Ftenant.auth0.com%2F")).unwrap();
    /// assert_eq!(policy.issuer(), Some(&IssuerRule::Exact("https://tenant.auth0.com/".into())));
    /// // Two different issuers cannot both be required.
    /// assert!(ForwardPolicy::from_query(Some("issuer=self&issuer=https://a.example")).is_err());
    /// ```
    pub fn from_query(query: Option<&str>) -> Result<Self, Error> {
        let mut policy = ForwardPolicy::default();
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*name {
                "scope" => policy
                    .scopes
                    .extend(value.split_whitespace().map(str::to_owned)),
                "role" => policy
                    .roles
                    .extend(value.split_whitespace().map(str::to_owned)),
                "issuer" => {
                    let rule = match &*value {
                        "self" => IssuerRule::FirstParty,
                        iss => IssuerRule::Exact(iss.to_owned()),
                    };
                    if policy.issuer.as_ref().is_some_and(|seen| *seen != rule) {
                        return Err(RequestRejection::Invalid(
                            "issuer is given twice with different values".into(),
                        )
                        .into());
                    }
                    policy.issuer = Some(rule);
                }
                _ => {
                    return Err(RequestRejection::Invalid(
                        "unknown query parameter: expected scope, role or issuer".into(),
                    )
                    .into());
                }
            }
        }
        Ok(policy)
    }

    /// Requires these scopes (all of them).
    ///
    /// ```
    /// use tokengate::forward::ForwardPolicy;
    ///
    /// assert_eq!(ForwardPolicy::default().require_scopes(["a", "b"]).scopes(), ["a", "b"]);
    /// ```
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Requires these roles (all of them).
    ///
    /// ```
    /// use tokengate::forward::ForwardPolicy;
    ///
    /// assert_eq!(ForwardPolicy::default().require_roles(["admin"]).roles(), ["admin"]);
    /// ```
    pub fn require_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// Requires tokens of one issuer.
    ///
    /// ```
    /// use tokengate::forward::{ForwardPolicy, IssuerRule};
    ///
    /// let policy = ForwardPolicy::default().require_issuer(IssuerRule::FirstParty);
    /// assert_eq!(policy.issuer(), Some(&IssuerRule::FirstParty));
    /// ```
    pub fn require_issuer(mut self, issuer: IssuerRule) -> Self {
        self.issuer = Some(issuer);
        self
    }

    /// The required scopes.
    ///
    /// ```
    /// use tokengate::forward::ForwardPolicy;
    ///
    /// assert!(ForwardPolicy::default().scopes().is_empty());
    /// ```
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The required roles.
    ///
    /// ```
    /// use tokengate::forward::ForwardPolicy;
    ///
    /// assert!(ForwardPolicy::default().roles().is_empty());
    /// ```
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The required issuer, if any.
    ///
    /// ```
    /// use tokengate::forward::ForwardPolicy;
    ///
    /// assert_eq!(ForwardPolicy::default().issuer(), None);
    /// ```
    pub fn issuer(&self) -> Option<&IssuerRule> {
        self.issuer.as_ref()
    }

    /// Checks a verified token: another issuer → 401 `invalid_claims`; a
    /// missing scope → 403 `insufficient_scope`; a missing role → 403
    /// `insufficient_role` (each naming what is missing).
    ///
    /// ```
    /// use tokengate::forward::{ForwardPolicy, IssuerRule};
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let token = engine.verify(&engine.issue(NewToken::access("alice").scope("read").roles(["ops"])).unwrap().token).unwrap();
    /// assert!(ForwardPolicy::default().require_scopes(["read"]).require_roles(["ops"]).check(&token).is_ok());
    /// assert_eq!(ForwardPolicy::default().require_roles(["admin"]).check(&token).unwrap_err().code(), "insufficient_role");
    /// assert_eq!(ForwardPolicy::default().require_scopes(["write"]).check(&token).unwrap_err().code(), "insufficient_scope");
    /// let other = ForwardPolicy::default().require_issuer(IssuerRule::Exact("https://idp.example".into()));
    /// assert_eq!(other.check(&token).unwrap_err().code(), "invalid_claims");
    /// ```
    pub fn check(&self, token: &VerifiedToken) -> Result<(), Error> {
        let from_issuer = match &self.issuer {
            None => true,
            Some(IssuerRule::FirstParty) => token.origin.is_first_party(),
            Some(IssuerRule::Exact(iss)) => token.origin.issuer() == Some(iss.as_str()),
        };
        if !from_issuer {
            return Err(TokenRejection::InvalidClaims(
                "the token is not from the required issuer".into(),
            )
            .into());
        }
        let missing = |needed: &[String], held: &[String]| -> Vec<String> {
            needed
                .iter()
                .filter(|n| !held.contains(n))
                .cloned()
                .collect()
        };
        let scopes = missing(&self.scopes, &token.claims.scopes);
        if !scopes.is_empty() {
            return Err(AccessRejection::InsufficientScope(scopes.join(" ")).into());
        }
        let roles = missing(&self.roles, &token.claims.roles);
        if !roles.is_empty() {
            return Err(AccessRejection::InsufficientRole(roles.join(" ")).into());
        }
        Ok(())
    }
}

/// `X-Auth-Subject`: the token's `sub`.
pub const SUBJECT_HEADER: HeaderName = HeaderName::from_static("x-auth-subject");
/// `X-Auth-Scopes`: its scopes, space-separated.
pub const SCOPES_HEADER: HeaderName = HeaderName::from_static("x-auth-scopes");
/// `X-Auth-Roles`: its roles, space-separated.
pub const ROLES_HEADER: HeaderName = HeaderName::from_static("x-auth-roles");
/// `X-Auth-Issuer`: its `iss` (a trusted issuer's, or this service's).
pub const ISSUER_HEADER: HeaderName = HeaderName::from_static("x-auth-issuer");

/// The identity a proxy hands to the application: all four `X-Auth-*`
/// headers, always (empty when the token has no scopes, roles or `iss`), so
/// that a proxy copying them overwrites whatever the client sent. A claim
/// that cannot travel in a header (a control character) refuses the token
/// (401 `invalid_claims`) rather than pass it on without its identity.
///
/// ```
/// use tokengate::forward::identity_headers;
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::{NewToken, TokenEngine, Validation};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let token = engine.verify(&engine.issue(NewToken::access("42").scope("a b")).unwrap().token).unwrap();
/// let headers = identity_headers(&token).unwrap();
/// assert_eq!(headers["x-auth-subject"], "42");
/// assert_eq!(headers["x-auth-scopes"], "a b");
/// assert_eq!(headers["x-auth-roles"], "");
/// assert_eq!(headers["x-auth-issuer"], "");
/// ```
pub fn identity_headers(token: &VerifiedToken) -> Result<HeaderMap, Error> {
    let claims = &token.claims;
    let issuer = claims
        .iss
        .as_deref()
        .or(token.origin.issuer())
        .unwrap_or_default();
    let values = [
        (SUBJECT_HEADER, token.subject().to_owned()),
        (SCOPES_HEADER, claims.scopes.join(" ")),
        (ROLES_HEADER, claims.roles.join(" ")),
        (ISSUER_HEADER, issuer.to_owned()),
    ];
    let mut headers = HeaderMap::with_capacity(values.len());
    for (name, value) in values {
        let value = HeaderValue::try_from(value).map_err(|_| {
            Error::Token(TokenRejection::InvalidClaims(format!(
                "{name} cannot carry the token's claim"
            )))
        })?;
        headers.insert(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_method_is_unknown_unless_every_header_agrees() {
        let method = |pairs: &[(&str, &str)]| OriginalRequest::from_headers(&headers(pairs)).method;
        assert_eq!(method(&[("x-original-method", "PUT")]), Some(Method::PUT));
        assert_eq!(
            method(&[("x-forwarded-method", "GET"), ("x-original-method", "GET")]),
            Some(Method::GET)
        );
        // A client's own GET next to the proxy's POST, in either header.
        assert_eq!(
            method(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-method", "POST")
            ]),
            None
        );
        assert_eq!(
            method(&[("x-original-method", "POST"), ("x-forwarded-method", "GET")]),
            None
        );
        assert_eq!(method(&[("x-forwarded-method", "GET POST")]), None);
        assert_eq!(method(&[("x-forwarded-method", "")]), None);
        assert_eq!(method(&[]), None);
    }

    #[test]
    fn only_known_safe_methods_skip_csrf() {
        let transport = Transport::default();
        let needs = |m: &str| {
            OriginalRequest::from_headers(&headers(&[("x-forwarded-method", m)]))
                .needs_csrf(&transport)
        };
        for safe in ["GET", "HEAD", "OPTIONS"] {
            assert!(!needs(safe), "{safe}");
        }
        for unsafe_ in ["POST", "PUT", "PATCH", "DELETE", "PROPFIND", "get", "TRACE"] {
            assert!(needs(unsafe_), "{unsafe_}");
        }
        // A transport that checks GET too is obeyed.
        let strict = Transport {
            csrf_methods: vec![Method::GET],
            ..Transport::default()
        };
        assert!(
            OriginalRequest::from_headers(&headers(&[("x-forwarded-method", "GET")]))
                .needs_csrf(&strict)
        );
    }

    #[test]
    fn the_query_is_read_strictly() {
        let p = ForwardPolicy::from_query(Some("role=a+b&role=c&scope=")).unwrap();
        assert_eq!(p.roles(), ["a", "b", "c"]);
        assert!(p.scopes().is_empty());
        for bad in [
            "scopes=x",
            "scope=x&extra=1",
            "Role=admin",
            "issuer=self&issuer=x",
        ] {
            assert_eq!(
                ForwardPolicy::from_query(Some(bad)).unwrap_err().code(),
                "invalid_request",
                "{bad}"
            );
        }
        assert!(ForwardPolicy::from_query(Some("issuer=self&issuer=self")).is_ok());
        assert!(ForwardPolicy::from_query(Some("")).is_ok());
    }
}
