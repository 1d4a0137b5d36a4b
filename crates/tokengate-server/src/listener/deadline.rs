//! The bound on a request head, without a timer per request.
//!
//! A connection waiting for bytes with no request of its in flight is
//! waiting for a request head (its first, or the next after an answer): it
//! gets the timeout for it, counted from the connection's start or its
//! last answer. A request's head being complete clears the deadline until its
//! answer is done. One task for all connections, the [`Sweeper`], looks
//! at every connection each [`TICK`] and expires those past their
//! deadline; an expired connection's next read fails (`TimedOut`) and
//! hyper closes it. A head is cut between its time and two ticks later.
//!
//! hyper's own header read timeout did the same with a boxed tokio `Sleep`
//! put in the timer wheel and taken out again for every request, and one
//! more turn of its connection loop per request to start it: about 1,000
//! instructions, a seventh of what the service adds to a bare axum route
//! (BENCHMARKS.md, the plumbing). Here a request costs a few atomic
//! operations on its connection's own [`Watch`].
//!
//! The watches are also how a shutdown reaches the connections
//! ([`Sweeper::drain`]): each connection's future looks at one flag as it
//! is polled, where hyper-util's `GracefulShutdown` had every connection
//! poll a shared channel, whose lock both cores took at each turn of a
//! connection (2–3 % of a request's CPU, measured).
//!
//! What this bounds beyond hyper's timer: the time an answer takes to be
//! read by a client that reads slowly (the connection waits for the next
//! head meanwhile), and an HTTP/2 connection with no stream open (closed
//! after the timeout, as nginx closes idle HTTP/2 connections).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the sweeper looks at the connections.
const TICK: Duration = Duration::from_millis(250);

/// A deadline meaning "no head is awaited".
const NONE: u64 = 0;
/// A deadline meaning "the head's time is up".
const EXPIRED: u64 = u64::MAX;

/// The connections whose heads are awaited, the clock they read, and the
/// task that cuts the slow ones.
#[derive(Debug)]
pub(super) struct Sweeper {
    /// Milliseconds are counted from here (plus one: 0 is [`NONE`]).
    epoch: Instant,
    /// The time of the last tick, in those milliseconds: what connections
    /// read instead of the clock.
    now: AtomicU64,
    /// The time a head may take, in milliseconds, plus a tick (the clock
    /// above lags by up to one).
    allowance: u64,
    /// A connection's watch goes with the connection; its entry here at
    /// the next sweep.
    watches: Mutex<Vec<Weak<Watch>>>,
    /// Set when the service stops: each connection finishes the requests
    /// it has begun, then closes.
    draining: AtomicBool,
    /// The connections not yet ended (their watches alive).
    open: AtomicUsize,
    /// Told when the last of them ends.
    ended: tokio::sync::Notify,
}

impl Sweeper {
    /// The sweeper for heads that must arrive within `timeout`, and its
    /// task on the current runtime, which ends when the sweeper is
    /// dropped.
    pub(super) fn start(timeout: Duration) -> Arc<Sweeper> {
        let sweeper = Sweeper::new(timeout);
        let weak = Arc::downgrade(&sweeper);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(sweeper) = weak.upgrade() else {
                    return;
                };
                sweeper.sweep(Instant::now());
            }
        });
        sweeper
    }

    /// The sweeper, without its task.
    fn new(timeout: Duration) -> Arc<Sweeper> {
        Arc::new(Sweeper {
            epoch: Instant::now(),
            now: AtomicU64::new(1),
            allowance: millis(timeout + TICK),
            watches: Mutex::new(Vec::new()),
            draining: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            ended: tokio::sync::Notify::new(),
        })
    }

    /// Asks every connection to finish the requests it has begun and
    /// close (HTTP/1: no keep-alive; HTTP/2: `GOAWAY`), waking those that
    /// wait for a head; see [`Watch::drain_asked`].
    pub(super) fn drain(&self) {
        // Before the wakers are taken: a connection that stores its waker
        // after this finds the flag set ([`Watch::register`]).
        self.draining.store(true, Ordering::SeqCst);
        let watches: Vec<Arc<Watch>> = lock(&self.watches)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for watch in watches {
            if let Some(waker) = lock(&watch.waker).take() {
                waker.wake();
            }
        }
    }

    /// Returns once every connection has ended.
    pub(super) async fn ended(&self) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before the count is read: a last connection
            // ending in between still wakes this.
            ended.as_mut().enable();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            ended.await;
        }
    }

    /// The watch of a new connection, whose first head is awaited.
    pub(super) fn watch(self: &Arc<Self>) -> Arc<Watch> {
        self.open.fetch_add(1, Ordering::SeqCst);
        let watch = Arc::new(Watch {
            sweeper: self.clone(),
            deadline: AtomicU64::new(NONE),
            running: AtomicUsize::new(0),
            waker: Mutex::new(None),
            shutting: AtomicBool::new(false),
        });
        watch.arm();
        lock(&self.watches).push(Arc::downgrade(&watch));
        watch
    }

    /// Moves the clock to `now`, expires the heads due by then, wakes
    /// their connections, and forgets the connections that ended.
    fn sweep(&self, now: Instant) {
        let now = millis(now.saturating_duration_since(self.epoch));
        self.now.store(now, Ordering::Relaxed);
        lock(&self.watches).retain(|watch| {
            let Some(watch) = watch.upgrade() else {
                return false;
            };
            let deadline = watch.deadline.load(Ordering::Acquire);
            // Only the deadline seen: a head that arrived meanwhile keeps
            // its connection. Never while a request runs: an HTTP/2
            // stream's answer may re-arm the deadline as another begins
            // ([`Running`]).
            if deadline != NONE
                && watch.running.load(Ordering::Acquire) == 0
                && deadline != EXPIRED
                && deadline <= now
                && watch
                    .deadline
                    .compare_exchange(deadline, EXPIRED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                && let Some(waker) = lock(&watch.waker).take()
            {
                waker.wake();
            }
            true
        });
    }
}

/// One connection's deadline: what its reads, its requests and the
/// sweeper share.
#[derive(Debug)]
pub(super) struct Watch {
    sweeper: Arc<Sweeper>,
    /// The deadline of the awaited head, [`NONE`] or [`EXPIRED`].
    deadline: AtomicU64,
    /// The connection's requests whose answer is not done.
    running: AtomicUsize,
    /// The connection's task, as of its last poll ([`Watch::register`]).
    waker: Mutex<Option<Waker>>,
    /// The connection has been asked to close ([`Watch::drain_asked`]).
    shutting: AtomicBool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.sweeper.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.sweeper.ended.notify_waiters();
        }
    }
}

impl Watch {
    /// A request's head is complete: no deadline until its answer is done.
    /// The guard marks that.
    pub(super) fn started(self: &Arc<Self>) -> Running {
        self.running.fetch_add(1, Ordering::AcqRel);
        self.deadline.store(NONE, Ordering::Release);
        Running(self.clone())
    }

    /// Whether the connection is to close now, after the requests it has
    /// begun: true once, the first time it is asked after [`Sweeper::drain`].
    pub(super) fn drain_asked(&self) -> bool {
        self.sweeper.draining.load(Ordering::Relaxed) && !self.shutting.swap(true, Ordering::AcqRel)
    }

    /// Whether the head's time is up.
    fn expired(&self) -> bool {
        self.deadline.load(Ordering::Acquire) == EXPIRED
    }

    /// Starts the next head's time now, whatever was armed before (an
    /// HTTP/2 stream that began meanwhile may have left a deadline set),
    /// unless the time is already up.
    fn rearm(&self) {
        let deadline = self.sweeper.now.load(Ordering::Relaxed) + self.sweeper.allowance;
        let _ = self
            .deadline
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |armed| {
                (armed != EXPIRED).then_some(deadline)
            });
    }

    /// Starts the head's time, unless it runs already.
    fn arm(&self) {
        let deadline = self.sweeper.now.load(Ordering::Relaxed) + self.sweeper.allowance;
        let _ = self
            .deadline
            .compare_exchange(NONE, deadline, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// The connection's read waits for bytes: with no request running,
    /// that is for a head, whose time starts now if it has not already.
    /// Whether it is up.
    fn waiting(&self) -> bool {
        if self.running.load(Ordering::Acquire) > 0 {
            return false;
        }
        self.arm();
        self.expired()
    }

    /// Keeps the connection task's waker, for the sweeper to wake it when
    /// its head's time is up or the service stops: at each poll of the
    /// connection, before it reads ([`Watch::drain_asked`] after it).
    pub(super) fn register(&self, cx: &Context<'_>) {
        let mut waker = lock(&self.waker);
        match &mut *waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
    }

    /// A read of the connection: fails once the head's time is up.
    pub(super) fn poll_read<R>(
        &self,
        cx: &mut Context<'_>,
        read: impl FnOnce(&mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if self.expired() {
            return Poll::Ready(Err(timed_out()));
        }
        match read(cx) {
            Poll::Pending if self.waiting() => Poll::Ready(Err(timed_out())),
            polled => polled,
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the request head took too long")
}

/// A request of a connection whose answer is not done; see [`Watch::started`].
#[derive(Debug)]
pub(super) struct Running(Arc<Watch>);

impl Drop for Running {
    /// The last answer is done: the next head's time starts now, whether
    /// or not the connection reads again before bytes come (hyper may
    /// not).
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.rearm();
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's future, with the guard that holds its connection's
    /// deadline off until the answer is done (or the request dropped).
    pub(super) struct Answering<F> {
        #[pin]
        pub(super) answer: F,
        pub(super) running: Option<Running>,
    }
}

impl<F: std::future::Future> std::future::Future for Answering<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        this.running.take();
        Poll::Ready(answer)
    }
}

/// `duration` in whole milliseconds, rounded up, plus one (never [`NONE`]).
fn millis(duration: Duration) -> u64 {
    let ms = duration.as_millis() + u128::from(!duration.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(EXPIRED - 1).saturating_add(1)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A read with no bytes yet.
    fn pending(cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Pending
    }

    fn timed_out(polled: Poll<io::Result<()>>) -> bool {
        matches!(polled, Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut)
    }

    /// A sweeper of 10 s heads, to be swept by hand at made-up times,
    /// and a waker that counts its wakes.
    fn by_hand() -> (Arc<Sweeper>, Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(0.into()));
        let waker = Waker::from(counter.clone());
        (Sweeper::new(Duration::from_secs(10)), counter, waker)
    }

    #[test]
    fn a_head_is_cut_after_its_time_and_never_while_a_request_runs() {
        let (sweeper, counter, waker) = by_hand();
        let mut cx = Context::from_waker(&waker);
        let at = |secs: u64| sweeper.epoch + Duration::from_secs(secs);

        // The first head is awaited from the start: still in time at 10 s
        // (its time, plus the tick its clock may lag).
        let watch = sweeper.watch();
        watch.register(&cx);
        assert!(watch.poll_read(&mut cx, pending).is_pending());
        sweeper.sweep(at(10));
        assert!(watch.poll_read(&mut cx, pending).is_pending());
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);

        // The head arrives: no deadline while its request runs, however long.
        let running = watch.started();
        sweeper.sweep(at(100));
        assert!(watch.poll_read(&mut cx, pending).is_pending());
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);

        // The answer is done: the next head's time starts then.
        drop(running);
        assert!(watch.poll_read(&mut cx, pending).is_pending());
        sweeper.sweep(at(105));
        assert!(watch.poll_read(&mut cx, pending).is_pending());
        sweeper.sweep(at(111));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken when expired");
        assert!(timed_out(watch.poll_read(&mut cx, pending)));
        // Bytes that arrive too late change nothing.
        assert!(timed_out(watch.poll_read(&mut cx, |_| Poll::Ready(Ok(())))));

        // An ended connection is forgotten at the next sweep.
        assert_eq!(lock(&sweeper.watches).len(), 1);
        drop(watch);
        sweeper.sweep(at(112));
        assert!(lock(&sweeper.watches).is_empty());
    }

    /// An HTTP/2 stream's answer done as another stream begins can leave a
    /// deadline set while that one runs: it does not cut the connection,
    /// and the answer that ends the last stream starts the head's time
    /// afresh.
    #[test]
    fn a_deadline_left_armed_while_a_request_runs_does_not_cut_it() {
        let (sweeper, counter, waker) = by_hand();
        let mut cx = Context::from_waker(&waker);
        let at = |secs: u64| sweeper.epoch + Duration::from_secs(secs);
        let watch = sweeper.watch();
        watch.register(&cx);

        let running = watch.started();
        watch.rearm();
        sweeper.sweep(at(100));
        assert!(watch.poll_read(&mut cx, pending).is_pending());
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);

        drop(running);
        sweeper.sweep(at(105));
        assert!(watch.poll_read(&mut cx, pending).is_pending());
        sweeper.sweep(at(111));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken when expired");
        assert!(timed_out(watch.poll_read(&mut cx, pending)));
    }

    #[test]
    fn milliseconds_round_up_and_are_never_none() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_millis(5)), 6);
        assert_eq!(millis(Duration::from_micros(5_001)), 7);
    }
}
