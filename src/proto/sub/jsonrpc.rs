//! JSON-RPC 2.0 over WebSocket: requests, notifications, responses and error responses, alone
//! or in batches (one record per element, with its place in the batch).
//!
//! Reference: the JSON-RPC 2.0 specification (jsonrpc.org/specification), whose examples are
//! the tests.

use super::json::{one_line, wide};
use super::latency::Role;
use super::{Code, Node, Sink, SubProtocol, SubRecord, quoted};
use crate::model::sub_object::Members;
use serde_json::Value;

/// One JSON-RPC message (or one element of a batch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JsonRpcRecord {
    /// `request`, `notification`, `response` or `error`.
    pub kind: &'static str,
    pub method: Option<String>,
    /// The id exactly as sent (number, string or null).
    pub id: Option<Value>,
    pub params: Option<Value>,
    pub result: Option<Value>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
    /// In a batch: this element's 1-based place and the batch's size.
    pub batch: Option<[usize; 2]>,
}

impl JsonRpcRecord {
    /// Its `sub` object's fields, in order.
    pub(super) fn members<'m>(&'m self, m: &mut Members<'m>) {
        m.str("type", self.kind);
        m.opt_str("method", &self.method);
        m.opt("id", &self.id);
        m.opt("params", &self.params);
        m.opt("result", &self.result);
        m.opt("error_code", &self.error_code);
        m.opt_str("error_message", &self.error_message);
        m.opt("batch", &self.batch);
    }

    pub fn summary_at(&self, w: usize) -> String {
        let mut s = String::from(self.kind);
        if let Some(m) = &self.method {
            s.push_str(&format!(" {}", quoted(m, wide(w))));
        }
        if let Some(id) = &self.id {
            s.push_str(&format!(" id={}", one_line(id, w)));
        }
        if let Some(c) = self.error_code {
            s.push_str(&format!(" code={c}"));
        }
        if let Some(m) = &self.error_message {
            s.push_str(&format!(" {}", quoted(m, wide(w))));
        }
        if let Some(r) = &self.result {
            s.push_str(&format!(" result={}", one_line(r, w)));
        }
        if let Some([i, n]) = self.batch {
            s.push_str(&format!(" (batch {i}/{n})"));
        }
        s
    }

    pub fn details(&self) -> Vec<Node> {
        let mut v = vec![Node::field("Type", self.kind)];
        if let Some(m) = &self.method {
            v.push(Node::field("Method", m));
        }
        if let Some(id) = &self.id {
            v.push(Node::field("Id", id));
        }
        if let Some([i, n]) = self.batch {
            v.push(Node::field("Batch", format!("{i} of {n}")));
        }
        if let Some(c) = self.error_code {
            v.push(Node::field("Error code", c));
        }
        if let Some(m) = &self.error_message {
            v.push(Node::field("Error message", m));
        }
        if let Some(p) = &self.params {
            v.push(Node::json("Params", p));
        }
        if let Some(r) = &self.result {
            v.push(Node::json("Result", r));
        }
        v
    }

    pub fn pairing(&self) -> Option<Role> {
        let key = self.id.as_ref().filter(|id| !id.is_null())?.to_string();
        match self.kind {
            "request" => Some(Role::Request {
                key,
                name: self.method.clone().unwrap_or_default(),
            }),
            "response" | "error" => Some(Role::Reply {
                key,
                error: self.kind == "error",
            }),
            _ => None,
        }
    }
}

/// One message object; `Err` says why it is not JSON-RPC 2.0 (a record is still made when the
/// shape is recognisable: `jsonrpc` missing or not "2.0" only warns).
pub fn parse_object(v: &Value) -> (Option<JsonRpcRecord>, Option<String>) {
    let Value::Object(m) = v else {
        return (
            None,
            Some(format!("{} is not a JSON-RPC object", one_line(v, 40))),
        );
    };
    let mut warning = match m.get("jsonrpc") {
        Some(Value::String(s)) if s == "2.0" => None,
        Some(other) => Some(format!("\"jsonrpc\" is {other}, not \"2.0\"")),
        None => Some("no \"jsonrpc\": \"2.0\" member".to_string()),
    };
    let id = m.get("id").cloned();
    if let Some(id) = &id
        && !(id.is_string() || id.is_number() || id.is_null())
    {
        return (
            None,
            Some(format!(
                "id {} is not a string, number or null",
                one_line(id, 40)
            )),
        );
    }
    let mut r = JsonRpcRecord {
        id,
        ..Default::default()
    };
    if let Some(method) = m.get("method") {
        let Some(method) = method.as_str() else {
            return (None, Some("method is not a string".into()));
        };
        r.kind = if r.id.is_some() {
            "request"
        } else {
            "notification"
        };
        r.method = Some(method.to_string());
        r.params = m.get("params").cloned();
        if let Some(p) = &r.params
            && !(p.is_array() || p.is_object())
        {
            warning.get_or_insert_with(|| "params is neither an array nor an object".into());
        }
        return (Some(r), warning);
    }
    match (m.get("result"), m.get("error")) {
        (Some(res), None) => {
            r.kind = "response";
            r.result = Some(res.clone());
        }
        (None, Some(err)) => {
            r.kind = "error";
            r.error_code = err.get("code").and_then(Value::as_i64);
            r.error_message = err
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string);
            if r.error_code.is_none() || r.error_message.is_none() {
                warning.get_or_insert_with(|| {
                    "error object without an integer code and a message".into()
                });
            }
        }
        (Some(_), Some(_)) => return (None, Some("both result and error".into())),
        (None, None) => return (None, Some("neither method, result nor error".into())),
    }
    if r.id.is_none() {
        warning.get_or_insert_with(|| format!("{} without an id", r.kind));
    }
    (Some(r), warning)
}

pub(super) fn decode(sink: &mut Sink<'_>) {
    let Some(text) = sink.text(SubProtocol::JsonRpc) else {
        return;
    };
    let Some(v) = sink.json(SubProtocol::JsonRpc, text) else {
        return;
    };
    let items: Vec<(&Value, Option<[usize; 2]>)> = match &v {
        Value::Array(a) if a.is_empty() => {
            sink.warn(Code::SubJsonrpcInvalid, "an empty batch");
            return;
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, e)| (e, Some([i + 1, a.len()])))
            .collect(),
        other => vec![(other, None)],
    };
    for (v, batch) in items {
        let (r, warning) = parse_object(v);
        if let Some(w) = warning {
            let place = batch
                .map(|[i, n]| format!(" (batch element {i} of {n})"))
                .unwrap_or_default();
            sink.warn(Code::SubJsonrpcInvalid, format!("{w}{place}"));
        }
        if let Some(mut r) = r {
            r.batch = batch;
            sink.record(SubRecord::JsonRpc(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sub::{Output, run_one};
    use crate::tcp::Dir;

    fn run(text: &str) -> (Vec<JsonRpcRecord>, Output) {
        let len = text.len() as u64;
        let mut out = run_one(Dir::C2S, false, text.as_bytes(), len, 1, decode);
        let records = std::mem::take(&mut out.items)
            .into_iter()
            .map(|i| match *i.record {
                SubRecord::JsonRpc(r) => r,
                other => panic!("{other:?}"),
            })
            .collect();
        (records, out)
    }

    fn ok(text: &str) -> Vec<JsonRpcRecord> {
        let (r, out) = run(text);
        assert!(out.warnings.is_empty(), "{text}: {:?}", out.warnings);
        r
    }

    // The examples of the specification, section 7.
    #[test]
    fn specification_examples() {
        let r = ok(r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#);
        assert_eq!(r[0].summary_at(40), "request \"subtract\" id=1");
        let r = ok(r#"{"jsonrpc": "2.0", "result": 19, "id": 1}"#);
        assert_eq!(r[0].summary_at(40), "response id=1 result=19");
        let r = ok(
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
        );
        assert_eq!(r[0].kind, "request");
        let r = ok(r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#);
        assert_eq!(r[0].kind, "notification");
        assert_eq!(r[0].pairing(), None);
        let r = ok(
            r#"{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}"#,
        );
        assert_eq!((r[0].kind, r[0].error_code), ("error", Some(-32601)));
        assert!(matches!(
            r[0].pairing(),
            Some(Role::Reply { error: true, .. })
        ));
        let r = ok(
            r#"{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}"#,
        );
        assert_eq!(r[0].pairing(), None);
        let r = ok(r#"[
            {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]"#);
        assert_eq!(r.len(), 4);
        assert_eq!(r[2].batch, Some([3, 4]));
        assert_eq!(
            r[3].summary_at(40),
            "request \"get_data\" id=\"9\" (batch 4/4)"
        );
    }

    #[test]
    fn invalid_messages_from_the_specification() {
        // Invalid batches: [] and [1], [1,2,3]; invalid request objects.
        let (r, out) = run("[]");
        assert!(r.is_empty());
        assert_eq!(out.warnings[0].code, Code::SubJsonrpcInvalid);
        let (r, out) = run("[1,2,3]");
        assert_eq!((r.len(), out.warnings.len()), (0, 3));
        let (_, out) = run(r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#);
        assert_eq!(out.warnings[0].code, Code::SubJsonrpcInvalid);
        let (_, out) = run(r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#);
        assert_eq!(out.warnings[0].code, Code::SubInvalidJson);
        let (_, out) = run(
            r#"{"jsonrpc": "2.0", "result": 1, "error": {"code": 1, "message": "x"}, "id": 1}"#,
        );
        assert!(out.warnings[0].detail.contains("both"));
        let (r, out) = run(r#"{"method": "legacy", "id": 1}"#);
        assert_eq!(r.len(), 1);
        assert!(out.warnings[0].detail.contains("jsonrpc"));
        let (_, out) = run(r#"{"jsonrpc": "2.0", "method": "m", "id": [1]}"#);
        assert!(out.warnings[0].detail.contains("id"));
    }

    #[test]
    fn ids_pair_by_their_json_form() {
        let a = ok(r#"{"jsonrpc":"2.0","method":"m","id":1}"#)
            .remove(0)
            .pairing();
        let b = ok(r#"{"jsonrpc":"2.0","method":"m","id":"1"}"#)
            .remove(0)
            .pairing();
        assert_ne!(a, b);
    }
}
