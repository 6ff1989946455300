//! `check --forbid EXPR`: a capture fails when any record matches a display filter; each
//! matching record is a finding (`check.forbid`) with its flow, packet, direction and a short
//! description, decided by `--forbid EXPR`.
//!
//! The filters are evaluated on the records as the protocols emit them, in the same pass as the
//! anomalies are judged (`report::select`, as `-Y` does). With `--kind K`, a flow's records are
//! judged only if the flow is of kind K; a filter that tests `flow.kind`, or `--kind`, waits for
//! a flow's kind: its matches are kept until the kind is known and then counted or dropped.

use super::rules::Effect;
use super::{Finding, Subject};
use crate::filter::{FieldId, Filter, OwnFields, RecordType, Value};
use crate::model::{Anomaly, Event, EventCtx, EventSink, FlowKind, HttpHead, Record};
use crate::report::select::{Kinds, Pick, Selection};
use crate::tcp::{Dir, FlowId};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The `--forbid` filters of a run, compiled once and shared by every capture's watch.
pub type Forbids = Arc<[Filter]>;

/// Whether any filter looks into payloads (so the run should keep them whole for display).
pub fn reads_payloads(forbids: &[Filter]) -> bool {
    forbids.iter().any(Filter::reads_payloads)
}

/// Tests every record of one capture against the `--forbid` filters.
pub struct ForbidWatch {
    filters: Forbids,
    /// Per filter: the selection judging flows' records (with `--kind` joined to the filter).
    selections: Vec<Selection>,
    /// Matches waiting for their flow's kind: filter, finding, the kinds it holds for.
    pending: HashMap<FlowId, Vec<(usize, Finding, Kinds)>>,
    /// Records that matched, per filter.
    pub counts: Vec<u64>,
    found: Vec<Finding>,
}

impl ForbidWatch {
    /// A watch over records of flows of `kind` only (all flows without one).
    pub fn new(filters: Forbids, kind: Option<FlowKind>) -> ForbidWatch {
        let selections = filters
            .iter()
            .map(|f| {
                let joined = kind
                    .and_then(|k| Filter::new(&format!("flow.kind == {k} && ({})", f.text())).ok());
                Selection::new(joined.unwrap_or_else(|| f.clone()))
            })
            .collect();
        ForbidWatch {
            counts: vec![0; filters.len()],
            filters,
            selections,
            pending: HashMap::new(),
            found: Vec::new(),
        }
    }

    /// The findings since the last call.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.found)
    }

    /// (expression, records that matched it), in the order given.
    pub fn tally(&self) -> Vec<(String, u64)> {
        self.filters
            .iter()
            .zip(&self.counts)
            .map(|(f, n)| (f.text().to_string(), *n))
            .collect()
    }

    fn found(&mut self, i: usize, finding: Finding) {
        self.counts[i] += 1;
        self.found.push(finding);
    }

    /// Counts the matches of `flow` that a flow of `kind` makes.
    fn settle(&mut self, flow: FlowId, kind: FlowKind) {
        for (i, finding, kinds) in self.pending.remove(&flow).unwrap_or_default() {
            if kinds.holds(Some(kind)) {
                self.found(i, finding);
            }
        }
    }
}

/// When a record was complete (its `frame.time`).
fn time_of(own: &dyn OwnFields) -> Option<Timestamp> {
    let mut ts = None;
    let _ = own.own_values(FieldId::FrameTime, None, &mut |v| {
        if let Value::Time(t) = v {
            ts = Some(t);
        }
        ControlFlow::Break(())
    });
    ts
}

/// What a record is, in a few words: `ws_frame text, 70000 bytes`.
fn describe(r: &Record<'_>) -> String {
    let ty = r.own().record_type().as_str();
    let what = match *r {
        Record::Http(m) => match m.head {
            HttpHead::Request { method, target, .. } => format!("request {method} {target}"),
            HttpHead::Response { status, reason, .. } => format!("response {status} {reason}"),
        },
        Record::Handshake(h) => match &h.subprotocol {
            Some(p) => format!("subprotocol {p}"),
            None => "WebSocket upgrade".into(),
        },
        Record::WsFrame(f) => format!("{}, {} bytes", f.opcode.name(), f.payload_len),
        Record::WsMessage(m) => format!("{}, {} bytes", m.opcode.name(), m.len),
        Record::Sse(e) => format!("event {}", e.event.unwrap_or("message")),
        Record::Anomaly(a) => format!("{}: {}", a.code.as_str(), a.detail),
        Record::Tls(t) => format!("{} {}", t.dir.as_str(), t.name),
        Record::Latency(l) => format!("{} {}", l.protocol, l.name.as_deref().unwrap_or("")),
    };
    format!("{ty} {what}").trim_end().to_string()
}

/// The finding for a match of `f`.
fn finding(
    f: &Filter,
    flow: Option<FlowId>,
    frame: Option<u64>,
    dir: Option<Dir>,
    ts: Timestamp,
    detail: String,
) -> Finding {
    Finding {
        subject: Subject::Forbid,
        effect: Effect::Fail,
        rule: Some(format!("--forbid '{}'", f.text())),
        flow,
        frame,
        dir,
        ts,
        detail,
    }
}

impl EventSink for ForbidWatch {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        let mut learnt = None;
        for sel in &mut self.selections {
            learnt = sel.observe(ctx, &event).or(learnt);
        }
        if let Some(kind) = learnt {
            self.settle(flow, kind);
        }
        match event {
            Event::Record(r) => {
                let frame = ctx.pkt.map(|p| p.frame);
                // Records that carry no packet number (`frame.number`) in JSON carry none here.
                let frame = frame.filter(|_| {
                    matches!(
                        r.own().record_type(),
                        RecordType::Http | RecordType::WsFrame | RecordType::Anomaly
                    )
                });
                for i in 0..self.selections.len() {
                    let pick = self.selections[i].record(ctx, r);
                    if pick == Pick::No {
                        continue;
                    }
                    let ts = time_of(r.own()).unwrap_or_default();
                    let fd = finding(
                        &self.filters[i],
                        Some(flow),
                        frame,
                        r.dir(),
                        ts,
                        describe(&r),
                    );
                    match pick {
                        Pick::Later(k) => self.pending.entry(flow).or_default().push((i, fd, k)),
                        _ => self.found(i, fd),
                    }
                }
            }
            Event::FlowClosed { how, summary } => {
                let kind = summary.closed_kind();
                self.settle(flow, kind);
                for i in 0..self.selections.len() {
                    if self.selections[i]
                        .flow_closed(ctx.flow, summary, how)
                        .record
                    {
                        let detail = format!(
                            "flow {} -> {} ({})",
                            ctx.flow.client,
                            ctx.flow.server,
                            kind.as_str()
                        );
                        let fd = finding(
                            &self.filters[i],
                            Some(flow),
                            None,
                            None,
                            ctx.flow.last_ts,
                            detail,
                        );
                        self.found(i, fd);
                    }
                }
            }
            _ => {}
        }
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        // Outside every flow: judged whatever --kind says, by the filter as given.
        for i in 0..self.filters.len() {
            let subject = crate::model::InFlow::outside(anomaly, frame);
            if self.filters[i].matches(&subject) {
                let fd = finding(
                    &self.filters[i],
                    None,
                    Some(frame),
                    anomaly.dir,
                    anomaly.ts,
                    describe(&Record::Anomaly(anomaly)),
                );
                self.found(i, fd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FlowSummary, OpCode, SseEvent, WsFrame};
    use crate::tcp::{CloseHow, FlowMeta, PacketRef, RoleBasis};
    use std::net::SocketAddr;

    fn frame(len: u64) -> WsFrame<'static> {
        WsFrame {
            dir: Dir::S2C,
            ts: Timestamp(2_500_000_000),
            first_frame: 9,
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::Binary,
            mask: None,
            payload_len: len,
            header: &[0x82, 0x7e, 0, 0],
            payload_head: b"",
            close_code: None,
            close_reason: None,
            deflate: false,
        }
    }

    #[test]
    fn records_are_described_in_a_few_words() {
        let f = frame(70000);
        assert_eq!(
            describe(&Record::WsFrame(&f)),
            "ws_frame binary, 70000 bytes"
        );
        let e = SseEvent {
            ts: Timestamp::ZERO,
            event: None,
            id: None,
            data: b"x",
            len: 1,
        };
        assert_eq!(describe(&Record::Sse(&e)), "sse_event event message");
    }

    #[test]
    fn matches_become_failing_findings_in_place_once_the_kind_is_known() {
        let filters: Forbids = vec![
            Filter::new("ws.payload_len > 100").unwrap(),
            Filter::new("flow.kind == websocket && ws").unwrap(),
            Filter::new("flow.kind == sse && ws").unwrap(),
        ]
        .into();
        let mut w = ForbidWatch::new(filters, None);
        let meta = FlowMeta::new(
            3,
            SocketAddr::from(([10, 0, 0, 1], 5000)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
            RoleBasis::Syn,
            Timestamp::ZERO,
        );
        let ctx = EventCtx::new(&meta, Some(PacketRef::new(9, Timestamp(2_500_000_000))));
        let big = frame(101);
        // A frame proves the flow is a WebSocket: the kind is known before it is judged.
        w.event(&ctx, Event::Record(Record::WsFrame(&big)));
        assert_eq!(w.counts, vec![1, 1, 0]);
        let f = w.take_findings();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].place(), "flow 3, packet 9, s2c");
        assert_eq!(f[0].subject, Subject::Forbid);
        assert_eq!(f[0].effect, Effect::Fail);
        assert_eq!(
            f[0].rule.as_deref(),
            Some("--forbid 'ws.payload_len > 100'")
        );
        assert_eq!(f[0].ts, Timestamp(2_500_000_000));
        let summary = FlowSummary {
            kind: Some(FlowKind::WebSocket),
            ..FlowSummary::default()
        };
        w.event(
            &ctx,
            Event::FlowClosed {
                how: CloseHow::Fin,
                summary: &summary,
            },
        );
        assert_eq!(
            w.tally(),
            vec![
                ("ws.payload_len > 100".to_string(), 1),
                ("flow.kind == websocket && ws".to_string(), 1),
                ("flow.kind == sse && ws".to_string(), 0),
            ]
        );
    }
}
