//! What a flow is once it is over: its kind ([`FlowKind`]), the per-flow results the protocol
//! layer keeps ([`FlowSummary`]), the flow's JSON record ([`FlowRecord`]) and its fields for a
//! display filter ([`FlowFacts`]).

use crate::filter::{Each, FieldId, OwnFields, RecordType, Value, one};
use crate::model::json::{JsonLine, ts};
use crate::model::sub::SubChoice;
use crate::model::tls::TlsSummary;
use crate::tcp::identity::{community_id, community_id_str, endpoint_str, endpoint_text};
use crate::tcp::{CloseHow, FlowId, FlowMeta};
use crate::time::Timestamp;
use serde::Serialize;
use serde::ser::SerializeStruct;
use std::fmt;
use std::ops::ControlFlow;

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
    /// Data bytes of the events of the event stream in progress, counted as payload; the
    /// rest of its body is framing when the response ends.
    pub sse_data_bytes: u64,
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
    /// WebSocket: the sub-protocol its messages were decoded as, and why (or why not).
    pub sub: Option<SubChoice>,
    /// What pricing a WebSocket flow's messages over HTTP needs (docs/overhead.md).
    pub pricing: HttpPricing,
    /// The flow's TLS, when it was TLS.
    pub tls: Option<Box<TlsSummary>>,
    /// The one request the flow held, when that makes it a long poll only if an earlier flow
    /// held one too (a client that reconnects for every poll). `kind` is then what the flow
    /// is without that, until the flows are taken in the order they close, across all of them
    /// (`proto::classify::LongPollMemory::decide`): by the analysis with one thread, by the
    /// thread that prints with several.
    pub held_request: Option<HeldRequest>,
}

/// A held request as flows are compared by it: from one client to one server, for one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeldRequest {
    pub client: std::net::IpAddr,
    pub server: std::net::SocketAddr,
    /// The path's fingerprint (query ignored).
    pub path: u64,
}

/// What the overhead comparison needs to price a WebSocket flow's messages as HTTP would
/// carry them (`stats::WhatIf`), gathered as the records go by: nothing per message is kept.
#[derive(Clone, Debug, Default)]
pub struct HttpPricing {
    /// Heads of the flow's plain HTTP messages (neither the upgrade request nor the 101): bytes
    /// and count, per direction.
    pub plain_heads: [(u64, u64); 2],
    /// The upgrade request's head and the 101's, each without its WebSocket headers (`Upgrade`,
    /// `Connection`, `Sec-WebSocket-*`).
    pub upgrade_heads: [u64; 2],
    /// The 101's status line, line end included.
    pub status_line_101: u64,
    /// When the handshake completed: where polling would have started.
    pub since: Option<crate::time::Timestamp>,
    /// `Content-Length: N` lines the data messages would need as HTTP bodies, per direction.
    pub content_length_bytes: [u64; 2],
    /// What the server's messages would cost as Server-Sent Events: `data: ` and the blank
    /// line per event, and its chunk framing.
    pub sse_framing_bytes: u64,
    /// Short polling: the poll interval the last server message fell in, and how many of the
    /// polls carried at least one.
    pub last_poll: Option<u64>,
    pub busy_polls: u64,
}

/// Decimal digits of `n`.
pub fn digits(n: u64) -> u64 {
    u64::from(n.checked_ilog10().unwrap_or(0)) + 1
}

/// Hexadecimal digits of `n` (a chunk-size line).
pub fn hex_digits(n: u64) -> u64 {
    u64::from(n.checked_ilog2().unwrap_or(0) / 4) + 1
}

/// `Content-Length: ` and its CRLF.
pub const CONTENT_LENGTH_LINE: u64 = 18;
/// An event's `data: ` and the LF that ends its line, then the blank line.
pub const SSE_EVENT_FRAMING: u64 = 8;

impl HttpPricing {
    /// Bytes of the header lines a WebSocket upgrade adds to an HTTP head (`Name: value` and
    /// CRLF each).
    fn websocket_header_bytes(headers: &[crate::model::Header<'_>]) -> u64 {
        headers
            .iter()
            .filter(|h| {
                h.name.eq_ignore_ascii_case("upgrade")
                    || h.name.eq_ignore_ascii_case("connection")
                    || h.name
                        .as_bytes()
                        .get(..14)
                        .is_some_and(|p| p.eq_ignore_ascii_case(b"sec-websocket-"))
            })
            .map(|h| (h.name.len() + h.value.len() + 4) as u64)
            .sum()
    }

    /// An HTTP message of the flow.
    pub fn http(&mut self, m: &crate::model::HttpMessage<'_>) {
        use crate::model::HttpHead;
        // Only the upgrade's two heads are priced without their WebSocket headers.
        let stripped = || {
            m.header_bytes
                .saturating_sub(Self::websocket_header_bytes(m.headers))
        };
        match m.head {
            HttpHead::Request { .. } if m.upgrade.is_some() => self.upgrade_heads[0] = stripped(),
            HttpHead::Response {
                status: 101,
                reason,
                ..
            } => {
                self.upgrade_heads[1] = stripped();
                self.status_line_101 = 15 + reason.len() as u64;
            }
            _ => {
                let h = &mut self.plain_heads[m.dir.index()];
                h.0 += m.header_bytes;
                h.1 += 1;
            }
        }
    }

    /// A WebSocket data message of `len` bytes sent by `dir` at `ts`; `poll_interval_ns` is
    /// short polling's interval.
    pub fn message(
        &mut self,
        dir: crate::tcp::Dir,
        len: u64,
        ts: crate::time::Timestamp,
        poll_interval_ns: u64,
    ) {
        self.content_length_bytes[dir.index()] += CONTENT_LENGTH_LINE + digits(len);
        if dir == crate::tcp::Dir::S2C {
            let event = SSE_EVENT_FRAMING + len;
            self.sse_framing_bytes += SSE_EVENT_FRAMING + hex_digits(event) + 4;
            let since = self.since.unwrap_or(ts);
            let elapsed =
                u64::try_from(ts.as_nanos().saturating_sub(since.as_nanos())).unwrap_or(0);
            let poll = elapsed / poll_interval_ns.max(1);
            if self.last_poll != Some(poll) {
                self.last_poll = Some(poll);
                self.busy_polls += 1;
            }
        }
    }
}

impl FlowSummary {
    /// What the flow was when it closed: its kind, or `other` when nothing was recognised.
    pub fn closed_kind(&self) -> FlowKind {
        self.kind.unwrap_or(FlowKind::Other)
    }

    /// Mean ping→pong round-trip time in milliseconds, rounded to the microsecond: the value
    /// JSON writes and every text view prints, so that they agree to the last digit.
    pub fn ping_rtt_ms(&self) -> Option<f64> {
        mean(&self.ping_rtts).map(|s| round3(s * 1e3))
    }

    /// Messages per direction (client→server, server→client) as the flows table and the flow
    /// record count them: WebSocket data messages, HTTP requests and responses, Server-Sent
    /// Events; an upgrade request and its 101 are the handshake, not messages.
    pub fn data_messages(&self) -> [u64; 2] {
        let mut messages = self.messages;
        if self.handshake_complete {
            // The 101 was counted (it completed the handshake); the request was not if it
            // did not parse.
            let handshake = self.http_messages.min(2);
            messages[1] = messages[1].saturating_sub(handshake.min(1));
            messages[0] = messages[0].saturating_sub(handshake.saturating_sub(1));
        }
        messages
    }
}

/// The `flow` JSON record: written after every other record of the flow. (Its serde name is
/// its type, as every record's: columnar outputs find its table by it.)
#[derive(Serialize)]
#[serde(rename = "flow")]
pub struct FlowRecord {
    r#type: &'static str,
    /// The flow's id, named as every other record names it.
    flow: FlowId,
    /// The same id under its first name, kept for one release (docs/schema.json).
    id: FlowId,
    /// tshark's `tcp.stream` for the same connection.
    tcp_stream: u64,
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
    messages_c2s: u64,
    messages_s2c: u64,
    polling: bool,
    anomalies: u64,
    handshake_complete: bool,
    closed: Option<&'static str>,
    end: &'static str,
    gaps: u64,
    ping_rtt_ms: Option<f64>,
    community_id: String,
    /// WebSocket flows: the sub-protocol chosen and why (absent on other flows).
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<SubChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsSummary>,
}

impl FlowRecord {
    pub fn new(m: &FlowMeta, summary: &FlowSummary, how: CloseHow) -> FlowRecord {
        let (closed, end) = close_name(how);
        FlowRecord {
            r#type: "flow",
            flow: m.id,
            id: m.id,
            tcp_stream: m.tcp_stream,
            client: endpoint_text(m.client),
            server: endpoint_text(m.server),
            kind: summary.closed_kind().as_str(),
            first_ts: m.first_ts,
            last_ts: m.last_ts,
            packets: m.packets,
            bytes_c2s: m.payload_bytes[0],
            bytes_s2c: m.payload_bytes[1],
            ws_frames: summary.ws_frames,
            ws_messages: summary.ws_messages,
            http_messages: summary.http_messages,
            sse_events: summary.sse_events,
            messages_c2s: summary.data_messages()[0],
            messages_s2c: summary.data_messages()[1],
            polling: summary.polling,
            anomalies: summary.anomalies,
            handshake_complete: summary.handshake_complete,
            closed,
            end,
            gaps: m.gap_bytes[0] + m.gap_bytes[1],
            ping_rtt_ms: summary.ping_rtt_ms(),
            community_id: community_id(m.client, m.server),
            sub: summary.sub.clone(),
            tls: summary.tls.as_deref().cloned(),
        }
    }

    /// The record [`new`](Self::new) makes, written straight into a JSON line as serde writes
    /// it (a test compares the two), from the flow's state: nothing is copied or allocated.
    pub fn write_line<L: JsonLine>(
        m: &FlowMeta,
        summary: &FlowSummary,
        how: CloseHow,
        line: &mut L,
    ) -> Result<(), L::Error> {
        let (closed, end) = close_name(how);
        line.count("{\"type\":\"flow\",\"flow\":", m.id);
        line.count(",\"id\":", m.id);
        line.count(",\"tcp_stream\":", m.tcp_stream);
        line.raw(",\"client\":");
        line.text(&endpoint_str(m.client));
        line.raw(",\"server\":");
        line.text(&endpoint_str(m.server));
        line.raw(",\"kind\":");
        line.plain(summary.closed_kind().as_str());
        line.raw(",\"first_ts\":");
        line.ts(m.first_ts);
        line.raw(",\"last_ts\":");
        line.ts(m.last_ts);
        let [messages_c2s, messages_s2c] = summary.data_messages();
        for (name, v) in [
            (",\"packets\":", m.packets),
            (",\"bytes_c2s\":", m.payload_bytes[0]),
            (",\"bytes_s2c\":", m.payload_bytes[1]),
            (",\"ws_frames\":", summary.ws_frames),
            (",\"ws_messages\":", summary.ws_messages),
            (",\"http_messages\":", summary.http_messages),
            (",\"sse_events\":", summary.sse_events),
            (",\"messages_c2s\":", messages_c2s),
            (",\"messages_s2c\":", messages_s2c),
        ] {
            line.count(name, v);
        }
        line.raw(if summary.polling {
            ",\"polling\":true,\"anomalies\":"
        } else {
            ",\"polling\":false,\"anomalies\":"
        });
        line.uint(summary.anomalies);
        line.raw(if summary.handshake_complete {
            ",\"handshake_complete\":true,\"closed\":"
        } else {
            ",\"handshake_complete\":false,\"closed\":"
        });
        match closed {
            Some(closed) => line.plain(closed),
            None => line.raw("null"),
        }
        line.raw(",\"end\":");
        line.plain(end);
        line.count(",\"gaps\":", m.gap_bytes[0] + m.gap_bytes[1]);
        let mut r = line.fields();
        r.serialize_field("ping_rtt_ms", &summary.ping_rtt_ms())?;
        r.serialize_field("community_id", &*community_id_str(m.client, m.server))?;
        if let Some(sub) = &summary.sub {
            r.serialize_field("sub", sub)?;
        }
        if let Some(tls) = &summary.tls {
            r.serialize_field("tls", &**tls)?;
        }
        r.end()
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

/// A flow as it ends, as a display filter sees its `flow` record: the fields of
/// [`FlowRecord`], read from the same sources.
#[derive(Clone, Copy, Debug)]
pub struct FlowFacts<'a> {
    pub meta: &'a FlowMeta,
    pub summary: &'a FlowSummary,
    pub how: CloseHow,
}

impl OwnFields for FlowFacts<'_> {
    fn record_type(&self) -> RecordType {
        RecordType::Flow
    }

    fn own_values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        let (m, s) = (self.meta, self.summary);
        let int = |n: u64| Value::Int(n.into());
        let (closed, end) = close_name(self.how);
        match field {
            F::FlowFirstTs => each(Value::Time(m.first_ts)),
            F::FlowLastTs => each(Value::Time(m.last_ts)),
            F::FlowDuration => each(Value::Float(m.last_ts.secs_since(m.first_ts))),
            F::FlowPackets => each(int(m.packets)),
            F::FlowBytes => each(int(m.payload_bytes[0] + m.payload_bytes[1])),
            F::FlowBytesC2s => each(int(m.payload_bytes[0])),
            F::FlowBytesS2c => each(int(m.payload_bytes[1])),
            F::FlowHttpMessages => each(int(s.http_messages)),
            F::FlowWsFrames => each(int(s.ws_frames)),
            F::FlowWsMessages => each(int(s.ws_messages)),
            F::FlowSseEvents => each(int(s.sse_events)),
            F::FlowMessagesC2s => each(int(s.data_messages()[0])),
            F::FlowMessagesS2c => each(int(s.data_messages()[1])),
            F::FlowPolling => each(Value::Bool(s.polling)),
            F::FlowAnomalies => each(int(s.anomalies)),
            F::FlowHandshakeComplete => each(Value::Bool(s.handshake_complete)),
            F::FlowClosed => one(closed.map(Value::Sym), each),
            F::FlowEnd => each(Value::Sym(end)),
            F::FlowGaps => each(int(m.gap_bytes[0] + m.gap_bytes[1])),
            F::FlowPingRtt => one(
                mean(&s.ping_rtts).map(|r| Value::Float(round3(r * 1e3))),
                each,
            ),
            F::FlowCommunityId => each(Value::Str(&community_id(m.client, m.server))),
            _ => match &s.tls {
                Some(tls) => tls.own_values(field, each),
                None => ControlFlow::Continue(()),
            },
        }
    }
}
