//! A progress bar on stderr for long runs, wrapped around any reporter. The caller decides
//! whether it is wanted ([`wanted`]: stderr is a terminal, the input is large, and the report
//! does not scroll on that same terminal); the wrapper only advances it — by the bytes each
//! packet occupies in the file, estimated as its captured length plus a record header — and
//! clears it before the final report is printed. One bar can span several inputs (`check` over
//! many files): each input's wrapper starts where the previous one ended. Updating costs one
//! addition and one comparison per packet.

use crate::model::{Anomaly, Event, EventCtx, EventSink};
use crate::report::{PacketDone, Reporter};
use crate::stats::RunStats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs smaller than this finish before a bar would be worth drawing.
pub const MIN_BYTES: u64 = 32 << 20;
/// The bar is moved after this many bytes of input.
const STEP: u64 = 1 << 20;
/// Bytes a packet record costs beyond its data (pcap record header; pcapng blocks cost more,
/// which only makes the bar finish early).
const RECORD_OVERHEAD: u64 = 16;

/// Where the output goes, as far as a progress bar on stderr is concerned.
#[derive(Clone, Copy, Debug)]
pub struct Screen {
    /// stderr is a terminal.
    pub stderr_tty: bool,
    /// stdout is a terminal.
    pub stdout_tty: bool,
    /// The output prints little while the input is read (`-q`, one-flow views, `check`), so a
    /// bar on the same terminal is not in its way.
    pub output_is_quiet: bool,
}

/// Whether a bar over `total` input bytes (`None`: unknown, as for stdin) is drawn: on a
/// terminal's stderr, for a large input, unless the report scrolls on that same terminal.
/// Where stdout goes otherwise (a pipe, a file, /dev/null) does not matter, nor does the format.
pub fn wanted(screen: Screen, total: Option<u64>) -> bool {
    let report_scrolls_there = screen.stdout_tty && !screen.output_is_quiet;
    screen.stderr_tty && !report_scrolls_there && total.is_some_and(|t| t >= MIN_BYTES)
}

/// A bar over `total` bytes, labelled `what` ("reading", "checking").
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
    let style = ProgressStyle::with_template(
        "{spinner} {msg} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// `inner` with a progress bar over its input.
pub struct WithProgress<R> {
    inner: R,
    bar: ProgressBar,
    done: u64,
    next_update: u64,
    /// Cleared when this input ends (one input), or left for the next input to continue.
    clear_at_end: bool,
}

impl<R> WithProgress<R> {
    /// A bar of its own over `total` bytes, cleared at the end.
    pub fn new(inner: R, total: u64) -> Self {
        WithProgress {
            clear_at_end: true,
            ..Self::on(inner, bar(total, "reading"), 0)
        }
    }

    /// Continues `bar` from `start` bytes (the inputs before this one); the caller clears it.
    pub fn on(inner: R, bar: ProgressBar, start: u64) -> Self {
        bar.set_position(start);
        WithProgress {
            inner,
            bar,
            done: start,
            next_update: start.saturating_add(STEP),
            clear_at_end: false,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Reporter> EventSink for WithProgress<R> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        self.inner.event(ctx, event)
    }
    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.inner.global_anomaly(anomaly, frame)
    }
    fn wants_message_records(&self) -> bool {
        self.inner.wants_message_records()
    }
}

impl<R: Reporter> Reporter for WithProgress<R> {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        self.done = self
            .done
            .saturating_add(done.captured() as u64 + RECORD_OVERHEAD);
        if self.done >= self.next_update {
            self.next_update = self.done.saturating_add(STEP);
            self.bar.set_position(self.done);
        }
        self.inner.packet_done(done)
    }

    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        if self.clear_at_end {
            self.bar.finish_and_clear();
        }
        self.inner.finish(stats)
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.inner.take_io_error()
    }

    fn record_lines(&self) -> Option<usize> {
        self.inner.record_lines()
    }

    fn put_line(&mut self, pieces: &[&[u8]]) {
        self.inner.put_line(pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_whenever_stderr_is_a_terminal_and_the_report_does_not_scroll_there() {
        let big = Some(MIN_BYTES);
        let screen = |stderr_tty, stdout_tty, output_is_quiet| Screen {
            stderr_tty,
            stdout_tty,
            output_is_quiet,
        };
        // stdout a pipe, a file or /dev/null: whatever the format.
        assert!(wanted(screen(true, false, false), big));
        assert!(wanted(screen(true, false, true), big));
        // stdout on the terminal: only while the output stays quiet.
        assert!(wanted(screen(true, true, true), big));
        assert!(!wanted(screen(true, true, false), big));
        // Never without a terminal on stderr, for small inputs, or of unknown size.
        assert!(!wanted(screen(false, false, false), big));
        assert!(!wanted(screen(true, false, false), Some(MIN_BYTES - 1)));
        assert!(!wanted(screen(true, false, false), None));
    }
}
