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

pub mod flow;
pub mod http;
pub mod payload;
pub mod websocket;

pub use flow::{FlowRecord, FlowSummary};
pub use http::{Header, HttpHead, HttpMessage, SseEvent};
pub use payload::Digest;
pub use websocket::{DeflateParams, Handshake, OpCode, WsFrame, WsMessage};

use crate::decode::{DetailNode, TcpFlags};
use crate::tcp::{CloseHow, Dir, FlowId, FlowMeta, PacketRef};
use crate::time::Timestamp;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::fmt;

/// What a flow turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowKind {
    Http,
    WebSocket,
    Sse,
    LongPoll,
    Other,
}

impl FlowKind {
    pub const ALL: [FlowKind; 5] = [
        FlowKind::Http,
        FlowKind::WebSocket,
        FlowKind::Sse,
        FlowKind::LongPoll,
        FlowKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Http => "http",
            FlowKind::WebSocket => "websocket",
            FlowKind::Sse => "sse",
            FlowKind::LongPoll => "long-poll",
            FlowKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<FlowKind> {
        FlowKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for FlowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of an anomaly: `check` fails on errors (with `--strict`, on warnings too); an
/// `Info` note says what could not be judged and never fails anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $name:literal, $sev:ident, $doc:literal;)*) => {
        /// Anomaly codes (CONTRACT.md). Names are binding; new codes keep the `layer.what` scheme.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $(#[doc = $doc] $variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];
            pub fn as_str(self) -> &'static str { match self { $(Code::$variant => $name,)* } }
            pub fn severity(self) -> Severity { match self { $(Code::$variant => Severity::$sev,)* } }
            pub fn description(self) -> &'static str { match self { $(Code::$variant => $doc,)* } }
            pub fn parse(s: &str) -> Option<Code> { Code::ALL.iter().copied().find(|c| c.as_str() == s) }
        }
    };
}

codes! {
    WsAcceptMismatch => "ws.accept_mismatch", Error, "Sec-WebSocket-Accept is not base64(SHA-1(key + GUID))";
    WsHandshakeInvalid => "ws.handshake_invalid", Error, "upgrade request or 101 response lacks a required header";
    WsUpgradeRefused => "ws.upgrade_refused", Warning, "upgrade requested, server answered other than 101";
    WsRequestNotCaptured => "ws.request_not_captured", Info, "a 101 whose upgrade request is not (whole) in the capture: the request side of the handshake cannot be checked";
    WsUnmaskedClientFrame => "ws.unmasked_client_frame", Error, "client-to-server frame without mask";
    WsMaskedServerFrame => "ws.masked_server_frame", Error, "server-to-client frame with mask";
    WsReservedOpcode => "ws.reserved_opcode", Error, "opcode 3-7 or 0xB-0xF";
    WsRsvWithoutExtension => "ws.rsv_without_extension", Error, "RSV bit set that no negotiated extension defines";
    WsControlTooLong => "ws.control_too_long", Error, "control frame payload longer than 125 bytes";
    WsControlFragmented => "ws.control_fragmented", Error, "control frame with FIN = 0";
    WsUnexpectedContinuation => "ws.unexpected_continuation", Error, "continuation frame with no message in progress";
    WsInterleavedData => "ws.interleaved_data", Error, "new data frame while a fragmented message is in progress";
    WsInvalidUtf8 => "ws.invalid_utf8", Error, "text message or close reason is not UTF-8";
    WsInvalidCloseCode => "ws.invalid_close_code", Error, "close code not allowed on the wire, or 1-byte close payload";
    WsDataAfterClose => "ws.data_after_close", Error, "frame from a side after that side sent close";
    WsNonMinimalLength => "ws.non_minimal_length", Warning, "payload length not in its shortest encoding";
    WsLengthTooLarge => "ws.length_too_large", Error, "64-bit payload length with the most significant bit set";
    WsInflateError => "ws.inflate_error", Error, "permessage-deflate data that does not inflate";
    WsMessageTooLarge => "ws.message_too_large", Warning, "message beyond the inflate or buffer cap; the rest was skipped";
    WsResync => "ws.resync", Warning, "framing lost after a gap; decoding resumed at a plausible frame header or stopped";
    WsTruncated => "ws.truncated", Warning, "the connection ended inside a WebSocket frame or fragmented message";
    WsInflaterCap => "ws.inflater_cap", Warning, "permessage-deflate messages not inflated: the cap on live inflaters was reached";
    HttpParseError => "http.parse_error", Error, "bytes on an HTTP stream that do not parse as HTTP/1.x";
    HttpHeadTooLarge => "http.head_too_large", Warning, "HTTP head larger than the configured cap; direction no longer decoded";
    HttpAmbiguousFraming => "http.ambiguous_framing", Error, "Transfer-Encoding together with Content-Length, or in HTTP/1.0 (request smuggling risk); Transfer-Encoding used";
    HttpUpgradeHoldOverflow => "http.upgrade_hold_overflow", Warning, "client bytes after an upgrade or CONNECT request outgrew the hold cap before the response; they were dropped";
    HttpResync => "http.resync", Warning, "HTTP framing lost after a gap (or mid-stream pick-up); bytes skipped to the next start line";
    HttpObsFold => "http.obs_fold", Warning, "obsolete line folding in a header field; unfolded into spaces (RFC 9112 §5.2)";
    HttpFieldSpace => "http.field_space", Warning, "whitespace between a response header name and its colon; stripped (RFC 9112 §5.1)";
    HttpRequestFieldSpace => "http.request_field_space", Error, "whitespace between a request header name and its colon, which a server must reject (RFC 9112 §5.1)";
    HttpTruncated => "http.truncated", Warning, "an HTTP head cut short by a gap, the snaplen or the end of the stream; what it holds is reported";
    HttpRequestsEvicted => "http.requests_evicted", Warning, "more than 1024 requests awaiting responses; the oldest are kept only as their framing needs";
    HttpUpgradeUnanswered => "http.upgrade_unanswered", Warning, "the connection ended while client bytes held after an upgrade request awaited its response; they were not decoded";
    TcpGap => "tcp.gap", Warning, "bytes missing from a stream (lost before capture)";
    TcpMidstream => "tcp.midstream", Warning, "flow picked up without its SYN";
    TcpOverlapConflict => "tcp.overlap_conflict", Warning, "retransmitted bytes differ from the bytes first seen";
    TcpBufferCap => "tcp.buffer_cap", Warning, "out-of-order data dropped because a reassembly buffer cap was hit";
    TcpFlowCap => "tcp.flow_cap", Warning, "a flow was not tracked because the flow table is full";
    TcpRstOutOfWindow => "tcp.rst_out_of_window", Warning, "a RST its receiver drops: outside the receive window, or answering a SYN without acknowledging it; the flow goes on";
    TcpRstIgnored => "tcp.rst_ignored", Warning, "a RST the connection outlived: its receiver acknowledged bytes sent after it (or the refused handshake went on); analysis took the flow up again";
    TcpBadHeader => "tcp.bad_header", Warning, "a packet on an analyzed port skipped for a broken TCP header (data offset below 5 words or beyond the IP payload, header cut short)";
    IpBadHeader => "ip.bad_header", Warning, "a TCP packet skipped for a broken IP header (IHL below 5, header cut short, broken extension headers)";
    IpFragment => "ip.fragment", Warning, "IP datagrams whose fragments could not be reassembled (lost, expired, over the cap); their TCP bytes are missing";
    LinkUnknown => "link.unknown", Warning, "packets of a link type sockscope does not decode were skipped";
}

/// A protocol violation or an analysis limit: reported, never fatal.
#[derive(Clone, Debug)]
pub struct Anomaly {
    pub code: Code,
    pub dir: Option<Dir>,
    pub ts: Timestamp,
    pub detail: String,
}

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
    /// A protocol violation or an analysis limit.
    Anomaly(&'a Anomaly),
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
            Record::Anomaly(r) => r,
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
            Record::Anomaly(a) => a.dir,
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
            Record::Anomaly(r) => r.to_json(cx, s),
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

/// How a text view shows records.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// Characters of payload shown in a preview.
    pub preview_chars: usize,
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

/// What a record's JSON form takes besides the record: where it was found and how long a
/// preview is.
#[derive(Clone, Copy, Debug)]
pub struct JsonCx {
    /// The flow (none for an anomaly that belongs to no flow).
    pub flow: Option<FlowId>,
    /// The packet being processed when the record was made, if any.
    pub frame: Option<u64>,
    /// Characters of payload in a `preview` (`--snap-preview`).
    pub preview_chars: usize,
}

/// A record's JSON form: one object, the fields and their order as CONTRACT.md and
/// docs/schema.json give them.
pub trait ToJson {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error>;
}

/// A record with its JSON context, ready for serde.
pub struct Json<'r, R: ?Sized> {
    pub record: &'r R,
    pub cx: JsonCx,
}

impl<R: ToJson + ?Sized> Serialize for Json<'_, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.record.to_json(&self.cx, s)
    }
}

/// A timestamp as JSON writes it: seconds since the epoch, to the microsecond.
pub fn ts_secs(t: Timestamp) -> f64 {
    t.as_nanos().div_euclid(1_000) as f64 / 1e6
}

/// `serialize_with` for timestamps (see [`ts_secs`]).
pub(crate) fn ts<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts_secs(*t))
}

impl ToJson for Anomaly {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("anomaly", 8)?;
        r.serialize_field("type", "anomaly")?;
        r.serialize_field("flow", &cx.flow)?;
        r.serialize_field("dir", &self.dir.map(Dir::as_str))?;
        r.serialize_field("ts", &ts_secs(self.ts))?;
        r.serialize_field("frame", &cx.frame)?;
        r.serialize_field("severity", self.code.severity().as_str())?;
        r.serialize_field("code", self.code.as_str())?;
        r.serialize_field("detail", &self.detail)?;
        r.end()
    }
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
    /// The protocols the event's record came through before the one that found it.
    pub layers: Layers,
}

impl<'a> EventCtx<'a> {
    /// An event of `flow` caused by `pkt`, found straight off TCP.
    pub fn new(flow: &'a FlowMeta, pkt: Option<PacketRef>) -> EventCtx<'a> {
        EventCtx {
            flow,
            pkt,
            layers: Layers::default(),
        }
    }
}

/// The protocols a record came through, outermost first, before the one that found it (TLS,
/// for HTTP read from TLS plaintext): none for a protocol read straight off TCP. Holds up to
/// [`Layers::MAX`] names; deeper nesting keeps the outermost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layers {
    names: [&'static str; Layers::MAX],
    len: u8,
}

impl Layers {
    pub const MAX: usize = 4;

    /// These layers and, inside them, `name`.
    pub fn with(mut self, name: &'static str) -> Layers {
        if let Some(slot) = self.names.get_mut(usize::from(self.len)) {
            *slot = name;
            self.len += 1;
        }
        self
    }

    /// The names, outermost first.
    pub fn names(&self) -> &[&'static str] {
        self.names.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// Consumer of events: printers, statistics, `check`.
pub trait EventSink {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>);

    /// An anomaly that belongs to no flow (link layer, IP fragments, a full flow table).
    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        let _ = (anomaly, frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../docs/anomalies.md");
        for code in Code::ALL {
            assert!(
                doc.contains(&format!("`{}`", code.as_str())),
                "{} is missing from docs/anomalies.md",
                code.as_str()
            );
        }
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

    #[test]
    fn codes_parse_back_and_follow_the_naming_scheme() {
        for &code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
            let (layer, what) = code.as_str().split_once('.').unwrap();
            assert!(["ws", "http", "tcp", "ip", "link"].contains(&layer));
            assert!(
                what.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
        }
    }
}
