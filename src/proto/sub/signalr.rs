//! ASP.NET Core SignalR's JSON hub protocol: text messages holding JSON records each ended by
//! the record separator 0x1E; the handshake (`{"protocol":"json","version":1}` and the
//! server's `{}` or `{"error": ...}`), then records with a numeric `type`: 1 Invocation,
//! 2 StreamItem, 3 Completion, 4 StreamInvocation, 5 CancelInvocation, 6 Ping, 7 Close,
//! 8 Ack, 9 Sequence. The MessagePack hub protocol (binary messages) is not decoded.
//!
//! Reference: dotnet/aspnetcore src/SignalR/docs/specs/HubProtocol.md, whose examples are the
//! tests.

use super::json::{one_line, wide};
use super::latency::Role;
use super::{Code, Node, Sink, SubProtocol, SubRecord, quoted};
use crate::model::sub_object::Members;
use serde_json::Value;

/// The record separator that ends every record.
pub const RS: char = '\u{1e}';

const TYPES: [&str; 10] = [
    "",
    "Invocation",
    "StreamItem",
    "Completion",
    "StreamInvocation",
    "CancelInvocation",
    "Ping",
    "Close",
    "Ack",
    "Sequence",
];

/// One SignalR record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignalRRecord {
    /// `Handshake`, `HandshakeResponse`, or the record type's name (`Invocation`, ...).
    pub kind: &'static str,
    pub type_num: Option<u64>,
    pub target: Option<String>,
    pub invocation_id: Option<String>,
    pub arguments: Option<Value>,
    /// A Completion's result, a StreamItem's item.
    pub result: Option<Value>,
    pub error: Option<String>,
    /// Handshake: the hub protocol name and version.
    pub hub_protocol: Option<String>,
    pub version: Option<u64>,
}

impl SignalRRecord {
    /// Its `sub` object's fields, in order.
    pub(super) fn members<'m>(&'m self, m: &mut Members<'m>) {
        m.str("type", self.kind);
        m.opt("type_num", &self.type_num);
        m.opt_str("target", &self.target);
        m.opt_str("invocation_id", &self.invocation_id);
        m.opt("arguments", &self.arguments);
        m.opt("result", &self.result);
        m.opt_str("error", &self.error);
        m.opt_str("hub_protocol", &self.hub_protocol);
        m.opt("version", &self.version);
    }

    pub fn summary_at(&self, w: usize) -> String {
        let mut s = String::from(self.kind);
        if let Some(t) = &self.target {
            s.push_str(&format!(" {}", quoted(t, w)));
        }
        if let Some(id) = &self.invocation_id {
            s.push_str(&format!(" id={}", quoted(id, w)));
        }
        if let (Some(p), Some(v)) = (&self.hub_protocol, self.version) {
            s.push_str(&format!(" {} v{v}", quoted(p, w / 2)));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(" error={}", quoted(e, wide(w))));
        }
        if let Some(r) = &self.result {
            s.push_str(&format!(" {}", one_line(r, w)));
        }
        s
    }

    pub fn details(&self) -> Vec<Node> {
        let mut v = vec![Node::field("Type", self.kind)];
        if let Some(t) = self.type_num {
            v.push(Node::field("Type number", t));
        }
        if let Some(t) = &self.target {
            v.push(Node::field("Target", t));
        }
        if let Some(id) = &self.invocation_id {
            v.push(Node::field("Invocation id", id));
        }
        if let Some(p) = &self.hub_protocol {
            v.push(Node::field("Hub protocol", p));
        }
        if let Some(n) = self.version {
            v.push(Node::field("Version", n));
        }
        if let Some(e) = &self.error {
            v.push(Node::field("Error", e));
        }
        if let Some(a) = &self.arguments {
            v.push(Node::json("Arguments", a));
        }
        if let Some(r) = &self.result {
            v.push(Node::json("Result", r));
        }
        v
    }

    pub fn pairing(&self) -> Option<Role> {
        match self.kind {
            "Handshake" => Some(Role::Request {
                key: "handshake".into(),
                name: "(handshake)".into(),
            }),
            "HandshakeResponse" => Some(Role::Reply {
                key: "handshake".into(),
                error: self.error.is_some(),
            }),
            "Invocation" | "StreamInvocation" => Some(Role::Request {
                key: self.invocation_id.clone()?,
                name: self.target.clone().unwrap_or_default(),
            }),
            "StreamItem" | "Completion" => Some(Role::StreamReply {
                key: self.invocation_id.clone()?,
                error: self.error.is_some(),
            }),
            _ => None,
        }
    }
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// One record's JSON (without its separator).
pub fn parse_record(v: &Value) -> Result<SignalRRecord, String> {
    if !v.is_object() {
        return Err("a record that is not a JSON object".into());
    }
    let Some(t) = v.get("type") else {
        // The handshake: the client names the protocol; the server answers {} or an error.
        return Ok(match string(v, "protocol") {
            Some(p) => SignalRRecord {
                kind: "Handshake",
                hub_protocol: Some(p),
                version: v.get("version").and_then(Value::as_u64),
                ..Default::default()
            },
            None => SignalRRecord {
                kind: "HandshakeResponse",
                error: string(v, "error"),
                ..Default::default()
            },
        });
    };
    let n = t
        .as_u64()
        .filter(|&n| (1..=9).contains(&n))
        .ok_or_else(|| format!("record type {t} is not 1-9"))?;
    let mut r = SignalRRecord {
        kind: TYPES[n as usize],
        type_num: Some(n),
        target: string(v, "target"),
        invocation_id: string(v, "invocationId"),
        arguments: v.get("arguments").cloned(),
        result: v.get("result").or_else(|| v.get("item")).cloned(),
        error: string(v, "error"),
        ..Default::default()
    };
    match n {
        1 | 4 if r.target.is_none() => return Err(format!("{} without a target", r.kind)),
        1 | 4 if !r.arguments.as_ref().is_some_and(Value::is_array) => {
            return Err(format!("{} without an arguments array", r.kind));
        }
        2 | 3 | 5 if r.invocation_id.is_none() => {
            return Err(format!("{} without an invocationId", r.kind));
        }
        4 if r.invocation_id.is_none() => {
            return Err("StreamInvocation without an invocationId".into());
        }
        _ => {}
    }
    if n == 7 {
        r.result = None;
    }
    if n == 8 || n == 9 {
        r.invocation_id = v.get("sequenceId").map(super::json::label);
    }
    Ok(r)
}

pub(super) fn decode(sink: &mut Sink<'_>) {
    let Some(text) = sink.text(SubProtocol::SignalR) else {
        return;
    };
    let body = match text.strip_suffix(RS) {
        Some(b) => b,
        None if !sink.msg.complete() => {
            sink.warn(
                Code::SubTruncated,
                format!(
                    "only the first {} bytes of the message were kept: its last record not decoded",
                    sink.msg.payload.len()
                ),
            );
            match text.rfind(RS) {
                Some(i) => &text[..i],
                None => return,
            }
        }
        None => {
            sink.warn(
                Code::SubSignalrMalformed,
                "a message not ended by the record separator 0x1E",
            );
            text
        }
    };
    for part in body.split(RS) {
        let v: Value = match serde_json::from_str(part) {
            Ok(v) => v,
            Err(e) => {
                sink.warn(
                    Code::SubSignalrMalformed,
                    format!("a record is not JSON: {e}"),
                );
                continue;
            }
        };
        match parse_record(&v) {
            Ok(r) => sink.record(SubRecord::SignalR(r)),
            Err(e) => sink.warn(Code::SubSignalrMalformed, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sub::{Output, run_one};
    use crate::tcp::Dir;

    fn run(text: &str) -> (Vec<SignalRRecord>, Output) {
        let len = text.len() as u64;
        let mut out = run_one(Dir::C2S, false, text.as_bytes(), len, 1, decode);
        let records = std::mem::take(&mut out.items)
            .into_iter()
            .map(|i| match *i.record {
                SubRecord::SignalR(r) => r,
                other => panic!("{other:?}"),
            })
            .collect();
        (records, out)
    }

    // The examples of HubProtocol.md.
    #[test]
    fn hub_protocol_examples() {
        let (r, out) = run("{\"protocol\":\"json\",\"version\":1}\u{1e}");
        assert!(out.warnings.is_empty());
        assert_eq!(r[0].summary_at(40), "Handshake \"json\" v1");
        let (r, _) = run("{}\u{1e}");
        assert_eq!(r[0].kind, "HandshakeResponse");
        let (r, _) =
            run("{\"error\":\"Requested protocol 'messagepack' is not available.\"}\u{1e}");
        assert!(matches!(
            r[0].pairing(),
            Some(Role::Reply { error: true, .. })
        ));
        let (r, _) = run(
            "{\"type\":1,\"invocationId\":\"123\",\"target\":\"Send\",\"arguments\":[42,\"Test Message\"]}\u{1e}",
        );
        assert_eq!(r[0].summary_at(40), "Invocation \"Send\" id=\"123\"");
        assert_eq!(
            r[0].pairing(),
            Some(Role::Request {
                key: "123".into(),
                name: "Send".into()
            })
        );
        let (r, _) =
            run("{\"type\":1,\"target\":\"Send\",\"arguments\":[42,\"Test Message\"]}\u{1e}");
        assert_eq!(r[0].pairing(), None);
        let (r, _) = run("{\"type\":2,\"invocationId\":\"123\",\"item\":42}\u{1e}");
        assert_eq!(r[0].result, Some(serde_json::json!(42)));
        let (r, _) = run("{\"type\":3,\"invocationId\":\"123\",\"result\":42}\u{1e}");
        assert_eq!(r[0].kind, "Completion");
        let (r, _) =
            run("{\"type\":3,\"invocationId\":\"123\",\"error\":\"It didn't work!\"}\u{1e}");
        assert!(matches!(
            r[0].pairing(),
            Some(Role::StreamReply { error: true, .. })
        ));
        let (r, _) = run(
            "{\"type\":4,\"invocationId\":\"123\",\"target\":\"Send\",\"arguments\":[42]}\u{1e}{\"type\":5,\"invocationId\":\"123\"}\u{1e}{\"type\":6}\u{1e}",
        );
        let kinds: Vec<_> = r.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, ["StreamInvocation", "CancelInvocation", "Ping"]);
        let (r, _) = run(
            "{\"type\":7,\"error\":\"Connection closed because of an error!\",\"allowReconnect\":true}\u{1e}",
        );
        assert_eq!(r[0].kind, "Close");
        let (r, _) = run("{\"type\":8,\"sequenceId\":1394}\u{1e}");
        assert_eq!(r[0].invocation_id.as_deref(), Some("1394"));
    }

    #[test]
    fn malformed_records_warn_and_the_rest_decode() {
        let (r, out) = run(
            "{\"type\":1,\"target\":\"A\",\"arguments\":[]}\u{1e}{\"type\":12}\u{1e}{x\u{1e}{\"type\":3}\u{1e}",
        );
        assert_eq!(r.len(), 1);
        assert_eq!(out.warnings.len(), 3);
        assert!(
            out.warnings
                .iter()
                .all(|w| w.code == Code::SubSignalrMalformed)
        );
        let (r, out) = run("{\"type\":6}");
        assert_eq!(
            (r.len(), out.warnings[0].code),
            (1, Code::SubSignalrMalformed)
        );
        let (_, out) = run("{\"type\":1,\"target\":\"A\"}\u{1e}");
        assert!(out.warnings[0].detail.contains("arguments"));
    }
}
