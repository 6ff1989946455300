//! The analysis in several threads (`--threads N`), with the output of one.
//!
//! The calling thread reads and decodes every frame (IP fragments are reassembled here, before
//! any flow is chosen), and puts it in a batch with the share its TCP 4-tuple hashes to
//! ([`crate::tcp::shard`]), or, for a source whose lanes each hold whole flows (the rings of
//! `live --threads N`, which the kernel's symmetric flow hash fills), with its lane's share.
//! Reading a file, the calling thread analyzes the first share itself, a smaller one
//! ([`here_part`]), so that N threads are N shares; with lanes every share is a thread's.
//! A frame read from a memory-mapped file is not copied: the batch names its place in the map
//! (and the payload of a datagram reassembled here is copied). Every worker is given every
//! batch: it analyzes the segments of its share (the batch lists them for it) with its own flow
//! table and protocol state (a [`Config::share`] of the process-wide caps), and moves its
//! capture clock on every segment's time (the batch lists the times apart, so that this costs
//! little), so that closed flows end their linger and idle flows are swept at the same packet
//! as in one table. What its protocol layer emits is carried back ([`Carried`]) in groups, each
//! tagged with the entry of the batch that caused it and its place in one table's order:
//!
//! - before a packet is processed, the flows whose linger is over, by [`ClosingOrder`]; then
//!   the idle flows swept, by flow id;
//! - then what the packet itself caused (in the worker that owns its flow);
//! - at the end of the input, the idle flows, then every other flow, each by flow id.
//!
//! The calling thread replays the groups in that order ([`Merge`]), numbering flows as one table would (in
//! order of their first packet), to the one reporter: every view prints exactly what one
//! thread prints. When the reporter reads every packet ([`Reporter::wants_packets`]) every
//! entry is replayed in turn; when it does not (JSON, `-q`, the tables), a worker hands on a
//! packet's group only if it holds something or numbers a flow or a conversation, and only the
//! groups (and the notes of frames no flow took) are replayed. Batches in flight are bounded
//! ([`DEPTH`] of [`BATCH_BYTES`] or [`BATCH_ENTRIES`] each). The calling thread's own share
//! queues its chunks for the merge in the same thread; while it analyzes a batch it lets the
//! merge replay what is ready every [`BETWEEN`] entries, and at once when more than a worker
//! thread's channel holds are queued: a replay stopped where a share has not found the rest
//! yet ([`Wait`]) goes on from there.

use super::carry::{Carried, RunIds, Span};
use super::{Collect, Counting, Note, Reader};
use crate::config::Config;
use crate::decode::{Segment, TcpFlags};
use crate::model::{Anomaly, Event, EventCtx, EventSink, Record};
use crate::proto::classify::LongPollMemory;
use crate::proto::conn::ConnAnalyzer;
use crate::report::json::event_json;
use crate::report::{PacketDone, Reporter};
use crate::source::{Frame, LinkType, prefetch_line};
use crate::tcp::{ClosingOrder, FlowId, FlowTable, Placed, TableStats, shard::Weighted};
use crate::time::Timestamp;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

/// Bytes of frames copied into one batch (a batch closes at this, at [`BATCH_MAPPED`] or at
/// [`BATCH_ENTRIES`]).
const BATCH_BYTES: usize = 256 << 10;
/// Bytes of the mapped file one batch spans: the file's pages stay resident from the batch
/// being read to the last one replayed, [`DEPTH`] + 1 batches (then they are released,
/// [`crate::source::contiguous::release_behind`]), so with large frames they, not the
/// entries, bound a batch.
const BATCH_MAPPED: usize = 2 << 20;
const BATCH_ENTRIES: usize = 2048;
/// Batches handed to the workers and not yet replayed.
const DEPTH: usize = 2;
/// How many of its own entries ahead a worker asks for an entry ([`Batch::prefetch_entry`]).
/// (Asking for the payload's first bytes too was 1–2 % slower: their place is in an entry, which
/// had to be read early for it, and that read stalled.)
const PREFETCH_AHEAD: usize = 8;

/// Whether `a` and `b` are the same mapped file (or both none).
fn same_map(a: &Option<Arc<memmap2::Mmap>>, b: &Option<Arc<memmap2::Mmap>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// Where bytes a batch names are: copied into it, or in the memory-mapped file it reads
/// ([`Batch::map`]), at an offset.
#[derive(Clone, Copy, Debug)]
enum Held {
    Copied(Span),
    Mapped { at: usize, len: u32 },
}

/// A frame, its bytes held by the batch (none when the printer reads no packets and the
/// file is not mapped: only the segment's payload is needed then).
#[derive(Clone, Copy, Debug)]
struct FrameCopy {
    index: u64,
    ts: Timestamp,
    link_type: LinkType,
    interface: u32,
    orig_len: u32,
    data: Held,
}

/// A TCP segment, its payload held by the batch.
#[derive(Clone, Copy, Debug)]
struct SegmentCopy {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    payload: Held,
    missing: u32,
    ip_header_len: u16,
    tcp_header_len: u16,
    window_scale: Option<u8>,
}

#[derive(Clone, Copy, Debug)]
enum Entry {
    Tcp {
        frame: FrameCopy,
        seg: SegmentCopy,
    },
    /// A frame that carries no TCP segment: only the reading thread has something to do.
    Other {
        frame: FrameCopy,
    },
    /// Capture time went by without packets.
    Idle(Timestamp),
}

/// Frames read, as every worker sees them.
#[derive(Default)]
struct Batch {
    entries: Vec<Entry>,
    /// Each entry's capture time, which every worker's clock moves on (`None`: a frame with
    /// no segment, which moves no clock).
    times: Vec<Option<Timestamp>>,
    /// The entries of each worker's share, in order.
    own: Vec<Vec<u32>>,
    bytes: Vec<u8>,
    /// The mapped file the frames were read from, if they were: their bytes are not copied.
    map: Option<Arc<memmap2::Mmap>>,
    /// Where the first frame in the map starts, and where the last one ends.
    mapped_start: usize,
    mapped_end: usize,
}

impl Batch {
    fn put(&mut self, bytes: &[u8]) -> Held {
        Held::Copied(Span::put(&mut self.bytes, bytes))
    }

    /// Where `bytes` are in the mapped file, if they are in it.
    fn in_map(&self, bytes: &[u8]) -> Option<Held> {
        let map = self.map.as_deref()?;
        let at = (bytes.as_ptr() as usize).checked_sub(map.as_ptr() as usize)?;
        (at.checked_add(bytes.len())? <= map.len()).then_some(Held::Mapped {
            at,
            len: bytes.len() as u32,
        })
    }

    fn bytes(&self, held: Held) -> &[u8] {
        match held {
            Held::Copied(span) => Span::of(&self.bytes, span),
            Held::Mapped { at, len } => self
                .map
                .as_deref()
                .and_then(|m| m.get(at..at + len as usize))
                .unwrap_or_default(),
        }
    }

    fn frame(&self, f: &FrameCopy) -> Frame<'_> {
        Frame {
            index: f.index,
            ts: f.ts,
            link_type: f.link_type,
            interface: f.interface,
            orig_len: f.orig_len,
            data: self.bytes(f.data),
        }
    }

    fn segment(&self, frame: u64, ts: Timestamp, s: &SegmentCopy) -> Segment<'_> {
        Segment {
            frame,
            ts,
            src: s.src,
            dst: s.dst,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            payload: self.bytes(s.payload),
            missing: s.missing,
            ip_header_len: s.ip_header_len,
            tcp_header_len: s.tcp_header_len,
            window_scale: s.window_scale,
        }
    }

    /// Asks the CPU to bring entry `at` into the cache (without reading it): the reading
    /// thread wrote it on another core, and a worker that reaches it cold waits for it.
    #[inline]
    fn prefetch_entry(&self, at: u32) {
        if let Some(entry) = self.entries.get(at as usize) {
            // Every line the entry spans (three or four).
            let p: *const u8 = (entry as *const Entry).cast();
            let skew = p as usize % 64;
            for line in (0..skew + size_of::<Entry>()).step_by(64) {
                prefetch_line(p.wrapping_sub(skew).wrapping_add(line));
            }
        }
    }

    /// Adds an entry: a segment for worker `share`'s flows, a frame without one, or news
    /// that the clock moved on.
    fn push(&mut self, entry: Entry, share: Option<usize>) {
        let at = self.entries.len() as u32;
        if let Entry::Tcp { frame, .. } | Entry::Other { frame } = &entry
            && let Held::Mapped { at, len } = frame.data
        {
            if self.mapped_end == 0 {
                self.mapped_start = at;
            }
            self.mapped_end = self.mapped_end.max(at + len as usize);
        }
        self.times.push(match &entry {
            Entry::Tcp { frame, .. } => Some(frame.ts),
            Entry::Idle(ts) => Some(*ts),
            Entry::Other { .. } => None,
        });
        if let Some(share) = share {
            if self.own.len() <= share {
                self.own.resize_with(share + 1, Vec::new);
            }
            self.own[share].push(at);
        }
        self.entries.push(entry);
    }

    /// Empties it to be filled again.
    fn clear(&mut self) {
        self.entries.clear();
        self.times.clear();
        self.own.iter_mut().for_each(Vec::clear);
        self.bytes.clear();
        self.map = None;
        self.mapped_start = 0;
        self.mapped_end = 0;
    }

    fn full(&self) -> bool {
        self.entries.len() >= BATCH_ENTRIES
            || self.bytes.len() >= BATCH_BYTES
            || self.mapped_end.saturating_sub(self.mapped_start) >= BATCH_MAPPED
    }
}

/// Where a group of carried items stands among those of the same entry.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// A flow finalised at the end of its linger.
    Expired(ClosingOrder),
    /// A flow closed idle by the sweep (the worker's flow id).
    Swept(FlowId),
    /// What the entry's packet caused: the flow that took it, whether the packet started
    /// that flow (the worker's table gave it a new id), and the TCP conversations it started
    /// (`tcp.stream` numbers: one at most).
    Packet {
        placed: Option<Placed>,
        new_flow: bool,
        streams: u64,
    },
    /// What the entry's packet has caused so far, handed on before the packet is done because
    /// the chunk was full ([`Outbox::split_if_full`]); the rest, and the packet's `Packet`
    /// group, follow in the worker's next chunk. A flow the worker had not numbered that shows
    /// up here is the one the packet starts: it is numbered here, in the same place.
    PacketPart,
    /// End of input: a flow closed idle, then (`EndOfInput`) every other flow.
    FinalSwept(FlowId),
    FinalEnd(FlowId),
}

#[derive(Clone, Copy, Debug)]
struct Group {
    entry: u32,
    phase: Phase,
    /// Item range in the chunk's [`Carried`].
    from: u32,
    to: u32,
}

/// Part of what a worker found in one batch (or at the end): whole groups, in the worker's
/// order, which for one entry is one table's order among that worker's flows (lingers over
/// by [`ClosingOrder`], idle flows by id, then the packet; at the end, idle flows by id, then
/// the others by id).
#[derive(Default)]
struct Found {
    carried: Carried,
    groups: Vec<Group>,
    /// The batch's (or the end's) last chunk from this worker.
    last: bool,
    /// At the end: the worker's table's counters.
    table: Option<TableStats>,
}

/// Carried bytes after which a worker hands a chunk on: what the workers found waits in
/// chunks of about this size (a batch of small requests can carry many times its own bytes
/// in records, one packet of compressed messages thousands of records), so the memory it
/// takes is bounded by the queues' depths, not by what a batch, a packet or the end of input
/// finds. With many workers each one's chunks are smaller ([`chunk_bytes`]).
#[cfg(not(fuzzing))]
const CHUNK_BYTES: usize = 128 << 10;
/// Under the fuzzer, chunks of a few records, so that small inputs meet every place a chunk
/// can end (`fuzz/fuzz_targets/threads.rs` compares the output with one thread's).
#[cfg(fuzzing)]
const CHUNK_BYTES: usize = 256;

/// What the chunks of all workers come to at most, about, while they are built, queued and
/// replayed ([`chunk_bytes`]): each worker has up to [`DEPTH`] + 3 of them at once.
const CHUNKS_IN_ALL: usize = 512 << 10;

/// The smallest chunk (many workers).
const MIN_CHUNK_BYTES: usize = if CHUNK_BYTES < 16 << 10 {
    CHUNK_BYTES
} else {
    16 << 10
};

/// The size of each worker's chunks when there are `workers`.
fn chunk_bytes(workers: usize) -> usize {
    (CHUNKS_IN_ALL / workers.max(1)).clamp(MIN_CHUNK_BYTES, CHUNK_BYTES)
}

/// Items carried between two looks at a chunk's size between groups (within a packet's
/// group, every item is looked at).
const CHECK_EVERY: usize = 32;

/// Replayed chunks waiting for their worker to reuse them: enough for the chunks in flight
/// (a batch carries several with `--json`), so that a worker seldom starts one from nothing,
/// whose buffers grow again past the allocator's mapping threshold (page faults each time).
const SPENT: usize = 8;

/// What the replayed chunks waiting for their workers hold at most, all workers together
/// (each worker's share of it, and no chunk larger than four times its worker's chunk size:
/// one record can be far larger).
const SPENT_BYTES: usize = 4 << 20;

enum ToWorker {
    Batch(Arc<Batch>),
    Finish,
}

/// Where a worker's chunks go, and where the replayed ones come back from to be filled again.
trait Deliver {
    /// Hands a chunk on.
    fn deliver(&mut self, found: Found);
    /// A replayed chunk to fill again, if one waits.
    fn reuse(&mut self) -> Option<Found>;
    /// Called between entries every [`BETWEEN`] entries of a batch.
    fn between(&mut self) {}
}

/// How often the reading thread's own share, while it analyzes a batch, lets the merge
/// replay what the worker threads have found so far ([`Merge::replay_ready`]): so that
/// they do not wait with their channels full while it works.
const BETWEEN: usize = 256;

/// A worker thread's way to the reading thread.
struct ToReader {
    to: SyncSender<Found>,
    /// Chunks replayed, handed back for their buffers.
    spent: Receiver<Found>,
    /// What those hold ([`Carried::held_bytes`]), added by the reading thread as it hands one
    /// back and taken off here as it is reused.
    spent_bytes: Arc<AtomicUsize>,
}

impl Deliver for ToReader {
    /// A reading thread gone away is noticed by the next batch not coming.
    fn deliver(&mut self, found: Found) {
        let _ = self.to.send(found);
    }

    fn reuse(&mut self) -> Option<Found> {
        let old = self.spent.try_recv().ok()?;
        self.spent_bytes
            .fetch_sub(old.carried.held_bytes(), Ordering::Relaxed);
        Some(old)
    }
}

/// The reading thread's own share's way to the merge, in the same thread: its chunks queue
/// there, and when more than a worker thread's channel holds are queued, what can be replayed
/// is replayed at once ([`Merge::take_here`]), so that they are bounded as a thread's are.
/// (Only the reading thread touches the merge, and never while its own share is analyzed
/// but through this: the borrows do not overlap.)
struct Here<R: Reporter>(Rc<RefCell<Merge<R>>>);

impl<R: Reporter> Deliver for Here<R> {
    fn deliver(&mut self, found: Found) {
        self.0.borrow_mut().take_here(found);
    }

    fn reuse(&mut self) -> Option<Found> {
        self.0.borrow_mut().reuse_here()
    }

    fn between(&mut self) {
        self.0.borrow_mut().replay_ready();
    }
}

/// A worker's sink: what its protocol layer emits, carried, cut into groups and handed to
/// the reading thread in chunks of about [`CHUNK_BYTES`].
struct Outbox<D: Deliver> {
    carried: Carried,
    groups: Vec<Group>,
    /// The entry the items belong to, and where its open group starts.
    entry: u32,
    from: u32,
    /// While a sweep or the end of input closes flows: each flow's events are a group of
    /// this phase, and a chunk may end after any of them.
    by_flow: Option<fn(FlowId) -> Phase>,
    /// Items in the chunk when its size was last added up.
    checked: usize,
    /// The size after which the chunk is handed on ([`chunk_bytes`]).
    chunk_bytes: usize,
    /// While the entry's own packet is analyzed: its group can be handed on in parts
    /// ([`Phase::PacketPart`]).
    in_packet: bool,
    /// Whether the printer reads the records of what flows carried: if not, only anomalies,
    /// latency records and the flows' closing summaries are carried
    /// ([`Collect::wants_message_records`]).
    records: bool,
    /// Whether the reading thread replays every packet ([`Reporter::wants_packets`]): if
    /// not, a packet's group is handed on only when it holds something, or numbers a flow or
    /// a TCP conversation.
    packets: bool,
    /// The printer's lines are written here ([`Collect::record_lines`]; the preview width):
    /// an event is carried as its line, and a flow's closing also as itself, to be counted.
    lines: Option<usize>,
    /// Where its chunks go.
    dest: D,
}

impl<D: Deliver> Outbox<D> {
    fn start(&mut self, entry: u32) {
        self.entry = entry;
        self.from = self.carried.items.len() as u32;
    }

    /// Ends the open group as `phase`.
    fn end(&mut self, phase: Phase) {
        let to = self.carried.items.len() as u32;
        self.groups.push(Group {
            entry: self.entry,
            phase,
            from: self.from,
            to,
        });
        self.from = to;
    }

    /// Whether the open group holds anything.
    fn open(&self) -> bool {
        (self.from as usize) < self.carried.items.len()
    }

    /// Ends the open group as `phase` if it holds anything.
    fn end_rest(&mut self, phase: Phase) {
        if self.open() {
            self.end(phase);
        }
    }

    /// Whether the chunk has reached its size ([`chunk_bytes`]).
    fn full(&self) -> bool {
        self.carried.used_bytes() >= self.chunk_bytes
    }

    /// Hands the chunk on if it is full (only between groups). Its size is added up again
    /// only every [`CHECK_EVERY`] items: a chunk outgrows its size by at most that many
    /// records.
    fn flush_if_full(&mut self) {
        let items = self.carried.items.len();
        if items < self.checked + CHECK_EVERY {
            return;
        }
        self.checked = items;
        if self.full() {
            self.flush(false, None);
        }
    }

    /// Before another item of the packet being analyzed is carried: hands on what it has
    /// caused so far as a part of its group if the chunk is full, so that a packet that
    /// causes thousands of records (a segment packed with compressed messages that each
    /// inflate to kilobytes kept for display) is carried in chunks like any batch.
    fn split_if_full(&mut self) {
        if self.in_packet && self.open() && self.full() {
            self.end(Phase::PacketPart);
            self.flush(false, None);
        }
    }

    /// Hands the chunk on.
    fn flush(&mut self, last: bool, table: Option<TableStats>) {
        let (carried, groups) = match self.dest.reuse() {
            Some(mut old) => {
                old.carried.clear();
                old.groups.clear();
                (old.carried, old.groups)
            }
            None => Default::default(),
        };
        let found = Found {
            carried: std::mem::replace(&mut self.carried, carried),
            groups: std::mem::replace(&mut self.groups, groups),
            last,
            table,
        };
        self.from = 0;
        self.checked = 0;
        self.dest.deliver(found);
    }
}

impl<D: Deliver> EventSink for Outbox<D> {
    fn wants_message_records(&self) -> bool {
        self.records
    }

    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        if !self.records
            && !matches!(
                event,
                Event::FlowClosed { .. } | Event::Record(Record::Anomaly(_) | Record::Latency(_))
            )
        {
            return;
        }
        self.split_if_full();
        let closed = matches!(event, Event::FlowClosed { .. }).then_some(ctx.flow.id);
        // A flow whose kind the thread that prints settles has its line written there.
        let unsettled = matches!(
            event,
            Event::FlowClosed { summary, .. } if summary.held_request.is_some()
        );
        if let Some(preview) = self.lines.filter(|_| !unsettled) {
            if let Some(json) = event_json(ctx, &event, preview) {
                let anomaly = match event {
                    Event::Record(Record::Anomaly(a)) => Some(a.code),
                    _ => None,
                };
                self.carried
                    .put_line(ctx.flow.id, anomaly, |line| json.push(line).is_ok());
            }
            if closed.is_none() {
                return;
            }
        }
        self.carried.event(ctx, event);
        if let (Some(id), Some(phase)) = (closed, self.by_flow) {
            self.end(phase(id));
            self.flush_if_full();
        }
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.split_if_full();
        self.carried.global_anomaly(anomaly, frame);
    }
}

/// One worker: a flow table and protocol layer for its share of the flows.
struct Worker<D: Deliver> {
    me: u32,
    /// The highest flow id of the table so far: a higher one is a new flow.
    last_flow: FlowId,
    table: FlowTable<ConnAnalyzer<Outbox<D>>>,
    handler: ConnAnalyzer<Outbox<D>>,
    /// The mapped file of the last batch, kept until a batch of another input comes: the
    /// flows may remember bytes by their place in it ([`FlowTable::set_backing`]).
    map: Option<Arc<memmap2::Mmap>>,
}

/// Entry index of the end of input.
const FINAL: u32 = u32::MAX;

impl<D: Deliver> Worker<D> {
    fn new(me: u32, config: &Config, outbox: Outbox<D>) -> Self {
        Worker {
            me,
            last_flow: 0,
            table: FlowTable::new(config, Some(crate::proto::conn::role_hint)),
            handler: ConnAnalyzer::for_share(config, outbox),
            map: None,
        }
    }

    fn out(&mut self) -> &mut Outbox<D> {
        &mut self.handler.sink
    }

    /// Closes flows with `close`, each flow's events a group of `phase`.
    fn close_flows(
        &mut self,
        phase: fn(FlowId) -> Phase,
        close: impl FnOnce(&mut FlowTable<ConnAnalyzer<Outbox<D>>>, &mut ConnAnalyzer<Outbox<D>>),
    ) {
        self.out().by_flow = Some(phase);
        close(&mut self.table, &mut self.handler);
        let out = self.out();
        out.by_flow = None;
        // Nothing closes after these (not expected): they sort after the flows closed.
        out.end_rest(phase(FlowId::MAX));
    }

    /// The capture clock moves to `ts`: lingers that are over, then the idle sweep.
    fn tick(&mut self, entry: u32, ts: Timestamp) {
        self.out().start(entry);
        let due = self.table.due(ts);
        self.table.set_clock(ts);
        if !due {
            return;
        }
        while let Some(order) = self.table.expire_next(&mut self.handler) {
            let out = self.out();
            out.end(Phase::Expired(order));
            out.flush_if_full();
        }
        self.close_flows(Phase::Swept, |table, handler| {
            table.sweep_if_due(ts, handler);
        });
    }

    /// Moves the clock on every entry's time (lingers over and the idle sweep, as one table
    /// would at that packet), and analyzes the entries of its share.
    fn batch(&mut self, batch: &Batch) {
        if !same_map(&self.map, &batch.map) {
            self.table
                .set_backing(batch.map.as_ref().map(crate::tcp::Backing::new));
            self.map = batch.map.clone();
        }
        let own = batch
            .own
            .get(self.me as usize)
            .map_or(&[][..], Vec::as_slice);
        let mut next_own = 0;
        for (i, ts) in batch.times.iter().enumerate() {
            let Some(ts) = *ts else {
                continue;
            };
            let i = i as u32;
            if i as usize % BETWEEN == BETWEEN - 1 {
                self.out().dest.between();
            }
            self.tick(i, ts);
            let mine = own.get(next_own) == Some(&i);
            if mine {
                next_own += 1;
                if let Some(&ahead) = own.get(next_own + PREFETCH_AHEAD) {
                    batch.prefetch_entry(ahead);
                }
            }
            if mine && let Some(Entry::Tcp { frame, seg }) = batch.entries.get(i as usize) {
                let streams = self.table.streams_numbered();
                let seg = batch.segment(frame.index, frame.ts, seg);
                self.out().in_packet = true;
                let placed = self.table.process(&seg, &mut self.handler);
                self.out().in_packet = false;
                let started = self.table.streams_numbered() - streams;
                let new_flow = placed.is_some_and(|p| p.flow > self.last_flow);
                if let Some(p) = placed.filter(|_| new_flow) {
                    self.last_flow = p.flow;
                }
                let out = self.out();
                if out.packets || new_flow || started > 0 || out.open() {
                    out.end(Phase::Packet {
                        placed,
                        new_flow,
                        streams: started,
                    });
                }
            }
            self.out().flush_if_full();
        }
    }

    /// Analyzes a batch and hands on its last chunk. The batch is dropped before that chunk,
    /// so that the merge, which replays the batch once every share's last chunk is in, gets
    /// it back to reuse.
    fn take(&mut self, batch: Arc<Batch>) {
        self.batch(&batch);
        drop(batch);
        self.out().flush(true, None);
    }

    fn finish(&mut self) {
        self.out().start(FINAL);
        self.close_flows(Phase::FinalSwept, |table, handler| {
            table.sweep_idle(handler)
        });
        self.close_flows(Phase::FinalEnd, |table, handler| table.finish(handler));
        let stats = self.table.stats().clone();
        self.out().flush(true, Some(stats));
    }
}

fn work(me: u32, config: Config, from: Receiver<ToWorker>, outbox: Outbox<ToReader>) {
    let mut worker = Worker::new(me, &config, outbox);
    while let Ok(msg) = from.recv() {
        match msg {
            ToWorker::Batch(batch) => worker.take(batch),
            ToWorker::Finish => worker.finish(),
        }
    }
}

/// A worker thread, as the reading thread sees it.
struct WorkerHandle {
    to: SyncSender<ToWorker>,
    from: Receiver<Found>,
    /// Chunks replayed, handed back for their buffers, and what they hold ([`ToReader`]).
    spent: SyncSender<Found>,
    spent_bytes: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// Where a share's findings come from.
enum Link {
    /// A worker thread.
    Thread(WorkerHandle),
    /// The reading thread itself ([`Here`]): its chunks not replayed yet, and those replayed
    /// waiting to be filled again, with what they hold.
    Here {
        queue: VecDeque<Found>,
        spent: Vec<Found>,
        spent_bytes: usize,
    },
}

/// One share of the flows, as the merge sees it.
struct Share {
    link: Link,
    /// The share's flow ids to the run's numbers, for flows still open.
    ids: HashMap<FlowId, RunIds, foldhash::fast::RandomState>,
    /// The share's id of the last flow numbered (its table numbers flows in order).
    newest: FlowId,
}

/// The chunk of a worker's findings being replayed, and the next group in it.
#[derive(Default)]
struct Cursor {
    found: Found,
    at: usize,
}

/// What this thread alone reports of a batch's frames that carry no segment for a flow: by
/// entry (in entry order) and frame number.
type Notes = Vec<(u32, u64, Note)>;

/// What is handed to the shares and not replayed yet.
enum InFlight {
    /// A batch, with what only this thread does for its frames.
    Batch { batch: Arc<Batch>, notes: Notes },
    /// The end of input.
    End,
}

/// The replay cannot go on: the reading thread's own share has not found the rest yet (it is
/// analyzing the batch), or a worker thread has not and the replay does not wait
/// ([`Merge::replay_ready`]); it goes on from where it stopped.
#[derive(Debug)]
struct Wait;

/// The merging and printing side: replays what the shares found in one table's order.
struct Merge<R: Reporter> {
    collect: Collect<R>,
    shares: Vec<Share>,
    /// Whether the reporter reads every packet ([`Reporter::wants_packets`]): if not, only
    /// the groups the shares found are replayed, and no frame is copied for it.
    packets: bool,
    /// Whether the shares write the printer's lines ([`Collect::record_lines`]).
    lines: bool,
    /// Held requests of the flows closed so far, in one table's order: a flow's kind that
    /// depends on the flows before it is settled here ([`crate::model::FlowSummary::held_request`]).
    longpoll: LongPollMemory,
    in_flight: VecDeque<InFlight>,
    /// Batches replayed, emptied, to be filled again.
    free: Vec<(Batch, Notes)>,
    next_id: FlowId,
    /// The next `tcp.stream` number.
    next_stream: u64,
    /// A worker stopped answering (it panicked): the run ends with this error.
    broken: Option<std::io::Error>,
    /// The mapped file being read, if it is one, and how much of it has been released
    /// (behind the frames of the batches replayed).
    map: Option<Arc<memmap2::Mmap>>,
    released: usize,
    /// Where the replay of the oldest in flight stopped ([`Wait`]): every share's cursor, the
    /// next entry (when every packet is replayed), the next note, and the flow that took the
    /// packet of the entry being replayed, once its group is.
    cur: Vec<Cursor>,
    at: u32,
    notes_at: usize,
    placed: Option<Placed>,
    /// Whether the replay waits for the worker threads (else it stops where one has not
    /// found the rest yet, [`Merge::replay_ready`]).
    patient: bool,
}

/// The reading side.
pub struct Parallel<R: Reporter> {
    reader: Reader,
    merge: Rc<RefCell<Merge<R>>>,
    /// The reading thread's own share of the flows (share 0), when it takes one.
    here: Option<Worker<Here<R>>>,
    batch: Batch,
    notes: Notes,
    /// Whether the reporter reads every packet (then frames are copied for it).
    packets: bool,
    /// How the flows are split between the shares.
    split: Weighted,
    read: u64,
    /// Whether the source's lanes kept each connection whole.
    lanes: LaneCheck,
}

/// Connections remembered by their SYN at most, waiting for the SYN-ACK.
const LANE_CHECK_SYNS: usize = 4096;

/// Checks a source's promise that each lane holds whole flows (a fanout group's rings: the
/// kernel's flow hash must be symmetric, which it is not on every kernel): a connection's
/// SYN-ACK must come on the lane its SYN came on. A connection split over two lanes is analyzed
/// as two halves by two workers; this counts them so that the run can say so.
#[derive(Debug, Default)]
pub(super) struct LaneCheck {
    /// The lane of each SYN not yet answered, by (client, server).
    syns: HashMap<(SocketAddr, SocketAddr), usize, foldhash::fast::RandomState>,
    pub counts: LaneCounts,
}

/// What `LaneCheck` found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneCounts {
    /// Connections whose SYN-ACK came on another lane than their SYN.
    pub split: u64,
    /// TCP segments that came in IP fragments reassembled here, not by the kernel before it
    /// chose their lane (it reassembles only IPv4): hashed without their ports, they may have
    /// reached another lane than their connection's.
    pub reassembled: u64,
}

impl LaneCheck {
    pub fn see(&mut self, src: SocketAddr, dst: SocketAddr, flags: TcpFlags, lane: usize) {
        if !flags.syn() {
            return;
        }
        if !flags.ack() {
            if self.syns.len() >= LANE_CHECK_SYNS {
                // SYNs never answered (a scan, a flood): forget them rather than grow.
                self.syns.clear();
            }
            self.syns.insert((src, dst), lane);
        } else if let Some(syn_lane) = self.syns.remove(&(dst, src)) {
            self.counts.split += u64::from(syn_lane != lane);
        }
    }
}

/// The reading thread's part of the flows when it takes a share (of every 2^32 hash values,
/// for [`Weighted`]), among `n` shares: half a worker thread's, as it also reads, decodes and
/// replays every packet. Measured on two cores (docs/performance.md): half was best on small
/// packets (`ws`, `http`: against a tenth, a quarter, two fifths, three fifths and three
/// quarters); on large ones (`mix`) a fifth would be, by about a tenth of the time, and a part
/// chosen from the first packets' sizes chose wrong on `mix` itself, whose first packets are
/// small.
fn here_part(n: usize) -> u64 {
    /// The reading thread's weight; a worker thread's is 2.
    const HERE: u64 = 1;
    (HERE << 32) / (HERE + 2 * (n.max(2) as u64 - 1))
}

/// Chunks of the reading thread's own share queued before what can be replayed is: a worker
/// thread's channel holds as many.
const HERE_QUEUED: usize = DEPTH + 1;

/// A worker's sink, built the same for every share.
fn outbox<D: Deliver>(
    n: usize,
    records: bool,
    packets: bool,
    lines: Option<usize>,
    dest: D,
) -> Outbox<D> {
    Outbox {
        carried: Carried::default(),
        groups: Vec::new(),
        entry: 0,
        from: 0,
        by_flow: None,
        checked: 0,
        chunk_bytes: chunk_bytes(n),
        in_packet: false,
        records,
        packets,
        lines,
        dest,
    }
}

impl<R: Reporter> Parallel<R> {
    /// The analysis in [`Config::workers`] shares. With `here`, the reading thread analyzes
    /// the first share itself (a smaller one, [`here_part`]) and the others are worker
    /// threads: as many threads as shares. Without, every share is a worker thread (a source
    /// whose lanes each hold whole flows gives each its lane's, the reading thread none).
    pub fn new(config: &Config, collect: Collect<R>, here: bool) -> Self {
        let n = config.workers(config.threads);
        let here = here && n > 1;
        let share = config.share(n);
        let records = collect.wants_message_records();
        let packets = collect.reporter.wants_packets();
        let lines = collect.record_lines();
        let shares = (0..n)
            .map(|me| {
                let link = if here && me == 0 {
                    Link::Here {
                        queue: VecDeque::new(),
                        spent: Vec::new(),
                        spent_bytes: 0,
                    }
                } else {
                    let (to, rx) = sync_channel(DEPTH + 1);
                    let (tx, from) = sync_channel(DEPTH + 1);
                    let (spent, spent_rx) = sync_channel(SPENT);
                    let spent_bytes = Arc::new(AtomicUsize::new(0));
                    let dest = ToReader {
                        to: tx,
                        spent: spent_rx,
                        spent_bytes: Arc::clone(&spent_bytes),
                    };
                    let outbox = outbox(n, records, packets, lines, dest);
                    let config = share.clone();
                    let thread = std::thread::Builder::new()
                        .name(format!("flows-{me}"))
                        .spawn(move || work(me as u32, config, rx, outbox))
                        .ok();
                    Link::Thread(WorkerHandle {
                        to,
                        from,
                        spent,
                        spent_bytes,
                        thread,
                    })
                };
                Share {
                    link,
                    ids: HashMap::default(),
                    newest: 0,
                }
            })
            .collect();
        let merge = Rc::new(RefCell::new(Merge {
            collect,
            shares,
            packets,
            lines: lines.is_some(),
            longpoll: LongPollMemory::default(),
            in_flight: VecDeque::new(),
            free: Vec::new(),
            next_id: 1,
            next_stream: 0,
            broken: None,
            map: None,
            released: 0,
            cur: (0..n).map(|_| Cursor::default()).collect(),
            at: 0,
            notes_at: 0,
            placed: None,
            patient: true,
        }));
        let split = Weighted::new(n, if here { here_part(n) } else { 0 });
        let here = here.then(|| {
            Worker::new(
                0,
                &share,
                outbox(n, records, packets, lines, Here(Rc::clone(&merge))),
            )
        });
        Parallel {
            reader: Reader::new(config),
            merge,
            here,
            batch: Batch::default(),
            notes: Vec::new(),
            packets,
            split,
            read: 0,
            lanes: LaneCheck::default(),
        }
    }

    pub fn packets_read(&self) -> u64 {
        self.read
    }

    /// Changes the run's statistics.
    pub fn with_stats(&mut self, change: impl FnOnce(&mut crate::stats::RunStats)) {
        change(&mut self.merge.borrow_mut().collect.stats);
    }

    /// What the check of the source's lanes found.
    pub fn lane_counts(&self) -> LaneCounts {
        self.lanes.counts
    }

    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        let mut merge = self.merge.borrow_mut();
        merge
            .broken
            .take()
            .or_else(|| merge.collect.reporter.take_io_error())
    }

    /// Frames come from `map` from now on (a new input starts): the batch of the frames read
    /// before is handed on first.
    pub fn read_from(&mut self, map: Option<Arc<memmap2::Mmap>>) {
        if !same_map(&self.merge.borrow().map, &map) {
            self.send();
            let mut merge = self.merge.borrow_mut();
            merge.map = map;
            merge.released = 0;
            self.batch.map = merge.map.clone();
        }
    }

    /// Reads one frame. `lane`: the source's lane, whose flows are all its own (a ring of a
    /// fanout group); its worker is the lane's, else the one the 4-tuple hashes to.
    pub fn process(&mut self, frame: &Frame<'_>, lane: Option<usize>) {
        self.read += 1;
        let shares = self.split.shares();
        let batch = &mut self.batch;
        // The frame's bytes: where they are in the mapped file; else a copy, if the printer
        // reads packets (else the payload alone is copied, below).
        let data = match batch.in_map(frame.data) {
            Some(held) => held,
            None if self.packets => batch.put(frame.data),
            None => Held::Copied(Span::default()),
        };
        let copy = FrameCopy {
            index: frame.index,
            ts: frame.ts,
            link_type: frame.link_type,
            interface: frame.interface,
            orig_len: frame.orig_len,
            data,
        };
        let decoded = self.reader.decode(frame);
        {
            let stats = &mut self.merge.borrow_mut().collect.stats;
            stats.on_packet(frame.ts);
            super::count_frame(stats, frame, decoded.as_ref().ok());
        }
        match decoded {
            Ok(seg) => {
                if let Some(lane) = lane {
                    self.lanes.see(seg.src, seg.dst, seg.flags, lane);
                }
                // The payload is the frame's own bytes, unless the datagram was reassembled.
                let len = seg.payload.len();
                let within = (seg.payload.as_ptr() as usize)
                    .checked_sub(frame.data.as_ptr() as usize)
                    .filter(|&at| at.saturating_add(len) <= frame.data.len());
                if lane.is_some() && within.is_none() && len > 0 {
                    self.lanes.counts.reassembled += 1;
                }
                let payload = match (within, data) {
                    (Some(off), Held::Mapped { at, .. }) => Held::Mapped {
                        at: at + off,
                        len: len as u32,
                    },
                    (Some(off), Held::Copied(s)) if self.packets => Held::Copied(Span {
                        at: s.at + off as u32,
                        len: len as u32,
                    }),
                    _ => batch.put(seg.payload),
                };
                let entry = Entry::Tcp {
                    frame: copy,
                    seg: SegmentCopy {
                        src: seg.src,
                        dst: seg.dst,
                        seq: seg.seq,
                        ack: seg.ack,
                        flags: seg.flags,
                        window: seg.window,
                        payload,
                        missing: seg.missing,
                        ip_header_len: seg.ip_header_len,
                        tcp_header_len: seg.tcp_header_len,
                        window_scale: seg.window_scale,
                    },
                };
                let share = lane.map_or_else(|| self.split.share(seg.src, seg.dst), |l| l % shares);
                batch.push(entry, Some(share));
            }
            Err(what) => {
                let note = self.reader.note(what, frame);
                let entry = self.batch.entries.len() as u32;
                self.notes.push((entry, frame.index, note));
                self.batch.push(Entry::Other { frame: copy }, None);
            }
        }
        if self.batch.full() {
            self.send();
        }
    }

    pub fn advance_clock(&mut self, now: Timestamp) {
        self.batch.push(Entry::Idle(now), None);
        // Time-driven output is due now: nothing waits for the batch to fill.
        self.settle();
    }

    /// Every frame read so far analyzed by the shares and replayed.
    pub fn settle(&mut self) {
        self.send();
        self.merge.borrow_mut().replay_all();
    }

    /// Hands the batch being filled to every worker thread, analyzes this thread's own share
    /// of it, and replays the oldest when too many are out.
    fn send(&mut self) {
        if self.batch.entries.is_empty() {
            return;
        }
        let batch = {
            let mut guard = self.merge.borrow_mut();
            let merge = &mut *guard;
            let (mut next, notes) = merge.free.pop().unwrap_or_default();
            next.map = merge.map.clone();
            let batch = Arc::new(std::mem::replace(&mut self.batch, next));
            merge.tell_threads(|| ToWorker::Batch(Arc::clone(&batch)));
            merge.in_flight.push_back(InFlight::Batch {
                batch: Arc::clone(&batch),
                notes: std::mem::replace(&mut self.notes, notes),
            });
            batch
        };
        match &mut self.here {
            Some(here) => here.take(batch),
            None => drop(batch),
        }
        let mut merge = self.merge.borrow_mut();
        while merge.in_flight.len() > DEPTH {
            if merge.replay_front().is_err() {
                break;
            }
        }
    }

    /// Ends the input: every batch replayed, then what the shares end with.
    pub fn finish(mut self) -> Result<Collect<R>, std::io::Error> {
        self.send();
        {
            let mut guard = self.merge.borrow_mut();
            let merge = &mut *guard;
            merge.replay_all();
            if let Some(a) = self
                .reader
                .final_anomaly(merge.collect.stats.last_ts.unwrap_or_default())
            {
                let frame = merge.collect.stats.packets;
                merge.collect.global_anomaly(&a, frame);
            }
            merge.tell_threads(|| ToWorker::Finish);
            merge.in_flight.push_back(InFlight::End);
        }
        if let Some(here) = &mut self.here {
            here.finish();
        }
        // The last chunks carry the tables' counters.
        self.merge.borrow_mut().replay_all();
        // The own share's sink holds the merge too.
        drop(self.here.take());
        let merge = Rc::try_unwrap(self.merge)
            .map_err(|_| std::io::Error::other("the analysis ended with its merge still shared"))?;
        let mut merge = merge.into_inner();
        // Closing their channels ends the workers.
        for share in std::mem::take(&mut merge.shares) {
            if let Link::Thread(w) = share.link {
                drop(w.to);
                if let Some(t) = w.thread {
                    let _ = t.join();
                }
            }
        }
        if let Some(e) = merge.broken.take() {
            return Err(e);
        }
        Ok(merge.collect)
    }
}

impl<R: Reporter> Merge<R> {
    /// Sends every worker thread `msg()`; one gone away breaks the run.
    fn tell_threads(&mut self, msg: impl Fn() -> ToWorker) {
        for share in &self.shares {
            if let Link::Thread(w) = &share.link
                && w.to.send(msg()).is_err()
            {
                self.broken = Some(worker_lost());
            }
        }
    }

    /// A chunk of the reading thread's own share: queued; with too many queued, everything
    /// that can be replayed is (a batch of small requests can carry many times its own bytes
    /// in records, one packet thousands of them, and the queue stays as bounded as a worker
    /// thread's channel).
    fn take_here(&mut self, found: Found) {
        let Some(Link::Here { queue, .. }) = self.shares.first_mut().map(|s| &mut s.link) else {
            return;
        };
        queue.push_back(found);
        if queue.len() > HERE_QUEUED {
            self.replay_all();
        }
    }

    /// A chunk of the reading thread's own share replayed, to be filled again.
    fn reuse_here(&mut self) -> Option<Found> {
        let Some(Link::Here {
            spent, spent_bytes, ..
        }) = self.shares.first_mut().map(|s| &mut s.link)
        else {
            return None;
        };
        let old = spent.pop()?;
        *spent_bytes -= old.carried.held_bytes();
        Some(old)
    }

    /// Replays what the shares have found so far, waiting for none.
    fn replay_ready(&mut self) {
        self.patient = false;
        self.replay_all();
        self.patient = true;
    }

    /// Replays everything in flight, as far as the reading thread's own share's findings go.
    fn replay_all(&mut self) {
        while !self.in_flight.is_empty() {
            if self.replay_front().is_err() {
                break;
            }
        }
    }

    /// Replays the oldest in flight, or goes on with it from where it stopped.
    fn replay_front(&mut self) -> Result<(), Wait> {
        let Some(item) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let mut cur = std::mem::take(&mut self.cur);
        let done = match &item {
            InFlight::Batch { batch, notes } => self.replay_batch(&mut cur, batch, notes),
            InFlight::End => self
                .replay_entry(&mut cur, FINAL)
                .and_then(|_| self.drain(&mut cur)),
        };
        self.cur = cur;
        if done.is_err() {
            self.in_flight.push_front(item);
            return done;
        }
        self.at = 0;
        self.notes_at = 0;
        self.placed = None;
        if let InFlight::Batch { batch, mut notes } = item {
            // Every share is done with the batch: its frames' pages can go (those of a file
            // read before go when its map does).
            if let (Some(map), Some(current)) = (&batch.map, &self.map)
                && Arc::ptr_eq(map, current)
            {
                crate::source::contiguous::release_behind(
                    map,
                    &mut self.released,
                    batch.mapped_end,
                );
            }
            if let Ok(mut batch) = Arc::try_unwrap(batch) {
                batch.clear();
                notes.clear();
                self.free.push((batch, notes));
            }
        }
        Ok(())
    }

    /// Replays a batch: every entry when the reporter reads every packet, else only the
    /// entries the shares found something for, and the notes of frames no flow took.
    fn replay_batch(
        &mut self,
        cur: &mut [Cursor],
        batch: &Batch,
        notes: &Notes,
    ) -> Result<(), Wait> {
        if self.packets {
            while let Some(entry) = batch.entries.get(self.at as usize) {
                let i = self.at;
                let placed = self.replay_entry(cur, i)?;
                self.at += 1;
                let (frame, placed) = match entry {
                    Entry::Tcp { frame, .. } => (frame, placed),
                    Entry::Other { frame } => (frame, None),
                    Entry::Idle(_) => continue,
                };
                if let Some((_, index, note)) = notes.get(self.notes_at).filter(|n| n.0 == i) {
                    self.notes_at += 1;
                    note.apply(&mut self.collect, *index);
                }
                let frame = batch.frame(frame);
                self.collect
                    .reporter
                    .packet_done(&PacketDone::new(&frame, placed));
                self.check_output();
            }
        } else {
            loop {
                let group = self.next_entry(cur)?;
                match notes
                    .get(self.notes_at)
                    .filter(|n| group.is_none_or(|g| n.0 < g))
                {
                    Some((_, index, note)) => {
                        self.notes_at += 1;
                        note.apply(&mut self.collect, *index);
                    }
                    None => match group {
                        Some(entry) => {
                            self.replay_entry(cur, entry)?;
                        }
                        None => break,
                    },
                }
                self.check_output();
            }
        }
        self.drain(cur)
    }

    /// Makes `cur` point at a group, or at the end of what share `w` found in this batch:
    /// takes the share's next chunk when this one is used up (from the reading thread's own
    /// share, only a chunk already queued).
    fn refill(&mut self, cur: &mut Cursor, w: usize) -> Result<(), Wait> {
        while cur.at >= cur.found.groups.len() && !cur.found.last {
            let next = match &mut self.shares[w].link {
                Link::Thread(h) => {
                    let got = match h.from.try_recv() {
                        Err(TryRecvError::Empty) if !self.patient => return Err(Wait),
                        Err(TryRecvError::Empty) => h.from.recv().ok(),
                        got => got.ok(),
                    };
                    got.unwrap_or_else(|| {
                        self.broken = Some(worker_lost());
                        Found {
                            last: true,
                            ..Found::default()
                        }
                    })
                }
                Link::Here { queue, .. } => queue.pop_front().ok_or(Wait)?,
            };
            if let Some(t) = &next.table {
                self.collect.add_table_stats(t);
            }
            let spent = std::mem::replace(&mut cur.found, next);
            cur.at = 0;
            self.give_back(w, spent);
        }
        Ok(())
    }

    /// Replays every group of `entry` from every share, merged into one table's order: each
    /// share's groups of an entry come in that order, so the next is the least of the
    /// shares' next ones. Returns the flow that took the entry's packet.
    fn replay_entry(&mut self, cur: &mut [Cursor], entry: u32) -> Result<Option<Placed>, Wait> {
        loop {
            let mut next: Option<(GroupKey, usize)> = None;
            for (w, c) in cur.iter_mut().enumerate() {
                self.refill(c, w)?;
                let Some(g) = c.found.groups.get(c.at).filter(|g| g.entry == entry) else {
                    continue;
                };
                let key = self.key(w, g.phase);
                if next.is_none_or(|(least, _)| key < least) {
                    next = Some((key, w));
                }
            }
            let Some((_, w)) = next else {
                return Ok(self.placed.take());
            };
            let c = &mut cur[w];
            let Some(&group) = c.found.groups.get(c.at) else {
                return Ok(self.placed.take());
            };
            c.at += 1;
            if let Phase::Packet {
                placed: p,
                new_flow,
                streams,
            } = group.phase
            {
                let first_stream = self.next_stream;
                self.next_stream += streams;
                if let Some(p) = p {
                    self.placed = Some(Placed {
                        flow: self.open_flow(w, p.flow, new_flow, first_stream),
                        ..p
                    });
                }
            }
            self.replay_group(&mut c.found, w, &group);
        }
    }

    /// Hands a replayed chunk back to share `w` for its buffers, while what waits for it
    /// holds less than its share of [`SPENT_BYTES`]. A cursor's empty start (nothing
    /// allocated) is not handed back: the worker would fill it from nothing, growing every
    /// buffer again (and with them, page faults), instead of taking one that has room.
    fn give_back(&mut self, w: usize, spent: Found) {
        let held = spent.carried.held_bytes();
        let n = self.shares.len();
        if held == 0 || held > 4 * chunk_bytes(n) {
            return;
        }
        let room = SPENT_BYTES / n.max(1);
        match &mut self.shares[w].link {
            Link::Thread(worker) => {
                if worker.spent_bytes.load(Ordering::Relaxed) + held > room {
                    return;
                }
                worker.spent_bytes.fetch_add(held, Ordering::Relaxed);
                // A worker that has gone away needs nothing back.
                if worker.spent.try_send(spent).is_err() {
                    worker.spent_bytes.fetch_sub(held, Ordering::Relaxed);
                }
            }
            Link::Here {
                spent: waiting,
                spent_bytes,
                ..
            } => {
                if *spent_bytes + held <= room && waiting.len() < SPENT {
                    *spent_bytes += held;
                    waiting.push(spent);
                }
            }
        }
    }

    /// Takes every share's chunks up to its last one for the batch (all replayed by then).
    /// Every cursor reaches its last chunk before any is emptied, so that after a [`Wait`]
    /// none has been moved on to the next batch's.
    fn drain(&mut self, cur: &mut [Cursor]) -> Result<(), Wait> {
        for (w, c) in cur.iter_mut().enumerate() {
            c.at = c.found.groups.len();
            self.refill(c, w)?;
        }
        for (w, c) in cur.iter_mut().enumerate() {
            let spent = std::mem::take(&mut c.found);
            self.give_back(w, spent);
        }
        Ok(())
    }

    /// The first entry any share found something for that is not replayed yet.
    fn next_entry(&mut self, cur: &mut [Cursor]) -> Result<Option<u32>, Wait> {
        let mut least: Option<u32> = None;
        for (w, c) in cur.iter_mut().enumerate() {
            self.refill(c, w)?;
            if let Some(g) = c.found.groups.get(c.at) {
                least = Some(least.map_or(g.entry, |l| l.min(g.entry)));
            }
        }
        Ok(least)
    }

    /// Keeps the reporter's first output error: the run ends with it.
    fn check_output(&mut self) {
        if self.broken.is_none()
            && let Some(e) = self.collect.reporter.take_io_error()
        {
            self.broken = Some(e);
        }
    }

    /// Where a group goes among those of one entry, in one table's order: lingers over (by
    /// [`ClosingOrder`]), idle flows (by the run's flow id), the packet; at the end, idle
    /// flows, then every other flow, by id.
    fn key(&self, w: usize, phase: Phase) -> GroupKey {
        let none = ClosingOrder {
            deadline: Timestamp::ZERO,
            queued_at: 0,
        };
        match phase {
            Phase::Expired(order) => (0, order, 0),
            Phase::Swept(id) => (1, none, self.run_id(w, id)),
            Phase::FinalSwept(id) => (2, none, self.run_id(w, id)),
            Phase::FinalEnd(id) => (3, none, self.run_id(w, id)),
            Phase::Packet { .. } | Phase::PacketPart => (4, none, 0),
        }
    }

    /// The run's id of worker `w`'s flow `id` (one not open any more sorts last).
    fn run_id(&self, w: usize, id: FlowId) -> FlowId {
        self.shares[w].ids.get(&id).map_or(FlowId::MAX, |r| r.flow)
    }

    /// The run's id of worker `w`'s flow `id`, numbering it if it is `new` (its `tcp.stream`
    /// is then `stream`) and not numbered yet (by a part of its packet's group,
    /// [`Phase::PacketPart`]): flows are numbered in order of their first packet, as one table
    /// numbers them.
    fn open_flow(&mut self, w: usize, id: FlowId, new: bool, stream: u64) -> FlowId {
        let worker = &mut self.shares[w];
        if new && id > worker.newest {
            let run = RunIds {
                flow: self.next_id,
                tcp_stream: stream,
            };
            self.next_id += 1;
            worker.ids.insert(id, run);
            worker.newest = id;
            return run.flow;
        }
        worker.ids.get(&id).map_or(id, |r| r.flow)
    }

    fn replay_group(&mut self, found: &mut Found, w: usize, group: &Group) {
        let part = matches!(group.phase, Phase::PacketPart);
        let mut last: Option<(FlowId, RunIds)> = None;
        for i in group.from..group.to {
            let Some(item) = found.carried.items.get(i as usize) else {
                continue;
            };
            let (flow, closes) = (item.flow(), item.closes());
            let id = match (flow, last) {
                (None, _) => RunIds::default(),
                (Some(l), Some((seen, id))) if l == seen => id,
                (Some(l), _) => {
                    if part && l > self.shares[w].newest {
                        // The flow this packet starts, met before the packet's own group.
                        self.open_flow(w, l, true, self.next_stream);
                    }
                    let id = self.shares[w].ids.get(&l).copied().unwrap_or(RunIds {
                        flow: FlowId::MAX,
                        tcp_stream: u64::MAX,
                    });
                    last = Some((l, id));
                    id
                }
            };
            // A flow's kind that depends on the flows closed before it is settled here, in the
            // order one table closes them; its line was left to be written here.
            let unsettled = found
                .carried
                .closing_summary(i as usize)
                .is_some_and(|summary| {
                    let held = summary.held_request.is_some();
                    self.longpoll.decide(summary);
                    held
                });
            if let Some((line, places, anomaly)) = found.carried.line(i as usize) {
                let collect = &mut self.collect;
                places.splice(line, id.flow, id.tcp_stream, |pieces| {
                    collect.put_line(pieces, anomaly)
                });
            } else if self.lines && flow.is_some() && !unsettled {
                // A flow's closing, its line already written: counted only.
                let mut counting = Counting(&mut self.collect.stats);
                found.carried.replay(i as usize, id, &mut counting);
            } else {
                found
                    .carried
                    .replay(i as usize, id, &mut self.collect as &mut dyn EventSink);
            }
            if let Some(closed) = closes {
                self.shares[w].ids.remove(&closed);
            }
        }
    }
}

/// The order of a group among those of one entry (see [`Parallel::key`]).
type GroupKey = (u8, ClosingOrder, FlowId);

fn worker_lost() -> std::io::Error {
    std::io::Error::other("an analysis thread stopped unexpectedly")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_connection_answered_on_another_lane_is_counted() {
        let (c, srv) = (at("10.0.0.1:40000"), at("10.0.0.2:80"));
        let (c2, c3) = (at("10.0.0.1:40001"), at("10.0.0.1:40002"));
        let syn = TcpFlags(TcpFlags::SYN);
        let syn_ack = TcpFlags(TcpFlags::SYN | TcpFlags::ACK);
        let ack = TcpFlags(TcpFlags::ACK);
        let mut check = LaneCheck::default();
        // Whole: SYN and SYN-ACK on lane 1, the rest never looked at.
        check.see(c, srv, syn, 1);
        check.see(srv, c, syn_ack, 1);
        check.see(c, srv, ack, 0);
        assert_eq!(check.counts.split, 0);
        // Split: the answer came on lane 0.
        check.see(c2, srv, syn, 1);
        check.see(srv, c2, syn_ack, 0);
        assert_eq!(check.counts.split, 1);
        // A SYN-ACK without its SYN (the capture started in between) says nothing.
        check.see(srv, c3, syn_ack, 0);
        assert_eq!(check.counts.split, 1);
        assert!(check.syns.is_empty());
    }

    /// A raw IPv6 packet from 2001:db8::1 to 2001:db8::2 carrying a fragment header and
    /// `data` (at `offset` bytes, more to come or not) of datagram 7.
    fn ipv6_fragment(offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(8 + data.len() as u16).to_be_bytes());
        p.extend_from_slice(&[44, 64]);
        for last in [1u8, 2] {
            p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            p.extend_from_slice(&[0; 11]);
            p.push(last);
        }
        p.extend_from_slice(&[6, 0]);
        p.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn a_segment_reassembled_here_is_counted_when_lanes_hold_the_flows() {
        // A TCP segment (20-byte header, 12 bytes of payload) in two fragments.
        let mut tcp = vec![
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
        ];
        tcp.extend_from_slice(&[0; 4]);
        tcp.extend_from_slice(b"GET / HTTP/1");
        let frames = [
            ipv6_fragment(0, true, &tcp[..24]),
            ipv6_fragment(24, false, &tcp[24..]),
        ];
        for (lane, want) in [(Some(1), 1), (None, 0)] {
            let config = Config {
                threads: 2,
                ..Config::default()
            };
            let collect = Collect {
                stats: crate::stats::RunStats::default(),
                reporter: crate::app::Silent,
            };
            let mut p = Parallel::new(&config, collect, lane.is_none());
            for (i, data) in frames.iter().enumerate() {
                let frame = Frame {
                    index: i as u64 + 1,
                    ts: Timestamp::from_secs_nanos(1, 0),
                    link_type: LinkType::IPV6,
                    interface: 0,
                    orig_len: data.len() as u32,
                    data,
                };
                p.process(&frame, lane);
            }
            assert_eq!(p.lane_counts().reassembled, want, "lane {lane:?}");
            assert!(p.finish().is_ok());
        }
    }

    #[test]
    fn unanswered_syns_are_bounded() {
        let mut check = LaneCheck::default();
        let srv = at("10.0.0.2:80");
        for port in 0..3 * LANE_CHECK_SYNS as u16 {
            let c = SocketAddr::new(at("10.0.0.1:1").ip(), port);
            check.see(c, srv, TcpFlags(TcpFlags::SYN), 0);
            assert!(check.syns.len() <= LANE_CHECK_SYNS);
        }
    }
}
