//! Tests of `WsConn`: the RFC 6455 §5.7 and RFC 7692 §7.2.3 examples byte for byte, one test
//! per anomaly code, gaps and resynchronisation, and property tests against frames written by
//! tungstenite.

use super::test_sink::{CollectSink, OwnedMessage, solo};
use super::*;
use crate::model::{Anomaly, DeflateParams};
use crate::proto::dissect::Solo;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn handshake(deflate: Option<DeflateParams>) -> Handshake {
    Handshake {
        accept_valid: true,
        version: Some("13".into()),
        extensions: deflate
            .map(|_| vec!["permessage-deflate".to_string()])
            .unwrap_or_default(),
        deflate,
        ..Handshake::default()
    }
}

fn pmd(server_no_ctx: bool, client_no_ctx: bool) -> Option<DeflateParams> {
    Some(DeflateParams {
        server_no_context_takeover: server_no_ctx,
        client_no_context_takeover: client_no_ctx,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    })
}

/// A connection, its flow and a sink; each `feed` is one packet, 1 ms after the previous one.
struct Run {
    conn: WsConn,
    solo: Solo,
    sink: CollectSink,
    pkt: u64,
    ts: i64,
}

impl Run {
    fn new(hs: Option<&Handshake>) -> Self {
        Run::with(hs, &Limits::default(), 1 << 20)
    }

    fn with(hs: Option<&Handshake>, limits: &Limits, preview: usize) -> Self {
        Run {
            conn: WsConn::new(hs, limits, preview),
            solo: solo(),
            sink: CollectSink::default(),
            pkt: 0,
            ts: 0,
        }
    }

    fn plain() -> Self {
        Run::new(Some(&handshake(None)))
    }

    fn deflate(server_no_ctx: bool, client_no_ctx: bool) -> Self {
        Run::new(Some(&handshake(pmd(server_no_ctx, client_no_ctx))))
    }

    fn feed(&mut self, dir: Dir, data: &[u8]) -> &mut Self {
        self.pkt += 1;
        self.ts += 1_000_000;
        let pkt = CollectSink::pkt(self.pkt, self.ts);
        self.conn
            .feed(dir, data, &mut self.solo.cx(pkt, &mut self.sink));
        self
    }

    fn feed_chunks(&mut self, dir: Dir, data: &[u8], sizes: &[usize]) -> &mut Self {
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes
                .get(i % sizes.len().max(1))
                .copied()
                .unwrap_or(1)
                .clamp(1, rest.len());
            let (chunk, tail) = rest.split_at(n);
            self.feed(dir, chunk);
            rest = tail;
            i += 1;
        }
        self
    }

    fn gap(&mut self, dir: Dir, len: u64) -> &mut Self {
        let pkt = CollectSink::pkt(self.pkt, self.ts);
        self.conn
            .gap(dir, len, &mut self.solo.cx(pkt, &mut self.sink));
        self
    }

    fn finish(&mut self) -> &mut Self {
        self.conn.finish(&mut self.solo.cx(None, &mut self.sink));
        self
    }

    fn messages(&self) -> Vec<&OwnedMessage> {
        self.sink.messages()
    }

    fn texts(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| String::from_utf8_lossy(&m.data_head).into_owned())
            .collect()
    }

    fn codes(&self) -> Vec<Code> {
        self.sink.codes()
    }

    fn only_code(&self, code: Code) -> &Anomaly {
        let a = self.sink.anomalies();
        assert_eq!(self.codes(), vec![code], "{a:#?}");
        a[0]
    }
}

/// A frame as the RFC lays it out: header fields, then the payload (masked here if `mask`).
pub(super) fn frame(
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend(k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i & 3]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

// ---------------------------------------------------------------------------------------------
// RFC 6455 §5.7

#[test]
fn rfc6455_single_frame_unmasked_text() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert!(r.codes().is_empty());
    let f = r.sink.frames();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].opcode, OpCode::Text);
    assert!(f[0].fin && f[0].mask.is_none());
    assert_eq!(f[0].header, [0x81, 0x05]);
    assert_eq!(f[0].payload_head, b"Hello");
    assert_eq!(f[0].first_frame, 1);
    let m = r.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(
        *m[0],
        OwnedMessage {
            dir: Dir::S2C,
            ts: Timestamp(1_000_000),
            opcode: OpCode::Text,
            frames: 1,
            wire_len: 5,
            len: 5,
            compressed: false,
            valid_utf8: Some(true),
            data_head: b"Hello".to_vec(),
            digest: crate::model::Digest::Off,
        }
    );
}

#[test]
fn rfc6455_single_frame_masked_text() {
    let bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut r = Run::plain();
    r.feed(Dir::C2S, &bytes);
    assert!(r.codes().is_empty());
    let f = r.sink.frames();
    assert_eq!(f[0].mask, Some(MASK));
    assert_eq!(f[0].payload_head, b"Hello");
    assert_eq!(r.texts(), ["Hello"]);
    // The same bytes one at a time: same result, the frame's first packet remembered.
    let mut r = Run::plain();
    r.feed_chunks(Dir::C2S, &bytes, &[1]);
    assert!(r.codes().is_empty());
    assert_eq!(r.texts(), ["Hello"]);
    assert_eq!(r.sink.frames()[0].first_frame, 1);
    assert_eq!(r.messages()[0].ts, Timestamp(11_000_000));
}

#[test]
fn rfc6455_fragmented_unmasked_text() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &[0x01, 0x03, 0x48, 0x65, 0x6c]);
    assert!(r.messages().is_empty());
    r.feed(Dir::S2C, &[0x80, 0x02, 0x6c, 0x6f]);
    assert!(r.codes().is_empty());
    let f = r.sink.frames();
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].opcode, f[0].fin), (OpCode::Text, false));
    assert_eq!((f[1].opcode, f[1].fin), (OpCode::Continuation, true));
    let m = r.messages();
    assert_eq!((m[0].frames, m[0].wire_len, m[0].len), (2, 5, 5));
    assert_eq!(r.texts(), ["Hello"]);
}

#[test]
fn rfc6455_ping_and_masked_pong_measure_rtt() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    r.feed(Dir::C2S, &[]);
    r.feed(
        Dir::C2S,
        &[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
    );
    assert!(r.codes().is_empty());
    let f = r.sink.frames();
    assert_eq!((f[0].opcode, f[1].opcode), (OpCode::Ping, OpCode::Pong));
    assert_eq!(f[1].payload_head, b"Hello");
    assert!(r.messages().is_empty());
    // Ping at 1 ms, pong at 3 ms.
    assert_eq!(r.conn.ping_rtts(), [0.002]);
    // A pong with another payload, or a second pong, matches nothing.
    r.feed(Dir::C2S, &frame(true, false, 0xa, Some(MASK), b"Hello"));
    r.feed(Dir::C2S, &frame(true, false, 0xa, Some(MASK), b"other"));
    assert_eq!(r.conn.ping_rtts().len(), 1);
}

#[test]
fn rfc6455_256_and_65536_byte_binary() {
    let mut bytes = vec![0x82, 0x7e, 0x01, 0x00];
    bytes.extend((0..256u32).map(|i| i as u8));
    let mut r = Run::plain();
    r.feed(Dir::S2C, &bytes);
    let mut big = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    big.extend((0..65536u32).map(|i| (i * 7) as u8));
    r.feed_chunks(Dir::S2C, &big, &[1460]);
    assert!(r.codes().is_empty());
    let f = r.sink.frames();
    assert_eq!((f[0].header.len(), f[0].payload_len), (4, 256));
    assert_eq!((f[1].header.len(), f[1].payload_len), (10, 65536));
    let m = r.messages();
    assert_eq!((m[0].len, m[0].valid_utf8), (256, None));
    assert_eq!(m[0].data_head, &bytes[4..]);
    assert_eq!((m[1].len, m[1].wire_len), (65536, 65536));
    assert_eq!(m[1].data_head, &big[10..]);
}

// ---------------------------------------------------------------------------------------------
// RFC 7692 §7.2.3

const HELLO_DEFLATED: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc7692_compressed_hello() {
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    assert!(r.codes().is_empty());
    let m = r.messages();
    assert!(m[0].compressed);
    assert_eq!(
        (m[0].wire_len, m[0].len, m[0].valid_utf8),
        (7, 5, Some(true))
    );
    assert_eq!(r.texts(), ["Hello"]);
    // The frame shows the wire bytes (compressed), the message the inflated ones.
    assert_eq!(r.sink.frames()[0].payload_head, HELLO_DEFLATED);
    assert!(r.sink.frames()[0].rsv1);
}

#[test]
fn rfc7692_two_fragment_compressed_message() {
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &[0x41, 0x03, 0xf2, 0x48, 0xcd]);
    r.feed(Dir::S2C, &[0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
    assert!(r.codes().is_empty());
    assert_eq!(r.texts(), ["Hello"]);
    assert_eq!(r.messages()[0].frames, 2);
    // Masked from the client, split into single bytes.
    let mut bytes = frame(false, true, 1, Some(MASK), &HELLO_DEFLATED[..3]);
    bytes.extend(frame(
        true,
        false,
        0,
        Some([9, 8, 7, 6]),
        &HELLO_DEFLATED[3..],
    ));
    let mut r = Run::deflate(false, false);
    r.feed_chunks(Dir::C2S, &bytes, &[1]);
    assert!(r.codes().is_empty());
    assert_eq!(r.texts(), ["Hello"]);
}

#[test]
fn rfc7692_context_takeover_second_hello() {
    let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &second));
    assert!(r.codes().is_empty());
    assert_eq!(r.texts(), ["Hello", "Hello"]);
    assert_eq!(r.messages()[1].wire_len, 5);

    // The window belongs to the direction: the client's first message cannot use it.
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    r.feed(Dir::C2S, &frame(true, true, 1, Some(MASK), &second));
    let a = r.only_code(Code::WsInflateError);
    assert_eq!(a.dir, Some(Dir::C2S));
    assert!(a.detail.contains("no longer inflated"), "{}", a.detail);

    // With server_no_context_takeover the server must not refer back: an error, not garbage.
    let mut r = Run::deflate(true, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &second));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    let a = r.only_code(Code::WsInflateError);
    assert!(a.detail.contains("fresh window"), "{}", a.detail);
    let m = r.messages();
    assert_eq!(m.len(), 3);
    assert_eq!(m[1].valid_utf8, None);
    // ...and the next message starts over and inflates.
    assert_eq!((m[2].len, m[2].valid_utf8), (5, Some(true)));
}

#[test]
fn rfc7692_no_compression_block() {
    let payload = [
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &payload));
    assert!(r.codes().is_empty());
    assert_eq!(r.texts(), ["Hello"]);
}

#[test]
fn rfc7692_bfinal_block_then_more_messages() {
    let payload = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &payload));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    // The RFC's second "Hello" refers back across the final block into the first one.
    r.feed(
        Dir::S2C,
        &frame(true, true, 1, None, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
    );
    assert!(r.codes().is_empty(), "{:?}", r.sink.anomalies());
    assert_eq!(r.texts(), ["Hello", "Hello", "Hello"]);
}

#[test]
fn rfc7692_two_deflate_blocks_in_one_message() {
    let payload = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &payload));
    assert!(r.codes().is_empty());
    assert_eq!(r.texts(), ["Hello"]);
}

// ---------------------------------------------------------------------------------------------
// One test per anomaly code

#[test]
fn unmasked_client_frame() {
    let mut r = Run::plain();
    r.feed(Dir::C2S, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let a = r.only_code(Code::WsUnmaskedClientFrame);
    assert_eq!(a.dir, Some(Dir::C2S));
    // Decoding went on.
    assert_eq!(r.texts(), ["Hello"]);
}

#[test]
fn masked_server_frame() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(true, false, 2, Some(MASK), b"\x01\x02"));
    let a = r.only_code(Code::WsMaskedServerFrame);
    assert_eq!(a.dir, Some(Dir::S2C));
    assert_eq!(r.messages()[0].data_head, [1, 2]);
}

#[test]
fn reserved_opcode() {
    for op in [3u8, 7, 0xb, 0xf] {
        let mut r = Run::plain();
        r.feed(Dir::S2C, &frame(true, false, op, None, b"xyz"));
        r.feed(Dir::S2C, &frame(true, false, 1, None, b"ok"));
        let a = r.only_code(Code::WsReservedOpcode);
        assert!(a.detail.contains("3 payload bytes skipped"), "{}", a.detail);
        assert_eq!(r.sink.frames()[0].opcode, OpCode::Reserved(op));
        assert_eq!(r.texts(), ["ok"]);
    }
}

#[test]
fn rsv_without_extension() {
    // RSV1 without permessage-deflate.
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(true, true, 1, None, b"\xff"));
    let a = r.only_code(Code::WsRsvWithoutExtension);
    assert!(
        a.detail.contains("without permessage-deflate"),
        "{}",
        a.detail
    );
    // Its encoding is unknown: no UTF-8 verdict (so no second anomaly), bytes shown as sent.
    assert_eq!(r.messages()[0].valid_utf8, None);
    assert_eq!(r.messages()[0].data_head, b"\xff");

    // RSV1 on a continuation and on a control frame, RSV2 and RSV3, with deflate.
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(false, false, 1, None, b"a"));
    r.feed(Dir::S2C, &frame(true, true, 0, None, b"b"));
    r.feed(Dir::S2C, &frame(true, true, 9, None, b""));
    r.feed(Dir::S2C, &[0xb1, 0x00]);
    let d: Vec<String> = r
        .sink
        .anomalies()
        .iter()
        .map(|a| a.detail.clone())
        .collect();
    assert_eq!(r.codes(), vec![Code::WsRsvWithoutExtension; 3]);
    assert!(d[0].contains("continuation"), "{d:?}");
    assert!(d[1].contains("ping"));
    assert!(d[2].contains("RSV2") && d[2].contains("RSV3"));
    assert_eq!(r.texts(), ["ab", ""]);

    // An unknown extension was negotiated: its RSV use is not judged.
    let mut hs = handshake(None);
    hs.extensions = vec!["x-webkit-deflate-frame".into()];
    let mut r = Run::new(Some(&hs));
    r.feed(Dir::S2C, &[0xf1, 0x01, b'z']);
    assert!(r.codes().is_empty());
    assert_eq!(r.messages()[0].valid_utf8, None);
}

#[test]
fn control_too_long() {
    let mut r = Run::plain();
    let payload = [b'p'; 126];
    r.feed(Dir::S2C, &frame(true, false, 9, None, &payload));
    let a = r.only_code(Code::WsControlTooLong);
    assert!(a.detail.contains("126"), "{}", a.detail);
    assert_eq!(r.sink.frames()[0].payload_len, 126);
}

#[test]
fn control_fragmented() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &[0x09, 0x00, 0x81, 0x01, b'x']);
    let a = r.only_code(Code::WsControlFragmented);
    assert!(a.detail.contains("ping"), "{}", a.detail);
    assert_eq!(r.texts(), ["x"]);
}

#[test]
fn unexpected_continuation() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(true, false, 0, None, b"hi"));
    r.only_code(Code::WsUnexpectedContinuation);
    assert!(r.messages().is_empty());
    assert_eq!(r.sink.frames().len(), 1);
}

#[test]
fn interleaved_data() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(false, false, 1, None, b"a"));
    // A control frame inside a fragmented message is legal.
    r.feed(Dir::S2C, &frame(true, false, 9, None, b""));
    r.feed(Dir::S2C, &frame(true, false, 2, None, b"b"));
    let a = r.only_code(Code::WsInterleavedData);
    assert!(a.detail.contains("abandoned"), "{}", a.detail);
    let m = r.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0].opcode, m[0].data_head.as_slice()),
        (OpCode::Binary, &b"b"[..])
    );
}

#[test]
fn invalid_utf8_in_text_messages() {
    // Split across fragments: 'é' = c3 a9 cut between frames is fine.
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(false, false, 1, None, b"caf\xc3"));
    r.feed(Dir::S2C, &frame(true, false, 0, None, b"\xa9"));
    assert!(r.codes().is_empty());
    assert_eq!(r.messages()[0].valid_utf8, Some(true));

    // Invalid byte in the second fragment, masked.
    let mut r = Run::plain();
    r.feed(Dir::C2S, &frame(false, false, 1, Some(MASK), b"abc"));
    r.feed(Dir::C2S, &frame(true, false, 0, Some(MASK), b"d\xffe"));
    let a = r.only_code(Code::WsInvalidUtf8);
    assert!(a.detail.contains("byte 4"), "{}", a.detail);
    assert_eq!(r.messages()[0].valid_utf8, Some(false));

    // Ends inside a character.
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(true, false, 1, None, b"ab\xe2\x82"));
    let a = r.only_code(Code::WsInvalidUtf8);
    assert!(a.detail.contains("ends inside"), "{}", a.detail);

    // After inflation.
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let deflated = deflate(&mut c, b"ok \xc0\xaf no");
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &deflated));
    r.only_code(Code::WsInvalidUtf8);
    assert_eq!(r.messages()[0].valid_utf8, Some(false));
    assert_eq!(r.messages()[0].data_head, b"ok \xc0\xaf no");

    // Binary messages are not judged.
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(true, false, 2, None, b"\xff"));
    assert!(r.codes().is_empty());
}

#[test]
fn invalid_utf8_in_close_reason() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(true, false, 8, None, b"\x03\xe8bye \xff"));
    let a = r.only_code(Code::WsInvalidUtf8);
    assert!(a.detail.contains("close reason"), "{}", a.detail);
    let f = r.sink.frames();
    assert_eq!(f[0].close_code, Some(1000));
    assert_eq!(f[0].close_reason.as_deref(), Some(&b"bye \xff"[..]));
}

#[test]
fn invalid_close_code() {
    for (payload, fragment) in [
        (&b"\x03\xed"[..], "1005"),
        (b"\x03\xe7", "999"),
        (b"\x03\xec", "1004"),
        (b"\x03\xf7", "1015"),
        (b"\x07\xd0", "2000"),
        (b"\x13\x88", "5000"),
        (b"\x03", "1-byte"),
    ] {
        let mut r = Run::plain();
        r.feed(Dir::S2C, &frame(true, false, 8, None, payload));
        let a = r.only_code(Code::WsInvalidCloseCode);
        assert!(a.detail.contains(fragment), "{fragment}: {}", a.detail);
    }
    for ok in [
        &b""[..],
        b"\x03\xe8",
        b"\x03\xf6",
        b"\x0b\xb8",
        b"\x13\x87done",
    ] {
        let mut r = Run::plain();
        r.feed(Dir::S2C, &frame(true, false, 8, None, ok));
        assert!(r.codes().is_empty(), "{ok:?}");
    }
}

#[test]
fn data_after_close() {
    let mut r = Run::plain();
    r.feed(Dir::C2S, &frame(true, false, 8, Some(MASK), b"\x03\xe8"));
    // The other side may still send until it answers the close.
    r.feed(Dir::S2C, &frame(true, false, 1, None, b"late but legal"));
    r.feed(Dir::S2C, &frame(true, false, 8, None, b"\x03\xe8"));
    assert!(r.codes().is_empty());
    r.feed(Dir::C2S, &frame(true, false, 1, Some(MASK), b"too late"));
    let a = r.only_code(Code::WsDataAfterClose);
    assert_eq!(a.dir, Some(Dir::C2S));
    assert_eq!(r.texts(), ["late but legal", "too late"]);
}

#[test]
fn non_minimal_length() {
    let mut r = Run::plain();
    r.feed(
        Dir::S2C,
        &[0x81, 0x7e, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o'],
    );
    let a = r.only_code(Code::WsNonMinimalLength);
    assert!(a.detail.contains("in 2 bytes"), "{}", a.detail);
    let mut bytes = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
    bytes.extend([0u8; 256]);
    r.feed(Dir::S2C, &bytes);
    assert_eq!(r.codes().len(), 2);
    assert_eq!(r.texts()[0], "hello");
    assert_eq!(r.messages()[1].len, 256);
}

#[test]
fn length_too_large_stops_the_direction() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    r.feed(Dir::S2C, &frame(true, false, 1, None, b"lost"));
    r.feed(
        Dir::C2S,
        &frame(true, false, 1, Some(MASK), b"still decoded"),
    );
    let a = r.only_code(Code::WsLengthTooLarge);
    assert!(a.detail.contains("no longer decoded"), "{}", a.detail);
    assert_eq!(r.texts(), ["still decoded"]);
    // Split header: same verdict.
    let mut r = Run::plain();
    r.feed_chunks(
        Dir::S2C,
        &[0x82, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2],
        &[3],
    );
    r.only_code(Code::WsLengthTooLarge);
}

#[test]
fn inflate_error() {
    // 0x07: BFINAL = 1, BTYPE = 11 (reserved).
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &[0x07]));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    let a = r.only_code(Code::WsInflateError);
    assert!(a.detail.contains("no longer inflated"), "{}", a.detail);
    let m = r.messages();
    assert_eq!((m[0].valid_utf8, m[1].valid_utf8), (None, None));
    assert_eq!(m[1].len, 0);
    // Without context takeover the next message is inflated again.
    let mut r = Run::deflate(true, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &[0x07]));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    r.only_code(Code::WsInflateError);
    assert_eq!(r.texts()[1], "Hello");
}

#[test]
fn message_too_large() {
    let limits = Limits {
        max_inflated_message: 1000,
        ..Limits::default()
    };
    let hs = handshake(pmd(false, false));
    let mut r = Run::with(Some(&hs), &limits, 100);
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let bomb = deflate(&mut c, &vec![b'z'; 100_000]);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &bomb));
    let a = r.only_code(Code::WsMessageTooLarge);
    assert!(a.detail.contains("1000"), "{}", a.detail);
    let m = r.messages();
    assert_eq!((m[0].len, m[0].valid_utf8), (1000, None));
    assert_eq!(m[0].data_head, vec![b'z'; 100]);
}

#[test]
fn huge_length_claim_is_streamed_not_buffered() {
    let mut r = Run::with(Some(&handshake(None)), &Limits::default(), 64);
    r.feed(Dir::S2C, &[0x82, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    let chunk = vec![0xabu8; 1 << 20];
    for _ in 0..32 {
        r.feed(Dir::S2C, &chunk);
    }
    assert!(r.sink.events.is_empty());
    let side = &r.conn.sides[Dir::S2C.index()];
    assert_eq!(side.frame.remaining, (1u64 << 62) - (32 << 20));
    assert!(side.frame_head.capacity() <= RETAIN_HEAD);
    r.finish();
    let a = r.only_code(Code::WsTruncated);
    assert!(
        a.detail.contains("payload bytes of a binary frame missing"),
        "{}",
        a.detail
    );
}

#[test]
fn truncated() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(false, false, 1, None, b"part"));
    r.feed(Dir::C2S, &[0x81, 0x85, 1]);
    r.finish();
    let a = r.sink.anomalies();
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|a| a.code == Code::WsTruncated));
    assert!(
        a[0].detail.contains("3 bytes of a frame header"),
        "{}",
        a[0].detail
    );
    assert!(
        a[1].detail.contains("text message of 1 frames"),
        "{}",
        a[1].detail
    );
    // A clean end says nothing.
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(true, false, 1, None, b"done"));
    r.finish();
    assert!(r.codes().is_empty());
}

#[test]
fn inflater_cap() {
    let budget = InflaterBudget::new(1);
    let hs = handshake(pmd(false, false));
    let mut a = Run::new(Some(&hs));
    a.conn = WsConn::new(Some(&hs), &Limits::default(), 1024).with_inflater_budget(budget.clone());
    let mut b = Run::new(Some(&hs));
    b.conn = WsConn::new(Some(&hs), &Limits::default(), 1024).with_inflater_budget(budget.clone());
    a.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    assert_eq!(budget.available(), 0);
    b.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    b.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    assert!(a.codes().is_empty());
    assert_eq!(a.texts(), ["Hello"]);
    let an = b.only_code(Code::WsInflaterCap);
    assert!(an.detail.contains("max_inflaters"), "{}", an.detail);
    let m = b.messages();
    assert_eq!(m.len(), 2);
    assert!(
        m.iter()
            .all(|m| m.compressed && m.valid_utf8.is_none() && m.len == 0)
    );
    // The slot comes back when the connection is finished (or dropped).
    a.finish();
    assert_eq!(budget.available(), 1);
    drop(b);
    assert_eq!(budget.available(), 1);
}

impl Run {
    /// The memory budget asks the connection to give way (as the flow table does).
    fn give_way(&mut self) -> &mut Self {
        let pkt = CollectSink::pkt(self.pkt, self.ts);
        self.conn.give_way(&mut self.solo.cx(pkt, &mut self.sink));
        self
    }
}

#[test]
fn giving_way_releases_the_inflater_and_the_display_heads() {
    let budget = InflaterBudget::new(4);
    let hs = handshake(pmd(false, false));
    let mut r = Run::new(Some(&hs));
    r.conn = WsConn::new(Some(&hs), &Limits::default(), 1024).with_inflater_budget(budget.clone());
    // A compressed message in progress: its first frame inflated, FIN not yet seen.
    r.feed(Dir::S2C, &frame(false, true, 1, None, &HELLO_DEFLATED[..5]));
    let held = r.conn.held();
    assert!(held.buffers >= message::zlib_bytes(5), "{held:?}");
    r.give_way();
    assert_eq!(
        r.codes(),
        [Code::WsBudgetInflater, Code::WsBudgetDisplay],
        "{:#?}",
        r.sink.anomalies()
    );
    assert_eq!(budget.available(), 4, "the slot is back");
    assert_eq!(
        budget.spare(),
        0,
        "and the decompressor is freed, not pooled"
    );
    assert_eq!(r.conn.held().buffers, 0);
    // The rest of the message is counted, not inflated; with context takeover the direction
    // stays uninflated.
    r.feed(Dir::S2C, &frame(true, false, 0, None, &HELLO_DEFLATED[5..]));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    let m = r.messages();
    assert_eq!(m.len(), 2);
    assert!(
        m.iter()
            .all(|m| m.valid_utf8.is_none() && m.data_head.is_empty())
    );
    assert!(r.sink.anomalies()[0].detail.contains("no longer inflated"));

    // Without context takeover the next message gets a new inflater.
    let hs = handshake(pmd(true, false));
    let mut r = Run::new(Some(&hs));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    r.give_way();
    assert_eq!(r.codes(), [Code::WsBudgetInflater]);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    assert_eq!(r.messages()[1].valid_utf8, Some(true));
}

#[test]
fn giving_way_keeps_a_control_frame_in_progress_whole_and_forgets_pings() {
    let mut r = Run::plain();
    r.feed(Dir::C2S, &frame(true, false, 9, Some(MASK), b"ping-1"));
    let close = frame(true, false, 8, None, b"\x03\xe8bye");
    r.feed(Dir::S2C, &close[..4]);
    r.give_way();
    assert_eq!(r.codes(), [Code::WsBudgetPings]);
    r.feed(Dir::S2C, &close[4..]);
    let f = r.sink.frames();
    let last = f.last().expect("close frame");
    assert_eq!(
        (last.close_code, last.close_reason.as_deref()),
        (Some(1000), Some(&b"bye"[..]))
    );
    // The pong that answers the forgotten ping is not timed.
    r.feed(Dir::S2C, &frame(true, false, 10, None, b"ping-1"));
    assert!(r.conn.ping_rtts().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Gaps and resynchronisation

#[test]
fn gap_inside_a_payload_keeps_framing() {
    let mut r = Run::plain();
    let f = frame(true, false, 1, None, b"0123456789");
    r.feed(Dir::S2C, &f[..5]);
    r.gap(Dir::S2C, 4);
    r.feed(Dir::S2C, &f[9..]);
    r.feed(Dir::S2C, &frame(true, false, 1, None, b"next"));
    assert!(r.codes().is_empty(), "{:?}", r.sink.anomalies());
    let m = r.messages();
    assert_eq!((m[0].len, m[0].wire_len, m[0].valid_utf8), (10, 10, None));
    assert_eq!(m[0].data_head, b"012");
    assert_eq!(r.sink.frames()[0].payload_head, b"012");
    assert_eq!(
        (m[1].valid_utf8, m[1].data_head.as_slice()),
        (Some(true), &b"next"[..])
    );

    // A fragmented message damaged in its first frame: later fragments still count.
    let mut r = Run::plain();
    let first = frame(false, false, 1, None, b"0123456789");
    r.feed(Dir::S2C, &first[..5]);
    r.gap(Dir::S2C, 4);
    r.feed(Dir::S2C, &first[9..]);
    r.feed(Dir::S2C, &frame(true, false, 0, None, b"abc"));
    assert!(r.codes().is_empty());
    let m = r.messages();
    assert_eq!((m[0].frames, m[0].len, m[0].wire_len), (2, 13, 13));
    assert_eq!(
        (m[0].data_head.as_slice(), m[0].valid_utf8),
        (&b"012"[..], None)
    );
    assert_eq!(r.sink.frames()[1].payload_head, b"abc");

    // A gap that ends exactly at the frame's end completes the frame.
    let mut r = Run::plain();
    r.feed(Dir::S2C, &f[..5]);
    r.gap(Dir::S2C, 7);
    assert_eq!(r.sink.frames().len(), 1);
    r.feed(Dir::S2C, &frame(true, false, 1, None, b"next"));
    assert_eq!(r.texts(), ["012", "next"]);
}

#[test]
fn gap_inside_a_compressed_payload() {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let text = "a fairly long text message that deflates to more than a few bytes".repeat(4);
    let m1 = deflate(&mut c, text.as_bytes());
    let m2 = deflate(&mut c, text.as_bytes());
    // Context takeover: the window is gone for good.
    let mut r = Run::deflate(false, false);
    let f1 = frame(true, true, 1, None, &m1);
    r.feed(Dir::S2C, &f1[..6]);
    r.gap(Dir::S2C, 3);
    r.feed(Dir::S2C, &f1[9..]);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &m2));
    let a = r.only_code(Code::WsResync);
    assert!(a.detail.contains("framing kept"), "{}", a.detail);
    assert!(a.detail.contains("s2c no longer inflated"), "{}", a.detail);
    let m = r.messages();
    assert_eq!((m[0].valid_utf8, m[1].valid_utf8), (None, None));
    assert_eq!(m[1].wire_len, m2.len() as u64);

    // Without context takeover the next message is fine.
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let m1 = deflate(&mut c, text.as_bytes());
    c.reset();
    let m2 = deflate(&mut c, text.as_bytes());
    let mut r = Run::deflate(true, false);
    let f1 = frame(true, true, 1, None, &m1);
    r.feed(Dir::S2C, &f1[..6]);
    r.gap(Dir::S2C, 3);
    r.feed(Dir::S2C, &f1[9..]);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &m2));
    assert!(r.codes().is_empty());
    assert_eq!(r.texts()[1], text);
}

#[test]
fn resync_on_a_segment_that_starts_with_a_frame() {
    let mut r = Run::plain();
    r.feed(Dir::C2S, &frame(true, false, 1, Some(MASK), b"one"));
    // Lost: a whole frame and the start of another one.
    r.gap(Dir::C2S, 40);
    let f3 = frame(true, false, 1, Some([1, 2, 3, 4]), b"three");
    r.feed(Dir::C2S, &f3);
    r.feed(Dir::C2S, &frame(true, false, 1, Some(MASK), b"four"));
    // Decoding resumed on the first byte after the gap: nothing lost beyond the gap's own
    // bytes (the caller reports those as tcp.gap), so nothing more to report.
    assert!(r.codes().is_empty(), "{:?}", r.sink.anomalies());
    assert_eq!(r.texts(), ["one", "three", "four"]);

    // The same with captured bytes to skip before the next header: those are reported.
    let mut r = Run::plain();
    r.feed(Dir::C2S, &frame(true, false, 1, Some(MASK), b"one"));
    r.gap(Dir::C2S, 40);
    let mut seg = b"\x00\x00tail of a lost frame".to_vec();
    seg.extend(frame(true, false, 1, Some([1, 2, 3, 4]), b"three"));
    seg.extend(frame(true, false, 1, Some(MASK), b"four"));
    r.feed(Dir::C2S, &seg);
    let a = r.only_code(Code::WsResync);
    assert!(a.detail.contains("gap of 40 bytes"), "{}", a.detail);
    assert!(a.detail.contains("after skipping 22 bytes"), "{}", a.detail);
    assert_eq!(r.texts(), ["one", "three", "four"]);
}

#[test]
fn resync_mid_segment_needs_two_chained_headers() {
    let mut r = Run::plain();
    let old = frame(true, false, 2, None, &[0x81; 300]);
    r.feed(Dir::S2C, &old[..50]);
    r.gap(Dir::S2C, 400);
    // Junk that looks like a lone header (0x81 0x02 ...) is not enough; two chained frames are.
    let mut seg = vec![0x00, 0x81, 0x02, b'x'];
    let f_a = frame(true, false, 1, None, b"alpha");
    let f_b = frame(true, false, 2, None, b"beta");
    seg.extend(&f_a);
    seg.extend(&f_b);
    r.feed(Dir::S2C, &seg);
    let a = r.only_code(Code::WsResync);
    assert!(a.detail.contains("after skipping 4 bytes"), "{}", a.detail);
    // The frame cut by the gap was completed (damaged), its message too.
    let f = r.sink.frames();
    assert_eq!((f[0].payload_len, f[0].payload_head.len()), (300, 46));
    let m = r.messages();
    assert_eq!(m.len(), 3);
    assert_eq!(
        (m[0].opcode, m[0].wire_len, m[0].len),
        (OpCode::Binary, 300, 300)
    );
    assert_eq!(m[0].data_head, [0x81; 46]);
    assert_eq!(&r.texts()[1..], ["alpha", "beta"]);
}

#[test]
fn resync_follows_the_mask_bit_the_side_uses() {
    // A client that never masks: flagged per frame, but still resynchronised.
    let mut r = Run::plain();
    r.feed(Dir::C2S, &frame(true, false, 1, None, b"a"));
    r.gap(Dir::C2S, 10);
    r.feed(Dir::C2S, &frame(true, false, 1, None, b"b"));
    assert_eq!(
        r.codes(),
        vec![Code::WsUnmaskedClientFrame, Code::WsUnmaskedClientFrame]
    );
    assert_eq!(r.texts(), ["a", "b"]);
}

#[test]
fn resync_gives_up_after_the_scan_limit() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &[0x82, 0x7e]);
    r.gap(Dir::S2C, 10);
    let junk = vec![0x00u8; 64 << 10];
    for _ in 0..=(RESYNC_SCAN_LIMIT / junk.len() as u64) {
        r.feed(Dir::S2C, &junk);
    }
    r.feed(Dir::S2C, &frame(true, false, 1, None, b"ignored"));
    let a = r.only_code(Code::WsResync);
    assert!(a.detail.contains("s2c no longer decoded"), "{}", a.detail);
    assert!(r.messages().is_empty());
}

#[test]
fn gap_across_frames_with_context_takeover_stops_inflation() {
    let mut r = Run::deflate(false, false);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    r.gap(Dir::S2C, 7);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    // The window is lost (reported); resuming right after the gap is not news.
    let a = r.only_code(Code::WsResync);
    assert!(a.detail.contains("no longer inflated"), "{}", a.detail);
    let m = r.messages();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].valid_utf8, None);
}

#[test]
fn continuation_after_resync_is_not_flagged() {
    let mut r = Run::plain();
    r.feed(Dir::S2C, &frame(false, false, 1, None, b"start"));
    r.gap(Dir::S2C, 20);
    let mut seg = frame(false, false, 1, None, b"x");
    seg.truncate(0);
    // After the gap: a ping and a final continuation (resync needs a non-continuation first).
    seg.extend(frame(true, false, 9, None, b"p"));
    seg.extend(frame(true, false, 0, None, b"end"));
    seg.extend(frame(true, false, 1, None, b"fresh"));
    r.feed(Dir::S2C, &seg);
    // The fragmented message whose first frame was seen is dropped: that is reported once;
    // the continuation after the resync belongs to it and is not flagged.
    let a = r.only_code(Code::WsResync);
    assert!(
        a.detail
            .contains("fragmented text message in progress (1 frames, 5 bytes seen)"),
        "{}",
        a.detail
    );
    assert_eq!(r.texts(), ["fresh"]);
}

// ---------------------------------------------------------------------------------------------
// Mid-stream

#[test]
fn midstream_without_handshake() {
    let mut r = Run::new(None);
    // A continuation first: the message started before the capture.
    r.feed(Dir::S2C, &frame(true, false, 0, None, b"tail"));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    r.feed(
        Dir::S2C,
        &frame(true, true, 1, None, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
    );
    assert!(r.codes().is_empty(), "{:?}", r.sink.anomalies());
    assert_eq!(r.texts(), ["Hello", "Hello"]);
    assert!(r.messages()[0].compressed);

    // Picked up after the window was built: fails silently, retried per message.
    let mut r = Run::new(None);
    r.feed(
        Dir::S2C,
        &frame(true, true, 1, None, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
    );
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    assert!(r.codes().is_empty());
    let m = r.messages();
    assert_eq!(m[0].valid_utf8, None);
    assert_eq!(m[1].valid_utf8, Some(true));
    assert_eq!(r.texts()[1], "Hello");

    // Rules that need no negotiation still hold.
    let mut r = Run::new(None);
    r.feed(Dir::C2S, &frame(true, true, 9, None, b""));
    assert_eq!(
        r.codes(),
        vec![Code::WsUnmaskedClientFrame, Code::WsRsvWithoutExtension]
    );
}

#[test]
fn sniffing() {
    let text = frame(true, false, 1, None, b"hi");
    assert_eq!(sniff_frames(&text), Some(false));
    let masked = frame(true, false, 2, Some(MASK), &[0; 30]);
    assert_eq!(sniff_frames(&masked), Some(true));
    // Two headers, the second cut short.
    let mut two = frame(true, false, 9, Some(MASK), b"");
    two.extend(&frame(true, false, 1, Some(MASK), &[1; 300])[..20]);
    assert_eq!(sniff_frames(&two), Some(true));
    // One frame that does not end with the data: not enough evidence.
    assert_eq!(
        sniff_frames(&frame(true, false, 1, None, b"hello")[..5]),
        None
    );
    // Not WebSocket.
    for other in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"HTTP/1.1 200 OK\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"",
        b"\x81",
        b"\x00\x00\x00\x00",
        b"Bb",
    ] {
        assert_eq!(sniff_frames(other), None, "{other:?}");
    }
    // Mixed mask bits.
    let mut mixed = frame(true, false, 1, None, b"a");
    mixed.extend(frame(true, false, 1, Some(MASK), b"b"));
    assert_eq!(sniff_frames(&mixed[..3]), Some(false));
    assert_eq!(sniff_frames(&mixed), None);
}

// ---------------------------------------------------------------------------------------------
// Helpers for deflate and the property tests

/// Compresses one message as a permessage-deflate sender does: sync flush, tail removed.
fn deflate(c: &mut flate2::Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let start_in = c.total_in();
    loop {
        let done = (c.total_in() - start_in) as usize;
        let before = c.total_out();
        c.compress_vec(&data[done..], &mut out, flate2::FlushCompress::Sync)
            .expect("compressing into a vector");
        let finished = (c.total_in() - start_in) as usize == data.len();
        if finished && out.len() < out.capacity() && c.total_out() >= before {
            break;
        }
        out.reserve(out.capacity().max(1024));
    }
    // An empty message right after a flush makes zlib emit nothing; senders then send a
    // single empty stored-block header byte instead (RFC 7692 §7.2.3.6).
    if out.is_empty() {
        return vec![0x00];
    }
    assert!(out.ends_with(&message::DEFLATE_TAIL));
    out.truncate(out.len() - 4);
    out
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use tungstenite::protocol::frame::coding::{Control, Data, OpCode as TOp};
    use tungstenite::protocol::frame::{Frame, FrameHeader as THeader};

    #[derive(Clone, Debug)]
    struct Spec {
        text: bool,
        len: usize,
        seed: u8,
        /// Fragment boundaries as fractions of the length (per mille).
        cuts: Vec<u16>,
        /// Insert a ping after fragment i (if any).
        pings: Vec<bool>,
        compress: bool,
        masks: Vec<[u8; 4]>,
    }

    fn size() -> impl Strategy<Value = usize> {
        prop_oneof![
            4 => 0usize..200,
            1 => Just(0usize),
            1 => Just(125usize),
            1 => Just(126usize),
            1 => Just(65535usize),
            1 => Just(65536usize),
            1 => 65537usize..70_000,
            1 => 200usize..5000,
        ]
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            any::<bool>(),
            size(),
            any::<u8>(),
            proptest::collection::vec(0u16..=1000, 0..4),
            proptest::collection::vec(any::<bool>(), 0..5),
            any::<bool>(),
            proptest::collection::vec(any::<[u8; 4]>(), 5..6),
        )
            .prop_map(|(text, len, seed, cuts, pings, compress, masks)| Spec {
                text,
                len,
                seed,
                cuts,
                pings,
                compress,
                masks,
            })
    }

    /// Deterministic content: multi-byte UTF-8 for text (exactly `len` bytes), bytes for binary.
    fn content(spec: &Spec) -> Vec<u8> {
        let mut x = u32::from(spec.seed) | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        if !spec.text {
            return (0..spec.len).map(|_| next() as u8).collect();
        }
        const CHARS: [&str; 8] = ["a", " ", "é", "€", "𝄞", "z", "\n", "ß"];
        let mut s = String::with_capacity(spec.len);
        while s.len() < spec.len {
            let c = CHARS[(next() % 8) as usize];
            if s.len() + c.len() <= spec.len {
                s.push_str(c);
            } else {
                s.push('.');
            }
        }
        s.into_bytes()
    }

    fn op(text: bool) -> TOp {
        TOp::Data(if text { Data::Text } else { Data::Binary })
    }

    struct Expected {
        data: Vec<u8>,
        frames: u32,
        wire_len: u64,
        compressed: bool,
        text: bool,
    }

    /// Encodes the messages of one direction with tungstenite's frame writer.
    fn encode(
        specs: &[Spec],
        masked: bool,
        deflater: &mut Option<flate2::Compress>,
        no_ctx: bool,
    ) -> (Vec<u8>, Vec<Expected>, usize) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        let mut ping_count = 0;
        for spec in specs {
            let data = content(spec);
            let compressed = spec.compress && deflater.is_some();
            let payload = match deflater.as_mut() {
                Some(c) if compressed => {
                    if no_ctx {
                        c.reset();
                    }
                    deflate(c, &data)
                }
                _ => data.clone(),
            };
            let mut cuts: Vec<usize> = spec
                .cuts
                .iter()
                .map(|&c| payload.len() * usize::from(c) / 1000)
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(cuts.into_iter().filter(|&c| c > 0 && c < payload.len()));
            bounds.push(payload.len());
            let n_frames = bounds.len() - 1;
            for i in 0..n_frames {
                let header = THeader {
                    is_final: i + 1 == n_frames,
                    rsv1: compressed && i == 0,
                    rsv2: false,
                    rsv3: false,
                    opcode: if i == 0 {
                        op(spec.text)
                    } else {
                        TOp::Data(Data::Continue)
                    },
                    mask: masked.then(|| spec.masks[i % spec.masks.len()]),
                };
                let part = payload[bounds[i]..bounds[i + 1]].to_vec();
                Frame::from_payload(header, part.into())
                    .format(&mut wire)
                    .expect("formatting into a vector");
                if spec.pings.get(i).copied().unwrap_or(false) && i + 1 < n_frames {
                    let header = THeader {
                        opcode: TOp::Control(Control::Ping),
                        mask: masked.then_some([1, 2, 3, 4]),
                        ..THeader::default()
                    };
                    Frame::from_payload(header, vec![spec.seed; 3].into())
                        .format(&mut wire)
                        .expect("formatting into a vector");
                    ping_count += 1;
                }
            }
            expected.push(Expected {
                data,
                frames: n_frames as u32,
                wire_len: payload.len() as u64,
                compressed,
                text: spec.text,
            });
        }
        (wire, expected, ping_count)
    }

    fn check_messages(r: &Run, dir: Dir, expected: &[Expected], cap: usize) {
        let got: Vec<&OwnedMessage> = r.messages().into_iter().filter(|m| m.dir == dir).collect();
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert_eq!(g.opcode, if e.text { OpCode::Text } else { OpCode::Binary });
            assert_eq!(g.frames, e.frames, "message {i}");
            assert_eq!(g.len, e.data.len() as u64, "message {i}");
            assert_eq!(g.wire_len, e.wire_len, "message {i}");
            assert_eq!(g.compressed, e.compressed, "message {i}");
            assert_eq!(g.valid_utf8, e.text.then_some(true), "message {i}");
            assert_eq!(g.data_head, &e.data[..e.data.len().min(cap)], "message {i}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn tungstenite_frames_decode_back(
            c2s in proptest::collection::vec(spec(), 0..5),
            s2c in proptest::collection::vec(spec(), 0..5),
            deflate_on in any::<bool>(),
            server_no_ctx in any::<bool>(),
            client_no_ctx in any::<bool>(),
            chunks in proptest::collection::vec(1usize..3000, 1..8),
        ) {
            let params = deflate_on.then_some(DeflateParams {
                server_no_context_takeover: server_no_ctx,
                client_no_context_takeover: client_no_ctx,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            });
            let new_deflater = || deflate_on.then(|| {
                flate2::Compress::new(flate2::Compression::fast(), false)
            });
            let (wire_c, exp_c, pings_c) = encode(&c2s, true, &mut new_deflater(), client_no_ctx);
            let (wire_s, exp_s, pings_s) = encode(&s2c, false, &mut new_deflater(), server_no_ctx);
            let cap = 65536;
            let mut r = Run::with(Some(&handshake(params)), &Limits::default(), 70_000);
            // Interleave the two directions chunk by chunk.
            let (mut pc, mut ps, mut i) = (0, 0, 0);
            while pc < wire_c.len() || ps < wire_s.len() {
                let n = chunks[i % chunks.len()];
                i += 1;
                if pc < wire_c.len() {
                    let end = (pc + n).min(wire_c.len());
                    r.feed(Dir::C2S, &wire_c[pc..end]);
                    pc = end;
                }
                if ps < wire_s.len() {
                    let end = (ps + n).min(wire_s.len());
                    r.feed(Dir::S2C, &wire_s[ps..end]);
                    ps = end;
                }
            }
            r.finish();
            prop_assert!(r.codes().is_empty(), "{:?}", r.sink.anomalies());
            check_messages(&r, Dir::C2S, &exp_c, cap);
            check_messages(&r, Dir::S2C, &exp_s, cap);
            let frames = r.sink.frames();
            let expected_frames: u32 = exp_c.iter().chain(&exp_s).map(|e| e.frames).sum();
            prop_assert_eq!(frames.len(), expected_frames as usize + pings_c + pings_s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            chunks in proptest::collection::vec(1usize..64, 1..8),
            with_deflate in any::<bool>(),
            midstream in any::<bool>(),
            gap_at in proptest::option::of(0usize..2000),
        ) {
            let hs = handshake(if with_deflate { pmd(false, true) } else { None });
            let mut r = Run::with(
                (!midstream).then_some(&hs),
                &Limits { max_inflated_message: 4096, ..Limits::default() },
                64,
            );
            let (mut pos, mut i) = (0, 0);
            while pos < data.len() {
                let n = chunks[i % chunks.len()].min(data.len() - pos);
                let dir = if data[pos] & 1 == 0 { Dir::C2S } else { Dir::S2C };
                r.feed(dir, &data[pos..pos + n]);
                if gap_at.is_some_and(|g| g >= pos && g < pos + n) {
                    r.gap(dir, u64::from(data[pos]) * 3 + 1);
                }
                pos += n;
                i += 1;
            }
            r.finish();
            for m in r.messages() {
                prop_assert!(m.data_head.len() <= 64);
                prop_assert!(m.len <= m.wire_len.max(4096) || !m.compressed);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --digest

fn sha256(data: &[u8]) -> crate::model::Digest {
    use sha2::Digest as _;
    crate::model::Digest::Sha256(sha2::Sha256::digest(data).into())
}

fn digest_run(hs: Option<&Handshake>, preview: usize) -> Run {
    let mut r = Run::with(hs, &Limits::default(), preview);
    r.conn = WsConn::new(hs, &Limits::default(), preview).with_digest(true);
    r
}

#[test]
fn digest_covers_whole_masked_fragmented_messages_beyond_the_preview() {
    // Binary is otherwise only unmasked as far as the preview needs: the digest needs it all.
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut bytes = frame(false, false, 2, Some(MASK), &data[..12_345]);
    bytes.extend(frame(true, false, 9, Some([1, 2, 3, 4]), b"ping"));
    bytes.extend(frame(true, false, 0, Some([5, 6, 7, 8]), &data[12_345..]));
    for chunks in [&[1500usize][..], &[1, 7, 3000]] {
        let mut r = digest_run(Some(&handshake(None)), 16);
        r.feed_chunks(Dir::C2S, &bytes, chunks);
        assert!(r.codes().is_empty(), "{:?}", r.codes());
        let m = r.messages();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].len, 70_000);
        assert_eq!(m[0].data_head.len(), 16);
        assert_eq!(m[0].digest, sha256(&data));
    }
    // Off by default: no digest, and the same message otherwise.
    let mut r = Run::with(Some(&handshake(None)), &Limits::default(), 16);
    r.feed(Dir::C2S, &bytes);
    assert_eq!(r.messages()[0].digest, crate::model::Digest::Off);
}

#[test]
fn digest_is_of_the_inflated_message() {
    let mut r = digest_run(Some(&handshake(pmd(false, false))), 8);
    let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &second));
    r.feed(Dir::C2S, &frame(true, false, 1, Some(MASK), b"Hello"));
    let m = r.messages();
    assert_eq!(m.len(), 3);
    for m in m {
        assert_eq!(m.digest, sha256(b"Hello"), "{m:?}");
    }
}

#[test]
fn digest_is_withheld_when_bytes_are_missing_or_not_inflated() {
    use crate::model::Digest;
    // A gap inside the payload: framing kept, message incomplete.
    let mut r = digest_run(Some(&handshake(None)), 64);
    let f = frame(true, false, 2, None, &[0xab; 100]);
    r.feed(Dir::S2C, &f[..40])
        .gap(Dir::S2C, 30)
        .feed(Dir::S2C, &f[70..]);
    r.feed(Dir::S2C, &frame(true, false, 1, None, b"next"));
    let m = r.messages();
    assert_eq!(m.len(), 2);
    assert_eq!((m[0].len, m[0].digest), (100, Digest::Incomplete));
    // The hasher is ready again for the next message.
    assert_eq!(m[1].digest, sha256(b"next"));

    // Data that does not inflate, and a message beyond the inflate cap.
    let mut r = digest_run(Some(&handshake(pmd(true, true))), 64);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &[0xff, 0xff, 0xff]));
    r.feed(Dir::S2C, &frame(true, true, 1, None, &HELLO_DEFLATED));
    let m = r.messages();
    assert_eq!(m[0].digest, Digest::Incomplete);
    assert_eq!(m[1].digest, sha256(b"Hello"));

    let limits = Limits {
        max_inflated_message: 1000,
        ..Limits::default()
    };
    let hs = handshake(pmd(false, false));
    let mut r = Run::with(Some(&hs), &limits, 100);
    r.conn = WsConn::new(Some(&hs), &limits, 100).with_digest(true);
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let bomb = deflate(&mut c, &vec![b'z'; 100_000]);
    r.feed(Dir::S2C, &frame(true, true, 1, None, &bomb));
    assert_eq!(r.messages()[0].digest, Digest::Incomplete);
}
