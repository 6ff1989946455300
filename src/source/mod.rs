//! Packet sources: pcap and pcapng files (memory-mapped, zero-copy), compressed or streamed
//! input, and live capture. Every source yields [`Frame`]s that borrow the source's memory.
//!
//! Promise: no input makes a source panic or allocate without bound. A malformed file ends with
//! a [`SourceError`] naming the file and the byte offset where the problem was found.
//!
//! Layout: `parse` turns bytes into records for both formats (classic pcap in `pcap`, pcapng in
//! `pcapng`) without knowing where the bytes come from; [`contiguous`] drives it over a memory
//! map or a borrowed slice, [`stream`] over a refillable buffer (stdin, gzip, pipes); [`mod@write`]
//! saves live captures. [`open`] picks the right driver for a path.

use crate::time::Timestamp;
use std::fmt;

mod bytes;
pub mod contiguous;
mod parse;
mod pcap;
mod pcapng;
mod record;
pub mod stream;
#[cfg(test)]
pub(crate) mod testutil;
pub mod write;

pub use contiguous::{MappedSource, MemorySource, SliceSource};
pub use stream::StreamSource;
pub use write::PcapWriter;

/// Largest captured length accepted for one packet (the libpcap/Wireshark limit); anything
/// larger is treated as a corrupt length field, not as a packet.
pub const MAX_CAPLEN: u32 = 262_144;

/// A link-layer type, as numbered by tcpdump's LINKTYPE_ registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// DLT_RAW as most platforms number it, found in files written with the platform's DLT
    /// value instead of LINKTYPE_RAW. On OpenBSD 12 is DLT_LOOP instead; the two are told apart
    /// by the first byte (an IP version nibble, or the high byte of an address family).
    pub const DLT_RAW: LinkType = LinkType(12);
    /// DLT_RAW as OpenBSD (and BSD/OS) number it.
    pub const DLT_RAW_OPENBSD: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "NULL",
            LinkType::ETHERNET => "Ethernet",
            LinkType::RAW | LinkType::DLT_RAW | LinkType::DLT_RAW_OPENBSD => "Raw IP",
            LinkType::LOOP => "OpenBSD loopback",
            LinkType::LINUX_SLL => "Linux cooked v1",
            LinkType::IPV4 => "Raw IPv4",
            LinkType::IPV6 => "Raw IPv6",
            LinkType::LINUX_SLL2 => "Linux cooked v2",
            _ => "unknown",
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// One captured packet, borrowing the bytes of its source.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based packet number, continuous across all inputs of one run (like tshark's `frame.number`).
    pub index: u64,
    pub ts: Timestamp,
    pub link_type: LinkType,
    /// pcapng interface id (0 for pcap and live capture).
    pub interface: u32,
    /// Length of the packet on the wire; may exceed `data.len()` when the snaplen cut it, and is
    /// never smaller than `data.len()` (sources raise a smaller recorded value to it).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// A problem with the input itself (not with the traffic in it): the run stops with exit code 2.
#[derive(Debug)]
pub struct SourceError {
    /// File name or interface, as the user gave it.
    pub source: String,
    /// Byte offset in the (decompressed) input where the problem was found, if meaningful.
    pub offset: Option<u64>,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(off) => write!(f, "{}: at byte {}: {}", self.source, off, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for SourceError {}

/// Progress through an input, for the progress bar.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
}

/// Secrets for decrypting the traffic, carried in the capture itself (a pcapng Decryption
/// Secrets Block), borrowed from the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secrets<'a> {
    /// The secrets type; [`Secrets::TLS_KEY_LOG`] is an NSS key log.
    pub kind: u32,
    pub data: &'a [u8],
}

impl Secrets<'_> {
    /// `TLSK`: the TLS key log format (NSS).
    pub const TLS_KEY_LOG: u32 = 0x544c_534b;
}

/// What a source has next: a frame, secrets, news that capture time went by without one, or
/// the end.
#[derive(Debug)]
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// Decryption secrets, in file order: they come before the packets they decrypt.
    /// [`PacketSource::next_frame`] skips them.
    Secrets(Secrets<'a>),
    /// No packet for a while; the capture clock is now at least this. Only sources that wait
    /// in real time (live capture) say so, so that time-driven work (finalising closed flows,
    /// idle eviction) happens on time even when no further packet arrives.
    Idle(Timestamp),
    End,
}

/// Record oddities a file reader tolerates, counted so that the report can say so. None of
/// them stops the reading: the packets are analyzed as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordNotes {
    /// Records with no captured bytes (nothing to decode; counted as packets).
    pub zero_length: u64,
    /// Classic pcap records whose microsecond field is above 999,999 (nanosecond field above
    /// 999,999,999): the excess is carried into the seconds.
    pub fraction_overflow: u64,
    /// Records timestamped earlier than the record before them in the same file.
    pub backwards: u64,
}

impl RecordNotes {
    pub fn add(&mut self, other: &RecordNotes) {
        self.zero_length += other.zero_length;
        self.fraction_overflow += other.fraction_overflow;
        self.backwards += other.backwards;
    }

    pub fn is_empty(&self) -> bool {
        *self == RecordNotes::default()
    }
}

/// Takes [`RecordNotes`] on the records of one file, in file order.
#[derive(Debug, Default)]
pub(crate) struct NoteTaker {
    notes: RecordNotes,
    last_ts: Option<Timestamp>,
}

impl NoteTaker {
    pub(crate) fn note(&mut self, record: &record::Record) {
        self.note_packet(record.ts, record.data.is_empty(), record.fraction_overflow);
    }

    /// Notes a packet stamped `ts` (a live capture's, or a file record's).
    pub(crate) fn note_packet(&mut self, ts: Timestamp, empty: bool, fraction_overflow: bool) {
        let n = &mut self.notes;
        n.zero_length += u64::from(empty);
        n.fraction_overflow += u64::from(fraction_overflow);
        n.backwards += u64::from(self.last_ts.is_some_and(|last| ts < last));
        self.last_ts = Some(ts);
    }

    pub(crate) fn notes(&self) -> RecordNotes {
        self.notes
    }
}

impl<'a> Next<'a> {
    /// The frame, if this is one; `None` for everything else.
    pub fn into_frame(self) -> Option<Frame<'a>> {
        match self {
            Next::Frame(frame) => Some(frame),
            _ => None,
        }
    }
}

/// A source that ends after `left` frames (`read -c`).
pub struct Limited<'s> {
    inner: &'s mut dyn PacketSource,
    left: u64,
}

impl<'s> Limited<'s> {
    pub fn new(inner: &'s mut dyn PacketSource, left: u64) -> Limited<'s> {
        Limited { inner, left }
    }
}

impl PacketSource for Limited<'_> {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        if self.left == 0 {
            return Ok(None);
        }
        let frame = self.inner.next_frame()?;
        if frame.is_some() {
            self.left -= 1;
        }
        Ok(frame)
    }
    fn progress(&self) -> Progress {
        self.inner.progress()
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn record_notes(&self) -> RecordNotes {
        self.inner.record_notes()
    }
    fn mapped(&self) -> Option<std::sync::Arc<memmap2::Mmap>> {
        self.inner.mapped()
    }
}

/// Kernel counters of a live capture since it started (`PACKET_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets that passed the filter (captured or dropped).
    pub received: u64,
    /// Packets dropped because the ring was full.
    pub dropped: u64,
    /// Times the ring filled up and the kernel froze it until a block was returned.
    pub freezes: u64,
}

/// A lending iterator over frames: each frame borrows the source until the next call.
pub trait PacketSource {
    /// The next frame, `Ok(None)` at the end of the input.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError>;
    /// The next frame or idle clock tick. Files never tick; the default is [`Self::next_frame`].
    fn next(&mut self) -> Result<Next<'_>, SourceError> {
        Ok(match self.next_frame()? {
            Some(frame) => Next::Frame(frame),
            None => Next::End,
        })
    }
    /// [`Self::next`], and for a frame the lane it came from when the source has several (the
    /// rings of a live capture's fanout group, each holding whole flows); `None` otherwise.
    fn next_with_lane(&mut self) -> Result<(Next<'_>, Option<usize>), SourceError> {
        Ok((self.next()?, None))
    }
    /// How far the source has got.
    fn progress(&self) -> Progress;
    /// The name used in messages (file path, `-`, interface).
    fn name(&self) -> &str;
    /// What was odd about the records read so far (a live capture: packets handed on stamped
    /// earlier than the one before, as the `-w` file will hold them).
    fn record_notes(&self) -> RecordNotes {
        RecordNotes::default()
    }
    /// What the kernel counted for a live capture (files: `None`; `None` too when the
    /// counters cannot be read).
    fn kernel_stats(&mut self) -> Option<KernelStats> {
        None
    }
    /// The memory-mapped file every frame's bytes lie in, when the source reads one: the
    /// threaded analysis then hands its workers places in it instead of copies. Its bytes stay
    /// the file's for as long as the map lives, whatever the source has read since.
    fn mapped(&self) -> Option<std::sync::Arc<memmap2::Mmap>> {
        None
    }
}

/// Opens a capture file for reading. `-` is stdin (streamed); gzip input (recognised by its
/// magic bytes, whatever the name) is decompressed while streaming; a regular file is
/// memory-mapped and parsed in place, without copying ([`MappedSource`]); anything else that
/// cannot be mapped (a pipe, `/dev/stdin`, process substitution) is streamed through a fixed
/// buffer ([`StreamSource`]). pcap or pcapng is decided by magic number. `first_index` is the
/// number given to the file's first packet, so that numbering continues across the files of one
/// run.
pub fn open(path: &str, first_index: u64) -> Result<Box<dyn PacketSource + Send>, SourceError> {
    let fail = |message: String| SourceError {
        source: path.to_string(),
        offset: None,
        message,
    };
    if path == "-" {
        let src = StreamSource::new(path, std::io::stdin(), None, first_index)?;
        return Ok(Box::new(src));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot read metadata: {e}")))?;
    if meta.is_dir() {
        return Err(fail("is a directory, not a capture file".into()));
    }
    if meta.is_file() && meta.len() > 0 {
        // SAFETY: the map is only read. If another process truncates the file meanwhile, reads
        // of the lost pages raise SIGBUS; that is the accepted price of zero-copy reading.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) }
            && !parse::is_gzip(&map)
        {
            return Ok(Box::new(MappedSource::from_map(path, map, first_index)));
        }
    }
    let total = meta.is_file().then_some(meta.len());
    Ok(Box::new(StreamSource::new(path, file, total, first_index)?))
}

/// Reads a capture held in memory (tests, fuzzing). Not decompressed: gzip bytes are an error.
pub fn from_bytes<'a>(name: &str, bytes: &'a [u8], first_index: u64) -> SliceSource<'a> {
    SliceSource::from_slice(name, bytes, first_index)
}

/// Asks the CPU to bring the cache line at `p` in (a hint: nothing where there is no such
/// instruction).
#[inline(always)]
pub(crate) fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of every x86_64 target; a prefetch never faults, whatever the
    // address, and reads nothing the program sees.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::testutil::{PcapBuilder, PcapNgBuilder, TestPacket};
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn read_all(src: &mut dyn PacketSource) -> Result<Vec<TestPacket>, SourceError> {
        let mut out = Vec::new();
        while let Some(f) = src.next_frame()? {
            out.push(TestPacket::new(f.ts.0, f.data.to_vec(), f.orig_len));
        }
        Ok(out)
    }

    fn sample(n: usize) -> Vec<TestPacket> {
        (0..n)
            .map(|i| TestPacket::new(1_000 * i as i64, vec![i as u8; i % 300], 300))
            .collect()
    }

    #[test]
    fn open_maps_plain_files_and_streams_gzip_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let pcap = PcapBuilder::new(false, true, 1)
            .packets(&sample(20))
            .build();

        let plain = dir.path().join("a.cap");
        std::fs::write(&plain, &pcap).unwrap();
        let mut src = open(plain.to_str().unwrap(), 7).unwrap();
        let first = src.next_frame().unwrap().unwrap().index;
        assert_eq!(first, 7);
        assert_eq!(read_all(src.as_mut()).unwrap().len(), 19);
        assert_eq!(src.progress().bytes_total, Some(pcap.len() as u64));

        // gzip content under a name that does not say so.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&pcap).unwrap();
        let gz = dir.path().join("b.pcap");
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let mut src = open(gz.to_str().unwrap(), 1).unwrap();
        assert_eq!(read_all(src.as_mut()).unwrap(), sample(20));
    }

    #[test]
    fn open_reports_unusable_paths() {
        let dir = tempfile::tempdir().unwrap();
        let err = open(dir.path().to_str().unwrap(), 1).err().unwrap();
        assert!(err.message.contains("directory"), "{err}");
        let missing = dir.path().join("nope.pcap");
        let err = open(missing.to_str().unwrap(), 1).err().unwrap();
        assert_eq!(err.offset, None);
        assert!(err.to_string().contains("nope.pcap: cannot open"), "{err}");
        let empty = dir.path().join("empty.pcap");
        std::fs::write(&empty, b"").unwrap();
        let err = open(empty.to_str().unwrap(), 1)
            .unwrap()
            .next_frame()
            .err()
            .unwrap();
        assert!(err.message.contains("empty"), "{err}");
    }

    #[test]
    fn open_streams_from_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: plain libc call with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let pcap = PcapNgBuilder::new(true)
            .interface(1, None, None)
            .epb(0, 5, &[1, 2, 3], 3)
            .build();
        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || std::fs::write(writer_path, pcap).unwrap());
        let mut src = open(fifo.to_str().unwrap(), 1).unwrap();
        let got = read_all(src.as_mut()).unwrap();
        writer.join().unwrap();
        assert_eq!(got, vec![TestPacket::new(5_000, vec![1, 2, 3], 3)]);
        assert_eq!(src.progress().bytes_total, None);
    }

    /// A file spanning several release windows (mapped, as opened) and many buffer refills
    /// (streamed) reads correctly to the end both ways.
    #[test]
    fn large_file_reads_across_buffer_refills_and_release_windows() {
        let dir = tempfile::tempdir().unwrap();
        let pkts: Vec<TestPacket> = (0..12_000)
            .map(|i| TestPacket::new(i, vec![(i % 251) as u8; 1_500], 1_500))
            .collect();
        let file = PcapBuilder::new(true, true, 1).packets(&pkts).build();
        assert!(file.len() > 2 * (8 << 20));
        let path = dir.path().join("big.pcap");
        std::fs::write(&path, &file).unwrap();
        let mapped = open(path.to_str().unwrap(), 1).unwrap();
        let reader = std::fs::File::open(&path).unwrap();
        let streamed: Box<dyn PacketSource> =
            Box::new(StreamSource::new("big", reader, Some(file.len() as u64), 1).unwrap());
        for mut src in [mapped as Box<dyn PacketSource>, streamed] {
            let mut n = 0i64;
            while let Some(f) = src.next_frame().unwrap() {
                assert_eq!(f.ts.0, n);
                assert!(f.data.iter().all(|&b| b == (n % 251) as u8));
                n += 1;
            }
            assert_eq!(n, 12_000);
        }
    }

    /// Captures made with tcpdump, dumpcap, editcap and mergecap on a namespace loopback (an
    /// HTTP exchange over IPv4 and IPv6), each with a `.tsv` of what tshark 4.0 reads in it.
    /// Every frame must agree with tshark: number, time to the nanosecond, lengths, interface,
    /// link type, and the decoded TCP header and segment length.
    #[test]
    fn real_captures_agree_with_tshark() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/source/testdata");
        let mut checked = 0;
        for name in [
            "eth.pcap",
            "sll.pcap",
            "snap60.pcap",
            "snap70-ns.pcap",
            "two-links.pcapng",
            "two-sections.pcapng",
        ] {
            let path = dir.join(name);
            let expected = std::fs::read_to_string(dir.join(format!("{name}.tsv"))).unwrap();
            let mut src = open(path.to_str().unwrap(), 1).unwrap();
            let mut decoder = crate::decode::Decoder::new();
            for line in expected.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                let frame = src.next_frame().unwrap().expect("tshark saw more frames");
                let at = format!("{name} frame {}", f[0]);
                assert_eq!(frame.index.to_string(), f[0], "{at}");
                let (secs, frac) = f[1].split_once('.').unwrap();
                let ns = secs.parse::<i64>().unwrap() * 1_000_000_000
                    + format!("{frac:0<9}")[..9].parse::<i64>().unwrap();
                assert_eq!(frame.ts.0, ns, "{at}");
                assert_eq!(frame.orig_len.to_string(), f[2], "{at}");
                assert_eq!(frame.data.len().to_string(), f[3], "{at}");
                let interface = if f[4].is_empty() { "0" } else { f[4] };
                assert_eq!(frame.interface.to_string(), interface, "{at}");
                let link = match f[5] {
                    "1" => LinkType::ETHERNET,
                    "25" => LinkType::LINUX_SLL,
                    "210" => LinkType::LINUX_SLL2,
                    other => panic!("unexpected encapsulation {other}"),
                };
                assert_eq!(frame.link_type, link, "{at}");
                let decoded = decoder.decode(&frame);
                if f[8].is_empty() {
                    // The snaplen cut the fixed TCP header: tshark has no sequence number either.
                    assert!(
                        matches!(
                            decoded,
                            crate::decode::Decoded::Skipped(crate::decode::Skip::BadHeader(
                                crate::decode::BadHeader {
                                    problem: crate::decode::HeaderProblem::TcpCut { .. },
                                    ..
                                }
                            ))
                        ),
                        "{at}: {decoded:?}"
                    );
                    checked += 1;
                    continue;
                }
                let crate::decode::Decoded::Tcp(seg) = decoded else {
                    panic!("{at}: not decoded as TCP: {decoded:?}")
                };
                assert_eq!(seg.src.port().to_string(), f[6], "{at}");
                assert_eq!(seg.dst.port().to_string(), f[7], "{at}");
                assert_eq!(seg.seq.to_string(), f[8], "{at}");
                assert_eq!(seg.ack.to_string(), f[9], "{at}");
                assert_eq!(
                    (seg.payload.len() + seg.missing as usize).to_string(),
                    f[10],
                    "{at}"
                );
                assert_eq!(format!("0x{:04x}", seg.flags.0), f[11], "{at}");
                checked += 1;
            }
            assert!(
                src.next_frame().unwrap().is_none(),
                "{name}: frames beyond tshark's"
            );
        }
        assert_eq!(checked, 192);
    }

    struct ChunkedReader {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    impl std::io::Read for ChunkedReader {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn arb_packet() -> impl Strategy<Value = TestPacket> {
        (
            0i64..=u32::MAX as i64 * 1_000_000_000,
            proptest::collection::vec(any::<u8>(), 0..200),
            0u32..2_000,
        )
            .prop_map(|(ts, data, extra)| {
                let orig = data.len() as u32 + extra;
                TestPacket::new(ts, data, orig)
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut src = from_bytes("fuzz", &bytes, 1);
            while let Ok(Some(_)) = src.next_frame() {}
        }

        /// Arbitrary bytes after a valid header exercise the record parsers, not just detection.
        #[test]
        fn arbitrary_records_never_panic(
            ng in any::<bool>(),
            big in any::<bool>(),
            tail in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut bytes = if ng {
                PcapNgBuilder::new(big).interface(1, Some(9), None).build()
            } else {
                PcapBuilder::new(big, false, 1).build()
            };
            bytes.extend_from_slice(&tail);
            let mut src = from_bytes("fuzz", &bytes, 1);
            while let Ok(Some(f)) = src.next_frame() {
                prop_assert!(f.orig_len as usize >= f.data.len());
            }
            let mut stream = StreamSource::new("fuzz", std::io::Cursor::new(bytes), None, 1).unwrap();
            while let Ok(Some(_)) = stream.next_frame() {}
        }

        /// The streaming driver sees the same frames, and fails at the same offset, as the
        /// slice driver, however the input is chopped into reads.
        #[test]
        fn stream_and_slice_agree(
            ng in any::<bool>(),
            pkts in proptest::collection::vec(arb_packet(), 0..8),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            chunk in 1usize..300,
        ) {
            let mut bytes = if ng {
                pkts.iter()
                    .fold(PcapNgBuilder::new(false).interface(1, Some(9), None), |b, p| {
                        b.epb(0, p.ts as u64, &p.data, p.orig_len)
                    })
                    .build()
            } else {
                PcapBuilder::new(true, true, 1).packets(&pkts).build()
            };
            bytes.extend_from_slice(&tail);
            let from_slice = read_all(&mut from_bytes("x", &bytes, 1)).map_err(|e| e.offset);
            let reader = ChunkedReader { data: bytes, pos: 0, chunk };
            let mut stream = StreamSource::new("x", reader, None, 1).unwrap();
            prop_assert_eq!(read_all(&mut stream).map_err(|e| e.offset), from_slice);
        }

        #[test]
        fn pcap_round_trips(
            big in any::<bool>(),
            nanos in any::<bool>(),
            pkts in proptest::collection::vec(arb_packet(), 0..20),
        ) {
            let file = PcapBuilder::new(big, nanos, 1).packets(&pkts).build();
            let got = read_all(&mut from_bytes("p", &file, 1)).unwrap();
            let want: Vec<TestPacket> = pkts
                .iter()
                .map(|p| {
                    let ts = if nanos { p.ts } else { p.ts / 1_000 * 1_000 };
                    TestPacket::new(ts, p.data.clone(), p.orig_len)
                })
                .collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn pcapng_round_trips(
            big in any::<bool>(),
            pkts in proptest::collection::vec(arb_packet(), 0..20),
        ) {
            let b = PcapNgBuilder::new(big).interface(1, Some(9), None);
            let file = pkts
                .iter()
                .fold(b, |b, p| b.epb(0, p.ts as u64, &p.data, p.orig_len))
                .build();
            let got = read_all(&mut from_bytes("p", &file, 1)).unwrap();
            prop_assert_eq!(&got, &pkts);
            let stream = StreamSource::new("p", std::io::Cursor::new(file), None, 1);
            prop_assert_eq!(read_all(&mut stream.unwrap()).unwrap(), pkts);
        }

        #[test]
        fn writer_round_trips(pkts in proptest::collection::vec(arb_packet(), 0..20)) {
            let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 0).unwrap();
            for p in &pkts {
                w.write_packet(Timestamp(p.ts), p.orig_len, &p.data).unwrap();
            }
            let bytes = w.into_inner().unwrap();
            prop_assert_eq!(read_all(&mut from_bytes("w", &bytes, 1)).unwrap(), pkts);
        }
    }
}
