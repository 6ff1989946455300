//! `--follow FLOW`: one flow's conversation in order, like Wireshark's Follow Stream, but at the
//! level a person reads it: HTTP messages as head and body, WebSocket messages reassembled and
//! inflated (not raw frames), control frames as one-liners, Server-Sent Events one by one, the
//! handshake verdict and every anomaly where it happened. Every line starts with a marker
//! (`>>` client to server, `<<` server to client, `==` analysis, `!!` anomaly) and, with colour
//! on, the sender's colour, so the two sides are told apart with or without colour.
//! Nothing of other flows is printed; the flow's summary ends the output.

use crate::model::{
    Code, Event, EventCtx, EventSink, HttpHead, HttpMessage, OpCode, Record, Render, SseEvent,
    View, WsFrame, WsMessage,
};
use crate::report::escape::esc;
use crate::report::hexdump;
use crate::report::style::{Paint, Style};
use crate::report::verbose::{close_code_title, start_line};
use crate::report::{IoState, PacketDone, Reporter, flowsum, gate, preview, render};
use crate::stats::RunStats;
use crate::tcp::{Dir, FlowId, PacketRef};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

/// Binary payloads are dumped up to this many bytes at least (more with a larger preview).
const MIN_BINARY_DUMP: usize = 64;

/// The `--follow` printer.
pub struct FollowPrinter<W: Write> {
    out: W,
    io: IoState,
    flow: FlowId,
    style: Style,
    preview: usize,
    found: bool,
    done: bool,
    first_ts: Timestamp,
    /// The capture's first packet, for where the flow starts.
    capture_start: Option<Timestamp>,
    anomalies: BTreeMap<Code, u64>,
    buf: String,
}

impl<W: Write> FollowPrinter<W> {
    pub fn new(out: W, flow: FlowId, color: bool, preview: usize) -> Self {
        FollowPrinter {
            out,
            io: IoState::default(),
            flow,
            style: Style::new(color),
            preview,
            found: false,
            done: false,
            first_ts: Timestamp::ZERO,
            capture_start: None,
            anomalies: BTreeMap::new(),
            buf: String::new(),
        }
    }

    /// Whether the flow was seen at all.
    pub fn found(&self) -> bool {
        self.found
    }

    fn marker(dir: Dir) -> &'static str {
        match dir {
            Dir::C2S => ">>",
            Dir::S2C => "<<",
        }
    }

    /// Starts an entry: marker, `[seconds pkt N]`, title.
    fn entry(&mut self, ctx: &EventCtx<'_>, dir: Option<Dir>, paint: Paint, title: &str) {
        let style = self.style;
        let marker = dir.map_or("==", Self::marker);
        let paint = dir.map_or(paint, Paint::sender);
        style.start(&mut self.buf, paint);
        self.buf.push_str(marker);
        style.end(&mut self.buf);
        self.when(ctx.pkt);
        style.push(&mut self.buf, paint, title);
        self.buf.push('\n');
    }

    /// ` [seconds pkt N] ` after an entry's marker, dim: when in the flow it happened.
    fn when(&mut self, pkt: Option<PacketRef>) {
        let mut when = String::from(" [");
        match pkt {
            Some(p) => {
                let _ = write!(
                    when,
                    "{:.6} pkt {}",
                    p.ts.secs_since(self.first_ts).max(0.0),
                    p.frame
                );
            }
            None => when.push_str("end of capture"),
        }
        when.push_str("] ");
        self.style.push(&mut self.buf, Paint::Dim, &when);
    }

    /// One content line of `dir`: marker, two spaces, text.
    fn content(&mut self, dir: Dir, text: &str) {
        let style = self.style;
        style.push(&mut self.buf, Paint::sender(dir), Self::marker(dir));
        if !text.is_empty() {
            self.buf.push_str("  ");
            style.push(&mut self.buf, Paint::sender(dir), text);
        }
        self.buf.push('\n');
    }

    /// Text shown line by line (control characters escaped), or binary as a hex dump; says how
    /// much was left out.
    fn payload(&mut self, dir: Dir, bytes: &[u8], total: u64, as_text: bool) {
        let shown = if as_text {
            // A final newline ends the last line; it does not start another.
            let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            for line in body.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let mut s = String::new();
                preview::text(line, usize::MAX, &mut s);
                self.content(dir, &s);
            }
            bytes.len()
        } else {
            let n = bytes.len().min(self.preview.max(MIN_BINARY_DUMP));
            let mut dump = String::new();
            hexdump::dump(&mut dump, "", bytes.get(..n).unwrap_or(bytes));
            for line in dump.lines() {
                self.content(dir, line);
            }
            n
        };
        let mut rest = String::new();
        hexdump::more(&mut rest, "", shown, total);
        for line in rest.lines() {
            self.content(dir, line);
        }
    }

    fn flush_buf(&mut self) {
        self.io.write_out(&mut self.out, &mut self.buf);
    }

    /// How this printer shows records.
    fn view(&self) -> View {
        View {
            preview_chars: self.preview,
            line_chars: self.preview,
            dump_bytes: usize::MAX,
            color: self.style.on,
        }
    }

    fn http(&mut self, ctx: &EventCtx<'_>, m: &HttpMessage<'_>, head_only: bool) {
        let what = match m.head {
            HttpHead::Request { .. } => "HTTP request",
            HttpHead::Response { .. } => "HTTP response",
        };
        let mut title = format!("{what}, head {} B", m.header_bytes);
        if head_only {
            title.push_str(", body streamed (events below)");
        } else if m.body_bytes == 0 {
            title.push_str(", no body");
        } else {
            let _ = write!(title, ", body {} B", m.body_bytes);
            if m.chunked {
                title.push_str(" (chunked; shown dechunked)");
            }
        }
        if !m.complete && !head_only {
            title.push_str(" [incomplete]");
        }
        self.entry(ctx, Some(m.dir), Paint::Http, &title);
        self.content(m.dir, &start_line(&m.head));
        for h in m.headers {
            let mut line = format!("{}: ", esc(h.name));
            preview::text(h.value, usize::MAX, &mut line);
            self.content(m.dir, &line);
        }
        self.content(m.dir, "");
        if !head_only && m.body_bytes > 0 {
            let textual = std::str::from_utf8(m.body_head).is_ok();
            self.payload(m.dir, m.body_head, m.body_bytes, textual);
        }
    }

    fn message(&mut self, ctx: &EventCtx<'_>, m: &WsMessage<'_>) {
        let title = m.info(&self.view());
        self.entry(ctx, Some(m.dir), Paint::WebSocket, &title);
        if let Some(c) = m.sub_choice {
            let display = m
                .sub
                .first()
                .map_or(c.protocol.unwrap_or("-"), |u| u.display());
            let line = esc(&c.line(display)).to_string();
            self.entry(ctx, None, Paint::Dim, &line);
        }
        if m.sub.is_empty() {
            let as_text = m.opcode == OpCode::Text;
            self.payload(m.dir, m.data_head, m.len, as_text);
            return;
        }
        // What the message meant, its JSON pretty-printed, instead of its bytes.
        for unit in m.sub {
            let lines = crate::decode::DetailNode::render(&[unit.detail()]);
            for line in lines.lines() {
                self.content(m.dir, &esc(line).to_string());
            }
        }
    }

    fn latency(&mut self, ctx: &EventCtx<'_>, l: &crate::model::LatencyRecord) {
        let title = format!("latency: {}", esc(&render::latency_line(l)));
        self.entry(ctx, None, Paint::Dim, &title);
    }

    fn control(&mut self, ctx: &EventCtx<'_>, f: &WsFrame<'_>) {
        let mut title = match f.opcode {
            OpCode::Close => {
                let mut t = String::from("Close");
                match f.close_code {
                    Some(c) => {
                        let _ = write!(t, " {c} ({})", close_code_title(c));
                    }
                    None => t.push_str(" (no status code)"),
                }
                if let Some(r) = f.close_reason.filter(|r| !r.is_empty()) {
                    t.push_str(" \"");
                    preview::text(r, self.preview, &mut t);
                    t.push('"');
                }
                t
            }
            OpCode::Ping | OpCode::Pong => {
                let mut t = format!(
                    "{} {} B",
                    if f.opcode == OpCode::Ping {
                        "Ping"
                    } else {
                        "Pong"
                    },
                    f.payload_len
                );
                if !f.payload_head.is_empty() {
                    t.push(' ');
                    if std::str::from_utf8(f.payload_head).is_ok() {
                        t.push('"');
                        preview::text(f.payload_head, self.preview, &mut t);
                        t.push('"');
                    } else {
                        preview::hex(f.payload_head, self.preview, &mut t);
                    }
                }
                t
            }
            other => format!(
                "Control frame, opcode {} ({} B)",
                other.as_u8(),
                f.payload_len
            ),
        };
        if !f.fin {
            title.push_str(" [not FIN]");
        }
        self.entry(ctx, Some(f.dir), Paint::WebSocket, &title);
    }

    fn sse(&mut self, ctx: &EventCtx<'_>, e: &SseEvent<'_>) {
        let mut title = String::from("Server-Sent Event");
        if let Some(n) = e.event {
            let _ = write!(title, " \"{}\"", esc(n));
        }
        if let Some(id) = e.id {
            let _ = write!(title, ", id {}", esc(id));
        }
        self.entry(ctx, Some(Dir::S2C), Paint::Sse, &title);
        for line in e.data.split(|&b| b == b'\n') {
            let mut s = String::from("data: ");
            preview::text(line, usize::MAX, &mut s);
            self.content(Dir::S2C, &s);
        }
    }
}

impl<W: Write> EventSink for FollowPrinter<W> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        if ctx.flow.id != self.flow || self.done {
            return;
        }
        match event {
            Event::FlowOpened => {
                self.found = true;
                self.first_ts = ctx.flow.first_ts;
                let style = self.style;
                let mut head = String::new();
                let _ = write!(
                    head,
                    "Follow flow {} (tcp.stream {}): client ",
                    self.flow, ctx.flow.tcp_stream
                );
                self.buf.push_str(&head);
                style.push(&mut self.buf, Paint::Client, &ctx.flow.client.to_string());
                self.buf.push_str(" ⇄ server ");
                style.push(&mut self.buf, Paint::Server, &ctx.flow.server.to_string());
                self.buf.push('\n');
                let start = self.capture_start.or(ctx.pkt.map(|p| p.ts));
                self.buf.push_str(&flowsum::origin(ctx.flow, start));
                self.buf.push('\n');
                style.push(&mut self.buf, Paint::Client, ">>");
                self.buf.push_str(" client to server   ");
                style.push(&mut self.buf, Paint::Server, "<<");
                self.buf.push_str(" server to client   == analysis   ");
                style.push(&mut self.buf, Paint::Error, "!!");
                self.buf.push_str(" anomaly\n");
                style.push(
                    &mut self.buf,
                    Paint::Dim,
                    "[seconds since the flow's first packet, packet number]",
                );
                self.buf.push_str("\n\n");
            }
            Event::HttpHead(m) => {
                if gate::starts_event_stream(m) {
                    self.http(ctx, m, true);
                }
            }
            Event::Record(Record::Http(m)) => {
                if gate::starts_event_stream(m) {
                    let title = format!(
                        "end of the event stream, body {} B{}",
                        m.body_bytes,
                        if m.complete { "" } else { " [incomplete]" }
                    );
                    self.entry(ctx, Some(m.dir), Paint::Http, &title);
                } else {
                    self.http(ctx, m, false);
                }
            }
            Event::Record(Record::Handshake(h)) => {
                let title = h.info(&self.view());
                let paint = if h.accept_valid {
                    Paint::Ok
                } else {
                    Paint::Error
                };
                self.entry(ctx, None, paint, &title);
            }
            Event::Record(Record::WsFrame(f)) if f.opcode.is_control() => self.control(ctx, f),
            Event::Record(Record::WsFrame(_)) | Event::Control { .. } => {}
            Event::Record(Record::WsMessage(m)) => self.message(ctx, m),
            Event::Record(Record::Sse(e)) => self.sse(ctx, e),
            Event::Record(Record::Latency(l)) => self.latency(ctx, l),
            Event::Record(Record::Tls(t)) => {
                let title = format!("TLS {}", t.info(&self.view()));
                self.entry(ctx, Some(t.dir), Paint::Http, &title);
            }
            Event::Record(Record::Anomaly(a)) => {
                *self.anomalies.entry(a.code).or_default() += 1;
                let style = self.style;
                let paint = Paint::severity(a.code.severity());
                style.push(&mut self.buf, paint, "!!");
                self.when(ctx.pkt);
                let side = match a.dir {
                    Some(Dir::C2S) => " (client)",
                    Some(Dir::S2C) => " (server)",
                    None => "",
                };
                style.push(
                    &mut self.buf,
                    paint,
                    &format!("{}{side}: {}", a.code.as_str(), esc(&a.detail)),
                );
                self.buf.push('\n');
            }
            Event::FlowClosed { how, summary } => {
                self.done = true;
                self.buf.push('\n');
                let s = flowsum::summary(ctx.flow, summary, how, &self.anomalies, self.style);
                self.buf.push_str(&s);
            }
        }
        self.flush_buf();
    }
}

impl<W: Write> Reporter for FollowPrinter<W> {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        self.capture_start.get_or_insert(done.ts());
    }

    fn finish(&mut self, _stats: &RunStats) -> std::io::Result<()> {
        self.flush_buf();
        self.io.finish(&mut self.out)
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io.take()
    }
}
