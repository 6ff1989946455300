//! Unmasking (RFC 6455 §5.3): XOR with the 4-byte masking key, starting at any phase of the key
//! because a frame's payload arrives in pieces of arbitrary length.
//!
//! The fast path XORs 8-byte words with the pre-rotated key repeated into a word (kept in a
//! register, which the compiler widens to vector instructions); it reads and writes through
//! byte slices, so any alignment is fine. [`unmask_simple`] is the reference it is tested
//! against.

/// The key rotated so that its first byte applies to the byte at `phase` of the payload.
fn rotated(mask: [u8; 4], phase: usize) -> [u8; 4] {
    let p = phase & 3;
    [
        mask[p],
        mask[(p + 1) & 3],
        mask[(p + 2) & 3],
        mask[(p + 3) & 3],
    ]
}

/// The rotated key twice, as the 8 bytes of a word (both halves are the key, so the byte order
/// of the word does not matter). Eight is a multiple of four, so the phase is the same at every
/// word boundary.
fn key_word(mask: [u8; 4], phase: usize) -> u64 {
    let half = u64::from(u32::from_ne_bytes(rotated(mask, phase)));
    half | (half << 32)
}

/// Unmasks `buf` in place; `phase` is the payload offset of `buf[0]` (only its low 2 bits
/// matter).
pub fn unmask_in_place(buf: &mut [u8], mask: [u8; 4], phase: usize) {
    let word = key_word(mask, phase);
    let mut words = buf.chunks_exact_mut(8);
    for chunk in &mut words {
        if let Ok(chunk) = <&mut [u8; 8]>::try_from(chunk) {
            *chunk = (u64::from_ne_bytes(*chunk) ^ word).to_ne_bytes();
        }
    }
    for (b, k) in words.into_remainder().iter_mut().zip(word.to_ne_bytes()) {
        *b ^= k;
    }
}

/// Writes `src` unmasked into `dst` (up to the shorter of the two); `phase` as for
/// [`unmask_in_place`].
pub fn unmask_into(src: &[u8], dst: &mut [u8], mask: [u8; 4], phase: usize) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let word = key_word(mask, phase);
    let mut s_words = src.chunks_exact(8);
    let mut d_words = dst.chunks_exact_mut(8);
    for (d, s) in (&mut d_words).zip(&mut s_words) {
        if let (Ok(d), Ok(s)) = (<&mut [u8; 8]>::try_from(d), <&[u8; 8]>::try_from(s)) {
            *d = (u64::from_ne_bytes(*s) ^ word).to_ne_bytes();
        }
    }
    for ((d, s), k) in d_words
        .into_remainder()
        .iter_mut()
        .zip(s_words.remainder())
        .zip(word.to_ne_bytes())
    {
        *d = *s ^ k;
    }
}

/// Appends `src` unmasked to `out`.
pub fn extend_unmasked(out: &mut Vec<u8>, src: &[u8], mask: Option<[u8; 4]>, phase: usize) {
    match mask {
        None => out.extend_from_slice(src),
        Some(mask) => {
            let start = out.len();
            out.extend_from_slice(src);
            if let Some(tail) = out.get_mut(start..) {
                unmask_in_place(tail, mask, phase);
            }
        }
    }
}

/// The plain byte loop: the definition the fast path must match.
pub fn unmask_simple(buf: &mut [u8], mask: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= mask[(i + phase) & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn fast_paths_match_the_byte_loop_for_every_length_phase_and_alignment() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..=300 {
            for phase in 0..4 {
                let mut expected = sample(len, 7);
                unmask_simple(&mut expected, mask, phase);
                for align in 0..16 {
                    // In place, starting `align` bytes into a larger buffer.
                    let mut buf = vec![0xeeu8; align + len + 3];
                    buf[align..align + len].copy_from_slice(&sample(len, 7));
                    unmask_in_place(&mut buf[align..align + len], mask, phase);
                    assert_eq!(
                        &buf[align..align + len],
                        &expected[..],
                        "{len} {phase} {align}"
                    );
                    assert!(buf[..align].iter().all(|&b| b == 0xee));
                    assert!(buf[align + len..].iter().all(|&b| b == 0xee));

                    // Copying, with source and destination misaligned differently.
                    let mut src = vec![0u8; align + len];
                    src[align..].copy_from_slice(&sample(len, 7));
                    let dalign = (align * 7 + 3) % 16;
                    let mut dst = vec![0xeeu8; dalign + len + 3];
                    unmask_into(&src[align..], &mut dst[dalign..dalign + len], mask, phase);
                    assert_eq!(&dst[dalign..dalign + len], &expected[..], "{len} {phase}");
                    assert!(dst[dalign + len..].iter().all(|&b| b == 0xee));
                }
            }
        }
    }

    #[test]
    fn phase_continues_across_pieces() {
        let mask = [1, 2, 3, 4];
        let data = sample(257, 3);
        let mut whole = data.clone();
        unmask_simple(&mut whole, mask, 0);
        for cut in 0..data.len() {
            let mut out = Vec::new();
            extend_unmasked(&mut out, &data[..cut], Some(mask), 0);
            extend_unmasked(&mut out, &data[cut..], Some(mask), cut);
            assert_eq!(out, whole, "cut {cut}");
        }
        let mut out = Vec::new();
        extend_unmasked(&mut out, &data, None, 1);
        assert_eq!(out, data);
    }

    #[test]
    fn unmask_into_stops_at_the_shorter_slice() {
        let mut dst = [0u8; 3];
        unmask_into(&[1, 1, 1, 1, 1], &mut dst, [1, 1, 1, 1], 0);
        assert_eq!(dst, [0, 0, 0]);
        let mut dst = [9u8; 5];
        unmask_into(&[1, 1], &mut dst, [1, 1, 1, 1], 0);
        assert_eq!(dst, [0, 0, 9, 9, 9]);
    }
}
