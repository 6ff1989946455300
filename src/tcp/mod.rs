//! TCP: the flow table and per-direction stream reassembly.
//!
//! The flow table keys flows by their canonical 4-tuple, decides who is client and server,
//! evicts idle flows by capture time and caps how many flows and how many out-of-order bytes it
//! keeps. Reassembly hands in-order bytes to the [`StreamHandler`] straight from the segment
//! (no copy); only out-of-order data is buffered. Bytes that never arrive become
//! [`StreamEvent::Gap`] with their exact count, after which delivery resumes.
//!
//! What a handler can rely on, per flow:
//! - `Opened` comes first and exactly once, `Closed` last and exactly once; `meta.client` /
//!   `meta.server` / `meta.role_basis` are final from `Opened` on. `Opened` is delayed until the
//!   roles are known: the first SYN or SYN-ACK, the first payload (given to the [`RoleHint`]),
//!   or a FIN/RST or the flow's end, whichever comes first. Pure ACKs before that are counted
//!   in the meta but raise no event.
//! - `Notice { Midstream }` follows `Opened` when neither SYN nor SYN-ACK was seen.
//! - Per direction, `Data` and `Gap` cover the stream exactly once and in order; `End` follows
//!   the last of them when the FIN is reached. `meta.payload_bytes[d]` always equals the data
//!   plus gap bytes delivered so far for `d`.
//! - `Control` comes once for every packet of the opened flow that carries SYN, FIN or RST
//!   (late ones of a closing flow included), after everything that packet caused: the handler
//!   learns the connection's control packets without looking at a segment.
//! - `pkt` is the packet being processed when the event was caused by one of this flow's
//!   packets (or the SYN that replaced it), `None` for idle eviction, the end of a closing
//!   flow's linger (or its finalisation to make room at the flow cap) and end of input —
//!   except `Data` of out-of-order bytes delivered then, which carries the packet that brought
//!   them (a message they complete is reported with its true frame and time). Its `dir` is that
//!   packet's direction in the flow (`None` only before the roles are known).
//! - [`FlowTable::process`] says which flow took the packet ([`Placed`]), so that what is
//!   printed per packet needs no look at the segment either.
//!
//! Table-wide findings that belong to no flow (the flow cap) go to
//! [`StreamHandler::on_table_notice`] once, and are counted in [`TableStats`].
//!
//! Policies:
//! - **Roles.** A SYN without ACK marks its sender as client, a SYN-ACK its sender as server.
//!   Without either, the first payload seen (either side) goes to the [`RoleHint`]; if it cannot
//!   tell, the lower port is the server (equal ports: the lower address).
//! - **Stream start.** ISN + 1 when the SYN (or the SYN-ACK's acknowledgment) is seen, else the
//!   first payload-bearing segment — unless the peer already acknowledged all of it (a
//!   keep-alive or retransmission seen first).
//! - **Overlaps.** First seen wins. Overlapping bytes are compared with buffered data and with
//!   the last [`reassembly::CONFLICT_WINDOW`] delivered bytes of the direction; differences
//!   raise `OverlapConflict`. Older delivered bytes are not kept (memory and per-byte cost).
//! - **Gaps.** A hole is given up on only when something waits behind it (buffered data or the
//!   FIN) and there is evidence its bytes crossed the wire unseen: the peer acknowledged them,
//!   the snaplen cut them (`Segment::missing`), or a cap made us drop them. RST, idle eviction,
//!   end of input and a replacing SYN give up on every hole, up to the furthest byte known
//!   (data seen, FIN, or the peer's acknowledgment). A capture that shows an ACK before the data
//!   it acknowledges therefore reports that data as a gap.
//! - **Snaplen.** A segment the snaplen cut has a known range (sequence number and IP length),
//!   so its missing bytes need no further evidence: its captured part, then its `Gap`, are
//!   delivered with that very packet (after any hole before it, which the cut also settles),
//!   and the stream continues after the whole segment. Later copies of the cut bytes (a
//!   retransmission) fall behind the delivery point: they neither fill the gap nor raise
//!   `OverlapConflict` (nothing was seen to differ from), as in tshark, where the cut packet
//!   already showed the loss.
//! - **Probes.** 0- or 1-byte segments just below the delivery point (keep-alives) are
//!   ignored; a 1-byte segment at the delivery point while the receiver advertises a zero
//!   window is held aside and used only if its byte is otherwise given up on.
//! - **Caps.** When buffering a segment would exceed `max_ooo_bytes_per_dir` or
//!   `max_ooo_bytes_total`, the direction first gives up its oldest holes until the segment
//!   fits (`OooCapHit { dropped: 0 }`); if nothing of its own is buffered the segment is dropped
//!   (`OooCapHit { dropped: n }`) and its bytes become a gap. Each buffered piece is charged
//!   [`reassembly::CHUNK_OVERHEAD`] bytes on top of its length. At `max_flows`, new flows are
//!   not tracked.
//! - **Memory budget.** Every flow is charged what it holds ([`StreamHandler::held`] for the
//!   handler's part); when the budget runs short the largest holders give way
//!   ([`StreamHandler::give_way`], out-of-order bytes delivered early after a `BudgetOoo`
//!   notice), then whole flows end (`BudgetEvicted`, then `Closed { Evicted }`; their later
//!   packets are stray), and new flows that do not fit are not tracked (`BudgetFull`, once).
//!   The order and its bounds are in the table module and docs/memory-budget.md.
//! - **RST.** A RST is judged as its receiver would judge it (RFC 9293 §3.10.7, RFC 5961
//!   §3.2). Answering the peer's SYN (the peer sent a SYN that was never answered), it must
//!   acknowledge that SYN. Otherwise its sequence number must lie in the receive window: from
//!   the receiver's last acknowledgment to the sender's next sequence number plus the
//!   receiver's last advertised window, scaled as the handshake agreed (RFC 7323 §2.2; the
//!   largest shift when the handshake was not seen; only ISN + 1 while the sender's SYN is
//!   unanswered). RFC 5961 resets only on an exact match; a capture cannot know RCV.NXT
//!   exactly, so the whole window counts. A RST outside (`RstOutOfWindow`) changes nothing:
//!   the flow goes on. Without anything to judge by, a RST is accepted. Before the peer has
//!   answered a SYN, an ACK that does not acknowledge it (a stale connection's, which a real
//!   stack in SYN-SENT answers with a RST) is not taken as the peer's acknowledgment.
//! - **Closing.** When both FINs are delivered, or an accepted RST is seen, the flow is
//!   *closing*. After the FINs its streams are finished at once, and it keeps counting its
//!   own packets — the last ACK of the four-way close, a FIN retransmitted because that ACK was
//!   lost after the capture point and the ACK sent again — in `packets`, `last_ts` and the
//!   header bytes, as tshark's conversations and Zeek's connections do; nothing of them is
//!   delivered. After a RST every hole is given up on and what is buffered is delivered, with
//!   the RST; the streams stay, and what follows is processed as usual (data in flight behind
//!   the RST is on the wire all the same). If the connection turns out to have outlived the
//!   RST — its receiver acknowledges bytes sent after it, or the handshake it refused goes on
//!   — the flow is taken up again (`RstIgnored`) and is no longer closing. A closing flow is
//!   finalised (`Closed { Fin }` or `Closed { Rst }`; a reset flow's streams are done then,
//!   as of its last packet) once the capture clock passes its last packet by the linger,
//!   min(5 s, idle timeout) — a real stack's TIME_WAIT in short, Zeek's `tcp_close_delay` —
//!   checked before each packet; or at once when a pure SYN with a new ISN reuses the tuple
//!   (which then starts a new flow), when the memory budget runs short (a reset flow's streams
//!   and parsers are charged to it while it lingers), when the flow cap needs a reset flow's
//!   slot, on idle eviction, or at the end of input. Flows whose lingers end together are
//!   finalised in the order they started lingering. A flow closed by both FINs lingers compact,
//!   apart from the flows (only its meta, its ISNs and what the handler keeps of its state,
//!   [`StreamHandler::Closed`]: about half a flow's size) and is not counted against
//!   `max_flows`, which caps the connections tracked: on a busy link of short connections the
//!   lingering ones far outnumber the open ones, and only the memory budget bounds them.
//! - **Other ends.** Idle longer than `idle_timeout` (capture clock; swept every
//!   `timeout / 8`, zero disables) → `Idle`; `finish()` → `EndOfInput`, in flow-id order. A
//!   flow closed for idleness or end of input whose FINs (or RST) were both seen reports `Fin`
//!   (`Rst`). A pure SYN with a new ISN on an open flow that carried data or saw FIN/RST closes
//!   it (`Fin`/`Rst` if seen, else `Idle`) and starts a new flow.
//! - **Same ISN.** A pure SYN with the ISN the flow already knows for that side (from its SYN,
//!   or for a client whose SYN was missed from the SYN-ACK's acknowledgment) is a
//!   retransmission: the same connection, open, closing or finalised.
//! - **Tombstones.** Tuples finalised after FIN/RST are remembered (at most 16384, for at most
//!   min(60 s, idle timeout) of capture time): their stray packets (anything later than the
//!   linger) are counted in [`TableStats::stray_packets`] and start no flow; only a pure SYN
//!   with a different ISN does.

#[cfg(test)]
mod budget_tests;
pub mod identity;
pub mod reassembly;
pub mod seq;
pub mod shard;
mod table;
#[cfg(test)]
mod tests;

pub use reassembly::Backing;
pub use table::{ClosingOrder, FlowTable};

use crate::budget::Held;
use crate::decode::TcpFlags;
use crate::time::Timestamp;
use std::net::SocketAddr;

/// Flow id: 1-based, in order of each flow's first packet.
pub type FlowId = u64;

/// Direction of a stream within a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// Client to server.
    C2S,
    /// Server to client.
    S2C,
}

impl Dir {
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::C2S => "c2s",
            Dir::S2C => "s2c",
        }
    }
    pub fn other(self) -> Dir {
        match self {
            Dir::C2S => Dir::S2C,
            Dir::S2C => Dir::C2S,
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseHow {
    /// FIN seen (from either side; both when available).
    Fin,
    /// RST seen.
    Rst,
    /// Idle longer than the configured timeout.
    Idle,
    /// Still open when the input ended.
    EndOfInput,
    /// Ended early to keep within the memory budget.
    Evicted,
}

/// How the roles were decided — shown in the detail view so users know how sure we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleBasis {
    /// The client sent the SYN.
    Syn,
    /// The client sent what looks like an HTTP request (or masked WebSocket frames).
    Content,
    /// Neither was seen: the lower port is the server.
    Port,
}

/// TCP-level findings, turned into anomalies by the analyzer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpNotice {
    /// The flow was picked up without its SYN.
    Midstream,
    /// Retransmitted bytes differ from the bytes first seen; `offset` is the stream offset.
    OverlapConflict { offset: u64, len: u32 },
    /// Out-of-order data was dropped because a buffer cap was hit.
    OooCapHit { dropped: u32 },
    /// A new flow was not tracked because the flow cap was hit (reported once).
    FlowCapHit,
    /// The memory budget ran short and this flow was among the largest holders: `bytes`
    /// buffered out of order were delivered early, the holes before them given up (each
    /// follows as a `Gap`).
    BudgetOoo { bytes: u64 },
    /// The memory budget ran short and this flow, among the largest holders with nothing left
    /// to give up, is ended early (`Closed { Evicted }` follows); its later packets are counted
    /// as stray, not analyzed.
    BudgetEvicted { held: u64 },
    /// A new flow was not tracked because the memory budget could not hold its entry, even
    /// after the largest holders gave way (reported once).
    BudgetFull,
    /// A RST its receiver drops (RFC 9293 §3.10.7, RFC 5961 §3.2); the flow goes on. When it
    /// answers the peer's SYN (`refused_syn`) it is judged by its acknowledgment: `value` is
    /// that (`None` if it carries none) and `[lo, hi)` the acceptable ones (the SYN's ISN + 1).
    /// Otherwise `value` is its sequence number and `[lo, hi)` the receive window.
    RstOutOfWindow {
        refused_syn: bool,
        value: Option<u32>,
        lo: u32,
        hi: u32,
    },
    /// The connection outlived an accepted RST (sequence number `seq`, packet `frame`): its
    /// receiver went on acknowledging bytes sent after it, or (it refused a SYN) the handshake
    /// went on. Analysis took up the flow again.
    RstIgnored {
        seq: u32,
        frame: u64,
        refused_syn: bool,
    },
}

/// What the reassembler tells the protocol layer, in stream order per direction.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// The flow starts; roles are final from here on (see the module docs for when it fires).
    Opened,
    /// In-order bytes. Borrowed from the segment whenever they arrived in order.
    Data {
        dir: Dir,
        bytes: &'a [u8],
    },
    /// `len` bytes of this direction will never arrive; the next `Data` follows them.
    Gap {
        dir: Dir,
        len: u64,
    },
    /// This direction ended (FIN): no more bytes will follow.
    End {
        dir: Dir,
    },
    Notice {
        dir: Option<Dir>,
        notice: TcpNotice,
    },
    /// The packet being processed, sent by `dir`, carried SYN, FIN or RST (`flags` are all of
    /// its flags).
    Control {
        dir: Dir,
        flags: TcpFlags,
    },
    /// The flow is over (finalised: after a FIN/RST close, once its linger is over); its state
    /// is dropped after this event.
    Closed {
        how: CloseHow,
    },
}

/// What the flow table knows about a flow; handed to the handler with every event.
#[derive(Clone, Debug)]
pub struct FlowMeta {
    pub id: FlowId,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub role_basis: RoleBasis,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub packets: u64,
    /// Payload bytes seen on the wire per direction (indexed by [`Dir::index`]), retransmissions
    /// excluded, gaps included.
    pub payload_bytes: [u64; 2],
    /// IP + TCP header bytes of every packet of the flow, per direction.
    pub tcpip_header_bytes: [u64; 2],
    /// Bytes reported missing per direction.
    pub gap_bytes: [u64; 2],
    pub syn_seen: bool,
    pub fin_seen: [bool; 2],
    /// An accepted RST ended the flow (one the connection outlived does not count).
    pub rst_seen: bool,
    /// tshark's `tcp.stream` for the same connection: TCP conversations numbered from 0 in
    /// the order of their first packet, those on ports not analyzed and those refused for lack
    /// of room included, a SYN that reuses a closed connection's ports starting a new one.
    pub tcp_stream: u64,
}

impl FlowMeta {
    /// A flow between `client` and `server` whose first packet was seen at `first_ts`, with
    /// nothing counted yet. A `RoleBasis::Syn` flow is one whose SYN was seen (`syn_seen`), as
    /// the flow table decides; the public fields can be set afterwards for anything else.
    pub fn new(
        id: FlowId,
        client: SocketAddr,
        server: SocketAddr,
        role_basis: RoleBasis,
        first_ts: Timestamp,
    ) -> FlowMeta {
        FlowMeta {
            id,
            client,
            server,
            role_basis,
            first_ts,
            last_ts: first_ts,
            packets: 0,
            payload_bytes: [0; 2],
            tcpip_header_bytes: [0; 2],
            gap_bytes: [0; 2],
            syn_seen: role_basis == RoleBasis::Syn,
            fin_seen: [false; 2],
            rst_seen: false,
            tcp_stream: 0,
        }
    }
}

/// The packet being processed when an event is raised (absent for end-of-input flushes, except
/// for buffered bytes, which are delivered as of the packet that brought them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketRef {
    pub frame: u64,
    pub ts: Timestamp,
    /// The packet's direction in the flow the event is about; `None` when it belongs to no flow
    /// (a table-wide finding) or the flow's roles are not known yet.
    pub dir: Option<Dir>,
}

impl PacketRef {
    /// A packet whose direction is not known (yet).
    pub fn new(frame: u64, ts: Timestamp) -> PacketRef {
        PacketRef {
            frame,
            ts,
            dir: None,
        }
    }

    /// The same packet, sent by `dir`.
    pub fn sent_by(self, dir: Dir) -> PacketRef {
        PacketRef {
            dir: Some(dir),
            ..self
        }
    }
}

/// Which flow took a packet, and the packet's TCP header as the flow sees it: what
/// [`FlowTable::process`] returns for a packet of a tracked flow, for views that show every
/// packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub flow: FlowId,
    /// The packet's direction in the flow (provisional until the flow is opened).
    pub dir: Dir,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    /// Captured payload bytes.
    pub payload_len: usize,
}

impl Placed {
    pub fn new(flow: FlowId, dir: Dir, seg: &crate::decode::Segment<'_>) -> Placed {
        Placed {
            flow,
            dir,
            flags: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            payload_len: seg.payload.len(),
        }
    }
}

/// The items of a [`StreamHandler`] whose flows closed by both FINs keep their whole state
/// (`$state`, its `State`) and whose events go on to `on_event` as before: a handler that
/// checks or records what the table does, rather than one that must be small while flows
/// linger.
#[macro_export]
macro_rules! closed_flows_keep_their_state {
    ($state:ty) => {
        type Closed = $state;

        fn closed(&mut self, _: &$crate::tcp::FlowMeta, state: $state) -> $state {
            state
        }

        fn on_closed_event(
            &mut self,
            meta: &$crate::tcp::FlowMeta,
            state: &mut $state,
            pkt: Option<$crate::tcp::PacketRef>,
            event: $crate::tcp::StreamEvent<'_>,
        ) {
            self.on_event(meta, state, pkt, event);
        }
    };
}

/// The protocol layer, as the flow table sees it. `State` lives inside the flow table entry so
/// that one hash lookup per packet serves both layers.
pub trait StreamHandler {
    type State: Default;
    fn on_event(
        &mut self,
        meta: &FlowMeta,
        state: &mut Self::State,
        pkt: Option<PacketRef>,
        event: StreamEvent<'_>,
    );

    /// Both directions of the flow have delivered everything they ever will (it is closing,
    /// or being closed now): the handler may finish its parsers and free their memory. A closing
    /// flow lingers a few seconds to count its last packets; only `Closed` follows. May be
    /// called more than once per flow. The default does nothing.
    fn on_streams_done(
        &mut self,
        meta: &FlowMeta,
        state: &mut Self::State,
        pkt: Option<PacketRef>,
    ) {
        let _ = (meta, state, pkt);
    }

    /// What a flow closed by both FINs keeps of its state while it lingers: what its last
    /// packets and its end still need, without what its streams needed.
    type Closed;

    /// The flow was closed by both FINs and its streams are done (after
    /// [`StreamHandler::on_streams_done`]): it lingers to count its last packets, keeping only
    /// what this makes of its state. Its events go to [`StreamHandler::on_closed_event`] from
    /// here on.
    fn closed(&mut self, meta: &FlowMeta, state: Self::State) -> Self::Closed;

    /// An event of a flow closed by both FINs: only `Control` (a late packet's SYN, FIN or
    /// RST) and, once its linger is over, `Closed`.
    fn on_closed_event(
        &mut self,
        meta: &FlowMeta,
        closed: &mut Self::Closed,
        pkt: Option<PacketRef>,
        event: StreamEvent<'_>,
    );

    /// What the handler holds for a flow closed by both FINs, for the memory budget. The
    /// default holds nothing.
    fn held_closed(&self, closed: &Self::Closed) -> Held {
        let _ = closed;
        Held::ZERO
    }

    /// A table-wide finding that belongs to no tracked flow: `FlowCapHit` or `BudgetFull`,
    /// each raised once per table the first time a new flow is refused for that reason. The
    /// default ignores it; the count of refused flows is in
    /// [`TableStats::flows_dropped_by_cap`] either way.
    fn on_table_notice(&mut self, pkt: PacketRef, notice: TcpNotice) {
        let _ = (pkt, notice);
    }

    /// What the handler holds for this flow (its state and buffers), for the memory budget.
    /// Called after every operation on the flow, so it must be cheap (no walk over data).
    fn held(&self, state: &Self::State) -> Held {
        let _ = state;
        Held::ZERO
    }

    /// The memory budget ran short and this flow is among the largest holders: give up every
    /// buffer that can be given up, reporting each loss. The default holds nothing to give.
    fn give_way(&mut self, meta: &FlowMeta, state: &mut Self::State, pkt: Option<PacketRef>) {
        let _ = (meta, state, pkt);
    }

    /// What the handler holds outside any flow (caches shared by flows).
    fn held_outside_flows(&self) -> Held {
        Held::ZERO
    }

    /// The memory budget ran short: drop what is held outside flows, first (caches whose loss
    /// costs only time).
    fn give_way_outside_flows(&mut self) {}
}

/// Guesses, from the first payload bytes one side sent, whether that side is the client
/// (`Some(true)`), the server (`Some(false)`) or cannot tell (`None`). Supplied by the protocol
/// layer so that TCP stays protocol-agnostic.
pub type RoleHint = fn(&[u8]) -> Option<bool>;

/// Counters over the whole run, for the summary and the skipped-ports hint.
#[derive(Clone, Debug, Default)]
pub struct TableStats {
    pub flows_created: u64,
    /// Distinct flows skipped by the port filter (exact up to the cap of remembered tuples).
    pub flows_skipped_by_port: u64,
    /// Distinct flows not tracked for lack of room: the flow table was full (`max_flows`) or
    /// the memory budget could not hold another flow (exact up to the cap of remembered
    /// tuples, then counted by SYNs). A tuple is counted once, for the first reason.
    pub flows_dropped_by_cap: u64,
    /// Of [`TableStats::flows_dropped_by_cap`], those refused by the memory budget.
    pub flows_dropped_by_budget: u64,
    /// Out-of-order bytes discarded because a buffer cap was hit.
    pub ooo_bytes_dropped: u64,
    /// Packets ignored: stray packets of recently finalised flows (arriving after the closing
    /// linger, or after the flow was finalised early or evicted for the memory budget) and
    /// RSTs of unknown flows. The summary's `stray_packets`.
    pub stray_packets: u64,
    /// Flows ended early to keep within the memory budget.
    pub flows_evicted: u64,
    /// Closed flows (both FINs, or a RST) finalised before their linger was over, to keep
    /// within the memory budget, or (a flow a RST closed, which lingers among the open ones)
    /// to make room for a new flow in a full table: what they would still have counted (a last
    /// ACK, a retransmitted FIN) counts as stray.
    pub lingers_cut_short: u64,
}
