//! What records say about payloads: the `--digest` value ([`Digest`]) and previews — up to N
//! characters, text as text, binary as hex. A text preview is always one line: line ends and
//! tabs are written `\n`, `\r`, `\t`. The JSON form keeps every other character exact but
//! controls (written `\u{b}`) and shows invalid UTF-8 as U+FFFD; the terminal form
//! (`report::preview`) walks the text the same way ([`walk`]) and escapes its own way. A
//! record's preview is written straight into whatever serializes it ([`Preview::write`]),
//! never built as a string of its own.

use crate::model::json::Plain;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::cell::Cell;
use std::fmt::{self, Write};

/// The digest of one message payload, as events carry it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Digest {
    /// Digests were not asked for.
    #[default]
    Off,
    /// SHA-256 of the whole payload.
    Sha256([u8; 32]),
    /// Part of the payload was lost (gap, snaplen) or not decoded (inflate error or cap).
    Incomplete,
}

impl Digest {
    /// The records' optional `sha256` field: absent without `--digest`, `null` for an incomplete
    /// payload.
    pub fn json_field(&self) -> Option<Option<String>> {
        match self {
            Digest::Off => None,
            d => Some(d.hex()),
        }
    }

    /// Lowercase hex of a complete digest.
    pub fn hex(&self) -> Option<String> {
        match self {
            Digest::Sha256(d) => Some(hex_piece(d, &mut HexBuf::default()).to_string()),
            Digest::Off | Digest::Incomplete => None,
        }
    }
}

/// What a text preview does with bytes that are not UTF-8.
pub enum Invalid<W: ?Sized = String> {
    /// Each byte is one character, written by this function.
    EachByte(fn(&mut W, u8)),
    /// Each invalid sequence is one U+FFFD.
    Replacement,
}

/// Writes a text preview of at most `max_chars` characters of `bytes` to `out`: tab and line
/// ends as `\t`, `\n`, `\r`, every other character through `push_char` (which must write
/// printable ASCII as itself: runs of it are written whole), invalid UTF-8 as `invalid` says.
/// Returns whether characters of `bytes` were left out.
pub fn walk<W: Write + ?Sized>(
    bytes: &[u8],
    max_chars: usize,
    out: &mut W,
    push_char: fn(&mut W, char),
    invalid: Invalid<W>,
) -> bool {
    let mut n = 0;
    for chunk in bytes.utf8_chunks() {
        let mut rest = chunk.valid();
        while let Some(c) = rest.chars().next() {
            if n >= max_chars {
                return true;
            }
            // A run of printable ASCII is written in one piece: every `push_char` writes such a
            // character as itself.
            let run = rest
                .bytes()
                .take(max_chars - n)
                .take_while(|b| (0x20..0x7f).contains(b))
                .count();
            // Writing to a string or to a serializer's buffer does not fail.
            let _ = match c {
                _ if run > 0 => out.write_str(&rest[..run]),
                '\t' => out.write_str("\\t"),
                '\n' => out.write_str("\\n"),
                '\r' => out.write_str("\\r"),
                c => {
                    push_char(out, c);
                    Ok(())
                }
            };
            let took = if run > 0 { run } else { c.len_utf8() };
            n += if run > 0 { run } else { 1 };
            rest = &rest[took..];
        }
        match invalid {
            Invalid::EachByte(push_invalid) => {
                for &b in chunk.invalid() {
                    if n >= max_chars {
                        return true;
                    }
                    push_invalid(out, b);
                    n += 1;
                }
            }
            Invalid::Replacement if !chunk.invalid().is_empty() => {
                if n >= max_chars {
                    return true;
                }
                let _ = out.write_char('\u{fffd}');
                n += 1;
            }
            Invalid::Replacement => {}
        }
    }
    false
}

/// Text preview for a JSON record: at most `max_chars` characters; the JSON writer escapes the
/// rest.
/// Returns whether characters were left out.
pub fn json_text<W: Write + ?Sized>(bytes: &[u8], max_chars: usize, out: &mut W) -> bool {
    fn push_char<W: Write + ?Sized>(out: &mut W, c: char) {
        let _ = if c.is_control() {
            write!(out, "\\u{{{:x}}}", c as u32)
        } else {
            out.write_char(c)
        };
    }
    if let Some((text, cut)) = ascii_text(bytes, max_chars) {
        let _ = out.write_str(text);
        return cut;
    }
    walk(bytes, max_chars, out, push_char, Invalid::Replacement)
}

/// `b` as a string when it is all ASCII (nearly every header value): checked a word at a time,
/// where `str::from_utf8` walks a short input byte by byte. `None` for anything else, which
/// the caller checks the slow way.
fn ascii_str(b: &[u8]) -> Option<&str> {
    if !b.is_ascii() {
        return None;
    }
    // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(b) })
}

/// `b` as text: borrowed when it is ASCII (taken as it is) or other UTF-8, copied with U+FFFD
/// for what is not UTF-8 (which only hostile traffic sends). For header values and the like.
pub fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match ascii_str(b) {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => String::from_utf8_lossy(b),
    }
}

/// The text preview of printable ASCII (most text payloads), which is its own preview, one
/// character per byte, and whether characters were left out; `None` for other bytes.
fn ascii_text(bytes: &[u8], max_chars: usize) -> Option<(&str, bool)> {
    let head = &bytes[..bytes.len().min(max_chars)];
    // Without an early exit, so that the compiler checks many bytes at once.
    if !head
        .iter()
        .fold(true, |all, &b| all & (0x20..0x7f).contains(&b))
    {
        return None;
    }
    // SAFETY: every byte is printable ASCII (checked above), and ASCII is valid UTF-8.
    let text = unsafe { std::str::from_utf8_unchecked(head) };
    Some((text, bytes.len() > max_chars))
}

/// Room on the stack for [`ascii_lines`]: a preview's text up to 512 bytes (a byte takes one
/// to six).
const LINES_ROOM: usize = 512;

/// The text preview of ASCII with tabs, line ends or other controls (an HTTP body, a line of a
/// text protocol, a test's control bytes), written into `buf` as [`walk`] writes it (`\t`,
/// `\n`, `\r`, other controls as `\u{b}`) when it fits, and whether characters were left
/// out; `None` for other bytes, or a preview longer than `buf`.
fn ascii_lines<'b>(
    bytes: &[u8],
    max_chars: usize,
    buf: &'b mut [u8; LINES_ROOM],
) -> Option<(&'b str, bool)> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let head = &bytes[..bytes.len().min(max_chars)];
    let mut n = 0;
    for &b in head {
        let room = buf.get_mut(n..n + 6)?;
        let len = match b {
            0x20..0x7f => {
                room[0] = b;
                1
            }
            b'\t' | b'\n' | b'\r' => {
                room[..2].copy_from_slice(match b {
                    b'\t' => b"\\t",
                    b'\n' => b"\\n",
                    _ => b"\\r",
                });
                2
            }
            0..0x20 | 0x7f => {
                // A control, as `json_text` writes it: `\u{` its hex, no leading zero `}`.
                room[..3].copy_from_slice(b"\\u{");
                let digits: &[u8] = if b >= 0x10 {
                    &[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]
                } else {
                    &[HEX[usize::from(b)]]
                };
                room[3..3 + digits.len()].copy_from_slice(digits);
                room[3 + digits.len()] = b'}';
                4 + digits.len()
            }
            _ => return None,
        };
        n += len;
    }
    let text = ascii_str(&buf[..n])?;
    Some((text, bytes.len() > max_chars))
}

/// Hex preview of at most `max_chars` characters (two per byte). Returns whether bytes were
/// left out.
pub fn hex<W: Write + ?Sized>(bytes: &[u8], max_chars: usize, out: &mut W) -> bool {
    let shown = &bytes[..bytes.len().min(max_chars / 2)];
    // In pieces of a stack buffer: one write per 64 bytes shown.
    let mut buf = HexBuf::default();
    for piece in shown.chunks(HEX_PIECE) {
        let _ = out.write_str(hex_piece(piece, &mut buf));
    }
    bytes.len() > max_chars / 2
}

/// Bytes shown in hex by one piece of [`hex`].
const HEX_PIECE: usize = 64;

/// Room on the stack for [`HEX_PIECE`] bytes in hex.
pub(crate) struct HexBuf([u8; 2 * HEX_PIECE]);

impl Default for HexBuf {
    fn default() -> Self {
        HexBuf([0; 2 * HEX_PIECE])
    }
}

/// `piece` in lowercase hex (its first [`HEX_PIECE`] bytes), written into `buf`: the one hex
/// encoder of the records (previews, a frame's mask, a digest).
pub(crate) fn hex_piece<'b>(piece: &[u8], buf: &'b mut HexBuf) -> &'b str {
    let piece = &piece[..piece.len().min(HEX_PIECE)];
    if piece.len() <= 8 {
        // A mask, a short binary payload: the crate's setting up costs more than the work.
        let n = 2 * piece.len();
        buf.0[..16].copy_from_slice(&hex8(piece));
        // Hex digits are ASCII.
        return ascii_str(&buf.0[..n]).unwrap_or_default();
    }
    // `buf` holds twice `HEX_PIECE` bytes, so this does not fail.
    faster_hex::hex_encode(piece, &mut buf.0).map_or("", |text| text)
}

/// The lowercase hex of `b` (at most 8 bytes) in the first `2 * b.len()` bytes, computed in
/// the lanes of two words: each byte spread to two, its high and low nibble, each nibble
/// made a digit (`'0' + n`, and `'a' - '0' - 10` more from 10 on).
#[inline(always)]
fn hex8(b: &[u8]) -> [u8; 16] {
    const NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    let mut x = 0u64;
    for (i, &byte) in b.iter().take(8).enumerate() {
        x |= u64::from(byte) << (8 * i);
    }
    // Four bytes (`v`, the first in its low byte) as eight digits, the first in the low byte.
    let digits = |v: u64| {
        let v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
        let v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
        let n = ((v >> 4) | (v << 8)) & NIBBLES;
        let from_ten = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        (n + 0x3030_3030_3030_3030 + from_ten * 39).to_le_bytes()
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&digits(x & 0xffff_ffff));
    out[8..].copy_from_slice(&digits(x >> 32));
    out
}

/// The preview of a payload of `total` bytes of which the record holds the first, `bytes`:
/// as text (`as_text`) or hex, at most `max_chars` characters; a record's `preview` and
/// `preview_truncated` fields.
#[derive(Clone, Copy, Debug)]
pub struct Preview<'a> {
    pub bytes: &'a [u8],
    pub total: u64,
    pub as_text: bool,
    pub max_chars: usize,
}

/// The preview of a payload (see [`Preview`]).
pub fn preview(bytes: &[u8], total: u64, as_text: bool, max_chars: usize) -> Preview<'_> {
    Preview {
        bytes,
        total,
        as_text,
        max_chars,
    }
}

impl Preview<'_> {
    /// Writes the preview's text to `out`; returns whether it was cut at `max_chars`.
    fn write_text<W: Write + ?Sized>(&self, out: &mut W) -> bool {
        if self.as_text {
            json_text(self.bytes, self.max_chars, out)
        } else {
            hex(self.bytes, self.max_chars, out)
        }
    }

    /// The preview shows less than the whole payload: it was cut at `max_chars`, or only the
    /// payload's first bytes were kept (`total` exceeds what the record holds).
    fn truncated(&self, cut: bool) -> bool {
        cut || (self.bytes.len() as u64) < self.total
    }

    /// The `preview` text and `preview_truncated`, as a string of their own.
    pub fn text(&self) -> (String, bool) {
        let mut text = String::new();
        let cut = self.write_text(&mut text);
        (text, self.truncated(cut))
    }

    /// Writes the `preview` and `preview_truncated` fields into `r`, the text straight into
    /// the serializer.
    pub fn write<S: SerializeStruct>(&self, r: &mut S) -> Result<(), S::Error> {
        let cut = Cell::new(false);
        r.serialize_field(
            "preview",
            &PreviewText {
                preview: self,
                cut: &cut,
            },
        )?;
        r.serialize_field("preview_truncated", &self.truncated(cut.get()))
    }
}

/// The `preview` field: written as a string, it says whether it was cut.
struct PreviewText<'p, 'a> {
    preview: &'p Preview<'a>,
    cut: &'p Cell<bool>,
}

impl fmt::Display for PreviewText<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cut.set(self.preview.write_text(f));
        Ok(())
    }
}

impl Serialize for PreviewText<'_, '_> {
    /// A preview that is one piece (printable ASCII, the same with tabs and line ends, or hex
    /// of at most [`HEX_PIECE`] bytes: most of them) is written as a string; others are
    /// formatted in pieces.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.preview;
        if p.as_text {
            if let Some((text, cut)) = ascii_text(p.bytes, p.max_chars) {
                self.cut.set(cut);
                return s.serialize_str(text);
            }
            if let Some((text, cut)) = ascii_lines(p.bytes, p.max_chars, &mut [0; LINES_ROOM]) {
                self.cut.set(cut);
                return s.serialize_str(text);
            }
        } else {
            let shown = &p.bytes[..p.bytes.len().min(p.max_chars / 2)];
            if shown.len() <= HEX_PIECE {
                self.cut.set(p.bytes.len() > p.max_chars / 2);
                return Plain::hex(shown, &mut HexBuf::default()).serialize(s);
            }
        }
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_say_when_they_show_less_than_the_payload() {
        let text = |p: Preview<'_>| p.text();
        assert_eq!(text(preview(b"hello", 5, true, 5)), ("hello".into(), false));
        assert_eq!(text(preview(b"hello", 5, true, 4)), ("hell".into(), true));
        assert_eq!(
            text(preview(b"hello", 900, true, 128)),
            ("hello".into(), true)
        );
        assert_eq!(
            text(preview(&[1, 2, 3], 3, false, 4)),
            ("0102".into(), true)
        );
        assert_eq!(text(preview(&[1, 2], 2, false, 4)), ("0102".into(), false));
        let long: Vec<u8> = (0..=255).collect();
        let (h, cut) = text(preview(&long, 256, false, 300));
        assert_eq!((h.len(), cut), (300, true));
        assert!(h.starts_with("000102") && h.ends_with("9495"));
    }

    #[test]
    fn short_hex_is_the_crate_s_hex() {
        let bytes: Vec<u8> = (0..=255).chain([0xff, 0x0f, 0xf0, 0x9a, 0xa9]).collect();
        for len in 0..=8 {
            for piece in (0..bytes.len() - len).map(|at| &bytes[at..at + len]) {
                let want = faster_hex::hex_string(piece);
                assert_eq!(hex_piece(piece, &mut HexBuf::default()), want);
            }
        }
    }

    #[test]
    fn json_previews_keep_their_form() {
        let mut s = String::new();
        json_text(b"a\xffb\tc\x1b\x0b\xe2\x80\xae\n", 100, &mut s);
        assert_eq!(s, "a\u{fffd}b\\tc\\u{1b}\\u{b}\u{202e}\\n");
    }

    /// A record with only the preview's two fields, written by [`Preview::write`].
    struct Written<'a>(Preview<'a>);

    impl Serialize for Written<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut r = s.serialize_struct("p", 2)?;
            self.0.write(&mut r)?;
            r.end()
        }
    }

    /// The same fields from the preview's text formatted on its own ([`Preview::text`]).
    #[derive(serde::Serialize)]
    struct Formatted {
        preview: String,
        preview_truncated: bool,
    }

    proptest::proptest! {
        /// `ascii_str` is `str::from_utf8` on ASCII and declines everything else; `lossy` is
        /// `String::from_utf8_lossy`, borrowing where it borrows.
        #[test]
        fn ascii_is_taken_as_it_is_and_nothing_else(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                0u8..0x80, proptest::num::u8::ANY], 0..40)
        ) {
            let want = if bytes.is_ascii() { std::str::from_utf8(&bytes).ok() } else { None };
            proptest::prop_assert_eq!(ascii_str(&bytes), want);
            let (ours, std) = (lossy(&bytes), String::from_utf8_lossy(&bytes));
            proptest::prop_assert_eq!(&ours, &std);
            proptest::prop_assert_eq!(
                matches!(ours, std::borrow::Cow::Borrowed(_)),
                matches!(std, std::borrow::Cow::Borrowed(_))
            );
        }

        #[test]
        fn a_preview_written_as_one_piece_is_the_text_formatted_in_pieces(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                8 => 0x20u8..0x7f,
                1 => proptest::sample::select(b"\t\n\r".to_vec()),
                1 => proptest::sample::select(vec![0u8, 0x0b, 0x0f, 0x10, 0x1b, 0x1f, 0x7f]),
                1 => proptest::num::u8::ANY], 0..300),
            extra in 0u64..3,
            as_text: bool,
            max_chars in 0usize..300,
        ) {
            let p = preview(&bytes, bytes.len() as u64 + extra, as_text, max_chars);
            let (preview, preview_truncated) = p.text();
            let want = crate::report::json::json_line(&Formatted { preview, preview_truncated });
            proptest::prop_assert_eq!(crate::report::json::json_line(&Written(p)), want);
        }

        #[test]
        fn runs_of_ascii_are_walked_as_one_character_at_a_time(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                0x20u8..0x7f, proptest::num::u8::ANY], 0..200),
            max in 0usize..160,
        ) {
            // The walk as it was written first: one character at a time.
            fn one_at_a_time(bytes: &[u8], max: usize, out: &mut String) -> bool {
                let mut n = 0;
                for chunk in bytes.utf8_chunks() {
                    for c in chunk.valid().chars() {
                        if n >= max {
                            return true;
                        }
                        match c {
                            '\t' => out.push_str("\\t"),
                            '\n' => out.push_str("\\n"),
                            '\r' => out.push_str("\\r"),
                            c => crate::report::escape::push_char(out, c),
                        }
                        n += 1;
                    }
                    for &b in chunk.invalid() {
                        if n >= max {
                            return true;
                        }
                        crate::report::escape::push_invalid(out, b);
                        n += 1;
                    }
                }
                false
            }
            let (mut fast, mut slow) = (String::new(), String::new());
            let cut = crate::report::preview::text(&bytes, max, &mut fast);
            proptest::prop_assert_eq!(cut, one_at_a_time(&bytes, max, &mut slow));
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn the_ascii_shortcut_previews_as_the_walk_does() {
        for (bytes, max) in [
            (&b"hello world"[..], 100),
            (b"hello world", 5),
            (b"", 3),
            (b"tab\there", 100),
            (b"caf\xc3\xa9 ok", 4),
            (b"~ ascii ~", 0),
        ] {
            let (mut fast, mut slow) = (String::new(), String::new());
            json_text(bytes, max, &mut fast);
            fn push_char(out: &mut String, c: char) {
                if c.is_control() {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                } else {
                    out.push(c);
                }
            }
            walk(
                bytes,
                max,
                &mut slow,
                push_char,
                Invalid::<String>::Replacement,
            );
            assert_eq!(fast, slow, "{bytes:?} {max}");
        }
        let mut h = String::new();
        hex(&[0x00, 0xab, 0x7f, 0x10], 6, &mut h);
        assert_eq!(h, "00ab7f");
    }
}
