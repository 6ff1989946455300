//! What a flow is once it is over: its kind ([`FlowKind`]), the per-flow results the protocol
//! layer keeps ([`FlowSummary`]) and the flow's JSON record ([`FlowRecord`]).

use crate::model::json::ts;
use crate::model::tls::TlsSummary;
use crate::tcp::{CloseHow, FlowId, FlowMeta};
use crate::time::Timestamp;
use serde::Serialize;
use std::fmt;

/// What a flow turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowKind {
    Http,
    WebSocket,
    Sse,
    LongPoll,
    /// TLS whose application data was not read (no keys, or a protocol sockscope does not
    /// decode).
    Tls,
    /// HTTP/2 inside TLS (ALPN `h2`): counted, not parsed.
    Http2,
    Other,
}

impl FlowKind {
    pub const ALL: [FlowKind; 7] = [
        FlowKind::Http,
        FlowKind::WebSocket,
        FlowKind::Sse,
        FlowKind::LongPoll,
        FlowKind::Tls,
        FlowKind::Http2,
        FlowKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Http => "http",
            FlowKind::WebSocket => "websocket",
            FlowKind::Sse => "sse",
            FlowKind::LongPoll => "long-poll",
            FlowKind::Tls => "tls",
            FlowKind::Http2 => "http2",
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
    /// The flow's TLS, when it was TLS.
    pub tls: Option<Box<TlsSummary>>,
}

/// The `flow` JSON record: written after every other record of the flow.
#[derive(Serialize)]
pub struct FlowRecord {
    r#type: &'static str,
    id: FlowId,
    client: String,
    server: String,
    kind: &'static str,
    #[serde(serialize_with = "ts")]
    first_ts: Timestamp,
    #[serde(serialize_with = "ts")]
    last_ts: Timestamp,
    packets: u64,
    bytes_c2s: u64,
    bytes_s2c: u64,
    ws_frames: u64,
    ws_messages: u64,
    http_messages: u64,
    sse_events: u64,
    polling: bool,
    anomalies: u64,
    handshake_complete: bool,
    closed: Option<&'static str>,
    end: &'static str,
    gaps: u64,
    ping_rtt_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsSummary>,
}

impl FlowRecord {
    pub fn new(m: &FlowMeta, summary: &FlowSummary, how: CloseHow) -> FlowRecord {
        let (closed, end) = close_name(how);
        FlowRecord {
            r#type: "flow",
            id: m.id,
            client: m.client.to_string(),
            server: m.server.to_string(),
            kind: summary.kind.unwrap_or(FlowKind::Other).as_str(),
            first_ts: m.first_ts,
            last_ts: m.last_ts,
            packets: m.packets,
            bytes_c2s: m.payload_bytes[0],
            bytes_s2c: m.payload_bytes[1],
            ws_frames: summary.ws_frames,
            ws_messages: summary.ws_messages,
            http_messages: summary.http_messages,
            sse_events: summary.sse_events,
            polling: summary.polling,
            anomalies: summary.anomalies,
            handshake_complete: summary.handshake_complete,
            closed,
            end,
            gaps: m.gap_bytes[0] + m.gap_bytes[1],
            ping_rtt_ms: mean(&summary.ping_rtts).map(|s| round3(s * 1e3)),
            tls: summary.tls.as_deref().cloned(),
        }
    }
}

/// How a flow ended, as the flow record says it: `closed` (`fin`, `rst` or none) and `end`.
pub fn close_name(how: CloseHow) -> (Option<&'static str>, &'static str) {
    match how {
        CloseHow::Fin => (Some("fin"), "fin"),
        CloseHow::Rst => (Some("rst"), "rst"),
        CloseHow::Idle => (None, "idle"),
        CloseHow::EndOfInput => (None, "eof"),
        CloseHow::Evicted => (None, "evicted"),
    }
}

/// Mean of a list, `None` when empty.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Rounds to 3 decimals so that percentages and milliseconds print tidily.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
