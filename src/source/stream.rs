//! Sources over a byte stream that cannot be mapped: stdin, pipes, and gzip-compressed files
//! (decompressed on the fly with `MultiGzDecoder`, so concatenated members work).
//!
//! Frames borrow a fixed 1 MiB buffer that is refilled in place, `READ_CHUNK` bytes at a time:
//! when the rest of the buffer cannot hold the next record, the unread tail is moved to the
//! front. No record may be larger than `record::MAX_RECORD` (~384 KiB), which is
//! smaller than the buffer, so the buffer never grows and memory stays constant. Error offsets
//! are positions in the decompressed stream.

use super::parse::{Parser, is_gzip};
use super::record::{MAX_RECORD, Step};
use super::{Frame, Next, NoteTaker, PacketSource, Progress, RecordNotes, Secrets, SourceError};
use flate2::bufread::MultiGzDecoder;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const BUFFER_SIZE: usize = 1 << 20;
/// Bytes asked of the reader per `read` call: small enough that what was just read is still in
/// the L2 cache when the pipeline gets to it (the kernel's copy leaves it there), large enough
/// that system calls cost nothing noticeable (4096 per GiB).
const READ_CHUNK: usize = 256 << 10;
const _: () = assert!(MAX_RECORD <= BUFFER_SIZE);

/// Counts the raw (possibly compressed) bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A capture read from a stream through a refillable buffer.
pub struct StreamSource {
    reader: Box<dyn Read + Send>,
    gzip: bool,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Position of `buf[start]` in the (decompressed) stream.
    offset: u64,
    eof: bool,
    raw_read: Arc<AtomicU64>,
    raw_total: Option<u64>,
    parser: Parser,
    notes: NoteTaker,
    name: String,
    next_index: u64,
    finished: bool,
}

impl StreamSource {
    /// Wraps a reader, decompressing it if it starts with the gzip magic. `raw_total` is the
    /// size of the raw input if known (for progress). Blocks until the first bytes arrive.
    pub fn new<R: Read + Send + 'static>(
        name: &str,
        reader: R,
        raw_total: Option<u64>,
        first_index: u64,
    ) -> Result<Self, SourceError> {
        let raw_read = Arc::new(AtomicU64::new(0));
        let mut buffered = BufReader::with_capacity(
            64 << 10,
            Counting {
                inner: reader,
                count: Arc::clone(&raw_read),
            },
        );
        let gzip = loop {
            match buffered.fill_buf() {
                Ok(start) => break is_gzip(start),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(SourceError {
                        source: name.to_string(),
                        offset: Some(0),
                        message: format!("read error: {e}"),
                    });
                }
            }
        };
        let reader: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Ok(StreamSource {
            reader,
            gzip,
            buf: vec![0; BUFFER_SIZE],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            raw_read,
            raw_total,
            parser: Parser::new(),
            notes: NoteTaker::default(),
            name: name.to_string(),
            next_index: first_index,
            finished: false,
        })
    }

    /// True if the input is being decompressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// The number the next packet will get (one past the last packet read).
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    fn error(&self, at: u64, message: String) -> SourceError {
        SourceError {
            source: self.name.clone(),
            offset: Some(at),
            message,
        }
    }

    /// Makes at least `needed` unread bytes available, unless the stream ends first.
    fn fill(&mut self, needed: usize) -> Result<(), SourceError> {
        if needed > self.buf.len() {
            return Err(self.error(
                self.offset,
                format!("record of {needed} bytes is too large"),
            ));
        }
        if self.buf.len() - self.start < needed {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < needed && !self.eof {
            let chunk_end = self.buf.len().min(self.end.saturating_add(READ_CHUNK));
            let Some(space) = self.buf.get_mut(self.end..chunk_end) else {
                break;
            };
            match self.reader.read(space) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let at = self.offset + (self.end - self.start) as u64;
                    let what = if self.gzip {
                        "gzip error"
                    } else {
                        "read error"
                    };
                    return Err(self.error(at, format!("{what}: {e}")));
                }
            }
        }
        Ok(())
    }
}

impl StreamSource {
    /// The next frame, or the next secrets too when `secrets` is set.
    fn next_item(&mut self, secrets: bool) -> Result<Next<'_>, SourceError> {
        if self.finished {
            return Ok(Next::End);
        }
        loop {
            let input = self.buf.get(self.start..self.end).unwrap_or_default();
            let step = self.parser.step(input, self.eof);
            match step {
                Ok(Step::Packet(record)) => {
                    self.notes.note(&record);
                    let start = self.start;
                    self.start += record.consumed;
                    self.offset += record.consumed as u64;
                    let index = self.next_index;
                    self.next_index = index.saturating_add(1);
                    let Some(data) = self
                        .buf
                        .get(start + record.data.start..start + record.data.end)
                    else {
                        self.finished = true;
                        return Err(
                            self.error(self.offset, "packet data outside the buffer".into())
                        );
                    };
                    return Ok(Next::Frame(record.frame(index, data)));
                }
                Ok(Step::Secrets(block)) => {
                    let start = self.start;
                    self.start += block.consumed;
                    self.offset += block.consumed as u64;
                    if secrets {
                        let Some(data) = self
                            .buf
                            .get(start + block.data.start..start + block.data.end)
                        else {
                            self.finished = true;
                            return Err(
                                self.error(self.offset, "secrets outside the buffer".into())
                            );
                        };
                        return Ok(Next::Secrets(Secrets {
                            kind: block.kind,
                            data,
                        }));
                    }
                }
                Ok(Step::Skip(n)) if n > 0 => {
                    self.start += n;
                    self.offset += n as u64;
                }
                Ok(Step::NeedMore(n)) if !self.eof => {
                    if let Err(e) = self.fill(n) {
                        self.finished = true;
                        return Err(e);
                    }
                }
                Ok(Step::End) => {
                    self.finished = true;
                    return Ok(Next::End);
                }
                Ok(Step::Skip(_) | Step::NeedMore(_)) => {
                    self.finished = true;
                    return Err(self.error(self.offset, "parser made no progress".into()));
                }
                Err(e) => {
                    self.finished = true;
                    return Err(self.error(self.offset + e.at as u64, e.message));
                }
            }
        }
    }
}

impl PacketSource for StreamSource {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        Ok(self.next_item(false)?.into_frame())
    }

    fn next(&mut self) -> Result<Next<'_>, SourceError> {
        self.next_item(true)
    }

    fn progress(&self) -> Progress {
        Progress {
            bytes_done: self.raw_read.load(Ordering::Relaxed),
            bytes_total: self.raw_total,
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn record_notes(&self) -> RecordNotes {
        self.notes.notes()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{PcapBuilder, PcapNgBuilder, TestPacket};
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// A reader that hands out at most `chunk` bytes per call, like a pipe.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// (index, ts, orig_len, data) of every frame.
    type Frames = Vec<(u64, i64, u32, Vec<u8>)>;

    fn collect(src: &mut dyn PacketSource) -> Result<Frames, SourceError> {
        let mut out = Vec::new();
        while let Some(f) = src.next_frame()? {
            out.push((f.index, f.ts.0, f.orig_len, f.data.to_vec()));
        }
        Ok(out)
    }

    fn packets(n: usize) -> Vec<TestPacket> {
        (0..n)
            .map(|i| TestPacket::new(i as i64 * 1_000, vec![i as u8; i % 1500], 1500))
            .collect()
    }

    #[test]
    fn trickled_input_reads_like_a_slice() {
        let file = PcapBuilder::new(true, true, 1)
            .packets(&packets(300))
            .build();
        let mut from_slice = super::super::from_bytes("s", &file, 1);
        let want = collect(&mut from_slice).unwrap();
        for chunk in [1, 7, 4096] {
            let reader = Trickle {
                data: file.clone(),
                pos: 0,
                chunk,
            };
            let mut src = StreamSource::new("-", reader, None, 1).unwrap();
            assert!(!src.is_gzip());
            assert_eq!(collect(&mut src).unwrap(), want, "chunk {chunk}");
        }
    }

    #[test]
    fn buffer_wraps_many_times_over_a_large_stream() {
        // ~3 MiB: the 1 MiB buffer is compacted and refilled repeatedly.
        let pkts = packets(6000);
        let file = PcapNgBuilder::new(false).interface(1, Some(9), None);
        let file = pkts
            .iter()
            .fold(file, |b, p| b.epb(0, p.ts as u64, &p.data, p.orig_len))
            .build();
        assert!(file.len() > 3 * BUFFER_SIZE);
        let mut src = StreamSource::new("big", io::Cursor::new(file.clone()), None, 1).unwrap();
        let got = collect(&mut src).unwrap();
        assert_eq!(got.len(), pkts.len());
        for (g, p) in got.iter().zip(&pkts) {
            assert_eq!((g.1, g.2, &g.3), (p.ts, p.orig_len, &p.data));
        }
        assert_eq!(src.progress().bytes_done, file.len() as u64);
    }

    #[test]
    fn gzip_is_detected_by_magic_including_concatenated_members() {
        let file = PcapBuilder::new(false, false, 1)
            .packets(&packets(50))
            .build();
        let (a, b) = file.split_at(1000);
        let mut gz = Vec::new();
        for part in [a, b] {
            let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
            enc.write_all(part).unwrap();
            gz.extend(enc.finish().unwrap());
        }
        let total = gz.len() as u64;
        let mut src = StreamSource::new("c.pcap.gz", io::Cursor::new(gz), Some(total), 1).unwrap();
        assert!(src.is_gzip());
        let got = collect(&mut src).unwrap();
        assert_eq!(got.len(), 50);
        assert_eq!(got[49].3, vec![49u8; 49]);
        let p = src.progress();
        assert_eq!((p.bytes_done, p.bytes_total), (total, Some(total)));
    }

    #[test]
    fn corrupt_and_truncated_gzip_are_errors() {
        let file = PcapBuilder::new(false, false, 1)
            .packets(&packets(20))
            .build();
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&file).unwrap();
        let gz = enc.finish().unwrap();

        let cut = gz[..gz.len() / 2].to_vec();
        let mut src = StreamSource::new("t.gz", io::Cursor::new(cut), None, 1).unwrap();
        assert!(collect(&mut src).is_err());

        let mut bad = gz.clone();
        for b in &mut bad[20..40] {
            *b ^= 0x5a;
        }
        let mut src = StreamSource::new("b.gz", io::Cursor::new(bad), None, 1).unwrap();
        let err = collect(&mut src).unwrap_err();
        assert_eq!(err.source, "b.gz");
        assert!(err.offset.is_some());
    }

    #[test]
    fn truncated_last_packet_reports_its_offset_after_earlier_packets() {
        let file = PcapBuilder::new(false, true, 1)
            .packets(&packets(3))
            .build();
        let cut = file[..file.len() - 1].to_vec();
        let mut src = StreamSource::new("-", io::Cursor::new(cut), None, 1).unwrap();
        assert!(src.next_frame().unwrap().is_some());
        assert!(src.next_frame().unwrap().is_some());
        let err = src.next_frame().unwrap_err();
        assert_eq!(err.offset, Some(24 + 16 + 16 + 1));
        assert!(src.next_frame().unwrap().is_none());
    }

    #[test]
    fn empty_stream_is_an_error() {
        let mut src = StreamSource::new("-", io::empty(), None, 1).unwrap();
        let err = src.next_frame().unwrap_err();
        assert!(err.message.contains("empty"), "{err}");
    }
}
