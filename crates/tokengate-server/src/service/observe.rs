//! What the service observes of each request: its id, its span, its
//! access line, and its count and time in the metrics.
//!
//! Every request gets an id, taken from a trusted proxy's `X-Request-Id` or
//! made here, echoed in the response's `X-Request-Id` and named by every
//! log line of the request (as the field of a `request` span; kept in a
//! task-local, [`crate::logs::within_request`]); one line per request
//! unless `access_log = false`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method, Uri};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::metrics;
use crate::config::{IpNetwork, Settings};
use crate::logs::{self, AccessLine};

/// Gives each request an id, runs it as that request's (so every log line
/// of the request names it), echoes the id in `X-Request-Id`,
/// counts and times it ([`metrics::count_request`]) and logs one line per
/// request unless `access_log = false`: method, path (never the query,
/// which may hold a token), status and time. Headers and bodies are never
/// logged.
///
/// One layer and one future for the four, not boxed: each layer of the
/// router boxed a future per request, and each read the clock
/// (BENCHMARKS.md, the plumbing). Around the router, not inside it: the
/// route's pattern is looked up in [`RoutePatterns`].
///
/// It keeps what it reads of the settings, not the settings' `Arc`: the
/// listener clones the service for every request, and a shared reference
/// count is a cache line both cores write; with no trusted proxy (the
/// default) nothing here is shared.
#[derive(Debug, Clone)]
pub(super) struct ObserveRequests {
    access_log: bool,
    trusted_proxies: Option<Arc<[IpNetwork]>>,
    routes: &'static RoutePatterns,
}

impl ObserveRequests {
    /// The layer, with the service's settings (`access_log`,
    /// `trusted_proxies`) and the router's route patterns.
    pub(super) fn new(settings: &Settings, routes: RoutePatterns) -> Self {
        let proxies = &settings.trusted_proxies;
        Self {
            access_log: settings.access_log,
            trusted_proxies: (!proxies.is_empty()).then(|| proxies.as_slice().into()),
            // Built once per router (once per process in the service) and
            // kept for good: a reference is copied with each request, where
            // an `Arc` would be a count both cores write.
            routes: Box::leak(Box::new(routes)),
        }
    }
}

/// The path patterns of the router's routes (`/auth/sessions/{id}`), which
/// name a request's route in the metrics: matched by `matchit`, the matcher
/// axum routes with, so a path gets the pattern of the route that serves
/// it.
///
/// A path without parameters is found by a hash of the whole path first:
/// the common case, in a fifth of `matchit`'s instructions. `matchit`
/// gives a static route priority over a parameter's, so both ways name
/// the same route.
#[derive(Debug)]
pub(super) struct RoutePatterns {
    exact: HashSet<Box<str>, foldhash::fast::RandomState>,
    table: matchit::Router<Box<str>>,
}

impl RoutePatterns {
    /// The table of `patterns`, in axum's syntax.
    ///
    /// # Panics
    ///
    /// If two patterns conflict; the router would have refused them first.
    pub(super) fn new(patterns: &[String]) -> Self {
        let mut table = matchit::Router::new();
        let mut exact = HashSet::default();
        for pattern in patterns {
            table
                .insert(pattern.as_str(), pattern.as_str().into())
                .expect("the router's own patterns do not conflict");
            if !pattern.contains('{') {
                exact.insert(pattern.as_str().into());
            }
        }
        Self { exact, table }
    }

    /// The pattern of the route that serves `path`; `None` for the fallback.
    pub(super) fn of(&self, path: &str) -> Option<&str> {
        if let Some(pattern) = self.exact.get(path) {
            return Some(pattern);
        }
        self.table.at(path).ok().map(|found| &**found.value)
    }
}

impl<S> Layer<S> for ObserveRequests {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            settings: self.clone(),
        }
    }
}

/// A service behind [`ObserveRequests`].
#[derive(Debug, Clone)]
pub(crate) struct Observed<S> {
    inner: S,
    settings: ObserveRequests,
}

impl<S> Service<Request> for Observed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observing<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = request_id(&self.settings, &request);
        let request_line = RequestLine {
            // Cheap clones: the method is inline, the URI shares its bytes
            // (the path is read only when a line is written).
            method: request.method().clone(),
            uri: request.uri().clone(),
            route: self.settings.routes.of(request.uri().path()),
            started: Instant::now(),
            access_log: self.settings.access_log,
        };
        Observing {
            handled: logs::within_request(id, self.inner.call(request)),
            request: request_line,
        }
    }
}

/// What [`Observing`] keeps of a request for its line and its count.
struct RequestLine {
    method: Method,
    uri: Uri,
    route: Option<&'static str>,
    started: Instant,
    access_log: bool,
}

pin_project_lite::pin_project! {
    /// The future of an [`Observed`] request.
    pub(crate) struct Observing<F> {
        #[pin]
        handled: TaskLocalFuture<HeaderValue, F>,
        request: RequestLine,
    }
}

impl<F> Future for Observing<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Ok(mut response) = ready!(this.handled.as_mut().poll(cx));
        let request = this.request;
        let elapsed = request.started.elapsed();
        metrics::count_request(request.route, &request.method, response.status(), elapsed);
        let id = this
            .handled
            .take_value()
            .expect("a request is answered once");
        // Outside the request's scope, with the id as a field of its own:
        // formatting the request into the line made it cost twice what the
        // line does (BENCHMARKS.md, logging).
        if request.access_log {
            logs::log_access_line(&AccessLine {
                // Checked ASCII (a proxy's) or our own: always text.
                request_id: id.to_str().unwrap_or_default(),
                method: request.method.as_str(),
                path: request.uri.path(),
                status: response.status().as_u16(),
                micros: elapsed.as_micros() as u64,
            });
        }
        response.headers_mut().insert(REQUEST_ID.clone(), id);
        Poll::Ready(Ok(response))
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How many request ids a thread takes from the process's counter at once.
const ID_BLOCK: u64 = 1024;

/// The request's id: the `X-Request-Id` a trusted proxy sent (one header,
/// 1 to 128 characters of `A-Za-z0-9._:-`, so that it cannot forge a log
/// line), else a new one.
fn request_id(settings: &ObserveRequests, request: &Request) -> HeaderValue {
    // Cheapest question first: most services trust no proxy.
    let from_proxy = settings.trusted_proxies.as_ref().is_some_and(|proxies| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| IpNetwork::any_contains(proxies, peer.ip()))
    });
    if !from_proxy {
        return new_request_id();
    }
    let mut given = request.headers().get_all(&REQUEST_ID).iter();
    if let (Some(value), None) = (given.next(), given.next())
        && (1..=128).contains(&value.len())
        && value
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
    {
        return value.clone();
    }
    new_request_id()
}

/// A new request id: a random prefix drawn once per process, then a
/// counter. Unique across instances and restarts (48 random bits), and
/// cheaper than random bytes per request (measured: about 5% of a cached
/// `/api/private` request). Each thread counts through a block of numbers
/// of its own, taken from the process's counter [`ID_BLOCK`] at a time, so
/// that requests on different cores do not write one shared counter.
fn new_request_id() -> HeaderValue {
    use std::cell::Cell;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static BLOCKS: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        /// This thread's next number and the end of its block.
        static BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    // A UUIDv4's first 12 hex digits: 48 random bits.
    let prefix = PREFIX.get_or_init(|| {
        let uuid = tokengate::token::random_id();
        format!("{}{}", &uuid[..8], &uuid[9..13])
    });
    let n = BLOCK.with(|block| {
        let (mut next, mut end) = block.get();
        if next == end {
            next = BLOCKS.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        block.set((next + 1, end));
        next
    });
    let digits = (64 - (n | 1).leading_zeros()).div_ceil(4);
    // Exactly as long as it will be: `Bytes` takes a full buffer as it is
    // (a spare capacity would cost it another allocation).
    let mut id = String::with_capacity(prefix.len() + 1 + digits as usize);
    id.push_str(prefix);
    id.push('-');
    // The counter in hex, without the formatting machinery.
    for shift in (0..digits).rev() {
        id.push(char::from(
            b"0123456789abcdef"[((n >> (shift * 4)) & 0xf) as usize],
        ));
    }
    // The String's buffer becomes the header's: no copy.
    HeaderValue::from_maybe_shared(axum::body::Bytes::from(id))
        .expect("hex digits and a dash are a header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the service (the examples and `/metrics` included)
    /// is named by its own pattern, a parameter's value whatever it is;
    /// a path no route serves is named by none (the fallback's
    /// `unmatched`).
    #[test]
    fn a_path_is_named_by_the_pattern_of_its_route() {
        let (_, patterns) = super::super::openapi::with_document(super::super::routes(true, true));
        assert!(patterns.len() > 40, "{patterns:?}");
        let table = RoutePatterns::new(&patterns);
        for pattern in &patterns {
            // `{id}` → a value of the kind a client sends.
            let path: String = pattern
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "0190a1b2-c3d4-4e5f-8a9b-0c1d2e3f4a5b"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            assert_eq!(table.of(&path), Some(pattern.as_str()), "{path}");
        }
        assert_eq!(table.of("/auth/sessions/abc"), Some("/auth/sessions/{id}"));
        assert_eq!(table.of("/api/private"), Some("/api/private"));
        assert_eq!(table.of("/api/private-scoped"), Some("/api/private-scoped"));
        for unserved in [
            "/nope",
            "/api/private/",
            "/auth/sessions/a/b",
            "",
            "/API/PUBLIC",
        ] {
            assert_eq!(table.of(unserved), None, "{unserved}");
        }
    }

    #[test]
    fn new_ids_are_the_prefix_and_a_hex_counter() {
        let ids: Vec<String> = (0..40)
            .map(|_| new_request_id().to_str().unwrap().to_owned())
            .collect();
        let (prefix, first) = ids[0].split_once('-').unwrap();
        assert_eq!(prefix.len(), 12, "{}", ids[0]);
        let mut last = u64::from_str_radix(first, 16).unwrap();
        for id in &ids[1..] {
            let (p, n) = id.split_once('-').unwrap();
            assert_eq!(p, prefix);
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{id}"
            );
            assert!(!n.starts_with('0'), "{id}");
            let n = u64::from_str_radix(n, 16).unwrap();
            assert!(n > last, "{id}");
            last = n;
        }
    }

    /// Threads count through blocks of their own: ids stay unique across
    /// threads and across the blocks each thread takes.
    #[test]
    fn ids_from_many_threads_are_unique() {
        let per_thread = 3 * ID_BLOCK as usize / 2;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| new_request_id().to_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = std::collections::HashSet::new();
        for thread in threads {
            for id in thread.join().unwrap() {
                assert!(all.insert(id.clone()), "{id} twice");
            }
        }
        assert_eq!(all.len(), 4 * per_thread);
    }
}
