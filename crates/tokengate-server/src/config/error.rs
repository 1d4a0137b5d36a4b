//! Where a setting came from, and why the configuration was refused.

use std::fmt;
use std::path::PathBuf;

/// Where a setting's value came from; every error names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The TOML file at this path.
    File(PathBuf),
    /// The environment variable of this name.
    Env(String),
    /// The command-line flag of this name (`--listen`).
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(flag) => f.write_str(flag),
        }
    }
}

/// Why the configuration cannot be used; start-up stops with its message.
///
/// Messages never repeat the value of a secret or of a database/Redis URL,
/// which may carry a password.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// One setting's value is unusable.
    #[error("invalid value for {key} from {origin}: {message}")]
    Invalid {
        /// The setting (`access_token_ttl`, `trusted_issuers entry 2`).
        key: String,
        /// Where the value came from.
        origin: Source,
        /// What is wrong with it.
        message: String,
    },
    /// Settings that do not fit together.
    #[error("{0}")]
    Conflict(String),
    /// The config file names a setting that does not exist.
    #[error("unknown setting {key:?} in {}{}", path.display(), suggestion(.closest))]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The unknown key.
        key: String,
        /// The known key it most resembles, if any.
        closest: Option<&'static str>,
    },
    /// A setting that only the config file can hold was given elsewhere.
    #[error("{key} can only be set in the config file, not by environment variable {var}")]
    OnlyInFile {
        /// The setting (`trusted_issuers`).
        key: &'static str,
        /// The environment variable that tried.
        var: String,
    },
    /// The config file cannot be read.
    #[error("cannot read config file {} (from {origin}): {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What named it: `--config` or `TOKENGATE_CONFIG`.
        origin: Source,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The config file is not TOML.
    #[error("{} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where and what, without quoting the line (it may hold a secret).
        message: String,
    },
    /// An environment variable of a setting is not UTF-8.
    #[error("environment variable {0} is not valid UTF-8")]
    NotUnicode(String),
}

fn suggestion(closest: &Option<&'static str>) -> String {
    closest.map_or_else(String::new, |key| format!(" (did you mean {key}?)"))
}
