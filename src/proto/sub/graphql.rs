//! GraphQL over WebSocket in its two dialects: the legacy `subscriptions-transport-ws`
//! protocol (subprotocol `graphql-ws`) and the `graphql-ws` library's protocol (subprotocol
//! `graphql-transport-ws`). Each message is one JSON object with a `type`, an `id` for
//! operation messages and a `payload`; the operation's type and name come from
//! `payload.operationName` or the query document's first definition.
//!
//! References: github.com/apollographql/subscriptions-transport-ws PROTOCOL.md and
//! github.com/enisdenjo/graphql-ws PROTOCOL.md, whose message examples are the tests.

use super::json::{one_line, wide};
use super::latency::Role;
use super::{Code, Node, Sink, SubProtocol, SubRecord, quoted};
use crate::model::sub_object::Members;
use serde_json::Value;

/// Which of the two protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// subscriptions-transport-ws (`graphql-ws`).
    Legacy,
    /// graphql-ws (`graphql-transport-ws`).
    TransportWs,
}

impl Dialect {
    fn protocol(self) -> SubProtocol {
        match self {
            Dialect::Legacy => SubProtocol::GraphqlWs,
            Dialect::TransportWs => SubProtocol::GraphqlTransportWs,
        }
    }

    /// The message types of the dialect, and whether each needs an `id`.
    fn types(self) -> &'static [(&'static str, bool)] {
        match self {
            Dialect::Legacy => &[
                ("connection_init", false),
                ("connection_ack", false),
                ("connection_error", false),
                ("ka", false),
                ("connection_terminate", false),
                ("start", true),
                ("data", true),
                ("error", true),
                ("complete", true),
                ("stop", true),
            ],
            Dialect::TransportWs => &[
                ("connection_init", false),
                ("connection_ack", false),
                ("ping", false),
                ("pong", false),
                ("subscribe", true),
                ("next", true),
                ("error", true),
                ("complete", true),
            ],
        }
    }
}

/// One graphql-ws / graphql-transport-ws message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphqlRecord {
    pub kind: String,
    pub id: Option<String>,
    /// `query`, `mutation` or `subscription` (start / subscribe).
    pub operation: Option<String>,
    pub operation_name: Option<String>,
    /// Errors in an `error` message or in a result's `errors`.
    pub errors: Option<usize>,
    pub payload: Option<Value>,
}

impl GraphqlRecord {
    /// Its `sub` object's fields, in order.
    pub(super) fn members<'m>(&'m self, m: &mut Members<'m>) {
        m.str("type", &self.kind);
        m.opt_str("id", &self.id);
        m.opt_str("operation", &self.operation);
        m.opt_str("operation_name", &self.operation_name);
        m.opt("errors", &self.errors);
        m.opt("payload", &self.payload);
    }

    pub fn summary_at(&self, w: usize) -> String {
        let mut s = self.kind.clone();
        if let Some(id) = &self.id {
            s.push_str(&format!(" id={}", quoted(id, w)));
        }
        match (&self.operation, &self.operation_name) {
            (Some(op), Some(name)) => s.push_str(&format!(" {op} {}", quoted(name, w))),
            (Some(op), None) => s.push_str(&format!(" {op}")),
            (None, Some(name)) => s.push_str(&format!(" {}", quoted(name, w))),
            _ => {}
        }
        if let Some(n) = self.errors {
            s.push_str(&format!(" errors={n}"));
        }
        if matches!(self.kind.as_str(), "next" | "data")
            && let Some(p) = &self.payload
        {
            s.push(' ');
            s.push_str(&one_line(p, wide(w)));
        }
        s
    }

    pub fn details(&self) -> Vec<Node> {
        let mut v = vec![Node::field("Type", &self.kind)];
        if let Some(id) = &self.id {
            v.push(Node::field("Id", id));
        }
        if let Some(op) = &self.operation {
            v.push(Node::field("Operation", op));
        }
        if let Some(n) = &self.operation_name {
            v.push(Node::field("Operation name", n));
        }
        if let Some(n) = self.errors {
            v.push(Node::field("Errors", n));
        }
        if let Some(p) = &self.payload {
            v.push(Node::json("Payload", p));
        }
        v
    }

    pub fn pairing(&self) -> Option<Role> {
        let op = || self.id.clone();
        match self.kind.as_str() {
            "connection_init" => Some(Role::Request {
                key: "init".into(),
                name: "connection_init".into(),
            }),
            "connection_ack" => Some(Role::Reply {
                key: "init".into(),
                error: false,
            }),
            "connection_error" => Some(Role::Reply {
                key: "init".into(),
                error: true,
            }),
            "ping" => Some(Role::Request {
                key: "ping".into(),
                name: "ping".into(),
            }),
            "pong" => Some(Role::Reply {
                key: "ping".into(),
                error: false,
            }),
            "start" | "subscribe" => Some(Role::Request {
                key: op()?,
                name: match (&self.operation, &self.operation_name) {
                    (_, Some(n)) => n.clone(),
                    (Some(op), None) => format!("(anonymous {op})"),
                    _ => "(anonymous)".into(),
                },
            }),
            "next" | "data" | "complete" => Some(Role::StreamReply {
                key: op()?,
                error: self.errors.is_some_and(|n| n > 0),
            }),
            "error" => Some(Role::StreamReply {
                key: op()?,
                error: true,
            }),
            _ => None,
        }
    }
}

/// The operation type and name of a GraphQL document's first operation, from its text:
/// `query Name(...)`, `subscription Name`, `{ ... }` (an anonymous query). Comments and
/// fragments before it are skipped.
pub fn operation_of(query: &str) -> Option<(String, Option<String>)> {
    let mut s = query;
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == '\u{feff}');
        if let Some(rest) = s.strip_prefix('#') {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
            continue;
        }
        if s.starts_with('{') {
            return Some(("query".into(), None));
        }
        let word_end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let word = &s[..word_end];
        match word {
            "query" | "mutation" | "subscription" => {
                let rest = s[word_end..].trim_start();
                let name_end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let name = (name_end > 0).then(|| rest[..name_end].to_string());
                return Some((word.to_string(), name));
            }
            "fragment" => {
                // Skip the fragment's selection set, braces balanced.
                let open = s.find('{')?;
                let mut depth = 0usize;
                let mut end = None;
                for (i, c) in s[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(open + i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                s = &s[end?..];
            }
            _ => return None,
        }
    }
}

pub(super) fn decode(dialect: Dialect, sink: &mut Sink<'_>) {
    let protocol = dialect.protocol();
    let Some(text) = sink.text(protocol) else {
        return;
    };
    let Some(v) = sink.json(protocol, text) else {
        return;
    };
    let Some(kind) = v.get("type").and_then(Value::as_str) else {
        sink.warn(
            Code::SubGraphqlInvalid,
            "a message without a string \"type\"",
        );
        return;
    };
    let mut r = GraphqlRecord {
        kind: kind.to_string(),
        id: v.get("id").map(super::json::label),
        ..Default::default()
    };
    match dialect.types().iter().find(|(t, _)| *t == kind) {
        None => sink.warn(
            Code::SubGraphqlInvalid,
            format!(
                "message type {} is not one of {}'s",
                quoted(kind, 40),
                protocol.as_str()
            ),
        ),
        Some((_, true)) if r.id.is_none() => {
            sink.warn(Code::SubGraphqlInvalid, format!("{kind} without an id"))
        }
        _ => {}
    }
    let payload = v.get("payload").cloned();
    if matches!(kind, "start" | "subscribe") {
        let Some(p) = payload.as_ref().filter(|p| p.is_object()) else {
            sink.warn(
                Code::SubGraphqlInvalid,
                format!("{kind} without a payload object"),
            );
            sink.record(record(dialect, r));
            return;
        };
        let parsed = p
            .get("query")
            .and_then(Value::as_str)
            .and_then(operation_of);
        r.operation = parsed.as_ref().map(|(op, _)| op.clone());
        r.operation_name = p
            .get("operationName")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| parsed.and_then(|(_, n)| n));
    }
    r.errors = match (kind, &payload) {
        ("error", Some(Value::Array(a))) => Some(a.len()),
        ("error", Some(_)) => Some(1),
        (_, Some(p)) => p.get("errors").and_then(Value::as_array).map(Vec::len),
        _ => None,
    };
    r.payload = payload;
    sink.record(record(dialect, r));
}

fn record(dialect: Dialect, r: GraphqlRecord) -> SubRecord {
    match dialect {
        Dialect::Legacy => SubRecord::GraphqlWs(r),
        Dialect::TransportWs => SubRecord::GraphqlTransportWs(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sub::{Output, run_one};
    use crate::tcp::Dir;

    fn run(dialect: Dialect, text: &str) -> (Vec<SubRecord>, Output) {
        let len = text.len() as u64;
        let mut out = run_one(Dir::C2S, false, text.as_bytes(), len, 1, |s| {
            decode(dialect, s)
        });
        let records = std::mem::take(&mut out.items)
            .into_iter()
            .map(|i| *i.record)
            .collect();
        (records, out)
    }

    fn rec(dialect: Dialect, text: &str) -> GraphqlRecord {
        let (mut r, out) = run(dialect, text);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        match r.remove(0) {
            SubRecord::GraphqlWs(r) | SubRecord::GraphqlTransportWs(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transport_ws_protocol_messages() {
        let t = Dialect::TransportWs;
        assert_eq!(
            rec(t, r#"{"type":"connection_init","payload":{}}"#).kind,
            "connection_init"
        );
        assert_eq!(rec(t, r#"{"type":"ping"}"#).kind, "ping");
        let s = rec(
            t,
            r#"{"id":"a1","type":"subscribe","payload":{"query":"subscription OnGreeting { greetings }"}}"#,
        );
        assert_eq!(
            (
                s.id.as_deref(),
                s.operation.as_deref(),
                s.operation_name.as_deref()
            ),
            (Some("a1"), Some("subscription"), Some("OnGreeting"))
        );
        assert_eq!(
            s.summary_at(40),
            "subscribe id=\"a1\" subscription \"OnGreeting\""
        );
        let n = rec(
            t,
            r#"{"id":"a1","type":"next","payload":{"data":{"greetings":"Hi"}}}"#,
        );
        assert_eq!(
            n.summary_at(40),
            r#"next id="a1" {"data":{"greetings":"Hi"}}"#
        );
        let e = rec(
            t,
            r#"{"id":"a1","type":"error","payload":[{"message":"boom"}]}"#,
        );
        assert_eq!(e.errors, Some(1));
        assert_eq!(rec(t, r#"{"id":"a1","type":"complete"}"#).kind, "complete");
    }

    #[test]
    fn legacy_protocol_messages() {
        let l = Dialect::Legacy;
        let s = rec(
            l,
            r#"{"id":"1","type":"start","payload":{"query":"query Q { a }","operationName":"Named"}}"#,
        );
        assert_eq!(
            (s.operation.as_deref(), s.operation_name.as_deref()),
            (Some("query"), Some("Named"))
        );
        assert_eq!(rec(l, r#"{"type":"ka"}"#).kind, "ka");
        let d = rec(
            l,
            r#"{"id":"1","type":"data","payload":{"data":null,"errors":[{},{}]}}"#,
        );
        assert_eq!(d.errors, Some(2));
        assert!(matches!(
            d.pairing(),
            Some(Role::StreamReply { error: true, .. })
        ));
    }

    #[test]
    fn invalid_messages_warn() {
        let (_, out) = run(
            Dialect::TransportWs,
            r#"{"type":"start","id":"1","payload":{}}"#,
        );
        assert_eq!(out.warnings[0].code, Code::SubGraphqlInvalid);
        let (_, out) = run(
            Dialect::Legacy,
            r#"{"type":"subscribe","id":"1","payload":{}}"#,
        );
        assert_eq!(out.warnings[0].code, Code::SubGraphqlInvalid);
        let (_, out) = run(Dialect::TransportWs, r#"{"type":"next","payload":{}}"#);
        assert!(out.warnings[0].detail.contains("without an id"));
        let (_, out) = run(Dialect::TransportWs, r#"{"type":"subscribe","id":"1"}"#);
        assert!(out.warnings[0].detail.contains("payload"));
        let (r, out) = run(Dialect::TransportWs, "{\"type\":");
        assert!(r.is_empty());
        assert_eq!(out.warnings[0].code, Code::SubInvalidJson);
        let (_, out) = run(Dialect::TransportWs, "[1]");
        assert_eq!(out.warnings[0].code, Code::SubGraphqlInvalid);
    }

    #[test]
    fn operations_from_query_text() {
        assert_eq!(operation_of("{ a }"), Some(("query".into(), None)));
        assert_eq!(
            operation_of("  # c\n mutation Add($x: Int) { add(x: $x) }"),
            Some(("mutation".into(), Some("Add".into())))
        );
        assert_eq!(
            operation_of("fragment F on T { a { b } } subscription S { c }"),
            Some(("subscription".into(), Some("S".into())))
        );
        assert_eq!(operation_of("query{a}"), Some(("query".into(), None)));
        assert_eq!(operation_of("nonsense"), None);
        assert_eq!(operation_of("fragment F on T { a "), None);
    }

    #[test]
    fn subscribe_pairs_with_its_first_result() {
        let s = rec(
            Dialect::TransportWs,
            r#"{"id":"7","type":"subscribe","payload":{"query":"{ a }"}}"#,
        );
        assert_eq!(
            s.pairing(),
            Some(Role::Request {
                key: "7".into(),
                name: "(anonymous query)".into()
            })
        );
    }
}
