//! Sub-protocol records: what a WebSocket message meant to the protocol it carries
//! ([`SubUnit`], the `sub` object of a `ws_message` record), which protocol a connection was
//! decoded as and why ([`SubChoice`], the flow record's `sub` object and a `-V` node), and the
//! application latency of a connection ([`LatencyRecord`], the `latency` record).
//!
//! The protocol layer builds these from its decoders (`proto::sub`); every output reads them
//! here, so no printer knows a sub-protocol.

use crate::decode::DetailNode;
use crate::filter::{Each, FieldId, OwnFields, RecordType, Value as FieldValue, one};
use crate::model::json::{JsonCx, ToJson};
use crate::model::sub_object::Members;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::ops::ControlFlow;

/// What a decoded unit can say of itself, asked for only by the outputs that show it (the
/// decoders' records implement it in `proto::sub`): nothing is rendered for a view that does
/// not show it (`-q`, `--json` asks only for the object, whose members the decoders' records
/// list on the stack to be written straight into the output, [`members_to`](Self::members_to)).
pub trait SubMeaning: std::fmt::Debug + Send + Sync {
    /// The protocol's name as its documents write it (`Socket.IO`, `MQTT`).
    fn display(&self) -> &'static str;
    /// The `sub` object: `protocol`, `type`, the filter catalog's fields (`event`, `method`,
    /// `id`, `topic`, `namespace`, `operation`, `qos`, `error`) where the unit has them, then
    /// the protocol's own fields.
    fn object(&self) -> Map<String, Value>;
    /// One member of the `sub` object by its name, `None` when the object has none: what
    /// [`object`](Self::object) holds under that name (the decoders' records make only that
    /// member a value, for filters).
    fn member(&self, name: &str) -> Option<Value> {
        self.object().remove(name)
    }
    /// Gives `f` the `sub` object's members, to be written straight into the output (the
    /// decoders' records do: nothing is built per message), and says whether it did; when not
    /// (the default), JSON writes [`object`](Self::object)'s map.
    fn members_to(&self, f: &mut dyn FnMut(&Members<'_>)) -> bool {
        let _ = f;
        false
    }
    /// One line: `Socket.IO EVENT "chat message" ack=12`, names and ids cut at `width`
    /// characters (`--snap-preview`, [`crate::model::LINE_PREVIEW`] by default), values at half
    /// as many again. Capture strings are quoted with Rust's escapes; printers escape the line
    /// as everything else.
    fn summary(&self, width: usize) -> String;
    /// The `-V` tree of the unit (JSON pretty-printed, one line a node).
    fn details(&self) -> DetailNode;
    /// A copy of the unit (records found in one thread are carried to the one that prints).
    fn clone_box(&self) -> Box<dyn SubMeaning>;
}

/// One decoded protocol unit of a message (a message usually holds one; a JSON-RPC batch, a
/// run of SignalR records or an MQTT-over-WebSocket message may hold several).
#[derive(Debug)]
pub struct SubUnit {
    pub meaning: Box<dyn SubMeaning>,
    /// A reply that answered a tracked request.
    pub reply_to: Option<SubReply>,
}

impl Clone for SubUnit {
    fn clone(&self) -> SubUnit {
        SubUnit {
            meaning: self.meaning.clone_box(),
            reply_to: self.reply_to.clone(),
        }
    }
}

/// The request a reply answered.
#[derive(Clone, Debug, PartialEq)]
pub struct SubReply {
    pub request_frame: u64,
    /// Seconds from the request to the reply.
    pub latency: f64,
    /// The method / event the statistics go under.
    pub name: String,
    pub error: bool,
}

impl SubUnit {
    /// The protocol's name as its documents write it.
    pub fn display(&self) -> &'static str {
        self.meaning.display()
    }

    /// The one-line meaning, names and ids cut at `width` characters.
    pub fn summary(&self, width: usize) -> String {
        self.meaning.summary(width)
    }

    /// The `-V` node: the tree, and the request a reply answered.
    pub fn detail(&self) -> DetailNode {
        let mut node = self.meaning.details();
        if let Some(r) = &self.reply_to {
            node.children.push(DetailNode::leaf(format!(
                "[Reply to packet {} after {} ({}){}]",
                r.request_frame,
                latency_text(r.latency),
                r.name,
                if r.error { ", an error" } else { "" }
            )));
        }
        node
    }
}

/// A latency in seconds as people read it: `840 µs`, `12.3 ms`, `1.52 s`.
pub fn latency_text(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

/// The sub-protocol chosen for a WebSocket connection, or why none was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubChoice {
    /// `sub.protocol` name, `null` when the connection is not decoded.
    pub protocol: Option<&'static str>,
    /// `subprotocol`, `decode-as`, `url`, `content`; `null` when not decoded.
    pub basis: Option<&'static str>,
    /// The evidence, in a sentence: `Sec-WebSocket-Protocol: v12.stomp`.
    pub reason: Cow<'static, str>,
    /// Socket.IO: the Engine.IO version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engineio: Option<u8>,
}

impl SubChoice {
    /// The `-V` line: `Sub-protocol: STOMP (Sec-WebSocket-Protocol: v12.stomp)`.
    pub fn line(&self, display: &str) -> String {
        match self.protocol {
            Some(_) => format!("Sub-protocol: {display} ({})", self.reason),
            None => format!("Sub-protocol: not decoded ({})", self.reason),
        }
    }
}

/// One `latency` record: a connection's statistics for one name, or (`name` null) for all its
/// requests. Latencies in seconds; `null` when nothing was answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename = "latency")]
pub struct LatencyRecord {
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub flow: u64,
    pub protocol: &'static str,
    pub name: Option<String>,
    /// The direction the requests went (`c2s`, `s2c`); absent on the whole-connection record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<&'static str>,
    /// Requests answered.
    pub count: u64,
    /// Of those, answered with an error (JSON-RPC error, graphql error, STOMP ERROR, MQTT
    /// reason code ≥ 0x80, SignalR completion with error, WAMP ERROR).
    pub errors: u64,
    /// Requests never answered: still pending at the end, replaced by a duplicate id, or
    /// evicted at the cap.
    pub unanswered: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// Whole-connection record only: replies that matched no pending request (their request
    /// was before the capture, or evicted), and requests evicted at the cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched_replies: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evicted: Option<u64>,
}

impl ToJson for LatencyRecord {
    fn to_json<S: Serializer>(&self, _cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
}

/// The `sub` fields of a `ws_message` record: the first unit as `sub`, any further ones of the
/// same message in `sub_more`.
pub(crate) fn write_units<S: SerializeStruct>(
    r: &mut S,
    units: &[SubUnit],
) -> Result<(), S::Error> {
    if let Some((first, rest)) = units.split_first() {
        r.serialize_field("sub", &Object(&*first.meaning))?;
        if !rest.is_empty() {
            r.serialize_field("sub_more", &More(rest))?;
        }
    }
    Ok(())
}

/// A unit's `sub` object: its members written into the serializer as the unit lists them,
/// else its map.
pub(crate) struct Object<'a>(pub &'a dyn SubMeaning);

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut serializer = Some(s);
        let mut written = None;
        self.0.members_to(&mut |members| {
            if let Some(s) = serializer.take() {
                written = Some(members.serialize(s));
            }
        });
        match (written, serializer) {
            (Some(written), _) => written,
            (None, Some(s)) => self.0.object().serialize(s),
            (None, None) => Err(serde::ser::Error::custom("a sub object was not written")),
        }
    }
}

/// The `sub` objects of a message's further units.
struct More<'a>(&'a [SubUnit]);

impl Serialize for More<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|u| Object(&*u.meaning)))
    }
}

impl OwnFields for LatencyRecord {
    fn record_type(&self) -> RecordType {
        RecordType::Latency
    }

    fn own_values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        let secs = |v: Option<f64>| v.map(FieldValue::Float);
        match field {
            F::Dir => one(self.dir.map(FieldValue::Sym), each),
            F::Latency => each(FieldValue::Present),
            F::LatencyProtocol => each(FieldValue::Str(self.protocol)),
            F::LatencyName => one(self.name.as_deref().map(FieldValue::Str), each),
            F::LatencyCount => each(FieldValue::Int(self.count.into())),
            F::LatencyErrors => each(FieldValue::Int(self.errors.into())),
            F::LatencyUnanswered => each(FieldValue::Int(self.unanswered.into())),
            F::LatencyP50 => one(secs(self.p50), each),
            F::LatencyP90 => one(secs(self.p90), each),
            F::LatencyP99 => one(secs(self.p99), each),
            F::LatencyMax => one(secs(self.max), each),
            _ => ControlFlow::Continue(()),
        }
    }
}

/// The `sub.*` fields of a message's decoded units, read from each unit's `sub` object (the
/// same keys as in JSON); ids and errors that are not strings are given as their JSON text.
/// Only a filter or `-T fields` naming a `sub.*` field asks, and only that member is made a
/// value then.
pub fn sub_values(units: &[SubUnit], field: FieldId, each: &mut Each<'_>) -> ControlFlow<()> {
    use FieldId as F;
    let key = match field {
        F::Sub => return one((!units.is_empty()).then_some(FieldValue::Present), each),
        F::SubProtocol => "protocol",
        F::SubType => "type",
        F::SubEvent => "event",
        F::SubMethod => "method",
        F::SubId => "id",
        F::SubTopic => "topic",
        F::SubNamespace => "namespace",
        F::SubOperation => "operation",
        F::SubQos => "qos",
        F::SubError => "error",
        _ => return ControlFlow::Continue(()),
    };
    for unit in units {
        match unit.meaning.member(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(v)) if field != F::SubQos => each(FieldValue::Str(&v))?,
            Some(Value::Number(n)) if field == F::SubQos => {
                if let Some(q) = n.as_u64() {
                    each(FieldValue::Int(q.into()))?;
                }
            }
            Some(v) if field != F::SubQos => each(FieldValue::Str(&v.to_string()))?,
            Some(_) => {}
        }
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_in_their_unit() {
        assert_eq!(latency_text(0.000_84), "840 µs");
        assert_eq!(latency_text(0.0123), "12.3 ms");
        assert_eq!(latency_text(1.523), "1.52 s");
    }
}
