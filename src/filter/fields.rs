//! The field catalog: every name a display filter can test, one entry per field, with its type,
//! the record types that carry it, whether it exists today or is planned, the Wireshark names
//! it answers to, and one line of documentation. `sockscope fields` and docs/filter.md are both
//! generated from this one table ([`markdown`], [`text_listing`]), and the filter compiler
//! resolves names against it, so a field cannot be documented without existing or exist
//! without being documented.
//!
//! A [`FieldId`] is what a record source is asked for at evaluation time: names and aliases are
//! resolved once, when a filter is compiled.

use crate::model::{Code, FlowKind};
use std::fmt;
use std::sync::OnceLock;

/// The kinds of record a filter is tested against: the JSON record types (`type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    Http,
    Handshake,
    WsFrame,
    WsMessage,
    SseEvent,
    Anomaly,
    Flow,
    /// A fact of a flow's TLS layer (handshake message, alert, key change).
    Tls,
    /// Application latency of a connection, whole and per method or event (sub-protocols).
    Latency,
}

impl RecordType {
    pub const ALL: [RecordType; 9] = [
        RecordType::Http,
        RecordType::Handshake,
        RecordType::WsFrame,
        RecordType::WsMessage,
        RecordType::SseEvent,
        RecordType::Anomaly,
        RecordType::Flow,
        RecordType::Tls,
        RecordType::Latency,
    ];

    /// The record's `type` in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordType::Http => "http",
            RecordType::Handshake => "handshake",
            RecordType::WsFrame => "ws_frame",
            RecordType::WsMessage => "ws_message",
            RecordType::SseEvent => "sse_event",
            RecordType::Anomaly => "anomaly",
            RecordType::Flow => "flow",
            RecordType::Tls => "tls",
            RecordType::Latency => "latency",
        }
    }

    pub fn parse(s: &str) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|r| r.as_str() == s)
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of record types.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordSet(u16);

impl RecordSet {
    pub const EMPTY: RecordSet = RecordSet(0);
    pub const ALL: RecordSet = RecordSet::of(&RecordType::ALL);

    pub const fn of(types: &[RecordType]) -> RecordSet {
        let mut bits = 0;
        let mut i = 0;
        while i < types.len() {
            bits |= types[i].bit();
            i += 1;
        }
        RecordSet(bits)
    }

    pub const fn contains(self, t: RecordType) -> bool {
        self.0 & t.bit() != 0
    }

    pub const fn union(self, other: RecordSet) -> RecordSet {
        RecordSet(self.0 | other.0)
    }

    pub const fn intersect(self, other: RecordSet) -> RecordSet {
        RecordSet(self.0 & other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = RecordType> {
        RecordType::ALL
            .into_iter()
            .filter(move |t| self.contains(*t))
    }
}

impl fmt::Debug for RecordSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for RecordSet {
    /// `http`, `ws_frame and ws_message`, `every record`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == RecordSet::ALL {
            return f.write_str("every record");
        }
        let names: Vec<&str> = self.iter().map(RecordType::as_str).collect();
        match names.split_last() {
            None => f.write_str("no record"),
            Some((last, [])) => f.write_str(last),
            Some((last, rest)) => write!(f, "{} and {last}", rest.join(", ")),
        }
    }
}

/// The values of an enumerated field.
#[derive(Debug)]
pub struct EnumDef {
    /// The names a record gives the field today, in order (for ordered enums, the order of
    /// `<`/`>`; for numbered ones, position = number).
    values: fn() -> &'static [&'static str],
    /// Names accepted now that no record gives yet.
    pub planned: &'static [&'static str],
    /// `<`, `>` compare positions (`anomaly.severity >= warning`).
    pub ordered: bool,
    /// An integer stands for the value at that position (`ws.opcode == 1`).
    pub numbered: bool,
    /// How the documentation lists the values, when listing them all would be too long.
    pub listed_as: Option<&'static str>,
}

impl EnumDef {
    pub fn values(&self) -> &'static [&'static str] {
        (self.values)()
    }

    /// Position of `name` among the values of today.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.values().iter().position(|v| *v == name)
    }

    /// Whether `name` is a value of today or a planned one.
    pub fn accepts(&self, name: &str) -> bool {
        self.position(name).is_some() || self.planned.contains(&name)
    }

    /// `text, binary, …` (planned values marked), or the `listed_as` note.
    pub fn describe(&self) -> String {
        if let Some(s) = self.listed_as {
            return s.to_string();
        }
        let mut parts: Vec<String> = self.values().iter().map(|v| v.to_string()).collect();
        parts.extend(self.planned.iter().map(|v| format!("{v} (planned)")));
        parts.join(", ")
    }
}

/// WebSocket opcode names, position = opcode number, as JSON writes them.
pub const OPCODE_NAMES: [&str; 16] = [
    "continuation",
    "text",
    "binary",
    "reserved-3",
    "reserved-4",
    "reserved-5",
    "reserved-6",
    "reserved-7",
    "close",
    "ping",
    "pong",
    "reserved-11",
    "reserved-12",
    "reserved-13",
    "reserved-14",
    "reserved-15",
];

fn record_types() -> &'static [&'static str] {
    const NOW: [&str; 9] = [
        RecordType::Http.as_str(),
        RecordType::Handshake.as_str(),
        RecordType::WsFrame.as_str(),
        RecordType::WsMessage.as_str(),
        RecordType::SseEvent.as_str(),
        RecordType::Anomaly.as_str(),
        RecordType::Flow.as_str(),
        RecordType::Tls.as_str(),
        RecordType::Latency.as_str(),
    ];
    &NOW
}

fn flow_kinds() -> &'static [&'static str] {
    static V: OnceLock<Vec<&'static str>> = OnceLock::new();
    V.get_or_init(|| FlowKind::ALL.iter().map(|k| k.as_str()).collect())
}

fn anomaly_codes() -> &'static [&'static str] {
    static V: OnceLock<Vec<&'static str>> = OnceLock::new();
    V.get_or_init(|| Code::ALL.iter().map(|c| c.as_str()).collect())
}

const RECORD_TYPES: EnumDef = EnumDef {
    values: record_types,
    planned: &[],
    ordered: false,
    numbered: false,
    listed_as: None,
};
const TLS_KINDS: EnumDef = EnumDef {
    values: || &["handshake", "alert", "change_cipher_spec", "keys"],
    planned: &[],
    ordered: false,
    numbered: false,
    listed_as: None,
};
const DIRS: EnumDef = EnumDef {
    values: || &["c2s", "s2c"],
    planned: &[],
    ordered: false,
    numbered: false,
    listed_as: None,
};
const FLOW_KINDS: EnumDef = EnumDef {
    values: flow_kinds,
    planned: &[],
    ordered: false,
    numbered: false,
    listed_as: None,
};
const CLOSED: EnumDef = EnumDef {
    values: || &["fin", "rst"],
    planned: &[],
    ordered: false,
    numbered: false,
    listed_as: None,
};
const ENDS: EnumDef = EnumDef {
    values: || &["fin", "rst", "idle", "eof", "evicted"],
    planned: &[],
    ordered: false,
    numbered: false,
    listed_as: None,
};
const OPCODES: EnumDef = EnumDef {
    values: || &OPCODE_NAMES,
    planned: &[],
    ordered: true,
    numbered: true,
    listed_as: Some(
        "continuation, text, binary, close, ping, pong, reserved-N; or the number 0-15 \
         (`ws.opcode >= 8`: control frames)",
    ),
};
const SEVERITIES: EnumDef = EnumDef {
    values: || &["info", "warning", "error"],
    planned: &[],
    ordered: true,
    numbered: false,
    listed_as: Some("info < warning < error"),
};
const CODES: EnumDef = EnumDef {
    values: anomaly_codes,
    planned: &[],
    ordered: false,
    numbered: false,
    listed_as: Some("every code of docs/anomalies.md"),
};

/// A field's type: what its values are and which operators and literals it takes.
#[derive(Clone, Copy, Debug)]
pub enum Type {
    /// No value: the field tests that a record is of a protocol (`http`, `ws`).
    Protocol,
    Bool,
    Int,
    Float,
    Str,
    Bytes,
    Enum(&'static EnumDef),
    /// An IP address; compared with an address or a CIDR block.
    Addr,
    /// An absolute time; compared with seconds since the epoch or a UTC date.
    Time,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Protocol => "protocol",
            Type::Bool => "bool",
            Type::Int => "integer",
            Type::Float => "float",
            Type::Str => "string",
            Type::Bytes => "bytes",
            Type::Enum(_) => "enum",
            Type::Addr => "address",
            Type::Time => "time",
        }
    }
}

/// Whether a field's records exist today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Now,
    /// Type-checks now, matches nothing until its records exist.
    Planned,
}

/// How many values a field has on one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    /// At most one.
    One,
    /// Any number (header lines, both ends of a flow): a test holds if any value passes it.
    Many,
    /// Any number, selected by a key written after the name (`http.header.<name>`).
    Keyed,
}

/// One field of the catalog.
#[derive(Debug)]
pub struct FieldDef {
    pub id: FieldId,
    /// The one name of the field; for a keyed field, the prefix with `<name>` after it.
    pub name: &'static str,
    pub ty: Type,
    /// The record types that carry it.
    pub records: RecordSet,
    pub status: Status,
    pub card: Card,
    /// Other names it answers to (Wireshark's, where Wireshark has the field).
    pub aliases: &'static [&'static str],
    pub doc: &'static str,
    /// The heading it is listed under.
    pub group: &'static str,
}

impl FieldDef {
    /// For a keyed field, the part of the name before the key (`http.header.`).
    pub fn key_prefix(&self) -> Option<&'static str> {
        match self.card {
            Card::Keyed => self.name.strip_suffix("<name>"),
            _ => None,
        }
    }
}

const ALL: RecordSet = RecordSet::ALL;
const HTTP: RecordSet = RecordSet::of(&[RecordType::Http]);
const HANDSHAKE: RecordSet = RecordSet::of(&[RecordType::Handshake]);
const FRAME: RecordSet = RecordSet::of(&[RecordType::WsFrame]);
const MESSAGE: RecordSet = RecordSet::of(&[RecordType::WsMessage]);
const FRAME_MESSAGE: RecordSet = RecordSet::of(&[RecordType::WsFrame, RecordType::WsMessage]);
const SSE: RecordSet = RecordSet::of(&[RecordType::SseEvent]);
const ANOMALY: RecordSet = RecordSet::of(&[RecordType::Anomaly]);
const FLOW: RecordSet = RecordSet::of(&[RecordType::Flow]);
const TLS: RecordSet = RecordSet::of(&[RecordType::Tls, RecordType::Flow]);
/// What a protocol reads from a stream can have been carried in another (TLS): the records a
/// packet completes.
const LAYERED: RecordSet = PACKET;
const TLS_RECORD: RecordSet = RecordSet::of(&[RecordType::Tls]);
const LATENCY: RecordSet = RecordSet::of(&[RecordType::Latency]);
const PACKET: RecordSet = RecordSet::of(&[
    RecordType::Http,
    RecordType::Handshake,
    RecordType::WsFrame,
    RecordType::WsMessage,
    RecordType::SseEvent,
    RecordType::Anomaly,
    RecordType::Tls,
]);
const TIMED: RecordSet = RecordSet::of(&[
    RecordType::Http,
    RecordType::Handshake,
    RecordType::WsFrame,
    RecordType::WsMessage,
    RecordType::SseEvent,
    RecordType::Anomaly,
    RecordType::Tls,
]);
const DIRECTED: RecordSet = RecordSet::of(&[
    RecordType::Http,
    RecordType::WsFrame,
    RecordType::WsMessage,
    RecordType::SseEvent,
    RecordType::Anomaly,
    RecordType::Tls,
    RecordType::Latency,
]);

macro_rules! catalog {
    ($(group $group:literal {
        $($id:ident $name:literal $ty:ident $(($def:ident))?, $recs:ident, $status:ident $card:ident
            [$($alias:literal),*] $doc:literal;)*
    })*) => {
        /// A field of the catalog; `FIELDS[id as usize]` describes it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FieldId { $($($id,)*)* }

        /// The catalog, in documentation order.
        pub static FIELDS: &[FieldDef] = &[$($(FieldDef {
            id: FieldId::$id,
            name: $name,
            ty: Type::$ty $((&$def))?,
            records: $recs,
            status: Status::$status,
            card: Card::$card,
            aliases: &[$($alias),*],
            doc: $doc,
            group: $group,
        },)*)*];
    };
}

catalog! {
    group "Every record" {
        RecordKind "record.type" Enum(RECORD_TYPES), ALL, Now One []
            "the record's type, as `type` in JSON";
        FlowId "flow.id" Int, ALL, Now One []
            "the flow the record belongs to (ids count from 1 in order of first packet); absent on anomalies outside any flow";
        TcpStream "tcp.stream" Int, ALL, Now One ["flow.tcp_stream"]
            "tshark's `tcp.stream` for the same connection (TCP conversations numbered from 0 in order of first packet, every port), as the flow record's `tcp_stream`; absent on anomalies outside any flow";
        FlowClient "flow.client" Addr, ALL, Now One []
            "the client's IP address (the side that sent the SYN, or else the HTTP request)";
        FlowClientPort "flow.client.port" Int, ALL, Now One []
            "the client's TCP port";
        FlowServer "flow.server" Addr, ALL, Now One []
            "the server's IP address";
        FlowServerPort "flow.server.port" Int, ALL, Now One []
            "the server's TCP port";
        IpAddr "ip.addr" Addr, ALL, Now Many ["ipv6.addr"]
            "either end's IP address: `ip.addr == 10.0.0.1` holds for the flow's records whichever side it is";
        TcpPort "tcp.port" Int, ALL, Now Many []
            "either end's TCP port";
        FlowKind "flow.kind" Enum(FLOW_KINDS), ALL, Now One []
            "what the flow turned out to be; on every record of the flow once it is known (see \"When a flow's kind is known\")";
        FrameNumber "frame.number" Int, PACKET, Now One []
            "the packet that completed the record (as tshark's frame.number); absent for records completed by the end of input";
        FrameTime "frame.time" Time, TIMED, Now One ["frame.time_epoch"]
            "when the record was complete: the capture time of that packet";
        Dir "dir" Enum(DIRS), DIRECTED, Now One []
            "direction: c2s (client to server) or s2c; SSE events are always s2c";
        Layers "layers" Str, LAYERED, Now Many []
            "each protocol that carried the record, outermost first, as its `layers` in JSON (`layers contains \"TLS\"`, `layers == \"TLS 1.3\"`); none for a record read straight off TCP";
    }
    group "flow records (one per flow, when it ends)" {
        FlowFirstTs "flow.first_ts" Time, FLOW, Now One []
            "the flow's first packet";
        FlowLastTs "flow.last_ts" Time, FLOW, Now One []
            "the flow's last packet";
        FlowDuration "flow.duration" Float, FLOW, Now One []
            "seconds from the first to the last packet";
        FlowPackets "flow.packets" Int, FLOW, Now One []
            "packets of the flow";
        FlowBytes "flow.bytes" Int, FLOW, Now One []
            "TCP payload bytes, both directions";
        FlowBytesC2s "flow.bytes_c2s" Int, FLOW, Now One []
            "TCP payload bytes from the client";
        FlowBytesS2c "flow.bytes_s2c" Int, FLOW, Now One []
            "TCP payload bytes from the server";
        FlowHttpMessages "flow.http_messages" Int, FLOW, Now One []
            "HTTP requests and responses";
        FlowWsFrames "flow.ws_frames" Int, FLOW, Now One []
            "WebSocket frames";
        FlowWsMessages "flow.ws_messages" Int, FLOW, Now One []
            "WebSocket data messages";
        FlowSseEvents "flow.sse_events" Int, FLOW, Now One []
            "server-sent events";
        FlowMessagesC2s "flow.messages_c2s" Int, FLOW, Now One []
            "messages from the client, as the flows table counts them (the upgrade request is not one)";
        FlowMessagesS2c "flow.messages_s2c" Int, FLOW, Now One []
            "messages from the server: responses (a 101 is not one), WebSocket messages, server-sent events";
        FlowPolling "flow.polling" Bool, FLOW, Now One []
            "an HTTP flow that is short polling (the same resource asked for again and again)";
        FlowAnomalies "flow.anomalies" Int, FLOW, Now One []
            "anomalies of the flow";
        FlowHandshakeComplete "flow.handshake_complete" Bool, FLOW, Now One []
            "a WebSocket upgrade answered by 101";
        FlowClosed "flow.closed" Enum(CLOSED), FLOW, Now One []
            "how the connection was closed; absent when it was not (idle, end of input, evicted)";
        FlowEnd "flow.end" Enum(ENDS), FLOW, Now One []
            "why the flow's record was written";
        FlowGaps "flow.gaps" Int, FLOW, Now One []
            "bytes missing from the capture, both directions";
        FlowPingRtt "flow.ping_rtt_ms" Float, FLOW, Now One []
            "mean WebSocket ping-to-pong time in milliseconds; absent without answered pings";
        FlowCommunityId "flow.community_id" Str, FLOW, Now One []
            "the flow's Community ID v1, as Zeek, Suricata and Arkime give it";
    }
    group "http records (one per request or response)" {
        Http "http" Protocol, HTTP, Now One []
            "an HTTP request or response";
        HttpRequest "http.request" Protocol, HTTP, Now One []
            "an HTTP request";
        HttpResponse "http.response" Protocol, HTTP, Now One []
            "an HTTP response";
        HttpMethod "http.method" Str, HTTP, Now One ["http.request.method"]
            "the request method";
        HttpUri "http.uri" Str, HTTP, Now One ["http.request.uri", "http.target"]
            "the request target as sent (`/chat?room=1`)";
        HttpVersion "http.version" Str, HTTP, Now One ["http.request.version", "http.response.version"]
            "`HTTP/1.1` or `HTTP/1.0`";
        HttpStatus "http.status" Int, HTTP, Now One ["http.response.code"]
            "the response status code";
        HttpReason "http.reason" Str, HTTP, Now One ["http.response.phrase"]
            "the response reason phrase";
        HttpHeader "http.header" Str, HTTP, Now Many []
            "each header line as `Name: value` (`http.header contains \"gzip\"`)";
        HttpHeaderNamed "http.header.<name>" Str, HTTP, Now Keyed []
            "the value of each header with that name, any case (`http.header.x-request-id`)";
        HttpHost "http.host" Str, HTTP, Now One []
            "the Host header";
        HttpUserAgent "http.user_agent" Str, HTTP, Now One []
            "the User-Agent header";
        HttpContentType "http.content_type" Str, HTTP, Now One []
            "the Content-Type header";
        HttpUpgrade "http.upgrade" Str, HTTP, Now One []
            "the Upgrade header (`websocket`)";
        HttpChunked "http.chunked" Bool, HTTP, Now One []
            "the body is chunked";
        HttpComplete "http.complete" Bool, HTTP, Now One []
            "the message was seen whole (false when its stream ended inside it)";
        HttpHeaderBytes "http.header_bytes" Int, HTTP, Now One []
            "bytes of the start line, headers and blank line";
        HttpBodyBytes "http.body_bytes" Int, HTTP, Now One []
            "bytes of the body (de-chunked)";
        HttpFramingBytes "http.framing_bytes" Int, HTTP, Now One []
            "bytes of chunk framing";
        HttpBody "http.body" Bytes, HTTP, Now One ["http.file_data"]
            "the start of the body, as kept for display (see \"Payload fields\")";
    }
    group "handshake records (one per WebSocket upgrade)" {
        Handshake "ws.handshake" Protocol, HANDSHAKE, Now One []
            "a WebSocket opening handshake";
        HandshakeKey "ws.handshake.key" Str, HANDSHAKE, Now One []
            "Sec-WebSocket-Key";
        HandshakeAccept "ws.handshake.accept" Str, HANDSHAKE, Now One []
            "Sec-WebSocket-Accept as sent";
        HandshakeExpectedAccept "ws.handshake.expected_accept" Str, HANDSHAKE, Now One []
            "the Sec-WebSocket-Accept the key calls for";
        HandshakeAcceptValid "ws.handshake.accept_valid" Bool, HANDSHAKE, Now One []
            "the accept value is the right one";
        HandshakeVersion "ws.handshake.version" Str, HANDSHAKE, Now One []
            "Sec-WebSocket-Version (`13`)";
        HandshakeSubprotocol "ws.handshake.subprotocol" Str, HANDSHAKE, Now One []
            "the subprotocol the server chose";
        HandshakeExtensions "ws.handshake.extensions" Str, HANDSHAKE, Now Many []
            "each extension the server accepted, with its parameters";
        HandshakeDeflate "ws.handshake.deflate" Bool, HANDSHAKE, Now One []
            "permessage-deflate was negotiated";
        HandshakeOrigin "ws.handshake.origin" Str, HANDSHAKE, Now One []
            "the Origin header of the upgrade request";
    }
    group "ws_frame and ws_message records" {
        Ws "ws" Protocol, FRAME_MESSAGE, Now One ["websocket"]
            "a WebSocket frame or message";
        WsOpcode "ws.opcode" Enum(OPCODES), FRAME_MESSAGE, Now One ["websocket.opcode"]
            "the frame's opcode; a message's is text or binary";
        WsPayload "ws.payload" Bytes, FRAME_MESSAGE, Now One ["websocket.payload"]
            "the frame's payload (unmasked) or the message's data (reassembled, inflated), as kept for display";
        WsText "ws.text" Str, FRAME_MESSAGE, Now One ["websocket.payload.text"]
            "the payload as text: on text messages and on uncompressed text and continuation frames";
        WsFin "ws.fin" Bool, FRAME, Now One ["websocket.fin"]
            "FIN: the last frame of a message";
        WsRsv1 "ws.rsv1" Bool, FRAME, Now One ["websocket.pmc"]
            "RSV1 (per-message compressed, with permessage-deflate)";
        WsRsv2 "ws.rsv2" Bool, FRAME, Now One []
            "RSV2";
        WsRsv3 "ws.rsv3" Bool, FRAME, Now One []
            "RSV3";
        WsMasked "ws.masked" Bool, FRAME, Now One ["websocket.mask"]
            "the MASK bit";
        WsMask "ws.mask" Bytes, FRAME, Now One ["websocket.masking_key"]
            "the 4-byte masking key (`ws.mask == a1:b2:c3:d4`)";
        WsPayloadLen "ws.payload_len" Int, FRAME, Now One ["websocket.payload_length"]
            "the payload length the header declares (the whole length, not Wireshark's 7-bit field)";
        WsHeaderLen "ws.header_len" Int, FRAME, Now One []
            "bytes of the frame header, 2 to 14";
        WsCloseCode "ws.close_code" Int, FRAME, Now One ["websocket.payload.close.status_code"]
            "a close frame's status code";
        WsCloseReason "ws.close_reason" Str, FRAME, Now One ["websocket.payload.close.reason"]
            "a close frame's reason";
        WsMessageFrames "ws.message.frames" Int, MESSAGE, Now One []
            "frames the message was sent in";
        WsMessageWireLen "ws.message.wire_len" Int, MESSAGE, Now One []
            "payload bytes on the wire (compressed, when it was)";
        WsMessageLen "ws.message.len" Int, MESSAGE, Now One []
            "the message's length after inflating";
        WsMessageCompressed "ws.message.compressed" Bool, MESSAGE, Now One []
            "sent with permessage-deflate";
        WsMessageValidUtf8 "ws.message.valid_utf8" Bool, MESSAGE, Now One []
            "a text message is valid UTF-8; absent on binary messages";
    }
    group "sse_event records (one per server-sent event)" {
        Sse "sse" Protocol, SSE, Now One []
            "a server-sent event";
        SseEvent "sse.event" Str, SSE, Now One []
            "the event's `event:` name";
        SseId "sse.id" Str, SSE, Now One []
            "the event's `id:`";
        SseData "sse.data" Str, SSE, Now One []
            "the event's data, lines joined by newlines, as kept for display";
        SseLen "sse.len" Int, SSE, Now One []
            "bytes of the event's whole data (its payload; field names and line ends are framing)";
    }
    group "anomaly records" {
        Anomaly "anomaly" Protocol, ANOMALY, Now One []
            "an anomaly";
        AnomalyCode "anomaly.code" Enum(CODES), ANOMALY, Now One []
            "the anomaly code (`anomaly.code == ws.invalid_utf8`, `anomaly.code matches \"^tcp\\.\"`)";
        AnomalySeverity "anomaly.severity" Enum(SEVERITIES), ANOMALY, Now One []
            "the code's severity";
        AnomalyDetail "anomaly.detail" Str, ANOMALY, Now One []
            "what exactly was wrong";
    }
    group "tls records and the tls object of flow records" {
        Tls "tls" Protocol, TLS, Now One []
            "a TLS record (handshake message, alert, key change) or a flow that ran TLS";
        TlsSni "tls.sni" Str, TLS, Now One ["tls.handshake.extensions_server_name"]
            "the server name the client asked for (ClientHello; the flow's `sni`)";
        TlsAlpn "tls.alpn" Str, TLS, Now Many ["tls.handshake.extensions_alpn_str"]
            "each protocol named by ALPN: offered (ClientHello; the flow's `alpn_offered`) or selected (ServerHello, EncryptedExtensions; the flow's `alpn`)";
        TlsVersion "tls.version" Str, TLS, Now One []
            "`TLS 1.3`, `TLS 1.2`, …: the version negotiated (ServerHello; the flow's `version`), else the record layer's";
        TlsCipher "tls.cipher" Str, TLS, Now One []
            "the cipher suite selected, by its IANA name (ServerHello; the flow's `cipher_suite`)";
        TlsResumed "tls.resumed" Bool, TLS, Now One []
            "the session was resumed (ServerHello; the flow's `resumed`)";
        TlsDecrypted "tls.decrypted" Bool, FLOW, Now One []
            "the key log had the session's secrets and its application data was decrypted";
        TlsKind "tls.kind" Enum(TLS_KINDS), TLS_RECORD, Now One []
            "what the tls record is about";
        TlsName "tls.name" Str, TLS_RECORD, Now One []
            "the handshake message or alert by name (`ClientHello`, `close_notify`, `KeyUpdate`)";
        TlsHandshakeType "tls.handshake.type" Int, TLS_RECORD, Now One []
            "the handshake message type as on the wire (1 ClientHello, 2 ServerHello, …)";
        TlsAlertLevel "tls.alert.level" Int, TLS_RECORD, Now One ["tls.alert_message.level"]
            "an alert's level: 1 warning, 2 fatal";
        TlsAlertDescription "tls.alert.description" Int, TLS_RECORD, Now One ["tls.alert_message.desc"]
            "an alert's description code (0 close_notify, 40 handshake_failure, …)";
        TlsEncrypted "tls.encrypted" Bool, TLS_RECORD, Now One []
            "the message came inside protected records (seen only with the session's secrets)";
    }
    group "the sub object of ws_message records: sub-protocols" {
        Sub "sub" Protocol, MESSAGE, Now One []
            "a message decoded by a sub-protocol decoder";
        SubProtocol "sub.protocol" Str, MESSAGE, Now Many []
            "the decoder (`socket.io`, `stomp`, `mqtt`, `graphql-ws`, `json-rpc`, …)";
        SubType "sub.type" Str, MESSAGE, Now Many []
            "the message or packet type the sub-protocol names (`EVENT`, `SEND`, `PUBLISH`, `next`)";
        SubEvent "sub.event" Str, MESSAGE, Now Many []
            "an event name (Socket.IO)";
        SubMethod "sub.method" Str, MESSAGE, Now Many []
            "a method or target (JSON-RPC, SignalR, WAMP)";
        SubId "sub.id" Str, MESSAGE, Now Many []
            "the id that pairs a request with its reply (JSON-RPC id, ack id, operation id, packet id), as text";
        SubTopic "sub.topic" Str, MESSAGE, Now Many []
            "a topic or destination (MQTT, STOMP)";
        SubNamespace "sub.namespace" Str, MESSAGE, Now Many []
            "a Socket.IO namespace";
        SubOperation "sub.operation" Str, MESSAGE, Now Many []
            "a GraphQL operation name";
        SubQos "sub.qos" Int, MESSAGE, Now Many []
            "MQTT QoS";
        SubError "sub.error" Str, MESSAGE, Now Many []
            "an error the message carries (JSON-RPC error, STOMP ERROR), as text";
    }
    group "latency records (per connection, and per method or event)" {
        Latency "latency" Protocol, LATENCY, Now One []
            "a latency record";
        LatencyProtocol "latency.protocol" Str, LATENCY, Now One []
            "the sub-protocol whose requests and replies were paired";
        LatencyName "latency.name" Str, LATENCY, Now One []
            "the method or event the record is for; absent on the whole-connection record";
        LatencyCount "latency.count" Int, LATENCY, Now One []
            "requests answered";
        LatencyErrors "latency.errors" Int, LATENCY, Now One []
            "requests answered with an error";
        LatencyUnanswered "latency.unanswered" Int, LATENCY, Now One []
            "requests never answered";
        LatencyP50 "latency.p50" Float, LATENCY, Now One []
            "median latency in seconds; absent when nothing was answered";
        LatencyP90 "latency.p90" Float, LATENCY, Now One []
            "90th percentile latency in seconds";
        LatencyP99 "latency.p99" Float, LATENCY, Now One []
            "99th percentile latency in seconds";
        LatencyMax "latency.max" Float, LATENCY, Now One []
            "the longest latency in seconds";
    }
}

/// The group of the fields every record carries (from its flow and packet).
pub const EVERY_RECORD: &str = "Every record";

/// The definition of a field.
pub fn def(id: FieldId) -> &'static FieldDef {
    &FIELDS[id as usize]
}

/// A name resolved against the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved<'n> {
    pub id: FieldId,
    /// The key of a keyed field (`content-type` in `http.header.content-type`).
    pub key: Option<&'n str>,
}

/// Resolves a field name or alias.
pub fn lookup(name: &str) -> Option<Resolved<'_>> {
    if let Some(f) = FIELDS
        .iter()
        .find(|f| f.card != Card::Keyed && (f.name == name || f.aliases.contains(&name)))
    {
        return Some(Resolved {
            id: f.id,
            key: None,
        });
    }
    FIELDS.iter().find_map(|f| {
        let key = name.strip_prefix(f.key_prefix()?)?;
        is_header_token(key).then_some(Resolved {
            id: f.id,
            key: Some(key),
        })
    })
}

/// A header name as RFC 9110 allows it (`token`).
fn is_header_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The field name nearest to `name`, for "did you mean".
pub fn suggest(name: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .flat_map(|f| std::iter::once(f.name).chain(f.aliases.iter().copied()))
        .filter(|n| !n.ends_with("<name>"))
        .map(|n| (strsim::jaro_winkler(name, n), n))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// The type column: `enum`, `integer, many`, …
fn type_cell(f: &FieldDef) -> String {
    match f.card {
        Card::One => f.ty.name().to_string(),
        Card::Many | Card::Keyed => format!("{}, many", f.ty.name()),
    }
}

/// The description with enum values, aliases and status.
fn doc_cell(f: &FieldDef) -> String {
    let mut s = f.doc.to_string();
    if let Type::Enum(e) = f.ty {
        s.push_str(&format!(" — values: {}", e.describe()));
    }
    if !f.aliases.is_empty() {
        let names: Vec<String> = f.aliases.iter().map(|a| format!("`{a}`")).collect();
        s.push_str(&format!(" — also {}", names.join(", ")));
    }
    if f.status == Status::Planned {
        s.push_str(" — planned: accepted now, matches nothing until its records exist");
    }
    s
}

/// The field tables of docs/filter.md, one per group.
pub fn markdown() -> String {
    let mut out = String::new();
    let mut group = "";
    for f in FIELDS {
        if f.group != group {
            group = f.group;
            out.push_str(&format!(
                "\n### {group}\n\n| field | type | records | description |\n|---|---|---|---|\n"
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            f.name,
            type_cell(f),
            f.records,
            doc_cell(f).replace('|', "\\|")
        ));
    }
    out
}

/// What `sockscope fields [PREFIX]` prints: a heading per group, a line per field (only those
/// with a name starting with `prefix`, when given); `None` when no field does.
pub fn text_listing(prefix: Option<&str>) -> Option<String> {
    let listed: Vec<&FieldDef> = FIELDS
        .iter()
        .filter(|f| {
            let p = prefix.unwrap_or_default();
            f.name.starts_with(p) || f.aliases.iter().any(|a| a.starts_with(p))
        })
        .collect();
    if listed.is_empty() {
        return None;
    }
    let width = listed.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let type_width = listed.iter().map(|f| type_cell(f).len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut group = "";
    for f in listed {
        if f.group != group {
            if !group.is_empty() {
                out.push('\n');
            }
            group = f.group;
            out.push_str(&format!("{group}:\n"));
        }
        out.push_str(&format!(
            "  {:width$}  {:type_width$}  {}\n",
            f.name,
            type_cell(f),
            doc_cell(f).replace('`', "")
        ));
    }
    out.push_str(
        "\nA filter is tested against each record; a field absent from a record fails every \
         test but `!`. Syntax and semantics: docs/filter.md.\n",
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_index_the_table_and_names_are_unique() {
        let mut names = HashSet::new();
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(f.id as usize, i, "{}", f.name);
            for n in std::iter::once(f.name).chain(f.aliases.iter().copied()) {
                assert!(names.insert(n), "{n} is named twice");
                assert!(
                    n.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b"._<>".contains(&b)),
                    "{n}"
                );
            }
            assert!(!f.doc.is_empty() && !f.doc.contains('\n'), "{}", f.name);
            assert!(!f.records.is_empty(), "{}", f.name);
        }
    }

    #[test]
    fn names_and_aliases_resolve() {
        let r = lookup("http.request.method").unwrap();
        assert_eq!((r.id, r.key), (FieldId::HttpMethod, None));
        assert_eq!(lookup("websocket.opcode").unwrap().id, FieldId::WsOpcode);
        assert_eq!(lookup("http.header").unwrap().id, FieldId::HttpHeader);
        let r = lookup("http.header.content-type").unwrap();
        assert_eq!(
            (r.id, r.key),
            (FieldId::HttpHeaderNamed, Some("content-type"))
        );
        assert_eq!(lookup("http.header."), None);
        assert_eq!(lookup("http.header.a b"), None);
        assert_eq!(lookup("http.stauts"), None);
        assert_eq!(suggest("http.stauts"), Some("http.status"));
        assert_eq!(suggest("ws.opcod"), Some("ws.opcode"));
        assert_eq!(suggest("zzzz"), None);
    }

    #[test]
    fn enums_list_what_records_carry() {
        assert_eq!(OPCODES.position("pong"), Some(10));
        assert_eq!(OPCODES.position("reserved-11"), Some(11));
        assert!(FLOW_KINDS.accepts("long-poll") && FLOW_KINDS.accepts("tls"));
        assert_eq!(FLOW_KINDS.position("tls"), Some(4));
        assert!(FLOW_KINDS.accepts("http2"));
        assert!(CODES.accepts("ws.invalid_utf8"));
        assert_eq!(
            RECORD_TYPES.values().len() + RECORD_TYPES.planned.len(),
            RecordType::ALL.len()
        );
        for t in RecordType::ALL {
            assert_eq!(RecordType::parse(t.as_str()), Some(t));
            assert!(RECORD_TYPES.position(t.as_str()).is_some(), "{t:?}");
        }
    }

    #[test]
    fn record_sets_read_as_words() {
        assert_eq!(HTTP.to_string(), "http");
        assert_eq!(FRAME_MESSAGE.to_string(), "ws_frame and ws_message");
        assert_eq!(ALL.to_string(), "every record");
        assert_eq!(RecordSet::EMPTY.to_string(), "no record");
        assert_eq!(PACKET.intersect(HTTP), RecordSet::of(&[RecordType::Http]));
    }

    #[test]
    fn the_listing_names_every_field() {
        let text = text_listing(None).unwrap();
        let md = markdown();
        let ws = text_listing(Some("websocket.")).unwrap();
        assert!(ws.contains("ws.opcode") && !ws.contains("http.status"));
        assert_eq!(text_listing(Some("nope")), None);
        for f in FIELDS {
            assert!(text.contains(f.name), "{}", f.name);
            assert!(md.contains(&format!("| `{}` |", f.name)), "{}", f.name);
        }
    }
}
