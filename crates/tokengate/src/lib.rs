#![doc = include_str!("../README.md")]

#[cfg(feature = "axum")]
pub mod axum;
pub mod claims;
mod error;
#[cfg(feature = "issuers")]
pub mod issuers;
mod jws;
pub mod keys;
#[cfg(feature = "oidc")]
pub mod oidc;
pub mod revocation;
pub mod scope;
pub mod session;
pub mod token;
pub mod transport;
#[cfg(feature = "users")]
pub mod users;

pub use error::{Error, ErrorBody};
pub use jws::{Header, MAX_TOKEN_LEN};
