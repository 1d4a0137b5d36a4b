//! Parsing one setting's value, whatever its source: text (environment,
//! flags) or a TOML value. Each parser returns the message of an
//! [`super::ConfigError::Invalid`]; the caller adds the key and the source.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokengate::keys::Algorithm;

use super::ConnectionUrl;

/// A value before parsing.
#[derive(Debug)]
pub(super) enum Raw<'a> {
    /// From an environment variable or a text flag.
    Text(String),
    /// From a path flag (`--data-dir`), which need not be UTF-8.
    Path(PathBuf),
    /// From the TOML file.
    Toml(&'a toml::Value),
}

impl Raw<'_> {
    /// The value as text: a string, whatever its source.
    pub(super) fn text(&self) -> Result<Cow<'_, str>, String> {
        match self {
            Raw::Text(s) => Ok(Cow::Borrowed(s)),
            Raw::Path(p) => p
                .to_str()
                .map(Cow::Borrowed)
                .ok_or_else(|| format!("{} is not valid UTF-8", p.display())),
            Raw::Toml(toml::Value::String(s)) => Ok(Cow::Borrowed(s)),
            Raw::Toml(other) => Err(format!("expected a string, found {}", other.type_str())),
        }
    }
}

/// A socket address such as `127.0.0.1:5000` or `[::]:5000`.
pub(super) fn socket_addr(raw: &Raw<'_>) -> Result<SocketAddr, String> {
    let text = raw.text()?;
    text.trim().parse().map_err(|_| {
        format!("{text:?} is not an IP address and port such as 127.0.0.1:5000 or [::]:5000")
    })
}

/// A path; an empty one is refused.
pub(super) fn path(raw: &Raw<'_>) -> Result<PathBuf, String> {
    optional_path(raw)?.ok_or_else(|| "the path is empty".to_owned())
}

/// A path; empty means none.
pub(super) fn optional_path(raw: &Raw<'_>) -> Result<Option<PathBuf>, String> {
    match raw {
        Raw::Path(p) => Ok(Some(p.clone()).filter(|p| !p.as_os_str().is_empty())),
        _ => Ok(Some(PathBuf::from(raw.text()?.as_ref())).filter(|p| !p.as_os_str().is_empty())),
    }
}

/// A string; empty (or blank) means none.
pub(super) fn optional_text(raw: &Raw<'_>) -> Result<Option<String>, String> {
    let text = raw.text()?;
    Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
}

/// `true` or `false` (any case), or a TOML boolean.
pub(super) fn boolean(raw: &Raw<'_>) -> Result<bool, String> {
    if let Raw::Toml(toml::Value::Boolean(b)) = raw {
        return Ok(*b);
    }
    let text = raw.text()?;
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{text:?} is not true or false")),
    }
}

/// A whole number that fits `T`: digits, or a TOML integer.
pub(super) fn integer<T: FromStr + TryFrom<i64>>(raw: &Raw<'_>) -> Result<T, String> {
    let parsed = match raw {
        Raw::Toml(toml::Value::Integer(i)) => T::try_from(*i).ok(),
        _ => raw.text()?.trim().parse().ok(),
    };
    parsed.ok_or_else(|| format!("{} is not a whole number in range", display(raw)))
}

/// Seconds (`900`, a TOML integer) or a number with a unit: `45s`, `15m`, `12h`, `30d`.
pub(super) fn duration(raw: &Raw<'_>) -> Result<Duration, String> {
    let millis = match raw {
        Raw::Toml(toml::Value::Integer(i)) => {
            u64::try_from(*i).ok().and_then(|s| s.checked_mul(1000))
        }
        _ => parse_millis(raw.text()?.trim()),
    };
    millis.map(Duration::from_millis).ok_or_else(|| {
        format!(
            "{} is not a duration (use seconds or 250ms, 15m, 12h, 30d)",
            display(raw)
        )
    })
}

/// A rate: `N/unit` with a unit of `s`, `min` (or `m`), `h`, `d`, their
/// long names, or a duration (`10/30s`).
pub(super) fn rate(raw: &Raw<'_>) -> Result<Rate, String> {
    let text = raw.text()?;
    let invalid = || format!("{text:?} is not a rate (use 10/min, 100/h or 5/30s)");
    let (count, per) = text.trim().split_once('/').ok_or_else(invalid)?;
    let count: u32 = count.trim().parse().map_err(|_| invalid())?;
    let per = match per.trim() {
        "s" | "sec" | "second" => Some(1000),
        "m" | "min" | "minute" => Some(60 * 1000),
        "h" | "hour" => Some(60 * 60 * 1000),
        "d" | "day" => Some(24 * 60 * 60 * 1000),
        other => parse_millis(other),
    }
    .filter(|ms| *ms > 0)
    .ok_or_else(invalid)?;
    if count == 0 {
        return Err("must allow at least 1 request".into());
    }
    Ok(Rate {
        count,
        per: Duration::from_millis(per),
    })
}

/// At most `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Requests allowed in the window.
    pub(crate) count: u32,
    /// The window.
    pub(crate) per: Duration,
}

fn parse_millis(s: &str) -> Option<u64> {
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(unit_at);
    if number.is_empty() {
        return None;
    }
    let multiplier = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60 * 1000,
        "h" => 60 * 60 * 1000,
        "d" => 24 * 60 * 60 * 1000,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// A list: a TOML array of strings, or one string of comma-separated items
/// (blank items are skipped). Each item goes through `item`.
pub(super) fn list<T>(
    raw: &Raw<'_>,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    match raw {
        Raw::Toml(toml::Value::Array(values)) => values
            .iter()
            .map(|value| match value {
                toml::Value::String(s) => item(s.trim()),
                other => Err(format!("expected strings, found {}", other.type_str())),
            })
            .collect(),
        _ => {
            let text = raw.text()?;
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(item)
                .collect()
        }
    }
}

/// A `FromStr` value, such as `SameSite` or `TokenLocation`.
pub(super) fn from_str<T>(raw: &Raw<'_>) -> Result<T, String>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    raw.text()?
        .trim()
        .parse()
        .map_err(|e: T::Err| e.to_string())
}

/// A JWS algorithm name, case-sensitive.
pub(super) fn algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse().map_err(|_| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
        format!("{s:?} is not one of {} (case-sensitive)", names.join(", "))
    })
}

/// A non-empty string, trimmed.
pub(super) fn non_empty(s: &str) -> Result<String, String> {
    Some(s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "an empty string is not allowed".to_owned())
}

/// An `http` or `https` URL with a host, kept as written.
pub(super) fn http_url(s: &str) -> Result<String, String> {
    let uri: http::Uri = s
        .parse()
        .map_err(|_| format!("{s:?} is not a URL such as https://auth.example.com/"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err(format!(
            "{s:?} is not an http:// or https:// URL with a host"
        ));
    }
    Ok(s.to_owned())
}

/// A browser origin, `scheme://host[:port]` with nothing after, normalised
/// as browsers send it in `Origin`: lower case, without the default port.
pub(super) fn origin(s: &str) -> Result<String, String> {
    if s == "*" {
        return Err(
            "\"*\" is not allowed: origins allowed with credentials are listed one by one".into(),
        );
    }
    let hint = || {
        format!("{s:?} is not an origin such as https://app.example.com or http://localhost:3000")
    };
    let uri: http::Uri = s.parse().map_err(|_| hint())?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(hint());
    };
    if !matches!(scheme, "http" | "https") || authority.as_str().contains('@') {
        return Err(hint());
    }
    if s.len() != scheme.len() + 3 + authority.as_str().len() {
        return Err(format!(
            "{s:?} is not an origin: remove everything after the host and port"
        ));
    }
    let host = authority.host().to_ascii_lowercase();
    let default_port = if scheme == "http" { 80 } else { 443 };
    Ok(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// A cookie `Domain`: a host name, optionally with a leading dot.
pub(super) fn cookie_domain(s: &str) -> Result<String, String> {
    let name = s.strip_prefix('.').unwrap_or(s);
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if valid {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!("{s:?} is not a domain name such as example.com"))
    }
}

/// A `sqlite://` or `postgres://` URL. The value is not repeated in the
/// message: it may hold a password.
pub(super) fn database_url(raw: &Raw<'_>) -> Result<Option<ConnectionUrl>, String> {
    connection_url(
        raw,
        &["sqlite", "postgres", "postgresql"],
        "a sqlite:// or postgres://",
    )
}

/// A `redis://` or `rediss://` URL (or `redis+unix://`, `unix://`).
pub(super) fn redis_url(raw: &Raw<'_>) -> Result<Option<ConnectionUrl>, String> {
    connection_url(
        raw,
        &["redis", "rediss", "redis+unix", "unix"],
        "a redis:// or rediss://",
    )
}

fn connection_url(
    raw: &Raw<'_>,
    schemes: &[&str],
    expected: &str,
) -> Result<Option<ConnectionUrl>, String> {
    let Some(url) = optional_text(raw)? else {
        return Ok(None);
    };
    match url.split_once(':') {
        Some((scheme, _)) if schemes.contains(&scheme) => Ok(Some(ConnectionUrl::new(url))),
        Some((scheme, _)) => Err(format!("expected {expected} URL, found scheme {scheme:?}")),
        None => Err(format!(
            "expected {expected} URL (the value is not shown: it may hold a password)"
        )),
    }
}

/// How a raw value reads in an error message.
fn display(raw: &Raw<'_>) -> String {
    match raw {
        Raw::Text(s) => format!("{s:?}"),
        Raw::Path(p) => format!("{:?}", p.display().to_string()),
        Raw::Toml(toml::Value::String(s)) => format!("{s:?}"),
        Raw::Toml(toml::Value::Integer(i)) => i.to_string(),
        Raw::Toml(other) => format!("a {}", other.type_str()),
    }
}
