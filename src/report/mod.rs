//! Printers over the event stream: tshark-like summary lines with the `-V` tree and `-x` hex
//! dumps (`text`, `verbose`, `hexdump`), one flow's conversation (`follow`) or sequence diagram
//! (`ladder`), JSON Lines (`json`), the end-of-run tables (`tables`), and the pieces they share
//! (`render`, how each record shows itself; `style` colours, `preview`, `flowsum`, the `--kind`
//! gate, the `progress` bar). Printers never parse: everything they show comes from events
//! (and, for the per-packet detail tree, from the decoder's description of the packet that
//! completed the PDUs, handed over in [`PacketDone`]). A printer draws the records it has a view
//! of its own for and every other one through the record's `Render` form. Every text printer
//! passes every string that came from the capture or the file system through [`escape`]
//! before writing it; JSON keeps values exact.

pub mod escape;
pub mod fields;
pub mod flowsum;
pub mod follow;
pub mod gate;
pub mod har;
pub mod hexdump;
pub mod html;
pub mod json;
pub mod json_writer;
pub mod ladder;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod preview;
pub mod progress;
pub mod render;
pub mod select;
pub mod style;
pub mod tables;
pub mod text;
pub mod verbose;
pub mod verdict;
pub mod zeek;

use crate::decode::DetailNode;
use crate::model::EventSink;
use crate::source::Frame;
use crate::stats::RunStats;
use crate::tcp::Placed;
use crate::time::Timestamp;

/// What a reporter is told when a packet is done: every event it caused has been delivered.
#[derive(Clone, Copy, Debug)]
pub struct PacketDone<'a> {
    /// The packet, for the decode layer to describe: printers never read its bytes.
    packet: &'a Frame<'a>,
    /// The flow that took the packet, its direction in it and its payload, if a flow took it.
    pub placed: Option<Placed>,
}

impl<'a> PacketDone<'a> {
    pub fn new(packet: &'a Frame<'a>, placed: Option<Placed>) -> Self {
        PacketDone { packet, placed }
    }

    /// The packet's number.
    pub fn frame(&self) -> u64 {
        self.packet.index
    }

    pub fn ts(&self) -> Timestamp {
        self.packet.ts
    }

    /// Bytes of the packet in the capture.
    pub fn captured(&self) -> usize {
        self.packet.data.len()
    }

    /// The packet itself, for a writer that saves it (`read -w`); printers do not read it.
    pub fn packet(&self) -> &Frame<'a> {
        self.packet
    }

    /// The decode layer's description of the packet (frame, link, IP, TCP) for the `-V` tree,
    /// made now: asked for only by a printer that prints it.
    pub fn describe(&self) -> Vec<DetailNode> {
        crate::decode::describe(self.packet)
    }
}

/// A printer: receives every event, is told when each packet is done, and prints the final
/// report. Output errors are kept (not returned through the event path) and polled by the
/// pipeline after each packet, so that a closed pipe stops the run promptly.
pub trait Reporter: EventSink {
    /// Every event of the packet has been delivered.
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        let _ = done;
    }

    /// End of the run.
    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()>;

    /// The first output error since the last call, if any.
    fn take_io_error(&mut self) -> Option<std::io::Error>;

    /// Whether the printer reads [`Self::packet_done`] (each packet, and the flow that took
    /// it). One that does not (JSON, `-q`, the tables) spares the threaded pipeline a call for
    /// every packet: it then replays only what the flows found.
    fn wants_packets(&self) -> bool {
        true
    }

    /// `Some(preview characters)` when the printer writes every record and every flow's closing
    /// as one line made from it alone ([`json::event_json`], then a newline) and nothing else
    /// for an event: plain `--json`. The threaded pipeline then has its workers write those
    /// lines and hands them over with [`Self::put_line`], the run's flow numbers put in, instead
    /// of the events.
    fn record_lines(&self) -> Option<usize> {
        None
    }

    /// A line for an event, written elsewhere (see [`Self::record_lines`]), in pieces.
    fn put_line(&mut self, pieces: &[&[u8]]) {
        let _ = pieces;
    }
}

/// A boxed reporter (the one the options chose) is a reporter.
impl<R: Reporter + ?Sized> EventSink for Box<R> {
    fn event(&mut self, ctx: &crate::model::EventCtx<'_>, event: crate::model::Event<'_>) {
        (**self).event(ctx, event)
    }
    fn global_anomaly(&mut self, anomaly: &crate::model::Anomaly, frame: u64) {
        (**self).global_anomaly(anomaly, frame)
    }
    fn wants_message_records(&self) -> bool {
        (**self).wants_message_records()
    }
}

impl<R: Reporter + ?Sized> Reporter for Box<R> {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        (**self).packet_done(done)
    }
    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        (**self).finish(stats)
    }
    fn wants_packets(&self) -> bool {
        (**self).wants_packets()
    }
    fn record_lines(&self) -> Option<usize> {
        (**self).record_lines()
    }
    fn put_line(&mut self, pieces: &[&[u8]]) {
        (**self).put_line(pieces)
    }
    fn take_io_error(&mut self) -> Option<std::io::Error> {
        (**self).take_io_error()
    }
}

/// Keeps the first write error of a printer.
#[derive(Default)]
pub struct IoState {
    error: Option<std::io::Error>,
    /// Set once an error happened: further output is skipped.
    pub failed: bool,
}

impl IoState {
    pub fn record(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r
            && !self.failed
        {
            self.failed = true;
            self.error = Some(e);
        }
    }

    pub fn take(&mut self) -> Option<std::io::Error> {
        self.error.take()
    }

    /// Writes a printer's buffered `text` to `out` unless an earlier write failed, and empties
    /// the buffer either way.
    pub fn write_out(&mut self, out: &mut impl std::io::Write, text: &mut String) {
        if !self.failed && !text.is_empty() {
            let r = out.write_all(text.as_bytes());
            self.record(r);
        }
        text.clear();
    }

    /// Ends a printer's output: the first write error kept, else `out` flushed.
    pub fn finish(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if let Some(e) = self.take() {
            return Err(e);
        }
        out.flush()
    }
}

/// Several printers over the same run: the first is the view on stdout, the others write files
/// (`--har`, `--zeek`). Each is told everything; the first output error of any ends the run.
pub struct Tee {
    pub printers: Vec<Box<dyn Reporter>>,
}

impl EventSink for Tee {
    fn event(&mut self, ctx: &crate::model::EventCtx<'_>, event: crate::model::Event<'_>) {
        for p in &mut self.printers {
            p.event(ctx, event);
        }
    }
    fn global_anomaly(&mut self, anomaly: &crate::model::Anomaly, frame: u64) {
        for p in &mut self.printers {
            p.global_anomaly(anomaly, frame);
        }
    }
    fn wants_message_records(&self) -> bool {
        self.printers.iter().any(|p| p.wants_message_records())
    }
}

impl Reporter for Tee {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        for p in &mut self.printers {
            p.packet_done(done);
        }
    }
    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        let mut first = Ok(());
        for p in &mut self.printers {
            let r = p.finish(stats);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.printers.iter_mut().find_map(|p| p.take_io_error())
    }
    fn wants_packets(&self) -> bool {
        self.printers.iter().any(|p| p.wants_packets())
    }
}
