//! Printers over the event stream: tshark-like summary lines with the `-V` tree and `-x` hex
//! dumps (`text`, `verbose`, `hexdump`), one flow's conversation (`follow`) or sequence diagram
//! (`ladder`), JSON Lines (`json`), the end-of-run tables (`tables`), and the pieces they share
//! (`style` colours, `preview`, `flowsum`, the `--kind` gate, the `progress` bar). Printers
//! never parse: everything they show comes from events (and, for the per-packet detail tree,
//! from the decoder's description of the packet that completed the PDUs). Every text printer
//! passes every string that came from the capture or the file system through [`escape`]
//! before writing it; JSON keeps values exact.

pub mod escape;
pub mod flowsum;
pub mod follow;
pub mod gate;
pub mod hexdump;
pub mod json;
pub mod ladder;
pub mod preview;
pub mod progress;
pub mod style;
pub mod tables;
pub mod text;
pub mod verbose;
pub mod verdict;

use crate::decode::Segment;
use crate::proto::EventSink;
use crate::source::Frame;
use crate::stats::RunStats;

/// A printer: receives every event, is told when each packet is done, and prints the final
/// report. Output errors are kept (not returned through the event path) and polled by the
/// pipeline after each packet, so that a closed pipe stops the run promptly.
pub trait Reporter: EventSink {
    /// Every event of the packet `frame` has been delivered.
    fn packet_done(&mut self, frame: &Frame<'_>, seg: Option<&Segment<'_>>) {
        let _ = (frame, seg);
    }

    /// End of the run.
    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()>;

    /// The first output error since the last call, if any.
    fn take_io_error(&mut self) -> Option<std::io::Error>;
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
