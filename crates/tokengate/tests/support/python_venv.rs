//! A virtualenv of pinned PyPI packages under the cargo target dir, built
//! once and reused, and Python scripts run in it with JSON in and out: for
//! the tests that check tokengate against real Python libraries (the
//! library's `tests/python_interop.rs`: PyJWT and Flask-JWT-Extended; the
//! service's `tests/service/standards.rs`: Authlib). Each includes this
//! file with `#[path]`.
//!
//! It needs `python3` with the `venv` module and pip, and PyPI the first
//! time; without them a test fails, it never skips.
// Each including test uses what it needs of it.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// One virtualenv: its packages, pinned, and what proves it works.
pub(crate) struct Venv {
    /// The directory's name under the target dir, before the hash of the
    /// requirements (new pins, new venv).
    pub(crate) name: &'static str,
    /// `pip install` arguments: `Package==version`.
    pub(crate) requirements: &'static [&'static str],
    /// Python that runs without error in a complete venv (its imports).
    pub(crate) check: &'static str,
}

/// Written last into a venv whose install succeeded.
const MARKER: &str = "tokengate-interop-ready";

/// How long a process waits for another one building the venv.
const BUILD_WAIT: Duration = Duration::from_secs(15 * 60);

#[cfg(windows)]
const VENV_PYTHON: &str = "Scripts/python.exe";
#[cfg(not(windows))]
const VENV_PYTHON: &str = "bin/python";

/// FNV-1a, to name the venv after its requirements.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A process's status and output, for a failure's message.
pub(crate) fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A command with no Python settings leaking in from the environment.
pub(crate) fn python_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for var in ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"] {
        cmd.env_remove(var);
    }
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1");
    cmd
}

/// A directory removed (if it still exists) on drop.
pub(crate) struct RemoveDir(pub(crate) PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Venv {
    /// Whether `venv` is complete: the marker is there and the check runs.
    fn works(&self, venv: &Path) -> bool {
        venv.join(MARKER).is_file()
            && python_command(venv.join(VENV_PYTHON))
                .args(["-I", "-c", self.check])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Creates the venv in a private directory, installs, then renames it
    /// into place, so a venv at the final path is always complete. Losing
    /// the rename to another process is fine: its venv is used.
    fn build(&self, venv: &Path) {
        let base = venv.parent().expect("venv has a parent");
        let tmp = base.join(format!(
            "{}.tmp-{}",
            venv.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&tmp);
        // Removes a half-built venv if anything below panics; after the
        // rename there is nothing left to remove.
        let _cleanup = RemoveDir(tmp.clone());

        let version = python_command("python3").arg("--version").output();
        match &version {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`python3 --version` failed; the Python tests need Python 3 with venv and pip:\n{}",
                describe(out)
            ),
            Err(e) => panic!(
                "python3 not found ({e}); the Python tests need Python 3 with venv and pip \
                 (e.g. `apt-get install python3 python3-venv python3-pip`)"
            ),
        }

        let out = python_command("python3")
            .args(["-m", "venv"])
            .arg(&tmp)
            .output()
            .expect("run python3 -m venv");
        assert!(
            out.status.success(),
            "`python3 -m venv` failed (is the venv/ensurepip module installed? \
             on Debian: apt-get install python3-venv):\n{}",
            describe(&out)
        );

        let out = python_command(tmp.join(VENV_PYTHON))
            .args(["-m", "pip", "install", "--timeout", "60", "--retries", "3"])
            .args(self.requirements)
            .output()
            .expect("run pip install");
        assert!(
            out.status.success(),
            "pip install {} failed (is PyPI reachable?):\n{}",
            self.requirements.join(" "),
            describe(&out)
        );

        let freeze = python_command(tmp.join(VENV_PYTHON))
            .args(["-m", "pip", "freeze"])
            .output()
            .expect("run pip freeze");
        fs::write(tmp.join(MARKER), &freeze.stdout).expect("write the venv marker");
        assert!(
            self.works(&tmp),
            "the fresh venv at {} does not pass its check ({})",
            tmp.display(),
            self.check
        );

        if let Err(e) = fs::rename(&tmp, venv) {
            assert!(
                self.works(venv),
                "could not move the venv into place at {}: {e}",
                venv.display()
            );
        }
    }

    /// The venv's python, building the venv first if no working one exists.
    pub(crate) fn python(&self) -> PathBuf {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(base).expect("create CARGO_TARGET_TMPDIR");
        let name = format!("{}-{:016x}", self.name, fnv1a(&self.requirements.join(" ")));
        let venv = base.join(&name);
        let lock_path = base.join(format!("{name}.lock"));
        let deadline = Instant::now() + BUILD_WAIT;
        loop {
            if self.works(&venv) {
                return venv.join(VENV_PYTHON);
            }
            if let Some(_lock) = BuildLock::try_acquire(&lock_path) {
                if !self.works(&venv) {
                    // A venv at the final path that does not work is broken: replace it.
                    let _ = fs::remove_dir_all(&venv);
                    self.build(&venv);
                }
                assert!(
                    self.works(&venv),
                    "the venv at {} does not work",
                    venv.display()
                );
                return venv.join(VENV_PYTHON);
            }
            if BuildLock::is_stale(&lock_path) {
                let _ = fs::remove_file(&lock_path);
                continue;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for another process to build the venv (lock {})",
                lock_path.display()
            );
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// Runs `script` with the venv's python, `input` as JSON on stdin, and
    /// returns its stdout as JSON. Fails on any error, showing Python's output.
    pub(crate) fn run(&self, script: &str, input: &Value) -> Value {
        let python = self.python();
        let mut child = python_command(&python)
            .args(["-I", "-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .expect("write the script's input");
        let out = child.wait_with_output().expect("wait for python");
        assert!(
            out.status.success(),
            "the Python script failed:\n{}",
            describe(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the Python script printed no JSON ({e}):\n{}",
                describe(&out)
            )
        })
    }
}

/// A lock file held while one process builds the venv; removed on drop,
/// including when the build panics.
struct BuildLock(PathBuf);

impl BuildLock {
    fn try_acquire(path: &Path) -> Option<BuildLock> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .ok()?;
        let _ = write!(file, "{}", std::process::id());
        Some(BuildLock(path.to_owned()))
    }

    /// A lock left by a process that died without unwinding.
    fn is_stale(path: &Path) -> bool {
        let Ok(meta) = fs::metadata(path) else {
            return false;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > Duration::from_secs(10 * 60));
        let holder_gone = Path::new("/proc/self").exists()
            && fs::read_to_string(path)
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok())
                .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists());
        old || holder_gone
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
