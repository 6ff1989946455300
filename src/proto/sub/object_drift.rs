//! The `sub` object written from a record's member list is, byte for byte, the one first built
//! as a `serde_json::Map` (kept below as [`map_object`], the oracle): for the records the
//! decoders make of representative messages of every protocol, and for records with every
//! combination of their optional fields.

use super::graphql::GraphqlRecord;
use super::jsonrpc::JsonRpcRecord;
use super::mqtt::{Filter, MqttRecord};
use super::signalr::SignalRRecord;
use super::socketio::SocketIoRecord;
use super::stomp::StompRecord;
use super::wamp::WampRecord;
use super::*;
use crate::report::json_writer::push_json;
use proptest::prelude::*;
use serde_json::json;

/// The `sub` object as it was first built: the record's own fields serialized into a map,
/// `type` moved second, the catalog's fields added or renamed on the map (whose `remove` fills
/// the gap with the last entry).
fn map_object(record: &SubRecord) -> Map<String, Value> {
    let Value::Object(mut m) = record.to_json() else {
        return Map::new();
    };
    if let Some(t) = m.shift_remove("type") {
        m.shift_insert(1.min(m.len()), "type".into(), t);
    }
    let s = |v: &str| Value::String(v.to_string());
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v
            && !m.contains_key(k)
        {
            m.insert(k.to_string(), v);
        }
    };
    match record {
        SubRecord::SocketIo(r) => put(&mut m, "id", r.ack.map(|a| s(&a.to_string()))),
        SubRecord::Stomp(r) => {
            put(&mut m, "topic", r.destination.as_deref().map(s));
            if r.command == "ERROR" {
                put(&mut m, "error", r.message.as_deref().map(s));
            }
        }
        SubRecord::Mqtt(r) => put(&mut m, "id", r.packet_id.map(|i| s(&i.to_string()))),
        SubRecord::GraphqlWs(_) | SubRecord::GraphqlTransportWs(_) => {
            if let Some(t) = m.remove("operation") {
                m.insert("operation_type".into(), t);
            }
            if let Some(n) = m.remove("operation_name") {
                m.insert("operation".into(), n);
            }
        }
        SubRecord::SignalR(r) => {
            put(&mut m, "method", r.target.as_deref().map(s));
            put(&mut m, "id", r.invocation_id.as_deref().map(s));
        }
        SubRecord::JsonRpc(r) => {
            put(&mut m, "error", r.error_message.as_deref().map(s));
            if let Some(id) = m.remove("id") {
                if let Some(text) = match &id {
                    Value::String(t) => Some(t.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                } {
                    m.insert("id".into(), Value::String(text));
                }
                m.insert("id_json".into(), id);
            }
        }
        SubRecord::Wamp(r) => {
            put(&mut m, "id", r.request.map(|i| s(&i.to_string())));
            let uri = r.uri.as_deref().map(s);
            match r.kind {
                "SUBSCRIBE" | "PUBLISH" => put(&mut m, "topic", uri),
                "CALL" | "REGISTER" => put(&mut m, "method", uri),
                "ERROR" | "ABORT" => put(&mut m, "error", uri),
                _ => {}
            }
        }
        SubRecord::Json(_) => {}
    }
    m
}

fn json_line<T: serde::Serialize + ?Sized>(v: &T) -> String {
    let mut out = Vec::new();
    push_json(&mut out, v).expect("serializes");
    String::from_utf8(out).expect("UTF-8")
}

/// The record writes, in every way it is written, what the map wrote; returns the object.
fn same(record: &SubRecord) -> Map<String, Value> {
    let map = map_object(record);
    let want = json_line(&map);
    assert_eq!(json_line(record), want, "{record:?}");
    // As `write_units` writes it: through the unit's trait object.
    let unit: &dyn crate::model::SubMeaning = record;
    assert_eq!(
        json_line(&crate::model::sub::Object(unit)),
        want,
        "{record:?}"
    );
    let want = serde_json::to_string(&map).expect("serializes");
    assert_eq!(serde_json::to_string(record).unwrap(), want);
    assert_eq!(serde_json::to_string(&record.object()).unwrap(), want);
    assert_eq!(serde_json::to_string(&unit.object()).unwrap(), want);
    // One member at a time, as filters read them: what the map holds under each name.
    for (name, value) in &map {
        assert_eq!(
            unit.member(name).as_ref(),
            Some(value),
            "{name}: {record:?}"
        );
    }
    assert_eq!(unit.member("no such member"), None);
    map
}

/// Decodes each message (text from the client `c` or the server `s`, binary `C` or `S`) on one
/// connection of `protocol`, checks every record and returns the names their objects used.
fn decoded(protocol: SubProtocol, messages: &[(char, &[u8])]) -> Vec<String> {
    let selection = Selection {
        protocol,
        basis: Basis::DecodeAs,
        reason: String::new(),
        engineio: (protocol == SubProtocol::SocketIo).then_some(4),
    };
    let mut conn = SubConn::new(selection, SubLimits::default());
    let mut names = Vec::new();
    for (i, (from, payload)) in messages.iter().enumerate() {
        let msg = Message {
            dir: if from.eq_ignore_ascii_case(&'s') {
                Dir::S2C
            } else {
                Dir::C2S
            },
            ts: Timestamp(i as i64),
            frame: i as u64 + 1,
            binary: from.is_ascii_uppercase(),
            payload,
            len: payload.len() as u64,
        };
        let out = conn.message(&msg);
        assert!(
            out.warnings.is_empty(),
            "{protocol} {i}: {:?}",
            out.warnings
        );
        assert!(!out.items.is_empty(), "{protocol} {i}: nothing decoded");
        for item in &out.items {
            assert_eq!(item.record.protocol(), protocol);
            names.extend(same(&item.record).keys().cloned());
        }
    }
    names
}

fn has(names: &[String], wanted: &[&str]) {
    for w in wanted {
        assert!(names.iter().any(|n| n == w), "no record had `{w}`");
    }
}

/// Hands out a mask's bits, one per optional field.
struct Bits(u64);

impl Bits {
    fn on(&mut self) -> bool {
        let bit = self.0 & 1 == 1;
        self.0 >>= 1;
        bit
    }
    fn some<T>(&mut self, v: T) -> Option<T> {
        self.on().then_some(v)
    }
    fn text(&mut self, v: &str) -> Option<String> {
        self.some(v.to_string())
    }
    fn pick<T: Copy>(&mut self, of: &[T]) -> T {
        let i = (self.0 as usize) % of.len();
        self.0 /= of.len() as u64;
        of[i]
    }
}

/// A string JSON must escape, and a terminal would act on.
const ODD: &str = "a\"b\\c\u{1b}[31m\u{202e}é\u{7f}";

fn value() -> Value {
    json!({"k": [1, ODD, null, 2.5], "n": {"deep": true}})
}

fn socketio(bits: u64) -> SubRecord {
    let mut b = Bits(bits);
    SubRecord::SocketIo(SocketIoRecord {
        engineio: b.pick(&["message", "open", "ping"]),
        kind: b.pick(&["EVENT", "ACK", "OPEN", "ATTACHMENT"]),
        namespace: b.text("/admin"),
        event: b.text(ODD),
        ack: b.some(12),
        attachments: b.some(2),
        attachment: b.some([1, 2]),
        data: b.some(value()),
        text: b.text("probe"),
        len: b.some(5),
    })
}

fn stomp(bits: u64) -> SubRecord {
    let mut b = Bits(bits);
    SubRecord::Stomp(StompRecord {
        command: b.pick(&["ERROR", "SEND", "MESSAGE"]).to_string(),
        destination: b.text("/topic/a"),
        id: b.text("sub-0"),
        subscription: b.text("0"),
        receipt: b.text("r1"),
        receipt_id: b.text("r1"),
        message_id: b.text("m1"),
        content_type: b.text("text/plain"),
        version: b.text("1.2"),
        heart_beat: b.text("0,0"),
        message: b.text(ODD),
        headers: b
            .some(vec![["destination".to_string(), ODD.to_string()]])
            .unwrap_or_default(),
        body_len: 4,
        body: b.text("body"),
    })
}

fn mqtt(bits: u64) -> SubRecord {
    let mut b = Bits(bits);
    let mut properties = Map::new();
    properties.insert("user_property".into(), json!([["k", ODD]]));
    SubRecord::Mqtt(MqttRecord {
        kind: b.pick(&["PUBLISH", "SUBSCRIBE", "CONNECT"]),
        version: b.pick(&["3.1.1", "5.0"]),
        len: 20,
        topic: b.text("a/b"),
        qos: b.some(1),
        packet_id: b.some(10),
        dup: b.on(),
        retain: b.on(),
        payload_len: b.some(2),
        payload: b.text("hi"),
        client_id: b.text(ODD),
        keep_alive: b.some(60),
        clean_start: b.some(true),
        username: b.text("u"),
        will_topic: b.text("w"),
        session_present: b.some(false),
        reason_code: b.some(0x87),
        filters: b
            .some(vec![
                Filter {
                    topic: "a/#".into(),
                    qos: Some(1),
                },
                Filter {
                    topic: "b".into(),
                    qos: None,
                },
            ])
            .unwrap_or_default(),
        reason_codes: b.some(vec![0, 0x80]).unwrap_or_default(),
        properties: b.some(properties).unwrap_or_default(),
        partial: b.on(),
        messages: b.some(2),
    })
}

fn graphql(bits: u64) -> SubRecord {
    let mut b = Bits(bits);
    let legacy = b.on();
    let r = GraphqlRecord {
        kind: b.pick(&["subscribe", "next", "error", "start"]).to_string(),
        id: b.text("1"),
        operation: b.text("subscription"),
        operation_name: b.text(ODD),
        errors: b.some(2),
        payload: b.some(value()),
    };
    if legacy {
        SubRecord::GraphqlWs(r)
    } else {
        SubRecord::GraphqlTransportWs(r)
    }
}

fn signalr(bits: u64) -> SubRecord {
    let mut b = Bits(bits);
    SubRecord::SignalR(SignalRRecord {
        kind: b.pick(&["Invocation", "Completion", "Handshake"]),
        type_num: b.some(1),
        target: b.text("Send"),
        invocation_id: b.text("0"),
        arguments: b.some(json!(["a", 1])),
        result: b.some(value()),
        error: b.text(ODD),
        hub_protocol: b.text("json"),
        version: b.some(1),
    })
}

fn jsonrpc(bits: u64) -> SubRecord {
    let mut b = Bits(bits);
    let ids = [
        None,
        Some(json!(7)),
        Some(json!(-7)),
        Some(json!(1.5)),
        Some(json!(ODD)),
        Some(Value::Null),
        Some(json!([1])),
    ];
    let id = ids[b.pick(&[0, 1, 2, 3, 4, 5, 6])].clone();
    SubRecord::JsonRpc(JsonRpcRecord {
        kind: b.pick(&["request", "response", "error", "notification"]),
        method: b.text("sum"),
        id,
        params: b.some(json!([1, 2])),
        result: b.some(value()),
        error_code: b.some(-32600),
        error_message: b.text(ODD),
        batch: b.some([2, 3]),
    })
}

fn wamp(bits: u64) -> SubRecord {
    let mut b = Bits(bits);
    let kinds = [
        "HELLO",
        "SUBSCRIBE",
        "PUBLISH",
        "CALL",
        "REGISTER",
        "ERROR",
        "ABORT",
        "RESULT",
    ];
    SubRecord::Wamp(WampRecord {
        kind: b.pick(&kinds),
        code: 48,
        request: b.some(7),
        uri: b.text(ODD),
        session: b.some(1),
        subscription: b.some(2),
        publication: b.some(3),
        registration: b.some(4),
        error_for: b.some("CALL"),
        args: b.some(json!([1])),
        kwargs: b.some(json!({"a": 1})),
        details: b.some(json!({})),
    })
}

const BUILDERS: [fn(u64) -> SubRecord; 7] =
    [socketio, stomp, mqtt, graphql, signalr, jsonrpc, wamp];

#[test]
fn every_combination_of_the_fields_of_small_records() {
    // Every presence mask (times every choice of kind) of the records with up to 12 optional
    // fields; MQTT and STOMP, with more, by the property below.
    for bits in 0..1 << 14 {
        for build in [socketio, graphql, signalr, jsonrpc, wamp] {
            same(&build(bits));
        }
    }
}

proptest! {
    #[test]
    fn any_combination_of_the_fields(bits in any::<u64>()) {
        for build in BUILDERS {
            same(&build(bits));
        }
    }
}

#[test]
fn json_messages() {
    let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
    let many = format!("{{{}}}", many.join(","));
    let names = decoded(
        SubProtocol::Json,
        &[
            ('c', br#"{"type":"chat","n":1,"text":"from the client"}"#),
            ('s', br#"{"a":1,"b":{"c":[1,2]},"a":2,"\u0041":3,"k\"":4}"#),
            ('c', b"[1,[2,3],{\"x\":1}]"),
            ('c', br#""text""#),
            ('s', b"-1.5e3"),
            ('s', b"null"),
            ('c', b"{}"),
            ('c', many.as_bytes()),
        ],
    );
    has(&names, &["protocol", "type", "keys", "len"]);
}

#[test]
fn socketio_messages() {
    let names = decoded(
        SubProtocol::SocketIo,
        &[
            (
                's',
                br#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#,
            ),
            ('c', b"40"),
            ('s', br#"40{"sid":"xyz"}"#),
            ('c', br#"42["chat message","hello"]"#),
            ('c', br#"4212["ask",{"q":1}]"#),
            ('s', br#"4312["answer"]"#),
            ('c', br#"42/admin,7["ev"]"#),
            ('s', b"2"),
            ('c', b"3"),
            ('c', br#"451-["upload",{"_placeholder":true,"num":0}]"#),
            ('C', b"\x01\x02\x03"),
            ('s', b"41"),
        ],
    );
    has(
        &names,
        &[
            "engineio",
            "event",
            "ack",
            "id",
            "namespace",
            "data",
            "attachments",
        ],
    );
}

#[test]
fn stomp_messages() {
    let names = decoded(
        SubProtocol::Stomp,
        &[
            (
                'c',
                b"CONNECT\naccept-version:1.2\nhost:x\nlogin:u\npasscode:p\n\n\0",
            ),
            ('s', b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0"),
            (
                'c',
                b"SUBSCRIBE\nid:0\ndestination:/topic/a\nreceipt:r1\n\n\0",
            ),
            ('s', b"RECEIPT\nreceipt-id:r1\n\n\0"),
            (
                'c',
                b"SEND\ndestination:/topic/a\ncontent-type:text/plain\n\nhello\0",
            ),
            (
                's',
                b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/a\n\nhello\0",
            ),
            ('s', b"ERROR\nmessage:bad frame\n\ndetails\0"),
            ('c', b"\n"),
        ],
    );
    has(&names, &["topic", "error", "headers", "body", "body_len"]);
}

#[test]
fn mqtt_messages() {
    let names = decoded(
        SubProtocol::Mqtt,
        &[
            ('C', b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03abc"),
            ('S', b"\x20\x02\x00\x00"),
            ('C', b"\x82\x08\x00\x01\x00\x03a/b\x01"),
            ('S', b"\x90\x03\x00\x01\x01"),
            ('C', b"\x32\x09\x00\x03a/b\x00\x0ahi"),
            ('S', b"\x40\x02\x00\x0a"),
            ('S', b"\x30\x07\x00\x03a/bhi"),
            ('C', b"\xc0\x00"),
            ('C', b"\xe0\x00"),
        ],
    );
    has(&names, &["id", "topic", "qos", "filters", "client_id"]);
}

#[test]
fn graphql_messages() {
    let mut names = decoded(
        SubProtocol::GraphqlTransportWs,
        &[
            ('c', br#"{"type":"connection_init","payload":{"token":"t"}}"#),
            ('s', br#"{"type":"connection_ack"}"#),
            (
                'c',
                br#"{"type":"subscribe","id":"1","payload":{"query":"subscription OnChat { chat }","operationName":"OnChat"}}"#,
            ),
            ('c', br#"{"type":"subscribe","id":"2","payload":{"query":"{ a }"}}"#),
            ('s', br#"{"type":"next","id":"1","payload":{"data":{"chat":"hi"}}}"#),
            ('s', br#"{"type":"next","id":"2","payload":{"errors":[{"message":"e"}],"data":null}}"#),
            ('s', br#"{"type":"error","id":"1","payload":[{"message":"bad"}]}"#),
            ('s', br#"{"type":"complete","id":"1"}"#),
            ('c', br#"{"type":"ping"}"#),
        ],
    );
    names.extend(decoded(
        SubProtocol::GraphqlWs,
        &[
            ('c', br#"{"type":"connection_init","payload":{}}"#),
            ('s', br#"{"type":"connection_ack"}"#),
            ('c', br#"{"type":"start","id":"1","payload":{"query":"query Q { a }","operationName":"Q"}}"#),
            ('s', br#"{"type":"data","id":"1","payload":{"data":{"a":1}}}"#),
            ('s', br#"{"type":"error","id":"1","payload":{"message":"x"}}"#),
            ('c', br#"{"type":"stop","id":"1"}"#),
        ],
    ));
    has(
        &names,
        &["operation", "operation_type", "errors", "payload", "id"],
    );
}

#[test]
fn signalr_messages() {
    let names = decoded(
        SubProtocol::SignalR,
        &[
            ('c', b"{\"protocol\":\"json\",\"version\":1}\x1e"),
            ('s', b"{}\x1e"),
            (
                'c',
                b"{\"type\":1,\"target\":\"Send\",\"arguments\":[\"a\"],\"invocationId\":\"0\"}\x1e",
            ),
            ('s', b"{\"type\":3,\"invocationId\":\"0\",\"result\":42}\x1e"),
            ('s', b"{\"type\":3,\"invocationId\":\"1\",\"error\":\"boom\"}\x1e{\"type\":6}\x1e"),
            ('s', b"{\"type\":7,\"error\":\"bye\"}\x1e"),
        ],
    );
    has(
        &names,
        &["method", "id", "target", "result", "error", "hub_protocol"],
    );
}

#[test]
fn jsonrpc_messages() {
    let names = decoded(
        SubProtocol::JsonRpc,
        &[
            ('c', br#"{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":1}"#),
            ('s', br#"{"jsonrpc":"2.0","result":3,"id":1}"#),
            ('c', br#"{"jsonrpc":"2.0","method":"note","params":{"a":1}}"#),
            ('c', br#"{"jsonrpc":"2.0","method":"get","id":"abc"}"#),
            ('s', br#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"no such method"},"id":"abc"}"#),
            ('s', br#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error"},"id":null}"#),
            (
                'c',
                br#"[{"jsonrpc":"2.0","method":"a","params":[1],"id":2},{"jsonrpc":"2.0","method":"b"}]"#,
            ),
            (
                's',
                br#"[{"jsonrpc":"2.0","result":1,"id":2},{"jsonrpc":"2.0","error":{"code":1,"message":"m"},"id":3}]"#,
            ),
        ],
    );
    has(
        &names,
        &["id", "id_json", "error", "error_code", "batch", "method"],
    );
}

#[test]
fn wamp_messages() {
    let names = decoded(
        SubProtocol::Wamp,
        &[
            ('c', br#"[1,"realm1",{"roles":{"caller":{}}}]"#),
            ('s', br#"[2,9129137332,{"roles":{"broker":{}}}]"#),
            ('c', br#"[32,713845233,{},"com.myapp.topic1"]"#),
            ('s', br#"[33,713845233,5512315355]"#),
            (
                'c',
                br#"[16,239714735,{"acknowledge":true},"com.myapp.topic1",[],{"color":"orange"}]"#,
            ),
            ('c', br#"[48,7814135,{},"com.myapp.ping",[1]]"#),
            ('s', br#"[50,7814135,{},[30]]"#),
            ('c', br#"[64,25349185,{},"com.myapp.proc"]"#),
            ('s', br#"[8,48,7814135,{},"wamp.error.not_authorized"]"#),
            ('s', br#"[3,{"message":"bye"},"wamp.error.no_such_realm"]"#),
        ],
    );
    has(
        &names,
        &["id", "topic", "method", "error", "uri", "request"],
    );
}
