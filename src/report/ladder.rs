//! `--ladder FLOW`: one flow as a text sequence diagram. The client is the left rail, the server
//! the right rail, and every event is an arrow between them: the TCP handshake (SYN, SYN-ACK,
//! ACK), each HTTP message, the 101, every WebSocket frame (opcode and length), pings, pongs,
//! closes, FIN and RST, with the time since the flow's first packet and the packet number in
//! the left columns. Pure ACKs and segments that complete nothing (the middle of a large frame)
//! are summarised in one dim line between arrows, so the picture shows the conversation.
//!
//! SYN, FIN and RST come from the TCP layer's control events; which packets belong to the flow,
//! their direction and payload size from what the flow table says of each packet
//! ([`PacketDone::placed`]), so only packets of that connection are drawn.

use crate::decode::TcpFlags;
use crate::model::{Code, Event, EventCtx, EventSink, OpCode, Record, Render};
use crate::report::escape::esc;
use crate::report::hexdump::plural;
use crate::report::style::{Paint, Style};
use crate::report::verbose::start_line;
use crate::report::{IoState, PacketDone, Reporter, flowsum, gate, preview};
use crate::stats::RunStats;
use crate::tcp::{Dir, FlowId, PacketRef};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

/// Characters between the two rails.
const SPAN: usize = 56;

/// One arrow waiting for its packet to end.
struct Arrow {
    dir: Dir,
    label: String,
    notes: Vec<(Code, String)>,
    /// A verdict shown right of the rail (the handshake's).
    verdict: Option<(Paint, &'static str)>,
    /// The packet the arrow's record came in, when decoded after it (a ClientHello read once
    /// the server's answer showed TLS): drawn with that packet's number and time.
    at: Option<PacketRef>,
}

/// The `--ladder` printer.
pub struct LadderPrinter<W: Write> {
    out: W,
    io: IoState,
    flow: FlowId,
    style: Style,
    preview: usize,
    /// The flow opened: its packets are drawn from here on.
    open: bool,
    /// The control flags of the packet being processed, if it carried SYN, FIN or RST.
    control: Option<TcpFlags>,
    first_ts: Timestamp,
    /// The capture's first packet, for where the flow starts.
    capture_start: Option<Timestamp>,
    found: bool,
    /// Arrows of the packet being processed.
    arrows: Vec<Arrow>,
    /// Anomalies of the packet being processed not tied to an arrow yet.
    notes: Vec<(Code, String)>,
    /// Summarised since the last arrow: pure ACKs, and data segments with their bytes.
    acks: u64,
    segments: u64,
    segment_bytes: u64,
    /// SYN-ACK seen (the next pure ACK from the client completes the handshake).
    syn_ack: bool,
    handshake_ack_drawn: bool,
    fin: [bool; 2],
    anomalies: BTreeMap<Code, u64>,
    summary: String,
    buf: String,
}

impl<W: Write> LadderPrinter<W> {
    pub fn new(out: W, flow: FlowId, color: bool, preview: usize) -> Self {
        LadderPrinter {
            out,
            io: IoState::default(),
            flow,
            style: Style::new(color),
            preview,
            open: false,
            control: None,
            first_ts: Timestamp::ZERO,
            capture_start: None,
            found: false,
            arrows: Vec::new(),
            notes: Vec::new(),
            acks: 0,
            segments: 0,
            segment_bytes: 0,
            syn_ack: false,
            handshake_ack_drawn: false,
            fin: [false; 2],
            anomalies: BTreeMap::new(),
            summary: String::new(),
            buf: String::new(),
        }
    }

    fn header(&mut self, meta: &crate::tcp::FlowMeta, start: Option<Timestamp>) {
        let style = self.style;
        let (c, s) = (meta.client.to_string(), meta.server.to_string());
        let _ = write!(
            self.buf,
            "Flow {} (tcp.stream {}): client ",
            self.flow, meta.tcp_stream
        );
        style.push(&mut self.buf, Paint::Client, &c);
        self.buf.push_str(" ⇄ server ");
        style.push(&mut self.buf, Paint::Server, &s);
        self.buf.push('\n');
        self.buf.push_str(&flowsum::origin(meta, start));
        self.buf.push('\n');
        style.push(
            &mut self.buf,
            Paint::Dim,
            "times in seconds since the flow's first packet; pure ACKs and segments that \
             complete nothing are summarised between arrows",
        );
        self.buf.push_str("\n\n");
        let _ = write!(self.buf, "{:>10}  {:>6}  ", "time", "pkt");
        let width = SPAN + 2;
        let gap = width.saturating_sub("client".len() + "server".len());
        style.push(&mut self.buf, Paint::Client, "client");
        self.buf.extend(std::iter::repeat_n(' ', gap));
        style.push(&mut self.buf, Paint::Server, "server");
        self.buf.push('\n');
        let _ = write!(self.buf, "{:>10}  {:>6}  ", "", "");
        let gap = width.saturating_sub(c.chars().count() + s.chars().count());
        style.push(&mut self.buf, Paint::Client, &c);
        self.buf.extend(std::iter::repeat_n(' ', gap.max(1)));
        style.push(&mut self.buf, Paint::Server, &s);
        self.buf.push('\n');
    }

    fn left_columns(&mut self, pkt: Option<PacketRef>) {
        match pkt {
            Some(p) => {
                let _ = write!(
                    self.buf,
                    "{:>10.6}  {:>6}  ",
                    p.ts.secs_since(self.first_ts).max(0.0),
                    p.frame
                );
            }
            None => {
                let _ = write!(self.buf, "{:>10}  {:>6}  ", "(end)", "-");
            }
        }
    }

    fn notes_text(&mut self, notes: &[(Code, String)]) {
        let style = self.style;
        for (code, _) in notes {
            self.buf.push_str("  ");
            style.push(
                &mut self.buf,
                Paint::severity(code.severity()),
                &format!("✗ {}", code.as_str()),
            );
        }
    }

    /// One arrow line.
    fn draw(&mut self, pkt: Option<PacketRef>, a: &Arrow) {
        self.summarised();
        self.left_columns(pkt);
        let style = self.style;
        let mut label = String::new();
        let max = SPAN - 6;
        for (i, c) in a.label.chars().enumerate() {
            if i + 1 >= max {
                label.push('…');
                break;
            }
            label.push(c);
        }
        let label = format!(" {label} ");
        let len = label.chars().count();
        let fill = (SPAN - 1).saturating_sub(len);
        let pre = fill / 2;
        let post = fill - pre;
        let mut arrow = String::new();
        if a.dir == Dir::S2C {
            arrow.push('◀');
        }
        arrow.extend(std::iter::repeat_n('─', pre));
        arrow.push_str(&label);
        arrow.extend(std::iter::repeat_n('─', post));
        if a.dir == Dir::C2S {
            arrow.push('▶');
        }
        self.buf.push('│');
        style.push(&mut self.buf, Paint::sender(a.dir), &arrow);
        self.buf.push('│');
        if let Some((paint, text)) = a.verdict {
            self.buf.push_str("  ");
            style.push(&mut self.buf, paint, text);
        }
        let notes = a.notes.clone();
        self.notes_text(&notes);
        self.buf.push('\n');
    }

    /// The dim line summarising pure ACKs and bare data segments, if any.
    fn summarised(&mut self) {
        if self.acks == 0 && self.segments == 0 {
            return;
        }
        let mut text = String::from("⋯ ");
        if self.segments > 0 {
            let _ = write!(
                text,
                "{} segment{} ({} B) with no complete PDU",
                self.segments,
                plural(self.segments),
                self.segment_bytes
            );
        }
        if self.acks > 0 {
            if self.segments > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "{} ACK{}", self.acks, plural(self.acks));
        }
        text.push_str(" ⋯");
        self.acks = 0;
        self.segments = 0;
        self.segment_bytes = 0;
        let _ = write!(self.buf, "{:>10}  {:>6}  │", "", "");
        let len = text.chars().count();
        let pad = SPAN.saturating_sub(len);
        let pre = pad / 2;
        self.buf.extend(std::iter::repeat_n(' ', pre));
        let style = self.style;
        style.push(&mut self.buf, Paint::Dim, &text);
        self.buf.extend(std::iter::repeat_n(' ', pad - pre));
        self.buf.push_str("│\n");
    }

    fn push_arrow(&mut self, dir: Dir, label: String) {
        let notes = std::mem::take(&mut self.notes);
        self.arrows.push(Arrow {
            dir,
            label,
            notes,
            verdict: None,
            at: None,
        });
    }

    fn frame_label(&self, f: &crate::model::WsFrame<'_>) -> String {
        let name = match f.opcode {
            OpCode::Continuation => "Continuation".to_string(),
            OpCode::Text => "Text".to_string(),
            OpCode::Binary => "Binary".to_string(),
            OpCode::Close => "Close".to_string(),
            OpCode::Ping => "Ping".to_string(),
            OpCode::Pong => "Pong".to_string(),
            OpCode::Reserved(n) => format!("Opcode {n:#x}"),
        };
        let mut s = name;
        if f.opcode == OpCode::Close {
            if let Some(c) = f.close_code {
                let _ = write!(s, " {c}");
            }
            if let Some(r) = f.close_reason.filter(|r| !r.is_empty()) {
                s.push_str(" \"");
                preview::text(r, self.preview.min(20), &mut s);
                s.push('"');
            }
        } else {
            let _ = write!(s, " {} B", f.payload_len);
        }
        if f.rsv1 {
            s.push_str(" compressed");
        }
        // Only the exception is worth a word: clients mask, servers do not.
        match (f.dir, f.mask.is_some()) {
            (Dir::S2C, true) => s.push_str(" MASKED"),
            (Dir::C2S, false) => s.push_str(" UNMASKED"),
            _ => {}
        }
        if !f.fin {
            s.push_str(" (more follows)");
        } else if f.opcode == OpCode::Continuation {
            s.push_str(" (last)");
        }
        s
    }

    fn flush_buf(&mut self) {
        self.io.write_out(&mut self.out, &mut self.buf);
    }

    /// Draws what is pending for a packet that carried no segment of this flow (end of
    /// capture, or a flow closed by another packet's arrival).
    fn draw_pending(&mut self, pkt: Option<PacketRef>) {
        let arrows = std::mem::take(&mut self.arrows);
        for a in &arrows {
            self.draw(a.at.or(pkt), a);
        }
        if !self.notes.is_empty() {
            let notes = std::mem::take(&mut self.notes);
            self.note_line(pkt, &notes);
        }
    }

    /// A line with no arrow, for anomalies of a packet that drew none.
    fn note_line(&mut self, pkt: Option<PacketRef>, notes: &[(Code, String)]) {
        self.summarised();
        self.left_columns(pkt);
        self.buf.push('│');
        self.buf.extend(std::iter::repeat_n(' ', SPAN));
        self.buf.push('│');
        let style = self.style;
        for (code, detail) in notes {
            self.buf.push_str("  ");
            style.push(
                &mut self.buf,
                Paint::severity(code.severity()),
                &format!("✗ {}: {}", code.as_str(), esc(detail)),
            );
        }
        self.buf.push('\n');
    }
}

fn flags_label(f: TcpFlags) -> Option<String> {
    let mut parts = Vec::new();
    if f.syn() {
        parts.push("SYN");
    }
    if f.fin() {
        parts.push("FIN");
    }
    if f.rst() {
        parts.push("RST");
    }
    if parts.is_empty() {
        return None;
    }
    if f.ack() {
        parts.push("ACK");
    }
    Some(parts.join(", "))
}

impl<W: Write> EventSink for LadderPrinter<W> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        if ctx.flow.id != self.flow {
            return;
        }
        match event {
            Event::FlowOpened => {
                self.found = true;
                self.first_ts = ctx.flow.first_ts;
                self.open = true;
                let start = self.capture_start.or(ctx.pkt.map(|p| p.ts));
                self.header(ctx.flow, start);
            }
            Event::Record(Record::Http(m)) => {
                let label = if gate::starts_event_stream(m) {
                    format!("end of event stream ({} B)", m.body_bytes)
                } else {
                    start_line(&m.head)
                };
                self.push_arrow(m.dir, label);
            }
            Event::HttpHead(m) if gate::starts_event_stream(m) => {
                let label = format!("{} (event stream)", start_line(&m.head));
                self.push_arrow(m.dir, label);
            }
            Event::Record(Record::Handshake(h)) => {
                let verdict = if h.accept_valid {
                    (Paint::Ok, "✓ WebSocket accept key valid")
                } else {
                    (Paint::Error, "✗ WebSocket accept key invalid")
                };
                if let Some(a) = self.arrows.last_mut() {
                    a.verdict = Some(verdict);
                }
            }
            Event::Record(Record::WsFrame(f)) => {
                let label = self.frame_label(f);
                self.push_arrow(f.dir, label);
            }
            Event::Record(Record::Sse(e)) => {
                let mut label = String::from("event");
                if let Some(n) = e.event {
                    let _ = write!(label, " \"{}\"", esc(n));
                }
                let _ = write!(label, " ({} B)", e.data.len());
                self.push_arrow(Dir::S2C, label);
            }
            Event::Record(Record::Tls(t)) => {
                let label = format!("TLS {}", t.info(&tls_view()));
                self.push_arrow(t.dir, label);
                if let Some(a) = self.arrows.last_mut() {
                    a.at = ctx.pkt.map(|p| PacketRef::new(p.frame, p.ts));
                }
            }
            Event::Record(Record::Anomaly(a)) => {
                *self.anomalies.entry(a.code).or_default() += 1;
                // Problems found after a PDU (message end, handshake) belong to it.
                let after = matches!(
                    a.code,
                    Code::WsAcceptMismatch | Code::WsHandshakeInvalid | Code::WsUpgradeRefused
                ) || (a.code == Code::WsInvalidUtf8
                    && a.detail.starts_with("text message ends"));
                match self.arrows.last_mut() {
                    Some(last) if after => last.notes.push((a.code, a.detail.clone())),
                    _ => self.notes.push((a.code, a.detail.clone())),
                }
            }
            Event::FlowClosed { how, summary } => {
                self.summary =
                    flowsum::summary(ctx.flow, summary, how, &self.anomalies, self.style);
                if ctx.pkt.is_none() {
                    self.draw_pending(None);
                }
            }
            Event::Control { flags, .. } => self.control = Some(flags),
            Event::HttpHead(_)
            | Event::Record(Record::WsMessage(_))
            | Event::Record(Record::Latency(_)) => {}
        }
    }
}

impl<W: Write> Reporter for LadderPrinter<W> {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        self.capture_start.get_or_insert(done.ts());
        let control = self.control.take().unwrap_or_default();
        let ours = done.placed.filter(|p| self.open && p.flow == self.flow);
        let pkt = Some(PacketRef::new(done.frame(), done.ts()));
        let Some(placed) = ours else {
            if !self.arrows.is_empty() || !self.notes.is_empty() {
                self.draw_pending(pkt);
                self.flush_buf();
            }
            return;
        };
        let (dir, payload_len) = (placed.dir, placed.payload_len);
        let flags = flags_label(control);
        let syn = control.syn();
        if syn && control.ack() {
            self.syn_ack = true;
        }
        // SYN first, then what the payload completed, then FIN/RST.
        if syn && let Some(label) = &flags {
            let a = Arrow {
                dir,
                label: label.clone(),
                notes: Vec::new(),
                verdict: None,
                at: None,
            };
            self.draw(pkt, &a);
        }
        let arrows = std::mem::take(&mut self.arrows);
        for a in &arrows {
            self.draw(a.at.or(pkt), a);
        }
        let mut notes = std::mem::take(&mut self.notes);
        if !syn && let Some(label) = flags {
            if control.fin() {
                self.fin[dir.index()] = true;
            }
            if arrows.is_empty() && payload_len > 0 {
                self.segments += 1;
                self.segment_bytes += payload_len as u64;
            }
            let a = Arrow {
                dir,
                label,
                notes: std::mem::take(&mut notes),
                verdict: None,
                at: None,
            };
            self.draw(pkt, &a);
        } else if arrows.is_empty() && !syn {
            let pure_ack = payload_len == 0;
            let handshake_ack =
                pure_ack && self.syn_ack && !self.handshake_ack_drawn && dir == Dir::C2S;
            let last_ack = pure_ack && self.fin[0] && self.fin[1];
            if handshake_ack || last_ack {
                self.handshake_ack_drawn |= handshake_ack;
                let a = Arrow {
                    dir,
                    label: "ACK".to_string(),
                    notes: std::mem::take(&mut notes),
                    verdict: None,
                    at: None,
                };
                self.draw(pkt, &a);
            } else if pure_ack {
                self.acks += 1;
            } else {
                self.segments += 1;
                self.segment_bytes += payload_len as u64;
            }
        }
        if !notes.is_empty() {
            self.note_line(pkt, &notes);
        }
        if payload_len > 0 {
            // Data went by: a later pure ACK is no longer the handshake's.
            self.handshake_ack_drawn = true;
        }
        self.flush_buf();
    }

    fn finish(&mut self, _stats: &RunStats) -> std::io::Result<()> {
        self.draw_pending(None);
        self.summarised();
        if !self.summary.is_empty() {
            self.buf.push('\n');
            let s = std::mem::take(&mut self.summary);
            self.buf.push_str(&s);
        }
        self.flush_buf();
        self.io.finish(&mut self.out)
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io.take()
    }
}

/// How the ladder shows a TLS record's label (no payload is previewed).
fn tls_view() -> crate::model::View {
    crate::model::View {
        preview_chars: 0,
        line_chars: 0,
        dump_bytes: 0,
        color: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_fill_the_span_whatever_their_label() {
        let mut p = LadderPrinter::new(Vec::new(), 1, false, 128);
        let pkt = Some(PacketRef::new(12, Timestamp::from_secs_nanos(0, 1500)));
        for (dir, label) in [
            (Dir::C2S, "SYN".to_string()),
            (Dir::S2C, "HTTP/1.1 101 Switching Protocols".to_string()),
            (Dir::C2S, "x".repeat(200)),
        ] {
            let a = Arrow {
                dir,
                label,
                notes: Vec::new(),
                verdict: None,
                at: None,
            };
            p.draw(pkt, &a);
        }
        let widths: Vec<usize> = p.buf.lines().map(|l| l.chars().count()).collect();
        assert_eq!(widths.len(), 3);
        assert!(widths.iter().all(|&w| w == widths[0]), "{}", p.buf);
        let lines: Vec<&str> = p.buf.lines().collect();
        assert!(
            lines[0].starts_with("  0.000002      12  │"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains("─ SYN ─") && lines[0].ends_with("─▶│"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains("│◀─"), "{}", lines[1]);
        assert!(
            lines[2].contains("xxx… ─"),
            "long labels are cut: {}",
            lines[2]
        );
    }

    #[test]
    fn pure_acks_and_bare_segments_are_summarised_once() {
        let mut p = LadderPrinter::new(Vec::new(), 1, false, 128);
        p.acks = 2;
        p.segments = 1;
        p.segment_bytes = 1448;
        p.summarised();
        p.summarised();
        assert_eq!(p.buf.lines().count(), 1);
        assert!(
            p.buf
                .contains("⋯ 1 segment (1448 B) with no complete PDU, 2 ACKs ⋯")
        );
    }
}
