//! The service's settings (the README's configuration table lists them).
//!
//! Each setting is, by rising precedence: its default, a key of the TOML
//! file named by `--config` or `TOKENGATE_CONFIG`, the environment variable
//! `TOKENGATE_<KEY>`, and, for `listen`, `data_dir`, `database_url` and
//! `redis_url`, a flag. `[[trusted_issuers]]`, `[[oidc_providers]]` and
//! `[[clients]]` come from the file only. An empty environment variable
//! counts as unset.
//!
//! Loading refuses, naming the setting and where its value came from: a
//! value that does not parse, an unknown key in the file, and settings that
//! do not fit together (an HS* algorithm without a secret of 32 bytes or
//! more, `SameSite=None` cookies that are not `Secure`, ...). Relative
//! paths are relative to the working directory, wherever they are given.

mod error;
mod layers;
mod network;
mod report;
mod rules;
mod secret;
mod tables;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokengate::keys::Algorithm;
use tokengate::transport::{SameSite, TokenLocation};

pub(crate) use error::{ConfigError, Source};
pub(crate) use layers::unknown_env_vars;
use layers::{Layers, env_var};
pub(crate) use network::IpNetwork;
pub(crate) use secret::{ConnectionUrl, Secret};
pub(crate) use tables::{ClientConfig, ClientScope, OidcProviderConfig, TrustedIssuerConfig};
pub(crate) use values::Rate;

/// The flags that say where settings come from; `serve` and the admin
/// commands flatten them. Every other setting is a key of the config file
/// or an environment variable `TOKENGATE_<KEY>`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ConfigArgs {
    /// TOML config file (or TOKENGATE_CONFIG)
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// `serve`'s `--listen` ([`ServeArgs`]): the admin commands listen on nothing.
    #[arg(skip)]
    pub(crate) listen: Option<String>,
    /// Directory of the SQLite database, generated keys and files
    /// [default: ./tokengate-data] (or TOKENGATE_DATA_DIR)
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… [default: SQLite in the data directory]
    /// (or TOKENGATE_DATABASE_URL, which keeps a password out of `ps`)
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// redis://… for revocation fan-out and shared rate limits (or TOKENGATE_REDIS_URL)
    #[arg(long, value_name = "URL")]
    pub(crate) redis_url: Option<String>,
}

/// `serve`'s flags: where settings come from, and where to listen.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to serve on [default: 127.0.0.1:5000] (or TOKENGATE_LISTEN)
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

impl ServeArgs {
    /// The settings' flags, `--listen` included.
    pub(crate) fn config_args(&self) -> ConfigArgs {
        ConfigArgs {
            listen: self.listen.clone(),
            ..self.config.clone()
        }
    }
}

/// The config file: where it is, and what it says.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFile {
    /// Its path, named in error messages.
    pub(crate) path: PathBuf,
    /// Its TOML text.
    pub(crate) contents: String,
}

/// Whether anyone may create an account (`registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registration {
    /// `POST /auth/register` creates users.
    Open,
    /// Only `tokengate user add` does.
    Closed,
}

impl FromStr for Registration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "open" => Ok(Registration::Open),
            "closed" => Ok(Registration::Closed),
            _ => Err(format!("{s:?} is neither open nor closed")),
        }
    }
}

/// How log lines are written (`log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line (tracing-subscriber's format).
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{s:?} is neither text nor json")),
        }
    }
}

/// Every setting of the service, checked and with its defaults filled in.
///
/// `Debug` shows no secret: [`Secret`] and [`ConnectionUrl`] redact themselves.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Address to serve on.
    pub(crate) listen: SocketAddr,
    /// A second address serving `/metrics` only (and then not on `listen`).
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// SQLite database, generated keys, files.
    pub(crate) data_dir: PathBuf,
    /// Default: `sqlite://{data_dir}/tokengate.db`.
    pub(crate) database_url: ConnectionUrl,
    /// Most connections to PostgreSQL (SQLite uses at most 4).
    pub(crate) database_pool_size: u32,
    /// Revocation fan-out and shared rate limits.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_url: Option<ConnectionUrl>,
    /// Prefix of every Redis key and channel (several deployments may share a Redis).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_prefix: String,
    /// How often the database is read for revocations written elsewhere.
    pub(crate) revocation_poll_interval: Duration,
    /// With PostgreSQL: signing keys are kept in the database, their private
    /// parts sealed with a key derived from this secret, and shared by
    /// every instance. At least 32 bytes.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) key_encryption_secret: Option<Secret>,
    /// Signing algorithm of tokengate's tokens; `None`: the generated key's.
    pub(crate) algorithm: Option<Algorithm>,
    /// The HMAC secret, set exactly when `algorithm` is HS*; at least 32 bytes.
    pub(crate) secret_key: Option<Secret>,
    /// PEM private key; `None`: generated in `data_dir`. Never with HS*.
    pub(crate) private_key_file: Option<PathBuf>,
    /// `iss` of issued tokens; default `http://{listen}`.
    pub(crate) issuer: String,
    /// `aud` of issued tokens, checked on verify.
    pub(crate) audience: Vec<String>,
    /// Lifetime of access tokens (default 15m).
    pub(crate) access_token_ttl: Duration,
    /// Lifetime of refresh tokens (default 30d).
    pub(crate) refresh_token_ttl: Duration,
    /// How long after its first use a spent refresh token still gets a new
    /// pair in its login (default 0: never; at most 60s).
    pub(crate) refresh_reuse_interval: Duration,
    /// DPoP (RFC 9449): off, allowed (default) or required.
    pub(crate) dpop: tokengate::dpop::DpopMode,
    /// The algorithms a DPoP proof may use (asymmetric only).
    pub(crate) dpop_algorithms: Vec<Algorithm>,
    /// How old a DPoP proof may be (default 60s, 1s..10m).
    pub(crate) dpop_proof_max_age: Duration,
    /// Whether DPoP proofs need a server nonce (`DPoP-Nonce`).
    pub(crate) dpop_nonce: bool,
    /// Seconds of clock skew allowed on `exp`/`nbf` (at most 300).
    pub(crate) leeway: u64,
    /// Where tokens are looked for, in order; never empty.
    pub(crate) token_locations: Vec<TokenLocation>,
    /// `Secure` on cookies.
    pub(crate) cookie_secure: bool,
    /// `SameSite` on cookies; `None` only with `cookie_secure`.
    pub(crate) cookie_samesite: SameSite,
    /// `Domain` on cookies.
    pub(crate) cookie_domain: Option<String>,
    /// Origins allowed with credentials, as browsers send them (`https://app.example.com`).
    pub(crate) cors_origins: Vec<String>,
    /// Whether `POST /auth/register` creates users.
    pub(crate) registration: Registration,
    /// Shortest password accepted (at least 1).
    pub(crate) password_min_length: usize,
    /// Failed logins per username (10x per IP) before 429 (at least 1).
    pub(crate) login_max_failures: u32,
    /// The window those failures are counted in.
    pub(crate) login_failure_window: Duration,
    /// Registrations per client IP (default 10/min): each costs a hash.
    pub(crate) registration_rate: values::Rate,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: Vec<IpNetwork>,
    /// Served by `/files/{name}`; default `{data_dir}/files`.
    pub(crate) files_dir: PathBuf,
    /// Bound on a request: its head must arrive, and its answer be ready,
    /// within this (default 30s; 1s to 10m).
    pub(crate) request_timeout: Duration,
    /// Whether the example routes (`/api/*`, `/headers`, memos, files, the
    /// demo page) are served (default true: the zero-config quick start).
    pub(crate) examples: bool,
    /// Text or JSON log lines.
    pub(crate) log_format: LogFormat,
    /// One log line per request (default true).
    pub(crate) access_log: bool,
    /// External issuers whose access tokens are accepted.
    pub(crate) trusted_issuers: Vec<TrustedIssuerConfig>,
    /// OpenID providers users can log in with.
    pub(crate) oidc_providers: Vec<OidcProviderConfig>,
    /// Clients of the introspection and revocation endpoints.
    pub(crate) clients: Vec<ClientConfig>,
    /// The passkeys' relying party id: a domain (default `localhost`).
    pub(crate) webauthn_rp_id: String,
    /// The origin browsers use passkeys from (default
    /// `http://localhost:{port of listen}`, or `https://{webauthn_rp_id}`).
    pub(crate) webauthn_origin: String,
    /// Whether `webauthn_rp_id` was set (`config check` says when the
    /// default cannot work for a `listen` address).
    pub(crate) webauthn_rp_id_set: bool,
    /// Where each key that is set came from (for `config check`).
    pub(crate) sources: Vec<(&'static str, Source)>,
}

const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5000);
const DEFAULT_DATA_DIR: &str = "./tokengate-data";
const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const DEFAULT_REGISTRATION_RATE: values::Rate = values::Rate {
    count: 10,
    per: Duration::from_secs(60),
};
/// `request_timeout`: a request still running after it is answered 408.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Settings {
    /// Loads the settings from the process's flags, environment and config file.
    pub(crate) fn load(args: &ConfigArgs) -> Result<Settings, ConfigError> {
        check_env_is_unicode()?;
        let env = |name: &str| std::env::var(name).ok();
        let file = match config_path(args, env) {
            Some((path, origin)) => Some(ConfigFile::read(path, origin)?),
            None => None,
        };
        Settings::load_from(args, env, file)
    }

    /// Loads the settings from `args`, the environment `env` gives, and
    /// `file`: [`Settings::load`] without touching the process.
    pub(crate) fn load_from(
        args: &ConfigArgs,
        env: impl Fn(&str) -> Option<String>,
        file: Option<ConfigFile>,
    ) -> Result<Settings, ConfigError> {
        let layers = Layers::new(args, env, file)?;
        let listen = layers.get_or("listen", values::socket_addr, DEFAULT_LISTEN)?;
        let data_dir = layers.get_or("data_dir", values::path, DEFAULT_DATA_DIR.into())?;
        let default_database = format!("sqlite://{}/tokengate.db", data_dir.display());
        let signing = rules::signing(&layers)?;
        let cookie_secure = layers.get_or("cookie_secure", values::boolean, false)?;
        let webauthn = rules::webauthn(&layers, listen)?;
        let file_path = layers
            .file_path()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        Ok(Settings {
            database_url: layers
                .get("database_url", values::database_url)?
                .and_then(|s| s.value)
                .unwrap_or_else(|| ConnectionUrl::new(default_database)),
            database_pool_size: layers.get_or("database_pool_size", rules::at_least_one, 10)?,
            redis_url: layers
                .get("redis_url", values::redis_url)?
                .and_then(|s| s.value),
            redis_prefix: layers.get_or(
                "redis_prefix",
                |r| values::non_empty(&r.text()?),
                "tokengate:".to_owned(),
            )?,
            revocation_poll_interval: layers.get_or(
                "revocation_poll_interval",
                rules::poll_interval,
                Duration::from_secs(1),
            )?,
            key_encryption_secret: layers
                .get_secret(
                    "key_encryption_secret",
                    "key_encryption_secret_file",
                    rules::key_encryption_secret,
                )?
                .map(|s| s.value),
            issuer: layers
                .get_or("issuer", rules::issuer, None)?
                .unwrap_or_else(|| format!("http://{listen}")),
            audience: layers.get_or("audience", rules::audience, vec![])?,
            access_token_ttl: layers.get_or("access_token_ttl", rules::ttl, DEFAULT_ACCESS_TTL)?,
            refresh_token_ttl: layers.get_or(
                "refresh_token_ttl",
                rules::ttl,
                DEFAULT_REFRESH_TTL,
            )?,
            refresh_reuse_interval: layers.get_or(
                "refresh_reuse_interval",
                rules::reuse_interval,
                Duration::ZERO,
            )?,
            dpop: layers.get_or("dpop", values::from_str, tokengate::dpop::DpopMode::Allowed)?,
            dpop_algorithms: layers.get_or(
                "dpop_algorithms",
                rules::dpop_algorithms,
                tokengate::dpop::DEFAULT_ALGORITHMS.to_vec(),
            )?,
            dpop_proof_max_age: layers.get_or(
                "dpop_proof_max_age",
                rules::dpop_proof_max_age,
                Duration::from_secs(60),
            )?,
            dpop_nonce: layers.get_or("dpop_nonce", values::boolean, false)?,
            leeway: layers.get_or("leeway", rules::leeway, 0)?,
            token_locations: layers.get_or(
                "token_locations",
                rules::token_locations,
                rules::default_locations(),
            )?,
            cookie_samesite: rules::cookie_samesite(&layers, cookie_secure)?,
            cookie_secure,
            cookie_domain: layers.get_or("cookie_domain", rules::cookie_domain, None)?,
            cors_origins: layers.get_or("cors_origins", rules::cors_origins, vec![])?,
            registration: layers.get_or("registration", values::from_str, Registration::Open)?,
            password_min_length: layers.get_or("password_min_length", rules::at_least_one, 8)?,
            login_max_failures: layers.get_or("login_max_failures", rules::at_least_one, 10)?,
            login_failure_window: layers.get_or(
                "login_failure_window",
                rules::ttl,
                DEFAULT_FAILURE_WINDOW,
            )?,
            registration_rate: layers.get_or(
                "registration_rate",
                values::rate,
                DEFAULT_REGISTRATION_RATE,
            )?,
            trusted_proxies: layers.get_or("trusted_proxies", rules::trusted_proxies, vec![])?,
            files_dir: layers
                .get_or("files_dir", values::optional_path, None)?
                .unwrap_or_else(|| data_dir.join("files")),
            examples: layers.get_or("examples", values::boolean, true)?,
            log_format: layers.get_or("log_format", values::from_str, LogFormat::Text)?,
            access_log: layers.get_or("access_log", values::boolean, true)?,
            metrics_listen: layers
                .get("metrics_listen", values::socket_addr)?
                .map(|s| s.value),
            request_timeout: layers.get_or(
                "request_timeout",
                rules::request_timeout,
                DEFAULT_REQUEST_TIMEOUT,
            )?,
            trusted_issuers: tables::trusted_issuers(
                layers.file_value("trusted_issuers"),
                &file_path,
            )?,
            oidc_providers: tables::oidc_providers(
                layers.file_value("oidc_providers"),
                &file_path,
            )?,
            clients: tables::clients(layers.file_value("clients"), &file_path)?,
            webauthn_rp_id: webauthn.rp_id,
            webauthn_origin: webauthn.origin,
            webauthn_rp_id_set: webauthn.rp_id_set,
            sources: layers.sources(),
            listen,
            data_dir,
            algorithm: signing.algorithm,
            secret_key: signing.secret_key,
            private_key_file: signing.private_key_file,
        })
    }
}

/// One warning line for each `TOKENGATE_*` variable of this process that
/// sets nothing, naming the nearest known one.
pub(crate) fn unknown_env_warnings() -> Vec<String> {
    let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    unknown_env_vars(names)
        .into_iter()
        .map(|(name, nearest)| match nearest {
            Some(nearest) => {
                format!("{name} is not a setting and is ignored; did you mean {nearest}?")
            }
            None => format!("{name} is not a setting and is ignored"),
        })
        .collect()
}

impl ConfigFile {
    /// Reads the file `origin` (`--config` or `TOKENGATE_CONFIG`) names.
    pub(crate) fn read(path: PathBuf, origin: Source) -> Result<ConfigFile, ConfigError> {
        match std::fs::read_to_string(&path) {
            Ok(contents) => Ok(ConfigFile { path, contents }),
            Err(error) => Err(ConfigError::Read {
                path,
                origin,
                error,
            }),
        }
    }
}

/// The config file's path and what named it: `--config`, else `TOKENGATE_CONFIG`.
pub(crate) fn config_path(
    args: &ConfigArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Option<(PathBuf, Source)> {
    if let Some(path) = &args.config {
        return Some((path.clone(), Source::Flag("--config")));
    }
    let var = "TOKENGATE_CONFIG";
    env(var)
        .filter(|v| !v.is_empty())
        .map(|path| (path.into(), Source::Env(var.to_owned())))
}

/// Refuses a setting's environment variable that is not UTF-8, rather than
/// ignoring it.
fn check_env_is_unicode() -> Result<(), ConfigError> {
    let names = layers::KEYS.iter().map(|key| env_var(key));
    for name in names.chain(["TOKENGATE_CONFIG".to_owned()]) {
        if std::env::var_os(&name).is_some_and(|v| v.to_str().is_none()) {
            return Err(ConfigError::NotUnicode(name));
        }
    }
    Ok(())
}

impl fmt::Display for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Registration::Open => "open",
            Registration::Closed => "closed",
        })
    }
}
