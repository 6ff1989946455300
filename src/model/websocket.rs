//! WebSocket records: the opening handshake as both sides performed it, every frame, and every
//! data message after reassembly and inflation, each with its JSON form and the fields a display
//! filter tests (`ws.*`, `ws.handshake.*`).

use crate::filter::fields::OPCODE_NAMES;
use crate::filter::{Each, FieldId, OwnFields, RecordType, Value, one};
use crate::model::http::text_prefix;
use crate::model::json::{JsonCx, JsonLine, Plain, ToJson, line_head, ts_secs};
use crate::model::payload::{Digest, HexBuf, Preview, hex_piece, lossy, preview};
use crate::model::sub::{SubChoice, SubUnit, sub_values, write_units};
use crate::tcp::Dir;
use crate::time::Timestamp;
use serde::ser::{SerializeStruct, Serializer};
use std::ops::ControlFlow;

/// permessage-deflate parameters agreed in the 101 response (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}

/// The WebSocket opening handshake as both sides performed it.
#[derive(Clone, Debug, Default)]
pub struct Handshake {
    pub ts: Timestamp,
    pub key: Option<String>,
    pub accept: Option<String>,
    pub expected_accept: Option<String>,
    pub accept_valid: bool,
    pub version: Option<String>,
    pub subprotocol: Option<String>,
    pub extensions: Vec<String>,
    pub deflate: Option<DeflateParams>,
    pub origin: Option<String>,
    /// Start line + headers + blank line of the upgrade request and of the 101 response.
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// RFC 6455 opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    Reserved(u8),
}

impl OpCode {
    pub fn from_u8(n: u8) -> OpCode {
        match n & 0x0f {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            n => OpCode::Reserved(n),
        }
    }
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
            OpCode::Reserved(n) => n,
        }
    }
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
    /// The contract's name: `continuation`, `text`, ..., `reserved-N`.
    pub fn name(self) -> &'static str {
        OPCODE_NAMES[usize::from(self.as_u8() & 0x0f)]
    }
}

/// One WebSocket frame, emitted when its last byte arrived.
#[derive(Clone, Copy, Debug)]
pub struct WsFrame<'a> {
    pub dir: Dir,
    pub ts: Timestamp,
    /// Packet in which the frame's first byte arrived.
    pub first_frame: u64,
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// The raw header bytes (2–14).
    pub header: &'a [u8],
    /// The first bytes of the payload, unmasked (up to the display cap).
    pub payload_head: &'a [u8],
    /// Close frames: code (if ≥ 2 bytes) and reason bytes.
    pub close_code: Option<u16>,
    pub close_reason: Option<&'a [u8]>,
    /// permessage-deflate was negotiated in the handshake: RSV1 marks a compressed message.
    pub deflate: bool,
}

/// A complete WebSocket data message (text or binary), after reassembly and inflation.
#[derive(Clone, Copy, Debug)]
pub struct WsMessage<'a> {
    pub dir: Dir,
    pub ts: Timestamp,
    pub opcode: OpCode,
    pub frames: u32,
    /// Payload bytes on the wire (compressed if deflated).
    pub wire_len: u64,
    /// Message length after inflation.
    pub len: u64,
    pub compressed: bool,
    /// Text messages: whether the whole message is UTF-8. Binary: `None`.
    pub valid_utf8: Option<bool>,
    /// The first bytes of the (inflated) message, up to the display cap.
    pub data_head: &'a [u8],
    /// SHA-256 of the whole unmasked, inflated message, with `--digest`.
    pub digest: Digest,
    /// What the message meant to the connection's sub-protocol (empty when none is decoded,
    /// or a unit of it is still incomplete).
    pub sub: &'a [SubUnit],
    /// On the first message decoded (or looked at) under a sub-protocol choice: the choice,
    /// for `-V`.
    pub sub_choice: Option<&'a SubChoice>,
}

impl ToJson for Handshake {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("handshake", 13)?;
        r.serialize_field("type", &Plain::name("handshake"))?;
        r.serialize_field("flow", &cx.flow)?;
        r.serialize_field("ts", &ts_secs(self.ts))?;
        r.serialize_field("frame", &cx.frame)?;
        r.serialize_field("key", &self.key)?;
        r.serialize_field("accept", &self.accept)?;
        r.serialize_field("expected_accept", &self.expected_accept)?;
        r.serialize_field("accept_valid", &self.accept_valid)?;
        r.serialize_field("version", &self.version)?;
        r.serialize_field("subprotocol", &self.subprotocol)?;
        r.serialize_field("extensions", &self.extensions)?;
        r.serialize_field("deflate", &self.deflate.is_some())?;
        r.serialize_field("origin", &self.origin)?;
        cx.layers.write(&mut r)?;
        r.end()
    }

    /// Every handshake of a flow, in runs of the program's own text: `to_json`'s fields.
    fn to_json_line<L: JsonLine>(&self, cx: &JsonCx, line: &mut L) -> Result<bool, L::Error> {
        let (Some(flow), Some(frame)) = (cx.flow, cx.frame) else {
            return Ok(false);
        };
        line.count("{\"type\":\"handshake\",\"flow\":", flow);
        line.raw(",\"ts\":");
        line.ts(self.ts);
        line.count(",\"frame\":", frame);
        line.text_or_null(",\"key\":", self.key.as_deref());
        line.text_or_null(",\"accept\":", self.accept.as_deref());
        line.text_or_null(",\"expected_accept\":", self.expected_accept.as_deref());
        line.raw(if self.accept_valid {
            ",\"accept_valid\":true"
        } else {
            ",\"accept_valid\":false"
        });
        line.text_or_null(",\"version\":", self.version.as_deref());
        line.text_or_null(",\"subprotocol\":", self.subprotocol.as_deref());
        line.raw(",\"extensions\":[");
        for (i, e) in self.extensions.iter().enumerate() {
            if i > 0 {
                line.raw(",");
            }
            line.text(e);
        }
        line.raw(if self.deflate.is_some() {
            "],\"deflate\":true"
        } else {
            "],\"deflate\":false"
        });
        line.text_or_null(",\"origin\":", self.origin.as_deref());
        let mut r = line.fields();
        cx.layers.write(&mut r)?;
        r.end()?;
        Ok(true)
    }
}

impl WsFrame<'_> {
    /// The frame's `preview`: its payload's first bytes (a close frame's reason), as text when
    /// the frame carries text that is not compressed.
    fn preview(&self, preview_chars: usize) -> Preview<'_> {
        let text = matches!(self.opcode, OpCode::Text | OpCode::Close)
            || (self.opcode == OpCode::Continuation
                && std::str::from_utf8(self.payload_head).is_ok());
        let (body, total) = if self.opcode == OpCode::Close {
            let code_len = if self.close_code.is_some() { 2 } else { 0 };
            (
                self.close_reason.unwrap_or_default(),
                self.payload_len.saturating_sub(code_len),
            )
        } else {
            (self.payload_head, self.payload_len)
        };
        preview(body, total, text && !self.rsv1, preview_chars)
    }

    /// The fields after `close_reason`.
    fn json_tail<S: SerializeStruct>(&self, cx: &JsonCx, r: &mut S) -> Result<(), S::Error> {
        self.preview(cx.preview_chars).write(r)?;
        cx.layers.write(r)
    }
}

impl ToJson for WsFrame<'_> {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        let mut mask_hex = HexBuf::default();
        let mask = self.mask.as_ref().map(|m| Plain::hex(m, &mut mask_hex));
        let mut r = s.serialize_struct("ws_frame", 20)?;
        r.serialize_field("type", &Plain::name("ws_frame"))?;
        r.serialize_field("flow", &cx.flow)?;
        r.serialize_field("dir", &Plain::name(self.dir.as_str()))?;
        r.serialize_field("ts", &ts_secs(self.ts))?;
        r.serialize_field("frame", &cx.frame)?;
        r.serialize_field("fin", &self.fin)?;
        r.serialize_field("rsv1", &self.rsv1)?;
        r.serialize_field("rsv2", &self.rsv2)?;
        r.serialize_field("rsv3", &self.rsv3)?;
        r.serialize_field("opcode", &Plain::name(self.opcode.name()))?;
        r.serialize_field("opcode_num", &self.opcode.as_u8())?;
        r.serialize_field("masked", &self.mask.is_some())?;
        r.serialize_field("mask", &mask)?;
        r.serialize_field("payload_len", &self.payload_len)?;
        r.serialize_field("header_len", &self.header.len())?;
        r.serialize_field("close_code", &self.close_code)?;
        r.serialize_field(
            "close_reason",
            &self.close_reason.map(String::from_utf8_lossy),
        )?;
        self.json_tail(cx, &mut r)?;
        r.end()
    }

    /// Every frame, in runs of the program's own text: `to_json`'s fields.
    fn to_json_line<L: JsonLine>(&self, cx: &JsonCx, line: &mut L) -> Result<bool, L::Error> {
        let (Some(flow), Some(frame)) = (cx.flow, cx.frame) else {
            return Ok(false);
        };
        let head = "{\"type\":\"ws_frame\",\"flow\":";
        line_head(line, head, [flow, frame], self.dir, self.ts);
        line.raw(match (self.fin, self.rsv1) {
            (true, false) => ",\"fin\":true,\"rsv1\":false",
            (true, true) => ",\"fin\":true,\"rsv1\":true",
            (false, false) => ",\"fin\":false,\"rsv1\":false",
            (false, true) => ",\"fin\":false,\"rsv1\":true",
        });
        line.raw(match (self.rsv2, self.rsv3) {
            (false, false) => ",\"rsv2\":false,\"rsv3\":false,\"opcode\":",
            (false, true) => ",\"rsv2\":false,\"rsv3\":true,\"opcode\":",
            (true, false) => ",\"rsv2\":true,\"rsv3\":false,\"opcode\":",
            (true, true) => ",\"rsv2\":true,\"rsv3\":true,\"opcode\":",
        });
        line.plain(self.opcode.name());
        line.count(",\"opcode_num\":", self.opcode.as_u8().into());
        match &self.mask {
            Some(m) => {
                line.raw(",\"masked\":true,\"mask\":");
                line.plain(hex_piece(m, &mut HexBuf::default()));
            }
            None => line.raw(",\"masked\":false,\"mask\":null"),
        }
        line.count(",\"payload_len\":", self.payload_len);
        line.count(",\"header_len\":", self.header.len() as u64);
        match self.close_code {
            Some(code) => {
                line.count(",\"close_code\":", code.into());
            }
            None => line.raw(",\"close_code\":null"),
        }
        match self.close_reason {
            Some(reason) => {
                line.raw(",\"close_reason\":");
                line.text(&lossy(reason));
            }
            None => line.raw(",\"close_reason\":null"),
        }
        let mut r = line.fields();
        self.json_tail(cx, &mut r)?;
        r.end()?;
        Ok(true)
    }
}

impl WsMessage<'_> {
    /// The fields after `valid_utf8`.
    fn json_tail<S: SerializeStruct>(&self, cx: &JsonCx, r: &mut S) -> Result<(), S::Error> {
        preview(
            self.data_head,
            self.len,
            self.opcode == OpCode::Text,
            cx.preview_chars,
        )
        .write(r)?;
        if let Some(sha256) = self.digest.json_field() {
            r.serialize_field("sha256", &sha256)?;
        }
        write_units(r, self.sub)?;
        cx.layers.write(r)
    }
}

impl ToJson for WsMessage<'_> {
    fn to_json<S: Serializer>(&self, cx: &JsonCx, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("ws_message", 15)?;
        r.serialize_field("type", &Plain::name("ws_message"))?;
        r.serialize_field("flow", &cx.flow)?;
        r.serialize_field("dir", &Plain::name(self.dir.as_str()))?;
        r.serialize_field("ts", &ts_secs(self.ts))?;
        r.serialize_field("frame", &cx.frame)?;
        r.serialize_field("opcode", &Plain::name(self.opcode.name()))?;
        r.serialize_field("frames", &self.frames)?;
        r.serialize_field("wire_len", &self.wire_len)?;
        r.serialize_field("len", &self.len)?;
        r.serialize_field("compressed", &self.compressed)?;
        r.serialize_field("valid_utf8", &self.valid_utf8)?;
        self.json_tail(cx, &mut r)?;
        r.end()
    }

    /// Every message, in runs of the program's own text: `to_json`'s fields.
    fn to_json_line<L: JsonLine>(&self, cx: &JsonCx, line: &mut L) -> Result<bool, L::Error> {
        let (Some(flow), Some(frame)) = (cx.flow, cx.frame) else {
            return Ok(false);
        };
        let head = "{\"type\":\"ws_message\",\"flow\":";
        line_head(line, head, [flow, frame], self.dir, self.ts);
        line.raw(",\"opcode\":");
        line.plain(self.opcode.name());
        line.count(",\"frames\":", self.frames.into());
        line.count(",\"wire_len\":", self.wire_len);
        line.count(",\"len\":", self.len);
        line.raw(match (self.compressed, self.valid_utf8) {
            (false, Some(true)) => ",\"compressed\":false,\"valid_utf8\":true",
            (true, Some(true)) => ",\"compressed\":true,\"valid_utf8\":true",
            (false, None) => ",\"compressed\":false,\"valid_utf8\":null",
            (true, None) => ",\"compressed\":true,\"valid_utf8\":null",
            (false, Some(false)) => ",\"compressed\":false,\"valid_utf8\":false",
            (true, Some(false)) => ",\"compressed\":true,\"valid_utf8\":false",
        });
        let mut r = line.fields();
        self.json_tail(cx, &mut r)?;
        r.end()?;
        Ok(true)
    }
}

impl OwnFields for Handshake {
    fn record_type(&self) -> RecordType {
        RecordType::Handshake
    }

    fn own_values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        let text =
            |s: &Option<String>, each: &mut Each<'_>| one(s.as_deref().map(Value::Str), each);
        match field {
            F::FrameTime => each(Value::Time(self.ts)),
            F::Handshake => each(Value::Present),
            F::HandshakeKey => text(&self.key, each),
            F::HandshakeAccept => text(&self.accept, each),
            F::HandshakeExpectedAccept => text(&self.expected_accept, each),
            F::HandshakeAcceptValid => each(Value::Bool(self.accept_valid)),
            F::HandshakeVersion => text(&self.version, each),
            F::HandshakeSubprotocol => text(&self.subprotocol, each),
            F::HandshakeExtensions => {
                for e in &self.extensions {
                    each(Value::Str(e))?;
                }
                ControlFlow::Continue(())
            }
            F::HandshakeDeflate => each(Value::Bool(self.deflate.is_some())),
            F::HandshakeOrigin => text(&self.origin, each),
            _ => ControlFlow::Continue(()),
        }
    }
}

impl OwnFields for WsFrame<'_> {
    fn record_type(&self) -> RecordType {
        RecordType::WsFrame
    }

    fn own_values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        match field {
            F::FrameTime => each(Value::Time(self.ts)),
            F::Dir => each(Value::Sym(self.dir.as_str())),
            F::Ws => each(Value::Present),
            F::WsOpcode => each(Value::Sym(self.opcode.name())),
            F::WsPayload => each(Value::Bytes(self.payload_head)),
            F::WsText => {
                let texty = matches!(self.opcode, OpCode::Text | OpCode::Continuation);
                // A compressed frame's payload is not its text.
                let text = (texty && !self.rsv1).then(|| text_prefix(self.payload_head));
                one(text.flatten().map(Value::Str), each)
            }
            F::WsFin => each(Value::Bool(self.fin)),
            F::WsRsv1 => each(Value::Bool(self.rsv1)),
            F::WsRsv2 => each(Value::Bool(self.rsv2)),
            F::WsRsv3 => each(Value::Bool(self.rsv3)),
            F::WsMasked => each(Value::Bool(self.mask.is_some())),
            F::WsMask => one(self.mask.as_ref().map(|m| Value::Bytes(m)), each),
            F::WsPayloadLen => each(Value::Int(self.payload_len.into())),
            F::WsHeaderLen => each(Value::Int(self.header.len() as i128)),
            F::WsCloseCode => one(self.close_code.map(|c| Value::Int(c.into())), each),
            F::WsCloseReason => one(
                self.close_reason.and_then(text_prefix).map(Value::Str),
                each,
            ),
            _ => ControlFlow::Continue(()),
        }
    }
}

impl OwnFields for WsMessage<'_> {
    fn record_type(&self) -> RecordType {
        RecordType::WsMessage
    }

    fn own_values(
        &self,
        field: FieldId,
        _key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        use FieldId as F;
        match field {
            F::FrameTime => each(Value::Time(self.ts)),
            F::Dir => each(Value::Sym(self.dir.as_str())),
            F::Ws => each(Value::Present),
            F::WsOpcode => each(Value::Sym(self.opcode.name())),
            F::WsPayload => each(Value::Bytes(self.data_head)),
            F::WsText => one(
                (self.opcode == OpCode::Text)
                    .then(|| text_prefix(self.data_head))
                    .flatten()
                    .map(Value::Str),
                each,
            ),
            F::WsMessageFrames => each(Value::Int(self.frames.into())),
            F::WsMessageWireLen => each(Value::Int(self.wire_len.into())),
            F::WsMessageLen => each(Value::Int(self.len.into())),
            F::WsMessageCompressed => each(Value::Bool(self.compressed)),
            F::WsMessageValidUtf8 => one(self.valid_utf8.map(Value::Bool), each),
            _ => sub_values(self.sub, field, each),
        }
    }
}
