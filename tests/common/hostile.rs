//! Hostile captures: many flows that each make the analyzer hold bytes (incomplete heads, held
//! upgrade bytes, unanswered requests, unfinished messages, inflaters, out-of-order data), the
//! triggers of the memory budget (docs/memory-budget.md). Built only with this directory's pcap
//! builders and streamed to any writer, so that a bench-sized capture never sits in memory.
//!
//! Used by `tests/budget.rs` (sizes that exceed the default budget), by `tests/captures.rs`
//! ([`budget_cases`]: one input per give-way code, with a 1 MiB budget) and by
//! `examples/hostile.rs` (the `hostile` shapes of `benches/run.sh`).

use super::{
    ACK, C2S, LINKTYPE_ETHERNET, PSH, PcapWriter, S2C, TcpConn, upgrade_request, upgrade_response,
    ws_frame,
};
use std::io::{self, Write};

/// Bytes of each incomplete head, held upgrade tail and unfinished message in the issue's
/// triggers.
pub const PER_FLOW: usize = 60_000;
/// Pipelined requests per flow in the trigger (beyond the 1 024 remembered).
pub const PIPELINED: usize = 1_100;
/// Payload of the frame a [`Shape::Candidates`] flow starts with: its frame (4 004 bytes) is
/// just under the 4 KiB a WebSocket candidate is kept up to.
pub const CANDIDATE: usize = 4_000;

/// The size each message of [`Shape::DeflateBurst`] inflates to: as much as
/// [`AS_MUCH_AS_HEX`] keeps of a message.
pub const BURST_MESSAGE: usize = 16_384;

/// One way of making every flow hold bytes; every flow is on port 80 and none ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// SYN, SYN-ACK, ACK, then a request head without its blank line.
    Heads,
    /// The same with a response head without its blank line too.
    HeadsBoth,
    /// A complete WebSocket upgrade request, then WebSocket frames; no response ever.
    UpgradeHold,
    /// GET requests, never answered (`size` is their number).
    Pipelined,
    /// A completed upgrade, then one unfinished fragmented text message per side (FIN = 0);
    /// run with `-x` (or [`AS_MUCH_AS_HEX`]) or `--follow 1`, which keep every message's bytes
    /// for display.
    Fragmented,
    /// A completed permessage-deflate upgrade, then one unfinished compressed text message per
    /// side that inflates to `size` bytes; with `-x` each keeps its inflated bytes for display.
    Deflate,
    /// As `Deflate` with complete messages, then client data behind a hole that never fills
    /// (buffered out of order); default options.
    DeflateOoo,
    /// A request, then a response whose body (`size` bytes of 100 MB) is in progress; run with
    /// `-x` (or [`AS_MUCH_AS_HEX`]), which keeps the body for display.
    BodyPreview,
    /// A completed upgrade, then 16 pings from each side that are never answered.
    Pings,
    /// Client data behind a lost first segment, never acknowledged (buffered out of order).
    Ooo,
    /// Every flow's handshake first, then a WebSocket upgrade request of `size` bytes (one long
    /// header) in one segment per flow, never answered: its headers are kept for the handshake
    /// check, and the flows were let in before they grew.
    BigUpgrade,
    /// Flows picked up mid-stream (no SYN), each first with one server segment holding a lone
    /// binary frame of `size` payload bytes (weak evidence of WebSocket, kept up to 4 KiB
    /// until the next delivery confirms it); once every flow sent that, a small second frame
    /// per flow confirms it.
    Candidates,
    /// An upgrade that negotiates the `mqtt` subprotocol, then per side the first `size` bytes
    /// of an MQTT PUBLISH that announces 250 000 (binary messages of 8 KiB): the MQTT decoder
    /// holds the packet's start until the rest arrives, which it never does.
    MqttPartial,
    /// A TLS 1.2 ClientHello and ServerHello, then the first `size` bytes of a Certificate
    /// message that announces 100 000 (in records of 16 000): the record layer reassembles the
    /// message until the rest arrives, which it never does.
    TlsHandshake,
    /// A completed permessage-deflate upgrade, then one server segment of [`BURST_BYTES`]
    /// packed with complete compressed text messages that each inflate to `size` bytes: one
    /// packet that emits thousands of messages; with [`AS_MUCH_AS_HEX`] each keeps its
    /// inflated bytes for display until it is reported.
    DeflateBurst,
}

/// The payload of [`Shape::DeflateBurst`]'s one segment (an IPv4 packet holds at most 65 535).
pub const BURST_BYTES: usize = 64_000;

impl Shape {
    pub const ALL: [Shape; 15] = [
        Shape::Heads,
        Shape::HeadsBoth,
        Shape::UpgradeHold,
        Shape::Pipelined,
        Shape::Fragmented,
        Shape::Deflate,
        Shape::DeflateOoo,
        Shape::BodyPreview,
        Shape::Pings,
        Shape::Ooo,
        Shape::BigUpgrade,
        Shape::Candidates,
        Shape::MqttPartial,
        Shape::TlsHandshake,
        Shape::DeflateBurst,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Heads => "heads",
            Shape::HeadsBoth => "heads-both",
            Shape::UpgradeHold => "upgrade-hold",
            Shape::Pipelined => "pipelined",
            Shape::Fragmented => "fragmented",
            Shape::Deflate => "deflate",
            Shape::DeflateOoo => "deflate-ooo",
            Shape::BodyPreview => "body-preview",
            Shape::Pings => "pings",
            Shape::Ooo => "ooo",
            Shape::BigUpgrade => "big-upgrade",
            Shape::Candidates => "candidates",
            Shape::MqttPartial => "mqtt-partial",
            Shape::TlsHandshake => "tls-handshake",
            Shape::DeflateBurst => "deflate-burst",
        }
    }

    pub fn parse(s: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The size the trigger uses.
    pub fn default_size(self) -> usize {
        match self {
            Shape::Pipelined => PIPELINED,
            Shape::Candidates => CANDIDATE,
            Shape::DeflateBurst => BURST_MESSAGE,
            _ => PER_FLOW,
        }
    }
}

/// The `k`-th flow's connection: a distinct client address per flow, server 192.0.2.1:80.
fn conn(k: usize) -> TcpConn {
    let k = k as u32;
    let client = [10, (k >> 16) as u8, (k >> 8) as u8, k as u8];
    TcpConn::new((client, 40_000), ([192, 0, 2, 1], 80))
}

/// A head of `len` bytes that never ends: start line, one padding header, no blank line.
fn endless_head(start_line: &str, len: usize) -> Vec<u8> {
    let mut h = format!("{start_line}\r\nHost: hostile\r\nX-Pad: ").into_bytes();
    h.resize(len.max(h.len()), b'a');
    h
}

/// Frames (FIN set, masked for the client) carrying `len` payload bytes in all.
fn frames(len: usize, masked: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + len / 100);
    let mut left = len;
    while left > 0 {
        let n = left.min(1000);
        out.extend_from_slice(&ws_frame(true, false, 1, masked, &vec![b'x'; n]));
        left -= n;
    }
    out
}

/// permessage-deflate: one message compressed with a fresh raw-DEFLATE stream, its final
/// `00 00 ff ff` removed (RFC 7692 §7.2.1).
fn deflate(data: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    loop {
        let read = c.total_in() as usize;
        c.compress_vec(&data[read..], &mut out, FlushCompress::Sync)
            .expect("deflate");
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(4096);
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

const DEFLATE_EXT: &str = "permessage-deflate";

/// A head with one more header line before its blank line.
fn with_header(mut head: Vec<u8>, line: &str) -> Vec<u8> {
    head.truncate(head.len() - 2);
    head.extend_from_slice(line.as_bytes());
    head.extend_from_slice(b"\r\n\r\n");
    head
}

/// The first `size` bytes of an MQTT PUBLISH (QoS 0, topic `t`) whose remaining length says
/// 250 000, in binary messages of at most 8 KiB.
fn mqtt_partial(size: usize, masked: bool) -> Vec<u8> {
    // 250 000 as MQTT's variable byte integer.
    let mut packet = vec![0x30, 0x90, 0xa1, 0x0f, 0x00, 0x01, b't'];
    packet.resize(size.max(packet.len()), b'p');
    let mut out = Vec::with_capacity(size + size / 100);
    for piece in packet.chunks(8 << 10) {
        out.extend_from_slice(&ws_frame(true, false, 2, masked, piece));
    }
    out
}

/// A TLS 1.2 ClientHello, and the server's flight: its ServerHello, then the first `size`
/// bytes of a Certificate message of 100 000 in plaintext records of at most 16 000.
fn tls_certificate_in_progress(size: usize) -> (Vec<u8>, Vec<u8>) {
    use sockscope::proto::tls::testkit::Synth;
    let synth = Synth::new(0xc02f, false, 1).expect("a decryptable suite");
    let mut hs = synth.handshake();
    let hello = hs.remove(0).1;
    let flight = &hs[0].1;
    let mut server = flight[..5 + usize::from(u16::from_be_bytes([flight[3], flight[4]]))].to_vec();
    let mut cert = vec![11u8, 0x01, 0x86, 0xa0];
    cert.resize(size.max(cert.len()), 0x30);
    for piece in cert.chunks(16_000) {
        server.extend_from_slice(&[22, 3, 3]);
        server.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        server.extend_from_slice(piece);
    }
    (hello, server)
}

/// The upgrade (with `extensions`) and its 101, after the TCP handshake.
fn upgraded(w: &mut PcapWriter, c: &mut TcpConn, extensions: Option<&str>) {
    c.handshake(w);
    c.send(w, C2S, &upgrade_request(extensions));
    c.send(w, S2C, &upgrade_response(extensions));
}

/// Sends `payload` from the client after a lost segment of 100 bytes, without acknowledgment.
fn behind_a_hole(w: &mut PcapWriter, c: &TcpConn, payload: &[u8]) {
    let mut seq = c.seq[C2S].wrapping_add(100);
    for piece in payload.chunks(1448) {
        w.packet(&c.raw(C2S, seq, ACK | PSH, piece));
        seq = seq.wrapping_add(piece.len() as u32);
    }
}

/// Writes `flows` flows of `shape` as a classic pcap to `out`, flow after flow. `size` is the
/// size of each incomplete head, held tail, unfinished message or body in progress (the number
/// of requests for [`Shape::Pipelined`]); [`Shape::default_size`] is the issue's.
pub fn write(shape: Shape, flows: usize, size: usize, out: &mut impl Write) -> io::Result<()> {
    // 10 µs between packets: the largest shape stays far inside the 300 s idle timeout.
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET).with_step(10);
    let text = vec![b'a'; size];
    let compressed = deflate(&text);
    let (client_hello, server_flight) = tls_certificate_in_progress(size);
    if shape == Shape::BigUpgrade {
        let mut conns: Vec<TcpConn> = (0..flows).map(conn).collect();
        for c in &mut conns {
            c.handshake(&mut w);
        }
        let mut head = upgrade_request(None);
        head.truncate(head.len() - 2);
        let pad = size.saturating_sub(head.len() + 11);
        head.extend_from_slice(b"X-Pad: ");
        head.resize(head.len() + pad, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        for c in &conns {
            // One segment: the head is parsed (and its headers kept) at once.
            w.packet(&c.raw(C2S, c.seq[C2S], ACK | PSH, &head));
            out.write_all(&w.take_bytes())?;
        }
        return out.write_all(&w.take_bytes());
    }
    if shape == Shape::Candidates {
        let mut conns: Vec<TcpConn> = (0..flows).map(conn).collect();
        let first = ws_frame(true, false, 2, false, &vec![b'x'; size]);
        let second = ws_frame(true, false, 2, false, b"confirmed");
        for frame in [first, second] {
            for c in &mut conns {
                // One segment per frame: a delivery is judged whole.
                w.packet(&c.raw(S2C, c.seq[S2C], ACK | PSH, &frame));
                c.seq[S2C] = c.seq[S2C].wrapping_add(frame.len() as u32);
                out.write_all(&w.take_bytes())?;
            }
        }
        return out.write_all(&w.take_bytes());
    }
    for k in 0..flows {
        let mut c = conn(k);
        match shape {
            Shape::Heads => {
                c.handshake(&mut w);
                c.send(&mut w, C2S, &endless_head("GET /h HTTP/1.1", size));
            }
            Shape::HeadsBoth => {
                c.handshake(&mut w);
                c.send(&mut w, C2S, &endless_head("GET /h HTTP/1.1", size));
                c.send(&mut w, S2C, &endless_head("HTTP/1.1 200 OK", size));
            }
            Shape::UpgradeHold => {
                c.handshake(&mut w);
                c.send(&mut w, C2S, &upgrade_request(None));
                c.send(&mut w, C2S, &frames(size, true));
            }
            Shape::Pipelined => {
                c.handshake(&mut w);
                let mut requests = Vec::new();
                for i in 0..size {
                    let r = format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n");
                    requests.extend_from_slice(r.as_bytes());
                }
                c.send(&mut w, C2S, &requests);
            }
            Shape::Fragmented => {
                upgraded(&mut w, &mut c, None);
                c.send(&mut w, C2S, &ws_frame(false, false, 1, true, &text));
                c.send(&mut w, S2C, &ws_frame(false, false, 1, false, &text));
            }
            Shape::Deflate => {
                upgraded(&mut w, &mut c, Some(DEFLATE_EXT));
                c.send(&mut w, C2S, &ws_frame(false, true, 1, true, &compressed));
                c.send(&mut w, S2C, &ws_frame(false, true, 1, false, &compressed));
            }
            Shape::DeflateOoo => {
                upgraded(&mut w, &mut c, Some(DEFLATE_EXT));
                c.send(&mut w, C2S, &ws_frame(true, true, 1, true, &compressed));
                c.send(&mut w, S2C, &ws_frame(true, true, 1, false, &compressed));
                behind_a_hole(&mut w, &c, &frames(size, true));
            }
            Shape::BodyPreview => {
                c.handshake(&mut w);
                c.send(&mut w, C2S, b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
                c.send(
                    &mut w,
                    S2C,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n",
                );
                c.send(&mut w, S2C, &text);
            }
            Shape::Pings => {
                upgraded(&mut w, &mut c, None);
                for i in 0..16u8 {
                    let payload = [i; 125];
                    c.send(&mut w, C2S, &ws_frame(true, false, 9, true, &payload));
                    c.send(&mut w, S2C, &ws_frame(true, false, 9, false, &payload));
                }
            }
            Shape::Ooo => {
                c.handshake(&mut w);
                behind_a_hole(&mut w, &c, &text);
            }
            Shape::MqttPartial => {
                c.handshake(&mut w);
                let protocol = "Sec-WebSocket-Protocol: mqtt";
                c.send(&mut w, C2S, &with_header(upgrade_request(None), protocol));
                c.send(&mut w, S2C, &with_header(upgrade_response(None), protocol));
                c.send(&mut w, C2S, &mqtt_partial(size, true));
                c.send(&mut w, S2C, &mqtt_partial(size, false));
            }
            Shape::TlsHandshake => {
                c.handshake(&mut w);
                c.send(&mut w, C2S, &client_hello);
                c.send(&mut w, S2C, &server_flight);
            }
            Shape::DeflateBurst => {
                upgraded(&mut w, &mut c, Some(DEFLATE_EXT));
                let one = ws_frame(true, true, 1, false, &compressed);
                let burst = one.repeat(BURST_BYTES / one.len());
                // One segment: every message in it is found while that one packet is analyzed.
                w.packet(&c.raw(S2C, c.seq[S2C], ACK | PSH, &burst));
                c.seq[S2C] = c.seq[S2C].wrapping_add(burst.len() as u32);
            }
            Shape::BigUpgrade | Shape::Candidates => unreachable!("written above"),
        }
        out.write_all(&w.take_bytes())?;
    }
    out.write_all(&w.take_bytes())?;
    Ok(())
}

/// [`write`] into memory.
pub fn capture(shape: Shape, flows: usize, size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    write(shape, flows, size, &mut out).expect("writing to memory");
    out
}

/// One input that makes the memory budget give way, with the code that says so.
pub struct BudgetCase {
    pub code: &'static str,
    pub how: &'static str,
    /// The other codes the input raises, as consequences of the same cause.
    pub also: &'static [&'static str],
    pub args: Vec<String>,
    pub bytes: Vec<u8>,
}

/// The smallest budget (`--memory 29`: 1 MiB for what the analysis holds, the rest is the
/// program's own), so that small inputs need more than it.
pub const SMALL_BUDGET: [&str; 2] = ["--memory", "29"];

/// Keeps 64 KiB of every body and message for display, as `-x` does, in any view (`-x` itself
/// goes with neither `--json` nor `-q`): four bytes per preview character.
pub const AS_MUCH_AS_HEX: [&str; 2] = ["--snap-preview", "16384"];

/// One input per give-way code, each holding a few MiB against the 1 MiB of [`SMALL_BUDGET`].
pub fn budget_cases() -> Vec<BudgetCase> {
    let case = |code, how, also, extra: &[&str], bytes| BudgetCase {
        code,
        how,
        also,
        args: SMALL_BUDGET
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect(),
        bytes,
    };
    vec![
        case(
            "http.budget_head",
            "30 request heads of 60 KB without their blank line; the largest are dropped",
            // The heads not dropped are cut by the end of the input.
            &["http.truncated"],
            &[],
            capture(Shape::Heads, 30, PER_FLOW),
        ),
        case(
            "http.budget_hold",
            "30 upgrade requests followed by 60 KB of frames each, never answered",
            // What the flows not given way still hold at the end of the input.
            &["http.upgrade_unanswered"],
            &[],
            capture(Shape::UpgradeHold, 30, PER_FLOW),
        ),
        case(
            "http.budget_pending",
            "40 flows of 1 100 pipelined requests, never answered",
            // The flows not given way pass the count cap of 1 024.
            &["http.requests_evicted"],
            &[],
            capture(Shape::Pipelined, 40, PIPELINED),
        ),
        case(
            "http.budget_display",
            "30 responses whose 60 KB of body so far are kept for -x; their headers go too",
            &["http.budget_head"],
            &AS_MUCH_AS_HEX,
            capture(Shape::BodyPreview, 30, PER_FLOW),
        ),
        case(
            "ws.budget_display",
            "20 WebSocket flows with an unfinished 60 KB message per side, kept for -x",
            &["ws.truncated"],
            &AS_MUCH_AS_HEX,
            capture(Shape::Fragmented, 20, PER_FLOW),
        ),
        case(
            "ws.budget_inflater",
            "20 permessage-deflate flows inflating a message per side (an inflater each)",
            &["ws.budget_display", "ws.truncated"],
            &[],
            capture(Shape::Deflate, 20, PER_FLOW),
        ),
        case(
            "ws.budget_pings",
            "250 WebSocket flows with 16 unanswered pings per side",
            &[],
            &[],
            capture(Shape::Pings, 250, 0),
        ),
        case(
            "tcp.budget_ooo",
            "30 flows with 60 KB behind a lost segment, never acknowledged",
            &["tcp.gap", "http.resync"],
            &[],
            capture(Shape::Ooo, 30, PER_FLOW),
        ),
        case(
            "tcp.budget_evict",
            "30 connections opened, then an upgrade request of 60 KB on each, never answered: \
             their headers are kept for the handshake check and cannot be given up",
            &[],
            &[],
            capture(Shape::BigUpgrade, 30, PER_FLOW),
        ),
        case(
            "ws.budget_candidate",
            "300 flows picked up mid-stream, each with a lone 4 KB binary frame from the server \
             (weak evidence, kept until the next delivery), then a second frame each that \
             confirms it",
            &["tcp.midstream"],
            &[],
            capture(Shape::Candidates, 300, CANDIDATE),
        ),
        case(
            "sub.budget",
            "30 MQTT-over-WebSocket flows, each side 60 KB into a PUBLISH that never ends: the \
             decoder holds each packet's start",
            // The flows not given way end inside their packets; the largest holders' display
            // bytes go with their decoders.
            &["sub.mqtt_truncated", "ws.budget_display"],
            &[],
            capture(Shape::MqttPartial, 30, PER_FLOW),
        ),
        case(
            "tls.budget",
            "30 TLS connections, each 60 KB into a Certificate message that never ends: the \
             record layer reassembles each message",
            &[],
            &[],
            capture(Shape::TlsHandshake, 30, PER_FLOW),
        ),
        case(
            "tcp.budget_flows",
            "1 000 flows with one unanswered request each: their state alone outgrows 1 MiB",
            &[],
            &[],
            capture(Shape::Pipelined, 1000, 1),
        ),
    ]
}
