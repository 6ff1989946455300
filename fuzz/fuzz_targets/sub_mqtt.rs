//! Fuzz target for the MQTT-over-WebSocket decoder: arbitrary bytes cut into messages of both
//! directions, some text, some kept only in part, with losses between them, fed to a
//! [`SubConn`] decoding MQTT. It must never panic, its buffers must stay within the cap, and
//! every record must serialize and render.
//!
//! Input layout: byte 0 selects the reassembly cap (bits 0-1: 16, 64, 1024 or 256 KiB bytes).
//! Then records: a control byte `c` (bit 0: direction, bit 1: a text message, bit 2: only the
//! first half of the message was kept, bit 3: bytes were lost before it), then
//! `(c >> 4) * 9 + 1` bytes of message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::proto::sub::{Basis, Message, Selection, SubConn, SubLimits, SubProtocol};
use sockscope::tcp::Dir;
use sockscope::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let cap = [16, 64, 1024, 256 << 10][usize::from(setup & 3)];
    let limits = SubLimits {
        max_mqtt_packet: cap,
        max_pending_requests: 8,
        max_latency_names: 4,
    };
    let selection = Selection {
        protocol: SubProtocol::Mqtt,
        basis: Basis::DecodeAs,
        reason: "fuzz".into(),
        engineio: None,
    };
    let mut conn = SubConn::new(selection, limits);
    let mut frame = 0u64;
    while let Some((&c, tail)) = rest.split_first() {
        let n = (usize::from(c >> 4) * 9 + 1).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        frame += 1;
        let dir = if c & 1 == 0 { Dir::C2S } else { Dir::S2C };
        let ts = Timestamp(frame as i64 * 1000);
        if c & 8 != 0 {
            let out = conn.gap(dir, ts, frame);
            assert!(out.items.is_empty());
        }
        let kept = if c & 4 != 0 { &bytes[..bytes.len() / 2] } else { bytes };
        let msg = Message {
            dir,
            ts,
            frame,
            binary: c & 2 == 0,
            payload: kept,
            len: bytes.len() as u64,
        };
        let out = conn.message(&msg);
        for item in &out.items {
            let _ = item.record.to_json();
            let _ = item.record.summary_at(40);
            let mut text = String::new();
            item.record.details().render(0, &mut text);
        }
        // At most a fixed header's 5 bytes beyond the cap are ever held per direction.
        assert!(conn.held_bytes() < 2 * (cap + 5) + 64 * 1024, "{}", conn.held_bytes());
    }
    let _ = conn.finish(Timestamp(0), frame);
    let _ = conn.latency().records(1, SubProtocol::Mqtt);
});
