//! Local users: usernames, passwords and their argon2id hashes.
//!
//! The types here validate what a client sends at registration and login
//! and keep the password secret while it is in memory:
//!
//! - [`Username`]: 3–64 characters of ASCII letters, digits, `.`, `_`, `-`,
//!   unique case-insensitively through [`Username::key`];
//! - [`Password`]: a secret that never prints and is zeroized on drop, at
//!   least [`PasswordPolicy::min_length`] characters and at most
//!   [`MAX_PASSWORD_BYTES`] bytes;
//! - [`PasswordHash`]: a PHC string, what a user store keeps;
//! - [`PasswordHasher`]: argon2id at OWASP's minimum (19 MiB, 2 passes, 1
//!   lane), run on the blocking pool with a bounded number of hashes at once.
//!
//! ```
//! use tokengate::users::{Password, PasswordHasher, PasswordPolicy, Username};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let username = Username::parse("Alice.Smith")?;
//! let password = Password::new("correct horse".to_owned(), &PasswordPolicy::default())?;
//!
//! let hasher = PasswordHasher::new(1);
//! let hash = hasher.hash(&password).await?;
//! assert!(hasher.verify(&password, Some(&hash)).await);
//! assert_eq!(username.key(), "alice.smith");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod hash;
mod hasher;
mod password;
mod username;

pub use hash::{HashError, PasswordHash};
pub use hasher::PasswordHasher;
pub use password::{MAX_PASSWORD_BYTES, Password, PasswordPolicy};
pub use username::Username;
