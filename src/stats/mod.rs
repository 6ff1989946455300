//! Overhead accounting: per flow kind, payload bytes versus L7 header bytes versus TCP/IP header
//! bytes, and the "what if over HTTP" estimate for WebSocket flows. Also the run-wide tallies
//! (packets, flows per kind, anomalies per code) that the summary record and `check` use.
//!
//! Definitions (also in docs/overhead.md):
//! - payload bytes: HTTP body bytes (dechunked) and WebSocket frame payload bytes (as sent,
//!   compressed if deflated; control frames included);
//! - L7 header bytes: HTTP start lines, headers and blank lines (including the upgrade
//!   handshake), chunked framing, and WebSocket frame headers (2–14 bytes each);
//! - TCP/IP header bytes: IP header (with options / extension headers) plus TCP header (with
//!   options) of every packet of the flow, pure ACKs included;
//! - messages: HTTP requests and responses (a pair counts 2), plus WebSocket data messages; the
//!   upgrade request and its 101 count as handshake, not as messages;
//! - overhead %: L7 header bytes / payload bytes × 100.

mod record;

pub use record::SummaryRecord;

use crate::model::{Code, FlowKind, FlowSummary};
use crate::tcp::{FlowId, FlowMeta};
use std::collections::BTreeMap;

/// Totals for one flow kind (or for all flows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overhead {
    pub flows: u64,
    pub messages: u64,
    pub payload_bytes: u64,
    pub l7_header_bytes: u64,
    pub tcpip_header_bytes: u64,
    /// What TLS added (record headers, explicit IVs, tags and MACs, padding, the TLS 1.3
    /// content type byte, handshake, ChangeCipherSpec and alert bytes): what wss:// costs
    /// over ws://, https:// over http://.
    pub tls_bytes: u64,
}

impl Overhead {
    /// One flow's contribution.
    pub fn of_flow(meta: &FlowMeta, s: &FlowSummary) -> Overhead {
        Overhead {
            flows: 1,
            messages: flow_messages(s),
            payload_bytes: s.l7_payload_bytes.iter().sum(),
            l7_header_bytes: s.l7_header_bytes.iter().sum(),
            tcpip_header_bytes: meta.tcpip_header_bytes.iter().sum(),
            tls_bytes: s.tls.as_ref().map_or(0, |t| t.overhead(0) + t.overhead(1)),
        }
    }

    pub fn add(&mut self, o: &Overhead) {
        self.flows += o.flows;
        self.messages += o.messages;
        self.payload_bytes += o.payload_bytes;
        self.l7_header_bytes += o.l7_header_bytes;
        self.tcpip_header_bytes += o.tcpip_header_bytes;
        self.tls_bytes += o.tls_bytes;
    }

    /// TLS bytes per message; `None` without messages.
    pub fn tls_bytes_per_message(&self) -> Option<f64> {
        (self.messages > 0).then(|| self.tls_bytes as f64 / self.messages as f64)
    }

    /// L7 header bytes as a percentage of payload bytes; `None` without payload.
    pub fn overhead_pct(&self) -> Option<f64> {
        (self.payload_bytes > 0)
            .then(|| self.l7_header_bytes as f64 * 100.0 / self.payload_bytes as f64)
    }

    /// L7 header bytes per message; `None` without messages.
    pub fn header_bytes_per_message(&self) -> Option<f64> {
        (self.messages > 0).then(|| self.l7_header_bytes as f64 / self.messages as f64)
    }
}

/// Messages of a flow as the overhead table counts them (see the module doc).
pub fn flow_messages(s: &FlowSummary) -> u64 {
    let http = if s.handshake_complete {
        s.http_messages.saturating_sub(2)
    } else {
        s.http_messages
    };
    http + s.ws_messages
}

/// The "what if over HTTP" estimate for one WebSocket flow: every data message sent as one
/// HTTP request and one response whose heads are as large as this flow's own upgrade request
/// and 101 response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhatIf {
    pub flow: FlowId,
    pub messages: u64,
    /// L7 header bytes the flow actually spent (handshake + frame headers).
    pub actual_l7_header_bytes: u64,
    /// Per-message HTTP head cost used for the estimate (request + response head).
    pub http_bytes_per_message: u64,
    /// Estimated L7 header bytes over HTTP.
    pub http_l7_header_bytes: u64,
}

impl WhatIf {
    pub fn of_flow(meta: &FlowMeta, s: &FlowSummary) -> Option<WhatIf> {
        if s.kind != Some(FlowKind::WebSocket) || !s.handshake_complete {
            return None;
        }
        let per = s.upgrade_request_bytes + s.upgrade_response_bytes;
        Some(WhatIf {
            flow: meta.id,
            messages: s.ws_messages,
            actual_l7_header_bytes: s.l7_header_bytes.iter().sum(),
            http_bytes_per_message: per,
            http_l7_header_bytes: s.ws_messages.saturating_mul(per),
        })
    }

    /// How many times more header bytes HTTP would have cost; `None` when nothing was spent.
    pub fn ratio(&self) -> Option<f64> {
        (self.actual_l7_header_bytes > 0)
            .then(|| self.http_l7_header_bytes as f64 / self.actual_l7_header_bytes as f64)
    }
}

/// The "what if over HTTP" estimate summed over flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WhatIfTotal {
    pub flows: u64,
    pub messages: u64,
    pub actual_l7_header_bytes: u64,
    pub http_l7_header_bytes: u64,
}

/// What-if rows kept for the report; beyond this only the count grows.
pub const WHAT_IF_ROWS_CAP: usize = 1000;

/// Run-wide tallies.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    pub packets: u64,
    /// Packets that carried no analyzable TCP segment, by reason.
    pub skipped_packets: BTreeMap<&'static str, u64>,
    pub flows: u64,
    pub kinds: BTreeMap<FlowKind, u64>,
    pub overhead: BTreeMap<FlowKind, Overhead>,
    pub anomalies: BTreeMap<Code, u64>,
    pub what_if: Vec<WhatIf>,
    pub what_if_omitted: u64,
    /// The estimate summed over every WebSocket flow (listed or not).
    pub what_if_total: WhatIfTotal,
    /// Distinct TCP flows skipped because of the port filter.
    pub flows_skipped_by_port: u64,
    /// Distinct TCP flows not analyzed for lack of room: the flow table was full
    /// (`--max-flows`) or the memory budget could not hold them (`--memory`).
    pub flows_refused_by_cap: u64,
    /// Of [`RunStats::flows_refused_by_cap`], those the memory budget could not hold.
    pub flows_refused_by_budget: u64,
    /// Odd records in the input files (zero-length, fraction overflow, time going backwards).
    pub record_notes: crate::source::RecordNotes,
    /// First and last capture timestamps (ns), for the duration line.
    pub first_ts: Option<crate::time::Timestamp>,
    pub last_ts: Option<crate::time::Timestamp>,
}

impl RunStats {
    pub fn on_packet(&mut self, ts: crate::time::Timestamp) {
        self.packets += 1;
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = Some(ts);
    }

    pub fn on_skip(&mut self, reason: &'static str) {
        *self.skipped_packets.entry(reason).or_default() += 1;
    }

    pub fn on_anomaly(&mut self, code: Code) {
        *self.anomalies.entry(code).or_default() += 1;
    }

    pub fn on_flow_closed(&mut self, meta: &FlowMeta, s: &FlowSummary) {
        let kind = s.kind.unwrap_or(FlowKind::Other);
        self.flows += 1;
        *self.kinds.entry(kind).or_default() += 1;
        self.overhead
            .entry(kind)
            .or_default()
            .add(&Overhead::of_flow(meta, s));
        if let Some(w) = WhatIf::of_flow(meta, s) {
            let t = &mut self.what_if_total;
            t.flows += 1;
            t.messages += w.messages;
            t.actual_l7_header_bytes += w.actual_l7_header_bytes;
            t.http_l7_header_bytes += w.http_l7_header_bytes;
            if self.what_if.len() < WHAT_IF_ROWS_CAP {
                self.what_if.push(w);
            } else {
                self.what_if_omitted += 1;
            }
        }
    }

    /// Sum over all kinds.
    pub fn total_overhead(&self) -> Overhead {
        let mut t = Overhead::default();
        for o in self.overhead.values() {
            t.add(o);
        }
        t
    }

    /// Error-severity anomalies seen (what makes `check` fail).
    pub fn errors(&self) -> u64 {
        self.anomalies
            .iter()
            .filter(|(c, _)| c.severity() == crate::model::Severity::Error)
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::RoleBasis;
    use crate::time::Timestamp;
    use std::net::SocketAddr;

    fn meta() -> FlowMeta {
        FlowMeta {
            packets: 10,
            tcpip_header_bytes: [320, 280],
            fin_seen: [true, true],
            ..FlowMeta::new(
                1,
                SocketAddr::from(([10, 0, 0, 1], 50000)),
                SocketAddr::from(([10, 0, 0, 2], 80)),
                RoleBasis::Syn,
                Timestamp(0),
            )
        }
    }

    #[test]
    fn websocket_flow_counts_data_messages_not_the_handshake() {
        let s = FlowSummary {
            kind: Some(FlowKind::WebSocket),
            http_messages: 2,
            ws_messages: 4,
            ws_frames: 6,
            handshake_complete: true,
            upgrade_request_bytes: 200,
            upgrade_response_bytes: 130,
            l7_header_bytes: [200 + 4 * 6, 130 + 2 * 2],
            l7_payload_bytes: [40, 30],
            ..FlowSummary::default()
        };
        let o = Overhead::of_flow(&meta(), &s);
        assert_eq!(o.messages, 4);
        assert_eq!(o.l7_header_bytes, 358);
        assert_eq!(o.payload_bytes, 70);
        assert_eq!(o.tcpip_header_bytes, 600);
        let w = WhatIf::of_flow(&meta(), &s).unwrap();
        assert_eq!(w.http_l7_header_bytes, 4 * 330);
        assert_eq!(w.actual_l7_header_bytes, 358);
    }

    #[test]
    fn overhead_pct_needs_payload() {
        let mut o = Overhead {
            l7_header_bytes: 50,
            ..Overhead::default()
        };
        assert_eq!(o.overhead_pct(), None);
        o.payload_bytes = 200;
        assert_eq!(o.overhead_pct(), Some(25.0));
    }
}
