//! Link layers: from a frame's first byte to the start of its IP header.
//!
//! Covers Ethernet II with any number of 802.1Q / 802.1ad / QinQ tags (up to [`MAX_TAGS`]),
//! Linux cooked capture v1 and v2, BSD NULL and OpenBSD LOOP, and the raw-IP link types: every
//! number the pcap linktype registry gives raw IP (LINKTYPE_RAW 101, LINKTYPE_IPV4 228,
//! LINKTYPE_IPV6 229) and the platform DLT_RAW values some writers put in files instead (12 on
//! most platforms, 14 on OpenBSD and BSD/OS; 12 is DLT_LOOP on OpenBSD, recognised by its
//! address-family header).
//! Every header is length-checked before it is read. Each layer found is shown to a visitor,
//! which the hot path leaves empty (it compiles away) and the `-V` printer uses to list fields.

use super::Skip;
use crate::source::LinkType;

/// More stacked VLAN tags than this is treated as garbage.
pub(crate) const MAX_TAGS: usize = 8;

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD1: u16 = 0x9100;
const ETHERTYPE_QINQ_OLD2: u16 = 0x9200;

/// BSD address families that mean IPv4 / IPv6 in NULL and LOOP headers (IPv6 differs by OS:
/// 24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 3] = [24, 28, 30];

/// Where the IP header starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Network<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
}

/// One link-layer header, as the detail view shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkLayer<'a> {
    Ethernet {
        dst: [u8; 6],
        src: [u8; 6],
        ether_type: u16,
    },
    /// An 802.1Q or 802.1ad tag; `tpid` is the type that announced it.
    Vlan {
        tpid: u16,
        tci: u16,
        ether_type: u16,
    },
    Sll {
        packet_type: u16,
        arphrd: u16,
        address: &'a [u8],
        protocol: u16,
    },
    Sll2 {
        protocol: u16,
        ifindex: u32,
        arphrd: u16,
        packet_type: u8,
        address: &'a [u8],
    },
    /// NULL (host byte order) or LOOP (network byte order) address family header.
    Family { family: u32, big_endian: bool },
    /// Raw IP: no link header at all.
    Raw,
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// Finds the IP header of a frame of link type `link`.
#[inline]
pub(crate) fn network<'a>(
    link: LinkType,
    data: &'a [u8],
    visit: &mut impl FnMut(LinkLayer<'a>),
) -> Result<Network<'a>, Skip> {
    match link {
        LinkType::ETHERNET => ethernet(data, visit),
        LinkType::RAW | LinkType::DLT_RAW_OPENBSD => raw_ip(data, visit),
        // An OpenBSD LOOP header starts with a zero byte (a small family in network order);
        // an IP header never does.
        LinkType::DLT_RAW if data.first() == Some(&0) => family_header(LinkType::LOOP, data, visit),
        LinkType::DLT_RAW => raw_ip(data, visit),
        LinkType::IPV4 => {
            visit(LinkLayer::Raw);
            Ok(Network::Ipv4(data))
        }
        LinkType::IPV6 => {
            visit(LinkLayer::Raw);
            Ok(Network::Ipv6(data))
        }
        LinkType::LINUX_SLL => {
            let Some((header, rest)) = data.split_first_chunk::<16>() else {
                return Err(Skip::Malformed);
            };
            let address_len = usize::from(be16(header, 4)).min(8);
            let protocol = be16(header, 14);
            visit(LinkLayer::Sll {
                packet_type: be16(header, 0),
                arphrd: be16(header, 2),
                address: header.get(6..6 + address_len).unwrap_or_default(),
                protocol,
            });
            by_ether_type(protocol, rest, visit)
        }
        LinkType::LINUX_SLL2 => {
            let Some((header, rest)) = data.split_first_chunk::<20>() else {
                return Err(Skip::Malformed);
            };
            let protocol = be16(header, 0);
            let address_len = usize::from(header[11]).min(8);
            visit(LinkLayer::Sll2 {
                protocol,
                ifindex: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
                arphrd: be16(header, 8),
                packet_type: header[10],
                address: header.get(12..12 + address_len).unwrap_or_default(),
            });
            by_ether_type(protocol, rest, visit)
        }
        LinkType::NULL | LinkType::LOOP => family_header(link, data, visit),
        other => Err(Skip::UnknownLinkType(other)),
    }
}

/// No link header: the IP version nibble says which IP it is.
#[inline]
fn raw_ip<'a>(data: &'a [u8], visit: &mut impl FnMut(LinkLayer<'a>)) -> Result<Network<'a>, Skip> {
    visit(LinkLayer::Raw);
    match data.first().map(|b| b >> 4) {
        Some(4) => Ok(Network::Ipv4(data)),
        Some(6) => Ok(Network::Ipv6(data)),
        Some(_) => Err(Skip::NotIp),
        None => Err(Skip::Malformed),
    }
}

/// BSD NULL (`link` NULL: the capturing host's byte order) or OpenBSD LOOP (network order):
/// a 4-byte address family.
fn family_header<'a>(
    link: LinkType,
    data: &'a [u8],
    visit: &mut impl FnMut(LinkLayer<'a>),
) -> Result<Network<'a>, Skip> {
    let Some((header, rest)) = data.split_first_chunk::<4>() else {
        return Err(Skip::Malformed);
    };
    // Family values are small, so a big-endian one has its two high bytes zero.
    let big_endian = link == LinkType::LOOP || header[0] == 0 && header[1] == 0;
    let family = if big_endian {
        u32::from_be_bytes(*header)
    } else {
        u32::from_le_bytes(*header)
    };
    visit(LinkLayer::Family { family, big_endian });
    if family == AF_INET {
        Ok(Network::Ipv4(rest))
    } else if AF_INET6.contains(&family) {
        Ok(Network::Ipv6(rest))
    } else {
        Err(Skip::NotIp)
    }
}

#[inline]
fn ethernet<'a>(
    data: &'a [u8],
    visit: &mut impl FnMut(LinkLayer<'a>),
) -> Result<Network<'a>, Skip> {
    let Some((header, rest)) = data.split_first_chunk::<14>() else {
        return Err(Skip::Malformed);
    };
    let ether_type = u16::from_be_bytes([header[12], header[13]]);
    visit(LinkLayer::Ethernet {
        dst: [
            header[0], header[1], header[2], header[3], header[4], header[5],
        ],
        src: [
            header[6], header[7], header[8], header[9], header[10], header[11],
        ],
        ether_type,
    });
    by_ether_type(ether_type, rest, visit)
}

#[inline]
fn by_ether_type<'a>(
    mut ether_type: u16,
    mut rest: &'a [u8],
    visit: &mut impl FnMut(LinkLayer<'a>),
) -> Result<Network<'a>, Skip> {
    for _ in 0..=MAX_TAGS {
        match ether_type {
            ETHERTYPE_IPV4 => return Ok(Network::Ipv4(rest)),
            ETHERTYPE_IPV6 => return Ok(Network::Ipv6(rest)),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD1 | ETHERTYPE_QINQ_OLD2 => {
                let Some((tag, after)) = rest.split_first_chunk::<4>() else {
                    return Err(Skip::Malformed);
                };
                let inner = u16::from_be_bytes([tag[2], tag[3]]);
                visit(LinkLayer::Vlan {
                    tpid: ether_type,
                    tci: u16::from_be_bytes([tag[0], tag[1]]),
                    ether_type: inner,
                });
                ether_type = inner;
                rest = after;
            }
            _ => return Err(Skip::NotIp),
        }
    }
    Err(Skip::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(link: LinkType, data: &[u8]) -> Result<Network<'_>, Skip> {
        network(link, data, &mut |_| {})
    }

    const MACS: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    fn eth(types_and_tags: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut v = MACS.to_vec();
        v.extend_from_slice(types_and_tags);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn ethernet_ipv4_and_ipv6() {
        let f = eth(&[0x08, 0x00], &[0x45, 0]);
        assert_eq!(
            net(LinkType::ETHERNET, &f),
            Ok(Network::Ipv4(&[0x45, 0][..]))
        );
        let f = eth(&[0x86, 0xdd], &[0x60]);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv6(&[0x60][..])));
        let f = eth(&[0x08, 0x06], &[0; 28]);
        assert_eq!(net(LinkType::ETHERNET, &f), Err(Skip::NotIp));
        // 802.3 length field instead of a type.
        let f = eth(&[0x00, 0x40], &[0xaa; 64]);
        assert_eq!(net(LinkType::ETHERNET, &f), Err(Skip::NotIp));
        assert_eq!(net(LinkType::ETHERNET, &MACS), Err(Skip::Malformed));
        assert_eq!(net(LinkType::ETHERNET, &[]), Err(Skip::Malformed));
    }

    #[test]
    fn vlan_qinq_and_stacked_tags() {
        let f = eth(&[0x81, 0x00, 0x20, 0x64, 0x08, 0x00], &[0x45]);
        let mut seen = Vec::new();
        let r = network(LinkType::ETHERNET, &f, &mut |l| seen.push(l));
        assert_eq!(r, Ok(Network::Ipv4(&[0x45][..])));
        assert_eq!(
            seen[1],
            LinkLayer::Vlan {
                tpid: 0x8100,
                tci: 0x2064,
                ether_type: 0x0800
            }
        );
        let f = eth(
            &[
                0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x91, 0x00, 0, 30, 0x86, 0xdd,
            ],
            &[0x60],
        );
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv6(&[0x60][..])));
        // Tag cut short.
        let f = eth(&[0x81, 0x00, 0x20], &[]);
        assert_eq!(net(LinkType::ETHERNET, &f), Err(Skip::Malformed));
        // Endless tags.
        let tags: Vec<u8> = [0x81, 0x00, 0, 1].repeat(MAX_TAGS + 1);
        let f = eth(&[&tags[..], &[0x08, 0x00]].concat(), &[0x45]);
        assert_eq!(net(LinkType::ETHERNET, &f), Err(Skip::Malformed));
        let tags: Vec<u8> = [0x81, 0x00, 0, 1].repeat(MAX_TAGS);
        let f = eth(&[&tags[..], &[0x08, 0x00]].concat(), &[0x45]);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv4(&[0x45][..])));
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.push(0x45);
        let mut seen = Vec::new();
        let r = network(LinkType::LINUX_SLL, &sll, &mut |l| seen.push(l));
        assert_eq!(r, Ok(Network::Ipv4(&[0x45][..])));
        assert_eq!(
            seen,
            vec![LinkLayer::Sll {
                packet_type: 0,
                arphrd: 1,
                address: &[1, 2, 3, 4, 5, 6],
                protocol: 0x0800
            }]
        );
        assert_eq!(net(LinkType::LINUX_SLL, &sll[..15]), Err(Skip::Malformed));

        // protocol, reserved, ifindex 7, ARPHRD 772 (loopback), outgoing, 6-byte address.
        let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 7, 0x03, 0x04, 4, 6];
        sll2.extend_from_slice(&[0; 8]);
        sll2.push(0x60);
        let mut seen = Vec::new();
        let r = network(LinkType::LINUX_SLL2, &sll2, &mut |l| seen.push(l));
        assert_eq!(r, Ok(Network::Ipv6(&[0x60][..])));
        assert!(matches!(
            seen[0],
            LinkLayer::Sll2 {
                ifindex: 7,
                arphrd: 772,
                packet_type: 4,
                ..
            }
        ));
        assert_eq!(net(LinkType::LINUX_SLL2, &sll2[..19]), Err(Skip::Malformed));
        // SLL2 carrying a VLAN tag.
        let mut tagged = vec![0x81, 0x00];
        tagged.extend_from_slice(&[0; 18]);
        tagged.extend_from_slice(&[0, 5, 0x08, 0x00, 0x45]);
        assert_eq!(
            net(LinkType::LINUX_SLL2, &tagged),
            Ok(Network::Ipv4(&[0x45][..]))
        );
    }

    #[test]
    fn null_in_either_byte_order_and_loop() {
        for (hdr, want_v6) in [
            ([2, 0, 0, 0], false),
            ([0, 0, 0, 2], false),
            ([24, 0, 0, 0], true),
            ([0, 0, 0, 28], true),
            ([30, 0, 0, 0], true),
        ] {
            let f = [&hdr[..], &[0x99]].concat();
            let want = if want_v6 {
                Network::Ipv6(&[0x99][..])
            } else {
                Network::Ipv4(&[0x99][..])
            };
            assert_eq!(net(LinkType::NULL, &f), Ok(want), "{hdr:?}");
        }
        assert_eq!(net(LinkType::NULL, &[7, 0, 0, 0]), Err(Skip::NotIp));
        assert_eq!(net(LinkType::NULL, &[2, 0, 0]), Err(Skip::Malformed));
        // LOOP is always network order: little-endian 2 is family 0x02000000.
        assert_eq!(net(LinkType::LOOP, &[2, 0, 0, 0]), Err(Skip::NotIp));
        assert_eq!(
            net(LinkType::LOOP, &[0, 0, 0, 30, 0x60]),
            Ok(Network::Ipv6(&[0x60][..]))
        );
    }

    #[test]
    fn raw_link_types() {
        assert_eq!(
            net(LinkType::RAW, &[0x45, 1]),
            Ok(Network::Ipv4(&[0x45, 1][..]))
        );
        assert_eq!(net(LinkType::RAW, &[0x60]), Ok(Network::Ipv6(&[0x60][..])));
        assert_eq!(net(LinkType::RAW, &[0x10]), Err(Skip::NotIp));
        assert_eq!(net(LinkType::RAW, &[]), Err(Skip::Malformed));
        assert_eq!(net(LinkType::IPV4, &[1]), Ok(Network::Ipv4(&[1][..])));
        assert_eq!(net(LinkType::IPV6, &[]), Ok(Network::Ipv6(&[][..])));
        // The platform DLT_RAW numbers: 12 (most platforms), 14 (OpenBSD).
        for link in [LinkType::DLT_RAW, LinkType::DLT_RAW_OPENBSD] {
            assert_eq!(net(link, &[0x45, 1]), Ok(Network::Ipv4(&[0x45, 1][..])));
            assert_eq!(net(link, &[0x60]), Ok(Network::Ipv6(&[0x60][..])));
            assert_eq!(net(link, &[0x10]), Err(Skip::NotIp));
            assert_eq!(net(link, &[]), Err(Skip::Malformed));
        }
        // 12 is DLT_LOOP on OpenBSD: a network-order family header instead of an IP header.
        let mut seen = Vec::new();
        let r = network(LinkType::DLT_RAW, &[0, 0, 0, 24, 0x60], &mut |l| {
            seen.push(l)
        });
        assert_eq!(r, Ok(Network::Ipv6(&[0x60][..])));
        assert_eq!(
            seen,
            vec![LinkLayer::Family {
                family: 24,
                big_endian: true
            }]
        );
        assert_eq!(
            net(LinkType::DLT_RAW, &[0, 0, 0, 2, 0x45]),
            Ok(Network::Ipv4(&[0x45][..]))
        );
        assert_eq!(net(LinkType::DLT_RAW, &[0, 0]), Err(Skip::Malformed));
        // 14 is never LOOP.
        assert_eq!(
            net(LinkType::DLT_RAW_OPENBSD, &[0, 0, 0, 2, 0x45]),
            Err(Skip::NotIp)
        );
    }

    #[test]
    fn unknown_link_type() {
        assert_eq!(
            net(LinkType(147), &[1, 2, 3]),
            Err(Skip::UnknownLinkType(LinkType(147)))
        );
    }
}
