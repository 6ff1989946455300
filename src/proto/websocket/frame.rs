//! The WebSocket frame header (RFC 6455 §5.2) as a zero-copy view, and the plausibility rules
//! used to recognise frames in bytes of unknown alignment (mid-stream pick-up, resynchronisation
//! after a gap).
//!
//! Promise: [`FrameHeader::parse`] checks the buffer once and never panics; on incomplete input
//! it returns `Ok(None)` and the caller keeps every byte. A parsed view borrows exactly the
//! header's 2–14 bytes, so its accessors cannot read out of bounds.

use crate::model::OpCode;

/// The longest header: 2 fixed bytes, an 8-byte extended length and a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: u64 = 125;

mod field {
    pub const FLAGS: usize = 0;
    pub const LEN7: usize = 1;
    pub const EXT_LEN: usize = 2;

    pub const FIN: u8 = 0x80;
    pub const RSV1: u8 = 0x40;
    pub const RSV2: u8 = 0x20;
    pub const RSV3: u8 = 0x10;
    pub const OPCODE: u8 = 0x0f;
    pub const MASK: u8 = 0x80;
    pub const LEN: u8 = 0x7f;

    pub const LEN_16: u8 = 126;
    pub const LEN_64: u8 = 127;
}

/// A header that cannot be decoded at all: the stream's framing is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// A 64-bit payload length with its most significant bit set (RFC 6455 §5.2 forbids it).
    LengthTooLarge(u64),
}

/// A complete, checked frame header borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader<'a> {
    /// Exactly the header's bytes (2–14); every accessor relies on `parse` having checked this.
    bytes: &'a [u8],
}

impl<'a> FrameHeader<'a> {
    /// How many bytes the header starting at `data[0]` occupies, once its first two bytes are
    /// known.
    pub fn required_len(data: &[u8]) -> Option<usize> {
        let len_byte = *data.get(field::LEN7)?;
        let ext = match len_byte & field::LEN {
            field::LEN_16 => 2,
            field::LEN_64 => 8,
            _ => 0,
        };
        let mask = if len_byte & field::MASK != 0 { 4 } else { 0 };
        Some(2 + ext + mask)
    }

    /// Parses the header at the start of `data`. `Ok(None)`: more bytes are needed and nothing
    /// was consumed.
    pub fn parse(data: &'a [u8]) -> Result<Option<Self>, HeaderError> {
        let Some(len) = Self::required_len(data) else {
            return Ok(None);
        };
        let Some(bytes) = data.get(..len) else {
            return Ok(None);
        };
        let header = FrameHeader { bytes };
        let payload_len = header.payload_len();
        if payload_len >> 63 != 0 {
            return Err(HeaderError::LengthTooLarge(payload_len));
        }
        Ok(Some(header))
    }

    /// The raw header bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Header length in bytes (2–14).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a header has at least two bytes. Present for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn flags(&self) -> u8 {
        self.bytes[field::FLAGS]
    }

    fn len7(&self) -> u8 {
        self.bytes[field::LEN7] & field::LEN
    }

    pub fn fin(&self) -> bool {
        self.flags() & field::FIN != 0
    }
    pub fn rsv1(&self) -> bool {
        self.flags() & field::RSV1 != 0
    }
    pub fn rsv2(&self) -> bool {
        self.flags() & field::RSV2 != 0
    }
    pub fn rsv3(&self) -> bool {
        self.flags() & field::RSV3 != 0
    }
    pub fn opcode(&self) -> OpCode {
        OpCode::from_u8(self.flags() & field::OPCODE)
    }
    pub fn masked(&self) -> bool {
        self.bytes[field::LEN7] & field::MASK != 0
    }

    /// The masking key, when the MASK bit is set.
    pub fn mask(&self) -> Option<[u8; 4]> {
        if !self.masked() {
            return None;
        }
        let n = self.bytes.len();
        Some([
            self.bytes[n - 4],
            self.bytes[n - 3],
            self.bytes[n - 2],
            self.bytes[n - 1],
        ])
    }

    /// The payload length, from whichever of the 7-, 16- or 64-bit encodings is used.
    pub fn payload_len(&self) -> u64 {
        let b = self.bytes;
        let e = field::EXT_LEN;
        match self.len7() {
            field::LEN_16 => u64::from(u16::from_be_bytes([b[e], b[e + 1]])),
            field::LEN_64 => u64::from_be_bytes([
                b[e],
                b[e + 1],
                b[e + 2],
                b[e + 3],
                b[e + 4],
                b[e + 5],
                b[e + 6],
                b[e + 7],
            ]),
            n => u64::from(n),
        }
    }

    /// Whether the length uses its shortest encoding (RFC 6455 §5.2: "the minimal number of
    /// bytes MUST be used").
    pub fn is_minimal_length(&self) -> bool {
        match self.len7() {
            field::LEN_16 => self.payload_len() >= 126,
            field::LEN_64 => self.payload_len() > u64::from(u16::MAX),
            _ => true,
        }
    }

    /// Header length plus payload length: where the next frame starts. `None` if it does not
    /// fit in a `u64` (impossible after a successful parse, checked anyway).
    pub fn frame_len(&self) -> Option<u64> {
        self.payload_len().checked_add(self.bytes.len() as u64)
    }
}

/// What a header must look like to be taken for a real frame when the alignment of the bytes
/// is unknown. Strict on purpose: every rule a sane peer follows is required.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plausible {
    /// Required MASK bit (`None`: either, but all frames of a chain must agree).
    pub masked: Option<bool>,
    /// Whether RSV1 may start a data message (permessage-deflate possible).
    pub rsv1_ok: bool,
}

impl Plausible {
    pub fn accepts(&self, h: &FrameHeader<'_>) -> bool {
        if h.rsv2() || h.rsv3() || !h.is_minimal_length() {
            return false;
        }
        if self.masked.is_some_and(|m| m != h.masked()) {
            return false;
        }
        match h.opcode() {
            OpCode::Reserved(_) => false,
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                h.fin() && !h.rsv1() && h.payload_len() <= MAX_CONTROL_PAYLOAD
            }
            OpCode::Continuation => !h.rsv1(),
            OpCode::Text | OpCode::Binary => !h.rsv1() || self.rsv1_ok,
        }
    }
}

/// A run of consecutive plausible headers found in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    /// Plausible headers walked, each fully inside the buffer.
    pub headers: usize,
    /// The last frame ends exactly at the end of the buffer.
    pub ends_at_end: bool,
    /// The MASK bit shared by the whole chain.
    pub masked: bool,
    /// Opcode of the first frame.
    pub first_opcode: OpCode,
}

/// Walks frames from `data[0]` while their headers are plausible and fully present; stops after
/// `max_headers`. `None` when the first header is incomplete or implausible.
pub(crate) fn walk_chain(data: &[u8], rule: Plausible, max_headers: usize) -> Option<Chain> {
    let mut rule = rule;
    let mut pos: u64 = 0;
    let mut chain: Option<Chain> = None;
    while chain.map_or(0, |c| c.headers) < max_headers {
        let Some(rest) = usize::try_from(pos).ok().and_then(|p| data.get(p..)) else {
            break;
        };
        if rest.is_empty() {
            break;
        }
        let Ok(Some(h)) = FrameHeader::parse(rest) else {
            break;
        };
        if !rule.accepts(&h) {
            break;
        }
        rule.masked = Some(h.masked());
        let Some(next) = h.frame_len().and_then(|l| pos.checked_add(l)) else {
            break;
        };
        pos = next;
        let c = chain.get_or_insert(Chain {
            headers: 0,
            ends_at_end: false,
            masked: h.masked(),
            first_opcode: h.opcode(),
        });
        c.headers += 1;
        c.ends_at_end = pos == data.len() as u64;
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_more_until_complete_and_never_reads_past() {
        // Masked, 64-bit length: 14 header bytes.
        let mut full = vec![0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for cut in 0..full.len() {
            assert_eq!(FrameHeader::parse(&full[..cut]), Ok(None), "cut {cut}");
        }
        full.push(0xaa);
        let h = FrameHeader::parse(&full).unwrap().unwrap();
        assert_eq!(h.len(), 14);
        assert_eq!(h.payload_len(), 65536);
        assert_eq!(h.mask(), Some([1, 2, 3, 4]));
        assert_eq!(h.opcode(), OpCode::Binary);
        assert!(h.fin() && !h.rsv1() && !h.rsv2() && !h.rsv3());
        assert!(h.is_minimal_length());
    }

    #[test]
    fn length_encodings() {
        let h = FrameHeader::parse(&[0x81, 0x05]).unwrap().unwrap();
        assert_eq!((h.len(), h.payload_len(), h.masked()), (2, 5, false));
        let h = FrameHeader::parse(&[0x82, 0x7e, 0x01, 0x00])
            .unwrap()
            .unwrap();
        assert_eq!((h.len(), h.payload_len()), (4, 256));
        assert!(h.is_minimal_length());
        let h = FrameHeader::parse(&[0x82, 0x7e, 0x00, 0x05])
            .unwrap()
            .unwrap();
        assert!(!h.is_minimal_length());
        let h = FrameHeader::parse(&[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff])
            .unwrap()
            .unwrap();
        assert!(!h.is_minimal_length());
        assert_eq!(h.frame_len(), Some(65535 + 10));
    }

    #[test]
    fn top_bit_of_64_bit_length_is_an_error() {
        let bytes = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            FrameHeader::parse(&bytes),
            Err(HeaderError::LengthTooLarge(0x8000_0000_0000_0001))
        );
        // The largest legal length parses and its frame length still fits.
        let bytes = [0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let h = FrameHeader::parse(&bytes).unwrap().unwrap();
        assert_eq!(h.payload_len(), i64::MAX as u64);
        assert!(h.frame_len().is_some());
    }

    #[test]
    fn reserved_opcodes_and_rsv_bits() {
        let h = FrameHeader::parse(&[0xf3, 0x00]).unwrap().unwrap();
        assert_eq!(h.opcode(), OpCode::Reserved(3));
        assert!(h.rsv1() && h.rsv2() && h.rsv3());
    }

    #[test]
    fn chains() {
        let any = Plausible {
            masked: None,
            rsv1_ok: false,
        };
        // Two unmasked text frames, the second cut short.
        let data = [0x81, 0x02, b'h', b'i', 0x81, 0x05, b'a'];
        let c = walk_chain(&data, any, 8).unwrap();
        assert_eq!(c.headers, 2);
        assert!(!c.ends_at_end && !c.masked);
        // A frame that fills the buffer exactly.
        let c = walk_chain(&data[..4], any, 8).unwrap();
        assert_eq!((c.headers, c.ends_at_end), (1, true));
        // Mixed mask bits end the chain.
        let data = [0x81, 0x00, 0x81, 0x80, 1, 2, 3, 4];
        assert_eq!(walk_chain(&data, any, 8).unwrap().headers, 1);
        // Implausible first header.
        assert_eq!(walk_chain(b"GET / HTTP/1.1", any, 8), None);
        assert_eq!(walk_chain(&[0x09, 0x00], any, 8), None); // fragmented ping
        assert_eq!(walk_chain(&[0xc1, 0x00], any, 8), None); // RSV1 not allowed here
        let deflate = Plausible {
            masked: None,
            rsv1_ok: true,
        };
        assert!(walk_chain(&[0xc1, 0x00], deflate, 8).is_some());
        assert_eq!(walk_chain(&[0xc9, 0x00], deflate, 8), None); // RSV1 on a control frame
        let masked = Plausible {
            masked: Some(true),
            rsv1_ok: false,
        };
        assert_eq!(walk_chain(&[0x81, 0x00], masked, 8), None);
    }
}
