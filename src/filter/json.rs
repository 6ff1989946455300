//! A [`FieldSource`] over the records `--json` writes today, one `serde_json::Value` per
//! record, with the context a record does not carry itself (its flow's endpoints and kind) given
//! separately. It lets the catalog be checked against real output of the bundled captures, and
//! `check --forbid` run before the record model exists.
//!
//! It sees what the JSON shows, which is less than the record model will: payload fields
//! (`ws.payload`, `ws.text`, `http.body`, `sse.data`) are the record's `preview`, cut at
//! `--snap-preview` characters, with line ends written `\n` and other control characters
//! `\u{…}`; binary payloads are read back from their hex preview. A continuation frame or an
//! HTTP body whose preview is all hex digits is taken as binary only if those digits do not
//! decode to UTF-8 (the printer shows UTF-8 as text). A close frame's `ws.payload` is its reason.

use super::eval::{FieldSource, Value};
use super::fields::{self, FieldId, RecordType};
use crate::time::Timestamp;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;

/// What a record's flow contributes to it: the fields of "Every record" that the record itself
/// does not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowContext {
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    /// The flow's kind, once known (`websocket`, `sse`, …).
    pub kind: Option<String>,
}

impl FlowContext {
    /// The context a `flow` record gives its flow's other records.
    pub fn of_flow_record(v: &Json) -> FlowContext {
        FlowContext {
            client: v["client"].as_str().and_then(|s| s.parse().ok()),
            server: v["server"].as_str().and_then(|s| s.parse().ok()),
            kind: v["kind"].as_str().map(str::to_string),
        }
    }
}

/// The flows of a whole `--json` output, by id, from their `flow` records.
#[derive(Debug, Default)]
pub struct JsonFlows(HashMap<u64, FlowContext>);

impl JsonFlows {
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a Json>) -> JsonFlows {
        JsonFlows(
            records
                .into_iter()
                .filter(|r| r["type"] == "flow")
                .filter_map(|r| Some((r["id"].as_u64()?, FlowContext::of_flow_record(r))))
                .collect(),
        )
    }

    /// The context of the flow `record` belongs to.
    pub fn context_of(&self, record: &Json) -> Option<&FlowContext> {
        self.0.get(&record["flow"].as_u64()?)
    }
}

/// One JSON record as a filter sees it.
pub struct JsonRecord<'a> {
    v: &'a Json,
    ty: RecordType,
    flow: Option<&'a FlowContext>,
    /// `http`: each header as `Name: value`.
    header_lines: Vec<String>,
    /// The payload read back from the preview, and whether it was shown as text.
    payload: Option<(Vec<u8>, bool)>,
    mask: Option<[u8; 4]>,
}

/// `preview` read back: text as its bytes, hex as the bytes it spells.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|k| u8::from_str_radix(&s[k..k + 2], 16).ok())
        .collect()
}

/// A preview whose form is not known: hex if it spells bytes that are not UTF-8.
fn guess(preview: &str) -> (Vec<u8>, bool) {
    match unhex(preview) {
        Some(b) if !b.is_empty() && std::str::from_utf8(&b).is_err() => (b, false),
        _ => (preview.as_bytes().to_vec(), true),
    }
}

fn known(preview: &str, text: bool) -> (Vec<u8>, bool) {
    if text {
        (preview.as_bytes().to_vec(), true)
    } else {
        (unhex(preview).unwrap_or_default(), false)
    }
}

impl<'a> JsonRecord<'a> {
    /// `None` for records no filter is tested against (`summary`, `check`, …).
    pub fn new(v: &'a Json, flow: Option<&'a FlowContext>) -> Option<JsonRecord<'a>> {
        let ty = RecordType::parse(v["type"].as_str()?)?;
        let preview = v["preview"].as_str().unwrap_or("");
        let opcode = v["opcode"].as_str().unwrap_or("");
        let payload = match ty {
            RecordType::Http => Some(guess(preview)),
            RecordType::WsMessage => Some(known(preview, opcode == "text")),
            RecordType::WsFrame => {
                let compressed = v["rsv1"] == true;
                Some(match opcode {
                    "text" | "close" if !compressed => known(preview, true),
                    "continuation" if !compressed => guess(preview),
                    _ => known(preview, false),
                })
            }
            _ => None,
        };
        let header_lines = match ty {
            RecordType::Http => v["headers"]
                .as_array()
                .map(|hs| {
                    hs.iter()
                        .filter_map(|h| Some(format!("{}: {}", h[0].as_str()?, h[1].as_str()?)))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mask = v["mask"]
            .as_str()
            .and_then(unhex)
            .and_then(|b| <[u8; 4]>::try_from(b).ok());
        Some(JsonRecord {
            v,
            ty,
            flow,
            header_lines,
            payload,
            mask,
        })
    }

    fn str(&self, key: &str) -> Option<&'a str> {
        self.v[key].as_str()
    }

    fn int(&self, key: &str) -> Option<i128> {
        self.v[key].as_u64().map(i128::from)
    }

    fn time(&self, key: &str) -> Option<Timestamp> {
        let secs = self.v[key].as_f64()?;
        Some(Timestamp((secs * 1e6).round() as i64 * 1000))
    }

    fn endpoint(&self, client: bool) -> Option<SocketAddr> {
        let key = if client { "client" } else { "server" };
        match self.ty {
            RecordType::Flow => self.str(key)?.parse().ok(),
            _ => {
                let f = self.flow?;
                if client { f.client } else { f.server }
            }
        }
    }

    /// Values of the headers named `name`, any case.
    fn header<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.v["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(move |h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .filter_map(|h| h[1].as_str())
    }
}

/// Hands every string of `values` to `each`.
fn all<'s>(
    values: impl Iterator<Item = &'s str>,
    each: &mut dyn FnMut(Value<'_>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    for v in values {
        each(Value::Str(v))?;
    }
    ControlFlow::Continue(())
}

impl FieldSource for JsonRecord<'_> {
    fn record_type(&self) -> RecordType {
        self.ty
    }

    fn values(
        &self,
        field: FieldId,
        key: Option<&str>,
        each: &mut dyn FnMut(Value<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        if !fields::def(field).records.contains(self.ty) {
            return ControlFlow::Continue(());
        }
        let mut one = |v: Option<Value<'_>>| match v {
            Some(v) => each(v),
            None => ControlFlow::Continue(()),
        };
        let v = self.v;
        let is_flow = self.ty == RecordType::Flow;
        match field {
            F::RecordKind => one(Some(Value::Sym(self.ty.as_str()))),
            F::FlowId => one(self
                .int(if is_flow { "id" } else { "flow" })
                .map(Value::Int)),
            F::TcpStream => one(self
                .int(if is_flow { "id" } else { "flow" })
                .map(|n| Value::Int(n - 1))),
            F::FlowClient => one(self.endpoint(true).map(|a| Value::Addr(a.ip()))),
            F::FlowServer => one(self.endpoint(false).map(|a| Value::Addr(a.ip()))),
            F::FlowClientPort => one(self.endpoint(true).map(|a| Value::Int(a.port().into()))),
            F::FlowServerPort => one(self.endpoint(false).map(|a| Value::Int(a.port().into()))),
            F::IpAddr => {
                one(self.endpoint(true).map(|a| Value::Addr(a.ip())))?;
                one(self.endpoint(false).map(|a| Value::Addr(a.ip())))
            }
            F::TcpPort => {
                one(self.endpoint(true).map(|a| Value::Int(a.port().into())))?;
                one(self.endpoint(false).map(|a| Value::Int(a.port().into())))
            }
            F::FlowKind => one(if is_flow {
                self.str("kind").map(Value::Sym)
            } else {
                self.flow.and_then(|f| f.kind.as_deref()).map(Value::Sym)
            }),
            F::FrameNumber => one(self.int("frame").map(Value::Int)),
            F::FrameTime => one(self.time("ts").map(Value::Time)),
            F::Dir => one(if self.ty == RecordType::SseEvent {
                Some(Value::Sym("s2c"))
            } else {
                self.str("dir").map(Value::Sym)
            }),
            F::FlowFirstTs => one(self.time("first_ts").map(Value::Time)),
            F::FlowLastTs => one(self.time("last_ts").map(Value::Time)),
            F::FlowDuration => one(self
                .time("first_ts")
                .zip(self.time("last_ts"))
                .map(|(a, b)| Value::Float(b.secs_since(a)))),
            F::FlowPackets => one(self.int("packets").map(Value::Int)),
            F::FlowBytes => one(self
                .int("bytes_c2s")
                .zip(self.int("bytes_s2c"))
                .map(|(a, b)| Value::Int(a + b))),
            F::FlowBytesC2s => one(self.int("bytes_c2s").map(Value::Int)),
            F::FlowBytesS2c => one(self.int("bytes_s2c").map(Value::Int)),
            F::FlowHttpMessages => one(self.int("http_messages").map(Value::Int)),
            F::FlowWsFrames => one(self.int("ws_frames").map(Value::Int)),
            F::FlowWsMessages => one(self.int("ws_messages").map(Value::Int)),
            F::FlowSseEvents => one(self.int("sse_events").map(Value::Int)),
            F::FlowPolling => one(v["polling"].as_bool().map(Value::Bool)),
            F::FlowAnomalies => one(self.int("anomalies").map(Value::Int)),
            F::FlowHandshakeComplete => one(v["handshake_complete"].as_bool().map(Value::Bool)),
            F::FlowClosed => one(self.str("closed").map(Value::Sym)),
            F::FlowEnd => one(self.str("end").map(Value::Sym)),
            F::FlowGaps => one(self.int("gaps").map(Value::Int)),
            F::FlowPingRtt => one(v["ping_rtt_ms"].as_f64().map(Value::Float)),
            F::Http | F::Handshake | F::Ws | F::Sse | F::Anomaly => one(Some(Value::Present)),
            F::HttpRequest => one((self.str("kind") == Some("request")).then_some(Value::Present)),
            F::HttpResponse => {
                one((self.str("kind") == Some("response")).then_some(Value::Present))
            }
            F::HttpMethod => one(self.str("method").map(Value::Str)),
            F::HttpUri => one(self.str("target").map(Value::Str)),
            F::HttpVersion | F::HandshakeVersion => one(self.str("version").map(Value::Str)),
            F::HttpStatus => one(self.int("status").map(Value::Int)),
            F::HttpReason => one(self.str("reason").map(Value::Str)),
            F::HttpHeader => all(self.header_lines.iter().map(String::as_str), each),
            F::HttpHeaderNamed => all(self.header(key.unwrap_or_default()), each),
            F::HttpHost => one(self.header("host").next().map(Value::Str)),
            F::HttpUserAgent => one(self.header("user-agent").next().map(Value::Str)),
            F::HttpContentType => one(self.header("content-type").next().map(Value::Str)),
            F::HttpUpgrade => one(self.str("upgrade").map(Value::Str)),
            F::HttpChunked => one(v["chunked"].as_bool().map(Value::Bool)),
            F::HttpComplete => one(v["complete"].as_bool().map(Value::Bool)),
            F::HttpHeaderBytes => one(self.int("header_bytes").map(Value::Int)),
            F::HttpBodyBytes => one(self.int("body_bytes").map(Value::Int)),
            F::HttpFramingBytes => one(self.int("framing_bytes").map(Value::Int)),
            F::HttpBody | F::WsPayload => one(self.payload.as_ref().map(|(b, _)| Value::Bytes(b))),
            F::HandshakeKey => one(self.str("key").map(Value::Str)),
            F::HandshakeAccept => one(self.str("accept").map(Value::Str)),
            F::HandshakeExpectedAccept => one(self.str("expected_accept").map(Value::Str)),
            F::HandshakeAcceptValid => one(v["accept_valid"].as_bool().map(Value::Bool)),
            F::HandshakeSubprotocol => one(self.str("subprotocol").map(Value::Str)),
            F::HandshakeExtensions => {
                let list = v["extensions"].as_array().into_iter().flatten();
                all(list.filter_map(Json::as_str), each)
            }
            F::HandshakeDeflate => one(v["deflate"].as_bool().map(Value::Bool)),
            F::HandshakeOrigin => one(self.str("origin").map(Value::Str)),
            F::WsOpcode => one(self.str("opcode").map(Value::Sym)),
            F::WsText => {
                let text = self.payload.as_ref().filter(|(_, text)| *text);
                let text_opcode = matches!(self.str("opcode"), Some("text" | "continuation"));
                one(text
                    .filter(|_| text_opcode)
                    .and_then(|(b, _)| std::str::from_utf8(b).ok())
                    .map(Value::Str))
            }
            F::WsFin => one(v["fin"].as_bool().map(Value::Bool)),
            F::WsRsv1 => one(v["rsv1"].as_bool().map(Value::Bool)),
            F::WsRsv2 => one(v["rsv2"].as_bool().map(Value::Bool)),
            F::WsRsv3 => one(v["rsv3"].as_bool().map(Value::Bool)),
            F::WsMasked => one(v["masked"].as_bool().map(Value::Bool)),
            F::WsMask => one(self.mask.as_ref().map(|m| Value::Bytes(m))),
            F::WsPayloadLen => one(self.int("payload_len").map(Value::Int)),
            F::WsHeaderLen => one(self.int("header_len").map(Value::Int)),
            F::WsCloseCode => one(self.int("close_code").map(Value::Int)),
            F::WsCloseReason => one(self.str("close_reason").map(Value::Str)),
            F::WsMessageFrames => one(self.int("frames").map(Value::Int)),
            F::WsMessageWireLen => one(self.int("wire_len").map(Value::Int)),
            F::WsMessageLen => one(self.int("len").map(Value::Int)),
            F::WsMessageCompressed => one(v["compressed"].as_bool().map(Value::Bool)),
            F::WsMessageValidUtf8 => one(v["valid_utf8"].as_bool().map(Value::Bool)),
            F::SseEvent => one(self.str("event").map(Value::Str)),
            F::SseId => one(self.str("id").map(Value::Str)),
            F::SseData => one(self.str("preview").map(Value::Str)),
            F::AnomalyCode => one(self.str("code").map(Value::Sym)),
            F::AnomalySeverity => one(self.str("severity").map(Value::Sym)),
            F::AnomalyDetail => one(self.str("detail").map(Value::Str)),
            // Planned: no JSON record carries them yet.
            F::Tls
            | F::TlsSni
            | F::TlsAlpn
            | F::TlsVersion
            | F::TlsCipher
            | F::TlsResumed
            | F::TlsDecrypted
            | F::Sub
            | F::SubProtocol
            | F::SubType
            | F::SubEvent
            | F::SubMethod
            | F::SubId
            | F::SubTopic
            | F::SubNamespace
            | F::SubOperation
            | F::SubQos
            | F::SubError => ControlFlow::Continue(()),
        }
    }
}
