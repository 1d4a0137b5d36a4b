//! The service's log on stderr: text lines, or one JSON object a line.
//!
//! The JSON lines have the shape of tracing-subscriber's `json()` format
//! (`timestamp`, `level`, `fields`, `target`, and `span`: the fields of the
//! innermost span, with its `name`), written by [`JsonLines`] straight into
//! the line: tracing-subscriber's own format first collects every field
//! into a map of `serde_json::Value`s, which made a JSON access line cost
//! 7 % of a cached request more than a text one (BENCHMARKS.md, logging).
//!
//! The text lines have the shape of tracing-subscriber's default format
//! (`2026-12-03T03:24:40.123456Z  INFO span{fields}: target: message
//! name=value`), without colour, written by [`TextLines`] without the
//! styling machinery; both formats write the timestamp from a date
//! formatted once a second ([`write_timestamp`]): tracing-subscriber's
//! default format made the access line half the service's own cost of a
//! `/api/public` request (BENCHMARKS.md, the plumbing).
//!
//! Lines logged while a request is handled name its id as the field of a
//! `request` span (`request{request_id="…"}:`, `"span":{"request_id":…}`),
//! kept in a task-local rather than a span ([`request`]).

use std::cell::RefCell;
use std::fmt;
use std::io::IsTerminal;
use std::time::{Duration, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

mod batched;
mod request;

pub(crate) use request::{AccessLine, log_access_line, within_request};

pub(crate) use batched::flush;

/// Installs the global subscriber: `format` lines on stderr, filtered by
/// `RUST_LOG` (default `info`); on a terminal written line by line, else
/// in batches ([`batched`]: call [`flush`] before the process exits).
pub(crate) fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A person reading: each line at once.
    let writer = if std::io::stderr().is_terminal() {
        batched::Batched::at_once()
    } else {
        batched::Batched::start()
    };
    request::install(format, writer);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => logs
            .with_ansi(false)
            .fmt_fields(TextFields)
            .event_format(TextLines)
            .init(),
        // Span fields are kept as JSON objects (JsonFields), which
        // JsonLines copies into each line of the span.
        LogFormat::Json => logs.fmt_fields(JsonFields).event_format(JsonLines).init(),
    }
}

/// The fields of a span in a text line (`name="value" other=1`), kept
/// with the span when it opens: [`TextVisitor`]'s format, which
/// tracing-subscriber's `DefaultFields` writes with `{:?}` for every string.
pub(crate) struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = TextVisitor {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// The fields of a span in a JSON line, kept with the span when it opens
/// as one JSON object (`{"request_id":"…"}`), written by [`JsonVisitor`]:
/// tracing-subscriber's `JsonFields` builds a map of `serde_json::Value`s
/// for each span.
pub(crate) struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        writer.write_char('{')?;
        let mut visitor = JsonVisitor {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Fields recorded later join the object: `{…}` becomes `{…,…}`.
        let members = current.fields.trim_end().strip_suffix('}').map(str::len);
        let Some(open) = members else {
            return self.format_fields(current.as_writer(), fields);
        };
        current.fields.truncate(open);
        let mut writer = current.as_writer();
        let mut visitor = JsonVisitor {
            out: &mut writer,
            first: open <= 1,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }
}

/// One JSON object a line; see the module's documentation.
pub(crate) struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\",\"fields\":{{", meta.level())?;
        let mut fields = JsonVisitor {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("},\"target\":")?;
        json_str(&mut writer, meta.target())?;
        if let Some(span) = ctx.lookup_current() {
            writer.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            // `{"request_id":"…"}` as JsonFields wrote it: its members.
            let members = extensions
                .get::<FormattedFields<JsonFields>>()
                .map(|f| f.fields.trim())
                .and_then(|f| f.strip_prefix('{')?.strip_suffix('}'))
                .unwrap_or("");
            if !members.is_empty() {
                writer.write_str(members)?;
                writer.write_char(',')?;
            }
            writer.write_str("\"name\":")?;
            json_str(&mut writer, span.name())?;
            writer.write_char('}')?;
        } else {
            // The request being handled (`request::within_request`), as
            // its span was written.
            request::with_request_id(|id| {
                writer.write_str(",\"span\":{\"request_id\":")?;
                json_str(&mut writer, id)?;
                writer.write_str(",\"name\":\"request\"}")
            })
            .transpose()?;
        }
        writer.write_str("}\n")
    }
}

/// One text line an event, as tracing-subscriber's default format writes
/// it without colour; see the module's documentation.
pub(crate) struct TextLines;

impl<S> FormatEvent<S, TextFields> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, TextFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write_timestamp(&mut writer)?;
        writer.write_str(match *meta.level() {
            tracing::Level::TRACE => " TRACE ",
            tracing::Level::DEBUG => " DEBUG ",
            tracing::Level::INFO => "  INFO ",
            tracing::Level::WARN => "  WARN ",
            tracing::Level::ERROR => " ERROR ",
        })?;
        // The request being handled (`request::within_request`), as its
        // span was written, then each span of the event, outermost first:
        // `name{fields}:`.
        let mut any = request::with_request_id(|id| {
            writer.write_str("request{request_id=")?;
            debug_str(&mut writer, id)?;
            writer.write_str("}:")
        })
        .transpose()?
        .is_some();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<TextFields>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
                any = true;
            }
        }
        if any {
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = TextVisitor {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes each field of an event as `name=value` (the message bare),
/// separated by spaces, as tracing-subscriber's `DefaultVisitor` does.
struct TextVisitor<'a, 'w> {
    out: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl TextVisitor<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        let name = field.name();
        self.result = self
            .out
            .write_str(separator)
            .and_then(|()| {
                if name == "message" {
                    return Ok(());
                }
                self.out
                    .write_str(name.strip_prefix("r#").unwrap_or(name))?;
                self.out.write_char('=')
            })
            .and_then(|()| value(self.out));
    }
}

impl Visit for TextVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, |out| out.write_str(value));
        } else {
            self.field(field, |out| debug_str(out, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| {
            out.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| {
            out.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `message` and `%display` fields arrive here, as in `DefaultVisitor`.
        self.field(field, |out| write!(out, "{value:?}"));
    }
}

/// `text` quoted and escaped as `{:?}` writes it, without `{:?}`'s
/// character-by-character escaping when nothing needs escaping.
fn debug_str(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    if needs_no_escape(text) {
        out.write_char('"')?;
        out.write_str(text)?;
        out.write_char('"')
    } else {
        write!(out, "{text:?}")
    }
}

/// Whether `text` is printable ASCII without a quote or a backslash: text
/// that `{:?}` and JSON both write as it is, between quotes.
fn needs_no_escape(text: &str) -> bool {
    // Every byte checked, without a branch per byte: the compiler checks
    // many at once (a short-circuiting `all` went byte by byte).
    text.bytes().fold(true, |plain, b| {
        plain & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\')
    })
}

/// Writes the current time as tracing-subscriber's `SystemTime` does
/// (`2026-12-03T03:24:40.123456Z`), the date and time of day formatted
/// once a second by each thread.
fn write_timestamp(out: &mut impl fmt::Write) -> fmt::Result {
    thread_local! {
        /// A second since the epoch, and its date and time of day.
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != now.as_secs() {
            second.1.clear();
            write_second(&mut second.1, now.as_secs())?;
            second.0 = now.as_secs();
        }
        out.write_str(&second.1)
    })?;
    write_micros(out, now)
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the epoch, in UTC.
fn write_second(out: &mut impl fmt::Write, secs: u64) -> fmt::Result {
    let time = i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// `.uuuuuuZ`: the microseconds of `now`, zero-padded.
fn write_micros(out: &mut impl fmt::Write, now: Duration) -> fmt::Result {
    let mut digits = itoa::Buffer::new();
    // 1 000 000 + µs: seven digits, the first dropped.
    let padded = digits.format(1_000_000 + now.subsec_micros());
    out.write_char('.')?;
    out.write_str(&padded[1..])?;
    out.write_char('Z')
}

/// Writes each field of an event as a JSON member.
struct JsonVisitor<'a, 'w> {
    out: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl JsonVisitor<'_, '_> {
    /// `"name":` after a comma unless first, then `value` writes the value.
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let comma = if std::mem::take(&mut self.first) {
            ""
        } else {
            ","
        };
        self.result = self
            .out
            .write_str(comma)
            .and_then(|()| json_str(self.out, field.name()))
            .and_then(|()| self.out.write_char(':'))
            .and_then(|()| value(self.out));
    }
}

impl Visit for JsonVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| json_str(out, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those become null, as serde_json does.
        self.member(field, |out| {
            if value.is_finite() {
                write!(out, "{value}")
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `message` and `%display` fields arrive here: formatted, then
        // escaped by serde_json.
        self.member(field, |out| json_str(out, &format!("{value:?}")));
    }
}

/// `text` as a JSON string, escaped by serde_json.
fn json_str(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    struct Adapter<'a, W>(&'a mut W);
    impl<W: fmt::Write> std::io::Write for Adapter<'_, W> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            // serde_json writes whole UTF-8 sequences of valid input.
            let text = std::str::from_utf8(bytes).map_err(std::io::Error::other)?;
            self.0.write_str(text).map_err(std::io::Error::other)?;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Adapter(out), text).map_err(|_| fmt::Error)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The lines `emit` logs, in this module's JSON format, parsed.
    pub(super) fn lines(emit: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn fields_of_every_kind_and_the_span_are_json() {
        let lines = lines(|| {
            tracing::info!(
                text = "quote \" backslash \\ newline \n control \u{1} é",
                unsigned = 7_u64,
                signed = -3_i64,
                yes = true,
                ratio = 0.5,
                nan = f64::NAN,
                shown = %"display",
                debugged = ?Some(1),
                "hello {}",
                "world"
            );
            let span = tracing::info_span!(
                "request",
                request_id = "id-\"1\"",
                user = tracing::field::Empty
            );
            let _in = span.enter();
            tracing::warn!("inside");
            span.record("user", 7_u64);
            tracing::warn!("after");
        });
        assert_eq!(lines.len(), 3, "{lines:?}");
        let first = &lines[0];
        assert_eq!(first["level"], "INFO");
        assert!(
            first["timestamp"].as_str().unwrap().contains('T'),
            "{first}"
        );
        assert_eq!(first["target"], "tokengate_server::logs::tests");
        let fields = &first["fields"];
        assert_eq!(fields["message"], "hello world");
        assert_eq!(
            fields["text"],
            "quote \" backslash \\ newline \n control \u{1} é"
        );
        assert_eq!(fields["unsigned"], 7);
        assert_eq!(fields["signed"], -3);
        assert_eq!(fields["yes"], true);
        assert_eq!(fields["ratio"], 0.5);
        assert!(fields["nan"].is_null(), "{fields}");
        assert_eq!(fields["shown"], "display");
        assert_eq!(fields["debugged"], "Some(1)");
        assert!(first.get("span").is_none(), "{first}");

        let second = &lines[1];
        assert_eq!(second["level"], "WARN");
        assert_eq!(second["fields"]["message"], "inside");
        assert_eq!(second["span"]["request_id"], "id-\"1\"");
        assert_eq!(second["span"]["name"], "request");
        assert!(second["span"].get("user").is_none(), "{second}");
        let third = &lines[2];
        assert_eq!(third["span"]["request_id"], "id-\"1\"");
        assert_eq!(third["span"]["user"], 7, "a field recorded later: {third}");
    }

    /// The text `emit` logs, in this module's text format.
    pub(super) fn text(emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .fmt_fields(TextFields)
            .event_format(TextLines)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn text_lines_have_the_default_format_s_shape() {
        let text = text(|| {
            tracing::info!(
                request_id = "abc-1",
                method = "GET",
                quoted = "say \"hi\"\n",
                status = 200_u16,
                signed = -3_i64,
                yes = true,
                shown = %"display",
                "request"
            );
            let span = tracing::info_span!("request", request_id = "id-1");
            let _in = span.enter();
            tracing::warn!(r#type = "x", "inside {}", 1);
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (time, rest) = lines[0].split_once(' ').unwrap();
        assert_eq!(time.len(), "2026-12-03T03:24:40.123456Z".len(), "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
        assert_eq!(
            rest,
            " INFO tokengate_server::logs::tests: request request_id=\"abc-1\" method=\"GET\" \
             quoted=\"say \\\"hi\\\"\\n\" status=200 signed=-3 yes=true shown=display"
        );
        let (_, rest) = lines[1].split_once(' ').unwrap();
        assert_eq!(
            rest,
            " WARN request{request_id=\"id-1\"}: tokengate_server::logs::tests: inside 1 type=\"x\""
        );
    }

    #[test]
    fn timestamps_are_rfc_3339_in_microseconds() {
        for (secs, micros, expected) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (1_796_268_280, 123_456, "2026-12-03T03:24:40.123456Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.000005Z"),
            (4_102_444_799, 999_999, "2099-12-31T23:59:59.999999Z"),
        ] {
            let mut out = String::new();
            write_second(&mut out, secs).unwrap();
            write_micros(&mut out, Duration::new(secs, micros * 1000)).unwrap();
            assert_eq!(out, expected);
        }
        // The cached second is the clock's: the written time is now.
        let written = text(|| tracing::info!("now"));
        let before = std::time::SystemTime::now();
        let mut out = String::new();
        let secs = before.duration_since(UNIX_EPOCH).unwrap().as_secs();
        write_second(&mut out, secs).unwrap();
        let minute = &out[..16];
        assert!(
            written.starts_with(minute) || written.starts_with(&out[..13]),
            "{written} vs {out}"
        );
    }
}
