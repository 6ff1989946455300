//! `-w FILE`: every captured packet, as a nanosecond pcap file with the capture's link type and a
//! 262144-byte snap length, readable by tshark and `sockscope read`. The records are written by
//! [`crate::source::PcapWriter`]; this module opens the file. The caller flushes after every
//! batch, so an interrupted or killed run still leaves a valid file holding all but at most the
//! last batch.
//!
//! The file is opened by the identity that will own it, once the process has become that
//! identity (see [`super::privs`]): the user who ran sudo, or root when root ran sockscope
//! itself, or the running user. The kernel's own permission checks therefore decide what may be
//! written, and a file that user could not have written is refused. On top of that:
//! - the last component of the path is never followed when it is a symbolic link (`O_NOFOLLOW`):
//!   a link, dangling or not, is refused;
//! - a new name is created with `O_CREAT | O_EXCL`, mode 0644 less the umask;
//! - an existing name is opened again without `O_CREAT`, still with `O_NOFOLLOW`, and only then
//!   truncated if it is a regular file with no other name (a hard-linked file is refused);
//!   a FIFO or a character device such as `/dev/null` is written as it is.

use crate::source::{LinkType, PcapWriter};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Snap length written in the file header; no record is longer.
pub const SNAPLEN: u32 = 262_144;

/// A pcap file being written.
pub type PcapDump = PcapWriter<BufWriter<File>>;

/// Why the file was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// The name is a symbolic link.
    Symlink,
    /// The identity writing the file may not write it (`exists`) or create it.
    NotPermitted {
        exists: bool,
    },
    /// A regular file that also has other names.
    HardLinked {
        names: u64,
    },
    Io(io::Error),
}

impl OpenError {
    /// The one-line message for `path`, written by `who` (e.g. "the user who ran sudo (uid
    /// 1000)"): what is wrong and what to do.
    pub fn message(&self, path: &str, who: &str) -> String {
        match self {
            OpenError::Symlink => format!(
                "{path}: is a symbolic link; -w does not follow links: name the file itself, or a \
                 new file"
            ),
            OpenError::NotPermitted { exists: true } => format!(
                "{path}: {who}, as whom -w files are written, may not write this file; choose \
                 one they can write, or a new name"
            ),
            OpenError::NotPermitted { exists: false } => format!(
                "{path}: {who}, as whom -w files are written, may not create a file there; \
                 choose a directory they can write"
            ),
            OpenError::HardLinked { names } => format!(
                "{path}: the file has {names} names (hard links); refusing to overwrite it: \
                 remove it or choose a new name"
            ),
            OpenError::Io(e) => format!("{path}: {e}"),
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

fn classify(e: io::Error, path: &Path) -> OpenError {
    let exists = std::fs::symlink_metadata(path);
    match e.raw_os_error() {
        Some(libc::ELOOP) if exists.as_ref().is_ok_and(|m| m.file_type().is_symlink()) => {
            OpenError::Symlink
        }
        Some(libc::EACCES | libc::EPERM) => OpenError::NotPermitted {
            exists: exists.is_ok(),
        },
        _ => OpenError::Io(e),
    }
}

/// Opens `path` for writing as this process is now, following the rules in the module doc.
pub fn open(path: &Path) -> Result<File, OpenError> {
    let flags = libc::O_NOFOLLOW | libc::O_CLOEXEC;
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(flags)
        .open(path)
    {
        Ok(file) => return Ok(file),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(classify(e, path)),
    }
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| classify(e, path))?;
    let meta = file.metadata()?;
    if meta.file_type().is_file() {
        if meta.nlink() > 1 {
            return Err(OpenError::HardLinked {
                names: meta.nlink(),
            });
        }
        file.set_len(0)?;
    }
    Ok(file)
}

/// Opens `path` (see [`open`]) and writes the pcap file header.
pub fn create(path: &Path, link: LinkType) -> Result<PcapDump, OpenError> {
    let file = open(path)?;
    Ok(PcapWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        link,
        SNAPLEN,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use std::os::unix::fs::PermissionsExt;

    fn write_one(path: &Path) -> Result<(), OpenError> {
        let mut dump = create(path, LinkType::ETHERNET)?;
        dump.write_packet(Timestamp::ZERO, 1, &[0])?;
        dump.flush()?;
        Ok(())
    }

    #[test]
    fn a_new_file_is_created_for_the_running_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        write_one(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        // SAFETY: getuid cannot fail.
        assert_eq!(meta.uid(), unsafe { libc::getuid() });
        assert_eq!(meta.len(), 24 + 16 + 1);
        assert_eq!(meta.permissions().mode() & 0o7133, 0, "{:o}", meta.mode());
    }

    #[test]
    fn an_existing_regular_file_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.pcap");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        write_one(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24 + 16 + 1);
    }

    #[test]
    fn symbolic_links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, b"keep me").unwrap();
        let link = dir.path().join("out.pcap");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(write_one(&link), Err(OpenError::Symlink)));
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
        // A dangling link does not create its target either.
        let missing = dir.path().join("missing");
        let dangling = dir.path().join("dangling.pcap");
        std::os::unix::fs::symlink(&missing, &dangling).unwrap();
        assert!(matches!(write_one(&dangling), Err(OpenError::Symlink)));
        assert!(!missing.exists());
    }

    #[test]
    fn a_file_with_other_names_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, b"keep me").unwrap();
        let other = dir.path().join("out.pcap");
        std::fs::hard_link(&target, &other).unwrap();
        assert!(matches!(
            write_one(&other),
            Err(OpenError::HardLinked { names: 2 })
        ));
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    }

    #[test]
    fn character_devices_are_written_as_they_are() {
        write_one(Path::new("/dev/null")).unwrap();
    }

    #[test]
    fn messages_name_the_file_and_what_to_do() {
        let who = "the user who ran sudo (uid 1000)";
        for e in [
            OpenError::Symlink,
            OpenError::NotPermitted { exists: true },
            OpenError::NotPermitted { exists: false },
            OpenError::HardLinked { names: 2 },
            OpenError::Io(io::Error::from_raw_os_error(libc::EROFS)),
        ] {
            let m = e.message("/tmp/x.pcap", who);
            assert!(m.starts_with("/tmp/x.pcap: "), "{m}");
            assert!(!m.contains('\n'), "{m}");
        }
        assert!(
            OpenError::NotPermitted { exists: true }
                .message("f", who)
                .contains(who)
        );
    }
}
