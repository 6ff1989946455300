//! Hex + ASCII dumps in tshark's `-x` layout: a 4-digit (or wider) hex offset, 16 bytes per
//! line, then the printable ASCII with `.` for everything else. Dumps are bounded by what the
//! analysis kept; a dump that shows less than the whole says how many bytes it left out.

use std::fmt::Write as _;

/// Bytes per dump line.
pub const LINE: usize = 16;

/// Appends the dump of `bytes`, each line prefixed by `indent`.
pub fn dump(out: &mut String, indent: &str, bytes: &[u8]) {
    for (n, chunk) in bytes.chunks(LINE).enumerate() {
        let _ = write!(out, "{indent}{:04x} ", n * LINE);
        for b in chunk {
            let _ = write!(out, " {b:02x}");
        }
        // Keep the ASCII column where a full line would put it.
        let missing = LINE - chunk.len();
        out.extend(std::iter::repeat_n(' ', missing * 3 + 3));
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
}

/// A labelled dump: `label (N bytes):`, the dump of `shown`, and a line naming the bytes not
/// shown when `total` (the real length) is larger.
pub fn block(out: &mut String, indent: &str, label: &str, shown: &[u8], total: u64) {
    let _ = writeln!(out, "{indent}{label} ({total} byte{}):", plural(total));
    dump(out, indent, shown);
    more(out, indent, shown.len(), total);
}

/// The "… N more bytes" line when `shown` bytes of `total` were dumped.
pub fn more(out: &mut String, indent: &str, shown: usize, total: u64) {
    let rest = total.saturating_sub(shown as u64);
    if rest > 0 {
        let _ = writeln!(out, "{indent}… {rest} more byte{} not shown", plural(rest));
    }
}

/// `bytes` with the WebSocket mask applied (RFC 6455 §5.3): byte `i` of the payload is XORed
/// with key byte `i % 4`. Masking and unmasking are the same operation.
pub fn apply_mask(bytes: &[u8], key: [u8; 4]) -> Vec<u8> {
    bytes
        .iter()
        .zip(key.iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect()
}

pub fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_tshark_layout() {
        let mut s = String::new();
        dump(&mut s, "", b"hello");
        assert_eq!(
            s,
            "0000  68 65 6c 6c 6f                                    hello\n"
        );
        s.clear();
        let bytes: Vec<u8> = (0u8..20).collect();
        dump(&mut s, "  ", &bytes);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[0],
            "  0000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f   ................"
        );
        assert_eq!(
            lines[1],
            "  0010  10 11 12 13                                       ...."
        );
        // The ASCII column starts at the same place on full and partial lines.
        assert_eq!(lines[0].find("...."), lines[1].find("...."));
    }

    #[test]
    fn block_reports_the_bytes_it_left_out() {
        let mut s = String::new();
        block(&mut s, "", "Payload", b"ab", 10);
        assert_eq!(
            s,
            "Payload (10 bytes):\n0000  61 62                                             ab\n… 8 more bytes not shown\n"
        );
        s.clear();
        block(&mut s, "", "Payload", b"", 0);
        assert_eq!(s, "Payload (0 bytes):\n");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_dump_to_aligned_lines(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut s = String::new();
            dump(&mut s, "  ", &bytes);
            let lines: Vec<&str> = s.lines().collect();
            proptest::prop_assert_eq!(lines.len(), bytes.len().div_ceil(LINE));
            for (i, l) in lines.iter().enumerate() {
                let expected_offset = format!("  {:04x}  ", i * LINE);
                proptest::prop_assert!(l.starts_with(&expected_offset));
                // The ASCII column always starts at the same place: indent, offset, 16 × 3, 3.
                let ascii = &l[2 + 4 + 1 + LINE * 3 + 3..];
                proptest::prop_assert_eq!(ascii.len(), bytes.len().saturating_sub(i * LINE).min(LINE));
            }
        }
    }

    #[test]
    fn masking_is_its_own_inverse() {
        let key = [0xe4, 0x48, 0xb6, 0x52];
        let masked = apply_mask(b"hello", key);
        assert_eq!(masked, [0x8c, 0x2d, 0xda, 0x3e, 0x8b]);
        assert_eq!(apply_mask(&masked, key), b"hello");
    }
}
