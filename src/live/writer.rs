//! `-w FILE`: every captured packet, as a nanosecond pcap file with the capture's link type and a
//! 262144-byte snap length, readable by tshark and `sockscope read`. The records are written by
//! [`crate::source::PcapWriter`]; this module opens the file. The caller flushes after every
//! batch, so an interrupted or killed run still leaves a valid file holding all but at most the
//! last batch.
//!
//! With `-b` the output is a ring buffer of such files ([`RingSpec`], [`PcapDump`]); each is
//! opened under the same rules, the ones after the first by the identity the capture dropped to.
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
pub type PcapFile = PcapWriter<BufWriter<File>>;

/// `-b`: when to go on to the next file of a ring buffer, and how many files to keep, as
/// tshark's `filesize:KB`, `duration:S` and `files:N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingSpec {
    pub filesize_kb: Option<u64>,
    pub duration_s: Option<u64>,
    pub files: Option<usize>,
}

impl RingSpec {
    /// Adds one `-b` value: `filesize:KB`, `duration:S` or `files:N`.
    pub fn add(&mut self, s: &str) -> Result<(), String> {
        let (key, value) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not filesize:KB, duration:S or files:N"))?;
        let n: u64 = value
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("`{value}` in `{s}` is not a whole number from 1"))?;
        match key {
            "filesize" => self.filesize_kb = Some(n),
            "duration" => self.duration_s = Some(n),
            "files" => self.files = Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(format!("`{key}` is not filesize, duration or files")),
        }
        Ok(())
    }

    /// Whether a file needs switching at all (`files:N` alone only bounds the one file).
    pub fn switches(&self) -> bool {
        self.filesize_kb.is_some() || self.duration_s.is_some()
    }
}

/// The `-w` output: one file, or a ring of them named as tshark names them
/// (`out_00001_20261205131500.pcap`: the number, then the local time it was opened), each
/// opened under the same rules as one file; with `files:N` only the last N are kept.
pub struct PcapDump {
    current: PcapFile,
    ring: Option<Ring>,
    packets: u64,
}

struct Ring {
    spec: RingSpec,
    base: std::path::PathBuf,
    link: LinkType,
    index: u32,
    opened: Option<crate::time::Timestamp>,
    bytes: u64,
    kept: std::collections::VecDeque<std::path::PathBuf>,
}

impl Ring {
    /// The name of file number `index`: `stem_NNNNN_YYYYmmddHHMMSS.ext`.
    fn name(&self, index: u32) -> std::path::PathBuf {
        let stem = self
            .base
            .file_stem()
            .map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
        let ext = self
            .base
            .extension()
            .map_or_else(|| "pcap".into(), |s| s.to_string_lossy().into_owned());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let [y, mo, d, h, mi, s] = crate::time::local_time(now).unwrap_or([1970, 1, 1, 0, 0, 0]);
        self.base.with_file_name(format!(
            "{stem}_{index:05}_{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}.{ext}"
        ))
    }

    /// Whether a packet of `len` bytes at `ts` goes into a new file.
    fn due(&self, ts: crate::time::Timestamp, len: u64) -> bool {
        let size = self
            .spec
            .filesize_kb
            .is_some_and(|kb| self.bytes > 24 && self.bytes + 16 + len > kb * 1000);
        let time = match (self.spec.duration_s, self.opened) {
            (Some(s), Some(at)) => {
                ts.as_nanos().saturating_sub(at.as_nanos()) >= (s as i64) * 1_000_000_000
            }
            _ => false,
        };
        size || time
    }
}

impl PcapDump {
    pub fn write_packet(
        &mut self,
        ts: crate::time::Timestamp,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        if let Some(ring) = self.ring.as_mut() {
            if ring.due(ts, data.len() as u64) {
                self.current.flush()?;
                ring.index += 1;
                let path = ring.name(ring.index);
                self.current = create_file(&path, ring.link).map_err(|e| match e {
                    OpenError::Io(e) => e,
                    other => {
                        io::Error::other(other.message(&path.display().to_string(), "this user"))
                    }
                })?;
                ring.kept.push_back(path);
                ring.bytes = 24;
                ring.opened = None;
                while ring.spec.files.is_some_and(|n| ring.kept.len() > n) {
                    if let Some(old) = ring.kept.pop_front() {
                        std::fs::remove_file(&old)?;
                    }
                }
            }
            ring.opened.get_or_insert(ts);
            ring.bytes += 16 + data.len() as u64;
        }
        self.packets += 1;
        self.current.write_packet(ts, orig_len, data)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.current.flush()
    }

    /// Packets written, over every file.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The files of a ring buffer still on disk, oldest first (empty for one file).
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        self.ring
            .as_ref()
            .map(|r| r.kept.iter().cloned().collect())
            .unwrap_or_default()
    }
}

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
fn create_file(path: &Path, link: LinkType) -> Result<PcapFile, OpenError> {
    let file = open(path)?;
    Ok(PcapWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        link,
        SNAPLEN,
    )?)
}

/// Opens the `-w` output: `path` itself, or with `-b` (a spec that switches files) the first
/// file of a ring named after it.
pub fn create(path: &Path, link: LinkType, ring: RingSpec) -> Result<PcapDump, OpenError> {
    if !ring.switches() {
        return Ok(PcapDump {
            current: create_file(path, link)?,
            ring: None,
            packets: 0,
        });
    }
    let mut r = Ring {
        spec: ring,
        base: path.to_path_buf(),
        link,
        index: 1,
        opened: None,
        bytes: 24,
        kept: std::collections::VecDeque::new(),
    };
    let first = r.name(1);
    let current = create_file(&first, link)?;
    r.kept.push_back(first);
    Ok(PcapDump {
        current,
        ring: Some(r),
        packets: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use std::os::unix::fs::PermissionsExt;

    fn write_one(path: &Path) -> Result<(), OpenError> {
        let mut dump = create(path, LinkType::ETHERNET, RingSpec::default())?;
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
    fn a_ring_buffer_switches_files_by_size_and_keeps_the_last_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.pcap");
        let mut spec = RingSpec::default();
        spec.add("filesize:1").unwrap();
        spec.add("files:3").unwrap();
        assert!(spec.add("files:0").is_err() && spec.add("size:3").is_err());
        let mut dump = create(&path, LinkType::ETHERNET, spec).unwrap();
        for i in 0..20u8 {
            dump.write_packet(crate::time::Timestamp::ZERO, 300, &[i; 300])
                .unwrap();
        }
        dump.flush().unwrap();
        assert_eq!(dump.packets(), 20);
        let files = dump.files();
        assert_eq!(files.len(), 3, "{files:?}");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        // 24 + 3 × 316 = 972 bytes fit in 1000: three packets a file, seven files, the last 3 kept.
        assert!(
            names[0].starts_with("out_00005_") && names[2].starts_with("out_00007_"),
            "{names:?}"
        );
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= 1000);
        }
    }

    #[test]
    fn a_ring_buffer_switches_files_by_capture_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = RingSpec::default();
        spec.add("duration:1").unwrap();
        let mut dump = create(&dir.path().join("t.pcap"), LinkType::ETHERNET, spec).unwrap();
        for ms in [0i64, 500, 999, 1000, 1500, 2500] {
            dump.write_packet(crate::time::Timestamp(ms * 1_000_000), 1, &[0])
                .unwrap();
        }
        dump.flush().unwrap();
        // [0, 500, 999], [1000, 1500], [2500]
        assert_eq!(dump.files().len(), 3);
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
