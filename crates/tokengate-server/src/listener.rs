//! The accept loop: one task per connection, HTTP/1 and HTTP/2 by hyper,
//! with the limits `axum::serve` does not set, and a graceful shutdown.
//!
//! `axum::serve` installs no timer in hyper, so hyper's header read timeout
//! stays inert: a client dribbling one header byte a second holds its
//! connection forever (slowloris). Here the timer is installed and the
//! request head must arrive within the request timeout; the rest of a
//! request (its body, the handler) is bounded by the router's own timeout.
//! The bound on a head is [`deadline`]'s, which costs a request no timer
//! of its own; HTTP/2's pings keep tokio's timer.

mod deadline;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

/// hyper's read buffer, which bounds a request head: above it hyper itself
/// answers 431 (with no body) and closes. Larger than the service's own
/// 16 KiB header limit, so that heads between the two get the service's
/// JSON 431; smaller than hyper's default (about 400 KiB), which would let
/// each slow connection hold that much memory.
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// How long a shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// connections finish their requests (at most [`DRAIN_TIMEOUT`]).
/// `head_timeout` bounds the time from a connection's first byte (or its
/// previous response) to the end of a request head.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    app: S,
    head_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    // No header read timeout in hyper: the deadline below does its work.
    builder.http1().max_buf_size(MAX_HEAD_BUFFER);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BUFFER as u32)
        // A peer that stops answering pings is dropped.
        .keep_alive_interval(Some(head_timeout))
        .keep_alive_timeout(head_timeout);
    let sweeper = deadline::Sweeper::start(head_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let watch = sweeper.watch();
        let watch_of_connection = watch.clone();
        let io = Lingering {
            stream: Some(stream),
            watch: watch.clone(),
        };
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            deadline::Answering {
                running: Some(watch.started()),
                answer: call(app.clone(), request.map(Body::new)),
            }
        });
        let connection = Drained {
            connection: builder
                .serve_connection_with_upgrades(TokioIo::new(io), service)
                .into_owned(),
            watch: watch_of_connection,
        };
        tokio::spawn(async move {
            // A connection's errors (a reset, a head timeout) are the peer's.
            if let Err(error) = connection.await {
                tracing::debug!(%peer, error = %error, "connection closed");
            }
        });
    }
    drop(listener);
    sweeper.drain();
    if tokio::time::timeout(DRAIN_TIMEOUT, sweeper.ended())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout: closing them");
    }
}

/// `app`'s answer to `request`: called at once when it is ready, as the
/// service's stack always is (axum's router is, and each of its layers asks
/// the one below), else once it is. A [`tower::util::Oneshot`] would move
/// the request's whole future into its own state, a copy of several
/// hundred bytes per request.
fn call<S>(mut app: S, request: Request) -> Call<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match app.poll_ready(&mut cx) {
        std::task::Poll::Ready(Ok(())) => Call::Now {
            answer: app.call(request),
        },
        std::task::Poll::Pending => Call::Later {
            answer: app.oneshot(request),
        },
    }
}

pin_project_lite::pin_project! {
    /// The future of [`call`].
    #[project = CallProjection]
    enum Call<S: Service<Request>> {
        Now { #[pin] answer: S::Future },
        Later { #[pin] answer: tower::util::Oneshot<S, Request> },
    }
}

impl<S> Future for Call<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.project() {
            CallProjection::Now { answer } => answer.poll(cx),
            CallProjection::Later { answer } => answer.poll(cx),
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection that closes when the service stops, after the requests
    /// it has begun ([`deadline::Sweeper::drain`]).
    struct Drained<C> {
        #[pin]
        connection: C,
        watch: Arc<deadline::Watch>,
    }
}

impl<C: GracefulConnection> Future for Drained<C> {
    type Output = C::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<C::Output> {
        let mut this = self.project();
        this.watch.register(cx);
        if this.watch.drain_asked() {
            this.connection.as_mut().graceful_shutdown();
        }
        this.connection.poll(cx)
    }
}

/// Most bytes read and dropped after hyper closes a connection.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// Longest wait for the peer to stop sending after hyper closes.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// A connection that is closed the way HTTP/1.1 asks (RFC 9112 §9.6, a
/// "lingering close"): when hyper is done with it while the peer is still
/// sending (a body refused by its Content-Length before it is read, a head
/// over [`MAX_HEAD_BUFFER`] answered 431), closing at once would make the
/// kernel reset the connection, and the reset discards the answer before
/// the client reads it: the client sees a broken pipe instead of the
/// service's 4xx. So the write side is shut and what the peer still sends
/// is read and dropped, at most [`LINGER_BYTES`] for [`LINGER_TIME`].
///
/// Its reads are also where a request head's deadline is kept
/// ([`deadline::Watch`]).
struct Lingering {
    stream: Option<tokio::net::TcpStream>,
    watch: Arc<deadline::Watch>,
}

impl Lingering {
    fn stream(self: std::pin::Pin<&mut Self>) -> std::pin::Pin<&mut tokio::net::TcpStream> {
        std::pin::Pin::new(
            self.get_mut()
                .stream
                .as_mut()
                .expect("the stream is only taken on drop"),
        )
    }
}

impl tokio::io::AsyncRead for Lingering {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let stream = this
            .stream
            .as_mut()
            .expect("the stream is only taken on drop");
        this.watch
            .poll_read(cx, |cx| std::pin::Pin::new(stream).poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for Lingering {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        // Without a runtime (shutting down) the stream just closes.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = stream.shutdown().await;
            let mut buf = vec![0u8; 16 * 1024];
            let mut left = LINGER_BYTES;
            let _ = tokio::time::timeout(LINGER_TIME, async {
                while left > 0 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => left = left.saturating_sub(n),
                    }
                }
            })
            .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(head_timeout: Duration) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let app = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(serve(listener, app, head_timeout, async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// A new connection to `addr` that has sent `request`.
    async fn send(addr: SocketAddr, request: &[u8]) -> tokio::net::TcpStream {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        stream
    }

    #[tokio::test]
    async fn answers_with_the_peer_address() {
        let (addr, _stop) = start(Duration::from_secs(5)).await;
        let mut stream = send(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("127.0.0.1"), "{response}");
    }

    /// The body of the HTTP/2 requests of these tests: none.
    type Empty = http_body_util::Empty<axum::body::Bytes>;

    /// An HTTP/2 connection to `addr`, driven by a task of its own, which
    /// ends when the connection closes.
    async fn http2(
        addr: SocketAddr,
    ) -> (
        hyper::client::conn::http2::SendRequest<Empty>,
        tokio::task::JoinHandle<hyper::Result<()>>,
    ) {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        (sender, tokio::spawn(connection))
    }

    /// A `GET` of `path` on `addr`, without a body.
    fn get_of(addr: SocketAddr, path: &str) -> http::Request<Empty> {
        http::Request::get(format!("http://{addr}{path}"))
            .body(Empty::new())
            .unwrap()
    }

    /// Reads one response of `stream` (its head, and the `Content-Length`
    /// bytes of body).
    async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
        let mut response = Vec::new();
        let mut byte = [0u8; 1];
        while !response.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed mid-head");
            response.push(byte[0]);
        }
        let head = String::from_utf8(response).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.unwrap();
        head
    }

    #[tokio::test]
    async fn a_kept_alive_connection_lives_while_heads_arrive_in_time_and_not_after() {
        let (addr, _stop) = start(Duration::from_secs(1)).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Five requests 400 ms apart: 2 s on one connection, each head in time.
        for _ in 0..5 {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let head = read_response(&mut stream).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        // Then a head that does not come: closed (after the timeout and the
        // sweeper's tick), not kept, and not answered as a request.
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "the connection outlived 20 s of an unfinished head"
        );
        let rest = String::from_utf8_lossy(&rest);
        assert!(!rest.contains("200 OK"), "{rest}");
    }

    #[tokio::test]
    async fn answers_http2_and_closes_a_connection_left_idle() {
        use http_body_util::BodyExt;
        let (addr, _stop) = start(Duration::from_secs(1)).await;
        let (mut sender, connection) = http2(addr).await;
        // Three requests 400 ms apart: more than the timeout in all.
        for _ in 0..3 {
            let response = sender.send_request(get_of(addr, "/")).await.unwrap();
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "127.0.0.1");
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        // Then no stream: the server closes the connection.
        let closed = tokio::time::timeout(Duration::from_secs(20), connection).await;
        assert!(closed.is_ok(), "an idle HTTP/2 connection outlived 20 s");
    }

    /// An HTTP/1.1 connection left idle after an answer is closed once the
    /// timeout has run from that answer.
    #[tokio::test]
    async fn closes_an_http1_connection_left_idle_after_an_answer() {
        let (addr, _stop) = start(Duration::from_secs(1)).await;
        let mut stream = send(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let head = read_response(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(0))),
            "an idle connection outlived 20 s: {read:?}"
        );
    }

    /// A shutdown lets the request in flight finish with its whole answer
    /// and then closes its connection; an idle kept-alive connection
    /// (HTTP/1.1 and HTTP/2) is closed at once; and `serve` returns when
    /// they are gone, long before the drain timeout.
    #[tokio::test]
    async fn a_shutdown_finishes_the_requests_in_flight_and_closes_the_rest() {
        let (release, released) = tokio::sync::watch::channel(false);
        let (entered, mut arrived) = tokio::sync::mpsc::unbounded_channel();
        let app = Router::new().route(
            "/slow",
            get(move || {
                let mut released = released.clone();
                let entered = entered.clone();
                async move {
                    let _ = entered.send(());
                    let _ = released.wait_for(|go| *go).await;
                    "done"
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, app, Duration::from_secs(60), async {
            let _ = stopped.await;
        }));

        // A request in flight, an idle HTTP/1.1 connection, an idle HTTP/2 one.
        let mut busy = send(addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
        arrived.recv().await.unwrap();
        let mut idle = send(addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let head = read_response(&mut idle).await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        let (mut sender, h2_connection) = http2(addr).await;
        let answer = sender.send_request(get_of(addr, "/nope")).await.unwrap();
        assert_eq!(answer.status(), 404);

        stop.send(()).unwrap();
        let within = Duration::from_secs(10);
        let mut rest = Vec::new();
        let read = tokio::time::timeout(within, idle.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(0))),
            "the idle HTTP/1.1 connection stayed open: {read:?}"
        );
        let closed = tokio::time::timeout(within, h2_connection).await;
        assert!(closed.is_ok(), "the idle HTTP/2 connection stayed open");
        assert!(!served.is_finished(), "returned with a request in flight");

        // The request in flight is answered in full; then its connection closes.
        release.send(true).unwrap();
        let mut answer = String::new();
        let read = tokio::time::timeout(within, busy.read_to_string(&mut answer)).await;
        assert!(
            read.is_ok(),
            "the busy connection stayed open after its answer"
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        tokio::time::timeout(within, served)
            .await
            .expect("serve returned once the connections were gone")
            .unwrap();
    }

    #[tokio::test]
    async fn drops_a_head_that_dribbles_in() {
        let (addr, _stop) = start(Duration::from_secs(1)).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // One byte every 200 ms: the head is never complete; after the
        // timeout the server closes (it may first answer 408).
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut closed = false;
        for byte in head.iter().chain(std::iter::repeat(&b'a')).take(100) {
            if stream.write_all(&[*byte]).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(_)) | Err(_) => {}
            }
        }
        assert!(closed, "the connection outlived 20 s of a dribbled head");
    }
}
