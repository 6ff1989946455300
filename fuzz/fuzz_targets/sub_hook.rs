//! Fuzz target for the sub-protocol decoding of a WebSocket connection as the analysis runs it:
//! arbitrary bytes, split into the two directions in chunks of arbitrary sizes with occasional
//! gaps, fed to a `WsConn` with its sub-protocol hook, the protocol named by the first byte (a
//! negotiated subprotocol, a `--decode-as` rule, or none: chosen by content). It must never
//! panic, and the records it hands on must serialize.
//!
//! Input layout: byte 0 selects the setup (bits 0-3: the protocol, index into `PROTOCOLS`, or
//! content detection past its end; bit 4: named by the handshake rather than a rule; bit 5: a
//! small `--max-message`). Then records as in the `websocket` target: a control byte `c` (bit 0:
//! direction, bit 1: gap of `(c >> 2) * 37 + 1` bytes instead of data, else `(c >> 2) + 1` data
//! bytes follow).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::config::{Config, Limits};
use sockscope::model::{Event, EventCtx, EventSink, Handshake, Json, JsonCx, Layers, Record};
use sockscope::report::json_writer::push_json;
use sockscope::proto::dissect::{Registry, Solo};
use sockscope::proto::sub::DecodeAs;
use sockscope::proto::sub::dissect::Opening;
use sockscope::proto::websocket::WsConn;
use sockscope::tcp::{Dir, FlowMeta, PacketRef, RoleBasis};
use sockscope::time::Timestamp;

const PROTOCOLS: [&str; 9] = [
    "json",
    "socket.io",
    "stomp",
    "mqtt",
    "graphql-ws",
    "graphql-transport-ws",
    "signalr",
    "json-rpc",
    "wamp",
];
const SUBPROTOCOLS: [&str; 9] = [
    "json",
    "x-socketio",
    "v12.stomp",
    "mqtt",
    "graphql-ws",
    "graphql-transport-ws",
    "x-signalr",
    "jsonrpc-2.0",
    "wamp.2.json",
];

struct JsonSink(u64);

impl EventSink for JsonSink {
    fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
        if let Event::Record(record) = event {
            let cx = JsonCx {
                flow: Some(1),
                frame: None,
                preview_chars: 32,
                layers: Layers::default(),
            };
            let json = Json { record: &record, cx };
            let line = serde_json::to_string(&json).expect("serializes");
            // The `--json` writer's line reads back as the same value as serde_json's.
            let mut ours = Vec::new();
            push_json(&mut ours, &json).expect("writes");
            let theirs: serde_json::Value = serde_json::from_str(&line).expect("parses");
            let read: serde_json::Value = serde_json::from_slice(&ours).expect("parses");
            assert_eq!(read, theirs);
            self.0 += line.len() as u64;
            if let Record::WsMessage(m) = record {
                for u in m.sub {
                    self.0 += u.summary(40).len() as u64 + u.detail().children.len() as u64;
                }
            }
        }
    }
}

fn meta() -> FlowMeta {
    FlowMeta::new(
        1,
        std::net::SocketAddr::from(([10, 0, 0, 1], 50000)),
        std::net::SocketAddr::from(([10, 0, 0, 2], 80)),
        RoleBasis::Syn,
        Timestamp::ZERO,
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let which = usize::from(setup & 15);
    let by_handshake = setup & 16 != 0;
    let limits = Limits {
        max_message_buffer: if setup & 32 != 0 { 64 } else { 64 << 10 },
        ..Limits::default()
    };
    let handshake = Handshake {
        subprotocol: SUBPROTOCOLS
            .get(which)
            .filter(|_| by_handshake)
            .map(|s| s.to_string()),
        ..Handshake::default()
    };
    let rules: Vec<&str> = PROTOCOLS
        .get(which)
        .filter(|_| !by_handshake)
        .into_iter()
        .copied()
        .collect();
    let rules = DecodeAs::parse(&rules).expect("known names");
    let mut solo = Solo::new(meta(), Config::default(), Registry::default());
    let mut sink = JsonSink(0);
    let opening = Opening {
        subprotocol: handshake.subprotocol.as_deref(),
        target: Some("/socket.io/?EIO=4&transport=websocket").filter(|_| which == 1),
    };
    let mut conn = WsConn::new(Some(&handshake), &limits, 128).with_sub(
        &mut solo.cx(None, &mut sink),
        &rules,
        Some(opening),
        &limits,
    );
    let mut packet = 0u64;
    while let Some((&c, tail)) = rest.split_first() {
        packet += 1;
        let pkt = Some(PacketRef::new(packet, Timestamp(packet as i64 * 1000)));
        let cx = &mut solo.cx(pkt, &mut sink);
        let dir = if c & 1 == 0 { Dir::C2S } else { Dir::S2C };
        if c & 2 != 0 {
            conn.gap(dir, u64::from(c >> 2) * 37 + 1, cx);
            rest = tail;
        } else {
            let n = (usize::from(c >> 2) + 1).min(tail.len());
            let (chunk, after) = tail.split_at(n);
            conn.feed(dir, chunk, cx);
            rest = after;
        }
        let _ = conn.held();
    }
    conn.finish(&mut solo.cx(None, &mut sink));
});
