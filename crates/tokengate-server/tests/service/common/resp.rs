//! [`Resp`]: one answer read to the end, its assertions and its cookies.

use reqwest::header::HeaderMap;
use serde_json::Value;

/// One answer, read to the end.
pub(crate) struct Resp {
    /// The request: `METHOD HOST:PORT/PATH`.
    pub(super) what: String,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let shown: String = body.chars().take(600).collect();
        write!(
            f,
            "{} -> {} {:?} body {:?}",
            self.what, self.status, self.headers, shown
        )
    }
}

impl Resp {
    /// Asserts the status.
    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Resp {
        assert_eq!(self.status, status, "{self:?}");
        self
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap_or_else(|_| panic!("not UTF-8: {self:?}"))
    }

    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }

    /// A header's value as text.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_owned())
    }

    /// Asserts an error answer: `status` with the `{"code","msg"}` body
    /// and `code`; returns the message.
    #[track_caller]
    pub(crate) fn expect_error(self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["code"], code, "{self:?}");
        let msg = body["msg"]
            .as_str()
            .unwrap_or_else(|| panic!("no msg: {self:?}"));
        assert!(!msg.is_empty(), "{self:?}");
        assert_eq!(
            body.as_object().unwrap().len(),
            2,
            "only code and msg: {self:?}"
        );
        msg.to_owned()
    }

    /// Asserts a 401 for a presented token: `code`, and the RFC 6750
    /// challenge with `error="invalid_token"`.
    #[track_caller]
    pub(crate) fn expect_token_error(self, code: &str) -> String {
        let challenge = self.header("www-authenticate");
        let what = format!("{self:?}");
        let msg = self.expect_error(401, code);
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="tokengate", error="invalid_token""#),
            "{what}"
        );
        msg
    }

    /// Asserts a 401 `authorization_header_missing` with the bare challenge.
    #[track_caller]
    pub(crate) fn expect_missing(self) {
        let challenge = self.header("www-authenticate");
        let what = format!("{self:?}");
        self.expect_error(401, "authorization_header_missing");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="tokengate""#),
            "{what}"
        );
    }

    /// The cookies this answer sets.
    pub(crate) fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| SetCookie::parse(v.to_str().expect("ASCII cookie")))
            .collect()
    }

    /// The cookie `name` this answer sets; it must set it.
    #[track_caller]
    pub(crate) fn cookie(&self, name: &str) -> SetCookie {
        self.set_cookies()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {self:?}"))
    }
}

/// One `Set-Cookie` value.
#[derive(Debug, Clone)]
pub(crate) struct SetCookie {
    pub(crate) name: String,
    pub(crate) value: String,
    /// The attributes, as sent (`HttpOnly`, `SameSite=Lax`, ...).
    pub(crate) attrs: Vec<String>,
}

impl SetCookie {
    fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|p| p.split_once('='))
            .unwrap_or_else(|| panic!("malformed Set-Cookie {raw:?}"));
        SetCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            attrs: parts.map(str::to_owned).collect(),
        }
    }

    /// Whether it has the attribute `attr` (case-insensitive, whole
    /// attribute: `HttpOnly`, `SameSite=Lax`, `Max-Age=0`).
    pub(crate) fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }

    /// `name=value`, for a `Cookie` header.
    pub(crate) fn pair(&self) -> String {
        format!("{}={}", self.name, self.value)
    }
}
