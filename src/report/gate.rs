//! `--kind`: holds back a flow's output until its kind is known, then prints or drops it. The
//! same gate serves `--filter-flows`, where the view decides ([`KindGate::decide`]) when
//! something of the flow matches, or at its end that nothing did.
//!
//! A flow's kind is final early for WebSocket (handshake or frames seen) and SSE (an event-stream
//! response head), because those outrank every other kind; otherwise it is final only when the
//! flow closes (a plain HTTP flow may still turn out to be a long poll). Held output is capped
//! per run; past the cap the oldest held flow is released as if it matched, and a note says so.

use crate::model::{Event, FlowKind, HttpMessage, Record};
use crate::tcp::FlowId;
use std::collections::HashMap;

/// Total bytes of output held back across flows.
pub const HOLD_CAP: usize = 16 << 20;

/// What the gate decided for the output of one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Print now.
    Pass,
    /// Hold it for this flow (call [`KindGate::hold`]).
    Hold,
    /// Drop it.
    Drop,
}

pub struct KindGate {
    /// The kind let through; `None`: the view decides.
    want: Option<FlowKind>,
    decided: HashMap<FlowId, bool>,
    held: HashMap<FlowId, Vec<u8>>,
    held_bytes: usize,
    pub overflowed: bool,
}

/// The kind an event proves its flow to be, if it proves one.
pub fn early_kind(event: &Event<'_>) -> Option<FlowKind> {
    match event {
        Event::Record(Record::Handshake(_))
        | Event::Record(Record::WsFrame(_))
        | Event::Record(Record::WsMessage(_)) => Some(FlowKind::WebSocket),
        Event::HttpHead(m) if m.is_event_stream() => Some(FlowKind::Sse),
        Event::Record(Record::Sse(_)) => Some(FlowKind::Sse),
        _ => None,
    }
}

/// Whether `m` is a response that starts an event stream. Printers show such a response when
/// its head arrives (`HttpHead`), as the stream may never end, and only note its end (`Http`).
pub fn starts_event_stream(m: &HttpMessage<'_>) -> bool {
    early_kind(&Event::HttpHead(m)) == Some(FlowKind::Sse)
}

impl KindGate {
    pub fn new(want: FlowKind) -> Self {
        KindGate {
            want: Some(want),
            ..KindGate::deciding()
        }
    }

    /// A gate that holds every flow's output until the view decides for it.
    pub fn deciding() -> Self {
        KindGate {
            want: None,
            decided: HashMap::new(),
            held: HashMap::new(),
            held_bytes: 0,
            overflowed: false,
        }
    }

    /// Decides for an event of `flow` *before* its output is produced. When a decision is made
    /// by this event, output held so far is returned in `release` (to be printed first).
    pub fn check(&mut self, flow: FlowId, event: &Event<'_>, release: &mut Vec<u8>) -> Verdict {
        if let Some(&ok) = self.decided.get(&flow) {
            if let Event::FlowClosed { .. } = event {
                self.decided.remove(&flow);
            }
            return if ok { Verdict::Pass } else { Verdict::Drop };
        }
        let closing = matches!(event, Event::FlowClosed { .. });
        let Some(want) = self.want else {
            // Undecided at its end: nothing of the flow is shown.
            if closing {
                self.decide(flow, false, release);
                self.decided.remove(&flow);
                return Verdict::Drop;
            }
            return Verdict::Hold;
        };
        let kind = match event {
            Event::FlowClosed { summary, .. } => Some(summary.closed_kind()),
            e => early_kind(e),
        };
        let Some(kind) = kind else {
            return Verdict::Hold;
        };
        let ok = kind == want;
        if !closing {
            self.decided.insert(flow, ok);
        }
        if let Some(buf) = self.held.remove(&flow) {
            self.held_bytes -= buf.len();
            if ok {
                release.extend_from_slice(&buf);
            }
        }
        if ok { Verdict::Pass } else { Verdict::Drop }
    }

    /// Decides for `flow` (once: a later call changes nothing); output held so far is put in
    /// `release` if it is shown.
    pub fn decide(&mut self, flow: FlowId, ok: bool, release: &mut Vec<u8>) {
        if self.decided.contains_key(&flow) {
            return;
        }
        self.decided.insert(flow, ok);
        if let Some(buf) = self.held.remove(&flow) {
            self.held_bytes -= buf.len();
            if ok {
                release.extend_from_slice(&buf);
            }
        }
    }

    /// Whether output of `flow` is printed straight away (kind decided and matching).
    pub fn is_passing(&self, flow: FlowId) -> bool {
        self.decided.get(&flow).copied().unwrap_or(false)
    }

    /// Holds `bytes` of output for `flow`. If the run-wide cap is exceeded, the flow's held
    /// output is returned to be printed now (and the flow is let through from then on).
    pub fn hold(&mut self, flow: FlowId, bytes: &[u8], release: &mut Vec<u8>) {
        match self.decided.get(&flow) {
            Some(true) => return release.extend_from_slice(bytes),
            Some(false) => return,
            None => {}
        }
        if self.held_bytes + bytes.len() > HOLD_CAP {
            self.overflowed = true;
            if let Some(buf) = self.held.remove(&flow) {
                self.held_bytes -= buf.len();
                release.extend_from_slice(&buf);
            }
            release.extend_from_slice(bytes);
            self.decided.insert(flow, true);
            return;
        }
        self.held_bytes += bytes.len();
        self.held.entry(flow).or_default().extend_from_slice(bytes);
    }
}
