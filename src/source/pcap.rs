//! Classic pcap: the 24-byte file header (parsed with the `pcap-file` crate) and the 16-byte
//! packet records that follow it (parsed here).
//!
//! Why records are parsed here rather than with `PcapParser::next_packet`: pcap-file 3.0.0-rc.3
//! rejects files that libpcap, tcpdump and Wireshark read fine — a record longer than the
//! header's snaplen (common with snaplen 0 or edited headers), `orig_len < incl_len`, and a
//! microsecond fraction of 1 000 000 — and it costs ~30 ns per packet where these few loads cost
//! a few. What counts as corrupt here is what cannot be framed: a captured length above
//! [`MAX_CAPLEN`] or past the end of the file.

use super::bytes::Endian;
use super::record::{ParseError, Record, Step};
use super::{LinkType, MAX_CAPLEN};
use crate::time::Timestamp;
use pcap_file::pcap::{PcapHeader, PcapTsResolution};
use pcap_file::{DataLink, Endianness};

/// The file-wide facts every record needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PcapFormat {
    endian: Endian,
    nanos: bool,
    link_type: LinkType,
}

const RECORD_HEADER_LEN: usize = 16;

impl PcapFormat {
    pub(crate) const HEADER_LEN: usize = 24;

    /// The four magic numbers (µs and ns resolution, both byte orders).
    pub(crate) fn is_magic(magic: [u8; 4]) -> bool {
        matches!(
            u32::from_be_bytes(magic),
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xd4c3_b2a1 | 0x4d3c_b2a1
        )
    }

    /// Parses the file header: `Ok(None)` if it is not complete yet.
    pub(crate) fn from_header(
        input: &[u8],
        at_eof: bool,
    ) -> Result<Option<(PcapFormat, usize)>, ParseError> {
        if input.len() < Self::HEADER_LEN {
            if at_eof {
                return Err(ParseError::new(
                    0,
                    format!(
                        "truncated pcap file header ({} of {} bytes)",
                        input.len(),
                        Self::HEADER_LEN
                    ),
                ));
            }
            return Ok(None);
        }
        let (_, header) = PcapHeader::from_slice(input)
            .map_err(|e| ParseError::new(0, format!("bad pcap file header: {e}")))?;
        Ok(Some((
            PcapFormat {
                endian: match header.endianness {
                    Endianness::Big => Endian::Big,
                    Endianness::Little => Endian::Little,
                },
                nanos: header.ts_resolution == PcapTsResolution::NanoSecond,
                link_type: link_type_of(header.datalink),
            },
            Self::HEADER_LEN,
        )))
    }

    pub(crate) fn step(&self, input: &[u8], at_eof: bool) -> Result<Step, ParseError> {
        if input.len() < RECORD_HEADER_LEN {
            return match (input.is_empty(), at_eof) {
                (true, true) => Ok(Step::End),
                (false, true) => Err(ParseError::new(
                    0,
                    format!(
                        "file ends inside a packet record header ({} of {} bytes)",
                        input.len(),
                        RECORD_HEADER_LEN
                    ),
                )),
                (_, false) => Ok(Step::NeedMore(RECORD_HEADER_LEN)),
            };
        }
        let e = self.endian;
        let ts_sec = e.u32(input, 0);
        let ts_frac = e.u32(input, 4);
        let caplen = e.u32(input, 8);
        let orig_len = e.u32(input, 12);
        if caplen > MAX_CAPLEN {
            return Err(ParseError::new(
                0,
                format!("packet record claims {caplen} captured bytes (maximum {MAX_CAPLEN})"),
            ));
        }
        // caplen <= MAX_CAPLEN, so this cannot overflow.
        let end = RECORD_HEADER_LEN + caplen as usize;
        if input.len() < end {
            if at_eof {
                return Err(ParseError::new(
                    0,
                    format!(
                        "file ends inside a packet record ({} of {} bytes)",
                        input.len(),
                        end
                    ),
                ));
            }
            return Ok(Step::NeedMore(end));
        }
        let (frac_ns, fraction_overflow) = if self.nanos {
            (i64::from(ts_frac), ts_frac >= 1_000_000_000)
        } else {
            (i64::from(ts_frac) * 1_000, ts_frac >= 1_000_000)
        };
        Ok(Step::Packet(Record {
            consumed: end,
            data: RECORD_HEADER_LEN..end,
            // Cannot overflow: u32::MAX * 1e9 + u32::MAX * 1e3 < i64::MAX.
            ts: Timestamp(i64::from(ts_sec) * 1_000_000_000 + frac_ns),
            orig_len: orig_len.max(caplen),
            link_type: self.link_type,
            interface: 0,
            fraction_overflow,
        }))
    }
}

/// The LINKTYPE_ value of a header field whose upper 16 bits may carry FCS information.
fn link_type_of(datalink: DataLink) -> LinkType {
    LinkType(u32::from(datalink) & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{PcapBuilder, TestPacket};
    use super::*;

    fn parse_all(file: &[u8]) -> Result<Vec<(Record, Vec<u8>)>, ParseError> {
        let (format, mut pos) = PcapFormat::from_header(file, true)?.expect("complete header");
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
                Step::End => return Ok(out),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn sample() -> Vec<TestPacket> {
        vec![
            TestPacket::new(1_700_000_000_123_456_000, vec![1, 2, 3], 3),
            TestPacket::new(1_700_000_001_000_000_000, vec![], 0),
            TestPacket::new(5, vec![9; 60], 1514),
        ]
    }

    #[test]
    fn all_magics_and_byte_orders() {
        for big in [false, true] {
            for nanos in [false, true] {
                let file = PcapBuilder::new(big, nanos, 1).packets(&sample()).build();
                let got = parse_all(&file).unwrap();
                assert_eq!(got.len(), 3, "big={big} nanos={nanos}");
                for ((rec, data), want) in got.iter().zip(sample()) {
                    let want_ts = if nanos {
                        want.ts
                    } else {
                        want.ts / 1_000 * 1_000
                    };
                    assert_eq!(rec.ts, Timestamp(want_ts));
                    assert_eq!(rec.orig_len, want.orig_len);
                    assert_eq!(*data, want.data);
                    assert_eq!(rec.link_type, LinkType::ETHERNET);
                }
            }
        }
    }

    #[test]
    fn snaplen_truncated_packets_are_delivered_short() {
        // snaplen 64 in the header, a 1514-byte packet cut to 64.
        let file = PcapBuilder::new(false, false, 1)
            .snaplen(64)
            .packet(&TestPacket::new(0, vec![7; 64], 1514))
            .build();
        let got = parse_all(&file).unwrap();
        assert_eq!(got[0].0.orig_len, 1514);
        assert_eq!(got[0].1.len(), 64);
    }

    #[test]
    fn lenient_where_libpcap_is_lenient() {
        // caplen above the header's snaplen (snaplen 0), orig_len below caplen, usec = 1e6.
        let file = PcapBuilder::new(false, false, 1)
            .snaplen(0)
            .raw_record(7, 1_000_000, &[1; 80], 60)
            .build();
        let got = parse_all(&file).unwrap();
        assert_eq!(got[0].1.len(), 80);
        assert_eq!(
            got[0].0.orig_len, 80,
            "orig_len raised to the captured length"
        );
        assert_eq!(got[0].0.ts, Timestamp(8_000_000_000));
        assert!(got[0].0.fraction_overflow, "counted for the summary");
    }

    #[test]
    fn fraction_overflow_is_flagged_per_resolution() {
        for (nanos, at_limit, over) in [
            (false, 999_999, 1_000_000),
            (true, 999_999_999, 1_000_000_000),
        ] {
            let file = PcapBuilder::new(false, nanos, 1)
                .raw_record(7, at_limit, &[1], 1)
                .raw_record(7, over, &[1], 1)
                .build();
            let got = parse_all(&file).unwrap();
            assert!(!got[0].0.fraction_overflow, "nanos={nanos}");
            assert!(got[1].0.fraction_overflow, "nanos={nanos}");
            assert_eq!(got[1].0.ts, Timestamp(8_000_000_000), "nanos={nanos}");
        }
    }

    #[test]
    fn link_type_fcs_bits_are_masked() {
        let file = PcapBuilder::new(true, false, 0x1000_0000 | 1)
            .packet(&TestPacket::new(0, vec![1], 1))
            .build();
        assert_eq!(parse_all(&file).unwrap()[0].0.link_type, LinkType::ETHERNET);
    }

    #[test]
    fn absurd_caplen_is_an_error_at_the_record() {
        let file = PcapBuilder::new(false, true, 1)
            .packet(&TestPacket::new(0, vec![1; 10], 10))
            .raw_record(0, 0, &[], 0)
            .build();
        // Patch the second record's caplen to 300 000.
        let mut file = file;
        let second = 24 + 16 + 10;
        file[second + 8..second + 12].copy_from_slice(&300_000u32.to_le_bytes());
        let err = parse_all(&file).unwrap_err();
        assert_eq!(err.at, second);
        assert!(err.message.contains("300000"), "{}", err.message);
    }

    #[test]
    fn cut_in_the_last_packet_is_an_error_at_its_record() {
        let file = PcapBuilder::new(false, false, 1).packets(&sample()).build();
        let cut = &file[..file.len() - 1];
        let err = parse_all(cut).unwrap_err();
        assert_eq!(err.at, 24 + (16 + 3) + 16);
        assert!(
            err.message.contains("inside a packet record"),
            "{}",
            err.message
        );
        // Cut inside the record header.
        let cut = &file[..24 + 16 + 3 + 5];
        let err = parse_all(cut).unwrap_err();
        assert_eq!(err.at, 24 + 16 + 3);
        assert!(err.message.contains("record header"), "{}", err.message);
    }

    #[test]
    fn truncated_file_header() {
        let file = PcapBuilder::new(false, false, 1).build();
        let err = PcapFormat::from_header(&file[..20], true).unwrap_err();
        assert_eq!(err.at, 0);
        assert_eq!(PcapFormat::from_header(&file[..20], false), Ok(None));
    }

    #[test]
    fn incomplete_record_asks_for_exactly_what_it_needs() {
        let file = PcapBuilder::new(false, false, 1)
            .packet(&TestPacket::new(0, vec![1; 100], 100))
            .build();
        let (format, pos) = PcapFormat::from_header(&file, false).unwrap().unwrap();
        assert_eq!(
            format.step(&file[pos..pos + 3], false),
            Ok(Step::NeedMore(16))
        );
        assert_eq!(
            format.step(&file[pos..pos + 20], false),
            Ok(Step::NeedMore(116))
        );
    }
}
