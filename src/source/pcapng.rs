//! pcapng: a block walker over sections, interfaces and packet blocks.
//!
//! Why not `pcap_file::pcapng::PcapNgParser`: measured against pcap-file 3.0.0-rc.3, its
//! `next_block` costs ~60 ns per Enhanced Packet Block (~95 ns with options, which it collects
//! into a freshly allocated `Vec` per packet); it rejects `orig_len < caplen`, timestamps that a
//! negative `if_tsoffset` puts before 1970, and `if_tsresol` finer than 10^-9 or 2^-29 (the
//! format allows, and Wireshark reads, up to 10^-19 and 2^-63); and a malformed option or a
//! malformed Name Resolution / Statistics block anywhere ends the whole file. We only need four
//! block types, all fixed layouts, so this walker reads them directly and skips everything else
//! after checking its framing. It is zero-copy and allocation-free per packet.
//!
//! Promise: every block's framing is checked (length ≥ 12, multiple of 4, at most
//! [`MAX_RECORD`], trailer equal to header) before its body is read; a packet's captured length
//! must fit inside its block. Errors point at the start of the offending block.

use super::bytes::{Endian, array};
use super::record::{MAX_RECORD, ParseError, Record, SecretsRecord, Step};
use super::{LinkType, MAX_CAPLEN};
use crate::time::Timestamp;

const SECTION_HEADER: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const INTERFACE_DESCRIPTION: u32 = 1;
const PACKET_OBSOLETE: u32 = 2;
const SIMPLE_PACKET: u32 = 3;
const ENHANCED_PACKET: u32 = 6;
const DECRYPTION_SECRETS: u32 = 0x0000_000a;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// More interfaces than any real capture has; a bound on the per-section table.
const MAX_INTERFACES: usize = 65_536;

/// How a raw 64-bit timestamp becomes nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsScale {
    /// 10^-e with e ≤ 9: multiply by 10^(9-e).
    Mul(u64),
    /// 10^-e with 9 < e ≤ 19: divide by 10^(e-9).
    Div(u64),
    /// 2^-e: `raw * 10^9 >> e`.
    Shift(u32),
}

impl TsScale {
    fn from_tsresol(tsresol: u8) -> Option<TsScale> {
        let exp = u32::from(tsresol & 0x7f);
        if tsresol & 0x80 != 0 {
            return (exp <= 63).then_some(TsScale::Shift(exp));
        }
        match exp {
            0..=9 => Some(TsScale::Mul(10u64.pow(9 - exp))),
            10..=19 => Some(TsScale::Div(10u64.pow(exp - 9))),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    scale: TsScale,
    offset_ns: i128,
}

impl Interface {
    fn timestamp(&self, raw: u64) -> Timestamp {
        // raw ≤ 1.9e19 and factors ≤ 1e9, so nothing here overflows 128 bits.
        let ns = match self.scale {
            TsScale::Mul(m) => i128::from(raw) * i128::from(m),
            TsScale::Div(d) => i128::from(raw / d),
            TsScale::Shift(s) => ((u128::from(raw) * 1_000_000_000) >> s) as i128,
        };
        let ns = ns + self.offset_ns;
        Timestamp(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }
}

#[derive(Debug)]
struct Section {
    endian: Endian,
    interfaces: Vec<Interface>,
}

/// State across blocks: the current section and its interfaces.
#[derive(Debug)]
pub(crate) struct PcapNgFormat {
    section: Option<Section>,
    /// Simple Packet Blocks carry no time; they get the previous packet's, so that capture-time
    /// logic downstream (idle timeouts) sees a sane clock.
    last_ts: Timestamp,
}

impl PcapNgFormat {
    pub(crate) fn new() -> Self {
        PcapNgFormat {
            section: None,
            last_ts: Timestamp::ZERO,
        }
    }

    pub(crate) fn step(&mut self, input: &[u8], at_eof: bool) -> Result<Step, ParseError> {
        if input.is_empty() && at_eof {
            return match self.section {
                Some(_) => Ok(Step::End),
                None => Err(ParseError::new(0, "pcapng file without a section header")),
            };
        }
        let is_shb = input.starts_with(&SECTION_HEADER);
        let header_len = if is_shb { 12 } else { 8 };
        if input.len() < header_len {
            if at_eof {
                return Err(ParseError::new(
                    0,
                    format!(
                        "file ends inside a block header ({} of {header_len} bytes)",
                        input.len()
                    ),
                ));
            }
            return Ok(Step::NeedMore(header_len));
        }
        let endian = if is_shb {
            match array::<4>(input, 8).map(u32::from_be_bytes) {
                Some(0x1a2b_3c4d) => Endian::Big,
                Some(0x4d3c_2b1a) => Endian::Little,
                other => {
                    return Err(ParseError::new(
                        0,
                        format!(
                            "section header with bad byte-order magic 0x{:08x}",
                            other.unwrap_or(0)
                        ),
                    ));
                }
            }
        } else {
            match &self.section {
                Some(s) => s.endian,
                None => {
                    return Err(ParseError::new(
                        0,
                        "pcapng file does not start with a section header",
                    ));
                }
            }
        };
        let block_type = endian.u32(input, 0);
        let len32 = endian.u32(input, 4);
        let min_len = if is_shb { 28 } else { 12 };
        if len32 < min_len || len32 % 4 != 0 || len32 as usize > MAX_RECORD {
            return Err(ParseError::new(
                0,
                format!(
                    "bad length {len32} for block type 0x{block_type:08x} (must be a multiple \
                     of 4 between {min_len} and {MAX_RECORD})"
                ),
            ));
        }
        let len = len32 as usize;
        if input.len() < len {
            if at_eof {
                return Err(ParseError::new(
                    0,
                    format!(
                        "file ends inside a block of type 0x{block_type:08x} ({} of {len} bytes)",
                        input.len()
                    ),
                ));
            }
            return Ok(Step::NeedMore(len));
        }
        let trailer = endian.u32(input, len - 4);
        if trailer != len32 {
            return Err(ParseError::new(
                0,
                format!(
                    "block length mismatch for block type 0x{block_type:08x}: {len32} at start, \
                     {trailer} at end"
                ),
            ));
        }
        let body = input.get(8..len - 4).unwrap_or_default();
        if is_shb {
            return self.section_header(endian, body, len);
        }
        match block_type {
            INTERFACE_DESCRIPTION => self.interface_description(body, len),
            ENHANCED_PACKET => self.packet(body, len, PacketLayout::Enhanced),
            PACKET_OBSOLETE => self.packet(body, len, PacketLayout::Obsolete),
            SIMPLE_PACKET => self.simple_packet(body, len),
            DECRYPTION_SECRETS => self.decryption_secrets(body, len),
            _ => Ok(Step::Skip(len)),
        }
    }

    fn section_header(
        &mut self,
        endian: Endian,
        body: &[u8],
        len: usize,
    ) -> Result<Step, ParseError> {
        let major = endian.u16(body, 4);
        let minor = endian.u16(body, 6);
        if major != 1 {
            return Err(ParseError::new(
                0,
                format!("unsupported pcapng version {major}.{minor}"),
            ));
        }
        // Interface ids restart with every section; keep the allocation.
        match &mut self.section {
            Some(section) => {
                section.endian = endian;
                section.interfaces.clear();
            }
            None => {
                self.section = Some(Section {
                    endian,
                    interfaces: Vec::new(),
                })
            }
        }
        Ok(Step::Skip(len))
    }

    /// A Decryption Secrets Block: secrets type, length, the secrets, padding, options.
    fn decryption_secrets(&mut self, body: &[u8], len: usize) -> Result<Step, ParseError> {
        let Some(section) = &self.section else {
            return Err(ParseError::new(
                0,
                "decryption secrets block outside a section",
            ));
        };
        if body.len() < 8 {
            return Err(ParseError::new(0, "decryption secrets block too short"));
        }
        let e = section.endian;
        let kind = e.u32(body, 0);
        let secrets_len = e.u32(body, 4) as usize;
        if secrets_len > body.len() - 8 {
            return Err(ParseError::new(
                0,
                format!(
                    "decryption secrets length {secrets_len} exceeds its block ({} bytes)",
                    body.len() - 8
                ),
            ));
        }
        // `body` starts 8 bytes into the block.
        Ok(Step::Secrets(SecretsRecord {
            consumed: len,
            kind,
            data: 16..16 + secrets_len,
        }))
    }

    fn interface_description(&mut self, body: &[u8], len: usize) -> Result<Step, ParseError> {
        let Some(section) = &mut self.section else {
            return Err(ParseError::new(
                0,
                "interface description outside a section",
            ));
        };
        if body.len() < 8 {
            return Err(ParseError::new(0, "interface description block too short"));
        }
        if section.interfaces.len() >= MAX_INTERFACES {
            return Err(ParseError::new(
                0,
                format!("more than {MAX_INTERFACES} interfaces in one section"),
            ));
        }
        let e = section.endian;
        let mut interface = Interface {
            link_type: LinkType(u32::from(e.u16(body, 0))),
            snaplen: e.u32(body, 4),
            scale: TsScale::Mul(1_000),
            offset_ns: 0,
        };
        // Options are read leniently: a malformed option area ends option parsing but not the
        // file, since the packet framing does not depend on it.
        let mut at = 8usize;
        while let Some(end_of_header) = at.checked_add(4).filter(|&end| end <= body.len()) {
            let code = e.u16(body, at);
            let value_len = usize::from(e.u16(body, at + 2));
            if code == OPT_END {
                break;
            }
            let Some(value) = body.get(end_of_header..end_of_header + value_len) else {
                break;
            };
            match code {
                OPT_IF_TSRESOL if value_len == 1 => {
                    let tsresol = value.first().copied().unwrap_or(6);
                    interface.scale = TsScale::from_tsresol(tsresol).ok_or_else(|| {
                        ParseError::new(
                            0,
                            format!(
                                "unsupported if_tsresol 0x{tsresol:02x} (finer than 10^-19 or \
                                 2^-63 seconds)"
                            ),
                        )
                    })?;
                }
                OPT_IF_TSOFFSET if value_len == 8 => {
                    let seconds = e.u64(value, 0) as i64;
                    interface.offset_ns = i128::from(seconds) * 1_000_000_000;
                }
                _ => {}
            }
            at = end_of_header + value_len.next_multiple_of(4);
        }
        section.interfaces.push(interface);
        Ok(Step::Skip(len))
    }

    fn packet(
        &mut self,
        body: &[u8],
        len: usize,
        layout: PacketLayout,
    ) -> Result<Step, ParseError> {
        let Some(section) = &self.section else {
            return Err(ParseError::new(0, "packet block outside a section"));
        };
        let name = layout.name();
        if body.len() < 20 {
            return Err(ParseError::new(0, format!("{name} too short")));
        }
        let e = section.endian;
        let interface_id = match layout {
            PacketLayout::Enhanced => e.u32(body, 0),
            PacketLayout::Obsolete => u32::from(e.u16(body, 0)),
        };
        let ts_raw = (u64::from(e.u32(body, 4)) << 32) | u64::from(e.u32(body, 8));
        let caplen = e.u32(body, 12);
        let orig_len = e.u32(body, 16);
        let Some(interface) = section.interfaces.get(interface_id as usize) else {
            return Err(ParseError::new(
                0,
                format!(
                    "{name} for interface {interface_id}, but this section describes {} \
                     interface(s)",
                    section.interfaces.len()
                ),
            ));
        };
        if caplen > MAX_CAPLEN {
            return Err(ParseError::new(
                0,
                format!("{name} claims {caplen} captured bytes (maximum {MAX_CAPLEN})"),
            ));
        }
        // caplen ≤ MAX_CAPLEN: no overflow.
        if 20 + caplen as usize > body.len() {
            return Err(ParseError::new(
                0,
                format!(
                    "{name} claims {caplen} captured bytes but its block holds {}",
                    body.len() - 20
                ),
            ));
        }
        let start = 8 + 20;
        let ts = interface.timestamp(ts_raw);
        self.last_ts = ts;
        Ok(Step::Packet(Record {
            consumed: len,
            data: start..start + caplen as usize,
            ts,
            orig_len: orig_len.max(caplen),
            link_type: interface.link_type,
            interface: interface_id,
            fraction_overflow: false,
        }))
    }

    fn simple_packet(&mut self, body: &[u8], len: usize) -> Result<Step, ParseError> {
        let Some(section) = &self.section else {
            return Err(ParseError::new(0, "packet block outside a section"));
        };
        let Some(interface) = section.interfaces.first() else {
            return Err(ParseError::new(
                0,
                "simple packet block before any interface description",
            ));
        };
        if body.len() < 4 {
            return Err(ParseError::new(0, "simple packet block too short"));
        }
        let orig_len = section.endian.u32(body, 0);
        // The block holds min(orig_len, snaplen) bytes plus padding.
        let room = body.len() - 4;
        let mut caplen = room.min(orig_len as usize);
        if interface.snaplen != 0 {
            caplen = caplen.min(interface.snaplen as usize);
        }
        if caplen > MAX_CAPLEN as usize {
            return Err(ParseError::new(
                0,
                format!("simple packet block holds {caplen} bytes (maximum {MAX_CAPLEN})"),
            ));
        }
        Ok(Step::Packet(Record {
            consumed: len,
            data: 12..12 + caplen,
            ts: self.last_ts,
            orig_len: orig_len.max(caplen as u32),
            link_type: interface.link_type,
            interface: 0,
            fraction_overflow: false,
        }))
    }
}

#[derive(Clone, Copy)]
enum PacketLayout {
    Enhanced,
    Obsolete,
}

impl PacketLayout {
    fn name(self) -> &'static str {
        match self {
            PacketLayout::Enhanced => "enhanced packet block",
            PacketLayout::Obsolete => "packet block",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::PcapNgBuilder;
    use super::*;

    /// Every record of a complete file, with errors' offsets made absolute.
    fn parse_all(file: &[u8]) -> Result<Vec<(Record, Vec<u8>)>, ParseError> {
        let mut format = PcapNgFormat::new();
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            let rest = &file[pos..];
            match format.step(rest, true).map_err(|e| ParseError {
                at: e.at + pos,
                message: e.message,
            })? {
                Step::Packet(r) => {
                    out.push((r.clone(), rest[r.data.clone()].to_vec()));
                    pos += r.consumed;
                }
                Step::Skip(n) => pos += n,
                Step::Secrets(b) => pos += b.consumed,
                Step::End => return Ok(out),
                Step::NeedMore(n) => panic!("NeedMore({n}) at eof"),
            }
        }
    }

    #[test]
    fn two_interfaces_with_different_link_types_and_resolutions() {
        for big in [false, true] {
            let file = PcapNgBuilder::new(big)
                .interface(1, Some(9), None)
                .interface(101, Some(0x80 | 20), None)
                .epb(0, 1_500_000_000_123_456_789, &[1, 2, 3], 3)
                .epb(1, (3 << 20) | (1 << 19), &[4, 5], 1500)
                .build();
            let got = parse_all(&file).unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].0.link_type, LinkType::ETHERNET);
            assert_eq!(got[0].0.interface, 0);
            assert_eq!(got[0].0.ts, Timestamp(1_500_000_000_123_456_789));
            assert_eq!(got[0].1, vec![1, 2, 3]);
            assert_eq!(got[1].0.link_type, LinkType::RAW);
            assert_eq!(got[1].0.interface, 1);
            assert_eq!(got[1].0.ts, Timestamp(3_500_000_000), "2^-20 resolution");
            assert_eq!(got[1].0.orig_len, 1500);
            assert_eq!(got[1].1, vec![4, 5]);
        }
    }

    #[test]
    fn default_resolution_is_microseconds_and_tsoffset_is_added() {
        let file = PcapNgBuilder::new(false)
            .interface(1, None, Some(100))
            .interface(1, None, Some(-10))
            .epb(0, 1_000_001, &[], 0)
            .epb(1, 1, &[], 0)
            .build();
        let got = parse_all(&file).unwrap();
        assert_eq!(got[0].0.ts, Timestamp(101_000_001_000));
        // A negative offset may put a packet before 1970: representable, not an error.
        assert_eq!(got[1].0.ts, Timestamp(-10_000_000_000 + 1_000));
    }

    #[test]
    fn resolutions_finer_than_nanoseconds() {
        let file = PcapNgBuilder::new(true)
            .interface(1, Some(12), None)
            .interface(1, Some(0x80 | 40), None)
            .epb(0, 5_000_000_123_456, &[], 0)
            .epb(1, 3 << 40, &[], 0)
            .build();
        let got = parse_all(&file).unwrap();
        assert_eq!(
            got[0].0.ts,
            Timestamp(5_000_000_123),
            "10^-12 truncates to ns"
        );
        assert_eq!(got[1].0.ts, Timestamp(3_000_000_000));
    }

    #[test]
    fn unsupported_tsresol_is_an_error_at_its_block() {
        let b = PcapNgBuilder::new(false);
        let at = b.len();
        let file = b.interface(1, Some(20), None).build();
        let err = parse_all(&file).unwrap_err();
        assert_eq!(err.at, at);
        assert!(err.message.contains("if_tsresol"), "{}", err.message);
    }

    fn dsb(big: bool, kind: u32, secrets: &[u8], declared: u32) -> Vec<u8> {
        let mut body = Vec::new();
        let put = |b: &mut Vec<u8>, v: u32| {
            b.extend_from_slice(&if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        put(&mut body, kind);
        put(&mut body, declared);
        body.extend_from_slice(secrets);
        PcapNgBuilder::new(big)
            .idb(1, 0, &[])
            .block(DECRYPTION_SECRETS, &body)
            .epb(0, 1_000, &[0xab], 1)
            .build()
    }

    #[test]
    fn decryption_secrets_blocks_are_handed_out_and_skipped() {
        use crate::source::{Next, PacketSource, Secrets, SliceSource, StreamSource};
        let keys = b"CLIENT_RANDOM 00 11\n"; // 20 bytes: not a multiple of 4, padded
        for big in [false, true] {
            let file = dsb(big, Secrets::TLS_KEY_LOG, keys, keys.len() as u32);
            let mut src = SliceSource::from_slice("a.pcapng", &file, 1);
            match src.next().unwrap() {
                Next::Secrets(s) => {
                    assert_eq!((s.kind, s.data), (Secrets::TLS_KEY_LOG, &keys[..]))
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(src.next().unwrap(), Next::Frame(f) if f.data == [0xab]));
            assert!(matches!(src.next().unwrap(), Next::End));
            // Frame readers never see them.
            let mut src = SliceSource::from_slice("a.pcapng", &file, 1);
            assert_eq!(src.next_frame().unwrap().unwrap().data, &[0xab]);
            assert!(src.next_frame().unwrap().is_none());
            // The streaming source hands them out too.
            let mut src =
                StreamSource::new("-", std::io::Cursor::new(file.clone()), None, 1).unwrap();
            assert!(matches!(src.next().unwrap(), Next::Secrets(s) if s.data == keys));
            assert!(matches!(src.next().unwrap(), Next::Frame(_)));
        }
        // A declared length beyond the block is an error at the block.
        let file = dsb(false, Secrets::TLS_KEY_LOG, keys, 100);
        let err = parse_all(&file).unwrap_err();
        assert!(err.message.contains("exceeds"), "{}", err.message);
        // Other secrets types are handed out too (the caller picks the ones it knows).
        let file = dsb(false, 0x5353_4857, b"wg", 2);
        assert_eq!(parse_all(&file).unwrap().len(), 1);
    }

    #[test]
    fn simple_and_obsolete_packet_blocks() {
        let file = PcapNgBuilder::new(false)
            .idb(1, 4, &[])
            .epb(0, 7_000_000, &[0xee], 1)
            // snaplen 4: a 10-byte packet keeps 4 bytes; padding is not data.
            .spb(&[1, 2, 3, 4], 10)
            .spb(&[9, 8], 2)
            .pb(0, 2_000_000, &[5, 6, 7], 60)
            .build();
        let got = parse_all(&file).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(
            (got[1].0.orig_len, got[1].1.clone()),
            (10, vec![1, 2, 3, 4])
        );
        assert_eq!(
            got[1].0.ts,
            Timestamp(7_000_000_000),
            "SPB reuses the last time"
        );
        assert_eq!((got[2].0.orig_len, got[2].1.clone()), (2, vec![9, 8]));
        assert_eq!(got[3].0.ts, Timestamp(2_000_000_000));
        assert_eq!((got[3].0.orig_len, got[3].1.clone()), (60, vec![5, 6, 7]));
    }

    #[test]
    fn unknown_blocks_and_epb_options_are_skipped() {
        let file = PcapNgBuilder::new(false)
            .block(0x0000_0bad, &[1, 2, 3, 4, 5])
            .interface(1, None, None)
            .block(4, &[0xff; 9]) // a nonsense Name Resolution Block
            .block(5, &[]) // an empty Interface Statistics Block
            .epb_with_options(0, 1, &[1, 2, 3, 4, 5], 5, &[(2, vec![0, 0, 0, 1])])
            .block(0x8000_0001, &[0; 64])
            .build();
        let got = parse_all(&file).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn sections_reset_interfaces_and_may_switch_byte_order() {
        let file = PcapNgBuilder::new(false)
            .interface(1, None, None)
            .interface(113, None, None)
            .epb(1, 0, &[1], 1)
            .section(true)
            .interface(276, Some(9), None)
            .epb(0, 42, &[2], 1)
            .build();
        let got = parse_all(&file).unwrap();
        assert_eq!(got[0].0.link_type, LinkType::LINUX_SLL);
        assert_eq!(got[1].0.link_type, LinkType::LINUX_SLL2);
        assert_eq!(got[1].0.interface, 0);
        assert_eq!(got[1].0.ts, Timestamp(42));

        // Interface 1 of the first section does not exist in the second.
        let b = PcapNgBuilder::new(true)
            .interface(1, None, None)
            .interface(1, None, None)
            .section(false)
            .interface(1, None, None);
        let at = b.len();
        let err = parse_all(&b.epb(1, 0, &[], 0).build()).unwrap_err();
        assert_eq!(err.at, at);
        assert!(err.message.contains("interface 1"), "{}", err.message);
    }

    #[test]
    fn orig_len_below_caplen_is_raised() {
        let file = PcapNgBuilder::new(false)
            .interface(1, None, None)
            .epb(0, 0, &[1, 2, 3, 4], 2)
            .build();
        assert_eq!(parse_all(&file).unwrap()[0].0.orig_len, 4);
    }

    #[test]
    fn bad_block_lengths() {
        let base = PcapNgBuilder::new(false).interface(1, None, None);
        let at = base.len();
        let good = base.epb(0, 0, &[1, 2, 3], 3).build();

        // Not a multiple of 4.
        let mut f = good.clone();
        f[at + 4..at + 8].copy_from_slice(&41u32.to_le_bytes());
        let err = parse_all(&f).unwrap_err();
        assert_eq!(err.at, at);
        assert!(err.message.contains("bad length 41"), "{}", err.message);

        // Too small.
        let mut f = good.clone();
        f[at + 4..at + 8].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(parse_all(&f).unwrap_err().at, at);

        // Absurdly large.
        let mut f = good.clone();
        f[at + 4..at + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        let err = parse_all(&f).unwrap_err();
        assert_eq!(err.at, at);

        // Trailer disagrees.
        let mut f = good.clone();
        let end = f.len();
        f[end - 4..].copy_from_slice(&40u32.to_le_bytes());
        let err = parse_all(&f).unwrap_err();
        assert_eq!(err.at, at);
        assert!(err.message.contains("mismatch"), "{}", err.message);

        // Captured length past the block.
        let mut f = good.clone();
        f[at + 20..at + 24].copy_from_slice(&200u32.to_le_bytes());
        let err = parse_all(&f).unwrap_err();
        assert_eq!(err.at, at);
        assert!(
            err.message.contains("200 captured bytes"),
            "{}",
            err.message
        );

        // Absurd captured length.
        let mut f = good.clone();
        f[at + 20..at + 24].copy_from_slice(&300_000u32.to_le_bytes());
        let err = parse_all(&f).unwrap_err();
        assert!(err.message.contains("maximum"), "{}", err.message);

        // Cut in the middle of the last block.
        let err = parse_all(&good[..good.len() - 2]).unwrap_err();
        assert_eq!(err.at, at);
        assert!(
            err.message.contains("file ends inside a block"),
            "{}",
            err.message
        );
        // Cut in a block header.
        let err = parse_all(&good[..at + 5]).unwrap_err();
        assert_eq!(err.at, at);
    }

    #[test]
    fn bad_section_headers() {
        let mut f = PcapNgBuilder::new(false).build();
        f[8..12].copy_from_slice(&[1, 2, 3, 4]);
        assert!(parse_all(&f).unwrap_err().message.contains("byte-order"));

        let mut f = PcapNgBuilder::new(false).build();
        f[12..14].copy_from_slice(&2u16.to_le_bytes());
        assert!(parse_all(&f).unwrap_err().message.contains("version 2.0"));
    }

    #[test]
    fn packets_need_interfaces() {
        let f = PcapNgBuilder::new(false).spb(&[1], 1).build();
        assert!(
            parse_all(&f)
                .unwrap_err()
                .message
                .contains("before any interface")
        );
        let f = PcapNgBuilder::new(false).epb(0, 0, &[1], 1).build();
        assert!(parse_all(&f).unwrap_err().message.contains("describes 0"));
    }

    #[test]
    fn incomplete_blocks_ask_for_more_without_changing_state() {
        let file = PcapNgBuilder::new(true)
            .interface(1, None, None)
            .epb(0, 0, &[1; 50], 50)
            .build();
        let mut format = PcapNgFormat::new();
        assert_eq!(format.step(&file[..10], false), Ok(Step::NeedMore(12)));
        assert_eq!(format.step(&file[..20], false), Ok(Step::NeedMore(28)));
        let Ok(Step::Skip(n)) = format.step(&file, false) else {
            panic!("SHB")
        };
        let idb = format.step(&file[n..], false).unwrap();
        let Step::Skip(m) = idb else { panic!("IDB") };
        let rest = &file[n + m..];
        assert_eq!(format.step(&rest[..4], false), Ok(Step::NeedMore(8)));
        assert_eq!(
            format.step(&rest[..30], false),
            Ok(Step::NeedMore(rest.len()))
        );
        assert!(matches!(format.step(rest, false), Ok(Step::Packet(_))));
    }
}
