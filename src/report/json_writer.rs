//! The JSON text of every JSON output: a serde [`Serializer`](serde::Serializer) that appends
//! compact, terminal-safe JSON to a `Vec<u8>` the caller reuses ([`push_json`]).
//!
//! It writes exactly what `serde_json`'s compact serializer writes, numbers with the crates
//! `serde_json` writes them with (`itoa`, `zmij`; the tests compare), with one difference that
//! [`write_str`] owns: besides what JSON must escape (`"`, `\`, C0 controls, as `\"`, `\\`, `\n`,
//! `\u001b` ...), the characters a terminal would act on or hide (those [`escape::is_safe`]
//! refuses: DEL, C1, bidi and invisible format characters) are written as `\uXXXX` escapes, so that
//! `--json` on a terminal is as safe as the text views while every parser reads back the very same
//! text.
//!
//! It exists for speed: strings are scanned eight bytes at a time for anything to escape, a
//! struct's field names (the program's own `&'static str`) are written as they are, and nothing
//! is allocated (names, numbers and strings all go straight into the buffer).

use crate::model::json::{Json, JsonCx, JsonLine, Plain, ToJson, ts_secs};
use crate::model::{FlowRecord, FlowSummary};
use crate::report::escape;
use crate::tcp::{CloseHow, FlowMeta};
use crate::time::Timestamp;
use serde::Serialize;
use serde::ser::{self, Error as _, Impossible};
use serde_json::ser::{CompactFormatter, Formatter};
use std::fmt;

/// The error type: `serde_json`'s, so that callers see one kind of JSON error.
type Error = serde_json::Error;
type Result<T = ()> = std::result::Result<T, Error>;

/// Appends `value` to `out` as one line of compact JSON (no newline), safe for a terminal, exact
/// for a parser. On an error (a map key that is not a string or a number) `out` may hold part
/// of the value.
pub fn push_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result {
    value.serialize(&mut JsonWriter::new(out))
}

/// Appends `record` in its context `cx` as [`push_json`] appends `Json { record, cx }`:
/// straight into the line when the record writes itself so
/// ([`ToJson::to_json_line`]), else through serde.
pub fn push_record<R: ToJson + ?Sized>(out: &mut Vec<u8>, record: &R, cx: &JsonCx) -> Result {
    let mut line = LineWriter {
        writer: JsonWriter::new(out),
    };
    if record.to_json_line(cx, &mut line)? {
        return Ok(());
    }
    push_json(out, &Json { record, cx: *cx })
}

/// Appends a flow's `flow` record as [`push_json`] appends [`FlowRecord::new`]'s, written
/// straight from the flow's state ([`FlowRecord::write_line`]).
pub fn push_flow(
    out: &mut Vec<u8>,
    meta: &FlowMeta,
    summary: &FlowSummary,
    how: CloseHow,
) -> Result {
    let mut line = LineWriter {
        writer: JsonWriter::new(out),
    };
    FlowRecord::write_line(meta, summary, how, &mut line)
}

/// The JSON line a record writes itself into ([`JsonLine`]), with the serializer's pieces.
struct LineWriter<'b> {
    writer: JsonWriter<'b>,
}

impl<'b> JsonLine for LineWriter<'b> {
    type Error = Error;
    type Fields<'f>
        = Compound<'f, 'b>
    where
        Self: 'f;

    #[inline(always)]
    fn raw(&mut self, text: &'static str) {
        put(self.writer.out, text.as_bytes());
    }

    #[inline(always)]
    fn uint(&mut self, v: u64) {
        put_uint(self.writer.out, v);
    }

    #[inline(always)]
    fn ts(&mut self, t: Timestamp) {
        put_ts(self.writer.out, t);
    }

    #[inline(always)]
    fn plain(&mut self, text: &str) {
        debug_assert!(next_attention(text.as_bytes(), 0) == text.len(), "{text}");
        put_plain(self.writer.out, text.as_bytes());
    }

    #[inline(always)]
    fn text(&mut self, text: &str) {
        quoted(self.writer.out, text);
    }

    fn fields(&mut self) -> Compound<'_, 'b> {
        Compound {
            w: &mut self.writer,
            first: false,
            close: b"}",
        }
    }
}

/// The serializer: the buffer it appends to.
pub struct JsonWriter<'b> {
    out: &'b mut Vec<u8>,
    /// The string being written is [`Plain`]: nothing in it to escape.
    plain: bool,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `x` that is zero (exact: no carry crosses a byte).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7) + LOW7) | x) & HI
}

/// The high bit of each byte of `x` that a JSON string cannot hold as itself, or that is the
/// start of a character [`write_str`] must look at: C0, `"`, `\`, DEL and every non-ASCII byte.
#[inline]
fn attention(x: u64) -> u64 {
    // b >= 0x7f: the high bit, or the low seven bits all set.
    let high = ((x & LOW7) + LO) | x;
    // b & 0x7f < 0x20 (the b >= 0x80 among them are flagged above anyway).
    let control = !((x & LOW7) + 0x6060_6060_6060_6060);
    (high
        | control
        | zero_bytes(x ^ (LO * u64::from(b'"')))
        | zero_bytes(x ^ (LO * u64::from(b'\\'))))
        & HI
}

/// The index of the first byte of `b` from `from` that [`attention`] flags, or `b.len()`.
#[inline]
fn next_attention(b: &[u8], mut i: usize) -> usize {
    while let Some(word) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let m = attention(u64::from_le_bytes(*word));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    // The last 4 to 7 bytes as one word (a byte flagged where the halves overlap is found in
    // the first half first).
    let rest = b.get(i..).unwrap_or_default();
    if rest.len() >= 4 {
        let m = attention(halves(rest));
        if m == 0 {
            return b.len();
        }
        let k = (m.trailing_zeros() / 8) as usize;
        return if k < 4 { i + k } else { b.len() + k - 8 };
    }
    while let Some(&c) = b.get(i) {
        if !(0x20..0x7f).contains(&c) || c == b'"' || c == b'\\' {
            return i;
        }
        i += 1;
    }
    i
}

/// The first four and the last four bytes of `b` (4 to 8 long: they overlap when shorter) as
/// one word.
#[inline(always)]
fn halves(b: &[u8]) -> u64 {
    let (lo, hi) = (word::<4>(b, 0), word::<4>(b, b.len() - 4));
    u64::from(u32::from_le_bytes(lo)) | u64::from(u32::from_le_bytes(hi)) << 32
}

/// Whether [`attention`] flags a byte of `b` (at most 16 bytes; zero when none), looked at
/// without a loop: its first and last eight bytes (which overlap), its first and last four as
/// one word, or its first, middle and last bytes over spaces (which nothing flags).
#[inline(always)]
fn short_attention(b: &[u8]) -> u64 {
    const SPACES: u64 = LO * 0x20;
    let n = b.len();
    if n >= 8 {
        attention(u64::from_le_bytes(word::<8>(b, 0)))
            | attention(u64::from_le_bytes(word::<8>(b, n - 8)))
    } else if n >= 4 {
        attention(halves(b))
    } else if n > 0 {
        let three = u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16;
        attention(three | SPACES << 24)
    } else {
        0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `b`. A record is mostly short pieces (names, numbers, `true`, `"c2s"`, runs of
/// names and flags), and a call to `memcpy` for each costs more than the copy: up to 64 bytes
/// are stored as two (or four) overlapping words straight into the buffer.
#[inline(always)]
fn put(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    if n > 64 {
        return out.extend_from_slice(b);
    }
    out.reserve(64);
    let at = out.len();
    let spare = out.spare_capacity_mut();
    if n > 32 {
        store(spare, 0, word::<32>(b, 0));
        store(spare, n - 32, word::<32>(b, n - 32));
    } else if n > 16 {
        store(spare, 0, word::<16>(b, 0));
        store(spare, n - 16, word::<16>(b, n - 16));
    } else {
        store_short(spare, b);
    }
    // SAFETY: `reserve(64)` made room for 64 bytes after `at`, and the stores above
    // initialised the first `n` of them (`n <= 64`).
    unsafe { out.set_len(at + n) };
}

/// Writes `v` the way `zmij` does when it is a whole number of microseconds from 1 to 2^33
/// (what every timestamp and most durations are: `ts_secs`), from the integer, and says whether
/// it did. Then `m / 10^6` with its trailing zeros cut is the shortest text that reads back as
/// `v`, and the only one that short: `v` is the double nearest to it, and any other text as
/// short or shorter is another multiple of 10^-6, further from it than the spacing of doubles
/// there (at most 2^-20). Below 1 the spacing is finer, but shorter texts are written in
/// exponent form (`1e-6`), which this does not write.
fn put_micros(out: &mut Vec<u8>, v: f64) -> bool {
    const MICROS: f64 = 1e6;
    if !(1.0..(MICROS_TOP / 1_000_000) as f64).contains(&v) {
        return false;
    }
    // `v * 10^6` is off by up to one unit near the top of the range (`+ 0.5` and the cast
    // round it without a call to `round`).
    let near = (v * MICROS + 0.5) as u64;
    let is = |m: u64| m as f64 / MICROS == v;
    let m = if is(near) {
        near
    } else if is(near - 1) {
        near - 1
    } else if is(near + 1) {
        near + 1
    } else {
        return false;
    };
    put_whole_micros(out, m);
    true
}

/// The whole microseconds below which [`put_micros`] writes a value: 2^33 seconds.
const MICROS_TOP: u64 = (1 << 33) * 1_000_000;

/// Appends `t` as [`put_f64`] appends [`ts_secs`]`(t)`. A timestamp from one second to 2^33
/// seconds is written from its whole microseconds, without the double: `ts_secs` divides them,
/// exact as a double (below 2^53), by 10^6, so its double is the one nearest to `m / 10^6`,
/// which is the `m` [`put_micros`] finds and writes (between 1 and 2^33 no two whole
/// microseconds have the same nearest double).
#[inline(always)]
fn put_ts(out: &mut Vec<u8>, t: Timestamp) {
    match u64::try_from(t.as_nanos().div_euclid(1_000)) {
        Ok(m @ 1_000_000..MICROS_TOP) => put_whole_micros(out, m),
        _ => put_f64(out, ts_secs(t)),
    }
}

/// Appends `m / 10^6` (`m` from 10^6 to [`MICROS_TOP`]) as [`put_micros`] writes it: the
/// whole seconds, the point and at least one decimal, the trailing zeros cut.
#[inline(always)]
fn put_whole_micros(out: &mut Vec<u8>, m: u64) {
    put_secs(out, m / 1_000_000);
    // The six decimals after the point, their trailing zeros cut (one kept): the point and
    // the digits as one word (`digits8` writes them after two leading zeros), its last byte
    // that is not `0` found from the word's bits.
    let digits = u64::from_le_bytes(digits8((m % 1_000_000) as u32));
    let word = ((digits >> 8) & !0xff) | u64::from(b'.');
    // Bytes 2 to 6 hold the last five digits; byte 1, the first, is always kept.
    let not_zero = (word ^ (LO * u64::from(b'0'))) & 0x00ff_ffff_ffff_0000;
    let last = ((63 - (not_zero | 0xff00).leading_zeros()) / 8) as usize;
    put_word(out, word, last + 1);
}

/// Appends `v` as `serde_json` writes it: `null` when not finite, else as `zmij` writes it
/// ([`put_micros`] for whole microseconds).
fn put_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        return put(out, b"null");
    }
    if !put_micros(out, v) {
        put(out, zmij::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Appends `secs`, a timestamp's whole seconds: the same as the last timestamp's in nearly every
/// record of a capture, so the last one's digits are kept (per thread) and copied.
fn put_secs(out: &mut Vec<u8>, secs: u64) {
    thread_local! {
        static LAST: std::cell::Cell<(u64, [u8; 20], u8)> =
            const { std::cell::Cell::new((u64::MAX, [0; 20], 0)) };
    }
    let (last, digits, len) = LAST.get();
    if last == secs {
        return put(out, &digits[..usize::from(len)]);
    }
    let mut buf = itoa::Buffer::new();
    let text = buf.format(secs).as_bytes();
    let mut kept = [0; 20];
    kept[..text.len()].copy_from_slice(text);
    LAST.set((secs, kept, text.len() as u8));
    put(out, text);
}

/// `v` (below 10^8) as eight decimal digits, leading zeros included, computed in the lanes of
/// one word rather than a digit at a time: the upper and the lower four digits in two 32-bit
/// lanes, each split into two pairs (16-bit lanes: `x / 100` as `x * 10486 >> 20`, exact below
/// 10^4), each pair into two digits (bytes: `x / 10` as `x * 103 >> 10`, exact below 100).
#[inline(always)]
fn digits8(v: u32) -> [u8; 8] {
    let x = u64::from(v / 10_000) | (u64::from(v % 10_000) << 32);
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let pairs = hundreds | ((x - hundreds * 100) << 16);
    let tens = ((pairs * 103) >> 10) & 0x000f_000f_000f_000f;
    let digits = tens | ((pairs - tens * 10) << 8);
    (digits | (LO * u64::from(b'0'))).to_le_bytes()
}

/// Appends the first `n` bytes (at most 8) of `word` as it is laid out in memory, with one store.
#[inline(always)]
fn put_word(out: &mut Vec<u8>, word: u64, n: usize) {
    out.reserve(8);
    let at = out.len();
    store(out.spare_capacity_mut(), 0, word.to_le_bytes());
    // SAFETY: `reserve(8)` made room for the 8 bytes stored after `at`, and `n <= 8`.
    unsafe { out.set_len(at + n.min(8)) };
}

/// Appends `v` in decimal as `itoa` writes it: one or two digits (an opcode, a length) from a
/// table, then up to eight (frame numbers: nearly every other number of a record) from
/// [`digits8`] with one store, without a digit loop.
#[inline(always)]
fn put_uint(out: &mut Vec<u8>, v: u64) {
    match u32::try_from(v) {
        Ok(digit @ 0..10) => out.push(b'0' + digit as u8),
        Ok(n @ 10..100) => put(out, pair(n as usize)),
        Ok(small @ 100..100_000_000) => {
            let word = u64::from_le_bytes(digits8(small));
            // The leading zeros are the word's first bytes in memory (at most 6: `small` has
            // three digits or more): shifted out.
            let zeros = ((word ^ (LO * u64::from(b'0'))).trailing_zeros() / 8) as usize;
            put_word(out, word >> (8 * zeros), 8 - zeros);
        }
        _ => put_itoa(out, v),
    }
}

/// The two digits of `n` (below 100).
#[inline(always)]
fn pair(n: usize) -> &'static [u8] {
    PAIRS.get(2 * n..2 * n + 2).unwrap_or(b"00")
}

/// "00" to "99".
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Appends `v` as `itoa` writes it (kept out of line: rare on the way of [`put_uint`]).
#[inline(never)]
fn put_itoa<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    put(out, itoa::Buffer::new().format(v).as_bytes());
}

/// Appends `,"name":` (the comma when `comma`) in one piece.
#[inline(always)]
fn put_name(out: &mut Vec<u8>, comma: bool, name: &[u8]) {
    let n = name.len();
    if n > 16 {
        if comma {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name);
        return out.extend_from_slice(b"\":");
    }
    out.reserve(24);
    let at = out.len();
    let spare = &mut out.spare_capacity_mut()[..24];
    store(spare, 0, [b',']);
    let open = usize::from(comma);
    store(spare, open, [b'"']);
    let spare = &mut spare[open + 1..];
    store_short(spare, name);
    store(spare, n, *b"\":");
    // SAFETY: `reserve(24)` made room for 24 bytes after `at`, and the stores above initialised
    // the first `open + 1 + n + 2` of them (`n <= 16`).
    unsafe { out.set_len(at + open + 1 + n + 2) };
}

/// Stores `b` (at most 16 bytes) at the start of `spare` (at least 16 long) as two
/// overlapping words, or three bytes.
#[inline(always)]
fn store_short(spare: &mut [std::mem::MaybeUninit<u8>], b: &[u8]) {
    let n = b.len();
    if n >= 8 {
        store(spare, 0, word::<8>(b, 0));
        store(spare, n - 8, word::<8>(b, n - 8));
    } else if n >= 4 {
        store(spare, 0, word::<4>(b, 0));
        store(spare, n - 4, word::<4>(b, n - 4));
    } else if n > 0 {
        store(spare, 0, [b[0]]);
        store(spare, n / 2, [b[n / 2]]);
        store(spare, n - 1, [b[n - 1]]);
    }
}

/// The `N` bytes of `b` from `at` (`at + N <= b.len()`).
#[inline(always)]
fn word<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut w = [0u8; N];
    w.copy_from_slice(&b[at..at + N]);
    w
}

/// Stores `w` at `at` in `spare` (one store for a word).
#[inline(always)]
fn store<const N: usize>(spare: &mut [std::mem::MaybeUninit<u8>], at: usize, w: [u8; N]) {
    for (d, s) in spare[at..at + N].iter_mut().zip(w) {
        d.write(s);
    }
}

/// Appends `\uXXXX` for one UTF-16 unit.
fn push_u_escape(out: &mut Vec<u8>, unit: u16) {
    out.extend_from_slice(&[
        b'\\',
        b'u',
        HEX[usize::from(unit >> 12)],
        HEX[usize::from((unit >> 8) & 0xf)],
        HEX[usize::from((unit >> 4) & 0xf)],
        HEX[usize::from(unit & 0xf)],
    ]);
}

/// Appends the contents of a JSON string for `s` (no quotes): runs of plain ASCII are copied
/// whole; `"`, `\` and C0 escaped as JSON does; DEL and the other characters a terminal acts
/// on or hides as `\uXXXX`.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Most strings need nothing escaped: found and copied here, without the escaping loop.
    let b = s.as_bytes();
    // Most are short (a direction, a method, a header name): up to 16 bytes are looked at as
    // two words, without a loop.
    if b.len() <= 16 && short_attention(b) == 0 {
        return put(out, b);
    }
    let first = next_attention(b, 0);
    put(out, b.get(..first).unwrap_or_default());
    if first < b.len() {
        escape_repeated(out, s, first);
    }
}

/// The rest of a string to escape, from byte `start` ([`escape_from`]), and its JSON text, kept
/// from the last string escaped on this thread: a WebSocket message of one frame (most are)
/// has the same preview in its frame record and its message record, written one after the
/// other, and JSON text has a quote every few bytes. At most [`Repeat::MAX`] bytes are kept.
#[derive(Default)]
struct Repeat {
    rest: Vec<u8>,
    text: Vec<u8>,
}

impl Repeat {
    /// The longest rest kept (its text is at most six times as long): a preview's size.
    const MAX: usize = 512;
}

/// [`escape_from`], or a copy of the text it wrote last when the rest is the same.
#[inline(never)]
fn escape_repeated(out: &mut Vec<u8>, s: &str, start: usize) {
    thread_local! {
        static LAST: std::cell::RefCell<Repeat> = std::cell::RefCell::default();
    }
    let rest = s.as_bytes().get(start..).unwrap_or_default();
    if rest.len() > Repeat::MAX {
        return escape_from(out, s, start);
    }
    LAST.with_borrow_mut(|last| {
        if last.rest == rest {
            return out.extend_from_slice(&last.text);
        }
        let at = out.len();
        escape_from(out, s, start);
        last.rest.clear();
        last.rest.extend_from_slice(rest);
        last.text.clear();
        last.text
            .extend_from_slice(out.get(at..).unwrap_or_default());
    });
}

/// [`write_str`] from byte `start`, the first byte that needs a look, a word at a time: each
/// word is stored whole into the buffer, then the buffer keeps the bytes before its first
/// flagged byte, which is written escaped, and the next word is read from just after it (JSON
/// text in a preview has a quote every few bytes: each costs one look at a word, not a look
/// and two copies). The last bytes, short of a word, one flagged byte at a time.
#[inline(never)]
fn escape_from(out: &mut Vec<u8>, s: &str, start: usize) {
    let b = s.as_bytes();
    let mut i = start;
    while let Some(word) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        // Room for the word, or for the bytes before a quote and the quote escaped.
        out.reserve(9);
        let at = out.len();
        let spare = out.spare_capacity_mut();
        store(spare, 0, *word);
        let m = attention(u64::from_le_bytes(*word));
        if m == 0 {
            // SAFETY: `reserve(9)` made room for the 8 bytes stored after `at`.
            unsafe { out.set_len(at + 8) };
            i += 8;
            continue;
        }
        let k = (m.trailing_zeros() / 8) as usize;
        let c = word[k];
        if c == b'"' || c == b'\\' {
            // The quote or backslash of JSON text, escaped in the same room.
            store(spare, k, [b'\\', c]);
            // SAFETY: `reserve(9)` made room for 9 bytes after `at`; the word's first `k`
            // bytes and the two bytes after them are stored (`k <= 7`).
            unsafe { out.set_len(at + k + 2) };
            i += k + 1;
        } else {
            // SAFETY: as above, the word's first `k` bytes are stored.
            unsafe { out.set_len(at + k) };
            i = escape_at(out, s, i + k);
        }
    }
    loop {
        let next = next_attention(b, i);
        put(out, b.get(i..next).unwrap_or_default());
        if next >= b.len() {
            return;
        }
        i = escape_at(out, s, next);
    }
}

/// Writes the character of `s` at `i`, a byte [`attention`] flags, as JSON and the terminal
/// rule want it; returns where the next character starts.
#[inline(always)]
fn escape_at(out: &mut Vec<u8>, s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    let Some(&c) = b.get(i) else {
        return b.len();
    };
    match c {
        b'"' => put(out, b"\\\""),
        b'\\' => put(out, b"\\\\"),
        b'\n' => put(out, b"\\n"),
        b'\r' => put(out, b"\\r"),
        b'\t' => put(out, b"\\t"),
        0x08 => put(out, b"\\b"),
        0x0c => put(out, b"\\f"),
        0..0x80 => push_u_escape(out, u16::from(c)),
        _ => {
            // `s` is a str: a character starts here.
            let Some(ch) = s.get(i..).and_then(|rest| rest.chars().next()) else {
                return b.len();
            };
            let end = i + ch.len_utf8();
            if escape::is_safe(ch) {
                put(out, &b[i..end]);
            } else {
                let mut units = [0u16; 2];
                for &u in ch.encode_utf16(&mut units).iter() {
                    push_u_escape(out, u);
                }
            }
            return end;
        }
    }
    i + 1
}

/// Appends `"s"`.
#[inline(always)]
fn quoted(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    // Most strings are short and need nothing escaped: written with their quotes at once.
    if b.len() <= 16 && short_attention(b) == 0 {
        return put_quoted(out, b);
    }
    out.push(b'"');
    write_str(out, s);
    out.push(b'"');
}

/// Appends `"b"`, `b` holding nothing to escape.
#[inline(always)]
fn put_plain(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() <= 16 {
        return put_quoted(out, b);
    }
    out.push(b'"');
    put(out, b);
    out.push(b'"');
}

/// Appends `"b"`, `b` (at most 16 bytes) holding nothing to escape, with one look at the
/// buffer's room.
#[inline(always)]
fn put_quoted(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(16);
    out.reserve(18);
    let at = out.len();
    let spare = out.spare_capacity_mut();
    store(spare, 0, [b'"']);
    store_short(&mut spare[1..], &b[..n]);
    store(spare, n + 1, [b'"']);
    // SAFETY: `reserve(18)` made room for 18 bytes after `at`, and the stores above
    // initialised the first `n + 2` of them.
    unsafe { out.set_len(at + n + 2) };
}

/// Integers as `serde_json` writes them (the same digits `itoa`, which it uses, writes: the
/// tests compare): unsigned ones by [`put_uint`], negative ones by `itoa`.
macro_rules! numbers {
    ($($name:ident($t:ty);)*) => {$(
        fn $name(self, v: $t) -> Result {
            match u64::try_from(v) {
                Ok(v) => put_uint(self.out, v),
                Err(_) => put_itoa(self.out, v),
            }
            Ok(())
        }
    )*};
}

/// What a compound value has written so far: nothing (no comma before the next entry) or
/// something.
pub struct Compound<'a, 'b> {
    w: &'a mut JsonWriter<'b>,
    first: bool,
    /// The closing bytes: `]`, `}`, or `]}` / `}}` for an enum variant's contents.
    close: &'static [u8],
}

impl Compound<'_, '_> {
    #[inline]
    fn comma(&mut self) {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
    }

    /// A struct's field name, with the comma before it: written as it is, for a field name is
    /// the program's own text (`&'static str`, serde's data model), never a capture's.
    #[inline]
    fn field(&mut self, key: &'static str) {
        debug_assert!(next_attention(key.as_bytes(), 0) == key.len(), "{key}");
        let comma = !self.first;
        self.first = false;
        put_name(self.w.out, comma, key.as_bytes());
    }

    #[inline]
    fn end(self) -> Result {
        self.w.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl<'a, 'b> JsonWriter<'b> {
    /// A writer appending to `out`.
    fn new(out: &'b mut Vec<u8>) -> JsonWriter<'b> {
        JsonWriter { out, plain: false }
    }

    fn open(&'a mut self, open: &[u8], close: &'static [u8]) -> Compound<'a, 'b> {
        self.out.extend_from_slice(open);
        Compound {
            w: self,
            first: true,
            close,
        }
    }

    /// `{"variant":` before an enum variant's contents.
    fn variant(&mut self, variant: &str) {
        self.out.push(b'{');
        quoted(self.out, variant);
        self.out.push(b':');
    }
}

impl<'a, 'b> ser::Serializer for &'a mut JsonWriter<'b> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result {
        put(self.out, if v { b"true" } else { b"false" });
        Ok(())
    }

    numbers! {
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
    }

    /// Floats as `serde_json` writes them: `null` when not finite, else with `zmij`, as it does.
    fn serialize_f32(self, v: f32) -> Result {
        if !v.is_finite() {
            return self.serialize_unit();
        }
        put(self.out, zmij::Buffer::new().format_finite(v).as_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result {
        put_f64(self.out, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result {
        if self.plain {
            // The program's own text, made only by `Plain`'s constructors.
            debug_assert!(next_attention(v.as_bytes(), 0) == v.len(), "{v}");
            put_plain(self.out, v.as_bytes());
            return Ok(());
        }
        quoted(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result {
        CompactFormatter
            .write_byte_array(self.out, v)
            .map_err(Error::io)
    }

    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result {
        v.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _i: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> Result {
        if name == Plain::NAME {
            self.plain = true;
            let written = v.serialize(&mut *self);
            self.plain = false;
            return written;
        }
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        v: &T,
    ) -> Result {
        self.variant(variant);
        v.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>> {
        Ok(self.open(b"[", b"]"))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'b>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>> {
        self.variant(variant);
        Ok(self.open(b"[", b"]}"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>> {
        Ok(self.open(b"{", b"}"))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a, 'b>> {
        Ok(self.open(b"{", b"}"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>> {
        self.variant(variant);
        Ok(self.open(b"{", b"}}"))
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, v: &T) -> Result {
        /// Escapes each piece the value writes.
        struct Pieces<'o>(&'o mut Vec<u8>);
        impl fmt::Write for Pieces<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                write_str(self.0, s);
                Ok(())
            }
        }
        self.out.push(b'"');
        fmt::write(&mut Pieces(self.out), format_args!("{v}"))
            .map_err(|_| Error::custom("a value failed to format"))?;
        self.out.push(b'"');
        Ok(())
    }
}

/// Sequences, tuples and a tuple variant's contents: elements separated by commas.
macro_rules! elements {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
                self.comma();
                v.serialize(&mut *self.w)
            }
            fn end(self) -> Result {
                Compound::end(self)
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.comma();
        key.serialize(MapKey { out: self.w.out })?;
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result {
        Compound::end(self)
    }
}

/// Structs and a struct variant's contents: named fields.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            #[inline(always)]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result {
                self.field(key);
                v.serialize(&mut *self.w)
            }
            fn end(self) -> Result {
                Compound::end(self)
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

/// A map key: a string, or a number or `bool` written as one (as `serde_json` does).
struct MapKey<'o> {
    out: &'o mut Vec<u8>,
}

fn key_must_be_a_string() -> Error {
    Error::custom("key must be a string")
}

/// Number keys, quoted.
macro_rules! number_keys {
    ($($name:ident($t:ty) => $write:ident;)*) => {$(
        fn $name(self, v: $t) -> Result {
            self.out.push(b'"');
            CompactFormatter.$write(self.out, v).map_err(Error::io)?;
            self.out.push(b'"');
            Ok(())
        }
    )*};
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result {
        quoted(self.out, v);
        Ok(())
    }

    fn serialize_bool(self, v: bool) -> Result {
        self.serialize_str(if v { "true" } else { "false" })
    }

    number_keys! {
        serialize_i8(i8) => write_i8;
        serialize_i16(i16) => write_i16;
        serialize_i32(i32) => write_i32;
        serialize_i64(i64) => write_i64;
        serialize_i128(i128) => write_i128;
        serialize_u8(u8) => write_u8;
        serialize_u16(u16) => write_u16;
        serialize_u32(u32) => write_u32;
        serialize_u64(u64) => write_u64;
        serialize_u128(u128) => write_u128;
        serialize_f32(f32) => write_f32;
        serialize_f64(f64) => write_f64;
    }

    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_unit_variant(self, _name: &'static str, _i: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, v: &T) -> Result {
        v.serialize(self)
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, v: &T) -> Result {
        JsonWriter::new(self.out).collect_str(v)
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _v: &T) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _v: &T,
    ) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;
    use serde_json::json;

    /// What `serde_json` writes, with the terminal-unsafe characters it leaves as themselves
    /// written as `\uXXXX` (the definition this writer must meet, written the slow way).
    fn reference<T: Serialize + ?Sized>(v: &T) -> String {
        let plain = serde_json::to_string(v).unwrap();
        let mut out = String::new();
        for c in plain.chars() {
            if escape::is_safe(c) {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out
    }

    fn ours<T: Serialize + ?Sized>(v: &T) -> String {
        let mut out = Vec::new();
        push_json(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_text_is_written_as_any_string_is() {
        let mut buf = crate::model::payload::HexBuf::default();
        let bytes: Vec<u8> = (0..=255).collect();
        let hex = Plain::hex(&bytes, &mut buf);
        let v = (
            Plain::name("ws_frame"),
            Some(Plain::name("c2s")),
            hex,
            [hex],
        );
        assert_eq!(ours(&v), reference(&v));
        assert!(ours(&v).contains("\"000102"));
    }

    #[test]
    fn every_byte_value_is_written_as_serde_json_and_the_terminal_rule_say() {
        for b in 0..=0x7fu8 {
            for at in 0..20 {
                // Every length from 1 to 27, the byte anywhere: the word, the overlapping
                // half-words of a 4-to-7-byte end, and the last bytes one at a time.
                for tail in ["", "t", "ta", "tai", "tail", "tail..."] {
                    let mut s = "x".repeat(at);
                    s.push(char::from(b));
                    s.push_str(tail);
                    assert_eq!(ours(&s), reference(&s), "{b:#x} at {at} before {tail:?}");
                }
            }
        }
        let s = "a\u{80}\u{9b}é\u{202e}\u{200b}\u{2028}\u{feff}\u{e0041}✓\u{1f600}\"\\\u{7f}";
        assert_eq!(ours(s), reference(s));
    }

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u8),
        Tup(u8, &'static str),
        Rec { a: Option<u8>, b: f64 },
    }

    #[derive(Serialize)]
    struct Rec<'a> {
        s: &'a str,
        n: i64,
        u: u128,
        f: f64,
        nan: f64,
        small: f32,
        none: Option<u8>,
        list: Vec<E>,
        empty: Vec<u8>,
        map: std::collections::BTreeMap<u16, &'a str>,
        bytes: &'a [u8],
        tuple: (bool, char),
        unit: (),
        a_name_longer_than_sixteen_bytes: u8,
        exactly_16_bytes: u8,
        eight_b8: u8,
    }

    #[test]
    fn values_of_every_kind_are_written_as_serde_json_writes_them() {
        let r = Rec {
            s: "q\"\n",
            n: -42,
            u: u128::MAX,
            f: 1700000000.004143,
            nan: f64::NAN,
            small: 0.1,
            none: None,
            list: vec![
                E::Unit,
                E::New(7),
                E::Tup(1, "x"),
                E::Rec { a: None, b: 1e-7 },
            ],
            empty: vec![],
            map: [(3, "three"), (10, "ten")].into_iter().collect(),
            bytes: &[1, 2, 255],
            tuple: (true, '\u{1b}'),
            unit: (),
            a_name_longer_than_sixteen_bytes: 1,
            exactly_16_bytes: 2,
            eight_b8: 3,
        };
        assert_eq!(ours(&r), reference(&r));
        let v = json!({"a": [1, 2.5, null, {"b": "c"}], "": {}, "k": []});
        assert_eq!(ours(&v), reference(&v));
        let mut out = Vec::new();
        ser::Serializer::collect_str(
            &mut JsonWriter::new(&mut out),
            &format_args!("{}-{}\u{7}", 1, "é"),
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), reference("1-é\u{7}"));
        let bad: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(push_json(&mut Vec::new(), &bad).is_err());
    }

    proptest::proptest! {
        #[test]
        fn numbers_are_written_as_serde_json_writes_them(
            f in proptest::num::f64::ANY,
            g in proptest::num::f32::ANY,
            i in proptest::num::i64::ANY,
            u in proptest::num::u128::ANY,
            small in -200i64..200,
            digits in 0u32..=8,
            below in 0u64..100_000_000,
        ) {
            let v = (f, g, i, u, f.to_bits() as f64 / 1e6);
            proptest::prop_assert_eq!(ours(&v), reference(&v));
            // Small numbers, in every integer type that holds them.
            let n = (small as i8, small as i16, small as i32, small, small as i128);
            proptest::prop_assert_eq!(ours(&n), reference(&n));
            let u = (small as u8, small as u16, small as u32, small as u64, small as u128);
            proptest::prop_assert_eq!(ours(&u), reference(&u));
            // Every length the one-word writer writes (below 10^8), its edges and the first
            // numbers above it.
            let top = 10u64.pow(digits);
            let around = (below % top, top.saturating_sub(1), top, top + below % 7);
            proptest::prop_assert_eq!(ours(&around), reference(&around));
            let above = (99_999_999u64 + below, u64::from(u32::MAX) + below);
            proptest::prop_assert_eq!(ours(&above), reference(&above));
        }

        #[test]
        fn eight_digits_are_the_number_s_digits(v in 0u32..100_000_000) {
            let want = format!("{v:08}");
            proptest::prop_assert_eq!(&digits8(v)[..], want.as_bytes());
        }

        #[test]
        fn whole_microseconds_are_written_as_zmij_writes_them(
            m in 0u64..(1u64 << 33) * 1_000_000,
            small in 0u64..2_000_000,
            round in 1u64..9_000,
        ) {
            // A timestamp (as `ts_secs` makes it) from one second on takes the short way.
            proptest::prop_assert!(m < 1_000_000 || put_micros(&mut Vec::new(), m as f64 / 1e6));
            // Each twice and with the next microsecond: the seconds' digits kept from the
            // timestamp before are the right ones.
            let same_second = (m + 1) as f64 / 1e6;
            for v in [m as f64 / 1e6, same_second, same_second, small as f64 / 1e6, round as f64,
                round as f64 / 8.0, round as f64 / 8.0]
            {
                let mut out = Vec::new();
                if put_micros(&mut out, v) {
                    let want = zmij::Buffer::new().format_finite(v).as_bytes().to_vec();
                    proptest::prop_assert_eq!(out, want, "{}", v);
                }
            }
        }

        #[test]
        fn timestamps_are_written_as_their_double_is(
            nanos in proptest::prop_oneof![
                0i64..20_000_000_000_000_000,
                (1i64 << 33) * 1_000_000_000 - 2_000_000..(1i64 << 33) * 1_000_000_000 + 2_000_000,
                999_000_000i64..1_001_000_000,
                proptest::num::i64::ANY,
            ],
        ) {
            let t = Timestamp(nanos);
            let (mut ours, mut want) = (Vec::new(), Vec::new());
            put_ts(&mut ours, t);
            put_f64(&mut want, ts_secs(t));
            proptest::prop_assert_eq!(ours, want, "{}", nanos);
        }

        #[test]
        fn short_pieces_are_copied_whole(s in "[a-z]{0,40}") {
            let mut out = b"x".to_vec();
            put(&mut out, s.as_bytes());
            proptest::prop_assert_eq!(&out[1..], s.as_bytes());
        }

        #[test]
        fn strings_are_written_as_the_reference_writes_them(s in "\\PC*|[\\u{0}-\\u{2100}]*|[ -~]{0,40}[\\u{0}-\\u{ff}][ -~]{0,40}|[\"\\\\a-c:,{}]{0,80}|[\"\\\\a-c\\u{1}\\u{7f}\\u{85}\\u{e9}]{0,60}") {
            proptest::prop_assert_eq!(ours(&s), reference(&s));
        }

        /// A WebSocket frame or message, or an HTTP message, that writes itself straight into
        /// the line (`push_record`) writes what serde writes for it (`push_json`), on generated
        /// records of every kind: every opcode, flag, mask, preview (text, hex, cut or not),
        /// digest, sub-protocol unit, start line, header, handshake, protocol layer, and a record
        /// without a flow or packet.
        #[test]
        fn records_written_straight_are_written_as_serde_writes_them(
            c2s: bool,
            ts in proptest::prop_oneof![0i64..4_000_000_000_000_000_000, proptest::num::i64::ANY],
            flags in 0u8..16,
            opcode in 0u8..16,
            mask: Option<[u8; 4]>,
            payload_len in proptest::prop_oneof![0u64..300, proptest::num::u64::ANY],
            header in proptest::collection::vec(proptest::num::u8::ANY, 2..15),
            head in proptest::prop_oneof![
                "[ -~]{0,200}".prop_map(String::into_bytes),
                "\\PC{0,100}".prop_map(String::into_bytes),
                proptest::collection::vec(proptest::num::u8::ANY, 0..200)],
            close in proptest::option::of((proptest::option::of(proptest::num::u16::ANY),
                proptest::collection::vec(proptest::num::u8::ANY, 0..40))),
            ids in (proptest::option::of(proptest::num::u64::ANY),
                proptest::option::of(proptest::num::u64::ANY)),
            preview_chars in 0usize..300,
            depth in 0usize..3,
            message in (proptest::num::u32::ANY, proptest::num::u64::ANY,
                proptest::num::u64::ANY, proptest::option::of(proptest::bool::ANY)),
            digest in 0u8..3,
            sub: bool,
        ) {
            use crate::model::{Digest, JsonCx, Layers, Layer, OpCode, SubUnit, WsFrame, WsMessage};
            let dir = if c2s { crate::tcp::Dir::C2S } else { crate::tcp::Dir::S2C };
            let ts = Timestamp(ts);
            let (close_code, reason) = close.unzip();
            let tls = Layer { name: "TLS 1.3", outer: None, record: None };
            let http2 = Layer { name: "HTTP/2", outer: Some(&tls), record: None };
            let layer = [None, Some(&tls), Some(&http2)][depth];
            let cx = JsonCx {
                flow: ids.0,
                frame: ids.1,
                preview_chars,
                layers: Layers::of(layer),
            };
            let frame = WsFrame {
                dir,
                ts,
                first_frame: 1,
                fin: flags & 8 != 0,
                rsv1: flags & 4 != 0,
                rsv2: flags & 2 != 0,
                rsv3: flags & 1 != 0,
                opcode: OpCode::from_u8(opcode),
                mask,
                payload_len,
                header: &header,
                payload_head: &head,
                close_code: close_code.flatten(),
                close_reason: reason.as_deref(),
                deflate: false,
            };
            let serde = |r: &dyn Fn(&mut Vec<u8>) -> Result| {
                let mut out = b"[".to_vec();
                r(&mut out).map(|()| out)
            };
            let straight = serde(&|out| push_record(out, &frame, &cx)).unwrap();
            let reference = serde(&|out| push_json(out, &Json { record: &frame, cx })).unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&straight), String::from_utf8_lossy(&reference));
            let units: Vec<SubUnit> = sub
                .then(|| crate::proto::sub::json::JsonRecord::parse(r#"{"type":"chat","a\"b":[1]}"#).ok())
                .flatten()
                .map(|r| SubUnit {
                    meaning: Box::new(crate::proto::sub::SubRecord::Json(r)),
                    reply_to: None,
                })
                .into_iter()
                .collect();
            let (frames, wire_len, len, valid_utf8) = message;
            let msg = WsMessage {
                dir,
                ts,
                opcode: OpCode::from_u8(opcode),
                frames,
                wire_len,
                len,
                compressed: flags & 4 != 0,
                valid_utf8,
                data_head: &head,
                digest: [Digest::Off, Digest::Incomplete, Digest::Sha256([7; 32])][usize::from(digest)],
                sub: &units,
                sub_choice: None,
            };
            let straight = serde(&|out| push_record(out, &msg, &cx)).unwrap();
            let reference = serde(&|out| push_json(out, &Json { record: &msg, cx })).unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&straight), String::from_utf8_lossy(&reference));
            // An HTTP message, request or response, with the same bytes as its text.
            let text = String::from_utf8_lossy(&head);
            let headers = [
                crate::model::Header { name: "X-\"a\"", value: &head },
                crate::model::Header { name: "Host", value: b"example.com" },
                crate::model::Header { name: &text, value: b"\xff\x1b" },
            ];
            let http = crate::model::HttpMessage {
                dir,
                start_ts: ts,
                ts,
                head: if flags & 1 == 0 {
                    crate::model::HttpHead::Request {
                        method: if flags & 2 == 0 { "GET" } else { &text },
                        target: &text,
                        version: opcode,
                    }
                } else {
                    crate::model::HttpHead::Response {
                        version: opcode,
                        status: wire_len as u16,
                        reason: &text,
                    }
                },
                headers: &headers[..usize::from(flags % 4).min(headers.len())],
                header_bytes: wire_len,
                body_bytes: len,
                framing_bytes: u64::from(frames),
                chunked: flags & 4 != 0,
                upgrade: (flags & 8 != 0).then_some("websocket"),
                body_head: &head,
                raw_head: &[],
                complete: valid_utf8.unwrap_or(true),
                digest: [Digest::Off, Digest::Incomplete, Digest::Sha256([7; 32])][usize::from(digest)],
                exchange: None,
            };
            let straight = serde(&|out| push_record(out, &http, &cx)).unwrap();
            let reference = serde(&|out| push_json(out, &Json { record: &http, cx })).unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&straight), String::from_utf8_lossy(&reference));
            // A handshake, its strings from the same bytes (each there or not), its
            // extensions none to three.
            let some = |bit: u8| (u32::from(flags) * 7 + u32::from(opcode)) & (1 << bit) != 0;
            let handshake = crate::model::Handshake {
                ts,
                key: some(0).then(|| text.to_string()),
                accept: some(1).then(|| "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string()),
                expected_accept: some(2).then(|| text.chars().rev().collect()),
                accept_valid: some(3),
                version: some(4).then(|| "13".to_string()),
                subprotocol: some(5).then(|| text.to_string()),
                extensions: ["permessage-deflate", &text, "x\"y"][..usize::from(opcode % 4).min(3)]
                    .iter()
                    .map(|e| e.to_string())
                    .collect(),
                deflate: some(6).then_some(crate::model::DeflateParams {
                    server_no_context_takeover: false,
                    client_no_context_takeover: true,
                    server_max_window_bits: 15,
                    client_max_window_bits: 12,
                }),
                origin: some(7).then(|| text.to_string()),
                request_bytes: wire_len,
                response_bytes: len,
            };
            let straight = serde(&|out| push_record(out, &handshake, &cx)).unwrap();
            let reference = serde(&|out| push_json(out, &Json { record: &handshake, cx })).unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&straight), String::from_utf8_lossy(&reference));
        }

        /// A flow record written straight from the flow's state (`push_flow`) is the text
        /// serde writes for the record made of it: IPv4 and IPv6 endpoints (with a scope),
        /// every kind and way of closing, with and without round trips, a sub-protocol choice
        /// and TLS.
        #[test]
        fn flow_records_written_straight_are_written_as_serde_writes_them(
            v4: bool,
            ports: (u16, u16),
            scope in 0u32..5,
            ids: (u64, u64),
            ts: (i64, i64),
            counts in proptest::collection::vec(proptest::num::u64::ANY, 12),
            small in proptest::collection::vec(0u64..5, 4),
            flags in 0u8..64,
            kind in 0usize..8,
            how in 0usize..5,
            rtts in proptest::collection::vec(0.0f64..2.0, 0..3),
            reason in "\\PC{0,30}",
        ) {
            use crate::model::{FlowKind, SubChoice, TlsSummary};
            use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
            let (client, server): (SocketAddr, SocketAddr) = if v4 {
                (([192, 0, 2, 1], ports.0).into(), ([10, 0, 0, 80], ports.1).into())
            } else {
                let a = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
                let b = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0xffff, 0x80);
                (SocketAddrV6::new(a, ports.0, 0, scope).into(), SocketAddrV6::new(b, ports.1, 0, 0).into())
            };
            let mut m = FlowMeta::new(ids.0, client, server, crate::tcp::RoleBasis::Syn, Timestamp(ts.0));
            m.last_ts = Timestamp(ts.1);
            m.tcp_stream = ids.1;
            m.packets = counts[0];
            m.payload_bytes = [counts[1], counts[2]];
            m.gap_bytes = [counts[3] / 2, counts[4] / 2];
            let mut summary = FlowSummary {
                kind: FlowKind::ALL.get(kind).copied(),
                polling: flags & 1 != 0,
                http_messages: small[0],
                ws_frames: counts[5],
                ws_messages: counts[6],
                sse_events: counts[7],
                anomalies: counts[8],
                handshake_complete: flags & 2 != 0,
                messages: [small[1] + counts[9] / 2, small[2]],
                ping_rtts: rtts,
                ..FlowSummary::default()
            };
            if flags & 4 != 0 {
                summary.sub = Some(SubChoice {
                    protocol: (flags & 8 != 0).then_some("json"),
                    basis: (flags & 8 != 0).then_some("content"),
                    reason: reason.clone().into(),
                    engineio: (flags & 16 != 0).then_some(4),
                });
            }
            if flags & 32 != 0 {
                summary.tls = Some(Box::new(TlsSummary {
                    version: Some("TLS 1.3"),
                    sni: Some(reason),
                    records: [counts[10], counts[11]],
                    ..TlsSummary::default()
                }));
            }
            let how = [CloseHow::Fin, CloseHow::Rst, CloseHow::Idle, CloseHow::EndOfInput,
                CloseHow::Evicted][how];
            let mut straight = Vec::new();
            push_flow(&mut straight, &m, &summary, how).unwrap();
            let mut reference = Vec::new();
            push_json(&mut reference, &FlowRecord::new(&m, &summary, how)).unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&straight), String::from_utf8_lossy(&reference));
        }

        /// The text of the last string escaped is copied when the next one ends the same
        /// (`escape_repeated`): strings written one after the other, the same, with the same
        /// rest after another start, or with another rest after the same start, are written
        /// as the reference writes each.
        #[test]
        fn strings_written_again_are_written_as_the_first_time(
            head in "[ -~]{0,20}",
            rest in "[\"\\\\a-z\\u{1b}é\\u{202e}]{1,40}",
            other_head in "[a-z]{0,20}",
            other_rest in "[\"\\\\a-z]{1,40}",
        ) {
            let first = format!("{head}\"{rest}");
            // A rest longer than what is kept, written twice.
            let long = format!("{head}\"{}", rest.repeat(30));
            for s in [
                first.clone(),
                first.clone(),
                format!("{other_head}\"{rest}"),
                format!("{head}\"{other_rest}"),
                first,
                long.clone(),
                long,
            ] {
                proptest::prop_assert_eq!(ours(&s), reference(&s));
            }
        }
    }
}
