//! The errors of the command line and their exit codes.

use crate::key_import::KeyFileError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The token was refused (exit 1; its code goes to stdout).
    #[error(transparent)]
    Token(#[from] tokengate::Error),
    /// A key file that cannot be read or used (exit 2).
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// Arguments that do not fit together, or an input that cannot be read (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A setting that cannot be used (exit 2).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The database or keys cannot be opened (exit 2).
    #[error(transparent)]
    Start(#[from] crate::runtime::StartError),
    /// The key directory cannot be used (exit 2).
    #[error(transparent)]
    Keys(#[from] crate::keystore::KeyStoreError),
}

impl CliError {
    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Token(_) => 1,
            CliError::KeyFile(_)
            | CliError::Usage(_)
            | CliError::Config(_)
            | CliError::Start(_)
            | CliError::Keys(_) => 2,
        }
    }
}
