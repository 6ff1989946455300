//! Payload previews for the terminal: up to N characters, text as text, binary as hex, walked
//! as the records' own previews are ([`crate::model::payload`]), with everything [`escape`]
//! refuses escaped its way and every byte of invalid UTF-8 shown as `\xNN`.

use crate::model::payload::{Invalid, walk};
use crate::report::escape;

pub use crate::model::payload::hex;

/// Text preview for the terminal: at most `max_chars` characters, each escaped as [`escape`]
/// does. Every byte of an invalid UTF-8 sequence counts as one character (`\xff`). Returns
/// whether characters were left out.
pub fn text(bytes: &[u8], max_chars: usize, out: &mut String) -> bool {
    walk(
        bytes,
        max_chars,
        out,
        escape::push_char,
        Invalid::EachByte(escape::push_invalid),
    )
}

/// Whether `bytes` hold more than `max_chars` of the characters [`text`] counts.
pub fn more_than(bytes: &[u8], max_chars: usize) -> bool {
    let mut n = 0usize;
    for chunk in bytes.utf8_chunks() {
        n += chunk.valid().chars().count() + chunk.invalid().len();
        if n > max_chars {
            return true;
        }
    }
    false
}

/// As [`text`], then `…` if the preview left characters out (`total` is the payload's real
/// length, which may exceed `bytes`).
pub fn text_cut(bytes: &[u8], max_chars: usize, total: u64, out: &mut String) {
    if text(bytes, max_chars, out) || (bytes.len() as u64) < total {
        out.push('…');
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
        text(b"a\xffb\tc\x1b[2J\xe2\x80\xae", 10, &mut s);
        assert_eq!(s, "a\\xffb\\tc\\x1b[2J\\u{202e}");
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
            proptest::prop_assert!(s.chars().all(crate::report::escape::is_safe), "{:?}", s);
            // At most `max` characters, each escaped to at most 9 (`\u{e007f}`), plus `…`.
            proptest::prop_assert!(s.chars().count() <= max * 9 + 1);
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
