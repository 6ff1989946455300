//! Which JSON Lines records go into the page, so that a report stays small (about 2 MB for a
//! capture of 10,000 flows) however large the capture.
//!
//! Kept whole: the `summary` record, and every record of a *detail flow*: the first
//! [`Limits::first_flows`] flows (by id) and up to [`Limits::anomalous_flows`] later flows that
//! have an anomaly, each within [`Limits::flow_detail_bytes`] of records and all of them within
//! [`Limits::detail_bytes`]. Kept as one row each: the `flow` records of the first
//! [`Limits::flow_rows`] flows to end. Kept up to [`Limits::other_anomalies`]: anomalies of
//! other flows and of no flow. Everything left out is counted, and the page says so.
//!
//! Records of a flow beyond the first ones are held until the flow has an anomaly (it becomes a
//! detail flow, if there is room) or ends (they are dropped); what is held is capped too
//! ([`Limits::held_bytes`]), the largest holding giving way first. Records are numbered as they
//! arrive, so the page lists them in the order `--json` prints them.

use crate::tcp::FlowId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The caps, written into the page so that it can say what it left out.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Limits {
    pub first_flows: u64,
    pub anomalous_flows: u64,
    pub flow_detail_bytes: usize,
    pub detail_bytes: usize,
    pub flow_rows: u64,
    pub other_anomalies: u64,
    pub held_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            first_flows: 50,
            anomalous_flows: 50,
            flow_detail_bytes: 256 << 10,
            detail_bytes: 640 << 10,
            flow_rows: 10_000,
            other_anomalies: 500,
            held_bytes: 8 << 20,
        }
    }
}

/// What the store knows of a flow that has not ended yet (or ended in the packet being
/// processed: its last TCP record may still follow its `flow` record).
enum State {
    /// A detail flow: its records are kept.
    Keep,
    /// Held until it shows an anomaly or ends.
    Held {
        lines: Vec<(u64, String)>,
        bytes: usize,
    },
    /// Not a detail flow.
    Drop,
}

/// The fields of a record the store decides by (`id` is a flow's on `flow` records and an
/// event's on `sse_event` records, hence any value).
#[derive(Deserialize)]
struct Head {
    r#type: String,
    #[serde(default)]
    flow: Option<FlowId>,
    #[serde(default)]
    id: Option<serde_json::Value>,
}

/// What was left out, for the page.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LeftOut {
    /// Detail flows whose records did not all fit: records left out per flow.
    pub cut: BTreeMap<FlowId, u64>,
    /// `flow` records not listed.
    pub flows_not_listed: u64,
    /// Anomaly records of flows without detail (or of no flow) not kept.
    pub anomalies_not_kept: u64,
    /// Flows with anomalies whose detail was not kept (no room left).
    pub anomalous_flows_without_detail: u64,
}

/// The records chosen so far.
pub struct Store {
    limits: Limits,
    seq: u64,
    kept: Vec<(u64, String)>,
    states: HashMap<FlowId, State>,
    /// Detail flows, with the bytes of their records kept.
    detail: BTreeMap<FlowId, usize>,
    detail_bytes: usize,
    anomalous: u64,
    held_bytes: usize,
    listed: u64,
    other_anomalies: u64,
    pub left_out: LeftOut,
}

impl Store {
    pub fn new(limits: Limits) -> Self {
        Store {
            limits,
            seq: 0,
            kept: Vec::new(),
            states: HashMap::new(),
            detail: BTreeMap::new(),
            detail_bytes: 0,
            anomalous: 0,
            held_bytes: 0,
            listed: 0,
            other_anomalies: 0,
            left_out: LeftOut::default(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether records of `flow` may still be kept (the report's own TCP records are built only
    /// then).
    pub fn wants(&mut self, flow: FlowId) -> bool {
        !matches!(self.state(flow), State::Drop)
    }

    fn state(&mut self, flow: FlowId) -> &mut State {
        let first = self.limits.first_flows;
        self.states.entry(flow).or_insert_with(|| {
            if flow <= first {
                State::Keep
            } else {
                State::Held {
                    lines: Vec::new(),
                    bytes: 0,
                }
            }
        })
    }

    /// The flow ended and none of its records can follow any more.
    pub fn forget(&mut self, flow: FlowId) {
        if let Some(State::Held { bytes, .. }) = self.states.remove(&flow) {
            self.held_bytes -= bytes;
        }
    }

    /// Takes one JSON Lines record (without its newline). A line that is not a record (which
    /// the JSON printer never writes) is ignored.
    pub fn line(&mut self, line: &str) {
        let Ok(head) = serde_json::from_str::<Head>(line) else {
            return;
        };
        let seq = self.seq;
        self.seq += 1;
        let line = line.to_string();
        match (head.r#type.as_str(), head.flow) {
            ("summary", _) => self.kept.push((seq, line)),
            ("flow", _) => {
                let id = head.id.and_then(|v| v.as_u64()).unwrap_or(0);
                let detail = matches!(self.states.get(&id), Some(State::Keep));
                if detail || self.listed < self.limits.flow_rows {
                    self.listed += u64::from(!detail);
                    self.kept.push((seq, line));
                } else {
                    self.left_out.flows_not_listed += 1;
                }
                // A held flow ended without anomalies: its records go.
                if let Some(State::Held { bytes, .. }) = self.states.get(&id) {
                    self.held_bytes -= *bytes;
                    self.states.insert(id, State::Drop);
                }
            }
            ("anomaly", None) => self.other_anomaly(seq, line),
            ("anomaly", Some(flow)) => {
                if matches!(self.state(flow), State::Held { .. }) {
                    self.promote(flow);
                }
                match self.state(flow) {
                    State::Keep => self.keep_detail(flow, seq, line),
                    _ => self.other_anomaly(seq, line),
                }
            }
            (_, Some(flow)) => {
                let len = line.len();
                match self.state(flow) {
                    State::Keep => self.keep_detail(flow, seq, line),
                    State::Held { lines, bytes } => {
                        *bytes += len;
                        lines.push((seq, line));
                        self.held_bytes += len;
                        if self.held_bytes > self.limits.held_bytes {
                            self.release_largest();
                        }
                    }
                    State::Drop => {}
                }
            }
            (_, None) => {}
        }
    }

    fn other_anomaly(&mut self, seq: u64, line: String) {
        if self.other_anomalies < self.limits.other_anomalies {
            self.other_anomalies += 1;
            self.kept.push((seq, line));
        } else {
            self.left_out.anomalies_not_kept += 1;
        }
    }

    /// A held flow showed an anomaly: it becomes a detail flow if there is room.
    fn promote(&mut self, flow: FlowId) {
        let Some(State::Held { lines, bytes }) = self.states.remove(&flow) else {
            return;
        };
        self.held_bytes -= bytes;
        if self.anomalous >= self.limits.anomalous_flows {
            self.left_out.anomalous_flows_without_detail += 1;
            self.states.insert(flow, State::Drop);
            return;
        }
        self.anomalous += 1;
        self.states.insert(flow, State::Keep);
        for (seq, line) in lines {
            self.keep_detail(flow, seq, line);
        }
    }

    fn keep_detail(&mut self, flow: FlowId, seq: u64, line: String) {
        let used = self.detail.entry(flow).or_default();
        if *used + line.len() > self.limits.flow_detail_bytes
            || self.detail_bytes + line.len() > self.limits.detail_bytes
        {
            *self.left_out.cut.entry(flow).or_default() += 1;
            return;
        }
        *used += line.len();
        self.detail_bytes += line.len();
        self.kept.push((seq, line));
    }

    /// Too much is held: the flow holding most gives way.
    fn release_largest(&mut self) {
        let largest = self
            .states
            .iter()
            .filter_map(|(id, s)| match s {
                State::Held { bytes, .. } => Some((*bytes, *id)),
                _ => None,
            })
            .max();
        if let Some((bytes, id)) = largest {
            self.held_bytes -= bytes;
            self.states.insert(id, State::Drop);
        }
    }

    /// The flows whose records are kept, in id order.
    pub fn detail_flows(&self) -> Vec<FlowId> {
        self.detail.keys().copied().collect()
    }

    /// The kept records in the order they arrived.
    pub fn into_lines(mut self) -> (Vec<String>, Vec<FlowId>, LeftOut) {
        self.kept.sort_unstable_by_key(|(seq, _)| *seq);
        let flows = self.detail_flows();
        let lines = self.kept.into_iter().map(|(_, l)| l).collect();
        (lines, flows, self.left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ty: &str, flow: u64) -> String {
        if ty == "flow" {
            format!(r#"{{"type":"flow","id":{flow}}}"#)
        } else {
            format!(r#"{{"type":"{ty}","flow":{flow}}}"#)
        }
    }

    fn small() -> Limits {
        Limits {
            first_flows: 2,
            anomalous_flows: 1,
            flow_detail_bytes: 1000,
            detail_bytes: 10_000,
            flow_rows: 3,
            other_anomalies: 1,
            held_bytes: 1000,
        }
    }

    #[test]
    fn first_flows_and_anomalous_ones_keep_their_detail_in_arrival_order() {
        let mut s = Store::new(Limits {
            flow_rows: 1,
            ..small()
        });
        for flow in 1..=5 {
            s.line(&rec("ws_frame", flow));
        }
        // Flow 4 shows an anomaly (its held frame is kept, before the anomaly); flow 5 too,
        // but there is room for one anomalous flow only.
        s.line(&rec("anomaly", 4));
        s.line(&rec("anomaly", 5));
        for flow in 1..=5 {
            s.line(&rec("flow", flow));
            s.forget(flow);
        }
        s.line(r#"{"type":"summary"}"#);
        let (lines, detail, left) = s.into_lines();
        assert_eq!(detail, vec![1, 2, 4]);
        assert_eq!(
            lines,
            vec![
                rec("ws_frame", 1),
                rec("ws_frame", 2),
                rec("ws_frame", 4),
                rec("anomaly", 4),
                rec("anomaly", 5),
                rec("flow", 1),
                rec("flow", 2),
                rec("flow", 3),
                rec("flow", 4),
                r#"{"type":"summary"}"#.to_string(),
            ]
        );
        // Flows 1, 2 and 4 are detail flows; 3 takes the one row left for the others.
        assert_eq!(left.flows_not_listed, 1);
        assert_eq!(left.anomalous_flows_without_detail, 1);
        assert_eq!(left.anomalies_not_kept, 0);
    }

    #[test]
    fn caps_count_what_they_leave_out() {
        let one = rec("ws_message", 1).len();
        let mut s = Store::new(Limits {
            flow_detail_bytes: one * 3 / 2,
            ..small()
        });
        for _ in 0..4 {
            s.line(&rec("ws_message", 1));
        }
        s.line(r#"{"type":"anomaly","flow":null}"#);
        s.line(r#"{"type":"anomaly","flow":null}"#);
        let (lines, _, left) = s.into_lines();
        // One record fits in the flow's share.
        assert_eq!(lines.len(), 2);
        assert_eq!(left.cut.get(&1), Some(&3));
        assert_eq!(left.anomalies_not_kept, 1);
    }

    #[test]
    fn records_with_an_id_of_their_own_are_kept() {
        let mut s = Store::new(small());
        s.line(r#"{"type":"sse_event","flow":1,"id":"7"}"#);
        s.line(r#"{"type":"sse_event","flow":1,"id":null}"#);
        let (lines, _, _) = s.into_lines();
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn held_records_are_bounded() {
        let mut s = Store::new(small());
        for _ in 0..100 {
            s.line(&rec("ws_frame", 9));
        }
        assert!(s.held_bytes <= small().held_bytes);
        assert!(!s.wants(9));
        s.line(&rec("anomaly", 9));
        let (lines, detail, _) = s.into_lines();
        assert!(detail.is_empty());
        assert_eq!(lines, vec![rec("anomaly", 9)]);
    }
}
