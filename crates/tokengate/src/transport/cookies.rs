//! Reading the token cookies, and the `Set-Cookie` values that set and clear them.

use crate::TokenRejection;
use cookie::{Cookie, time};
use http::{HeaderMap, HeaderValue, header};

use super::Transport;
use crate::Error;
use crate::token::IssuedToken;

/// The `SameSite` attribute.
///
/// ```
/// use tokengate::transport::SameSite;
///
/// assert_eq!("strict".parse::<SameSite>().unwrap(), SameSite::Strict);
/// assert_eq!(SameSite::default(), SameSite::Lax);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent on same-site requests and top-level navigations (default).
    #[default]
    Lax,
    /// Sent on same-site requests only.
    Strict,
    /// Sent everywhere; browsers then require `Secure`.
    None,
}

impl std::str::FromStr for SameSite {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "lax" => Ok(SameSite::Lax),
            "strict" => Ok(SameSite::Strict),
            "none" => Ok(SameSite::None),
            _ => Err(format!(
                "unknown SameSite value {s:?} (expected Lax, Strict or None)"
            )),
        }
    }
}

/// Attributes of the token and CSRF cookies.
///
/// ```
/// use tokengate::token::IssuedToken;
/// use tokengate::transport::{CookieSettings, SameSite, Transport};
///
/// let mut transport = Transport::default();
/// transport.cookies = CookieSettings::default().secure().same_site(SameSite::Strict);
/// let token = IssuedToken { token: "a.b.c".into(), jti: "j".into(), csrf: None,
///     issued_at: 0, expires_at: 900, family: None, confirmation: None };
/// let cookie = transport.set_access_cookies(&token)[0].to_str().unwrap().to_owned();
/// assert!(cookie.contains("Secure") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CookieSettings {
    /// `Secure` (default false, so that plain-HTTP development works).
    pub secure: bool,
    /// `SameSite` (default `Lax`).
    pub same_site: SameSite,
    /// `Domain`, if any.
    pub domain: Option<String>,
    /// `Path` (default `/`).
    pub path: String,
    /// Session cookies (default, as Flask-JWT-Extended) or cookies that
    /// persist for the token's lifetime.
    pub session: bool,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            secure: false,
            same_site: SameSite::Lax,
            domain: None,
            path: "/".into(),
            session: true,
        }
    }
}

impl CookieSettings {
    /// `Secure`: the browser sends the cookies over HTTPS only.
    ///
    /// ```
    /// use tokengate::transport::CookieSettings;
    ///
    /// assert!(CookieSettings::default().secure().secure);
    /// ```
    pub fn secure(mut self) -> Self {
        self.secure = true;
        self
    }

    /// Sets `SameSite`.
    ///
    /// ```
    /// use tokengate::transport::{CookieSettings, SameSite};
    ///
    /// assert_eq!(CookieSettings::default().same_site(SameSite::Strict).same_site, SameSite::Strict);
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets `Domain`.
    ///
    /// ```
    /// use tokengate::transport::CookieSettings;
    ///
    /// assert_eq!(CookieSettings::default().domain("example.com").domain.as_deref(), Some("example.com"));
    /// ```
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `Path` (default `/`).
    ///
    /// ```
    /// use tokengate::transport::CookieSettings;
    ///
    /// assert_eq!(CookieSettings::default().path("/api").path, "/api");
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Cookies that persist for their token's lifetime (`Max-Age`), not
    /// only for the browser session (Flask-JWT-Extended's
    /// `JWT_SESSION_COOKIE = False`).
    ///
    /// ```
    /// use tokengate::transport::CookieSettings;
    ///
    /// assert!(!CookieSettings::default().persistent().session);
    /// ```
    pub fn persistent(mut self) -> Self {
        self.session = false;
        self
    }
}

/// The value of cookie `name`, from any `Cookie` header: the one way
/// tokengate reads a cookie (its token cookies, the OIDC binding cookie,
/// and yours).
///
/// A request that carries `name` more than once is refused with
/// `invalid_header`: browsers send every cookie whose domain and path
/// match, so a second one is a cookie planted by a sibling subdomain or a
/// narrower path (cookie tossing), and which of them is the real one cannot
/// be told. Taking the first would let the planted one win.
///
/// ```
/// use tokengate::transport::find_cookie;
///
/// let (parts, _) = http::Request::get("/").header("Cookie", "a=1; b=2").body(()).unwrap().into_parts();
/// assert_eq!(find_cookie(&parts.headers, "b").unwrap().as_deref(), Some("2"));
/// assert_eq!(find_cookie(&parts.headers, "c").unwrap(), None);
/// let (tossed, _) = http::Request::get("/").header("Cookie", "b=mine; b=planted").body(()).unwrap().into_parts();
/// assert_eq!(find_cookie(&tossed.headers, "b").unwrap_err().code(), "invalid_header");
/// ```
pub fn find_cookie(headers: &HeaderMap, name: &str) -> Result<Option<String>, Error> {
    let mut values = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(TokenRejection::InvalidHeader(format!(
            "the {name} cookie is sent more than once; clear the duplicate cookie"
        ))
        .into());
    }
    Ok(Some(value.to_owned()))
}

/// `Set-Cookie` header values, added to a response as they are (with the
/// `axum` feature, as a response part: `(cookies, Json(body))`).
///
/// ```
/// use tokengate::token::IssuedToken;
/// use tokengate::transport::Transport;
///
/// let issued = |token: &str| IssuedToken { token: token.into(), jti: "j".into(), csrf: Some("c".into()),
///     issued_at: 0, expires_at: 900, family: None, confirmation: None };
/// let cookies = Transport::default().login_cookies(&issued("a.a.a"), &issued("r.r.r"));
/// let names: Vec<&str> = cookies.values().iter().map(|c| c.to_str().unwrap().split('=').next().unwrap()).collect();
/// assert_eq!(names, ["access_token_cookie", "csrf_access_token", "refresh_token_cookie", "csrf_refresh_token"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SetCookies(Vec<HeaderValue>);

impl SetCookies {
    /// Adds the cookies of `other` after these.
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// let t = Transport::default();
    /// assert_eq!(t.logout_cookies().and(t.logout_cookies()).values().len(), 8);
    /// ```
    pub fn and(mut self, other: SetCookies) -> Self {
        self.0.extend(other.0);
        self
    }

    /// The header values, in order.
    ///
    /// ```
    /// use tokengate::transport::SetCookies;
    ///
    /// assert!(SetCookies::default().values().is_empty());
    /// ```
    pub fn values(&self) -> &[HeaderValue] {
        &self.0
    }
}

impl From<Vec<HeaderValue>> for SetCookies {
    fn from(values: Vec<HeaderValue>) -> Self {
        SetCookies(values)
    }
}

impl IntoIterator for SetCookies {
    type Item = HeaderValue;
    type IntoIter = std::vec::IntoIter<HeaderValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A cookie of the application's own (not a token cookie): set with the
/// transport's `Secure` and `Domain`, HttpOnly, on its own path, with its
/// own `SameSite` and lifetime. What [`Transport::own_cookie`] builds.
///
/// ```
/// use std::time::Duration;
/// use tokengate::transport::{OwnCookie, SameSite};
///
/// let binding = OwnCookie::new("/auth/oidc", Duration::from_secs(600)).same_site(SameSite::Lax);
/// # let _ = binding;
/// ```
#[derive(Debug, Clone)]
pub struct OwnCookie {
    path: String,
    max_age: std::time::Duration,
    same_site: Option<SameSite>,
}

impl OwnCookie {
    /// A cookie on `path` that lives `max_age` (zero: cleared).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::transport::{OwnCookie, Transport};
    ///
    /// let set = Transport::default().own_cookie("pref", "dark", &OwnCookie::new("/app", Duration::from_secs(60)));
    /// assert_eq!(set.to_str().unwrap(), "pref=dark; HttpOnly; SameSite=Lax; Path=/app; Max-Age=60");
    /// ```
    pub fn new(path: impl Into<String>, max_age: std::time::Duration) -> Self {
        OwnCookie {
            path: path.into(),
            max_age,
            same_site: None,
        }
    }

    /// Its `SameSite` (default: the transport's).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::transport::{OwnCookie, SameSite, Transport};
    ///
    /// let mut strict = Transport::default();
    /// strict.cookies.same_site = SameSite::Strict;
    /// let lax = OwnCookie::new("/", Duration::from_secs(1)).same_site(SameSite::Lax);
    /// assert!(strict.own_cookie("c", "v", &lax).to_str().unwrap().contains("SameSite=Lax"));
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }
}

/// The attributes of one `Set-Cookie`.
struct Attributes<'a> {
    path: &'a str,
    http_only: bool,
    same_site: SameSite,
    /// `None`: a session cookie; zero: cleared.
    max_age: Option<i64>,
}

impl Transport {
    fn cookie(
        &self,
        name: &str,
        value: String,
        http_only: bool,
        max_age: Option<i64>,
    ) -> HeaderValue {
        let settings = &self.cookies;
        // Session cookies (Flask-JWT-Extended's default) unless cleared.
        let max_age = max_age.filter(|age| *age == 0 || !settings.session);
        let attributes = Attributes {
            path: &settings.path,
            http_only,
            same_site: settings.same_site,
            max_age,
        };
        self.build_cookie(name, value, &attributes)
    }

    fn build_cookie(&self, name: &str, value: String, attributes: &Attributes<'_>) -> HeaderValue {
        let settings = &self.cookies;
        let mut c = Cookie::build((name.to_owned(), value))
            .path(attributes.path.to_owned())
            .http_only(attributes.http_only)
            .secure(settings.secure)
            .same_site(match attributes.same_site {
                SameSite::Lax => cookie::SameSite::Lax,
                SameSite::Strict => cookie::SameSite::Strict,
                SameSite::None => cookie::SameSite::None,
            });
        if let Some(domain) = &settings.domain {
            c = c.domain(domain.clone());
        }
        match attributes.max_age {
            Some(0) => {
                c = c
                    .max_age(time::Duration::ZERO)
                    .expires(time::OffsetDateTime::UNIX_EPOCH)
            }
            Some(secs) => c = c.max_age(time::Duration::seconds(secs)),
            None => {}
        }
        // Cookie values that are not header-safe cannot be set: an empty
        // value is sent instead (callers pass tokens and random ids).
        HeaderValue::from_str(&c.build().to_string()).unwrap_or_else(|_| {
            HeaderValue::from_str(&format!("{name}=")).unwrap_or(HeaderValue::from_static(""))
        })
    }

    /// A `Set-Cookie` value for a cookie of the application's own, with
    /// this transport's `Secure` and `Domain` (see [`OwnCookie`]); always
    /// HttpOnly. Read it back with [`find_cookie`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::transport::{OwnCookie, Transport};
    ///
    /// let mut transport = Transport::default();
    /// transport.cookies.secure = true;
    /// let cleared = transport.own_cookie("pref", "", &OwnCookie::new("/", Duration::ZERO));
    /// let text = cleared.to_str().unwrap();
    /// assert!(text.contains("Secure") && text.contains("Max-Age=0"));
    /// ```
    pub fn own_cookie(&self, name: &str, value: &str, cookie: &OwnCookie) -> HeaderValue {
        let attributes = Attributes {
            path: &cookie.path,
            http_only: true,
            same_site: cookie.same_site.unwrap_or(self.cookies.same_site),
            max_age: Some(i64::try_from(cookie.max_age.as_secs()).unwrap_or(i64::MAX)),
        };
        self.build_cookie(name, value.to_owned(), &attributes)
    }

    /// The cookies of a login: access and refresh token, each with its
    /// CSRF cookie when the token has a `csrf` claim.
    ///
    /// ```
    /// use tokengate::token::IssuedToken;
    /// use tokengate::transport::Transport;
    ///
    /// let issued = IssuedToken { token: "t.t.t".into(), jti: "j".into(), csrf: None,
    ///     issued_at: 0, expires_at: 900, family: None, confirmation: None };
    /// assert_eq!(Transport::default().login_cookies(&issued, &issued).values().len(), 2);
    /// ```
    pub fn login_cookies(&self, access: &IssuedToken, refresh: &IssuedToken) -> SetCookies {
        let mut values = self.set_access_cookies(access);
        values.extend(self.set_refresh_cookies(refresh));
        SetCookies(values)
    }

    /// The cookies that clear a login's four cookies (logout).
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// assert_eq!(Transport::default().logout_cookies().values().len(), 4);
    /// ```
    pub fn logout_cookies(&self) -> SetCookies {
        SetCookies(self.unset_cookies())
    }

    fn set_pair(&self, token: &IssuedToken, jwt_name: &str, csrf_name: &str) -> Vec<HeaderValue> {
        let age = Some(token.expires_in());
        let mut values = vec![self.cookie(jwt_name, token.token.clone(), true, age)];
        if let Some(csrf) = &token.csrf {
            values.push(self.cookie(csrf_name, csrf.clone(), false, age));
        }
        values
    }

    /// `Set-Cookie` values for an access token: the HttpOnly token cookie and,
    /// if the token has a `csrf` claim, the script-readable CSRF cookie.
    ///
    /// ```
    /// use tokengate::transport::Transport;
    /// use tokengate::token::IssuedToken;
    ///
    /// let token = IssuedToken { token: "a.b.c".into(), jti: "j".into(), csrf: Some("c".into()),
    ///     issued_at: 0, expires_at: 900, family: None, confirmation: None };
    /// let cookies = Transport::default().set_access_cookies(&token);
    /// assert!(cookies[0].to_str().unwrap().starts_with("access_token_cookie=a.b.c"));
    /// assert!(cookies[0].to_str().unwrap().contains("HttpOnly"));
    /// assert!(!cookies[1].to_str().unwrap().contains("HttpOnly"));
    /// ```
    pub fn set_access_cookies(&self, token: &IssuedToken) -> Vec<HeaderValue> {
        self.set_pair(token, &self.access_cookie, &self.access_csrf_cookie)
    }

    /// `Set-Cookie` values for a refresh token and its CSRF cookie.
    ///
    /// ```
    /// use tokengate::token::IssuedToken;
    /// use tokengate::transport::Transport;
    ///
    /// let token = IssuedToken { token: "r.r.r".into(), jti: "j".into(), csrf: Some("c".into()),
    ///     issued_at: 0, expires_at: 3600, family: None, confirmation: None };
    /// let cookies = Transport::default().set_refresh_cookies(&token);
    /// assert!(cookies[0].to_str().unwrap().starts_with("refresh_token_cookie=r.r.r"));
    /// assert!(cookies[1].to_str().unwrap().starts_with("csrf_refresh_token=c"));
    /// ```
    pub fn set_refresh_cookies(&self, token: &IssuedToken) -> Vec<HeaderValue> {
        self.set_pair(token, &self.refresh_cookie, &self.refresh_csrf_cookie)
    }

    /// `Set-Cookie` values that clear all four cookies (logout).
    ///
    /// ```
    /// use tokengate::transport::Transport;
    ///
    /// let cleared = Transport::default().unset_cookies();
    /// assert_eq!(cleared.len(), 4);
    /// assert!(cleared.iter().all(|c| c.to_str().unwrap().contains("Max-Age=0")));
    /// ```
    pub fn unset_cookies(&self) -> Vec<HeaderValue> {
        [
            (&self.access_cookie, true),
            (&self.refresh_cookie, true),
            (&self.access_csrf_cookie, false),
            (&self.refresh_csrf_cookie, false),
        ]
        .into_iter()
        .map(|(name, http_only)| self.cookie(name, String::new(), http_only, Some(0)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_follow_settings() {
        let mut t = Transport::default();
        t.cookies.secure = true;
        t.cookies.same_site = SameSite::Strict;
        t.cookies.domain = Some("example.com".into());
        let token = IssuedToken {
            token: "x.y.z".into(),
            jti: "j".into(),
            csrf: Some("c".into()),
            issued_at: 0,
            expires_at: 60,
            family: None,
            confirmation: None,
        };
        let v = t.set_refresh_cookies(&token);
        let jwt = v[0].to_str().unwrap();
        assert!(jwt.starts_with("refresh_token_cookie=x.y.z"));
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Domain=example.com",
            "Path=/",
        ] {
            assert!(jwt.contains(attr), "{jwt} lacks {attr}");
        }
        assert!(!jwt.contains("Max-Age"), "session cookie by default");
        assert!(v[1].to_str().unwrap().starts_with("csrf_refresh_token=c"));

        let cleared = t.unset_cookies();
        assert_eq!(cleared.len(), 4);
        assert!(
            cleared
                .iter()
                .all(|c| c.to_str().unwrap().contains("Max-Age=0"))
        );
    }

    #[test]
    fn finds_cookies_across_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; b=2".parse().unwrap());
        h.append(header::COOKIE, "c=3".parse().unwrap());
        assert_eq!(find_cookie(&h, "b").unwrap().as_deref(), Some("2"));
        assert_eq!(find_cookie(&h, "c").unwrap().as_deref(), Some("3"));
        assert_eq!(find_cookie(&h, "d").unwrap(), None);
    }

    #[test]
    fn a_cookie_sent_twice_is_refused() {
        let twice = |headers: &[&str]| {
            let mut h = HeaderMap::new();
            for v in headers {
                h.append(header::COOKIE, v.parse().unwrap());
            }
            find_cookie(&h, "access_token_cookie")
        };
        // Cookie tossing: a planted cookie beside the real one, in one
        // header or in two, whichever comes first, even with equal values.
        for headers in [
            &["access_token_cookie=planted; access_token_cookie=real"][..],
            &["access_token_cookie=real; x=1; access_token_cookie=planted"],
            &["access_token_cookie=planted", "access_token_cookie=real"],
            &["access_token_cookie=same; access_token_cookie=same"],
            &["access_token_cookie=; access_token_cookie=real"],
        ] {
            let e = twice(headers).unwrap_err();
            assert_eq!(e.code(), "invalid_header", "{headers:?}");
            assert!(e.to_string().contains("access_token_cookie"), "{e}");
        }
        // Other cookies may repeat; similar names are other cookies.
        assert_eq!(
            twice(&["x=1; x=2; access_token_cookie=t; access_token_cookie_2=u"])
                .unwrap()
                .as_deref(),
            Some("t")
        );
    }
}
