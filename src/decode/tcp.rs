//! The TCP header as a checked view, and the one place where a segment's captured and missing
//! payload are worked out.
//!
//! Promise: [`TcpView::new_checked`] accepts a buffer only if the header is there up to the
//! flags (14 bytes: enough for a segment) and the data offset is at least 5; those fields are
//! then read out of a `[u8; 14]`, so no accessor can index out of bounds. The rest of the fixed
//! header (window, checksum, urgent pointer) and the options may be cut by the snaplen — an old
//! tcpdump default of 68 bytes stops an IPv6 header exactly after the flags — and the whole
//! payload then counts as missing. tshark decodes such headers the same way.

use super::{BadHeader, Decoded, HeaderProblem, Segment, Skip, TcpFlags};
use crate::time::Timestamp;
use std::net::{IpAddr, SocketAddr};

pub(crate) const IP_PROTO_TCP: u8 = 6;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: Range<usize> = 12..14;
    /// Everything a segment needs is in the first 14 bytes.
    pub const ESSENTIAL_LEN: usize = 14;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const FIXED_LEN: usize = 20;
}

/// A TCP header whose first 14 bytes (ports, numbers, data offset, flags) are known to be
/// present.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpView<'a> {
    essential: &'a [u8; field::ESSENTIAL_LEN],
    /// The header and everything captured after it.
    bytes: &'a [u8],
}

impl<'a> TcpView<'a> {
    /// `None` if the header is cut before the end of the flags or the data offset is below 5
    /// words.
    #[inline]
    pub(crate) fn new_checked(bytes: &'a [u8]) -> Option<Self> {
        let essential = bytes.first_chunk::<{ field::ESSENTIAL_LEN }>()?;
        let view = TcpView { essential, bytes };
        (view.header_len() >= field::FIXED_LEN).then_some(view)
    }

    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        match self.essential.get(r) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    fn u32_at(&self, r: std::ops::Range<usize>) -> u32 {
        match self.essential.get(r) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    /// A field past the essential part, if it was captured.
    fn optional_u16(&self, r: std::ops::Range<usize>) -> Option<u16> {
        match self.bytes.get(r) {
            Some(&[a, b]) => Some(u16::from_be_bytes([a, b])),
            _ => None,
        }
    }

    pub(crate) fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    pub(crate) fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    pub(crate) fn seq(&self) -> u32 {
        self.u32_at(field::SEQ)
    }
    pub(crate) fn ack(&self) -> u32 {
        self.u32_at(field::ACK)
    }
    /// Header length in bytes, options included (may exceed what was captured).
    pub(crate) fn header_len(&self) -> usize {
        usize::from(self.essential[field::DATA_OFFSET] >> 4) * 4
    }
    /// The 12 flag bits (including AE/NS and the reserved bits), as on the wire.
    pub(crate) fn flags(&self) -> TcpFlags {
        TcpFlags(self.u16_at(field::FLAGS) & 0x0fff)
    }
    /// `None` when the snaplen cut it off (as for the checksum and urgent pointer).
    pub(crate) fn window(&self) -> Option<u16> {
        self.optional_u16(field::WINDOW)
    }
    pub(crate) fn checksum(&self) -> Option<u16> {
        self.optional_u16(field::CHECKSUM)
    }
    pub(crate) fn urgent(&self) -> Option<u16> {
        self.optional_u16(field::URGENT)
    }
    /// The captured part of the options.
    pub(crate) fn options(&self) -> &'a [u8] {
        let end = self.header_len().min(self.bytes.len());
        self.bytes.get(field::FIXED_LEN..end).unwrap_or_default()
    }
    /// True if the snaplen cut into the header (fixed part or options).
    pub(crate) fn header_truncated(&self) -> bool {
        self.bytes.len() < self.header_len()
    }
    /// The captured payload (empty if the options were cut).
    pub(crate) fn payload(&self) -> &'a [u8] {
        self.bytes.get(self.header_len()..).unwrap_or_default()
    }
}

/// What the IP layer knows about the TCP bytes it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpCarrier<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ip_header_len: u16,
    /// The captured bytes of the IP payload (already trimmed to the IP length).
    pub captured: &'a [u8],
    /// The IP payload length on the wire.
    pub wire_len: usize,
}

/// Builds the segment: captured payload, and how much of the wire payload is missing.
#[inline]
pub(crate) fn segment<'a>(frame: u64, ts: Timestamp, ip: IpCarrier<'a>) -> Decoded<'a> {
    let bad = |problem| {
        let ports = match ip.captured.get(field::SRC_PORT.start..field::DST_PORT.end) {
            Some(&[a, b, c, d]) => Some((u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))),
            _ => None,
        };
        Decoded::Skipped(Skip::BadHeader(BadHeader {
            problem,
            addrs: Some((ip.src, ip.dst)),
            ports,
        }))
    };
    let Some(tcp) = TcpView::new_checked(ip.captured) else {
        let offset = ip.captured.get(field::DATA_OFFSET).map(|&b| b >> 4);
        return bad(match offset {
            Some(words) if ip.captured.len() >= field::ESSENTIAL_LEN => {
                HeaderProblem::TcpDataOffset(words)
            }
            // The IP length itself leaves no room for the header: the packet, not the
            // capture, is short.
            _ if ip.wire_len < field::ESSENTIAL_LEN => HeaderProblem::TcpBeyondPacket {
                header: offset.map_or(field::FIXED_LEN, |w| usize::from(w.max(5)) * 4),
                ip_payload: ip.wire_len,
            },
            _ => HeaderProblem::TcpCut {
                captured: ip.captured.len(),
            },
        });
    };
    let header_len = tcp.header_len();
    // The IP length must at least cover the TCP header it claims to carry.
    let Some(wire_payload) = ip.wire_len.checked_sub(header_len) else {
        return bad(HeaderProblem::TcpBeyondPacket {
            header: header_len,
            ip_payload: ip.wire_len,
        });
    };
    let payload = tcp.payload();
    let payload = payload.get(..wire_payload).unwrap_or(payload);
    let missing = wire_payload - payload.len();
    Decoded::Tcp(Segment {
        frame,
        ts,
        src: SocketAddr::new(ip.src, tcp.src_port()),
        dst: SocketAddr::new(ip.dst, tcp.dst_port()),
        seq: tcp.seq(),
        ack: tcp.ack(),
        flags: tcp.flags(),
        // Only absent when the snaplen cut the header; the segment is still worth its gap.
        window: tcp.window().unwrap_or(0),
        payload,
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
        ip_header_len: ip.ip_header_len,
        // header_len ≤ 60.
        tcp_header_len: header_len as u16,
        window_scale: if tcp.flags().syn() {
            window_scale(tcp.options())
        } else {
            None
        },
    })
}

/// TCP option kinds this module reads.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_WINDOW_SCALE: u8 = 3;

/// The Window Scale option's shift count, capped at 14 as RFC 7323 §2.3 tells receivers to.
/// `None` if absent, or if the options are malformed before it.
pub(crate) fn window_scale(mut options: &[u8]) -> Option<u8> {
    loop {
        match *options {
            [] | [OPT_END, ..] => return None,
            [OPT_NOP, ref rest @ ..] => options = rest,
            [OPT_WINDOW_SCALE, 3, shift, ..] => return Some(shift.min(14)),
            [_, len, ..] if len >= 2 => options = options.get(usize::from(len)..)?,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Ports 51000 → 80, seq 1, ack 2, data offset 8 (12 option bytes), PSH|ACK, window 512.
    const HEADER: [u8; 32] = [
        0xc7, 0x38, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2, 0x80, 0x18, 0x02, 0x00, 0xab, 0xcd, 0, 0,
        1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6,
    ];

    fn carrier(captured: &[u8], wire_len: usize) -> IpCarrier<'_> {
        IpCarrier {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            ip_header_len: 20,
            captured,
            wire_len,
        }
    }

    #[test]
    fn window_scale_option() {
        // MSS, SACK permitted, timestamps, NOP, window scale 7 (Linux's SYN).
        let linux = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        assert_eq!(window_scale(&linux), Some(7));
        assert_eq!(window_scale(&[3, 3, 15]), Some(14), "capped at 14");
        assert_eq!(window_scale(&[2, 4, 5, 0xb4]), None);
        assert_eq!(
            window_scale(&[0, 3, 3, 7]),
            None,
            "after the end of the list"
        );
        assert_eq!(window_scale(&[2, 0, 3, 3, 7]), None, "malformed length");
        assert_eq!(
            window_scale(&[2, 9, 3, 3, 7]),
            None,
            "length beyond the options"
        );
        assert_eq!(window_scale(&[3, 3]), None, "cut short");

        let mut syn = HEADER;
        syn[13] = 0x02;
        syn[20..24].copy_from_slice(&[1, 3, 3, 8]);
        let Decoded::Tcp(s) = segment(1, Timestamp(0), carrier(&syn, 32)) else {
            panic!()
        };
        assert_eq!(s.window_scale, Some(8));
        // Only a SYN carries it.
        syn[13] = 0x10;
        let Decoded::Tcp(s) = segment(1, Timestamp(0), carrier(&syn, 32)) else {
            panic!()
        };
        assert_eq!(s.window_scale, None);
    }

    #[test]
    fn view_reads_every_field() {
        let v = TcpView::new_checked(&HEADER).unwrap();
        assert_eq!((v.src_port(), v.dst_port()), (51000, 80));
        assert_eq!((v.seq(), v.ack()), (1, 2));
        assert_eq!(v.header_len(), 32);
        assert_eq!(v.flags(), TcpFlags(TcpFlags::PSH | TcpFlags::ACK));
        assert_eq!(
            (v.window(), v.checksum(), v.urgent()),
            (Some(512), Some(0xabcd), Some(0))
        );
        assert_eq!(v.options().len(), 12);
        assert!(!v.header_truncated());
        assert!(v.payload().is_empty());
    }

    #[test]
    fn view_rejects_short_and_impossible_headers() {
        assert!(TcpView::new_checked(&HEADER[..13]).is_none());
        // Cut after the flags: usable, window and checksum unknown.
        let v = TcpView::new_checked(&HEADER[..15]).unwrap();
        assert_eq!((v.seq(), v.window(), v.checksum()), (1, None, None));
        assert!(v.header_truncated() && v.options().is_empty());
        let mut bad = HEADER;
        bad[12] = 0x40; // data offset 4 words < 20 bytes
        assert!(TcpView::new_checked(&bad).is_none());
        // Offset 15 words with only 32 bytes: valid view, options cut.
        let mut long = HEADER;
        long[12] = 0xf0;
        let v = TcpView::new_checked(&long).unwrap();
        assert_eq!(v.header_len(), 60);
        assert!(v.header_truncated());
        assert_eq!(v.options().len(), 12);
        assert!(v.payload().is_empty());
    }

    #[test]
    fn segment_counts_missing_payload() {
        let mut pkt = HEADER.to_vec();
        pkt.extend_from_slice(b"GET / HT");
        // The wire had 100 payload bytes; 8 were captured.
        let Decoded::Tcp(s) = segment(3, Timestamp(9), carrier(&pkt, 132)) else {
            panic!()
        };
        assert_eq!(s.payload, b"GET / HT");
        assert_eq!(s.missing, 92);
        assert_eq!(
            (s.frame, s.ts, s.tcp_header_len, s.ip_header_len),
            (3, Timestamp(9), 32, 20)
        );
        assert_eq!(s.src.to_string(), "10.0.0.1:51000");
        assert_eq!(s.dst.to_string(), "10.0.0.2:80");

        // Options cut: no payload captured, all of it missing.
        let Decoded::Tcp(s) = segment(1, Timestamp(0), carrier(&HEADER[..24], 132)) else {
            panic!()
        };
        assert_eq!((s.payload.len(), s.missing), (0, 100));

        // IP length shorter than the TCP header: inconsistent.
        assert!(matches!(
            segment(1, Timestamp(0), carrier(&pkt, 31)),
            Decoded::Skipped(Skip::BadHeader(BadHeader {
                problem: HeaderProblem::TcpBeyondPacket {
                    header: 32,
                    ip_payload: 31
                },
                ports: Some((51000, 80)),
                ..
            }))
        ));
        // Cut after the flags: a segment without window, all payload missing.
        let Decoded::Tcp(s) = segment(1, Timestamp(0), carrier(&HEADER[..14], 132)) else {
            panic!()
        };
        assert_eq!((s.window, s.payload.len(), s.missing), (0, 0, 100));
        // Cut before the flags: nothing usable.
        assert!(matches!(
            segment(1, Timestamp(0), carrier(&HEADER[..13], 132)),
            Decoded::Skipped(Skip::BadHeader(BadHeader {
                problem: HeaderProblem::TcpCut { captured: 13 },
                ..
            }))
        ));
        // Data offset below 5 words.
        let mut short = HEADER;
        short[12] = 0x40;
        assert!(matches!(
            segment(1, Timestamp(0), carrier(&short, 132)),
            Decoded::Skipped(Skip::BadHeader(BadHeader {
                problem: HeaderProblem::TcpDataOffset(4),
                ..
            }))
        ));
    }
}
