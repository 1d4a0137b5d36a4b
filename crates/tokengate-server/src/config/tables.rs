//! The `[[trusted_issuers]]`, `[[oidc_providers]]` and `[[clients]]` tables
//! of the config file.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokengate::keys::{Algorithm, KeyFamily};

use super::secret::read_secret_file;
use super::values::{Rate, http_url, non_empty, rate};
use super::{ConfigError, Secret, Source};

/// An external issuer whose access tokens are accepted (`[[trusted_issuers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrustedIssuerConfig {
    /// The exact `iss` of its tokens.
    pub(crate) issuer: String,
    /// Accepted `aud` values; a string or an array, at least one.
    #[serde(deserialize_with = "one_or_many")]
    pub(crate) audience: Vec<String>,
    /// Its JWKS; by default from `{issuer}/.well-known/openid-configuration`.
    pub(crate) jwks_uri: Option<String>,
    /// Accepted `alg` values; by default those of its keys.
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    /// The claim holding scopes (`scope` by default, `scp`, `permissions`).
    pub(crate) scopes_claim: Option<String>,
    /// The claim holding roles, a dotted path (`realm_access.roles`).
    pub(crate) roles_claim: Option<String>,
    /// The `typ` header its access tokens must carry (`at+jwt`).
    pub(crate) required_typ: Option<String>,
}

impl TrustedIssuerConfig {
    fn validate(&self) -> Result<(), String> {
        non_empty(&self.issuer).map_err(|_| "issuer is empty".to_owned())?;
        match &self.jwks_uri {
            Some(uri) => http_url(uri)
                .map(drop)
                .map_err(|e| format!("jwks_uri: {e}"))?,
            None => http_url(&self.issuer).map(drop).map_err(|e| {
                format!("issuer: {e}; its keys are found by discovery unless jwks_uri is set")
            })?,
        }
        if self.audience.iter().all(|a| a.trim().is_empty()) {
            return Err(
                "audience is empty: without it, this issuer's tokens meant for \
                        other APIs would be accepted"
                    .into(),
            );
        }
        match &self.algorithms {
            Some(algs) if algs.is_empty() => return Err("algorithms is empty".into()),
            Some(algs) if algs.iter().any(|a| a.family() == KeyFamily::Hmac) => {
                return Err(
                    "algorithms: HS* needs a shared secret; an external issuer is \
                            verified with its public keys"
                        .into(),
                );
            }
            _ => {}
        }
        if let Some(claim) = &self.scopes_claim {
            claim
                .parse::<tokengate::issuers::ScopesClaim>()
                .map_err(|e| format!("scopes_claim: {e}"))?;
        }
        for (name, value) in [
            ("scopes_claim", &self.scopes_claim),
            ("roles_claim", &self.roles_claim),
            ("required_typ", &self.required_typ),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(format!("{name} is empty: omit it for the default"));
            }
        }
        Ok(())
    }
}

/// An OpenID provider users can log in with (`[[oidc_providers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidcProviderConfig {
    /// Its name in the routes, `/auth/oidc/{name}/...`.
    pub(crate) name: String,
    /// Its issuer; discovery at `{issuer}/.well-known/openid-configuration`.
    pub(crate) issuer: String,
    /// tokengate's client id there.
    pub(crate) client_id: String,
    /// tokengate's client secret there; none for a public client.
    pub(crate) client_secret: Option<Secret>,
    /// A file holding the client secret instead (not both).
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    /// Requested scopes; `openid` must be one.
    #[serde(default = "default_scopes", deserialize_with = "one_or_many")]
    pub(crate) scopes: Vec<String>,
    /// The callback URL registered there.
    pub(crate) redirect_url: String,
    /// Where the provider sends the browser back after logout.
    pub(crate) post_logout_redirect_url: Option<String>,
    /// The ID token claim shown as the user's name (default
    /// `preferred_username`, then `name`, then `email`).
    pub(crate) display_name_claim: Option<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}

impl OidcProviderConfig {
    fn validate(&self) -> Result<(), String> {
        let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.name.is_empty() || !self.name.chars().all(url_safe) {
            return Err(format!(
                "name {:?} must be letters, digits, - and _ (it is part of a URL)",
                self.name
            ));
        }
        http_url(&self.issuer).map_err(|e| format!("issuer: {e}"))?;
        non_empty(&self.client_id).map_err(|_| "client_id is empty".to_owned())?;
        if self
            .client_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            return Err("client_secret is empty: omit it for a public client".into());
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err("scopes must include openid".into());
        }
        http_url(&self.redirect_url).map_err(|e| format!("redirect_url: {e}"))?;
        if let Some(url) = &self.post_logout_redirect_url {
            http_url(url).map_err(|e| format!("post_logout_redirect_url: {e}"))?;
        }
        Ok(())
    }
}

/// Parses and validates `[[trusted_issuers]]`; issuers must be unique.
pub(super) fn trusted_issuers(
    value: Option<&toml::Value>,
    path: &Path,
) -> Result<Vec<TrustedIssuerConfig>, ConfigError> {
    let issuers = entries(
        value,
        "trusted_issuers",
        path,
        TrustedIssuerConfig::validate,
    )?;
    unique(
        issuers.iter().map(|i| i.issuer.as_str()),
        "trusted_issuers",
        "issuer",
        path,
    )?;
    Ok(issuers)
}

/// Parses and validates `[[oidc_providers]]`; names must be unique.
pub(super) fn oidc_providers(
    value: Option<&toml::Value>,
    path: &Path,
) -> Result<Vec<OidcProviderConfig>, ConfigError> {
    let mut providers = entries(value, "oidc_providers", path, OidcProviderConfig::validate)?;
    for (i, provider) in providers.iter_mut().enumerate() {
        let Some(file) = provider.client_secret_file.take() else {
            continue;
        };
        let invalid = |message: String| ConfigError::Invalid {
            key: format!("oidc_providers entry {}", i + 1),
            origin: Source::File(path.to_owned()),
            message,
        };
        if provider.client_secret.is_some() {
            return Err(invalid(
                "client_secret and client_secret_file are both set: give one".into(),
            ));
        }
        let secret =
            read_secret_file(&file).map_err(|e| invalid(format!("client_secret_file: {e}")))?;
        if secret.expose().is_empty() {
            return Err(invalid(format!(
                "client_secret_file: {} is empty",
                file.display()
            )));
        }
        provider.client_secret = Some(secret);
    }
    unique(
        providers.iter().map(|p| p.name.as_str()),
        "oidc_providers",
        "name",
        path,
    )?;
    Ok(providers)
}

/// What a client may call, the values of its `scopes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClientScope {
    /// `POST /auth/introspect` (RFC 7662).
    Introspect,
    /// `POST /auth/revoke` (RFC 7009).
    Revoke,
}

impl ClientScope {
    /// Its name in the config file and in messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ClientScope::Introspect => "introspect",
            ClientScope::Revoke => "revoke",
        }
    }
}

/// The shortest client secret accepted, in bytes: the failed-attempt limits
/// slow a guesser down, a long random secret is what defeats one.
pub(crate) const MIN_CLIENT_SECRET: usize = 16;

/// The most requests a client's `rate` may allow in its window: the
/// counters keep no more entries per key than this.
pub(crate) const MAX_CLIENT_RATE: u32 = 10_000;

/// A client's default `rate`: 6000 requests a minute.
const DEFAULT_CLIENT_RATE: Rate = Rate {
    count: 6000,
    per: std::time::Duration::from_secs(60),
};

/// A client of the OAuth endpoints (`[[clients]]`): a resource server that
/// introspects tokens, an application that revokes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientConfig {
    /// Its `client_id`; unique among the entries.
    pub(crate) client_id: String,
    /// Its secret: a confidential client authenticates with it (HTTP Basic
    /// or in the form).
    pub(crate) client_secret: Option<Secret>,
    /// A file holding the secret instead (not both).
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    /// A public client: no secret, identified by its `client_id` alone,
    /// which may only revoke.
    #[serde(default)]
    pub(crate) public: bool,
    /// The endpoints it may call; default: both for a confidential client,
    /// `revoke` for a public one.
    #[serde(default)]
    scopes: Option<Vec<ClientScope>>,
    /// Its requests allowed per window, e.g. `"6000/minute"`.
    #[serde(default)]
    rate: Option<String>,
    /// [`ClientConfig::scopes`], defaults filled in (after validation).
    #[serde(skip)]
    pub(crate) allowed: Vec<ClientScope>,
    /// [`ClientConfig::rate`], parsed, default filled in (after validation).
    #[serde(skip, default = "default_client_rate")]
    pub(crate) request_rate: Rate,
}

fn default_client_rate() -> Rate {
    DEFAULT_CLIENT_RATE
}

impl ClientConfig {
    fn validate(&self) -> Result<(), String> {
        if self.client_id.trim().is_empty() {
            return Err("client_id is empty".into());
        }
        if self.client_id.chars().any(char::is_control) {
            return Err("client_id holds a control character".into());
        }
        if self.public && (self.client_secret.is_some() || self.client_secret_file.is_some()) {
            return Err(format!(
                "client {:?} is public and has a secret: a public client has none \
                 (remove either the secret or public = true)",
                self.client_id
            ));
        }
        if let Some(secret) = &self.client_secret
            && secret.len() < MIN_CLIENT_SECRET
        {
            return Err(format!(
                "client_secret of {:?} is {} bytes: a client secret needs at least \
                 {MIN_CLIENT_SECRET} random bytes",
                self.client_id,
                secret.len()
            ));
        }
        if !self.public && self.client_secret.is_none() && self.client_secret_file.is_none() {
            return Err(format!(
                "client {:?} has no secret: give client_secret or client_secret_file, \
                 or set public = true for a client that may only revoke",
                self.client_id
            ));
        }
        match &self.scopes {
            Some(scopes) if scopes.is_empty() => {
                return Err(format!(
                    "scopes of {:?} is empty: a client that may call nothing is no client",
                    self.client_id
                ));
            }
            Some(scopes) if self.public && scopes.contains(&ClientScope::Introspect) => {
                return Err(format!(
                    "client {:?} is public and cannot introspect: introspection needs a \
                     client that authenticates",
                    self.client_id
                ));
            }
            _ => {}
        }
        if let Some(text) = &self.rate {
            let parsed =
                rate(&super::values::Raw::Text(text.clone())).map_err(|e| format!("rate: {e}"))?;
            if parsed.count > MAX_CLIENT_RATE {
                return Err(format!(
                    "rate: {} requests in one window is more than {MAX_CLIENT_RATE}: \
                     use a shorter window (1000/s rather than 60000/min)",
                    parsed.count
                ));
            }
        }
        Ok(())
    }

    /// Fills in the defaults of a validated entry.
    fn complete(&mut self) {
        self.allowed = match &self.scopes {
            Some(scopes) => {
                let mut allowed: Vec<ClientScope> = Vec::new();
                for scope in scopes {
                    if !allowed.contains(scope) {
                        allowed.push(*scope);
                    }
                }
                allowed
            }
            None if self.public => vec![ClientScope::Revoke],
            None => vec![ClientScope::Introspect, ClientScope::Revoke],
        };
        self.request_rate = self
            .rate
            .as_ref()
            .and_then(|text| rate(&super::values::Raw::Text(text.clone())).ok())
            .unwrap_or(DEFAULT_CLIENT_RATE);
    }
}

/// Parses and validates `[[clients]]`; client ids must be unique, and each
/// confidential client's secret is read (from the file when it is one).
pub(super) fn clients(
    value: Option<&toml::Value>,
    path: &Path,
) -> Result<Vec<ClientConfig>, ConfigError> {
    let mut clients = entries(value, "clients", path, ClientConfig::validate)?;
    for (i, client) in clients.iter_mut().enumerate() {
        client.complete();
        let Some(file) = client.client_secret_file.take() else {
            continue;
        };
        let invalid = |message: String| ConfigError::Invalid {
            key: format!("clients entry {}", i + 1),
            origin: Source::File(path.to_owned()),
            message,
        };
        if client.client_secret.is_some() {
            return Err(invalid(
                "client_secret and client_secret_file are both set: give one".into(),
            ));
        }
        let secret =
            read_secret_file(&file).map_err(|e| invalid(format!("client_secret_file: {e}")))?;
        if secret.len() < MIN_CLIENT_SECRET {
            return Err(invalid(format!(
                "client_secret_file: {} holds {} bytes: a client secret needs at least \
                 {MIN_CLIENT_SECRET} random bytes",
                file.display(),
                secret.len()
            )));
        }
        client.client_secret = Some(secret);
    }
    unique(
        clients.iter().map(|c| c.client_id.as_str()),
        "clients",
        "client_id",
        path,
    )?;
    Ok(clients)
}

/// Deserializes each table of an array of tables, naming the entry (from 1) in errors.
fn entries<T: for<'de> Deserialize<'de>>(
    value: Option<&toml::Value>,
    key: &str,
    path: &Path,
    validate: fn(&T) -> Result<(), String>,
) -> Result<Vec<T>, ConfigError> {
    let invalid = |key: String, message: String| ConfigError::Invalid {
        key,
        origin: Source::File(path.to_owned()),
        message,
    };
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(tables) = value else {
        let message = format!("expected [[{key}]] tables, found a {}", value.type_str());
        return Err(invalid(key.to_owned(), message));
    };
    tables
        .iter()
        .enumerate()
        .map(|(i, table)| {
            let entry = format!("{key} entry {}", i + 1);
            let parsed: T = table
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| invalid(entry.clone(), e.message().to_owned()))?;
            validate(&parsed).map_err(|message| invalid(entry, message))?;
            Ok(parsed)
        })
        .collect()
}

fn unique<'a>(
    names: impl Iterator<Item = &'a str>,
    key: &str,
    field: &str,
    path: &Path,
) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(ConfigError::Invalid {
                key: key.to_owned(),
                origin: Source::File(path.to_owned()),
                message: format!("{field} {name:?} appears twice"),
            });
        }
    }
    Ok(())
}

/// A string or an array of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;

    impl<'de> serde::de::Visitor<'de> for OneOrMany {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an array of strings")
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(vec![s.to_owned()])
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            Ok(items)
        }
    }

    d.deserialize_any(OneOrMany)
}
