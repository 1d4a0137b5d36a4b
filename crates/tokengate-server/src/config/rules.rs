//! The rules of particular settings: ranges, and settings that must agree.
//! The one place that decides what the service accepts; [`super::values`]
//! only parses.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokengate::keys::{Algorithm, KeyFamily, MIN_HMAC_SECRET};
use tokengate::transport::{SameSite, TokenLocation};

use super::layers::{Layers, Sourced};
use super::values::{self, Raw};
use super::{ConfigError, IpNetwork, Secret};

const DAY: u64 = 24 * 60 * 60;
/// The longest token lifetime or failure window accepted: 10 years.
const MAX_DURATION: Duration = Duration::from_secs(3650 * DAY);
/// The most clock skew accepted, in seconds.
const MAX_LEEWAY: u64 = 300;

/// `algorithm`, `secret_key` and `private_key_file`, checked together.
pub(super) struct Signing {
    pub(super) algorithm: Option<Algorithm>,
    pub(super) secret_key: Option<Secret>,
    pub(super) private_key_file: Option<PathBuf>,
}

/// Reads the [`Signing`] settings, which must agree: a secret exactly with
/// HS*, a private key file never with it.
pub(super) fn signing<E: Fn(&str) -> Option<String>>(
    layers: &Layers<'_, E>,
) -> Result<Signing, ConfigError> {
    let algorithm = layers.get("algorithm", |r| values::algorithm(r.text()?.trim()))?;
    let secret = layers.get_secret("secret_key", "secret_key_file", secret_key)?;
    let key_file = layers.get("private_key_file", values::optional_path)?;
    let hmac = algorithm
        .as_ref()
        .filter(|a| a.value.family() == KeyFamily::Hmac);
    match (hmac, &secret, &key_file) {
        (Some(alg), None, _) => Err(ConfigError::Conflict(format!(
            "algorithm {} (from {}) needs secret_key, which is not set: \
             give at least {MIN_HMAC_SECRET} random bytes",
            alg.value, alg.source
        ))),
        (
            Some(alg),
            _,
            Some(Sourced {
                value: Some(_),
                source,
            }),
        ) => Err(ConfigError::Conflict(format!(
            "private_key_file (from {source}) cannot be used with algorithm {} (from {}): \
                 HMAC signs with secret_key",
            alg.value, alg.source
        ))),
        (None, Some(secret), _) => Err(ConfigError::Conflict(format!(
            "secret_key (from {}) is only used with algorithm HS256, HS384 or HS512, and {}",
            secret.source,
            match &algorithm {
                Some(alg) => format!("algorithm is {} (from {})", alg.value, alg.source),
                None => "algorithm is not set".to_owned(),
            }
        ))),
        _ => Ok(Signing {
            algorithm: algorithm.map(|a| a.value),
            secret_key: secret.map(|s| s.value),
            private_key_file: key_file.and_then(|k| k.value),
        }),
    }
}

/// `cookie_samesite`; `None` is refused without `cookie_secure`, as browsers
/// drop such cookies.
pub(super) fn cookie_samesite<E: Fn(&str) -> Option<String>>(
    layers: &Layers<'_, E>,
    cookie_secure: bool,
) -> Result<SameSite, ConfigError> {
    match layers.get("cookie_samesite", values::from_str)? {
        Some(Sourced {
            value: SameSite::None,
            source,
        }) if !cookie_secure => Err(ConfigError::Conflict(format!(
            "cookie_samesite None (from {source}) needs cookie_secure = true: \
                 browsers drop SameSite=None cookies that are not Secure"
        ))),
        Some(samesite) => Ok(samesite.value),
        None => Ok(SameSite::Lax),
    }
}

/// The HMAC secret: its bytes as given, at least [`MIN_HMAC_SECRET`]. The
/// message gives its length, never the value.
pub(super) fn secret_key(raw: &Raw<'_>) -> Result<Secret, String> {
    long_secret(raw, "an HMAC secret")
}

/// `key_encryption_secret`: at least [`MIN_HMAC_SECRET`] bytes, never shown.
pub(super) fn key_encryption_secret(raw: &Raw<'_>) -> Result<Secret, String> {
    long_secret(raw, "the key encryption secret")
}

fn long_secret(raw: &Raw<'_>, what: &str) -> Result<Secret, String> {
    let secret = Secret::new(raw.text()?.into_owned());
    if secret.len() < MIN_HMAC_SECRET {
        return Err(format!(
            "{} bytes is too short: {what} needs at least {MIN_HMAC_SECRET} bytes",
            secret.len()
        ));
    }
    Ok(secret)
}

/// `revocation_poll_interval`: from 10ms to 1h.
pub(super) fn poll_interval(raw: &Raw<'_>) -> Result<Duration, String> {
    let every = values::duration(raw)?;
    if every < Duration::from_millis(10) || every > Duration::from_secs(3600) {
        return Err(format!("{every:?} is not between 10ms and 1h"));
    }
    Ok(every)
}

/// `refresh_reuse_interval`: from 0 to 60s; a tolerated reuse longer than
/// that is more likely a thief's than a second tab's.
pub(super) fn reuse_interval(raw: &Raw<'_>) -> Result<Duration, String> {
    let interval = values::duration(raw)?;
    if interval > tokengate::login::MAX_REUSE_INTERVAL {
        return Err(format!(
            "{interval:?} is more than 60s: a spent refresh token accepted that long is a thief's window"
        ));
    }
    Ok(interval)
}

/// `dpop_algorithms`: asymmetric algorithms (an HMAC proof proves nothing), at least one.
pub(super) fn dpop_algorithms(raw: &Raw<'_>) -> Result<Vec<tokengate::keys::Algorithm>, String> {
    let algs = distinct(values::list(raw, |s: &str| {
        s.parse::<tokengate::keys::Algorithm>()
            .map_err(|e| e.to_string())
    })?);
    if let Some(hmac) = algs
        .iter()
        .find(|a| a.family() == tokengate::keys::KeyFamily::Hmac)
    {
        return Err(format!(
            "{} is symmetric: a DPoP proof must be signed by the client's own key",
            hmac.as_str()
        ));
    }
    if algs.is_empty() {
        return Err("at least one algorithm is needed".into());
    }
    Ok(algs)
}

/// `dpop_proof_max_age`: from 1s to 10m (proofs are remembered that long).
pub(super) fn dpop_proof_max_age(raw: &Raw<'_>) -> Result<Duration, String> {
    let age = values::duration(raw)?;
    if age < Duration::from_secs(1) || age > Duration::from_secs(600) {
        return Err(format!("{age:?} is not between 1s and 10m"));
    }
    Ok(age)
}

/// `request_timeout`: from 1s to 10m.
pub(super) fn request_timeout(raw: &Raw<'_>) -> Result<Duration, String> {
    let timeout = values::duration(raw)?;
    if timeout < Duration::from_secs(1) || timeout > Duration::from_secs(600) {
        return Err(format!("{timeout:?} is not between 1s and 10m"));
    }
    Ok(timeout)
}

/// `iss` of issued tokens: an http(s) URL, kept as written.
pub(super) fn issuer(raw: &Raw<'_>) -> Result<Option<String>, String> {
    values::optional_text(raw)?
        .map(|s| values::http_url(&s))
        .transpose()
}

pub(super) fn cookie_domain(raw: &Raw<'_>) -> Result<Option<String>, String> {
    values::optional_text(raw)?
        .map(|s| values::cookie_domain(&s))
        .transpose()
}

/// A token lifetime or window: more than 0, at most 10 years.
pub(super) fn ttl(raw: &Raw<'_>) -> Result<Duration, String> {
    let duration = values::duration(raw)?;
    if duration.subsec_millis() != 0 {
        return Err(format!("{duration:?} is not a whole number of seconds"));
    }
    if duration.is_zero() {
        return Err("must be more than 0".into());
    }
    if duration > MAX_DURATION {
        return Err(format!(
            "{}s is more than 3650d (10 years)",
            duration.as_secs()
        ));
    }
    Ok(duration)
}

/// Seconds (or a duration such as `30s`), at most 300.
pub(super) fn leeway(raw: &Raw<'_>) -> Result<u64, String> {
    let seconds = values::duration(raw)?.as_secs();
    if seconds > MAX_LEEWAY {
        return Err(format!(
            "{seconds} seconds is more than {MAX_LEEWAY}: so much leeway lets expired tokens through"
        ));
    }
    Ok(seconds)
}

/// A count of at least 1 (0 would refuse every password or every login).
pub(super) fn at_least_one<T: FromStr + TryFrom<i64> + PartialOrd + From<u8>>(
    raw: &Raw<'_>,
) -> Result<T, String> {
    let n = values::integer(raw)?;
    if n < T::from(1) {
        return Err("must be at least 1".into());
    }
    Ok(n)
}

/// Where tokens are looked for: at least one place.
pub(super) fn token_locations(raw: &Raw<'_>) -> Result<Vec<TokenLocation>, String> {
    let locations = distinct(values::list(raw, str::parse)?);
    if locations.is_empty() {
        return Err("at least one of headers, cookies, query_string, json is needed".into());
    }
    Ok(locations)
}

pub(super) fn default_locations() -> Vec<TokenLocation> {
    vec![TokenLocation::Headers, TokenLocation::Cookies]
}

/// `aud` values: non-empty strings.
pub(super) fn audience(raw: &Raw<'_>) -> Result<Vec<String>, String> {
    values::list(raw, values::non_empty).map(distinct)
}

/// Origins, normalised as browsers send them, without repeats.
pub(super) fn cors_origins(raw: &Raw<'_>) -> Result<Vec<String>, String> {
    values::list(raw, values::origin).map(distinct)
}

/// Addresses and CIDR blocks.
pub(super) fn trusted_proxies(raw: &Raw<'_>) -> Result<Vec<IpNetwork>, String> {
    values::list(raw, str::parse)
}

/// The items in their first order, without repeats.
fn distinct<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// `webauthn_rp_id` and `webauthn_origin`, checked together: the relying
/// party id is a domain name (browsers refuse an IP address), and the
/// origin is an `http(s)` origin on it or one of its subdomains, over
/// `https` unless its host is `localhost` (browsers offer passkeys to
/// secure contexts only). Defaults: `localhost`, and then
/// `http://localhost:{port of listen}`, else `https://{webauthn_rp_id}`.
pub(super) fn webauthn<E: Fn(&str) -> Option<String>>(
    layers: &Layers<'_, E>,
    listen: std::net::SocketAddr,
) -> Result<Webauthn, ConfigError> {
    let rp_id = layers.get("webauthn_rp_id", |r| webauthn_rp_id(&r.text()?))?;
    let origin = layers.get("webauthn_origin", |r| values::origin(r.text()?.trim()))?;
    let id = rp_id
        .as_ref()
        .map_or_else(|| "localhost".to_owned(), |s| s.value.clone());
    let origin_value = match &origin {
        Some(origin) => origin.value.clone(),
        None if id == "localhost" => format!("http://localhost:{}", listen.port()),
        None => format!("https://{id}"),
    };
    let source = |sourced: Option<&Sourced<String>>| {
        sourced.map_or_else(|| "the default".to_owned(), |s| s.source.to_string())
    };
    let conflict = |why: String| {
        ConfigError::Conflict(format!(
            "webauthn_origin {origin_value} (from {}) {why} webauthn_rp_id {id} (from {})",
            source(origin.as_ref()),
            source(rp_id.as_ref())
        ))
    };
    let host = origin_value
        .split_once("://")
        .map(|(_, rest)| rest.rsplit_once(':').map_or(rest, |(host, _)| host))
        .unwrap_or_default();
    let local = host == "localhost" || host.ends_with(".localhost");
    if origin_value.starts_with("http://") && !local {
        return Err(conflict(
            "must be https (browsers offer passkeys on http only to localhost), with".into(),
        ));
    }
    tokengate::passkeys::RelyingParty::new(&id, &origin_value).map_err(|_| {
        conflict("must be on the relying party's domain or a subdomain of it:".into())
    })?;
    Ok(Webauthn {
        rp_id: id,
        origin: origin_value,
        rp_id_set: rp_id.is_some(),
    })
}

/// The relying party of passkeys.
pub(super) struct Webauthn {
    pub(super) rp_id: String,
    pub(super) origin: String,
    /// Whether `webauthn_rp_id` was given (else `localhost`).
    pub(super) rp_id_set: bool,
}

/// A relying party id: a domain name, lower-cased; never an IP address.
fn webauthn_rp_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.parse::<std::net::IpAddr>().is_ok()
        || text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    {
        return Err(format!(
            "{text:?} is an IP address: browsers refuse one as a relying party id; \
             give the site's domain name (or localhost)"
        ));
    }
    let name = values::cookie_domain(text)
        .map_err(|_| format!("{text:?} is not a domain name such as example.com"))?;
    if name.starts_with('.')
        || name
            .split('.')
            .all(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("{text:?} is not a domain name such as example.com"));
    }
    Ok(name)
}
