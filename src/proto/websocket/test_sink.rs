//! Test helper: an [`EventSink`] that keeps owned copies of the WebSocket events it receives,
//! and a flow context to hand to the code under test.

use crate::config::Config;
use crate::model::{Anomaly, Code, Event, EventCtx, EventSink, OpCode, Record, WsFrame, WsMessage};
use crate::proto::dissect::{Registry, Solo};
use crate::tcp::{Dir, FlowMeta, PacketRef, RoleBasis};
use crate::time::Timestamp;
use std::net::SocketAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedFrame {
    pub dir: Dir,
    pub ts: Timestamp,
    pub first_frame: u64,
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    pub header: Vec<u8>,
    pub payload_head: Vec<u8>,
    pub close_code: Option<u16>,
    pub close_reason: Option<Vec<u8>>,
}

impl From<&WsFrame<'_>> for OwnedFrame {
    fn from(f: &WsFrame<'_>) -> Self {
        OwnedFrame {
            dir: f.dir,
            ts: f.ts,
            first_frame: f.first_frame,
            fin: f.fin,
            rsv1: f.rsv1,
            rsv2: f.rsv2,
            rsv3: f.rsv3,
            opcode: f.opcode,
            mask: f.mask,
            payload_len: f.payload_len,
            header: f.header.to_vec(),
            payload_head: f.payload_head.to_vec(),
            close_code: f.close_code,
            close_reason: f.close_reason.map(<[u8]>::to_vec),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMessage {
    pub dir: Dir,
    pub ts: Timestamp,
    pub opcode: OpCode,
    pub frames: u32,
    pub wire_len: u64,
    pub len: u64,
    pub compressed: bool,
    pub valid_utf8: Option<bool>,
    pub data_head: Vec<u8>,
    pub digest: crate::model::Digest,
}

impl From<&WsMessage<'_>> for OwnedMessage {
    fn from(m: &WsMessage<'_>) -> Self {
        OwnedMessage {
            dir: m.dir,
            ts: m.ts,
            opcode: m.opcode,
            frames: m.frames,
            wire_len: m.wire_len,
            len: m.len,
            compressed: m.compressed,
            valid_utf8: m.valid_utf8,
            data_head: m.data_head.to_vec(),
            digest: m.digest,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Owned {
    Frame(OwnedFrame),
    Message(OwnedMessage),
    Anomaly(Anomaly),
    Other,
}

/// Collects every event in order.
#[derive(Default, Debug)]
pub struct CollectSink {
    pub events: Vec<Owned>,
}

impl EventSink for CollectSink {
    fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
        self.events.push(match event {
            Event::Record(Record::WsFrame(f)) => Owned::Frame(f.into()),
            Event::Record(Record::WsMessage(m)) => Owned::Message(m.into()),
            Event::Record(Record::Anomaly(a)) => Owned::Anomaly(a.clone()),
            _ => Owned::Other,
        });
    }
}

impl CollectSink {
    /// Packet `frame` at `ts_nanos`.
    pub fn pkt(frame: u64, ts_nanos: i64) -> Option<PacketRef> {
        Some(PacketRef::new(frame, Timestamp(ts_nanos)))
    }

    pub fn frames(&self) -> Vec<&OwnedFrame> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Owned::Frame(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    pub fn messages(&self) -> Vec<&OwnedMessage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Owned::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    pub fn anomalies(&self) -> Vec<&Anomaly> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Owned::Anomaly(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    pub fn codes(&self) -> Vec<Code> {
        self.anomalies().iter().map(|a| a.code).collect()
    }
}

/// What a context borrows, for the flow of [`meta`].
pub fn solo() -> Solo {
    Solo::new(meta(), Config::default(), Registry::default())
}

/// A flow between 10.0.0.1:50000 (client) and 10.0.0.2:80.
pub fn meta() -> FlowMeta {
    FlowMeta::new(
        1,
        SocketAddr::from(([10, 0, 0, 1], 50000)),
        SocketAddr::from(([10, 0, 0, 2], 80)),
        RoleBasis::Syn,
        Timestamp::ZERO,
    )
}
