//! The live packet source: walks the ring block by block and lends each packet to the analyzer
//! as a [`Frame`] that points straight into the ring (no copy), writing it to the `-w` file on
//! the way. A block goes back to the kernel when the analyzer asks for the packet after its last
//! one, i.e. after all of its packets were analyzed.
//!
//! With several rings (`live --threads N`: one fanout group, each ring holding whole flows), the
//! packets are merged into one sequence, numbered in that order and written to `-w` in it: the next
//! packet is the earliest stamped among the next packets of the blocks the kernel has handed over,
//! ring by ring. A ring whose block the kernel has not handed over yet is not waited for, so across
//! rings a packet can follow one stamped later by at most the time the kernel keeps a block (its
//! retire timeout, [`RingGeometry::retire_tov_ms`](super::socket::RingGeometry::retire_tov_ms), or
//! the time it takes to fill it); within a ring, and so within a flow, the kernel's order is kept.
//! Each frame says which ring it came from ([`PacketSource::next_with_lane`]).
//!
//! When to stop is [`StopControl`]'s business, kept free of I/O so it can be tested: `-c` ends
//! the capture right after the N-th packet; Ctrl-C / SIGTERM, `--duration` and a vanished
//! interface start a *drain* — packets stamped up to the stop time are still analyzed and
//! written, including those in the block the kernel is filling (it hands that block over within
//! its retire timeout), later ones are discarded — and then the source reports its end.

use super::bpf::SYN_HINT_SNAPLEN;
use super::ring::{self, BlockWalker, Framing, PacketHeader};
use super::socket::{KernelStats, PacketSocket, Readiness, poll_any};
use super::writer::PcapDump;
use crate::source::{
    Frame, LinkType, Next, NoteTaker, PacketSource, Progress, RecordNotes, SourceError,
};
use crate::time::Timestamp;
use std::ptr::NonNull;
use std::time::{Duration, Instant, SystemTime};

/// Longest wait for traffic before checking signals and the clock again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// `PACKET_OUTGOING`.
const PACKET_OUTGOING: u8 = 4;

/// User-given limits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// Stop after this many packets (`-c`).
    pub count: Option<u64>,
    /// Stop after this long (`--duration`).
    pub duration: Option<Duration>,
}

/// Why the capture ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopCause {
    Interrupted,
    Count,
    Duration,
    /// The interface went down or away; the text says what the kernel reported.
    InterfaceGone(String),
    /// Stdout was closed.
    OutputClosed,
    /// Writing the `-w` file failed.
    WriteFailed(String),
}

impl StopCause {
    /// Whether the run ended as the user asked (exit status 0).
    pub fn is_normal(&self) -> bool {
        matches!(
            self,
            StopCause::Interrupted
                | StopCause::Count
                | StopCause::Duration
                | StopCause::OutputClosed
        )
    }
}

impl std::fmt::Display for StopCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopCause::Interrupted => write!(f, "interrupted"),
            StopCause::Count => write!(f, "packet count reached"),
            StopCause::Duration => write!(f, "duration elapsed"),
            StopCause::InterfaceGone(why) => write!(f, "{why}; capture stopped"),
            StopCause::OutputClosed => write!(f, "output closed"),
            StopCause::WriteFailed(why) => write!(f, "{why}; capture stopped"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Capturing,
    /// Hand packets stamped up to `cutoff`; end once the ring is empty and the kernel's current
    /// block holds nothing, or at `until` at the latest.
    Draining {
        cutoff: Timestamp,
        until: Instant,
    },
    Done,
}

/// What to do with the next packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    Hand,
    /// Captured after the stop time.
    Discard,
    /// The capture is over.
    End,
}

/// The shortest time a drain waits for the kernel's current block to be retired.
const DRAIN_WINDOW_MIN: Duration = Duration::from_millis(750);

/// The stop rules: limits, signals, draining. Pure logic; the caller supplies the clocks.
#[derive(Debug)]
pub struct StopControl {
    limits: Limits,
    started: Instant,
    started_real: Timestamp,
    drain_window: Duration,
    phase: Phase,
    cause: Option<StopCause>,
    handed: u64,
}

fn add(ts: Timestamp, d: Duration) -> Timestamp {
    Timestamp(ts.0.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
}

impl StopControl {
    /// `drain_window`: the longest the drain waits for the kernel's current block (a little
    /// more than its retire timeout).
    pub fn new(
        limits: Limits,
        started: Instant,
        started_real: Timestamp,
        drain_window: Duration,
    ) -> Self {
        StopControl {
            limits,
            started,
            started_real,
            drain_window,
            phase: Phase::Capturing,
            cause: None,
            handed: 0,
        }
    }

    pub fn cause(&self) -> Option<&StopCause> {
        self.cause.as_ref()
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    pub fn is_capturing(&self) -> bool {
        self.phase == Phase::Capturing
    }

    /// Packets handed so far.
    pub fn handed(&self) -> u64 {
        self.handed
    }

    fn begin_drain(&mut self, cause: StopCause, cutoff: Timestamp, now: Instant) {
        if self.phase == Phase::Capturing {
            self.cause = Some(cause);
            self.phase = Phase::Draining {
                cutoff,
                until: now + self.drain_window,
            };
        }
    }

    /// Ends the capture at once (no drain): output gone, file write failed.
    pub fn stop_now(&mut self, cause: StopCause) {
        if self.phase != Phase::Done {
            if self.cause.is_none() || !cause.is_normal() {
                self.cause = Some(cause);
            }
            self.phase = Phase::Done;
        }
    }

    /// The interface went away: drain what was captured, then end.
    pub fn interface_gone(&mut self, why: String, now: Instant, now_real: Timestamp) {
        if self.phase == Phase::Capturing {
            self.begin_drain(StopCause::InterfaceGone(why), now_real, now);
        } else if self.phase != Phase::Done {
            // Already draining for another reason: the drain will end, but say why it ended.
            self.cause = Some(StopCause::InterfaceGone(why));
        }
    }

    /// Decides about a packet stamped `ts`, before it is handed. `now` is read only when the
    /// duration runs out on this packet.
    pub fn admit(&mut self, ts: Timestamp, now: impl FnOnce() -> Instant) -> Admit {
        if self.phase == Phase::Done {
            return Admit::End;
        }
        if self.limits.count.is_some_and(|c| self.handed >= c) {
            self.stop_now(StopCause::Count);
            return Admit::End;
        }
        if let (Phase::Capturing, Some(d)) = (self.phase, self.limits.duration) {
            let deadline = add(self.started_real, d);
            if ts > deadline {
                self.begin_drain(StopCause::Duration, deadline, now());
            }
        }
        if let Phase::Draining { cutoff, .. } = self.phase
            && ts > cutoff
        {
            return Admit::Discard;
        }
        self.handed += 1;
        Admit::Hand
    }

    /// Checks the clock and the signal flag (between blocks and after each wait).
    pub fn check(&mut self, now: Instant, now_real: Timestamp, interrupted: bool) {
        if self.phase != Phase::Capturing {
            return;
        }
        if self.limits.count.is_some_and(|c| self.handed >= c) {
            self.stop_now(StopCause::Count);
        } else if interrupted {
            self.begin_drain(StopCause::Interrupted, now_real, now);
        } else if let Some(d) = self.limits.duration
            && now.saturating_duration_since(self.started) >= d
        {
            self.begin_drain(StopCause::Duration, add(self.started_real, d), now);
        }
    }

    /// The ring has nothing ready. `kernel_block_has_packets`: the block the kernel is filling
    /// already holds packets. Returns true when the capture is over.
    pub fn idle(&mut self, now: Instant, kernel_block_has_packets: bool) -> bool {
        match self.phase {
            Phase::Capturing => false,
            Phase::Draining { until, .. } => {
                if !kernel_block_has_packets || now >= until {
                    self.phase = Phase::Done;
                    true
                } else {
                    false
                }
            }
            Phase::Done => true,
        }
    }

    /// A block was finished with `handed` packets handed from it. Under sustained traffic the
    /// ring is never empty, so a drain also ends here: once the window has passed and a whole
    /// block held only packets from after the stop, the backlog from before it is done.
    /// Returns true when the capture is over.
    pub fn block_done(&mut self, handed: u64, now: Instant) -> bool {
        match self.phase {
            Phase::Draining { until, .. } if handed == 0 && now >= until => {
                self.phase = Phase::Done;
                true
            }
            Phase::Done => true,
            _ => false,
        }
    }

    /// How long to wait for traffic.
    pub fn poll_timeout(&self, now: Instant) -> Duration {
        let floor = Duration::from_millis(1);
        match self.phase {
            Phase::Capturing => {
                let mut t = POLL_INTERVAL;
                if let Some(d) = self.limits.duration {
                    let left = (self.started + d).saturating_duration_since(now);
                    t = t.min(left);
                }
                t.max(floor)
            }
            Phase::Draining { until, .. } => until.saturating_duration_since(now).max(floor),
            Phase::Done => floor,
        }
    }
}

/// Counters kept by the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Packets handed to the analyzer (and written to `-w`).
    pub captured: u64,
    pub bytes: u64,
    /// Bare SYNs on ports that were not selected: flows the port filter skipped.
    pub syn_hints: u64,
    /// Outgoing copies of loopback packets dropped in user space.
    pub loopback_duplicates: u64,
    /// Packets stamped after the stop time.
    pub after_stop: u64,
    /// Ring blocks (or packets) that did not look like the kernel wrote them.
    pub ring_errors: u64,
}

/// Where the next frame lies in the ring.
struct Located {
    data: NonNull<u8>,
    len: usize,
    ts: Timestamp,
    orig_len: u32,
}

/// One ring of the capture and where the walk over it stands.
struct Lane {
    socket: PacketSocket,
    /// The block being read, or the next one to wait for.
    block: usize,
    /// Walk over `block` while user space owns it.
    walker: Option<BlockWalker>,
    /// Packets handed from the current block.
    handed_in_block: u64,
    /// The next packet of `block`, found but not handed yet (it waits for its turn among the
    /// rings' next packets).
    next: Option<PacketHeader>,
}

impl Lane {
    fn new(socket: PacketSocket) -> Lane {
        Lane {
            socket,
            block: 0,
            walker: None,
            handed_in_block: 0,
            next: None,
        }
    }
}

/// A live capture as a [`PacketSource`].
pub struct LiveSource {
    name: String,
    /// One ring, or the rings of one fanout group.
    lanes: Vec<Lane>,
    /// The ring of the packet handed last.
    current: usize,
    framing: Framing,
    link_type: LinkType,
    /// Loopback interface index: its outgoing copies are duplicates.
    loopback: Option<i32>,
    next_index: u64,
    stop: StopControl,
    dump: Option<PcapDump>,
    dump_name: String,
    on_batch: Option<Box<dyn FnMut() -> bool>>,
    interrupted: fn() -> bool,
    stats: SourceStats,
    first_ring_error: Option<ring::RingError>,
    consecutive_poll_errors: u32,
    /// The error to return once, at the end.
    final_error: Option<SourceError>,
    /// Packets handed on stamped earlier than the one before (several rings: within the
    /// reorder bound; one ring: packets from different CPUs).
    notes: NoteTaker,
}

/// What [`LiveSource::advance`] found.
enum Got {
    Packet(Located),
    /// The poll timed out: no packet is waiting.
    Idle(Timestamp),
    End,
}

/// The capture clock to report when the ring is empty: the wall clock, less the block retire
/// timeout (at most 100 ms) plus a margin, since packets still in the kernel's current block
/// carry timestamps up to that much older and must not arrive "before" the clock.
fn idle_clock() -> Timestamp {
    const LAG_NS: i64 = 250_000_000;
    Timestamp(realtime_now().0.saturating_sub(LAG_NS))
}

fn realtime_now() -> Timestamp {
    match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => Timestamp::from_secs_nanos(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => Timestamp::ZERO,
    }
}

impl LiveSource {
    /// A source over open sockets (one, or the rings of one fanout group). `first_index`
    /// numbers the first packet; `on_batch` runs after every block and before every wait (flush
    /// stdout there; return false to stop).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        sockets: Vec<PacketSocket>,
        framing: Framing,
        link_type: LinkType,
        loopback: Option<u32>,
        limits: Limits,
        first_index: u64,
        interrupted: fn() -> bool,
    ) -> LiveSource {
        let tov_ms = sockets
            .iter()
            .map(|s| s.geometry().retire_tov_ms)
            .max()
            .unwrap_or(0);
        let tov = Duration::from_millis(u64::from(tov_ms));
        let stop = StopControl::new(
            limits,
            Instant::now(),
            realtime_now(),
            // The kernel retires its current block within one timeout, but a loaded machine
            // may not run us in time to see it: wait generously (the drain still ends at once
            // when the kernel holds nothing).
            (tov * 2 + Duration::from_millis(50)).max(DRAIN_WINDOW_MIN),
        );
        LiveSource {
            name,
            lanes: sockets.into_iter().map(Lane::new).collect(),
            current: 0,
            framing,
            link_type,
            loopback: loopback.and_then(|i| i32::try_from(i).ok()),
            next_index: first_index,
            stop,
            dump: None,
            dump_name: String::new(),
            on_batch: None,
            interrupted,
            stats: SourceStats::default(),
            first_ring_error: None,
            consecutive_poll_errors: 0,
            final_error: None,
            notes: NoteTaker::default(),
        }
    }

    /// Writes every packet handed on to `dump` (named `name` in messages).
    pub fn write_to(&mut self, dump: PcapDump, name: String) {
        self.dump = Some(dump);
        self.dump_name = name;
    }

    /// Runs `hook` at the end of every batch of packets; it returns false to stop the capture.
    pub fn on_batch(&mut self, hook: Box<dyn FnMut() -> bool>) {
        self.on_batch = Some(hook);
    }

    pub fn stats(&self) -> SourceStats {
        self.stats
    }

    pub fn stop_cause(&self) -> Option<&StopCause> {
        self.stop.cause()
    }

    pub fn first_ring_error(&self) -> Option<ring::RingError> {
        self.first_ring_error
    }

    /// Kernel counters (packets received by the filter, dropped, ring freezes), summed over
    /// the rings.
    pub fn kernel_stats(&mut self) -> std::io::Result<KernelStats> {
        let mut sum = KernelStats::default();
        for k in self.kernel_stats_by_ring()? {
            sum.received += k.received;
            sum.dropped += k.dropped;
            sum.freezes += k.freezes;
        }
        Ok(sum)
    }

    /// Kernel counters of each ring (`PACKET_STATISTICS` of its socket).
    pub fn kernel_stats_by_ring(&mut self) -> std::io::Result<Vec<KernelStats>> {
        (self.lanes.iter_mut())
            .map(|lane| lane.socket.statistics())
            .collect()
    }

    /// Flushes the `-w` file; returns the packets written to it.
    pub fn close_dump(&mut self) -> Result<Option<u64>, SourceError> {
        match self.dump.as_mut() {
            None => Ok(None),
            Some(d) => match d.flush() {
                Ok(()) => Ok(Some(d.packets())),
                Err(e) => Err(SourceError {
                    source: self.dump_name.clone(),
                    offset: None,
                    message: format!("writing the capture file: {e}"),
                }),
            },
        }
    }

    fn write_failed(&mut self, e: std::io::Error) -> SourceError {
        let message = format!("writing the capture file: {e}");
        self.stop.stop_now(StopCause::WriteFailed(message.clone()));
        SourceError {
            source: self.dump_name.clone(),
            offset: None,
            message,
        }
    }

    /// Flushes the file and stdout at the end of a batch.
    fn end_batch(&mut self) -> Result<(), SourceError> {
        if let Some(d) = self.dump.as_mut()
            && let Err(e) = d.flush()
        {
            return Err(self.write_failed(e));
        }
        if let Some(hook) = self.on_batch.as_mut()
            && !hook()
        {
            self.stop.stop_now(StopCause::OutputClosed);
        }
        Ok(())
    }

    /// Hands ring `l`'s block back to the kernel, if user space holds one.
    fn release_block(&mut self, l: usize) {
        let Some(lane) = self.lanes.get_mut(l) else {
            return;
        };
        lane.next = None;
        if lane.walker.take().is_some() {
            lane.socket.ring().release(lane.block);
            lane.block = (lane.block + 1) % lane.socket.ring().blocks().max(1);
        }
    }

    /// The end of the capture: hand back the blocks, flush, and report an error once if the
    /// capture did not end as asked.
    fn finish(&mut self) -> Result<Got, SourceError> {
        for l in 0..self.lanes.len() {
            self.release_block(l);
        }
        if let Err(e) = self.end_batch() {
            self.final_error.get_or_insert(e);
        }
        if let Some(e) = self.final_error.take() {
            return Err(e);
        }
        Ok(Got::End)
    }

    /// Finds ring `l`'s next packet, if the blocks the kernel handed over hold one: walks the
    /// block user space owns, hands a finished block back, and starts on the next block once
    /// the kernel has handed it over. Filter hints and loopback duplicates are counted and
    /// skipped here.
    fn find_next(&mut self, l: usize) -> Result<(), SourceError> {
        loop {
            if self.stop.is_done() {
                return Ok(());
            }
            let Some(lane) = self.lanes.get_mut(l) else {
                return Ok(());
            };
            if lane.next.is_some() {
                return Ok(());
            }
            if let Some(walker) = lane.walker.as_mut() {
                let ring = lane.socket.ring();
                let Some(base) = ring.block_ptr(lane.block) else {
                    lane.walker = None;
                    continue;
                };
                // SAFETY: user space owns this block (its status said TP_STATUS_USER and it has
                // not been released); the kernel does not touch it until `release_block`, and
                // no mutable reference into it is alive: the frame handed last from it was
                // given up when the analyzer asked for the next one.
                let block = unsafe { std::slice::from_raw_parts(base.as_ptr(), ring.block_size()) };
                let Some(header) = walker.next_packet(block) else {
                    if let Some(e) = walker.error() {
                        self.stats.ring_errors += 1;
                        self.first_ring_error.get_or_insert(e);
                    }
                    let handed = lane.handed_in_block;
                    self.release_block(l);
                    self.end_batch()?;
                    self.stop.block_done(handed, Instant::now());
                    continue;
                };
                if header.snaplen == SYN_HINT_SNAPLEN && header.len > SYN_HINT_SNAPLEN {
                    self.stats.syn_hints += 1;
                    continue;
                }
                if header.link.pkttype == PACKET_OUTGOING
                    && self.loopback == Some(header.link.ifindex)
                {
                    self.stats.loopback_duplicates += 1;
                    continue;
                }
                lane.next = Some(header);
                return Ok(());
            }

            // Between blocks: the next one, if the kernel has handed it over (the clock and the
            // signal flag are looked at then, once a block; when no ring has one, `advance`
            // looks before waiting).
            if !lane.socket.ring().is_user(lane.block) {
                return Ok(());
            }
            self.check_stop();
            if self.stop.is_done() {
                return Ok(());
            }
            let lane = &mut self.lanes[l];
            let ring = lane.socket.ring();
            let Some(base) = ring.block_ptr(lane.block) else {
                return Ok(());
            };
            // SAFETY: as above: the block is user-owned and nothing else refers to it.
            let block = unsafe { std::slice::from_raw_parts(base.as_ptr(), ring.block_size()) };
            lane.walker = Some(BlockWalker::new(block));
            lane.handed_in_block = 0;
        }
    }

    /// Looks at the clock and the signal flag: a limit reached or Ctrl-C starts the drain.
    fn check_stop(&mut self) {
        self.stop
            .check(Instant::now(), realtime_now(), (self.interrupted)());
    }

    /// Hands ring `l`'s next packet `header` on, unless it was stamped after the stop or is
    /// malformed (`Ok(None)`: look further).
    fn hand(&mut self, l: usize, header: PacketHeader) -> Result<Option<Got>, SourceError> {
        let lane = &mut self.lanes[l];
        let ring = lane.socket.ring();
        let Some(base) = ring.block_ptr(lane.block) else {
            return Ok(None);
        };
        // SAFETY: user space owns this block (see `find_next`) and no other reference into it
        // is alive: the previous frame's borrow ended when the analyzer called `next_frame`
        // again, and `find_next` holds none.
        let block = unsafe { std::slice::from_raw_parts_mut(base.as_ptr(), ring.block_size()) };
        let prepared = match ring::prepare(block, &header, self.framing) {
            Ok(p) => p,
            Err(e) => {
                self.stats.ring_errors += 1;
                self.first_ring_error.get_or_insert(e);
                return Ok(None);
            }
        };
        let ts = header_ts(&header);
        match self.stop.admit(ts, Instant::now) {
            Admit::Hand => {}
            Admit::Discard => {
                self.stats.after_stop += 1;
                return Ok(None);
            }
            Admit::End => return self.finish().map(Some),
        }
        let Some(data) = block.get(prepared.start..prepared.end) else {
            self.stats.ring_errors += 1;
            return Ok(None);
        };
        if let Some(d) = self.dump.as_mut()
            && let Err(e) = d.write_packet(ts, prepared.orig_len, data)
        {
            return Err(self.write_failed(e));
        }
        self.notes.note_packet(ts, data.is_empty(), false);
        self.stats.captured += 1;
        self.stats.bytes += data.len() as u64;
        lane.handed_in_block += 1;
        self.current = l;
        Ok(Some(Got::Packet(Located {
            data: NonNull::from(data).cast::<u8>(),
            len: data.len(),
            ts,
            orig_len: prepared.orig_len,
        })))
    }

    /// Finds the next packet to hand on: the earliest stamped of the rings' next packets.
    fn advance(&mut self) -> Result<Got, SourceError> {
        loop {
            for l in 0..self.lanes.len() {
                self.find_next(l)?;
            }
            if self.stop.is_done() {
                return self.finish();
            }
            let earliest = (self.lanes.iter().enumerate())
                .filter_map(|(l, lane)| lane.next.map(|h| (header_ts(&h), l)))
                .min();
            if let Some((_, l)) = earliest {
                let Some(header) = self.lanes[l].next.take() else {
                    continue;
                };
                match self.hand(l, header)? {
                    Some(got) => return Ok(got),
                    None => continue,
                }
            }

            // Nothing ready in any ring: the batch is over.
            self.end_batch()?;
            self.check_stop();
            if self.stop.is_done() {
                return self.finish();
            }
            let now = Instant::now();
            let pending = (self.lanes.iter())
                .any(|lane| lane.socket.ring().packets_in_kernel_block(lane.block) > 0);
            if self.stop.idle(now, pending) {
                return self.finish();
            }
            let sockets = self.lanes.iter().map(|lane| &lane.socket);
            match poll_any(sockets, self.stop.poll_timeout(now)) {
                Readiness::Readable | Readiness::Interrupted => {
                    self.consecutive_poll_errors = 0;
                }
                Readiness::TimedOut => {
                    self.consecutive_poll_errors = 0;
                    return Ok(Got::Idle(idle_clock()));
                }
                Readiness::Error => self.socket_failed(),
            }
        }
    }

    /// poll reported an error: the interface went down or away (or a socket broke).
    fn socket_failed(&mut self) {
        let error = self.lanes.iter().find_map(|lane| lane.socket.take_error());
        let why = match error {
            Some(e) => match e.raw_os_error() {
                Some(libc::ENETDOWN) => format!("interface went down ({e})"),
                Some(libc::ENXIO | libc::ENODEV) => format!("interface was removed ({e})"),
                _ => format!("capture failed: {e}"),
            },
            None => {
                // A spurious error indication: tolerate a few in a row.
                self.consecutive_poll_errors += 1;
                if self.consecutive_poll_errors < 3 {
                    return;
                }
                "capture socket reported an error".to_string()
            }
        };
        self.final_error = Some(SourceError {
            source: self.name.clone(),
            offset: None,
            message: format!("{why}; capture stopped"),
        });
        self.stop
            .interface_gone(why, Instant::now(), realtime_now());
    }
}

/// A ring packet's kernel timestamp.
fn header_ts(header: &PacketHeader) -> Timestamp {
    Timestamp::from_secs_nanos(i64::from(header.sec), header.nsec)
}

impl LiveSource {
    /// The frame of a packet `advance` located.
    fn frame(&mut self, located: Located) -> Frame<'_> {
        // SAFETY: `located` points into a block user space owns; it stays owned (and mapped)
        // until the next call to `next_frame` or the drop of the source, both of which need the
        // `&mut self` this frame borrows.
        let data = unsafe { std::slice::from_raw_parts(located.data.as_ptr(), located.len) };
        let index = self.next_index;
        self.next_index += 1;
        Frame {
            index,
            ts: located.ts,
            link_type: self.link_type,
            interface: 0,
            orig_len: located.orig_len,
            data,
        }
    }
}

impl PacketSource for LiveSource {
    fn kernel_stats(&mut self) -> Option<KernelStats> {
        LiveSource::kernel_stats(self).ok()
    }

    fn record_notes(&self) -> RecordNotes {
        self.notes.notes()
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        loop {
            match self.advance()? {
                Got::Packet(located) => return Ok(Some(self.frame(located))),
                Got::Idle(_) => {}
                Got::End => return Ok(None),
            }
        }
    }

    fn next(&mut self) -> Result<Next<'_>, SourceError> {
        Ok(self.next_with_lane()?.0)
    }

    fn next_with_lane(&mut self) -> Result<(Next<'_>, Option<usize>), SourceError> {
        let got = self.advance()?;
        let lane = (self.lanes.len() > 1).then_some(self.current);
        let next = match got {
            Got::Packet(located) => Next::Frame(self.frame(located)),
            Got::Idle(now) => Next::Idle(now),
            Got::End => Next::End,
        };
        Ok((next, lane))
    }

    fn progress(&self) -> Progress {
        Progress {
            bytes_done: self.stats.bytes,
            bytes_total: None,
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(178);

    fn control(limits: Limits) -> (StopControl, Instant, Timestamp) {
        let t0 = Instant::now();
        let real0 = Timestamp::from_secs_nanos(1_700_000_000, 0);
        (StopControl::new(limits, t0, real0, WINDOW), t0, real0)
    }

    fn at(real0: Timestamp, ms: i64) -> Timestamp {
        Timestamp(real0.0 + ms * 1_000_000)
    }

    #[test]
    fn count_ends_right_after_the_nth_packet() {
        let (mut c, t0, real0) = control(Limits {
            count: Some(3),
            duration: None,
        });
        for i in 0..3 {
            assert_eq!(c.admit(at(real0, i), || t0), Admit::Hand);
        }
        assert_eq!(c.admit(at(real0, 3), || t0), Admit::End);
        assert_eq!(c.cause(), Some(&StopCause::Count));
        assert!(c.is_done());
        assert_eq!(c.handed(), 3);
        // Later signals change nothing.
        c.check(t0, real0, true);
        assert_eq!(c.cause(), Some(&StopCause::Count));
    }

    #[test]
    fn count_reached_between_blocks_stops_without_draining() {
        let (mut c, t0, real0) = control(Limits {
            count: Some(1),
            duration: None,
        });
        assert_eq!(c.admit(real0, || t0), Admit::Hand);
        c.check(t0, real0, false);
        assert!(c.is_done());
    }

    #[test]
    fn interrupt_drains_packets_stamped_before_it() {
        let (mut c, t0, real0) = control(Limits::default());
        assert_eq!(c.admit(at(real0, 10), || t0), Admit::Hand);
        let stop_real = at(real0, 500);
        c.check(t0 + Duration::from_millis(500), stop_real, true);
        assert_eq!(c.cause(), Some(&StopCause::Interrupted));
        assert!(!c.is_done());
        // Captured before the interrupt, still in the ring: kept.
        assert_eq!(c.admit(at(real0, 499), || t0), Admit::Hand);
        assert_eq!(c.admit(stop_real, || t0), Admit::Hand);
        // After it: discarded.
        assert_eq!(c.admit(at(real0, 501), || t0), Admit::Discard);
        // The kernel's block still holds packets: wait for it, up to the window.
        let t_stop = t0 + Duration::from_millis(500);
        assert!(!c.idle(t_stop + Duration::from_millis(10), true));
        assert!(c.idle(t_stop + WINDOW, true));
        assert!(c.is_done());
        assert_eq!(c.admit(at(real0, 1), || t0), Admit::End);
    }

    #[test]
    fn drain_ends_at_once_when_the_kernel_holds_nothing() {
        let (mut c, t0, real0) = control(Limits::default());
        c.check(t0, real0, true);
        assert!(c.idle(t0, false));
    }

    #[test]
    fn capturing_never_ends_on_idle() {
        let (mut c, t0, real0) = control(Limits::default());
        c.check(t0 + Duration::from_secs(3600), real0, false);
        assert!(!c.idle(t0 + Duration::from_secs(3600), false));
        assert!(c.is_capturing());
    }

    #[test]
    fn duration_cuts_at_the_deadline_by_packet_time() {
        let (mut c, t0, real0) = control(Limits {
            count: None,
            duration: Some(Duration::from_secs(2)),
        });
        assert_eq!(c.admit(at(real0, 1999), || t0), Admit::Hand);
        assert_eq!(c.admit(at(real0, 2000), || t0), Admit::Hand);
        // The first packet past the deadline starts the drain and is itself discarded.
        assert_eq!(
            c.admit(at(real0, 2001), || t0 + Duration::from_secs(2)),
            Admit::Discard
        );
        assert_eq!(c.cause(), Some(&StopCause::Duration));
        // A packet from another CPU, stamped earlier but seen later, still counts.
        assert_eq!(c.admit(at(real0, 1998), || t0), Admit::Hand);
        assert_eq!(c.handed(), 3);
    }

    #[test]
    fn duration_ends_a_quiet_capture_by_the_clock() {
        let (mut c, t0, real0) = control(Limits {
            count: None,
            duration: Some(Duration::from_millis(300)),
        });
        assert_eq!(c.poll_timeout(t0), POLL_INTERVAL);
        assert_eq!(
            c.poll_timeout(t0 + Duration::from_millis(250)),
            Duration::from_millis(50)
        );
        c.check(t0 + Duration::from_millis(299), at(real0, 299), false);
        assert!(c.is_capturing());
        c.check(t0 + Duration::from_millis(300), at(real0, 300), false);
        assert_eq!(c.cause(), Some(&StopCause::Duration));
        // The cutoff is the deadline, not the moment the clock was read.
        assert_eq!(c.admit(at(real0, 300), || t0), Admit::Hand);
        assert_eq!(c.admit(at(real0, 301), || t0), Admit::Discard);
        assert!(c.idle(t0 + Duration::from_millis(300), false));
    }

    #[test]
    fn the_first_cause_wins_except_for_failures() {
        let (mut c, t0, real0) = control(Limits::default());
        c.check(t0, real0, true);
        c.check(t0, real0, true);
        assert_eq!(c.cause(), Some(&StopCause::Interrupted));
        c.interface_gone("interface went down".into(), t0, real0);
        assert!(matches!(c.cause(), Some(StopCause::InterfaceGone(_))));
        c.stop_now(StopCause::OutputClosed);
        assert!(matches!(c.cause(), Some(StopCause::InterfaceGone(_))));
        assert!(c.is_done());

        let (mut c, t0, real0) = control(Limits::default());
        c.interface_gone("gone".into(), t0, real0);
        assert!(
            !c.is_done(),
            "an interface that goes away still gets its ring drained"
        );
        c.stop_now(StopCause::WriteFailed("disk full".into()));
        assert_eq!(c.cause(), Some(&StopCause::WriteFailed("disk full".into())));
    }

    #[test]
    fn a_drain_under_sustained_traffic_ends_after_the_backlog() {
        let (mut c, t0, real0) = control(Limits::default());
        // Blocks keep arriving: the ring is never empty, so `idle` is never consulted.
        assert!(
            !c.block_done(0, t0 + Duration::from_secs(5)),
            "not stopping yet"
        );
        c.check(t0, real0, true);
        // Backlog from before the stop: keep going even past the window.
        assert!(!c.block_done(500, t0 + WINDOW * 3));
        // A block with nothing from before the stop, but still inside the window: keep going
        // (the kernel's current block may still hold earlier packets).
        assert!(!c.block_done(0, t0 + WINDOW / 2));
        // Past the window and nothing from before the stop: done.
        assert!(c.block_done(0, t0 + WINDOW));
        assert!(c.is_done());
        assert_eq!(c.cause(), Some(&StopCause::Interrupted));
    }

    #[test]
    fn poll_timeout_is_bounded() {
        let (mut c, t0, real0) = control(Limits::default());
        assert_eq!(c.poll_timeout(t0), POLL_INTERVAL);
        c.check(t0, real0, true);
        assert_eq!(c.poll_timeout(t0), WINDOW);
        assert_eq!(c.poll_timeout(t0 + WINDOW * 2), Duration::from_millis(1));
    }

    #[test]
    fn causes_read_well_and_know_their_status() {
        assert!(StopCause::Interrupted.is_normal());
        assert!(StopCause::Duration.is_normal());
        assert!(!StopCause::InterfaceGone("x".into()).is_normal());
        assert_eq!(
            StopCause::InterfaceGone("interface went down".into()).to_string(),
            "interface went down; capture stopped"
        );
    }
}
