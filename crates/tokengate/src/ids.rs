//! Identifiers that must not be mixed up: a token's id, a login's id and a
//! subject are all strings on the wire, and distinct types here.
//!
//! Each is a string newtype that serializes as the plain string, reads as a
//! `&str` (`Deref`), and converts from `String` and `&str`; a function that
//! takes a [`LoginId`] cannot be handed a [`TokenId`] by mistake.
//!
//! ```
//! use tokengate::ids::{LoginId, Subject, TokenId};
//!
//! let jti = TokenId::from("0190a1b2-...");
//! let login = LoginId::from("login-7");
//! let sub = Subject::from("alice");
//! assert_eq!((jti.as_str(), login.as_str(), &*sub), ("0190a1b2-...", "login-7", "alice"));
//! assert_eq!(serde_json::to_string(&sub).unwrap(), r#""alice""#);
//! ```

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $example:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("The id as text.\n\n```\nlet id = tokengate::ids::", stringify!($name), "::from(\"", $example, "\");\nassert_eq!(id.as_str(), \"", $example, "\");\n```")]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            #[doc = concat!("The id as an owned `String`.\n\n```\nlet id = tokengate::ids::", stringify!($name), "::from(\"", $example, "\");\nassert_eq!(id.into_string(), \"", $example, "\");\n```")]
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id!(
    /// A token's id: its `jti` claim (a UUIDv7 for tokengate's own tokens).
    ///
    /// ```
    /// use tokengate::ids::TokenId;
    ///
    /// let jti: TokenId = serde_json::from_str(r#""j-1""#).unwrap();
    /// assert_eq!(jti, "j-1");
    /// ```
    TokenId,
    "j-1"
);

string_id!(
    /// A login's id: the refresh-token family every token of one login
    /// carries in its `fam` claim. Logout and refresh-token reuse end a
    /// login; see [`crate::login`].
    ///
    /// ```
    /// use tokengate::ids::LoginId;
    ///
    /// let login = LoginId::from("login-7");
    /// assert_eq!(format!("{login}"), "login-7");
    /// ```
    LoginId,
    "login-7"
);

string_id!(
    /// Whom a token is about: its `sub` claim.
    ///
    /// ```
    /// use tokengate::ids::Subject;
    ///
    /// let sub = Subject::from("alice");
    /// assert!(sub.starts_with("ali")); // reads as a &str
    /// ```
    Subject,
    "alice"
);

impl LoginId {
    /// A new random login id (128 bits, URL-safe).
    ///
    /// ```
    /// use tokengate::ids::LoginId;
    ///
    /// assert_ne!(LoginId::random(), LoginId::random());
    /// ```
    pub fn random() -> Self {
        Self(crate::token::random_id())
    }
}
