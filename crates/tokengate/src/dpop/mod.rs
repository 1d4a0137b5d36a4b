//! DPoP, RFC 9449: tokens bound to a key the client holds, each request
//! signed with it, so that a stolen token is useless without the key.
//!
//! A bound token carries `cnf.jkt`, the thumbprint of the client's public
//! key. It is accepted only as `Authorization: DPoP <token>` together with a
//! `DPoP` header holding a proof: a JWT signed by that key, naming the
//! request's method and URL, the token's hash and a fresh `jti`, made
//! within [`Dpop::max_age`]. [`TokenGate`](crate::axum::TokenGate) applies
//! these rules in its extractors and layer when a token is bound; a bearer
//! token costs nothing more.
//!
//! ```
//! use tokengate::dpop::{Dpop, DpopMode};
//! use tokengate::keys::Algorithm;
//!
//! let dpop = Dpop::default().mode(DpopMode::Required).algorithms([Algorithm::ES256, Algorithm::EdDSA]);
//! assert_eq!(dpop.algs_text(), "ES256 EdDSA");
//! ```

mod nonce;
mod replay;
mod url;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

pub use nonce::Nonces;
pub use replay::{InMemoryProofReplay, ProofId, ProofReplay};
pub use url::normalize_htu;

use crate::clock::Timestamp;
use crate::jws::MAX_TOKEN_LEN;
use crate::keys::{Algorithm, Jwk, KeyFamily, VerifyingKey};
use crate::{Error, TokenRejection};

/// The `DPoP` request header.
pub const DPOP: http::HeaderName = http::HeaderName::from_static("dpop");

/// The `DPoP-Nonce` response header.
pub const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

/// The thumbprint (RFC 7638, base64url SHA-256) of a proof key: the
/// `cnf.jkt` of the tokens bound to it.
///
/// ```
/// use tokengate::dpop::Jkt;
///
/// let jkt = Jkt::from("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
/// assert_eq!(jkt.as_str().len(), 43);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jkt(Arc<str>);

impl Jkt {
    /// The base64url text.
    ///
    /// ```
    /// use tokengate::dpop::Jkt;
    ///
    /// assert_eq!(Jkt::from("abc").as_str(), "abc");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Jkt {
    fn from(s: &str) -> Self {
        Jkt(s.into())
    }
}

impl From<String> for Jkt {
    fn from(s: String) -> Self {
        Jkt(s.into())
    }
}

impl fmt::Display for Jkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether tokens may, or must, be bound to a key.
///
/// ```
/// use tokengate::dpop::DpopMode;
///
/// assert_eq!("required".parse::<DpopMode>().unwrap(), DpopMode::Required);
/// assert_eq!(DpopMode::default(), DpopMode::Allowed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// No DPoP: proofs are ignored at login, the `DPoP` scheme and bound
    /// tokens are refused.
    Off,
    /// A login or refresh with a proof gets bound tokens; bearer tokens
    /// stay good.
    #[default]
    Allowed,
    /// Logins need a proof, and a token in the `Authorization` header (or
    /// the query string or JSON body) must be bound. Cookie sessions are
    /// not affected: their tokens never reach the page's scripts.
    Required,
}

impl DpopMode {
    /// The setting's spelling.
    ///
    /// ```
    /// use tokengate::dpop::DpopMode;
    ///
    /// assert_eq!(DpopMode::Off.as_str(), "off");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DpopMode::Off => "off",
            DpopMode::Allowed => "allowed",
            DpopMode::Required => "required",
        }
    }
}

impl FromStr for DpopMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" => Ok(DpopMode::Off),
            "allowed" => Ok(DpopMode::Allowed),
            "required" => Ok(DpopMode::Required),
            other => Err(format!(
                "unknown dpop mode {other:?} (expected off, allowed or required)"
            )),
        }
    }
}

/// Why a DPoP request was refused, as RFC 9449 §7.1 names it.
///
/// ```
/// use tokengate::dpop::DpopError;
///
/// assert_eq!(DpopError::InvalidProof.as_str(), "invalid_dpop_proof");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// The proof is missing, malformed, stale, replayed or for another
    /// request or key.
    InvalidProof,
    /// The server wants a proof made with its nonce (in `DPoP-Nonce`).
    UseNonce,
    /// The token cannot be used this way (a bound token as a bearer token,
    /// the `DPoP` scheme with an unbound token, an unbound token where
    /// binding is required).
    InvalidToken,
}

impl DpopError {
    /// The `error` of the challenge and the `code` of the body.
    ///
    /// ```
    /// use tokengate::dpop::DpopError;
    ///
    /// assert_eq!(DpopError::UseNonce.as_str(), "use_dpop_nonce");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DpopError::InvalidProof => "invalid_dpop_proof",
            DpopError::UseNonce => "use_dpop_nonce",
            DpopError::InvalidToken => "invalid_token",
        }
    }
}

/// A DPoP refusal: what went wrong, the algorithms the server accepts (the
/// challenge's `algs`), and a nonce to use when one is wanted.
///
/// ```
/// use tokengate::dpop::{Dpop, DpopError};
///
/// let refusal = Dpop::default().refuse(DpopError::InvalidProof, "the proof has expired");
/// assert_eq!(refusal.to_string(), "the proof has expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopRejection {
    /// The kind of refusal.
    pub error: DpopError,
    /// Why, for the body's `msg`.
    pub reason: &'static str,
    /// The accepted algorithms, space-separated.
    pub algs: Arc<str>,
    /// A nonce for the client's next proof (`DPoP-Nonce`).
    pub nonce: Option<String>,
}

impl fmt::Display for DpopRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl DpopRejection {
    /// The `WWW-Authenticate` challenge.
    ///
    /// ```
    /// use tokengate::dpop::{Dpop, DpopError};
    ///
    /// let refusal = Dpop::default().refuse(DpopError::InvalidProof, "bad");
    /// assert!(refusal.challenge().starts_with(r#"DPoP algs=""#));
    /// assert!(refusal.challenge().ends_with(r#"error="invalid_dpop_proof""#));
    /// ```
    pub fn challenge(&self) -> String {
        format!(
            r#"DPoP algs="{}", error="{}""#,
            self.algs,
            self.error.as_str()
        )
    }
}

/// What the proof must name: the request's method and URL, and the access
/// token sent with it, if any.
///
/// ```
/// use http::Method;
/// use tokengate::dpop::ProofTarget;
///
/// let target = ProofTarget::new(&Method::GET, "https://api.example/things").access_token("abc");
/// assert_eq!(target.access_token, Some("abc"));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ProofTarget<'a> {
    /// The request's method (`htm`).
    pub method: &'a Method,
    /// The request's URL (`htu`), compared after [`normalize_htu`].
    pub url: &'a str,
    /// The access token the proof goes with (`ath`).
    pub access_token: Option<&'a str>,
}

impl<'a> ProofTarget<'a> {
    /// A request without an access token (a login).
    ///
    /// ```
    /// use http::Method;
    /// use tokengate::dpop::ProofTarget;
    ///
    /// assert!(ProofTarget::new(&Method::POST, "http://localhost/auth/login").access_token.is_none());
    /// ```
    pub fn new(method: &'a Method, url: &'a str) -> Self {
        ProofTarget {
            method,
            url,
            access_token: None,
        }
    }

    /// The access token presented with the proof.
    ///
    /// ```
    /// use http::Method;
    /// use tokengate::dpop::ProofTarget;
    ///
    /// let t = ProofTarget::new(&Method::GET, "http://h/").access_token("t");
    /// assert_eq!(t.access_token, Some("t"));
    /// ```
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }
}

/// A proof that checked out.
///
/// ```
/// use tokengate::dpop::{Dpop, Proof};
///
/// fn bound_key(proof: &Proof) -> &str { proof.jkt.as_str() }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Proof {
    /// The thumbprint of the key that signed it.
    pub jkt: Jkt,
    /// Its `jti`.
    pub jti: String,
    /// Its `iat`.
    pub issued_at: i64,
}

type UrlOf = dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync;

/// The DPoP rules of a gate: the mode, accepted algorithms, how old a proof
/// may be, nonces, the replay store, and how a request's URL is known.
///
/// ```
/// use std::time::Duration;
/// use tokengate::dpop::{Dpop, DpopMode, Nonces};
///
/// let dpop = Dpop::default()
///     .max_age(Duration::from_secs(30))
///     .nonces(Nonces::random(Duration::from_secs(300)))
///     .scheme("https");
/// assert_eq!(dpop.mode_of(), DpopMode::Allowed);
/// ```
#[derive(Clone)]
pub struct Dpop {
    mode: DpopMode,
    algorithms: Vec<Algorithm>,
    algs_text: Arc<str>,
    max_age: Duration,
    leeway: Duration,
    nonces: Option<Nonces>,
    replay: Arc<dyn ProofReplay>,
    scheme: Arc<str>,
    url_of: Option<Arc<UrlOf>>,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.mode)
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("nonces", &self.nonces.is_some())
            .finish_non_exhaustive()
    }
}

/// Every asymmetric algorithm tokengate verifies: what a proof may use by default.
pub const DEFAULT_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::RS256,
];

impl Default for Dpop {
    fn default() -> Self {
        Dpop {
            mode: DpopMode::Allowed,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            algs_text: algs_text(&DEFAULT_ALGORITHMS),
            max_age: Duration::from_secs(60),
            leeway: Duration::from_secs(5),
            nonces: None,
            replay: Arc::new(InMemoryProofReplay::default()),
            scheme: "http".into(),
            url_of: None,
        }
    }
}

fn algs_text(algs: &[Algorithm]) -> Arc<str> {
    algs.iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(" ")
        .into()
}

/// A proof's JOSE header: exactly what RFC 9449 §4.2 puts there.
#[derive(Deserialize)]
struct ProofHeader {
    typ: String,
    alg: String,
    jwk: ProofJwk,
    #[serde(default)]
    crit: Option<Value>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: serde_json::Number,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// The proof's `jwk`, as a struct so that a member given twice is refused
/// (a map would keep the last); the members only a private or secret key
/// has are read to refuse them.
#[derive(Deserialize)]
struct ProofJwk {
    kty: String,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    d: Option<IgnoredAny>,
    #[serde(default)]
    p: Option<IgnoredAny>,
    #[serde(default)]
    q: Option<IgnoredAny>,
    #[serde(default)]
    dp: Option<IgnoredAny>,
    #[serde(default)]
    dq: Option<IgnoredAny>,
    #[serde(default)]
    qi: Option<IgnoredAny>,
    #[serde(default)]
    oth: Option<IgnoredAny>,
    #[serde(default)]
    k: Option<IgnoredAny>,
}

impl ProofJwk {
    fn is_private(&self) -> bool {
        [
            &self.d, &self.p, &self.q, &self.dp, &self.dq, &self.qi, &self.oth, &self.k,
        ]
        .iter()
        .any(|m| m.is_some())
    }

    fn into_public(self) -> Jwk {
        Jwk {
            kty: self.kty,
            use_: self.use_,
            key_ops: self.key_ops,
            alg: self.alg,
            kid: self.kid,
            crv: self.crv,
            x: self.x,
            y: self.y,
            n: self.n,
            e: self.e,
            ..Jwk::default()
        }
    }
}

/// The longest `jti` remembered: a UUID is 36 characters.
const MAX_JTI: usize = 256;

impl Dpop {
    /// Sets the mode (default [`DpopMode::Allowed`]).
    ///
    /// ```
    /// use tokengate::dpop::{Dpop, DpopMode};
    ///
    /// assert_eq!(Dpop::default().mode(DpopMode::Off).mode_of(), DpopMode::Off);
    /// ```
    pub fn mode(mut self, mode: DpopMode) -> Self {
        self.mode = mode;
        self
    }

    /// The mode.
    ///
    /// ```
    /// use tokengate::dpop::{Dpop, DpopMode};
    ///
    /// assert_eq!(Dpop::default().mode_of(), DpopMode::Allowed);
    /// ```
    pub fn mode_of(&self) -> DpopMode {
        self.mode
    }

    /// The algorithms a proof may use (asymmetric ones only: an HMAC proof
    /// proves nothing, so HMAC algorithms are dropped).
    ///
    /// ```
    /// use tokengate::dpop::Dpop;
    /// use tokengate::keys::Algorithm;
    ///
    /// let dpop = Dpop::default().algorithms([Algorithm::HS256, Algorithm::ES256]);
    /// assert_eq!(dpop.accepted_algorithms(), [Algorithm::ES256]);
    /// ```
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        let mut list: Vec<Algorithm> = Vec::new();
        for alg in algs {
            if alg.family() != KeyFamily::Hmac && !list.contains(&alg) {
                list.push(alg);
            }
        }
        self.algs_text = algs_text(&list);
        self.algorithms = list;
        self
    }

    /// The algorithms a proof may use.
    ///
    /// ```
    /// use tokengate::dpop::{Dpop, DEFAULT_ALGORITHMS};
    ///
    /// assert_eq!(Dpop::default().accepted_algorithms(), DEFAULT_ALGORITHMS);
    /// ```
    pub fn accepted_algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The accepted algorithms, space-separated (the challenge's `algs`).
    ///
    /// ```
    /// use tokengate::dpop::Dpop;
    ///
    /// assert!(Dpop::default().algs_text().starts_with("ES256 ES384"));
    /// ```
    pub fn algs_text(&self) -> &str {
        &self.algs_text
    }

    /// How old a proof may be (its `iat`), default 60 seconds; a proof is
    /// remembered for this long to refuse its replay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::dpop::Dpop;
    ///
    /// assert_eq!(Dpop::default().max_age(Duration::from_secs(10)).proof_max_age(), Duration::from_secs(10));
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How old a proof may be.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::dpop::Dpop;
    ///
    /// assert_eq!(Dpop::default().proof_max_age(), Duration::from_secs(60));
    /// ```
    pub fn proof_max_age(&self) -> Duration {
        self.max_age
    }

    /// How far in the future a proof's `iat` may be (clock skew), default 5 seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::dpop::Dpop;
    ///
    /// let _ = Dpop::default().leeway(Duration::from_secs(2));
    /// ```
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Requires proofs to carry a nonce from these [`Nonces`]; a proof
    /// without a good one is refused with `use_dpop_nonce` and a fresh
    /// nonce in `DPoP-Nonce`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::dpop::{Dpop, Nonces};
    ///
    /// assert!(Dpop::default().nonces(Nonces::random(Duration::from_secs(300))).uses_nonces());
    /// ```
    pub fn nonces(mut self, nonces: Nonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Whether proofs need a server nonce.
    ///
    /// ```
    /// use tokengate::dpop::Dpop;
    ///
    /// assert!(!Dpop::default().uses_nonces());
    /// ```
    pub fn uses_nonces(&self) -> bool {
        self.nonces.is_some()
    }

    /// A nonce for a response's `DPoP-Nonce` header, when nonces are used.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::clock::Timestamp;
    /// use tokengate::dpop::{Dpop, Nonces};
    ///
    /// assert!(Dpop::default().nonce_at(Timestamp::from_secs(1)).is_none());
    /// let dpop = Dpop::default().nonces(Nonces::random(Duration::from_secs(60)));
    /// assert!(dpop.nonce_at(Timestamp::from_secs(1)).is_some());
    /// ```
    pub fn nonce_at(&self, now: Timestamp) -> Option<String> {
        self.nonces.as_ref().map(|n| n.issue(now))
    }

    /// Where proofs already used are remembered (default: this process's
    /// memory; several instances need a shared store).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tokengate::dpop::{Dpop, InMemoryProofReplay};
    ///
    /// let _ = Dpop::default().replay_store(Arc::new(InMemoryProofReplay::default()));
    /// ```
    pub fn replay_store(mut self, store: Arc<dyn ProofReplay>) -> Self {
        self.replay = store;
        self
    }

    /// The scheme of the request URL when the request does not say
    /// (default `http`; `https` behind TLS).
    ///
    /// ```
    /// use http::Request;
    /// use tokengate::dpop::Dpop;
    ///
    /// let parts = Request::get("/things").header("Host", "api.example").body(()).unwrap().into_parts().0;
    /// assert_eq!(Dpop::default().scheme("https").request_url(&parts).unwrap(), "https://api.example/things");
    /// ```
    pub fn scheme(mut self, scheme: &str) -> Self {
        self.scheme = scheme.into();
        self
    }

    /// How the URL of a request is known, when the `Host` header and
    /// [`scheme`](Self::scheme) are not the truth (behind a proxy, say):
    /// the function returns the absolute URL the client used (under a
    /// nested router, [`original_uri`] has the whole path).
    ///
    /// ```
    /// use tokengate::dpop::Dpop;
    ///
    /// let dpop = Dpop::default().url_of(|parts| Some(format!("https://api.example{}", parts.uri.path())));
    /// let parts = http::Request::get("/x").body(()).unwrap().into_parts().0;
    /// assert_eq!(dpop.request_url(&parts).unwrap(), "https://api.example/x");
    /// ```
    pub fn url_of<F>(mut self, f: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.url_of = Some(Arc::new(f));
        self
    }

    /// The URL a request was sent to, as a proof must name it: the
    /// [`original_uri`]'s path (the whole one under a nested axum router),
    /// its host or the `Host` header, and its scheme or [`scheme`](Self::scheme).
    ///
    /// ```
    /// use tokengate::dpop::Dpop;
    ///
    /// let parts = http::Request::get("http://h:8080/a?b").body(()).unwrap().into_parts().0;
    /// assert_eq!(Dpop::default().request_url(&parts).unwrap(), "http://h:8080/a");
    /// ```
    pub fn request_url(&self, parts: &http::request::Parts) -> Option<String> {
        if let Some(f) = &self.url_of {
            return f(parts);
        }
        let uri = original_uri(parts);
        let host = match uri.authority() {
            Some(authority) => authority.as_str(),
            None => parts.headers.get(http::header::HOST)?.to_str().ok()?,
        };
        let scheme = uri.scheme_str().unwrap_or(&self.scheme);
        Some(format!("{scheme}://{host}{}", uri.path()))
    }

    /// A refusal carrying this configuration's `algs` (and a fresh nonce
    /// when one is wanted).
    ///
    /// ```
    /// use tokengate::dpop::{Dpop, DpopError};
    ///
    /// assert_eq!(Dpop::default().refuse(DpopError::InvalidToken, "x").error.as_str(), "invalid_token");
    /// ```
    pub fn refuse(&self, error: DpopError, reason: &'static str) -> DpopRejection {
        DpopRejection {
            error,
            reason,
            algs: self.algs_text.clone(),
            nonce: None,
        }
    }

    /// The `DPoP` header of a request: exactly one, or none.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tokengate::dpop::Dpop;
    ///
    /// assert_eq!(Dpop::default().proof_header(&HeaderMap::new()).unwrap(), None);
    /// ```
    pub fn proof_header<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Option<&'h str>, DpopRejection> {
        let mut values = headers.get_all(DPOP).iter();
        let Some(first) = values.next() else {
            return Ok(None);
        };
        let refuse = || {
            self.refuse(
                DpopError::InvalidProof,
                "one DPoP header with one proof is allowed",
            )
        };
        if values.next().is_some() {
            return Err(refuse());
        }
        first.to_str().map(Some).map_err(|_| refuse())
    }

    /// Checks a proof's form, signature and claims at `now` (seconds),
    /// without the replay store: [`verify`](Self::verify) does both.
    ///
    /// ```
    /// use http::Method;
    /// use tokengate::dpop::{Dpop, DpopError, ProofTarget};
    ///
    /// let target = ProofTarget::new(&Method::GET, "http://h/");
    /// let refusal = Dpop::default().check_proof("not.a.proof", &target, 1_700_000_000).unwrap_err();
    /// assert_eq!(refusal.error, DpopError::InvalidProof);
    /// ```
    pub fn check_proof(
        &self,
        proof: &str,
        target: &ProofTarget<'_>,
        now: i64,
    ) -> Result<Proof, DpopRejection> {
        let invalid = |reason| self.refuse(DpopError::InvalidProof, reason);
        if proof.len() > MAX_TOKEN_LEN {
            return Err(invalid("the DPoP proof is too large"));
        }
        let mut segments = proof.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(invalid("the DPoP proof must be a JWS in compact form"));
        };
        let decode = |segment: &str| crate::jws::decode_segment(segment);
        let header: ProofHeader = decode(header_b64)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| invalid("the DPoP proof's header must hold typ, alg and jwk"))?;
        // No JWS extension is understood, so any `crit` names one we do not.
        if header.crit.is_some() {
            return Err(invalid("the DPoP proof has a critical header"));
        }
        if !header.typ.eq_ignore_ascii_case("dpop+jwt") {
            return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
        }
        let alg = header
            .alg
            .parse::<Algorithm>()
            .ok()
            .filter(|alg| self.algorithms.contains(alg))
            .ok_or_else(|| invalid("the DPoP proof's algorithm is not accepted"))?;
        if header.jwk.is_private() {
            return Err(invalid("the DPoP proof's jwk must be a public key"));
        }
        let jwk = header.jwk.into_public();
        let key = VerifyingKey::from_jwk(&jwk, Some(alg))
            .map_err(|_| invalid("the DPoP proof's jwk is not a key for its algorithm"))?;
        let signature =
            decode(signature_b64).map_err(|_| invalid("the DPoP proof is malformed"))?;
        let signing_input = &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        if !key.verify_signature(signing_input, &signature) {
            return Err(invalid("the DPoP proof's signature does not verify"));
        }
        let claims: ProofClaims = decode(payload_b64)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| invalid("the DPoP proof must hold jti, htm, htu and iat"))?;
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
            return Err(invalid("the DPoP proof's jti must be 1 to 256 characters"));
        }
        if claims.htm != target.method.as_str() {
            return Err(invalid("the DPoP proof is for another method"));
        }
        match (normalize_htu(&claims.htu), normalize_htu(target.url)) {
            (Some(proof_url), Some(url)) if proof_url == url => {}
            _ => return Err(invalid("the DPoP proof is for another URL")),
        }
        let iat = claims
            .iat
            .as_i64()
            .or_else(|| {
                claims
                    .iat
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            })
            .ok_or_else(|| invalid("the DPoP proof's iat must be a NumericDate"))?;
        let max_age = i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        if iat < now.saturating_sub(max_age) {
            return Err(invalid("the DPoP proof is too old"));
        }
        if iat > now.saturating_add(leeway) {
            return Err(invalid("the DPoP proof is issued in the future"));
        }
        match (target.access_token, claims.ath.as_deref()) {
            (Some(token), Some(ath)) if ath == access_token_hash(token) => {}
            (Some(_), Some(_)) => {
                return Err(invalid("the DPoP proof's ath is not the token's hash"));
            }
            (Some(_), None) => return Err(invalid("the DPoP proof has no ath")),
            (None, _) => {}
        }
        if let Some(nonces) = &self.nonces
            && !claims
                .nonce
                .as_deref()
                .is_some_and(|n| nonces.is_valid(n, Timestamp::from_secs(now)))
        {
            let mut refusal = self.refuse(
                DpopError::UseNonce,
                "a DPoP proof with the server's nonce is required",
            );
            refusal.nonce = Some(nonces.issue(Timestamp::from_secs(now)));
            return Err(refusal);
        }
        let jkt = jwk
            .thumbprint()
            .ok_or_else(|| invalid("the DPoP proof's jwk is malformed"))?;
        Ok(Proof {
            jkt: Jkt::from(jkt),
            jti: claims.jti,
            issued_at: iat,
        })
    }

    /// Checks a proof and records it, refusing a replay (one whose key and
    /// `jti` were seen within [`max_age`](Self::max_age)).
    ///
    /// ```
    /// use http::Method;
    /// use tokengate::dpop::{Dpop, ProofTarget};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let target = ProofTarget::new(&Method::GET, "http://h/");
    /// let err = Dpop::default().verify("x.y.z", &target, 1_700_000_000).await.unwrap_err();
    /// assert_eq!(err.code(), "invalid_dpop_proof");
    /// # });
    /// ```
    pub async fn verify(
        &self,
        proof: &str,
        target: &ProofTarget<'_>,
        now: i64,
    ) -> Result<Proof, Error> {
        let checked = self
            .check_proof(proof, target, now)
            .map_err(|r| Error::Token(TokenRejection::Dpop(r)))?;
        let id = ProofId::new(checked.jkt.as_str(), &checked.jti);
        let window = self.max_age.saturating_add(self.leeway);
        let expires_at = Timestamp::from_secs(checked.issued_at).saturating_add(window);
        let now = Timestamp::from_secs(now);
        if !self.replay.first_use(id, now, expires_at).await? {
            return Err(TokenRejection::Dpop(
                self.refuse(DpopError::InvalidProof, "the DPoP proof was already used"),
            )
            .into());
        }
        Ok(checked)
    }
}

/// Makes a proof for `target` with the client's `key` (the client's side of
/// DPoP: a Rust service calling a DPoP-protected API, or a test), with a
/// random `jti`, `iat` = `issued_at` and the server's `nonce` if it gave
/// one. The key's thumbprint is what the server binds tokens to.
///
/// ```
/// use http::Method;
/// use tokengate::dpop::{Dpop, ProofTarget, make_proof};
/// use tokengate::keys::{Algorithm, SigningKey};
///
/// let key = SigningKey::generate(Algorithm::ES256).unwrap();
/// let target = ProofTarget::new(&Method::POST, "https://api.example/auth/login");
/// let proof = make_proof(&key, &target, None, 1_700_000_000).unwrap();
/// let checked = Dpop::default().check_proof(&proof, &target, 1_700_000_000).unwrap();
/// assert_eq!(checked.jkt.as_str(), key.verifying_key().to_jwk().unwrap().thumbprint().unwrap());
/// ```
pub fn make_proof(
    key: &crate::keys::SigningKey,
    target: &ProofTarget<'_>,
    nonce: Option<&str>,
    issued_at: i64,
) -> Result<String, crate::keys::KeyError> {
    let jwk = key
        .verifying_key()
        .to_jwk()
        .ok_or_else(|| crate::keys::KeyError::Algorithm("a DPoP key must be asymmetric".into()))?;
    let mut header = Map::new();
    header.insert("typ".into(), "dpop+jwt".into());
    header.insert("alg".into(), key.algorithm().as_str().into());
    let mut jwk = serde_json::to_value(jwk).map_err(|_| crate::keys::KeyError::Malformed("jwk"))?;
    // The proof names the key, not an id the server does not know.
    if let Some(jwk) = jwk.as_object_mut() {
        jwk.remove("kid");
    }
    header.insert("jwk".into(), jwk);
    let mut claims = Map::new();
    claims.insert("jti".into(), crate::token::random_id().into());
    claims.insert("htm".into(), target.method.as_str().into());
    claims.insert("htu".into(), target.url.into());
    claims.insert("iat".into(), issued_at.into());
    if let Some(token) = target.access_token {
        claims.insert("ath".into(), access_token_hash(token).into());
    }
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    crate::token::sign_compact(key, &header, &claims)
}

/// The URI the client sent: a nested axum router sees its own suffix in
/// `parts.uri`, the whole one in `OriginalUri`.
///
/// ```
/// let parts = http::Request::get("/a/b").body(()).unwrap().into_parts().0;
/// assert_eq!(tokengate::dpop::original_uri(&parts).path(), "/a/b");
/// ```
pub fn original_uri(parts: &http::request::Parts) -> &http::Uri {
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() {
        return &original.0;
    }
    &parts.uri
}

/// `ath`: base64url(SHA-256(token)).
///
/// ```
/// use tokengate::dpop::access_token_hash;
///
/// // RFC 9449 §7.1
/// assert_eq!(access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
///            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
/// ```
pub fn access_token_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}
