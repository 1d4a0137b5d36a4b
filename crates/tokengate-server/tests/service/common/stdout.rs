//! Reading a child process's stdout for one line, without letting its pipe
//! fill.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;

/// Reads `stdout` on a thread of its own until it closes, and sends the
/// first line that `wanted` maps to `Some`. Keeps draining after that line
/// so that the pipe never fills.
pub(crate) fn first_line(
    stdout: impl Read + Send + 'static,
    wanted: impl Fn(&str) -> Option<String> + Send + 'static,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(found) = wanted(&line)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(found);
            }
        }
    });
    rx
}
