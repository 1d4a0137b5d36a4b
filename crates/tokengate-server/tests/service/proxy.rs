//! A TCP fault proxy: makes PostgreSQL or Redis unreachable for one
//! instance while the shared servers keep serving the tests that run beside
//! it.
//!
//! Plain threads, not tokio tasks: tests block their runtime's thread while
//! a server starts or the CLI runs, and the proxy must keep forwarding then.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

/// Forwards every connection made to [`FaultProxy::addr`] to the upstream,
/// until [`FaultProxy::cut`].
pub(crate) struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: SocketAddr,
    stopped: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cut: bool,
    /// Both sockets of every live connection, to shut them down on a cut.
    live: Vec<(u64, TcpStream, TcpStream)>,
    next_id: u64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A forwarding thread never panics while holding the lock; recover anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`.
    pub(crate) fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream,
            stopped: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        });
        let accepting = shared.clone();
        thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || accept_loop(listener, accepting))
            .expect("start the fault proxy");
        FaultProxy { addr, shared }
    }

    /// Where clients connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Drops every live connection, and from now on closes each new one as
    /// soon as it is accepted: the upstream looks down to the client (a
    /// reset or end of stream at once, not a hang).
    pub(crate) fn cut(&self) {
        let live = {
            let mut state = self.shared.state();
            state.cut = true;
            std::mem::take(&mut state.live)
        };
        for (_, client, upstream) in live {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }

    /// Forwards new connections again.
    pub(crate) fn restore(&self) {
        self.shared.state().cut = false;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.cut();
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `stopped` and ends.
        let _ = TcpStream::connect(self.addr);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if shared.state().cut {
            // Accept, then close: dropping the socket does it.
            continue;
        }
        let shared = shared.clone();
        // Connecting upstream may take a moment; the accept loop goes on.
        thread::spawn(move || connect(client, shared));
    }
}

/// Connects `client` to the upstream and forwards both ways until either
/// side closes or the proxy is cut.
fn connect(client: TcpStream, shared: Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect(shared.upstream) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client_read), Ok(upstream_read)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let id = {
        let mut state = shared.state();
        // Checked under the lock that `cut` takes: a connection is either
        // registered before a cut (and shut down by it) or refused here.
        if state.cut {
            return;
        }
        let (Ok(c), Ok(u)) = (client.try_clone(), upstream.try_clone()) else {
            return;
        };
        state.next_id += 1;
        let id = state.next_id;
        state.live.push((id, c, u));
        id
    };
    let backward = thread::spawn(move || pipe(upstream_read, client));
    pipe(client_read, upstream);
    let _ = backward.join();
    shared.state().live.retain(|(live, _, _)| *live != id);
}

/// Copies `from` to `to` until the end of `from`, then passes the end on
/// (a half-close, as the client did). Any error ends both directions.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::thread;
    use std::time::Duration;

    use super::FaultProxy;

    /// An echo server: each connection gets back what it sends, line by line.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { return };
                        if writeln!(writer, "{line}").is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn connect(proxy: &FaultProxy) -> TcpStream {
        let stream = TcpStream::connect(proxy.addr()).unwrap();
        // A proxy that hangs instead of cutting fails the test, not the run.
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Sends a line and reads the answer; `None` if the connection is gone.
    fn echo(stream: &mut TcpStream, line: &str) -> Option<String> {
        writeln!(stream, "{line}").ok()?;
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut answer = String::new();
        match reader.read_line(&mut answer) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(answer.trim_end().to_owned()),
        }
    }

    /// The connection is closed: reading ends (end of stream or reset)
    /// rather than timing out.
    fn assert_closed(stream: &mut TcpStream) {
        let mut buf = [0u8; 16];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("read {n} bytes from a cut connection"),
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the cut connection hangs: {e}"
            ),
        }
    }

    #[test]
    fn forwards_both_ways_and_many_connections() {
        let proxy = FaultProxy::start(echo_server());
        let mut first = connect(&proxy);
        let mut second = connect(&proxy);
        assert_eq!(echo(&mut first, "one").as_deref(), Some("one"));
        assert_eq!(echo(&mut second, "two").as_deref(), Some("two"));
        // Larger than one read buffer.
        let long = "x".repeat(100_000);
        assert_eq!(echo(&mut first, &long).as_deref(), Some(long.as_str()));
    }

    #[test]
    fn cut_drops_live_connections_and_refuses_new_ones_until_restored() {
        let proxy = FaultProxy::start(echo_server());
        let mut live = connect(&proxy);
        assert_eq!(echo(&mut live, "before").as_deref(), Some("before"));

        proxy.cut();
        assert_closed(&mut live);
        for _ in 0..3 {
            // Accepted (the port stays open), then closed at once.
            let mut refused = connect(&proxy);
            let _ = writeln!(refused, "hello");
            assert_closed(&mut refused);
        }

        proxy.restore();
        let mut again = connect(&proxy);
        assert_eq!(echo(&mut again, "after").as_deref(), Some("after"));
        // A connection cut earlier stays dead.
        assert_eq!(echo(&mut live, "late"), None);

        // Cut and restore again: the proxy is reusable.
        proxy.cut();
        assert_closed(&mut again);
        proxy.restore();
        let mut third = connect(&proxy);
        assert_eq!(echo(&mut third, "third").as_deref(), Some("third"));
    }

    #[test]
    fn an_upstream_that_is_down_closes_the_client() {
        // A port that nothing listens on (bound, then released).
        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = FaultProxy::start(dead);
        let mut stream = connect(&proxy);
        assert_closed(&mut stream);
    }
}
