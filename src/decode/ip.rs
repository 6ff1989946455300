//! The IP layer: where the TCP bytes are, how long they were on the wire, and whether the
//! packet is a fragment.
//!
//! Two paths give the same answer. [`fast_ipv4`] handles the common case (IPv4, not a fragment,
//! no AH) with a checked 20-byte view and declines everything else; [`general`] handles every
//! case with etherparse's lax slicing (IPv4 options and AH, IPv6 extension headers, lengths that
//! disagree with the capture). A property test checks that they agree wherever the fast path
//! answers.
//!
//! Lengths: the payload is trimmed to the IP length (dropping Ethernet padding and FCS), and
//! `wire_len` is what the IP header says was sent, so that bytes cut by the snaplen can be
//! counted. A length field smaller than the header (seen with TSO captures) falls back to the
//! captured length.

use super::link::Network;
use super::tcp::{IP_PROTO_TCP, IpCarrier};
use super::{BadHeader, HeaderProblem};
use etherparse::{LaxIpSlice, LenSource};
use std::net::{IpAddr, Ipv4Addr};

const IP_PROTO_AH: u8 = 51;
const IP_PROTO_FRAGMENT: u8 = 44;

/// What the IP layer found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpOutcome<'a> {
    Tcp(IpCarrier<'a>),
    Fragment(Fragment<'a>),
    NotTcp,
    /// Not usable as an IP header, or broken in a packet that does not carry TCP.
    Malformed,
    /// A broken IP header in a packet that carries (or may carry) TCP.
    Broken(BadHeader),
}

/// Identifies the datagram a fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    /// IPv4 protocol (part of the IPv4 key); 0 for IPv6.
    pub protocol: u8,
}

/// One fragment of an IP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fragment<'a> {
    pub key: FragKey,
    /// Byte offset of this fragment's data in the datagram payload.
    pub offset: usize,
    pub more: bool,
    /// Captured fragment data (trimmed to the IP length).
    pub captured: &'a [u8],
    /// Fragment data length on the wire.
    pub wire_len: usize,
    /// IP header bytes of this fragment packet (IPv6: header, unfragmentable part, fragment
    /// header).
    pub ip_header_len: u16,
    /// The first header inside the reassembled payload (IPv4 protocol, or the IPv6 fragment
    /// header's next header).
    pub first_header: u8,
}

/// The common case with no library call: IPv4 carrying TCP, not fragmented, no AH.
/// `None` means "not handled here, ask [`general`]".
#[inline]
pub(crate) fn fast_ipv4(bytes: &[u8]) -> Option<IpOutcome<'_>> {
    let fixed = bytes.first_chunk::<20>()?;
    if fixed[0] >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(fixed[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    let fragment_bits = u16::from_be_bytes([fixed[6], fixed[7]]) & 0x3fff;
    let protocol = fixed[9];
    if header_len < 20
        || header_len > bytes.len()
        || total_len < header_len
        || fragment_bits != 0
        || protocol == IP_PROTO_AH
    {
        return None;
    }
    if protocol != IP_PROTO_TCP {
        return Some(IpOutcome::NotTcp);
    }
    let captured = bytes.get(header_len..total_len.min(bytes.len()))?;
    Some(IpOutcome::Tcp(IpCarrier {
        src: IpAddr::V4(Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15])),
        dst: IpAddr::V4(Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19])),
        // header_len ≤ 60.
        ip_header_len: header_len as u16,
        captured,
        wire_len: total_len - header_len,
    }))
}

/// Every IP packet, through etherparse.
pub(crate) fn general(net: Network<'_>) -> IpOutcome<'_> {
    let (bytes, want_version) = match net {
        Network::Ipv4(b) => (b, 4),
        Network::Ipv6(b) => (b, 6),
    };
    if bytes.first().map(|b| b >> 4) != Some(want_version) {
        return IpOutcome::Malformed;
    }
    if let Some(broken) = broken_fixed_header(bytes, want_version == 6) {
        return broken;
    }
    let Ok((ip, ext_error)) = LaxIpSlice::from_slice(bytes) else {
        return IpOutcome::Malformed;
    };
    let broken = |problem, src, dst| {
        IpOutcome::Broken(BadHeader {
            problem,
            addrs: Some((src, dst)),
            ports: None,
        })
    };
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            let header_len = usize::from(header.ihl()) * 4;
            let total_len = usize::from(header.total_len());
            let src = IpAddr::V4(header.source_addr());
            let dst = IpAddr::V4(header.destination_addr());
            if header.is_fragmenting_payload() {
                // Fragment data starts right after the IPv4 header (an AH, if any, is inside
                // the reassembled payload), so it is cut here rather than taken from etherparse.
                let protocol = header.protocol().0;
                if total_len < header_len {
                    return if protocol == IP_PROTO_TCP {
                        let problem = HeaderProblem::IpLength {
                            total: total_len,
                            header: header_len,
                        };
                        broken(problem, src, dst)
                    } else {
                        IpOutcome::Malformed
                    };
                }
                let Some(captured) = bytes.get(header_len..total_len.min(bytes.len())) else {
                    return IpOutcome::Malformed;
                };
                return IpOutcome::Fragment(Fragment {
                    key: FragKey {
                        src,
                        dst,
                        id: u32::from(header.identification()),
                        protocol,
                    },
                    offset: usize::from(header.fragments_offset().value()) * 8,
                    more: header.more_fragments(),
                    captured,
                    wire_len: total_len - header_len,
                    ip_header_len: header_len as u16,
                    first_header: protocol,
                });
            }
            if ext_error.is_some() {
                // Only an authentication header can be broken here; TCP may be behind it.
                return broken(HeaderProblem::IpExtensions, src, dst);
            }
            let payload = v4.payload();
            if payload.ip_number.0 != IP_PROTO_TCP {
                return IpOutcome::NotTcp;
            }
            let auth_len = v4.extensions().auth.map(|a| a.slice().len()).unwrap_or(0);
            let wire_len = if payload.len_source == LenSource::Slice && !payload.incomplete {
                payload.payload.len()
            } else {
                total_len.saturating_sub(header_len + auth_len)
            };
            IpOutcome::Tcp(IpCarrier {
                src,
                dst,
                ip_header_len: (header_len + auth_len) as u16,
                captured: payload.payload,
                wire_len,
            })
        }
        LaxIpSlice::Ipv6(v6) => {
            let header = v6.header();
            let src = IpAddr::V6(header.source_addr());
            let dst = IpAddr::V6(header.destination_addr());
            let payload_length = usize::from(header.payload_length());
            if v6.is_payload_fragmented() {
                return ipv6_fragment(bytes, src, dst, header.next_header().0, payload_length);
            }
            if ext_error.is_some() {
                return if carries_tcp_or_extensions(header.next_header().0) {
                    broken(HeaderProblem::IpExtensions, src, dst)
                } else {
                    IpOutcome::Malformed
                };
            }
            let payload = v6.payload();
            if payload.ip_number.0 != IP_PROTO_TCP {
                return IpOutcome::NotTcp;
            }
            let ext_len = v6.extensions().slice().len();
            let wire_len = if payload.len_source == LenSource::Slice && !payload.incomplete {
                payload.payload.len()
            } else {
                payload_length.saturating_sub(ext_len)
            };
            IpOutcome::Tcp(IpCarrier {
                src,
                dst,
                ip_header_len: u16::try_from(40 + ext_len).unwrap_or(u16::MAX),
                captured: payload.payload,
                wire_len,
            })
        }
    }
}

/// The fixed IP header's own faults, before any library reads it: an IPv4 header length below
/// 5 words, or a capture that stops inside the header. Reported as [`IpOutcome::Broken`] when
/// the packet says it carries TCP (IPv4 protocol 6; IPv6 next header TCP or an extension
/// header), else as [`IpOutcome::Malformed`] (nothing of ours is lost).
fn broken_fixed_header(bytes: &[u8], ipv6: bool) -> Option<IpOutcome<'_>> {
    let (needed, protocol_at, addrs_at) = if ipv6 {
        (40, 6, 8..40)
    } else {
        let ihl = bytes.first().map_or(0, |b| b & 0x0f);
        (usize::from(ihl).max(5) * 4, 9, 12..20)
    };
    let problem = match bytes.first() {
        Some(b) if !ipv6 && b & 0x0f < 5 => HeaderProblem::Ipv4HeaderLength(b & 0x0f),
        _ if bytes.len() < needed => HeaderProblem::IpCut {
            captured: bytes.len(),
            needed,
        },
        _ => return None,
    };
    let tcp = match bytes.get(protocol_at) {
        Some(&p) if ipv6 => carries_tcp_or_extensions(p),
        Some(&p) => p == IP_PROTO_TCP,
        None => false,
    };
    if !tcp {
        return Some(IpOutcome::Malformed);
    }
    let addrs = bytes.get(addrs_at).map(|a| {
        if ipv6 {
            let (s, d) = a.split_at(16);
            let v6 = |x: &[u8]| <[u8; 16]>::try_from(x).map(IpAddr::from).ok();
            (v6(s), v6(d))
        } else {
            let (s, d) = a.split_at(4);
            let v4 = |x: &[u8]| <[u8; 4]>::try_from(x).map(IpAddr::from).ok();
            (v4(s), v4(d))
        }
    });
    let addrs = match addrs {
        Some((Some(s), Some(d))) => Some((s, d)),
        _ => None,
    };
    Some(IpOutcome::Broken(BadHeader {
        problem,
        addrs,
        ports: None,
    }))
}

/// Whether an IPv6 next-header value is TCP or a header that may precede it.
fn carries_tcp_or_extensions(next_header: u8) -> bool {
    matches!(
        next_header,
        IP_PROTO_TCP | IP_PROTO_AH | IP_PROTO_FRAGMENT | 0 | 43 | 60 | 135 | 139 | 140
    )
}

/// Finds the Fragment header of a fragmented IPv6 packet and the data after it.
fn ipv6_fragment<'a>(
    bytes: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
    next_header: u8,
    payload_length: usize,
) -> IpOutcome<'a> {
    if payload_length == 0 {
        // Jumbograms cannot be fragmented.
        return IpOutcome::Malformed;
    }
    let end = (40 + payload_length).min(bytes.len());
    let Some(payload) = bytes.get(40..end) else {
        return IpOutcome::Malformed;
    };
    let Some((IP_PROTO_FRAGMENT, at)) = skip_extensions(next_header, payload, true) else {
        return IpOutcome::Malformed;
    };
    let Some(frag) = payload.get(at..at + 8) else {
        return IpOutcome::Malformed;
    };
    let &[first_header, _, off_hi, off_lo, i0, i1, i2, i3] = frag else {
        return IpOutcome::Malformed;
    };
    let offset_field = u16::from_be_bytes([off_hi, off_lo]);
    let data_start = at + 8;
    let Some(wire_len) = payload_length.checked_sub(data_start) else {
        return IpOutcome::Malformed;
    };
    IpOutcome::Fragment(Fragment {
        key: FragKey {
            src,
            dst,
            id: u32::from_be_bytes([i0, i1, i2, i3]),
            protocol: 0,
        },
        offset: usize::from(offset_field >> 3) * 8,
        more: offset_field & 1 != 0,
        captured: payload.get(data_start..).unwrap_or_default(),
        wire_len,
        ip_header_len: u16::try_from(40 + data_start).unwrap_or(u16::MAX),
        first_header,
    })
}

/// Walks IPv6 extension headers (and AH, which IPv4 uses too) starting with `first`. Returns
/// the first header that is not one of them and its offset in `data`. With
/// `stop_at_fragment`, a Fragment header is returned as such instead of being skipped.
pub(crate) fn skip_extensions(
    first: u8,
    data: &[u8],
    stop_at_fragment: bool,
) -> Option<(u8, usize)> {
    let mut next = first;
    let mut at = 0usize;
    // More headers than this is not a real packet.
    for _ in 0..16 {
        let len = match next {
            IP_PROTO_FRAGMENT if stop_at_fragment => return Some((next, at)),
            IP_PROTO_FRAGMENT => 8,
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => usize::from(*data.get(at + 1)?) * 8 + 8,
            IP_PROTO_AH => usize::from(*data.get(at + 1)?) * 4 + 8,
            _ => return (at <= data.len()).then_some((next, at)),
        };
        next = *data.get(at)?;
        at += len;
    }
    None
}

/// The protocol and offset of the transport header in a reassembled datagram payload.
pub(crate) fn reassembled_transport(
    first_header: u8,
    ipv6: bool,
    data: &[u8],
) -> Option<(u8, usize)> {
    // IPv4 payloads may start with AH; IPv6 payloads with any extension header.
    if ipv6 || first_header == IP_PROTO_AH {
        skip_extensions(first_header, data, false)
    } else {
        Some((first_header, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Ipv4Spec, Ipv6Spec, tcp_bytes};
    use super::*;

    fn carrier(o: IpOutcome<'_>) -> IpCarrier<'_> {
        match o {
            IpOutcome::Tcp(c) => c,
            other => panic!("not TCP: {other:?}"),
        }
    }

    #[test]
    fn ipv4_with_options_and_padding() {
        let tcp = tcp_bytes(80, 1000, 20, b"hello");
        let mut pkt = Ipv4Spec::tcp(&tcp).options(8).build();
        pkt.extend_from_slice(&[0; 6]); // Ethernet padding
        for c in [
            carrier(fast_ipv4(&pkt).unwrap()),
            carrier(general(Network::Ipv4(&pkt))),
        ] {
            assert_eq!(c.ip_header_len, 28);
            assert_eq!(c.captured, &tcp[..]);
            assert_eq!(c.wire_len, tcp.len());
            assert_eq!(c.src.to_string(), "10.0.0.1");
        }
    }

    #[test]
    fn ipv4_truncated_by_snaplen() {
        let tcp = tcp_bytes(80, 1000, 20, &[7; 100]);
        let pkt = Ipv4Spec::tcp(&tcp).build();
        let cut = &pkt[..60];
        let c = carrier(general(Network::Ipv4(cut)));
        assert_eq!((c.captured.len(), c.wire_len), (40, 120));
        assert_eq!(carrier(fast_ipv4(cut).unwrap()), c);
    }

    #[test]
    fn ipv4_total_length_smaller_than_header_uses_capture() {
        let tcp = tcp_bytes(80, 1, 20, b"x");
        let pkt = Ipv4Spec::tcp(&tcp).total_len(0).build();
        assert_eq!(fast_ipv4(&pkt), None);
        let c = carrier(general(Network::Ipv4(&pkt)));
        assert_eq!((c.captured.len(), c.wire_len), (21, 21));
    }

    #[test]
    fn ipv4_not_tcp_bad_headers_and_fragments() {
        let udp = Ipv4Spec::tcp(&[0; 8]).protocol(17).build();
        assert_eq!(fast_ipv4(&udp), Some(IpOutcome::NotTcp));
        assert_eq!(general(Network::Ipv4(&udp)), IpOutcome::NotTcp);

        let mut bad_ihl = Ipv4Spec::tcp(&[0; 20]).build();
        bad_ihl[0] = 0x44;
        assert_eq!(fast_ipv4(&bad_ihl), None);
        let problem = |o: IpOutcome<'_>| match o {
            IpOutcome::Broken(b) => Some(b.problem),
            _ => None,
        };
        assert_eq!(
            problem(general(Network::Ipv4(&bad_ihl))),
            Some(HeaderProblem::Ipv4HeaderLength(4))
        );
        let pkt = Ipv4Spec::tcp(&[0; 20]).options(40).build();
        assert_eq!(
            problem(general(Network::Ipv4(&pkt[..50]))),
            Some(HeaderProblem::IpCut {
                captured: 50,
                needed: 60
            })
        );
        assert_eq!(
            problem(general(Network::Ipv4(&pkt[..19]))),
            Some(HeaderProblem::IpCut {
                captured: 19,
                needed: 60
            })
        );
        assert_eq!(general(Network::Ipv4(&pkt[..9])), IpOutcome::Malformed);
        assert_eq!(general(Network::Ipv4(&[])), IpOutcome::Malformed);
        // Not TCP: broken, but nothing of ours.
        let mut udp_ihl = Ipv4Spec::tcp(&[0; 20]).protocol(17).build();
        udp_ihl[0] = 0x43;
        assert_eq!(general(Network::Ipv4(&udp_ihl)), IpOutcome::Malformed);
        // A fragment whose total length is shorter than its header.
        let mut frag = Ipv4Spec::tcp(&[1; 24]).fragment(7, 1, true).build();
        frag[2..4].copy_from_slice(&12u16.to_be_bytes());
        assert_eq!(
            problem(general(Network::Ipv4(&frag))),
            Some(HeaderProblem::IpLength {
                total: 12,
                header: 20
            })
        );
        // Version nibble disagrees with the link layer.
        assert_eq!(general(Network::Ipv6(&pkt)), IpOutcome::Malformed);

        let frag = Ipv4Spec::tcp(&[1; 24]).fragment(0x1234, 3, true).build();
        assert_eq!(fast_ipv4(&frag), None);
        let IpOutcome::Fragment(f) = general(Network::Ipv4(&frag)) else {
            panic!()
        };
        assert_eq!((f.key.id, f.offset, f.more), (0x1234, 24, true));
        assert_eq!((f.captured.len(), f.wire_len, f.first_header), (24, 24, 6));
    }

    #[test]
    fn ipv4_with_auth_header() {
        let tcp = tcp_bytes(443, 5, 20, b"abc");
        let mut ah = vec![6, 4, 0, 0]; // next TCP, length (4+2)*4 = 24 bytes
        ah.extend_from_slice(&[0; 20]);
        let pkt = Ipv4Spec::tcp(&[ah.clone(), tcp.clone()].concat())
            .protocol(51)
            .build();
        assert_eq!(fast_ipv4(&pkt), None);
        let c = carrier(general(Network::Ipv4(&pkt)));
        assert_eq!(c.ip_header_len, 44);
        assert_eq!(c.captured, &tcp[..]);
        assert_eq!(c.wire_len, tcp.len());
    }

    #[test]
    fn ipv6_plain_with_extensions_truncated_and_jumbo_length() {
        let tcp = tcp_bytes(80, 9, 20, b"data!");
        let pkt = Ipv6Spec::tcp(&tcp).build();
        let c = carrier(general(Network::Ipv6(&pkt)));
        assert_eq!(
            (c.ip_header_len, c.captured, c.wire_len),
            (40, &tcp[..], tcp.len())
        );
        assert_eq!(c.dst.to_string(), "2001:db8::2");

        // Hop-by-hop (8 bytes) and destination options (16 bytes).
        let pkt = Ipv6Spec::tcp(&tcp).hop_by_hop(8).dest_options(16).build();
        let c = carrier(general(Network::Ipv6(&pkt)));
        assert_eq!(
            (c.ip_header_len, c.captured, c.wire_len),
            (64, &tcp[..], tcp.len())
        );

        let cut = &pkt[..pkt.len() - 3];
        let c = carrier(general(Network::Ipv6(cut)));
        assert_eq!((c.captured.len(), c.wire_len), (tcp.len() - 3, tcp.len()));

        // Extension header cut short.
        assert!(matches!(
            general(Network::Ipv6(&pkt[..44])),
            IpOutcome::Broken(BadHeader {
                problem: HeaderProblem::IpExtensions,
                addrs: Some(_),
                ports: None
            })
        ));

        let pkt = Ipv6Spec::tcp(&tcp).payload_len(0).build();
        let c = carrier(general(Network::Ipv6(&pkt)));
        assert_eq!((c.captured.len(), c.wire_len), (tcp.len(), tcp.len()));

        let udp = Ipv6Spec::tcp(&[0; 8]).next_header(17).build();
        assert_eq!(general(Network::Ipv6(&udp)), IpOutcome::NotTcp);
        assert_eq!(general(Network::Ipv6(&udp[..39])), IpOutcome::Malformed);
        assert!(matches!(
            general(Network::Ipv6(&tcp_v6_cut(&tcp))),
            IpOutcome::Broken(BadHeader {
                problem: HeaderProblem::IpCut {
                    captured: 39,
                    needed: 40
                },
                addrs: None,
                ports: None
            })
        ));
    }

    /// An IPv6 header carrying TCP, cut one byte short of its 40 bytes.
    fn tcp_v6_cut(tcp: &[u8]) -> Vec<u8> {
        Ipv6Spec::tcp(tcp).build()[..39].to_vec()
    }

    #[test]
    fn ipv6_fragments() {
        let pkt = Ipv6Spec::tcp(&[3; 16])
            .hop_by_hop(8)
            .fragment(0xdead_beef, 2, false)
            .build();
        let IpOutcome::Fragment(f) = general(Network::Ipv6(&pkt)) else {
            panic!()
        };
        assert_eq!(
            (f.key.id, f.offset, f.more, f.first_header),
            (0xdead_beef, 16, false, 6)
        );
        assert_eq!(
            (f.captured, f.wire_len, f.ip_header_len),
            (&[3u8; 16][..], 16, 56)
        );
        // An atomic fragment (offset 0, no more) is not fragmented: plain TCP.
        let tcp = tcp_bytes(1, 2, 20, b"z");
        let pkt = Ipv6Spec::tcp(&tcp).fragment(1, 0, false).build();
        let c = carrier(general(Network::Ipv6(&pkt)));
        assert_eq!((c.ip_header_len, c.captured), (48, &tcp[..]));
    }

    #[test]
    fn extension_walk_limits() {
        assert_eq!(skip_extensions(6, &[], false), Some((6, 0)));
        // Destination options claiming more than is there.
        assert_eq!(skip_extensions(60, &[6, 1, 0, 0, 0, 0, 0, 0], false), None);
        assert_eq!(
            skip_extensions(60, &[6, 0, 0, 0, 0, 0, 0, 0], false),
            Some((6, 8))
        );
        // A chain that never ends.
        let chain = [60u8, 0, 0, 0, 0, 0, 0, 0].repeat(20);
        assert_eq!(skip_extensions(60, &chain, false), None);
        assert_eq!(reassembled_transport(6, false, &[]), Some((6, 0)));
    }
}
