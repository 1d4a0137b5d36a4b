//! The limits every request meets before its route: the size of its
//! headers, the length of its body, and the time it may take.
//!
//! One tower layer for the three, with a future of its own: as three
//! `middleware::from_fn` layers, each request cloned the services below
//! each of them and boxed a future per layer (measured in BENCHMARKS.md,
//! the plumbing).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use tower::{Layer, Service};

use super::{BODY_LIMIT, HEADER_LIMIT, error_body};

/// The layer: [`RequestLimits::new`] with the request timeout.
#[derive(Debug, Clone, Copy)]
pub(super) struct RequestLimits {
    timeout: Duration,
}

impl RequestLimits {
    /// Limits whose requests answer 408 after `timeout`.
    pub(super) fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for RequestLimits {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            timeout: self.timeout,
        }
    }
}

/// A service behind [`RequestLimits`].
#[derive(Debug, Clone)]
pub(crate) struct Limited<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request> for Limited<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Limiting<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(refusal) = refusal(&request) {
            return Limiting::Refused {
                refusal: Some(refusal),
            };
        }
        Limiting::Handled {
            handled: self.inner.call(limit_unannounced_body(request)),
            deadline: None,
            timeout: self.timeout,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`Limited`] request.
    #[project = Limits]
    pub(crate) enum Limiting<F> {
        /// Over a limit: answered without the route.
        Refused { refusal: Option<Response> },
        /// Within the limits: the route's answer, or 408 at the deadline.
        Handled {
            #[pin]
            handled: F,
            // Armed when the route first waits: an answer ready at once
            // (most answers from memory) reads no clock and sets no timer.
            #[pin]
            deadline: Option<tokio::time::Sleep>,
            timeout: Duration,
        },
    }
}

impl<F> Future for Limiting<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Limits::Refused { refusal } => {
                Poll::Ready(Ok(refusal.take().expect("a request is answered once")))
            }
            Limits::Handled {
                handled,
                mut deadline,
                timeout,
            } => {
                if let Poll::Ready(answer) = handled.poll(cx) {
                    return Poll::Ready(answer);
                }
                if deadline.is_none() {
                    deadline.set(Some(tokio::time::sleep(*timeout)));
                }
                let deadline = deadline.as_pin_mut().expect("armed above");
                ready!(deadline.poll(cx));
                Poll::Ready(Ok(error_body(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request took too long",
                )))
            }
        }
    }
}

/// `request` with its body cut at [`BODY_LIMIT`] when its length is not
/// announced (chunked, or HTTP/2 without `Content-Length`): reading past the
/// limit fails, and the body extractors refuse the request (the service's
/// `JsonBody` with 400, axum's with 413). A length announced was checked by
/// [`refusal`], and hyper reads no more than it; an empty body has nothing
/// to cut.
///
/// Not axum's `DefaultBodyLimit`, which does the same through an extension
/// of every request: a fourth extension (beside `ConnectInfo` and the
/// router's two) made each request's extension map grow (BENCHMARKS.md, the
/// plumbing). Without it axum's extractors still apply their own default
/// limit, which is larger.
fn limit_unannounced_body(request: Request) -> Request {
    let announced = request.body().size_hint().upper();
    if announced.is_some_and(|length| length <= BODY_LIMIT as u64) {
        return request;
    }
    request.map(|body| Body::new(http_body_util::Limited::new(body, BODY_LIMIT)))
}

/// The answer to a request over a limit: headers larger than
/// [`HEADER_LIMIT`] (431), or a body announced larger than [`BODY_LIMIT`]
/// (413, with `Connection: close`: the unread body makes the connection
/// unusable, and a client must not send its next request on it). A chunked
/// body is cut at the limit instead ([`limit_unannounced_body`]).
fn refusal(request: &Request) -> Option<Response> {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > HEADER_LIMIT {
        return Some(error_body(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            "request headers are too large",
        ));
    }
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > BODY_LIMIT as u64) {
        let mut response = error_body(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            &format!("the request body is larger than {} KiB", BODY_LIMIT / 1024),
        );
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Some(response);
    }
    None
}
