//! Fuzz target for the WebSocket decoder: arbitrary bytes, split into the two directions in
//! chunks of arbitrary sizes with occasional gaps, fed to `WsConn` with or without a
//! permessage-deflate handshake (and mid-stream). It must never panic.
//!
//! Input layout: byte 0 selects the setup (bit 0: handshake known, bit 1: permessage-deflate,
//! bit 2: server_no_context_takeover, bit 3: client_no_context_takeover, bits 4-5: preview
//! size, bit 6: an inflater budget of one). Then records: a control byte `c` (bit 0: direction,
//! bit 1: gap of `(c >> 2) * 37 + 1` bytes instead of data, else `(c >> 2) + 1` data bytes
//! follow).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::config::{Config, Limits};
use sockscope::proto::websocket::{InflaterBudget, WsConn, detect, sniff_frames};
use sockscope::model::{DeflateParams, Event, EventCtx, EventSink, Handshake, Record};
use sockscope::proto::dissect::{Registry, Solo};
use sockscope::tcp::{Dir, FlowMeta, PacketRef, RoleBasis};
use sockscope::time::Timestamp;

struct CountingSink(u64);

impl EventSink for CountingSink {
    fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
        // Touch what printers would read, so borrowed slices are exercised.
        self.0 += match event {
            Event::Record(Record::WsFrame(f)) => f.payload_head.len() as u64 + f.header.len() as u64,
            Event::Record(Record::WsMessage(m)) => m.data_head.len() as u64,
            Event::Record(Record::Anomaly(a)) => a.detail.len() as u64,
            _ => 1,
        };
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
    let _ = sniff_frames(rest);
    let _ = detect::evidence(rest, setup & 1 != 0);
    let handshake = Handshake {
        deflate: (setup & 2 != 0).then_some(DeflateParams {
            server_no_context_takeover: setup & 4 != 0,
            client_no_context_takeover: setup & 8 != 0,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }),
        ..Handshake::default()
    };
    let limits = Limits {
        max_inflated_message: 1 << 16,
        ..Limits::default()
    };
    let preview = [0, 16, 200, 1 << 20][usize::from((setup >> 4) & 3)];
    let mut conn = WsConn::new((setup & 1 != 0).then_some(&handshake), &limits, preview);
    if setup & 64 != 0 {
        conn = conn.with_inflater_budget(InflaterBudget::new(1));
    }
    let mut solo = Solo::new(meta(), Config::default(), Registry::default());
    let mut sink = CountingSink(0);
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
    }
    conn.finish(&mut solo.cx(None, &mut sink));
    let _ = conn.ping_rtts().len();
});
