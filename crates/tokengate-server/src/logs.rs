//! The service's log on stderr: text lines, or one JSON object a line.
//!
//! The JSON lines have the shape of tracing-subscriber's `json()` format
//! (`timestamp`, `level`, `fields`, `target`, and `span`: the fields of the
//! innermost span, with its `name`), written by [`JsonLines`] straight into
//! the line: tracing-subscriber's own format first collects every field
//! into a map of `serde_json::Value`s, which made a JSON access line cost
//! 7 % of a cached request more than a text one (BENCHMARKS.md, logging).

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// Installs the global subscriber: `format` lines on stderr, filtered by
/// `RUST_LOG` (default `info`).
pub(crate) fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // Span fields are kept as JSON objects (JsonFields), which
        // JsonLines copies into each line of the span.
        LogFormat::Json => logs
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .init(),
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
        SystemTime.format_time(&mut writer)?;
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
        }
        writer.write_str("}\n")
    }
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
fn json_str(out: &mut Writer<'_>, text: &str) -> fmt::Result {
    struct Adapter<'a, 'w>(&'a mut Writer<'w>);
    impl std::io::Write for Adapter<'_, '_> {
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
    fn lines(emit: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
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
            let span = tracing::info_span!("request", request_id = "id-\"1\"");
            let _in = span.enter();
            tracing::warn!("inside");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
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
    }
}
