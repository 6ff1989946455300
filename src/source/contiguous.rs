//! Sources over bytes that are all addressable at once: a memory-mapped file or a borrowed slice.
//! Frames borrow those bytes directly; nothing is copied.
//!
//! Memory: a mapped file is advised `MADV_SEQUENTIAL`, and whole 8 MiB windows behind the
//! cursor are dropped with `MADV_DONTNEED`, so resident memory stays bounded for multi-GB files.
//! That is sound because of the lending contract: a frame only lives until the next
//! `next_frame` call, and the release happens at the start of that call, for bytes strictly
//! before the cursor. (The map is private and read-only, so even a stray later read would only
//! fault the file's pages back in.) A file truncated by another process while mapped ends the
//! process with SIGBUS, as with every mmap-based reader. The threaded analysis reads frames
//! through the shared map after the cursor has moved on ([`PacketSource::mapped`]): released
//! pages are faulted back in from the page cache, so it reads the file's bytes all the same.

use super::parse::Parser;
use super::record::Step;
use super::{Frame, Next, NoteTaker, PacketSource, Progress, RecordNotes, Secrets, SourceError};
use memmap2::{Mmap, UncheckedAdvice};
use std::sync::Arc;

/// Resident pages are released in whole windows of this size.
const RELEASE_WINDOW: usize = 2 << 20;

enum Bytes<'a> {
    Borrowed(&'a [u8]),
    /// Shared with the threads that analyze frames read from it ([`PacketSource::mapped`]).
    Mapped(Arc<Mmap>),
}

/// A capture held entirely in memory (borrowed) or memory-mapped (owned map).
pub struct MemorySource<'a> {
    bytes: Bytes<'a>,
    pos: usize,
    /// Everything before this offset has been released to the kernel.
    released: usize,
    parser: Parser,
    notes: NoteTaker,
    name: String,
    next_index: u64,
    finished: bool,
    /// The end of the lines asked for ahead of the reading end ([`LEAD`]).
    ahead: usize,
}

/// How far ahead of the reading end the file's lines are asked for, every line of it, as the
/// reading end moves on. A thread that only frames records and hands them on (`--threads`)
/// reads a header every few hundred bytes: the processor's own prefetcher, which follows a
/// stream of reads line by line, does not follow those, and each header (the next one alone
/// is asked for, one record ahead) came from memory cold. With large packets that was the
/// reading thread's largest cost: `MemorySource::next_item` 18 % of a two-thread run's samples
/// on 1 GiB of `mix`, against 3 % with one thread. Asked for 8 KiB ahead, two threads took
/// 0.87 of the time on 1 GiB of `mix` and one thread 0.86 (`farm-bench -n 11`); on `ws` and
/// `http` (100–150-byte packets, one or two lines each) 1.01–1.06, within the noise, so it is
/// done after records of [`LEAD_FROM`] bytes or more only: headers closer together are lines
/// in a row, which the prefetcher follows.
const LEAD: usize = 8 << 10;
const LEAD_FROM: usize = 256;

/// A source over a caller-owned byte slice (tests, fuzzing, embedded captures).
pub type SliceSource<'a> = MemorySource<'a>;
/// A source over a memory-mapped file.
pub type MappedSource = MemorySource<'static>;

impl<'a> MemorySource<'a> {
    /// Reads a capture from a slice; `first_index` is the number given to its first packet.
    pub fn from_slice(name: &str, bytes: &'a [u8], first_index: u64) -> Self {
        Self::new(name, Bytes::Borrowed(bytes), first_index)
    }

    fn new(name: &str, bytes: Bytes<'a>, first_index: u64) -> Self {
        MemorySource {
            bytes,
            pos: 0,
            released: 0,
            parser: Parser::new(),
            notes: NoteTaker::default(),
            name: name.to_string(),
            next_index: first_index,
            finished: false,
            ahead: 0,
        }
    }

    /// The number the next packet will get (one past the last packet read).
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    fn release_consumed(&mut self) {
        let Bytes::Mapped(map) = &self.bytes else {
            return;
        };
        // A map shared with the threads that analyze ([`PacketSource::mapped`]) is released by
        // them, behind the last frame they are done with.
        if Arc::strong_count(map) == 1 {
            release_behind(map, &mut self.released, self.pos);
        }
    }
}

/// Releases the resident pages of `map` in whole windows from `released` up to `upto`, and
/// moves `released` on. No frame may borrow bytes before `upto` any more; were the range
/// touched again, the private read-only map would fault the file's pages back in.
pub fn release_behind(map: &Mmap, released: &mut usize, upto: usize) {
    let boundary = upto.min(map.len()) / RELEASE_WINDOW * RELEASE_WINDOW;
    if boundary > *released {
        // SAFETY: the caller promises that nothing borrows the range; the private read-only
        // map refaults from the file if it were ever read again. The range lies inside the
        // map. Failure only means the pages stay resident, so it is ignored.
        let _ = unsafe {
            map.unchecked_advise_range(UncheckedAdvice::DontNeed, *released, boundary - *released)
        };
        *released = boundary;
    }
}

impl MappedSource {
    /// Reads a capture from a memory map; `first_index` is the number given to its first packet.
    pub fn from_map(name: &str, map: Mmap, first_index: u64) -> Self {
        // Advice is only a hint; reading works the same without it.
        let _ = map.advise(memmap2::Advice::Sequential);
        Self::new(name, Bytes::Mapped(Arc::new(map)), first_index)
    }
}

/// Asks for the lines of `bytes` up to [`LEAD`] past `pos` from `ahead` on (those before are
/// asked for already); returns where the lines asked for end. A prefetch reads nothing the
/// program sees and never faults.
#[inline]
fn ask_ahead(bytes: &[u8], pos: usize, ahead: usize) -> usize {
    let end = pos.saturating_add(LEAD).min(bytes.len());
    let mut at = ahead.max(pos) & !63;
    while at < end {
        super::prefetch_line(bytes.as_ptr().wrapping_add(at));
        at += 64;
    }
    at
}

impl MemorySource<'_> {
    /// The next frame, or the next secrets too when `secrets` is set.
    fn next_item(&mut self, secrets: bool) -> Result<Next<'_>, SourceError> {
        if self.finished {
            return Ok(Next::End);
        }
        self.release_consumed();
        let bytes: &[u8] = match &self.bytes {
            Bytes::Borrowed(b) => b,
            Bytes::Mapped(m) => m.as_ref(),
        };
        loop {
            let input = bytes.get(self.pos..).unwrap_or_default();
            let step = self.parser.step(input, true);
            let fail = |at: usize, message: String| SourceError {
                source: self.name.clone(),
                offset: Some(at as u64),
                message,
            };
            match step {
                Ok(Step::Packet(record)) => {
                    self.notes.note(&record);
                    let start = self.pos;
                    let data = bytes
                        .get(start + record.data.start..start + record.data.end)
                        .ok_or_else(|| fail(start, "packet data outside the input".into()))?;
                    self.pos = start + record.consumed;
                    // The next record's header, read on the next call: asked for now, it
                    // comes in while the caller works on this frame. (A thread that only
                    // frames and hands frames on, `--threads`, waited on it each time.)
                    super::prefetch_line(bytes.as_ptr().wrapping_add(self.pos));
                    if record.consumed >= LEAD_FROM {
                        self.ahead = ask_ahead(bytes, self.pos, self.ahead);
                    }
                    let index = self.next_index;
                    self.next_index = index.saturating_add(1);
                    return Ok(Next::Frame(record.frame(index, data)));
                }
                Ok(Step::Secrets(block)) => {
                    let start = self.pos;
                    self.pos = start + block.consumed;
                    if secrets {
                        let data = bytes
                            .get(start + block.data.start..start + block.data.end)
                            .ok_or_else(|| fail(start, "secrets outside the input".into()))?;
                        return Ok(Next::Secrets(Secrets {
                            kind: block.kind,
                            data,
                        }));
                    }
                }
                Ok(Step::Skip(n)) if n > 0 => self.pos += n,
                Ok(Step::End) => {
                    self.finished = true;
                    return Ok(Next::End);
                }
                Ok(Step::Skip(_) | Step::NeedMore(_)) => {
                    self.finished = true;
                    return Err(fail(self.pos, "parser made no progress".into()));
                }
                Err(e) => {
                    self.finished = true;
                    return Err(fail(self.pos + e.at, e.message));
                }
            }
        }
    }
}

impl PacketSource for MemorySource<'_> {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        Ok(self.next_item(false)?.into_frame())
    }

    fn next(&mut self) -> Result<Next<'_>, SourceError> {
        self.next_item(true)
    }

    fn progress(&self) -> Progress {
        let total = match &self.bytes {
            Bytes::Borrowed(b) => b.len(),
            Bytes::Mapped(m) => m.len(),
        };
        Progress {
            bytes_done: self.pos as u64,
            bytes_total: Some(total as u64),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn record_notes(&self) -> RecordNotes {
        self.notes.notes()
    }

    fn mapped(&self) -> Option<Arc<Mmap>> {
        match &self.bytes {
            Bytes::Mapped(m) => Some(Arc::clone(m)),
            Bytes::Borrowed(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{PcapBuilder, PcapNgBuilder, TestPacket};
    use super::*;
    use crate::source::LinkType;
    use crate::time::Timestamp;

    #[test]
    fn numbers_frames_from_first_index_and_reports_progress() {
        let file = PcapBuilder::new(false, true, 1)
            .packet(&TestPacket::new(1, vec![1, 2], 2))
            .packet(&TestPacket::new(2, vec![3], 3))
            .build();
        let mut src = SliceSource::from_slice("a.pcap", &file, 41);
        assert_eq!(src.progress().bytes_done, 0);
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!((f.index, f.ts, f.data), (41, Timestamp(1), &[1u8, 2][..]));
        let f = src.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.index, f.orig_len, f.link_type),
            (42, 3, LinkType::ETHERNET)
        );
        assert!(src.next_frame().unwrap().is_none());
        assert!(src.next_frame().unwrap().is_none(), "stays finished");
        assert_eq!(src.next_index(), 43);
        let p = src.progress();
        assert_eq!(
            (p.bytes_done, p.bytes_total),
            (file.len() as u64, Some(file.len() as u64))
        );
        assert_eq!(src.name(), "a.pcap");
    }

    /// Resident size of the mapping at `addr`, from /proc/self/smaps.
    fn mapping_rss_kib(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut in_mapping = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((start, end)) = range.split_once('-')
                && let (Ok(s), Ok(e)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                in_mapping = s <= addr && addr < e;
                continue;
            }
            if in_mapping && let Some(v) = line.strip_prefix("Rss:") {
                return v.trim().trim_end_matches("kB").trim().parse().ok();
            }
        }
        None
    }

    /// Reading a 40 MiB mapped file keeps at most about one release window resident.
    #[test]
    fn consumed_windows_are_released() {
        let pkts: Vec<TestPacket> = (0..28_000)
            .map(|i| TestPacket::new(i, vec![(i % 199) as u8; 1_500], 1_500))
            .collect();
        let file = PcapBuilder::new(false, true, 1).packets(&pkts).build();
        assert!(file.len() > 40 << 20);
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut tmp, &file).unwrap();
        // SAFETY: the temporary file is not modified while mapped.
        let map = unsafe { Mmap::map(tmp.as_file()).unwrap() };
        let addr = map.as_ptr() as usize;
        let mut src = MappedSource::from_map("big", map, 1);
        let mut peak = 0;
        let mut n = 0;
        while let Some(f) = src.next_frame().unwrap() {
            assert_eq!(f.data[0], (n % 199) as u8);
            n += 1;
            if n % 1_000 == 0 {
                peak = peak.max(mapping_rss_kib(addr).unwrap());
            }
        }
        assert_eq!(n, 28_000);
        // One 8 MiB window plus the one being read, plus read-ahead slack.
        assert!(
            peak < 20 << 10,
            "peak resident {peak} KiB of a {} KiB map",
            file.len() >> 10
        );
        assert!(peak > 0);
    }

    #[test]
    fn errors_carry_name_and_absolute_offset_then_stop() {
        let b = PcapNgBuilder::new(false)
            .interface(1, None, None)
            .epb(0, 0, &[1], 1);
        let at = b.len();
        let mut file = b.epb(0, 0, &[2], 1).build();
        file.truncate(file.len() - 3);
        let mut src = SliceSource::from_slice("x.pcapng", &file, 1);
        assert_eq!(src.next_frame().unwrap().unwrap().data, &[1]);
        let err = src.next_frame().unwrap_err();
        assert_eq!(err.source, "x.pcapng");
        assert_eq!(err.offset, Some(at as u64));
        assert!(
            err.to_string()
                .starts_with(&format!("x.pcapng: at byte {at}: ")),
            "{err}"
        );
        assert!(src.next_frame().unwrap().is_none());
    }
}
