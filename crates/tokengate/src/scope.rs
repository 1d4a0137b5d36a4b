//! Scope requirements: an OR of ANDs, as in Authlib.

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
    pub fn is_met_by(&self, scopes: &[String]) -> bool {
        self.any_of.is_empty()
            || self
                .any_of
                .iter()
                .any(|all| all.iter().all(|needed| scopes.iter().any(|s| s == needed)))
    }

    /// `Ok` when the claims meet the requirement, else `insufficient_scope` (403).
    pub fn check(&self, claims: &Claims) -> Result<(), Error> {
        if self.is_met_by(&claims.scopes) {
            Ok(())
        } else {
            Err(Error::InsufficientScope(self.to_string()))
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
/// [`required_scopes!`](crate::required_scopes).
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
