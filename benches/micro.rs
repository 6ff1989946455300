//! Micro benchmarks of the per-packet and per-byte paths, on inputs built in memory: frame
//! decoding, in-order reassembly delivery, WebSocket frame header parsing, unmasking, UTF-8
//! validation, a WebSocket connection fed small masked text frames, HTTP keep-alive heads, and
//! TLS decryption per suite (the record layer fed 1448-byte segments of 16 KiB records, next to
//! the cipher crate's own speed on the same record size).
//!
//! `cargo bench --bench micro [-- FILTER]`. Each benchmark runs its loop in batches and prints
//! the best batch (noise on a shared machine only ever adds time): time per operation and,
//! where bytes are processed, throughput in GB/s (10^9 bytes per second).

use sockscope::config::{Config, Limits};
use sockscope::decode::{Decoded, Decoder};
use sockscope::model::{Event, EventCtx, EventSink, Record};
use sockscope::proto::dissect::{Registry, Solo};
use sockscope::proto::http::HttpConn;
use sockscope::proto::tls::testkit::Synth;
use sockscope::proto::tls::{SessionSecrets, TlsConn, TlsEvent, TlsSink};
use sockscope::proto::websocket::WsConn;
use sockscope::proto::websocket::frame::FrameHeader;
use sockscope::proto::websocket::mask;
use sockscope::proto::websocket::message::Utf8Stream;
use sockscope::source::{Frame, LinkType};
use sockscope::tcp::reassembly::{Delivery, OooBudget, Payload, Stream};
use sockscope::tcp::seq::SeqNumber;
use sockscope::tcp::{Dir, FlowMeta, PacketRef, RoleBasis};
use sockscope::time::Timestamp;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const BATCHES: usize = 7;
const TARGET: Duration = Duration::from_millis(150);

/// Runs `op` (one operation over `bytes` bytes) in timed batches and prints the best.
fn bench(filter: &Option<String>, name: &str, bytes: usize, mut op: impl FnMut() -> u64) {
    if filter.as_deref().is_some_and(|f| !name.contains(f)) {
        return;
    }
    // Calibrate a batch to about TARGET.
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(op());
        }
        if t.elapsed() >= TARGET / 4 || iters >= 1 << 30 {
            break;
        }
        iters *= 2;
    }
    let mut best = Duration::MAX;
    for _ in 0..BATCHES {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(op());
        }
        best = best.min(t.elapsed());
    }
    let per_op = best.as_secs_f64() / iters as f64;
    let rate = if bytes > 0 {
        format!("{:>7.2} GB/s", bytes as f64 / per_op / 1e9)
    } else {
        String::new()
    };
    println!("{name:<44} {:>11.1} ns/op  {rate}", per_op * 1e9);
}

/// An Ethernet/IPv4/TCP frame (10.0.0.1:51000 -> 10.0.0.2:80, TCP timestamps) with `payload`.
fn ethernet_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 32 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0x1c, 0x46, 0x40, 0, 0x40, 6, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&[
        0xc7, 0x38, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 1, 0x80, 0x18, 0x01, 0xf6, 0, 0, 0, 0, 1, 1,
        8, 10, 0, 0, 0, 5, 0, 0, 0, 6,
    ]);
    f.extend_from_slice(payload);
    f
}

/// A sink that counts events, as a cheap printer would.
#[derive(Default)]
struct Count(u64);

impl EventSink for Count {
    fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
        self.0 += match event {
            Event::Record(Record::WsMessage(m)) => m.len,
            Event::Record(Record::Http(m)) => m.body_bytes + 1,
            _ => 1,
        };
    }
}

fn flow_meta() -> FlowMeta {
    FlowMeta::new(
        1,
        SocketAddr::from(([10, 0, 0, 1], 51000)),
        SocketAddr::from(([10, 0, 0, 2], 80)),
        RoleBasis::Syn,
        Timestamp(0),
    )
}

/// A masked client text frame carrying `text`.
fn masked_text_frame(text: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x81];
    match text.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    let start = f.len();
    f.extend_from_slice(text);
    mask::unmask_in_place(&mut f[start..], key, 0);
    f
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let filter = &filter;

    // Decoding: one small and one full-size frame.
    for size in [100usize, 1448] {
        let data = ethernet_frame(&vec![b'x'; size]);
        let mut decoder = Decoder::new();
        bench(
            filter,
            &format!("decode eth/ipv4/tcp, {size} B payload"),
            0,
            || {
                let frame = Frame {
                    index: 1,
                    ts: Timestamp(1),
                    link_type: LinkType::ETHERNET,
                    interface: 0,
                    orig_len: data.len() as u32,
                    data: &data,
                };
                match decoder.decode(&frame) {
                    Decoded::Tcp(seg) => seg.payload.len() as u64,
                    _ => 0,
                }
            },
        );
    }

    // In-order delivery: 64 segments per operation, through a fresh stream each time.
    for size in [100usize, 1448] {
        let payload = vec![b'y'; size];
        let mut budget = OooBudget::new(1 << 20, 16 << 20);
        bench(
            filter,
            &format!("reassembly in order, 64 x {size} B"),
            64 * size,
            || {
                let mut stream = Stream::default();
                stream.anchor(SeqNumber(1000));
                let mut delivered = 0u64;
                let mut emit = |d: Delivery<'_>| {
                    if let Delivery::Data(b) = d {
                        delivered += b.len() as u64;
                    }
                };
                for i in 0..64u32 {
                    let seq = SeqNumber(1000u32.wrapping_add(i * size as u32));
                    stream.on_segment(seq, Payload::of(&payload), false, &mut budget, &mut emit);
                }
                delivered
            },
        );
    }

    // WebSocket frame headers: a buffer of small masked frames, parsed one after the other.
    let text = b"{\"type\":\"chat\",\"user\":\"alice\",\"text\":\"hello there, how are you?\"}";
    let frames: Vec<u8> = (0..256).flat_map(|_| masked_text_frame(text)).collect();
    bench(filter, "websocket header parse, 256 frames", 0, || {
        let mut at = 0;
        let mut n = 0u64;
        while let Ok(Some(h)) = FrameHeader::parse(frames.get(at..).unwrap_or_default()) {
            at += h.len() + h.payload_len() as usize;
            n += 1;
        }
        n
    });

    // Unmasking and UTF-8 validation of a 64 KiB payload.
    let payload: Vec<u8> = "Grüße, 世界! plain ascii text as well. "
        .repeat(2048)
        .into_bytes()
        .into_iter()
        .take(64 << 10)
        .collect();
    let mut out = vec![0u8; payload.len()];
    bench(filter, "unmask 64 KiB (copying)", payload.len(), || {
        mask::unmask_into(&payload, &mut out, [1, 2, 3, 4], 1);
        u64::from(out[100])
    });
    let valid = std::str::from_utf8(&payload)
        .map(str::len)
        .unwrap_or_else(|e| e.valid_up_to());
    let valid = &payload[..valid];
    bench(
        filter,
        "utf-8 validation 64 KiB, 1 KiB pieces",
        valid.len(),
        || {
            let mut v = Utf8Stream::default();
            for piece in valid.chunks(1024) {
                v.feed(piece);
            }
            u64::from(v.finish())
        },
    );

    // A WebSocket connection fed 256 small masked text frames per operation.
    let mut solo = Solo::new(flow_meta(), Config::default(), Registry::default());
    let pkt = Some(PacketRef::new(1, Timestamp(1)));
    let limits = Limits::default();
    let mut ws = WsConn::new(None, &limits, 512);
    let mut sink = Count::default();
    bench(
        filter,
        "websocket feed, 256 masked text frames",
        frames.len(),
        || {
            ws.feed(Dir::C2S, &frames, &mut solo.cx(pkt, &mut sink));
            sink.0
        },
    );
    let big = masked_text_frame(&payload[..valid.len()]);
    bench(
        filter,
        "websocket feed, one 64 KiB text frame",
        big.len(),
        || {
            ws.feed(Dir::C2S, &big, &mut solo.cx(pkt, &mut sink));
            sink.0
        },
    );

    // HTTP keep-alive: a request and its response, heads and a small body.
    let request =
        b"GET /api/items?page=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench/1.0\r\n\
Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\
Cache-Control: no-cache\r\nServer: bench\r\n\r\n{\"items\":[1,2,3],\"page\":2}";
    let mut http = HttpConn::new(&limits, 512);
    bench(
        filter,
        "http keep-alive request + response",
        request.len() + response.len(),
        || {
            http.feed(Dir::C2S, request, &mut solo.cx(pkt, &mut sink));
            http.feed(Dir::S2C, response, &mut solo.cx(pkt, &mut sink));
            sink.0
        },
    );

    tls(filter);
}

/// Counts plaintext; knows one session's secrets.
struct TlsCount(u64, SessionSecrets);

impl TlsSink for TlsCount {
    fn event(&mut self, _dir: Dir, event: TlsEvent<'_>) {
        if let TlsEvent::Plaintext(p) = event {
            self.0 += p.len() as u64;
        }
    }
    fn secrets(&mut self, _client_random: &[u8; 32]) -> Option<SessionSecrets> {
        Some(self.1)
    }
}

/// TLS: per suite, a whole connection (handshake, then 64 records of 16 KiB from the server,
/// fed in 1448-byte segments) decrypted by `TlsConn`; and the AEAD crate alone opening one
/// 16 KiB record (separate input and output buffers, nothing else), for the cost of the layer.
fn tls(filter: &Option<String>) {
    use aes_gcm::aead::{AeadInOut, KeyInit, inout::InOutBuf};
    const RECORD: usize = 16 * 1024;
    let plain = vec![0x42u8; RECORD];
    for (id, etm, name) in [
        (0x1301, false, "TLS_AES_128_GCM_SHA256"),
        (0x1302, false, "TLS_AES_256_GCM_SHA384"),
        (0x1303, false, "TLS_CHACHA20_POLY1305_SHA256"),
        (0xc02f, false, "ECDHE_RSA_AES_128_GCM_SHA256"),
        (0xc030, false, "ECDHE_RSA_AES_256_GCM_SHA384"),
        (0xcca8, false, "ECDHE_RSA_CHACHA20_POLY1305"),
        (0xc013, false, "ECDHE_RSA_AES_128_CBC_SHA"),
        (0xc027, true, "ECDHE_RSA_AES_128_CBC_SHA256 EtM"),
        (0xc028, false, "ECDHE_RSA_AES_256_CBC_SHA384"),
    ] {
        let Some(synth) = Synth::new(id, etm, 1) else {
            continue;
        };
        let handshake = synth.handshake();
        let mut stream = Vec::new();
        for i in 0..64 {
            synth.app_record(Dir::S2C, synth.first_app_seq() + i, &plain, &mut stream);
        }
        let mut sink = TlsCount(0, synth.secrets());
        bench(
            filter,
            &format!("tls decrypt {name}, 1448 B segments"),
            64 * RECORD,
            || {
                let mut conn = TlsConn::new();
                for (dir, bytes) in &handshake {
                    conn.feed(*dir, bytes, &mut sink);
                }
                for seg in stream.chunks(1448) {
                    conn.feed(Dir::S2C, seg, &mut sink);
                }
                sink.0
            },
        );
    }
    // The crates alone, one 16 KiB record.
    let mut out = vec![0u8; RECORD];
    let nonce = aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::from([7u8; 12]);
    macro_rules! raw {
        ($name:literal, $cipher:ty, $key_len:literal) => {{
            let cipher = <$cipher>::new_from_slice(&[9u8; $key_len]).expect("key");
            let mut sealed = plain.clone();
            let tag = cipher
                .encrypt_inout_detached(&nonce, b"aad", InOutBuf::from(&mut sealed[..]))
                .expect("seal");
            bench(
                filter,
                concat!("tls crate alone: ", $name, ", 16 KiB"),
                RECORD,
                || {
                    let buf = InOutBuf::new(&sealed, &mut out).expect("same length");
                    cipher
                        .decrypt_inout_detached(&nonce, b"aad", buf, &tag)
                        .expect("open");
                    u64::from(out[0])
                },
            );
        }};
    }
    raw!("aes-gcm Aes128Gcm", aes_gcm::Aes128Gcm, 16);
    raw!("aes-gcm Aes256Gcm", aes_gcm::Aes256Gcm, 32);
    raw!("chacha20poly1305", chacha20poly1305::ChaCha20Poly1305, 32);
    // ring, for comparison: AES-GCM and ChaCha20-Poly1305 with stitched assembly.
    for (name, alg) in [
        ("ring AES_128_GCM", &ring::aead::AES_128_GCM),
        ("ring AES_256_GCM", &ring::aead::AES_256_GCM),
        ("ring CHACHA20_POLY1305", &ring::aead::CHACHA20_POLY1305),
    ] {
        let key = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(alg, &vec![9u8; alg.key_len()]).expect("key"),
        );
        let mut sealed = plain.clone();
        let tag = key
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key([7; 12]),
                ring::aead::Aad::from(b"aad"),
                &mut sealed,
            )
            .expect("seal");
        let mut work = sealed.clone();
        bench(
            filter,
            &format!("tls crate alone: {name}, 16 KiB"),
            RECORD,
            || {
                // ring opens in place only: restore the ciphertext each time (a 16 KiB copy).
                work.copy_from_slice(&sealed);
                let out = key
                    .open_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key([7; 12]),
                        ring::aead::Aad::from(b"aad"),
                        tag,
                        &mut work,
                        0..,
                    )
                    .expect("open");
                u64::from(out[0])
            },
        );
    }
}
