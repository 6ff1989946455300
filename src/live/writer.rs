//! `-w FILE`: every captured packet, as a nanosecond pcap file with the capture's link type and a
//! 262144-byte snap length, readable by tshark and `sockscope read`. The caller flushes after
//! every batch, so an interrupted or killed run still leaves a valid file holding all but at most
//! the last batch.

use crate::source::LinkType;
use crate::time::Timestamp;
use pcap_file::pcap::{PcapHeader, PcapTsResolution, PcapWriteError, PcapWriter, RawPcapPacket};
use pcap_file::{DataLink, Endianness};
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Snap length written in the file header; no record is longer.
pub const SNAPLEN: u32 = 262_144;

/// A pcap file being written.
pub struct PcapDump<W: Write> {
    writer: PcapWriter<W>,
    packets: u64,
}

fn io_error(e: PcapWriteError) -> io::Error {
    match e {
        PcapWriteError::Io(e) | PcapWriteError::FieldWriteFailed(_, e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl PcapDump<BufWriter<File>> {
    /// Creates (or truncates) `path`, giving it to `owner` (uid, gid) when set: files written for
    /// the user who ran sudo belong to that user.
    pub fn create(path: &Path, link: LinkType, owner: Option<(u32, u32)>) -> io::Result<Self> {
        let file = File::create(path)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        PcapDump::new(BufWriter::with_capacity(1 << 20, file), link)
    }
}

impl<W: Write> PcapDump<W> {
    /// Writes the file header to `out`.
    pub fn new(out: W, link: LinkType) -> io::Result<Self> {
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: SNAPLEN,
            datalink: DataLink::from(link.0),
            ts_resolution: PcapTsResolution::NanoSecond,
            endianness: Endianness::native(),
        };
        let writer = PcapWriter::with_header(out, header).map_err(io_error)?;
        Ok(PcapDump { writer, packets: 0 })
    }

    /// Appends one packet (cut to [`SNAPLEN`] if longer).
    pub fn write(&mut self, ts: Timestamp, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let ns = ts.as_nanos();
        let secs = u32::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(0);
        let frac = ns.rem_euclid(1_000_000_000) as u32;
        let data = data.get(..SNAPLEN as usize).unwrap_or(data);
        let incl_len = data.len() as u32;
        let packet = RawPcapPacket {
            ts_sec: secs,
            ts_frac: frac,
            incl_len,
            orig_len: orig_len.max(incl_len),
            data: Cow::Borrowed(data),
        };
        self.writer.write_raw_packet(&packet).map_err(io_error)?;
        self.packets += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush().map_err(io_error)
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn into_inner(self) -> W {
        self.writer.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn round_trips_through_a_pcap_reader() {
        let mut dump = PcapDump::new(Vec::new(), LinkType::LINUX_SLL2).unwrap();
        let ts = Timestamp::from_secs_nanos(1_700_000_000, 123_456_789);
        dump.write(ts, 100, &[1, 2, 3]).unwrap();
        dump.write(Timestamp::from_secs_nanos(1_700_000_001, 5), 4, &[9; 4])
            .unwrap();
        assert_eq!(dump.packets(), 2);
        let bytes = dump.into_inner();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        let h = reader.header();
        assert_eq!(h.datalink, DataLink::LINUX_SLL2);
        assert_eq!(h.snaplen, SNAPLEN);
        assert_eq!(h.ts_resolution, PcapTsResolution::NanoSecond);
        let p = reader.next_packet().unwrap().unwrap();
        assert_eq!(
            p.timestamp(),
            std::time::Duration::new(1_700_000_000, 123_456_789)
        );
        assert_eq!((p.orig_len(), p.data()), (100, &[1u8, 2, 3][..]));
        let p = reader.next_packet().unwrap().unwrap();
        assert_eq!(p.timestamp(), std::time::Duration::new(1_700_000_001, 5));
        assert!(reader.next_packet().is_none());
    }

    #[test]
    fn oversized_packets_are_cut_to_the_snap_length() {
        let mut dump = PcapDump::new(Vec::new(), LinkType::ETHERNET).unwrap();
        let big = vec![7u8; SNAPLEN as usize + 20];
        dump.write(Timestamp::ZERO, 0, &big).unwrap();
        let bytes = dump.into_inner();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        let p = reader.next_packet().unwrap().unwrap();
        assert_eq!(p.data().len(), SNAPLEN as usize);
        assert_eq!(p.orig_len(), SNAPLEN);
    }

    #[test]
    fn the_file_belongs_to_the_given_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let target = if uid == 0 { (65534, 65534) } else { (uid, gid) };
        let mut dump = PcapDump::create(&path, LinkType::ETHERNET, Some(target)).unwrap();
        dump.write(Timestamp::ZERO, 1, &[0]).unwrap();
        dump.flush().unwrap();
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), target);
        assert_eq!(meta.len(), 24 + 16 + 1);
    }
}
