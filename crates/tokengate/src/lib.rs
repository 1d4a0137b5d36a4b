#![doc = include_str!("../README.md")]
// The README links to the `oidc` module, which exists with its feature only:
// without it, those links go to docs.rs (built with every feature).
#![cfg_attr(
    not(feature = "oidc"),
    doc = "",
    doc = "[`oidc::OidcLogin`]: https://docs.rs/tokengate/latest/tokengate/oidc/struct.OidcLogin.html",
    doc = "[`oidc::OidcLogin::begin`]: https://docs.rs/tokengate/latest/tokengate/oidc/struct.OidcLogin.html#method.begin",
    doc = "[`oidc::OidcLogin::finish`]: https://docs.rs/tokengate/latest/tokengate/oidc/struct.OidcLogin.html#method.finish",
    doc = "[`oidc::OidcLogin::end_session_url`]: https://docs.rs/tokengate/latest/tokengate/oidc/struct.OidcLogin.html#method.end_session_url"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
pub mod axum;
pub mod claims;
pub mod clock;
pub mod dpop;
mod error;
pub mod forward;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod ids;
#[cfg(feature = "issuers")]
pub mod issuers;
mod jws;
pub mod keys;
pub mod login;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "oidc")]
pub mod oidc;
#[cfg(feature = "passkeys")]
pub mod passkeys;
pub mod revocation;
pub mod scope;
pub mod token;
pub mod transport;
#[cfg(feature = "users")]
pub mod users;

pub use error::{
    AccessRejection, AccountRejection, Backend, Error, ErrorBody, RequestRejection, TokenRejection,
    Unavailable,
};

/// The snippets of the migration guide from Flask-JWT-Extended, run as
/// doctests so that the guide keeps compiling.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../../docs/from-flask-jwt-extended.md")]
mod from_flask_jwt_extended {}
pub use jws::{Header, MAX_TOKEN_LEN};
