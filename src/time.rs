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

/// How the summary lines show a packet's time, as tshark's `-t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// Seconds since the first packet (`r`, the default).
    #[default]
    Relative,
    /// Local time of day (`a`).
    Absolute,
    /// Local date and time (`ad`).
    AbsoluteDate,
    /// Seconds since the previous captured packet (`d`).
    Delta,
    /// Seconds since the previous line shown (`dd`).
    DeltaShown,
    /// Seconds since the epoch (`e`).
    Epoch,
}

/// The broken-down local time of `secs` since the epoch: year, month, day, hour, minute,
/// second (the C library's `localtime_r`, so `TZ` is honoured as tshark honours it).
pub fn local_time(secs: i64) -> Option<[i64; 6]> {
    let t = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid for the
    // call and nothing keeps them.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some([
        i64::from(tm.tm_year) + 1900,
        i64::from(tm.tm_mon) + 1,
        i64::from(tm.tm_mday),
        i64::from(tm.tm_hour),
        i64::from(tm.tm_min),
        i64::from(tm.tm_sec),
    ])
}

impl TimeFormat {
    /// Columns the time takes on a summary line.
    pub fn width(self) -> usize {
        match self {
            TimeFormat::Relative | TimeFormat::Delta | TimeFormat::DeltaShown => 11,
            TimeFormat::Absolute => 15,
            TimeFormat::AbsoluteDate => 26,
            TimeFormat::Epoch => 17,
        }
    }

    /// `ts` as this format shows it; `first` is the first packet's time, `previous` the time
    /// `Delta` / `DeltaShown` count from. Microseconds, as the rest of the line.
    pub fn show(self, ts: Timestamp, first: Timestamp, previous: Option<Timestamp>) -> String {
        let ns = ts.as_nanos();
        let (secs, micros) = (
            ns.div_euclid(1_000_000_000),
            ns.rem_euclid(1_000_000_000) / 1_000,
        );
        match self {
            TimeFormat::Relative => format!("{:.6}", ts.secs_since(first)),
            TimeFormat::Delta | TimeFormat::DeltaShown => {
                format!("{:.6}", ts.secs_since(previous.unwrap_or(ts)))
            }
            TimeFormat::Epoch => format!("{secs}.{micros:06}"),
            TimeFormat::Absolute | TimeFormat::AbsoluteDate => match local_time(secs) {
                Some([y, mo, d, h, mi, s]) if self == TimeFormat::AbsoluteDate => {
                    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{micros:06}")
                }
                Some([.., h, mi, s]) => format!("{h:02}:{mi:02}:{s:02}.{micros:06}"),
                None => format!("{secs}.{micros:06}"),
            },
        }
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
