//! JSON Lines (`--json`): one record per line, exactly as CONTRACT.md specifies, in the order
//! the analyzer learns things; a flow's `flow` record follows all its other records and
//! `summary` is the last line. docs/schema.json describes every record type.
//!
//! Values are exact. Strings are written by [`write_json`], which also writes as `\uXXXX` the
//! characters a terminal would act on or hide (those [`escape::is_safe`] refuses: DEL, C1, bidi
//! and invisible format characters; serde already escapes C0), so that `--json` on a terminal is
//! as safe as the text views while every parser reads back the very same text.

use crate::proto::{Anomaly, Event, EventCtx, EventSink, FlowKind, HttpHead, OpCode};
use crate::report::gate::{KindGate, Verdict};
use crate::report::{IoState, Reporter, escape, preview};
use crate::stats::RunStats;
use crate::tcp::{CloseHow, Dir, FlowId};
use crate::time::Timestamp;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use std::collections::BTreeMap;
use std::io::Write;

/// serde_json's compact form, with terminal-unsafe characters written as `\uXXXX` escapes.
struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if fragment.bytes().all(|b| b < 0x7f) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if !escape::is_safe(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Writes `value` as one line of compact JSON (no newline), safe for a terminal, exact for a
/// parser.
pub fn write_json<W: std::io::Write, T: Serialize + ?Sized>(
    w: W,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(w, TerminalSafe))
}

/// `value` as one line of compact JSON, as [`write_json`] writes it.
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    // Serializing to memory fails only for maps with non-string keys, which no record has.
    let _ = write_json(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

/// Timestamps as seconds with microsecond precision (a JSON number).
pub(crate) fn ts<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts_secs(*t))
}

/// A record's `ts`: seconds since the epoch, to the microsecond.
pub(crate) fn ts_secs(t: Timestamp) -> f64 {
    t.as_nanos().div_euclid(1_000) as f64 / 1e6
}

fn opt_ts<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ts(t, s),
        None => s.serialize_none(),
    }
}

/// Header list as `[[name, value], ...]`, values decoded leniently.
struct Headers<'a>(&'a [crate::proto::Header<'a>]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for h in self.0 {
            seq.serialize_element(&(h.name, String::from_utf8_lossy(h.value)))?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct HttpRecord<'a> {
    r#type: &'static str,
    flow: FlowId,
    dir: &'static str,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    frame: Option<u64>,
    kind: &'static str,
    method: Option<&'a str>,
    target: Option<&'a str>,
    version: String,
    status: Option<u16>,
    reason: Option<&'a str>,
    headers: Headers<'a>,
    header_bytes: u64,
    body_bytes: u64,
    framing_bytes: u64,
    chunked: bool,
    upgrade: Option<&'a str>,
    complete: bool,
    preview: String,
    /// `--digest` only: the body's SHA-256, `null` when bytes of it are missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<Option<String>>,
}

#[derive(Serialize)]
struct HandshakeRecord<'a> {
    r#type: &'static str,
    flow: FlowId,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    key: Option<&'a str>,
    accept: Option<&'a str>,
    expected_accept: Option<&'a str>,
    accept_valid: bool,
    version: Option<&'a str>,
    subprotocol: Option<&'a str>,
    extensions: &'a [String],
    deflate: bool,
    origin: Option<&'a str>,
}

#[derive(Serialize)]
struct FrameRecord<'a> {
    r#type: &'static str,
    flow: FlowId,
    dir: &'static str,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    frame: Option<u64>,
    fin: bool,
    rsv1: bool,
    rsv2: bool,
    rsv3: bool,
    opcode: std::borrow::Cow<'static, str>,
    opcode_num: u8,
    masked: bool,
    mask: Option<String>,
    payload_len: u64,
    header_len: usize,
    close_code: Option<u16>,
    close_reason: Option<std::borrow::Cow<'a, str>>,
    preview: String,
}

#[derive(Serialize)]
struct MessageRecord {
    r#type: &'static str,
    flow: FlowId,
    dir: &'static str,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    opcode: std::borrow::Cow<'static, str>,
    frames: u32,
    wire_len: u64,
    len: u64,
    compressed: bool,
    valid_utf8: Option<bool>,
    preview: String,
    /// `--digest` only: the message's SHA-256, `null` when bytes of it are missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<Option<String>>,
}

#[derive(Serialize)]
struct SseRecord<'a> {
    r#type: &'static str,
    flow: FlowId,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    event: Option<&'a str>,
    id: Option<&'a str>,
    preview: String,
}

#[derive(Serialize)]
struct AnomalyRecord<'a> {
    r#type: &'static str,
    flow: Option<FlowId>,
    dir: Option<&'static str>,
    #[serde(serialize_with = "ts")]
    ts: Timestamp,
    frame: Option<u64>,
    severity: &'static str,
    code: &'static str,
    detail: &'a str,
}

#[derive(Serialize)]
struct FlowRecord {
    r#type: &'static str,
    id: FlowId,
    client: String,
    server: String,
    kind: &'static str,
    #[serde(serialize_with = "ts")]
    first_ts: Timestamp,
    #[serde(serialize_with = "ts")]
    last_ts: Timestamp,
    packets: u64,
    bytes_c2s: u64,
    bytes_s2c: u64,
    ws_frames: u64,
    ws_messages: u64,
    http_messages: u64,
    sse_events: u64,
    polling: bool,
    anomalies: u64,
    handshake_complete: bool,
    closed: Option<&'static str>,
    end: &'static str,
    gaps: u64,
    ping_rtt_ms: Option<f64>,
}

#[derive(Serialize)]
struct OverheadRow {
    kind: &'static str,
    flows: u64,
    messages: u64,
    payload_bytes: u64,
    l7_header_bytes: u64,
    tcpip_header_bytes: u64,
    overhead_pct: Option<f64>,
}

#[derive(Serialize)]
struct WhatIfRow {
    flow: FlowId,
    messages: u64,
    actual_l7_header_bytes: u64,
    http_l7_header_bytes: u64,
}

#[derive(Serialize)]
struct RecordNotesRow {
    zero_length: u64,
    fraction_overflow: u64,
    backwards: u64,
}

#[derive(Serialize)]
struct SummaryRecord<'a> {
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
    skipped_packets: &'a BTreeMap<&'static str, u64>,
    record_notes: RecordNotesRow,
    #[serde(serialize_with = "opt_ts")]
    first_ts: Option<Timestamp>,
    #[serde(serialize_with = "opt_ts")]
    last_ts: Option<Timestamp>,
}

/// The optional `sha256` field: absent without `--digest`, `null` for an incomplete payload.
fn digest_field(d: &crate::proto::Digest) -> Option<Option<String>> {
    match d {
        crate::proto::Digest::Off => None,
        d => Some(d.hex()),
    }
}

fn version(v: u8) -> String {
    format!("HTTP/1.{v}")
}

/// Rounds to 3 decimals so that percentages print tidily.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn payload_preview(bytes: &[u8], as_text: bool, max: usize) -> String {
    let mut s = String::new();
    if as_text {
        preview::json_text(bytes, max, &mut s);
    } else {
        preview::hex(bytes, max, &mut s);
    }
    s
}

pub fn close_name(how: CloseHow) -> (Option<&'static str>, &'static str) {
    match how {
        CloseHow::Fin => (Some("fin"), "fin"),
        CloseHow::Rst => (Some("rst"), "rst"),
        CloseHow::Idle => (None, "idle"),
        CloseHow::EndOfInput => (None, "eof"),
        CloseHow::Evicted => (None, "evicted"),
    }
}

/// Mean of a list, `None` when empty.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The JSON Lines printer.
pub struct JsonPrinter<W: Write> {
    out: W,
    io: IoState,
    preview: usize,
    gate: Option<KindGate>,
    line: Vec<u8>,
    release: Vec<u8>,
}

impl<W: Write> JsonPrinter<W> {
    pub fn new(out: W, preview: usize, kind: Option<FlowKind>) -> Self {
        JsonPrinter {
            out,
            io: IoState::default(),
            preview,
            gate: kind.map(KindGate::new),
            line: Vec::with_capacity(512),
            release: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn record<T: Serialize>(&mut self, flow: Option<FlowId>, event: Option<&Event<'_>>, rec: &T) {
        if self.io.failed {
            return;
        }
        self.line.clear();
        if write_json(&mut self.line, rec).is_err() {
            return;
        }
        self.line.push(b'\n');
        if let (Some(gate), Some(flow), Some(event)) = (&mut self.gate, flow, event) {
            self.release.clear();
            match gate.check(flow, event, &mut self.release) {
                Verdict::Pass => {
                    let r = self.out.write_all(&self.release);
                    self.io.record(r);
                }
                Verdict::Drop => return,
                Verdict::Hold => {
                    gate.hold(flow, &self.line, &mut self.release);
                    let r = self.out.write_all(&self.release);
                    self.io.record(r);
                    return;
                }
            }
        }
        let r = self.out.write_all(&self.line);
        self.io.record(r);
    }

    fn anomaly_record(
        &mut self,
        flow: Option<FlowId>,
        a: &Anomaly,
        frame: Option<u64>,
        ev: Option<&Event<'_>>,
    ) {
        let rec = AnomalyRecord {
            r#type: "anomaly",
            flow,
            dir: a.dir.map(Dir::as_str),
            ts: a.ts,
            frame,
            severity: a.code.severity().as_str(),
            code: a.code.as_str(),
            detail: &a.detail,
        };
        self.record(flow, ev, &rec);
    }
}

impl<W: Write> EventSink for JsonPrinter<W> {
    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.anomaly_record(None, anomaly, Some(frame), None);
    }

    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        let frame = ctx.pkt.map(|p| p.frame);
        match event {
            Event::FlowOpened | Event::HttpHead(_) => {
                // Decides nothing for the gate but may prove the flow's kind (SSE head).
                if let Some(gate) = &mut self.gate {
                    self.release.clear();
                    if gate.check(flow, &event, &mut self.release) == Verdict::Pass {
                        let r = self.out.write_all(&self.release);
                        self.io.record(r);
                    }
                }
            }
            Event::Http(m) => {
                let (kind, method, target, v, status, reason) = match m.head {
                    HttpHead::Request {
                        method,
                        target,
                        version,
                    } => ("request", Some(method), Some(target), version, None, None),
                    HttpHead::Response {
                        version,
                        status,
                        reason,
                    } => ("response", None, None, version, Some(status), Some(reason)),
                };
                let text = !m.body_head.is_empty() && std::str::from_utf8(m.body_head).is_ok();
                let rec = HttpRecord {
                    r#type: "http",
                    flow,
                    dir: m.dir.as_str(),
                    ts: m.ts,
                    frame,
                    kind,
                    method,
                    target,
                    version: version(v),
                    status,
                    reason,
                    headers: Headers(m.headers),
                    header_bytes: m.header_bytes,
                    body_bytes: m.body_bytes,
                    framing_bytes: m.framing_bytes,
                    chunked: m.chunked,
                    upgrade: m.upgrade,
                    complete: m.complete,
                    preview: payload_preview(m.body_head, text, self.preview),
                    sha256: digest_field(&m.digest),
                };
                self.record(Some(flow), Some(&event), &rec);
            }
            Event::Handshake(h) => {
                let rec = HandshakeRecord {
                    r#type: "handshake",
                    flow,
                    ts: h.ts,
                    key: h.key.as_deref(),
                    accept: h.accept.as_deref(),
                    expected_accept: h.expected_accept.as_deref(),
                    accept_valid: h.accept_valid,
                    version: h.version.as_deref(),
                    subprotocol: h.subprotocol.as_deref(),
                    extensions: &h.extensions,
                    deflate: h.deflate.is_some(),
                    origin: h.origin.as_deref(),
                };
                self.record(Some(flow), Some(&event), &rec);
            }
            Event::WsFrame(f) => {
                let text = matches!(f.opcode, OpCode::Text | OpCode::Close)
                    || (f.opcode == OpCode::Continuation
                        && std::str::from_utf8(f.payload_head).is_ok());
                let body = if f.opcode == OpCode::Close {
                    f.close_reason.unwrap_or_default()
                } else {
                    f.payload_head
                };
                let rec = FrameRecord {
                    r#type: "ws_frame",
                    flow,
                    dir: f.dir.as_str(),
                    ts: f.ts,
                    frame,
                    fin: f.fin,
                    rsv1: f.rsv1,
                    rsv2: f.rsv2,
                    rsv3: f.rsv3,
                    opcode: f.opcode.name(),
                    opcode_num: f.opcode.as_u8(),
                    masked: f.mask.is_some(),
                    mask: f
                        .mask
                        .map(|m| format!("{:02x}{:02x}{:02x}{:02x}", m[0], m[1], m[2], m[3])),
                    payload_len: f.payload_len,
                    header_len: f.header.len(),
                    close_code: f.close_code,
                    close_reason: f.close_reason.map(String::from_utf8_lossy),
                    preview: payload_preview(body, text && !f.rsv1, self.preview),
                };
                self.record(Some(flow), Some(&event), &rec);
            }
            Event::WsMessage(m) => {
                let rec = MessageRecord {
                    r#type: "ws_message",
                    flow,
                    dir: m.dir.as_str(),
                    ts: m.ts,
                    opcode: m.opcode.name(),
                    frames: m.frames,
                    wire_len: m.wire_len,
                    len: m.len,
                    compressed: m.compressed,
                    valid_utf8: m.valid_utf8,
                    preview: payload_preview(m.data_head, m.opcode == OpCode::Text, self.preview),
                    sha256: digest_field(&m.digest),
                };
                self.record(Some(flow), Some(&event), &rec);
            }
            Event::Sse(e) => {
                let rec = SseRecord {
                    r#type: "sse_event",
                    flow,
                    ts: e.ts,
                    event: e.event,
                    id: e.id,
                    preview: payload_preview(e.data, true, self.preview),
                };
                self.record(Some(flow), Some(&event), &rec);
            }
            Event::Anomaly(a) => self.anomaly_record(Some(flow), a, frame, Some(&event)),
            Event::FlowClosed { how, summary } => {
                let m = ctx.flow;
                let (closed, end) = close_name(how);
                let rec = FlowRecord {
                    r#type: "flow",
                    id: m.id,
                    client: m.client.to_string(),
                    server: m.server.to_string(),
                    kind: summary.kind.unwrap_or(FlowKind::Other).as_str(),
                    first_ts: m.first_ts,
                    last_ts: m.last_ts,
                    packets: m.packets,
                    bytes_c2s: m.payload_bytes[0],
                    bytes_s2c: m.payload_bytes[1],
                    ws_frames: summary.ws_frames,
                    ws_messages: summary.ws_messages,
                    http_messages: summary.http_messages,
                    sse_events: summary.sse_events,
                    polling: summary.polling,
                    anomalies: summary.anomalies,
                    handshake_complete: summary.handshake_complete,
                    closed,
                    end,
                    gaps: m.gap_bytes[0] + m.gap_bytes[1],
                    ping_rtt_ms: mean(&summary.ping_rtts).map(|s| round3(s * 1e3)),
                };
                self.record(Some(flow), Some(&event), &rec);
            }
        }
    }
}

impl<W: Write> Reporter for JsonPrinter<W> {
    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        let rec = SummaryRecord {
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
                })
                .collect(),
            anomalies: stats
                .anomalies
                .iter()
                .map(|(c, n)| (c.as_str(), *n))
                .collect(),
            what_if: stats
                .what_if
                .iter()
                .map(|w| WhatIfRow {
                    flow: w.flow,
                    messages: w.messages,
                    actual_l7_header_bytes: w.actual_l7_header_bytes,
                    http_l7_header_bytes: w.http_l7_header_bytes,
                })
                .collect(),
            skipped_flows: stats.flows_skipped_by_port,
            refused_flows: stats.flows_refused_by_cap,
            refused_flows_by_budget: stats.flows_refused_by_budget,
            skipped_packets: &stats.skipped_packets,
            record_notes: RecordNotesRow {
                zero_length: stats.record_notes.zero_length,
                fraction_overflow: stats.record_notes.fraction_overflow,
                backwards: stats.record_notes.backwards,
            },
            first_ts: stats.first_ts,
            last_ts: stats.last_ts,
        };
        if let Some(e) = self.io.take() {
            return Err(e);
        }
        write_json(&mut self.out, &rec).map_err(std::io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_what_a_terminal_acts_on_and_reads_back_exactly() {
        let nasty = "a\x1b]0;t\x07\u{7f}\u{9b}2J\u{202e}\u{200b}\u{feff}\u{e0041}é✓\t\"\\";
        let line = json_line(&serde_json::json!({ "v": nasty }));
        assert_eq!(
            line,
            r#"{"v":"a\u001b]0;t\u0007\u007f\u009b2J\u202e\u200b\ufeff\udb40\udc41é✓\t\"\\"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["v"], nasty);
    }

    proptest::proptest! {
        #[test]
        fn json_strings_stay_exact(s in "\\PC*|[\\u{0}-\\u{2100}]*") {
            let line = json_line(&serde_json::json!([s]));
            proptest::prop_assert!(line.chars().all(escape::is_safe), "{}", line);
            let back: Vec<String> = serde_json::from_str(&line).unwrap();
            proptest::prop_assert_eq!(&back[0], &s);
        }
    }
}
