//! The default text view: one tshark-like line per packet that completes HTTP messages or
//! WebSocket frames, then the flows table, the header-overhead comparison table and the anomaly
//! list.

use crate::decode::Segment;
use crate::proto::{Anomaly, Code, Event, EventCtx, EventSink, FlowKind, HttpHead, OpCode};
use crate::report::gate::{KindGate, Verdict};
use crate::report::tables::{self, FLOW_ROWS_CAP, FlowRow, TableStyle};
use crate::report::{IoState, Reporter, preview};
use crate::source::Frame;
use crate::stats::RunStats;
use crate::tcp::{Dir, FlowId};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;

/// What the text view shows.
#[derive(Clone, Debug)]
pub struct TextOptions {
    /// No per-packet lines.
    pub quiet: bool,
    pub preview: usize,
    pub kind: Option<FlowKind>,
    pub color: bool,
    pub tables: TableStyle,
}

/// One PDU completed by the current packet.
struct Pdu {
    proto: &'static str,
    info: String,
}

/// Where the PDUs waiting to be printed came from.
#[derive(Clone, Copy)]
struct Pending {
    flow: FlowId,
    pkt: Option<crate::tcp::PacketRef>,
    src: SocketAddr,
    dst: SocketAddr,
}

/// The text printer.
pub struct TextPrinter<W: Write> {
    out: W,
    io: IoState,
    opts: TextOptions,
    first_ts: Option<Timestamp>,
    /// PDUs completed by the packet being processed, with the flow and direction they belong to.
    pending: Vec<Pdu>,
    pending_flow: Option<Pending>,
    flow_rows: Vec<FlowRow>,
    flow_rows_omitted: u64,
    examples: BTreeMap<Code, Vec<String>>,
    gate: Option<KindGate>,
    line: String,
    release: Vec<u8>,
}

impl<W: Write> TextPrinter<W> {
    pub fn new(out: W, opts: TextOptions) -> Self {
        TextPrinter {
            out,
            io: IoState::default(),
            gate: opts.kind.map(KindGate::new),
            opts,
            first_ts: None,
            pending: Vec::new(),
            pending_flow: None,
            flow_rows: Vec::new(),
            flow_rows_omitted: 0,
            examples: BTreeMap::new(),
            line: String::new(),
            release: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn write(&mut self, bytes: &[u8]) {
        if !self.io.failed {
            let r = self.out.write_all(bytes);
            self.io.record(r);
        }
    }

    fn example(&mut self, a: &Anomaly, flow: Option<FlowId>, frame: Option<u64>) {
        let v = self.examples.entry(a.code).or_default();
        if v.len() < tables::EXAMPLES_PER_CODE {
            let mut s = String::new();
            if let Some(f) = flow {
                let _ = write!(s, "flow {f}");
            }
            if let Some(p) = frame {
                let _ = write!(s, "{}pkt {p}", if s.is_empty() { "" } else { ", " });
            }
            let _ = write!(s, ": {}", a.detail);
            v.push(s);
        }
    }

    fn push_pdu(&mut self, ctx: &EventCtx<'_>, dir: Dir, proto: &'static str, info: String) {
        let (src, dst) = match dir {
            Dir::C2S => (ctx.flow.client, ctx.flow.server),
            Dir::S2C => (ctx.flow.server, ctx.flow.client),
        };
        if let Some(p) = ctx.pkt {
            self.first_ts.get_or_insert(p.ts);
        }
        let same_line = self.pending_flow.is_some_and(|p| {
            p.flow == ctx.flow.id && p.pkt.map(|x| x.frame) == ctx.pkt.map(|x| x.frame)
        });
        if !same_line {
            self.flush_pending();
        }
        self.pending_flow = Some(Pending {
            flow: ctx.flow.id,
            pkt: ctx.pkt,
            src,
            dst,
        });
        self.pending.push(Pdu { proto, info });
    }

    fn frame_info(f: &crate::proto::WsFrame<'_>, preview_chars: usize) -> String {
        let name = match f.opcode {
            OpCode::Continuation => "Continuation".to_string(),
            OpCode::Text => "Text".to_string(),
            OpCode::Binary => "Binary".to_string(),
            OpCode::Close => "Connection Close".to_string(),
            OpCode::Ping => "Ping".to_string(),
            OpCode::Pong => "Pong".to_string(),
            OpCode::Reserved(n) => format!("Reserved {n:#x}"),
        };
        let mut s = format!("WebSocket {name}");
        if f.fin {
            s.push_str(" [FIN]");
        }
        if f.rsv1 {
            s.push_str(" [RSV1]");
        }
        if f.rsv2 {
            s.push_str(" [RSV2]");
        }
        if f.rsv3 {
            s.push_str(" [RSV3]");
        }
        if f.mask.is_some() {
            s.push_str(" [MASKED]");
        }
        if f.opcode == OpCode::Close {
            if let Some(code) = f.close_code {
                let _ = write!(s, " {code}");
            }
            if let Some(reason) = f.close_reason.filter(|r| !r.is_empty()) {
                s.push(' ');
                preview::text(reason, preview_chars, &mut s);
            }
        } else if f.opcode == OpCode::Text && !f.rsv1 && !f.payload_head.is_empty() {
            s.push_str(" \"");
            preview::text(f.payload_head, preview_chars.min(40), &mut s);
            s.push('"');
        }
        s
    }
}

impl<W: Write> TextPrinter<W> {
    /// Prints the line for the PDUs completed so far (one packet's worth).
    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let Some(p) = self.pending_flow.take() else {
            return;
        };
        let proto = self.pending.last().map_or("", |p| p.proto);
        self.line.clear();
        match p.pkt {
            Some(pkt) => {
                let first = self.first_ts.unwrap_or(pkt.ts);
                let _ = write!(
                    self.line,
                    "{:>6} {:>11.6} ",
                    pkt.frame,
                    pkt.ts.secs_since(first)
                );
            }
            None => self.line.push_str(&format!("{:>6} {:>11} ", "-", "(end)")),
        }
        let _ = write!(self.line, "{} → {} {:<9} ", p.src, p.dst, proto);
        for (i, pdu) in self.pending.drain(..).enumerate() {
            if i > 0 {
                self.line.push_str(", ");
            }
            self.line.push_str(&pdu.info);
        }
        self.line.push('\n');
        let line = std::mem::take(&mut self.line);
        match &mut self.gate {
            Some(gate) if !gate.is_passing(p.flow) => {
                self.release.clear();
                gate.hold(p.flow, line.as_bytes(), &mut self.release);
                let rel = std::mem::take(&mut self.release);
                self.write(&rel);
                self.release = rel;
            }
            _ => self.write(line.as_bytes()),
        }
        self.line = line;
    }
}

fn http_info(head: &HttpHead<'_>) -> String {
    match *head {
        HttpHead::Request {
            method,
            target,
            version,
        } => {
            format!("{method} {target} HTTP/1.{version}")
        }
        HttpHead::Response {
            version,
            status,
            reason,
        } => {
            format!("HTTP/1.{version} {status} {reason}")
        }
    }
}

impl<W: Write> EventSink for TextPrinter<W> {
    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.example(anomaly, None, Some(frame));
    }

    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        match event {
            Event::Anomaly(a) => self.example(a, Some(flow), ctx.pkt.map(|p| p.frame)),
            Event::FlowClosed { how, summary } => {
                // The closing packet may have completed PDUs of this flow: print them while
                // the gate still knows the flow.
                self.flush_pending();
                let row = FlowRow::new(ctx.flow, summary, how);
                let keep = self.opts.kind.is_none_or(|k| k == row.kind);
                if keep {
                    if self.flow_rows.len() < FLOW_ROWS_CAP {
                        self.flow_rows.push(row);
                    } else {
                        self.flow_rows_omitted += 1;
                    }
                }
            }
            _ => {}
        }
        if let Some(gate) = &mut self.gate {
            self.release.clear();
            let verdict = gate.check(flow, &event, &mut self.release);
            if !self.release.is_empty() {
                let rel = std::mem::take(&mut self.release);
                self.write(&rel);
                self.release = rel;
            }
            if verdict == Verdict::Drop {
                return;
            }
        }
        if self.opts.quiet {
            return;
        }
        let preview_chars = self.opts.preview;
        match event {
            Event::Http(m) => {
                let is_sse_head = matches!(m.head, HttpHead::Response { .. })
                    && crate::report::gate::early_kind(&Event::HttpHead(m)) == Some(FlowKind::Sse);
                if !is_sse_head {
                    let mut info = http_info(&m.head);
                    if !m.complete {
                        info.push_str(" [incomplete]");
                    }
                    self.push_pdu(ctx, m.dir, "HTTP", info);
                }
            }
            // Event streams never end in time to be useful: show their head at once.
            Event::HttpHead(m)
                if crate::report::gate::early_kind(&event) == Some(FlowKind::Sse) =>
            {
                let info = format!("{} (text/event-stream)", http_info(&m.head));
                self.push_pdu(ctx, m.dir, "HTTP", info);
            }
            Event::WsFrame(f) => {
                let info = Self::frame_info(f, preview_chars);
                self.push_pdu(ctx, f.dir, "WebSocket", info);
            }
            Event::Sse(e) => {
                let mut info = String::from("Server-Sent Event");
                if let Some(name) = e.event {
                    let _ = write!(info, " [{name}]");
                }
                info.push_str(" \"");
                preview::text(e.data, preview_chars.min(40), &mut info);
                info.push('"');
                self.push_pdu(ctx, Dir::S2C, "SSE", info);
            }
            _ => {}
        }
    }
}

impl<W: Write> Reporter for TextPrinter<W> {
    fn packet_done(&mut self, frame: &Frame<'_>, _seg: Option<&Segment<'_>>) {
        self.first_ts.get_or_insert(frame.ts);
        self.flush_pending();
    }

    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        if let Some(e) = self.io.take() {
            return Err(e);
        }
        let style = self.opts.tables;
        let mut s = String::new();
        if !self.opts.quiet && stats.packets > 0 {
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "Flows ({} flows, {} packets)",
            stats.flows, stats.packets
        );
        s.push_str(&tables::flows_table(
            &self.flow_rows,
            self.flow_rows_omitted,
            style,
        ));
        s.push_str("\n\nHeader overhead\n");
        s.push_str(&tables::overhead_table(stats, style));
        s.push('\n');
        if stats.anomalies.is_empty() {
            s.push_str("\nNo anomalies.\n");
        } else {
            s.push_str("\nAnomalies\n");
            s.push_str(&tables::anomalies_table(
                &stats.anomalies,
                &self.examples,
                style,
            ));
            s.push('\n');
        }
        if stats.flows_skipped_by_port > 0 {
            let _ = writeln!(
                s,
                "\nnote: {} TCP flows on other ports were skipped; use --any-port to detect \
                 HTTP/WebSocket on every port, or -p PORT to add a port",
                stats.flows_skipped_by_port
            );
        }
        if self.gate.as_ref().is_some_and(|g| g.overflowed) {
            s.push_str("\nnote: --kind held too much output; some flows were printed before their kind was known\n");
        }
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io.take()
    }
}
