//! The flow table: finds each segment's flow with one hash lookup, decides roles, opens and
//! closes flows, and routes each direction's bytes through its [`Stream`].
//!
//! Promises: one hash lookup per packet on the common path (a second one for a packet of no
//! open flow: the connections closed by both FINs linger in a map of their own, compact);
//! no allocation per packet for in-order traffic; memory bounded by the memory budget, beneath
//! it open flows by `max_flows`, the out-of-order budget and fixed-size side tables
//! (tombstones, skipped tuples) and the queues of closing flows (at most one live entry per
//! closing flow, compacted when stale ones pile up). Idle flows are found by a sweep
//! that runs once per `idle_timeout / 8` of capture time, not per packet; closing flows whose
//! linger is over by one comparison per packet with the head of that queue.
//!
//! The memory budget ([`crate::budget`]): every flow is charged what it holds (its entry, its
//! streams, the handler's state and buffers) after every operation on it, and the side tables
//! are charged as the table's own holding. After a packet leaves more held than the limit, and
//! before a new flow is let in, room is made down to the low-water mark, in this order: the
//! handler's caches, lingering flows (finalised early, as at the flow cap), the buffers of the
//! largest holders ([`StreamHandler::give_way`], out-of-order bytes given up first), then whole
//! flows, largest first, ended as `Evicted` — when a packet went over the limit any flow, when
//! a new flow asks for room only flows holding far more than an entry. A new flow that still
//! does not fit is not tracked. Each step walks the flows at most once per pressure episode,
//! and a refused flow does not start another episode until memory was freed.

use super::reassembly::{Backing, Delivery, OooBudget, Payload, Stream};
use super::seq::SeqNumber;
use super::{
    CloseHow, Dir, FlowId, FlowMeta, PacketRef, Placed, RoleBasis, RoleHint, StreamEvent,
    StreamHandler, TableStats, TcpNotice,
};
use crate::budget::{Budget, HashPeak, Held, Largest, box_bytes, hash_bytes, vec_bytes};
use crate::config::{Config, PortFilter};
use crate::decode::Segment;
use crate::time::Timestamp;
use foldhash::fast::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// Recently closed tuples remembered so that their stray packets do not start new flows.
const TOMBSTONE_CAP: usize = 16_384;
/// How long (capture time) a closed tuple is remembered, at most; also bounded by the idle
/// timeout, after which a stray packet would have been a new flow anyway.
const TOMBSTONE_TTL_NS: i64 = 60_000_000_000;
/// Tuples remembered to count skipped flows exactly.
const SKIPPED_TUPLES_CAP: usize = 65_536;
/// How long (capture time) a closed connection keeps absorbing its own late packets after the
/// last one seen: the final ACK, a FIN retransmitted because that ACK was lost after the capture
/// point (one retransmission timeout, at least 200 ms on Linux, later), the re-sent ACK, packets
/// in flight when a RST was sent. Zeek's `tcp_close_delay` / `tcp_reset_delay`; a real stack
/// keeps the tuple longer still (TIME_WAIT) for the same reason.
const CLOSE_LINGER_NS: i64 = 5_000_000_000;
/// A new flow asking for room may end another only if that one holds at least this many times
/// what a new flow costs: flows of ordinary size are not ended to make room for more of them.
const BIG_FLOW_ENTRIES: usize = 16;
/// A new flow is expected to cost at most this many entries (see `new_flow_bytes`).
const NEW_FLOW_ENTRIES: usize = 8;
/// Flows remembered from one walk as candidates to give way (the largest holders).
const GIVE_WAY_CANDIDATES: usize = 1024;

/// One side of a connection, in a form that hashes and compares cheaply. The address is kept
/// as big-endian bytes (an IPv4 address in the last four), which orders like the number and,
/// unlike a `u128`, needs no 16-byte alignment: the key is 40 bytes instead of 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Endpoint {
    ip: [u8; 16],
    port: u16,
    v6: bool,
}

impl Endpoint {
    fn of(addr: SocketAddr) -> Endpoint {
        match addr.ip() {
            IpAddr::V4(ip) => {
                let mut bytes = [0; 16];
                if let Some(last) = bytes.last_chunk_mut::<4>() {
                    *last = ip.octets();
                }
                Endpoint {
                    ip: bytes,
                    port: addr.port(),
                    v6: false,
                }
            }
            IpAddr::V6(ip) => Endpoint {
                ip: ip.octets(),
                port: addr.port(),
                v6: true,
            },
        }
    }
}

/// The canonical 4-tuple: the same for both directions. Side 0 is `lo`, side 1 is `hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
}

/// Every packet's lookup hashes its key: three words, not a hasher call per field.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_ne_bytes(self.lo.ip));
        state.write_u128(u128::from_ne_bytes(self.hi.ip));
        state.write_u64(
            u64::from(self.lo.port)
                | u64::from(self.hi.port) << 16
                | u64::from(self.lo.v6) << 32
                | u64::from(self.hi.v6) << 33,
        );
    }
}

impl FlowKey {
    /// The key of a segment, and which side sent it.
    fn of(src: SocketAddr, dst: SocketAddr) -> (FlowKey, usize) {
        let (s, d) = (Endpoint::of(src), Endpoint::of(dst));
        if s <= d {
            (FlowKey { lo: s, hi: d }, 0)
        } else {
            (FlowKey { lo: d, hi: s }, 1)
        }
    }

    /// The client's side when nothing better is known: the lower port is the server; on equal
    /// ports the lower address is.
    fn client_side_by_port(&self) -> usize {
        if self.lo.port < self.hi.port {
            1
        } else if self.hi.port < self.lo.port {
            0
        } else if self.lo <= self.hi {
            1
        } else {
            0
        }
    }
}

/// A tracked flow. Streams are indexed by side; the meta by [`Dir`].
struct Flow<S> {
    meta: FlowMeta,
    state: S,
    streams: [Stream; 2],
    client_side: usize,
    opened: bool,
    /// ISN of each side's SYN (or SYN-ACK), if seen; the client's also from the SYN-ACK's
    /// acknowledgment when only that was seen.
    isn: [Option<SeqNumber>; 2],
    /// Each side's last advertised window (unscaled), from its last segment with ACK.
    window: [Option<u16>; 2],
    /// Each side's Window Scale option, once its SYN (or SYN-ACK) was seen.
    window_scale: [Option<Option<u8>>; 2],
    /// An accepted RST while the flow lingers after it with its streams intact, in case the
    /// connection outlives it.
    reset: Option<ResetMark>,
    saw_payload: bool,
    /// Both FINs were delivered, or a RST was seen: the streams are finished and flushed, and
    /// the flow only counts its late packets until it is finalised (see [`FlowTable`]).
    closing: Option<CloseHow>,
    /// While closing: when it is finalised, and its entry in the queue.
    linger: Linger,
    /// What the memory budget charges the flow for, and the handler's part of it when last
    /// asked.
    held: Held,
    handler_held: Held,
}

impl<S: Default> Flow<S> {
    fn new(id: FlowId, key: &FlowKey, seg: &Segment<'_>, side: usize) -> Flow<S> {
        let flags = seg.flags;
        let client_side = if flags.syn() && !flags.rst() {
            if flags.ack() { side ^ 1 } else { side }
        } else {
            key.client_side_by_port()
        };
        let mut addrs = [seg.src, seg.dst];
        if side == 1 {
            addrs.swap(0, 1);
        }
        let meta = FlowMeta::new(
            id,
            addrs[client_side],
            addrs[client_side ^ 1],
            RoleBasis::Port,
            seg.ts,
        );
        Flow {
            meta,
            state: S::default(),
            streams: [Stream::default(), Stream::default()],
            client_side,
            opened: false,
            isn: [None; 2],
            window: [None; 2],
            window_scale: [None; 2],
            reset: None,
            saw_payload: false,
            closing: None,
            linger: Linger::default(),
            held: Held::ZERO,
            handler_held: Held::ZERO,
        }
    }

    fn dir_of(&self, side: usize) -> Dir {
        dir_of(self.client_side, side)
    }

    /// Fixes the roles (before `Opened`); per-direction counters gathered under provisional
    /// roles follow the swap.
    fn set_roles(&mut self, client_side: usize, basis: RoleBasis) {
        if client_side != self.client_side {
            // `meta.client` is always side `client_side`'s address, `meta.server` the other's.
            self.client_side = client_side;
            let m = &mut self.meta;
            std::mem::swap(&mut m.client, &mut m.server);
            m.tcpip_header_bytes.swap(0, 1);
            m.fin_seen.swap(0, 1);
        }
        self.meta.role_basis = basis;
    }

    /// How a flow that is being closed for `default` reasons really ended, if we saw it.
    fn closed_how(&self, default: CloseHow) -> CloseHow {
        if let Some(how) = self.closing {
            how
        } else if self.meta.rst_seen {
            CloseHow::Rst
        } else if self.meta.fin_seen[0] && self.meta.fin_seen[1] {
            CloseHow::Fin
        } else {
            default
        }
    }
}

/// A connection closed by both FINs, lingering to count its last packets ([`CLOSE_LINGER_NS`]):
/// all that a late packet still touches (its counters, its control flags told to the handler,
/// its ISNs to tell a new connection on the tuple from a copy of the old SYN) and what the
/// handler keeps for its end ([`StreamHandler::Closed`]). What is left of a [`Flow`] once its
/// streams are wound down, without them, its windows, its reset mark and the handler's state
/// for streams: about half the size. Kept apart from the flows
/// ([`FlowTable::lingering`]) and not counted against `max_flows` (a closed connection is not
/// one tracked), it is bounded by the memory budget it is charged to.
struct Lingering<C> {
    meta: FlowMeta,
    closed: C,
    client_side: usize,
    isn: [Option<SeqNumber>; 2],
    how: CloseHow,
    linger: Linger,
    held: Held,
}

impl<C> Lingering<C> {
    /// What a flow closed by both FINs keeps (`how`: what closed it first).
    fn of<H: StreamHandler<Closed = C>>(
        flow: Flow<H::State>,
        how: CloseHow,
        handler: &mut H,
    ) -> Box<Lingering<C>> {
        let Flow {
            meta,
            state,
            client_side,
            isn,
            ..
        } = flow;
        let closed = handler.closed(&meta, state);
        Box::new(Lingering {
            meta,
            closed,
            client_side,
            isn,
            how,
            // Not queued yet: its place in the queue of lingering flows is set next.
            linger: Linger::default(),
            held: Held::ZERO,
        })
    }

    fn dir_of(&self, side: usize) -> Dir {
        dir_of(self.client_side, side)
    }

    /// Charges it what it holds now: its entry and what the handler keeps (see [`settle`]).
    fn settle<H: StreamHandler<Closed = C>>(&mut self, memory: &mut Budget, handler: &H) {
        let now = Held::fixed(box_bytes::<Lingering<C>>()) + handler.held_closed(&self.closed);
        memory.settle(&mut self.held, now);
    }

    /// Does a pure SYN from `side` start a new connection ([`is_new_connection`])? Both FINs
    /// were seen: any SYN but a copy of the connection's own does.
    fn is_new_connection(&self, side: usize, seq: SeqNumber) -> bool {
        self.isn[side].is_none_or(|isn| isn != seq)
    }
}

/// Whether a flow with an entry in the queue of reset flows is still closing; one taken up
/// again after its RST is not, and is marked as no longer queued (its entry is being dropped).
fn still_closing<S>(flow: &mut Flow<S>) -> bool {
    let closing = flow.closing.is_some();
    flow.linger.queued = closing;
    closing
}

/// Whether a flow whose last packet came at `last` is idle at `ts` (`timeout_ns` 0: never).
fn idle_since(timeout_ns: i64, last: Timestamp, ts: Timestamp) -> bool {
    timeout_ns > 0 && ts.0.saturating_sub(last.0) > timeout_ns
}

/// The direction of what `side` sends, when `client_side` is the client's.
fn dir_of(client_side: usize, side: usize) -> Dir {
    if side == client_side {
        Dir::C2S
    } else {
        Dir::S2C
    }
}

/// A [`Ctx`] over a table's fields and `pkt`: a macro, since the flow worked on is borrowed
/// from the table's `flows` at the same time.
macro_rules! ctx {
    ($table:ident, $handler:expr, $pkt:expr) => {
        Ctx {
            handler: &mut *$handler,
            budget: &mut $table.budget,
            backing: $table.backing.as_ref(),
            memory: &mut $table.memory,
            stats: &mut $table.stats,
            role_hint: $table.role_hint,
            pkt: $pkt,
        }
    };
}

impl<S> Flow<S> {
    /// The receive window `side` last advertised, in bytes: scaled as its handshake agreed
    /// (RFC 7323 §2.2: only when both SYNs carried the option), by the largest shift when the
    /// handshake was not seen. `None` before it sent anything with an ACK.
    fn receive_window(&self, side: usize) -> Option<u32> {
        let raw = u32::from(self.window[side]?);
        let shift = match (self.window_scale[side], self.window_scale[side ^ 1]) {
            (Some(Some(own)), Some(Some(_))) => own,
            (Some(_), Some(_)) => 0,
            _ => 14,
        };
        Some(raw << shift)
    }
}

/// What every flow operation needs besides the flow.
struct Ctx<'a, H: StreamHandler> {
    handler: &'a mut H,
    budget: &'a mut OooBudget,
    backing: Option<&'a Backing>,
    memory: &'a mut Budget,
    stats: &'a mut TableStats,
    role_hint: Option<RoleHint>,
    pkt: Option<PacketRef>,
}

/// Charges the flow what it holds now: its entry, its streams, and the handler's state and
/// buffers — asked of the handler again only if `handler_fed` (it was given bytes, a gap or an
/// end, or the flow wound down since it was last asked; nothing else changes what it holds),
/// so that a pure ACK costs a few additions.
fn settle<H: StreamHandler>(flow: &mut Flow<H::State>, ctx: &mut Ctx<'_, H>, handler_fed: bool) {
    if handler_fed {
        flow.handler_held = ctx.handler.held(&flow.state);
    }
    let [a, b] = &flow.streams;
    let now = Held::fixed(box_bytes::<Flow<H::State>>()) + a.held() + b.held() + flow.handler_held;
    ctx.memory.settle(&mut flow.held, now);
}

/// The memory budget needs this flow's buffers: its out-of-order bytes are delivered early
/// (holes given up), then the handler gives up what it can.
fn give_way<H: StreamHandler>(flow: &mut Flow<H::State>, ctx: &mut Ctx<'_, H>) {
    each_stream(flow, ctx, |stream, budget, mut emit| {
        stream.give_up_buffered(budget, &mut emit)
    });
    let Flow { meta, state, .. } = &mut *flow;
    ctx.handler.give_way(meta, state, ctx.pkt);
    settle(flow, ctx, true);
}

/// Turns a stream's deliveries into handler events, keeping the meta counters in step.
fn emit_event<H: StreamHandler>(
    meta: &mut FlowMeta,
    state: &mut H::State,
    handler: &mut H,
    stats: &mut TableStats,
    pkt: Option<PacketRef>,
    dir: Dir,
    delivery: Delivery<'_>,
) {
    let d = dir.index();
    let event = match delivery {
        Delivery::Data(bytes) => {
            meta.payload_bytes[d] = meta.payload_bytes[d].saturating_add(bytes.len() as u64);
            StreamEvent::Data { dir, bytes }
        }
        Delivery::Gap(len) => {
            meta.payload_bytes[d] = meta.payload_bytes[d].saturating_add(len);
            meta.gap_bytes[d] = meta.gap_bytes[d].saturating_add(len);
            StreamEvent::Gap { dir, len }
        }
        Delivery::End => StreamEvent::End { dir },
        // Only where no packet drives the delivery does it say anything (see `wind_down`).
        Delivery::Arrived(_) => return,
        Delivery::Notice(notice) => {
            if let TcpNotice::OooCapHit { dropped } = notice {
                stats.ooo_bytes_dropped = stats.ooo_bytes_dropped.saturating_add(dropped.into());
            }
            StreamEvent::Notice {
                dir: Some(dir),
                notice,
            }
        }
    };
    handler.on_event(meta, state, pkt, event);
}

/// Emits `Opened` (and `Midstream`) once the roles are fixed.
fn open<H: StreamHandler>(flow: &mut Flow<H::State>, ctx: &mut Ctx<'_, H>) {
    if flow.opened {
        return;
    }
    flow.opened = true;
    let Flow { meta, state, .. } = flow;
    ctx.handler
        .on_event(meta, state, ctx.pkt, StreamEvent::Opened);
    if meta.role_basis != RoleBasis::Syn {
        let notice = StreamEvent::Notice {
            dir: None,
            notice: TcpNotice::Midstream,
        };
        ctx.handler.on_event(meta, state, ctx.pkt, notice);
    }
}

/// Ends a flow: opens it if it never was, gives up every hole, delivers what is buffered,
/// and emits `Closed`. The flow must be dropped afterwards.
fn close<H: StreamHandler>(flow: &mut Flow<H::State>, how: CloseHow, ctx: &mut Ctx<'_, H>) {
    // A reset flow kept its streams: what they still deliver belongs to its last packet.
    let pkt = ctx.pkt;
    if pkt.is_none()
        && let Some(mark) = flow.reset
    {
        ctx.pkt = mark.last;
    }
    wind_down(flow, ctx);
    ctx.pkt = pkt;
    let Flow { meta, state, .. } = &mut *flow;
    ctx.handler
        .on_event(meta, state, ctx.pkt, StreamEvent::Closed { how });
    ctx.memory.release(&mut flow.held);
}

/// Opens the flow if it never was, gives up every hole and delivers what is buffered: after
/// this the streams have nothing more to say. Doing it again changes nothing.
fn wind_down<H: StreamHandler>(flow: &mut Flow<H::State>, ctx: &mut Ctx<'_, H>) {
    open(flow, ctx);
    // Without its streams the flow can no longer take up again after a RST.
    flow.reset = None;
    flush_streams(flow, ctx);
    // Nothing is delivered any more: give back the conflict ring and the sequence state while
    // the flow lingers.
    flow.streams = [Stream::default(), Stream::default()];
    let Flow { meta, state, .. } = &mut *flow;
    ctx.handler.on_streams_done(meta, state, ctx.pkt);
}

/// Gives up every hole of both streams and delivers what is buffered (client first). The
/// streams stay usable: what arrives later continues after the furthest byte known.
fn flush_streams<H: StreamHandler>(flow: &mut Flow<H::State>, ctx: &mut Ctx<'_, H>) {
    each_stream(flow, ctx, |stream, budget, mut emit| {
        stream.flush(budget, &mut emit)
    });
}

/// Runs `step` on both streams, the client's first, with an emitter that turns what they
/// deliver into handler events.
fn each_stream<H: StreamHandler>(
    flow: &mut Flow<H::State>,
    ctx: &mut Ctx<'_, H>,
    mut step: impl FnMut(&mut Stream, &mut OooBudget, &mut dyn FnMut(Delivery<'_>)),
) {
    let client_side = flow.client_side;
    for side in [client_side, client_side ^ 1] {
        let dir = flow.dir_of(side);
        let Flow {
            meta,
            state,
            streams,
            ..
        } = &mut *flow;
        let Some(stream) = streams.get_mut(side) else {
            continue;
        };
        // Without a packet (end of input, idle, linger), buffered bytes are delivered as of
        // the packet that brought them: a message they complete has its true frame and time.
        let mut from = ctx.pkt;
        let mut emit = |d: Delivery<'_>| match d {
            Delivery::Arrived(pkt) if ctx.pkt.is_none() => from = Some(pkt),
            Delivery::Gap(_) => {
                from = ctx.pkt;
                emit_event(meta, state, &mut *ctx.handler, ctx.stats, from, dir, d);
            }
            d => emit_event(meta, state, &mut *ctx.handler, ctx.stats, from, dir, d),
        };
        step(stream, ctx.budget, &mut emit);
    }
}

/// Counts a packet in the flow's meta.
fn count_packet(meta: &mut FlowMeta, dir: Dir, seg: &Segment<'_>) {
    meta.packets += 1;
    meta.last_ts = meta.last_ts.max(seg.ts);
    meta.tcpip_header_bytes[dir.index()] = meta.tcpip_header_bytes[dir.index()]
        .saturating_add(u64::from(seg.ip_header_len) + u64::from(seg.tcp_header_len));
}

/// Tells the handler of a packet's control flags (SYN, FIN, RST) once the flow took it.
fn tell_control<H: StreamHandler>(
    flow: &mut Flow<H::State>,
    seg: &Segment<'_>,
    side: usize,
    ctx: &mut Ctx<'_, H>,
) {
    let flags = seg.flags;
    if (flags.syn() || flags.fin() || flags.rst()) && flow.opened {
        let dir = flow.dir_of(side);
        let Flow { meta, state, .. } = &mut *flow;
        let event = StreamEvent::Control { dir, flags };
        ctx.handler.on_event(meta, state, ctx.pkt, event);
    }
}

/// Processes one segment of a tracked flow. Returns how the flow ended, if this segment ended
/// it (the caller then winds it down and lets it linger). From the moment the roles are known,
/// `ctx.pkt` says the packet's direction.
fn handle<H: StreamHandler>(
    flow: &mut Flow<H::State>,
    seg: &Segment<'_>,
    side: usize,
    ctx: &mut Ctx<'_, H>,
) -> Option<CloseHow> {
    if flow.opened {
        ctx.pkt = ctx.pkt.map(|p| p.sent_by(flow.dir_of(side)));
    }
    if flow.closing.is_some() {
        let Some(mark) = flow.reset else {
            // Both FINs were delivered: the last ACK, a retransmitted FIN and its ACK are part
            // of the connection, with nothing left to deliver.
            let dir = flow.dir_of(side);
            count_packet(&mut flow.meta, dir, seg);
            return None;
        };
        // Reset: what follows is processed as usual while the flow lingers (data in flight
        // when the RST was sent is on the wire all the same), and may show that the
        // connection outlived the RST.
        if outlives(flow, &mark, seg, side) {
            flow.reset = None;
            flow.closing = None;
            flow.meta.rst_seen = false;
            let dir = flow.dir_of(mark.side);
            let Flow { meta, state, .. } = &mut *flow;
            let notice = StreamEvent::Notice {
                dir: Some(dir),
                notice: TcpNotice::RstIgnored {
                    seq: mark.seq.0,
                    frame: mark.rst.map_or(0, |p| p.frame),
                    refused_syn: mark.refused_syn,
                },
            };
            ctx.handler.on_event(meta, state, ctx.pkt, notice);
        } else if let Some(m) = flow.reset.as_mut() {
            m.last = ctx.pkt;
        }
    }
    let flags = seg.flags;
    let other = side ^ 1;
    let seq = SeqNumber(seg.seq);
    let wire_len = seg.payload.len() as u64 + u64::from(seg.missing);

    if flags.syn() && !flags.rst() {
        flow.meta.syn_seen = true;
        if flow.isn[side].is_none() {
            flow.isn[side] = Some(seq);
        }
        if flow.window_scale[side].is_none() {
            flow.window_scale[side] = Some(seg.window_scale);
        }
        if let Some(stream) = flow.streams.get_mut(side) {
            stream.anchor(seq + 1);
        }
        if flags.ack() {
            // A SYN-ACK acknowledges the SYN: if that was missed, its ISN is known from here,
            // so that a late copy of it is recognised as the same connection's.
            if flow.isn[other].is_none() {
                flow.isn[other] = Some(SeqNumber(seg.ack) - 1);
            }
            if let Some(stream) = flow.streams.get_mut(other) {
                stream.anchor(SeqNumber(seg.ack));
            }
        }
        if !flow.opened {
            let client = if flags.ack() { other } else { side };
            flow.set_roles(client, RoleBasis::Syn);
        }
    }
    if !flow.opened && (wire_len > 0 || flags.syn() || flags.fin() || flags.rst()) {
        if flow.meta.role_basis != RoleBasis::Syn {
            let hinted = match ctx.role_hint {
                Some(hint) if wire_len > 0 => hint(seg.payload),
                _ => None,
            };
            match hinted {
                Some(true) => flow.set_roles(side, RoleBasis::Content),
                Some(false) => flow.set_roles(other, RoleBasis::Content),
                None => {
                    let by_port = flow.client_side;
                    flow.set_roles(by_port, RoleBasis::Port);
                }
            }
        }
        ctx.pkt = ctx.pkt.map(|p| p.sent_by(flow.dir_of(side)));
        open(flow, ctx);
    }

    let dir = flow.dir_of(side);
    count_packet(&mut flow.meta, dir, seg);

    if flags.ack() && !flags.rst() && acceptable_ack(flow, seg, side) {
        flow.window[side] = Some(seg.window);
        let other_dir = flow.dir_of(other);
        let Flow {
            meta,
            state,
            streams,
            ..
        } = &mut *flow;
        if let Some(stream) = streams.get_mut(other) {
            let mut emit = |d: Delivery<'_>| {
                emit_event(
                    meta,
                    state,
                    &mut *ctx.handler,
                    ctx.stats,
                    ctx.pkt,
                    other_dir,
                    d,
                )
            };
            stream.on_ack(SeqNumber(seg.ack), ctx.budget, &mut emit);
        }
    }
    if flags.rst() {
        // Data on a RST is a diagnostic, not stream content (receivers discard it).
        if let Some(notice) = judge_rst(flow, seg, side) {
            let Flow { meta, state, .. } = &mut *flow;
            let event = StreamEvent::Notice {
                dir: Some(dir),
                notice,
            };
            ctx.handler.on_event(meta, state, ctx.pkt, event);
            return None;
        }
        flow.meta.rst_seen = true;
        if flow.reset.is_none() {
            let refused_syn = refuses_syn(flow, side);
            let sent_until = flow
                .streams
                .get(side)
                .and_then(Stream::next_seq)
                .map_or(seq, |next| next.max_wrapping(seq));
            flow.reset = Some(ResetMark {
                side,
                refused_syn,
                seq,
                sent_until,
                rst: ctx.pkt,
                last: ctx.pkt,
            });
        }
        // What can be delivered is, with the RST (every hole given up: nothing more is
        // expected); the streams stay, in case the connection outlives it.
        flush_streams(flow, ctx);
        return Some(CloseHow::Rst);
    }

    let data_seq = if flags.syn() { seq + 1 } else { seq };
    let peer_window_zero = flow.window[other] == Some(0);
    flow.saw_payload |= wire_len > 0;
    // A bare FIN from a side that has not answered the peer's SYN is dropped by the peer in
    // SYN-SENT (RFC 9293 §3.10.7.3: without SYN or RST, a segment is dropped): it ends
    // nothing, and must not fix where this side's stream starts.
    let fin = flags.fin() && !(wire_len == 0 && !flags.syn() && refuses_syn(flow, side));
    if fin {
        flow.meta.fin_seen[dir.index()] = true;
    }
    let Flow {
        meta,
        state,
        streams,
        ..
    } = &mut *flow;
    let stream = streams.get_mut(side)?;
    stream.set_arrival(ctx.pkt);
    let mut emit =
        |d: Delivery<'_>| emit_event(meta, state, &mut *ctx.handler, ctx.stats, ctx.pkt, dir, d);
    if wire_len > 0 {
        let payload = Payload {
            bytes: seg.payload,
            missing: seg.missing,
            backing: ctx.backing,
        };
        stream.on_segment(data_seq, payload, peer_window_zero, ctx.budget, &mut emit);
    }
    if fin {
        stream.on_fin(data_seq + wire_len as u32, ctx.budget, &mut emit);
    }
    if flow.streams.iter().all(Stream::has_ended) {
        return Some(CloseHow::Fin);
    }
    None
}

/// The flow ends (`how`) with this segment and lingers. After both FINs its streams are done
/// and wound down at once; after a RST they are kept until the flow is finalised, in case the
/// connection outlives the RST (then the flow simply goes on).
fn begin_closing<H: StreamHandler>(flow: &mut Flow<H::State>, how: CloseHow, ctx: &mut Ctx<'_, H>) {
    if how != CloseHow::Rst {
        wind_down(flow, ctx);
    }
    flow.closing = Some(flow.closing.unwrap_or(how));
}

/// An accepted RST, remembered while its flow lingers.
#[derive(Clone, Copy, Debug)]
struct ResetMark {
    /// The side that sent it.
    side: usize,
    /// It answered the peer's SYN (a refused connection), rather than ending an open one.
    refused_syn: bool,
    seq: SeqNumber,
    /// The sender's sequence space used when it sent the RST: an acknowledgment beyond this
    /// is of bytes sent after it.
    sent_until: SeqNumber,
    /// The RST's packet.
    rst: Option<PacketRef>,
    /// The flow's latest packet since: where its streams' last events go when it is finalised.
    last: Option<PacketRef>,
}

/// Is `side`'s RST an answer to the peer's SYN? The peer sent a SYN (it is in SYN-SENT) that
/// `side` never answered: no SYN-ACK, nothing else that fixed its sequence numbers.
fn refuses_syn<S>(flow: &Flow<S>, side: usize) -> bool {
    flow.isn[side ^ 1].is_some()
        && flow.isn[side].is_none()
        && !flow.streams.get(side).is_some_and(Stream::is_anchored)
}

/// Does the peer in SYN-SENT accept this ACK from `side`? Before `side` has answered the SYN
/// (see [`refuses_syn`]), only an acknowledgment of the SYN is acceptable (RFC 9293
/// §3.10.7.3); any other — a stale connection's, a middlebox's — draws a RST from a real stack
/// and is ignored here too, so that it neither moves the peer's stream nor counts as its
/// receiver's acknowledgment. Everything else is taken as it comes.
fn acceptable_ack<S>(flow: &Flow<S>, seg: &Segment<'_>, side: usize) -> bool {
    let other = side ^ 1;
    if seg.flags.syn() || !refuses_syn(flow, side) {
        return true;
    }
    let (Some(isn), Some(next)) = (
        flow.isn[other],
        flow.streams.get(other).and_then(Stream::next_seq),
    ) else {
        return true;
    };
    let ack = SeqNumber(seg.ack);
    ack.distance_from(isn) > 0 && ack.distance_from(next) <= 0
}

/// Judges a RST from `side` as its receiver would. `None`: acceptable, the receiver resets.
/// Otherwise the notice saying why the receiver drops it:
/// - answering a SYN (the receiver is in SYN-SENT, RFC 9293 §3.10.7.3), a RST is acceptable
///   only if it acknowledges that SYN;
/// - otherwise (RFC 9293 §3.10.7.4, RFC 5961 §3.2) only if its sequence number is in the
///   receive window: from the lowest point the receiver's RCV.NXT can be at (its last
///   acknowledgment of the sender, or the sender's next sequence number) to the sender's next
///   sequence number plus the receiver's window. RFC 5961 resets only on an exact match and
///   answers the rest of the window with a challenge ACK; a capture cannot tell exactly where
///   RCV.NXT is (segments may be missing), so the whole window counts as a reset.
///
/// Without anything to judge by (the sender's sequence numbers or the receiver's window never
/// seen) a RST is accepted.
fn judge_rst<S>(flow: &Flow<S>, seg: &Segment<'_>, side: usize) -> Option<TcpNotice> {
    let receiver = side ^ 1;
    if refuses_syn(flow, side) {
        let isn = flow.isn[receiver]?;
        let next = flow
            .streams
            .get(receiver)
            .and_then(Stream::next_seq)
            .unwrap_or(isn + 1);
        let ack = SeqNumber(seg.ack);
        let acks_syn =
            seg.flags.ack() && ack.distance_from(isn) > 0 && ack.distance_from(next) <= 0;
        return (!acks_syn).then_some(TcpNotice::RstOutOfWindow {
            refused_syn: true,
            value: seg.flags.ack().then_some(seg.ack),
            lo: (isn + 1).0,
            hi: (next + 1).0,
        });
    }
    let next = flow.streams.get(side).and_then(Stream::next_seq)?;
    let window = match flow.receive_window(receiver) {
        Some(window) => window,
        // The sender's SYN was never answered: its peer has no state for this connection
        // but RCV.NXT = ISN + 1 at best. (A stack in SYN-SENT sends a RST only to answer an
        // acknowledgment that is not for its SYN, with that acknowledgment as its sequence
        // number: it resets the peer's stale connection, not its own attempt.)
        None if refuses_syn(flow, receiver) => 1,
        None => return None,
    };
    let acked = flow
        .streams
        .get(side)
        .and_then(Stream::peer_ack)
        .filter(|&ack| ack.distance_from(next) <= 0);
    let lo = acked.unwrap_or(next);
    let hi = next + window.clamp(1, 1 << 30);
    let seq = SeqNumber(seg.seq);
    let in_window = seq.distance_from(lo) >= 0 && seq.distance_from(hi) < 0;
    (!in_window).then_some(TcpNotice::RstOutOfWindow {
        refused_syn: false,
        value: Some(seg.seq),
        lo: lo.0,
        hi: hi.0,
    })
}

/// Does this segment show that the connection outlived the accepted RST `mark`? Its receiver
/// acknowledges bytes the RST's sender sent after it; or, when the RST refused a SYN, its
/// sender answers that SYN after all (the peer tried again and the handshake goes on).
fn outlives<S>(flow: &Flow<S>, mark: &ResetMark, seg: &Segment<'_>, side: usize) -> bool {
    let flags = seg.flags;
    if !flags.ack() || flags.rst() {
        return false;
    }
    let ack = SeqNumber(seg.ack);
    if mark.refused_syn {
        return side == mark.side
            && flags.syn()
            && flow.isn[side ^ 1].is_some_and(|isn| ack == isn + 1);
    }
    side != mark.side
        && ack.distance_from(mark.sent_until) > 0
        && flow
            .streams
            .get(mark.side)
            .and_then(Stream::next_seq)
            .is_some_and(|next| ack.distance_from(next) <= 0)
}

/// A closed tuple's memory.
#[derive(Clone, Copy)]
struct Tomb {
    closed_at: Timestamp,
    isn: [Option<SeqNumber>; 2],
}

/// Recently closed tuples, bounded in number and age.
struct Tombstones {
    map: HashMap<FlowKey, Tomb, RandomState>,
    peak: HashPeak,
    order: VecDeque<(FlowKey, Timestamp)>,
    ttl_ns: i64,
}

impl Tombstones {
    fn held(&self) -> usize {
        self.peak.bytes::<(FlowKey, Tomb)>()
            + vec_bytes::<(FlowKey, Timestamp)>(self.order.capacity())
    }

    fn new(ttl_ns: i64) -> Tombstones {
        Tombstones {
            map: HashMap::default(),
            peak: HashPeak::default(),
            order: VecDeque::new(),
            ttl_ns,
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((key, at)) = self.order.pop_front()
            && self.map.get(&key).is_some_and(|t| t.closed_at == at)
        {
            self.map.remove(&key);
        }
    }

    fn expire(&mut self, now: Timestamp) {
        while let Some(&(_, at)) = self.order.front() {
            if now.0.saturating_sub(at.0) <= self.ttl_ns {
                break;
            }
            self.pop_oldest();
        }
    }

    fn insert(&mut self, key: FlowKey, tomb: Tomb) {
        while self.order.len() >= TOMBSTONE_CAP {
            self.pop_oldest();
        }
        self.map.insert(key, tomb);
        self.peak.see(self.map.len());
        self.order.push_back((key, tomb.closed_at));
    }
}

/// Tuples seen once, for counting distinct skipped flows with bounded memory.
struct TupleSet {
    set: HashSet<FlowKey, RandomState>,
    peak: HashPeak,
}

impl TupleSet {
    fn held(&self) -> usize {
        self.peak.bytes::<FlowKey>()
    }

    fn new() -> TupleSet {
        TupleSet {
            set: HashSet::default(),
            peak: HashPeak::default(),
        }
    }

    /// Is this a flow not counted yet? Exact while the set has room; after that every SYN
    /// counts as a new flow.
    fn is_new(&mut self, key: FlowKey, pure_syn: bool) -> bool {
        if self.set.contains(&key) {
            false
        } else if self.set.len() < SKIPPED_TUPLES_CAP {
            self.set.insert(key);
            self.peak.see(self.set.len());
            true
        } else {
            pure_syn
        }
    }
}

/// Where a closing flow finalised at the end of its linger stands in the order a table
/// finalises them: by deadline, then by the packet that set the deadline (the queue is filled in
/// packet order). Tables that each hold a share of the flows and see every packet's time
/// finalise, between them, in this same order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClosingOrder {
    pub deadline: Timestamp,
    pub queued_at: u64,
}

/// A closing flow's place in its queue of closing flows ([`FlowTable::closing`]).
#[derive(Clone, Copy, Debug, Default)]
struct Linger {
    /// When its linger is over, and the packet that set that: its place in the closing order.
    order: ClosingOrder,
    /// Its entry is in the queue: at `order`, or at an earlier one when a packet moved the
    /// deadline since (the entry is moved back when it comes up).
    queued: bool,
}

/// An entry of a [`ClosingQueue`]: a closing flow's place, and the flow.
type Closing = (ClosingOrder, FlowKey, FlowId);

/// An entry moved back, as the min-heap orders it: by its place, then its flow (which no two
/// entries share).
type Moved = std::cmp::Reverse<(ClosingOrder, FlowId, FlowKey)>;

fn moved((order, key, id): Closing) -> Moved {
    std::cmp::Reverse((order, id, key))
}

/// Closing flows in [`ClosingOrder`], one entry per flow: a deque that entries are pushed onto
/// in packet order, which is closing order, and a min-heap of the entries moved back because a
/// packet moved their flow's deadline after they were pushed. Pushing and taking the first
/// are O(1) for the deque; an entry moved back costs O(log n) in the heap. The heap holds only
/// the flows between their first deadline and their moved one: a last ACK follows the FINs
/// by a round trip, so it stays small, and no input can make a move cost more than log n (an
/// insertion into the deque at the flow's place would cost up to n / 2 for a packet that came
/// in the middle of its flow's linger).
#[derive(Default)]
struct ClosingQueue {
    pushed: VecDeque<Closing>,
    moved: std::collections::BinaryHeap<Moved>,
}

impl ClosingQueue {
    /// Appends an entry at least as late in the closing order as every entry pushed before.
    fn push(&mut self, entry: Closing) {
        self.pushed.push_back(entry);
    }

    /// Puts back an entry taken first, at its flow's place now. Says whether the heap grew.
    fn move_back(&mut self, entry: Closing) -> bool {
        let grows = self.moved.len() == self.moved.capacity();
        self.moved.push(moved(entry));
        grows
    }

    /// Whether the first entry is the heap's (else the deque's, if there is one).
    fn moved_first(&self) -> bool {
        match (self.pushed.front(), self.moved.peek()) {
            (Some(p), Some(m)) => m.0.0 < p.0,
            (None, m) => m.is_some(),
            (Some(_), None) => false,
        }
    }

    /// The first entry's place in the closing order.
    fn first(&self) -> Option<ClosingOrder> {
        if self.moved_first() {
            self.moved.peek().map(|m| m.0.0)
        } else {
            self.pushed.front().map(|e| e.0)
        }
    }

    /// Takes the first entry.
    fn take_first(&mut self) -> Option<Closing> {
        if self.moved_first() {
            self.moved
                .pop()
                .map(|std::cmp::Reverse((order, id, key))| (order, key, id))
        } else {
            self.pushed.pop_front()
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Closing) -> bool) {
        self.pushed.retain(|e| keep(e));
        self.moved
            .retain(|std::cmp::Reverse((order, id, key))| keep(&(*order, *key, *id)));
    }

    fn len(&self) -> usize {
        self.pushed.len() + self.moved.len()
    }

    fn is_empty(&self) -> bool {
        self.pushed.is_empty() && self.moved.is_empty()
    }

    /// Whether the next push grows the deque.
    fn full(&self) -> bool {
        self.pushed.len() == self.pushed.capacity()
    }

    /// Bytes held, for the memory budget.
    fn held(&self) -> usize {
        vec_bytes::<Closing>(self.pushed.capacity()) + vec_bytes::<Moved>(self.moved.capacity())
    }

    fn clear(&mut self) {
        self.pushed.clear();
        self.moved.clear();
    }
}

/// The deadline of no closing flow: later than every clock.
const NO_DEADLINE: Timestamp = Timestamp(i64::MAX);

/// The queue of closing flows of each map a closing flow can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queue {
    /// `FlowTable::lingering`: closed by both FINs.
    Lingering = 0,
    /// `FlowTable::flows`: closed by a RST, its streams kept.
    Reset = 1,
}

/// The flow table. Generic over the handler's per-flow state.
pub struct FlowTable<H: StreamHandler> {
    /// Boxed so that the table's slots stay small (key and pointer): the slots are allocated
    /// for up to twice the flows, and a flow is several hundred bytes.
    flows: HashMap<FlowKey, Box<Flow<H::State>>, RandomState>,
    /// The most flows held at once: what `flows` is charged for, the same in every run
    /// ([`HashPeak`]; its capacity depends on its seed).
    flows_peak: HashPeak,
    /// Connections closed by both FINs, waiting out their linger ([`Lingering`]); a flow a
    /// RST closed stays in `flows` with its streams.
    lingering: HashMap<FlowKey, Box<Lingering<H::Closed>>, RandomState>,
    lingering_peak: HashPeak,
    ports: PortFilter,
    max_flows: usize,
    /// 0 disables idle eviction.
    idle_timeout_ns: i64,
    sweep_every_ns: i64,
    role_hint: Option<RoleHint>,
    next_id: FlowId,
    /// The next `tcp.stream` number (see [`FlowMeta::tcp_stream`]).
    next_stream: u64,
    stats: TableStats,
    budget: OooBudget,
    /// Where the payloads given to the table lie, when they lie in a mapped capture file.
    backing: Option<Backing>,
    tombstones: Tombstones,
    skipped_by_port: TupleSet,
    skipped_by_cap: TupleSet,
    /// Latest capture time seen (timestamps may step back; the clock does not).
    clock: Timestamp,
    next_sweep: Option<Timestamp>,
    flow_cap_reported: bool,
    scratch: Vec<(FlowId, FlowKey)>,
    /// How long a closing flow lingers after its last packet (capture time).
    linger_ns: i64,
    /// Closing flows by deadline, one queue per map they are in ([`Queue`]): `(order, key,
    /// id)` in [`ClosingOrder`], one entry per closing flow. A packet that moves a flow's
    /// deadline later leaves its entry where it is: when the entry comes up it is moved back to
    /// the flow's place then ([`ClosingQueue::move_back`]), instead of a second entry being
    /// pushed for every flow that takes its last ACK. Entries of flows that ended another way
    /// are skipped when they come up, or dropped by [`FlowTable::compact_closing`].
    closing: [ClosingQueue; 2],
    /// The earliest deadline at the front of either queue ([`NO_DEADLINE`] when both are
    /// empty): what every packet compares the clock with.
    earliest: Timestamp,
    /// The memory budget: every flow's charge, and the table's own (side tables, the
    /// handler's caches) in `table_held`.
    memory: Budget,
    table_held: Held,
    outside_held: Held,
    /// The largest holders as of the last walk, while room is being made.
    candidates: Largest<(FlowId, FlowKey)>,
    budget_full_reported: bool,
    /// A new flow was refused with this much held; the next one waits until memory was freed.
    refused_at: Option<usize>,
}

impl<H: StreamHandler> FlowTable<H> {
    /// `Limits::idle_timeout` of zero disables idle eviction.
    pub fn new(config: &Config, role_hint: Option<RoleHint>) -> Self {
        let limits = &config.limits;
        let idle_timeout_ns = i64::try_from(limits.idle_timeout.as_nanos()).unwrap_or(i64::MAX);
        FlowTable {
            flows: HashMap::default(),
            flows_peak: HashPeak::default(),
            lingering: HashMap::default(),
            lingering_peak: HashPeak::default(),
            ports: config.ports.clone(),
            max_flows: limits.max_flows,
            idle_timeout_ns,
            sweep_every_ns: (idle_timeout_ns / 8).max(1_000_000),
            role_hint,
            next_id: 1,
            next_stream: 0,
            stats: TableStats::default(),
            budget: OooBudget::new(limits.max_ooo_bytes_per_dir, limits.max_ooo_bytes_total),
            backing: None,
            tombstones: Tombstones::new(if idle_timeout_ns > 0 {
                TOMBSTONE_TTL_NS.min(idle_timeout_ns)
            } else {
                TOMBSTONE_TTL_NS
            }),
            skipped_by_port: TupleSet::new(),
            skipped_by_cap: TupleSet::new(),
            clock: Timestamp::ZERO,
            next_sweep: None,
            flow_cap_reported: false,
            scratch: Vec::new(),
            linger_ns: if idle_timeout_ns > 0 {
                CLOSE_LINGER_NS.min(idle_timeout_ns)
            } else {
                CLOSE_LINGER_NS
            },
            closing: [ClosingQueue::default(), ClosingQueue::default()],
            earliest: NO_DEADLINE,
            memory: Budget::new(limits.memory),
            table_held: Held::ZERO,
            outside_held: Held::ZERO,
            candidates: Largest::default(),
            budget_full_reported: false,
            refused_at: None,
        }
    }

    /// The payloads given from now on lie in `backing` (or, with `None`, in nothing that stays
    /// readable): streams may remember delivered bytes by their place in it
    /// ([`Backing`]). What they remember in the backing before is copied first, so the
    /// caller must keep that one readable until this returns.
    pub fn set_backing(&mut self, backing: Option<Backing>) {
        if let Some(old) = self.backing.take()
            && !backing.as_ref().is_some_and(|new| new.same(&old))
        {
            for flow in self.flows.values_mut() {
                for stream in &mut flow.streams {
                    stream.copy_in_place(&old);
                }
            }
        }
        self.backing = backing;
    }

    /// Processes one segment: finds or creates its flow, reassembles, and calls the handler.
    /// Returns the flow that took it, if one did (not for packets on other ports, strays of
    /// finalised flows, or new flows refused at the cap).
    pub fn process(&mut self, seg: &Segment<'_>, handler: &mut H) -> Option<Placed> {
        self.advance_clock(seg.ts, handler);
        let flags = seg.flags;
        let pure_syn = flags.syn() && !flags.ack() && !flags.rst();
        let (key, side) = FlowKey::of(seg.src, seg.dst);
        if !self.ports.matches(seg.src.port(), seg.dst.port()) {
            if self.skipped_by_port.is_new(key, pure_syn) {
                self.next_stream += 1;
                self.stats.flows_skipped_by_port += 1;
                self.settle_table();
            }
            return None;
        }
        let pkt = Some(PacketRef::new(seg.frame, seg.ts));

        if let Some(flow) = self.flows.get_mut(&key) {
            let mut ctx = ctx!(self, handler, pkt);
            let idle = idle_since(self.idle_timeout_ns, flow.meta.last_ts, seg.ts);
            let replaced = pure_syn && is_new_connection(flow, side, SeqNumber(seg.seq));
            if idle {
                ctx.pkt = None;
                let how = flow.closed_how(CloseHow::Idle);
                close(flow, how, &mut ctx);
                self.flows.remove(&key);
            } else if replaced {
                // The SYN is not this connection's, but it is sent between its endpoints.
                ctx.pkt = pkt.map(|p| p.sent_by(flow.dir_of(side)));
                let how = flow.closing.unwrap_or(if flow.meta.rst_seen {
                    CloseHow::Rst
                } else if flow.meta.fin_seen.contains(&true) {
                    CloseHow::Fin
                } else {
                    CloseHow::Idle
                });
                close(flow, how, &mut ctx);
                self.flows.remove(&key);
            } else {
                let delivered = flow.meta.payload_bytes;
                let ended = handle(flow, seg, side, &mut ctx);
                tell_control(flow, seg, side, &mut ctx);
                if let Some(how) = ended {
                    begin_closing(flow, how, &mut ctx);
                }
                // A RST flushes the streams (holes given up) and may take a reset flow up again.
                let fed = ended.is_some()
                    || seg.flags.fin()
                    || seg.flags.rst()
                    || flow.meta.payload_bytes != delivered;
                settle(flow, &mut ctx, fed);
                let placed = Placed::new(flow.meta.id, flow.dir_of(side), seg);
                if flow.closing.is_some() {
                    let streams_done = flow.reset.is_none();
                    self.keep_closing(key, streams_done, seg.frame, handler);
                }
                if self.memory.is_over() {
                    self.make_room(0, true, handler);
                }
                return Some(placed);
            }
        }
        if let Some(placed) = self.lingering_takes(key, seg, side, pure_syn, handler) {
            return Some(placed);
        }

        // No flow for this tuple (any more).
        if flags.rst() {
            self.stats.stray_packets += 1;
            return None;
        }
        self.tombstones.expire(self.clock);
        if let Some(tomb) = self.tombstones.map.get(&key) {
            let retransmitted = tomb.isn[side] == Some(SeqNumber(seg.seq));
            if !pure_syn || retransmitted {
                self.stats.stray_packets += 1;
                return None;
            }
            self.tombstones.map.remove(&key);
        }
        if self.flows.len() >= self.max_flows {
            // A flow a RST closed lingers among the flows, in case the connection outlives the
            // RST: it makes room before anyone is refused.
            self.expire_oldest_closing(&[Queue::Reset], handler);
        }
        let refused = if self.flows.len() >= self.max_flows {
            Some(TcpNotice::FlowCapHit)
        } else if !self.admit(handler) {
            Some(TcpNotice::BudgetFull)
        } else {
            None
        };
        if let Some(notice) = refused {
            if self.skipped_by_cap.is_new(key, pure_syn) {
                self.next_stream += 1;
                self.stats.flows_dropped_by_cap += 1;
                if notice == TcpNotice::BudgetFull {
                    self.stats.flows_dropped_by_budget += 1;
                }
                self.settle_table();
            }
            let reported = match notice {
                TcpNotice::FlowCapHit => &mut self.flow_cap_reported,
                _ => &mut self.budget_full_reported,
            };
            if !*reported {
                *reported = true;
                if let Some(pkt) = pkt {
                    handler.on_table_notice(pkt, notice);
                }
            }
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.stats.flows_created += 1;
        let mut flow = Box::new(Flow::new(id, &key, seg, side));
        flow.meta.tcp_stream = self.next_stream;
        self.next_stream += 1;
        let mut ctx = ctx!(self, handler, pkt);
        // A flow's first packet cannot finish both directions, and a RST starts no flow, but
        // should it ever end the flow, the flow lingers like any other.
        let closing = handle(&mut flow, seg, side, &mut ctx);
        tell_control(&mut flow, seg, side, &mut ctx);
        if let Some(how) = closing {
            begin_closing(&mut flow, how, &mut ctx);
        }
        settle(&mut flow, &mut ctx, true);
        let placed = Placed::new(id, flow.dir_of(side), seg);
        let streams_done = flow.reset.is_none();
        self.flows.insert(key, flow);
        self.flows_peak.see(self.flows.len());
        if closing.is_some() {
            self.keep_closing(key, streams_done, seg.frame, handler);
        }
        self.settle_table();
        if self.memory.is_over() {
            self.make_room(0, true, handler);
        }
        Some(placed)
    }

    /// Whether the memory budget has room for one more flow (an entry and the state flows
    /// have on average), making room if it has to. The flows' fixed state is kept under the
    /// low-water mark, so that what they buffer can always be given back down to it. After a
    /// refusal, the next new flow is refused at once until an eighth of the limit was freed, so
    /// that refusing costs no walk over the flows.
    fn admit(&mut self, handler: &mut H) -> bool {
        let need = self.new_flow_bytes();
        let room = |m: &Budget| m.held().fixed + need <= m.low_water() && m.fits(need);
        if room(&self.memory) {
            self.refused_at = None;
            return true;
        }
        let held = self.memory.held().total();
        if let Some(at) = self.refused_at
            && held.saturating_add(self.memory.limit() / 8) > at
        {
            return false;
        }
        self.make_room(need, false, handler);
        let fits = room(&self.memory);
        self.refused_at = (!fits).then(|| self.memory.held().total());
        fits
    }

    /// What a new flow is expected to cost: the mean fixed holding of the flows tracked now
    /// (entry, streams, parser state), at least its entry and at most [`NEW_FLOW_ENTRIES`]
    /// entries' worth, so that a few flows with large state do not keep small ones out; and
    /// the table's growth if it is full.
    fn new_flow_bytes(&self) -> usize {
        let entry = box_bytes::<Flow<H::State>>();
        let fixed = self
            .memory
            .held()
            .fixed
            .saturating_sub(self.table_held.fixed + self.outside_held.fixed);
        let flow = (fixed / self.len().max(1)).clamp(entry, NEW_FLOW_ENTRIES * entry);
        let slots = self.flows_peak.capacity();
        let growth = if self.flows.len() < slots {
            0
        } else {
            type Slot<S> = (FlowKey, Box<Flow<S>>);
            hash_bytes::<Slot<H::State>>((slots * 2).max(4)) - hash_bytes::<Slot<H::State>>(slots)
        };
        flow + growth
    }

    /// Frees memory until `need` more bytes fit under the limit and down to the low-water mark
    /// (see the module docs for the order). Unless `evict_any` (the limit was passed), only
    /// flows whose fixed state is at least [`BIG_FLOW_ENTRIES`] new flows' worth are ended:
    /// ending a flow for its buffers would let one new flow in for each flow ended. Candidates come
    /// from walks over the flows, each keeping the [`GIVE_WAY_CANDIDATES`] largest; a walk is
    /// repeated only while the previous one's candidates freed something.
    fn make_room(&mut self, need: usize, evict_any: bool, handler: &mut H) {
        let short = |m: &Budget| m.held().total().saturating_add(need) > m.low_water();
        handler.give_way_outside_flows();
        self.settle_outside(handler);
        while short(&self.memory) && self.closing.iter().any(|q| !q.is_empty()) {
            self.expire_oldest_closing(&[Queue::Lingering, Queue::Reset], handler);
        }
        // A new flow that would put the fixed state over the mark is not helped by buffers.
        let trimming_helps = |m: &Budget| evict_any || m.held().fixed + need <= m.low_water();
        let mut progress = true;
        while short(&self.memory)
            && trimming_helps(&self.memory)
            && self.memory.held().buffers > 0
            && progress
        {
            let flows = self.flows.iter();
            self.candidates.refill(
                GIVE_WAY_CANDIDATES,
                flows.map(|(key, flow)| (flow.held.buffers, (flow.meta.id, *key))),
            );
            let before = self.memory.held().buffers;
            while short(&self.memory)
                && let Some((_, key)) = self.candidates.pop()
            {
                let Some(flow) = self.flows.get_mut(&key) else {
                    continue;
                };
                give_way(flow, &mut ctx!(self, handler, None));
            }
            progress = self.memory.held().buffers < before;
        }
        let big = if evict_any {
            0
        } else {
            BIG_FLOW_ENTRIES.saturating_mul(self.new_flow_bytes())
        };
        let mut progress = true;
        while short(&self.memory) && progress {
            let flows = self.flows.iter();
            // To let a new flow in, only state that cannot be given up otherwise counts.
            let size = |h: Held| if evict_any { h.total() } else { h.fixed };
            self.candidates.refill(
                GIVE_WAY_CANDIDATES,
                flows
                    .map(|(key, flow)| (size(flow.held), (flow.meta.id, *key)))
                    .filter(|&(held, _)| held >= big),
            );
            progress = !self.candidates.is_empty();
            while short(&self.memory)
                && let Some((_, key)) = self.candidates.pop()
            {
                self.evict(key, handler);
            }
        }
        self.candidates = Largest::default();
        self.settle_table();
    }

    /// Ends a flow early to keep within the memory budget; its later packets are stray.
    fn evict(&mut self, key: FlowKey, handler: &mut H) {
        let Some(mut flow) = self.flows.remove(&key) else {
            return;
        };
        self.stats.flows_evicted += 1;
        let mut ctx = ctx!(self, handler, None);
        open(&mut flow, &mut ctx);
        let held = flow.held.total() as u64;
        let notice = StreamEvent::Notice {
            dir: None,
            notice: TcpNotice::BudgetEvicted { held },
        };
        let Flow { meta, state, .. } = &mut *flow;
        ctx.handler.on_event(meta, state, None, notice);
        self.finalise(key, flow, CloseHow::Evicted, handler);
    }

    /// Closes a flow taken out of the table (`default`: how, unless FINs or a RST said
    /// otherwise) and, unless it ended idle or with the input, remembers its tuple so that its
    /// stray packets start no flow.
    fn finalise(
        &mut self,
        key: FlowKey,
        mut flow: Box<Flow<H::State>>,
        default: CloseHow,
        handler: &mut H,
    ) {
        let how = flow.closed_how(default);
        close(&mut flow, how, &mut ctx!(self, handler, None));
        if !matches!(how, CloseHow::Idle | CloseHow::EndOfInput) {
            self.tombstones.insert(
                key,
                Tomb {
                    closed_at: flow.meta.last_ts,
                    isn: flow.isn,
                },
            );
        }
        self.settle_table();
        self.settle_outside(handler);
    }

    /// Charges the table for its side tables (their capacity only grows).
    fn settle_table(&mut self) {
        let now = Held::fixed(
            self.flows_peak.bytes::<(FlowKey, Box<Flow<H::State>>)>()
                + self.tombstones.held()
                + self.skipped_by_port.held()
                + self.skipped_by_cap.held()
                + self
                    .lingering_peak
                    .bytes::<(FlowKey, Box<Lingering<H::Closed>>)>()
                + self.closing.iter().map(ClosingQueue::held).sum::<usize>()
                + vec_bytes::<(FlowId, FlowKey)>(self.scratch.capacity()),
        );
        self.memory.settle(&mut self.table_held, now);
    }

    /// Charges the table for the handler's caches (checked when flows end and under pressure:
    /// caches fill as flows end, and empty as flows take from them, which is then
    /// overcounted until the next check).
    fn settle_outside(&mut self, handler: &H) {
        let now = handler.held_outside_flows();
        self.memory.settle(&mut self.outside_held, now);
    }

    /// The memory budget: its limit and what is held (flows, side tables, caches).
    pub fn memory(&self) -> &Budget {
        &self.memory
    }

    /// The flow at `key` took a packet and is closing: it lingers until the linger is over
    /// from now. One whose `streams_done` (closed by both FINs, its streams wound down) moves
    /// out of the flows, compact ([`Lingering`]); one a RST closed keeps its streams among them,
    /// in case the connection outlives the RST.
    fn keep_closing(&mut self, key: FlowKey, streams_done: bool, frame: u64, handler: &mut H) {
        if streams_done && let Some(mut flow) = self.flows.remove(&key) {
            self.memory.release(&mut flow.held);
            let how = flow.closing.unwrap_or(CloseHow::Fin);
            let mut lingering = Lingering::of(*flow, how, handler);
            lingering.settle(&mut self.memory, handler);
            self.lingering.insert(key, lingering);
            let slots = self.lingering_peak.capacity();
            self.lingering_peak.see(self.lingering.len());
            if self.lingering_peak.capacity() != slots {
                self.settle_table();
            }
        }
        self.linger(key, frame);
    }

    /// A packet of a lingering connection's tuple: counted in it as its last packets are, unless
    /// it is a new connection's SYN or comes after the idle timeout, which end it (`None`
    /// then, and for a tuple with no lingering connection).
    fn lingering_takes(
        &mut self,
        key: FlowKey,
        seg: &Segment<'_>,
        side: usize,
        pure_syn: bool,
        handler: &mut H,
    ) -> Option<Placed> {
        let l = self.lingering.get_mut(&key)?;
        let idle = idle_since(self.idle_timeout_ns, l.meta.last_ts, seg.ts);
        let flags = seg.flags;
        let dir = l.dir_of(side);
        let pkt = PacketRef::new(seg.frame, seg.ts).sent_by(dir);
        let replaced = pure_syn && l.is_new_connection(side, SeqNumber(seg.seq));
        if idle || replaced {
            let mut lingering = self.lingering.remove(&key)?;
            self.end_lingering(key, &mut lingering, (!idle).then_some(pkt), false, handler);
            return None;
        }
        count_packet(&mut l.meta, dir, seg);
        if flags.syn() || flags.fin() || flags.rst() {
            let event = StreamEvent::Control { dir, flags };
            handler.on_closed_event(&l.meta, &mut l.closed, Some(pkt), event);
            l.settle(&mut self.memory, handler);
        }
        let placed = Placed::new(l.meta.id, dir, seg);
        self.linger(key, seg.frame);
        if self.memory.is_over() {
            self.make_room(0, true, handler);
        }
        Some(placed)
    }

    /// Ends a lingering connection taken out of `lingering` (as of `pkt`, if a packet ends
    /// it) and, if `tomb`, remembers its tuple so that its stray packets start no flow.
    fn end_lingering(
        &mut self,
        key: FlowKey,
        lingering: &mut Lingering<H::Closed>,
        pkt: Option<PacketRef>,
        tomb: bool,
        handler: &mut H,
    ) {
        let Lingering {
            meta, closed, how, ..
        } = lingering;
        handler.on_closed_event(meta, closed, pkt, StreamEvent::Closed { how: *how });
        self.memory.release(&mut lingering.held);
        if tomb {
            self.tombstones.insert(
                key,
                Tomb {
                    closed_at: lingering.meta.last_ts,
                    isn: lingering.isn,
                },
            );
        }
        self.settle_table();
        self.settle_outside(handler);
    }

    /// Moves a closing flow's deadline to the end of a linger from now (never back) and queues
    /// it, as of packet `frame`, unless it is queued already.
    fn linger(&mut self, key: FlowKey, frame: u64) {
        let deadline = Timestamp(self.clock.0.saturating_add(self.linger_ns));
        let (queue, id, at) = if let Some(l) = self.lingering.get_mut(&key) {
            (Queue::Lingering, l.meta.id, &mut l.linger)
        } else if let Some(flow) = self.flows.get_mut(&key) {
            (Queue::Reset, flow.meta.id, &mut flow.linger)
        } else {
            return;
        };
        if deadline <= at.order.deadline {
            return;
        }
        let order = ClosingOrder {
            deadline,
            queued_at: frame,
        };
        at.order = order;
        if std::mem::replace(&mut at.queued, true) {
            return;
        }
        let q = &mut self.closing[queue as usize];
        let grows = q.full();
        q.push((order, key, id));
        self.earliest = self.earliest.min(deadline);
        let held = match queue {
            Queue::Lingering => self.lingering.len(),
            Queue::Reset => self.flows.len(),
        };
        if q.len() > 2 * held + 64 {
            self.compact_closing(queue);
        }
        if grows {
            self.settle_table();
        }
    }

    /// Drops a queue's entries that are no longer any flow's deadline, so that it holds at most
    /// one entry per closing flow.
    fn compact_closing(&mut self, queue: Queue) {
        self.compact_queue(queue);
        self.settle_earliest();
    }

    fn compact_queue(&mut self, queue: Queue) {
        let (flows, lingering) = (&mut self.flows, &self.lingering);
        self.closing[queue as usize].retain(|&(_, key, id)| match queue {
            Queue::Lingering => lingering.get(&key).is_some_and(|l| l.meta.id == id),
            Queue::Reset => match flows.get_mut(&key) {
                Some(f) if f.meta.id == id => still_closing(f),
                _ => false,
            },
        });
    }

    /// The queue among `queues` whose first entry comes first in the closing order.
    fn first_queue(&self, queues: &[Queue]) -> Option<(Queue, ClosingOrder)> {
        queues
            .iter()
            .filter_map(|&q| Some((q, self.closing[q as usize].first()?)))
            .min_by_key(|&(_, order)| order)
    }

    /// Sets `earliest` from the queues' fronts (after one of them lost entries).
    fn settle_earliest(&mut self) {
        let front = |q: &ClosingQueue| q.first().map_or(NO_DEADLINE, |order| order.deadline);
        self.earliest = front(&self.closing[0]).min(front(&self.closing[1]));
    }

    /// Finalises the next closing flow whose linger is over (the queues are in deadline
    /// order), if there is one, and says which it was in the order every table keeps.
    pub fn expire_next(&mut self, handler: &mut H) -> Option<ClosingOrder> {
        // Every packet asks: one comparison when no linger is over.
        while self.earliest < self.clock {
            let (queue, _) = self.first_queue(&[Queue::Lingering, Queue::Reset])?;
            if let Some(order) = self.finalise_next_closing(queue, handler) {
                return Some(order);
            }
        }
        None
    }

    /// Finalises the closing flow of `queues` whose linger ends first, if there is one.
    fn expire_oldest_closing(&mut self, queues: &[Queue], handler: &mut H) {
        while let Some((queue, _)) = self.first_queue(queues) {
            if self.finalise_next_closing(queue, handler).is_some() {
                self.stats.lingers_cut_short += 1;
                return;
            }
        }
    }

    /// Pops the first entry of `queue` and finalises its flow if its linger ends there; an
    /// entry whose flow's deadline moved since goes to the flow's place now, and one whose flow
    /// ended another way (or took up again after a RST) is dropped. Returns the flow's place in
    /// the closing order if one was finalised.
    fn finalise_next_closing(&mut self, queue: Queue, handler: &mut H) -> Option<ClosingOrder> {
        let (order, key, id) = self.closing[queue as usize].take_first()?;
        let now = match queue {
            Queue::Lingering => self
                .lingering
                .get(&key)
                .filter(|l| l.meta.id == id)
                .map(|l| l.linger.order),
            Queue::Reset => match self.flows.get_mut(&key) {
                Some(f) if f.meta.id == id => still_closing(f).then_some(f.linger.order),
                _ => None,
            },
        };
        let Some(now) = now else {
            self.settle_earliest();
            return None;
        };
        if now != order {
            if self.closing[queue as usize].move_back((now, key, id)) {
                self.settle_table();
            }
            self.settle_earliest();
            return None;
        }
        self.settle_earliest();
        match queue {
            Queue::Lingering => {
                let mut lingering = self.lingering.remove(&key)?;
                self.end_lingering(key, &mut lingering, None, true, handler);
            }
            Queue::Reset => {
                let flow = self.flows.remove(&key)?;
                self.finalise(key, flow, CloseHow::Fin, handler);
            }
        }
        Some(order)
    }

    /// Ends every flow still open (end of input, or live capture stopping): flows idle longer
    /// than the timeout close as `Idle`, the rest as `EndOfInput` (or `Fin` if both FINs were
    /// seen), in flow-id order.
    pub fn finish(&mut self, handler: &mut H) {
        self.sweep(handler);
        self.close_where(handler, |_| true, CloseHow::EndOfInput);
        self.closing.iter_mut().for_each(ClosingQueue::clear);
        self.settle_earliest();
    }

    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// TCP conversations numbered so far (`tcp.stream` numbers given: the next one).
    pub fn streams_numbered(&self) -> u64 {
        self.next_stream
    }

    /// Flows currently tracked.
    pub fn len(&self) -> usize {
        self.flows.len() + self.lingering.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Out-of-order bytes currently buffered across all flows, with per-piece overhead.
    pub fn buffered_bytes(&self) -> usize {
        self.budget.used()
    }

    /// Entries in the queue of closing flows, stale ones included.
    #[cfg(test)]
    pub(super) fn closing_queue_len(&self) -> usize {
        self.closing.iter().map(ClosingQueue::len).sum()
    }

    /// Advances the capture clock (never backwards): closing flows past their linger are
    /// finalised, and idle flows swept when it is time. Every segment does this first; a live
    /// capture that saw nothing for a while calls it directly, so that flows end on time.
    /// The three steps are public for a caller that keeps flows in several tables and merges
    /// what they report ([`FlowTable::set_clock`], [`FlowTable::expire_next`],
    /// [`FlowTable::sweep_if_due`]).
    pub fn advance_clock(&mut self, ts: Timestamp, handler: &mut H) {
        self.set_clock(ts);
        while self.expire_next(handler).is_some() {}
        self.sweep_if_due(ts, handler);
    }

    /// Whether moving the clock to `ts` has anything to do: a linger over, the idle sweep due
    /// (or its first time to be set). If not, [`FlowTable::set_clock`] is all it takes.
    pub fn due(&self, ts: Timestamp) -> bool {
        let clock = self.clock.max(ts);
        self.earliest < clock || self.next_sweep.is_none_or(|at| clock >= at)
    }

    /// Moves the capture clock to `ts` (never backwards); nothing is finalised yet.
    pub fn set_clock(&mut self, ts: Timestamp) {
        self.clock = self.clock.max(ts);
    }

    /// Closes the idle flows (in flow-id order) if the sweep is due at the clock set for `ts`;
    /// says whether it swept.
    pub fn sweep_if_due(&mut self, ts: Timestamp, handler: &mut H) -> bool {
        match self.next_sweep {
            None => {
                self.next_sweep = Some(Timestamp(ts.0.saturating_add(self.sweep_every_ns)));
                false
            }
            Some(at) if self.clock >= at => {
                self.sweep(handler);
                self.next_sweep = Some(Timestamp(self.clock.0.saturating_add(self.sweep_every_ns)));
                true
            }
            Some(_) => false,
        }
    }

    /// Closes the flows idle for longer than the timeout now, in flow-id order: the first
    /// step of [`FlowTable::finish`].
    pub fn sweep_idle(&mut self, handler: &mut H) {
        self.sweep(handler);
    }

    /// Closes flows idle for longer than the timeout, in flow-id order.
    fn sweep(&mut self, handler: &mut H) {
        if self.idle_timeout_ns <= 0 {
            return;
        }
        let (now, timeout) = (self.clock, self.idle_timeout_ns);
        self.close_where(
            handler,
            |meta| idle_since(timeout, meta.last_ts, now),
            CloseHow::Idle,
        );
    }

    /// Closes the flows, lingering ones too, whose meta `pick` picks, in flow-id order.
    fn close_where(
        &mut self,
        handler: &mut H,
        pick: impl Fn(&FlowMeta) -> bool,
        default: CloseHow,
    ) {
        self.scratch.clear();
        let flows = self.flows.iter().map(|(key, flow)| (key, &flow.meta));
        let lingering = self.lingering.iter().map(|(key, l)| (key, &l.meta));
        self.scratch.extend(
            flows
                .chain(lingering)
                .filter(|(_, meta)| pick(meta))
                .map(|(key, meta)| (meta.id, *key)),
        );
        self.scratch.sort_unstable();
        for i in 0..self.scratch.len() {
            let Some(&(_, key)) = self.scratch.get(i) else {
                break;
            };
            if let Some(flow) = self.flows.remove(&key) {
                self.finalise(key, flow, default, handler);
            } else if let Some(mut lingering) = self.lingering.remove(&key) {
                self.end_lingering(key, &mut lingering, None, true, handler);
            }
        }
        self.scratch.clear();
    }
}

/// Does a pure SYN from `side` start a new connection on this tuple, rather than belong to the
/// tracked one (a retransmitted SYN, or the other half of a simultaneous open)?
fn is_new_connection<S>(flow: &Flow<S>, side: usize, seq: SeqNumber) -> bool {
    if !flow.opened {
        return false;
    }
    match flow.isn.get(side).copied().flatten() {
        Some(isn) => isn != seq,
        None => flow.saw_payload || flow.meta.rst_seen || flow.meta.fin_seen.contains(&true),
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::proto::conn::{ConnAnalyzer, ConnState};

    /// A connection closed by both FINs is kept at a fraction of an open flow's entry: on a busy
    /// link of short connections most of the table's entries are lingering ones. What the
    /// protocol layer keeps of it is its summary alone.
    #[test]
    fn a_lingering_connection_costs_about_half_an_open_flow() {
        type Analyzer = ConnAnalyzer<crate::app::Silent>;
        let (open, lingering) = (
            box_bytes::<Flow<ConnState>>(),
            box_bytes::<Lingering<<Analyzer as StreamHandler>::Closed>>(),
        );
        assert!(
            lingering * 19 < open * 10,
            "lingering {lingering} bytes, open {open}"
        );
    }
}

#[cfg(test)]
mod closing_queue_tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> FlowKey {
        let e = Endpoint {
            ip: [0; 16],
            port: 1,
            v6: false,
        };
        FlowKey { lo: e, hi: e }
    }

    proptest! {
        /// Flows pushed in closing order (a deadline a linger after the clock), taken when
        /// their deadline has passed, and some moved back to a later place (a packet moved
        /// their deadline while they lingered) come out in closing order, each once, each at
        /// its place then.
        #[test]
        fn entries_come_out_in_closing_order_wherever_they_were_moved_back(
            steps in prop::collection::vec((0i64..50, 0usize..4, 0i64..=100), 1..200),
        ) {
            const LINGER: i64 = 100;
            let mut q = ClosingQueue::default();
            let mut clock = 0;
            let mut frame = 0;
            // Each flow's place now.
            let mut places: Vec<ClosingOrder> = Vec::new();
            let mut taken: Vec<(ClosingOrder, FlowId)> = Vec::new();
            let mut take_due = |q: &mut ClosingQueue,
                                places: &mut Vec<ClosingOrder>,
                                frame: &mut u64,
                                clock: i64,
                                moved_by: i64|
             -> Result<(), TestCaseError> {
                while q.first().is_some_and(|o| o.deadline.0 < clock) {
                    let (order, _, id) = q.take_first().unwrap();
                    prop_assert!(taken.last().is_none_or(|t| t.0 <= order));
                    let now = places[id as usize];
                    if now != order {
                        q.move_back((now, key(), id));
                    } else if moved_by > 0 && id % 3 == 0 && order.queued_at % 2 == 1 {
                        // A packet of the flow came `moved_by` before the end of its linger
                        // and was not seen yet: its place moves now, as it would have then.
                        *frame += 1;
                        places[id as usize] = ClosingOrder {
                            deadline: Timestamp(order.deadline.0 + moved_by),
                            queued_at: *frame,
                        };
                        q.move_back((places[id as usize], key(), id));
                    } else {
                        taken.push((order, id));
                    }
                }
                Ok(())
            };
            for (gap, pushes, moved_by) in steps {
                clock += gap;
                take_due(&mut q, &mut places, &mut frame, clock, moved_by)?;
                for _ in 0..pushes {
                    frame += 1;
                    let order = ClosingOrder {
                        deadline: Timestamp(clock + LINGER),
                        queued_at: frame,
                    };
                    q.push((order, key(), places.len() as FlowId));
                    places.push(order);
                }
                prop_assert!(q.len() <= places.len());
            }
            take_due(&mut q, &mut places, &mut frame, i64::MAX, 0)?;
            prop_assert!(q.is_empty());
            prop_assert_eq!(taken.len(), places.len());
            for (order, id) in taken {
                prop_assert_eq!(order, places[id as usize]);
            }
        }
    }
}
