//! Reading tokens and writing results, with bounded input and no panic on a
//! closed stdout.

use std::fmt;
use std::io::{self, Read, Write};
use tokengate::TokenRejection;

use serde_json::Value;
use tokengate::{Error, MAX_TOKEN_LEN};

use super::CliError;

/// The token of a `TOKEN` argument: the argument itself, or standard input
/// when it is `-`. Surrounding whitespace is dropped; more than
/// [`MAX_TOKEN_LEN`] bytes is refused without reading further.
pub(crate) fn read_token(arg: &str) -> Result<String, CliError> {
    let token = if arg == "-" {
        read_stdin()?
    } else {
        arg.to_owned()
    };
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::Token(TokenRejection::Invalid("token is too large")).into());
    }
    Ok(token.to_owned())
}

fn read_stdin() -> Result<String, CliError> {
    // Room for a maximal token plus generous surrounding whitespace.
    let limit = 2 * MAX_TOKEN_LEN;
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Usage(format!("cannot read the token from standard input: {e}")))?;
    if bytes.len() > limit {
        return Err(Error::Token(TokenRejection::Invalid("token is too large")).into());
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::Token(TokenRejection::Invalid("malformed token")).into())
}

/// Writes a line to stdout. A closed pipe (`| head`) is not an error.
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    match writeln!(io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(CliError::Usage(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

/// Writes a JSON value to stdout, pretty-printed.
pub(crate) fn print_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Usage(format!("cannot format JSON: {e}")))?;
    print(&text)
}

/// Writes a line to stderr, ignoring a closed stderr.
pub(crate) fn warn(message: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{message}");
}
