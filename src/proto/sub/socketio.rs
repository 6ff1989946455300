//! Engine.IO v3/v4 and Socket.IO (protocols 4 and 5) over WebSocket: one Engine.IO packet per
//! message, the Socket.IO packet inside a `message` packet — type, namespace, ack id, event
//! name and arguments — and binary attachments: a `BINARY_EVENT` / `BINARY_ACK` announces N
//! attachments, placeholders `{"_placeholder":true,"num":i}` stand in the arguments, and the
//! next N binary messages of the same side are the attachments (in Engine.IO v3 each binary
//! message starts with the packet type byte 4; in v4 the whole message is the data).
//!
//! References: the Engine.IO protocol (github.com/socketio/engine.io-protocol) and the
//! Socket.IO protocol (github.com/socketio/socket.io-protocol), whose examples are the tests.

use super::json::{label, one_line, wide};
use super::latency::Role;
use super::{Code, Node, Sink, SubProtocol, SubRecord, quoted};
use crate::model::sub_object::Members;
use crate::tcp::Dir;
use crate::time::Timestamp;
use serde_json::Value;

/// A Socket.IO or Engine.IO packet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SocketIoRecord {
    /// The Engine.IO packet type: `open`, `close`, `ping`, `pong`, `message`, `upgrade`,
    /// `noop`.
    pub engineio: &'static str,
    /// The Socket.IO packet type (`CONNECT`, `DISCONNECT`, `EVENT`, `ACK`, `CONNECT_ERROR`,
    /// `BINARY_EVENT`, `BINARY_ACK`) for a message; `ATTACHMENT` for a binary attachment,
    /// `BINARY` for binary data nothing announced; else the Engine.IO type in capitals.
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub event: Option<String>,
    pub ack: Option<u64>,
    /// Attachments a binary event or ack announces.
    pub attachments: Option<u64>,
    /// An attachment's place: 1-based index and count.
    pub attachment: Option<[u64; 2]>,
    /// Event arguments (after the name), ack data, CONNECT / CONNECT_ERROR payload, the open
    /// packet's handshake.
    pub data: Option<Value>,
    /// Ping / pong data (`probe` during an upgrade), or other text after the packet type.
    pub text: Option<String>,
    /// Bytes of binary data.
    pub len: Option<usize>,
}

impl SocketIoRecord {
    /// Its `sub` object's fields, in order.
    pub(super) fn members<'m>(&'m self, m: &mut Members<'m>) {
        m.str("engineio", self.engineio);
        m.str("type", self.kind);
        m.opt_str("namespace", &self.namespace);
        m.opt_str("event", &self.event);
        m.opt("ack", &self.ack);
        m.opt("attachments", &self.attachments);
        m.opt("attachment", &self.attachment);
        m.opt("data", &self.data);
        m.opt_str("text", &self.text);
        m.opt("len", &self.len);
    }
}

const EIO_TYPES: [&str; 7] = [
    "open", "close", "ping", "pong", "message", "upgrade", "noop",
];
const EIO_KINDS: [&str; 7] = [
    "OPEN", "CLOSE", "PING", "PONG", "MESSAGE", "UPGRADE", "NOOP",
];
const SIO_TYPES: [&str; 7] = [
    "CONNECT",
    "DISCONNECT",
    "EVENT",
    "ACK",
    "CONNECT_ERROR",
    "BINARY_EVENT",
    "BINARY_ACK",
];

impl SocketIoRecord {
    pub fn summary_at(&self, w: usize) -> String {
        let mut s = String::from(self.kind);
        if let Some(ns) = &self.namespace
            && ns != "/"
        {
            s.push_str(&format!(" {}", quoted(ns, w)));
        }
        if let Some(e) = &self.event {
            s.push_str(&format!(" {}", quoted(e, w)));
        }
        if let Some(a) = self.ack {
            s.push_str(&format!(" ack={a}"));
        }
        if let Some(n) = self.attachments {
            s.push_str(&format!(" attachments={n}"));
        }
        if let Some([i, n]) = self.attachment {
            s.push_str(&format!(" {i}/{n}"));
        }
        if let Some(len) = self.len {
            s.push_str(&format!(" ({len} bytes)"));
        }
        if let Some(t) = &self.text {
            s.push_str(&format!(" {}", quoted(t, w)));
        }
        if self.event.is_none()
            && let Some(d) = &self.data
        {
            s.push(' ');
            s.push_str(&one_line(d, wide(w)));
        }
        s
    }

    pub fn details(&self) -> Vec<Node> {
        let mut v = vec![Node::field("Engine.IO packet type", self.engineio)];
        if self.engineio == "message" || self.kind == "ATTACHMENT" {
            v.push(Node::field("Socket.IO packet type", self.kind));
        }
        if let Some(ns) = &self.namespace {
            v.push(Node::field("Namespace", ns));
        }
        if let Some(e) = &self.event {
            v.push(Node::field("Event", e));
        }
        if let Some(a) = self.ack {
            v.push(Node::field("Ack id", a));
        }
        if let Some(n) = self.attachments {
            v.push(Node::field("Attachments", n));
        }
        if let Some([i, n]) = self.attachment {
            v.push(Node::field("Attachment", format!("{i} of {n}")));
        }
        if let Some(len) = self.len {
            v.push(Node::field("Binary length", len));
        }
        if let Some(t) = &self.text {
            v.push(Node::field("Data", t));
        }
        if let Some(d) = &self.data {
            v.push(Node::json(
                if self.event.is_some() {
                    "Arguments"
                } else {
                    "Data"
                },
                d,
            ));
        }
        v
    }

    pub fn pairing(&self) -> Option<Role> {
        let ns = self.namespace.as_deref().unwrap_or("/");
        match (self.kind, self.ack) {
            ("EVENT" | "BINARY_EVENT", Some(id)) => Some(Role::Request {
                key: format!("{ns}#{id}"),
                name: self.event.clone().unwrap_or_default(),
            }),
            ("ACK" | "BINARY_ACK", Some(id)) => Some(Role::Reply {
                key: format!("{ns}#{id}"),
                error: false,
            }),
            ("PING", _) => Some(Role::Request {
                key: "ping".into(),
                name: "(ping)".into(),
            }),
            ("PONG", _) => Some(Role::Reply {
                key: "ping".into(),
                error: false,
            }),
            _ => None,
        }
    }
}

/// Attachments a side still owes.
#[derive(Clone, Copy, Debug, Default)]
struct Expect {
    seen: u64,
    total: u64,
    frame: u64,
}

/// Per-connection state: the Engine.IO version and each side's pending attachments.
#[derive(Clone, Debug)]
pub struct SocketIoConn {
    engineio: u8,
    expect: [Option<Expect>; 2],
}

impl SocketIoConn {
    /// `engineio`: 3 or 4 (4 when unknown).
    pub fn new(engineio: Option<u8>) -> SocketIoConn {
        SocketIoConn {
            engineio: engineio.filter(|&v| v == 3).unwrap_or(4),
            expect: [None, None],
        }
    }

    pub(super) fn decode(&mut self, sink: &mut Sink<'_>) {
        let d = sink.msg.dir.index();
        if sink.msg.binary {
            let mut data = sink.msg.payload;
            if self.engineio == 3 {
                match data.split_first() {
                    Some((4, rest)) => data = rest,
                    _ => {
                        sink.warn(
                            Code::SubSocketioMalformed,
                            "Engine.IO v3 binary message without the message type byte 4",
                        );
                        return;
                    }
                }
            }
            // The whole attachment's length, even when only its head was kept.
            let prefix = sink.msg.payload.len() - data.len();
            let len = (sink.msg.len as usize).saturating_sub(prefix);
            let Some(e) = self.expect[d].as_mut() else {
                sink.warn(
                    Code::SubSocketioUnexpectedBinary,
                    format!("{len} bytes of binary data that no binary event or ack announced"),
                );
                sink.record(SubRecord::SocketIo(SocketIoRecord {
                    engineio: "message",
                    kind: "BINARY",
                    len: Some(len),
                    ..Default::default()
                }));
                return;
            };
            e.seen += 1;
            let place = [e.seen, e.total];
            if e.seen >= e.total {
                self.expect[d] = None;
            }
            sink.record(SubRecord::SocketIo(SocketIoRecord {
                engineio: "message",
                kind: "ATTACHMENT",
                attachment: Some(place),
                len: Some(len),
                ..Default::default()
            }));
            return;
        }
        let Some(text) = sink.text(SubProtocol::SocketIo) else {
            return;
        };
        if let Some(e) = self.expect[d].take() {
            sink.warn(
                Code::SubSocketioAttachmentMissing,
                format!(
                    "the binary packet of packet {} announced {} attachment(s), {} arrived before the next text packet",
                    e.frame, e.total, e.seen
                ),
            );
        }
        match parse_engineio(text) {
            Ok(r) => {
                if let Some(n) = r.attachments.filter(|&n| n > 0) {
                    self.expect[d] = Some(Expect {
                        seen: 0,
                        total: n,
                        frame: sink.msg.frame,
                    });
                }
                sink.record(SubRecord::SocketIo(r));
            }
            Err(why) => {
                if sink.msg.complete() {
                    sink.warn(Code::SubSocketioMalformed, why);
                } else {
                    sink.warn(
                        Code::SubTruncated,
                        format!(
                            "only the first {} bytes of the message were kept: {why}",
                            sink.msg.payload.len()
                        ),
                    );
                }
            }
        }
    }

    /// Bytes lost or the connection ended: pending attachments will not come.
    pub(super) fn lost(&mut self, dir: Dir, ts: Timestamp, frame: u64, out: &mut super::Output) {
        if let Some(e) = self.expect[dir.index()].take() {
            out.warnings.push(super::SubWarning {
                code: Code::SubSocketioAttachmentMissing,
                dir,
                ts,
                frame,
                detail: format!(
                    "the binary packet of packet {} announced {} attachment(s), {} arrived",
                    e.frame, e.total, e.seen
                ),
            });
        }
    }
}

/// Digits at the start of `s`, as a number, and the rest. `None` when there are none or the
/// number overflows.
fn number(s: &str) -> (Option<u64>, &str) {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 {
        return (None, s);
    }
    (s[..end].parse().ok(), &s[end..])
}

/// One Engine.IO text packet (with the Socket.IO packet inside a `message`).
pub fn parse_engineio(text: &str) -> Result<SocketIoRecord, String> {
    let Some(t) = text.bytes().next() else {
        return Err("an empty Engine.IO packet".into());
    };
    let Some(kind) = t.checked_sub(b'0').filter(|&k| k <= 6).map(usize::from) else {
        return Err(format!(
            "Engine.IO packet type {:?} is not 0-6",
            char::from(t)
        ));
    };
    let rest = &text[1..];
    let mut r = SocketIoRecord {
        engineio: EIO_TYPES[kind],
        kind: EIO_KINDS[kind],
        ..Default::default()
    };
    match kind {
        0 => {
            r.data = Some(
                serde_json::from_str(rest).map_err(|e| format!("open packet handshake: {e}"))?,
            );
        }
        4 => return parse_socketio(rest),
        _ if !rest.is_empty() => r.text = Some(rest.to_string()),
        _ => {}
    }
    Ok(r)
}

/// One Socket.IO packet: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]`.
pub fn parse_socketio(s: &str) -> Result<SocketIoRecord, String> {
    let Some(t) = s.bytes().next() else {
        return Err("an Engine.IO message without a Socket.IO packet".into());
    };
    let Some(kind) = t.checked_sub(b'0').filter(|&k| k <= 6).map(usize::from) else {
        return Err(format!(
            "Socket.IO packet type {:?} is not 0-6",
            char::from(t)
        ));
    };
    let mut rest = &s[1..];
    let mut r = SocketIoRecord {
        engineio: "message",
        kind: SIO_TYPES[kind],
        ..Default::default()
    };
    if kind == 5 || kind == 6 {
        let (n, after) = number(rest);
        let (Some(n), Some(after)) = (n, after.strip_prefix('-')) else {
            return Err(format!("{} without its attachment count", r.kind));
        };
        r.attachments = Some(n);
        rest = after;
    }
    r.namespace = Some(if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        let ns = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        ns.to_string()
    } else {
        "/".to_string()
    });
    let (ack, after) = number(rest);
    if after.len() != rest.len() {
        r.ack = Some(ack.ok_or("ack id out of range")?);
        rest = after;
    }
    if rest.is_empty() {
        return match kind {
            2 | 3 | 5 | 6 => Err(format!("{} without data", r.kind)),
            _ => Ok(r),
        };
    }
    let data: Value = serde_json::from_str(rest).map_err(|e| format!("{} data: {e}", r.kind))?;
    match kind {
        2 | 5 => {
            let Value::Array(mut items) = data else {
                return Err(format!("{} data is not an array", r.kind));
            };
            if items.is_empty() {
                return Err(format!("{} without an event name", r.kind));
            }
            r.event = Some(label(&items.remove(0)));
            r.data = Some(Value::Array(items));
        }
        3 | 6 if !data.is_array() => return Err(format!("{} data is not an array", r.kind)),
        _ => r.data = Some(data),
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sub::Output;
    use crate::time::Timestamp;
    use serde_json::json;

    fn decode(conn: &mut SocketIoConn, dir: Dir, binary: bool, payload: &[u8]) -> Output {
        let len = payload.len() as u64;
        crate::proto::sub::run_one(dir, binary, payload, len, 7, |s| conn.decode(s))
    }

    fn sio(out: &Output) -> &SocketIoRecord {
        match &*out.items[0].record {
            SubRecord::SocketIo(r) => r,
            other => panic!("{other:?}"),
        }
    }

    // The examples of the Socket.IO protocol v5 document.
    #[test]
    fn protocol_document_examples() {
        let r = parse_socketio("0").unwrap();
        assert_eq!((r.kind, r.namespace.as_deref()), ("CONNECT", Some("/")));
        let r = parse_socketio("0/admin,{\"token\":\"123\"}").unwrap();
        assert_eq!(r.namespace.as_deref(), Some("/admin"));
        assert_eq!(r.data, Some(json!({"token": "123"})));
        let r = parse_socketio("4{\"message\":\"Not authorized\"}").unwrap();
        assert_eq!(r.kind, "CONNECT_ERROR");
        let r = parse_socketio("2[\"foo\"]").unwrap();
        assert_eq!((r.kind, r.event.as_deref()), ("EVENT", Some("foo")));
        assert_eq!(r.data, Some(json!([])));
        let r = parse_socketio("2/admin,[\"bar\"]").unwrap();
        assert_eq!(
            (r.namespace.as_deref(), r.event.as_deref()),
            (Some("/admin"), Some("bar"))
        );
        let r = parse_socketio("212[\"foo\"]").unwrap();
        assert_eq!((r.ack, r.event.as_deref()), (Some(12), Some("foo")));
        let r = parse_socketio("3/admin,13[\"bar\"]").unwrap();
        assert_eq!((r.kind, r.ack), ("ACK", Some(13)));
        assert_eq!(r.data, Some(json!(["bar"])));
        let r = parse_socketio("51-[\"baz\",{\"_placeholder\":true,\"num\":0}]").unwrap();
        assert_eq!(
            (r.kind, r.attachments, r.event.as_deref()),
            ("BINARY_EVENT", Some(1), Some("baz"))
        );
        let r = parse_socketio("61-/admin,15[{\"_placeholder\":true,\"num\":0}]").unwrap();
        assert_eq!(
            (r.kind, r.attachments, r.ack),
            ("BINARY_ACK", Some(1), Some(15))
        );
        assert_eq!(r.namespace.as_deref(), Some("/admin"));
        let r = parse_socketio("1/admin,").unwrap();
        assert_eq!(
            (r.kind, r.namespace.as_deref()),
            ("DISCONNECT", Some("/admin"))
        );
    }

    #[test]
    fn engineio_packets() {
        let r = parse_engineio(
            r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert_eq!((r.engineio, r.kind), ("open", "OPEN"));
        assert_eq!(r.data.unwrap()["pingInterval"], 25000);
        let r = parse_engineio("2probe").unwrap();
        assert_eq!((r.kind, r.text.as_deref()), ("PING", Some("probe")));
        assert_eq!(parse_engineio("3").unwrap().kind, "PONG");
        assert_eq!(parse_engineio("5").unwrap().engineio, "upgrade");
        assert_eq!(parse_engineio("6").unwrap().kind, "NOOP");
        let r = parse_engineio("42[\"chat message\",\"hi\"]").unwrap();
        assert_eq!(r.event.as_deref(), Some("chat message"));
        assert!(parse_engineio("7").is_err());
        assert!(parse_engineio("").is_err());
        assert!(parse_engineio("4").is_err());
        assert!(parse_engineio("0{").is_err());
    }

    #[test]
    fn malformed_packets_are_errors() {
        for bad in [
            "9",
            "2",
            "2{\"a\":1}",
            "2[]",
            "5[\"x\"]",
            "5x-[\"x\"]",
            "3[",
            "399999999999999999999999[]",
            "3{}",
        ] {
            assert!(parse_socketio(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn summary_lines() {
        let r = parse_socketio("212[\"chat message\",\"hi\"]").unwrap();
        assert_eq!(r.summary_at(40), "EVENT \"chat message\" ack=12");
        let s = SubRecord::SocketIo(r).summary_at(40);
        assert_eq!(s, "Socket.IO EVENT \"chat message\" ack=12");
        let r = parse_socketio("51-/upload,3[\"file\",{\"_placeholder\":true,\"num\":0}]").unwrap();
        assert_eq!(
            r.summary_at(40),
            "BINARY_EVENT \"/upload\" \"file\" ack=3 attachments=1"
        );
        assert_eq!(
            parse_engineio("2probe").unwrap().summary_at(40),
            "PING \"probe\""
        );
    }

    #[test]
    fn binary_attachments_follow_their_event_v4() {
        let mut c = SocketIoConn::new(Some(4));
        let out = decode(
            &mut c,
            Dir::C2S,
            false,
            b"452-[\"up\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
        );
        assert_eq!(sio(&out).attachments, Some(2));
        // The other side's binary is not an attachment.
        let out = decode(&mut c, Dir::S2C, true, b"\x01\x02");
        assert_eq!(out.warnings[0].code, Code::SubSocketioUnexpectedBinary);
        let out = decode(&mut c, Dir::C2S, true, b"\x01\x02\x03");
        assert_eq!(
            (sio(&out).kind, sio(&out).attachment, sio(&out).len),
            ("ATTACHMENT", Some([1, 2]), Some(3))
        );
        let out = decode(&mut c, Dir::C2S, true, b"");
        assert_eq!(sio(&out).attachment, Some([2, 2]));
        assert!(out.warnings.is_empty());
        let out = decode(&mut c, Dir::C2S, true, b"\x00");
        assert_eq!(out.warnings[0].code, Code::SubSocketioUnexpectedBinary);
    }

    #[test]
    fn engineio_v3_binary_has_a_type_byte_and_missing_attachments_are_reported() {
        let mut c = SocketIoConn::new(Some(3));
        decode(
            &mut c,
            Dir::S2C,
            false,
            b"451-[\"x\",{\"_placeholder\":true,\"num\":0}]",
        );
        let out = decode(&mut c, Dir::S2C, true, b"\x04abc");
        assert_eq!(sio(&out).len, Some(3));
        decode(
            &mut c,
            Dir::S2C,
            false,
            b"451-[\"x\",{\"_placeholder\":true,\"num\":0}]",
        );
        let out = decode(&mut c, Dir::S2C, true, b"\x05abc");
        assert_eq!(out.warnings[0].code, Code::SubSocketioMalformed);
        let out = decode(&mut c, Dir::S2C, false, b"3");
        assert_eq!(out.warnings[0].code, Code::SubSocketioAttachmentMissing);
        assert_eq!(sio(&out).kind, "PONG");
        decode(
            &mut c,
            Dir::S2C,
            false,
            b"451-[\"x\",{\"_placeholder\":true,\"num\":0}]",
        );
        let mut out = Output::default();
        c.lost(Dir::S2C, Timestamp::ZERO, 9, &mut out);
        assert_eq!(out.warnings[0].code, Code::SubSocketioAttachmentMissing);
    }

    #[test]
    fn acks_pair_with_events_of_the_same_namespace() {
        let ev = parse_socketio("2/chat,12[\"m\"]").unwrap();
        let ack = parse_socketio("3/chat,12[]").unwrap();
        let other = parse_socketio("312[]").unwrap();
        let Some(Role::Request { key, name }) = ev.pairing() else {
            panic!()
        };
        assert_eq!((key.as_str(), name.as_str()), ("/chat#12", "m"));
        assert!(matches!(ack.pairing(), Some(Role::Reply { key: k, .. }) if k == key));
        assert!(matches!(other.pairing(), Some(Role::Reply { key: k, .. }) if k != key));
        assert_eq!(parse_socketio("2[\"m\"]").unwrap().pairing(), None);
    }
}
