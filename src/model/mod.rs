//! The analysis's vocabulary, shared by every protocol and every output: what a flow turned out
//! to be ([`FlowKind`], [`FlowSummary`]), the typed records protocols produce ([`Record`]: HTTP
//! messages, WebSocket handshakes, frames and messages, Server-Sent Events, anomalies), and the
//! event stream that carries them from the protocol layer to the printers ([`Event`],
//! [`EventSink`]).
//!
//! A record is a fact, borrowing the bytes it was found in (an owned copy is only made by whoever
//! keeps one). Every output renders records, and none parses: JSON writes each record's JSON form
//! ([`ToJson`]: the contract's fields in the contract's order), the text views use its
//! [`Render`] form (the protocol column, a one-line summary, the `-V` nodes, the `-x` dumps),
//! implemented once per record type in `report::render`. A printer draws the records it has its
//! own view of and every other one through `Render`: a new protocol adds records (a [`Record`]
//! variant with its JSON form and its `Render`), not printer branches.

pub mod anomaly;
pub mod fields;
pub mod flow;
pub mod http;
pub mod json;
pub mod payload;
pub mod sub;
pub mod sub_object;
pub mod tls;
pub mod websocket;

pub use anomaly::{Anomaly, Code, Severity};
pub use fields::InFlow;
pub use flow::{FlowFacts, FlowKind, FlowRecord, FlowSummary, HeldRequest, HttpPricing};
pub use http::{Header, HttpHead, HttpMessage, SseEvent};
pub use json::{Json, JsonCx, JsonLine, Layers, ToJson, ts_secs};
pub use payload::Digest;
pub use sub::{LatencyRecord, SubChoice, SubMeaning, SubReply, SubUnit};
pub use tls::{RecordLayer, TlsRecord, TlsSummary, TlsWhat};
pub use websocket::{DeflateParams, Handshake, OpCode, WsFrame, WsMessage};

use crate::decode::{DetailNode, TcpFlags};
use crate::tcp::{CloseHow, Dir, FlowMeta, PacketRef};
use serde::ser::Serializer;

/// Everything a protocol found, one typed record each: what JSON writes one line for, what the
/// text views show. Printers match the variants they have their own view of and show the rest
/// through [`Record::render`].
#[derive(Clone, Copy, Debug)]
pub enum Record<'a> {
    /// An HTTP/1.x message, when its body ended (or the stream did).
    Http(&'a HttpMessage<'a>),
    /// The WebSocket opening handshake, after the 101 response.
    Handshake(&'a Handshake),
    /// One WebSocket frame, when its last byte arrived.
    WsFrame(&'a WsFrame<'a>),
    /// A complete WebSocket data message.
    WsMessage(&'a WsMessage<'a>),
    /// One Server-Sent Event.
    Sse(&'a SseEvent<'a>),
    /// A TLS handshake message, alert or key change.
    Tls(&'a TlsRecord<'a>),
    /// A protocol violation or an analysis limit.
    Anomaly(&'a Anomaly),
    /// A WebSocket connection's application latency (sub-protocol requests and replies), for
    /// one method / event or the whole connection, when the connection ends.
    Latency(&'a LatencyRecord),
}

impl<'a> Record<'a> {
    /// How the record shows itself in the text views.
    pub fn render(&self) -> &'a dyn Render {
        match *self {
            Record::Http(r) => r,
            Record::Handshake(r) => r,
            Record::WsFrame(r) => r,
            Record::WsMessage(r) => r,
            Record::Sse(r) => r,
            Record::Tls(r) => r,
            Record::Anomaly(r) => r,
            Record::Latency(r) => r,
        }
    }

    /// The record's `type` in its JSON form (and the name of its table in columnar outputs).
    pub fn type_name(&self) -> &'static str {
        match *self {
            Record::Http(_) => "http",
            Record::Handshake(_) => "handshake",
            Record::WsFrame(_) => "ws_frame",
            Record::WsMessage(_) => "ws_message",
            Record::Sse(_) => "sse_event",
            Record::Anomaly(_) => "anomaly",
            Record::Tls(_) => "tls",
            Record::Latency(_) => "latency",
        }
    }

    /// The side that sent what the record is about, if one did.
    pub fn dir(&self) -> Option<Dir> {
        match *self {
            Record::Http(m) => Some(m.dir),
            Record::Handshake(_) => None,
            Record::WsFrame(f) => Some(f.dir),
            Record::WsMessage(m) => Some(m.dir),
            Record::Sse(_) => Some(Dir::S2C),
            Record::Tls(t) => Some(t.dir),
            Record::Anomaly(a) => a.dir,
            Record::Latency(_) => None,
        }
    }
}

impl ToJson for Record<'_> {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Record::Http(r) => r.to_json(cx, s),
            Record::Handshake(r) => r.to_json(cx, s),
            Record::WsFrame(r) => r.to_json(cx, s),
            Record::WsMessage(r) => r.to_json(cx, s),
            Record::Sse(r) => r.to_json(cx, s),
            Record::Tls(r) => r.to_json(cx, s),
            Record::Anomaly(r) => r.to_json(cx, s),
            Record::Latency(r) => r.to_json(cx, s),
        }
    }

    fn to_json_line<L: JsonLine>(&self, cx: &JsonCx, line: &mut L) -> Result<bool, L::Error> {
        match *self {
            Record::Http(r) => r.to_json_line(cx, line),
            Record::WsFrame(r) => r.to_json_line(cx, line),
            Record::WsMessage(r) => r.to_json_line(cx, line),
            Record::Handshake(r) => r.to_json_line(cx, line),
            _ => Ok(false),
        }
    }
}

/// What the text views ask of a record: implemented once per record type (`report::render`),
/// so that a printer shows any record, including one it has no view of its own for.
pub trait Render {
    /// The protocol column of a summary line: `HTTP`, `WebSocket`, `SSE`.
    fn protocol(&self) -> &'static str;
    /// One line, like tshark's Info column; everything from the capture escaped.
    fn info(&self, view: &View) -> String;
    /// The record's part of the `-V` tree.
    fn detail(&self, view: &View) -> Vec<DetailNode>;
    /// The bytes `-x` dumps, in order.
    fn dumps(&self, view: &View) -> Vec<Dump<'_>> {
        let _ = view;
        Vec::new()
    }
}

/// Characters of a payload shown on a one-line summary when `--snap-preview` is not given.
pub const LINE_PREVIEW: usize = 40;

/// Characters of a payload shown in a preview (JSON, `-V`) when `--snap-preview` is not given.
pub const PREVIEW: usize = 128;

/// How a text view shows records.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// Characters of payload shown in a preview (`-V`).
    pub preview_chars: usize,
    /// Characters of payload shown on a one-line summary (`--snap-preview` when given, else
    /// [`LINE_PREVIEW`]).
    pub line_chars: usize,
    /// Bytes of one payload dumped with `-x` at most.
    pub dump_bytes: usize,
    /// Colour (ANSI) in what is rendered.
    pub color: bool,
}

/// Bytes `-x` dumps, with what they are and how many there were in all (the bytes may be only
/// the first of them).
#[derive(Clone, Debug)]
pub struct Dump<'a> {
    pub label: &'static str,
    pub bytes: std::borrow::Cow<'a, [u8]>,
    pub total: u64,
}

/// Everything the analysis tells the printers and statistics about a flow, in the order it
/// learnt it: the flow's lifecycle, and the records its protocols produced.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// The first event of a flow.
    FlowOpened,
    /// An HTTP message's head was parsed (body counts zero, `complete == false`); its record
    /// comes when the message ends. Printers show an event stream's response here, as the
    /// stream may never end.
    HttpHead(&'a HttpMessage<'a>),
    /// Something a protocol found.
    Record(Record<'a>),
    /// A packet of the flow, sent by `dir`, carried SYN, FIN or RST: told after everything
    /// else the packet caused (see [`crate::tcp::StreamEvent::Control`]).
    Control { dir: Dir, flags: TcpFlags },
    /// The last event of a flow.
    FlowClosed {
        how: CloseHow,
        summary: &'a FlowSummary,
    },
}

/// Where an event happened.
#[derive(Clone, Copy, Debug)]
pub struct EventCtx<'a> {
    pub flow: &'a FlowMeta,
    /// The packet being processed (absent for end-of-input flushes).
    pub pkt: Option<PacketRef>,
    /// The protocol the event's record was found inside, if any (TLS, for HTTP read from TLS
    /// plaintext), and the ones around it: `None` for a protocol read straight off TCP.
    pub layer: Option<&'a Layer<'a>>,
}

impl<'a> EventCtx<'a> {
    /// An event of `flow` caused by `pkt`, found straight off TCP.
    pub fn new(flow: &'a FlowMeta, pkt: Option<PacketRef>) -> EventCtx<'a> {
        EventCtx {
            flow,
            pkt,
            layer: None,
        }
    }
}

/// A protocol that carries another, and the one around it: a chain from the innermost, kept
/// on the stack of the dissector that owns the inner one while the inner one runs.
#[derive(Clone, Copy, Debug)]
pub struct Layer<'a> {
    pub name: &'static str,
    pub outer: Option<&'a Layer<'a>>,
    /// The record of this layer that carried what was found (TLS: the record that completed
    /// it), for the `-V` tree and the `-x` dumps.
    pub record: Option<&'a RecordLayer<'a>>,
}

impl Layer<'_> {
    /// The names of the chain, outermost first.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = vec![self.name];
        let mut at = self.outer;
        while let Some(l) = at {
            names.push(l.name);
            at = l.outer;
        }
        names.reverse();
        names
    }
}

/// Consumer of events: printers, statistics, `check`.
pub trait EventSink {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>);

    /// An anomaly that belongs to no flow (link layer, IP fragments, a full flow table).
    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        let _ = (anomaly, frame);
    }

    /// Whether the sink reads the records of what flows carried (`http`, `handshake`,
    /// `ws_frame`, `ws_message`, `sse_event`, `tls`) and the other events of a flow (its
    /// opening, HTTP heads, SYN/FIN/RST) beyond anomalies, latency records and each flow's
    /// closing summary. One that does not (the tables of `-q`) spares the threaded pipeline
    /// carrying them from its workers, and the analysis work whose only result is in them
    /// (decoding the messages of a connection whose content is plain JSON).
    fn wants_message_records(&self) -> bool {
        true
    }
}

impl FlowSummary {
    /// Counts one record of the flow: what each record adds to the flow record and to the
    /// overhead table (docs/overhead.md), in one place for every protocol. `poll_interval_ns`
    /// is the interval short polling is priced at (`--poll-interval`).
    pub fn count(&mut self, record: &Record<'_>, poll_interval_ns: u64) {
        if let Record::Http(m) = *record {
            self.pricing.http(m);
        }
        match *record {
            Record::Http(m) if m.is_event_stream() => {
                // Its events were the messages and their data the payload: the head, the
                // chunk framing and everything of the body that was not event data (field
                // names, line ends, comments) are framing.
                let d = m.dir.index();
                self.http_messages += 1;
                let data = std::mem::take(&mut self.sse_data_bytes);
                self.l7_header_bytes[d] +=
                    m.header_bytes + m.framing_bytes + m.body_bytes.saturating_sub(data);
            }
            Record::Http(m) => {
                let d = m.dir.index();
                self.http_messages += 1;
                self.messages[d] += 1;
                self.l7_header_bytes[d] += m.header_bytes + m.framing_bytes;
                self.l7_payload_bytes[d] += m.body_bytes;
            }
            Record::Handshake(h) => {
                self.pricing.since = Some(h.ts);
                self.handshake_complete = true;
                self.upgrade_request_bytes = h.request_bytes;
                self.upgrade_response_bytes = h.response_bytes;
            }
            Record::WsFrame(f) => {
                let d = f.dir.index();
                self.ws_frames += 1;
                self.l7_header_bytes[d] += f.header.len() as u64;
                self.l7_payload_bytes[d] += f.payload_len;
            }
            Record::WsMessage(m) => {
                self.ws_messages += 1;
                self.messages[m.dir.index()] += 1;
                self.pricing.message(m.dir, m.len, m.ts, poll_interval_ns);
            }
            Record::Sse(e) => {
                let d = Dir::S2C.index();
                self.sse_events += 1;
                self.messages[d] += 1;
                self.l7_payload_bytes[d] += e.len;
                self.sse_data_bytes += e.len;
            }
            Record::Tls(_) => {}
            Record::Anomaly(_) => self.anomalies += 1,
            Record::Latency(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn layers_are_named_outermost_first() {
        let tls = Layer {
            name: "TLS",
            outer: None,
            record: None,
        };
        let http = Layer {
            name: "HTTP",
            outer: Some(&tls),
            record: None,
        };
        assert_eq!(http.names(), ["TLS", "HTTP"]);
    }

    #[test]
    fn a_record_in_its_context_is_one_json_object_in_the_contract_order() {
        let a = Anomaly {
            code: Code::TcpGap,
            dir: Some(Dir::S2C),
            ts: Timestamp::from_secs_nanos(1_700_000_000, 123_456_789),
            detail: "3 bytes missing".into(),
        };
        let record = Record::Anomaly(&a);
        assert_eq!(record.dir(), Some(Dir::S2C));
        let cx = JsonCx {
            flow: Some(7),
            frame: Some(42),
            preview_chars: 128,
            layers: Layers::default(),
        };
        let json = serde_json::to_string(&Json {
            record: &record,
            cx,
        })
        .expect("serializes");
        assert_eq!(
            json,
            r#"{"type":"anomaly","flow":7,"dir":"s2c","ts":1700000000.123456,"frame":42,"severity":"warning","code":"tcp.gap","detail":"3 bytes missing"}"#
        );
    }
}
