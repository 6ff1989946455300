//! Recognising WebSocket in a connection whose handshake was not seen (picked up mid-stream, or
//! the handshake lost in a gap): how much evidence one delivery of one direction gives that it
//! is WebSocket framing. A detector commits to WebSocket only on [`Evidence::Strong`], or on two
//! consecutive deliveries that each give at least [`Evidence::Weak`]; anything else stays what it
//! was (opaque, or HTTP still resynchronising), quietly.
//!
//! Evidence is strict on purpose: bytes of other protocols (binary bodies, MS-RPC, TLS) often
//! start with two bytes that parse as a frame header, rarely with a run of frames that obeys
//! every rule of RFC 6455 and ends exactly where the delivery ends. A delivery gives evidence
//! only when:
//! - frames tile it exactly: the first frame starts at its first byte, each next frame right
//!   after the previous one's payload, and the last payload ends at its last byte;
//! - every frame has the MASK bit of its direction (client frames masked, server frames not,
//!   RFC 6455 §5.1), RSV2/RSV3 clear, RSV1 only on the first frame of a data message, a defined
//!   opcode, a minimally encoded length, and control frames have FIN and at most 125 bytes;
//! - the frames make sense as messages: the first is not a continuation (its message's start
//!   cannot be judged), a continuation follows a data frame without FIN, no data frame starts
//!   while a fragmented message is open, nothing follows a close;
//! - payloads say the same: uncompressed text is UTF-8 (the whole message when it ends in the
//!   delivery), a close payload is empty or an allowed code with a UTF-8 reason.
//!
//! It is [`Evidence::Strong`] with two or more frames, or with one text or close frame whose
//! payload was checked (a valid non-empty text, an allowed close code); a lone binary, ping, pong
//! or compressed frame is [`Evidence::Weak`]: one tiled frame of random bytes is about 1 in 10⁵
//! per delivery, too often for the thousands of deliveries a large capture offers.

use super::close::close_code_allowed;
use super::frame::{FrameHeader, Plausible};
use super::mask::unmask_into;
use super::message::Utf8Stream;
use crate::model::OpCode;

/// How much one delivery shows WebSocket framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Evidence {
    /// Not WebSocket framing, or nothing that can be told.
    None,
    /// One frame that tiles the delivery, with nothing in its payload to check.
    Weak,
    /// Several frames, or a frame whose payload was checked.
    Strong,
}

/// Payload bytes unmasked per step while checking text and close payloads.
const STEP: usize = 256;

/// The evidence that `data` (one whole delivery of one direction; `client`: sent by the client)
/// is WebSocket framing.
pub fn evidence(data: &[u8], client: bool) -> Evidence {
    let rule = Plausible {
        masked: Some(client),
        rsv1_ok: true,
    };
    let mut pos = 0usize;
    let mut frames = 0u32;
    let mut checked = false;
    // A fragmented message is open: `Some(text)` (text: its payload is checked as UTF-8).
    let mut open: Option<bool> = None;
    let mut utf8 = Utf8Stream::default();
    let mut closed = false;
    while pos < data.len() {
        let rest = data.get(pos..).unwrap_or_default();
        let Ok(Some(h)) = FrameHeader::parse(rest) else {
            return Evidence::None;
        };
        if closed || !rule.accepts(&h) {
            return Evidence::None;
        }
        let Some(end) = usize::try_from(h.payload_len())
            .ok()
            .and_then(|n| n.checked_add(h.len()))
        else {
            return Evidence::None;
        };
        let Some(payload) = rest.get(h.len()..end) else {
            return Evidence::None; // the frame does not end inside the delivery
        };
        match h.opcode() {
            OpCode::Continuation => {
                let Some(text) = open else {
                    return Evidence::None;
                };
                if text && !check_utf8(&mut utf8, payload, h.mask()) {
                    return Evidence::None;
                }
                if h.fin() {
                    open = None;
                    if text {
                        if !utf8.finish() {
                            return Evidence::None;
                        }
                        checked = true;
                    }
                }
            }
            OpCode::Text | OpCode::Binary => {
                if open.is_some() {
                    return Evidence::None;
                }
                let text = h.opcode() == OpCode::Text && !h.rsv1();
                utf8.reset();
                if text && !check_utf8(&mut utf8, payload, h.mask()) {
                    return Evidence::None;
                }
                if h.fin() {
                    if text {
                        if !utf8.finish() {
                            return Evidence::None;
                        }
                        checked |= !payload.is_empty();
                    }
                } else {
                    open = Some(text);
                }
            }
            OpCode::Close => {
                match payload.len() {
                    0 => {}
                    1 => return Evidence::None,
                    _ => {
                        let mut code = [0u8; 2];
                        let raw = payload.get(..2).unwrap_or_default();
                        match h.mask() {
                            Some(key) => unmask_into(raw, &mut code, key, 0),
                            None => code.copy_from_slice(raw),
                        }
                        if !close_code_allowed(u16::from_be_bytes(code)) {
                            return Evidence::None;
                        }
                        let mut reason = Utf8Stream::default();
                        let tail = payload.get(2..).unwrap_or_default();
                        if !check_utf8_from(&mut reason, tail, h.mask(), 2) || !reason.finish() {
                            return Evidence::None;
                        }
                        checked = true;
                    }
                }
                closed = true;
            }
            OpCode::Ping | OpCode::Pong | OpCode::Reserved(_) => {}
        }
        frames += 1;
        pos = pos.saturating_add(end);
    }
    match frames {
        0 => Evidence::None,
        1 if !checked => Evidence::Weak,
        _ => Evidence::Strong,
    }
}

fn check_utf8(stream: &mut Utf8Stream, payload: &[u8], mask: Option<[u8; 4]>) -> bool {
    check_utf8_from(stream, payload, mask, 0)
}

/// Feeds `payload` (which starts at offset `phase` of its frame's payload) to `stream`,
/// unmasked.
fn check_utf8_from(
    stream: &mut Utf8Stream,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    phase: usize,
) -> bool {
    let Some(key) = mask else {
        return stream.feed(payload);
    };
    let mut buf = [0u8; STEP];
    for (i, piece) in payload.chunks(STEP).enumerate() {
        let out = buf.get_mut(..piece.len()).unwrap_or_default();
        unmask_into(piece, out, key, phase + i * STEP);
        if !stream.feed(out) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// One frame, masked by `KEY` when sent by the `client`.
    fn frame(fin: bool, opcode: u8, client: bool, payload: &[u8]) -> Vec<u8> {
        super::super::tests::frame(fin, false, opcode, client.then_some(KEY), payload)
    }

    #[test]
    fn one_checked_frame_is_strong_one_unchecked_is_weak() {
        for client in [true, false] {
            assert_eq!(
                evidence(&frame(true, 1, client, b"hello again"), client),
                Evidence::Strong
            );
            let close = frame(true, 8, client, b"\x03\xe8bye");
            assert_eq!(evidence(&close, client), Evidence::Strong);
            assert_eq!(
                evidence(&frame(true, 2, client, &[7; 32]), client),
                Evidence::Weak
            );
            assert_eq!(
                evidence(&frame(true, 9, client, b"ping"), client),
                Evidence::Weak
            );
            // The other direction's masking rule.
            assert_eq!(
                evidence(&frame(true, 1, !client, b"hello"), client),
                Evidence::None
            );
        }
    }

    #[test]
    fn several_frames_that_tile_the_delivery_are_strong() {
        let mut two = frame(true, 2, false, &[1; 200]);
        two.extend(frame(true, 10, false, b""));
        assert_eq!(evidence(&two, false), Evidence::Strong);
        // Fragments of one text message, with a ping between them.
        let mut frags = frame(false, 1, true, "caf".as_bytes());
        frags.extend(frame(true, 9, true, b""));
        frags.extend(frame(true, 0, true, "é!".as_bytes()));
        assert_eq!(evidence(&frags, true), Evidence::Strong);
        // ... but not one cut short, nor with bytes after the last frame.
        assert_eq!(evidence(&two[..two.len() - 1], false), Evidence::None);
        let mut extra = two.clone();
        extra.push(0);
        assert_eq!(evidence(&extra, false), Evidence::None);
    }

    #[test]
    fn frames_that_break_a_rule_are_no_evidence() {
        let none = |bytes: &[u8], client: bool| assert_eq!(evidence(bytes, client), Evidence::None);
        // MS-RPC seen on the wire: an empty binary frame, then an orphan continuation.
        let mut orphan = frame(true, 2, false, b"");
        orphan.extend(frame(false, 0, false, &[0x5d; 72]));
        none(&orphan, false);
        // A continuation first: its message cannot be judged.
        none(&frame(true, 0, false, b"tail"), false);
        // A new data frame inside a fragmented message.
        let mut interleaved = frame(false, 1, false, b"a");
        interleaved.extend(frame(true, 1, false, b"b"));
        none(&interleaved, false);
        // Text that is not UTF-8, a 1-byte close, a close code not allowed, data after close.
        none(&frame(true, 1, true, b"caf\xc3\x28"), true);
        none(&frame(true, 8, false, b"\x03"), false);
        none(&frame(true, 8, false, b"\x03\xed"), false);
        let mut after = frame(true, 8, false, b"");
        after.extend(frame(true, 1, false, b"late"));
        none(&after, false);
        // Reserved opcode, RSV2, a control frame without FIN, a non-minimal length.
        none(&[0x83, 0x00], false);
        none(&[0xa2, 0x00], false);
        none(&[0x09, 0x00], false);
        none(&[0x82, 0x7e, 0x00, 0x05, 1, 2, 3, 4, 5], false);
        // HTTP, TLS, nothing.
        none(b"GET / HTTP/1.1\r\n\r\n", true);
        none(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", true);
        none(b"", false);
    }

    proptest::proptest! {
        #[test]
        fn real_framing_is_evidence_and_arbitrary_bytes_never_panic(
            frames in proptest::collection::vec(
                (0usize..4, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)),
                1..6),
            client in proptest::prelude::any::<bool>(),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        ) {
            let _ = evidence(&noise, client);
            let mut bytes = Vec::new();
            for (kind, payload) in &frames {
                let (opcode, payload) = match kind {
                    0 => (1, String::from_utf8_lossy(payload).into_owned().into_bytes()),
                    1 => (2, payload.clone()),
                    2 => (9, payload[..payload.len().min(125)].to_vec()),
                    _ => (10, payload[..payload.len().min(125)].to_vec()),
                };
                bytes.extend(frame(true, opcode, client, &payload));
            }
            let found = evidence(&bytes, client);
            proptest::prop_assert!(found >= Evidence::Weak, "{:?}", found);
            if frames.len() > 1 {
                proptest::prop_assert_eq!(found, Evidence::Strong);
            }
            // The other direction's masking rule never holds.
            proptest::prop_assert_eq!(evidence(&bytes, !client), Evidence::None);
        }
    }

    #[test]
    fn compressed_and_ascii_looking_frames_are_only_weak() {
        // RSV1 + text without FIN is 'A': ASCII text can look like a compressed frame.
        let mut ascii = b"AB".to_vec();
        ascii.extend(vec![b'x'; 66]);
        assert_eq!(evidence(&ascii, false), Evidence::Weak);
        let mut compressed = vec![0xc1, 0x07];
        compressed.extend([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert_eq!(evidence(&compressed, false), Evidence::Weak);
    }
}
