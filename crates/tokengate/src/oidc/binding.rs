//! The cookie that ties a login's callback to the browser that began it.

use http::{HeaderMap, HeaderValue};

use super::LOGIN_TIMEOUT;
use crate::Error;
use crate::transport::{OwnCookie, SameSite, Transport, find_cookie};

/// The browser-binding cookie of an OIDC login: set when the login begins
/// (HttpOnly, `SameSite=Lax` because the callback is a top-level navigation
/// coming from the provider, for [`LOGIN_TIMEOUT`], on the path of the
/// callback), read at the callback (a cookie sent twice is refused: a
/// planted one cannot win), then cleared.
///
/// ```
/// use tokengate::oidc::BindingCookie;
/// use tokengate::transport::Transport;
///
/// let binding = BindingCookie::new("/auth/oidc");
/// let transport = Transport::default();
/// let set = binding.set(&transport, "0b8f6f0e-3c7e-4f57-9d43-6d1c5b0e1f2a");
/// assert!(set.to_str().unwrap().starts_with("tg_oidc=0b8f6f0e-3c7e-4f57-9d43-6d1c5b0e1f2a; HttpOnly; SameSite=Lax; Path=/auth/oidc; Max-Age=600"));
///
/// let (parts, _) = http::Request::get("/auth/oidc/dev/callback")
///     .header("Cookie", "tg_oidc=0b8f6f0e").body(()).unwrap().into_parts();
/// assert_eq!(binding.read(&parts.headers).unwrap().as_deref(), Some("0b8f6f0e"));
/// let (tossed, _) = http::Request::get("/auth/oidc/dev/callback")
///     .header("Cookie", "tg_oidc=planted; tg_oidc=0b8f6f0e").body(()).unwrap().into_parts();
/// assert_eq!(binding.read(&tossed.headers).unwrap_err().code(), "invalid_header");
/// assert!(binding.clear(&transport).to_str().unwrap().contains("Max-Age=0"));
/// ```
#[derive(Debug, Clone)]
pub struct BindingCookie {
    path: String,
}

impl BindingCookie {
    /// The cookie's name.
    pub const NAME: &'static str = "tg_oidc";

    /// The cookie on `path`: the callback's path or a prefix of it.
    ///
    /// ```
    /// use tokengate::oidc::BindingCookie;
    ///
    /// let binding = BindingCookie::new("/callback");
    /// # let _ = binding;
    /// ```
    pub fn new(path: impl Into<String>) -> Self {
        BindingCookie { path: path.into() }
    }

    fn cookie(&self, max_age: std::time::Duration) -> OwnCookie {
        OwnCookie::new(self.path.clone(), max_age).same_site(SameSite::Lax)
    }

    /// The `Set-Cookie` value holding a begun login's `browser_binding`.
    ///
    /// ```
    /// use tokengate::oidc::BindingCookie;
    /// use tokengate::transport::Transport;
    ///
    /// let set = BindingCookie::new("/callback").set(&Transport::default(), "b1");
    /// assert!(set.to_str().unwrap().contains("Path=/callback"));
    /// ```
    pub fn set(&self, transport: &Transport, browser_binding: &str) -> HeaderValue {
        transport.own_cookie(Self::NAME, browser_binding, &self.cookie(LOGIN_TIMEOUT))
    }

    /// The `Set-Cookie` value that clears it (after the callback).
    ///
    /// ```
    /// use tokengate::oidc::BindingCookie;
    /// use tokengate::transport::Transport;
    ///
    /// let cleared = BindingCookie::new("/callback").clear(&Transport::default());
    /// assert!(cleared.to_str().unwrap().starts_with("tg_oidc=;"));
    /// ```
    pub fn clear(&self, transport: &Transport) -> HeaderValue {
        transport.own_cookie(Self::NAME, "", &self.cookie(std::time::Duration::ZERO))
    }

    /// The binding the browser sent, if any; `invalid_header` when the
    /// cookie is sent more than once.
    ///
    /// ```
    /// use tokengate::oidc::BindingCookie;
    ///
    /// assert_eq!(BindingCookie::new("/callback").read(&http::HeaderMap::new()).unwrap(), None);
    /// ```
    pub fn read(&self, headers: &HeaderMap) -> Result<Option<String>, Error> {
        find_cookie(headers, Self::NAME)
    }
}
