//! Payload previews: up to N characters, text as text (control characters escaped), binary as
//! hex.

use std::fmt::Write;

/// Text preview of at most `max_chars` characters. Invalid UTF-8 sequences become U+FFFD;
/// control characters are escaped so that a preview is always one line.
pub fn text(bytes: &[u8], max_chars: usize, out: &mut String) {
    let mut n = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if n >= max_chars {
                return;
            }
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
            n += 1;
        }
        if !chunk.invalid().is_empty() {
            if n >= max_chars {
                return;
            }
            out.push('\u{fffd}');
            n += 1;
        }
    }
}

/// As [`text`], then `…` if the preview left characters out (`total` is the payload's real
/// length, which may exceed `bytes`).
pub fn text_cut(bytes: &[u8], max_chars: usize, total: u64, out: &mut String) {
    text(bytes, max_chars, out);
    let mut chars = 0usize;
    for chunk in bytes.utf8_chunks() {
        chars += chunk.valid().chars().count() + usize::from(!chunk.invalid().is_empty());
        if chars > max_chars {
            break;
        }
    }
    if chars > max_chars || (bytes.len() as u64) < total {
        out.push('…');
    }
}

/// Hex preview of at most `max_chars` characters (two per byte).
pub fn hex(bytes: &[u8], max_chars: usize, out: &mut String) {
    for b in bytes.iter().take(max_chars / 2) {
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_preview_truncates_by_characters_and_escapes() {
        let mut s = String::new();
        text("héllo\nworld".as_bytes(), 7, &mut s);
        assert_eq!(s, "héllo\\nw");
        s.clear();
        text(b"a\xffb", 10, &mut s);
        assert_eq!(s, "a\u{fffd}b");
    }

    #[test]
    fn cut_previews_end_in_an_ellipsis() {
        let mut s = String::new();
        text_cut(b"hello world", 5, 11, &mut s);
        assert_eq!(s, "hello…");
        s.clear();
        text_cut(b"hello", 5, 5, &mut s);
        assert_eq!(s, "hello");
        s.clear();
        // Everything kept was shown, but the payload was longer than what was kept.
        text_cut(b"hello", 10, 50, &mut s);
        assert_eq!(s, "hello…");
    }

    proptest::proptest! {
        #[test]
        fn previews_are_one_line_and_bounded(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            max in 0usize..64,
        ) {
            let mut s = String::new();
            text_cut(&bytes, max, bytes.len() as u64, &mut s);
            proptest::prop_assert!(!s.contains('\n') && !s.contains('\r'));
            // At most `max` characters, each escaped to at most 8 (`\u{1f}`-style), plus `…`.
            proptest::prop_assert!(s.chars().count() <= max * 8 + 1);
            let mut h = String::new();
            hex(&bytes, max, &mut h);
            proptest::prop_assert!(h.len() <= max && h.len().is_multiple_of(2));
        }
    }

    #[test]
    fn hex_preview_counts_characters() {
        let mut s = String::new();
        hex(&[0xde, 0xad, 0xbe, 0xef], 5, &mut s);
        assert_eq!(s, "dead");
    }
}
