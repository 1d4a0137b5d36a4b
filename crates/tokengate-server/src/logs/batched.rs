//! Log lines on their way to stderr, written in batches.
//!
//! Writing each line with a `write(2)` of its own cost about 2 µs of a
//! request under load (stderr's lock and the system call), more than
//! formatting the line (BENCHMARKS.md, the plumbing). So the service's
//! lines are gathered in memory and written when [`FULL`] bytes wait,
//! [`DELAY`] after the first of them, at once with a warning or an error
//! (and every line before it), and when the service stops ([`flush`]), as
//! Envoy batches its file access log. A crash (SIGKILL, an abort) loses at
//! most the lines of the last [`DELAY`].

use std::io::{self, Write};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Lines waiting beyond this many bytes are written at once.
pub(crate) const FULL: usize = 16 * 1024;
/// The longest a line waits.
pub(crate) const DELAY: Duration = Duration::from_millis(50);

/// The lines waiting, in order, and the flusher's wake-up call.
static WAITING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// The batch being written: it leaves [`WAITING`] first, so that requests
/// add lines while it is written (a pipe to a slow reader can block), and
/// this lock is held while it is written, so that batches keep their order.
static WRITING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static ARRIVED: Condvar = Condvar::new();

/// The `MakeWriter` of the service's lines; see the module's documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batched {
    /// No thread to write the lines later: each is written at once.
    at_once: bool,
}

impl Batched {
    /// Starts the thread that writes lines [`DELAY`] after they arrive:
    /// once, before the first line.
    pub(crate) fn start() -> Batched {
        let started = std::thread::Builder::new()
            .name("tokengate-logs".into())
            .spawn(|| {
                loop {
                    // Asleep while nothing waits: an idle service wakes no one.
                    drop(
                        ARRIVED
                            .wait_while(waiting(), |lines| lines.is_empty())
                            .unwrap_or_else(PoisonError::into_inner),
                    );
                    std::thread::sleep(DELAY);
                    flush();
                }
            });
        Batched {
            at_once: started.is_err(),
        }
    }
}

impl Batched {
    /// Every line written at once (a terminal: a person reading).
    pub(crate) fn at_once() -> Batched {
        Batched { at_once: true }
    }

    /// A line's writer: `urgent` (a warning or an error) is written at
    /// once, after the lines before it.
    pub(crate) fn line(&self, urgent: bool) -> Line {
        Line {
            urgent: self.at_once || urgent,
        }
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { urgent: true }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        self.line(*meta.level() <= Level::WARN)
    }
}

/// One line (tracing-subscriber writes each with one `write_all`).
#[derive(Debug)]
pub(crate) struct Line {
    /// A warning or an error: written at once, after the lines before it.
    urgent: bool,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut lines = waiting();
        let first = lines.is_empty();
        lines.extend_from_slice(bytes);
        if self.urgent || lines.len() >= FULL {
            write_out(lines);
        } else if first {
            drop(lines);
            ARRIVED.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes every waiting line now: when the service stops, and after its
/// start lines.
pub(crate) fn flush() {
    let lines = waiting();
    if !lines.is_empty() {
        write_out(lines);
    }
}

fn waiting() -> MutexGuard<'static, Vec<u8>> {
    WAITING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes the waiting lines to stderr, after the batch before them, and
/// empties them: they are swapped with the emptied buffer of the last
/// batch, and written once the waiting lines' lock is released.
fn write_out(mut waiting: MutexGuard<'static, Vec<u8>>) {
    // Taken before `waiting` is released: no later batch can go first.
    // (No one holding this lock waits for the other.)
    let mut writing = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::swap(&mut *waiting, &mut *writing);
    drop(waiting);
    // Nowhere to report a failure to write the log: as tracing-subscriber
    // does, the lines are dropped.
    let _ = io::stderr().write_all(&writing);
    writing.clear();
    // A very long line does not keep its memory.
    if writing.capacity() > 4 * FULL {
        writing.shrink_to(FULL);
    }
}
