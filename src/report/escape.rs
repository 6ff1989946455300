//! Terminal safety: the one function through which every string that came from a capture or
//! from the file system passes before a text view (or a line on stderr) shows it.
//!
//! It promises that what it writes holds none of the characters a terminal acts on or hides:
//! C0 controls other than TAB, DEL, C1 controls (U+0080–U+009F, U+009B being a one-byte CSI),
//! the format characters of Unicode category Cf (bidi embeddings, overrides and isolates such
//! as U+202E, U+061C, U+200E/F; zero-width characters U+200B–U+200D, U+2060–U+2064, U+FEFF …),
//! the line and paragraph separators U+2028 / U+2029, and bytes that are not UTF-8. Each is
//! written as a visible escape instead, as tshark does: `\n`, `\r`, `\x1b` for the ASCII
//! controls and for each byte of an invalid sequence, `\u{9b}` / `\u{202e}` for the others.
//! Everything else, including TAB and backslash, passes through unchanged, so text without
//! such characters prints exactly as before.
//!
//! JSON output does not use this: serde's string escaping keeps values exact there.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use unicode_general_category::{GeneralCategory, get_general_category};

/// Whether `c` may reach a terminal as itself.
pub fn is_safe(c: char) -> bool {
    if c.is_ascii() {
        return c == '\t' || !c.is_ascii_control();
    }
    // C1 controls (general category Cc above ASCII).
    if c.is_control() {
        return false;
    }
    !matches!(
        get_general_category(c),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Writes the escape of `c`, which [`is_safe`] refused.
fn write_escape<W: fmt::Write + ?Sized>(w: &mut W, c: char) -> fmt::Result {
    match c {
        '\n' => w.write_str("\\n"),
        '\r' => w.write_str("\\r"),
        c if c.is_ascii() => write!(w, "\\x{:02x}", c as u32),
        c => write!(w, "\\u{{{:x}}}", c as u32),
    }
}

/// The escape of one byte of an invalid UTF-8 sequence.
fn write_invalid<W: fmt::Write + ?Sized>(w: &mut W, byte: u8) -> fmt::Result {
    write!(w, "\\x{byte:02x}")
}

/// Writes `bytes` escaped: the one escaping function.
pub fn write<W: fmt::Write + ?Sized>(w: &mut W, bytes: &[u8]) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        // Runs of safe characters are written in one piece.
        let mut start = 0;
        for (i, c) in valid.char_indices() {
            if !is_safe(c) {
                w.write_str(&valid[start..i])?;
                write_escape(w, c)?;
                start = i + c.len_utf8();
            }
        }
        w.write_str(&valid[start..])?;
        for &b in chunk.invalid() {
            write_invalid(w, b)?;
        }
    }
    Ok(())
}

/// Appends `bytes` (a `&str`, a `String`, a byte slice) to `out`, escaped.
pub fn push<T: AsRef<[u8]> + ?Sized>(out: &mut String, bytes: &T) {
    let _ = write(out, bytes.as_ref());
}

/// Appends one character, escaped if it must be (for printers that cut text by characters).
pub fn push_char(out: &mut String, c: char) {
    if is_safe(c) {
        out.push(c);
    } else {
        let _ = write_escape(out, c);
    }
}

/// Appends the escape of one byte that is not part of valid UTF-8.
pub fn push_invalid(out: &mut String, byte: u8) {
    let _ = write_invalid(out, byte);
}

/// `bytes` escaped; borrowed when nothing needed escaping.
pub fn escape<T: AsRef<[u8]> + ?Sized>(bytes: &T) -> Cow<'_, str> {
    let bytes = bytes.as_ref();
    match std::str::from_utf8(bytes) {
        Ok(s) if s.chars().all(is_safe) => Cow::Borrowed(s),
        _ => {
            let mut out = String::with_capacity(bytes.len() + 8);
            push(&mut out, bytes);
            Cow::Owned(out)
        }
    }
}

/// A file name as the file system has it (any bytes), escaped.
pub fn path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    escape(p.as_os_str().as_bytes()).into_owned()
}

/// `format!("{}", esc(value))`: `value` escaped, without an intermediate string.
pub fn esc<T: AsRef<[u8]> + ?Sized>(value: &T) -> Escaped<'_> {
    Escaped(value.as_ref())
}

/// Displays its bytes escaped; see [`esc`].
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_passes_unchanged() {
        for s in [
            "GET /chat HTTP/1.1",
            "héllo wörld ✓",
            "a\tb",
            "back\\slash",
            "日本語",
            "",
        ] {
            assert_eq!(escape(s), s);
            assert!(matches!(escape(s), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(
            escape("event: \x1b]0;X\x07\nid: \x1b[2J"),
            "event: \\x1b]0;X\\x07\\nid: \\x1b[2J"
        );
        assert_eq!(escape("a\rb\x00c\x7f"), "a\\rb\\x00c\\x7f");
        // C1: U+009B is a one-byte CSI on some terminals.
        assert_eq!(escape("x\u{9b}2Jy\u{85}"), "x\\u{9b}2Jy\\u{85}");
    }

    #[test]
    fn bidi_and_invisible_format_characters_are_escaped() {
        let cases = [
            ('\u{061c}', "\\u{61c}"),
            ('\u{200b}', "\\u{200b}"),
            ('\u{200d}', "\\u{200d}"),
            ('\u{200e}', "\\u{200e}"),
            ('\u{200f}', "\\u{200f}"),
            ('\u{2028}', "\\u{2028}"),
            ('\u{2029}', "\\u{2029}"),
            ('\u{202a}', "\\u{202a}"),
            ('\u{202e}', "\\u{202e}"),
            ('\u{2060}', "\\u{2060}"),
            ('\u{2064}', "\\u{2064}"),
            ('\u{2066}', "\\u{2066}"),
            ('\u{2069}', "\\u{2069}"),
            ('\u{feff}', "\\u{feff}"),
            ('\u{e0041}', "\\u{e0041}"),
        ];
        for (c, want) in cases {
            assert!(!is_safe(c), "{:x}", c as u32);
            assert_eq!(escape(&format!("a{c}b")), format!("a{want}b"));
        }
    }

    #[test]
    fn invalid_utf8_is_escaped_byte_by_byte() {
        assert_eq!(escape(b"caf\xc3"), "caf\\xc3");
        assert_eq!(escape(b"\xff\xfeok\xe2\x82"), "\\xff\\xfeok\\xe2\\x82");
        // A C1 control encoded as UTF-8 is a character; alone, 0x9b is an invalid byte.
        assert_eq!(escape(b"\xc2\x9b \x9b"), "\\u{9b} \\x9b");
    }

    #[test]
    fn display_and_push_agree() {
        let raw = b"k\x1b[31m\xe2\x80\xaev\xff";
        let mut pushed = String::new();
        push(&mut pushed, raw);
        assert_eq!(format!("{}", esc(raw)), pushed);
        assert_eq!(escape(raw), pushed);
        assert_eq!(pushed, "k\\x1b[31m\\u{202e}v\\xff");
    }

    #[test]
    fn file_names_with_any_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(
            b"dir/\x1b]0;pwned\x07\xff.pcap",
        ));
        assert_eq!(path(p), "dir/\\x1b]0;pwned\\x07\\xff.pcap");
    }

    proptest::proptest! {
        #[test]
        fn output_holds_no_unsafe_character_and_is_lossless_when_safe(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            text in "\\PC*",
        ) {
            let out = escape(&bytes);
            proptest::prop_assert!(out.chars().all(is_safe), "{:?}", out);
            // Text made only of safe characters is shown as it is.
            let safe: String = text.chars().filter(|&c| is_safe(c)).collect();
            proptest::prop_assert_eq!(escape(&safe), safe.as_str());
        }
    }
}
