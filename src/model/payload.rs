//! What records say about payloads: the `--digest` value ([`Digest`]) and previews — up to N
//! characters, text as text, binary as hex. A text preview is always one line: line ends and
//! tabs are written `\n`, `\r`, `\t`. The JSON form keeps every other character exact but
//! controls (written `\u{b}`) and shows invalid UTF-8 as U+FFFD; the terminal form
//! (`report::preview`) walks the text the same way ([`walk`]) and escapes its own way.

use std::fmt::Write;

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
            Digest::Sha256(d) => {
                let mut s = String::with_capacity(64);
                for b in d {
                    s.push(char::from(HEX[usize::from(b >> 4)]));
                    s.push(char::from(HEX[usize::from(b & 0x0f)]));
                }
                Some(s)
            }
            Digest::Off | Digest::Incomplete => None,
        }
    }
}

pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

/// What a text preview does with bytes that are not UTF-8.
#[derive(Clone, Copy)]
pub enum Invalid {
    /// Each byte is one character, written by this function.
    EachByte(fn(&mut String, u8)),
    /// Each invalid sequence is one U+FFFD.
    Replacement,
}

/// Writes a text preview of at most `max_chars` characters of `bytes` to `out`: tab and line
/// ends as `\t`, `\n`, `\r`, every other character through `push_char`, invalid UTF-8 as
/// `invalid` says. Returns whether characters of `bytes` were left out.
pub fn walk(
    bytes: &[u8],
    max_chars: usize,
    out: &mut String,
    push_char: fn(&mut String, char),
    invalid: Invalid,
) -> bool {
    let mut n = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if n >= max_chars {
                return true;
            }
            match c {
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => push_char(out, c),
            }
            n += 1;
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
                out.push('\u{fffd}');
                n += 1;
            }
            Invalid::Replacement => {}
        }
    }
    false
}

/// Text preview for a JSON record: at most `max_chars` characters; serde escapes the rest.
/// Returns whether characters were left out.
pub fn json_text(bytes: &[u8], max_chars: usize, out: &mut String) -> bool {
    fn push_char(out: &mut String, c: char) {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    // Printable ASCII (most text payloads) is its own preview, one character per byte.
    let head = &bytes[..bytes.len().min(max_chars)];
    if head.iter().all(|&b| (0x20..0x7f).contains(&b))
        && let Ok(text) = std::str::from_utf8(head)
    {
        out.push_str(text);
        return bytes.len() > max_chars;
    }
    walk(bytes, max_chars, out, push_char, Invalid::Replacement)
}

/// Hex preview of at most `max_chars` characters (two per byte). Returns whether bytes were
/// left out.
pub fn hex(bytes: &[u8], max_chars: usize, out: &mut String) -> bool {
    let shown = &bytes[..bytes.len().min(max_chars / 2)];
    out.reserve(shown.len() * 2);
    for &b in shown {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    bytes.len() > max_chars / 2
}

/// A record's `preview` and `preview_truncated` fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// At most `--snap-preview` characters of the payload: text as text, binary as hex.
    pub text: String,
    /// The preview shows less than the whole payload: it was cut at `--snap-preview`, or only
    /// the payload's first bytes were kept (`total` exceeds what the record holds).
    pub truncated: bool,
}

/// The preview of a payload of `total` bytes of which the record holds the first, `bytes`:
/// as text (`as_text`) or hex, at most `max_chars` characters.
pub fn preview(bytes: &[u8], total: u64, as_text: bool, max_chars: usize) -> Preview {
    let mut text = String::with_capacity(bytes.len().min(max_chars.saturating_mul(2)));
    let cut = if as_text {
        json_text(bytes, max_chars, &mut text)
    } else {
        hex(bytes, max_chars, &mut text)
    };
    Preview {
        text,
        truncated: cut || (bytes.len() as u64) < total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_say_when_they_show_less_than_the_payload() {
        let whole = preview(b"hello", 5, true, 5);
        assert_eq!((whole.text.as_str(), whole.truncated), ("hello", false));
        let cut = preview(b"hello", 5, true, 4);
        assert_eq!((cut.text.as_str(), cut.truncated), ("hell", true));
        let head_only = preview(b"hello", 900, true, 128);
        assert_eq!(
            (head_only.text.as_str(), head_only.truncated),
            ("hello", true)
        );
        let bin = preview(&[1, 2, 3], 3, false, 4);
        assert_eq!((bin.text.as_str(), bin.truncated), ("0102", true));
        let bin_whole = preview(&[1, 2], 2, false, 4);
        assert_eq!(
            (bin_whole.text.as_str(), bin_whole.truncated),
            ("0102", false)
        );
    }

    #[test]
    fn json_previews_keep_their_form() {
        let mut s = String::new();
        json_text(b"a\xffb\tc\x1b\x0b\xe2\x80\xae\n", 100, &mut s);
        assert_eq!(s, "a\u{fffd}b\\tc\\u{1b}\\u{b}\u{202e}\\n");
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
            walk(bytes, max, &mut slow, push_char, Invalid::Replacement);
            assert_eq!(fast, slow, "{bytes:?} {max}");
        }
        let mut h = String::new();
        hex(&[0x00, 0xab, 0x7f, 0x10], 6, &mut h);
        assert_eq!(h, "00ab7f");
    }
}
