//! Sub-protocols inside WebSocket messages, sans I/O: which one a connection speaks
//! ([`select`]), a decoder per protocol over whole messages, and request/reply pairing for
//! application latency ([`latency`]).
//!
//! A connection's [`SubConn`] is fed every complete data message ([`Message`]: direction, time,
//! packet number, text or binary, the payload bytes) and answers with typed [`SubRecord`]s —
//! one per protocol unit: a message usually holds one, a JSON-RPC batch, a run of SignalR
//! records or an MQTT-over-WebSocket frame may hold several, and an MQTT packet may span
//! messages — plus coded warnings ([`Code`], the `sub.*` scheme) for malformed data.
//! Records serialize (serde) as the `sub` JSON object: `protocol`, `type`, the filter catalog's
//! fields, then the protocol's own, one name per field, so that a display filter can read
//! `sub.protocol`, `sub.event`, ... from the serialized form. Each decoder lists its record's
//! fields once (`object.rs`: kept on the stack and written straight into the `--json` line, or
//! into a map for filters and HAR). Each record also gives a one-line summary and a
//! detail-node list.
//!
//! Promises: no decoder panics or trusts a length; the only state kept between messages is
//! bounded (MQTT's per-direction reassembly buffer, Socket.IO's pending attachment count, the
//! latency tracker's outstanding requests), and [`SubConn::held_bytes`] says how much it holds.
//! Decoding never fails a connection: anything unparsable is a warning and the next message is
//! decoded afresh.

pub mod dissect;
pub mod graphql;
pub mod json;
pub mod jsonrpc;
pub mod latency;
pub mod mqtt;

#[cfg(test)]
mod object_drift;
#[cfg(test)]
mod props;
pub mod select;
pub mod signalr;
pub mod socketio;
pub mod stomp;
pub mod wamp;

pub use latency::{LatencyRecord, Paired, Tracker};
pub use select::{Basis, ConnInfo, DecodeAs, Selection};

pub use crate::model::Code;
use crate::model::sub_object::{Member, Members};
use crate::tcp::Dir;
use crate::time::Timestamp;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// A malformed-data finding of a sub-protocol decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubWarning {
    pub code: Code,
    pub dir: Dir,
    pub ts: Timestamp,
    pub frame: u64,
    pub detail: String,
}

/// The sub-protocols sockscope decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SubProtocol {
    /// Any JSON (validated and shown; no protocol semantics).
    #[serde(rename = "json")]
    Json,
    /// Engine.IO v3/v4 with Socket.IO on top.
    #[serde(rename = "socket.io")]
    SocketIo,
    #[serde(rename = "stomp")]
    Stomp,
    #[serde(rename = "mqtt")]
    Mqtt,
    /// The legacy `subscriptions-transport-ws` protocol (subprotocol `graphql-ws`).
    #[serde(rename = "graphql-ws")]
    GraphqlWs,
    /// The `graphql-ws` library's protocol (subprotocol `graphql-transport-ws`).
    #[serde(rename = "graphql-transport-ws")]
    GraphqlTransportWs,
    /// ASP.NET Core SignalR's JSON hub protocol.
    #[serde(rename = "signalr")]
    SignalR,
    #[serde(rename = "json-rpc")]
    JsonRpc,
    /// WAMP v2 with JSON serialization.
    #[serde(rename = "wamp")]
    Wamp,
}

impl SubProtocol {
    pub const ALL: [SubProtocol; 9] = [
        SubProtocol::Json,
        SubProtocol::SocketIo,
        SubProtocol::Stomp,
        SubProtocol::Mqtt,
        SubProtocol::GraphqlWs,
        SubProtocol::GraphqlTransportWs,
        SubProtocol::SignalR,
        SubProtocol::JsonRpc,
        SubProtocol::Wamp,
    ];

    /// The name used in `sub.protocol`, `--decode-as` and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            SubProtocol::Json => "json",
            SubProtocol::SocketIo => "socket.io",
            SubProtocol::Stomp => "stomp",
            SubProtocol::Mqtt => "mqtt",
            SubProtocol::GraphqlWs => "graphql-ws",
            SubProtocol::GraphqlTransportWs => "graphql-transport-ws",
            SubProtocol::SignalR => "signalr",
            SubProtocol::JsonRpc => "json-rpc",
            SubProtocol::Wamp => "wamp",
        }
    }

    /// The name for summary lines, as the protocol's own documents write it.
    pub fn display_name(self) -> &'static str {
        match self {
            SubProtocol::Json => "JSON",
            SubProtocol::SocketIo => "Socket.IO",
            SubProtocol::Stomp => "STOMP",
            SubProtocol::Mqtt => "MQTT",
            SubProtocol::GraphqlWs => "graphql-ws",
            SubProtocol::GraphqlTransportWs => "graphql-transport-ws",
            SubProtocol::SignalR => "SignalR",
            SubProtocol::JsonRpc => "JSON-RPC",
            SubProtocol::Wamp => "WAMP",
        }
    }

    /// Parses a protocol name as `--decode-as` takes it (the [`as_str`](Self::as_str) names,
    /// plus a few common spellings).
    pub fn parse(s: &str) -> Option<SubProtocol> {
        let s = s.to_ascii_lowercase();
        let found = SubProtocol::ALL.into_iter().find(|p| p.as_str() == s);
        found.or(match s.as_str() {
            "socketio" | "engine.io" | "engineio" => Some(SubProtocol::SocketIo),
            "jsonrpc" => Some(SubProtocol::JsonRpc),
            "subscriptions-transport-ws" => Some(SubProtocol::GraphqlWs),
            "graphql" => Some(SubProtocol::GraphqlTransportWs),
            _ => None,
        })
    }
}

impl fmt::Display for SubProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One complete WebSocket data message, as a sub-protocol decoder sees it.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub dir: Dir,
    pub ts: Timestamp,
    /// The packet that completed the message.
    pub frame: u64,
    /// A binary message (opcode 2); text otherwise.
    pub binary: bool,
    /// The unmasked, inflated payload, or its first bytes when the message is longer than what
    /// was kept (see [`complete`](Self::complete)).
    pub payload: &'a [u8],
    /// The whole message's length.
    pub len: u64,
}

impl Message<'_> {
    /// `payload` is the whole message. When not, decoders decode what they can from the head
    /// and report [`Code::SubTruncated`] instead of calling the rest malformed.
    pub fn complete(&self) -> bool {
        self.payload.len() as u64 >= self.len
    }
}

/// One decoded protocol unit. Serializes as the `sub` object (`SubRecord::catalog` says how).
#[derive(Clone, Debug, PartialEq)]
pub enum SubRecord {
    Json(json::JsonRecord),
    SocketIo(socketio::SocketIoRecord),
    Stomp(stomp::StompRecord),
    Mqtt(mqtt::MqttRecord),
    GraphqlWs(graphql::GraphqlRecord),
    GraphqlTransportWs(graphql::GraphqlRecord),
    SignalR(signalr::SignalRRecord),
    JsonRpc(jsonrpc::JsonRpcRecord),
    Wamp(wamp::WampRecord),
}

impl SubRecord {
    pub fn protocol(&self) -> SubProtocol {
        match self {
            SubRecord::Json(_) => SubProtocol::Json,
            SubRecord::SocketIo(_) => SubProtocol::SocketIo,
            SubRecord::Stomp(_) => SubProtocol::Stomp,
            SubRecord::Mqtt(_) => SubProtocol::Mqtt,
            SubRecord::GraphqlWs(_) => SubProtocol::GraphqlWs,
            SubRecord::GraphqlTransportWs(_) => SubProtocol::GraphqlTransportWs,
            SubRecord::SignalR(_) => SubProtocol::SignalR,
            SubRecord::JsonRpc(_) => SubProtocol::JsonRpc,
            SubRecord::Wamp(_) => SubProtocol::Wamp,
        }
    }

    /// The one-line meaning for the text view, e.g. `Socket.IO EVENT "chat message" ack=12`.
    /// Strings from the capture are quoted with Rust's escapes; the printer still escapes the
    /// line as it does everything from the capture.
    /// Names and ids are cut at `w` characters, values at [`json::wide`]`(w)`.
    pub fn summary_at(&self, w: usize) -> String {
        let body = match self {
            SubRecord::Json(r) => r.summary_at(w),
            SubRecord::SocketIo(r) => r.summary_at(w),
            SubRecord::Stomp(r) => r.summary(),
            SubRecord::Mqtt(r) => r.summary(),
            SubRecord::GraphqlWs(r) | SubRecord::GraphqlTransportWs(r) => r.summary_at(w),
            SubRecord::SignalR(r) => r.summary_at(w),
            SubRecord::JsonRpc(r) => r.summary_at(w),
            SubRecord::Wamp(r) => r.summary_at(w),
        };
        format!("{} {body}", self.protocol().display_name())
    }

    /// The `-V` detail tree under the protocol's own node.
    pub fn details(&self) -> Node {
        let children = match self {
            SubRecord::Json(r) => r.details(),
            SubRecord::SocketIo(r) => r.details(),
            SubRecord::Stomp(r) => r.details(),
            SubRecord::Mqtt(r) => r.details(),
            SubRecord::GraphqlWs(r) | SubRecord::GraphqlTransportWs(r) => r.details(),
            SubRecord::SignalR(r) => r.details(),
            SubRecord::JsonRpc(r) => r.details(),
            SubRecord::Wamp(r) => r.details(),
        };
        Node::branch(self.summary_at(crate::model::LINE_PREVIEW), children)
    }

    /// What this record is in a request/reply exchange, if anything (for [`latency`]).
    pub fn pairing(&self) -> Option<latency::Role> {
        match self {
            SubRecord::Json(_) => None,
            SubRecord::SocketIo(r) => r.pairing(),
            SubRecord::Stomp(r) => r.pairing(),
            SubRecord::Mqtt(r) => r.pairing(),
            SubRecord::GraphqlWs(r) | SubRecord::GraphqlTransportWs(r) => r.pairing(),
            SubRecord::SignalR(r) => r.pairing(),
            SubRecord::JsonRpc(r) => r.pairing(),
            SubRecord::Wamp(r) => r.pairing(),
        }
    }

    /// The decoder's own fields in order, `protocol` first, given to `f` with the record (a
    /// JSON message's keys are read for it, on the stack).
    fn with_members<R>(&self, f: impl for<'m> FnOnce(&'m SubRecord, &mut Members<'m>) -> R) -> R {
        let shape = match self {
            SubRecord::Json(r) => r.shape(),
            _ => json::Shape::default(),
        };
        let mut m = Members::new(self.protocol().as_str());
        match self {
            SubRecord::Json(r) => r.members(&shape, &mut m),
            SubRecord::SocketIo(r) => r.members(&mut m),
            SubRecord::Stomp(r) => r.members(&mut m),
            SubRecord::Mqtt(r) => r.members(&mut m),
            SubRecord::GraphqlWs(r) | SubRecord::GraphqlTransportWs(r) => r.members(&mut m),
            SubRecord::SignalR(r) => r.members(&mut m),
            SubRecord::JsonRpc(r) => r.members(&mut m),
            SubRecord::Wamp(r) => r.members(&mut m),
        }
        f(self, &mut m)
    }

    /// The record with the decoder's own field names, before the catalog's rules (what the
    /// decoders' expected files name).
    pub fn to_json(&self) -> serde_json::Value {
        // Strings, numbers and JSON values serialize into a value without failing.
        self.with_members(|_, m| serde_json::to_value(&*m).unwrap_or(Value::Null))
    }

    /// The rules that make the decoder's fields the `sub` object: `protocol` first, `type`
    /// next, whatever the struct's field order; the filter catalog's common fields (`event`,
    /// `method`, `id`, `topic`, `namespace`, `operation`, `qos`, `error`) filled in where the
    /// protocol names them otherwise, typed as the catalog says (`id` a string).
    fn catalog<'m>(&'m self, m: &mut Members<'m>) {
        m.move_to("type", 1);
        match self {
            SubRecord::SocketIo(r) => m.put("id", Member::text_of(&r.ack)),
            SubRecord::Stomp(r) => {
                m.put("topic", Member::str_of(&r.destination));
                if r.command == "ERROR" {
                    m.put("error", Member::str_of(&r.message));
                }
            }
            SubRecord::Mqtt(r) => m.put("id", Member::text_of(&r.packet_id)),
            SubRecord::GraphqlWs(_) | SubRecord::GraphqlTransportWs(_) => {
                // The catalog's `operation` is the operation's name; its type is `operation_type`.
                m.rename("operation", "operation_type");
                m.rename("operation_name", "operation");
            }
            SubRecord::SignalR(r) => {
                m.put("method", Member::str_of(&r.target));
                m.put("id", Member::str_of(&r.invocation_id));
            }
            SubRecord::JsonRpc(r) => {
                m.put("error", Member::str_of(&r.error_message));
                // `id` is a string as the catalog types it; the id as sent is kept in `id_json`.
                if let Some(id) = m.remove("id") {
                    match &r.id {
                        Some(Value::String(t)) => m.insert("id", Member::Str(t)),
                        Some(Value::Number(n)) => m.insert("id", Member::Text(n)),
                        _ => {}
                    }
                    m.insert("id_json", id);
                }
            }
            SubRecord::Wamp(r) => {
                m.put("id", Member::text_of(&r.request));
                let uri = Member::str_of(&r.uri);
                match r.kind {
                    "SUBSCRIBE" | "PUBLISH" => m.put("topic", uri),
                    "CALL" | "REGISTER" => m.put("method", uri),
                    "ERROR" | "ABORT" => m.put("error", uri),
                    _ => {}
                }
            }
            SubRecord::Json(_) => {}
        }
    }

    /// The `sub` object as a map (for filters, HAR and tests; JSON output writes the record
    /// itself, see its `Serialize`).
    pub fn object(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// One field by its name in the `sub` object (`"protocol"`, `"event"`, `"topic"`, ...),
    /// for filters; `None` when this record has no such field. The members are listed on the
    /// stack and only this one is made a value (the object is not built).
    pub fn field(&self, name: &str) -> Option<serde_json::Value> {
        self.with_members(|record, m| {
            record.catalog(m);
            // Members serialize into any serializer, a value included.
            m.get(name)
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
        })
    }
}

/// The `sub` object: the decoder's fields as the catalog's rules make them, written straight
/// into the serializer.
impl Serialize for SubRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_members(|record, m| {
            record.catalog(m);
            m.serialize(s)
        })
    }
}

impl crate::model::SubMeaning for SubRecord {
    fn display(&self) -> &'static str {
        self.protocol().display_name()
    }
    fn object(&self) -> Map<String, Value> {
        SubRecord::object(self)
    }
    fn member(&self, name: &str) -> Option<Value> {
        SubRecord::field(self, name)
    }
    fn members_to(&self, f: &mut dyn FnMut(&Members<'_>)) -> bool {
        self.with_members(|record, m| {
            record.catalog(m);
            f(m);
        });
        true
    }
    fn summary(&self, width: usize) -> String {
        SubRecord::summary_at(self, width)
    }
    fn details(&self) -> crate::decode::DetailNode {
        SubRecord::details(self).into()
    }
    fn clone_box(&self) -> Box<dyn crate::model::SubMeaning> {
        Box::new(self.clone())
    }
}

impl From<Node> for crate::decode::DetailNode {
    fn from(n: Node) -> Self {
        crate::decode::DetailNode::new(n.label, n.children.into_iter().map(Into::into).collect())
    }
}

/// A node of the `-V` detail tree: a label and the nodes under it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    pub label: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
}

impl Node {
    pub fn leaf(label: impl Into<String>) -> Node {
        Node {
            label: label.into(),
            children: Vec::new(),
        }
    }
    pub fn branch(label: impl Into<String>, children: Vec<Node>) -> Node {
        Node {
            label: label.into(),
            children,
        }
    }
    /// `name: value`.
    pub fn field(name: &str, value: impl fmt::Display) -> Node {
        Node::leaf(format!("{name}: {value}"))
    }
    /// A JSON value, pretty-printed one line per node under `name`.
    pub fn json(name: &str, value: &serde_json::Value) -> Node {
        Node::branch(name, json::pretty(value).lines().map(Node::leaf).collect())
    }
    /// The tree as indented text (two spaces a level), for tests and simple printers.
    pub fn render(&self, indent: usize, out: &mut String) {
        for _ in 0..indent {
            out.push_str("  ");
        }
        out.push_str(&self.label);
        out.push('\n');
        for c in &self.children {
            c.render(indent + 1, out);
        }
    }
}

/// A decoded record with where it came from and, for a reply, the request it answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub dir: Dir,
    pub ts: Timestamp,
    pub frame: u64,
    /// Boxed where it is decoded: it moves from the decoder to the message's record without
    /// copying the largest decoder's record each time.
    pub record: Box<SubRecord>,
    /// Set on a reply that answered a tracked request.
    pub reply_to: Option<Paired>,
}

/// What one message (or the end of the connection) produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    pub items: Vec<Item>,
    pub warnings: Vec<SubWarning>,
}

/// The decoders' per-connection state, whichever protocol was chosen.
enum State {
    Json,
    SocketIo(socketio::SocketIoConn),
    Stomp,
    Mqtt(Box<mqtt::MqttConn>),
    Graphql(graphql::Dialect),
    SignalR,
    JsonRpc,
    Wamp,
}

/// Caps on what a [`SubConn`] holds.
#[derive(Clone, Copy, Debug)]
pub struct SubLimits {
    /// Bytes of one partial MQTT packet held per direction while the rest arrives.
    pub max_mqtt_packet: usize,
    /// Requests awaiting replies kept per connection.
    pub max_pending_requests: usize,
    /// Distinct methods / events with their own latency statistics per connection (more are
    /// counted under `(other)`).
    pub max_latency_names: usize,
}

impl Default for SubLimits {
    fn default() -> Self {
        SubLimits {
            max_mqtt_packet: 256 << 10,
            max_pending_requests: 1024,
            max_latency_names: 64,
        }
    }
}

/// The records one message decoded to, each boxed where it is decoded: the box goes on whole
/// to the message's record, and a record is as large as the largest decoder's.
#[allow(
    clippy::vec_box,
    reason = "each box goes on whole to the message's record"
)]
type Records = Vec<Box<SubRecord>>;

/// One connection's sub-protocol decoding and request/reply pairing.
pub struct SubConn {
    selection: Selection,
    state: State,
    tracker: Tracker,
    /// The records of the message being decoded (kept: no allocation per message but theirs).
    records: Records,
}

/// Where the warnings and records of one message go while it is decoded.
pub(crate) struct Sink<'m> {
    pub msg: &'m Message<'m>,
    pub out: &'m mut Output,
    pub records: Records,
    /// No warnings are wanted (they are not even written).
    pub quiet: bool,
}

impl<'m> Sink<'m> {
    pub fn warn(&mut self, code: Code, detail: impl Into<String>) {
        self.warn_with(code, || detail.into());
    }
    /// A warning whose detail is written only if warnings are wanted.
    fn warn_with(&mut self, code: Code, detail: impl FnOnce() -> String) {
        if self.quiet {
            return;
        }
        self.out.warnings.push(SubWarning {
            code,
            dir: self.msg.dir,
            ts: self.msg.ts,
            frame: self.msg.frame,
            detail: detail(),
        });
    }
    pub fn record(&mut self, r: SubRecord) {
        self.records.push(Box::new(r));
    }
    /// The payload as text; for a binary or non-UTF-8 message, a [`Code::SubNotText`] warning
    /// and `None`. A message cut short inside a character keeps its valid prefix.
    pub fn text(&mut self, protocol: SubProtocol) -> Option<&'m str> {
        let payload = self.msg.payload;
        if self.msg.binary {
            self.warn_with(Code::SubNotText, || {
                format!(
                    "a binary message of {} bytes on {}, which carries only text",
                    payload.len(),
                    protocol.display_name()
                )
            });
            return None;
        }
        match std::str::from_utf8(payload) {
            Ok(s) => Some(s),
            Err(e) if !self.msg.complete() && e.error_len().is_none() => {
                std::str::from_utf8(&payload[..e.valid_up_to()]).ok()
            }
            Err(e) => {
                self.warn_with(Code::SubNotText, || {
                    format!("not UTF-8 at byte {}", e.valid_up_to())
                });
                None
            }
        }
    }

    /// `text` parsed as JSON; a warning (and `None`) when it is not JSON — or, for a message
    /// cut short, a [`Code::SubTruncated`] note instead of calling it invalid.
    pub fn json(&mut self, protocol: SubProtocol, text: &str) -> Option<serde_json::Value> {
        match serde_json::from_str(text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.invalid_json(protocol, &e);
                None
            }
        }
    }

    pub fn invalid_json(&mut self, protocol: SubProtocol, e: &serde_json::Error) {
        let kept = self.msg.payload.len();
        if !self.msg.complete() {
            self.warn_with(Code::SubTruncated, || {
                format!(
                    "only the first {kept} bytes of the message were kept: {} not decoded",
                    protocol.display_name()
                )
            });
        } else {
            self.warn_with(Code::SubInvalidJson, || {
                format!("{}: {e}", protocol.display_name())
            });
        }
    }
}

impl SubConn {
    pub fn new(selection: Selection, limits: SubLimits) -> SubConn {
        let state = match selection.protocol {
            SubProtocol::Json => State::Json,
            SubProtocol::SocketIo => {
                State::SocketIo(socketio::SocketIoConn::new(selection.engineio))
            }
            SubProtocol::Stomp => State::Stomp,
            SubProtocol::Mqtt => State::Mqtt(Box::new(mqtt::MqttConn::new(limits.max_mqtt_packet))),
            SubProtocol::GraphqlWs => State::Graphql(graphql::Dialect::Legacy),
            SubProtocol::GraphqlTransportWs => State::Graphql(graphql::Dialect::TransportWs),
            SubProtocol::SignalR => State::SignalR,
            SubProtocol::JsonRpc => State::JsonRpc,
            SubProtocol::Wamp => State::Wamp,
        };
        SubConn {
            selection,
            state,
            tracker: Tracker::new(limits.max_pending_requests, limits.max_latency_names),
            records: Vec::new(),
        }
    }

    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Decodes one complete data message.
    pub fn message(&mut self, msg: &Message<'_>) -> Output {
        let mut out = Output::default();
        self.message_into(msg, false, &mut out);
        out
    }

    /// As [`SubConn::message`], into `out` (emptied first: its buffers are reused); `quiet`:
    /// the decoders' warnings are not wanted (not even written).
    pub fn message_into(&mut self, msg: &Message<'_>, quiet: bool, out: &mut Output) {
        out.items.clear();
        out.warnings.clear();
        let mut sink = Sink {
            msg,
            out,
            records: std::mem::take(&mut self.records),
            quiet,
        };
        match &mut self.state {
            State::Json => json::decode(&mut sink),
            State::SocketIo(conn) => conn.decode(&mut sink),
            State::Stomp => stomp::decode(&mut sink),
            State::Mqtt(conn) => conn.decode(&mut sink),
            State::Graphql(dialect) => graphql::decode(*dialect, &mut sink),
            State::SignalR => signalr::decode(&mut sink),
            State::JsonRpc => jsonrpc::decode(&mut sink),
            State::Wamp => wamp::decode(&mut sink),
        }
        let mut records = std::mem::take(&mut sink.records);
        self.pair(msg.dir, msg.ts, msg.frame, &mut records, out);
        self.records = records;
    }

    /// Bytes of one direction were lost (a TCP gap inside the WebSocket stream): state that
    /// spans messages (a partial MQTT packet, pending Socket.IO attachments) is dropped.
    pub fn gap(&mut self, dir: Dir, ts: Timestamp, frame: u64) -> Output {
        let mut out = Output::default();
        match &mut self.state {
            State::Mqtt(conn) => conn.lost(dir, ts, frame, "bytes were lost", &mut out),
            State::SocketIo(conn) => conn.lost(dir, ts, frame, &mut out),
            _ => {}
        }
        out
    }

    /// The connection ended: reports what was left unfinished.
    pub fn finish(&mut self, ts: Timestamp, frame: u64) -> Output {
        let mut out = Output::default();
        for dir in [Dir::C2S, Dir::S2C] {
            match &mut self.state {
                State::Mqtt(conn) => conn.lost(dir, ts, frame, "the connection ended", &mut out),
                State::SocketIo(conn) => conn.lost(dir, ts, frame, &mut out),
                _ => {}
            }
        }
        out
    }

    fn pair(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        frame: u64,
        records: &mut Records,
        out: &mut Output,
    ) {
        for record in records.drain(..) {
            let reply_to = match record.pairing() {
                Some(role) => {
                    let (paired, warning) = self.tracker.on_role(dir, ts, frame, role);
                    if let Some((code, detail)) = warning {
                        out.warnings.push(SubWarning {
                            code,
                            dir,
                            ts,
                            frame,
                            detail,
                        });
                    }
                    paired
                }
                None => None,
            };
            out.items.push(Item {
                dir,
                ts,
                frame,
                record,
                reply_to,
            });
        }
    }

    /// The connection's application latency so far.
    pub fn latency(&self) -> &Tracker {
        &self.tracker
    }

    /// Bytes this connection holds between messages (for the memory budget): partial MQTT
    /// packets and the latency tracker's pending requests and statistics.
    pub fn held_bytes(&self) -> usize {
        let state = match &self.state {
            State::Mqtt(conn) => conn.held_bytes(),
            _ => 0,
        };
        state + self.tracker.held_bytes()
    }
}

/// Test helper: runs `decode` over one message (packet `frame`, at `frame` nanoseconds) and
/// returns what it produced, its records as items.
#[cfg(test)]
pub(crate) fn run_one(
    dir: Dir,
    binary: bool,
    payload: &[u8],
    len: u64,
    frame: u64,
    decode: impl FnOnce(&mut Sink<'_>),
) -> Output {
    let msg = Message {
        dir,
        ts: Timestamp(frame as i64),
        frame,
        binary,
        payload,
        len,
    };
    let mut out = Output::default();
    let mut sink = Sink {
        msg: &msg,
        out: &mut out,
        records: Vec::new(),
        quiet: false,
    };
    decode(&mut sink);
    let records = std::mem::take(&mut sink.records);
    out.items = records
        .into_iter()
        .map(|record| Item {
            dir,
            ts: msg.ts,
            frame,
            record,
            reply_to: None,
        })
        .collect();
    out
}

/// A short, printable form of a string taken from the capture for summary lines: quoted with
/// Rust's escapes and cut at `max` characters.
pub(crate) fn quoted(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_message_makes_no_warnings_and_buffers_are_reused() {
        let selection = Selection {
            protocol: SubProtocol::Json,
            basis: select::Basis::Content,
            reason: String::new(),
            engineio: None,
        };
        let mut conn = SubConn::new(selection, SubLimits::default());
        let msg = |payload: &'static [u8]| Message {
            dir: Dir::C2S,
            ts: Timestamp(1),
            frame: 1,
            binary: false,
            payload,
            len: payload.len() as u64,
        };
        let mut out = Output::default();
        conn.message_into(&msg(b"{not json"), false, &mut out);
        assert_eq!(out.warnings.len(), 1);
        assert_eq!(out.warnings[0].code, Code::SubInvalidJson);
        conn.message_into(&msg(b"{not json"), true, &mut out);
        assert!(out.warnings.is_empty() && out.items.is_empty());
        conn.message_into(&msg(br#"{"a":1}"#), true, &mut out);
        assert_eq!(out.items.len(), 1);
        let (items, records) = (out.items.capacity(), conn.records.capacity());
        for _ in 0..100 {
            conn.message_into(&msg(br#"{"a":1}"#), true, &mut out);
        }
        assert_eq!((out.items.len(), out.items.capacity()), (1, items));
        assert_eq!(conn.records.capacity(), records);
        assert_eq!(conn.message(&msg(br#"[1]"#)).items.len(), 1);
    }

    #[test]
    fn sub_codes_are_in_the_one_code_list_and_documented_here() {
        let doc = include_str!("../../../docs/subprotocols.md");
        let sub: Vec<Code> = Code::ALL
            .iter()
            .copied()
            .filter(|c| c.as_str().starts_with("sub."))
            .collect();
        assert!(sub.len() >= 18);
        for code in sub {
            assert!(
                doc.contains(&format!("`{}`", code.as_str())),
                "{} is missing from docs/subprotocols.md",
                code.as_str()
            );
        }
    }

    #[test]
    fn protocol_names_parse_back() {
        for p in SubProtocol::ALL {
            assert_eq!(SubProtocol::parse(p.as_str()), Some(p));
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json, serde_json::Value::String(p.as_str().into()));
        }
        assert_eq!(SubProtocol::parse("JSONRPC"), Some(SubProtocol::JsonRpc));
        assert_eq!(SubProtocol::parse("nope"), None);
    }

    #[test]
    fn quoted_escapes_and_cuts() {
        assert_eq!(quoted("chat message", 40), "\"chat message\"");
        assert_eq!(quoted("a\u{1b}[31m", 40), "\"a\\u{1b}[31m\"");
        assert_eq!(quoted("abcdef", 3), "\"abc\"…");
    }
}
