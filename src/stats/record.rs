//! The `summary` JSON record: the run's totals, the last line of `--json`.

use crate::model::flow::round3;
use crate::model::json::ts;
use crate::stats::{Carrier, RunStats, WhatIf, shown_ratio};
use crate::tcp::FlowId;
use crate::time::Timestamp;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

#[derive(Serialize)]
struct OverheadRow {
    kind: &'static str,
    flows: u64,
    messages: u64,
    payload_bytes: u64,
    l7_header_bytes: u64,
    tcpip_header_bytes: u64,
    overhead_pct: Option<f64>,
    packets: u64,
    tcpip_bytes_per_packet: Option<f64>,
    /// Only when TLS added bytes (the rows of runs without TLS are as they were).
    #[serde(skip_serializing_if = "is_zero")]
    tls_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct WhatIfRow {
    flow: FlowId,
    messages: u64,
    actual_l7_header_bytes: u64,
    http_l7_header_bytes: u64,
    messages_c2s: u64,
    messages_s2c: u64,
    head_source: &'static str,
    request_head_bytes: u64,
    response_head_bytes: u64,
    minimal_response_head_bytes: u64,
    duration: f64,
    poll_interval: f64,
    tcpip_bytes_per_packet: f64,
    carriers: Vec<CarrierRow>,
}

#[derive(Serialize)]
struct CarrierRow {
    carrier: &'static str,
    requests: u64,
    l7_header_bytes: u64,
    ratio: Option<f64>,
    packets: u64,
    tcpip_header_bytes: u64,
}

impl WhatIfRow {
    fn new(w: &WhatIf) -> WhatIfRow {
        WhatIfRow {
            flow: w.flow,
            messages: w.messages[0] + w.messages[1],
            actual_l7_header_bytes: w.actual_l7_header_bytes(),
            http_l7_header_bytes: w.cost(Carrier::LongPolling).l7_header_bytes,
            messages_c2s: w.messages[0],
            messages_s2c: w.messages[1],
            head_source: w.head_source.as_str(),
            request_head_bytes: w.request_head,
            response_head_bytes: w.response_head,
            minimal_response_head_bytes: w.minimal_response_head,
            duration: round6(w.duration),
            poll_interval: w.poll_interval,
            tcpip_bytes_per_packet: round3(w.tcpip_per_packet),
            carriers: Carrier::ALL
                .into_iter()
                .map(|c| CarrierRow {
                    carrier: c.as_str(),
                    requests: w.cost(c).requests,
                    l7_header_bytes: w.cost(c).l7_header_bytes,
                    // As the text prints it: one decimal.
                    ratio: w.ratio(c).map(shown_ratio),
                    packets: w.cost(c).packets,
                    tcpip_header_bytes: w.tcpip_header_bytes(c),
                })
                .collect(),
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[derive(Serialize)]
struct RecordNotesRow {
    zero_length: u64,
    fraction_overflow: u64,
    backwards: u64,
}

#[derive(Serialize)]
struct KernelRow {
    received: u64,
    dropped: u64,
    ring_full: u64,
}

#[derive(Serialize)]
pub struct SummaryRecord<'a> {
    r#type: &'static str,
    packets: u64,
    flows: u64,
    kinds: BTreeMap<&'static str, u64>,
    overhead: Vec<OverheadRow>,
    anomalies: BTreeMap<&'static str, u64>,
    what_if: Vec<WhatIfRow>,
    skipped_flows: u64,
    refused_flows: u64,
    refused_flows_by_budget: u64,
    closed_flows_finalised_early: u64,
    stray_packets: u64,
    skipped_packets: &'a BTreeMap<&'static str, u64>,
    record_notes: RecordNotesRow,
    kernel: Option<KernelRow>,
    #[serde(serialize_with = "opt_ts")]
    first_ts: Option<Timestamp>,
    #[serde(serialize_with = "opt_ts")]
    last_ts: Option<Timestamp>,
}

fn opt_ts<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ts(t, s),
        None => s.serialize_none(),
    }
}

impl RunStats {
    /// The run's `summary` record.
    pub fn record(&self) -> SummaryRecord<'_> {
        let stats = self;
        SummaryRecord {
            r#type: "summary",
            packets: stats.packets,
            flows: stats.flows,
            kinds: stats.kinds.iter().map(|(k, n)| (k.as_str(), *n)).collect(),
            overhead: stats
                .overhead
                .iter()
                .map(|(k, o)| OverheadRow {
                    kind: k.as_str(),
                    flows: o.flows,
                    messages: o.messages,
                    payload_bytes: o.payload_bytes,
                    l7_header_bytes: o.l7_header_bytes,
                    tcpip_header_bytes: o.tcpip_header_bytes,
                    overhead_pct: o.overhead_pct().map(round3),
                    packets: o.packets,
                    tcpip_bytes_per_packet: o.tcpip_bytes_per_packet().map(round3),
                    tls_bytes: o.tls_bytes,
                })
                .collect(),
            anomalies: stats
                .anomalies
                .iter()
                .map(|(c, n)| (c.as_str(), *n))
                .collect(),
            what_if: stats.what_if.iter().map(WhatIfRow::new).collect(),
            skipped_flows: stats.flows_skipped_by_port,
            refused_flows: stats.flows_refused_by_cap,
            refused_flows_by_budget: stats.flows_refused_by_budget,
            closed_flows_finalised_early: stats.closed_flows_finalised_early,
            stray_packets: stats.stray_packets,
            skipped_packets: &stats.skipped_packets,
            record_notes: RecordNotesRow {
                zero_length: stats.record_notes.zero_length,
                fraction_overflow: stats.record_notes.fraction_overflow,
                backwards: stats.record_notes.backwards,
            },
            kernel: stats.kernel.map(|k| KernelRow {
                received: k.received,
                dropped: k.dropped,
                ring_full: k.freezes,
            }),
            first_ts: stats.first_ts,
            last_ts: stats.last_ts,
        }
    }
}
