#![doc = include_str!("../README.md")]

pub mod claims;
mod error;
mod jws;
pub mod keys;
pub mod token;

pub use error::{Error, ErrorBody};
pub use jws::{Header, MAX_TOKEN_LEN};
