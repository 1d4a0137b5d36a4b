//! The sources of settings, by precedence: flags, then environment
//! variables, then the TOML file; and which one a setting comes from.

use std::path::{Path, PathBuf};

use super::secret::read_secret_file;
use super::values::{self, Raw};
use super::{ConfigArgs, ConfigError, ConfigFile, Secret, Source};

/// The keys of the config file, in the order of the README's table.
pub(super) const KEYS: &[&str] = &[
    "listen",
    "metrics_listen",
    "data_dir",
    "database_url",
    "redis_url",
    "database_pool_size",
    "redis_prefix",
    "revocation_poll_interval",
    "key_encryption_secret",
    "key_encryption_secret_file",
    "algorithm",
    "secret_key",
    "secret_key_file",
    "private_key_file",
    "issuer",
    "audience",
    "access_token_ttl",
    "refresh_token_ttl",
    "refresh_reuse_interval",
    "dpop",
    "dpop_algorithms",
    "dpop_proof_max_age",
    "dpop_nonce",
    "leeway",
    "token_locations",
    "cookie_secure",
    "cookie_samesite",
    "cookie_domain",
    "cors_origins",
    "registration",
    "password_min_length",
    "login_max_failures",
    "login_failure_window",
    "registration_rate",
    "trusted_proxies",
    "files_dir",
    "request_timeout",
    "examples",
    "log_format",
    "access_log",
    "webauthn_rp_id",
    "webauthn_origin",
    "trusted_issuers",
    "oidc_providers",
    "clients",
];

/// Keys only the config file may set: they are tables.
pub(super) const FILE_ONLY_KEYS: &[&str] = &["trusted_issuers", "oidc_providers", "clients"];

/// The environment variable of a key: `TOKENGATE_ACCESS_TOKEN_TTL`.
pub(crate) fn env_var(key: &str) -> String {
    format!("TOKENGATE_{}", key.to_ascii_uppercase())
}

/// A value and where it came from.
#[derive(Debug)]
pub(super) struct Sourced<T> {
    pub(super) value: T,
    pub(super) source: Source,
}

/// Every source of settings.
pub(super) struct Layers<'a, E> {
    args: &'a ConfigArgs,
    env: E,
    file: Option<(PathBuf, toml::Table)>,
}

impl<'a, E: Fn(&str) -> Option<String>> Layers<'a, E> {
    /// Parses the file (if any) and refuses its unknown keys, and refuses
    /// table-only settings given in the environment.
    pub(super) fn new(
        args: &'a ConfigArgs,
        env: E,
        file: Option<ConfigFile>,
    ) -> Result<Self, ConfigError> {
        for key in FILE_ONLY_KEYS {
            let var = env_var(key);
            if env(&var).is_some_and(|v| !v.is_empty()) {
                return Err(ConfigError::OnlyInFile { key, var });
            }
        }
        let file = file.map(parse_file).transpose()?;
        Ok(Layers { args, env, file })
    }

    /// The path of the config file, if there is one.
    pub(super) fn file_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    /// The source of every key that is set.
    pub(super) fn sources(&self) -> Vec<(&'static str, Source)> {
        KEYS.iter()
            .filter_map(|key| self.raw(key).map(|(_, source)| (*key, source)))
            .collect()
    }

    /// A key's value in the file only (for the tables).
    pub(super) fn file_value(&self, key: &str) -> Option<&toml::Value> {
        self.file.as_ref().and_then(|(_, table)| table.get(key))
    }

    /// Parses `key` from the source that wins; `None` when none sets it.
    /// An empty environment variable counts as unset.
    pub(super) fn get<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&Raw<'_>) -> Result<T, String>,
    ) -> Result<Option<Sourced<T>>, ConfigError> {
        let Some((raw, source)) = self.raw(key) else {
            return Ok(None);
        };
        match parse(&raw) {
            Ok(value) => Ok(Some(Sourced { value, source })),
            Err(message) => Err(ConfigError::Invalid {
                key: key.to_owned(),
                origin: source,
                message,
            }),
        }
    }

    /// A secret given as `key` itself or in the file `{key}_file` names
    /// (`TOKENGATE_{KEY}_FILE` in the environment), never both; `parse`
    /// checks it either way.
    pub(super) fn get_secret(
        &self,
        key: &'static str,
        file_key: &'static str,
        parse: impl Fn(&Raw<'_>) -> Result<Secret, String>,
    ) -> Result<Option<Sourced<Secret>>, ConfigError> {
        let inline = self.get(key, &parse)?;
        let Some(file) = self.get(file_key, values::optional_path)? else {
            return Ok(inline);
        };
        if let Some(inline) = &inline {
            return Err(ConfigError::Conflict(format!(
                "{key} (from {}) and {file_key} (from {}) are both set: give one",
                inline.source, file.source
            )));
        }
        let Some(path) = file.value else {
            return Ok(None);
        };
        let invalid = |message| ConfigError::Invalid {
            key: file_key.to_owned(),
            origin: file.source.clone(),
            message,
        };
        let secret = read_secret_file(&path).map_err(invalid)?;
        let value = parse(&Raw::Text(secret.expose().to_owned())).map_err(invalid)?;
        Ok(Some(Sourced {
            value,
            source: file.source,
        }))
    }

    /// Like [`Self::get`], with a default for an unset key.
    pub(super) fn get_or<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&Raw<'_>) -> Result<T, String>,
        default: T,
    ) -> Result<T, ConfigError> {
        Ok(self.get(key, parse)?.map_or(default, |s| s.value))
    }

    fn raw(&self, key: &'static str) -> Option<(Raw<'_>, Source)> {
        if let Some(raw) = self.flag(key) {
            return Some(raw);
        }
        let var = env_var(key);
        if let Some(value) = (self.env)(&var).filter(|v| !v.is_empty()) {
            return Some((Raw::Text(value), Source::Env(var)));
        }
        let (path, table) = self.file.as_ref()?;
        table
            .get(key)
            .map(|value| (Raw::Toml(value), Source::File(path.clone())))
    }

    fn flag(&self, key: &str) -> Option<(Raw<'_>, Source)> {
        let args = self.args;
        let (raw, flag) = match key {
            "listen" => (args.listen.clone().map(Raw::Text), "--listen"),
            "data_dir" => (args.data_dir.clone().map(Raw::Path), "--data-dir"),
            "database_url" => (args.database_url.clone().map(Raw::Text), "--database-url"),
            "redis_url" => (args.redis_url.clone().map(Raw::Text), "--redis-url"),
            _ => return None,
        };
        raw.map(|raw| (raw, Source::Flag(flag)))
    }
}

fn parse_file(file: ConfigFile) -> Result<(PathBuf, toml::Table), ConfigError> {
    let table: toml::Table = toml::from_str(&file.contents).map_err(|e| ConfigError::Syntax {
        message: syntax_message(&file.contents, &e),
        path: file.path.clone(),
    })?;
    if let Some(key) = table.keys().find(|key| !KEYS.contains(&key.as_str())) {
        return Err(ConfigError::UnknownKey {
            path: file.path,
            key: key.clone(),
            closest: closest_key(key),
        });
    }
    Ok((file.path, table))
}

/// `line L, column C: what`, without the line itself (it may hold a secret).
fn syntax_message(contents: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    let Some(span) = error.span() else {
        return message.to_owned();
    };
    let before = contents.get(..span.start).unwrap_or(contents);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {message}")
}

/// Variables that start with `TOKENGATE_` but set nothing (a typo such as
/// `TOKENGATE_ACESS_TOKEN_TTL` would otherwise be ignored without a word):
/// each with the known variable nearest to it, if one is near enough.
pub(crate) fn unknown_env_vars(
    names: impl IntoIterator<Item = String>,
) -> Vec<(String, Option<String>)> {
    names
        .into_iter()
        .filter(|name| name.starts_with("TOKENGATE_") && name != "TOKENGATE_CONFIG")
        .filter(|name| !KEYS.iter().any(|key| env_var(key) == *name))
        .map(|name| {
            let key = name["TOKENGATE_".len()..].to_ascii_lowercase();
            let nearest = closest_key(&key).map(env_var);
            (name, nearest)
        })
        .collect()
}

/// The known key nearest to a misspelt one, if it is near enough.
fn closest_key(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|known| (edit_distance(key, known), *known))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}
