//! The admin CLI: one `tokengate` command run to its end.

use std::io::Write;
use std::process::Stdio;

use super::{TestDir, binary};

/// What one admin command did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    #[track_caller]
    pub(crate) fn expect_success(self) -> Run {
        assert_eq!(self.code, 0, "{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self
    }
}

/// Runs `tokengate ARGS... --data-dir DIR` with `stdin` (and no inherited
/// `TOKENGATE_*` setting).
pub(crate) fn cli(dir: &TestDir, args: &[&str], stdin: &str) -> Run {
    cli_with_env(dir, args, stdin, &[])
}

/// [`cli`] with `TOKENGATE_*` settings.
pub(crate) fn cli_with_env(dir: &TestDir, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut child = binary::command(dir, args, env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tokengate");
    // The command may exit before reading stdin; a broken pipe is fine then.
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("wait for tokengate");
    Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
