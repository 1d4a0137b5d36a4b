//! The claim layout of tokengate's tokens (Flask-JWT-Extended's), and how a
//! verified claim set is read.
//!
//! ```
//! use tokengate::claims::{Fresh, TokenType};
//! use tokengate::keys::{Algorithm, KeyRing, SigningKey};
//! use tokengate::token::{NewToken, TokenEngine};
//!
//! let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
//! let claims = engine.verify(&engine.issue(NewToken::refresh("alice")).unwrap().token).unwrap().claims;
//! assert_eq!((claims.token_type, claims.fresh), (Some(TokenType::Refresh), Fresh::No));
//! ```

use crate::TokenRejection;
use crate::ids::{LoginId, Subject, TokenId};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::jws::{ClaimValue, scan};

/// `access` or `refresh`, the `type` claim.
///
/// ```
/// use tokengate::claims::TokenType;
/// assert_eq!(TokenType::Access.as_str(), "access");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Grants access to resources.
    Access,
    /// Obtains new access tokens.
    Refresh,
}

impl TokenType {
    /// The claim value.
    ///
    /// ```
    /// use tokengate::claims::TokenType;
    ///
    /// assert_eq!(TokenType::Refresh.as_str(), "refresh");
    /// assert_eq!(TokenType::Access.to_string(), TokenType::Access.as_str());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `fresh` claim: a boolean, or (Flask-JWT-Extended) a time until which
/// the token counts as fresh.
///
/// ```
/// use tokengate::claims::Fresh;
/// assert!(Fresh::Until(100).is_fresh_at(99));
/// assert!(!Fresh::Until(100).is_fresh_at(101));
/// assert!(Fresh::Yes.is_fresh_at(i64::MAX));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fresh {
    /// Fresh (`true`).
    Yes,
    /// Not fresh (`false`, or absent).
    #[default]
    No,
    /// Fresh until this NumericDate.
    Until(i64),
}

impl Fresh {
    /// Whether the token counts as fresh at `now`.
    ///
    /// ```
    /// use tokengate::claims::Fresh;
    ///
    /// assert!(Fresh::Until(1_000).is_fresh_at(1_000));
    /// assert!(!Fresh::Until(1_000).is_fresh_at(1_001));
    /// assert!(!Fresh::No.is_fresh_at(0));
    /// ```
    pub fn is_fresh_at(self, now: i64) -> bool {
        match self {
            Fresh::Yes => true,
            Fresh::No => false,
            Fresh::Until(t) => now <= t,
        }
    }

    pub(crate) fn to_value(self) -> Value {
        match self {
            Fresh::Yes => Value::Bool(true),
            Fresh::No => Value::Bool(false),
            Fresh::Until(t) => Value::from(t),
        }
    }
}

/// The registered claims of a verified token, read once from its payload.
///
/// `sub`, `jti` and `type` are options because a trusted external issuer's
/// tokens may lack them; tokengate's own tokens are refused without them.
///
/// ```
/// use tokengate::claims::{Fresh, TokenType};
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let issued = engine.issue(NewToken::access("alice").fresh().scope("read:messages write:messages")).unwrap();
/// let claims = engine.verify(&issued.token).unwrap().claims;
/// assert_eq!(claims.sub.as_deref(), Some("alice"));
/// assert_eq!(claims.token_type, Some(TokenType::Access));
/// assert_eq!(claims.fresh, Fresh::Yes);
/// assert_eq!(claims.exp, issued.expires_at);
/// assert_eq!(claims.scopes, ["read:messages", "write:messages"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// The identity (`sub`).
    pub sub: Option<Subject>,
    /// Issued at.
    pub iat: Option<i64>,
    /// Not before.
    pub nbf: Option<i64>,
    /// Expires at.
    pub exp: i64,
    /// Unique token id.
    pub jti: Option<TokenId>,
    /// `access` or `refresh`.
    pub token_type: Option<TokenType>,
    /// Freshness (access tokens).
    pub fresh: Fresh,
    /// The CSRF value bound to a cookie-borne token.
    pub csrf: Option<String>,
    /// Issuer.
    pub iss: Option<String>,
    /// Audiences (a string `aud` becomes one item).
    pub aud: Vec<String>,
    /// The login this token belongs to (`fam`): tokengate's refresh-token
    /// family, shared by the access and refresh tokens of one login.
    pub family: Option<LoginId>,
    /// Scopes, from the space-separated `scope` claim (or an array of strings);
    /// for a trusted issuer's token, from the claim configured for it.
    pub scopes: Vec<String>,
    /// Roles: the `roles` claim (an array of strings) of tokengate's own
    /// tokens; for a trusted issuer's token, the claim configured for it
    /// (e.g. Keycloak's `realm_access.roles`), else its `roles` claim.
    pub roles: Vec<String>,
    /// The key the token is bound to (`cnf.jkt`, RFC 9449): such a token is
    /// good only with a DPoP proof made with that key.
    pub confirmation: Option<crate::dpop::Jkt>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Token(TokenRejection::InvalidClaims(msg.into()))
}

/// A NumericDate: an integer, or a finite float in range (truncated).
/// Strings, booleans and out-of-range numbers are refused.
fn numeric_date(value: Option<&ClaimValue<'_>>, name: &str) -> Result<Option<i64>, Error> {
    // 253402300799 is 9999-12-31T23:59:59Z: anything later is not a date.
    const MAX: f64 = 253_402_300_799.0;
    match value {
        None => Ok(None),
        Some(ClaimValue::Int(i)) => Ok(Some(*i)),
        Some(ClaimValue::Float(f)) if f.is_finite() && f.abs() <= MAX => Ok(Some(f.trunc() as i64)),
        Some(ClaimValue::Float(_)) => Err(invalid(format!("{name} is out of range"))),
        Some(_) => Err(invalid(format!("{name} must be a NumericDate"))),
    }
}

fn string(value: Option<ClaimValue<'_>>, name: &str) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(ClaimValue::Str(s)) => Ok(Some(s.into_owned())),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

/// A string or an array of strings (`aud`, and `scope` as some issuers send it).
fn strings(value: Option<ClaimValue<'_>>, name: &str, split: bool) -> Result<Vec<String>, Error> {
    match value {
        None => Ok(Vec::new()),
        Some(ClaimValue::Str(s)) if split => Ok(s.split_whitespace().map(str::to_owned).collect()),
        Some(ClaimValue::Str(s)) => Ok(vec![s.into_owned()]),
        Some(ClaimValue::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid(format!("{name} must hold strings"))),
        Some(_) => Err(invalid(format!("{name} must be a string or an array"))),
    }
}

const REGISTERED: [&str; 14] = [
    "sub", "iat", "nbf", "exp", "jti", "type", "fresh", "csrf", "iss", "aud", "scope", "fam",
    "roles", "cnf",
];

/// `cnf.jkt`, read by a second parse of the payload only when `cnf` is there
/// (the strict scan does not keep objects).
fn confirmation(
    value: Option<ClaimValue<'_>>,
    json: &[u8],
) -> Result<Option<crate::dpop::Jkt>, Error> {
    #[derive(serde::Deserialize)]
    struct Confirmation {
        #[serde(default)]
        jkt: Option<Value>,
    }
    #[derive(serde::Deserialize)]
    struct WithCnf {
        cnf: Confirmation,
    }
    match value {
        None => Ok(None),
        Some(ClaimValue::Object) => {
            let with: WithCnf =
                serde_json::from_slice(json).map_err(|_| invalid("cnf must be an object"))?;
            match with.cnf.jkt {
                // Bound some other way (a certificate, RFC 8705): accepting
                // it as a bearer token would undo the binding.
                None => Err(invalid(
                    "cnf binds the token by a method other than jkt, which is not supported",
                )),
                Some(Value::String(jkt)) if !jkt.is_empty() => Ok(Some(jkt.into())),
                Some(_) => Err(invalid("cnf.jkt must be a string")),
            }
        }
        Some(_) => Err(invalid("cnf must be an object")),
    }
}

impl Claims {
    /// Reads the registered claims of a payload, strictly (duplicate
    /// members refused at any depth), checking each one's type. `exp` is
    /// required of every token.
    pub(crate) fn from_json(json: &[u8]) -> Result<Claims, Error> {
        let [
            sub,
            iat,
            nbf,
            exp,
            jti,
            token_type,
            fresh,
            csrf,
            iss,
            aud,
            scope,
            fam,
            roles,
            cnf,
        ] = scan(json, &REGISTERED)
            .map_err(|_| Error::Token(TokenRejection::Invalid("payload is not a JSON object")))?;
        let token_type = match token_type {
            None => None,
            Some(ClaimValue::Str(t)) if t == "access" => Some(TokenType::Access),
            Some(ClaimValue::Str(t)) if t == "refresh" => Some(TokenType::Refresh),
            Some(_) => return Err(invalid("type must be access or refresh")),
        };
        let fresh = match fresh {
            None | Some(ClaimValue::Bool(false)) => Fresh::No,
            Some(ClaimValue::Bool(true)) => Fresh::Yes,
            Some(n @ (ClaimValue::Int(_) | ClaimValue::Float(_))) => {
                Fresh::Until(numeric_date(Some(&n), "fresh")?.unwrap_or(0))
            }
            Some(_) => return Err(invalid("fresh must be a boolean or a NumericDate")),
        };
        Ok(Claims {
            sub: string(sub, "sub")?.map(Subject::from),
            iat: numeric_date(iat.as_ref(), "iat")?,
            nbf: numeric_date(nbf.as_ref(), "nbf")?,
            exp: numeric_date(exp.as_ref(), "exp")?.ok_or_else(|| invalid("missing claim: exp"))?,
            jti: string(jti, "jti")?.map(TokenId::from),
            token_type,
            fresh,
            csrf: string(csrf, "csrf")?,
            iss: string(iss, "iss")?,
            aud: strings(aud, "aud", false)?,
            scopes: strings(scope, "scope", true)?,
            roles: strings(roles, "roles", false)?,
            family: string(fam, "fam")?.map(LoginId::from),
            confirmation: confirmation(cnf, json)?,
        })
    }

    /// `Ok` if the token is of `expected` type, else `wrong_token_type`. A
    /// token without `type` counts as an access token (Flask-JWT-Extended's
    /// rule), so it can never pass where a refresh token is required.
    ///
    /// ```
    /// use tokengate::claims::TokenType;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let refresh = engine.issue(NewToken::refresh("alice")).unwrap();
    /// let claims = engine.verify(&refresh.token).unwrap().claims;
    /// assert!(claims.check_type(TokenType::Refresh).is_ok());
    /// assert_eq!(claims.check_type(TokenType::Access).unwrap_err().code(), "wrong_token_type");
    /// ```
    pub fn check_type(&self, expected: TokenType) -> Result<(), Error> {
        if self.token_type.unwrap_or(TokenType::Access) == expected {
            Ok(())
        } else {
            Err(TokenRejection::WrongType(expected).into())
        }
    }

    /// Whether the token carries `scope`.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice").scope("read:messages")).unwrap();
    /// let claims = engine.verify(&issued.token).unwrap().claims;
    /// assert!(claims.has_scope("read:messages"));
    /// assert!(!claims.has_scope("read"));
    /// ```
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the token carries `role`.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice").roles(["admin"])).unwrap();
    /// let claims = engine.verify(&issued.token).unwrap().claims;
    /// assert!(claims.has_role("admin"));
    /// assert!(!claims.has_role("Admin"));
    /// ```
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Result<Claims, Error> {
        Claims::from_json(v.to_string().as_bytes())
    }

    #[test]
    fn time_claims_must_be_numbers_in_range() {
        assert_eq!(claims(json!({"exp": 10})).unwrap().exp, 10);
        assert_eq!(claims(json!({"exp": 10.7})).unwrap().exp, 10);
        assert!(claims(json!({"exp": "10"})).is_err());
        assert!(claims(json!({"exp": true})).is_err());
        assert!(claims(json!({"exp": 1e300})).is_err());
        assert!(claims(json!({"exp": 18446744073709551615u64})).is_err());
        assert!(claims(json!({})).is_err());
        assert!(claims(json!({"exp": 1, "nbf": "x"})).is_err());
    }

    #[test]
    fn aud_and_scope_forms() {
        let c = claims(json!({"exp": 1, "aud": "a", "scope": "x y"})).unwrap();
        assert_eq!(c.aud, ["a"]);
        assert_eq!(c.scopes, ["x", "y"]);
        let c = claims(json!({"exp": 1, "aud": ["a", "b"]})).unwrap();
        assert_eq!(c.aud, ["a", "b"]);
        assert!(claims(json!({"exp": 1, "aud": [1]})).is_err());
        assert!(claims(json!({"exp": 1, "sub": 5})).is_err());
    }

    #[test]
    fn roles_are_an_array_of_strings() {
        let c = claims(json!({"exp": 1, "roles": ["admin", "ops"]})).unwrap();
        assert_eq!(c.roles, ["admin", "ops"]);
        // A single string is one role, never split on spaces.
        let c = claims(json!({"exp": 1, "roles": "admin ops"})).unwrap();
        assert_eq!(c.roles, ["admin ops"]);
        assert!(claims(json!({"exp": 1, "roles": [1]})).is_err());
        assert!(claims(json!({"exp": 1, "roles": {"a": 1}})).is_err());
        assert!(claims(json!({"exp": 1})).unwrap().roles.is_empty());
    }
}
