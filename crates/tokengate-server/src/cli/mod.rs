//! The command line: one subcommand per area. `token` is here; `serve` and
//! the admin subcommands (`user`, `keys`, `revoke`) go beside it.

pub(crate) mod admin;
mod error;
pub(crate) mod serve;
mod stdio;
pub(crate) mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokengate::keys::Algorithm;

pub(crate) use error::CliError;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  `token verify`/`token decode` only: the token was refused; its error code
     (e.g. token_expired) is printed on stdout
  2  usage or configuration error (bad arguments, a bad setting, an unreadable
     key file, no database where the settings point, no such user, ...)";

/// JWT authentication service and tools. Without a subcommand: `serve`.
#[derive(Debug, Parser)]
#[command(name = "tokengate", version, after_help = EXIT_CODES, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Settings for the default `serve`.
    #[command(flatten)]
    pub(crate) serve: crate::config::ServeArgs,
}

/// The subcommands of `tokengate`.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the HTTP API (the default).
    Serve(crate::config::ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Revoke every token of a user.
    Revoke(admin::RevokeArgs),
    /// See and end users' sessions (logins).
    #[command(subcommand)]
    Sessions(admin::SessionsCommand),
    /// Manage the signing keys kept in the data directory.
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// Check the settings.
    #[command(subcommand)]
    Config(admin::ConfigCommand),
    /// Issue, decode and verify JWTs (a debugging tool for any JWT).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), for packagers.
    #[command(hide = true)]
    Man,
}

/// `tokengate completions SHELL`: the script on stdout.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    use clap::CommandFactory;
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "tokengate",
        &mut std::io::stdout(),
    );
    Ok(())
}

/// `tokengate man`: tokengate(1) on stdout.
pub(crate) fn man() -> Result<(), CliError> {
    use clap::CommandFactory;
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| CliError::Usage(format!("cannot write the man page: {e}")))
}

/// Turns a subcommand's result into the process exit code, printing the
/// error: a refused token's code on stdout and its message on stderr (exit
/// 1); any other error on stderr (exit 2).
pub(crate) fn exit(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let CliError::Token(token_err) = &err {
                // Nothing more can be reported if stdout is gone.
                let _ = stdio::print(token_err.code());
            }
            stdio::warn(format_args!("error: {err}"));
            ExitCode::from(err.exit_code())
        }
    }
}

/// Parses an `--alg` value: a JWS algorithm name, case-sensitive.
pub(crate) fn parse_alg(value: &str) -> Result<Algorithm, String> {
    value.parse().map_err(|_| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
        format!("expected one of {}", names.join(", "))
    })
}
