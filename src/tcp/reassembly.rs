//! Reassembly of one direction of a TCP connection into an ordered byte stream.
//!
//! A [`Stream`] turns segments (in any order, duplicated, overlapping, cut by the snaplen) into
//! [`Delivery`] items in stream order: `Data` borrowed straight from the segment whenever it
//! arrives in order, `Data` from the out-of-order buffer when a hole is filled, `Gap` with the
//! exact number of bytes that will never be seen, and `End` when the FIN is reached.
//!
//! Promises:
//! - No panic and no unbounded growth on any input: buffered bytes are charged against an
//!   [`OooBudget`] (per direction and global) and hitting a cap skips forward with a notice.
//! - Every byte offset of the stream is reported exactly once, as data or inside a gap, and
//!   delivered data at stream position `p` is the first-seen byte for offset `p`.
//!
//! Policies (the [`crate::tcp`] module docs say how they surface to the handler):
//! - First seen wins. Bytes that overlap buffered data or the last [`CONFLICT_WINDOW`] delivered
//!   bytes are compared; a difference raises `OverlapConflict`. Older delivered bytes are not
//!   kept, so differences there go unnoticed. Delivered bytes are copied into that window,
//!   except a segment of a whole window or more that lies in the table's [`Backing`] (the
//!   memory-mapped capture): it is remembered by its place there and read back only when
//!   something overlaps it, so that bytes nothing else reads are not read for it.
//! - A hole is given up on (declared a gap) only when something is waiting after it (buffered
//!   data or the FIN) *and* there is evidence that the hole's bytes crossed the wire without us
//!   seeing them: the peer acknowledged them, or they were cut by the snaplen, or we dropped them
//!   for a cap. Closing the stream ([`Stream::flush`]) gives up on every remaining hole.
//! - Bytes the snaplen cut need nothing waiting behind them: the segment's range is known, so
//!   [`Stream::on_segment`] delivers its captured part and then the cut part as a gap before it
//!   returns. Copies of the cut bytes arriving later are behind the delivery point: ignored,
//!   never compared (there is nothing first-seen to compare with).
//! - Buffered bytes remember the packet that brought them ([`Stream::set_arrival`]): when they
//!   are delivered without a packet driving the delivery (the end of the stream), a
//!   [`Delivery::Arrived`] before them says when their last byte arrived.

use super::seq::{SeqMap, SeqNumber};
use super::{PacketRef, TcpNotice};
use crate::budget::{Held, box_bytes};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Delivered bytes remembered per direction to detect retransmissions that differ from what
/// was delivered. A power of two so that offsets map onto the ring with a mask.
pub const CONFLICT_WINDOW: usize = 512;
/// [`CONFLICT_WINDOW`] as the stream keeps lengths within it.
const WINDOW_LEN: u16 = CONFLICT_WINDOW as u16;

/// Charged against the out-of-order budget (and the memory budget) for every buffered piece on
/// top of its bytes, so that a flood of 1-byte segments cannot multiply memory use behind a
/// byte count: what a piece costs besides its bytes is its entry in the B-tree (the key and the
/// `Piece`, in nodes that are at least half full: twice that at most) and the boxed bytes'
/// allocator header and rounding. Measured on a flood of 1-byte pieces: 143 bytes each.
pub const CHUNK_OVERHEAD: usize =
    2 * (size_of::<u64>() + size_of::<Piece>()) + 2 * crate::budget::ALLOC_OVERHEAD;

/// How far ahead of the delivery point a segment may start (or an ACK may point) and still be
/// believed: the largest window TCP can advertise (65535 << 14, rounded up).
pub const MAX_AHEAD: u64 = 1 << 30;

/// What a stream hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    Data(&'a [u8]),
    Gap(u64),
    End,
    Notice(TcpNotice),
    /// The `Data` that follows comes from the out-of-order buffer and arrived in this packet.
    Arrived(PacketRef),
}

/// Out-of-order bytes waiting for the hole before them, and the packet that brought them.
#[derive(Debug)]
struct Piece {
    bytes: Box<[u8]>,
    arrived: Option<PacketRef>,
}

impl std::ops::Deref for Piece {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The out-of-order byte caps, shared by every stream of a flow table.
#[derive(Debug)]
pub struct OooBudget {
    used: usize,
    max_total: usize,
    max_per_dir: usize,
}

impl OooBudget {
    pub fn new(max_per_dir: usize, max_total: usize) -> OooBudget {
        OooBudget {
            used: 0,
            max_total,
            max_per_dir,
        }
    }

    /// Bytes (with per-piece overhead) currently charged across all streams.
    pub fn used(&self) -> usize {
        self.used
    }
}

/// The first and last differing offsets seen while processing one segment.
#[derive(Default)]
struct Conflicts {
    span: Option<(u64, u64)>,
}

impl Conflicts {
    /// Compares bytes seen first with bytes seen now, both starting at stream offset `offset`.
    fn compare(&mut self, offset: u64, first_seen: &[u8], now: &[u8]) {
        let n = first_seen.len().min(now.len());
        let (Some(a), Some(b)) = (first_seen.get(..n), now.get(..n)) else {
            return;
        };
        if a == b {
            return;
        }
        let differs = |(x, y): (&u8, &u8)| x != y;
        let first = a.iter().zip(b).position(differs).unwrap_or(0);
        let last = a.iter().zip(b).rposition(differs).unwrap_or(first);
        let (lo, hi) = (offset + first as u64, offset + last as u64);
        self.span = Some(match self.span {
            Some((l, h)) => (l.min(lo), h.max(hi)),
            None => (lo, hi),
        });
    }

    fn notice(&self) -> Option<TcpNotice> {
        self.span.map(|(lo, hi)| TcpNotice::OverlapConflict {
            offset: lo,
            len: u32::try_from(hi - lo + 1).unwrap_or(u32::MAX),
        })
    }
}

/// Why a segment could not be buffered.
struct NoRoom;

/// Bytes that every payload a table is given may lie in, readable for as long as the table
/// remembers places in them: a capture file mapped whole. A stream remembers its newest
/// delivered bytes by their place in them instead of copying them into its conflict window
/// when they fill the window ([`Stream::on_segment`]), and reads them back only when a
/// retransmission overlaps them. It holds them weakly: whoever maps them keeps them, and
/// before they go, the table copies what its streams remember in them
/// ([`crate::tcp::FlowTable::set_backing`]).
#[derive(Clone, Debug)]
pub struct Backing {
    /// Told apart from every other backing of the process (a later map may reuse an address).
    id: u64,
    base: usize,
    len: usize,
    bytes: Weak<dyn AsRef<[u8]> + Send + Sync>,
}

impl Backing {
    /// The bytes `bytes` holds, held weakly (the caller's `Arc` keeps them).
    pub fn new<T: AsRef<[u8]> + Send + Sync + 'static>(bytes: &Arc<T>) -> Backing {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let all = (**bytes).as_ref();
        let weak: Weak<T> = Arc::downgrade(bytes);
        Backing {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            base: all.as_ptr() as usize,
            len: all.len(),
            bytes: weak as Weak<dyn AsRef<[u8]> + Send + Sync>,
        }
    }

    /// Whether both were made from the same call of [`Backing::new`].
    pub fn same(&self, other: &Backing) -> bool {
        self.id == other.id
    }

    /// Where `bytes` start in the backing, if they lie in it.
    fn place(&self, bytes: &[u8]) -> Option<usize> {
        let at = (bytes.as_ptr() as usize).checked_sub(self.base)?;
        (at.checked_add(bytes.len())? <= self.len).then_some(at)
    }

    /// Calls `f` with `len` bytes at `at`, if the backing is still there.
    fn read<R>(&self, at: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let bytes = self.bytes.upgrade()?;
        let all = (*bytes).as_ref();
        all.get(at..at.checked_add(len)?).map(f)
    }
}

/// A segment's bytes, as [`Stream::on_segment`] takes them.
#[derive(Clone, Copy, Debug)]
pub struct Payload<'a> {
    /// What was captured.
    pub bytes: &'a [u8],
    /// How many bytes follow `bytes` on the wire that were not captured (the snaplen cut them).
    pub missing: u32,
    /// What `bytes` may lie in, for them to be remembered by their place ([`Backing`]).
    pub backing: Option<&'a Backing>,
}

impl<'a> Payload<'a> {
    /// `bytes`, all captured, lying in nothing that stays readable.
    pub fn of(bytes: &'a [u8]) -> Payload<'a> {
        Payload {
            bytes,
            missing: 0,
            backing: None,
        }
    }
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence-to-offset mapping; `None` until the SYN or the first data fixes the base.
    map: Option<SeqMap>,
    /// Offset of the next byte to deliver (everything before it was delivered or declared lost).
    next: u64,
    /// Out-of-order bytes, non-overlapping, every key ≥ `next`.
    ooo: BTreeMap<u64, Piece>,
    /// The packet whose segment is being processed (see [`Stream::set_arrival`]).
    arriving: Option<PacketRef>,
    /// What `ooo` is charged against the budget.
    ooo_charge: usize,
    /// End of the furthest data seen (captured or cut by the snaplen).
    max_end: u64,
    /// Holes below this offset are known lost: cut by the snaplen or dropped for a cap.
    lost_mark: u64,
    /// End of the furthest segment the snaplen cut: its missing bytes are declared a gap as
    /// soon as delivery reaches them, without waiting for anything behind them.
    cut_end: u64,
    /// Highest acknowledgment the peer sent for this direction.
    peer_ack: Option<SeqNumber>,
    /// Offset of the FIN, once seen.
    fin_at: Option<u64>,
    /// `End` was delivered.
    ended: bool,
    /// A zero-window probe byte, used only if its hole is otherwise given up on.
    probe: Option<(u64, u8)>,
    /// Ring of the last delivered bytes: offset `x` lives at `x % CONFLICT_WINDOW`, unless it
    /// is remembered in place.
    recent: Option<Box<[u8; CONFLICT_WINDOW]>>,
    /// How many bytes before `next` the window holds (the ring and the place).
    recent_len: u16,
    /// The last segment that filled the window, remembered by its place in the table's
    /// [`Backing`] instead of in the ring: this many bytes were delivered (into the ring)
    /// after it, and it ended at `in_place_end` there. Every byte of the window before those
    /// is the segment's, since it filled the window. `None` when there is none (or it has
    /// left the window).
    after_in_place: Option<u16>,
    in_place_end: usize,
}

impl Stream {
    /// Fixes offset 0 at `base` unless a base is already known.
    pub fn anchor(&mut self, base: SeqNumber) {
        if self.map.is_none() {
            self.map = Some(SeqMap::new(base));
        }
    }

    pub fn is_anchored(&self) -> bool {
        self.map.is_some()
    }

    /// Offset of the next byte to deliver: bytes delivered plus bytes declared missing.
    pub fn delivered_until(&self) -> u64 {
        self.next
    }

    pub fn has_ended(&self) -> bool {
        self.ended
    }

    pub fn fin_seen(&self) -> bool {
        self.fin_at.is_some()
    }

    /// The sequence number after the last one this direction was seen to use — its SND.NXT as
    /// far as the capture shows (data, cut data and the FIN) — once the stream has a base.
    pub fn next_seq(&self) -> Option<SeqNumber> {
        let map = self.map?;
        let end = match self.fin_at {
            Some(fin) => fin + 1,
            None => self.max_end.max(self.next),
        };
        Some(map.seq_of(end))
    }

    /// The highest acknowledgment the peer sent for this direction.
    pub fn peer_ack(&self) -> Option<SeqNumber> {
        self.peer_ack
    }

    /// The packet that brings the next segment(s): bytes of it that are buffered remember it.
    pub fn set_arrival(&mut self, pkt: Option<PacketRef>) {
        self.arriving = pkt;
    }

    /// Bytes currently buffered out of order (without overhead).
    pub fn buffered_bytes(&self) -> usize {
        self.ooo.values().map(|c| c.len()).sum()
    }

    /// What the stream holds, for the memory budget: the conflict ring (for as long as the
    /// stream lives) and the out-of-order bytes with their per-piece overhead (which can be
    /// given up, [`Stream::give_up_buffered`]).
    pub fn held(&self) -> Held {
        Held {
            fixed: if self.recent.is_some() {
                box_bytes::<[u8; CONFLICT_WINDOW]>()
            } else {
                0
            },
            buffers: self.ooo_charge,
        }
    }

    /// The memory budget needs the out-of-order bytes back: the holes before them are given
    /// up (declared gaps) and the bytes delivered now, after a `BudgetOoo` notice saying how
    /// many. Nothing is buffered afterwards; the stream goes on from the end of what it had.
    pub fn give_up_buffered(
        &mut self,
        budget: &mut OooBudget,
        emit: &mut impl FnMut(Delivery<'_>),
    ) {
        if self.ooo.is_empty() {
            return;
        }
        let bytes = self.buffered_bytes() as u64;
        emit(Delivery::Notice(TcpNotice::BudgetOoo { bytes }));
        loop {
            self.drain(budget, emit);
            match self.ooo.keys().next() {
                Some(&first) => self.skip_to(first, emit),
                None => break,
            }
        }
        self.advance(budget, emit);
    }

    /// Records the peer's acknowledgment number for this direction. Delivers whatever the new
    /// evidence releases (gaps before buffered data).
    pub fn on_ack(
        &mut self,
        ack: SeqNumber,
        budget: &mut OooBudget,
        emit: &mut impl FnMut(Delivery<'_>),
    ) {
        let advanced = match self.peer_ack {
            Some(prev) => {
                let max = prev.max_wrapping(ack);
                self.peer_ack = Some(max);
                max != prev
            }
            None => {
                self.peer_ack = Some(ack);
                true
            }
        };
        if advanced && self.map.is_some() && self.has_pending() {
            self.advance(budget, emit);
        }
    }

    /// Is anything waiting behind a hole?
    fn has_pending(&self) -> bool {
        !self.ooo.is_empty() || self.fin_at.is_some_and(|f| f > self.next)
    }

    /// The peer's acknowledgment as an offset, if it is plausible.
    fn acked_offset(&self) -> Option<u64> {
        let map = self.map?;
        let offset = map.offset_near(self.peer_ack?, self.next)?;
        (offset <= self.max_end.max(self.next).saturating_add(MAX_AHEAD)).then_some(offset)
    }

    /// Holes below this offset will not be filled by anything we are going to see.
    fn confirmed_end(&self) -> u64 {
        self.lost_mark.max(self.acked_offset().unwrap_or(0))
    }

    /// Processes the payload of one segment. `seq` is the sequence number of its first payload
    /// byte (after the SYN, if any). `peer_window_zero` says the receiver last advertised a zero
    /// window, which makes a lone byte at the delivery point a zero-window probe rather than
    /// data.
    pub fn on_segment(
        &mut self,
        seq: SeqNumber,
        payload: Payload<'_>,
        peer_window_zero: bool,
        budget: &mut OooBudget,
        emit: &mut impl FnMut(Delivery<'_>),
    ) {
        let Payload {
            bytes: payload,
            missing,
            backing,
        } = payload;
        let wire_len = payload.len() as u64 + u64::from(missing);
        if wire_len == 0 {
            return;
        }
        let map = match self.map {
            Some(map) => map,
            None => {
                // Picked up mid-stream: a segment the peer had already acknowledged is a
                // retransmission or a keep-alive, not the start of what we can follow.
                if let Some(ack) = self.peer_ack
                    && (seq + wire_len as u32).distance_from(ack) <= 0
                    && wire_len < MAX_AHEAD
                {
                    return;
                }
                let map = SeqMap::new(seq);
                self.map = Some(map);
                map
            }
        };
        let delta = i128::from(seq.distance_from(map.seq_of(self.next)));
        let start = i128::from(self.next) + delta;
        // Keep-alive probe (and Linux's zero-window probe): 0 or 1 byte just below `next`.
        if wire_len <= 1 && start + 1 == i128::from(self.next) {
            return;
        }
        // Bytes before offset 0 precede what we follow; drop them.
        let before_zero = u64::try_from(-start.min(0)).unwrap_or(u64::MAX);
        if before_zero >= wire_len {
            return;
        }
        let skip = usize::try_from(before_zero).unwrap_or(usize::MAX);
        let payload = payload.get(skip..).unwrap_or(&[]);
        let start = u64::try_from(start.max(0)).unwrap_or(0);
        let mut end = start + (wire_len - before_zero);
        if start > self.next.saturating_add(MAX_AHEAD) {
            return;
        }
        if let Some(fin) = self.fin_at {
            if start >= fin {
                return;
            }
            end = end.min(fin);
        }
        let captured_len = payload
            .len()
            .min(usize::try_from(end - start).unwrap_or(usize::MAX));
        let payload = payload.get(..captured_len).unwrap_or(&[]);
        let captured_end = start + payload.len() as u64;

        if peer_window_zero && end - start == 1 && start == self.next && payload.len() == 1 {
            self.probe = payload.first().map(|&b| (start, b));
            return;
        }
        self.max_end = self.max_end.max(end);
        let cut = captured_end < end;
        if cut {
            self.lost_mark = self.lost_mark.max(end);
            self.cut_end = self.cut_end.max(end);
        }
        if let Some((at, _)) = self.probe
            && at >= start
            && at < captured_end
        {
            self.probe = None;
        }

        let mut conflicts = Conflicts::default();
        self.place(start, payload, budget, backing, &mut conflicts, emit);
        if cut {
            // The segment's whole range is known (sequence number and IP length); what the
            // snaplen left out will never be seen, so it is declared now, with this packet.
            // Later copies of those bytes fall behind the delivery point and are ignored.
            self.advance(budget, emit);
        }
        if let Some(notice) = conflicts.notice() {
            emit(Delivery::Notice(notice));
        }
    }

    /// Puts captured bytes `[start, start + data.len())` where they belong: delivered if they
    /// continue the stream, buffered if they are ahead of it, compared if already seen.
    fn place(
        &mut self,
        mut start: u64,
        mut data: &[u8],
        budget: &mut OooBudget,
        backing: Option<&Backing>,
        conflicts: &mut Conflicts,
        emit: &mut impl FnMut(Delivery<'_>),
    ) {
        let mut skipped_for_cap = false;
        loop {
            if start < self.next {
                let old = usize::try_from(self.next - start).unwrap_or(usize::MAX);
                self.compare_recent(start, data, backing, conflicts);
                let Some(rest) = data.get(old..) else {
                    break;
                };
                data = rest;
                start = self.next;
            }
            if data.is_empty() {
                break;
            }
            if start == self.next {
                self.deliver_in_order(data, budget, backing, conflicts, emit);
                self.advance(budget, emit);
                break;
            }
            // Ahead of the stream. If nothing is buffered before it and its hole is already
            // known lost, skip the hole now and deliver without copying.
            if self.ooo.first_key_value().is_none_or(|(&k, _)| k >= start) {
                let confirmed = self.confirmed_end();
                if confirmed > self.next {
                    self.skip_to(confirmed.min(start), emit);
                    if start <= self.next {
                        continue;
                    }
                }
            }
            match self.buffer(start, data, budget, conflicts) {
                Ok(()) => {
                    self.advance(budget, emit);
                    break;
                }
                Err(NoRoom) => {
                    if let Some(&first) = self.ooo.keys().next() {
                        // Waiting any longer for the oldest hole would cost more than the cap
                        // allows: give it up, as the ACK would eventually have made us do.
                        skipped_for_cap = true;
                        self.skip_to(first, emit);
                        self.drain(budget, emit);
                        continue;
                    }
                    let dropped = u32::try_from(data.len()).unwrap_or(u32::MAX);
                    self.lost_mark = self.lost_mark.max(start + data.len() as u64);
                    emit(Delivery::Notice(TcpNotice::OooCapHit { dropped }));
                    skipped_for_cap = false;
                    self.advance(budget, emit);
                    break;
                }
            }
        }
        if skipped_for_cap {
            emit(Delivery::Notice(TcpNotice::OooCapHit { dropped: 0 }));
        }
    }

    /// Delivers `data`, which starts exactly at `next`, interleaving buffered pieces that were
    /// seen first (they win over the overlapping part of `data`).
    fn deliver_in_order(
        &mut self,
        mut data: &[u8],
        budget: &mut OooBudget,
        backing: Option<&Backing>,
        conflicts: &mut Conflicts,
        emit: &mut impl FnMut(Delivery<'_>),
    ) {
        while !data.is_empty() {
            let data_end = self.next + data.len() as u64;
            let Some(first) = self.ooo.first_entry() else {
                self.deliver_segment(data, backing, emit);
                return;
            };
            let chunk_start = *first.key();
            if chunk_start >= data_end {
                self.deliver_segment(data, backing, emit);
                return;
            }
            if chunk_start > self.next {
                let n = usize::try_from(chunk_start - self.next).unwrap_or(usize::MAX);
                let (head, rest) = data.split_at(n.min(data.len()));
                self.deliver_segment(head, backing, emit);
                data = rest;
                continue;
            }
            let chunk = first.remove();
            self.release(chunk.len(), budget);
            // Keys are never below `next`; should one be, its stale head is skipped.
            let stale = usize::try_from(self.next - chunk_start).unwrap_or(usize::MAX);
            let fresh = chunk.get(stale..).unwrap_or(&[]);
            let overlap = fresh.len().min(data.len());
            conflicts.compare(self.next, fresh, data.get(..overlap).unwrap_or(&[]));
            self.deliver(fresh, emit);
            data = data.get(overlap..).unwrap_or(&[]);
        }
    }

    /// Buffers the parts of `[start, start + data.len())` that no buffered piece covers yet.
    fn buffer(
        &mut self,
        start: u64,
        data: &[u8],
        budget: &mut OooBudget,
        conflicts: &mut Conflicts,
    ) -> Result<(), NoRoom> {
        let end = start + data.len() as u64;
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut cur = start;
        let from = self
            .ooo
            .range(..=start)
            .next_back()
            .map_or(start, |(&k, _)| k);
        for (&chunk_start, chunk) in self.ooo.range(from..end) {
            let chunk_end = chunk_start + chunk.len() as u64;
            if chunk_end <= cur {
                continue;
            }
            if chunk_start > cur {
                pieces.push((cur, chunk_start));
            }
            let overlap_start = chunk_start.max(cur);
            let overlap_end = chunk_end.min(end);
            let seen = chunk
                .get(to_index(overlap_start - chunk_start)..to_index(overlap_end - chunk_start));
            let now = data.get(to_index(overlap_start - start)..to_index(overlap_end - start));
            if let (Some(seen), Some(now)) = (seen, now) {
                conflicts.compare(overlap_start, seen, now);
            }
            cur = overlap_end;
            if cur >= end {
                break;
            }
        }
        if cur < end {
            pieces.push((cur, end));
        }
        let charge: usize = pieces
            .iter()
            .map(|&(s, e)| to_index(e - s).saturating_add(CHUNK_OVERHEAD))
            .fold(0, usize::saturating_add);
        if charge == 0 {
            return Ok(());
        }
        let fits_dir = self.ooo_charge.saturating_add(charge) <= budget.max_per_dir;
        let fits_total = budget.used.saturating_add(charge) <= budget.max_total;
        if !(fits_dir && fits_total) {
            return Err(NoRoom);
        }
        for (s, e) in pieces {
            if let Some(bytes) = data.get(to_index(s - start)..to_index(e - start)) {
                let arrived = self.arriving;
                self.ooo.insert(
                    s,
                    Piece {
                        bytes: bytes.into(),
                        arrived,
                    },
                );
            }
        }
        self.ooo_charge += charge;
        budget.used += charge;
        Ok(())
    }

    fn release(&mut self, len: usize, budget: &mut OooBudget) {
        let charge = len.saturating_add(CHUNK_OVERHEAD);
        self.ooo_charge = self.ooo_charge.saturating_sub(charge);
        budget.used = budget.used.saturating_sub(charge);
    }

    /// Delivers buffered pieces that continue the stream.
    fn drain(&mut self, budget: &mut OooBudget, emit: &mut impl FnMut(Delivery<'_>)) {
        while let Some(first) = self.ooo.first_entry() {
            let chunk_start = *first.key();
            if chunk_start > self.next {
                break;
            }
            let chunk = first.remove();
            self.release(chunk.len(), budget);
            let stale = to_index(self.next - chunk_start);
            if let Some(fresh) = chunk.get(stale..)
                && !fresh.is_empty()
            {
                if let Some(pkt) = chunk.arrived {
                    emit(Delivery::Arrived(pkt));
                }
                self.deliver(fresh, emit);
            }
        }
    }

    /// Delivers what can be delivered and gives up on holes that evidence says are lost; emits
    /// `End` when the FIN is reached.
    fn advance(&mut self, budget: &mut OooBudget, emit: &mut impl FnMut(Delivery<'_>)) {
        loop {
            self.drain(budget, emit);
            let target = match (self.ooo.keys().next(), self.fin_at) {
                (Some(&k), _) => k,
                (None, Some(fin)) if fin > self.next => fin,
                (None, None) if self.cut_end > self.next => self.cut_end,
                _ => break,
            };
            let confirmed = self.confirmed_end();
            if confirmed <= self.next {
                break;
            }
            self.skip_to(confirmed.min(target), emit);
        }
        self.end_if_reached(emit);
    }

    fn end_if_reached(&mut self, emit: &mut impl FnMut(Delivery<'_>)) {
        if !self.ended && self.fin_at == Some(self.next) {
            self.ended = true;
            emit(Delivery::End);
        }
    }

    /// Moves `next` to `until`, reporting the bytes in between as a gap (a zero-window probe
    /// byte sitting at `next` is delivered instead of the gap's first byte: it is the best
    /// knowledge we have of it).
    fn skip_to(&mut self, until: u64, emit: &mut impl FnMut(Delivery<'_>)) {
        if until <= self.next {
            return;
        }
        if let Some((at, byte)) = self.probe.take()
            && at == self.next
        {
            self.deliver(&[byte], emit);
        }
        if until > self.next {
            let len = until - self.next;
            self.next = until;
            self.recent_len = 0;
            self.after_in_place = None;
            emit(Delivery::Gap(len));
        }
    }

    /// Delivers bytes of the segment being processed: when they fill the conflict window and
    /// lie in `backing`, they are remembered by their place there instead of copied.
    #[inline(always)]
    fn deliver_segment(
        &mut self,
        bytes: &[u8],
        backing: Option<&Backing>,
        emit: &mut impl FnMut(Delivery<'_>),
    ) {
        let place = match backing {
            Some(b) if bytes.len() >= CONFLICT_WINDOW => b.place(bytes),
            _ => None,
        };
        self.deliver_at(bytes, place, emit);
    }

    fn deliver(&mut self, bytes: &[u8], emit: &mut impl FnMut(Delivery<'_>)) {
        self.deliver_at(bytes, None, emit);
    }

    /// Delivers `bytes`, remembered by their place in the backing when `place` says where they
    /// are there (they fill the window), else copied into the ring.
    #[inline(always)]
    fn deliver_at(
        &mut self,
        bytes: &[u8],
        place: Option<usize>,
        emit: &mut impl FnMut(Delivery<'_>),
    ) {
        if bytes.is_empty() {
            return;
        }
        match place {
            Some(at) => self.remember_in_place(at + bytes.len()),
            None => self.remember(bytes),
        }
        self.next += bytes.len() as u64;
        emit(Delivery::Data(bytes));
    }

    /// A segment that fills the window, about to be delivered at `next`, ends at `end` in the
    /// backing: the window is its last bytes, there.
    fn remember_in_place(&mut self, end: usize) {
        // The ring is kept as for copied bytes, so that the stream holds the same either way.
        self.recent
            .get_or_insert_with(|| Box::new([0; CONFLICT_WINDOW]));
        self.after_in_place = Some(0);
        self.in_place_end = end;
        self.recent_len = WINDOW_LEN;
    }

    /// Copies the tail of `bytes` (about to be delivered at `next`) into the conflict window.
    fn remember(&mut self, bytes: &[u8]) {
        let keep = bytes.len().min(CONFLICT_WINDOW);
        let Some(tail) = bytes.get(bytes.len() - keep..) else {
            return;
        };
        self.write_ring(self.next + (bytes.len() - keep) as u64, tail);
        self.recent_len = (usize::from(self.recent_len) + bytes.len()).min(CONFLICT_WINDOW) as u16;
        self.after_in_place = self
            .after_in_place
            .map(|after| usize::from(after) + bytes.len())
            .filter(|&after| after < CONFLICT_WINDOW)
            .map(|after| after as u16);
    }

    /// Writes `bytes` (at most a window) of stream offset `offset` on into the ring.
    fn write_ring(&mut self, offset: u64, bytes: &[u8]) {
        let ring = self
            .recent
            .get_or_insert_with(|| Box::new([0; CONFLICT_WINDOW]));
        let pos = ring_pos(offset);
        let first = bytes.len().min(CONFLICT_WINDOW - pos);
        let (a, b) = bytes.split_at(first);
        if let Some(dst) = ring.get_mut(pos..pos + first) {
            dst.copy_from_slice(a);
        }
        if let Some(dst) = ring.get_mut(..b.len()) {
            dst.copy_from_slice(b);
        }
    }

    /// The window's bytes remembered in `backing` are copied into the ring (the backing is
    /// about to go). Were they not readable any more, the window is cut after them.
    pub fn copy_in_place(&mut self, backing: &Backing) {
        let Some((from, until, at)) = self.in_place() else {
            return;
        };
        self.after_in_place = None;
        let len = to_index(until - from);
        if backing
            .read(at, len, |bytes| self.write_ring(from, bytes))
            .is_none()
        {
            self.recent_len = (self.next - until) as u16;
        }
    }

    /// The window's bytes remembered in place: stream offsets `[from, until)`, and where the
    /// first of them is in the backing.
    fn in_place(&self) -> Option<(u64, u64, usize)> {
        let until = self.next - u64::from(self.after_in_place?);
        let from = self.window_start();
        let at = self
            .in_place_end
            .checked_sub(to_index(until.checked_sub(from)?))?;
        (from < until).then_some((from, until, at))
    }

    fn window_start(&self) -> u64 {
        self.next.saturating_sub(u64::from(self.recent_len))
    }

    /// Compares bytes `[start, ..)` that lie before `next` with the delivered bytes still in
    /// the conflict window: in the ring, and in `backing` for those remembered there.
    fn compare_recent(
        &self,
        start: u64,
        data: &[u8],
        backing: Option<&Backing>,
        conflicts: &mut Conflicts,
    ) {
        let from = start.max(self.window_start());
        let until = (start + data.len() as u64).min(self.next);
        let Some((placed, placed_until, placed_at)) = self
            .in_place()
            .filter(|&(placed, placed_until, _)| placed < until && placed_until > from)
        else {
            return self.compare_ring(start, data, from, until, conflicts);
        };
        // The place starts the window: nothing of the ring comes before it.
        let (a, b) = (placed.max(from), placed_until.min(until));
        let now = data.get(to_index(a - start)..to_index(b - start));
        let at = placed_at + to_index(a - placed);
        debug_assert!(backing.is_some(), "remembered in place without a backing");
        if let (Some(backing), Some(now)) = (backing, now) {
            backing.read(at, now.len(), |seen| conflicts.compare(a, seen, now));
        }
        self.compare_ring(start, data, b, until, conflicts);
    }

    /// [`Self::compare_recent`] for offsets `[from, until)`, which the ring holds.
    fn compare_ring(
        &self,
        start: u64,
        data: &[u8],
        mut offset: u64,
        until: u64,
        conflicts: &mut Conflicts,
    ) {
        let Some(ring) = &self.recent else {
            return;
        };
        while offset < until {
            let pos = ring_pos(offset);
            let n = to_index(until - offset).min(CONFLICT_WINDOW - pos);
            let from = to_index(offset - start);
            if let (Some(seen), Some(now)) = (ring.get(pos..pos + n), data.get(from..from + n)) {
                conflicts.compare(offset, seen, now);
            }
            offset += n as u64;
        }
    }

    /// Records the FIN at sequence number `seq` (the sequence number the FIN occupies).
    pub fn on_fin(
        &mut self,
        seq: SeqNumber,
        budget: &mut OooBudget,
        emit: &mut impl FnMut(Delivery<'_>),
    ) {
        self.anchor(seq);
        if self.fin_at.is_some() {
            return;
        }
        let Some(map) = self.map else {
            return;
        };
        // A FIN behind what was already delivered is inconsistent; the stream ends here.
        let fin = map
            .offset_near(seq, self.next)
            .unwrap_or(self.next)
            .max(self.next);
        self.fin_at = Some(fin);
        // Nothing can follow the FIN: buffered bytes past it are discarded.
        while let Some(entry) = self.ooo.last_entry() {
            let chunk_start = *entry.key();
            let chunk_end = chunk_start + entry.get().len() as u64;
            if chunk_end <= fin {
                break;
            }
            let chunk = entry.remove();
            self.release(chunk.len(), budget);
            if chunk_start < fin
                && let Some(head) = chunk.get(..to_index(fin - chunk_start))
            {
                let charge = head.len().saturating_add(CHUNK_OVERHEAD);
                self.ooo_charge = self.ooo_charge.saturating_add(charge);
                budget.used = budget.used.saturating_add(charge);
                let arrived = chunk.arrived;
                self.ooo.insert(
                    chunk_start,
                    Piece {
                        bytes: head.into(),
                        arrived,
                    },
                );
            }
        }
        self.max_end = self.max_end.min(fin);
        self.advance(budget, emit);
    }

    /// Ends the stream: every remaining hole becomes a gap, every buffered byte is delivered,
    /// and the buffer is empty afterwards. Used on RST, idle eviction and end of input.
    pub fn flush(&mut self, budget: &mut OooBudget, emit: &mut impl FnMut(Delivery<'_>)) {
        if self.map.is_none() {
            return;
        }
        loop {
            self.drain(budget, emit);
            match self.ooo.keys().next() {
                Some(&first) => self.skip_to(first, emit),
                None => break,
            }
        }
        let last = match self.fin_at {
            Some(fin) => fin,
            None => self.max_end.max(self.acked_offset().unwrap_or(0)),
        };
        self.skip_to(last, emit);
        self.probe = None;
        self.end_if_reached(emit);
    }
}

fn to_index(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn ring_pos(offset: u64) -> usize {
    (offset % CONFLICT_WINDOW as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Ev {
        Data(Vec<u8>),
        Gap(u64),
        End,
        Notice(TcpNotice),
    }

    /// One stream with ISN `isn`: offsets in the helpers are stream offsets.
    struct Harness {
        stream: Stream,
        budget: OooBudget,
        /// What the segments' payloads lie in, if anything ([`Backing`]).
        backing: Option<Backing>,
        base: SeqNumber,
        events: Vec<Ev>,
        /// How many `Data` deliveries there were (to check zero-copy pass-through counts).
        data_calls: usize,
    }

    impl Harness {
        fn new(isn: u32) -> Harness {
            Harness::with_caps(isn, 1 << 20, 16 << 20)
        }

        fn with_caps(isn: u32, per_dir: usize, total: usize) -> Harness {
            let mut stream = Stream::default();
            let base = SeqNumber(isn) + 1;
            stream.anchor(base);
            Harness {
                stream,
                budget: OooBudget::new(per_dir, total),
                backing: None,
                base,
                events: Vec::new(),
                data_calls: 0,
            }
        }

        fn sink<'e>(
            events: &'e mut Vec<Ev>,
            calls: &'e mut usize,
        ) -> impl FnMut(Delivery<'_>) + 'e {
            move |d| {
                let ev = match d {
                    Delivery::Data(b) => {
                        *calls += 1;
                        if let Some(Ev::Data(prev)) = events.last_mut() {
                            prev.extend_from_slice(b);
                            return;
                        }
                        Ev::Data(b.to_vec())
                    }
                    Delivery::Gap(n) => Ev::Gap(n),
                    Delivery::End => Ev::End,
                    Delivery::Notice(n) => Ev::Notice(n),
                    Delivery::Arrived(_) => return,
                };
                events.push(ev);
            }
        }

        fn seg_full(&mut self, offset: u64, data: &[u8], missing: u32, window_zero: bool) {
            let seq = self.base + offset as u32;
            let mut sink = Harness::sink(&mut self.events, &mut self.data_calls);
            let payload = Payload {
                bytes: data,
                missing,
                backing: self.backing.as_ref(),
            };
            self.stream
                .on_segment(seq, payload, window_zero, &mut self.budget, &mut sink);
        }

        fn seg(&mut self, offset: u64, data: &[u8]) {
            self.seg_full(offset, data, 0, false);
        }

        fn ack(&mut self, offset: u64) {
            let seq = self.base + offset as u32;
            let mut sink = Harness::sink(&mut self.events, &mut self.data_calls);
            self.stream.on_ack(seq, &mut self.budget, &mut sink);
        }

        fn fin(&mut self, offset: u64) {
            let seq = self.base + offset as u32;
            let mut sink = Harness::sink(&mut self.events, &mut self.data_calls);
            self.stream.on_fin(seq, &mut self.budget, &mut sink);
        }

        fn flush(&mut self) {
            let mut sink = Harness::sink(&mut self.events, &mut self.data_calls);
            self.stream.flush(&mut self.budget, &mut sink);
            assert_eq!(self.budget.used(), 0, "flush empties the buffer");
        }

        fn take(&mut self) -> Vec<Ev> {
            std::mem::take(&mut self.events)
        }
    }

    fn data(b: &[u8]) -> Ev {
        Ev::Data(b.to_vec())
    }

    fn conflict(offset: u64, len: u32) -> Ev {
        Ev::Notice(TcpNotice::OverlapConflict { offset, len })
    }

    #[test]
    fn in_order_data_passes_straight_through() {
        let mut h = Harness::new(1000);
        h.seg(0, b"hello ");
        h.seg(6, b"world");
        assert_eq!(h.take(), vec![data(b"hello world")]);
        assert_eq!(h.data_calls, 2);
        assert_eq!(h.budget.used(), 0, "nothing buffered for in-order data");
        assert_eq!(h.stream.delivered_until(), 11);
    }

    #[test]
    fn out_of_order_data_waits_for_the_hole() {
        let mut h = Harness::new(0);
        h.seg(5, b"world");
        assert_eq!(h.take(), vec![]);
        assert_eq!(h.stream.buffered_bytes(), 5);
        h.seg(0, b"hello");
        assert_eq!(h.take(), vec![data(b"helloworld")]);
        assert_eq!(h.budget.used(), 0);
    }

    #[test]
    fn several_holes_fill_in_any_order() {
        let mut h = Harness::new(7);
        h.seg(8, b"ij");
        h.seg(2, b"cd");
        h.seg(6, b"gh");
        h.seg(4, b"ef");
        assert_eq!(h.take(), vec![]);
        h.seg(0, b"ab");
        assert_eq!(h.take(), vec![data(b"abcdefghij")]);
    }

    #[test]
    fn retransmission_is_delivered_once() {
        let mut h = Harness::new(0);
        h.seg(0, b"abcdef");
        h.seg(0, b"abcdef");
        h.seg(2, b"cd");
        assert_eq!(h.take(), vec![data(b"abcdef")]);
    }

    #[test]
    fn partial_overlap_with_delivered_bytes_delivers_only_the_new_part() {
        let mut h = Harness::new(0);
        h.seg(0, b"abcd");
        h.seg(2, b"cdef");
        assert_eq!(h.take(), vec![data(b"abcdef")]);
    }

    #[test]
    fn partial_overlap_with_the_front_of_buffered_data() {
        let mut h = Harness::new(0);
        h.seg(6, b"ghij");
        h.seg(4, b"efgh"); // overlaps the buffered piece's front
        h.seg(0, b"abcd");
        assert_eq!(h.take(), vec![data(b"abcdefghij")]);
    }

    #[test]
    fn partial_overlap_with_the_back_of_buffered_data() {
        let mut h = Harness::new(0);
        h.seg(4, b"efgh");
        h.seg(6, b"ghij"); // overlaps the buffered piece's back
        h.seg(0, b"abcd");
        assert_eq!(h.take(), vec![data(b"abcdefghij")]);
    }

    #[test]
    fn full_overlaps_in_both_directions() {
        let mut h = Harness::new(0);
        h.seg(4, b"ef");
        h.seg(8, b"ij");
        h.seg(2, b"cdefghijkl"); // covers both buffered pieces and the holes between them
        h.seg(5, b"f"); // inside what is buffered
        h.seg(0, b"ab");
        assert_eq!(h.take(), vec![data(b"abcdefghijkl")]);
        assert_eq!(h.budget.used(), 0);
    }

    #[test]
    fn in_order_segment_spanning_buffered_pieces_keeps_first_seen_bytes() {
        let mut h = Harness::new(0);
        h.seg(3, b"DE");
        h.seg(0, b"abcdefgh");
        assert_eq!(h.take(), vec![data(b"abcDEfgh"), conflict(3, 2)]);
    }

    #[test]
    fn in_order_segment_ending_inside_a_buffered_piece() {
        let mut h = Harness::new(0);
        h.seg(5, b"fghijklmno");
        h.seg(0, b"abcdefgh");
        assert_eq!(h.take(), vec![data(b"abcdefghijklmno")]);
        assert_eq!(h.budget.used(), 0);
    }

    #[test]
    fn conflict_with_buffered_bytes_is_reported_and_first_seen_wins() {
        let mut h = Harness::new(0);
        h.seg(4, b"efgh");
        h.seg(4, b"eXYh");
        assert_eq!(h.take(), vec![conflict(5, 2)]);
        h.seg(0, b"abcd");
        assert_eq!(h.take(), vec![data(b"abcdefgh")]);
    }

    #[test]
    fn conflict_with_recently_delivered_bytes_is_reported() {
        let mut h = Harness::new(0);
        h.seg(0, b"abcdefgh");
        h.seg(6, b"gX");
        assert_eq!(h.take(), vec![data(b"abcdefgh"), conflict(7, 1)]);
        // Straddling: old part differs, new part is delivered.
        h.seg(7, b"Zij");
        assert_eq!(h.take(), vec![data(b"ij"), conflict(7, 1)]);
    }

    #[test]
    fn delivered_bytes_older_than_the_window_are_not_compared() {
        let mut h = Harness::new(0);
        let stream: Vec<u8> = (0..CONFLICT_WINDOW as u32 * 3).map(|i| i as u8).collect();
        h.seg(0, &stream);
        h.take();
        h.seg(0, b"XXXX"); // long gone from the window
        assert_eq!(h.take(), vec![]);
        let recent = stream.len() as u64 - 4;
        h.seg(recent, b"XXXX");
        assert_eq!(
            h.take(),
            vec![Ev::Notice(TcpNotice::OverlapConflict {
                offset: recent,
                len: 4
            })]
        );
    }

    #[test]
    fn window_wraps_around_the_ring() {
        let mut h = Harness::new(0);
        let first: Vec<u8> = vec![b'a'; CONFLICT_WINDOW - 3];
        h.seg(0, &first);
        h.seg(first.len() as u64, b"123456");
        h.take();
        // The six bytes straddle the end of the ring.
        h.seg(first.len() as u64, b"123456");
        assert_eq!(h.take(), vec![]);
        h.seg(first.len() as u64, b"12x456");
        assert_eq!(
            h.take(),
            vec![Ev::Notice(TcpNotice::OverlapConflict {
                offset: first.len() as u64 + 2,
                len: 1
            })]
        );
    }

    #[test]
    fn keep_alive_probes_are_not_data_nor_conflicts() {
        let mut h = Harness::new(0);
        h.seg(0, b"abc");
        h.seg(2, b"\0"); // 1 garbage byte at next - 1
        h.seg(2, b""); // 0-byte keep-alive
        h.seg(3, b"d");
        assert_eq!(h.take(), vec![data(b"abcd")]);
    }

    #[test]
    fn zero_window_probe_is_not_data_until_nothing_else_can_fill_its_place() {
        let mut h = Harness::new(0);
        h.seg(0, b"abc");
        h.seg_full(3, b"d", 0, true);
        assert_eq!(h.take(), vec![data(b"abc")]);
        // The window opens and the byte is sent again with more.
        h.seg(3, b"defg");
        assert_eq!(h.take(), vec![data(b"defg")]);

        // A receiver that accepted the probe acknowledges it: the byte is then the stream's.
        let mut h = Harness::new(0);
        h.seg(0, b"abc");
        h.seg_full(3, b"d", 0, true);
        h.seg(4, b"ef");
        h.ack(6);
        assert_eq!(h.take(), vec![data(b"abcdef")]);
    }

    #[test]
    fn ack_beyond_a_hole_declares_the_gap_and_delivery_resumes() {
        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.seg(5, b"fgh");
        h.ack(3); // evidence for only part of the hole
        assert_eq!(h.take(), vec![data(b"ab"), Ev::Gap(1)]);
        h.seg(3, b"de"); // a retransmission still fills the rest
        assert_eq!(h.take(), vec![data(b"defgh")]);

        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.seg(5, b"fgh");
        h.ack(8);
        h.seg(2, b"cde"); // too late: already declared lost
        assert_eq!(h.take(), vec![data(b"ab"), Ev::Gap(3), data(b"fgh")]);
    }

    #[test]
    fn ack_with_nothing_waiting_declares_nothing_until_data_arrives() {
        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.ack(10);
        assert_eq!(h.take(), vec![data(b"ab")]);
        // Next data beyond the hole: the hole is already known lost, no buffering needed.
        h.seg(10, b"kl");
        assert_eq!(h.take(), vec![Ev::Gap(8), data(b"kl")]);
        assert_eq!(h.data_calls, 2);
    }

    #[test]
    fn snaplen_cut_segment_is_delivered_then_its_gap_at_once() {
        // 7 bytes on the wire, 3 captured; nothing follows.
        let mut h = Harness::new(0);
        h.seg_full(0, b"abc", 4, false);
        assert_eq!(h.take(), vec![data(b"abc"), Ev::Gap(4)]);
        assert_eq!(h.stream.delivered_until(), 7, "past the whole segment");
        h.flush();
        assert_eq!(h.take(), vec![], "nothing left to give up");

        // Followed by the next segment in order: straight through, no gap left to declare.
        let mut h = Harness::new(0);
        h.seg_full(0, b"abc", 4, false);
        h.take();
        h.seg(7, b"hi");
        assert_eq!(h.take(), vec![data(b"hi")]);
        assert_eq!(h.data_calls, 2, "no buffering around the cut");
    }

    #[test]
    fn retransmission_of_a_cut_segment_neither_fills_the_gap_nor_conflicts() {
        // The gap is declared with the cut packet (as tshark marks it there); a later full copy
        // is behind the delivery point. Its bytes were never seen, so nothing can differ from
        // them; its captured part is the same as what was delivered.
        let mut h = Harness::new(0);
        h.seg_full(0, b"abc", 4, false);
        h.seg(0, b"abcdefg");
        h.seg(7, b"hi");
        assert_eq!(h.take(), vec![data(b"abc"), Ev::Gap(4), data(b"hi")]);
        assert_eq!(h.stream.delivered_until(), 9);

        // A copy that differs only in the bytes that were cut raises nothing either.
        let mut h = Harness::new(0);
        h.seg(0, b"xy");
        h.seg_full(2, b"abc", 4, false);
        h.seg(2, b"abcXXXX");
        assert_eq!(h.take(), vec![data(b"xyabc"), Ev::Gap(4)]);
    }

    #[test]
    fn snaplen_cut_segment_with_nothing_captured_is_all_gap() {
        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.seg_full(2, b"", 5, false); // cut inside the TCP options
        assert_eq!(h.take(), vec![data(b"ab"), Ev::Gap(5)]);
        h.seg(7, b"h");
        assert_eq!(h.take(), vec![data(b"h")]);
    }

    #[test]
    fn snaplen_cut_segment_keeps_bytes_seen_before_it_in_its_cut_range() {
        // "fg" arrived first, out of order; the cut segment covering it loses only what no
        // packet showed.
        let mut h = Harness::new(0);
        h.seg(5, b"fg");
        h.seg_full(0, b"ab", 7, false); // bytes 0..9 on the wire, 0..2 captured
        assert_eq!(
            h.take(),
            vec![data(b"ab"), Ev::Gap(3), data(b"fg"), Ev::Gap(2)]
        );
        assert_eq!(h.stream.delivered_until(), 9);
        assert_eq!(h.budget.used(), 0);
    }

    #[test]
    fn snaplen_cut_segment_ahead_of_a_hole_settles_everything_below_its_end() {
        // What the snaplen cut is known lost, and so is the hole before it (the policy of
        // `lost_mark`): data, gaps and the cut all come out with this packet.
        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.seg_full(5, b"fg", 3, false);
        assert_eq!(
            h.take(),
            vec![data(b"ab"), Ev::Gap(3), data(b"fg"), Ev::Gap(3)]
        );
        // A FIN right after the cut segment ends the stream at once.
        h.fin(10);
        assert_eq!(h.take(), vec![Ev::End]);
    }

    #[test]
    fn fin_ends_the_direction_in_sequence() {
        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.fin(4); // FIN after a hole: waits
        assert_eq!(h.take(), vec![data(b"ab")]);
        assert!(!h.stream.has_ended());
        h.seg(2, b"cdXX"); // bytes past the FIN are not stream content
        assert_eq!(h.take(), vec![data(b"cd"), Ev::End]);
        assert!(h.stream.has_ended());
        h.seg(4, b"late");
        assert_eq!(h.take(), vec![]);
    }

    #[test]
    fn fin_hole_acknowledged_by_the_peer_becomes_a_gap() {
        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.fin(6);
        h.ack(7); // the peer acknowledges the FIN: bytes 2..6 were received
        assert_eq!(h.take(), vec![data(b"ab"), Ev::Gap(4), Ev::End]);
    }

    #[test]
    fn fin_drops_buffered_bytes_past_it() {
        let mut h = Harness::new(0);
        h.seg(4, b"efgh");
        h.fin(6);
        assert_eq!(h.stream.buffered_bytes(), 2);
        h.seg(0, b"abcd");
        assert_eq!(h.take(), vec![data(b"abcdef"), Ev::End]);
        assert_eq!(h.budget.used(), 0);
    }

    #[test]
    fn flush_reports_every_hole_and_the_trailing_loss() {
        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.seg(4, b"ef");
        h.seg(9, b"j");
        h.ack(12); // the peer had two more bytes than we saw
        h.flush();
        assert_eq!(
            h.take(),
            vec![
                data(b"ab"),
                Ev::Gap(2),
                data(b"ef"),
                Ev::Gap(3),
                data(b"j"),
                Ev::Gap(2)
            ]
        );
    }

    #[test]
    fn flush_of_a_finished_stream_ends_it() {
        let mut h = Harness::new(0);
        h.seg(0, b"ab");
        h.fin(5);
        h.flush();
        assert_eq!(h.take(), vec![data(b"ab"), Ev::Gap(3), Ev::End]);
    }

    #[test]
    fn syn_data_and_sequence_numbers_wrapping_past_2_pow_32() {
        let isn = u32::MAX - 2;
        let mut h = Harness::new(isn);
        h.seg(0, b"ab"); // seq u32::MAX - 1 and u32::MAX
        h.seg(4, b"ef"); // seq 2, 3: after the wrap, buffered
        h.seg(2, b"cd"); // seq 0, 1
        assert_eq!(h.take(), vec![data(b"abcdef")]);
        h.ack(8);
        h.seg(10, b"k");
        // Only the acknowledged part of the hole is given up on.
        assert_eq!(h.take(), vec![Ev::Gap(2)]);
        h.ack(11);
        assert_eq!(h.take(), vec![Ev::Gap(2), data(b"k")]);
    }

    #[test]
    fn offsets_keep_growing_across_several_wraps() {
        let mut h = Harness::new(0);
        let chunk = vec![7u8; 1 << 16];
        let mut offset = 0u64;
        while offset < (1 << 33) + (1 << 17) {
            // Acknowledge then skip most of the space so that the test stays fast.
            h.seg(offset, &chunk);
            offset += chunk.len() as u64;
            let jump = (1 << 29) - chunk.len() as u64;
            h.ack(offset + jump);
            h.seg(offset + jump, &chunk[..1]);
            offset += jump + 1;
            h.take();
        }
        assert_eq!(h.stream.delivered_until(), offset);
        assert!(offset > 1 << 33);
    }

    #[test]
    fn segments_implausibly_far_ahead_are_ignored() {
        let mut h = Harness::new(0);
        h.seg(0, b"a");
        h.seg(MAX_AHEAD + 2, b"far");
        assert_eq!(h.stream.buffered_bytes(), 0);
        h.flush();
        assert_eq!(h.take(), vec![data(b"a")]);
    }

    #[test]
    fn per_direction_cap_gives_up_the_oldest_hole() {
        let piece = 100 + CHUNK_OVERHEAD;
        let mut h = Harness::with_caps(0, 2 * piece, 1 << 20);
        h.seg(0, b"a");
        h.seg(10, &[b'x'; 100]);
        h.seg(200, &[b'y'; 100]);
        assert_eq!(h.take(), vec![data(b"a")]);
        h.seg(400, &[b'z'; 100]); // would exceed the cap
        let events = h.take();
        // Only as much is given up as the new segment needs.
        assert_eq!(
            events,
            vec![
                Ev::Gap(9),
                data(&[b'x'; 100]),
                Ev::Notice(TcpNotice::OooCapHit { dropped: 0 })
            ]
        );
        assert_eq!(h.stream.buffered_bytes(), 200, "the new segment fits now");
        assert_eq!(h.budget.used(), 2 * piece);
        h.flush();
        assert_eq!(
            h.take(),
            vec![
                Ev::Gap(90),
                data(&[b'y'; 100]),
                Ev::Gap(100),
                data(&[b'z'; 100])
            ]
        );
    }

    #[test]
    fn segment_larger_than_any_cap_is_dropped_and_its_bytes_reported_missing() {
        let mut h = Harness::with_caps(0, 50, 1 << 20);
        h.seg(0, b"a");
        h.seg(10, &[b'x'; 100]);
        assert_eq!(
            h.take(),
            vec![
                data(b"a"),
                Ev::Notice(TcpNotice::OooCapHit { dropped: 100 })
            ]
        );
        // The dropped range is known lost: the next in-order-after-it segment gets through.
        h.seg(110, b"b");
        assert_eq!(h.take(), vec![Ev::Gap(109), data(b"b")]);
    }

    fn record(seen: &mut Vec<String>) -> impl FnMut(Delivery<'_>) + '_ {
        |d| seen.push(format!("{d:?}"))
    }

    #[test]
    fn global_cap_is_shared_between_streams() {
        let piece = 10 + CHUNK_OVERHEAD;
        let mut budget = OooBudget::new(1 << 20, piece);
        let mut a = Stream::default();
        let mut b = Stream::default();
        a.anchor(SeqNumber(0));
        b.anchor(SeqNumber(0));
        let mut seen = Vec::new();
        a.on_segment(
            SeqNumber(5),
            Payload::of(&[1; 10]),
            false,
            &mut budget,
            &mut record(&mut seen),
        );
        b.on_segment(
            SeqNumber(5),
            Payload::of(&[2; 10]),
            false,
            &mut budget,
            &mut record(&mut seen),
        );
        assert_eq!(a.buffered_bytes(), 10);
        assert_eq!(b.buffered_bytes(), 0);
        assert_eq!(seen, vec!["Notice(OooCapHit { dropped: 10 })".to_string()]);
        a.flush(&mut budget, &mut record(&mut seen));
        assert_eq!(budget.used(), 0);
        b.on_segment(
            SeqNumber(20),
            Payload::of(&[3; 10]),
            false,
            &mut budget,
            &mut record(&mut seen),
        );
        assert_eq!(
            b.buffered_bytes(),
            10,
            "room again once the other stream let go"
        );
    }

    #[test]
    fn midstream_pick_up_skips_data_the_peer_already_acknowledged() {
        let mut s = Stream::default();
        let mut budget = OooBudget::new(1 << 20, 1 << 20);
        let mut seen = Vec::new();
        let mut emit = record(&mut seen);
        s.on_ack(SeqNumber(500), &mut budget, &mut emit);
        // A keep-alive (one old byte) before any data: not the stream's start.
        s.on_segment(
            SeqNumber(499),
            Payload::of(b"\0"),
            false,
            &mut budget,
            &mut emit,
        );
        assert!(!s.is_anchored());
        s.on_segment(
            SeqNumber(500),
            Payload::of(b"GET"),
            false,
            &mut budget,
            &mut emit,
        );
        drop(emit);
        assert!(s.is_anchored());
        assert_eq!(seen, vec!["Data([71, 69, 84])".to_string()]);
    }

    #[test]
    fn data_before_the_stream_start_is_dropped() {
        let mut h = Harness::new(100);
        h.seg(0, b"abc");
        // Starts two bytes before offset 0 (base = ISN + 1 = 101): only "c" is in the stream,
        // and it was already delivered.
        let seq = h.base - 2;
        {
            let mut sink = Harness::sink(&mut h.events, &mut h.data_calls);
            h.stream
                .on_segment(seq, Payload::of(b"xyabcd"), false, &mut h.budget, &mut sink);
        }
        assert_eq!(h.take(), vec![data(b"abcd")]);
    }

    /// `pieces` laid end to end in one shared buffer, and where each lies in it.
    fn arena(pieces: &[&[u8]]) -> (Arc<Vec<u8>>, Vec<std::ops::Range<usize>>) {
        let mut all = Vec::new();
        let mut ranges = Vec::new();
        for p in pieces {
            ranges.push(all.len()..all.len() + p.len());
            all.extend_from_slice(p);
        }
        (Arc::new(all), ranges)
    }

    #[test]
    fn a_segment_that_fills_the_window_is_compared_from_its_place() {
        let first = vec![b'a'; 700];
        let mut changed = first.clone();
        changed[650] = b'b';
        let (bytes, at) = arena(&[&first, &changed, b"tail"]);
        let mut h = Harness::new(0);
        h.backing = Some(Backing::new(&bytes));
        h.seg(0, &bytes[at[0].clone()]);
        // The window's 512 bytes, where they are in the backing.
        assert_eq!(h.stream.in_place(), Some((188, 700, 188)));
        // Only the ring's copy of small deliveries is written: the segment's bytes were not.
        assert!(
            h.stream
                .recent
                .as_ref()
                .is_some_and(|r| r.iter().all(|&b| b == 0))
        );
        h.seg(0, &bytes[at[1].clone()]);
        assert_eq!(h.take(), vec![data(&first), conflict(650, 1)]);
        // Copied bytes after it: the window spans the place and the ring.
        h.seg(700, &bytes[at[2].clone()]);
        h.seg(690, b"aaaaaaaaaatail");
        h.seg(690, b"aaaaaaaaaXtaiL");
        assert_eq!(h.take(), vec![data(b"tail"), conflict(699, 5)]);
    }

    #[test]
    fn bytes_remembered_in_place_are_copied_before_the_backing_goes() {
        let first = vec![b'a'; 600];
        let (bytes, at) = arena(&[&first]);
        let backing = Backing::new(&bytes);
        let mut h = Harness::new(0);
        h.backing = Some(backing.clone());
        h.seg(0, &bytes[at[0].clone()]);
        h.stream.copy_in_place(&backing);
        h.backing = None;
        drop(bytes);
        assert!(h.stream.in_place().is_none());
        h.seg(550, &[b'a'; 49]);
        h.seg(590, b"aaaaaaaaaZ");
        assert_eq!(h.take(), vec![data(&first), conflict(599, 1)]);
    }

    #[test]
    fn bytes_in_a_backing_already_gone_leave_the_window() {
        let (bytes, at) = arena(&[&[b'a'; 600]]);
        let backing = Backing::new(&bytes);
        let mut h = Harness::new(0);
        h.backing = Some(backing.clone());
        h.seg(0, &bytes[at[0].clone()]);
        h.backing = None;
        drop(bytes);
        h.stream.copy_in_place(&backing);
        assert_eq!(h.take(), vec![data(&[b'a'; 600])]);
        h.seg(600, b"bc");
        // Only what was delivered after the lost place is still compared.
        h.seg(599, b"Zbd");
        assert_eq!(h.take(), vec![data(b"bc"), conflict(601, 1)]);
    }

    use proptest::prelude::*;

    proptest! {
        /// Arbitrary segments (overlapping, duplicated, any order) of one stream, then a flush:
        /// every covered byte is delivered once and in place, every uncovered byte before the
        /// last covered one is inside a gap, and nothing stays buffered.
        #[test]
        fn any_segments_reassemble_in_place(
            bytes in prop::collection::vec(any::<u8>(), 1..600),
            segs in prop::collection::vec((any::<usize>(), 1usize..120), 1..40),
            isn in prop_oneof![any::<u32>(), (u32::MAX - 700)..=u32::MAX],
        ) {
            let mut h = Harness::new(isn);
            let mut covered = vec![false; bytes.len()];
            for &(at, len) in &segs {
                let start = at % bytes.len();
                let end = (start + len).min(bytes.len());
                h.seg(start as u64, &bytes[start..end]);
                covered[start..end].iter_mut().for_each(|c| *c = true);
            }
            h.flush();
            let last = covered.iter().rposition(|&c| c).map_or(0, |i| i + 1);
            let mut expected: Vec<Ev> = Vec::new();
            for i in 0..last {
                match (expected.last_mut(), covered[i]) {
                    (Some(Ev::Data(d)), true) => d.push(bytes[i]),
                    (Some(Ev::Gap(n)), false) => *n += 1,
                    (_, true) => expected.push(Ev::Data(vec![bytes[i]])),
                    (_, false) => expected.push(Ev::Gap(1)),
                }
            }
            prop_assert_eq!(h.take(), expected);
            prop_assert_eq!(h.budget.used(), 0);
        }

        /// Segments of up to three windows, from two versions of a stream that differ here
        /// and there (retransmissions that conflict), in any order, with the backing changed
        /// now and then: what is delivered and every conflict reported are the same whether
        /// the payloads lie in a backing (remembered by place) or not (copied).
        #[test]
        fn bytes_remembered_in_place_compare_as_copies(
            bytes in prop::collection::vec(any::<u8>(), 1..6000),
            flips in prop::collection::vec(any::<usize>(), 0..12),
            segs in prop::collection::vec(
                (0usize..1600, 1usize..3 * CONFLICT_WINDOW, any::<bool>(), any::<u8>()),
                1..30,
            ),
        ) {
            let mut other = bytes.clone();
            for f in &flips {
                let i = f % other.len();
                other[i] ^= 1;
            }
            // Mostly on from the furthest byte sent (delivered in order, filling the window),
            // or back over what was sent (compared), now and then past a hole (buffered).
            let mut frontier = 0;
            let pieces: Vec<(u64, &[u8])> = segs
                .iter()
                .map(|&(back, len, second, choice)| {
                    let start = match choice % 4 {
                        0 => frontier + back % 40,
                        1 => frontier,
                        _ => frontier.saturating_sub(back),
                    }
                    .min(bytes.len() - 1);
                    let end = (start + len).min(bytes.len());
                    frontier = frontier.max(end);
                    let from = if second { &other } else { &bytes };
                    (start as u64, &from[start..end])
                })
                .collect();
            let (arena, at) = arena(&pieces.iter().map(|p| p.1).collect::<Vec<_>>());
            let mut copied = Harness::new(7);
            let mut placed = Harness::new(7);
            placed.backing = Some(Backing::new(&arena));
            for (i, (&(offset, piece), range)) in pieces.iter().zip(&at).enumerate() {
                copied.seg(offset, piece);
                placed.seg(offset, &arena[range.clone()]);
                if segs[i].3 % 5 == 0 {
                    // The input changes: what is remembered in place is copied out.
                    if let Some(old) = placed.backing.take() {
                        placed.stream.copy_in_place(&old);
                    }
                    placed.backing = Some(Backing::new(&arena));
                }
                prop_assert_eq!(placed.take(), copied.take());
            }
            copied.flush();
            placed.flush();
            prop_assert_eq!(placed.take(), copied.take());
        }
    }
}
