//! The per-packet path allocates nothing once flows are established: a counting allocator
//! watches the analysis (one thread, no printer, and again with the `--json` printer) of the
//! benchmark shapes' traffic — small WebSocket messages both ways (plain and permessage-deflate)
//! and HTTP keep-alive request / response pairs — and counts what the packets of an established
//! phase allocate. Messages a sub-protocol decodes are the exception, bounded here for plain
//! JSON: what their decoding hands to the message's record is allocated per message. It counts
//! the allocations of the analyzing thread only, as the test harness allocates on its own
//! threads.

mod common;

use common::counting::{Counting, allocations};
use common::{
    C2S, LINKTYPE_ETHERNET, PcapWriter, S2C, TcpConn, upgrade_request, upgrade_response, ws_frame,
};
use sockscope::app::Silent;
use sockscope::config::Config;
use sockscope::pipeline::Analyzer;
use sockscope::report::Reporter;
use sockscope::report::json::JsonPrinter;
use sockscope::source::{Next, PacketSource};
use std::cell::Cell;
use std::rc::Rc;

#[global_allocator]
static GLOBAL: Counting = Counting;

const FLOWS: u8 = 16;
const ROUNDS: usize = 400;

fn conns() -> Vec<TcpConn> {
    (0..FLOWS)
        .map(|k| TcpConn::new(([10, 3, 0, k], 42_000), ([192, 0, 2, 9], 80)))
        .collect()
}

/// Chat: every flow upgraded, then ROUNDS rounds of one small message each way per flow;
/// with `json`, the client's messages are JSON objects (plain JSON, chosen by content).
fn chat(deflate: bool, json: bool) -> Vec<u8> {
    // Without context takeover on the server's side every message is its own stream, so the
    // same compressed bytes are a valid message each time.
    let ext = deflate.then_some("permessage-deflate; server_no_context_takeover");
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET).with_step(10);
    let mut conns = conns();
    for c in &mut conns {
        c.handshake(&mut w);
        c.send(&mut w, C2S, &upgrade_request(ext));
        c.send(&mut w, S2C, &upgrade_response(ext));
    }
    // "Hello" compressed (RFC 7692 §7.2.3.1).
    let compressed = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    for round in 0..ROUNDS {
        for c in &mut conns {
            let text = if json {
                format!(r#"{{"type":"chat","n":{round},"text":"from the client"}}"#)
            } else {
                format!("message {round:05} from the client")
            };
            c.send(
                &mut w,
                C2S,
                &ws_frame(true, false, 1, true, text.as_bytes()),
            );
            let reply = if deflate {
                ws_frame(true, true, 1, false, &compressed)
            } else {
                ws_frame(true, false, 1, false, b"ok, received your message")
            };
            c.send(&mut w, S2C, &reply);
        }
    }
    w.take_bytes()
}

/// HTTP keep-alive: ROUNDS request / response pairs per flow.
fn keep_alive() -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET).with_step(10);
    let mut conns = conns();
    for c in &mut conns {
        c.handshake(&mut w);
    }
    for round in 0..ROUNDS {
        for c in &mut conns {
            let req =
                format!("GET /poll?n={round:05} HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n");
            c.send(&mut w, C2S, req.as_bytes());
            c.send(
                &mut w,
                S2C,
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
            );
        }
    }
    w.take_bytes()
}

/// Allocations per packet of the second half of the capture (after every flow is established
/// and every reused buffer has grown), analyzed in this thread with no printer.
fn steady_allocations(pcap: &[u8]) -> (u64, u64) {
    steady_allocations_with(pcap, Silent)
}

/// As [`steady_allocations`], every record written as `read --json` writes it (to a counter of
/// bytes: the records were written).
fn steady_json_allocations(pcap: &[u8]) -> (u64, u64) {
    let written = Rc::new(Cell::new(0));
    let out = Written(Rc::clone(&written));
    let printer = JsonPrinter::new(out, 128, None).in_blocks();
    let (allocs, packets) = steady_allocations_with(pcap, printer);
    assert!(written.get() > packets * 100, "{} bytes", written.get());
    (allocs, packets)
}

/// Counts the bytes written.
struct Written(Rc<Cell<u64>>);

impl std::io::Write for Written {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.set(self.0.get() + buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn steady_allocations_with<R: Reporter>(pcap: &[u8], reporter: R) -> (u64, u64) {
    let config = Config::default();
    let mut analyzer = Analyzer::new(&config, reporter);
    let mut source = sockscope::source::from_bytes("steady", pcap, 1);
    let mut frames = Vec::new();
    loop {
        match source.next() {
            Ok(Next::Frame(f)) => frames.push((
                f.index,
                f.ts,
                f.link_type,
                f.interface,
                f.orig_len,
                f.data.to_vec(),
            )),
            Ok(Next::End) => break,
            Ok(_) => {}
            Err(e) => panic!("capture: {e}"),
        }
    }
    let half = frames.len() / 2;
    let start = allocations();
    let mut counted = 0;
    let mut packets = 0;
    for (i, (index, ts, link_type, interface, orig_len, data)) in frames.iter().enumerate() {
        let frame = sockscope::source::Frame {
            index: *index,
            ts: *ts,
            link_type: *link_type,
            interface: *interface,
            orig_len: *orig_len,
            data,
        };
        if i == half {
            assert!(
                allocations() > start,
                "setting up the flows allocates: the counter counts"
            );
        }
        let before = allocations();
        analyzer.process(&frame);
        if i >= half {
            counted += allocations() - before;
            packets += 1;
        }
    }
    let stats = analyzer.finish().expect("finish").0;
    assert_eq!(stats.flows, u64::from(FLOWS));
    assert!(stats.anomalies.is_empty(), "{:?}", stats.anomalies);
    (counted, packets)
}

/// Enough packets were counted, and they allocated nothing.
fn none_per_packet((allocs, packets): (u64, u64)) {
    assert!(packets > 5_000, "{packets}");
    assert_eq!(allocs, 0, "{allocs} allocations over {packets} packets");
}

/// Enough packets of the JSON chat were counted, and they allocated at most `each` times per
/// JSON message (one in every two packets: the replies are not JSON).
fn at_most_per_json_message((allocs, packets): (u64, u64), each: u64) {
    assert!(packets > 5_000, "{packets}");
    let json_messages = packets / 2;
    assert!(
        allocs <= each * json_messages,
        "{allocs} allocations over {json_messages} JSON messages"
    );
}

#[test]
fn established_websocket_chat_allocates_nothing_per_packet() {
    none_per_packet(steady_allocations(&chat(false, false)));
}

#[test]
fn established_deflate_chat_allocates_nothing_per_packet() {
    none_per_packet(steady_allocations(&chat(true, false)));
}

/// JSON messages keep one allocation each: the decoded unit (`SubUnit::meaning`, a boxed record,
/// which holds a short message's text), handed to the message's record. Everything else on the
/// way (the decoder's record and output vectors, its warnings, the replies that are not JSON)
/// is reused or not made.
#[test]
fn established_json_chat_allocates_one_per_json_message() {
    at_most_per_json_message(steady_allocations(&chat(false, true)), 1);
}

#[test]
fn http_keep_alive_allocates_nothing_per_packet() {
    none_per_packet(steady_allocations(&keep_alive()));
}

#[test]
fn established_websocket_chat_as_json_allocates_nothing_per_packet() {
    for deflate in [false, true] {
        none_per_packet(steady_json_allocations(&chat(deflate, false)));
    }
}

#[test]
fn http_keep_alive_as_json_allocates_nothing_per_packet() {
    none_per_packet(steady_json_allocations(&keep_alive()));
}

/// With the `--json` printer a JSON message's record writes its `sub` object straight into the
/// line (each unit serializes itself, its members listed on the stack, the message's keys read
/// into a stack buffer): nothing beyond the analysis' one allocation. Every other record is
/// written without allocating (the tests above).
#[test]
fn established_json_chat_as_json_allocates_nothing_beyond_the_analysis() {
    at_most_per_json_message(steady_json_allocations(&chat(false, true)), 1);
}
