//! Which sub-protocol a WebSocket connection speaks, and why: a pure function of what the
//! handshake said, the user's `--decode-as` rules and (while undecided) the first messages.
//!
//! Order, strongest evidence first:
//! 1. the negotiated `Sec-WebSocket-Protocol`, when it names a protocol sockscope decodes
//!    (`mqtt`, `v12.stomp`, `graphql-transport-ws`, `wamp.2.json`, `jsonrpc`, ...);
//! 2. a `--decode-as` rule for the flow, its port, or every flow (most specific wins) — it
//!    outranks content sniffing, which it exists to correct, but not a negotiated name;
//! 3. the upgrade request's URL: `/socket.io/` or an `EIO=` query parameter (whose value is the
//!    Engine.IO version);
//! 4. the content of the first messages: Engine.IO's open packet, SignalR's handshake and
//!    0x1E-terminated records, an MQTT CONNECT, a STOMP CONNECT/STOMP/CONNECTED frame,
//!    graphql-ws' `connection_init`, a WAMP HELLO, JSON-RPC 2.0 objects, any JSON.
//!
//! The answer carries its [`Basis`] and a sentence for `-V` and the flow record.

use super::json::Key;
use super::{Message, SubProtocol};
use serde::Serialize;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// Messages looked at by content before a connection is left undecoded.
pub const MAX_CONTENT_TRIES: u32 = 4;

/// What the handshake and the flow say about a WebSocket connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnInfo<'a> {
    pub flow: u64,
    pub client_port: u16,
    pub server_port: u16,
    /// The negotiated `Sec-WebSocket-Protocol` (the 101's value).
    pub subprotocol: Option<&'a str>,
    /// The upgrade request's target (`/socket.io/?EIO=4&transport=websocket`).
    pub target: Option<&'a str>,
}

/// What the choice rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    Subprotocol,
    DecodeAs,
    Url,
    Content,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Subprotocol => "subprotocol",
            Basis::DecodeAs => "decode-as",
            Basis::Url => "url",
            Basis::Content => "content",
        }
    }
}

/// The chosen sub-protocol. Serializes as the flow record's `sub` object:
/// `{"protocol": "mqtt", "basis": "subprotocol", "reason": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Selection {
    pub protocol: SubProtocol,
    pub basis: Basis,
    pub reason: String,
    /// Socket.IO: the Engine.IO version (3 or 4), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engineio: Option<u8>,
}

/// The verdict at one point of the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Chosen(Selection),
    /// Nothing yet: ask again with the next message (up to [`MAX_CONTENT_TRIES`]).
    Pending,
    /// Not decoded: `--decode-as ...=none`, a serialization sockscope does not decode, or
    /// nothing recognised in the first messages. The sentence says which.
    Off(String),
}

/// Which flows a `--decode-as` rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    All,
    /// Either endpoint's port in `lo..=hi`.
    Ports(u16, u16),
    Flow(u64),
}

/// One `--decode-as` value: `[port:N[-M]=|flow:N=]PROTO`, PROTO a protocol name or `none`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub target: Target,
    /// `None` turns decoding off for the target.
    pub protocol: Option<SubProtocol>,
    /// The rule as given, for the reason sentence.
    pub text: String,
}

/// Why a `--decode-as` value does not parse; the message names what is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError(pub String);

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuleError {}

fn protocol_names() -> String {
    let mut names: Vec<&str> = SubProtocol::ALL.iter().map(|p| p.as_str()).collect();
    names.push("none");
    names.join(", ")
}

impl std::str::FromStr for Rule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Rule, RuleError> {
        let (target, proto) = match s.split_once('=') {
            None => (Target::All, s),
            Some((t, p)) => (parse_target(t.trim())?, p),
        };
        let proto = proto.trim();
        let protocol = if proto.eq_ignore_ascii_case("none") {
            None
        } else {
            Some(SubProtocol::parse(proto).ok_or_else(|| {
                RuleError(format!(
                    "unknown sub-protocol '{proto}' in --decode-as '{s}' (one of: {})",
                    protocol_names()
                ))
            })?)
        };
        Ok(Rule {
            target,
            protocol,
            text: s.to_string(),
        })
    }
}

fn parse_target(t: &str) -> Result<Target, RuleError> {
    let bad = || {
        RuleError(format!(
            "--decode-as target '{t}' is not port:N, port:N-M or flow:N (e.g. port:8080=mqtt, flow:3=stomp)"
        ))
    };
    if let Some(ports) = t.strip_prefix("port:") {
        let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
        Ok(Target::Ports(lo, hi))
    } else if let Some(flow) = t.strip_prefix("flow:") {
        flow.trim().parse().map(Target::Flow).map_err(|_| bad())
    } else {
        Err(bad())
    }
}

/// Every `--decode-as` rule of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeAs {
    pub rules: Vec<Rule>,
}

impl DecodeAs {
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<DecodeAs, RuleError> {
        let rules = values
            .iter()
            .map(|v| v.as_ref().parse())
            .collect::<Result<_, _>>()?;
        Ok(DecodeAs { rules })
    }

    /// The rule for this flow: a flow rule over a port rule over a rule for all; among equals
    /// the last one given.
    pub fn lookup(&self, info: &ConnInfo<'_>) -> Option<&Rule> {
        let rank = |r: &Rule| match r.target {
            Target::Flow(f) if f == info.flow => Some(3),
            Target::Ports(lo, hi)
                if (lo..=hi).contains(&info.server_port)
                    || (lo..=hi).contains(&info.client_port) =>
            {
                Some(2)
            }
            Target::All => Some(1),
            _ => None,
        };
        let mut best: Option<(u8, &Rule)> = None;
        for r in &self.rules {
            if let Some(k) = rank(r)
                && best.is_none_or(|(b, _)| k >= b)
            {
                best = Some((k, r));
            }
        }
        best.map(|(_, r)| r)
    }
}

/// The protocol a `Sec-WebSocket-Protocol` value names, if sockscope decodes it; `Err` with a
/// reason for names it knows but does not decode.
pub fn by_subprotocol(name: &str) -> Result<Option<SubProtocol>, String> {
    let n = name.trim().to_ascii_lowercase();
    Ok(Some(match n.as_str() {
        "mqtt" | "mqttv3.1" | "mqttv3.1.1" | "mqttv5" => SubProtocol::Mqtt,
        "stomp" | "v10.stomp" | "v11.stomp" | "v12.stomp" => SubProtocol::Stomp,
        "graphql-ws" => SubProtocol::GraphqlWs,
        "graphql-transport-ws" => SubProtocol::GraphqlTransportWs,
        "wamp.2.json" => SubProtocol::Wamp,
        "wamp.2.msgpack"
        | "wamp.2.cbor"
        | "wamp.2.ubjson"
        | "wamp.2.json.batched"
        | "wamp.2.msgpack.batched" => {
            return Err(format!(
                "subprotocol {name}: this WAMP serialization is not decoded (only wamp.2.json)"
            ));
        }
        "json" => SubProtocol::Json,
        _ if n.contains("jsonrpc") || n.contains("json-rpc") => SubProtocol::JsonRpc,
        _ => return Ok(None),
    }))
}

/// The Engine.IO version an upgrade target announces: `Some(v)` for a `/socket.io/` path or
/// an `EIO=v` query parameter (`v` 0 when the parameter is absent or unreadable).
pub fn engineio_from_target(target: &str) -> Option<u8> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let eio = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("EIO="))
        .map(|v| v.parse::<u8>().unwrap_or(0));
    match (
        path.contains("/socket.io/") || path.ends_with("/socket.io"),
        eio,
    ) {
        (_, Some(v)) => Some(v),
        (true, None) => Some(0),
        (false, None) => None,
    }
}

/// The choice for `info`, given the first message (`None` at the handshake).
pub fn select(info: &ConnInfo<'_>, rules: &DecodeAs, first: Option<&Message<'_>>) -> Verdict {
    let mut not_decoded = None;
    if let Some(name) = info.subprotocol {
        match by_subprotocol(name) {
            Ok(Some(protocol)) => {
                return Verdict::Chosen(Selection {
                    protocol,
                    basis: Basis::Subprotocol,
                    reason: format!("Sec-WebSocket-Protocol: {name}"),
                    engineio: None,
                });
            }
            Ok(None) => {}
            Err(why) => not_decoded = Some(why),
        }
    }
    if let Some(rule) = rules.lookup(info) {
        return match rule.protocol {
            Some(protocol) => Verdict::Chosen(Selection {
                protocol,
                basis: Basis::DecodeAs,
                reason: format!("--decode-as {}", rule.text),
                engineio: (protocol == SubProtocol::SocketIo)
                    .then(|| info.target.and_then(engineio_from_target))
                    .flatten()
                    .filter(|&v| v != 0),
            }),
            None => Verdict::Off(format!("--decode-as {}", rule.text)),
        };
    }
    if let Some(why) = not_decoded {
        return Verdict::Off(why);
    }
    if let Some(eio) = info.target.and_then(engineio_from_target) {
        let target = info.target.unwrap_or_default();
        return Verdict::Chosen(Selection {
            protocol: SubProtocol::SocketIo,
            basis: Basis::Url,
            reason: if eio == 0 {
                format!("upgrade URL {target} (Engine.IO version not given: 4 assumed)")
            } else {
                format!("upgrade URL {target} (EIO={eio})")
            },
            engineio: Some(if eio == 0 { 4 } else { eio }),
        });
    }
    match first {
        None => Verdict::Pending,
        Some(m) => match by_content(m) {
            Some((protocol, reason, engineio)) => Verdict::Chosen(Selection {
                protocol,
                basis: Basis::Content,
                reason,
                engineio,
            }),
            None => Verdict::Pending,
        },
    }
}

/// An MQTT CONNECT packet's first bytes: type 1, a remaining length, protocol name `MQTT`
/// (3.1.1 and 5.0) or `MQIsdp` (3.1).
fn is_mqtt_connect(b: &[u8]) -> bool {
    if b.first() != Some(&0x10) {
        return false;
    }
    // Skip the variable-length remaining length (1-4 bytes).
    let Some(n) = b[1..].iter().take(4).position(|&x| x & 0x80 == 0) else {
        return false;
    };
    let rest = &b[2 + n..];
    rest.starts_with(b"\x00\x04MQTT") || rest.starts_with(b"\x00\x06MQIsdp")
}

/// A STOMP frame's start: a command line, then a header line or the blank line.
fn is_stomp_frame(text: &str) -> bool {
    const COMMANDS: [&str; 6] = [
        "CONNECT",
        "STOMP",
        "CONNECTED",
        "SEND",
        "SUBSCRIBE",
        "MESSAGE",
    ];
    let Some((command, rest)) = text.split_once('\n') else {
        return false;
    };
    let command = command.strip_suffix('\r').unwrap_or(command);
    COMMANDS.contains(&command)
        && (rest.starts_with('\n')
            || rest.starts_with("\r\n")
            || rest.lines().next().is_some_and(|l| l.contains(':')))
}

/// What the choice by content reads of a JSON value, found while serde_json parses it as
/// strictly as into a [`Value`] (every value is visited, so the same texts are turned away:
/// numbers out of range, lone surrogates) but without building it.
#[derive(Default)]
struct Facts<'t> {
    /// JSON-RPC 2.0: an object whose `jsonrpc` is `"2.0"`, or a non-empty array of such values.
    jsonrpc: bool,
    /// An object's `type` when it is a string.
    type_str: Option<Cow<'t, str>>,
    /// An array whose first elements are 1, a string and an object (a WAMP HELLO).
    wamp_hello: bool,
    /// What the value is, for the array or object around it.
    is: Is<'t>,
}

#[derive(Default, PartialEq)]
enum Is<'t> {
    #[default]
    Other,
    One,
    Str(Cow<'t, str>),
    Object,
}

impl<'de> serde::Deserialize<'de> for Facts<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FactsVisitor)
    }
}

struct FactsVisitor;

impl<'de> Visitor<'de> for FactsVisitor {
    type Value = Facts<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Facts<'de>, A::Error> {
        // A key given twice counts by its last value, as a parsed object keeps it.
        let mut facts = Facts {
            is: Is::Object,
            ..Facts::default()
        };
        while let Some(Key(key)) = map.next_key()? {
            let value: Facts<'de> = map.next_value()?;
            match &*key {
                "jsonrpc" => facts.jsonrpc = value.is == Is::Str(Cow::Borrowed("2.0")),
                "type" => {
                    facts.type_str = match value.is {
                        Is::Str(t) => Some(t),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Facts<'de>, A::Error> {
        let (mut n, mut all_jsonrpc, mut hello) = (0usize, true, true);
        while let Some(e) = seq.next_element::<Facts<'de>>()? {
            all_jsonrpc &= e.jsonrpc;
            hello &= match n {
                0 => e.is == Is::One,
                1 => matches!(e.is, Is::Str(_)),
                2 => e.is == Is::Object,
                _ => true,
            };
            n += 1;
        }
        Ok(Facts {
            jsonrpc: n > 0 && all_jsonrpc,
            wamp_hello: hello && n >= 3,
            ..Facts::default()
        })
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Facts<'de>, E> {
        Ok(Facts {
            is: Is::Str(Cow::Borrowed(v)),
            ..Facts::default()
        })
    }
    fn visit_str<E>(self, v: &str) -> Result<Facts<'de>, E> {
        Ok(Facts {
            is: Is::Str(Cow::Owned(v.to_owned())),
            ..Facts::default()
        })
    }
    fn visit_u64<E>(self, v: u64) -> Result<Facts<'de>, E> {
        Ok(Facts {
            is: if v == 1 { Is::One } else { Is::Other },
            ..Facts::default()
        })
    }
    fn visit_i64<E>(self, _: i64) -> Result<Facts<'de>, E> {
        Ok(Facts::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Facts<'de>, E> {
        Ok(Facts::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<Facts<'de>, E> {
        Ok(Facts::default())
    }
    fn visit_unit<E>(self) -> Result<Facts<'de>, E> {
        Ok(Facts::default())
    }
}

/// A SignalR JSON record: an object with a numeric `type`, or the handshake.
fn is_signalr_record(v: &Value) -> bool {
    v.get("type")
        .and_then(Value::as_u64)
        .is_some_and(|t| (1..=9).contains(&t))
        || (v.get("protocol").and_then(Value::as_str).is_some() && v.get("version").is_some())
}

type Guess = (SubProtocol, String, Option<u8>);

/// The protocol the first message's content shows, with the reason.
pub fn by_content(m: &Message<'_>) -> Option<Guess> {
    let b = m.payload;
    if m.binary {
        return is_mqtt_connect(b).then(|| {
            (
                SubProtocol::Mqtt,
                "content: an MQTT CONNECT packet".to_string(),
                None,
            )
        });
    }
    let text = std::str::from_utf8(b).ok()?;
    if let Some(body) = text.strip_suffix('\u{1e}') {
        let all = body
            .split('\u{1e}')
            .all(|r| serde_json::from_str::<Value>(r).is_ok_and(|v| is_signalr_record(&v)));
        if all {
            return Some((
                SubProtocol::SignalR,
                "content: JSON records terminated by 0x1E (SignalR)".into(),
                None,
            ));
        }
    }
    if let Some(open) = text.strip_prefix('0')
        && let Ok(v) = serde_json::from_str::<Value>(open)
        && v.get("sid").is_some()
        && v.get("pingInterval").is_some()
    {
        let v4 = v.get("maxPayload").is_some();
        return Some((
            SubProtocol::SocketIo,
            format!(
                "content: an Engine.IO open packet ({})",
                if v4 {
                    "maxPayload: version 4"
                } else {
                    "no maxPayload: version 3"
                }
            ),
            Some(if v4 { 4 } else { 3 }),
        ));
    }
    if is_stomp_frame(text) {
        return Some((SubProtocol::Stomp, "content: a STOMP frame".into(), None));
    }
    // Most chat text cannot begin a JSON value: it is passed over without an error built.
    if !super::json::may_be_json(text) {
        return None;
    }
    let v: Facts<'_> = serde_json::from_str(text).ok()?;
    if v.jsonrpc {
        return Some((
            SubProtocol::JsonRpc,
            "content: JSON-RPC 2.0 objects".into(),
            None,
        ));
    }
    match v.type_str.as_deref() {
        Some("subscribe" | "next") => {
            return Some((
                SubProtocol::GraphqlTransportWs,
                "content: a graphql-transport-ws message".into(),
                None,
            ));
        }
        Some("start" | "data" | "ka") => {
            return Some((
                SubProtocol::GraphqlWs,
                "content: a graphql-ws (subscriptions-transport-ws) message".into(),
                None,
            ));
        }
        Some("connection_init") => {
            return Some((
                SubProtocol::GraphqlTransportWs,
                "content: connection_init without a subprotocol (graphql-transport-ws assumed)"
                    .into(),
                None,
            ));
        }
        _ => {}
    }
    if v.wamp_hello {
        return Some((SubProtocol::Wamp, "content: a WAMP HELLO".into(), None));
    }
    Some((
        SubProtocol::Json,
        "content: JSON with no known protocol".into(),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::Dir;
    use crate::time::Timestamp;

    fn text(s: &str) -> Message<'_> {
        Message {
            dir: Dir::C2S,
            ts: Timestamp::ZERO,
            frame: 1,
            binary: false,
            payload: s.as_bytes(),
            len: s.len() as u64,
        }
    }

    fn chosen(v: Verdict) -> Selection {
        match v {
            Verdict::Chosen(s) => s,
            other => panic!("not chosen: {other:?}"),
        }
    }

    #[test]
    fn negotiated_names() {
        for (name, p) in [
            ("mqtt", SubProtocol::Mqtt),
            ("v12.stomp", SubProtocol::Stomp),
            ("v10.stomp", SubProtocol::Stomp),
            ("STOMP", SubProtocol::Stomp),
            ("graphql-ws", SubProtocol::GraphqlWs),
            ("graphql-transport-ws", SubProtocol::GraphqlTransportWs),
            ("wamp.2.json", SubProtocol::Wamp),
            ("jsonrpc-2.0", SubProtocol::JsonRpc),
            ("json-rpc", SubProtocol::JsonRpc),
        ] {
            let info = ConnInfo {
                subprotocol: Some(name),
                ..Default::default()
            };
            let s = chosen(select(&info, &DecodeAs::default(), None));
            assert_eq!((s.protocol, s.basis), (p, Basis::Subprotocol), "{name}");
            assert_eq!(s.reason, format!("Sec-WebSocket-Protocol: {name}"));
        }
        let info = ConnInfo {
            subprotocol: Some("wamp.2.msgpack"),
            ..Default::default()
        };
        assert!(matches!(
            select(&info, &DecodeAs::default(), None),
            Verdict::Off(_)
        ));
        let info = ConnInfo {
            subprotocol: Some("chat.v1"),
            ..Default::default()
        };
        assert_eq!(select(&info, &DecodeAs::default(), None), Verdict::Pending);
    }

    #[test]
    fn decode_as_syntax_and_precedence() {
        let rules = DecodeAs::parse(&[
            "json",
            "port:8000-8100=mqtt",
            "flow:3=stomp",
            "port:9000=none",
        ])
        .unwrap();
        let at = |flow, port| ConnInfo {
            flow,
            client_port: 50000,
            server_port: port,
            ..Default::default()
        };
        let p = |i: &ConnInfo| select(i, &rules, None);
        assert_eq!(chosen(p(&at(1, 80))).protocol, SubProtocol::Json);
        assert_eq!(chosen(p(&at(1, 8080))).protocol, SubProtocol::Mqtt);
        let s = chosen(p(&at(3, 8080)));
        assert_eq!((s.protocol, s.basis), (SubProtocol::Stomp, Basis::DecodeAs));
        assert_eq!(s.reason, "--decode-as flow:3=stomp");
        assert_eq!(
            p(&at(2, 9000)),
            Verdict::Off("--decode-as port:9000=none".into())
        );
        // A negotiated name outranks a rule.
        let mut i = at(3, 8080);
        i.subprotocol = Some("mqtt");
        assert_eq!(chosen(select(&i, &rules, None)).basis, Basis::Subprotocol);
        // The last of equals wins.
        let rules = DecodeAs::parse(&["json", "stomp"]).unwrap();
        assert_eq!(
            chosen(select(&at(1, 80), &rules, None)).protocol,
            SubProtocol::Stomp
        );
    }

    #[test]
    fn decode_as_errors_name_what_is_accepted() {
        let e = "port:x=mqtt".parse::<Rule>().unwrap_err();
        assert!(e.0.contains("port:N"), "{e}");
        let e = "port:90-80=mqtt".parse::<Rule>().unwrap_err();
        assert!(e.0.contains("port:N-M"), "{e}");
        let e = "flow:1=mqtx".parse::<Rule>().unwrap_err();
        assert!(e.0.contains("socket.io") && e.0.contains("none"), "{e}");
        assert_eq!(
            "port:8080 = socketio".parse::<Rule>().unwrap().protocol,
            Some(SubProtocol::SocketIo)
        );
    }

    #[test]
    fn socketio_by_url() {
        assert_eq!(
            engineio_from_target("/socket.io/?EIO=4&transport=websocket"),
            Some(4)
        );
        assert_eq!(
            engineio_from_target("/socket.io/?EIO=3&transport=websocket&sid=x"),
            Some(3)
        );
        assert_eq!(engineio_from_target("/custom/?EIO=4"), Some(4));
        assert_eq!(engineio_from_target("/socket.io/"), Some(0));
        assert_eq!(engineio_from_target("/chat"), None);
        let info = ConnInfo {
            target: Some("/socket.io/?EIO=3&transport=websocket"),
            subprotocol: Some("chat.v1"),
            ..Default::default()
        };
        let s = chosen(select(&info, &DecodeAs::default(), None));
        assert_eq!(
            (s.protocol, s.basis, s.engineio),
            (SubProtocol::SocketIo, Basis::Url, Some(3))
        );
    }

    /// What the choice read of a value when it parsed it into a `Value` (before [`Facts`]).
    fn facts_of_value(v: &Value) -> (bool, Option<String>, bool) {
        fn is_jsonrpc(v: &Value) -> bool {
            match v {
                Value::Object(m) => m.get("jsonrpc").and_then(Value::as_str) == Some("2.0"),
                Value::Array(a) => !a.is_empty() && a.iter().all(is_jsonrpc),
                _ => false,
            }
        }
        let wamp = matches!(v, Value::Array(a)
            if a.first().and_then(Value::as_u64) == Some(1)
                && a.get(1).is_some_and(Value::is_string)
                && a.get(2).is_some_and(Value::is_object));
        let type_str = v.get("type").and_then(Value::as_str).map(str::to_owned);
        (is_jsonrpc(v), type_str, wamp)
    }

    /// JSON text of the shapes the choice tells apart, with keys given twice or escaped,
    /// numbers out of range, lone surrogates, and text cut short.
    fn sniffable() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec!["jsonrpc", "type", "js\\u006fnrpc", "x"]);
        let value = prop::sample::select(vec![
            "\"2.0\"",
            "\"next\"",
            "\"start\"",
            "\"ka\"",
            "1",
            "2.0",
            "[]",
            "{}",
            "null",
            "\"\\ud800\"",
            "1e999",
            "[{\"jsonrpc\":\"2.0\"}]",
        ]);
        let object = prop::collection::vec((key, value), 0..5).prop_map(|members| {
            let members: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", members.join(","))
        });
        let element = prop_oneof![
            object.clone(),
            prop::sample::select(vec!["1", "\"realm\"", "{}", "-1", "1.0", "[]", "1e999"])
                .prop_map(str::to_owned),
        ];
        let array = prop::collection::vec(element.clone(), 0..5)
            .prop_map(|elements| format!("[{}]", elements.join(",")));
        // A WAMP HELLO's start, then anything.
        let hello = prop::collection::vec(element, 0..3).prop_map(|rest| {
            let rest: String = rest.iter().map(|e| format!(",{e}")).collect();
            format!("[1,\"realm\"{rest}]")
        });
        (
            prop_oneof![
                object,
                hello,
                array.clone(),
                array.prop_map(|a| format!("[{a}]"))
            ],
            0..3usize,
        )
            .prop_map(|(text, cut)| text[..text.len() - cut.min(text.len())].to_string())
    }

    proptest::proptest! {
        /// The facts read while parsing are those of the parsed value, and the same texts are
        /// turned away.
        #[test]
        fn facts_are_those_of_the_parsed_value(text in sniffable()) {
            let want = serde_json::from_str::<Value>(&text).map(|v| facts_of_value(&v));
            let got = serde_json::from_str::<Facts<'_>>(&text)
                .map(|f| (f.jsonrpc, f.type_str.map(Cow::into_owned), f.wamp_hello));
            proptest::prop_assert_eq!(got.ok(), want.ok(), "{}", text);
        }
    }

    #[test]
    fn by_content_of_the_first_message() {
        let info = ConnInfo::default();
        let none = DecodeAs::default();
        let pick = |m: Message<'_>| chosen(select(&info, &none, Some(&m)));
        assert_eq!(
            pick(text("{\"protocol\":\"json\",\"version\":1}\u{1e}")).protocol,
            SubProtocol::SignalR
        );
        let s = pick(text(
            r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#,
        ));
        assert_eq!((s.protocol, s.engineio), (SubProtocol::SocketIo, Some(4)));
        assert_eq!(
            pick(text("CONNECT\naccept-version:1.2\nhost:x\n\n\0")).protocol,
            SubProtocol::Stomp
        );
        assert_eq!(
            pick(text(
                r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#
            ))
            .protocol,
            SubProtocol::JsonRpc
        );
        assert_eq!(
            pick(text(
                r#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b","id":2}]"#
            ))
            .protocol,
            SubProtocol::JsonRpc
        );
        assert_eq!(
            pick(text(r#"{"type":"start","id":"1","payload":{}}"#)).protocol,
            SubProtocol::GraphqlWs
        );
        assert_eq!(
            pick(text(
                r#"{"type":"subscribe","id":"1","payload":{"query":"{a}"}}"#
            ))
            .protocol,
            SubProtocol::GraphqlTransportWs
        );
        assert_eq!(
            pick(text(r#"[1,"somerealm",{"roles":{"publisher":{}}}]"#)).protocol,
            SubProtocol::Wamp
        );
        assert_eq!(
            pick(text(r#"{"hello":"world"}"#)).protocol,
            SubProtocol::Json
        );
        let connect = [
            0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c,
        ];
        let mut m = text("");
        m.payload = &connect;
        m.len = connect.len() as u64;
        m.binary = true;
        assert_eq!(pick(m).protocol, SubProtocol::Mqtt);
        // Nothing recognisable: ask again.
        assert_eq!(select(&info, &none, Some(&text("hello"))), Verdict::Pending);
        m.payload = b"\x00\x01\x02";
        m.len = 3;
        assert_eq!(select(&info, &none, Some(&m)), Verdict::Pending);
    }

    #[test]
    fn selection_serializes_for_the_flow_record() {
        let s = Selection {
            protocol: SubProtocol::Mqtt,
            basis: Basis::Subprotocol,
            reason: "Sec-WebSocket-Protocol: mqtt".into(),
            engineio: None,
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"protocol": "mqtt", "basis": "subprotocol", "reason": "Sec-WebSocket-Protocol: mqtt"})
        );
    }
}
