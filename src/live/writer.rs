//! `-w FILE`: every captured packet, as a nanosecond pcap file with the capture's link type and a
//! 262144-byte snap length, readable by tshark and `sockscope read`. The records are written by
//! [`crate::source::PcapWriter`]; this only creates the file for the right owner. The caller
//! flushes after every batch, so an interrupted or killed run still leaves a valid file holding
//! all but at most the last batch.

use crate::source::{LinkType, PcapWriter};
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

/// Snap length written in the file header; no record is longer.
pub const SNAPLEN: u32 = 262_144;

/// A pcap file being written.
pub type PcapDump = PcapWriter<BufWriter<File>>;

/// Creates (or truncates) `path`, giving it to `owner` (uid, gid) when set: files written for
/// the user who ran sudo belong to that user.
pub fn create(path: &Path, link: LinkType, owner: Option<(u32, u32)>) -> io::Result<PcapDump> {
    let file = File::create(path)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
    }
    PcapWriter::new(BufWriter::with_capacity(1 << 20, file), link, SNAPLEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn the_file_belongs_to_the_given_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let target = if uid == 0 { (65534, 65534) } else { (uid, gid) };
        let mut dump = create(&path, LinkType::ETHERNET, Some(target)).unwrap();
        dump.write_packet(Timestamp::ZERO, 1, &[0]).unwrap();
        dump.flush().unwrap();
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), target);
        assert_eq!(meta.len(), 24 + 16 + 1);
    }
}
