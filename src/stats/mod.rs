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
pub mod zstats;

pub use record::SummaryRecord;

use crate::model::{Code, FlowKind, FlowSummary};
use crate::tcp::{FlowId, FlowMeta};
use std::collections::BTreeMap;

/// Totals for one flow kind (or for all flows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overhead {
    pub flows: u64,
    pub messages: u64,
    pub packets: u64,
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
            packets: meta.packets,
            payload_bytes: s.l7_payload_bytes.iter().sum(),
            l7_header_bytes: s.l7_header_bytes.iter().sum(),
            tcpip_header_bytes: meta.tcpip_header_bytes.iter().sum(),
            tls_bytes: s.tls.as_ref().map_or(0, |t| t.overhead(0) + t.overhead(1)),
        }
    }

    pub fn add(&mut self, o: &Overhead) {
        self.flows += o.flows;
        self.messages += o.messages;
        self.packets += o.packets;
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

    /// TCP/IP header bytes per packet; `None` without packets.
    pub fn tcpip_bytes_per_packet(&self) -> Option<f64> {
        (self.packets > 0).then(|| self.tcpip_header_bytes as f64 / self.packets as f64)
    }

    /// L7 header bytes per message; `None` without messages.
    pub fn header_bytes_per_message(&self) -> Option<f64> {
        (self.messages > 0).then(|| self.l7_header_bytes as f64 / self.messages as f64)
    }
}

/// Messages of a flow as the overhead table counts them (see the module doc).
pub fn flow_messages(s: &FlowSummary) -> u64 {
    s.data_messages().iter().sum()
}

/// How a WebSocket flow's messages are sent in the "what if over HTTP" comparison: as
/// captured, and by each HTTP alternative for the server's messages (the client's are requests
/// in all of them). The order is the table's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Carrier {
    /// The flow as captured: its handshake and every frame header.
    WebSocket,
    /// The client asks every `--poll-interval` seconds; empty polls are answered too.
    ShortPolling,
    /// The client asks once per server message; the server answers when it has one.
    LongPolling,
    /// One event stream (one GET, one response) carrying each server message as an event.
    Sse,
}

impl Carrier {
    pub const ALL: [Carrier; 4] = [
        Carrier::WebSocket,
        Carrier::ShortPolling,
        Carrier::LongPolling,
        Carrier::Sse,
    ];

    /// The name JSON uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::WebSocket => "websocket",
            Carrier::ShortPolling => "short_polling",
            Carrier::LongPolling => "long_polling",
            Carrier::Sse => "sse",
        }
    }
}

/// What one way of sending a flow's messages costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// HTTP requests (WebSocket: the upgrade).
    pub requests: u64,
    /// L7 header bytes: heads, framing, frame headers.
    pub l7_header_bytes: u64,
    /// Packets, estimated the same way for every carrier: one per HTTP message, SSE event or
    /// WebSocket frame (ACKs and the TCP handshake not counted).
    pub packets: u64,
}

impl Cost {
    fn add(&mut self, o: &Cost) {
        self.requests += o.requests;
        self.l7_header_bytes += o.l7_header_bytes;
        self.packets += o.packets;
    }
}

/// Where the heads an estimate uses come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadSource {
    /// The flow's own plain HTTP requests and responses (their mean sizes).
    Flow,
    /// Its upgrade request and 101, without their WebSocket headers.
    Upgrade,
}

impl HeadSource {
    pub fn as_str(self) -> &'static str {
        match self {
            HeadSource::Flow => "flow",
            HeadSource::Upgrade => "upgrade",
        }
    }
}

/// `HTTP/1.1 200 OK` and CRLF.
const STATUS_200: u64 = 17;
/// `HTTP/1.1 204 No Content` and CRLF.
const STATUS_204: u64 = 25;
/// What an event stream's response head adds: `Content-Type: text/event-stream` and
/// `Transfer-Encoding: chunked`, each with CRLF.
const SSE_HEAD_EXTRA: u64 = 33 + 28;
/// The last chunk of a chunked body: `0`, CRLF, CRLF.
const LAST_CHUNK: u64 = 5;

/// The "what if over HTTP" comparison for one WebSocket flow (docs/overhead.md): its messages
/// as captured, and the same messages over HTTP — the client's as requests (POST, answered by a
/// minimal 204), the server's by short polling, long polling or Server-Sent Events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WhatIf {
    pub flow: FlowId,
    /// Data messages, client→server and server→client.
    pub messages: [u64; 2],
    pub head_source: HeadSource,
    /// The request head (a GET; a POST is one byte longer), the response head carrying a
    /// message (without its `Content-Length` line) and the minimal response head (a 204).
    pub request_head: u64,
    pub response_head: u64,
    pub minimal_response_head: u64,
    /// Seconds from the handshake to the flow's last packet, and the poll interval.
    pub duration: f64,
    pub poll_interval: f64,
    /// The flow's TCP/IP header bytes per packet, to price the packets of each carrier.
    pub tcpip_per_packet: f64,
    /// What each carrier costs, in [`Carrier::ALL`] order.
    pub costs: [Cost; 4],
}

impl WhatIf {
    pub fn of_flow(meta: &FlowMeta, s: &FlowSummary, poll_interval: f64) -> Option<WhatIf> {
        if s.kind != Some(FlowKind::WebSocket) || !s.handshake_complete {
            return None;
        }
        let p = &s.pricing;
        let [n_c, n_s] = s.data_messages();
        let mean = |(bytes, n): (u64, u64)| bytes.checked_div(n);
        let (head_source, get, post, resp, minimal) =
            match (mean(p.plain_heads[0]), mean(p.plain_heads[1])) {
                (Some(req), Some(resp)) => (HeadSource::Flow, req, req, resp, resp),
                _ => {
                    let rest = p.upgrade_heads[1].saturating_sub(p.status_line_101);
                    let req = p.upgrade_heads[0];
                    (
                        HeadSource::Upgrade,
                        req,
                        req + 1,
                        rest + STATUS_200,
                        rest + STATUS_204,
                    )
                }
            };
        let since = p.since.unwrap_or(meta.first_ts);
        let duration = meta.last_ts.secs_since(since).max(0.0);
        let polls = (duration / poll_interval).floor() as u64 + 1;
        let busy = p.busy_polls.min(polls);
        let [cl_c, cl_s] = p.content_length_bytes;
        // The client's messages, the same in every HTTP alternative.
        let client = n_c * (post + minimal) + cl_c;
        let websocket = Cost {
            requests: 1,
            l7_header_bytes: s.l7_header_bytes.iter().sum(),
            packets: 2 + s.ws_frames,
        };
        let short = Cost {
            requests: n_c + polls,
            l7_header_bytes: client + polls * get + busy * resp + (polls - busy) * minimal + cl_s,
            packets: 2 * (n_c + polls),
        };
        let long = Cost {
            requests: n_c + n_s,
            l7_header_bytes: client + n_s * (get + resp) + cl_s,
            packets: 2 * (n_c + n_s),
        };
        let sse = Cost {
            requests: n_c + 1,
            l7_header_bytes: client
                + get
                + resp
                + SSE_HEAD_EXTRA
                + p.sse_framing_bytes
                + LAST_CHUNK,
            packets: 2 * (n_c + 1) + n_s,
        };
        let tcpip: u64 = meta.tcpip_header_bytes.iter().sum();
        Some(WhatIf {
            flow: meta.id,
            messages: [n_c, n_s],
            head_source,
            request_head: get,
            response_head: resp,
            minimal_response_head: minimal,
            duration,
            poll_interval,
            tcpip_per_packet: if meta.packets > 0 {
                tcpip as f64 / meta.packets as f64
            } else {
                0.0
            },
            costs: [websocket, short, long, sse],
        })
    }

    pub fn cost(&self, c: Carrier) -> &Cost {
        &self.costs[c as usize]
    }

    /// L7 header bytes the flow spent as captured.
    pub fn actual_l7_header_bytes(&self) -> u64 {
        self.cost(Carrier::WebSocket).l7_header_bytes
    }

    /// How many times WebSocket's header bytes carrier `c` would cost; `None` when WebSocket
    /// spent none.
    pub fn ratio(&self, c: Carrier) -> Option<f64> {
        ratio(self.cost(c).l7_header_bytes, self.actual_l7_header_bytes())
    }

    /// Estimated TCP/IP header bytes of carrier `c`'s packets.
    pub fn tcpip_header_bytes(&self, c: Carrier) -> u64 {
        (self.cost(c).packets as f64 * self.tcpip_per_packet).round() as u64
    }
}

/// A ratio as printed, one decimal: what JSON writes, so that it says what the text says
/// (`format!` rounds the exact binary value: 1.45 is 1.4499… and prints 1.4).
pub fn shown_ratio(r: f64) -> f64 {
    format!("{r:.1}").parse().unwrap_or(r)
}

/// `a / b`, `None` when `b` is 0.
pub fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// What a ratio against WebSocket says, as the text and the docs word it: "8.8× as many header
/// bytes", "HTTP would be cheaper here (0.9×)", "about as many (1.0×)". Rounded as printed, so
/// that the words agree with the digits.
pub fn ratio_words(r: f64) -> String {
    let shown = format!("{r:.1}");
    let r = shown_ratio(r);
    match shown.as_str() {
        "1.0" => "about as many (1.0×)".to_string(),
        _ if r < 1.0 => format!("HTTP would be cheaper here ({shown}×)"),
        _ => format!("{shown}× as many header bytes"),
    }
}

/// The "what if over HTTP" comparison summed over flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WhatIfTotal {
    pub flows: u64,
    pub messages: [u64; 2],
    pub costs: [Cost; 4],
}

impl WhatIfTotal {
    fn add(&mut self, w: &WhatIf) {
        self.flows += 1;
        self.messages[0] += w.messages[0];
        self.messages[1] += w.messages[1];
        for (t, c) in self.costs.iter_mut().zip(&w.costs) {
            t.add(c);
        }
    }
}

/// What-if rows kept for the report and the JSON summary (each row prices four carriers);
/// beyond this only the totals grow. The text shows 10, the HTML page 30.
pub const WHAT_IF_ROWS_CAP: usize = 200;

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
    /// The interval short polling is priced at, seconds (`--poll-interval`).
    pub poll_interval: f64,
    /// tshark's `-z io,stat` and `-z conv,tcp`, when asked for.
    pub z: zstats::ZTally,
    /// Distinct TCP flows skipped because of the port filter.
    pub flows_skipped_by_port: u64,
    /// Distinct TCP flows not analyzed for lack of room: the flow table was full
    /// (`--max-flows`) or the memory budget could not hold them (`--memory`).
    pub flows_refused_by_cap: u64,
    /// Of [`RunStats::flows_refused_by_cap`], those the memory budget could not hold.
    pub flows_refused_by_budget: u64,
    /// Closed flows finalised before their linger was over, to make room (the memory budget,
    /// or a full table for a flow a RST closed).
    pub closed_flows_finalised_early: u64,
    /// TCP packets on analyzed ports that belonged to no flow: late packets of a finalised
    /// flow, RSTs of connections not tracked.
    pub stray_packets: u64,
    /// Odd records in the input files (zero-length, fraction overflow, time going backwards).
    pub record_notes: crate::source::RecordNotes,
    /// A live capture's kernel counters when it stopped (received, dropped, ring full).
    pub kernel: Option<crate::source::KernelStats>,
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
        let kind = s.closed_kind();
        self.flows += 1;
        *self.kinds.entry(kind).or_default() += 1;
        self.overhead
            .entry(kind)
            .or_default()
            .add(&Overhead::of_flow(meta, s));
        if let Some(w) = WhatIf::of_flow(meta, s, self.poll_interval) {
            self.what_if_total.add(&w);
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
            // The upgrade request and the 101, then two data messages each way.
            messages: [3, 3],
            ..FlowSummary::default()
        };
        let o = Overhead::of_flow(&meta(), &s);
        assert_eq!(o.messages, 4);
        assert_eq!(o.l7_header_bytes, 358);
        assert_eq!(o.payload_bytes, 70);
        assert_eq!(o.tcpip_header_bytes, 600);
        let mut s = s;
        // Heads without their WebSocket headers: a 100-byte GET, a 101 of 80 bytes whose
        // status line is 34; two 3-byte messages each way, all within the first poll.
        s.pricing = crate::model::HttpPricing {
            upgrade_heads: [100, 80],
            status_line_101: 34,
            content_length_bytes: [2 * 19, 2 * 19],
            sse_framing_bytes: 2 * (8 + 1 + 4),
            busy_polls: 1,
            ..Default::default()
        };
        let w = WhatIf::of_flow(&meta(), &s, 1.0).unwrap();
        assert_eq!(w.head_source, HeadSource::Upgrade);
        assert_eq!(w.messages, [2, 2]);
        let (ok, no_content) = (80 - 34 + 17, 80 - 34 + 25);
        let client = 2 * (101 + no_content) + 38;
        assert_eq!(w.actual_l7_header_bytes(), 358);
        assert_eq!(
            w.cost(Carrier::LongPolling).l7_header_bytes,
            client + 2 * (100 + ok) + 38
        );
        assert_eq!(
            w.cost(Carrier::ShortPolling).l7_header_bytes,
            client + 100 + ok + 38
        );
        assert_eq!(w.cost(Carrier::ShortPolling).requests, 2 + 1);
        assert_eq!(
            w.cost(Carrier::Sse).l7_header_bytes,
            client + 100 + ok + 61 + 26 + 5
        );
        // The same flow, 10 s long: ten empty polls more, each a GET and a 204.
        let long = FlowMeta {
            last_ts: Timestamp(10_000_000_000),
            ..meta()
        };
        let w10 = WhatIf::of_flow(&long, &s, 1.0).unwrap();
        assert_eq!(
            w10.cost(Carrier::ShortPolling).l7_header_bytes,
            w.cost(Carrier::ShortPolling).l7_header_bytes + 10 * (100 + no_content)
        );
        assert_eq!(w10.cost(Carrier::ShortPolling).requests, 2 + 11);
    }

    #[test]
    fn ratios_are_worded_as_printed() {
        assert_eq!(ratio_words(8.8), "8.8× as many header bytes");
        assert_eq!(ratio_words(0.94), "HTTP would be cheaper here (0.9×)");
        assert_eq!(ratio_words(0.96), "about as many (1.0×)");
        assert_eq!(ratio_words(1.04), "about as many (1.0×)");
        assert_eq!(ratio_words(1.05), "1.1× as many header bytes");
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
