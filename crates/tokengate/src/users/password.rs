//! The password secret and the policy a new password must meet.

use crate::RequestRejection;
use std::fmt;

use zeroize::Zeroizing;

use crate::Error;

/// The longest password accepted, in bytes (UTF-8), at registration and at
/// login alike: hashing cost grows with the input, and nobody types more.
///
/// ```
/// assert_eq!(tokengate::users::MAX_PASSWORD_BYTES, 1024);
/// ```
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// What a new password must meet (the `password_min_length` setting).
///
/// ```
/// use tokengate::users::PasswordPolicy;
///
/// assert_eq!(PasswordPolicy::default().min_length, 8);
/// let strict = PasswordPolicy { min_length: 12 };
/// # let _ = strict;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The fewest characters (Unicode scalar values, not bytes) a password
    /// may have. Default 8.
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min_length: 8 }
    }
}

/// A password, held as a secret: it never appears in `Debug` (which prints
/// `Password([redacted])`), has no `Display`, no serde and no `Clone`, and
/// its memory is zeroized when it is dropped (also when it is refused).
///
/// Build it with [`Password::new`] for a password being set (registration,
/// password change), which applies the [`PasswordPolicy`], or with
/// [`Password::for_login`] for one being checked, which applies only the
/// length cap so that a user whose password predates a stricter policy can
/// still log in.
///
/// ```
/// use tokengate::users::{Password, PasswordPolicy};
///
/// let password = Password::new("hunter2hunter2".to_owned(), &PasswordPolicy::default())?;
/// assert_eq!(format!("{password:?}"), "Password([redacted])");
/// # Ok::<_, tokengate::Error>(())
/// ```
pub struct Password(Zeroizing<String>);

impl Password {
    /// A new password: at least `policy.min_length` characters and at most
    /// [`MAX_PASSWORD_BYTES`] bytes, else [`RequestRejection::Invalid`](crate::RequestRejection::Invalid) naming
    /// the field `password`.
    ///
    /// ```
    /// use tokengate::users::{Password, PasswordPolicy};
    ///
    /// let policy = PasswordPolicy::default();
    /// assert!(Password::new("12345678".to_owned(), &policy).is_ok());
    /// let err = Password::new("1234567".to_owned(), &policy).unwrap_err();
    /// assert_eq!(err.to_string(), "password must be at least 8 characters");
    /// ```
    pub fn new(password: String, policy: &PasswordPolicy) -> Result<Password, Error> {
        let password = Password::for_login(password)?;
        if password.0.chars().count() < policy.min_length {
            return Err(RequestRejection::Invalid(format!(
                "password must be at least {} characters",
                policy.min_length
            ))
            .into());
        }
        Ok(password)
    }

    /// A password presented at login, to be verified: only the
    /// [`MAX_PASSWORD_BYTES`] cap applies.
    ///
    /// ```
    /// use tokengate::users::Password;
    ///
    /// assert!(Password::for_login("short".to_owned()).is_ok());
    /// assert!(Password::for_login("x".repeat(1025)).is_err());
    /// ```
    pub fn for_login(password: String) -> Result<Password, Error> {
        let password = Zeroizing::new(password);
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(RequestRejection::Invalid(format!(
                "password must be at most {MAX_PASSWORD_BYTES} bytes"
            ))
            .into());
        }
        Ok(Password(password))
    }

    /// The secret itself. Do not log it or keep a copy of it.
    ///
    /// ```
    /// use tokengate::users::Password;
    ///
    /// let password = Password::for_login("hunter2".to_owned())?;
    /// assert_eq!(password.expose_secret(), "hunter2");
    /// # Ok::<_, tokengate::Error>(())
    /// ```
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// A copy of the bytes for a hashing task, zeroized when that drops.
    pub(super) fn to_zeroizing_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.as_bytes().to_vec())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(result: Result<Password, Error>) -> String {
        match result {
            Err(Error::Request(RequestRejection::Invalid(msg))) => msg,
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => panic!("password accepted"),
        }
    }

    #[test]
    fn minimum_length_default_is_eight() {
        let policy = PasswordPolicy::default();
        let msg = refused(Password::new("a".repeat(7), &policy));
        assert_eq!(msg, "password must be at least 8 characters");
        assert!(Password::new("a".repeat(8), &policy).is_ok());
    }

    #[test]
    fn minimum_length_is_configurable() {
        let policy = PasswordPolicy { min_length: 12 };
        let msg = refused(Password::new("a".repeat(11), &policy));
        assert_eq!(msg, "password must be at least 12 characters");
        assert!(Password::new("a".repeat(12), &policy).is_ok());
        assert!(Password::new(String::new(), &PasswordPolicy { min_length: 0 }).is_ok());
    }

    #[test]
    fn minimum_counts_characters_not_bytes() {
        let policy = PasswordPolicy::default();
        // 7 characters, 21 bytes: too short.
        let seven = "日本語のパスワ";
        assert_eq!((seven.chars().count(), seven.len()), (7, 21));
        refused(Password::new(seven.to_owned(), &policy));
        // 8 characters, 8 x 4 bytes: long enough.
        let eight = "🔑".repeat(8);
        assert_eq!(eight.len(), 32);
        assert!(Password::new(eight, &policy).is_ok());
    }

    #[test]
    fn maximum_is_1024_bytes() {
        let policy = PasswordPolicy::default();
        assert!(Password::new("a".repeat(1024), &policy).is_ok());
        let msg = refused(Password::new("a".repeat(1025), &policy));
        assert_eq!(msg, "password must be at most 1024 bytes");
        assert!(msg.starts_with("password "));
    }

    #[test]
    fn maximum_counts_bytes_not_characters() {
        let policy = PasswordPolicy::default();
        // 256 characters of 4 bytes: exactly 1024 bytes.
        assert!(Password::new("🔑".repeat(256), &policy).is_ok());
        // 342 characters of 3 bytes: 1026 bytes, though far fewer characters.
        refused(Password::new("語".repeat(342), &policy));
    }

    #[test]
    fn login_applies_only_the_cap() {
        assert!(Password::for_login("a".into()).is_ok());
        assert!(Password::for_login("a".repeat(1024)).is_ok());
        let msg = refused(Password::for_login("a".repeat(1025)));
        assert_eq!(msg, "password must be at most 1024 bytes");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let password = Password::new("s3cr3t-passw0rd".into(), &PasswordPolicy::default()).unwrap();
        let debug = format!("{password:?}");
        assert_eq!(debug, "Password([redacted])");
        assert!(!debug.contains("s3cr3t"));
        let pretty = format!("{:#?}", Some(&password));
        assert!(!pretty.contains("s3cr3t"));
    }

    #[test]
    fn secret_is_available_on_purpose() {
        let password = Password::for_login("hunter2".into()).unwrap();
        assert_eq!(password.expose_secret(), "hunter2");
        assert_eq!(&*password.to_zeroizing_bytes(), b"hunter2");
    }
}
