//! TCP: the flow table and per-direction stream reassembly.
//!
//! The flow table keys flows by their canonical 4-tuple, decides who is client and server,
//! evicts idle flows by capture time and caps how many flows and how many out-of-order bytes it
//! keeps. Reassembly hands in-order bytes to the [`StreamHandler`] straight from the segment
//! (no copy); only out-of-order data is buffered. Bytes that never arrive become
//! [`StreamEvent::Gap`] with their exact count, after which delivery resumes.

use crate::decode::Segment;
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
    /// Dropped to make room (flow cap).
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
}

/// What the reassembler tells the protocol layer, in stream order per direction.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// The flow's first packet: roles are known from here on.
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
    /// The flow is over; its state is dropped after this event.
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
    pub rst_seen: bool,
}

/// The packet being processed when an event is raised (absent for end-of-input flushes).
#[derive(Clone, Copy, Debug)]
pub struct PacketRef {
    pub frame: u64,
    pub ts: Timestamp,
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
    pub flows_dropped_by_cap: u64,
    pub ooo_bytes_dropped: u64,
}

/// The flow table. Generic over the handler's per-flow state.
pub struct FlowTable<H: StreamHandler> {
    _handler: std::marker::PhantomData<H>,
}

impl<H: StreamHandler> FlowTable<H> {
    pub fn new(config: &crate::config::Config, role_hint: Option<RoleHint>) -> Self {
        let _ = (config, role_hint);
        FlowTable {
            _handler: std::marker::PhantomData,
        }
    }

    /// Processes one segment: finds or creates its flow, reassembles, and calls the handler.
    pub fn process(&mut self, seg: &Segment<'_>, handler: &mut H) {
        let _ = (seg, handler);
    }

    /// Ends every flow still open (end of input, or live capture stopping).
    pub fn finish(&mut self, handler: &mut H) {
        let _ = handler;
    }

    pub fn stats(&self) -> &TableStats {
        unimplemented_stats()
    }
}

fn unimplemented_stats() -> &'static TableStats {
    static S: TableStats = TableStats {
        flows_created: 0,
        flows_skipped_by_port: 0,
        flows_dropped_by_cap: 0,
        ooo_bytes_dropped: 0,
    };
    &S
}
