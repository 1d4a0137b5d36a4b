//! The tokengate service and its command-line tools, as a library so that
//! the fuzz targets (`fuzz/`) can drive the service's router in-process.
//! Nothing here is a public API: the binary `tokengate` is the product, and
//! [`run`] is its `main`.
//!
//! Exit codes: 0 success; 1 a token was refused (its error code, e.g.
//! `token_expired`, on stdout); 2 a usage or configuration error.

mod cli;
#[cfg(feature = "redis")]
mod cluster;
mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod key_import;
mod keystore;
mod listener;
mod logs;
mod runtime;
mod service;
mod storage;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// The `tokengate` command: parses the command line and dispatches; each
/// area of the command line lives in its own module under `cli`.
#[doc(hidden)]
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => cli::serve::run(&cli.serve.config_args()),
        Some(Command::Serve(args)) => cli::serve::run(&args.config_args()),
        Some(Command::User(command)) => cli::admin::user(command),
        Some(Command::Revoke(args)) => cli::admin::revoke(args),
        Some(Command::Sessions(command)) => cli::admin::sessions(command),
        Some(Command::Keys(command)) => cli::admin::keys(command),
        Some(Command::Config(command)) => cli::admin::config(command),
        Some(Command::Token(command)) => cli::token::run(command),
        Some(Command::Completions { shell }) => cli::completions(shell),
        Some(Command::Man) => cli::man(),
    };
    cli::exit(result)
}
