//! HTTP/1.x records: a message (request or response) with its head as sent, and one
//! Server-Sent Event of an event stream, each with its JSON form and the fields a display filter
//! tests (`http.*`, `sse.*`).

use crate::filter::{Each, FieldId, OwnFields, RecordType, Value, one};
use crate::model::json::{JsonCx, JsonLine, Plain, ToJson, line_head, ts_secs};
use crate::model::payload::{Digest, preview};
use crate::tcp::Dir;
use crate::time::Timestamp;
use serde::ser::{Serialize, SerializeSeq, SerializeStruct, Serializer};
use std::ops::ControlFlow;

/// A header as it appeared on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

/// Start line of an HTTP message.
#[derive(Clone, Copy, Debug)]
pub enum HttpHead<'a> {
    Request {
        method: &'a str,
        target: &'a str,
        version: u8,
    },
    Response {
        version: u8,
        status: u16,
        reason: &'a str,
    },
}

/// An HTTP/1.x message. Emitted twice: [`Event::HttpHead`](crate::model::Event::HttpHead) when its
/// head is parsed (body counts zero, `complete == false`), and
/// [`Record::Http`](crate::model::Record::Http) when its body ended (or the stream did).
#[derive(Clone, Copy, Debug)]
pub struct HttpMessage<'a> {
    pub dir: Dir,
    /// When the first byte of the message was seen.
    pub start_ts: Timestamp,
    /// When the message completed (or its head, for `HttpHead`).
    pub ts: Timestamp,
    pub head: HttpHead<'a>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub headers: &'a [Header<'a>],
    /// Start line + headers + blank line.
    pub header_bytes: u64,
    /// Body bytes after removing chunked framing.
    pub body_bytes: u64,
    /// Chunk-size lines, chunk CRLFs and trailers.
    pub framing_bytes: u64,
    pub chunked: bool,
    /// The `Upgrade` header's value, if any.
    pub upgrade: Option<&'a str>,
    /// First bytes of the body (up to the preview cap), dechunked.
    pub body_head: &'a [u8],
    /// The head exactly as it was on the wire (start line, headers, blank line), for hex dumps.
    /// Empty when the head was not kept.
    pub raw_head: &'a [u8],
    /// False when the stream ended (or broke) before the message did.
    pub complete: bool,
    /// SHA-256 of the whole (de-chunked) body, with `--digest`.
    pub digest: Digest,
    /// Which request/response exchange of the connection the message belongs to: a request's
    /// own sequence number (0, 1, ... in wire order), or for a final response the number of the
    /// request it answers. `None` for interim responses and for responses to requests never
    /// seen (mid-stream pick-up, lost in a gap).
    pub exchange: Option<u64>,
}

/// One Server-Sent Event (a blank-line-terminated block of an event stream).
#[derive(Clone, Copy, Debug)]
pub struct SseEvent<'a> {
    pub ts: Timestamp,
    pub event: Option<&'a str>,
    pub id: Option<&'a str>,
    /// `data` lines joined with `\n`, up to the display cap.
    pub data: &'a [u8],
    /// Length of the whole data (the event's payload; everything else of the event on the
    /// wire, field names, colons, line ends, comments, is framing).
    pub len: u64,
}

impl HttpMessage<'_> {
    /// A response whose body is an event stream (`Content-Type: text/event-stream`): its body
    /// is read as Server-Sent Events, each a message of its own.
    pub fn is_event_stream(&self) -> bool {
        matches!(self.head, HttpHead::Response { .. })
            && self.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("content-type")
                    && h.value.len() >= 17
                    && h.value[..17].eq_ignore_ascii_case(b"text/event-stream")
            })
    }
}

/// Header list as `[[name, value], ...]`, values decoded leniently.
struct Headers<'a>(&'a [Header<'a>]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for h in self.0 {
            seq.serialize_element(&(h.name, super::payload::lossy(h.value)))?;
        }
        seq.end()
    }
}

impl HttpMessage<'_> {
    /// The fields after `frame`, up to `reason`: the start line.
    fn json_start_line<S: SerializeStruct>(&self, r: &mut S) -> Result<(), S::Error> {
        let (kind, method, target, v, status, reason) = match self.head {
            HttpHead::Request {
                method,
                target,
                version,
            } => ("request", Some(method), Some(target), version, None, None),
            HttpHead::Response {
                version,
                status,
                reason,
            } => ("response", None, None, version, Some(status), Some(reason)),
        };
        r.serialize_field("kind", &Plain::name(kind))?;
        r.serialize_field("method", &method)?;
        r.serialize_field("target", &target)?;
        r.serialize_field("version", &http_version(v))?;
        r.serialize_field("status", &status)?;
        r.serialize_field("reason", &reason)
    }

    /// The fields after `complete`.
    fn json_tail<S: SerializeStruct>(&self, cx: &JsonCx, r: &mut S) -> Result<(), S::Error> {
        let text = !self.body_head.is_empty() && std::str::from_utf8(self.body_head).is_ok();
        preview(self.body_head, self.body_bytes, text, cx.preview_chars).write(r)?;
        if let Some(sha256) = self.digest.json_field() {
            r.serialize_field("sha256", &sha256)?;
        }
        cx.layers.write(r)
    }
}

impl ToJson for HttpMessage<'_> {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("http", 23)?;
        r.serialize_field("type", &Plain::name("http"))?;
        r.serialize_field("flow", &cx.flow)?;
        r.serialize_field("dir", &Plain::name(self.dir.as_str()))?;
        r.serialize_field("ts", &ts_secs(self.ts))?;
        r.serialize_field("frame", &cx.frame)?;
        self.json_start_line(&mut r)?;
        r.serialize_field("headers", &Headers(self.headers))?;
        r.serialize_field("header_bytes", &self.header_bytes)?;
        r.serialize_field("body_bytes", &self.body_bytes)?;
        r.serialize_field("framing_bytes", &self.framing_bytes)?;
        r.serialize_field("chunked", &self.chunked)?;
        r.serialize_field("upgrade", &self.upgrade)?;
        r.serialize_field("complete", &self.complete)?;
        self.json_tail(cx, &mut r)?;
        r.end()
    }

    /// Every message of a flow's packet: `to_json`'s fields, its head, headers and counts in
    /// runs of the program's own text.
    fn to_json_line<L: JsonLine>(&self, cx: &JsonCx, line: &mut L) -> Result<bool, L::Error> {
        let (Some(flow), Some(frame)) = (cx.flow, cx.frame) else {
            return Ok(false);
        };
        let head = "{\"type\":\"http\",\"flow\":";
        line_head(line, head, [flow, frame], self.dir, self.ts);
        // The start line, the headers and the counts in runs; the tail as serde writes it.
        match self.head {
            HttpHead::Request {
                method,
                target,
                version,
            } => {
                line.raw(",\"kind\":\"request\",\"method\":");
                line.text(method);
                line.raw(",\"target\":");
                line.text(target);
                line.raw(",\"version\":");
                line.plain(&http_version(version));
                line.raw(",\"status\":null,\"reason\":null");
            }
            HttpHead::Response {
                version,
                status,
                reason,
            } => {
                line.raw(",\"kind\":\"response\",\"method\":null,\"target\":null,\"version\":");
                line.plain(&http_version(version));
                line.count(",\"status\":", status.into());
                line.raw(",\"reason\":");
                line.text(reason);
            }
        }
        match self.headers.split_first() {
            None => line.raw(",\"headers\":[]"),
            Some((first, rest)) => {
                let pair = |line: &mut L, h: &Header<'_>| {
                    line.text(h.name);
                    line.raw(",");
                    line.text(&super::payload::lossy(h.value));
                };
                line.raw(",\"headers\":[[");
                pair(line, first);
                for h in rest {
                    line.raw("],[");
                    pair(line, h);
                }
                line.raw("]]");
            }
        }
        line.count(",\"header_bytes\":", self.header_bytes);
        line.count(",\"body_bytes\":", self.body_bytes);
        line.count(",\"framing_bytes\":", self.framing_bytes);
        line.raw(if self.chunked {
            ",\"chunked\":true"
        } else {
            ",\"chunked\":false"
        });
        line.text_or_null(",\"upgrade\":", self.upgrade);
        line.raw(if self.complete {
            ",\"complete\":true"
        } else {
            ",\"complete\":false"
        });
        let mut r = line.fields();
        self.json_tail(cx, &mut r)?;
        r.end()?;
        Ok(true)
    }
}

impl ToJson for SseEvent<'_> {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        let preview = preview(self.data, self.len, true, cx.preview_chars);
        let mut r = s.serialize_struct("sse_event", 9)?;
        r.serialize_field("type", &Plain::name("sse_event"))?;
        r.serialize_field("flow", &cx.flow)?;
        r.serialize_field("ts", &ts_secs(self.ts))?;
        r.serialize_field("frame", &cx.frame)?;
        r.serialize_field("event", &self.event)?;
        r.serialize_field("id", &self.id)?;
        r.serialize_field("len", &self.len)?;
        preview.write(&mut r)?;
        cx.layers.write(&mut r)?;
        r.end()
    }
}

/// The record's `version`: `HTTP/1.` and the minor version as parsed.
fn http_version(minor: u8) -> std::borrow::Cow<'static, str> {
    match minor {
        0 => "HTTP/1.0".into(),
        1 => "HTTP/1.1".into(),
        v => format!("HTTP/1.{v}").into(),
    }
}

/// The longest UTF-8 prefix of `b` (a display head may be cut inside a character); `None` when
/// invalid UTF-8 comes before the end.
pub(crate) fn text_prefix(b: &[u8]) -> Option<&str> {
    match std::str::from_utf8(b) {
        Ok(s) => Some(s),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&b[..e.valid_up_to()]).ok(),
        Err(_) => None,
    }
}

impl HttpMessage<'_> {
    /// Values of the headers named `name`, any case, as text.
    fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// `HTTP/1.0` or `HTTP/1.1`, as the record's `version`.
    pub fn version_str(&self) -> &'static str {
        let (HttpHead::Request { version, .. } | HttpHead::Response { version, .. }) = self.head;
        if version == 0 { "HTTP/1.0" } else { "HTTP/1.1" }
    }
}

/// Hands a header value to `each` as text (lossily decoded when it is not UTF-8, which only
/// hostile traffic sends).
fn header_text(v: &[u8], each: &mut Each<'_>) -> ControlFlow<()> {
    each(Value::Str(&super::payload::lossy(v)))
}

impl OwnFields for HttpMessage<'_> {
    fn record_type(&self) -> RecordType {
        RecordType::Http
    }

    fn own_values(
        &self,
        field: FieldId,
        key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        let (request, status, reason) = match self.head {
            HttpHead::Request { method, target, .. } => (Some((method, target)), None, None),
            HttpHead::Response { status, reason, .. } => (None, Some(status), Some(reason)),
        };
        let first = |name: &'static str| self.header_values(name).next();
        match field {
            F::FrameTime => each(Value::Time(self.ts)),
            F::Dir => each(Value::Sym(self.dir.as_str())),
            F::Http => each(Value::Present),
            F::HttpRequest => one(request.map(|_| Value::Present), each),
            F::HttpResponse => one(status.map(|_| Value::Present), each),
            F::HttpMethod => one(request.map(|(m, _)| Value::Str(m)), each),
            F::HttpUri => one(request.map(|(_, t)| Value::Str(t)), each),
            F::HttpVersion => each(Value::Str(self.version_str())),
            F::HttpStatus => one(status.map(|s| Value::Int(s.into())), each),
            F::HttpReason => one(reason.map(Value::Str), each),
            F::HttpHeader => {
                // `Name: value` in a stack buffer: no allocation for ordinary header lines.
                let mut buf = [0u8; 512];
                for h in self.headers {
                    let len = h.name.len() + 2 + h.value.len();
                    if len <= buf.len() {
                        buf[..h.name.len()].copy_from_slice(h.name.as_bytes());
                        buf[h.name.len()..h.name.len() + 2].copy_from_slice(b": ");
                        buf[h.name.len() + 2..len].copy_from_slice(h.value);
                        header_text(&buf[..len], each)?;
                    } else {
                        header_text(&[h.name.as_bytes(), b": ", h.value].concat(), each)?;
                    }
                }
                ControlFlow::Continue(())
            }
            F::HttpHeaderNamed => {
                for v in self.header_values(key.unwrap_or_default()) {
                    header_text(v, each)?;
                }
                ControlFlow::Continue(())
            }
            F::HttpHost => {
                first("host").map_or(ControlFlow::Continue(()), |v| header_text(v, each))
            }
            F::HttpUserAgent => {
                first("user-agent").map_or(ControlFlow::Continue(()), |v| header_text(v, each))
            }
            F::HttpContentType => {
                first("content-type").map_or(ControlFlow::Continue(()), |v| header_text(v, each))
            }
            F::HttpUpgrade => one(self.upgrade.map(Value::Str), each),
            F::HttpChunked => each(Value::Bool(self.chunked)),
            F::HttpComplete => each(Value::Bool(self.complete)),
            F::HttpHeaderBytes => each(Value::Int(self.header_bytes.into())),
            F::HttpBodyBytes => each(Value::Int(self.body_bytes.into())),
            F::HttpFramingBytes => each(Value::Int(self.framing_bytes.into())),
            F::HttpBody => each(Value::Bytes(self.body_head)),
            _ => ControlFlow::Continue(()),
        }
    }
}

impl OwnFields for SseEvent<'_> {
    fn record_type(&self) -> RecordType {
        RecordType::SseEvent
    }

    fn own_values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        match field {
            F::FrameTime => each(Value::Time(self.ts)),
            F::Dir => each(Value::Sym(Dir::S2C.as_str())),
            F::Sse => each(Value::Present),
            F::SseEvent => one(self.event.map(Value::Str), each),
            F::SseId => one(self.id.map(Value::Str), each),
            F::SseData => one(text_prefix(self.data).map(Value::Str), each),
            F::SseLen => each(Value::Int(self.len.into())),
            _ => ControlFlow::Continue(()),
        }
    }
}
