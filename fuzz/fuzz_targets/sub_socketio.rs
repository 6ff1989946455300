//! Fuzz target for the Engine.IO / Socket.IO decoder: arbitrary messages of both directions,
//! text and binary (attachments and unannounced binary data), Engine.IO 3 or 4, fed to a
//! [`SubConn`]. It must never panic, and every record must serialize and render.
//!
//! Input layout: byte 0 bit 0 selects Engine.IO 3 (else 4). Then records: a control byte `c`
//! (bit 0: direction, bit 1: binary, bit 2: only the first half kept, bit 3: bytes lost before
//! it), then `(c >> 4) * 7 + 1` bytes of message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::proto::sub::{Basis, Message, Selection, SubConn, SubLimits, SubProtocol};
use sockscope::tcp::Dir;
use sockscope::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let selection = Selection {
        protocol: SubProtocol::SocketIo,
        basis: Basis::Url,
        reason: "fuzz".into(),
        engineio: Some(if setup & 1 == 1 { 3 } else { 4 }),
    };
    let limits = SubLimits {
        max_pending_requests: 8,
        max_latency_names: 4,
        ..SubLimits::default()
    };
    let mut conn = SubConn::new(selection, limits);
    let mut frame = 0u64;
    while let Some((&c, tail)) = rest.split_first() {
        let n = (usize::from(c >> 4) * 7 + 1).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        frame += 1;
        let dir = if c & 1 == 0 { Dir::C2S } else { Dir::S2C };
        let ts = Timestamp(frame as i64 * 1000);
        if c & 8 != 0 {
            let _ = conn.gap(dir, ts, frame);
        }
        let kept = if c & 4 != 0 { &bytes[..bytes.len() / 2] } else { bytes };
        let msg = Message {
            dir,
            ts,
            frame,
            binary: c & 2 != 0,
            payload: kept,
            len: bytes.len() as u64,
        };
        for item in conn.message(&msg).items {
            let _ = item.record.to_json();
            let _ = item.record.summary_at(40);
            let mut text = String::new();
            item.record.details().render(0, &mut text);
        }
    }
    let _ = conn.finish(Timestamp(0), frame);
    let _ = conn.latency().records(1, SubProtocol::SocketIo);
});
