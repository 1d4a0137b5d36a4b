//! The request a line belongs to, and the access line of each request.
//!
//! A request's id is kept in a task-local while its handler runs, and the
//! line formats ([`super::TextLines`], [`super::JsonLines`]) name it as
//! the `request` span's `request_id`, as a tracing span did before: a span
//! per request (created, entered and left at every poll, closed) cost about
//! 2 µs of CPU a request; the task-local is a pointer swap per poll.
//!
//! The access line is written by [`log_access_line`] straight into the
//! service's log, in its format, without tracing's event dispatch (the
//! dispatch cost more than formatting the line: BENCHMARKS.md, the
//! plumbing). Whether it is written at all is still tracing's filter's
//! decision (`RUST_LOG`).

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;

use http::HeaderValue;
use tokio::task::futures::TaskLocalFuture;

use super::batched::Batched;
use crate::config::LogFormat;

tokio::task_local! {
    /// The id of the request whose handler is running.
    static REQUEST_ID: HeaderValue;
}

/// `future` run as request `id`'s: lines it logs name the id. Its
/// [`TaskLocalFuture::take_value`] gives the id back when it is done.
pub(crate) fn within_request<F: Future>(
    id: HeaderValue,
    future: F,
) -> TaskLocalFuture<HeaderValue, F> {
    REQUEST_ID.scope(id, future)
}

/// `f` of the id of the request being handled, if any.
pub(super) fn with_request_id<R>(f: impl FnOnce(&str) -> R) -> Option<R> {
    REQUEST_ID
        .try_with(|id| f(id.to_str().unwrap_or_default()))
        .ok()
}

/// Where access lines go: set by [`super::init`] when it installs the
/// service's own formats. Unset (tests, another subscriber), the caller
/// logs the line as an ordinary event.
static ACCESS: OnceLock<(LogFormat, Batched)> = OnceLock::new();

pub(super) fn install(format: LogFormat, writer: Batched) {
    let _ = ACCESS.set((format, writer));
}

/// What an access line says of a request.
pub(crate) struct AccessLine<'a> {
    /// `[A-Za-z0-9._:-]` only: a trusted proxy's checked id, or our own.
    pub(crate) request_id: &'a str,
    /// An HTTP method: a token, which has no quote, backslash or space.
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: u16,
    pub(crate) micros: u64,
}

/// The target of access lines: the module that logged them as events.
const ACCESS_TARGET: &str = "tokengate_server::service::observe";

/// Logs `line` unless tracing's filter (`RUST_LOG`) turns the access
/// line off: written straight into the service's log when it is installed
/// (the same bytes as the event), else as an ordinary event.
pub(crate) fn log_access_line(line: &AccessLine<'_>) {
    if tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO) && !write_access_line(line) {
        log_as_event(line);
    }
}

/// `line` as the event `info!(request_id, method, path, status, micros,
/// "request")` of [`ACCESS_TARGET`].
fn log_as_event(line: &AccessLine<'_>) {
    tracing::info!(
        target: ACCESS_TARGET,
        request_id = line.request_id,
        method = line.method,
        path = line.path,
        status = line.status,
        micros = line.micros,
        "request"
    );
}

/// Writes `line` into the service's log as [`log_as_event`] would; `false`
/// (nothing written) when the service's log is not installed.
fn write_access_line(line: &AccessLine<'_>) -> bool {
    let Some((format, writer)) = ACCESS.get() else {
        return false;
    };
    thread_local! {
        static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
    }
    BUFFER.with(|buffer| {
        let Ok(mut buffer) = buffer.try_borrow_mut() else {
            return false;
        };
        buffer.clear();
        if format_access_line(*format, line, &mut buffer).is_ok() {
            let _ = writer.line(false).write_all(buffer.as_bytes());
        }
        // A line that was once very long does not keep its memory.
        if buffer.capacity() > 4096 {
            *buffer = String::new();
        }
        true
    })
}

/// `line` in `format`, into a `String` itself (not through a `dyn` writer:
/// a dozen small writes per line).
fn format_access_line(
    format: LogFormat,
    line: &AccessLine<'_>,
    out: &mut String,
) -> std::fmt::Result {
    use std::fmt::Write as _;
    let mut number = itoa::Buffer::new();
    match format {
        LogFormat::Text => {
            super::write_timestamp(out)?;
            out.write_str("  INFO ")?;
            out.write_str(ACCESS_TARGET)?;
            out.write_str(": request request_id=")?;
            quoted_plain(out, line.request_id)?;
            out.write_str(" method=")?;
            quoted_plain(out, line.method)?;
            out.write_str(" path=")?;
            super::debug_str(out, line.path)?;
            out.write_str(" status=")?;
            out.write_str(number.format(line.status))?;
            out.write_str(" micros=")?;
            out.write_str(number.format(line.micros))?;
        }
        LogFormat::Json => {
            out.write_str("{\"timestamp\":\"")?;
            super::write_timestamp(out)?;
            out.write_str(
                "\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"request_id\":",
            )?;
            quoted_plain(out, line.request_id)?;
            out.write_str(",\"method\":")?;
            quoted_plain(out, line.method)?;
            out.write_str(",\"path\":")?;
            super::json_str(out, line.path)?;
            out.write_str(",\"status\":")?;
            out.write_str(number.format(line.status))?;
            out.write_str(",\"micros\":")?;
            out.write_str(number.format(line.micros))?;
            out.write_str("},\"target\":")?;
            super::json_str(out, ACCESS_TARGET)?;
            out.write_char('}')?;
        }
    }
    out.write_char('\n')
}

/// `text` in quotes, as both `{:?}` and JSON write a text that needs no
/// escaping: the id and the method, which cannot hold a quote, a backslash
/// or a control character (the path can, and is escaped).
fn quoted_plain(out: &mut String, text: &str) -> std::fmt::Result {
    debug_assert!(super::needs_no_escape(text), "{text:?}");
    out.push('"');
    out.push_str(text);
    out.push('"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(format: LogFormat, line: &AccessLine<'_>) -> String {
        let mut out = String::new();
        format_access_line(format, line, &mut out).unwrap();
        out
    }

    /// The line written directly is the line the event would have been,
    /// in both formats (the timestamp aside).
    #[test]
    fn an_access_line_is_the_event_it_replaces() {
        let line = AccessLine {
            request_id: "abc-1f",
            method: "GET",
            path: "/a \"quoted\"\\path\n",
            status: 404,
            micros: 1234,
        };
        let without_time = |text: &str| text.split_once(' ').unwrap().1.to_owned();
        let text = super::super::tests::text(|| log_as_event(&line));
        assert_eq!(
            without_time(&written(LogFormat::Text, &line)),
            without_time(&text)
        );
        let json = super::super::tests::lines(|| log_as_event(&line));
        let mut direct: serde_json::Value =
            serde_json::from_str(&written(LogFormat::Json, &line)).unwrap();
        let mut event = json[0].clone();
        direct["timestamp"] = serde_json::Value::Null;
        event["timestamp"] = serde_json::Value::Null;
        assert_eq!(direct, event);
    }

    /// Lines logged while a request is handled name its id, in both
    /// formats, as the `request` span's field; lines outside do not.
    #[test]
    fn lines_within_a_request_name_its_id() {
        let id = HeaderValue::from_static("req-7");
        let text = super::super::tests::text(|| {
            poll_once(within_request(id.clone(), async {
                tracing::warn!("inside");
            }));
            tracing::warn!("outside");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with(" WARN request{request_id=\"req-7\"}: tokengate_server::logs::request::tests: inside"),
            "{text}"
        );
        assert!(
            lines[1].ends_with(" WARN tokengate_server::logs::request::tests: outside"),
            "{text}"
        );
        let json = super::super::tests::lines(|| {
            poll_once(within_request(id.clone(), async {
                tracing::warn!("inside");
            }));
            tracing::warn!("outside");
        });
        assert_eq!(json[0]["span"]["request_id"], "req-7", "{json:?}");
        assert_eq!(json[0]["span"]["name"], "request", "{json:?}");
        assert!(json[1].get("span").is_none(), "{json:?}");
    }

    /// Polls a future that never waits to its end.
    fn poll_once<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("the future waited"),
        }
    }
}
