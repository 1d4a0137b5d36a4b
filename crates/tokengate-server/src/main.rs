//! `tokengate`: the tokengate service and its command-line tools.
//!
//! `main` only parses the command line and dispatches; each area of the
//! command line lives in its own module under [`cli`].
//!
//! Exit codes: 0 success; 1 a token was refused (its error code, e.g.
//! `token_expired`, on stdout); 2 a usage or configuration error.

mod cli;
mod keyfile;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Token(command) => cli::token::run(command),
    };
    cli::exit(result)
}
