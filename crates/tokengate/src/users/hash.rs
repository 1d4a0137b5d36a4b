//! The stored form of a password: a PHC string.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::phc;

/// A failure to hash a password, or a stored hash that is not a PHC string.
///
/// These are server-side failures: a client sees none of their details.
///
/// ```
/// use tokengate::users::{HashError, PasswordHash};
///
/// let err = PasswordHash::parse("not a hash").unwrap_err();
/// assert!(matches!(err, HashError::Malformed));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The text is not a PHC string with a salt and a hash.
    #[error("not a PHC password hash")]
    Malformed,
    /// The hash function failed (out of memory, no system randomness for
    /// the salt, ...).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The hashing task ended without a result (it panicked, or the runtime
    /// is shutting down).
    #[error("password hashing task did not complete")]
    TaskFailed,
}

/// A password hash in the PHC string format
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`): what a user store
/// keeps instead of the password.
///
/// It carries its algorithm and parameters, so a hash made with older or
/// weaker settings still verifies (see
/// [`PasswordHasher::needs_rehash`](super::PasswordHasher::needs_rehash)).
/// Its `Debug` shows the algorithm and parameters but not the salt and hash;
/// there is no `Display`, so that it is not logged by accident: store
/// [`as_str`](PasswordHash::as_str). It serializes as a plain string and
/// validates when deserialized.
///
/// ```
/// use tokengate::users::PasswordHash;
///
/// let stored = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
///               Eq6SyUw4Mqqqkxye9pm8y2Vq9Fbge1NVzNTbE/C6rhE";
/// let hash = PasswordHash::parse(stored)?;
/// assert_eq!(hash.as_str(), stored);
/// assert_eq!(format!("{hash:?}"), "PasswordHash($argon2id$v=19$m=19456,t=2,p=1$..)");
/// # Ok::<_, tokengate::users::HashError>(())
/// ```
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Checks that `phc` is a PHC string with a salt and a hash. The
    /// algorithm is not checked here: a hash of an algorithm other than
    /// Argon2 parses, and never verifies.
    ///
    /// ```
    /// use tokengate::users::PasswordHash;
    ///
    /// assert!(PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ").is_err());
    /// ```
    pub fn parse(phc: &str) -> Result<PasswordHash, HashError> {
        PasswordHash::try_from(phc.to_owned())
    }

    /// The PHC string, to store.
    ///
    /// ```
    /// use tokengate::users::PasswordHash;
    ///
    /// let stored = "$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$\
    ///               Eq6SyUw4Mqqqkxye9pm8y2Vq9Fbge1NVzNTbE/C6rhE";
    /// assert_eq!(PasswordHash::parse(stored)?.as_str(), stored);
    /// # Ok::<_, tokengate::users::HashError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PHC string, owned.
    ///
    /// ```
    /// use tokengate::users::PasswordHash;
    ///
    /// let stored = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
    ///               Eq6SyUw4Mqqqkxye9pm8y2Vq9Fbge1NVzNTbE/C6rhE";
    /// let column: String = PasswordHash::parse(stored)?.into_string();
    /// assert_eq!(column, stored);
    /// # Ok::<_, tokengate::users::HashError>(())
    /// ```
    pub fn into_string(self) -> String {
        self.0
    }

    /// The parsed form, for the hasher. Parsing succeeded at construction.
    pub(super) fn to_phc(&self) -> Result<phc::PasswordHash, HashError> {
        phc::PasswordHash::new(&self.0).map_err(|_| HashError::Malformed)
    }

    /// A hash made by the hasher.
    pub(super) fn from_phc(hash: &phc::PasswordHash) -> PasswordHash {
        PasswordHash(hash.to_string())
    }
}

impl TryFrom<String> for PasswordHash {
    type Error = HashError;

    fn try_from(phc: String) -> Result<Self, Self::Error> {
        match phc::PasswordHash::new(&phc) {
            Ok(parsed) if parsed.salt.is_some() && parsed.hash.is_some() => Ok(PasswordHash(phc)),
            _ => Err(HashError::Malformed),
        }
    }
}

impl FromStr for PasswordHash {
    type Err = HashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PasswordHash::parse(s)
    }
}

impl From<PasswordHash> for String {
    fn from(hash: PasswordHash) -> String {
        hash.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A valid hash ends with `$<salt>$<hash>`: show what comes before.
        let settings = self.0.rsplitn(3, '$').nth(2).unwrap_or_default();
        write!(f, "PasswordHash({settings}$..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORED: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                          Eq6SyUw4Mqqqkxye9pm8y2Vq9Fbge1NVzNTbE/C6rhE";

    #[test]
    fn parses_a_phc_string() {
        let hash = PasswordHash::parse(STORED).unwrap();
        assert_eq!(hash.as_str(), STORED);
        assert_eq!(STORED.parse::<PasswordHash>().unwrap(), hash);
        assert_eq!(String::from(hash), STORED);
    }

    #[test]
    fn refuses_what_is_not_a_complete_phc_string() {
        for text in [
            "",
            "hunter2",
            "argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo",
            "$argon2id$v=19$m=19456,t=2,p=1",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$not base64!",
        ] {
            assert_eq!(
                PasswordHash::parse(text),
                Err(HashError::Malformed),
                "{text:?}"
            );
        }
    }

    #[test]
    fn debug_hides_salt_and_hash() {
        let debug = format!("{:?}", PasswordHash::parse(STORED).unwrap());
        assert_eq!(debug, "PasswordHash($argon2id$v=19$m=19456,t=2,p=1$..)");
        assert!(!debug.contains("c29tZXNhbHRzb21lc2FsdA"));
        assert!(!debug.contains("Eq6SyUw4"));
    }

    #[test]
    fn serde_is_a_validated_string() {
        let json = serde_json::to_string(&PasswordHash::parse(STORED).unwrap()).unwrap();
        assert_eq!(json, format!("\"{STORED}\""));
        let back: PasswordHash = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), STORED);
        assert!(serde_json::from_str::<PasswordHash>(r#""plain""#).is_err());
    }
}
