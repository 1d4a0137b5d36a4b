//! Metrics through the [`metrics`] facade (cargo feature `metrics`): the
//! application installs a recorder (e.g. `metrics-exporter-prometheus`) and
//! tokengate's counters and gauges show up in it. Without the feature
//! nothing is count_verification and `metrics` is not a dependency.
//!
//! | Name | Type | Labels | Counted |
//! |---|---|---|---|
//! | `tokengate_token_verifications_total` | counter | `result`: `accepted` or an error code (`token_expired`, `token_revoked`, …) | once per answer of a tokengate extractor (feature `axum`), cached verifications included |
//! | `tokengate_refresh_reuse_detected_total` | counter | none | a spent refresh token presented again ([`TokenGate::refresh`](crate::axum::TokenGate::refresh)): the login was revoked |
//! | `tokengate_jwks_fetches_total` | counter | `issuer`: the configured issuer; `outcome`: `ok`, `unreachable`, `http_error`, `invalid` | each (re)load of a trusted issuer's keys (feature `issuers`): discovery when needed, then the JWKS |
//! | `tokengate_password_hashing_queue` | gauge | none | password hashes and verifications waiting for a worker thread ([`PasswordHasher`](crate::users::PasswordHasher), feature `users`) |
//! | `tokengate_password_hashing_running` | gauge | none | password hashes and verifications running on a worker thread |
//!
//! Every label value is bounded: `result` by the error codes, `outcome` by
//! the four above, `issuer` by the configuration. Extractors that wrap
//! another ([`Scoped`](crate::axum::Scoped),
//! [`IssuedBy`](crate::axum::IssuedBy),
//! [`CurrentUser`](crate::axum::CurrentUser)) count their own answer once;
//! an optional extractor (`Option<AccessToken>`) counts nothing when there
//! is no token. A [`RequireToken`](crate::axum::RequireToken) layer counts
//! its own answer, and the extractors behind it (which take its token)
//! count nothing. [`TokenGate::authenticate`](crate::axum::TokenGate::authenticate)
//! and [`TokenGate::verify`](crate::axum::TokenGate::verify) called directly
//! count nothing. `JWKS` fetches skipped by the unknown-`kid` cooldown are
//! not fetches. The gauges add up over every `PasswordHasher` of the process.
//!
//! Install the recorder before the first request: the verification
//! counters are registered once per `result`, at first use, with the
//! recorder installed then (so that a cached verification costs an atomic
//! increment, not a registry look-up).
//!
//! ```
//! // At start-up, once the recorder is installed: HELP lines for the exporter.
//! tokengate::metrics::describe();
//! ```

use metrics::{describe_counter, describe_gauge};

/// Verifications by result, `accepted` or an error code.
///
/// ```
/// use tokengate::metrics::{describe, TOKEN_VERIFICATIONS};
/// # use std::sync::Mutex;
/// # use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
/// # /// A recorder that notes what is described: (name, "counter" or "gauge").
/// # #[derive(Default)]
/// # struct Described(Mutex<Vec<(String, &'static str)>>);
/// # impl Described {
/// #     fn kind_of(&self, name: &str) -> Option<&'static str> {
/// #         self.0.lock().unwrap().iter().find(|(n, _)| n == name).map(|(_, kind)| *kind)
/// #     }
/// # }
/// # impl Recorder for Described {
/// #     fn describe_counter(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "counter")) }
/// #     fn describe_gauge(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "gauge")) }
/// #     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
/// #     fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter { Counter::noop() }
/// #     fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge { Gauge::noop() }
/// #     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram { Histogram::noop() }
/// # }
///
/// assert_eq!(TOKEN_VERIFICATIONS, "tokengate_token_verifications_total");
/// let recorder = Described::default(); // notes what `describe` describes
/// metrics::with_local_recorder(&recorder, describe);
/// assert_eq!(recorder.kind_of(TOKEN_VERIFICATIONS), Some("counter"));
/// ```
pub const TOKEN_VERIFICATIONS: &str = "tokengate_token_verifications_total";
/// Spent refresh tokens presented again.
///
/// ```
/// use tokengate::metrics::{describe, REFRESH_REUSE_DETECTED};
/// # use std::sync::Mutex;
/// # use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
/// # /// A recorder that notes what is described: (name, "counter" or "gauge").
/// # #[derive(Default)]
/// # struct Described(Mutex<Vec<(String, &'static str)>>);
/// # impl Described {
/// #     fn kind_of(&self, name: &str) -> Option<&'static str> {
/// #         self.0.lock().unwrap().iter().find(|(n, _)| n == name).map(|(_, kind)| *kind)
/// #     }
/// # }
/// # impl Recorder for Described {
/// #     fn describe_counter(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "counter")) }
/// #     fn describe_gauge(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "gauge")) }
/// #     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
/// #     fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter { Counter::noop() }
/// #     fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge { Gauge::noop() }
/// #     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram { Histogram::noop() }
/// # }
///
/// assert_eq!(REFRESH_REUSE_DETECTED, "tokengate_refresh_reuse_detected_total");
/// let recorder = Described::default(); // notes what `describe` describes
/// metrics::with_local_recorder(&recorder, describe);
/// assert_eq!(recorder.kind_of(REFRESH_REUSE_DETECTED), Some("counter"));
/// ```
pub const REFRESH_REUSE_DETECTED: &str = "tokengate_refresh_reuse_detected_total";
/// Loads of a trusted issuer's keys, by issuer and outcome.
///
/// ```
/// use tokengate::metrics::{describe, JWKS_FETCHES};
/// # use std::sync::Mutex;
/// # use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
/// # /// A recorder that notes what is described: (name, "counter" or "gauge").
/// # #[derive(Default)]
/// # struct Described(Mutex<Vec<(String, &'static str)>>);
/// # impl Described {
/// #     fn kind_of(&self, name: &str) -> Option<&'static str> {
/// #         self.0.lock().unwrap().iter().find(|(n, _)| n == name).map(|(_, kind)| *kind)
/// #     }
/// # }
/// # impl Recorder for Described {
/// #     fn describe_counter(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "counter")) }
/// #     fn describe_gauge(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "gauge")) }
/// #     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
/// #     fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter { Counter::noop() }
/// #     fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge { Gauge::noop() }
/// #     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram { Histogram::noop() }
/// # }
///
/// assert_eq!(JWKS_FETCHES, "tokengate_jwks_fetches_total");
/// let recorder = Described::default(); // notes what `describe` describes
/// metrics::with_local_recorder(&recorder, describe);
/// assert_eq!(recorder.kind_of(JWKS_FETCHES), Some("counter"));
/// ```
pub const JWKS_FETCHES: &str = "tokengate_jwks_fetches_total";
/// Password hashes waiting for a worker thread.
///
/// ```
/// use tokengate::metrics::{describe, PASSWORD_HASHING_QUEUE};
/// # use std::sync::Mutex;
/// # use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
/// # /// A recorder that notes what is described: (name, "counter" or "gauge").
/// # #[derive(Default)]
/// # struct Described(Mutex<Vec<(String, &'static str)>>);
/// # impl Described {
/// #     fn kind_of(&self, name: &str) -> Option<&'static str> {
/// #         self.0.lock().unwrap().iter().find(|(n, _)| n == name).map(|(_, kind)| *kind)
/// #     }
/// # }
/// # impl Recorder for Described {
/// #     fn describe_counter(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "counter")) }
/// #     fn describe_gauge(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "gauge")) }
/// #     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
/// #     fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter { Counter::noop() }
/// #     fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge { Gauge::noop() }
/// #     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram { Histogram::noop() }
/// # }
///
/// assert_eq!(PASSWORD_HASHING_QUEUE, "tokengate_password_hashing_queue");
/// let recorder = Described::default(); // notes what `describe` describes
/// metrics::with_local_recorder(&recorder, describe);
/// assert_eq!(recorder.kind_of(PASSWORD_HASHING_QUEUE), Some("gauge"));
/// ```
pub const PASSWORD_HASHING_QUEUE: &str = "tokengate_password_hashing_queue";
/// Password hashes running on a worker thread.
///
/// ```
/// use tokengate::metrics::{describe, PASSWORD_HASHING_RUNNING};
/// # use std::sync::Mutex;
/// # use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
/// # /// A recorder that notes what is described: (name, "counter" or "gauge").
/// # #[derive(Default)]
/// # struct Described(Mutex<Vec<(String, &'static str)>>);
/// # impl Described {
/// #     fn kind_of(&self, name: &str) -> Option<&'static str> {
/// #         self.0.lock().unwrap().iter().find(|(n, _)| n == name).map(|(_, kind)| *kind)
/// #     }
/// # }
/// # impl Recorder for Described {
/// #     fn describe_counter(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "counter")) }
/// #     fn describe_gauge(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "gauge")) }
/// #     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
/// #     fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter { Counter::noop() }
/// #     fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge { Gauge::noop() }
/// #     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram { Histogram::noop() }
/// # }
///
/// assert_eq!(PASSWORD_HASHING_RUNNING, "tokengate_password_hashing_running");
/// let recorder = Described::default(); // notes what `describe` describes
/// metrics::with_local_recorder(&recorder, describe);
/// assert_eq!(recorder.kind_of(PASSWORD_HASHING_RUNNING), Some("gauge"));
/// ```
pub const PASSWORD_HASHING_RUNNING: &str = "tokengate_password_hashing_running";

/// Describes every tokengate metric to the installed recorder (the HELP
/// lines of a Prometheus exporter); call it after installing the recorder.
///
/// ```
/// use tokengate::metrics::{JWKS_FETCHES, PASSWORD_HASHING_QUEUE, describe};
/// # use std::sync::Mutex;
/// # use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
/// # /// A recorder that notes what is described: (name, "counter" or "gauge").
/// # #[derive(Default)]
/// # struct Described(Mutex<Vec<(String, &'static str)>>);
/// # impl Described {
/// #     fn kind_of(&self, name: &str) -> Option<&'static str> {
/// #         self.0.lock().unwrap().iter().find(|(n, _)| n == name).map(|(_, kind)| *kind)
/// #     }
/// # }
/// # impl Recorder for Described {
/// #     fn describe_counter(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "counter")) }
/// #     fn describe_gauge(&self, k: KeyName, _: Option<Unit>, _: SharedString) { self.0.lock().unwrap().push((k.as_str().into(), "gauge")) }
/// #     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
/// #     fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter { Counter::noop() }
/// #     fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge { Gauge::noop() }
/// #     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram { Histogram::noop() }
/// # }
///
/// let recorder = Described::default(); // e.g. a Prometheus exporter's recorder
/// metrics::with_local_recorder(&recorder, describe);
/// assert_eq!(recorder.kind_of(JWKS_FETCHES), Some("counter"));
/// assert_eq!(recorder.kind_of(PASSWORD_HASHING_QUEUE), Some("gauge"));
/// ```
pub fn describe() {
    describe_counter!(
        TOKEN_VERIFICATIONS,
        "Answers of tokengate's token extractors, by result: accepted or the error code"
    );
    describe_counter!(
        REFRESH_REUSE_DETECTED,
        "Spent refresh tokens presented again; each revoked its whole login"
    );
    describe_counter!(
        JWKS_FETCHES,
        "Loads of a trusted issuer's keys (discovery when needed, then the JWKS), by issuer and outcome (ok, unreachable, http_error, invalid)"
    );
    describe_gauge!(
        PASSWORD_HASHING_QUEUE,
        "Password hashes and verifications waiting for a hashing thread"
    );
    describe_gauge!(
        PASSWORD_HASHING_RUNNING,
        "Password hashes and verifications running on a hashing thread"
    );
}

/// The `result` label values: `accepted`, then every error code.
#[cfg(feature = "axum")]
const RESULTS: [&str; 22] = [
    "accepted",
    "authorization_header_missing",
    "invalid_header",
    "invalid_token",
    "invalid_claims",
    "token_expired",
    "token_revoked",
    "wrong_token_type",
    "fresh_token_required",
    "csrf_failed",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "insufficient_scope",
    "insufficient_role",
    "invalid_request",
    "invalid_credentials",
    "username_taken",
    "rate_limited",
    "registration_closed",
    "unavailable",
    "store_unavailable",
    "not_found",
];

/// Counts one answer of an extractor: `None` for an accepted token.
///
/// Each result's counter is registered once: building the labelled key and
/// looking it up in the recorder on every request would cost more than the
/// rest of a cached verification.
#[cfg(feature = "axum")]
pub(crate) fn token_verification(refused: Option<&crate::Error>) {
    use metrics::{Counter, counter};
    use std::sync::OnceLock;

    static COUNTERS: [OnceLock<Counter>; RESULTS.len()] =
        [const { OnceLock::new() }; RESULTS.len()];
    let result = refused.map_or("accepted", crate::Error::code);
    let slot = match refused {
        None => Some(0),
        Some(_) => RESULTS.iter().position(|r| *r == result),
    };
    match slot {
        Some(slot) => COUNTERS[slot]
            .get_or_init(|| counter!(TOKEN_VERIFICATIONS, "result" => RESULTS[slot]))
            .increment(1),
        // A code missing from the table (a test keeps it whole): still bounded.
        None => counter!(TOKEN_VERIFICATIONS, "result" => result).increment(1),
    }
}

/// Counts a detected reuse of a spent refresh token.
#[cfg(feature = "axum")]
pub(crate) fn refresh_reuse_detected() {
    metrics::counter!(REFRESH_REUSE_DETECTED).increment(1);
}

/// Counts one load of `issuer`'s keys.
#[cfg(feature = "issuers")]
pub(crate) fn jwks_fetch(issuer: &str, outcome: &'static str) {
    metrics::counter!(JWKS_FETCHES, "issuer" => issuer.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A password hash waiting for a worker: in the queue gauge until it
/// starts or is dropped.
#[cfg(feature = "users")]
pub(crate) struct Queued(metrics::Gauge);

#[cfg(feature = "users")]
impl Queued {
    pub(crate) fn new() -> Queued {
        let queue = metrics::gauge!(PASSWORD_HASHING_QUEUE);
        queue.increment(1.0);
        Queued(queue)
    }

    /// Leaves the queue for the running gauge, until the guard is dropped.
    pub(crate) fn start(self) -> Running {
        let running = metrics::gauge!(PASSWORD_HASHING_RUNNING);
        running.increment(1.0);
        drop(self);
        Running(running)
    }
}

#[cfg(feature = "users")]
impl Drop for Queued {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// A password hash running on a worker thread.
#[cfg(feature = "users")]
pub(crate) struct Running(metrics::Gauge);

#[cfg(feature = "users")]
impl Drop for Running {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

#[cfg(all(test, feature = "axum"))]
mod tests {
    use super::RESULTS;
    use crate::claims::TokenType;
    use crate::{
        AccessRejection, AccountRejection, Backend, Error, RequestRejection, TokenRejection,
        Unavailable,
    };

    #[test]
    fn every_error_code_has_its_counter() {
        let errors: Vec<Error> = vec![
            TokenRejection::Missing.into(),
            TokenRejection::InvalidHeader(String::new()).into(),
            TokenRejection::Invalid("").into(),
            TokenRejection::InvalidClaims(String::new()).into(),
            TokenRejection::Expired.into(),
            TokenRejection::Revoked.into(),
            TokenRejection::WrongType(TokenType::Access).into(),
            TokenRejection::FreshRequired.into(),
            TokenRejection::CsrfFailed("").into(),
            TokenRejection::SubjectGone.into(),
            TokenRejection::Dpop(
                crate::dpop::Dpop::default().refuse(crate::dpop::DpopError::InvalidProof, ""),
            )
            .into(),
            TokenRejection::Dpop(
                crate::dpop::Dpop::default().refuse(crate::dpop::DpopError::UseNonce, ""),
            )
            .into(),
            TokenRejection::Dpop(
                crate::dpop::Dpop::default().refuse(crate::dpop::DpopError::InvalidToken, ""),
            )
            .into(),
            AccessRejection::InsufficientScope(String::new()).into(),
            AccessRejection::InsufficientRole(String::new()).into(),
            AccountRejection::InvalidCredentials.into(),
            AccountRejection::UsernameTaken.into(),
            AccountRejection::RegistrationClosed.into(),
            AccountRejection::PasskeyRefused.into(),
            RequestRejection::Invalid(String::new()).into(),
            RequestRejection::NotFound.into(),
            RequestRejection::RateLimited { retry_after: 1 }.into(),
            Unavailable::new(Backend::Service, "down").into(),
            Unavailable::new(Backend::Store, "down").into(),
        ];
        for error in &errors {
            // A new variant fails to compile here until it is listed.
            match error {
                Error::Token(
                    TokenRejection::Missing
                    | TokenRejection::InvalidHeader(_)
                    | TokenRejection::Invalid(_)
                    | TokenRejection::InvalidClaims(_)
                    | TokenRejection::Expired
                    | TokenRejection::Revoked
                    | TokenRejection::WrongType(_)
                    | TokenRejection::FreshRequired
                    | TokenRejection::CsrfFailed(_)
                    | TokenRejection::SubjectGone
                    | TokenRejection::Dpop(_),
                )
                | Error::Access(
                    AccessRejection::InsufficientScope(_) | AccessRejection::InsufficientRole(_),
                )
                | Error::Account(
                    AccountRejection::InvalidCredentials
                    | AccountRejection::UsernameTaken
                    | AccountRejection::RegistrationClosed
                    | AccountRejection::PasskeyRefused,
                )
                | Error::Request(
                    RequestRejection::Invalid(_)
                    | RequestRejection::NotFound
                    | RequestRejection::RateLimited { .. },
                )
                | Error::Unavailable(_) => {}
            }
            assert!(RESULTS[1..].contains(&error.code()), "{}", error.code());
        }
        assert!(!errors.iter().any(|e| e.code() == RESULTS[0]));
    }
}
