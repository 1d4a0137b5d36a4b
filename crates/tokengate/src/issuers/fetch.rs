//! HTTP for trusted issuers: discovery and JWKS documents, with timeouts, a
//! size limit, and no redirect to another host.

use std::time::Duration;

use http::header::{CACHE_CONTROL, CONTENT_LENGTH};
use serde::Deserialize;

use super::TrustedIssuer;
use crate::keys::{Algorithm, Jwk, JwkSet, KeyFamily, VerifyingKey};

/// A whole request, connection included, must finish within this.
const TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Discovery documents and key sets are a few KiB; anything this large is not one.
const MAX_DOCUMENT: usize = 256 * 1024;
const MAX_REDIRECTS: usize = 3;

/// Why an issuer's keys could not be (re)loaded. The keys held before stay.
///
/// ```
/// use tokengate::issuers::{IssuerError, TrustedIssuer, TrustedIssuers};
///
/// let twice = TrustedIssuer::new("https://idp.example/", ["api"]);
/// let err = TrustedIssuers::new(vec![twice.clone(), twice]).unwrap_err();
/// assert!(matches!(&err, IssuerError::Config(why) if why.contains("listed twice")));
/// assert_eq!(err.to_string(), "trusted issuers: issuer https://idp.example/ is listed twice");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// The configuration cannot work.
    #[error("trusted issuers: {0}")]
    Config(String),
    /// The request failed or timed out, or the answer was not 200.
    #[error("{url}: {reason}")]
    Http {
        /// What was fetched.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The discovery document is not usable.
    #[error("discovery for {issuer}: {reason}")]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// The key set is not usable.
    #[error("JWKS {url}: {reason}")]
    Jwks {
        /// Where it came from.
        url: String,
        /// Why.
        reason: String,
    },
}

/// How a load of an issuer's keys failed: the `outcome` of
/// `tokengate_jwks_fetches_total` (feature `metrics`) and of the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// No answer: connection refused, timed out, redirect refused.
    Unreachable,
    /// An answer other than 200.
    HttpError,
    /// A 200 whose document is not usable: too large, not JSON, another
    /// issuer, no usable key.
    Invalid,
}

impl Failure {
    /// The label value.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Failure::Unreachable => "unreachable",
            Failure::HttpError => "http_error",
            Failure::Invalid => "invalid",
        }
    }
}

/// A failed fetch: why, for the metrics, and the error.
#[derive(Debug)]
pub(super) struct Failed {
    pub(super) failure: Failure,
    pub(super) error: IssuerError,
}

impl Failed {
    pub(super) fn new(failure: Failure, error: IssuerError) -> Failed {
        Failed { failure, error }
    }
}

/// The client every issuer shares: bounded in time, following redirects
/// only within the host first asked.
pub(super) fn client() -> Result<reqwest::Client, IssuerError> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let first_host = attempt.previous().first().map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_owned),
                u.port_or_known_default(),
            )
        });
        let next = (
            attempt.url().scheme().to_owned(),
            attempt.url().host_str().map(str::to_owned),
            attempt.url().port_or_known_default(),
        );
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if first_host.is_some_and(|first| first != next) {
            attempt.error("redirect to another host")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(policy)
        .user_agent(concat!("tokengate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| IssuerError::Config(format!("HTTP client: {e}")))
}

/// A fetched document and how long it may be cached.
pub(super) struct Fetched {
    pub(super) body: Vec<u8>,
    pub(super) max_age: Option<Duration>,
}

/// GETs `url`, refusing a non-200 answer and a body over the limit.
pub(super) async fn get(client: &reqwest::Client, url: &str) -> Result<Fetched, Failed> {
    let fail = |failure: Failure, reason: String| {
        Failed::new(
            failure,
            IssuerError::Http {
                url: url.to_owned(),
                reason,
            },
        )
    };
    let unreachable = |e: reqwest::Error| fail(Failure::Unreachable, without_url(&e));
    let mut response = client
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    if response.status() != http::StatusCode::OK {
        return Err(fail(
            Failure::HttpError,
            format!("answered {}", response.status()),
        ));
    }
    let too_large = || {
        fail(
            Failure::Invalid,
            format!("larger than {MAX_DOCUMENT} bytes"),
        )
    };
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_DOCUMENT) {
        return Err(too_large());
    }
    let max_age = response
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// reqwest's message without the URL it repeats (the error names it once).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_redirect() {
        // The policy's reason: too many redirects, or another host.
        return "redirect refused (another host, or too many)".into();
    }
    let mut reason = e.to_string();
    if let Some(url) = e.url() {
        reason = reason.replace(&format!(" for url ({url})"), "");
        reason = reason.replace(&format!(" ({url})"), "");
    }
    reason
}

/// `max-age` of a Cache-Control value; `None` with `no-store`/`no-cache`.
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return None;
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            age = seconds
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// The JWKS URI of `issuer`, from its discovery document, whose `issuer`
/// must be the configured one exactly (OpenID Connect Discovery §4.3).
pub(super) async fn discover(client: &reqwest::Client, issuer: &str) -> Result<String, Failed> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let fail = |reason: String| {
        Failed::new(
            Failure::Invalid,
            IssuerError::Discovery {
                issuer: issuer.to_owned(),
                reason,
            },
        )
    };
    let fetched = get(client, &url).await?;
    let doc: Discovery = serde_json::from_slice(&fetched.body)
        .map_err(|e| fail(format!("not a discovery document: {e}")))?;
    if doc.issuer != issuer {
        return Err(fail(format!(
            "the document names issuer {:?}, not the configured one",
            doc.issuer
        )));
    }
    Ok(doc.jwks_uri)
}

/// The usable verification keys of a fetched JWKS.
pub(super) struct Keys {
    pub(super) keys: Vec<VerifyingKey>,
    pub(super) max_age: Option<Duration>,
}

/// Fetches and reads the JWKS at `url` for `config`.
pub(super) async fn jwks(
    client: &reqwest::Client,
    url: &str,
    config: &TrustedIssuer,
) -> Result<Keys, Failed> {
    let fetched = get(client, url).await?;
    let fail = |reason: String| {
        Failed::new(
            Failure::Invalid,
            IssuerError::Jwks {
                url: url.to_owned(),
                reason,
            },
        )
    };
    let set: JwkSet =
        serde_json::from_slice(&fetched.body).map_err(|e| fail(format!("not a JWK set: {e}")))?;
    let keys = usable_keys(&set, config).map_err(fail)?;
    Ok(Keys {
        keys,
        max_age: fetched.max_age,
    })
}

/// The keys of `set` that may verify this issuer's tokens: signing keys
/// (not `use: enc`, `key_ops` with `verify` if present), asymmetric, of an
/// accepted algorithm. Keys this build cannot read are skipped; a key id
/// used twice refuses the whole set (which key would it mean?).
pub(super) fn usable_keys(
    set: &JwkSet,
    config: &TrustedIssuer,
) -> Result<Vec<VerifyingKey>, String> {
    let mut keys: Vec<VerifyingKey> = Vec::new();
    let mut kids: Vec<&str> = Vec::new();
    for jwk in &set.keys {
        if !for_signatures(jwk) {
            continue;
        }
        if let Some(kid) = jwk.kid.as_deref() {
            if kids.contains(&kid) {
                return Err(format!("key id {kid:?} is used twice"));
            }
            kids.push(kid);
        }
        for alg in algorithms_of(jwk, config) {
            match VerifyingKey::from_jwk(jwk, Some(alg)) {
                Ok(key) => keys.push(key),
                Err(e) => tracing::debug!(kid = ?jwk.kid, error = %e, "skipping a JWK"),
            }
        }
    }
    Ok(keys)
}

fn for_signatures(jwk: &Jwk) -> bool {
    jwk.use_.as_deref().is_none_or(|u| u == "sig")
        && jwk
            .key_ops
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|op| op == "verify"))
        // A shared secret in a published key set is a misconfiguration, never a key.
        && jwk.kty != "oct"
}

/// The algorithms a JWK may verify for this issuer: its `alg` if it names
/// one, else what its type implies (RSA: the accepted RSA algorithms, or
/// RS256 when any is accepted).
fn algorithms_of(jwk: &Jwk, config: &TrustedIssuer) -> Vec<Algorithm> {
    let declared = jwk.alg.as_deref().map(str::parse::<Algorithm>);
    let candidates = match (declared, jwk.kty.as_str(), jwk.crv.as_deref()) {
        (Some(Ok(alg)), _, _) => vec![alg],
        (Some(Err(_)), _, _) => Vec::new(),
        (None, "RSA", _) if config.algorithms.is_empty() => vec![Algorithm::RS256],
        (None, "RSA", _) => config
            .algorithms
            .iter()
            .copied()
            .filter(|a| a.family() == KeyFamily::Rsa)
            .collect(),
        (None, kty, crv) => Algorithm::of_curve(kty, crv).into_iter().collect(),
    };
    candidates
        .into_iter()
        .filter(|a| config.allows(*a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age("max-age=60, no-cache"), None);
        assert_eq!(max_age("public"), None);
    }

    fn set(json: &str) -> JwkSet {
        serde_json::from_str(json).unwrap()
    }

    const P256_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const P256_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ec(kid: &str, extra: &str) -> String {
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{P256_X}","y":"{P256_Y}","kid":"{kid}"{extra}}}"#
        )
    }

    #[test]
    fn encryption_keys_and_secrets_are_ignored() {
        let config = TrustedIssuer::new("https://i", ["a"]);
        let keys = usable_keys(
            &set(&format!(
                r#"{{"keys":[{},{},{},{},{{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"s"}}]}}"#,
                ec("sig", r#","use":"sig""#),
                ec("enc", r#","use":"enc""#),
                ec("ops", r#","key_ops":["encrypt"]"#),
                ec("verify", r#","key_ops":["verify"]"#),
            )),
            &config,
        )
        .unwrap();
        let kids: Vec<&str> = keys.iter().map(|k| k.kid().as_str()).collect();
        assert_eq!(kids, ["sig", "verify"]);
    }

    #[test]
    fn a_kid_used_twice_refuses_the_set() {
        let config = TrustedIssuer::new("https://i", ["a"]);
        let doubled = set(&format!(r#"{{"keys":[{},{}]}}"#, ec("k", ""), ec("k", "")));
        assert!(
            usable_keys(&doubled, &config)
                .unwrap_err()
                .contains("twice")
        );
    }

    /// RFC 7515 A.4's P-521 key.
    const P521_X: &str =
        "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk";
    const P521_Y: &str =
        "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2";

    #[test]
    fn p521_keys_verify_es512_and_pss_keys_their_declared_algorithm() {
        let rsa = crate::keys::SigningKey::generate(Algorithm::PS384).unwrap();
        let mut rsa = rsa.verifying_key().to_jwk().unwrap();
        rsa.kid = Some("rsa".into());
        let mut rsa_no_alg = rsa.clone();
        (rsa_no_alg.kid, rsa_no_alg.alg) = (Some("rsa-no-alg".into()), None);
        let jwks = set(&format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-521","x":"{P521_X}","y":"{P521_Y}","kid":"p521"}},{},{}]}}"#,
            serde_json::to_string(&rsa).unwrap(),
            serde_json::to_string(&rsa_no_alg).unwrap(),
        ));
        let found = |config: &TrustedIssuer| -> Vec<(String, Algorithm)> {
            usable_keys(&jwks, config)
                .unwrap()
                .iter()
                .map(|k| (k.kid().to_string(), k.algorithm()))
                .collect()
        };
        let any = TrustedIssuer::new("https://i", ["a"]);
        assert_eq!(
            found(&any),
            [
                ("p521".into(), Algorithm::ES512),
                ("rsa".into(), Algorithm::PS384),
                ("rsa-no-alg".into(), Algorithm::RS256),
            ]
        );
        // The RSA key without alg serves the configured RSA algorithms.
        let pss =
            TrustedIssuer::new("https://i", ["a"]).algorithms([Algorithm::PS384, Algorithm::PS512]);
        assert_eq!(
            found(&pss),
            [
                ("rsa".into(), Algorithm::PS384),
                ("rsa-no-alg".into(), Algorithm::PS384),
                ("rsa-no-alg".into(), Algorithm::PS512),
            ]
        );
    }

    #[test]
    fn keys_of_other_algorithms_are_left_out() {
        let config = TrustedIssuer::new("https://i", ["a"]).algorithms([Algorithm::RS256]);
        let keys = usable_keys(&set(&format!(r#"{{"keys":[{}]}}"#, ec("k", ""))), &config).unwrap();
        assert!(keys.is_empty());
    }
}
