//! The layout of a TPACKET_V3 receive ring, read without trusting it: block descriptors, the
//! per-packet `tpacket3_hdr` + `sockaddr_ll`, and the in-place preparation of a packet for the
//! analyzer (a synthesised LINUX_SLL2 header in cooked mode, a re-inserted VLAN tag on Ethernet).
//!
//! A block is a plain byte slice here, so everything is tested on synthetic blocks laid out as
//! the kernel lays them out. Promise: no block content makes these functions panic or read or
//! write outside the block; a malformed block ends its walk with a [`RingError`].
//!
//! Kernel layout (`net/packet/af_packet.c`): a block starts with `tpacket_block_desc`; packets
//! follow at `offset_to_first_pkt`, each a `tpacket3_hdr` at a 16-byte aligned offset, the
//! `sockaddr_ll` right after it (at `TPACKET_ALIGN(sizeof(tpacket3_hdr))`), then free headroom
//! (at least 16 bytes plus `PACKET_RESERVE`), then the captured bytes at `tp_mac`. Each header's
//! `tp_next_offset` leads to the next packet; the last one has 0.

use std::mem::offset_of;

/// Size of the part of a block descriptor we read (`tpacket_block_desc` with `tpacket_hdr_v1`).
pub const BLOCK_DESC_LEN: usize = 48;
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;

/// `tpacket3_hdr` field offsets.
const PKT_NEXT_OFFSET: usize = 0;
const PKT_SEC: usize = 4;
const PKT_NSEC: usize = 8;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_STATUS: usize = 20;
const PKT_MAC: usize = 24;
const PKT_VLAN_TCI: usize = 32;
const PKT_VLAN_TPID: usize = 36;
/// `sockaddr_ll` offset from the packet header: `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`.
const PKT_SLL: usize = 48;
/// End of `tpacket3_hdr` + `sockaddr_ll` (`TPACKET3_HDRLEN`): headroom starts here.
pub const PKT_HDR_LEN: usize = PKT_SLL + 20;

// The offsets above are the kernel ABI; check them against libc's definitions.
const _: () = {
    assert!(offset_of!(libc::tpacket_block_desc, hdr) == 8);
    assert!(std::mem::size_of::<libc::tpacket_block_desc>() == BLOCK_DESC_LEN);
    assert!(offset_of!(libc::tpacket_hdr_v1, num_pkts) == BLOCK_NUM_PKTS - 8);
    assert!(offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt) == BLOCK_FIRST_PKT - 8);
    assert!(offset_of!(libc::tpacket3_hdr, tp_next_offset) == PKT_NEXT_OFFSET);
    assert!(offset_of!(libc::tpacket3_hdr, tp_sec) == PKT_SEC);
    assert!(offset_of!(libc::tpacket3_hdr, tp_nsec) == PKT_NSEC);
    assert!(offset_of!(libc::tpacket3_hdr, tp_snaplen) == PKT_SNAPLEN);
    assert!(offset_of!(libc::tpacket3_hdr, tp_len) == PKT_LEN);
    assert!(offset_of!(libc::tpacket3_hdr, tp_status) == PKT_STATUS);
    assert!(offset_of!(libc::tpacket3_hdr, tp_mac) == PKT_MAC);
    assert!(
        offset_of!(libc::tpacket3_hdr, hv1) + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci)
            == PKT_VLAN_TCI
    );
    assert!(
        offset_of!(libc::tpacket3_hdr, hv1) + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tpid)
            == PKT_VLAN_TPID
    );
    assert!(std::mem::size_of::<libc::tpacket3_hdr>() == PKT_SLL);
    assert!(std::mem::size_of::<libc::sockaddr_ll>() == 20);
    assert!(libc::TPACKET3_HDRLEN == PKT_HDR_LEN);
};

/// Offset of a block's status word (read and written atomically by the ring owner).
pub const BLOCK_STATUS_OFFSET: usize = BLOCK_STATUS;
/// Offset of a block's packet count (the kernel updates it while it fills the block).
pub const BLOCK_NUM_PKTS_OFFSET: usize = BLOCK_NUM_PKTS;

/// Length of the LINUX_SLL2 pseudo-header.
pub const SLL2_LEN: usize = 20;
/// Length of an 802.1Q tag.
pub const VLAN_TAG_LEN: usize = 4;

const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const ETH_ADDRS_LEN: usize = 12;

/// A block that does not look like the kernel wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The descriptor or a packet header lies (partly) outside the block.
    HeaderOutOfBounds { offset: usize },
    /// A packet's captured bytes lie outside the block or overlap its header.
    DataOutOfBounds { offset: usize },
    /// `tp_next_offset` does not move forward, or points outside the block.
    BadNextOffset { offset: usize },
}

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingError::HeaderOutOfBounds { offset } => {
                write!(f, "ring block: header at {offset} outside the block")
            }
            RingError::DataOutOfBounds { offset } => {
                write!(f, "ring block: packet data at {offset} outside the block")
            }
            RingError::BadNextOffset { offset } => {
                write!(f, "ring block: bad next-packet offset at {offset}")
            }
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes))
}

/// The link-layer address record the kernel stores after each packet header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkAddr {
    /// `sll_protocol`, in host order.
    pub protocol: u16,
    pub ifindex: i32,
    pub hatype: u16,
    pub pkttype: u8,
    pub halen: u8,
    pub addr: [u8; 8],
}

/// One packet's header, as read from the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    /// Offset of this header in the block.
    pub offset: usize,
    pub sec: u32,
    pub nsec: u32,
    /// Bytes captured.
    pub snaplen: u32,
    /// Bytes on the wire.
    pub len: u32,
    pub status: u32,
    /// Offset of the captured bytes from the header.
    pub mac: u16,
    pub vlan_tci: u16,
    pub vlan_tpid: u16,
    pub link: LinkAddr,
}

impl PacketHeader {
    /// Reads and checks the header at `offset`: the header, the address record and the captured
    /// bytes all lie inside `block`, and the data does not overlap the header.
    pub fn parse(block: &[u8], offset: usize) -> Result<(PacketHeader, u32), RingError> {
        let oob = RingError::HeaderOutOfBounds { offset };
        let end = offset.checked_add(PKT_HDR_LEN).ok_or(oob)?;
        let h = block.get(offset..end).ok_or(oob)?;
        let field32 = |at| u32_at(h, at).ok_or(oob);
        let field16 = |at| u16_at(h, at).ok_or(oob);
        let next = field32(PKT_NEXT_OFFSET)?;
        let snaplen = field32(PKT_SNAPLEN)?;
        let mac = field16(PKT_MAC)?;
        let sll = h.get(PKT_SLL..PKT_HDR_LEN).ok_or(oob)?;
        let mut addr = [0u8; 8];
        addr.copy_from_slice(sll.get(12..20).ok_or(oob)?);
        let link = LinkAddr {
            protocol: u16::from_be_bytes([*sll.get(2).ok_or(oob)?, *sll.get(3).ok_or(oob)?]),
            ifindex: i32::from_ne_bytes(sll.get(4..8).ok_or(oob)?.try_into().map_err(|_| oob)?),
            hatype: u16_at(sll, 8).ok_or(oob)?,
            pkttype: *sll.get(10).ok_or(oob)?,
            halen: *sll.get(11).ok_or(oob)?,
            addr,
        };
        let header = PacketHeader {
            offset,
            sec: field32(PKT_SEC)?,
            nsec: field32(PKT_NSEC)?,
            snaplen,
            len: field32(PKT_LEN)?,
            status: field32(PKT_STATUS)?,
            mac,
            vlan_tci: field32(PKT_VLAN_TCI)? as u16,
            vlan_tpid: field16(PKT_VLAN_TPID)?,
            link,
        };
        let bad_data = RingError::DataOutOfBounds { offset };
        if usize::from(mac) < PKT_HDR_LEN {
            return Err(bad_data);
        }
        let data_end = header
            .data_start()
            .checked_add(snaplen as usize)
            .ok_or(bad_data)?;
        if data_end > block.len() {
            return Err(bad_data);
        }
        Ok((header, next))
    }

    /// Offset of the captured bytes in the block.
    pub fn data_start(&self) -> usize {
        self.offset + usize::from(self.mac)
    }

    /// Free bytes between the address record and the captured bytes.
    pub fn headroom(&self) -> usize {
        usize::from(self.mac).saturating_sub(PKT_HDR_LEN)
    }
}

/// Reads a block descriptor: (packet count, offset of the first packet).
pub fn block_packets(block: &[u8]) -> Result<(u32, usize), RingError> {
    let oob = RingError::HeaderOutOfBounds { offset: 0 };
    let num = u32_at(block, BLOCK_NUM_PKTS).ok_or(oob)?;
    let first = u32_at(block, BLOCK_FIRST_PKT).ok_or(oob)? as usize;
    Ok((num, first))
}

/// Walks the packets of one block in order, checking every offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockWalker {
    next: usize,
    remaining: u32,
    error: Option<RingError>,
}

impl BlockWalker {
    /// Starts a walk over `block`, whose descriptor says how many packets it holds.
    pub fn new(block: &[u8]) -> BlockWalker {
        match block_packets(block) {
            Ok((num, first)) if num == 0 || (first >= BLOCK_DESC_LEN && first < block.len()) => {
                BlockWalker {
                    next: first,
                    remaining: num,
                    error: None,
                }
            }
            Ok((_, first)) => BlockWalker {
                error: Some(RingError::HeaderOutOfBounds { offset: first }),
                ..BlockWalker::default()
            },
            Err(e) => BlockWalker {
                error: Some(e),
                ..BlockWalker::default()
            },
        }
    }

    /// Packets not yet returned.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// Why the walk ended early, if it did: the rest of the block is unreadable.
    pub fn error(&self) -> Option<RingError> {
        self.error
    }

    /// The next packet's header, `None` after the last one or at the first malformed header.
    pub fn next_packet(&mut self, block: &[u8]) -> Option<PacketHeader> {
        if self.remaining == 0 {
            return None;
        }
        let at = self.next;
        let (header, next) = match PacketHeader::parse(block, at) {
            Ok(p) => p,
            Err(e) => {
                self.remaining = 0;
                self.error = Some(e);
                return None;
            }
        };
        self.remaining -= 1;
        if self.remaining > 0 {
            // The next header must start past this packet's data, inside the block.
            let data_end = header.data_start().saturating_add(header.snaplen as usize);
            match at.checked_add(next as usize) {
                Some(n) if next != 0 && n >= data_end && n < block.len() => self.next = n,
                _ => {
                    self.remaining = 0;
                    self.error = Some(RingError::BadNextOffset { offset: at });
                }
            }
        }
        Some(header)
    }
}

/// How captured bytes are handed to the analyzer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Ethernet frames (SOCK_RAW on Ethernet / loopback); a VLAN tag the NIC stripped is put back.
    Ethernet,
    /// Network-layer packets as captured (SOCK_RAW on raw-IP devices).
    Raw,
    /// Network-layer packets (SOCK_DGRAM) behind a synthesised LINUX_SLL2 header.
    CookedSll2,
}

impl Framing {
    /// Headroom this framing needs in front of the captured bytes (`PACKET_RESERVE`).
    pub fn reserve(self) -> usize {
        match self {
            Framing::Ethernet => VLAN_TAG_LEN,
            Framing::Raw => 0,
            Framing::CookedSll2 => SLL2_LEN,
        }
    }
}

/// The bytes of a prepared packet: `block[start..end]`, `orig_len` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub start: usize,
    pub end: usize,
    pub orig_len: u32,
}

/// The LINUX_SLL2 header for a packet with this address record (libpcap's layout: protocol,
/// reserved, interface index, ARPHRD type, packet type, address length, 8 address bytes; all
/// big-endian).
pub fn sll2_header(link: &LinkAddr) -> [u8; SLL2_LEN] {
    let mut h = [0u8; SLL2_LEN];
    h[0..2].copy_from_slice(&link.protocol.to_be_bytes());
    h[4..8].copy_from_slice(&link.ifindex.to_be_bytes());
    h[8..10].copy_from_slice(&link.hatype.to_be_bytes());
    h[10] = link.pkttype;
    let halen = usize::from(link.halen).min(8);
    h[11] = link.halen;
    h[12..12 + halen].copy_from_slice(&link.addr[..halen]);
    h
}

/// Makes the packet described by `header` ready for the analyzer, writing in place into the
/// headroom in front of it: a LINUX_SLL2 header in cooked mode, or the VLAN tag the kernel moved
/// into the header on Ethernet. Never writes outside the headroom or the packet's own bytes.
pub fn prepare(
    block: &mut [u8],
    header: &PacketHeader,
    framing: Framing,
) -> Result<Prepared, RingError> {
    let bad = RingError::DataOutOfBounds {
        offset: header.offset,
    };
    let start = header.data_start();
    let snaplen = header.snaplen as usize;
    let end = start.checked_add(snaplen).ok_or(bad)?;
    if end > block.len() {
        return Err(bad);
    }
    match framing {
        Framing::Raw => Ok(Prepared {
            start,
            end,
            orig_len: header.len,
        }),
        Framing::CookedSll2 => {
            if header.headroom() < SLL2_LEN {
                return Err(bad);
            }
            let new_start = start - SLL2_LEN;
            let slot = block.get_mut(new_start..start).ok_or(bad)?;
            slot.copy_from_slice(&sll2_header(&header.link));
            Ok(Prepared {
                start: new_start,
                end,
                orig_len: header.len.saturating_add(SLL2_LEN as u32),
            })
        }
        Framing::Ethernet => {
            let tagged = header.status & TP_STATUS_VLAN_VALID != 0;
            if !tagged || snaplen < ETH_ADDRS_LEN {
                return Ok(Prepared {
                    start,
                    end,
                    orig_len: header.len,
                });
            }
            if header.headroom() < VLAN_TAG_LEN {
                return Err(bad);
            }
            let tpid = if header.status & TP_STATUS_VLAN_TPID_VALID != 0 && header.vlan_tpid != 0 {
                header.vlan_tpid
            } else {
                0x8100
            };
            let new_start = start - VLAN_TAG_LEN;
            let region = block.get_mut(new_start..start + ETH_ADDRS_LEN).ok_or(bad)?;
            region.copy_within(VLAN_TAG_LEN..VLAN_TAG_LEN + ETH_ADDRS_LEN, 0);
            let tag = region
                .get_mut(ETH_ADDRS_LEN..ETH_ADDRS_LEN + VLAN_TAG_LEN)
                .ok_or(bad)?;
            tag[..2].copy_from_slice(&tpid.to_be_bytes());
            tag[2..].copy_from_slice(&header.vlan_tci.to_be_bytes());
            Ok(Prepared {
                start: new_start,
                end,
                orig_len: header.len.saturating_add(VLAN_TAG_LEN as u32),
            })
        }
    }
}

/// Builds blocks laid out exactly as `tpacket_rcv` / `prb_fill_curr_block` lay them out, for
/// tests here and in the source.
#[cfg(test)]
pub(crate) mod synth {
    use super::*;

    pub const TPACKET_ALIGNMENT: usize = 16;
    pub const V3_ALIGNMENT: usize = 8;

    pub fn align(x: usize, to: usize) -> usize {
        x.div_ceil(to) * to
    }

    #[derive(Clone, Debug)]
    pub struct SynthPacket {
        pub data: Vec<u8>,
        pub wire_len: u32,
        pub sec: u32,
        pub nsec: u32,
        pub status: u32,
        pub vlan_tci: u16,
        pub vlan_tpid: u16,
        pub link: LinkAddr,
        /// Link-header bytes at the start of `data` (SOCK_RAW); 0 for SOCK_DGRAM.
        pub maclen: usize,
    }

    impl SynthPacket {
        pub fn new(data: &[u8]) -> SynthPacket {
            SynthPacket {
                data: data.to_vec(),
                wire_len: data.len() as u32,
                sec: 1_700_000_000,
                nsec: 123_456_789,
                status: 1,
                vlan_tci: 0,
                vlan_tpid: 0,
                link: LinkAddr::default(),
                maclen: 0,
            }
        }
    }

    /// A block of `size` bytes holding `packets`, with `reserve` bytes of `PACKET_RESERVE`.
    /// `dgram` selects the SOCK_DGRAM layout. Returns the block and each packet's header offset.
    pub fn block(
        size: usize,
        reserve: usize,
        dgram: bool,
        packets: &[SynthPacket],
    ) -> (Vec<u8>, Vec<usize>) {
        let mut b = vec![0u8; size];
        let first = BLOCK_DESC_LEN;
        b[BLOCK_STATUS..BLOCK_STATUS + 4].copy_from_slice(&1u32.to_ne_bytes());
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4]
            .copy_from_slice(&(packets.len() as u32).to_ne_bytes());
        b[BLOCK_FIRST_PKT..BLOCK_FIRST_PKT + 4].copy_from_slice(&(first as u32).to_ne_bytes());
        let mut at = first;
        let mut offsets = Vec::new();
        let hdrlen = PKT_HDR_LEN;
        for (i, p) in packets.iter().enumerate() {
            let macoff = if dgram {
                align(hdrlen, TPACKET_ALIGNMENT) + 16 + reserve
            } else {
                let netoff = align(hdrlen + p.maclen.max(16), TPACKET_ALIGNMENT) + reserve;
                netoff - p.maclen
            };
            let len = macoff + p.data.len();
            let next = if i + 1 == packets.len() {
                0
            } else {
                align(len, V3_ALIGNMENT)
            };
            let h = &mut b[at..at + hdrlen];
            h[PKT_NEXT_OFFSET..][..4].copy_from_slice(&(next as u32).to_ne_bytes());
            h[PKT_SEC..][..4].copy_from_slice(&p.sec.to_ne_bytes());
            h[PKT_NSEC..][..4].copy_from_slice(&p.nsec.to_ne_bytes());
            h[PKT_SNAPLEN..][..4].copy_from_slice(&(p.data.len() as u32).to_ne_bytes());
            h[PKT_LEN..][..4].copy_from_slice(&p.wire_len.to_ne_bytes());
            h[PKT_STATUS..][..4].copy_from_slice(&p.status.to_ne_bytes());
            h[PKT_MAC..][..2].copy_from_slice(&(macoff as u16).to_ne_bytes());
            h[PKT_MAC + 2..][..2].copy_from_slice(&((macoff + p.maclen) as u16).to_ne_bytes());
            h[PKT_VLAN_TCI..][..4].copy_from_slice(&u32::from(p.vlan_tci).to_ne_bytes());
            h[PKT_VLAN_TPID..][..2].copy_from_slice(&p.vlan_tpid.to_ne_bytes());
            let sll = &mut h[PKT_SLL..];
            sll[0..2].copy_from_slice(&17u16.to_ne_bytes());
            sll[2..4].copy_from_slice(&p.link.protocol.to_be_bytes());
            sll[4..8].copy_from_slice(&p.link.ifindex.to_ne_bytes());
            sll[8..10].copy_from_slice(&p.link.hatype.to_ne_bytes());
            sll[10] = p.link.pkttype;
            sll[11] = p.link.halen;
            sll[12..20].copy_from_slice(&p.link.addr);
            b[at + macoff..at + len].copy_from_slice(&p.data);
            offsets.push(at);
            at += align(len, V3_ALIGNMENT);
        }
        (b, offsets)
    }
}

#[cfg(test)]
mod tests {
    use super::synth::{SynthPacket, block};
    use super::*;
    use proptest::prelude::*;

    fn walk(b: &[u8]) -> (Vec<PacketHeader>, Option<RingError>) {
        let mut w = BlockWalker::new(b);
        let mut out = Vec::new();
        while let Some(h) = w.next_packet(b) {
            out.push(h);
        }
        (out, w.error())
    }

    fn eth_frame(n: u8) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        f.extend(std::iter::repeat_n(n, 40 + usize::from(n)));
        f
    }

    #[test]
    fn walks_every_packet_of_a_kernel_style_block() {
        let pkts: Vec<SynthPacket> = (0..5u8)
            .map(|i| {
                let mut p = SynthPacket::new(&eth_frame(i));
                p.maclen = 14;
                p.nsec = u32::from(i);
                p
            })
            .collect();
        let (b, offsets) = block(1 << 16, 4, false, &pkts);
        let (headers, err) = walk(&b);
        assert_eq!(err, None);
        assert_eq!(headers.len(), 5);
        for ((h, p), off) in headers.iter().zip(&pkts).zip(&offsets) {
            assert_eq!(h.offset, *off);
            assert_eq!(h.nsec, p.nsec);
            assert_eq!(h.sec, p.sec);
            assert_eq!(h.len, p.wire_len);
            let prepared = prepare(&mut b.clone(), h, Framing::Ethernet).unwrap();
            assert_eq!(&b[prepared.start..prepared.end], &p.data[..]);
            assert!(h.headroom() >= 4);
        }
    }

    #[test]
    fn an_empty_block_yields_nothing() {
        let (b, _) = block(4096, 0, true, &[]);
        assert_eq!(walk(&b), (vec![], None));
    }

    #[test]
    fn a_truncated_packet_keeps_its_wire_length() {
        let mut p = SynthPacket::new(&[0x45; 60]);
        p.wire_len = 1500;
        let (mut b, _) = block(4096, 0, true, &[p]);
        let (h, _) = walk(&b);
        let prepared = prepare(&mut b, &h[0], Framing::Raw).unwrap();
        assert_eq!(
            (prepared.end - prepared.start, prepared.orig_len),
            (60, 1500)
        );
    }

    #[test]
    fn cooked_mode_synthesises_sll2_in_the_headroom() {
        let mut p = SynthPacket::new(&[0x45, 0, 0, 20]);
        p.link = LinkAddr {
            protocol: 0x0800,
            ifindex: 2,
            hatype: 1,
            pkttype: 4,
            halen: 6,
            addr: [0x02, 0, 0, 0, 0, 0x01, 0xee, 0xee],
        };
        p.wire_len = 84;
        let (mut b, _) = block(4096, SLL2_LEN, true, &[p]);
        let (h, _) = walk(&b);
        let before = b.clone();
        let prepared = prepare(&mut b, &h[0], Framing::CookedSll2).unwrap();
        assert_eq!(
            &b[prepared.start..prepared.end],
            &[
                0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 0x02, 0, 0, 0, 0, 0x01, 0, 0, 0x45, 0, 0,
                20
            ][..]
        );
        assert_eq!(prepared.orig_len, 84 + 20);
        // Nothing outside the headroom changed.
        assert_eq!(&b[..prepared.start], &before[..prepared.start]);
        assert_eq!(
            &b[prepared.start + SLL2_LEN..],
            &before[prepared.start + SLL2_LEN..]
        );
    }

    #[test]
    fn sll2_header_truncates_oversized_address_length() {
        let link = LinkAddr {
            protocol: 0x86dd,
            ifindex: -1,
            hatype: 772,
            pkttype: 0,
            halen: 200,
            addr: [1, 2, 3, 4, 5, 6, 7, 8],
        };
        let h = sll2_header(&link);
        assert_eq!(
            &h[..12],
            &[0x86, 0xdd, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x03, 0x04, 0, 200]
        );
        assert_eq!(&h[12..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_stripped_vlan_tag_is_put_back() {
        for (status, tpid, expect_tpid) in [(0x11, 0, 0x8100u16), (0x51, 0x88a8, 0x88a8)] {
            let mut p = SynthPacket::new(&eth_frame(0));
            p.maclen = 14;
            p.status = status;
            p.vlan_tci = 0x2064;
            p.vlan_tpid = tpid;
            let wire = p.wire_len;
            let (mut b, _) = block(4096, VLAN_TAG_LEN, false, &[p.clone()]);
            let (h, _) = walk(&b);
            let prepared = prepare(&mut b, &h[0], Framing::Ethernet).unwrap();
            let data = &b[prepared.start..prepared.end];
            assert_eq!(&data[..12], &p.data[..12]);
            assert_eq!(&data[12..14], &expect_tpid.to_be_bytes());
            assert_eq!(&data[14..16], &[0x20, 0x64]);
            assert_eq!(&data[16..], &p.data[12..]);
            assert_eq!(prepared.orig_len, wire + 4);
        }
    }

    #[test]
    fn missing_headroom_is_an_error_not_an_overwrite() {
        let mut p = SynthPacket::new(&[1, 2, 3, 4]);
        p.maclen = 0;
        let (mut b, _) = block(4096, 0, true, &[p]);
        let (mut h, _) = walk(&b);
        // Pretend the kernel left no room (tp_mac right after the address record).
        h[0].mac = PKT_HDR_LEN as u16;
        assert!(prepare(&mut b, &h[0], Framing::CookedSll2).is_err());
    }

    #[test]
    fn corrupt_next_offset_ends_the_walk_after_the_good_packets() {
        let pkts: Vec<SynthPacket> = (0..3).map(|i| SynthPacket::new(&eth_frame(i))).collect();
        let (mut b, offsets) = block(8192, 0, true, &pkts);
        // Second packet points backwards.
        let at = offsets[1] + PKT_NEXT_OFFSET;
        b[at..at + 4].copy_from_slice(&8u32.to_ne_bytes());
        let (headers, err) = walk(&b);
        assert_eq!(headers.len(), 2);
        assert_eq!(err, Some(RingError::BadNextOffset { offset: offsets[1] }));
    }

    #[test]
    fn lying_counts_and_offsets_are_caught() {
        let pkts = [SynthPacket::new(&eth_frame(1))];
        // More packets claimed than present: the walk stops at the zero next-offset.
        let (mut b, _) = block(4096, 0, true, &pkts);
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&1000u32.to_ne_bytes());
        let (headers, err) = walk(&b);
        assert_eq!(headers.len(), 1);
        assert!(matches!(err, Some(RingError::BadNextOffset { .. })));
        // First packet beyond the block.
        let (mut b, _) = block(4096, 0, true, &pkts);
        b[BLOCK_FIRST_PKT..BLOCK_FIRST_PKT + 4].copy_from_slice(&5000u32.to_ne_bytes());
        assert!(matches!(walk(&b), (h, Some(RingError::HeaderOutOfBounds { .. })) if h.is_empty()));
        // Data running past the end of the block.
        let (mut b, offsets) = block(4096, 0, true, &pkts);
        let at = offsets[0] + PKT_SNAPLEN;
        b[at..at + 4].copy_from_slice(&4000u32.to_ne_bytes());
        assert!(matches!(walk(&b), (h, Some(RingError::DataOutOfBounds { .. })) if h.is_empty()));
        // Data overlapping the header.
        let (mut b, offsets) = block(4096, 0, true, &pkts);
        let at = offsets[0] + PKT_MAC;
        b[at..at + 2].copy_from_slice(&10u16.to_ne_bytes());
        assert!(matches!(walk(&b), (h, Some(RingError::DataOutOfBounds { .. })) if h.is_empty()));
        // A block too small for its own descriptor.
        assert!(walk(&[0u8; 10]).1.is_some());
    }

    proptest! {
        #[test]
        fn any_bytes_walk_without_panicking_and_stay_inside(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            framing in prop_oneof![Just(Framing::Ethernet), Just(Framing::Raw), Just(Framing::CookedSll2)],
        ) {
            let mut b = bytes;
            let mut w = BlockWalker::new(&b);
            let mut n = 0;
            while let Some(h) = w.next_packet(&b) {
                prop_assert!(h.data_start() + h.snaplen as usize <= b.len());
                prop_assert!(usize::from(h.mac) >= PKT_HDR_LEN);
                if let Ok(p) = prepare(&mut b, &h, framing) {
                    prop_assert!(p.start <= p.end && p.end <= b.len());
                    prop_assert!(p.start >= h.offset + PKT_HDR_LEN);
                }
                n += 1;
                prop_assert!(n <= 2048);
            }
        }

        #[test]
        fn well_formed_blocks_round_trip(
            sizes in prop::collection::vec(0usize..300, 0..20),
            dgram in any::<bool>(),
        ) {
            let pkts: Vec<SynthPacket> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let mut p = SynthPacket::new(&vec![i as u8; n]);
                    p.nsec = i as u32;
                    p.maclen = if dgram { 0 } else { n.min(14) };
                    p
                })
                .collect();
            let (mut b, _) = block(1 << 16, SLL2_LEN, dgram, &pkts);
            let framing = if dgram { Framing::CookedSll2 } else { Framing::Raw };
            let (headers, err) = walk(&b);
            prop_assert_eq!(err, None);
            prop_assert_eq!(headers.len(), pkts.len());
            for (h, p) in headers.iter().zip(&pkts) {
                let prepared = prepare(&mut b, h, framing).unwrap();
                let data = &b[prepared.start..prepared.end];
                let skip = if dgram { SLL2_LEN } else { 0 };
                prop_assert_eq!(&data[skip..], &p.data[..]);
                prop_assert_eq!(h.nsec, p.nsec);
            }
        }
    }
}
