//! The binary under test, and how every process of it is started.

use std::process::Command;

use super::TestDir;

/// The binary under test (unless a [`TestDir`] names another).
pub(super) const BIN: &str = env!("CARGO_BIN_EXE_tokengate");

/// `tokengate ARGS... --data-dir DIR` in `dir`, with `env` and `dir`'s
/// database. Every `TOKENGATE_*` variable inherited from the test runner is
/// removed, so that only what a test sets reaches the binary.
pub(super) fn command(dir: &TestDir, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(&dir.binary);
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir.data())
        .current_dir(&dir.root);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TOKENGATE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info");
    // Tests register many users from one address; the limit's own tests
    // set it back (a test's variables come after these).
    cmd.env("TOKENGATE_REGISTRATION_RATE", "1000000/min");
    cmd.envs(dir.env(env));
    cmd
}
