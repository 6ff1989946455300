//! Message assembly pieces: incremental UTF-8 validation across fragments and frame boundaries,
//! the permessage-deflate inflater (RFC 7692 §7.2.2), the shared budget of inflaters, and the
//! state of one data message in progress.
//!
//! Promises: memory per message is bounded (the display head is capped, validation keeps a
//! carry of at most 3 bytes, the inflater writes into its own window of at most 32 KiB, grown
//! with its output, which is also the history kept across a BFINAL block); no input can make
//! these panic.

use crate::model::OpCode;
use crate::proto::digest::Hasher;
use flate2::{Decompress, FlushDecompress, Status};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// UTF-8 validation of a byte stream delivered in arbitrary pieces. A multi-byte character cut
/// by a piece boundary is carried (at most 3 bytes) and completed by the next piece.
#[derive(Clone, Debug, Default)]
pub struct Utf8Stream {
    carry: [u8; 4],
    carry_len: usize,
    /// Bytes accepted so far (including the carry).
    seen: u64,
    /// Offset of the first byte that is not UTF-8.
    invalid_at: Option<u64>,
}

impl Utf8Stream {
    pub fn reset(&mut self) {
        *self = Utf8Stream::default();
    }

    /// Offset of the first invalid byte, once one was seen.
    pub fn invalid_at(&self) -> Option<u64> {
        self.invalid_at
    }

    /// Validates the next piece. Returns false once the stream is known not to be UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> bool {
        if self.invalid_at.is_some() {
            return false;
        }
        if self.carry_len > 0 {
            let carried = self.carry_len;
            // A character is at most 4 bytes, so 4 more bytes always settle the carry.
            let take = data.len().min(4);
            let mut tmp = [0u8; 8];
            tmp[..carried].copy_from_slice(&self.carry[..carried]);
            tmp[carried..carried + take].copy_from_slice(&data[..take]);
            let tmp = &tmp[..carried + take];
            match std::str::from_utf8(tmp) {
                Ok(_) => {
                    self.carry_len = 0;
                    self.seen += take as u64;
                    data = &data[take..];
                }
                Err(e) if e.valid_up_to() >= carried => {
                    let used = e.valid_up_to() - carried;
                    self.carry_len = 0;
                    self.seen += used as u64;
                    data = &data[used..];
                }
                Err(e) if e.error_len().is_none() => {
                    // Still incomplete: the whole piece was shorter than the character.
                    let n = tmp.len().min(self.carry.len());
                    self.carry[..n].copy_from_slice(&tmp[..n]);
                    self.carry_len = n;
                    self.seen += take as u64;
                    return true;
                }
                Err(_) => {
                    self.invalid_at = Some(self.seen - carried as u64);
                    return false;
                }
            }
        }
        match validate(data) {
            Ok(()) => self.seen += data.len() as u64,
            Err(e) => {
                let valid = e.valid_up_to();
                match (e.error_len(), data.get(valid..)) {
                    (None, Some(tail)) if tail.len() < self.carry.len() => {
                        self.carry[..tail.len()].copy_from_slice(tail);
                        self.carry_len = tail.len();
                        self.seen += data.len() as u64;
                    }
                    _ => {
                        self.invalid_at = Some(self.seen + valid as u64);
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The stream ended: a character left incomplete makes it invalid.
    pub fn finish(&mut self) -> bool {
        if self.invalid_at.is_none() && self.carry_len > 0 {
            self.invalid_at = Some(self.seen - self.carry_len as u64);
        }
        self.invalid_at.is_none()
    }
}

/// Pieces shorter than this are validated by the standard library, longer ones by simdutf8.
/// Both report errors the same way. simdutf8 is faster on its own, but it is reached through a
/// run-time dispatch to a large AVX2 routine, which in the middle of frame parsing costs more
/// than it saves on a short chat message (measured with `cargo bench --bench micro`).
const SHORT_UTF8: usize = 128;

fn validate(data: &[u8]) -> Result<(), Utf8Failure> {
    if data.len() < SHORT_UTF8 {
        std::str::from_utf8(data)
            .map(drop)
            .map_err(|e| Utf8Failure {
                valid_up_to: e.valid_up_to(),
                error_len: e.error_len(),
            })
    } else {
        simdutf8::compat::from_utf8(data)
            .map(drop)
            .map_err(|e| Utf8Failure {
                valid_up_to: e.valid_up_to(),
                error_len: e.error_len(),
            })
    }
}

/// Where validation failed, as `std::str::Utf8Error` says it.
struct Utf8Failure {
    valid_up_to: usize,
    /// `None`: the input ended inside a character.
    error_len: Option<usize>,
}

impl Utf8Failure {
    fn valid_up_to(&self) -> usize {
        self.valid_up_to
    }
    fn error_len(&self) -> Option<usize> {
        self.error_len
    }
}

/// A shared count of inflaters that may still be created, to enforce `Limits::max_inflaters`
/// across all connections of one analysis. Cloning shares the count; a connection's inflaters
/// return their slot when dropped.
///
/// The budget also keeps the decompressors of ended connections, with their output windows,
/// for the next connection that needs one: creating one costs allocations and zeroing of
/// zlib's state and window (tens of KiB), resetting one costs nothing, and captures with many
/// short compressed connections create thousands. There are never more of them, live or
/// kept, than `max_inflaters`: a new one is made only when none is kept, that is when every
/// existing one is live.
#[derive(Clone, Debug)]
pub struct InflaterBudget {
    free: Arc<AtomicUsize>,
    spare: Arc<Mutex<Vec<Spare>>>,
    /// Bytes held by what is kept in `spare` ([`Spare::bytes`]), readable without the lock.
    spare_bytes: Arc<AtomicUsize>,
}

/// A decompressor and its output window, reset, waiting for the next connection.
struct Spare {
    z: Decompress,
    window: Vec<u8>,
    /// How far output has reached into zlib's window ([`zlib_bytes`]).
    reached: usize,
}

impl Spare {
    fn bytes(&self) -> usize {
        zlib_bytes(self.reached) + self.window.capacity()
    }
}

impl std::fmt::Debug for Spare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Spare")
    }
}

impl InflaterBudget {
    pub fn new(max_inflaters: usize) -> Self {
        InflaterBudget {
            free: Arc::new(AtomicUsize::new(max_inflaters)),
            spare: Arc::new(Mutex::new(Vec::new())),
            spare_bytes: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Bytes the kept decompressors hold, for the memory budget.
    pub fn spare_bytes(&self) -> usize {
        self.spare_bytes.load(Ordering::Relaxed)
    }

    /// Frees the kept decompressors (the memory budget wants them back; new ones cost only
    /// the time to make them).
    pub fn drop_spares(&self) {
        if self.spare_bytes.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(mut kept) = self.spare.lock() {
            kept.clear();
            kept.shrink_to_fit();
            self.spare_bytes.store(0, Ordering::Relaxed);
        }
    }

    /// Decompressors kept for reuse.
    pub fn spare(&self) -> usize {
        self.spare.lock().map_or(0, |s| s.len())
    }

    /// Inflaters that can still be created.
    pub fn available(&self) -> usize {
        self.free.load(Ordering::Relaxed)
    }

    pub(crate) fn try_acquire(&self) -> Option<InflaterPermit> {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|_| InflaterPermit {
                free: Arc::clone(&self.free),
                spare: Arc::clone(&self.spare),
                spare_bytes: Arc::clone(&self.spare_bytes),
            })
    }
}

/// One slot of an [`InflaterBudget`], given back on drop.
#[derive(Debug)]
pub(crate) struct InflaterPermit {
    free: Arc<AtomicUsize>,
    spare: Arc<Mutex<Vec<Spare>>>,
    spare_bytes: Arc<AtomicUsize>,
}

impl InflaterPermit {
    fn take_spare(&self) -> Option<Spare> {
        let mut kept = self.spare.lock().ok()?;
        let spare = kept.pop()?;
        self.spare_bytes.fetch_sub(spare.bytes(), Ordering::Relaxed);
        Some(spare)
    }

    fn keep_spare(&self, spare: Spare) {
        if let Ok(mut kept) = self.spare.lock() {
            self.spare_bytes.fetch_add(spare.bytes(), Ordering::Relaxed);
            kept.push(spare);
        }
    }
}

impl Drop for InflaterPermit {
    fn drop(&mut self) {
        self.free.fetch_add(1, Ordering::AcqRel);
    }
}

/// The LZ77 window of DEFLATE.
const WINDOW: usize = 32 << 10;

/// What zlib's part of an inflater holds, for the memory budget, once output has reached
/// `reached` bytes into its 32 KiB window (the most since the decompressor was made: a reset
/// starts writing at the window's start again, and pages once written stay resident): its state,
/// and the window's pages written so far. zlib allocates the whole window whatever the
/// negotiated `*_max_window_bits`, but only the pages output reaches become resident.
///
/// Measured (resident memory over 2 000 decompressors, each after inflating one stream of
/// N bytes): with the window in a mapping of its own, as `sockscope` allocates it
/// (`app::tune_allocator`), 16.2 KB at N ≤ 100, then a 4 KiB page more each 4 KiB of output,
/// 48.2 KB from N = 32 000 on; in the heap (a library's default), 18.7 KB and about one byte
/// per byte of output, 46.7 KB at most. This is at least both: for short messages 23 KiB, one
/// and a half to two pages over; 51 KiB at most.
pub const fn zlib_bytes(reached: usize) -> usize {
    const STATE: usize = 19 << 10;
    const PAGE: usize = 4 << 10;
    let reached = if reached < WINDOW { reached } else { WINDOW };
    STATE + reached.div_ceil(PAGE) * PAGE
}

/// The most zlib's part of an inflater is charged: its whole window written.
pub const ZLIB_BYTES: usize = zlib_bytes(WINDOW);
/// The output window's first size; it doubles as output needs it, up to [`WINDOW`]: a
/// connection of short messages (or one whose every message is its own stream) never needs a
/// large one.
const FIRST_WINDOW: usize = 1 << 10;
/// The window grows before less room than this is left in it: zlib inflates on its fast path
/// only with at least 258 bytes of room for its output.
const MIN_ROOM: usize = 512;
/// Output is handed on in pieces of at most this size (the window is the output buffer).
#[cfg(test)]
const OUT_CHUNK: usize = WINDOW;

/// RFC 7692 §7.2.2: the 4 octets a sender removed from the end of each message.
pub const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Whether inflation of the current input ran to its end or was stopped by the consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inflated {
    Done,
    StoppedByConsumer,
}

/// One direction's raw-DEFLATE decompressor, kept across messages for context takeover.
pub(crate) struct Inflater {
    /// Always `Some` while the inflater is in use; taken only when it is dropped, to go back
    /// to the budget.
    z: Option<Decompress>,
    /// The last [`WINDOW`] bytes of output. After a block with BFINAL the deflate stream is
    /// over, and the next message starts a new stream that may still refer back into this
    /// window (RFC 7692 §7.2.3.4), so the new stream is primed with it.
    ///
    /// Output is inflated straight into it, so it is the output buffer and the history at once
    /// (nothing is copied). Until it holds [`WINDOW`] bytes it is appended to, through the
    /// spare capacity (nothing is zeroed), which doubles from [`FIRST_WINDOW`] when output
    /// fills it (memory grows only with output); from then on it is a ring and `pos` is where
    /// the next output goes, over the oldest byte.
    window: Vec<u8>,
    pos: usize,
    /// A BFINAL block ended the stream: the rest of this message (padding, the tail) is ignored.
    stream_ended: bool,
    /// How far output has reached into zlib's own window since the decompressor was made
    /// ([`zlib_bytes`]), and where writing is in it since the last reset (the dictionary the
    /// stream was primed with, then the output).
    reached: usize,
    since_reset: usize,
    /// The budget slot; the decompressor goes back to the budget with it.
    permit: Option<InflaterPermit>,
}

impl Drop for Inflater {
    fn drop(&mut self) {
        if let (Some(permit), Some(mut z)) = (&self.permit, self.z.take()) {
            z.reset(false);
            let mut window = std::mem::take(&mut self.window);
            window.clear();
            permit.keep_spare(Spare {
                z,
                window,
                reached: self.reached,
            });
        }
    }
}

const RELEASED: &str = "inflater released";

impl Inflater {
    /// Frees the inflater for good: its decompressor does not go back to the shared pool.
    pub fn discard(mut self) {
        self.z = None;
    }

    /// A fresh inflater (a reset one kept by the permit's budget, if any).
    pub fn new(permit: Option<InflaterPermit>) -> Self {
        let Spare { z, window, reached } = permit
            .as_ref()
            .and_then(InflaterPermit::take_spare)
            .unwrap_or_else(|| Spare {
                z: Decompress::new(false),
                window: Vec::new(),
                reached: 0,
            });
        Inflater {
            z: Some(z),
            window,
            pos: 0,
            stream_ended: false,
            reached,
            since_reset: 0,
            permit,
        }
    }

    /// What the inflater holds, for the memory budget: zlib's part and the output window.
    pub fn held(&self) -> usize {
        zlib_bytes(self.reached) + self.window.capacity()
    }

    /// `n` more bytes were written into zlib's window (output, or a dictionary).
    fn wrote(reached: &mut usize, since_reset: &mut usize, n: usize) {
        *since_reset = since_reset.saturating_add(n);
        *reached = (*reached).max((*since_reset).min(WINDOW));
    }

    /// Prepares for a new message. `fresh` drops the window (no context takeover for this
    /// direction, or after an error); otherwise the window is kept, and re-primed if the last
    /// stream ended with a BFINAL block.
    pub fn begin_message(&mut self, fresh: bool) -> Result<(), String> {
        let Some(z) = self.z.as_mut() else {
            return Err(RELEASED.to_string());
        };
        if fresh {
            z.reset(false);
            self.since_reset = 0;
            self.window.clear();
            self.pos = 0;
            self.stream_ended = false;
        } else if self.stream_ended {
            z.reset(false);
            self.since_reset = 0;
            self.stream_ended = false;
            // Oldest byte first, as a dictionary is given.
            self.window.rotate_left(self.pos);
            self.pos = 0;
            if !self.window.is_empty() {
                z.set_dictionary(&self.window)
                    .map_err(|e| format!("cannot restore the LZ77 window: {e}"))?;
                Inflater::wrote(&mut self.reached, &mut self.since_reset, self.window.len());
            }
        }
        Ok(())
    }

    /// Inflates `input`, handing each piece of output to `consume`, which returns false to stop
    /// (a cap was hit). An error means the data does not inflate; the window is then unusable.
    pub fn inflate(
        &mut self,
        mut input: &[u8],
        consume: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Inflated, String> {
        let fail =
            |e: flate2::DecompressError| e.message().unwrap_or("invalid deflate data").to_string();
        let Inflater {
            z,
            window,
            pos,
            stream_ended,
            reached,
            since_reset,
            ..
        } = self;
        let Some(z) = z.as_mut() else {
            return Err(RELEASED.to_string());
        };
        while !*stream_ended {
            let (in_before, out_before) = (z.total_in(), z.total_out());
            let filling = window.len() < WINDOW;
            if filling && window.capacity() - window.len() < MIN_ROOM {
                // Exactly that (`reserve_exact` on a `Vec<u8>` allocates what it is asked
                // for), which bounds the append phase at WINDOW.
                let grown = window
                    .capacity()
                    .saturating_mul(2)
                    .clamp(FIRST_WINDOW, WINDOW);
                window.reserve_exact(grown - window.len());
            }
            let (start, room) = if filling {
                (window.len(), window.capacity().min(WINDOW) - window.len())
            } else {
                (*pos, WINDOW - *pos)
            };
            let status = if filling {
                z.decompress_vec(input, window, FlushDecompress::None)
                    .map_err(fail)?
            } else {
                let out = window.get_mut(start..).unwrap_or_default();
                z.decompress(input, out, FlushDecompress::None)
                    .map_err(fail)?
            };
            let consumed = usize::try_from(z.total_in().saturating_sub(in_before))
                .unwrap_or(usize::MAX)
                .min(input.len());
            let produced = usize::try_from(z.total_out().saturating_sub(out_before))
                .unwrap_or(usize::MAX)
                .min(room);
            Inflater::wrote(reached, since_reset, produced);
            input = input.get(consumed..).unwrap_or_default();
            if !filling {
                *pos = (start + produced) % WINDOW;
            }
            if let Some(piece) = window.get(start..start + produced)
                && !piece.is_empty()
                && !consume(piece)
            {
                return Ok(Inflated::StoppedByConsumer);
            }
            if status == Status::StreamEnd {
                *stream_ended = true;
                break;
            }
            let output_full = produced == room;
            if (consumed == 0 && produced == 0) || (input.is_empty() && !output_full) {
                break;
            }
        }
        Ok(Inflated::Done)
    }
}

/// A text or binary message being assembled from its fragments.
#[derive(Debug)]
pub(crate) struct Message {
    pub opcode: OpCode,
    pub frames: u32,
    pub wire_len: u64,
    /// Bytes of the (inflated) message seen so far.
    pub len: u64,
    /// RSV1 on the first frame with permessage-deflate in use.
    pub compressed: bool,
    /// Still inflating (compressed messages only): false after an error, a cap or a gap.
    pub inflating: bool,
    /// Part of the message was not decoded (lost in a gap, not inflated, unknown transform):
    /// no UTF-8 verdict.
    pub no_verdict: bool,
    /// Bytes were lost in a gap: the head stops growing at the hole.
    pub head_frozen: bool,
    pub utf8: Utf8Stream,
    /// An invalid_utf8 anomaly was already reported for this message.
    pub utf8_reported: bool,
    /// The first bytes of the (inflated) message, up to the display cap.
    pub head: Vec<u8>,
    /// SHA-256 of the decoded message (`--digest`), spoiled when bytes are lost.
    pub digest: Hasher,
}

impl Message {
    #[cfg(test)]
    pub fn new(opcode: OpCode, compressed: bool, head: Vec<u8>) -> Self {
        Message::with_digest(opcode, compressed, head, Hasher::Off)
    }

    /// A message, hashing the decoded bytes into `digest` (restarted here).
    pub fn with_digest(opcode: OpCode, compressed: bool, head: Vec<u8>, digest: Hasher) -> Self {
        let mut digest = digest;
        digest.restart();
        Message {
            opcode,
            frames: 0,
            wire_len: 0,
            len: 0,
            compressed,
            inflating: compressed,
            no_verdict: false,
            head_frozen: false,
            utf8: Utf8Stream::default(),
            utf8_reported: false,
            head,
            digest,
        }
    }

    pub fn is_text(&self) -> bool {
        self.opcode == OpCode::Text
    }

    /// Whether every byte must be looked at (validated) rather than only the display head.
    pub fn needs_all_bytes(&self) -> bool {
        (self.is_text() && !self.no_verdict && self.utf8.invalid_at().is_none())
            || matches!(self.digest, Hasher::Hashing(_))
    }

    /// Takes decoded (unmasked, inflated) message bytes: counts, keeps the head, validates.
    /// Returns true when this piece revealed invalid UTF-8 not reported before.
    pub fn take_plain(&mut self, piece: &[u8], head_cap: usize) -> bool {
        self.len = self.len.saturating_add(piece.len() as u64);
        self.digest.update(piece);
        if !self.head_frozen {
            let room = head_cap.saturating_sub(self.head.len());
            if let Some(part) = piece.get(..room.min(piece.len())) {
                self.head.extend_from_slice(part);
            }
        }
        if self.is_text() && !self.no_verdict && !self.utf8.feed(piece) && !self.utf8_reported {
            self.utf8_reported = true;
            return true;
        }
        false
    }

    /// The UTF-8 verdict at the end of the message: `None` for binary messages and when part
    /// of the message was not decoded.
    pub fn finish_utf8(&mut self) -> Option<bool> {
        if !self.is_text() || self.no_verdict {
            return None;
        }
        Some(self.utf8.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};
    use proptest::prelude::*;

    fn validate_in_pieces(data: &[u8], cuts: &[usize]) -> (bool, Option<u64>) {
        let mut v = Utf8Stream::default();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, data.len());
            v.feed(&data[start..cut]);
            start = cut;
        }
        v.feed(&data[start..]);
        (v.finish(), v.invalid_at())
    }

    #[test]
    fn utf8_across_every_split() {
        let text = "aé€𝄞z".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(validate_in_pieces(text, &[a, b]), (true, None), "{a} {b}");
            }
        }
        // Truncated character at the very end.
        let bad = &text[..text.len() - 2];
        for a in 0..=bad.len() {
            assert!(!validate_in_pieces(bad, &[a]).0);
        }
        // Invalid continuation inside a carried character: offset of the character.
        let bad = b"ab\xe2\x82x";
        for a in 0..=bad.len() {
            assert_eq!(validate_in_pieces(bad, &[a]), (false, Some(2)), "{a}");
        }
        // Surrogates and overlongs are rejected even when split.
        for bad in [&b"\xed\xa0\x80"[..], b"\xc0\xaf", b"\xf4\x90\x80\x80"] {
            for a in 0..=bad.len() {
                assert!(!validate_in_pieces(bad, &[a]).0, "{bad:?} {a}");
            }
        }
    }

    proptest! {
        #[test]
        fn utf8_stream_agrees_with_std(
            data in proptest::collection::vec(any::<u8>(), 0..64),
            text in "\\PC{0,40}",
            cuts in proptest::collection::vec(0usize..80, 0..6),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let expected = std::str::from_utf8(&data).map_err(|e| e.valid_up_to() as u64);
            let (ok, at) = validate_in_pieces(&data, &cuts);
            prop_assert_eq!(ok, expected.is_ok());
            prop_assert_eq!(at, expected.err());
            prop_assert_eq!(validate_in_pieces(text.as_bytes(), &cuts), (true, None));
        }
    }

    fn inflate_all(inf: &mut Inflater, input: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        inf.inflate(input, &mut |p| {
            out.extend_from_slice(p);
            true
        })?;
        Ok(out)
    }

    fn deflate_message(c: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        loop {
            let consumed = c.total_in() as usize;
            let _ = c.compress_vec(
                &data[consumed.min(data.len())..],
                &mut out,
                FlushCompress::Sync,
            );
            if c.total_in() as usize >= data.len() && out.capacity() > out.len() {
                break;
            }
            out.reserve(4096);
        }
        assert!(out.ends_with(&DEFLATE_TAIL));
        out.truncate(out.len() - 4);
        out
    }

    /// The next message of a compressor that may already have compressed others (context
    /// takeover), sync-flushed: ends with the tail a sender removes.
    fn deflate_next(c: &mut Compress, data: &[u8]) -> Vec<u8> {
        let base = c.total_in();
        let mut out = Vec::with_capacity(data.len() + 64);
        loop {
            let done = (c.total_in() - base) as usize;
            let _ = c.compress_vec(&data[done..], &mut out, FlushCompress::Sync);
            if (c.total_in() - base) as usize == data.len() && out.capacity() > out.len() {
                break;
            }
            out.reserve(4096);
        }
        assert!(out.ends_with(&DEFLATE_TAIL));
        out
    }

    #[test]
    fn inflates_large_output_in_pieces_and_consumer_can_stop() {
        let data = vec![b'a'; 200_000];
        let mut c = Compress::new(Compression::default(), false);
        let mut wire = deflate_message(&mut c, &data);
        wire.extend_from_slice(&DEFLATE_TAIL);
        let mut inf = Inflater::new(None);
        assert_eq!(inflate_all(&mut inf, &wire).unwrap(), data);

        let mut inf = Inflater::new(None);
        let mut got = 0;
        let r = inf.inflate(&wire, &mut |p| {
            got += p.len();
            got < 50_000
        });
        assert_eq!(r, Ok(Inflated::StoppedByConsumer));
        assert!((50_000..50_000 + OUT_CHUNK).contains(&got));
    }

    /// A message compressed as one stream ending with a final block (and one padding byte
    /// after it, which is ignored).
    fn deflate_final(c: &mut Compress, data: &[u8]) -> Vec<u8> {
        let base = c.total_in();
        let mut out = Vec::with_capacity(data.len() + 64);
        loop {
            let done = (c.total_in() - base) as usize;
            match c.compress_vec(&data[done..], &mut out, FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => break,
                Ok(_) => out.reserve(4096),
                Err(e) => panic!("{e}"),
            }
        }
        out.push(0x00);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the sizes of the messages (the window growing at any point of one, or
        /// already a ring) and wherever a stream ends with a final block, each message inflates
        /// to what was compressed, with context takeover, and the inflater never holds more
        /// than zlib's part and a 32 KiB window.
        #[test]
        fn inflates_messages_across_window_growth_and_final_blocks(
            messages in prop::collection::vec((0usize..40_000, any::<u8>(), any::<bool>()), 1..10),
        ) {
            let mut c = Compress::new(Compression::default(), false);
            let mut inf = Inflater::new(None);
            let mut all: Vec<u8> = Vec::new();
            for (len, seed, final_block) in messages {
                let msg: Vec<u8> = (0..len)
                    .map(|j| b"abcdefgh ijklmnop"[(j * 7 + usize::from(seed) + j / 131) % 17])
                    .collect();
                inf.begin_message(false).unwrap();
                let wire = if final_block {
                    deflate_final(&mut c, &msg)
                } else {
                    deflate_next(&mut c, &msg)
                };
                let mut out = inflate_all(&mut inf, &wire).unwrap();
                if final_block {
                    out.extend(inflate_all(&mut inf, &DEFLATE_TAIL).unwrap());
                }
                prop_assert!(out == msg, "message of {} bytes", len);
                prop_assert!(inf.held() <= ZLIB_BYTES + WINDOW);
                all.extend_from_slice(&msg);
                if final_block {
                    // The next stream starts primed with what the receiver saw last.
                    c = Compress::new(Compression::default(), false);
                    if !all.is_empty() {
                        c.set_dictionary(&all[all.len().saturating_sub(WINDOW)..]).unwrap();
                    }
                }
            }
        }
    }

    /// The output window grows with the output, by doubling, and never past 32 KiB; zlib's
    /// part is charged by how far the output reached into its window: a connection of short
    /// messages holds zlib's state, a page or two of its window and a small output window.
    #[test]
    fn the_window_grows_with_the_output_up_to_32_kib() {
        let mut c = Compress::new(Compression::default(), false);
        let mut inf = Inflater::new(None);
        assert_eq!(inf.held(), zlib_bytes(0));
        inf.begin_message(false).unwrap();
        let hello = deflate_next(&mut c, b"hello");
        assert_eq!(inflate_all(&mut inf, &hello).unwrap(), b"hello");
        assert_eq!(inf.held(), zlib_bytes(5) + FIRST_WINDOW);
        assert!(inf.held() < ZLIB_BYTES / 2);
        let text: Vec<u8> = (0..3_000u32)
            .map(|i| b"abcdefgh "[(i * i % 9) as usize])
            .collect();
        for n in 1..=20 {
            inf.begin_message(false).unwrap();
            let wire = deflate_next(&mut c, &text);
            assert_eq!(inflate_all(&mut inf, &wire).unwrap(), text);
            let output = 5 + n * text.len();
            let window = inf.held() - zlib_bytes(output);
            assert!(window <= WINDOW && window.is_power_of_two(), "{window}");
            assert!(
                window >= output.min(WINDOW) && window < 2 * output,
                "{window} {output}"
            );
        }
        assert_eq!(inf.held(), ZLIB_BYTES + WINDOW);
    }

    /// zlib's part is charged by its pages: its state, then a page for each 4 KiB the output
    /// reached, up to the whole window. A reset starts writing at the window's start again, so
    /// what was reached stays charged, also when the decompressor waits as a spare and goes to
    /// the next connection; a dictionary written after a BFINAL block counts as output does.
    #[test]
    fn zlib_is_charged_the_pages_its_output_reached() {
        assert_eq!(zlib_bytes(1), zlib_bytes(4 << 10));
        assert_eq!(zlib_bytes((4 << 10) + 1), zlib_bytes(4 << 10) + (4 << 10));
        assert_eq!(zlib_bytes(WINDOW), zlib_bytes(10 * WINDOW));
        assert_eq!(ZLIB_BYTES - zlib_bytes(0), WINDOW);

        let budget = InflaterBudget::new(1);
        let text: Vec<u8> = (0..9_000u32)
            .map(|i| b"abcdefgh "[(i * 7 % 9) as usize])
            .collect();
        let mut inf = Inflater::new(budget.try_acquire());
        inf.begin_message(true).unwrap();
        let mut c = Compress::new(Compression::default(), false);
        assert_eq!(
            inflate_all(&mut inf, &deflate_final(&mut c, &text)).unwrap(),
            text
        );
        let reached = zlib_bytes(text.len());
        assert_eq!(inf.held() - inf.window.capacity(), reached);
        // A fresh stream for the next message: what was reached stays.
        inf.begin_message(true).unwrap();
        let mut c = Compress::new(Compression::default(), false);
        assert_eq!(
            inflate_all(&mut inf, &deflate_final(&mut c, b"hi")).unwrap(),
            b"hi"
        );
        assert_eq!(inf.held() - inf.window.capacity(), reached);
        // Kept as a spare with its output window's room, and charged the same to the next.
        let room = inf.window.capacity();
        drop(inf);
        assert_eq!(budget.spare_bytes(), reached + room);
        let again = Inflater::new(budget.try_acquire());
        assert_eq!(again.held(), reached + room);
        drop(again);

        // Primed with the window after a BFINAL block: the dictionary is written into zlib's.
        let mut inf = Inflater::new(None);
        let mut c = Compress::new(Compression::default(), false);
        inf.begin_message(false).unwrap();
        let mut out = inflate_all(&mut inf, &deflate_final(&mut c, &text)).unwrap();
        out.extend(inflate_all(&mut inf, &DEFLATE_TAIL).unwrap());
        assert_eq!(out, text);
        inf.begin_message(false).unwrap();
        let mut c = Compress::new(Compression::default(), false);
        c.set_dictionary(&text).unwrap();
        let more = &text[..2_000];
        assert_eq!(
            inflate_all(&mut inf, &deflate_next(&mut c, more)).unwrap(),
            more
        );
        assert_eq!(
            inf.held() - inf.window.capacity(),
            zlib_bytes(text.len() + more.len())
        );
    }

    /// Output that stops just short of 32 KiB leaves less room than the window grows at; the
    /// window stays at 32 KiB and becomes a ring.
    #[test]
    fn the_window_stops_at_32_kib_when_output_ends_just_short_of_it() {
        let mut c = Compress::new(Compression::default(), false);
        let mut inf = Inflater::new(None);
        let text = |n: usize| -> Vec<u8> { (0..n).map(|j| b"abcdefghij "[j * j % 11]).collect() };
        for len in [WINDOW - 100, 300, WINDOW + 1_000] {
            inf.begin_message(false).unwrap();
            let msg = text(len);
            let wire = deflate_next(&mut c, &msg);
            assert_eq!(inflate_all(&mut inf, &wire).unwrap(), msg);
        }
        assert_eq!(inf.held(), ZLIB_BYTES + WINDOW);
    }

    #[test]
    fn stream_after_bfinal_is_primed_with_the_window() {
        // Message 1 ends its deflate stream with BFINAL; message 2 is compressed as a new
        // stream whose dictionary is message 1, i.e. it refers back across the BFINAL.
        let first = b"context takeover across a final block ".repeat(4);
        let mut c = Compress::new(Compression::default(), false);
        let mut m1 = Vec::with_capacity(4096);
        let _ = c.compress_vec(&first, &mut m1, FlushCompress::Finish);
        m1.push(0x00);
        let mut c2 = Compress::new(Compression::default(), false);
        c2.set_dictionary(&first).unwrap();
        let m2 = deflate_message(&mut c2, &first);
        assert!(m2.len() < 20, "the second message is back-references");

        let mut inf = Inflater::new(None);
        inf.begin_message(false).unwrap();
        let mut out = inflate_all(&mut inf, &m1).unwrap();
        out.extend(inflate_all(&mut inf, &DEFLATE_TAIL).unwrap());
        assert_eq!(out, first);
        inf.begin_message(false).unwrap();
        let mut out = inflate_all(&mut inf, &m2).unwrap();
        out.extend(inflate_all(&mut inf, &DEFLATE_TAIL).unwrap());
        assert_eq!(out, first);

        // A fresh start cannot resolve those back-references: an error, never garbage.
        let mut inf = Inflater::new(None);
        inf.begin_message(true).unwrap();
        assert!(inflate_all(&mut inf, &m2).is_err());
    }

    /// The window is a ring once 32 KiB were inflated: after many messages (wrapping it at odd
    /// offsets) a stream that ends with BFINAL must still prime the next one with exactly the
    /// last 32 KiB of output, oldest byte first.
    #[test]
    fn window_ring_restores_the_last_32_kib_after_wrapping() {
        let text = |i: usize| -> Vec<u8> {
            (0..7_001 + i * 13)
                .map(|j| b"abcdefghijklmnopqrstuvwxyz0123456789 "[(j * 7 + i * 3 + j / 97) % 37])
                .collect()
        };
        let mut c = Compress::new(Compression::default(), false);
        let mut inf = Inflater::new(None);
        let mut all = Vec::new();
        for i in 0..12 {
            let msg = text(i);
            let wire = deflate_next(&mut c, &msg);
            inf.begin_message(false).unwrap();
            assert_eq!(inflate_all(&mut inf, &wire).unwrap(), msg, "message {i}");
            all.extend_from_slice(&msg);
        }
        // End the stream with a final block, then start a new one whose dictionary is the
        // last 32 KiB the receiver saw.
        let last = text(99);
        let mut fin = Vec::with_capacity(last.len() + 64);
        let _ = c.compress_vec(&last, &mut fin, FlushCompress::Finish);
        fin.push(0x00);
        inf.begin_message(false).unwrap();
        let mut out = inflate_all(&mut inf, &fin).unwrap();
        out.extend(inflate_all(&mut inf, &DEFLATE_TAIL).unwrap());
        assert_eq!(out, last);
        all.extend_from_slice(&last);
        let dictionary = &all[all.len() - WINDOW..];
        let mut c2 = Compress::new(Compression::default(), false);
        c2.set_dictionary(dictionary).unwrap();
        let next = [&dictionary[..3_000], &dictionary[WINDOW - 5_000..]].concat();
        let m2 = deflate_message(&mut c2, &next);
        assert!(
            m2.len() < next.len() / 4,
            "the message is mostly back-references"
        );
        inf.begin_message(false).unwrap();
        let mut out = inflate_all(&mut inf, &m2).unwrap();
        out.extend(inflate_all(&mut inf, &DEFLATE_TAIL).unwrap());
        assert_eq!(out, next);
    }

    #[test]
    fn budget_counts_live_permits() {
        let budget = InflaterBudget::new(2);
        let a = budget.try_acquire();
        let b = budget.clone().try_acquire();
        assert!(a.is_some() && b.is_some());
        assert_eq!(budget.available(), 0);
        assert!(budget.try_acquire().is_none());
        drop(a);
        assert_eq!(budget.available(), 1);
        let c = Inflater::new(budget.try_acquire());
        assert_eq!(budget.available(), 0);
        drop(c);
        drop(b);
        assert_eq!(budget.available(), 2);
    }

    /// A decompressor given back by an ended connection is reused, and nothing of its old
    /// stream leaks into the new one: a message referring back into the previous connection's
    /// window fails exactly as on a new decompressor.
    #[test]
    fn budget_reuses_decompressors_without_their_history() {
        let budget = InflaterBudget::new(2);
        let first = b"history that must not survive the connection ".repeat(8);
        let mut c = Compress::new(Compression::default(), false);
        let wire = deflate_next(&mut c, &first);
        let mut inf = Inflater::new(budget.try_acquire());
        inf.begin_message(true).unwrap();
        assert_eq!(inflate_all(&mut inf, &wire).unwrap(), first);
        // The peer's next message (context takeover) is all back-references.
        let next = deflate_next(&mut c, &first);
        assert!(next.len() < 20);
        drop(inf);
        assert_eq!((budget.available(), budget.spare()), (2, 1));

        let mut reused = Inflater::new(budget.try_acquire());
        assert_eq!(budget.spare(), 0, "taken from the budget, not made anew");
        reused.begin_message(true).unwrap();
        assert!(inflate_all(&mut reused, &next).is_err());
        // And it inflates a new stream like a new decompressor.
        reused.begin_message(true).unwrap();
        let mut c = Compress::new(Compression::default(), false);
        let mut wire = deflate_message(&mut c, b"fresh");
        wire.extend_from_slice(&DEFLATE_TAIL);
        assert_eq!(inflate_all(&mut reused, &wire).unwrap(), b"fresh");
        drop(reused);
        // Without a budget nothing is kept.
        drop(Inflater::new(None));
        assert_eq!((budget.available(), budget.spare()), (2, 1));
    }

    #[test]
    fn message_head_is_capped_and_utf8_reported_once() {
        let mut m = Message::new(OpCode::Text, false, Vec::new());
        assert!(!m.take_plain(b"hello ", 8));
        assert!(m.take_plain(b"w\xffrld", 8));
        assert!(!m.take_plain(b"\xff", 8));
        assert_eq!(m.head, b"hello w\xff");
        assert_eq!(m.len, 12);
        assert_eq!(m.finish_utf8(), Some(false));
        let mut b = Message::new(OpCode::Binary, false, Vec::new());
        assert!(!b.take_plain(b"\xff", 8));
        assert_eq!(b.finish_utf8(), None);
    }
}
