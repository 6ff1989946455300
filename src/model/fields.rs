//! A record as a display filter sees it: its own fields (each record type lists them next to
//! itself, by [`OwnFields`]) and those it has from its flow — `flow.id`, the endpoints,
//! `ip.addr`, `tcp.port`, `flow.kind` once known — and from the packet that completed it
//! (`frame.number`). [`InFlow`] joins the two; it is what filters, `-T fields` and
//! `check --forbid` evaluate, straight on the records the protocols emit (no copy, nothing
//! allocated per evaluation).

use crate::filter::fields::def;
use crate::filter::{Each, FieldId, FieldSource, OwnFields, RecordType, Value, one};
use crate::model::{Anomaly, EventCtx, FlowFacts, FlowKind, Layers, Record};
use crate::tcp::FlowMeta;
use std::net::SocketAddr;
use std::ops::ControlFlow;

impl OwnFields for Record<'_> {
    fn record_type(&self) -> RecordType {
        self.own().record_type()
    }

    fn own_values(
        &self,
        field: FieldId,
        key: Option<&str>,
        each: &mut Each<'_>,
    ) -> ControlFlow<()> {
        self.own().own_values(field, key, each)
    }
}

impl<'a> Record<'a> {
    /// The record's own fields.
    pub fn own(&self) -> &'a dyn OwnFields {
        match *self {
            Record::Http(r) => r,
            Record::Handshake(r) => r,
            Record::WsFrame(r) => r,
            Record::WsMessage(r) => r,
            Record::Sse(r) => r,
            Record::Anomaly(r) => r,
            Record::Tls(r) => r,
            Record::Latency(r) => r,
        }
    }
}

/// A record in its flow: what a filter is tested against.
#[derive(Clone, Copy)]
pub struct InFlow<'a> {
    pub own: &'a dyn OwnFields,
    /// The flow; `None` for an anomaly outside every flow.
    pub flow: Option<&'a FlowMeta>,
    /// The flow's kind, once known.
    pub kind: Option<FlowKind>,
    /// The packet that completed the record.
    pub frame: Option<u64>,
    /// The protocols that carried the record (none for one read straight off TCP).
    pub layers: Layers,
}

impl<'a> InFlow<'a> {
    /// An anomaly outside every flow, raised at packet `frame`.
    pub fn outside(anomaly: &'a Anomaly, frame: u64) -> InFlow<'a> {
        InFlow {
            own: anomaly,
            flow: None,
            kind: None,
            frame: Some(frame),
            layers: Layers::default(),
        }
    }

    /// A flow's record, when it ends: its kind is known by then (`other` when nothing else).
    pub fn flow(facts: &'a FlowFacts<'a>) -> InFlow<'a> {
        InFlow {
            own: facts,
            flow: Some(facts.meta),
            kind: Some(facts.summary.closed_kind()),
            frame: None,
            layers: Layers::default(),
        }
    }

    /// A record of the flow of `ctx`, with what is known of the flow's kind.
    pub fn record(ctx: &EventCtx<'a>, record: Record<'a>, kind: Option<FlowKind>) -> InFlow<'a> {
        InFlow {
            own: record.own(),
            flow: Some(ctx.flow),
            kind,
            frame: ctx.pkt.map(|p| p.frame),
            layers: Layers::of(ctx.layer),
        }
    }
}

impl InFlow<'_> {
    fn end(&self, client: bool) -> Option<SocketAddr> {
        self.flow.map(|f| if client { f.client } else { f.server })
    }
}

impl FieldSource for InFlow<'_> {
    fn record_type(&self) -> RecordType {
        self.own.record_type()
    }

    fn values(&self, field: FieldId, key: Option<&str>, each: &mut Each<'_>) -> ControlFlow<()> {
        use FieldId as F;
        let ty = self.own.record_type();
        if !def(field).records.contains(ty) {
            return ControlFlow::Continue(());
        }
        let addr = |a: Option<SocketAddr>| a.map(|a| Value::Addr(a.ip()));
        let port = |a: Option<SocketAddr>| a.map(|a| Value::Int(a.port().into()));
        match field {
            F::RecordKind => each(Value::Sym(ty.as_str())),
            F::FlowId => one(self.flow.map(|f| Value::Int(f.id.into())), each),
            F::TcpStream => one(self.flow.map(|f| Value::Int(f.tcp_stream.into())), each),
            F::FlowClient => one(addr(self.end(true)), each),
            F::FlowServer => one(addr(self.end(false)), each),
            F::FlowClientPort => one(port(self.end(true)), each),
            F::FlowServerPort => one(port(self.end(false)), each),
            F::IpAddr => {
                one(addr(self.end(true)), each)?;
                one(addr(self.end(false)), each)
            }
            F::TcpPort => {
                one(port(self.end(true)), each)?;
                one(port(self.end(false)), each)
            }
            F::FlowKind => one(self.kind.map(|k| Value::Sym(k.as_str())), each),
            F::FrameNumber => one(self.frame.map(|n| Value::Int(n.into())), each),
            F::Layers => self
                .layers
                .as_slice()
                .iter()
                .try_for_each(|l| each(Value::Str(l))),
            _ => self.own.own_values(field, key, each),
        }
    }
}
