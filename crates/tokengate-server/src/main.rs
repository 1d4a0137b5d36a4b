//! `tokengate`: the tokengate service and its command-line tools (the code
//! is in the crate's library, `tokengate_server`).

fn main() -> std::process::ExitCode {
    tokengate_server::run()
}
