//! JSON Lines (`--json`): one record per line, exactly as CONTRACT.md specifies, in the order
//! the analyzer learns things; a flow's `flow` record follows all its other records and
//! `summary` is the last line. docs/schema.json describes every record type.
//!
//! The printer knows no record type: it writes each record's own JSON form
//! ([`crate::model::ToJson`]), the flow record and the summary record.
//!
//! Values are exact. The text is written by [`crate::report::json_writer`], which also writes as
//! `\uXXXX` the characters a terminal would act on or hide, so that `--json` on a terminal is as
//! safe as the text views while every parser reads back the very same text; each line is written
//! into one buffer the printer reuses.

use crate::model::{
    Anomaly, Event, EventCtx, EventSink, FlowKind, FlowSummary, Json, JsonCx, Layers, Record,
    ToJson,
};
use crate::report::gate::{KindGate, Verdict};
use crate::report::json_writer::{push_flow, push_json, push_record};
use crate::report::select::{HeldLines, Pick, Selection};
use crate::report::{IoState, Reporter};
use crate::stats::RunStats;
use crate::tcp::{CloseHow, FlowId, FlowMeta};
use serde::Serialize;
use std::io::Write;

/// Writes `value` as one line of compact JSON (no newline), safe for a terminal, exact for a
/// parser ([`crate::report::json_writer`]).
pub fn write_json<W: std::io::Write, T: Serialize + ?Sized>(
    mut w: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut line = Vec::new();
    push_json(&mut line, value)?;
    w.write_all(&line).map_err(serde_json::Error::io)
}

/// `value` as one line of compact JSON, as [`write_json`] writes it.
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    // Serializing to memory fails only for maps with non-string keys, which no record has.
    let _ = push_json(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

/// What `--json` writes for an event: a record in its context, or a flow's `flow` record
/// when it closes. The other events write nothing (a `--kind` gate may decide on them).
/// Small and made on the stack to be written at once: the flow record is built (on the stack,
/// not boxed) only while it is written, so that what every record passes around stays a few
/// words.
pub enum EventJson<'r> {
    Record(Json<'r, Record<'r>>),
    Flow {
        meta: &'r FlowMeta,
        summary: &'r FlowSummary,
        how: CloseHow,
    },
}

impl EventJson<'_> {
    /// Appends the line's JSON to `out` (no newline): a record as it writes itself
    /// ([`push_record`]), the flow record through serde.
    pub fn push(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            EventJson::Record(r) => push_record(out, r.record, &r.cx),
            EventJson::Flow { meta, summary, how } => push_flow(out, meta, summary, *how),
        }
    }
}

/// What `--json` writes for `event`, payloads previewed to `preview` characters.
pub fn event_json<'r>(
    ctx: &EventCtx<'r>,
    event: &'r Event<'r>,
    preview: usize,
) -> Option<EventJson<'r>> {
    match event {
        Event::Record(record) => Some(EventJson::Record(Json {
            record,
            cx: JsonCx {
                flow: Some(ctx.flow.id),
                frame: ctx.pkt.map(|p| p.frame),
                preview_chars: preview,
                layers: Layers::of(ctx.layer),
            },
        })),
        Event::FlowClosed { how, summary } => Some(EventJson::Flow {
            meta: ctx.flow,
            summary,
            how: *how,
        }),
        Event::FlowOpened | Event::HttpHead(_) | Event::Control { .. } => None,
    }
}

/// Where the run's numbers of a flow are in a line [`event_json`] wrote: every record that
/// belongs to a flow starts `{"type":"…","flow":N,`, and a `flow` record goes on
/// `"id":N,"tcp_stream":M,`. A line written with another thread's numbers gets the run's
/// put in there ([`IdPlaces::splice`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdPlaces {
    /// Byte ranges of the numbers: the flow's, then (a `flow` record) its id and `tcp.stream`.
    places: [(u16, u16); 3],
    count: u8,
}

/// Whether `line` holds `want` at `at`: compared as one array of known length, not by a call
/// to `memcmp` (every line a worker writes is looked at).
#[inline(always)]
fn has_at<const N: usize>(line: &[u8], at: usize, want: &[u8; N]) -> bool {
    line.get(at..).and_then(|rest| rest.first_chunk::<N>()) == Some(want)
}

impl IdPlaces {
    /// Whether the line has a flow's number to put in.
    pub fn any(&self) -> bool {
        self.count > 0
    }

    /// Finds the numbers in `line` (none found: the line is written as it is).
    pub fn find(line: &[u8]) -> IdPlaces {
        let mut found = IdPlaces::default();
        let head = &line[..line.len().min(u16::MAX as usize)];
        // The type's name is the program's own: it holds no quote.
        const TYPE: &[u8; 9] = b"{\"type\":\"";
        const FLOW: &[u8; 9] = b"\",\"flow\":";
        const ID: &[u8; 6] = b",\"id\":";
        const STREAM: &[u8; 14] = b",\"tcp_stream\":";
        let Some(name) = has_at(head, 0, TYPE)
            .then(|| memchr::memchr(b'"', &head[TYPE.len()..]))
            .flatten()
        else {
            return found;
        };
        let at = TYPE.len() + name;
        if !has_at(head, at, FLOW) {
            return found;
        }
        let flow_record = has_at(head, 0, b"{\"type\":\"flow\",");
        let mut pos = at + FLOW.len();
        for key in 0..3 {
            let key_len = match key {
                0 => 0,
                1 if has_at(head, pos, ID) => ID.len(),
                2 if has_at(head, pos, STREAM) => STREAM.len(),
                _ => break,
            };
            let start = pos + key_len;
            let digits = head[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == 0 {
                break;
            }
            found.places[found.count as usize] = (start as u16, (start + digits) as u16);
            found.count += 1;
            pos = start + digits;
            if !flow_record {
                break;
            }
        }
        found
    }

    /// `line` with the flow's number `flow` and `tcp.stream` number `stream` put in, handed to
    /// `write` in pieces.
    pub fn splice(&self, line: &[u8], flow: u64, stream: u64, write: impl FnOnce(&[&[u8]])) {
        let mut bufs = [
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
        ];
        let [a, b, c] = &mut bufs;
        let numbers: [&[u8]; 3] = [
            a.format(flow).as_bytes(),
            b.format(flow).as_bytes(),
            c.format(stream).as_bytes(),
        ];
        let mut pieces: [&[u8]; 7] = [&[]; 7];
        let mut n = 0;
        let mut from = 0;
        for (i, &(start, end)) in self.places[..self.count as usize].iter().enumerate() {
            pieces[n] = line.get(from..start as usize).unwrap_or_default();
            pieces[n + 1] = numbers[i];
            n += 2;
            from = end as usize;
        }
        pieces[n] = line.get(from..).unwrap_or_default();
        write(&pieces[..=n]);
    }
}

/// Lines kept before they are handed to the writer, when they may wait
/// ([`JsonPrinter::in_blocks`]): at least a 64 KiB `BufWriter`'s capacity, so that it passes
/// them on without copying them into its own buffer.
const BLOCK_BYTES: usize = 64 << 10;

/// The JSON Lines printer.
pub struct JsonPrinter<W: Write> {
    out: W,
    io: IoState,
    preview: usize,
    gate: Option<KindGate>,
    /// The line being written; with [`Self::in_blocks`] and no filter, the lines not yet
    /// handed to `out` (up to [`BLOCK_BYTES`]).
    line: Vec<u8>,
    /// Whether lines may wait to be handed to `out` in blocks ([`Self::in_blocks`]).
    blocks: bool,
    release: Vec<u8>,
    /// `-Y`: the records written.
    select: Option<Selection>,
    /// `--filter-flows`: every record of the flows in which something matched.
    whole_flows: bool,
    /// Lines of flows whose kind the filter waits for.
    held: HeldLines,
}

impl<W: Write> JsonPrinter<W> {
    pub fn new(out: W, preview: usize, kind: Option<FlowKind>) -> Self {
        JsonPrinter {
            out,
            io: IoState::default(),
            preview,
            gate: kind.map(KindGate::new),
            line: Vec::with_capacity(512),
            blocks: false,
            release: Vec::new(),
            select: None,
            whole_flows: false,
            held: HeldLines::default(),
        }
    }

    /// Lets the lines of an unfiltered run wait and go to the writer in blocks of 64 KiB,
    /// written straight into one buffer: for a writer nobody flushes in
    /// between (`read`'s stdout; `live` flushes its own at the end of every batch of packets, so
    /// its lines must reach it at once).
    pub fn in_blocks(mut self) -> Self {
        self.blocks = true;
        self.line.reserve(BLOCK_BYTES * 2);
        self
    }

    /// Plain `--json`: no filter, no `--kind` gate; every record is written as it comes.
    fn plain(&self) -> bool {
        self.select.is_none() && self.gate.is_none()
    }

    /// Whether lines wait here: in blocks, and no filter or gate holds any back.
    fn kept(&self) -> bool {
        self.blocks && self.plain()
    }

    /// Hands the kept lines to the writer once they fill a block (all of them with `all`).
    fn hand_on(&mut self, all: bool) {
        if !all && self.line.len() < BLOCK_BYTES {
            return;
        }
        if !self.line.is_empty() && !self.io.failed {
            let r = self.out.write_all(&self.line);
            self.io.record(r);
        }
        self.line.clear();
    }

    /// Writes only the records `select` picks, or with `whole_flows` every record of the flows
    /// in which something matched.
    pub fn with_filter(mut self, select: Selection, whole_flows: bool) -> Self {
        self.select = Some(select);
        self.whole_flows = whole_flows;
        if whole_flows {
            self.gate = Some(KindGate::deciding());
        }
        self
    }

    /// Writes what `held` let out into `release`.
    fn write_released(&mut self) {
        if !self.release.is_empty() && !self.io.failed {
            let r = self.out.write_all(&self.release);
            self.io.record(r);
        }
        self.release.clear();
    }

    /// Writes one line, its JSON appended by `push`; `event` is what the `--kind` gate
    /// decides on, when it belongs to a flow; `pick` is what the filter said of it.
    fn write(
        &mut self,
        flow: Option<FlowId>,
        event: Option<&Event<'_>>,
        push: impl Fn(&mut Vec<u8>) -> serde_json::Result<()>,
        pick: Pick,
    ) {
        if self.io.failed || pick == Pick::No {
            return;
        }
        if self.kept() {
            let at = self.line.len();
            if push(&mut self.line).is_err() {
                return self.line.truncate(at);
            }
            self.line.push(b'\n');
            return self.hand_on(false);
        }
        self.line.clear();
        if push(&mut self.line).is_err() {
            return;
        }
        self.line.push(b'\n');
        if let Some(flow) = flow
            && (matches!(pick, Pick::Later(_)) || self.held.holds(flow))
        {
            self.release.clear();
            self.held
                .hold(flow, &self.line, pick.kinds(), &mut self.release);
            return self.write_released();
        }
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

    /// A record as JSON, in its context.
    fn json<'r, R: ToJson + ?Sized>(
        &self,
        record: &'r R,
        flow: Option<FlowId>,
        frame: Option<u64>,
        layers: Layers,
    ) -> Json<'r, R> {
        let cx = JsonCx {
            flow,
            frame,
            preview_chars: self.preview,
            layers,
        };
        Json { record, cx }
    }
}

impl<W: Write> EventSink for JsonPrinter<W> {
    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        let shown = self
            .select
            .as_mut()
            .is_none_or(|s| s.global(anomaly, frame));
        let pick = if shown { Pick::Yes } else { Pick::No };
        let json = self.json(anomaly, None, Some(frame), Layers::default());
        self.write(None, None, |out| push_json(out, &json), pick);
    }

    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        let mut pick = Pick::Yes;
        if let Some(sel) = &mut self.select {
            let learnt = sel.observe(ctx, &event);
            match event {
                Event::Record(r) => pick = sel.record(ctx, r),
                Event::FlowClosed { how, summary } => {
                    let end = sel.flow_closed(ctx.flow, summary, how);
                    pick = if self.whole_flows && end.keep || end.record {
                        Pick::Yes
                    } else {
                        Pick::No
                    };
                }
                _ => {}
            }
            if self.whole_flows {
                let matched = sel.flow_matched(flow);
                if let Some(gate) = &mut self.gate
                    && (matched || matches!(event, Event::FlowClosed { .. }))
                {
                    self.release.clear();
                    gate.decide(flow, matched || pick == Pick::Yes, &mut self.release);
                    let r = self.out.write_all(&self.release);
                    self.io.record(r);
                }
                if !matches!(event, Event::FlowClosed { .. }) {
                    pick = Pick::Yes;
                }
            } else if let Some(kind) = learnt {
                self.release.clear();
                self.held.release(flow, Some(kind), &mut self.release);
                self.write_released();
            }
        }
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
            Event::Control { .. } => {}
            Event::Record(_) | Event::FlowClosed { .. } => {
                if let Some(json) = event_json(ctx, &event, self.preview) {
                    self.write(Some(flow), Some(&event), |out| json.push(out), pick);
                }
            }
        }
    }
}

impl<W: Write> Reporter for JsonPrinter<W> {
    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        if self.kept() {
            self.hand_on(true);
        }
        self.release.clear();
        self.held.release_all(&mut self.release);
        self.write_released();
        if let Some(e) = self.io.take() {
            return Err(e);
        }
        write_json(&mut self.out, &stats.record()).map_err(std::io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io.take()
    }

    fn wants_packets(&self) -> bool {
        false
    }

    /// Plain `--json`: no filter, no `--kind` gate.
    fn record_lines(&self) -> Option<usize> {
        self.plain().then_some(self.preview)
    }

    fn put_line(&mut self, pieces: &[&[u8]]) {
        if self.kept() {
            pieces.iter().for_each(|p| self.line.extend_from_slice(p));
            return self.hand_on(false);
        }
        for piece in pieces {
            if self.io.failed {
                return;
            }
            let r = self.out.write_all(piece);
            self.io.record(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::escape;

    fn spliced(line: &str, flow: u64, stream: u64) -> String {
        let mut out = Vec::new();
        IdPlaces::find(line.as_bytes()).splice(line.as_bytes(), flow, stream, |pieces| {
            pieces.iter().for_each(|p| out.extend_from_slice(p))
        });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_run_s_flow_numbers_are_put_into_a_line_written_with_another_thread_s() {
        // A record of a flow: its flow number only, wherever a key of the same name comes later.
        let frame = r#"{"type":"ws_frame","flow":7,"dir":"c2s","sub":{"flow":7,"id":7}}"#;
        assert_eq!(
            spliced(frame, 1234, 9),
            r#"{"type":"ws_frame","flow":1234,"dir":"c2s","sub":{"flow":7,"id":7}}"#
        );
        // A flow record: its number twice and its conversation's.
        let flow = r#"{"type":"flow","flow":3,"id":3,"tcp_stream":12,"client":"a"}"#;
        assert_eq!(
            spliced(flow, 40, 0),
            r#"{"type":"flow","flow":40,"id":40,"tcp_stream":0,"client":"a"}"#
        );
        // No flow (a global anomaly), or not the shape at all: as it is.
        for line in [
            r#"{"type":"anomaly","flow":null,"dir":null}"#,
            r#"{"v":1,"flow":2}"#,
            "",
        ] {
            assert_eq!(IdPlaces::find(line.as_bytes()), IdPlaces::default());
            assert_eq!(spliced(line, 5, 5), line);
        }
    }

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

    /// Writes what a printer that shares `out` writes, as in a run (`Rc` stands for stdout).
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_kept_in_blocks_reach_the_writer_whole_in_the_same_order() {
        let anomaly = |i: u64| Anomaly {
            code: crate::model::Code::ALL[i as usize % crate::model::Code::ALL.len()],
            dir: None,
            ts: crate::time::Timestamp::from_secs_nanos(i as i64, 0),
            detail: "d\"\u{1b}".repeat(i as usize % 40),
        };
        let run = |blocks: bool| {
            let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let mut p = JsonPrinter::new(Shared(out.clone()), 16, None);
            if blocks {
                p = p.in_blocks();
            }
            let mut before_block = None;
            for i in 0..2000 {
                p.global_anomaly(&anomaly(i), i);
                if i % 7 == 0 {
                    p.put_line(&[b"{\"a\":", i.to_string().as_bytes(), b"}\n"]);
                }
                // Nothing reached the writer before a whole block was written.
                if before_block.is_none() && !out.borrow().is_empty() {
                    before_block = Some(p.line.len());
                }
            }
            p.finish(&RunStats::default()).unwrap();
            let written = out.borrow().clone();
            (written, before_block)
        };
        let (each, _) = run(false);
        let (kept, handed) = run(true);
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            String::from_utf8(each).unwrap()
        );
        // The first block went on once it reached its size, not before.
        assert_eq!(handed, Some(0));
        // A filter keeps nothing back here: its lines are held or released by it.
        let p = JsonPrinter::new(Vec::new(), 16, Some(FlowKind::WebSocket)).in_blocks();
        assert!(!p.kept());
    }
}
