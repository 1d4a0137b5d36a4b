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
        string_id!($(#[$doc])* $name, $example, String);
    };
    ($(#[$doc:meta])* $name:ident, $example:literal, $text:ty) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name($text);

        impl $name {
            #[doc = concat!("The id as text.\n\n```\nlet id = tokengate::ids::", stringify!($name), "::from(\"", $example, "\");\nassert_eq!(id.as_str(), \"", $example, "\");\n```")]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            #[doc = concat!("The id as an owned `String`.\n\n```\nlet id = tokengate::ids::", stringify!($name), "::from(\"", $example, "\");\nassert_eq!(id.into_string(), \"", $example, "\");\n```")]
            pub fn into_string(self) -> String {
                self.0.into()
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                self.0.as_str()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.0.as_str()
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.0.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0.as_str())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.0.as_str(), f)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id.into())
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned().into())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.into()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0.as_str() == *other
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
    "j-1",
    UuidText
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
    "login-7",
    UuidText
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
        Self(crate::token::random_id().into())
    }
}

impl TokenId {
    /// The id's 16 bytes if it is a UUID in canonical form (lowercase,
    /// hyphenated: what tokengate issues), read once when the id is made.
    pub(crate) fn uuid_bytes(&self) -> Option<[u8; 16]> {
        self.0.uuid
    }
}

impl LoginId {
    /// The id's 16 bytes if it is a UUID in canonical form, read once
    /// when the id is made.
    pub(crate) fn uuid_bytes(&self) -> Option<[u8; 16]> {
        self.0.uuid
    }
}

/// The text of an id that is usually a UUID ([`TokenId`], [`LoginId`]),
/// with its 16 bytes when it is one in canonical form: the revocation
/// check of every request looks ids up by those bytes, and reading them
/// once per token instead of once per request saved a sixth of the check.
/// Compared, ordered and hashed as its text (so `Borrow<str>` holds).
#[derive(Clone)]
struct UuidText {
    text: String,
    uuid: Option<[u8; 16]>,
}

impl UuidText {
    fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<String> for UuidText {
    fn from(text: String) -> Self {
        let uuid = canonical_uuid(&text);
        Self { text, uuid }
    }
}

impl From<UuidText> for String {
    fn from(id: UuidText) -> String {
        id.text
    }
}

impl PartialEq for UuidText {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for UuidText {}

impl PartialOrd for UuidText {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for UuidText {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl std::hash::Hash for UuidText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl serde::Serialize for UuidText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for UuidText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// The 16 bytes of `id` if it is a UUID in canonical form (lowercase,
/// hyphenated). Only that spelling: two spellings of one UUID stay two ids.
pub(crate) fn canonical_uuid(id: &str) -> Option<[u8; 16]> {
    if id.len() != 36 || id.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    // 36 characters: only the hyphenated form parses.
    uuid::Uuid::try_parse(id).ok().map(|u| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_canonical_uuid_id_carries_its_bytes_and_still_reads_as_its_text() {
        let text = crate::token::random_id();
        let jti = TokenId::from(text.as_str());
        let bytes = *uuid::Uuid::try_parse(&text).unwrap().as_bytes();
        assert_eq!(jti.uuid_bytes(), Some(bytes));
        assert_eq!(LoginId::from(text.clone()).uuid_bytes(), Some(bytes));
        let parsed: TokenId = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        assert_eq!(parsed.uuid_bytes(), Some(bytes));
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            format!("\"{text}\"")
        );
        // Other spellings of the same UUID, and other ids, are text only.
        for other in [text.to_uppercase(), text.replace('-', ""), "j-1".into()] {
            assert_eq!(TokenId::from(other).uuid_bytes(), None);
        }
        // Found by its text in a set (Hash and Eq are the text's).
        let set: HashSet<TokenId> = [jti.clone()].into();
        assert!(set.contains(text.as_str()));
        assert_eq!(jti.clone().into_string(), text);
        assert!(jti < TokenId::from(format!("{text}x")));
    }
}
