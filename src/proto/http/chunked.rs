//! The chunked transfer coding (RFC 9112 §7.1), decoded incrementally.
//!
//! Chunk data is handed out as borrowed slices of the input; every other byte (chunk-size lines
//! with their extensions, the CRLF after each chunk, the last chunk and the trailer section) is
//! counted as framing, so that head, body and framing bytes add up to exactly the stream. Lines
//! may be split anywhere between two inputs: the decoder is a byte-level state machine and never
//! buffers. It never panics: sizes are checked for overflow, size lines and the trailer section
//! are capped, and every byte that cannot be chunked framing is reported with its position.

/// Longest chunk-size line accepted, extensions included (RFC 9112 sets no limit; real ones are
/// a few bytes, so anything longer is an attack or garbage).
const MAX_SIZE_LINE: u64 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// Inside the hex digits.
    SizeDigits,
    /// After the digits: optional whitespace before `;` or the line end.
    SizeTail,
    /// Inside chunk extensions (after the first `;`), up to the line end.
    Extensions,
    /// Saw CR ending the size line; LF must follow.
    SizeLf,
    /// Chunk data; `remaining` bytes left.
    Data,
    /// After chunk data: CRLF (or a bare LF) must follow.
    DataCr,
    DataLf,
    /// Trailer section (RFC 9112 §7.1.2): at a line start, in a field name, in a field value,
    /// after CR in a field line, after CR of the final empty line.
    TrailerLineStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    /// The final CRLF was consumed: the message ended.
    Done,
}

/// Why the bytes are not chunked framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ChunkError {
    /// Offset of the offending byte in the input given to [`ChunkedDecoder::decode`].
    pub at: usize,
    pub reason: &'static str,
    /// The trailer section outgrew its cap (a limit, not a protocol violation).
    pub too_large: bool,
}

/// What one call to [`ChunkedDecoder::decode`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Decoded {
    /// Input bytes used; the rest belongs to the next message (only when `done`).
    pub consumed: usize,
    /// Chunk data bytes handed to the callback.
    pub body: u64,
    /// Framing bytes (size lines, CRLFs, trailers).
    pub framing: u64,
    /// The last chunk and the trailer section are complete.
    pub done: bool,
    pub error: Option<ChunkError>,
}

#[derive(Clone, Debug)]
pub(super) struct ChunkedDecoder {
    phase: Phase,
    /// The size being read, then the data bytes left in the current chunk.
    remaining: u64,
    size_line_len: u64,
    trailer_len: u64,
    max_trailer: u64,
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body; the trailer section may be at most
    /// `max_trailer` bytes.
    pub fn new(max_trailer: usize) -> Self {
        ChunkedDecoder {
            phase: Phase::SizeStart,
            remaining: 0,
            size_line_len: 0,
            trailer_len: 0,
            max_trailer: u64::try_from(max_trailer).unwrap_or(u64::MAX),
        }
    }

    /// Decodes as much of `data` as belongs to this body, passing chunk data to `on_data`.
    /// Stops right after the final CRLF, or at the first byte that is not chunked framing.
    pub fn decode(&mut self, data: &[u8], mut on_data: impl FnMut(&[u8])) -> Decoded {
        let mut out = Decoded::default();
        let mut i = 0usize;
        while i < data.len() {
            match self.phase {
                Phase::Done => break,
                Phase::Data => {
                    let rest = data.get(i..).unwrap_or_default();
                    let take =
                        usize::try_from(self.remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    let chunk = rest.get(..take).unwrap_or_default();
                    on_data(chunk);
                    i += take;
                    out.body += take as u64;
                    self.remaining -= take as u64;
                    if self.remaining == 0 {
                        self.phase = Phase::DataCr;
                    }
                    continue;
                }
                _ => {}
            }
            let Some(&b) = data.get(i) else { break };
            if let Err(reason) = self.framing_byte(b) {
                out.error = Some(ChunkError {
                    at: i,
                    reason,
                    too_large: reason == TRAILER_TOO_LARGE,
                });
                break;
            }
            i += 1;
            out.framing += 1;
        }
        out.consumed = i;
        out.done = self.phase == Phase::Done;
        out
    }

    /// `len` bytes of the body are missing. Returns false when they are not all chunk data of
    /// the current chunk, i.e. the framing is lost.
    pub fn skip(&mut self, len: u64) -> bool {
        if self.phase != Phase::Data || len > self.remaining {
            return false;
        }
        self.remaining -= len;
        if self.remaining == 0 {
            self.phase = Phase::DataCr;
        }
        true
    }

    fn framing_byte(&mut self, b: u8) -> Result<(), &'static str> {
        use Phase::*;
        if matches!(
            self.phase,
            SizeStart | SizeDigits | SizeTail | Extensions | SizeLf
        ) {
            self.size_line_len += 1;
            if self.size_line_len > MAX_SIZE_LINE {
                return Err("chunk-size line longer than 4096 bytes");
            }
        }
        if matches!(
            self.phase,
            TrailerLineStart | TrailerName | TrailerValue | TrailerLf | EndLf
        ) {
            self.trailer_len += 1;
            if self.trailer_len > self.max_trailer {
                return Err(TRAILER_TOO_LARGE);
            }
        }
        self.phase = match (self.phase, b) {
            (SizeStart, _) => {
                self.remaining = u64::from(hex_value(b).ok_or("chunk size is not hexadecimal")?);
                SizeDigits
            }
            (SizeDigits, _) if hex_value(b).is_some() => {
                let digit = u64::from(hex_value(b).unwrap_or(0));
                self.remaining = self
                    .remaining
                    .checked_mul(16)
                    .and_then(|v| v.checked_add(digit))
                    .ok_or("chunk size overflows 64 bits")?;
                SizeDigits
            }
            (SizeDigits | SizeTail, b' ' | b'\t') => SizeTail,
            (SizeDigits | SizeTail, b';') => Extensions,
            (SizeDigits | SizeTail | Extensions, b'\r') => SizeLf,
            (SizeDigits | SizeTail | Extensions | SizeLf, b'\n') => self.end_size_line(),
            (SizeDigits | SizeTail, _) => return Err("invalid byte after chunk size"),
            (Extensions, _) if is_ctl(b) => return Err("control byte in chunk extension"),
            (Extensions, _) => Extensions,
            (SizeLf, _) => return Err("CR without LF in chunk-size line"),
            (DataCr, b'\r') => DataLf,
            (DataCr | DataLf, b'\n') => {
                self.size_line_len = 0;
                SizeStart
            }
            (DataCr | DataLf, _) => return Err("chunk data not followed by CRLF"),
            (TrailerLineStart, b'\r') => EndLf,
            (TrailerLineStart | EndLf, b'\n') => Done,
            (TrailerLineStart | TrailerName, _) if is_token(b) => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerLineStart | TrailerName, _) => return Err("invalid trailer field name"),
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue | TrailerLf, b'\n') => TrailerLineStart,
            (TrailerValue, _) if is_ctl(b) => return Err("control byte in trailer field"),
            (TrailerValue, _) => TrailerValue,
            (TrailerLf | EndLf, _) => return Err("CR without LF in trailer section"),
            (Data | Done, _) => self.phase,
        };
        Ok(())
    }

    fn end_size_line(&mut self) -> Phase {
        self.size_line_len = 0;
        if self.remaining == 0 {
            Phase::TrailerLineStart
        } else {
            Phase::Data
        }
    }
}

const TRAILER_TOO_LARGE: &str = "trailer section larger than the head cap";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Control bytes other than HTAB are not allowed in extensions or field values.
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` in pieces of `step` bytes; returns (data, framing, consumed, done, error).
    fn run(input: &[u8], step: usize) -> (Vec<u8>, u64, usize, bool, Option<ChunkError>) {
        let mut dec = ChunkedDecoder::new(1024);
        let mut body = Vec::new();
        let mut framing = 0;
        let mut consumed = 0;
        for piece in input.chunks(step.max(1)) {
            let out = dec.decode(piece, |d| body.extend_from_slice(d));
            framing += out.framing;
            assert_eq!(out.body as usize + out.framing as usize, out.consumed);
            if let Some(mut err) = out.error {
                err.at += consumed;
                return (body, framing, consumed + out.consumed, false, Some(err));
            }
            consumed += out.consumed;
            if out.done {
                return (body, framing, consumed, true, None);
            }
        }
        (body, framing, consumed, false, None)
    }

    #[test]
    fn decodes_extensions_and_trailers_in_any_split() {
        let input: &[u8] = b"5;name=\"v\"\r\nhello\r\n6 ; x\r\n world\r\n0\r\nExpires: never\r\nX-A: b\r\n\r\nNEXT";
        let stream_len = input.len() - 4;
        for step in 1..=input.len() {
            let (body, framing, consumed, done, err) = run(input, step);
            assert_eq!(err, None, "step {step}");
            assert!(done, "step {step}");
            assert_eq!(body, b"hello world");
            assert_eq!(consumed, stream_len, "stops right after the final CRLF");
            assert_eq!(framing as usize, stream_len - 11);
        }
    }

    #[test]
    fn accepts_bare_lf_and_uppercase_hex() {
        let (body, framing, consumed, done, _) = run(b"A\n0123456789\n0\n\n", 3);
        assert!(done);
        assert_eq!(body, b"0123456789");
        assert_eq!(consumed, 16);
        assert_eq!(framing, 6);
    }

    #[test]
    fn reports_each_kind_of_bad_framing_at_its_byte() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"g\r\n", 0, "chunk size is not hexadecimal"),
            (b"\r\n", 0, "chunk size is not hexadecimal"),
            (b"5x\r\n", 1, "invalid byte after chunk size"),
            (b"5\rX", 2, "CR without LF in chunk-size line"),
            (b"3\r\nabcX", 6, "chunk data not followed by CRLF"),
            (b"1;a\x01\r\n", 3, "control byte in chunk extension"),
            (b"0\r\nBad Name: x\r\n\r\n", 6, "invalid trailer field name"),
            (b"0\r\nA: \x00\r\n\r\n", 6, "control byte in trailer field"),
            (b"0\r\n\rX", 4, "CR without LF in trailer section"),
            (
                b"1000000000000000000\r\n",
                16,
                "chunk size overflows 64 bits",
            ),
        ];
        for &(input, at, reason) in cases {
            for step in [1, 2, input.len()] {
                let (_, _, consumed, done, err) = run(input, step);
                assert!(!done);
                let err = err.unwrap_or_else(|| panic!("no error for {input:?}"));
                assert_eq!((err.at, err.reason), (at, reason), "{input:?} step {step}");
                assert_eq!(consumed, at);
            }
        }
    }

    #[test]
    fn caps_size_lines_and_trailers() {
        let mut long = b"1;".to_vec();
        long.resize(5000, b'a');
        let (_, _, _, _, err) = run(&long, 700);
        assert_eq!(err.map(|e| e.at), Some(4096));

        let mut trailer = b"0\r\n".to_vec();
        for _ in 0..100 {
            trailer.extend_from_slice(b"X-Long-Trailer: 0123456789\r\n");
        }
        trailer.extend_from_slice(b"\r\n");
        let (_, _, _, _, err) = run(&trailer, 64);
        let err = err.expect("trailer cap");
        assert!(err.too_large);
        assert_eq!(err.at, 3 + 1024);
    }

    #[test]
    fn skip_only_inside_chunk_data() {
        let mut dec = ChunkedDecoder::new(64);
        assert!(!dec.skip(1), "a gap in a size line loses the framing");
        let out = dec.decode(b"a\r\nab", |_| {});
        assert_eq!((out.body, out.framing, out.done), (2, 3, false));
        assert!(!dec.skip(9), "more than the 8 bytes left in the chunk");
        assert!(dec.skip(8));
        let out = dec.decode(b"\r\n0\r\n\r\n", |_| {});
        assert!(out.done);
        assert_eq!(out.framing, 7);
    }
}
