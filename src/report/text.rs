//! The default text view: one tshark-like line per packet that completes HTTP messages,
//! WebSocket frames or Server-Sent Events (several PDUs of one packet joined by `, `, each
//! followed by the anomalies found in it), optionally with the `-V` detail tree and `-x` hex
//! dumps under it; then the flows table, the header-overhead comparison table and the anomaly
//! list.
//!
//! Columns: packet number, seconds since the first packet of the capture, the flow id (`#3`,
//! what `--follow` and `--ladder` take), source → destination, protocol, info. Column widths
//! only ever grow (to the longest flow id and endpoint seen so far), so lines stay aligned.
//!
//! Anomalies are attached to the PDU they concern: the analyzer reports a frame's header
//! problems before the frame and a message's end problems (UTF-8, inflate) and the handshake's
//! verdict after the final frame or the 101, so an anomaly goes to the PDU that awaits its
//! follow-up event, else to the next PDU of the same packet, else to the last one. A packet with
//! anomalies but no PDU gets a line of its own (a gap, a mid-stream pick-up, a header whose frame
//! ends later).

use crate::decode::DetailNode;
use crate::model::{
    Anomaly, Code, Event, EventCtx, EventSink, FlowKind, HttpHead, HttpMessage, OpCode, Record,
    Render, View,
};
use crate::report::escape::{self, esc};
use crate::report::gate::{self, KindGate, Verdict};
use crate::report::hexdump;
use crate::report::render::{self, layer_of};
use crate::report::select::{Kinds, Pick, Selection};
use crate::report::style::{Paint, Style};
use crate::report::tables::{
    self, FLOW_ROWS_CAP, FlowRow, LATENCY_ROWS_CAP, LatencyRow, TableStyle,
};
use crate::report::verbose::{self, Flag, HttpExtras};
use crate::report::{IoState, PacketDone, Reporter, preview};
use crate::stats::RunStats;
use crate::tcp::{Dir, FlowId, PacketRef};
use crate::time::{TimeFormat, Timestamp};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;

/// What the text view shows.
#[derive(Clone, Debug)]
pub struct TextOptions {
    /// No per-packet lines.
    pub quiet: bool,
    /// Characters of payload shown in a preview (`-V`).
    pub preview: usize,
    /// Characters of payload shown on a summary line.
    pub line_preview: usize,
    pub kind: Option<FlowKind>,
    pub color: bool,
    pub tables: TableStyle,
    /// `-V`: the detail tree under each line.
    pub verbose: bool,
    /// `-x`: hex dumps of the payloads under each line.
    pub hex: bool,
    /// Bytes of one payload dumped with `-x` at most.
    pub hex_bytes: usize,
    /// `-O`: the layers the `-V` tree shows (all when empty).
    pub layers: Vec<String>,
    /// How the summary lines show time (`-t`).
    pub time: TimeFormat,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            quiet: false,
            preview: crate::model::PREVIEW,
            line_preview: crate::model::LINE_PREVIEW,
            kind: None,
            color: false,
            tables: TableStyle {
                unicode: true,
                width: None,
                color: false,
            },
            verbose: false,
            hex: false,
            hex_bytes: 64 << 10,
            layers: Vec::new(),
            time: TimeFormat::Relative,
        }
    }
}

/// Requests remembered per flow for `[Request in frame]` (pipelining rarely goes deeper).
const REQUESTS_REMEMBERED: usize = 32;

/// Which follow-up event a PDU waits for; anomalies arriving meanwhile belong to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    Nothing,
    /// A final data frame: its `WsMessage` comes next.
    Message,
    /// A 101 response: its `Handshake` comes next.
    Handshake,
}

/// An anomaly shown on a line, and the kinds of flow under which the filter shows it.
type Tagged = (Flag, Kinds);

/// One PDU completed by the current packet.
struct Pdu {
    dir: Dir,
    proto: &'static str,
    info: String,
    /// What closes the line in parentheses: a frame's size, and the message it completes.
    note: Option<String>,
    flags: Vec<Tagged>,
    /// The kinds of flow under which the filter shows it (all without a filter; none for a
    /// 101 or a final frame kept only in case its handshake or message matches).
    kinds: Kinds,
    awaiting: Awaiting,
    /// `-V` nodes of the layers the PDU came through (TLS: the record that completed it).
    layer_nodes: Vec<DetailNode>,
    /// `-V` nodes of this PDU (protocol node, then handshake / message nodes).
    nodes: Vec<DetailNode>,
    /// `-x` dump of this PDU.
    hex: String,
}

/// The PDUs and anomalies of one packet of one flow, printed as one line.
struct Group {
    flow: Option<FlowId>,
    pkt: Option<PacketRef>,
    /// Client and server of the flow.
    ends: Option<(SocketAddr, SocketAddr)>,
    pdus: Vec<Pdu>,
    /// Anomalies waiting for the PDU they concern.
    orphans: Vec<(Option<Dir>, Tagged)>,
    /// Anomalies about the packet or the stream (TCP), not about one PDU, with their direction.
    packet_flags: Vec<(Option<Dir>, Tagged)>,
    /// The flow closed while this group was open: the `--kind` decision made then.
    forced: Option<bool>,
}

/// What `-V` remembers about a flow between packets.
#[derive(Default)]
struct FlowNotes {
    /// Requests not yet answered: packet, time and URI.
    requests: VecDeque<(Option<u64>, Timestamp, Vec<u8>)>,
}

/// The text printer.
pub struct TextPrinter<W: Write> {
    out: W,
    io: IoState,
    opts: TextOptions,
    style: Style,
    first_ts: Option<Timestamp>,
    /// The packet being told done and the time of the one captured before it (`-t d`).
    captured: Option<(u64, Option<Timestamp>)>,
    last_captured: Option<Timestamp>,
    /// The time of the last line printed (`-t dd`).
    last_shown: Option<Timestamp>,
    group: Option<Group>,
    flow_rows: Vec<FlowRow>,
    flow_rows_omitted: u64,
    examples: BTreeMap<Code, Vec<String>>,
    gate: Option<KindGate>,
    notes: HashMap<FlowId, FlowNotes>,
    width_flow: usize,
    width_end: usize,
    line: String,
    release: Vec<u8>,
    latency_rows: Vec<LatencyRow>,
    latency_omitted: u64,
    /// `-Y`: what is shown, and what the tables keep.
    select: Option<Selection>,
    /// `--filter-flows`: whole flows in which something matched (decided through `gate`).
    whole_flows: bool,
    /// Lines of flows whose kind the filter waits for, with the packet description and
    /// direction they are printed with.
    held: HashMap<FlowId, Vec<HeldLine>>,
    held_lines: usize,
    held_overflow: bool,
}

/// A line held for its flow's kind: the group, the packet's description and direction.
type HeldLine = (Group, Option<Vec<DetailNode>>, Option<Dir>);

/// Lines held for the filter at most, across flows; past it the oldest flow's are judged with
/// its kind unknown.
const HELD_LINES_CAP: usize = 1 << 16;

impl<W: Write> TextPrinter<W> {
    /// Shows only what `select` picks: records that match, or with `whole_flows` every record
    /// of the flows in which something matched.
    pub fn with_filter(mut self, select: Selection, whole_flows: bool) -> Self {
        self.select = Some(select);
        self.whole_flows = whole_flows;
        if whole_flows {
            self.gate = Some(KindGate::deciding());
        }
        self
    }

    pub fn new(out: W, opts: TextOptions) -> Self {
        TextPrinter {
            out,
            io: IoState::default(),
            gate: opts.kind.map(KindGate::new),
            style: Style::new(opts.color),
            opts,
            first_ts: None,
            captured: None,
            last_captured: None,
            last_shown: None,
            group: None,
            flow_rows: Vec::new(),
            flow_rows_omitted: 0,
            examples: BTreeMap::new(),
            notes: HashMap::new(),
            width_flow: 2,
            width_end: 0,
            line: String::new(),
            release: Vec::new(),
            latency_rows: Vec::new(),
            latency_omitted: 0,
            select: None,
            whole_flows: false,
            held: HashMap::new(),
            held_lines: 0,
            held_overflow: false,
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
            let _ = write!(s, ": {}", esc(&a.detail));
            v.push(s);
        }
    }

    /// The group for (flow, packet), printing the previous one if it belonged elsewhere.
    fn group_for(&mut self, ctx: &EventCtx<'_>) -> &mut Group {
        let same = self.group.as_ref().is_some_and(|g| {
            g.flow == Some(ctx.flow.id) && g.pkt.map(|p| p.frame) == ctx.pkt.map(|p| p.frame)
        });
        if !same {
            self.flush(None, None);
            if let Some(p) = ctx.pkt {
                self.first_ts.get_or_insert(p.ts);
            }
        }
        self.group.get_or_insert_with(|| Group {
            flow: Some(ctx.flow.id),
            pkt: ctx.pkt,
            ends: Some((ctx.flow.client, ctx.flow.server)),
            pdus: Vec::new(),
            orphans: Vec::new(),
            packet_flags: Vec::new(),
            forced: None,
        })
    }

    fn push_pdu(&mut self, ctx: &EventCtx<'_>, pdu: Pdu) {
        let mut pdu = pdu;
        self.add_layers(ctx, &mut pdu);
        let g = self.group_for(ctx);
        // Anomalies reported before this PDU in this packet concern it (same direction).
        let mut i = 0;
        while i < g.orphans.len() {
            if g.orphans[i].0.is_none_or(|d| d == pdu.dir) {
                pdu.flags.push(g.orphans.remove(i).1);
            } else {
                i += 1;
            }
        }
        for p in &mut g.pdus {
            p.awaiting = Awaiting::Nothing;
        }
        g.pdus.push(pdu);
    }

    fn new_pdu(dir: Dir, proto: &'static str, info: String, awaiting: Awaiting) -> Pdu {
        Pdu {
            dir,
            proto,
            info,
            note: None,
            flags: Vec::new(),
            kinds: Kinds::ALL,
            awaiting,
            layer_nodes: Vec::new(),
            nodes: Vec::new(),
            hex: String::new(),
        }
    }

    /// What the layers a PDU came through add to it: their names before its info
    /// (`TLS 1.3 › WebSocket Text`), their record above its `-V` tree, their bytes before its
    /// `-x` dumps (the record's ciphertext above the plaintext).
    fn add_layers(&self, ctx: &EventCtx<'_>, pdu: &mut Pdu) {
        let Some(layer) = ctx.layer else {
            return;
        };
        let names = layer.names();
        let mut info = String::new();
        for name in &names {
            info.push_str(name);
            info.push_str(" › ");
        }
        info.push_str(&pdu.info);
        pdu.info = info;
        let mut at = Some(layer);
        let mut records = Vec::new();
        while let Some(l) = at {
            if let Some(r) = l.record {
                records.push((l.name, r));
            }
            at = l.outer;
        }
        records.reverse();
        if self.opts.verbose {
            pdu.layer_nodes = records
                .iter()
                .map(|(name, r)| render::record_layer_node(name, r))
                .collect();
        }
        if self.opts.hex {
            let dumps: Vec<_> = records
                .iter()
                .filter(|(_, r)| !r.ciphertext.is_empty())
                .map(|(_, r)| render::record_layer_dump(r))
                .collect();
            let mut hex = String::new();
            render::dumps_text(&mut hex, "    ", &dumps);
            hex.push_str(&pdu.hex);
            pdu.hex = hex;
        }
    }

    /// The PDU of this packet waiting for `what` (in direction `dir`, if given).
    fn awaiting_pdu(&mut self, ctx: &EventCtx<'_>, what: Awaiting) -> Option<&mut Pdu> {
        let g = self.group.as_mut()?;
        if g.flow != Some(ctx.flow.id) || g.pkt.map(|p| p.frame) != ctx.pkt.map(|p| p.frame) {
            return None;
        }
        g.pdus.iter_mut().rev().find(|p| p.awaiting == what)
    }

    fn on_anomaly(&mut self, ctx: &EventCtx<'_>, a: &Anomaly, kinds: Kinds) {
        let flag = (
            Flag {
                code: a.code,
                detail: a.detail.clone(),
            },
            kinds,
        );
        let g = self.group_for(ctx);
        if layer_of(a.code) == "TCP" {
            // About the byte stream, not about a PDU: shown for the packet.
            g.packet_flags.push((a.dir, flag));
            return;
        }
        let waiting = g
            .pdus
            .iter_mut()
            .rev()
            .find(|p| p.awaiting != Awaiting::Nothing && a.dir.is_none_or(|d| d == p.dir));
        match waiting {
            Some(p) => p.flags.push(flag),
            None => g.orphans.push((a.dir, flag)),
        }
    }

    /// How this printer shows records.
    fn view(&self) -> View {
        View {
            preview_chars: self.opts.preview,
            line_chars: self.opts.line_preview,
            dump_bytes: self.opts.hex_bytes,
            color: self.opts.color,
        }
    }

    /// A PDU drawn from the record's own [`Render`] form: its protocol, info line, `-V` nodes
    /// and `-x` dumps.
    fn push_generic(
        &mut self,
        ctx: &EventCtx<'_>,
        record: Record<'_>,
        awaiting: Awaiting,
        kinds: Kinds,
    ) {
        let view = self.view();
        let render = record.render();
        let dir = record
            .dir()
            .or(ctx.pkt.and_then(|p| p.dir))
            .unwrap_or(Dir::C2S);
        let mut pdu = Self::new_pdu(dir, render.protocol(), render.info(&view), awaiting);
        pdu.kinds = kinds;
        if self.opts.verbose {
            pdu.nodes = render.detail(&view);
        }
        if self.opts.hex {
            render::dumps_text(&mut pdu.hex, "    ", &render.dumps(&view));
        }
        self.push_pdu(ctx, pdu);
    }

    fn http_extras(&mut self, ctx: &EventCtx<'_>, m: &HttpMessage<'_>) -> HttpExtras {
        let notes = self.notes.entry(ctx.flow.id).or_default();
        let mut extras = HttpExtras::default();
        match m.head {
            HttpHead::Request { target, .. } => {
                let host = m
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("host"))
                    .map(|h| h.value);
                let uri = match host {
                    Some(h) if target.starts_with('/') => {
                        [b"http://", h, target.as_bytes()].concat()
                    }
                    _ => target.as_bytes().to_vec(),
                };
                extras.full_uri = Some(uri.clone());
                if notes.requests.len() >= REQUESTS_REMEMBERED {
                    notes.requests.pop_front();
                }
                notes
                    .requests
                    .push_back((ctx.pkt.map(|p| p.frame), m.start_ts, uri));
            }
            HttpHead::Response { status, .. } => {
                // Interim (1xx) responses other than 101 leave the request waiting.
                let final_answer = !(100..200).contains(&status) || status == 101;
                let req = if final_answer {
                    notes.requests.pop_front()
                } else {
                    notes.requests.front().cloned()
                };
                if let Some((frame, ts, uri)) = req {
                    extras.request_frame = frame;
                    extras.time_since_request = Some(m.start_ts.secs_since(ts).max(0.0));
                    extras.request_uri = Some(uri);
                }
            }
        }
        extras
    }
}

impl<W: Write> TextPrinter<W> {
    fn push_flags<'f>(&self, out: &mut String, flags: impl IntoIterator<Item = &'f Flag>) {
        for f in flags {
            out.push(' ');
            let mut tag = String::with_capacity(f.code.as_str().len() + 2);
            tag.push('[');
            tag.push_str(f.code.as_str());
            tag.push(']');
            self.style
                .push(out, Paint::severity(f.code.severity()), &tag);
        }
    }

    /// Prints the group in progress. `packet` is the description of the packet it came from,
    /// for the `-V` tree, and `pkt_dir` that packet's direction in the flow, when known.
    fn flush(&mut self, packet: Option<Vec<DetailNode>>, pkt_dir: Option<Dir>) {
        let Some(mut g) = self.group.take() else {
            return;
        };
        if self.select.is_some() && !self.whole_flows {
            // What the filter left out for good goes; the anomalies of a PDU that goes stay
            // with the packet.
            for (dir, flag) in std::mem::take(&mut g.orphans) {
                g.packet_flags.push((dir, flag));
            }
            let mut i = 0;
            while i < g.pdus.len() {
                if g.pdus[i].kinds.is_empty() {
                    let pdu = g.pdus.remove(i);
                    g.packet_flags
                        .extend(pdu.flags.into_iter().map(|f| (Some(pdu.dir), f)));
                } else {
                    i += 1;
                }
            }
            let waits = g.pdus.iter().any(|p| p.kinds != Kinds::ALL)
                || g.packet_flags.iter().any(|(_, (_, k))| *k != Kinds::ALL);
            if let Some(flow) = g.flow
                && (waits || self.held.contains_key(&flow))
            {
                self.held
                    .entry(flow)
                    .or_default()
                    .push((g, packet, pkt_dir));
                self.held_lines += 1;
                if self.held_lines > HELD_LINES_CAP {
                    self.held_overflow = true;
                    let oldest = self.held.keys().min().copied();
                    if let Some(oldest) = oldest {
                        self.release_held(oldest, None);
                    }
                }
                return;
            }
        }
        self.print_group(g, packet, pkt_dir);
    }

    /// Prints the lines held for `flow`, as a flow of `kind` shows them.
    fn release_held(&mut self, flow: FlowId, kind: Option<FlowKind>) {
        let Some(held) = self.held.remove(&flow) else {
            return;
        };
        self.held_lines -= held.len();
        for (mut g, packet, pkt_dir) in held {
            settle(&mut g, kind);
            self.print_group(g, packet, pkt_dir);
        }
    }

    /// Prints a group: one line, its tree and dumps.
    fn print_group(&mut self, mut g: Group, packet: Option<Vec<DetailNode>>, pkt_dir: Option<Dir>) {
        // Anomalies nothing claimed go to the last PDU of their direction, if any.
        for (dir, flag) in std::mem::take(&mut g.orphans) {
            match g
                .pdus
                .iter_mut()
                .rev()
                .find(|p| dir.is_none_or(|d| d == p.dir))
            {
                Some(p) => p.flags.push(flag),
                None => g.packet_flags.push((dir, flag)),
            }
        }
        if g.pdus.is_empty() && g.packet_flags.is_empty() {
            return;
        }
        let style = self.style;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        match g.pkt {
            Some(pkt) => {
                let first = self.first_ts.unwrap_or(pkt.ts);
                let previous = match self.opts.time {
                    TimeFormat::DeltaShown => self.last_shown,
                    _ => self.captured.filter(|c| c.0 == pkt.frame).and_then(|c| c.1),
                };
                let shown = self.opts.time.show(pkt.ts, first, previous);
                let _ = write!(
                    line,
                    "{:>6} {shown:>w$} ",
                    pkt.frame,
                    w = self.opts.time.width()
                );
                self.last_shown = Some(pkt.ts);
            }
            None => {
                let _ = write!(
                    line,
                    "{:>6} {:>w$} ",
                    "-",
                    "(end)",
                    w = self.opts.time.width()
                );
            }
        }
        let flow = g.flow.map_or_else(|| "-".to_string(), |f| format!("#{f}"));
        self.width_flow = self.width_flow.max(flow.len());
        let _ = write!(line, "{flow:<w$} ", w = self.width_flow);
        let dir = g
            .pdus
            .first()
            .map(|p| p.dir)
            .or(pkt_dir)
            .or_else(|| g.packet_flags.iter().find_map(|(d, _)| *d))
            .unwrap_or(Dir::C2S);
        match g.ends {
            Some((client, server)) => {
                let (c, s) = (client.to_string(), server.to_string());
                self.width_end = self.width_end.max(c.len()).max(s.len());
                let (src, dst) = match dir {
                    Dir::C2S => (c, s),
                    Dir::S2C => (s, c),
                };
                style.push_padded(&mut line, Paint::sender(dir), &src, self.width_end, true);
                line.push_str(" → ");
                style.push_padded(
                    &mut line,
                    Paint::sender(dir.other()),
                    &dst,
                    self.width_end,
                    false,
                );
                line.push(' ');
            }
            None => {
                let _ = write!(line, "{:>w$}   {:<w$} ", "", "", w = self.width_end);
            }
        }
        let proto = match (g.pdus.last(), g.packet_flags.first()) {
            (Some(p), _) => p.proto,
            (None, Some((_, (f, _)))) => layer_of(f.code),
            (None, None) => "",
        };
        style.push_padded(&mut line, Paint::protocol(proto), proto, 9, false);
        line.push(' ');
        for (i, pdu) in g.pdus.iter().enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            line.push_str(&pdu.info);
            if let Some(note) = &pdu.note {
                let _ = write!(line, " ({note})");
            }
            self.push_flags(&mut line, pdu.flags.iter().map(|(f, _)| f));
        }
        if g.pdus.is_empty() {
            // A line of its own: say what happened.
            for (i, (_, (flag, _))) in g.packet_flags.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                let tag = format!("[{}]", flag.code.as_str());
                style.push(&mut line, Paint::severity(flag.code.severity()), &tag);
                line.push(' ');
                escape::push(&mut line, &flag.detail);
            }
        } else {
            self.push_flags(&mut line, g.packet_flags.iter().map(|(_, (f, _))| f));
        }
        line.push('\n');
        if self.opts.verbose {
            let mut nodes = packet.unwrap_or_default();
            nodes.extend(g.packet_flags.iter().map(|(_, (f, _))| verbose::expert(f)));
            for pdu in &mut g.pdus {
                let mut pdu_nodes = std::mem::take(&mut pdu.nodes);
                // The last node is the most specific (the handshake under a 101).
                if let Some(last) = pdu_nodes.last_mut() {
                    last.children
                        .extend(pdu.flags.iter().map(|(f, _)| verbose::expert(f)));
                }
                nodes.append(&mut pdu.layer_nodes);
                nodes.extend(pdu_nodes);
            }
            verbose::only_layers(&mut nodes, &self.opts.layers);
            verbose::render(&mut line, &nodes, 4, style);
        }
        if self.opts.hex {
            for pdu in &g.pdus {
                line.push_str(&pdu.hex);
            }
        }
        if self.opts.verbose || self.opts.hex {
            line.push('\n');
        }
        let pass = match (g.forced, &self.gate, g.flow) {
            (Some(p), _, _) => Some(p),
            (None, Some(gate), Some(f)) if !gate.is_passing(f) => None,
            _ => Some(true),
        };
        match (pass, g.flow) {
            (Some(true), _) => self.write(line.as_bytes()),
            (Some(false), _) => {}
            (None, Some(flow)) => {
                if let Some(gate) = &mut self.gate {
                    self.release.clear();
                    gate.hold(flow, line.as_bytes(), &mut self.release);
                    let rel = std::mem::take(&mut self.release);
                    self.write(&rel);
                    self.release = rel;
                }
            }
            (None, None) => self.write(line.as_bytes()),
        }
        self.line = line;
    }
}

impl<W: Write> EventSink for TextPrinter<W> {
    /// `-q` with no filter and no kind gate prints tables only: anomaly examples, latency rows
    /// and flow rows.
    fn wants_message_records(&self) -> bool {
        !self.opts.quiet || self.select.is_some() || self.gate.is_some()
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        if let Some(sel) = &mut self.select
            && !sel.global(anomaly, frame)
        {
            return;
        }
        self.example(anomaly, None, Some(frame));
        if self.opts.quiet || self.gate.is_some() {
            return;
        }
        self.flush(None, None);
        self.first_ts.get_or_insert(anomaly.ts);
        self.group = Some(Group {
            flow: None,
            pkt: Some(PacketRef::new(frame, anomaly.ts)),
            ends: None,
            pdus: Vec::new(),
            orphans: Vec::new(),
            packet_flags: vec![(
                None,
                (
                    Flag {
                        code: anomaly.code,
                        detail: anomaly.detail.clone(),
                    },
                    Kinds::ALL,
                ),
            )],
            forced: None,
        });
    }

    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        // The filter's answer for this event's record, and whether a closing flow is kept.
        let mut pick = Pick::Yes;
        let mut kept = true;
        if let Some(sel) = &mut self.select {
            let learnt = sel.observe(ctx, &event);
            match event {
                Event::Record(r) => pick = sel.record(ctx, r),
                Event::HttpHead(m) if gate::starts_event_stream(m) => {
                    pick = sel.record(ctx, Record::Http(m))
                }
                Event::FlowClosed { how, summary } => {
                    kept = sel.flow_closed(ctx.flow, summary, how).keep;
                }
                _ => {}
            }
            let matched = sel.flow_matched(flow);
            if self.whole_flows {
                if let Some(gate) = &mut self.gate {
                    self.release.clear();
                    if matched || matches!(event, Event::FlowClosed { .. }) {
                        gate.decide(flow, matched || kept, &mut self.release);
                    }
                    let rel = std::mem::take(&mut self.release);
                    self.write(&rel);
                    self.release = rel;
                }
                pick = Pick::Yes;
            } else if let Some(kind) = learnt {
                if let Some(g) = self.group.as_mut().filter(|g| g.flow == Some(flow)) {
                    settle(g, Some(kind));
                }
                // Lines held for this flow come out before the line in progress.
                let current = self.group.take();
                self.release_held(flow, Some(kind));
                self.group = current;
            }
        }
        match event {
            Event::Record(Record::Anomaly(a)) if pick == Pick::Yes => {
                self.example(a, Some(flow), ctx.pkt.map(|p| p.frame))
            }
            Event::Record(Record::Latency(l)) => {
                let keep = self.opts.kind.is_none_or(|k| k == FlowKind::WebSocket);
                if keep && self.latency_rows.len() < LATENCY_ROWS_CAP {
                    let mut row = LatencyRow::new(l);
                    row.name = row.name.map(|n| esc(&n).to_string());
                    self.latency_rows.push(row);
                } else if keep {
                    self.latency_omitted += 1;
                }
                return;
            }
            Event::FlowClosed { how, summary } => {
                self.notes.remove(&flow);
                let kind = summary.closed_kind();
                if kept && self.opts.kind.is_none_or(|k| k == kind) {
                    // A row is built only to be listed (its addresses are text).
                    if self.flow_rows.len() < FLOW_ROWS_CAP {
                        self.flow_rows.push(FlowRow::new(ctx.flow, summary, how));
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
            if let Event::FlowClosed { .. } = event {
                // The gate forgets the flow now: decide for the line still being built.
                if let Some(g) = self.group.as_mut().filter(|g| g.flow == Some(flow)) {
                    g.forced = Some(verdict == Verdict::Pass);
                }
            }
            if verdict == Verdict::Drop {
                return;
            }
        }
        if self.opts.quiet {
            return;
        }
        let preview_chars = self.opts.preview;
        let verbose = self.opts.verbose;
        let hex = self.opts.hex;
        let view = self.view();
        let kinds = pick.kinds();
        match event {
            Event::Record(Record::Anomaly(a)) => {
                if pick != Pick::No {
                    self.on_anomaly(ctx, a, kinds)
                }
            }
            Event::Record(Record::Http(m)) => {
                if gate::starts_event_stream(m) {
                    return;
                }
                let switching = matches!(m.head, HttpHead::Response { status: 101, .. });
                let awaiting = if switching && m.upgrade.is_some() {
                    Awaiting::Handshake
                } else {
                    Awaiting::Nothing
                };
                if pick == Pick::No && awaiting == Awaiting::Nothing {
                    if verbose {
                        // Keeps the request/response pairing of the lines that are shown.
                        self.http_extras(ctx, m);
                    }
                    return;
                }
                let mut pdu = Self::new_pdu(m.dir, m.protocol(), m.info(&view), awaiting);
                pdu.kinds = kinds;
                if verbose {
                    let extras = self.http_extras(ctx, m);
                    pdu.nodes
                        .push(verbose::http(m, &extras, preview_chars, false));
                }
                if hex {
                    render::dumps_text(&mut pdu.hex, "    ", &m.dumps(&view));
                }
                self.push_pdu(ctx, pdu);
            }
            // Event streams never end in time to be useful: show their head at once.
            Event::HttpHead(m) if gate::starts_event_stream(m) => {
                if pick == Pick::No {
                    return;
                }
                let info = format!("{} (text/event-stream)", verbose::start_line(&m.head));
                let mut pdu = Self::new_pdu(m.dir, m.protocol(), info, Awaiting::Nothing);
                pdu.kinds = kinds;
                if verbose {
                    let extras = self.http_extras(ctx, m);
                    pdu.nodes
                        .push(verbose::http(m, &extras, preview_chars, true));
                }
                if hex {
                    render::dumps_text(&mut pdu.hex, "    ", &m.dumps(&view));
                }
                self.push_pdu(ctx, pdu);
            }
            Event::Record(Record::Handshake(h)) => {
                if let Some(p) = self.awaiting_pdu(ctx, Awaiting::Handshake) {
                    p.awaiting = Awaiting::Nothing;
                    p.kinds = p.kinds.union(kinds);
                    if verbose && pick != Pick::No {
                        p.nodes.extend(h.detail(&view));
                    }
                }
            }
            Event::Record(Record::WsFrame(f)) => {
                let ends_message = f.fin && !f.opcode.is_control();
                let awaiting = if ends_message {
                    Awaiting::Message
                } else {
                    Awaiting::Nothing
                };
                if pick == Pick::No && !ends_message {
                    return;
                }
                let (info, size) = render::frame_line(f, &view);
                let mut pdu = Self::new_pdu(f.dir, f.protocol(), info, awaiting);
                pdu.note = Some(size);
                pdu.kinds = kinds;
                if verbose {
                    pdu.nodes = f.detail(&view);
                }
                if hex {
                    render::dumps_text(&mut pdu.hex, "    ", &f.dumps(&view));
                }
                self.push_pdu(ctx, pdu);
            }
            Event::Record(Record::WsMessage(m)) => {
                if let Some(p) = self.awaiting_pdu(ctx, Awaiting::Message) {
                    p.awaiting = Awaiting::Nothing;
                    p.kinds = p.kinds.union(kinds);
                    if pick == Pick::No {
                        return;
                    }
                    // What the message meant to its sub-protocol says more than its bytes.
                    let sub = render::sub_info(m, view.line_chars);
                    let meant = sub.is_some();
                    if let Some(info) = sub {
                        p.info = info;
                    }
                    // The frame alone did not show the message: say what it was, its text
                    // and its size, for every opcode alike.
                    if m.compressed || m.frames > 1 {
                        if m.opcode == OpCode::Text && !meant {
                            p.info.push_str(" \"");
                            preview::text_cut(m.data_head, view.line_chars, m.len, &mut p.info);
                            p.info.push('"');
                        }
                        let note = p.note.get_or_insert_with(String::new);
                        let _ = write!(note, "; message of {} B", m.len);
                        if m.frames > 1 {
                            let _ = write!(note, " in {} frames", m.frames);
                        }
                        if m.compressed {
                            note.push_str(", inflated");
                        }
                    }
                    if verbose && let Some(node) = p.nodes.first_mut() {
                        node.children.extend(m.detail(&view));
                    }
                    if hex {
                        render::dumps_text(&mut p.hex, "    ", &m.dumps(&view));
                    }
                }
            }
            // Every other record (Server-Sent Events, and whatever a protocol adds) shows
            // itself.
            Event::Record(record) => {
                if pick != Pick::No {
                    self.push_generic(ctx, record, Awaiting::Nothing, kinds)
                }
            }
            Event::FlowOpened
            | Event::HttpHead(_)
            | Event::Control { .. }
            | Event::FlowClosed { .. } => {}
        }
    }
}

/// Leaves in a group what a flow of `kind` shows (`None`: the kind was never known).
fn settle(g: &mut Group, kind: Option<FlowKind>) {
    let shown = |k: &Kinds| k.holds(kind);
    for (_, (_, k)) in g.orphans.iter_mut().chain(g.packet_flags.iter_mut()) {
        if !shown(k) {
            *k = Kinds::NONE;
        }
    }
    g.orphans.retain(|(_, (_, k))| !k.is_empty());
    g.packet_flags.retain(|(_, (_, k))| !k.is_empty());
    for p in &mut g.pdus {
        p.flags.retain(|(_, k)| shown(k));
        for (_, k) in &mut p.flags {
            *k = Kinds::ALL;
        }
        p.kinds = if shown(&p.kinds) {
            Kinds::ALL
        } else {
            Kinds::NONE
        };
    }
    for (_, (_, k)) in g.orphans.iter_mut().chain(g.packet_flags.iter_mut()) {
        *k = Kinds::ALL;
    }
    let flags: Vec<(Option<Dir>, Tagged)> = g
        .pdus
        .iter_mut()
        .filter(|p| p.kinds.is_empty())
        .flat_map(|p| {
            let dir = p.dir;
            std::mem::take(&mut p.flags)
                .into_iter()
                .map(move |f| (Some(dir), f))
        })
        .collect();
    g.packet_flags.extend(flags);
    g.pdus.retain(|p| !p.kinds.is_empty());
}

impl<W: Write> TextPrinter<W> {
    /// Whether the line in progress is about the packet `frame` itself, not about a flow that
    /// another packet's arrival closed, and that packet's direction in the line's flow.
    fn line_about(&self, frame: u64) -> Option<(bool, Option<Dir>)> {
        let g = self.group.as_ref()?;
        let pkt = g.pkt.filter(|p| p.frame == frame);
        let dir = pkt.and_then(|p| p.dir);
        Some((pkt.is_some() && (g.flow.is_none() || dir.is_some()), dir))
    }
}

impl<W: Write> Reporter for TextPrinter<W> {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        if self.opts.quiet {
            return;
        }
        self.first_ts.get_or_insert(done.ts());
        self.captured = Some((done.frame(), self.last_captured));
        self.last_captured = Some(done.ts());
        let Some((own, dir)) = self.line_about(done.frame()) else {
            return;
        };
        // The tree describes this packet only if the line is about it.
        let packet = (own && self.opts.verbose).then(|| done.describe());
        self.flush(packet, dir);
    }

    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        self.flush(None, None);
        let mut flows: Vec<FlowId> = self.held.keys().copied().collect();
        flows.sort_unstable();
        for flow in flows {
            self.release_held(flow, None);
        }
        if let Some(e) = self.io.take() {
            return Err(e);
        }
        let filtered = self.select.as_ref().map(|sel| sel.table_stats(stats));
        let stats = filtered.as_ref().unwrap_or(stats);
        let style = self.opts.tables;
        self.flow_rows.sort_by_key(|r| r.id);
        let mut s = String::new();
        if !self.opts.quiet && stats.packets > 0 {
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "Flows ({} flow{}, {} packet{})",
            stats.flows,
            hexdump::plural(stats.flows),
            stats.packets,
            hexdump::plural(stats.packets)
        );
        if let Some(k) = self.opts.kind {
            let _ = writeln!(s, "(only {k} flows are listed: --kind {k})");
        }
        s.push_str(&tables::flows_table(
            &self.flow_rows,
            self.flow_rows_omitted,
            style,
        ));
        if !self.latency_rows.is_empty() {
            s.push_str("\n\nApplication latency (sub-protocol requests and their replies)\n");
            s.push_str(&tables::latency_table(
                &self.latency_rows,
                self.latency_omitted,
                style,
            ));
        }
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
        s.push_str(&tables::z_tables(&stats.z, style));
        if stats.flows_skipped_by_port > 0 {
            let n = stats.flows_skipped_by_port;
            let _ = writeln!(
                s,
                "\nnote: {n} TCP flow{} on other ports {} skipped; use --any-port to detect \
                 HTTP/WebSocket on every port, or -p PORT to add a port",
                hexdump::plural(n),
                if n == 1 { "was" } else { "were" }
            );
        }
        for note in input_notes(stats) {
            let _ = writeln!(s, "\nnote: {note}");
        }
        if self.gate.as_ref().is_some_and(|g| g.overflowed) {
            let why = if self.whole_flows {
                "--filter-flows held too much output; some flows were printed before anything in them matched"
            } else {
                "--kind held too much output; some flows were printed before their kind was known"
            };
            let _ = writeln!(s, "\nnote: {why}");
        }
        if self.held_overflow {
            s.push_str("\nnote: the filter held too much output waiting for flow kinds; some lines were judged with the kind unknown\n");
        }
        if let Some(sel) = &self.select {
            let _ = writeln!(s, "\n{}", sel.note());
        }
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io.take()
    }

    /// `-q` prints no packet lines.
    fn wants_packets(&self) -> bool {
        !self.opts.quiet
    }
}

/// What the summary says about input the analysis could not take as it came: flows refused
/// at the flow cap or by the memory budget, closed flows finalised early to make room, TCP
/// packets of no flow, and odd records in the files.
fn input_notes(stats: &RunStats) -> Vec<String> {
    let mut notes = Vec::new();
    let by_budget = stats.flows_refused_by_budget;
    let by_cap = stats.flows_refused_by_cap.saturating_sub(by_budget);
    let were = |n: u64| if n == 1 { " was" } else { "s were" };
    if by_cap > 0 {
        notes.push(format!(
            "{by_cap} TCP flow{} not analyzed: the flow table was full; raise --max-flows \
             to track more flows at once",
            were(by_cap)
        ));
    }
    if by_budget > 0 {
        notes.push(format!(
            "{by_budget} TCP flow{} not analyzed: the memory budget could not hold another \
             flow; raise --memory to track more flows at once",
            were(by_budget)
        ));
    }
    let early = stats.closed_flows_finalised_early;
    if early > 0 {
        let (them, their) = if early == 1 {
            ("it", "its record")
        } else {
            ("them", "their records")
        };
        notes.push(format!(
            "{early} closed TCP flow{} finalised before the end of the 5 s linger, to make \
             room (--max-flows, --memory): later packets of {them} (a last ACK, a \
             retransmitted FIN) are not counted in {their}",
            were(early),
        ));
    }
    let strays = stats.stray_packets;
    if strays > 0 {
        notes.push(format!(
            "{strays} TCP packet{} belonged to no flow (late packets of a closed flow, RSTs of \
             connections not tracked): counted, not analyzed",
            hexdump::plural(strays),
        ));
    }
    let r = &stats.record_notes;
    let records = |n: u64| format!("{n} record{}", hexdump::plural(n));
    if r.zero_length > 0 {
        notes.push(format!(
            "{} with no captured bytes (counted as packets, nothing to decode)",
            records(r.zero_length)
        ));
    }
    if r.fraction_overflow > 0 {
        notes.push(format!(
            "{} with a timestamp fraction of a whole second or more (microseconds above \
             999,999): the excess was carried into the seconds",
            records(r.fraction_overflow)
        ));
    }
    if r.backwards > 0 {
        notes.push(format!(
            "{} timestamped earlier than the record before them: relative times step back \
             there; flow timing keeps the latest time seen",
            records(r.backwards)
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FlowSummary, WsFrame, WsMessage};
    use crate::tcp::{CloseHow, FlowMeta, RoleBasis};

    fn meta(id: FlowId) -> FlowMeta {
        FlowMeta::new(
            id,
            SocketAddr::from(([10, 0, 0, 1], 5000)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
            RoleBasis::Syn,
            Timestamp::ZERO,
        )
    }

    fn pkt(frame: u64) -> Option<PacketRef> {
        Some(PacketRef::new(
            frame,
            Timestamp::from_secs_nanos(1, frame as u32 * 1000),
        ))
    }

    fn frame<'a>(dir: Dir, opcode: OpCode, fin: bool, payload: &'a [u8]) -> WsFrame<'a> {
        WsFrame {
            dir,
            ts: Timestamp::ZERO,
            first_frame: 1,
            fin,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
            header: &[0x81, 0x05],
            payload_head: payload,
            close_code: None,
            close_reason: None,
            deflate: false,
        }
    }

    fn anomaly(code: Code, dir: Dir) -> Anomaly {
        Anomaly {
            code,
            dir: Some(dir),
            ts: Timestamp::ZERO,
            detail: format!("detail of {}", code.as_str()),
        }
    }

    fn printer(opts: TextOptions) -> TextPrinter<Vec<u8>> {
        TextPrinter::new(Vec::new(), opts)
    }

    fn output(p: TextPrinter<Vec<u8>>) -> String {
        String::from_utf8(p.into_inner()).expect("UTF-8")
    }

    /// Ends the packet without a frame to describe.
    fn end_packet(p: &mut TextPrinter<Vec<u8>>) {
        p.flush(None, None);
    }

    #[test]
    fn anomalies_go_to_the_pdu_they_concern() {
        let m = meta(1);
        let mut p = printer(TextOptions::default());
        let ctx = EventCtx::new(&m, pkt(7));
        // A header problem is reported before its frame; an end-of-message problem after the
        // final frame, before the message event.
        let a = anomaly(Code::WsReservedOpcode, Dir::C2S);
        p.event(&ctx, Event::Record(Record::Anomaly(&a)));
        let f1 = frame(Dir::C2S, OpCode::Reserved(3), true, b"");
        p.event(&ctx, Event::Record(Record::WsFrame(&f1)));
        let f2 = frame(Dir::C2S, OpCode::Text, true, b"caf\xc3");
        p.event(&ctx, Event::Record(Record::WsFrame(&f2)));
        let late = anomaly(Code::WsInvalidUtf8, Dir::C2S);
        p.event(&ctx, Event::Record(Record::Anomaly(&late)));
        let msg = WsMessage {
            dir: Dir::C2S,
            ts: Timestamp::ZERO,
            opcode: OpCode::Text,
            frames: 1,
            wire_len: 4,
            len: 4,
            compressed: false,
            valid_utf8: Some(false),
            data_head: b"caf\xc3",
            digest: crate::model::Digest::Off,
            sub: &[],
            sub_choice: None,
        };
        p.event(&ctx, Event::Record(Record::WsMessage(&msg)));
        // A stream problem belongs to the packet.
        let gap = anomaly(Code::TcpGap, Dir::C2S);
        p.event(&ctx, Event::Record(Record::Anomaly(&gap)));
        end_packet(&mut p);
        let out = output(p);
        assert_eq!(out.lines().count(), 1, "{out}");
        let line = out.lines().next().expect("a line");
        assert!(line.starts_with("     7    0.000000 #1 10.0.0.1:5000 → 10.0.0.2:80   WebSocket "));
        assert!(
            line.ends_with(
                "WebSocket Non-Control Frame (Reserved 0x3) [FIN] (0 B) [ws.reserved_opcode], \
                 WebSocket Text [FIN] \"caf\\xc3\" (4 B) [ws.invalid_utf8] [tcp.gap]"
            ),
            "{line}"
        );
    }

    #[test]
    fn a_packet_with_only_anomalies_gets_its_own_line() {
        let m = meta(3);
        let mut p = printer(TextOptions::default());
        let ctx = EventCtx::new(&m, pkt(9));
        let gap = anomaly(Code::TcpGap, Dir::S2C);
        p.event(&ctx, Event::Record(Record::Anomaly(&gap)));
        end_packet(&mut p);
        let out = output(p);
        assert!(
            out.ends_with(
                "#3   10.0.0.2:80 → 10.0.0.1:5000 TCP       [tcp.gap] detail of tcp.gap\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn quiet_prints_only_the_tables() {
        let m = meta(1);
        let mut p = printer(TextOptions {
            quiet: true,
            ..TextOptions::default()
        });
        let ctx = EventCtx::new(&m, pkt(2));
        let f = frame(Dir::S2C, OpCode::Text, true, b"hi");
        p.event(&ctx, Event::Record(Record::WsFrame(&f)));
        end_packet(&mut p);
        let summary = FlowSummary::default();
        p.event(
            &ctx,
            Event::FlowClosed {
                how: CloseHow::Fin,
                summary: &summary,
            },
        );
        p.finish(&RunStats::default()).expect("finish");
        let out = output(p);
        assert!(out.starts_with("Flows (0 flows, 0 packets)\n"), "{out}");
        assert!(!out.contains("WebSocket Text"));
    }

    #[test]
    fn kind_filter_drops_other_flows_and_keeps_held_lines_in_order() {
        let (web, plain) = (meta(1), meta(2));
        let mut p = printer(TextOptions {
            kind: Some(FlowKind::WebSocket),
            ..TextOptions::default()
        });
        let c1 = EventCtx::new(&plain, pkt(1));
        let c2 = EventCtx::new(&web, pkt(2));
        let f = frame(Dir::C2S, OpCode::Text, true, b"kept");
        // Flow 2 is plain: its kind is known only when it closes.
        let anomaly_of_plain = anomaly(Code::HttpParseError, Dir::C2S);
        p.event(&c1, Event::Record(Record::Anomaly(&anomaly_of_plain)));
        end_packet(&mut p);
        p.event(&c2, Event::Record(Record::WsFrame(&f)));
        end_packet(&mut p);
        let summary = FlowSummary {
            kind: Some(FlowKind::Http),
            ..FlowSummary::default()
        };
        p.event(
            &c1,
            Event::FlowClosed {
                how: CloseHow::Fin,
                summary: &summary,
            },
        );
        end_packet(&mut p);
        let out = output(p);
        assert!(out.contains("WebSocket Text [FIN] \"kept\""), "{out}");
        assert!(!out.contains("http.parse_error"), "{out}");
    }
}
