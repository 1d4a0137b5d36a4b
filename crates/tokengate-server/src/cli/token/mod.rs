//! `tokengate token`: issue, decode and verify JWTs from the command line.
//!
//! A debugging tool for any JWT, not only tokengate's own: `verify` requires
//! only a valid signature and an unexpired `exp` (plus `iss`/`aud` when asked).

mod decode;
mod issue;
mod verify;

use clap::Subcommand;

use super::CliError;

/// How key files are read; shared by the `--help` of `issue` and `verify`.
const KEY_FILES: &str = "\
Key files (--key FILE):
  PEM     a private key (PKCS#8, PKCS#1 RSA or SEC1 EC) or, for verify, a public
          key; --alg defaults to the key's own algorithm: ES256, ES384, ES512,
          EdDSA, or RS256 for RSA keys (pass --alg RS384, RS512, PS256, PS384 or
          PS512 for those)
  JWK     a JSON Web Key (for issue, a private EC, OKP or oct one); --alg
          defaults to its \"alg\", then to its curve's algorithm
  secret  with --alg HS256, HS384 or HS512, any other file is the raw HMAC
          secret: its bytes exactly, a trailing newline included (at least 32
          bytes). Make one with `head -c 32 /dev/urandom > secret` or
          `printf %s \"$SECRET\" > secret`. A PEM file is never used as a secret.";

/// The `token` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Sign a new token and print it.
    #[command(after_long_help = KEY_FILES)]
    Issue(issue::IssueArgs),
    /// Print a token's header and payload WITHOUT verifying it.
    Decode(decode::DecodeArgs),
    /// Verify a token's signature and claims, and print its payload.
    #[command(after_long_help = KEY_FILES)]
    Verify(verify::VerifyArgs),
}

/// Runs a `token` subcommand.
pub(crate) fn run(command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::Issue(args) => issue::run(args),
        TokenCommand::Decode(args) => decode::run(args),
        TokenCommand::Verify(args) => verify::run(args),
    }
}

/// Prints a key-loading note on stderr.
fn warn_key(message: String) {
    super::stdio::warn(format_args!("warning: {message}"));
}
