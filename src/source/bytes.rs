//! Reading fixed-width integers out of capture headers in either byte order.
//!
//! Every reader takes an offset and returns 0 when the bytes are not there instead of panicking.
//! Callers check a header's length once before reading its fields, so the fallback is never
//! observed; it only exists so that a wrong length check cannot turn into a panic.

/// Byte order of a capture file (or of one pcapng section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    pub(crate) fn u16(self, buf: &[u8], at: usize) -> u16 {
        match array::<2>(buf, at) {
            Some(b) => match self {
                Endian::Little => u16::from_le_bytes(b),
                Endian::Big => u16::from_be_bytes(b),
            },
            None => 0,
        }
    }

    pub(crate) fn u32(self, buf: &[u8], at: usize) -> u32 {
        match array::<4>(buf, at) {
            Some(b) => match self {
                Endian::Little => u32::from_le_bytes(b),
                Endian::Big => u32::from_be_bytes(b),
            },
            None => 0,
        }
    }

    pub(crate) fn u64(self, buf: &[u8], at: usize) -> u64 {
        match array::<8>(buf, at) {
            Some(b) => match self {
                Endian::Little => u64::from_le_bytes(b),
                Endian::Big => u64::from_be_bytes(b),
            },
            None => 0,
        }
    }
}

/// `N` bytes starting at `at`, if they are all there.
pub(crate) fn array<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    let end = at.checked_add(N)?;
    buf.get(at..end)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_orders() {
        let b = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        assert_eq!(Endian::Little.u16(&b, 1), 0x0302);
        assert_eq!(Endian::Big.u16(&b, 1), 0x0203);
        assert_eq!(Endian::Little.u32(&b, 0), 0x0403_0201);
        assert_eq!(Endian::Big.u32(&b, 4), 0x0506_0708);
        assert_eq!(Endian::Big.u64(&b, 0), 0x0102_0304_0506_0708);
    }

    #[test]
    fn out_of_range_reads_are_zero_not_panics() {
        let b = [0xff; 5];
        assert_eq!(Endian::Little.u32(&b, 2), 0);
        assert_eq!(Endian::Big.u64(&b, 0), 0);
        assert_eq!(Endian::Big.u16(&b, usize::MAX), 0);
        assert_eq!(array::<2>(&b, usize::MAX - 1), None);
    }
}
