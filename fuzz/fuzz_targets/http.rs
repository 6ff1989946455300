//! Arbitrary bytes, split into the two directions of one connection and into random chunks, with
//! gaps and FINs in between, fed to `HttpConn` the way the pipeline does: after an upgrade the
//! connection is handed over and no longer fed.
//!
//! Input layout: one option byte (bit 0: picked up mid-stream; bits 1-3: head cap; bits 4-6:
//! hold cap), then records of `[control][length][length bytes]`. Control bit 0 is the
//! direction; bits 1-2 select feed (0, 1), gap (2) or end of that direction (3).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::config::{Config, Limits};
use sockscope::proto::http::{Feed, HttpConn};
use sockscope::model::{Event, EventCtx, EventSink, Record};
use sockscope::proto::dissect::{Registry, Solo};
use sockscope::tcp::{Dir, FlowMeta, PacketRef, RoleBasis};
use sockscope::time::Timestamp;

/// Reads every borrowed field so that a dangling or out-of-range borrow would be noticed.
struct Touch(u64);

impl EventSink for Touch {
    fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
        match event {
            Event::HttpHead(m) | Event::Record(Record::Http(m)) => {
                let headers: usize = m.headers.iter().map(|h| h.name.len() + h.value.len()).sum();
                self.0 = self.0.wrapping_add(headers as u64 + m.body_head.len() as u64);
                self.0 = self.0.wrapping_add(m.header_bytes ^ m.body_bytes ^ m.framing_bytes);
            }
            Event::Record(Record::Sse(s)) => {
                let fields = s.event.map_or(0, str::len) + s.id.map_or(0, str::len);
                self.0 = self.0.wrapping_add((fields + s.data.len()) as u64);
            }
            Event::Record(Record::Anomaly(a)) => self.0 = self.0.wrapping_add(a.detail.len() as u64),
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, mut rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_http_head: 16 << ((options >> 1) & 7),
        max_upgrade_hold: 16 << ((options >> 4) & 7),
        ..Limits::default()
    };
    let meta = FlowMeta {
        syn_seen: options & 1 == 0,
        ..FlowMeta::new(
            1,
            std::net::SocketAddr::from(([10, 0, 0, 1], 51000)),
            std::net::SocketAddr::from(([10, 0, 0, 2], 80)),
            RoleBasis::Syn,
            Timestamp::ZERO,
        )
    };
    let mut conn = HttpConn::new(&limits, 16);
    if options & 1 == 1 {
        conn.picked_up_midstream();
    }
    let mut sink = Touch(0);
    let mut solo = Solo::new(meta, Config::default(), Registry::default());
    let mut frame = 0u64;
    while let [control, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(take);
        rest = next;
        frame += 1;
        let dir = if control & 1 == 0 { Dir::C2S } else { Dir::S2C };
        let pkt = Some(PacketRef::new(frame, Timestamp(frame as i64 * 1_000)));
        let cx = &mut solo.cx(pkt, &mut sink);
        match (control >> 1) & 3 {
            2 => conn.gap(dir, u64::from(*len) + 1, cx),
            3 => conn.end(dir, cx),
            _ => {
                if let Feed::Upgraded { offset } = conn.feed(dir, bytes, cx) {
                    assert!(offset <= bytes.len());
                    let upgrade = conn.take_upgrade().expect("an upgrade after Upgraded");
                    assert!(upgrade.held_c2s.len() <= limits.max_upgrade_hold);
                    return;
                }
            }
        }
    }
    conn.finish(&mut solo.cx(None, &mut sink));
    std::hint::black_box(sink.0);
});
