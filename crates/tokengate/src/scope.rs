//! Scope requirements: an OR of ANDs, as in Authlib.
//!
//! ```
//! use tokengate::scope::ScopeRequirement;
//!
//! // (read and write) or admin
//! let req = ScopeRequirement::any_of(["read write", "admin"]);
//! assert!(req.is_met_by(&["admin".into()]));
//! assert!(!req.is_met_by(&["read".into()]));
//! ```

use crate::AccessRejection;
use std::fmt;

use crate::Error;
use crate::claims::Claims;

/// A scope requirement: any one alternative must be met in full.
/// `["a b", "c"]` means (a and b) or c.
///
/// ```
/// use tokengate::scope::ScopeRequirement;
///
/// let req = ScopeRequirement::any_of(["read:messages write:messages", "admin"]);
/// assert!(req.is_met_by(&["admin".to_string()]));
/// assert!(req.is_met_by(&["write:messages".into(), "read:messages".into()]));
/// assert!(!req.is_met_by(&["read:messages".to_string()]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    any_of: Vec<Vec<String>>,
}

impl ScopeRequirement {
    /// Each item is one alternative: space-separated scopes that must all be present.
    ///
    /// ```
    /// use tokengate::scope::ScopeRequirement;
    ///
    /// let req = ScopeRequirement::any_of(["read:messages"]);
    /// assert_eq!(req.to_string(), "read:messages"); // what a 403 asks for
    /// ```
    pub fn any_of<I, S>(alternatives: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ScopeRequirement {
            any_of: alternatives
                .into_iter()
                .map(|alt| alt.as_ref().split_whitespace().map(str::to_owned).collect())
                .collect(),
        }
    }

    /// Whether `scopes` meet one alternative in full. No alternatives: always met.
    ///
    /// ```
    /// use tokengate::scope::ScopeRequirement;
    ///
    /// let req = ScopeRequirement::any_of(["read write"]);
    /// assert!(req.is_met_by(&["write".into(), "read".into(), "extra".into()]));
    /// assert!(!req.is_met_by(&["read".to_string()]));
    /// assert!(ScopeRequirement::any_of(Vec::<String>::new()).is_met_by(&[]));
    /// ```
    pub fn is_met_by(&self, scopes: &[String]) -> bool {
        self.any_of.is_empty()
            || self
                .any_of
                .iter()
                .any(|all| all.iter().all(|needed| scopes.iter().any(|s| s == needed)))
    }

    /// `Ok` when the claims meet the requirement, else `insufficient_scope` (403).
    ///
    /// ```
    /// use tokengate::scope::ScopeRequirement;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let issued = engine.issue(NewToken::access("alice").scope("read:messages")).unwrap();
    /// let claims = engine.verify(&issued.token).unwrap().claims;
    /// assert!(ScopeRequirement::any_of(["read:messages", "admin"]).check(&claims).is_ok());
    /// let err = ScopeRequirement::any_of(["admin"]).check(&claims).unwrap_err();
    /// assert_eq!(err.code(), "insufficient_scope");
    /// ```
    pub fn check(&self, claims: &Claims) -> Result<(), Error> {
        if self.is_met_by(&claims.scopes) {
            Ok(())
        } else {
            Err(AccessRejection::InsufficientScope(self.to_string()).into())
        }
    }
}

/// The scopes of the first alternative: what RFC 6750's `scope` attribute
/// tells a client to ask for.
impl fmt::Display for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .any_of
                .first()
                .map(|all| all.join(" "))
                .unwrap_or_default(),
        )
    }
}

/// A scope requirement known at compile time, for the
/// [`Scoped`](crate::axum::Scoped) extractor. Declare one with
/// [`required_scopes!`](crate::required_scopes), or by hand:
///
/// ```
/// use tokengate::scope::RequiredScopes;
///
/// struct Moderate;
/// impl RequiredScopes for Moderate {
///     const ANY_OF: &'static [&'static str] = &["messages:moderate", "admin"];
/// }
/// assert!(Moderate::requirement().is_met_by(&["admin".to_string()]));
/// ```
pub trait RequiredScopes: Send + Sync + 'static {
    /// The alternatives, each a space-separated list of scopes.
    const ANY_OF: &'static [&'static str];

    /// The requirement as a value.
    fn requirement() -> ScopeRequirement {
        ScopeRequirement::any_of(Self::ANY_OF)
    }
}

/// Declares a [`RequiredScopes`] type.
///
/// ```
/// tokengate::required_scopes!(pub ReadMessages = ["read:messages"]);
/// use tokengate::scope::RequiredScopes;
/// assert_eq!(ReadMessages::ANY_OF, ["read:messages"]);
/// ```
#[macro_export]
macro_rules! required_scopes {
    ($vis:vis $name:ident = [$($alt:expr),* $(,)?]) => {
        #[doc = concat!("Scope requirement: any of ", stringify!([$($alt),*]), ".")]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::scope::RequiredScopes for $name {
            const ANY_OF: &'static [&'static str] = &[$($alt),*];
        }
    };
}

/// A role requirement known at compile time, for the
/// [`HasRole`](crate::axum::HasRole) extractor: every role listed must be
/// in the token's roles (the `roles` claim of tokengate's tokens; a
/// trusted issuer's roles where its claims put them). Declare one with
/// [`required_roles!`](crate::required_roles), or by hand:
/// ```
/// use tokengate::scope::RequiredRoles;
/// struct Auditor;
/// impl RequiredRoles for Auditor {
///     const ALL_OF: &'static [&'static str] = &["audit"];
/// }
/// assert_eq!(Auditor::ALL_OF, ["audit"]);
/// ```
pub trait RequiredRoles: Send + Sync + 'static {
    /// The roles, all required.
    const ALL_OF: &'static [&'static str];

    /// `Ok` when the claims hold every role, else `insufficient_role`
    /// (403) naming the missing ones.
    /// ```
    /// use tokengate::scope::RequiredRoles;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    /// tokengate::required_roles!(Ops = ["ops", "admin"]);
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let claims = engine.verify(&engine.issue(NewToken::access("alice").roles(["ops"])).unwrap().token).unwrap().claims;
    /// let err = Ops::check(&claims).unwrap_err();
    /// assert_eq!(err.code(), "insufficient_role");
    /// assert!(matches!(err, tokengate::Error::Access(tokengate::AccessRejection::InsufficientRole(missing)) if missing == "admin"));
    /// ```
    fn check(claims: &Claims) -> Result<(), Error> {
        check_roles(claims, Self::ALL_OF.iter().copied())
    }
}

/// `Ok` when the claims hold every role, else `insufficient_role` naming
/// the missing ones: the one role check of the extractors and layers.
pub(crate) fn check_roles<'a>(
    claims: &Claims,
    roles: impl IntoIterator<Item = &'a str>,
) -> Result<(), Error> {
    let missing: Vec<&str> = roles
        .into_iter()
        .filter(|role| !claims.has_role(role))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(AccessRejection::InsufficientRole(missing.join(" ")).into())
    }
}

/// Declares a [`RequiredRoles`] type.
/// ```
/// tokengate::required_roles!(pub Admin = ["admin"]);
/// use tokengate::scope::RequiredRoles;
/// assert_eq!(Admin::ALL_OF, ["admin"]);
/// ```
#[macro_export]
macro_rules! required_roles {
    ($vis:vis $name:ident = [$($role:expr),* $(,)?]) => {
        #[doc = concat!("Role requirement: all of ", stringify!([$($role),*]), ".")]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::scope::RequiredRoles for $name {
            const ALL_OF: &'static [&'static str] = &[$($role),*];
        }
    };
}
