//! Values that must never be printed: secrets, and URLs that may hold a password.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string (`secret_key`, an OIDC `client_secret`). `Debug` prints
/// `[redacted]`, there is no `Display`, and the memory is zeroed on drop.
#[derive(Clone)]
pub(crate) struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub(crate) fn new(secret: String) -> Self {
        Secret(Zeroizing::new(secret))
    }

    /// The secret itself: pass it on, never log it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in bytes (safe to print).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Secret files larger than this are refused unread: no secret is this large.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Reads a secret from a file (`secret_key_file`, a container's or
/// systemd's credential): its text, without one final line break, which
/// `echo` and editors add.
pub(crate) fn read_secret_file(path: &std::path::Path) -> Result<Secret, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "{} is over {MAX_SECRET_FILE} bytes: not a secret",
            path.display()
        ));
    }
    let end = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .map_or(text.len(), str::len);
    text.truncate(end);
    Ok(Secret(text))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// A database or Redis URL. `Debug` hides its password and query (which
/// may hold one too); there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ConnectionUrl(String);

impl ConnectionUrl {
    /// Wraps a URL whose scheme the caller has checked.
    pub(crate) fn new(url: String) -> Self {
        ConnectionUrl(url)
    }

    /// The URL itself, password included: pass it on, never log it.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with its password and query replaced by `[redacted]`: safe to log.
    pub(crate) fn redacted(&self) -> String {
        let (main, query) = match self.0.split_once('?') {
            Some((main, _)) => (main, "?[redacted]"),
            None => (self.0.as_str(), ""),
        };
        let Some((scheme, rest)) = main.split_once("://") else {
            return format!("{main}{query}");
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:[redacted]@{host}"),
                None => authority.to_owned(),
            },
            None => authority.to_owned(),
        };
        format!("{scheme}://{authority}{path}{query}")
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}
