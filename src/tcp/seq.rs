//! TCP sequence numbers and the 64-bit stream offsets derived from them.
//!
//! Sequence numbers are 32-bit and wrap; comparisons between them are only meaningful for values
//! less than 2^31 apart (RFC 1982 serial arithmetic). Reassembly therefore never stores them:
//! each direction picks a base (ISN + 1, or the first sequence number seen) and maps every
//! sequence number to a `u64` offset from that base, choosing the candidate closest to the
//! current delivery point. Offsets never wrap, so buffers and gaps can be ordered plainly.
//!
//! Promise: nothing here panics or overflows, whatever the input.

use std::cmp::Ordering;
use std::ops::{Add, Sub};

/// A TCP sequence number with wrapping (serial-number) comparisons.
///
/// `PartialOrd` is implemented (like smoltcp's `TcpSeqNumber`) because it reads naturally, but
/// it is not a total order: `a < b` means "b is ahead of a by less than 2^31".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

/// `seq + n`, wrapping.
impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

/// `seq - n`, wrapping.
impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n))
    }
}

impl SeqNumber {
    /// Signed distance from `earlier` to `self`, in (-2^31, 2^31].
    pub fn distance_from(self, earlier: SeqNumber) -> i32 {
        self.0.wrapping_sub(earlier.0) as i32
    }

    /// Whichever of the two is further ahead.
    pub fn max_wrapping(self, other: SeqNumber) -> SeqNumber {
        if other.distance_from(self) > 0 {
            other
        } else {
            self
        }
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.distance_from(*other).cmp(&0))
    }
}

/// Maps sequence numbers of one direction to stream offsets (offset 0 = `base`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqMap {
    base: SeqNumber,
}

impl SeqMap {
    pub fn new(base: SeqNumber) -> SeqMap {
        SeqMap { base }
    }

    pub fn base(self) -> SeqNumber {
        self.base
    }

    /// The sequence number of stream offset `offset` (offsets are taken modulo 2^32).
    pub fn seq_of(self, offset: u64) -> SeqNumber {
        self.base + offset as u32
    }

    /// The offset of `seq` closest to `reference` (within ±2^31), or `None` if that offset would
    /// lie before the start of the stream.
    pub fn offset_near(self, seq: SeqNumber, reference: u64) -> Option<u64> {
        let delta = seq.distance_from(self.seq_of(reference));
        reference.checked_add_signed(i64::from(delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap_around_2_pow_32() {
        let near_end = SeqNumber(u32::MAX - 5);
        let wrapped = near_end + 10;
        assert_eq!(wrapped, SeqNumber(4));
        assert!(near_end < wrapped);
        assert!(wrapped > near_end);
        assert_eq!(wrapped.distance_from(near_end), 10);
        assert_eq!(near_end.distance_from(wrapped), -10);
        assert_eq!(wrapped - 10, near_end);
        assert_eq!(near_end.max_wrapping(wrapped), wrapped);
        assert_eq!(wrapped.max_wrapping(near_end), wrapped);
    }

    #[test]
    fn comparisons_hold_up_to_half_the_space() {
        let a = SeqNumber(0x8000_0000);
        let just_ahead = a + 0x7fff_ffff;
        assert!(just_ahead > a);
        // Exactly 2^31 apart is ambiguous; the signed distance picks the negative side.
        let half = a + 0x8000_0000;
        assert_eq!(half.distance_from(a), i32::MIN);
        assert!(half < a);
        assert_eq!(
            SeqNumber(7).partial_cmp(&SeqNumber(7)),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn offsets_do_not_wrap_when_sequence_numbers_do() {
        let map = SeqMap::new(SeqNumber(u32::MAX - 99));
        assert_eq!(map.offset_near(SeqNumber(u32::MAX - 99), 0), Some(0));
        assert_eq!(map.offset_near(SeqNumber(u32::MAX), 0), Some(99));
        assert_eq!(map.offset_near(SeqNumber(0), 50), Some(100));
        assert_eq!(map.offset_near(SeqNumber(1000), 99), Some(1100));
        assert_eq!(map.seq_of(1100), SeqNumber(1000));
    }

    #[test]
    fn offsets_beyond_4_gib_are_found_near_the_reference() {
        let map = SeqMap::new(SeqNumber(10));
        let far = (1u64 << 32) * 3 + 500;
        let seq = map.seq_of(far);
        assert_eq!(seq, SeqNumber(510));
        assert_eq!(map.offset_near(seq, far - 1000), Some(far));
        assert_eq!(map.offset_near(seq, far + 1000), Some(far));
        assert_eq!(map.offset_near(seq - 1, far), Some(far - 1));
    }

    #[test]
    fn sequence_numbers_before_the_base_have_no_offset() {
        let map = SeqMap::new(SeqNumber(5));
        assert_eq!(map.offset_near(SeqNumber(4), 0), None);
        assert_eq!(map.offset_near(SeqNumber(u32::MAX), 3), None);
        // Seq 4 is offset -1 whatever the reference.
        assert_eq!(map.offset_near(SeqNumber(4), 10), None);
        assert_eq!(map.offset_near(SeqNumber(14), 10), Some(9));
    }
}
