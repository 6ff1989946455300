//! Capture timestamps: nanoseconds since the Unix epoch, whatever the file's resolution.

use std::fmt;

/// A point in capture time, in nanoseconds since the Unix epoch.
///
/// Every source converts its native resolution (pcap µs/ns, pcapng `if_tsresol`, AF_PACKET ns)
/// into this one representation so that later layers never care where a packet came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(i64::from(nanos)),
        )
    }

    pub fn as_nanos(self) -> i64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Seconds elapsed since `earlier` (negative if `self` is before it).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e9
    }

    /// Formats as `seconds.micros` — the form used in JSON records.
    pub fn display_micros(self) -> impl fmt::Display {
        Micros(self)
    }
}

struct Micros(Timestamp);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.0;
        let secs = ns.div_euclid(1_000_000_000);
        let micros = ns.rem_euclid(1_000_000_000) / 1_000;
        write!(f, "{secs}.{micros:06}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_display_pads_and_handles_negative() {
        assert_eq!(
            Timestamp::from_secs_nanos(12, 5_000)
                .display_micros()
                .to_string(),
            "12.000005"
        );
        assert_eq!(Timestamp(-1_000).display_micros().to_string(), "-1.999999");
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        assert_eq!(Timestamp::from_secs_nanos(i64::MAX, 1).0, i64::MAX);
    }
}
