//! Protocol analysis over reassembled TCP streams: HTTP/1.x, the WebSocket upgrade and RFC 6455
//! framing, and the flow's kind. Everything the analysis finds is an [`Event`]; printers and
//! statistics consume events and never parse.

pub mod classify;
pub mod conn;
pub mod digest;
pub mod http;
pub mod sub;
pub mod tls;
pub mod websocket;

pub use digest::Digest;

use crate::tcp::{CloseHow, Dir, FlowMeta, PacketRef};
use crate::time::Timestamp;
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
    WsBudgetInflater => "ws.budget_inflater", Warning, "memory budget: a permessage-deflate inflater was released; the message in progress is not inflated";
    WsBudgetDisplay => "ws.budget_display", Warning, "memory budget: a WebSocket connection's display bytes were dropped; its previews and dumps stay empty";
    WsBudgetPings => "ws.budget_pings", Warning, "memory budget: pending pings and round-trip times were forgotten";
    WsBudgetCandidate => "ws.budget_candidate", Warning, "memory budget: bytes that looked like WebSocket framing were dropped while awaiting confirmation; confirmed, they are not decoded";
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
    HttpBudgetHead => "http.budget_head", Warning, "memory budget: an incomplete HTTP head was reported for what it holds and dropped (the side resynchronises), or the headers of a message in progress";
    HttpBudgetHold => "http.budget_hold", Warning, "memory budget: client bytes held while an upgrade awaits its response were dropped";
    HttpBudgetPending => "http.budget_pending", Warning, "memory budget: unanswered requests were kept only as what framing their responses needs, or that record (evicted HEAD/CONNECT) was forgotten";
    HttpBudgetDisplay => "http.budget_display", Warning, "memory budget: an HTTP connection's display bytes were dropped; its body previews stay empty";
    TcpGap => "tcp.gap", Warning, "bytes missing from a stream (lost before capture)";
    TcpMidstream => "tcp.midstream", Warning, "flow picked up without its SYN";
    TcpOverlapConflict => "tcp.overlap_conflict", Warning, "retransmitted bytes differ from the bytes first seen";
    TcpBufferCap => "tcp.buffer_cap", Warning, "out-of-order data dropped because a reassembly buffer cap was hit";
    TcpFlowCap => "tcp.flow_cap", Warning, "a flow was not tracked because the flow table is full";
    TcpRstOutOfWindow => "tcp.rst_out_of_window", Warning, "a RST its receiver drops: outside the receive window, or answering a SYN without acknowledging it; the flow goes on";
    TcpRstIgnored => "tcp.rst_ignored", Warning, "a RST the connection outlived: its receiver acknowledged bytes sent after it (or the refused handshake went on); analysis took the flow up again";
    TcpBadHeader => "tcp.bad_header", Warning, "a packet on an analyzed port skipped for a broken TCP header (data offset below 5 words or beyond the IP payload, header cut short)";
    IpBadHeader => "ip.bad_header", Warning, "a TCP packet skipped for a broken IP header (IHL below 5, header cut short, broken extension headers)";
    TcpBudgetOoo => "tcp.budget_ooo", Warning, "memory budget: out-of-order bytes were delivered early, the holes before them given up as gaps";
    TcpBudgetEvict => "tcp.budget_evict", Warning, "memory budget: a flow among the largest holders was ended early; its later packets are not analyzed";
    TcpBudgetFlows => "tcp.budget_flows", Warning, "memory budget: new flows are not tracked, the budget cannot hold another flow";
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

/// An HTTP/1.x message. Emitted twice: [`Event::HttpHead`] when its head is parsed (body counts
/// zero, `complete == false`), and [`Event::Http`] when its body ended (or the stream did).
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

/// permessage-deflate parameters agreed in the 101 response (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}

/// The WebSocket opening handshake as both sides performed it.
#[derive(Clone, Debug, Default)]
pub struct Handshake {
    pub ts: Timestamp,
    pub key: Option<String>,
    pub accept: Option<String>,
    pub expected_accept: Option<String>,
    pub accept_valid: bool,
    pub version: Option<String>,
    pub subprotocol: Option<String>,
    pub extensions: Vec<String>,
    pub deflate: Option<DeflateParams>,
    pub origin: Option<String>,
    /// Start line + headers + blank line of the upgrade request and of the 101 response.
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// RFC 6455 opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    Reserved(u8),
}

impl OpCode {
    pub fn from_u8(n: u8) -> OpCode {
        match n & 0x0f {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            n => OpCode::Reserved(n),
        }
    }
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
            OpCode::Reserved(n) => n,
        }
    }
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
    /// The contract's name: `continuation`, `text`, ..., `reserved-N`.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            OpCode::Continuation => "continuation".into(),
            OpCode::Text => "text".into(),
            OpCode::Binary => "binary".into(),
            OpCode::Close => "close".into(),
            OpCode::Ping => "ping".into(),
            OpCode::Pong => "pong".into(),
            OpCode::Reserved(n) => format!("reserved-{n}").into(),
        }
    }
}

/// One WebSocket frame, emitted when its last byte arrived.
#[derive(Clone, Copy, Debug)]
pub struct WsFrame<'a> {
    pub dir: Dir,
    pub ts: Timestamp,
    /// Packet in which the frame's first byte arrived.
    pub first_frame: u64,
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// The raw header bytes (2–14).
    pub header: &'a [u8],
    /// The first bytes of the payload, unmasked (up to the display cap).
    pub payload_head: &'a [u8],
    /// Close frames: code (if ≥ 2 bytes) and reason bytes.
    pub close_code: Option<u16>,
    pub close_reason: Option<&'a [u8]>,
}

/// A complete WebSocket data message (text or binary), after reassembly and inflation.
#[derive(Clone, Copy, Debug)]
pub struct WsMessage<'a> {
    pub dir: Dir,
    pub ts: Timestamp,
    pub opcode: OpCode,
    pub frames: u32,
    /// Payload bytes on the wire (compressed if deflated).
    pub wire_len: u64,
    /// Message length after inflation.
    pub len: u64,
    pub compressed: bool,
    /// Text messages: whether the whole message is UTF-8. Binary: `None`.
    pub valid_utf8: Option<bool>,
    /// The first bytes of the (inflated) message, up to the display cap.
    pub data_head: &'a [u8],
    /// SHA-256 of the whole unmasked, inflated message, with `--digest`.
    pub digest: Digest,
}

/// One Server-Sent Event (a blank-line-terminated block of an event stream).
#[derive(Clone, Copy, Debug)]
pub struct SseEvent<'a> {
    pub ts: Timestamp,
    pub event: Option<&'a str>,
    pub id: Option<&'a str>,
    /// `data` lines joined with `\n`, up to the display cap.
    pub data: &'a [u8],
}

/// Per-flow results, complete when the flow closes.
#[derive(Clone, Debug, Default)]
pub struct FlowSummary {
    pub kind: Option<FlowKind>,
    /// An `http` flow that is short polling (the same resource asked for again and again,
    /// answered at once) — told apart from long polling, SSE and WebSocket for learners.
    pub polling: bool,
    pub http_messages: u64,
    pub ws_frames: u64,
    pub ws_messages: u64,
    pub sse_events: u64,
    pub anomalies: u64,
    pub handshake_complete: bool,
    /// Upgrade request and 101 response head sizes, for the "what if over HTTP" estimate.
    pub upgrade_request_bytes: u64,
    pub upgrade_response_bytes: u64,
    /// L7 header bytes per direction (HTTP heads and chunk framing, WebSocket frame headers).
    pub l7_header_bytes: [u64; 2],
    /// L7 payload bytes per direction (HTTP bodies, WebSocket frame payloads).
    pub l7_payload_bytes: [u64; 2],
    /// Data messages per direction (WebSocket messages; HTTP requests / responses).
    pub messages: [u64; 2],
    /// Ping→pong round-trip times, seconds.
    pub ping_rtts: Vec<f64>,
}

/// Everything the analysis tells the printers and statistics.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    FlowOpened,
    HttpHead(&'a HttpMessage<'a>),
    Http(&'a HttpMessage<'a>),
    Handshake(&'a Handshake),
    WsFrame(&'a WsFrame<'a>),
    WsMessage(&'a WsMessage<'a>),
    Sse(&'a SseEvent<'a>),
    Anomaly(&'a Anomaly),
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
    fn the_readme_counts_every_code() {
        let readme = include_str!("../../README.md");
        let said = readme
            .split("- **Anomalies**: ")
            .nth(1)
            .and_then(|rest| rest.split_once(" codes"))
            .and_then(|(n, _)| n.parse::<usize>().ok());
        assert_eq!(
            said,
            Some(Code::ALL.len()),
            "README.md's \"- **Anomalies**: N codes\" must say how many codes there are"
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
