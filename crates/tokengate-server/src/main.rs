//! `tokengate`: the tokengate service and its command-line tools.
//!
//! `main` only parses the command line and dispatches; each area of the
//! command line lives in its own module under [`cli`].
//!
//! Exit codes: 0 success; 1 a token was refused (its error code, e.g.
//! `token_expired`, on stdout); 2 a usage or configuration error.

mod cli;
#[cfg(feature = "redis")]
mod cluster;
mod config;
mod keyfile;
mod keystore;
mod runtime;
mod service;
mod storage;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => cli::serve::run(&cli.serve),
        Some(Command::Serve(args)) => cli::serve::run(&args),
        Some(Command::User(command)) => cli::admin::user(command),
        Some(Command::Revoke(args)) => cli::admin::revoke(args),
        Some(Command::Keys(command)) => cli::admin::keys(command),
        Some(Command::Token(command)) => cli::token::run(command),
    };
    cli::exit(result)
}
