//! Link, IP and TCP decoding: turns a [`Frame`] into a [`Segment`] that borrows its payload.
//!
//! Promise: decoding never panics and never reads past the captured bytes. Bytes the snaplen cut
//! off are counted in [`Segment::missing`] so that the TCP layer reports them as a gap.
//!
//! Layout: `link` finds the IP header for every supported link type; `ip` finds the TCP bytes
//! (a hand-written fast path for plain IPv4, etherparse's lax slicing for everything else);
//! `tcp` reads the TCP header and works out captured vs. missing payload; `frag` reassembles IP
//! fragments; [`detail`] renders the `-V` tree. The hot path (Ethernet/IPv4/TCP) allocates
//! nothing and calls no library code.

use crate::source::{Frame, LinkType};
use crate::time::Timestamp;
use std::net::{IpAddr, SocketAddr};

pub mod detail;
mod frag;
mod ip;
mod link;
mod tcp;
#[cfg(test)]
pub(crate) mod testutil;

pub use detail::{DetailNode, describe};

/// TCP flag bits as they appear in the header's 13th/14th bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
}

/// A TCP segment, ready for the flow table. Borrows the frame's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub frame: u64,
    pub ts: Timestamp,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The captured part of the TCP payload.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but not captured (snaplen); they follow `payload`.
    pub missing: u32,
    /// IP header bytes (IPv4 header with options, or IPv6 header with extension headers).
    pub ip_header_len: u16,
    /// TCP header bytes, options included.
    pub tcp_header_len: u16,
    /// The Window Scale option's shift count (RFC 7323 §2), read from SYN segments only (the
    /// only ones that may carry it); `None` without the option or on other segments.
    pub window_scale: Option<u8>,
}

/// Why a frame carried no TCP segment for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// A link type we do not decode; reported once per interface.
    UnknownLinkType(LinkType),
    /// Not IP (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// A link header cut short, or bytes that are not a usable IP header at all (version
    /// nibble disagreeing with the link layer, too short to say what they carry, broken
    /// headers of packets that do not carry TCP).
    Malformed,
    /// A broken IP header of a packet that carries TCP, or a broken TCP header.
    BadHeader(BadHeader),
}

/// What is wrong with an IP or TCP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// IPv4 header length field (IHL, in 32-bit words) below 5.
    Ipv4HeaderLength(u8),
    /// The capture stops inside the IP header.
    IpCut { captured: usize, needed: usize },
    /// IPv4 total length shorter than the header of a fragment (no TSO capture excuses it).
    IpLength { total: usize, header: usize },
    /// IPv6 extension headers (or an IPv4 authentication header) broken or cut short.
    IpExtensions,
    /// TCP data offset (in 32-bit words) below 5.
    TcpDataOffset(u8),
    /// The TCP header claims more bytes than the IP payload that carries it.
    TcpBeyondPacket { header: usize, ip_payload: usize },
    /// The capture stops inside the TCP header, before its flags.
    TcpCut { captured: usize },
}

impl HeaderProblem {
    /// Whether the TCP header (rather than the IP header) is the broken one.
    pub fn is_tcp(self) -> bool {
        matches!(
            self,
            HeaderProblem::TcpDataOffset(_)
                | HeaderProblem::TcpBeyondPacket { .. }
                | HeaderProblem::TcpCut { .. }
        )
    }
}

impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            HeaderProblem::Ipv4HeaderLength(ihl) => write!(
                f,
                "IPv4 header length {} bytes (IHL {ihl}), below the 20-byte minimum",
                usize::from(ihl) * 4
            ),
            HeaderProblem::IpCut { captured, needed } => write!(
                f,
                "IP header cut short by the capture ({captured} of {needed} bytes)"
            ),
            HeaderProblem::IpLength { total, header } => write!(
                f,
                "IPv4 total length {total} is shorter than its {header}-byte header"
            ),
            HeaderProblem::IpExtensions => {
                f.write_str("IP extension headers broken or cut short by the capture")
            }
            HeaderProblem::TcpDataOffset(offset) => write!(
                f,
                "TCP data offset {} bytes ({offset} words), below the 20-byte minimum",
                usize::from(offset) * 4
            ),
            HeaderProblem::TcpBeyondPacket { header, ip_payload } => write!(
                f,
                "TCP header of {header} bytes is longer than the {ip_payload}-byte IP payload \
                 that carries it"
            ),
            HeaderProblem::TcpCut { captured } => write!(
                f,
                "TCP header cut short by the capture before its flags ({captured} of at least \
                 14 bytes)"
            ),
        }
    }
}

/// A packet skipped for a broken IP or TCP header, with what is known of its endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadHeader {
    pub problem: HeaderProblem,
    /// Source and destination addresses, when the IP header holds them.
    pub addrs: Option<(IpAddr, IpAddr)>,
    /// Source and destination ports, when the TCP header got that far.
    pub ports: Option<(u16, u16)>,
}

/// The result of decoding one frame.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// A fragment of an IP datagram (first or later); the TCP header may not be in it.
    IpFragment {
        src: IpAddr,
        dst: IpAddr,
        id: u32,
    },
    Skipped(Skip),
}

/// What became of IP fragments so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentStats {
    /// Fragments seen (of datagrams that may carry TCP).
    pub fragments: u64,
    /// Datagrams reassembled and decoded.
    pub reassembled: u64,
    /// Incomplete datagrams dropped after the timeout.
    pub expired: u64,
    /// Incomplete datagrams dropped to make room (table full).
    pub evicted: u64,
    /// Datagrams that can never complete (fragment cut by the snaplen, over 64 KiB, or
    /// inconsistent); their fragments keep being reported as fragments.
    pub broken: u64,
}

/// (interface, link type) pairs remembered for "report once"; beyond this many distinct
/// pairs, further unknown pairs are not reported.
const MAX_REPORTED_LINKS: usize = 256;

/// Decodes frames. Holds the little state decoding needs: which interfaces already had their
/// unknown link type reported, and IP fragments awaiting reassembly (capped).
#[derive(Default)]
pub struct Decoder {
    reported_links: Vec<(u32, LinkType)>,
    new_unknown_link: Option<(u32, LinkType)>,
    fragments: frag::Reassembler,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Decodes one frame. No allocation on the common path; the result borrows either the frame
    /// or (for a reassembled IP datagram) the decoder.
    pub fn decode<'s>(&'s mut self, frame: &Frame<'s>) -> Decoded<'s> {
        self.fragments.release_finished();
        let net = match link::network(frame.link_type, frame.data, &mut |_| {}) {
            Ok(net) => net,
            Err(skip) => {
                if let Skip::UnknownLinkType(link_type) = skip {
                    self.note_unknown_link(frame.interface, link_type);
                }
                return Decoded::Skipped(skip);
            }
        };
        let outcome = match net {
            link::Network::Ipv4(bytes) => ip::fast_ipv4(bytes).unwrap_or_else(|| ip::general(net)),
            link::Network::Ipv6(_) => ip::general(net),
        };
        match outcome {
            ip::IpOutcome::Tcp(carrier) => tcp::segment(frame.index, frame.ts, carrier),
            ip::IpOutcome::NotTcp => Decoded::Skipped(Skip::NotTcp),
            ip::IpOutcome::Malformed => Decoded::Skipped(Skip::Malformed),
            ip::IpOutcome::Broken(bad) => Decoded::Skipped(Skip::BadHeader(bad)),
            ip::IpOutcome::Fragment(fragment) => {
                let ipv6 = matches!(net, link::Network::Ipv6(_));
                self.fragment(frame, fragment, ipv6)
            }
        }
    }

    /// After a decode that returned `Skipped(UnknownLinkType(..))`: the (interface, link type)
    /// pair if this was the first time it was seen, so the caller reports each pair once.
    /// Every frame of an unknown link type is still returned as skipped; only the "first time"
    /// news is given once. Call it after each such result (a later new pair replaces an
    /// untaken one).
    pub fn take_new_unknown_link(&mut self) -> Option<(u32, LinkType)> {
        self.new_unknown_link.take()
    }

    /// Counters of IP fragment handling so far.
    pub fn fragment_stats(&self) -> FragmentStats {
        self.fragments.stats
    }

    /// Incomplete IP datagrams still waiting for fragments (at the end of the input they are
    /// lost).
    pub fn fragments_in_flight(&self) -> usize {
        self.fragments.in_flight()
    }

    fn note_unknown_link(&mut self, interface: u32, link_type: LinkType) {
        let pair = (interface, link_type);
        if self.reported_links.len() < MAX_REPORTED_LINKS && !self.reported_links.contains(&pair) {
            self.reported_links.push(pair);
            self.new_unknown_link = Some(pair);
        }
    }

    fn fragment<'s>(
        &'s mut self,
        frame: &Frame<'s>,
        fragment: ip::Fragment<'s>,
        ipv6: bool,
    ) -> Decoded<'s> {
        if !may_carry_tcp(fragment.first_header, ipv6) {
            return Decoded::Skipped(Skip::NotTcp);
        }
        let as_fragment = Decoded::IpFragment {
            src: fragment.key.src,
            dst: fragment.key.dst,
            id: fragment.key.id,
        };
        let frag::Added::Complete(slot) = self.fragments.add(&fragment, frame.ts) else {
            return as_fragment;
        };
        let fragments: &'s frag::Reassembler = &self.fragments;
        let Some(datagram) = fragments.get(slot) else {
            return as_fragment;
        };
        let Some((protocol, at)) =
            ip::reassembled_transport(datagram.first_header, ipv6, datagram.payload)
        else {
            return Decoded::Skipped(Skip::BadHeader(BadHeader {
                problem: HeaderProblem::IpExtensions,
                addrs: Some((datagram.key.src, datagram.key.dst)),
                ports: None,
            }));
        };
        if protocol != tcp::IP_PROTO_TCP {
            return Decoded::Skipped(Skip::NotTcp);
        }
        let captured = datagram.payload.get(at..).unwrap_or_default();
        tcp::segment(
            frame.index,
            frame.ts,
            tcp::IpCarrier {
                src: datagram.key.src,
                dst: datagram.key.dst,
                ip_header_len: u16::try_from(datagram.header_bytes.saturating_add(at))
                    .unwrap_or(u16::MAX),
                captured,
                wire_len: captured.len(),
            },
        )
    }
}

/// Whether a datagram whose payload starts with `first_header` can contain TCP: TCP itself, or
/// a header that may precede it (AH; for IPv6 also extension headers).
fn may_carry_tcp(first_header: u8, ipv6: bool) -> bool {
    match first_header {
        6 | 51 => true,
        0 | 43 | 60 | 135 | 139 | 140 => ipv6,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{Ipv4Spec, Ipv6Spec, ethernet, tcp_bytes};
    use super::*;
    use proptest::prelude::*;

    /// A real Ethernet/IPv4/TCP frame: 10.0.0.1:51000 → 10.0.0.2:80, seq 1, ack 1, PSH|ACK,
    /// window 502, TCP timestamps, payload "GET / HTTP/1.1\r\n\r\n" (18 bytes).
    const HTTP_GET: [u8; 84] = [
        // Ethernet
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
        // IPv4: total length 70, DF, TTL 64, TCP
        0x45, 0x00, 0x00, 0x46, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x0a, 0x62, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02,
        // TCP: 51000 → 80, seq 1, ack 1, offset 8, PSH|ACK, window 502
        0xc7, 0x38, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x80, 0x18, 0x01,
        0xf6, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00,
        0x00, 0x06, // "GET / HTTP/1.1\r\n\r\n"
        b'G', b'E', b'T', b' ', b'/', b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'1', b'\r',
        b'\n', b'\r', b'\n',
    ];

    fn frame(link_type: LinkType, data: &[u8]) -> Frame<'_> {
        Frame {
            index: 9,
            ts: Timestamp(77),
            link_type,
            interface: 0,
            orig_len: data.len() as u32,
            data,
        }
    }

    fn seg<'a>(d: Decoded<'a>) -> Segment<'a> {
        match d {
            Decoded::Tcp(s) => s,
            other => panic!("not a segment: {other:?}"),
        }
    }

    #[test]
    fn static_ethernet_ipv4_tcp_frame() {
        let mut dec = Decoder::new();
        let s = seg(dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET)));
        assert_eq!(s.src.to_string(), "10.0.0.1:51000");
        assert_eq!(s.dst.to_string(), "10.0.0.2:80");
        assert_eq!((s.seq, s.ack, s.window), (1, 1, 502));
        assert_eq!(s.flags, TcpFlags(TcpFlags::PSH | TcpFlags::ACK));
        assert_eq!(s.payload, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!((s.missing, s.ip_header_len, s.tcp_header_len), (0, 20, 32));
        assert_eq!((s.frame, s.ts), (9, Timestamp(77)));

        // With Ethernet padding and an FCS after it: trimmed by the IP total length.
        let padded = [&HTTP_GET[..], &[0; 10]].concat();
        assert_eq!(
            seg(dec.decode(&frame(LinkType::ETHERNET, &padded)))
                .payload
                .len(),
            18
        );

        // Cut by a snaplen of 70: 4 payload bytes captured, 14 missing.
        let s = seg(dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET[..70])));
        assert_eq!((s.payload, s.missing), (&b"GET "[..], 14));
        // Cut inside the TCP options: no payload, all of it missing.
        let s = seg(dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET[..60])));
        assert_eq!((s.payload.len(), s.missing), (0, 18));
        // Cut right after the TCP flags: still a segment (its payload all missing).
        let s = seg(dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET[..48])));
        assert_eq!((s.seq, s.window, s.missing), (1, 0, 18));
        // Cut before the TCP flags: nothing usable, but the ports are known.
        let v4 = |a, b, c, d| IpAddr::from([a, b, c, d]);
        let ends = Some((v4(10, 0, 0, 1), v4(10, 0, 0, 2)));
        assert_eq!(
            bad(dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET[..47]))),
            BadHeader {
                problem: HeaderProblem::TcpCut { captured: 13 },
                addrs: ends,
                ports: Some((51000, 80)),
            }
        );
        assert_eq!(
            bad(dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET[..36]))).ports,
            None,
            "cut inside the ports"
        );
        // Cut inside the IP header (before its addresses).
        assert_eq!(
            bad(dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET[..30]))),
            BadHeader {
                problem: HeaderProblem::IpCut {
                    captured: 16,
                    needed: 20
                },
                addrs: None,
                ports: None,
            }
        );
        // Too short to say what it carries.
        assert!(matches!(
            dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET[..22])),
            Decoded::Skipped(Skip::Malformed)
        ));
    }

    fn bad(d: Decoded<'_>) -> BadHeader {
        match d {
            Decoded::Skipped(Skip::BadHeader(b)) => b,
            other => panic!("not a broken header: {other:?}"),
        }
    }

    #[test]
    fn impossible_lengths() {
        let mut dec = Decoder::new();
        // IP total length shorter than IP + TCP headers: the TCP header lies beyond the packet.
        let mut f = HTTP_GET;
        f[16..18].copy_from_slice(&40u16.to_be_bytes());
        let b = bad(dec.decode(&frame(LinkType::ETHERNET, &f)));
        assert_eq!(
            b.problem,
            HeaderProblem::TcpBeyondPacket {
                header: 32,
                ip_payload: 20
            }
        );
        assert_eq!(b.ports, Some((51000, 80)));
        // TCP data offset below 5.
        let mut f = HTTP_GET;
        f[46] = 0x30;
        let b = bad(dec.decode(&frame(LinkType::ETHERNET, &f)));
        assert_eq!(b.problem, HeaderProblem::TcpDataOffset(3));
        assert_eq!(b.ports, Some((51000, 80)));
        // IHL below 5.
        let mut f = HTTP_GET;
        f[14] = 0x44;
        let b = bad(dec.decode(&frame(LinkType::ETHERNET, &f)));
        assert_eq!(b.problem, HeaderProblem::Ipv4HeaderLength(4));
        assert_eq!(b.addrs.map(|(s, _)| s.to_string()), Some("10.0.0.1".into()));
        assert_eq!(b.ports, None);
        // IHL beyond the capture.
        let mut f = HTTP_GET;
        f[14] = 0x4f;
        let b = bad(dec.decode(&frame(LinkType::ETHERNET, &f[..60])));
        assert_eq!(
            b.problem,
            HeaderProblem::IpCut {
                captured: 46,
                needed: 60
            }
        );
        // The same faults in a packet that does not carry TCP are nothing of ours.
        let mut f = HTTP_GET;
        f[14] = 0x44;
        f[23] = 17;
        assert!(matches!(
            dec.decode(&frame(LinkType::ETHERNET, &f)),
            Decoded::Skipped(Skip::Malformed)
        ));
        // A total length of 0 (TSO capture) falls back to the captured length.
        let mut f = HTTP_GET;
        f[16..18].copy_from_slice(&0u16.to_be_bytes());
        let s = seg(dec.decode(&frame(LinkType::ETHERNET, &f)));
        assert_eq!((s.payload.len(), s.missing), (18, 0));
    }

    #[test]
    fn every_link_type_reaches_tcp() {
        let tcp = tcp_bytes(80, 42, 20, b"payload");
        let v4 = Ipv4Spec::tcp(&tcp).build();
        let v6 = Ipv6Spec::tcp(&tcp).build();
        let sll = |proto: u16, ip: &[u8]| {
            let mut v = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
            v.extend_from_slice(&proto.to_be_bytes());
            v.extend_from_slice(ip);
            v
        };
        let sll2 = |proto: u16, ip: &[u8]| {
            let mut v = proto.to_be_bytes().to_vec();
            v.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
            v.extend_from_slice(ip);
            v
        };
        let cases: Vec<(LinkType, Vec<u8>, bool)> = vec![
            (LinkType::ETHERNET, ethernet(&[], 0x0800, &v4), false),
            (
                LinkType::ETHERNET,
                ethernet(&[(0x8100, 5)], 0x86dd, &v6),
                true,
            ),
            (
                LinkType::ETHERNET,
                ethernet(&[(0x88a8, 1), (0x8100, 2), (0x8100, 3)], 0x0800, &v4),
                false,
            ),
            (LinkType::LINUX_SLL, sll(0x0800, &v4), false),
            (LinkType::LINUX_SLL, sll(0x86dd, &v6), true),
            (LinkType::LINUX_SLL2, sll2(0x0800, &v4), false),
            (LinkType::LINUX_SLL2, sll2(0x86dd, &v6), true),
            (LinkType::RAW, v4.clone(), false),
            (LinkType::RAW, v6.clone(), true),
            (LinkType::IPV4, v4.clone(), false),
            (LinkType::IPV6, v6.clone(), true),
            (LinkType::DLT_RAW, v4.clone(), false),
            (LinkType::DLT_RAW, v6.clone(), true),
            (LinkType::DLT_RAW, [&[0, 0, 0, 2][..], &v4].concat(), false),
            (LinkType::DLT_RAW_OPENBSD, v4.clone(), false),
            (LinkType::DLT_RAW_OPENBSD, v6.clone(), true),
            (LinkType::NULL, [&[2, 0, 0, 0][..], &v4].concat(), false),
            (LinkType::NULL, [&[0, 0, 0, 28][..], &v6].concat(), true),
            (LinkType::LOOP, [&[0, 0, 0, 2][..], &v4].concat(), false),
            (LinkType::LOOP, [&[0, 0, 0, 24][..], &v6].concat(), true),
        ];
        let mut dec = Decoder::new();
        for (link, data, is_v6) in &cases {
            let s = seg(dec.decode(&frame(*link, data)));
            assert_eq!(s.payload, b"payload", "{link}");
            assert_eq!((s.seq, s.dst.port()), (42, 80), "{link}");
            assert_eq!(s.src.is_ipv6(), *is_v6, "{link}");
            assert_eq!(s.ip_header_len, if *is_v6 { 40 } else { 20 }, "{link}");
        }
        assert_eq!(dec.take_new_unknown_link(), None);
    }

    #[test]
    fn non_ip_and_non_tcp_are_skipped_with_reason() {
        let mut dec = Decoder::new();
        let arp = ethernet(&[], 0x0806, &[0; 28]);
        assert!(matches!(
            dec.decode(&frame(LinkType::ETHERNET, &arp)),
            Decoded::Skipped(Skip::NotIp)
        ));
        let udp = Ipv4Spec::tcp(&[0; 8]).protocol(17).build();
        assert!(matches!(
            dec.decode(&frame(LinkType::RAW, &udp)),
            Decoded::Skipped(Skip::NotTcp)
        ));
        let icmp6 = Ipv6Spec::tcp(&[0; 8]).next_header(58).build();
        assert!(matches!(
            dec.decode(&frame(LinkType::RAW, &icmp6)),
            Decoded::Skipped(Skip::NotTcp)
        ));
        // IPv4 fragments of UDP are not buffered.
        let frag = Ipv4Spec::tcp(&[0; 16])
            .protocol(17)
            .fragment(1, 0, true)
            .build();
        assert!(matches!(
            dec.decode(&frame(LinkType::RAW, &frag)),
            Decoded::Skipped(Skip::NotTcp)
        ));
        assert_eq!(dec.fragment_stats().fragments, 0);
    }

    #[test]
    fn unknown_link_types_are_news_once_per_interface() {
        let mut dec = Decoder::new();
        let mut f = frame(LinkType(147), &[1, 2, 3]);
        for (interface, expect_news) in [(0, true), (0, false), (1, true), (1, false)] {
            f.interface = interface;
            assert!(matches!(
                dec.decode(&f),
                Decoded::Skipped(Skip::UnknownLinkType(LinkType(147)))
            ));
            let news = dec.take_new_unknown_link();
            assert_eq!(news.is_some(), expect_news, "interface {interface}");
            if let Some(pair) = news {
                assert_eq!(pair, (interface, LinkType(147)));
            }
        }
        f.link_type = LinkType(148);
        dec.decode(&f);
        assert_eq!(dec.take_new_unknown_link(), Some((1, LinkType(148))));
    }

    #[test]
    fn ipv4_fragments_reassemble_into_one_segment() {
        let payload: Vec<u8> = (0..100u8).collect();
        let tcp = tcp_bytes(80, 5000, 20, &payload); // 120 bytes
        let pieces = [(0usize, 48usize, true), (48, 96, true), (96, 120, false)];
        let packets: Vec<Vec<u8>> = pieces
            .iter()
            .map(|&(a, b, more)| {
                Ipv4Spec::tcp(&tcp[a..b])
                    .fragment(0x4242, (a / 8) as u16, more)
                    .build()
            })
            .collect();
        let mut dec = Decoder::new();
        // Out of order: last, first, middle.
        for i in [2, 0] {
            let d = dec.decode(&frame(LinkType::RAW, &packets[i]));
            let Decoded::IpFragment { id, src, .. } = d else {
                panic!("{d:?}")
            };
            assert_eq!((id, src.to_string().as_str()), (0x4242, "10.0.0.1"));
        }
        let mut f = frame(LinkType::RAW, &packets[1]);
        f.index = 33;
        let s = seg(dec.decode(&f));
        assert_eq!(s.payload, &payload[..]);
        assert_eq!((s.seq, s.frame, s.missing), (5000, 33, 0));
        assert_eq!((s.ip_header_len, s.tcp_header_len), (60, 20));
        // The next decode releases the buffer; an unrelated packet decodes normally.
        assert_eq!(
            seg(dec.decode(&frame(LinkType::ETHERNET, &HTTP_GET))).seq,
            1
        );
        let stats = dec.fragment_stats();
        assert_eq!((stats.fragments, stats.reassembled), (3, 1));
    }

    #[test]
    fn ipv6_fragments_with_an_extension_header_after_the_fragment_header() {
        let tcp = tcp_bytes(443, 77, 20, &[9; 40]); // 60 bytes
        // Fragmentable part: destination options (8 bytes, next = TCP) + TCP.
        let mut fragmentable = vec![6, 0, 0, 0, 0, 0, 0, 0];
        fragmentable.extend_from_slice(&tcp);
        let first = Ipv6Spec::tcp(&fragmentable[..32])
            .next_header(60)
            .fragment(9, 0, true)
            .build();
        let second = Ipv6Spec::tcp(&fragmentable[32..])
            .next_header(60)
            .fragment(9, 4, false)
            .build();
        let mut dec = Decoder::new();
        assert!(matches!(
            dec.decode(&frame(LinkType::IPV6, &first)),
            Decoded::IpFragment { id: 9, .. }
        ));
        let s = seg(dec.decode(&frame(LinkType::IPV6, &second)));
        assert_eq!(s.payload, &[9; 40][..]);
        assert_eq!(s.dst.port(), 443);
        assert_eq!(s.ip_header_len, 48 + 48 + 8);
    }

    #[test]
    fn snaplen_cut_fragment_never_completes_but_is_reported() {
        let tcp = tcp_bytes(80, 1, 20, &[1; 28]);
        let a = Ipv4Spec::tcp(&tcp[..24]).fragment(5, 0, true).build();
        let b = Ipv4Spec::tcp(&tcp[24..]).fragment(5, 3, false).build();
        let mut dec = Decoder::new();
        assert!(matches!(
            dec.decode(&frame(LinkType::RAW, &a[..30])),
            Decoded::IpFragment { .. }
        ));
        assert!(matches!(
            dec.decode(&frame(LinkType::RAW, &b)),
            Decoded::IpFragment { .. }
        ));
        assert_eq!(dec.fragment_stats().broken, 1);
    }

    /// An IPv4/TCP packet with random header fields, lengths and truncation.
    fn arb_ipv4_tcp() -> impl Strategy<Value = Vec<u8>> {
        (
            0usize..=10,                                                        // IPv4 option words
            prop_oneof![Just(None), any::<u16>().prop_map(Some)], // total length override
            prop_oneof![3 => Just(0x4000u16), 1 => Just(0), 1 => any::<u16>()], // flags, offset
            prop_oneof![6 => Just(6u8), 1 => Just(17), 1 => Just(51), 1 => any::<u8>()],
            prop_oneof![3 => 5u8..=15, 1 => 0u8..=15], // TCP data offset
            proptest::collection::vec(any::<u8>(), 0..120),
            any::<usize>(), // truncation
        )
            .prop_map(|(opt_words, total, frag, proto, offset, payload, cut)| {
                let mut tcp = tcp_bytes(80, 1, 20, &payload);
                tcp[12] = offset << 4;
                let mut spec = Ipv4Spec::tcp(&tcp).options(opt_words * 4).protocol(proto);
                if let Some(t) = total {
                    spec = spec.total_len(t);
                }
                let mut v = spec.build();
                v[6..8].copy_from_slice(&frag.to_be_bytes());
                let keep = cut % (v.len() + 1);
                v.truncate(keep.max(v.len().min(20 + opt_words * 4 + 1)));
                v
            })
    }

    proptest! {
        /// The fast path answers exactly as etherparse's general path wherever it answers.
        #[test]
        fn fast_path_agrees_with_general_path(pkt in arb_ipv4_tcp()) {
            if let Some(fast) = ip::fast_ipv4(&pkt) {
                prop_assert_eq!(fast, ip::general(link::Network::Ipv4(&pkt)));
            }
        }

        /// Whenever etherparse finds a complete TCP header, the decoder finds the same segment.
        #[test]
        fn decoder_agrees_with_etherparse_tcp(pkt in arb_ipv4_tcp()) {
            let Ok(sliced) = etherparse::LaxSlicedPacket::from_ip(&pkt) else { return Ok(()) };
            let Some(etherparse::TransportSlice::Tcp(tcp)) = sliced.transport else { return Ok(()) };
            let mut dec = Decoder::new();
            let f = frame(LinkType::IPV4, &pkt);
            match dec.decode(&f) {
                Decoded::Tcp(s) => {
                    prop_assert_eq!(s.src.port(), tcp.source_port());
                    prop_assert_eq!(s.seq, tcp.sequence_number());
                    prop_assert_eq!(s.ack, tcp.acknowledgment_number());
                    prop_assert_eq!(s.window, tcp.window_size());
                    prop_assert_eq!(s.flags.syn(), tcp.syn());
                    prop_assert_eq!(usize::from(s.tcp_header_len), tcp.header_slice().len());
                    prop_assert!(tcp.payload().starts_with(s.payload));
                }
                // We are stricter in one respect: an IP length below the TCP header length.
                Decoded::Skipped(Skip::BadHeader(b)) => {
                    prop_assert!(matches!(b.problem, HeaderProblem::TcpBeyondPacket { .. }), "{:?}", b);
                }
                other => prop_assert!(false, "decoder said {:?}", other),
            }
        }

        #[test]
        fn arbitrary_frames_never_panic(
            link in prop_oneof![
                Just(0u32), Just(1), Just(12), Just(14), Just(101), Just(108), Just(113), Just(228), Just(229),
                Just(276), any::<u32>()
            ],
            data in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut dec = Decoder::new();
            let f = frame(LinkType(link), &data);
            let _ = dec.decode(&f);
            let _ = describe(&f);
        }

        /// Random fragment streams never panic, and the table stays within its cap.
        #[test]
        fn random_fragments_never_panic(
            frags in proptest::collection::vec(
                (0u16..4, 0u16..9000, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64), any::<bool>()),
                0..80,
            ),
        ) {
            let mut dec = Decoder::new();
            for (i, (id, units, more, data, v6)) in frags.into_iter().enumerate() {
                let pkt = if v6 {
                    Ipv6Spec::tcp(&data).fragment(u32::from(id), units, more).build()
                } else {
                    Ipv4Spec::tcp(&data).fragment(id, units, more).build()
                };
                let mut f = frame(LinkType::RAW, &pkt);
                f.ts = Timestamp(i as i64 * 1_000_000_000);
                let _ = dec.decode(&f);
            }
            prop_assert!(dec.fragments.slots_len() <= frag::MAX_DATAGRAMS);
        }
    }
}
