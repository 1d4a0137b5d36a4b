//! CSRF double submit for cookie-borne tokens.

use crate::TokenRejection;
use http::HeaderMap;
use http::request::Parts;
use subtle::ConstantTimeEq;

use super::{LocatedToken, TokenLocation, Transport};
use crate::Error;
use crate::claims::Claims;

/// Checks the double submit: on a state-changing method, a token that came
/// in a cookie must be accompanied by the `X-CSRF-TOKEN` header equal to the
/// token's `csrf` claim (compared in constant time). Tokens from other
/// locations, safe methods and OPTIONS are not checked: a browser never
/// attaches those on its own.
///
/// ```
/// use tokengate::transport::{check_csrf, LocatedToken, TokenLocation, Transport};
///
/// let (parts, _) = http::Request::post("/").header("X-CSRF-TOKEN", "c1").body(()).unwrap().into_parts();
/// let located = LocatedToken { token: "t".into(), location: TokenLocation::Cookies };
/// assert!(check_csrf(&Transport::default(), &parts, &located, Some("c1")).is_ok());
/// assert!(check_csrf(&Transport::default(), &parts, &located, Some("c2")).is_err());
/// ```
pub fn check_csrf(
    transport: &Transport,
    parts: &Parts,
    located: &LocatedToken,
    claim: Option<&str>,
) -> Result<(), Error> {
    let needed = transport.csrf_methods.contains(&parts.method);
    double_submit(transport, needed, &parts.headers, located.location, claim)
}

/// The double submit itself, when the method (the request's own, or the
/// original one a proxy describes) `needed` it: only cookie-borne tokens
/// are checked, since a browser never attaches the others on its own.
pub(crate) fn double_submit(
    transport: &Transport,
    needed: bool,
    headers: &HeaderMap,
    location: TokenLocation,
    claim: Option<&str>,
) -> Result<(), Error> {
    if !needed || !transport.csrf_protect || location != TokenLocation::Cookies {
        return Ok(());
    }
    let sent = headers
        .get(&transport.csrf_header)
        .ok_or(Error::Token(TokenRejection::CsrfFailed(
            "missing CSRF token",
        )))?
        .as_bytes();
    let expected = claim.ok_or(Error::Token(TokenRejection::CsrfFailed(
        "token has no CSRF claim",
    )))?;
    if bool::from(sent.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(TokenRejection::CsrfFailed("CSRF double submit tokens do not match").into())
    }
}

impl Transport {
    /// [`check_csrf`] against a verified token's claims.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    /// use tokengate::transport::{LocatedToken, TokenLocation, Transport};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice").with_csrf()).unwrap();
    /// let claims = engine.verify(&issued.token).unwrap().claims;
    /// let located = LocatedToken { token: issued.token.clone(), location: TokenLocation::Cookies };
    /// let (parts, _) = http::Request::delete("/memos/1").header("X-CSRF-TOKEN", issued.csrf.unwrap())
    ///     .body(()).unwrap().into_parts();
    /// assert!(Transport::default().check_csrf(&parts, &located, &claims).is_ok());
    /// ```
    pub fn check_csrf(
        &self,
        parts: &Parts,
        located: &LocatedToken,
        claims: &Claims,
    ) -> Result<(), Error> {
        check_csrf(self, parts, located, claims.csrf.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn check(
        method: Method,
        header: Option<&str>,
        location: TokenLocation,
        claim: Option<&str>,
    ) -> Result<(), Error> {
        let mut req = http::Request::builder().method(method).uri("/");
        if let Some(h) = header {
            req = req.header("X-CSRF-TOKEN", h);
        }
        let (parts, _) = req.body(()).unwrap().into_parts();
        let located = LocatedToken {
            token: "t".into(),
            location,
        };
        check_csrf(&Transport::default(), &parts, &located, claim)
    }

    #[test]
    fn csrf_cases() {
        use TokenLocation::*;
        let code = |r: Result<(), Error>| r.err().map(|e| e.code());
        // missing header
        assert_eq!(
            code(check(Method::POST, None, Cookies, Some("c"))),
            Some("csrf_failed")
        );
        // mismatch
        assert_eq!(
            code(check(Method::PUT, Some("x"), Cookies, Some("c"))),
            Some("csrf_failed")
        );
        // prefix is not a match
        assert_eq!(
            code(check(Method::PATCH, Some("c"), Cookies, Some("cc"))),
            Some("csrf_failed")
        );
        // token without a csrf claim
        assert_eq!(
            code(check(Method::DELETE, Some("c"), Cookies, None)),
            Some("csrf_failed")
        );
        // match
        assert_eq!(
            code(check(Method::DELETE, Some("c"), Cookies, Some("c"))),
            None
        );
        // GET and OPTIONS are not checked
        assert_eq!(code(check(Method::GET, None, Cookies, Some("c"))), None);
        assert_eq!(code(check(Method::OPTIONS, None, Cookies, Some("c"))), None);
        // header-borne tokens are not checked
        assert_eq!(code(check(Method::POST, None, Headers, Some("c"))), None);
    }
}
