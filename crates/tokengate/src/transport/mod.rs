//! Where tokens travel: the `Authorization` header, cookies (with CSRF
//! double submit), the query string and the JSON body.
//!
//! Locations are tried in the configured order; only a *missing* token falls
//! through to the next one. A malformed `Authorization` header is an error
//! even when a valid cookie follows, so a client never silently authenticates
//! as someone other than it meant to.
//!
//! ```
//! use tokengate::claims::TokenType;
//! use tokengate::transport::{TokenLocation, Transport};
//!
//! let transport = Transport::default().locations([TokenLocation::Headers, TokenLocation::QueryString]);
//! let request = http::Request::get("/ws?jwt=abc").body(()).unwrap();
//! let found = transport.locate(&request.into_parts().0, TokenType::Access).unwrap();
//! assert_eq!((found.token.as_str(), found.location), ("abc", TokenLocation::QueryString));
//! ```

mod cookies;
mod csrf;

use crate::TokenRejection;
use std::borrow::Cow;
use std::str::FromStr;

use http::{HeaderMap, HeaderName, Method, header};

pub use cookies::{CookieSettings, OwnCookie, SameSite, SetCookies, find_cookie};
pub use csrf::check_csrf;
#[cfg(feature = "axum")]
pub(crate) use csrf::double_submit;

use crate::Error;
use crate::claims::TokenType;

/// A place a token can be found. Parses from the service's setting names.
///
/// ```
/// use tokengate::transport::TokenLocation;
///
/// let locations: Vec<TokenLocation> = "headers,cookies".split(',').map(|s| s.parse().unwrap()).collect();
/// assert_eq!(locations, [TokenLocation::Headers, TokenLocation::Cookies]);
/// assert!("body".parse::<TokenLocation>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenLocation {
    /// `Authorization: Bearer <token>`.
    Headers,
    /// `access_token_cookie` / `refresh_token_cookie`.
    Cookies,
    /// `?jwt=<token>` (off by default: URLs end up in logs).
    QueryString,
    /// `{"access_token": ...}` / `{"refresh_token": ...}` in a JSON body.
    Json,
}

impl FromStr for TokenLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "headers" => Ok(TokenLocation::Headers),
            "cookies" => Ok(TokenLocation::Cookies),
            "query_string" => Ok(TokenLocation::QueryString),
            "json" => Ok(TokenLocation::Json),
            other => Err(format!(
                "unknown token location {other:?} (expected headers, cookies, query_string or json)"
            )),
        }
    }
}

/// A token found in a request, borrowed from it where it can be (a
/// header's), and whether it came with the `DPoP` scheme: what the gate
/// checks, where [`LocatedToken`] is what it answers.
#[derive(Debug)]
pub(crate) struct Found<'a> {
    pub(crate) token: FoundToken<'a>,
    pub(crate) location: TokenLocation,
    /// Sent as `Authorization: DPoP <token>` (RFC 9449).
    // Read by the gate (feature `axum`).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) dpop: bool,
}

/// A found token's bytes: text already (a cookie's, a query's, a JSON
/// body's), or a header's, whose characters are checked only when they are
/// read as text ([`FoundToken::text`]). The gate first looks the bytes up
/// among the tokens it has verified, which are text: a token sent again
/// is not read twice more (about 450 instructions of a request).
#[derive(Debug)]
pub(crate) enum FoundToken<'a> {
    Text(Cow<'a, str>),
    Header(&'a [u8]),
}

impl FoundToken<'_> {
    /// The token's bytes, as sent.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            FoundToken::Text(text) => text.as_bytes(),
            FoundToken::Header(bytes) => bytes,
        }
    }

    /// The token as text: a header's is refused (`invalid_header`) unless
    /// it is visible ASCII (or tabs, which verification then refuses).
    pub(crate) fn text(&self, transport: &Transport) -> Result<&str, Error> {
        match self {
            FoundToken::Text(text) => Ok(text),
            FoundToken::Header(bytes) => token_text(bytes)
                .then(|| std::str::from_utf8(bytes).ok())
                .flatten()
                .ok_or_else(|| transport.invalid_header()),
        }
    }
}

impl Found<'_> {
    /// The token, owned, once its characters are checked.
    pub(crate) fn into_located(self, transport: &Transport) -> Result<LocatedToken, Error> {
        let token = match self.token {
            FoundToken::Text(text) => text.into_owned(),
            header => header.text(transport)?.to_owned(),
        };
        Ok(LocatedToken {
            token,
            location: self.location,
        })
    }
}

/// Tokens found in a JSON body, put in the request extensions by
/// [`crate::axum::json_tokens`] because extractors of headers cannot read bodies.
///
/// ```
/// use tokengate::claims::TokenType;
/// use tokengate::transport::{JsonTokens, TokenLocation, Transport};
///
/// let transport = Transport::default().locations([TokenLocation::Json]);
/// let mut request = http::Request::post("/auth/refresh").body(()).unwrap();
/// request.extensions_mut().insert(JsonTokens { access: None, refresh: Some("r.r.r".into()) });
/// let (parts, _) = request.into_parts();
/// assert_eq!(transport.locate(&parts, TokenType::Refresh).unwrap().token, "r.r.r");
/// ```
#[derive(Debug, Clone, Default)]
pub struct JsonTokens {
    /// The `access_token` member.
    pub access: Option<String>,
    /// The `refresh_token` member.
    pub refresh: Option<String>,
}

/// A token and where it came from: what [`Transport::locate`] finds.
///
/// ```
/// use tokengate::claims::TokenType;
/// use tokengate::transport::{LocatedToken, TokenLocation, Transport};
///
/// let request = http::Request::get("/").header("Authorization", "Bearer abc").body(()).unwrap();
/// let found = Transport::default().locate(&request.into_parts().0, TokenType::Access).unwrap();
/// assert_eq!(found, LocatedToken { token: "abc".into(), location: TokenLocation::Headers });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedToken {
    /// The compact token.
    pub token: String,
    /// Its location.
    pub location: TokenLocation,
}

/// How tokens travel: locations, names, and cookie attributes. The names
/// default to Flask-JWT-Extended's.
///
/// ```
/// use tokengate::transport::{Transport, TokenLocation};
/// use tokengate::claims::TokenType;
///
/// let transport = Transport::default();
/// let req = http::Request::get("/").header("Authorization", "Bearer abc").body(()).unwrap();
/// let (parts, _) = req.into_parts();
/// let found = transport.locate(&parts, TokenType::Access).unwrap();
/// assert_eq!(found.token, "abc");
/// assert_eq!(found.location, TokenLocation::Headers);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Transport {
    /// Locations, in the order they are tried (default: headers, cookies).
    pub locations: Vec<TokenLocation>,
    /// The header carrying the token (default `Authorization`).
    pub header_name: HeaderName,
    /// The scheme before the token (default `Bearer`; empty: the bare token).
    pub header_type: String,
    /// Cookie of access tokens.
    pub access_cookie: String,
    /// Cookie of refresh tokens.
    pub refresh_cookie: String,
    /// Script-readable cookie with the access token's CSRF value.
    pub access_csrf_cookie: String,
    /// Script-readable cookie with the refresh token's CSRF value.
    pub refresh_csrf_cookie: String,
    /// The header a browser echoes the CSRF value in.
    pub csrf_header: HeaderName,
    /// Check CSRF for cookie-borne tokens (default true).
    pub csrf_protect: bool,
    /// Methods on which CSRF is checked.
    pub csrf_methods: Vec<Method>,
    /// Query parameter (default `jwt`).
    pub query_param: String,
    /// Cookie attributes.
    pub cookies: CookieSettings,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            locations: vec![TokenLocation::Headers, TokenLocation::Cookies],
            header_name: header::AUTHORIZATION,
            header_type: "Bearer".into(),
            access_cookie: "access_token_cookie".into(),
            refresh_cookie: "refresh_token_cookie".into(),
            access_csrf_cookie: "csrf_access_token".into(),
            refresh_csrf_cookie: "csrf_refresh_token".into(),
            csrf_header: HeaderName::from_static("x-csrf-token"),
            csrf_protect: true,
            csrf_methods: vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
            query_param: "jwt".into(),
            cookies: CookieSettings::default(),
        }
    }
}

impl Transport {
    /// Sets the locations, in order.
    ///
    /// ```
    /// use tokengate::transport::{TokenLocation, Transport};
    ///
    /// // Images in <img src>: a query string token, after the header.
    /// let transport = Transport::default().locations([TokenLocation::Headers, TokenLocation::QueryString]);
    /// assert!(!transport.uses_cookies());
    /// ```
    pub fn locations(mut self, locations: impl IntoIterator<Item = TokenLocation>) -> Self {
        self.locations = locations.into_iter().collect();
        self
    }

    /// Sets the header carrying the token and its scheme (default
    /// `Authorization: Bearer`; an empty scheme: the bare token).
    ///
    /// ```
    /// use http::HeaderName;
    /// use tokengate::claims::TokenType;
    /// use tokengate::transport::Transport;
    ///
    /// let transport = Transport::default().header(HeaderName::from_static("x-api-token"), "");
    /// let (parts, _) = http::Request::get("/").header("X-Api-Token", "abc").body(()).unwrap().into_parts();
    /// assert_eq!(transport.locate(&parts, TokenType::Access).unwrap().token, "abc");
    /// ```
    pub fn header(mut self, name: HeaderName, scheme: impl Into<String>) -> Self {
        self.header_name = name;
        self.header_type = scheme.into();
        self
    }

    /// Sets the names of the token cookies (access, refresh).
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// let transport = Transport::default().token_cookies("at", "rt");
    /// assert_eq!((transport.access_cookie.as_str(), transport.refresh_cookie.as_str()), ("at", "rt"));
    /// ```
    pub fn token_cookies(mut self, access: impl Into<String>, refresh: impl Into<String>) -> Self {
        self.access_cookie = access.into();
        self.refresh_cookie = refresh.into();
        self
    }

    /// Sets the names of the script-readable CSRF cookies (access, refresh).
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// let transport = Transport::default().csrf_cookies("xa", "xr");
    /// assert_eq!(transport.access_csrf_cookie, "xa");
    /// ```
    pub fn csrf_cookies(mut self, access: impl Into<String>, refresh: impl Into<String>) -> Self {
        self.access_csrf_cookie = access.into();
        self.refresh_csrf_cookie = refresh.into();
        self
    }

    /// Sets the header a browser echoes the CSRF value in (default `X-CSRF-TOKEN`).
    ///
    /// ```
    /// use http::HeaderName;
    /// use tokengate::transport::Transport;
    ///
    /// let transport = Transport::default().csrf_header(HeaderName::from_static("x-xsrf-token"));
    /// assert_eq!(transport.csrf_header, "x-xsrf-token");
    /// ```
    pub fn csrf_header(mut self, name: HeaderName) -> Self {
        self.csrf_header = name;
        self
    }

    /// Sets the methods on which a cookie-borne token needs its CSRF header
    /// (default POST, PUT, PATCH, DELETE).
    ///
    /// ```
    /// use http::Method;
    /// use tokengate::transport::Transport;
    ///
    /// let transport = Transport::default().csrf_methods([Method::POST]);
    /// assert_eq!(transport.csrf_methods, [Method::POST]);
    /// ```
    pub fn csrf_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.csrf_methods = methods.into_iter().collect();
        self
    }

    /// Turns the CSRF double submit off (Flask-JWT-Extended's
    /// `JWT_COOKIE_CSRF_PROTECT = False`): only for cookies that no other
    /// site can make a browser send (`SameSite=Strict` everywhere).
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// assert!(!Transport::default().without_csrf().csrf_protect);
    /// ```
    pub fn without_csrf(mut self) -> Self {
        self.csrf_protect = false;
        self
    }

    /// Sets the query parameter of query-string tokens (default `jwt`).
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// assert_eq!(Transport::default().query_param("token").query_param, "token");
    /// ```
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.query_param = name.into();
        self
    }

    /// Sets the cookies' attributes.
    ///
    /// ```
    /// use tokengate::transport::{CookieSettings, Transport};
    ///
    /// let transport = Transport::default().cookie_settings(CookieSettings::default().secure());
    /// assert!(transport.cookies.secure);
    /// ```
    pub fn cookie_settings(mut self, cookies: CookieSettings) -> Self {
        self.cookies = cookies;
        self
    }

    /// Whether tokens in cookies are accepted (and so cookies should be set).
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// assert!(Transport::default().uses_cookies()); // headers, then cookies
    /// ```
    pub fn uses_cookies(&self) -> bool {
        self.locations.contains(&TokenLocation::Cookies)
    }

    /// Finds the token of `token_type` in the request, trying each location
    /// in order. JSON body tokens are read from the request's [`JsonTokens`]
    /// extension, if a middleware put one there.
    ///
    /// Only a missing token falls through to the next location:
    ///
    /// ```
    /// use tokengate::claims::TokenType;
    /// use tokengate::transport::{TokenLocation, Transport};
    ///
    /// let transport = Transport::default();
    /// let (cookie_only, _) = http::Request::get("/").header("Cookie", "access_token_cookie=c.c.c")
    ///     .body(()).unwrap().into_parts();
    /// let found = transport.locate(&cookie_only, TokenType::Access).unwrap();
    /// assert_eq!((found.token.as_str(), found.location), ("c.c.c", TokenLocation::Cookies));
    ///
    /// let (bad_header, _) = http::Request::get("/").header("Authorization", "Basic YWxpY2U6")
    ///     .header("Cookie", "access_token_cookie=c.c.c").body(()).unwrap().into_parts();
    /// assert_eq!(transport.locate(&bad_header, TokenType::Access).unwrap_err().code(), "invalid_header");
    /// ```
    pub fn locate(
        &self,
        parts: &http::request::Parts,
        token_type: TokenType,
    ) -> Result<LocatedToken, Error> {
        self.find(parts, token_type)?.into_located(self)
    }

    /// [`Transport::locate`] without copying a header's token: what the
    /// gate checks on every request.
    pub(crate) fn find<'a>(
        &self,
        parts: &'a http::request::Parts,
        token_type: TokenType,
    ) -> Result<Found<'a>, Error> {
        for &location in &self.locations {
            let (found, dpop) = match location {
                TokenLocation::Headers => match self.header_token(&parts.headers)? {
                    Some((token, dpop)) => (Some(FoundToken::Header(token)), dpop),
                    None => (None, false),
                },
                TokenLocation::Cookies => {
                    let name = match token_type {
                        TokenType::Access => &self.access_cookie,
                        TokenType::Refresh => &self.refresh_cookie,
                    };
                    (
                        cookies::find_cookie(&parts.headers, name)?
                            .map(|token| FoundToken::Text(Cow::Owned(token))),
                        false,
                    )
                }
                TokenLocation::QueryString => (
                    parts.uri.query().and_then(|q| {
                        form_urlencoded::parse(q.as_bytes())
                            .find(|(k, _)| k == self.query_param.as_str())
                            .map(|(_, v)| FoundToken::Text(Cow::Owned(v.into_owned())))
                    }),
                    false,
                ),
                TokenLocation::Json => (
                    parts
                        .extensions
                        .get::<JsonTokens>()
                        .and_then(|t| match token_type {
                            TokenType::Access => t.access.as_deref(),
                            TokenType::Refresh => t.refresh.as_deref(),
                        })
                        .map(|token| FoundToken::Text(Cow::Borrowed(token))),
                    false,
                ),
            };
            if let Some(token) = found {
                return Ok(Found {
                    token,
                    location,
                    dpop,
                });
            }
        }
        Err(TokenRejection::Missing.into())
    }

    /// Whether the request's token header uses the `DPoP` scheme.
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// let request = http::Request::get("/").header("Authorization", "DPoP abc").body(()).unwrap();
    /// assert!(Transport::default().dpop_scheme(request.headers()));
    /// ```
    pub fn dpop_scheme(&self, headers: &HeaderMap) -> bool {
        self.header_name == header::AUTHORIZATION
            && headers
                .get(&self.header_name)
                .and_then(|v| v.as_bytes().get(..5))
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"DPoP "))
    }

    /// The header's token, and whether it came with the `DPoP` scheme. Its
    /// characters are not checked here: [`FoundToken::text`] does.
    fn header_token<'a>(&self, headers: &'a HeaderMap) -> Result<Option<(&'a [u8], bool)>, Error> {
        let mut values = headers.get_all(&self.header_name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(self.invalid_header());
        }
        let value = value.as_bytes();
        let dpop = self.header_name == header::AUTHORIZATION
            && value
                .get(..5)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"DPoP "));
        let token = if self.header_type.is_empty() {
            value
        } else {
            // RFC 7235: the scheme is case-insensitive; exactly one space.
            let space = value
                .iter()
                .position(|&b| b == b' ')
                .ok_or_else(|| self.invalid_header())?;
            let (scheme, token) = (&value[..space], &value[space + 1..]);
            // `DPoP <token>` (RFC 9449) is found here too; the gate decides
            // whether the token and its proof are acceptable.
            if !(dpop || scheme.eq_ignore_ascii_case(self.header_type.as_bytes())) {
                return Err(self.invalid_header());
            }
            token
        };
        if token.is_empty() {
            return Err(self.invalid_header());
        }
        Ok(Some((token, dpop)))
    }

    /// The answer to a token header of the wrong shape.
    fn invalid_header(&self) -> Error {
        Error::Token(TokenRejection::InvalidHeader(format!(
            "{} header must be '{} <token>'",
            self.header_name, self.header_type
        )))
    }
}

/// Whether a header's token holds only what `HeaderValue::to_str` accepts,
/// less the space: visible ASCII, and tabs (which the token check then
/// refuses as `invalid_token`). The quick test first; the exact one only
/// when it says no.
fn token_text(token: &[u8]) -> bool {
    visible_ascii(token)
        || token
            .iter()
            .all(|&b| b == b'\t' || (0x21..=0x7e).contains(&b))
}

/// Whether every byte is visible ASCII (`%x21-7E`: no space, no control,
/// nothing beyond ASCII): its smallest and largest bytes are. One pass
/// without an early exit, which the compiler runs over a whole vector of
/// bytes at a time (every new token is read, and most are 400
/// to 800 bytes: a third of the instructions of a byte-by-byte check,
/// measured).
fn visible_ascii(bytes: &[u8]) -> bool {
    let (smallest, largest) = bytes
        .iter()
        .fold((u8::MAX, u8::MIN), |(lo, hi), &b| (lo.min(b), hi.max(b)));
    // Empty: the fold's starting pair, which passes.
    smallest >= 0x21 && largest <= 0x7e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(builder: http::request::Builder) -> http::request::Parts {
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn header_must_be_bearer_and_one_token() {
        let t = Transport::default();
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "abc"] {
            let p = parts(http::Request::get("/").header("Authorization", bad));
            assert_eq!(
                t.locate(&p, TokenType::Access).unwrap_err().code(),
                "invalid_header",
                "{bad}"
            );
        }
        let p = parts(http::Request::get("/").header("Authorization", "bearer abc"));
        assert_eq!(t.locate(&p, TokenType::Access).unwrap().token, "abc");
    }

    #[test]
    fn visible_ascii_is_33_to_126_at_any_position() {
        assert!(visible_ascii(b"") && visible_ascii(b"!~"));
        for byte in 0..=u8::MAX {
            let visible = (0x21..=0x7e).contains(&byte);
            for at in [0, 1, 15, 16, 31, 63, 64, 499] {
                let mut bytes = vec![b'x'; 500];
                bytes[at] = byte;
                assert_eq!(visible_ascii(&bytes), visible, "{byte:#x} at {at}");
            }
        }
    }

    #[test]
    fn a_token_is_visible_ascii_or_tabs() {
        let t = Transport::default();
        let token = "a".repeat(600);
        // Every position of a long token is checked, the last ones too.
        // What a header value can hold besides visible ASCII and tabs (http
        // refuses the other controls).
        for bad in [&b"\x80"[..], b"\xff", b" "] {
            for at in [0, 17, 599] {
                let mut value = format!("Bearer {token}").into_bytes();
                value.splice(7 + at..8 + at, bad.iter().copied());
                let header = http::HeaderValue::from_bytes(&value).unwrap();
                let p = parts(http::Request::get("/").header("Authorization", header));
                assert_eq!(
                    t.locate(&p, TokenType::Access).unwrap_err().code(),
                    "invalid_header",
                    "{bad:?} at {at}"
                );
            }
        }
        let p = parts(http::Request::get("/").header("Authorization", format!("Bearer {token}")));
        assert_eq!(t.locate(&p, TokenType::Access).unwrap().token, token);
        // A tab is passed on, as `to_str` did: the token check refuses it.
        let tabbed = format!("{}\t{}", &token[..300], &token[300..]);
        let p = parts(http::Request::get("/").header("Authorization", format!("Bearer {tabbed}")));
        assert_eq!(t.locate(&p, TokenType::Access).unwrap().token, tabbed);
        let edges = "!~.-_";
        let p = parts(http::Request::get("/").header("Authorization", format!("DPoP {edges}")));
        assert_eq!(t.locate(&p, TokenType::Access).unwrap().token, edges);
    }

    #[test]
    fn only_a_missing_token_falls_through() {
        let t = Transport::default();
        let p = parts(http::Request::get("/").header("Cookie", "access_token_cookie=fromcookie"));
        let found = t.locate(&p, TokenType::Access).unwrap();
        assert_eq!(
            (found.token.as_str(), found.location),
            ("fromcookie", TokenLocation::Cookies)
        );

        // A bad header is an error even though a cookie follows.
        let p = parts(
            http::Request::get("/")
                .header("Authorization", "Basic x")
                .header("Cookie", "access_token_cookie=fromcookie"),
        );
        assert_eq!(
            t.locate(&p, TokenType::Access).unwrap_err().code(),
            "invalid_header"
        );

        // Header first when both are present.
        let p = parts(
            http::Request::get("/")
                .header("Authorization", "Bearer fromheader")
                .header("Cookie", "access_token_cookie=fromcookie"),
        );
        assert_eq!(t.locate(&p, TokenType::Access).unwrap().token, "fromheader");

        // Order is configurable.
        let t = Transport::default().locations([TokenLocation::Cookies, TokenLocation::Headers]);
        assert_eq!(t.locate(&p, TokenType::Access).unwrap().token, "fromcookie");
    }

    #[test]
    fn refresh_tokens_come_from_their_own_cookie() {
        let t = Transport::default();
        let p = parts(
            http::Request::post("/")
                .header("Cookie", "access_token_cookie=a; refresh_token_cookie=r"),
        );
        assert_eq!(t.locate(&p, TokenType::Refresh).unwrap().token, "r");
        assert_eq!(t.locate(&p, TokenType::Access).unwrap().token, "a");
    }

    #[test]
    fn query_string_only_when_enabled() {
        let p = parts(http::Request::get("/img?jwt=q%2Eb"));
        let t = Transport::default();
        assert_eq!(
            t.locate(&p, TokenType::Access).unwrap_err().code(),
            "authorization_header_missing"
        );
        let t = t.locations([TokenLocation::QueryString]);
        assert_eq!(t.locate(&p, TokenType::Access).unwrap().token, "q.b");
    }

    #[test]
    fn json_tokens_from_the_extension() {
        let t = Transport::default().locations([TokenLocation::Json]);
        let mut p = parts(http::Request::post("/"));
        assert!(t.locate(&p, TokenType::Refresh).is_err());
        p.extensions.insert(JsonTokens {
            access: None,
            refresh: Some("r".into()),
        });
        assert_eq!(t.locate(&p, TokenType::Refresh).unwrap().token, "r");
        assert!(t.locate(&p, TokenType::Access).is_err());
    }
}
