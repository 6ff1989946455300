//! Saving captured packets as a nanosecond-resolution pcap file (`live -w`).
//!
//! Promise: the file on disk is always a valid pcap up to the last whole record that reached it.
//! Each record is assembled in a scratch buffer and handed to the buffered writer in one piece,
//! so a flush — explicit, from `Drop`, or because the buffer filled — never leaves half a record
//! behind. Call [`PcapWriter::flush`] periodically and when capture stops.

use super::{LinkType, MAX_CAPLEN};
use crate::time::Timestamp;
use pcap_file::pcap::{PcapHeader, PcapTsResolution};
use pcap_file::{DataLink, Endianness};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes packets to a pcap file.
pub struct PcapWriter<W: Write = BufWriter<File>> {
    out: W,
    record: Vec<u8>,
    snaplen: u32,
    packets: u64,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(path: &Path, link_type: LinkType, snaplen: u32) -> io::Result<Self> {
        let file = File::create(path)?;
        PcapWriter::new(
            BufWriter::with_capacity(256 << 10, file),
            link_type,
            snaplen,
        )
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `out`. `snaplen` 0 means "no limit" ([`MAX_CAPLEN`]).
    pub fn new(mut out: W, link_type: LinkType, snaplen: u32) -> io::Result<Self> {
        let snaplen = if snaplen == 0 || snaplen > MAX_CAPLEN {
            MAX_CAPLEN
        } else {
            snaplen
        };
        let header = PcapHeader {
            snaplen,
            datalink: DataLink::from(link_type.0),
            ts_resolution: PcapTsResolution::NanoSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        header.write_to(&mut out).map_err(io::Error::other)?;
        Ok(PcapWriter {
            out,
            record: Vec::with_capacity(16 + snaplen as usize),
            snaplen,
            packets: 0,
        })
    }

    /// Appends one packet. Data beyond the snaplen is cut (and `orig_len` keeps the wire
    /// length). Times before 1970 or after 2106 do not fit a pcap record and are clamped.
    pub fn write_packet(&mut self, ts: Timestamp, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let orig_len = orig_len.max(u32::try_from(data.len()).unwrap_or(u32::MAX));
        let data = data.get(..self.snaplen as usize).unwrap_or(data);
        let ns = ts.as_nanos().max(0);
        let secs = ns / 1_000_000_000;
        let (ts_sec, ts_frac) = match u32::try_from(secs) {
            Ok(s) => (s, (ns % 1_000_000_000) as u32),
            Err(_) => (u32::MAX, 999_999_999),
        };
        // data.len() ≤ snaplen ≤ MAX_CAPLEN, so it fits in u32.
        let incl_len = data.len() as u32;
        // Native order, like the header (`Endianness::native()`).
        self.record.clear();
        for field in [ts_sec, ts_frac, incl_len, orig_len] {
            self.record.extend_from_slice(&field.to_ne_bytes());
        }
        self.record.extend_from_slice(data);
        self.out.write_all(&self.record)?;
        self.packets += 1;
        Ok(())
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{PacketSource, from_bytes};

    #[test]
    fn written_file_reads_back() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::LINUX_SLL2, 0).unwrap();
        w.write_packet(Timestamp(1_700_000_000_123_456_789), 100, &[1, 2, 3])
            .unwrap();
        w.write_packet(Timestamp(5), 2, &[4, 5]).unwrap();
        assert_eq!(w.packets(), 2);
        let bytes = w.into_inner().unwrap();
        let mut src = from_bytes("w", &bytes, 1);
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!(f.ts, Timestamp(1_700_000_000_123_456_789));
        assert_eq!((f.orig_len, f.data), (100, &[1u8, 2, 3][..]));
        assert_eq!(f.link_type, LinkType::LINUX_SLL2);
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.ts, f.orig_len, f.data), (Timestamp(5), 2, &[4u8, 5][..]));
        assert!(src.next_frame().unwrap().is_none());
    }

    #[test]
    fn snaplen_cuts_data_and_keeps_wire_length() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 4).unwrap();
        w.write_packet(Timestamp(-7), 0, &[1, 2, 3, 4, 5, 6])
            .unwrap();
        let bytes = w.into_inner().unwrap();
        let mut src = from_bytes("w", &bytes, 1);
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.orig_len, f.data), (6, &[1u8, 2, 3, 4][..]));
        assert_eq!(f.ts, Timestamp(0), "pre-1970 clamps to the epoch");
    }

    /// Everything that reached the file is whole records, whenever the buffer happens to flush.
    #[test]
    fn a_file_cut_at_any_flush_is_valid() {
        #[derive(Debug)]
        struct Chunks(Vec<u8>, Vec<usize>);
        impl Write for Chunks {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.extend_from_slice(buf);
                self.1.push(self.0.len());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = PcapWriter::new(
            BufWriter::with_capacity(100, Chunks(Vec::new(), Vec::new())),
            LinkType::ETHERNET,
            0,
        )
        .unwrap();
        for i in 0..40u8 {
            w.write_packet(Timestamp(i64::from(i)), 0, &vec![i; usize::from(i) * 3])
                .unwrap();
        }
        let Chunks(bytes, cuts) = w.into_inner().unwrap().into_inner().unwrap();
        assert!(cuts.len() > 5);
        for cut in cuts {
            let mut src = from_bytes("w", &bytes[..cut], 1);
            while let Some(f) = src.next_frame().unwrap() {
                assert_eq!(
                    f.data.len(),
                    usize::from(f.data.first().copied().unwrap_or(0)) * 3
                );
            }
        }
    }
}
