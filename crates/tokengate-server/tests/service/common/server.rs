//! [`Server`]: a running `tokengate` process, started, stopped and killed,
//! and its log.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{Api, TestDir, binary, first_line};

/// How long the binary may take to print its address (a debug build on a
/// busy machine generates a key and migrates a database first).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A port of 127.0.0.1 that was free a moment ago (bound to port 0, read,
/// released), for [`Server::start_on`]. Another process could take it in
/// between; on a test machine that is rare enough.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a local address").port()
}

/// A running `tokengate` process; killed on drop (its log is printed if the
/// test is failing).
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
    api: Api,
}

impl Server {
    /// Starts `tokengate --listen 127.0.0.1:0 --data-dir DIR` with `env`
    /// (`TOKENGATE_*` settings) and waits for its address on stdout.
    pub(crate) fn start(dir: &TestDir, env: &[(&str, &str)]) -> Server {
        Server::start_on(dir, "127.0.0.1:0", env)
    }

    /// [`Server::start`] with `--listen LISTEN`: for a test that must know
    /// the address before the server starts (an OpenID provider registers
    /// tokengate's callback URL first). See [`free_port`].
    pub(crate) fn start_on(dir: &TestDir, listen: &str, env: &[(&str, &str)]) -> Server {
        let log = dir.next_log();
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let on_postgres = dir
            .env(env)
            .iter()
            .any(|(key, url)| *key == "TOKENGATE_DATABASE_URL" && url.starts_with("postgres"));
        let mut child = binary::command(dir, &["--listen", listen], env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start tokengate");

        let stdout = child.stdout.take().expect("piped stdout");
        let addr = first_line(stdout, |line| {
            line.strip_prefix("tokengate listening on http://")
                .map(|addr| addr.trim().to_owned())
        });
        let addr = match addr.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "tokengate did not print its address ({e}; {status:?}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let server = Server {
            child,
            log,
            api: Api::new(format!("http://{addr}")),
        };
        if on_postgres {
            // A PostgreSQL run that quietly used SQLite would prove nothing.
            let sqlite = std::fs::read_dir(dir.data())
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .find(|e| e.file_name().to_string_lossy().contains(".db"));
            assert!(
                sqlite.is_none(),
                "on PostgreSQL, yet a SQLite file in the data directory: {sqlite:?}"
            );
        }
        server
    }

    /// The HTTP client of this server.
    pub(crate) fn api(&self) -> &Api {
        &self.api
    }

    /// What the server wrote to stderr so far: its lines reach the file in
    /// batches, up to 50 ms after they are logged (warnings and errors at
    /// once); [`Server::stop`] gives every line.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server (SIGTERM, which it must survive cleanly) and
    /// returns its whole log: every line it logged, written as it stopped.
    pub(crate) fn stop(self) -> String {
        let log = self.log.clone();
        let status = self.terminate();
        assert!(status.success(), "tokengate exited with {status:?}");
        std::fs::read_to_string(log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {pid}: {kill:?}");
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("wait for tokengate") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "tokengate did not exit after SIGTERM; its log:\n{}",
            self.log()
        );
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown at all, as
    /// when the process crashes or its machine dies.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL tokengate");
        self.child.wait().expect("wait for tokengate");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- tokengate log (last lines) ----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}
