//! MQTT 3.1, 3.1.1 and 5.0 control packets over WebSocket, parsed over the specifications
//! with checked reads (no crate parses MQTT from a byte slice without I/O and is maintained:
//! `mqttbytes` was folded back into the rumqtt client in 2021 and needs `bytes`' `BytesMut`,
//! `mqtt-protocol` decodes through `std::io::Read`, `mqttrs` knows only 3.1.1).
//!
//! MQTT over WebSocket carries a byte stream: "the receiver MUST NOT assume that MQTT Control
//! Packets are aligned on WebSocket frame boundaries" (MQTT 3.1.1 §6, 5.0 §6). So each side's
//! messages are one stream here: a packet is decoded straight from the message when it lies
//! inside it (no copy), and only the unfinished tail of a packet that continues in the next
//! message is held, in a per-direction buffer capped at `max_packet` bytes. A packet larger
//! than the cap is decoded from its first bytes (PUBLISH: topic, QoS, id, properties) and the
//! rest is skipped by count, as is the rest of a packet whose message was kept only in part.
//!
//! Every read goes through [`Reader`], which checks the length before it slices: malformed
//! packets are errors with a reason, never a panic.

use super::latency::Role;
use super::{Code, Node, Output, Sink, SubRecord, SubWarning, quoted};
use crate::model::sub_object::Members;
use crate::tcp::Dir;
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

/// Payload characters (text) or bytes (hex) kept in a PUBLISH record.
const MAX_PAYLOAD_PREVIEW: usize = 256;

/// The largest remaining length the 4-byte encoding allows.
pub const MAX_REMAINING_LENGTH: u32 = 268_435_455;

const TYPES: [&str; 16] = [
    "RESERVED",
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "AUTH",
];

/// One MQTT control packet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MqttRecord {
    /// `CONNECT`, `PUBLISH`, `SUBACK`, ...
    pub kind: &'static str,
    /// The protocol version the packet was read as: `3.1`, `3.1.1` or `5.0`.
    pub version: &'static str,
    /// The whole packet's length (fixed header included).
    pub len: u64,
    pub topic: Option<String>,
    pub qos: Option<u8>,
    pub packet_id: Option<u16>,
    pub dup: bool,
    pub retain: bool,
    pub payload_len: Option<u64>,
    /// The PUBLISH payload's first characters when it is UTF-8, else its first bytes in hex.
    pub payload: Option<String>,
    pub client_id: Option<String>,
    pub keep_alive: Option<u16>,
    pub clean_start: Option<bool>,
    pub username: Option<String>,
    pub will_topic: Option<String>,
    pub session_present: Option<bool>,
    /// CONNACK return code (3.x) or reason code (5.0); PUBACK..PUBCOMP, DISCONNECT, AUTH reason.
    pub reason_code: Option<u8>,
    /// SUBSCRIBE / UNSUBSCRIBE topic filters with (SUBSCRIBE) their options' QoS.
    pub filters: Vec<Filter>,
    /// SUBACK / UNSUBACK reason codes, one per filter.
    pub reason_codes: Vec<u8>,
    /// 5.0 properties by name (`user_property` as a list of pairs); binary values in hex.
    pub properties: Map<String, Value>,
    /// Only the packet's first bytes were decoded (larger than the buffer cap, or its message
    /// was kept only in part).
    pub partial: bool,
    /// The packet spanned this many WebSocket messages (absent when it sat in one).
    pub messages: Option<u32>,
}

impl MqttRecord {
    /// Its `sub` object's fields, in order.
    pub(super) fn members<'m>(&'m self, m: &mut Members<'m>) {
        m.str("type", self.kind);
        m.str("version", self.version);
        m.value("len", &self.len);
        m.opt_str("topic", &self.topic);
        m.opt("qos", &self.qos);
        m.opt("packet_id", &self.packet_id);
        m.value_if(self.dup, "dup", &self.dup);
        m.value_if(self.retain, "retain", &self.retain);
        m.opt("payload_len", &self.payload_len);
        m.opt_str("payload", &self.payload);
        m.opt_str("client_id", &self.client_id);
        m.opt("keep_alive", &self.keep_alive);
        m.opt("clean_start", &self.clean_start);
        m.opt_str("username", &self.username);
        m.opt_str("will_topic", &self.will_topic);
        m.opt("session_present", &self.session_present);
        m.opt("reason_code", &self.reason_code);
        m.value_if(!self.filters.is_empty(), "filters", &self.filters);
        m.value_if(
            !self.reason_codes.is_empty(),
            "reason_codes",
            &self.reason_codes,
        );
        m.value_if(!self.properties.is_empty(), "properties", &self.properties);
        m.value_if(self.partial, "partial", &self.partial);
        m.opt("messages", &self.messages);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Filter {
    pub topic: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u8>,
}

fn version_name(level: u8) -> &'static str {
    match level {
        3 => "3.1",
        5 => "5.0",
        _ => "3.1.1",
    }
}

impl MqttRecord {
    pub fn summary(&self) -> String {
        let mut s = String::from(self.kind);
        if let Some(t) = &self.topic {
            s.push_str(&format!(" topic={}", quoted(t, 60)));
        }
        if let Some(q) = self.qos {
            s.push_str(&format!(" qos={q}"));
        }
        if let Some(id) = self.packet_id {
            s.push_str(&format!(" id={id}"));
        }
        if let Some(c) = &self.client_id {
            s.push_str(&format!(" client_id={}", quoted(c, 40)));
        }
        for f in &self.filters {
            s.push_str(&format!(" {}", quoted(&f.topic, 40)));
        }
        if let Some(r) = self.reason_code.filter(|&r| r != 0) {
            s.push_str(&format!(" reason=0x{r:02x}"));
        }
        if !self.reason_codes.is_empty() {
            let codes: Vec<String> = self
                .reason_codes
                .iter()
                .map(|c| format!("0x{c:02x}"))
                .collect();
            s.push_str(&format!(" [{}]", codes.join(",")));
        }
        if self.retain {
            s.push_str(" retain");
        }
        if self.dup {
            s.push_str(" dup");
        }
        if self.partial {
            s.push_str(" (partial)");
        }
        s
    }

    pub fn details(&self) -> Vec<Node> {
        let mut v = vec![
            Node::field("Packet type", self.kind),
            Node::field("Protocol version", self.version),
            Node::field("Packet length", self.len),
        ];
        if let Some(m) = self.messages {
            v.push(Node::field("Reassembled from messages", m));
        }
        let opt = |v: &mut Vec<Node>, name: &str, val: Option<String>| {
            if let Some(val) = val {
                v.push(Node::field(name, val));
            }
        };
        opt(&mut v, "Client id", self.client_id.clone());
        opt(
            &mut v,
            "Keep alive",
            self.keep_alive.map(|k| format!("{k} s")),
        );
        opt(
            &mut v,
            "Clean start",
            self.clean_start.map(|b| b.to_string()),
        );
        opt(&mut v, "User name", self.username.clone());
        opt(&mut v, "Will topic", self.will_topic.clone());
        opt(
            &mut v,
            "Session present",
            self.session_present.map(|b| b.to_string()),
        );
        opt(&mut v, "Topic", self.topic.clone());
        opt(&mut v, "QoS", self.qos.map(|q| q.to_string()));
        opt(&mut v, "Packet id", self.packet_id.map(|q| q.to_string()));
        if self.dup || self.retain {
            v.push(Node::field(
                "Flags",
                format!("dup={} retain={}", self.dup, self.retain),
            ));
        }
        opt(
            &mut v,
            "Reason code",
            self.reason_code.map(|r| format!("0x{r:02x}")),
        );
        for f in &self.filters {
            v.push(Node::field(
                "Topic filter",
                match f.qos {
                    Some(q) => format!("{} (QoS {q})", f.topic),
                    None => f.topic.clone(),
                },
            ));
        }
        for c in &self.reason_codes {
            v.push(Node::field("Reason code", format!("0x{c:02x}")));
        }
        if !self.properties.is_empty() {
            v.push(Node::json(
                "Properties",
                &Value::Object(self.properties.clone()),
            ));
        }
        opt(
            &mut v,
            "Payload length",
            self.payload_len.map(|l| l.to_string()),
        );
        opt(&mut v, "Payload", self.payload.clone());
        v
    }

    pub fn pairing(&self) -> Option<Role> {
        let id = |id: Option<u16>| id.map(|i| format!("id:{i}"));
        let failed = |code: Option<u8>| code.is_some_and(|c| c >= 0x80);
        match self.kind {
            "CONNECT" => Some(Role::Request {
                key: "connect".into(),
                name: "CONNECT".into(),
            }),
            "CONNACK" => Some(Role::Reply {
                key: "connect".into(),
                error: self.reason_code.is_some_and(|c| c != 0),
            }),
            "PINGREQ" => Some(Role::Request {
                key: "ping".into(),
                name: "PINGREQ".into(),
            }),
            "PINGRESP" => Some(Role::Reply {
                key: "ping".into(),
                error: false,
            }),
            "PUBLISH" if self.qos.unwrap_or(0) > 0 => Some(Role::Request {
                key: id(self.packet_id)?,
                name: match &self.topic {
                    Some(t) => format!("PUBLISH {t}"),
                    None => "PUBLISH".into(),
                },
            }),
            "PUBREL" | "SUBSCRIBE" | "UNSUBSCRIBE" => Some(Role::Request {
                key: id(self.packet_id)?,
                name: self.kind.into(),
            }),
            "PUBACK" | "PUBREC" | "PUBCOMP" => Some(Role::Reply {
                key: id(self.packet_id)?,
                error: failed(self.reason_code),
            }),
            "SUBACK" | "UNSUBACK" => Some(Role::Reply {
                key: id(self.packet_id)?,
                error: !self.reason_codes.is_empty()
                    && self.reason_codes.iter().all(|&c| c >= 0x80),
            }),
            _ => None,
        }
    }
}

/// Checked reads over a packet's bytes: every read checks the length first.
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }
    pub fn remaining(&self) -> usize {
        self.b.len()
    }
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.b.len() {
            return Err(format!(
                "{what}: {n} bytes needed, {} left in the packet",
                self.b.len()
            ));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    pub fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.bytes(1, what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A variable byte integer (1-4 bytes).
    pub fn varint(&mut self, what: &str) -> Result<u32, String> {
        match varint(self.b) {
            Ok(Some((v, n))) => {
                self.b = &self.b[n..];
                Ok(v)
            }
            Ok(None) => Err(format!("{what}: variable byte integer cut short")),
            Err(e) => Err(format!("{what}: {e}")),
        }
    }
    /// Two-byte length, then that many bytes.
    pub fn binary(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.u16(what)?;
        self.bytes(usize::from(n), what)
    }
    /// A UTF-8 encoded string (two-byte length prefix).
    pub fn string(&mut self, what: &str) -> Result<&'a str, String> {
        let b = self.binary(what)?;
        std::str::from_utf8(b).map_err(|_| format!("{what} is not UTF-8"))
    }
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.b)
    }
}

/// A variable byte integer at the start of `b`: `Ok(Some((value, length)))`, `Ok(None)` when
/// more bytes are needed, `Err` for a fifth continuation byte.
pub fn varint(b: &[u8]) -> Result<Option<(u32, usize)>, &'static str> {
    let mut v = 0u32;
    for i in 0..4 {
        let Some(&byte) = b.get(i) else {
            return Ok(None);
        };
        v |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((v, i + 1)));
        }
    }
    Err("variable byte integer longer than 4 bytes")
}

/// A fixed header: the first byte and the remaining length, and the header's own length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHeader {
    pub byte0: u8,
    pub remaining: u32,
    pub header_len: usize,
}

impl FixedHeader {
    pub fn packet_type(self) -> u8 {
        self.byte0 >> 4
    }
    pub fn flags(self) -> u8 {
        self.byte0 & 0x0f
    }
    /// Fixed header plus remaining length.
    pub fn total(self) -> u64 {
        self.header_len as u64 + u64::from(self.remaining)
    }

    /// Parses a fixed header: `Ok(None)` when more bytes are needed, `Err` when the bytes
    /// cannot start an MQTT packet (reserved type 0, a remaining length of 5 bytes).
    pub fn parse(b: &[u8]) -> Result<Option<FixedHeader>, String> {
        let Some(&byte0) = b.first() else {
            return Ok(None);
        };
        if byte0 >> 4 == 0 {
            return Err(format!("reserved packet type 0 (first byte 0x{byte0:02x})"));
        }
        match varint(&b[1..]) {
            Ok(Some((remaining, n))) => Ok(Some(FixedHeader {
                byte0,
                remaining,
                header_len: 1 + n,
            })),
            Ok(None) => Ok(None),
            Err(e) => Err(format!("remaining length: {e}")),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn property_name(id: u32) -> Option<(&'static str, u8)> {
    // Kind: 0 byte, 1 two-byte, 2 four-byte, 3 varint, 4 string, 5 binary, 6 string pair.
    Some(match id {
        0x01 => ("payload_format_indicator", 0),
        0x02 => ("message_expiry_interval", 2),
        0x03 => ("content_type", 4),
        0x08 => ("response_topic", 4),
        0x09 => ("correlation_data", 5),
        0x0b => ("subscription_identifier", 3),
        0x11 => ("session_expiry_interval", 2),
        0x12 => ("assigned_client_identifier", 4),
        0x13 => ("server_keep_alive", 1),
        0x15 => ("authentication_method", 4),
        0x16 => ("authentication_data", 5),
        0x17 => ("request_problem_information", 0),
        0x18 => ("will_delay_interval", 2),
        0x19 => ("request_response_information", 0),
        0x1a => ("response_information", 4),
        0x1c => ("server_reference", 4),
        0x1f => ("reason_string", 4),
        0x21 => ("receive_maximum", 1),
        0x22 => ("topic_alias_maximum", 1),
        0x23 => ("topic_alias", 1),
        0x24 => ("maximum_qos", 0),
        0x25 => ("retain_available", 0),
        0x26 => ("user_property", 6),
        0x27 => ("maximum_packet_size", 2),
        0x28 => ("wildcard_subscription_available", 0),
        0x29 => ("subscription_identifier_available", 0),
        0x2a => ("shared_subscription_available", 0),
        _ => return None,
    })
}

/// MQTT 5.0 properties: a length, then identifier / value pairs.
pub fn properties(r: &mut Reader<'_>) -> Result<Map<String, Value>, String> {
    let len = r.varint("property length")?;
    let mut p = Reader::new(r.bytes(len as usize, "properties")?);
    let mut out = Map::new();
    while p.remaining() > 0 {
        let id = p.varint("property identifier")?;
        let (name, kind) =
            property_name(id).ok_or_else(|| format!("unknown property identifier 0x{id:02x}"))?;
        let value = match kind {
            0 => Value::from(p.u8(name)?),
            1 => Value::from(p.u16(name)?),
            2 => Value::from(p.u32(name)?),
            3 => Value::from(p.varint(name)?),
            4 => Value::from(p.string(name)?),
            5 => Value::from(hex(p.binary(name)?)),
            _ => {
                let k = p.string(name)?;
                let v = p.string(name)?;
                let pair = Value::from(vec![k, v]);
                match out.get_mut(name) {
                    Some(Value::Array(list)) => list.push(pair),
                    _ => {
                        out.insert(name.into(), Value::Array(vec![pair]));
                    }
                }
                continue;
            }
        };
        if kind == 3 && id == 0x0b {
            // Subscription identifiers may repeat in a PUBLISH.
            match out.get_mut(name) {
                Some(Value::Array(list)) => list.push(value),
                _ => {
                    out.insert(name.into(), Value::Array(vec![value]));
                }
            }
        } else if out.insert(name.into(), value).is_some() {
            return Err(format!("property {name} included more than once"));
        }
    }
    Ok(out)
}

/// Decodes one packet's variable header and payload (`body`, the bytes after the fixed
/// header). With `partial`, `body` is only the packet's first bytes: running out of bytes is
/// then not an error.
pub fn parse_packet(
    level: u8,
    h: FixedHeader,
    body: &[u8],
    partial: bool,
) -> Result<MqttRecord, String> {
    let t = h.packet_type();
    let mut rec = MqttRecord {
        kind: TYPES[usize::from(t)],
        version: version_name(level),
        len: h.total(),
        partial,
        ..Default::default()
    };
    let flags = h.flags();
    let want_flags = match t {
        3 => flags,
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if flags != want_flags {
        return Err(format!("{} with reserved flags 0x{flags:x}", rec.kind));
    }
    if t == 15 && level != 5 {
        return Err("AUTH is an MQTT 5.0 packet".into());
    }
    let v5 = level == 5;
    let mut r = Reader::new(body);
    let result = (|| -> Result<(), String> {
        match t {
            1 => connect(&mut r, &mut rec),
            2 => {
                let f = r.u8("CONNACK flags")?;
                if f & 0xfe != 0 {
                    return Err("CONNACK reserved flags set".into());
                }
                rec.session_present = Some(f & 1 == 1);
                rec.reason_code = Some(r.u8("CONNACK return code")?);
                if v5 {
                    rec.properties = properties(&mut r)?;
                }
                Ok(())
            }
            3 => {
                let qos = (flags >> 1) & 3;
                if qos == 3 {
                    return Err("PUBLISH with QoS 3".into());
                }
                rec.qos = Some(qos);
                rec.dup = flags & 8 != 0;
                rec.retain = flags & 1 != 0;
                rec.topic = Some(r.string("topic name")?.to_string());
                if qos > 0 {
                    rec.packet_id = Some(r.u16("packet identifier")?);
                }
                if v5 {
                    rec.properties = properties(&mut r)?;
                }
                let before = body.len() - r.remaining();
                rec.payload_len = Some(u64::from(h.remaining).saturating_sub(before as u64));
                let payload = r.rest();
                rec.payload = Some(match std::str::from_utf8(payload) {
                    Ok(s) => super::json::cut(s, MAX_PAYLOAD_PREVIEW),
                    Err(e) if partial && e.error_len().is_none() => super::json::cut(
                        std::str::from_utf8(&payload[..e.valid_up_to()]).unwrap_or_default(),
                        MAX_PAYLOAD_PREVIEW,
                    ),
                    Err(_) => hex(&payload[..payload.len().min(MAX_PAYLOAD_PREVIEW / 2)]),
                });
                Ok(())
            }
            4..=7 => {
                rec.packet_id = Some(r.u16("packet identifier")?);
                if v5 && r.remaining() > 0 {
                    rec.reason_code = Some(r.u8("reason code")?);
                    if r.remaining() > 0 {
                        rec.properties = properties(&mut r)?;
                    }
                }
                Ok(())
            }
            8 | 10 => {
                rec.packet_id = Some(r.u16("packet identifier")?);
                if v5 {
                    rec.properties = properties(&mut r)?;
                }
                while r.remaining() > 0 {
                    let topic = r.string("topic filter")?.to_string();
                    let qos = if t == 8 {
                        let o = r.u8("subscription options")?;
                        if o & 3 == 3 {
                            return Err("subscription with QoS 3".into());
                        }
                        Some(o & 3)
                    } else {
                        None
                    };
                    rec.filters.push(Filter { topic, qos });
                }
                if rec.filters.is_empty() && !partial {
                    return Err(format!("{} without a topic filter", rec.kind));
                }
                Ok(())
            }
            9 | 11 => {
                rec.packet_id = Some(r.u16("packet identifier")?);
                if v5 {
                    rec.properties = properties(&mut r)?;
                }
                rec.reason_codes = r.rest().to_vec();
                Ok(())
            }
            12 | 13 => match r.remaining() {
                0 => Ok(()),
                n => Err(format!(
                    "{} with {n} bytes after the fixed header",
                    rec.kind
                )),
            },
            14 | 15 => {
                if v5 && r.remaining() > 0 {
                    rec.reason_code = Some(r.u8("reason code")?);
                    if r.remaining() > 0 {
                        rec.properties = properties(&mut r)?;
                    }
                } else if !v5 && r.remaining() > 0 {
                    return Err(format!(
                        "DISCONNECT with {} bytes after the fixed header",
                        r.remaining()
                    ));
                }
                Ok(())
            }
            _ => Err(format!("packet type {t}")),
        }
    })();
    match result {
        Ok(()) if !partial && r.remaining() > 0 => Err(format!(
            "{} has {} bytes past its last field",
            rec.kind,
            r.remaining()
        )),
        Ok(()) => Ok(rec),
        // A packet cut short by design: what was read is kept.
        Err(_) if partial => Ok(rec),
        Err(e) => Err(format!("{}: {e}", rec.kind)),
    }
}

fn connect(r: &mut Reader<'_>, rec: &mut MqttRecord) -> Result<(), String> {
    let name = r.string("protocol name")?;
    let level = r.u8("protocol level")?;
    match (name, level) {
        ("MQTT", 4 | 5) | ("MQIsdp", 3) => {}
        _ => return Err(format!("protocol {name:?} level {level}")),
    }
    rec.version = version_name(level);
    let flags = r.u8("connect flags")?;
    if flags & 1 != 0 {
        return Err("connect flags: reserved bit set".into());
    }
    rec.clean_start = Some(flags & 2 != 0);
    rec.keep_alive = Some(r.u16("keep alive")?);
    if level == 5 {
        rec.properties = properties(r)?;
    }
    rec.client_id = Some(r.string("client identifier")?.to_string());
    if flags & 4 != 0 {
        if level == 5 {
            // Will properties: read past them (the packet's own properties are shown).
            properties(r)?;
        }
        rec.will_topic = Some(r.string("will topic")?.to_string());
        r.binary("will payload")?;
    }
    if flags & 0x80 != 0 {
        rec.username = Some(r.string("user name")?.to_string());
    }
    if flags & 0x40 != 0 {
        // The password is read past, never shown.
        r.binary("password")?;
    }
    Ok(())
}

/// One direction's stream state.
#[derive(Clone, Debug, Default)]
struct Side {
    /// The start of a packet that continues in the next message (at most the cap).
    buf: Vec<u8>,
    /// Messages that contributed to `buf`.
    messages: u32,
    /// Bytes still to skip: the rest of a packet decoded from its first bytes.
    skip: u64,
}

/// A connection's MQTT stream state: the protocol level (from CONNECT) and each side's
/// unfinished packet.
#[derive(Clone, Debug)]
pub struct MqttConn {
    level: Option<u8>,
    cap: usize,
    sides: [Side; 2],
}

impl MqttConn {
    pub fn new(max_packet: usize) -> MqttConn {
        MqttConn {
            level: None,
            cap: max_packet.max(16),
            sides: [Side::default(), Side::default()],
        }
    }

    /// Bytes held in the per-direction buffers.
    pub fn held_bytes(&self) -> usize {
        self.sides.iter().map(|s| s.buf.capacity()).sum()
    }

    fn emit(
        &mut self,
        sink: &mut Sink<'_>,
        h: FixedHeader,
        body: &[u8],
        partial: bool,
        messages: u32,
    ) {
        if h.packet_type() == 1
            && let Some(level) = connect_level(body)
        {
            self.level = Some(level);
        }
        match parse_packet(self.level.unwrap_or(4), h, body, partial) {
            Ok(mut rec) => {
                rec.messages = (messages > 1).then_some(messages);
                sink.record(SubRecord::Mqtt(rec));
            }
            Err(e) => sink.warn(Code::SubMqttMalformed, e),
        }
    }

    pub(super) fn decode(&mut self, sink: &mut Sink<'_>) {
        let d = sink.msg.dir.index();
        if !sink.msg.binary {
            sink.warn(
                Code::SubMqttTextFrame,
                "MQTT bytes in a text message (MQTT over WebSocket uses binary messages)",
            );
        }
        let msg_len = sink.msg.len;
        let complete = sink.msg.complete();
        let mut data = sink.msg.payload;
        // Bytes of the message past `data` that were not kept.
        let mut unkept = msg_len.saturating_sub(data.len() as u64);

        // 1. The rest of a packet decoded from its first bytes.
        let side = &mut self.sides[d];
        if side.skip > 0 {
            let n = side.skip.min(data.len() as u64 + unkept);
            side.skip -= n;
            let from_data = (n as usize).min(data.len());
            data = &data[from_data..];
            unkept -= n - from_data as u64;
            if data.is_empty() && unkept == 0 {
                return;
            }
        }

        // 2. A packet begun in an earlier message.
        if !self.sides[d].buf.is_empty() {
            let side = &mut self.sides[d];
            side.messages += 1;
            // Complete the fixed header first (at most 5 bytes).
            let h = loop {
                match FixedHeader::parse(&side.buf) {
                    Ok(Some(h)) => break Some(h),
                    Ok(None) if !data.is_empty() && side.buf.len() < 5 => {
                        side.buf.push(data[0]);
                        data = &data[1..];
                    }
                    Ok(None) => break None,
                    Err(e) => {
                        side.buf.clear();
                        sink.warn(Code::SubMqttMalformed, e);
                        return;
                    }
                }
            };
            let Some(h) = h else {
                if !complete {
                    self.broken(sink, d);
                }
                return;
            };
            let total = h.total();
            if total > self.cap as u64 {
                // Only a header's bytes were held: decode from them and what this message
                // brings, and skip the rest.
                let mut head = std::mem::take(&mut side.buf);
                let held = head.len() as u64;
                let messages = side.messages;
                side.messages = 0;
                head.extend_from_slice(&data[..data.len().min(MAX_PAYLOAD_PREVIEW * 2)]);
                self.overrun(sink, h, head.len());
                self.emit(
                    sink,
                    h,
                    &head[h.header_len.min(head.len())..],
                    true,
                    messages,
                );
                let rest = total - held;
                if rest <= data.len() as u64 {
                    data = &data[rest as usize..];
                } else {
                    let over = rest - data.len() as u64;
                    data = &[];
                    if over >= unkept {
                        self.sides[d].skip = over - unkept;
                        return;
                    }
                    unkept -= over;
                }
            } else {
                let need = (total - side.buf.len() as u64) as usize;
                let take = need.min(data.len());
                side.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if side.buf.len() as u64 == total {
                    let buf = std::mem::take(&mut side.buf);
                    let messages = side.messages;
                    self.emit(sink, h, &buf[h.header_len..], false, messages);
                    self.sides[d].buf = recycle(buf);
                } else if !complete {
                    self.broken(sink, d);
                    return;
                } else {
                    return;
                }
            }
        }

        // 3. Packets starting in this message.
        while !data.is_empty() {
            let h = match FixedHeader::parse(data) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    if complete {
                        let side = &mut self.sides[d];
                        side.buf.extend_from_slice(data);
                        side.messages = 1;
                    } else {
                        self.broken(sink, d);
                    }
                    return;
                }
                Err(e) => {
                    sink.warn(
                        Code::SubMqttMalformed,
                        format!("{e}; the rest of the message skipped"),
                    );
                    return;
                }
            };
            let total = h.total();
            if total <= data.len() as u64 {
                let (packet, rest) = data.split_at(total as usize);
                self.emit(sink, h, &packet[h.header_len..], false, 1);
                data = rest;
                continue;
            }
            // The packet goes on past what this message holds.
            let available = data.len() as u64 + unkept;
            if total > available && complete && total <= self.cap as u64 {
                let side = &mut self.sides[d];
                side.buf.extend_from_slice(data);
                side.messages = 1;
                return;
            }
            if total > self.cap as u64 && complete {
                self.overrun(sink, h, data.len());
            }
            let body = data.get(h.header_len..).unwrap_or_default();
            self.emit(sink, h, body, true, 1);
            if total >= available {
                self.sides[d].skip = total - available;
            } else {
                // More packets followed in the part of the message that was not kept.
                self.broken(sink, d);
            }
            return;
        }
        if unkept > 0 {
            self.broken(sink, d);
        }
    }

    fn overrun(&self, sink: &mut Sink<'_>, h: FixedHeader, decoded: usize) {
        sink.warn(
            Code::SubMqttLengthOverrun,
            format!(
                "{} of {} bytes exceeds the {}-byte reassembly cap: decoded from its first {} bytes, the rest skipped",
                TYPES[usize::from(h.packet_type())],
                h.total(),
                self.cap,
                decoded
            ),
        );
    }

    /// The message was kept only in part and the stream position is lost: start afresh with
    /// the next message.
    fn broken(&mut self, sink: &mut Sink<'_>, d: usize) {
        self.sides[d] = Side::default();
        sink.warn(
            Code::SubTruncated,
            format!(
                "only the first {} of {} bytes of the message were kept: MQTT decoding resumes with the next message",
                sink.msg.payload.len(),
                sink.msg.len
            ),
        );
    }

    /// Bytes of `dir` were lost or the connection ended: an unfinished packet is reported.
    pub(super) fn lost(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        frame: u64,
        why: &str,
        out: &mut Output,
    ) {
        let side = std::mem::take(&mut self.sides[dir.index()]);
        if !side.buf.is_empty() || side.skip > 0 {
            let what = match FixedHeader::parse(&side.buf) {
                Ok(Some(h)) => format!(
                    "{} of {} bytes ({} held)",
                    TYPES[usize::from(h.packet_type())],
                    h.total(),
                    side.buf.len()
                ),
                _ if side.skip > 0 => format!("a packet with {} bytes still to come", side.skip),
                _ => format!("a packet's first {} bytes", side.buf.len()),
            };
            out.warnings.push(SubWarning {
                code: Code::SubMqttTruncated,
                dir,
                ts,
                frame,
                detail: format!("{why} inside {what}"),
            });
        }
    }
}

/// Keeps a buffer's allocation for reuse unless it grew large.
fn recycle(mut buf: Vec<u8>) -> Vec<u8> {
    buf.clear();
    if buf.capacity() > 4096 {
        Vec::new()
    } else {
        buf
    }
}

/// The protocol level a CONNECT body announces.
fn connect_level(body: &[u8]) -> Option<u8> {
    let mut r = Reader::new(body);
    let name = r.string("").ok()?;
    let level = r.u8("").ok()?;
    matches!((name, level), ("MQTT", 4 | 5) | ("MQIsdp", 3)).then_some(level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sub::Message;

    fn feed(conn: &mut MqttConn, dir: Dir, payload: &[u8], len: u64) -> Output {
        crate::proto::sub::run_one(dir, true, payload, len, 3, |s| conn.decode(s))
    }

    fn mqtt(out: &Output, i: usize) -> &MqttRecord {
        match &*out.items[i].record {
            SubRecord::Mqtt(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// A packet with its fixed header: first byte, remaining length, body.
    fn pkt(byte0: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![byte0];
        let mut n = body.len();
        loop {
            let b = (n % 128) as u8;
            n /= 128;
            v.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        v.extend_from_slice(body);
        v
    }

    fn one(level: u8, bytes: &[u8]) -> Result<MqttRecord, String> {
        let h = FixedHeader::parse(bytes)?.ok_or("need more")?;
        assert_eq!(h.total(), bytes.len() as u64);
        parse_packet(level, h, &bytes[h.header_len..], false)
    }

    // MQTT 3.1.1 CONNECT: client id "paho", clean session, keep alive 60, user name "u".
    const CONNECT_311: &[u8] = b"\x10\x13\x00\x04MQTT\x04\x82\x00\x3c\x00\x04paho\x00\x01u";
    const CONNACK: &[u8] = b"\x20\x02\x00\x00";
    // PUBLISH QoS 1 to "t/1", id 7, payload "hi".
    const PUBLISH_Q1: &[u8] = b"\x32\x09\x00\x03t/1\x00\x07hi";
    const PUBACK_7: &[u8] = b"\x40\x02\x00\x07";

    #[test]
    fn remaining_length_encoding_examples() {
        // The table of MQTT 3.1.1 §2.2.3.
        for (bytes, value) in [
            (&[0x00][..], 0),
            (&[0x7f], 127),
            (&[0x80, 0x01], 128),
            (&[0xff, 0x7f], 16_383),
            (&[0x80, 0x80, 0x01], 16_384),
            (&[0xff, 0xff, 0x7f], 2_097_151),
            (&[0x80, 0x80, 0x80, 0x01], 2_097_152),
            (&[0xff, 0xff, 0xff, 0x7f], MAX_REMAINING_LENGTH),
        ] {
            assert_eq!(varint(bytes), Ok(Some((value, bytes.len()))));
        }
        assert!(varint(&[0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert_eq!(varint(&[0x80]), Ok(None));
        assert!(FixedHeader::parse(&[0x00, 0x00]).is_err());
        assert_eq!(FixedHeader::parse(&[0x30]), Ok(None));
    }

    #[test]
    fn mqtt_311_packets() {
        let c = one(4, CONNECT_311).unwrap();
        assert_eq!((c.kind, c.version), ("CONNECT", "3.1.1"));
        assert_eq!(c.client_id.as_deref(), Some("paho"));
        assert_eq!((c.keep_alive, c.clean_start), (Some(60), Some(true)));
        assert_eq!(c.username.as_deref(), Some("u"));
        let a = one(4, CONNACK).unwrap();
        assert_eq!((a.session_present, a.reason_code), (Some(false), Some(0)));
        let p = one(4, PUBLISH_Q1).unwrap();
        assert_eq!(p.summary(), "PUBLISH topic=\"t/1\" qos=1 id=7");
        assert_eq!((p.payload_len, p.payload.as_deref()), (Some(2), Some("hi")));
        let s = one(4, b"\x82\x08\x00\x0a\x00\x03a/b\x01").unwrap();
        assert_eq!(
            s.filters,
            [Filter {
                topic: "a/b".into(),
                qos: Some(1)
            }]
        );
        let s = one(4, b"\x90\x04\x00\x0a\x01\x80").unwrap();
        assert_eq!(
            (s.kind, s.reason_codes.as_slice()),
            ("SUBACK", &[1u8, 0x80][..])
        );
        let u = one(4, b"\xa2\x07\x00\x0b\x00\x03a/b").unwrap();
        assert_eq!(u.filters[0].qos, None);
        assert_eq!(one(4, b"\xc0\x00").unwrap().kind, "PINGREQ");
        assert_eq!(one(4, b"\xd0\x00").unwrap().kind, "PINGRESP");
        assert_eq!(one(4, b"\xe0\x00").unwrap().kind, "DISCONNECT");
        assert_eq!(one(4, b"\x62\x02\x00\x05").unwrap().kind, "PUBREL");
        let r = one(4, b"\x3d\x05\x00\x01x\x00\x09").unwrap();
        assert_eq!(
            (r.qos, r.dup, r.retain, r.packet_id),
            (Some(2), true, true, Some(9))
        );
        // 3.1 CONNECT.
        let c = one(3, b"\x10\x12\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x04paho").unwrap();
        assert_eq!(c.version, "3.1");
    }

    #[test]
    fn mqtt_5_properties() {
        // CONNECT 5.0 with session expiry 120 and a user property.
        let body =
            b"\x00\x04MQTT\x05\x02\x00\x3c\x0c\x11\x00\x00\x00\x78\x26\x00\x01k\x00\x01v\x00\x01c";
        let c = one(5, &pkt(0x10, body)).unwrap();
        assert_eq!(c.version, "5.0");
        assert_eq!(c.properties["session_expiry_interval"], 120);
        assert_eq!(
            c.properties["user_property"],
            serde_json::json!([["k", "v"]])
        );
        // PUBLISH 5.0 with a content type and correlation data.
        let p = one(
            5,
            &pkt(
                0x32,
                b"\x00\x01t\x00\x01\x0c\x03\x00\x04json\x09\x00\x02\xab\xcd{}",
            ),
        )
        .unwrap();
        assert_eq!(p.properties["content_type"], "json");
        assert_eq!(p.properties["correlation_data"], "abcd");
        assert_eq!(p.payload.as_deref(), Some("{}"));
        // PUBACK 5.0 with a reason code, with and without properties.
        assert_eq!(
            one(5, b"\x40\x03\x00\x01\x10").unwrap().reason_code,
            Some(0x10)
        );
        let a = one(5, b"\x40\x04\x00\x01\x87\x00").unwrap();
        assert!(matches!(a.pairing(), Some(Role::Reply { error: true, .. })));
        assert_eq!(one(5, b"\xe0\x01\x04").unwrap().reason_code, Some(4));
        assert_eq!(one(5, b"\xf0\x00").unwrap().kind, "AUTH");
    }

    #[test]
    fn malformed_packets() {
        for (level, bad) in [
            (4, pkt(0x36, b"\x00\x01x\x00\x01")),                    // QoS 3
            (4, pkt(0x30, b"\x00\x05abc")),                          // topic past the end
            (4, pkt(0x60, b"\x00\x05")),                             // PUBREL flags 0
            (4, pkt(0x82, b"\x00\x0a")),                             // SUBSCRIBE without a filter
            (4, pkt(0x82, b"\x00\x0a\x00\x01a\x03")),                // subscription QoS 3
            (4, pkt(0xc0, b"\x00")),                                 // PINGREQ with a body
            (4, pkt(0xf0, b"")),                                     // AUTH before 5.0
            (4, pkt(0x10, b"\x00\x04MQTT\x04\x01\x00\x3c\x00\x00")), // reserved flag
            (4, pkt(0x10, b"\x00\x04MQTX\x04\x00\x00\x3c\x00\x00")), // protocol name
            (4, pkt(0x30, b"\x00\x02\xff\xfeA")),                    // topic not UTF-8
            (4, pkt(0x20, b"\x00\x00\x00")),                         // a byte past the end
            (4, pkt(0x20, b"\x02\x00")),                             // CONNACK reserved flags
            (5, pkt(0x40, b"\x00\x01\x00\x02\x7f\x00")),             // unknown property
            (5, pkt(0x40, b"\x00\x01\x00\x05\x01")),                 // properties past the end
            (5, pkt(0x40, b"\x00\x01\x00\x04\x01\x00\x01\x00")),     // property twice
        ] {
            let bad = &bad[..];
            assert!(one(level, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn packets_split_and_joined_across_messages() {
        let mut c = MqttConn::new(1024);
        // Two packets in one message, then one packet split over three messages.
        let mut joined = CONNECT_311.to_vec();
        joined.extend_from_slice(PUBLISH_Q1);
        let out = feed(&mut c, Dir::C2S, &joined, joined.len() as u64);
        assert_eq!(out.items.len(), 2);
        assert_eq!(mqtt(&out, 1).packet_id, Some(7));
        let out = feed(&mut c, Dir::C2S, &PUBLISH_Q1[..1], 1);
        assert!(out.items.is_empty() && out.warnings.is_empty());
        assert!(c.held_bytes() > 0);
        let out = feed(&mut c, Dir::C2S, &PUBLISH_Q1[1..4], 3);
        assert!(out.items.is_empty());
        let mut last = PUBLISH_Q1[4..].to_vec();
        last.extend_from_slice(PUBACK_7); // and the start of the next one
        let out = feed(&mut c, Dir::C2S, &last, last.len() as u64);
        assert_eq!(out.items.len(), 2, "{out:?}");
        assert_eq!(mqtt(&out, 0).messages, Some(3));
        assert_eq!(mqtt(&out, 1).kind, "PUBACK");
        // The other direction is independent.
        let out = feed(&mut c, Dir::S2C, CONNACK, 4);
        assert_eq!(mqtt(&out, 0).kind, "CONNACK");
    }

    #[test]
    fn oversize_packets_are_decoded_from_their_head_and_skipped() {
        let mut c = MqttConn::new(64);
        let mut big = vec![0x30, 0xe8, 0x07, 0x00, 0x03, b't', b'/', b'x']; // remaining 1000
        big.resize(3 + 1000, b'a');
        let out = feed(&mut c, Dir::C2S, &big[..100], 100);
        assert_eq!(out.warnings[0].code, Code::SubMqttLengthOverrun);
        let p = mqtt(&out, 0);
        assert_eq!(
            (p.topic.as_deref(), p.partial, p.payload_len),
            (Some("t/x"), true, Some(995))
        );
        assert!(c.held_bytes() == 0);
        let out = feed(&mut c, Dir::C2S, &big[100..], 903);
        assert!(out.items.is_empty() && out.warnings.is_empty());
        let out = feed(&mut c, Dir::C2S, PUBACK_7, 4);
        assert_eq!(mqtt(&out, 0).kind, "PUBACK");
        // Decoded at once when the message holds the whole packet, cap or not.
        let out = feed(&mut c, Dir::C2S, &big, big.len() as u64);
        assert!(out.warnings.is_empty());
        assert!(!mqtt(&out, 0).partial);
    }

    #[test]
    fn messages_kept_in_part() {
        let mut c = MqttConn::new(1024);
        // A 1003-byte PUBLISH whose message kept 50 bytes: head decoded, stream still in step.
        let mut big = vec![0x30, 0xe8, 0x07, 0x00, 0x03, b't', b'/', b'x'];
        big.resize(1003, b'a');
        let out = feed(&mut c, Dir::C2S, &big[..50], 1003);
        assert!(mqtt(&out, 0).partial);
        let out = feed(&mut c, Dir::C2S, PUBACK_7, 4);
        assert_eq!(mqtt(&out, 0).kind, "PUBACK");
        // A message kept in part that held more packets after: decoding resumes next message.
        let mut two = PUBLISH_Q1.to_vec();
        two.extend_from_slice(&big);
        let out = feed(&mut c, Dir::C2S, &two[..5], two.len() as u64);
        assert_eq!(out.warnings.last().unwrap().code, Code::SubTruncated);
        let out = feed(&mut c, Dir::C2S, PUBACK_7, 4);
        assert_eq!(mqtt(&out, 0).kind, "PUBACK");
    }

    #[test]
    fn unfinished_packets_are_reported_at_the_end() {
        let mut c = MqttConn::new(1024);
        feed(&mut c, Dir::S2C, &PUBLISH_Q1[..5], 5);
        let mut out = Output::default();
        c.lost(
            Dir::S2C,
            Timestamp::ZERO,
            9,
            "the connection ended",
            &mut out,
        );
        assert_eq!(out.warnings[0].code, Code::SubMqttTruncated);
        assert!(
            out.warnings[0]
                .detail
                .contains("PUBLISH of 11 bytes (5 held)"),
            "{}",
            out.warnings[0].detail
        );
        assert_eq!(c.held_bytes(), 0);
    }

    #[test]
    fn text_frames_and_garbage_are_reported() {
        let mut c = MqttConn::new(1024);
        let msg = Message {
            dir: Dir::C2S,
            ts: Timestamp::ZERO,
            frame: 1,
            binary: false,
            payload: PUBACK_7,
            len: 4,
        };
        let mut out = Output::default();
        let mut sink = Sink {
            msg: &msg,
            out: &mut out,
            records: Vec::new(),
            quiet: false,
        };
        c.decode(&mut sink);
        assert_eq!(sink.records.len(), 1);
        assert_eq!(out.warnings[0].code, Code::SubMqttTextFrame);
        let out = feed(&mut c, Dir::C2S, b"\x00\x00\x00", 3);
        assert_eq!(out.warnings[0].code, Code::SubMqttMalformed);
    }

    #[test]
    fn the_connect_level_governs_later_packets() {
        let mut c = MqttConn::new(1024);
        let body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01c";
        let mut pkt = vec![0x10, body.len() as u8];
        pkt.extend_from_slice(body);
        feed(&mut c, Dir::C2S, &pkt, pkt.len() as u64);
        let out = feed(&mut c, Dir::S2C, b"\x20\x03\x00\x00\x00", 5);
        assert_eq!(mqtt(&out, 0).version, "5.0");
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn pairs() {
        let p = one(4, PUBLISH_Q1).unwrap().pairing();
        assert_eq!(
            p,
            Some(Role::Request {
                key: "id:7".into(),
                name: "PUBLISH t/1".into()
            })
        );
        let a = one(4, PUBACK_7).unwrap().pairing();
        assert_eq!(
            a,
            Some(Role::Reply {
                key: "id:7".into(),
                error: false
            })
        );
        assert_eq!(one(4, b"\x30\x04\x00\x01xy").unwrap().pairing(), None);
        assert!(matches!(
            one(4, b"\x20\x02\x00\x05").unwrap().pairing(),
            Some(Role::Reply { error: true, .. })
        ));
    }
}
