//! `check --forbid EXPR`: a capture fails when any record matches a display filter; each
//! matching record is a finding (`check.forbid`) with its flow, packet, direction and a short
//! description, decided by `--forbid EXPR`.
//!
//! Until the record model exists, the records are the ones `--json` writes: a [`JsonPrinter`]
//! writes them into a buffer here, and each line is read back through the filter's JSON source
//! (docs/filter.md, "check --forbid", says what that source sees). The endpoints of a record's
//! flow come from the event's flow; its kind from the first event that proves it (as `--kind`
//! learns it) or from the flow's end. When a filter tests `flow.kind`, a flow's records are held
//! until its kind is known, at most [`HOLD_CAP`] bytes of them in all; past that, records are
//! judged at once with the kind unknown (absent).

use super::rules::Effect;
use super::{Finding, Subject};
use crate::filter::json::{FlowContext, JsonRecord};
use crate::filter::{FieldId, Filter};
use crate::model::{Anomaly, Event, EventCtx, EventSink, FlowKind};
use crate::report::gate::{HOLD_CAP, early_kind};
use crate::report::json::JsonPrinter;
use crate::tcp::{Dir, FlowId};
use crate::time::Timestamp;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The `--forbid` filters of a run, compiled once and shared by every capture's watch.
pub type Forbids = Arc<[Filter]>;

/// Fields whose values are payload previews: with these, records carry whole payloads.
const PAYLOAD_FIELDS: [FieldId; 4] = [
    FieldId::WsPayload,
    FieldId::WsText,
    FieldId::HttpBody,
    FieldId::SseData,
];

/// Whether any filter looks into payloads (so the run should keep them whole for display).
pub fn reads_payloads(forbids: &[Filter]) -> bool {
    forbids
        .iter()
        .any(|f| PAYLOAD_FIELDS.iter().any(|&id| f.uses(id)))
}

/// The JSON printer's output, shared with the watch that reads it back.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn take(&self) -> Vec<u8> {
        // Nothing panics while holding the lock; a poisoned one still holds whole lines.
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A flow's context and the records held until its kind is known.
struct Pending {
    ctx: FlowContext,
    held: Vec<(Json, usize)>,
}

/// Tests every record of one capture against the `--forbid` filters.
pub struct ForbidWatch {
    filters: Forbids,
    printer: JsonPrinter<Lines>,
    lines: Lines,
    flows: HashMap<FlowId, Pending>,
    needs_kind: bool,
    held_bytes: usize,
    /// Records that matched, per filter.
    pub counts: Vec<u64>,
    found: Vec<Finding>,
}

impl ForbidWatch {
    /// A watch over records of flows of `kind` only (all flows without one); payload previews
    /// of up to `preview` characters.
    pub fn new(filters: Forbids, kind: Option<FlowKind>, preview: usize) -> ForbidWatch {
        let lines = Lines::default();
        ForbidWatch {
            needs_kind: filters.iter().any(|f| f.uses(FieldId::FlowKind)),
            counts: vec![0; filters.len()],
            filters,
            printer: JsonPrinter::new(lines.clone(), preview, kind),
            lines,
            flows: HashMap::new(),
            held_bytes: 0,
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

    fn learn_kind(&mut self, flow: FlowId, kind: FlowKind) {
        let Some(p) = self.flows.get_mut(&flow) else {
            return;
        };
        if p.ctx.kind.is_some() {
            return;
        }
        p.ctx.kind = Some(kind.as_str().to_string());
        let held = std::mem::take(&mut p.held);
        let ctx = p.ctx.clone();
        for (record, len) in held {
            self.held_bytes -= len;
            self.judge(&record, Some(&ctx));
        }
    }

    /// Reads back the lines the printer wrote and judges (or holds) each record.
    fn drain(&mut self) {
        let buf = self.lines.take();
        for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            // The printer writes valid JSON; a line that is not cannot be judged.
            let Ok(record) = serde_json::from_slice::<Json>(line) else {
                continue;
            };
            let flow = record["flow"].as_u64().or_else(|| {
                (record["type"] == "flow")
                    .then(|| record["id"].as_u64())
                    .flatten()
            });
            let pending = flow.and_then(|id| self.flows.get_mut(&id));
            match pending {
                Some(p)
                    if self.needs_kind
                        && p.ctx.kind.is_none()
                        && self.held_bytes + line.len() <= HOLD_CAP =>
                {
                    self.held_bytes += line.len();
                    p.held.push((record, line.len()));
                }
                Some(p) => {
                    let ctx = p.ctx.clone();
                    self.judge(&record, Some(&ctx));
                }
                None => self.judge(&record, None),
            }
        }
    }

    fn judge(&mut self, record: &Json, ctx: Option<&FlowContext>) {
        let Some(rec) = JsonRecord::new(record, ctx) else {
            return;
        };
        for (i, f) in self.filters.iter().enumerate() {
            if f.matches(&rec) {
                self.counts[i] += 1;
                self.found.push(finding(record, f));
            }
        }
    }
}

/// The finding for a record that matched `f`.
fn finding(record: &Json, f: &Filter) -> Finding {
    let is_flow = record["type"] == "flow";
    let ts = record[if is_flow { "last_ts" } else { "ts" }]
        .as_f64()
        .map_or(Timestamp::ZERO, |s| {
            Timestamp((s * 1e6).round() as i64 * 1000)
        });
    Finding {
        subject: Subject::Forbid,
        effect: Effect::Fail,
        rule: Some(format!("--forbid '{}'", f.text())),
        flow: record[if is_flow { "id" } else { "flow" }].as_u64(),
        frame: record["frame"].as_u64(),
        dir: match record["dir"].as_str() {
            Some("c2s") => Some(Dir::C2S),
            Some("s2c") => Some(Dir::S2C),
            _ => None,
        },
        ts,
        detail: describe(record),
    }
}

/// What a record is, in a few words: `ws_frame text, 70000 bytes`.
fn describe(r: &Json) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or("");
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let ty = s("type");
    let what = match ty {
        "http" if s("kind") == "request" => format!("request {} {}", s("method"), s("target")),
        "http" => format!("response {} {}", n("status"), s("reason")),
        "handshake" => match r["subprotocol"].as_str() {
            Some(p) => format!("subprotocol {p}"),
            None => "WebSocket upgrade".into(),
        },
        "ws_frame" => format!("{}, {} bytes", s("opcode"), n("payload_len")),
        "ws_message" => format!("{}, {} bytes", s("opcode"), n("len")),
        "sse_event" => format!("event {}", r["event"].as_str().unwrap_or("message")),
        "anomaly" => format!("{}: {}", s("code"), s("detail")),
        "flow" => format!("{} -> {} ({})", s("client"), s("server"), s("kind")),
        _ => String::new(),
    };
    format!("{ty} {what}").trim_end().to_string()
}

impl EventSink for ForbidWatch {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        self.flows.entry(flow).or_insert_with(|| Pending {
            ctx: FlowContext {
                client: Some(ctx.flow.client),
                server: Some(ctx.flow.server),
                kind: None,
            },
            held: Vec::new(),
        });
        let kind = match &event {
            Event::FlowClosed { summary, .. } => Some(summary.kind.unwrap_or(FlowKind::Other)),
            e => early_kind(e),
        };
        if let Some(kind) = kind {
            self.learn_kind(flow, kind);
        }
        self.printer.event(ctx, event);
        self.drain();
        if let Event::FlowClosed { .. } = event
            && let Some(p) = self.flows.remove(&flow)
        {
            // Records the printer's own --kind gate never released are not judged, as they
            // are not shown; held ones of a judged flow were judged when the kind was learnt.
            for (_, len) in p.held {
                self.held_bytes -= len;
            }
        }
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.printer.global_anomaly(anomaly, frame);
        self.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_described_in_a_few_words() {
        let r = serde_json::json!({"type": "ws_frame", "opcode": "text", "payload_len": 70000});
        assert_eq!(describe(&r), "ws_frame text, 70000 bytes");
        let r = serde_json::json!({"type": "http", "kind": "request", "method": "GET",
            "target": "/chat"});
        assert_eq!(describe(&r), "http request GET /chat");
        let r = serde_json::json!({"type": "sse_event", "event": null});
        assert_eq!(describe(&r), "sse_event event message");
    }

    #[test]
    fn matches_become_failing_findings_in_place() {
        let filters: Forbids = vec![
            Filter::new("ws.payload_len > 100").unwrap(),
            Filter::new("flow.kind == websocket").unwrap(),
        ]
        .into();
        let mut w = ForbidWatch::new(filters, None, 128);
        let r = serde_json::json!({"type": "ws_frame", "flow": 3, "dir": "s2c", "ts": 2.5,
            "frame": 9, "opcode": "binary", "payload_len": 101, "preview": ""});
        let ctx = FlowContext {
            kind: Some("websocket".into()),
            ..Default::default()
        };
        w.judge(&r, Some(&ctx));
        assert_eq!(w.counts, vec![1, 1]);
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
        assert_eq!(
            f[1].rule.as_deref(),
            Some("--forbid 'flow.kind == websocket'")
        );
        assert_eq!(
            w.tally(),
            vec![
                ("ws.payload_len > 100".to_string(), 1),
                ("flow.kind == websocket".to_string(), 1)
            ]
        );
    }
}
