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
//!
//! Each thread gathers its own lines: one buffer for every thread was a
//! lock and a few cache lines that both cores wrote for every request. A
//! thread's lines keep their order; lines of different threads are in
//! the order of their batches, as the lines of nginx's workers are (each
//! line names its time).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// A thread's lines waiting beyond this many bytes are written at once.
pub(crate) const FULL: usize = 16 * 1024;
/// The longest a line waits.
pub(crate) const DELAY: Duration = Duration::from_millis(50);

/// One thread's lines waiting, in order. Locked by its thread for each
/// line, and by others only to write them out: a lock word that stays in
/// its core's cache.
type Waiting = Arc<Mutex<Vec<u8>>>;

/// Every thread's waiting lines, for [`flush`].
static EVERY_THREAD: Mutex<Vec<Waiting>> = Mutex::new(Vec::new());

/// The batch being written: it leaves its thread's lines first, so that
/// the thread adds lines while it is written (a pipe to a slow reader can
/// block), and this lock is held while it is written, so that batches are
/// written whole and a thread's batches in order.
static WRITING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Some line waits for the writer thread, and its wake-up call.
static PENDING: Mutex<bool> = Mutex::new(false);
static ARRIVED: Condvar = Condvar::new();

thread_local! {
    static MINE: Mine = Mine::register();
}

/// This thread's waiting lines, registered in [`EVERY_THREAD`] while the
/// thread lives: a thread that ends writes its lines and leaves.
struct Mine(Waiting);

impl Mine {
    fn register() -> Mine {
        let waiting = Waiting::default();
        lock(&EVERY_THREAD).push(waiting.clone());
        Mine(waiting)
    }
}

impl Drop for Mine {
    fn drop(&mut self) {
        write_out(lock(&self.0));
        lock(&EVERY_THREAD).retain(|other| !Arc::ptr_eq(other, &self.0));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

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
                    let mut pending = ARRIVED
                        .wait_while(lock(&PENDING), |pending| !*pending)
                        .unwrap_or_else(PoisonError::into_inner);
                    *pending = false;
                    drop(pending);
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
        let added = MINE.try_with(|mine| {
            let mut lines = lock(&mine.0);
            let first = lines.is_empty();
            lines.extend_from_slice(bytes);
            if self.urgent {
                drop(lines);
                // Every thread's lines before this one, this one among them.
                flush();
            } else if lines.len() >= FULL {
                write_out(lines);
            } else if first {
                drop(lines);
                *lock(&PENDING) = true;
                ARRIVED.notify_one();
            }
        });
        if added.is_err() {
            // The thread is ending (its lines are written): this one at once.
            let mut writing = lock(&WRITING);
            writing.extend_from_slice(bytes);
            write_batch(&mut writing);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes every thread's waiting lines now: when the service stops, and
/// after its start lines.
pub(crate) fn flush() {
    let threads = lock(&EVERY_THREAD).clone();
    for waiting in &threads {
        write_out(lock(waiting));
    }
}

/// Writes a thread's waiting lines to stderr, after the batch before
/// them, and empties them: they are swapped with the emptied buffer of the
/// last batch, and written once the thread's lock is released.
fn write_out(mut waiting: MutexGuard<'_, Vec<u8>>) {
    if waiting.is_empty() {
        return;
    }
    // Taken before `waiting` is released: no later batch of the thread
    // can go first. (No one holding this lock waits for a thread's.)
    let mut writing = lock(&WRITING);
    std::mem::swap(&mut *waiting, &mut *writing);
    drop(waiting);
    write_batch(&mut writing);
}

/// Writes `batch` to stderr and empties it.
fn write_batch(batch: &mut Vec<u8>) {
    // Nowhere to report a failure to write the log: as tracing-subscriber
    // does, the lines are dropped.
    let _ = io::stderr().write_all(batch);
    batch.clear();
    // A very long line does not keep its memory.
    if batch.capacity() > 4 * FULL {
        batch.shrink_to(FULL);
    }
}
