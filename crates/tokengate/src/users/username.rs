//! The username rule of registration and login.

use crate::RequestRejection;
use std::fmt;
use std::str::FromStr;

use crate::Error;

const MIN_CHARS: usize = 3;
const MAX_CHARS: usize = 64;
const RULE: &str = "username must be 3-64 characters of letters, digits, '.', '_' or '-'";

/// A valid username: 3–64 characters, each an ASCII letter, digit, `.`, `_`
/// or `-`.
///
/// [`as_str`](Username::as_str) keeps the spelling the user chose;
/// [`key`](Username::key) is the lower-case form under which usernames are
/// unique, so `Alice` and `alice` are the same account. Equality and hashing
/// of `Username` itself compare the spelling: compare keys to find an
/// account.
///
/// It serializes as a plain string and validates when deserialized.
///
/// ```
/// use tokengate::users::Username;
///
/// let name = Username::parse("Alice_01")?;
/// assert_eq!(name.as_str(), "Alice_01");
/// assert_eq!(name.key(), "alice_01");
///
/// let err = Username::parse("al").unwrap_err();
/// assert_eq!(err.code(), "invalid_request");
/// # Ok::<_, tokengate::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// Checks `name` against the rule; the error is
    /// [`RequestRejection::Invalid`](crate::RequestRejection::Invalid) naming the field `username`.
    ///
    /// Nothing is trimmed or normalized: `" alice"` is refused.
    ///
    /// ```
    /// use tokengate::users::Username;
    ///
    /// assert!(Username::parse("bob").is_ok());
    /// assert!(Username::parse("bob smith").is_err());
    /// assert!(Username::parse("bjørn").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Username, Error> {
        if is_valid(name) {
            Ok(Username(name.to_owned()))
        } else {
            Err(RequestRejection::Invalid(RULE.to_owned()).into())
        }
    }

    /// The username as the user spelled it.
    ///
    /// ```
    /// use tokengate::users::Username;
    ///
    /// assert_eq!(Username::parse("Bob")?.as_str(), "Bob");
    /// # Ok::<_, tokengate::Error>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-case form: the key of case-insensitive uniqueness, what a
    /// user store indexes and looks up.
    ///
    /// ```
    /// use tokengate::users::Username;
    ///
    /// assert_eq!(Username::parse("Bob")?.key(), Username::parse("bOB")?.key());
    /// # Ok::<_, tokengate::Error>(())
    /// ```
    pub fn key(&self) -> String {
        // Only ASCII is allowed, so ASCII lower-casing is the whole story.
        self.0.to_ascii_lowercase()
    }

    /// The username as the user spelled it, as an owned string.
    ///
    /// ```
    /// use tokengate::users::Username;
    ///
    /// let name: String = Username::parse("Bob")?.into_string();
    /// assert_eq!(name, "Bob");
    /// # Ok::<_, tokengate::Error>(())
    /// ```
    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_valid(name: &str) -> bool {
    // Every allowed character is one byte, so the byte length is the
    // character count once the characters are checked.
    (MIN_CHARS..=MAX_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Username {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Username::parse(s)
    }
}

impl TryFrom<String> for Username {
    type Error = Error;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        if is_valid(&name) {
            Ok(Username(name))
        } else {
            Err(RequestRejection::Invalid(RULE.to_owned()).into())
        }
    }
}

impl From<Username> for String {
    fn from(name: Username) -> String {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(name: &str) -> bool {
        matches!(Username::parse(name), Err(Error::Request(RequestRejection::Invalid(msg))) if msg == RULE)
    }

    #[test]
    fn length_bounds() {
        assert!(invalid(""));
        assert!(invalid("ab"));
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert!(invalid(&"a".repeat(65)));
    }

    #[test]
    fn allowed_characters() {
        for name in [
            "alice", "ALICE", "a.b", "a_b", "a-b", "007", "...", "A1.b_c-D",
        ] {
            assert!(Username::parse(name).is_ok(), "{name} should be valid");
        }
    }

    #[test]
    fn forbidden_characters() {
        for name in [
            "a b", " abc", "abc ", "a@b", "a/b", "a+b", "a:b", "a\"b", "a'b", "a\0b", "a\nb",
            "a\tb", "a%2e", "abc!",
        ] {
            assert!(invalid(name), "{name:?} should be refused");
        }
    }

    #[test]
    fn unicode_is_refused() {
        // Each of these is 3+ characters; some are short in characters but
        // long in bytes, some look like ASCII (Cyrillic "а", fullwidth "ａ").
        for name in [
            "bjørn",
            "ålice",
            "аlice",
            "ａbc",
            "名前です",
            "abc\u{301}",
            "ab\u{200b}",
        ] {
            assert!(invalid(name), "{name:?} should be refused");
        }
    }

    #[test]
    fn key_is_case_insensitive_and_spelling_is_kept() {
        let a = Username::parse("Alice.Smith").unwrap();
        let b = Username::parse("aLICE.sMITH").unwrap();
        assert_eq!(a.key(), "alice.smith");
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Alice.Smith");
        assert_eq!(a.to_string(), "Alice.Smith");
        assert_ne!(a, b);
    }

    #[test]
    fn serde_is_a_validated_string() {
        let name: Username = serde_json::from_str(r#""Bob-2""#).unwrap();
        assert_eq!(name.as_str(), "Bob-2");
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""Bob-2""#);

        let err = serde_json::from_str::<Username>(r#""b b""#).unwrap_err();
        assert!(err.to_string().contains("username must be"), "{err}");
        assert!(serde_json::from_str::<Username>("42").is_err());
    }

    #[test]
    fn from_str_and_try_from_agree_with_parse() {
        assert_eq!("carol".parse::<Username>().unwrap().as_str(), "carol");
        assert!(Username::try_from("ca".to_owned()).is_err());
        assert_eq!(String::from(Username::parse("dave").unwrap()), "dave");
    }
}
