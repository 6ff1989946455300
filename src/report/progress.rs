//! A progress bar on stderr for long reads, wrapped around any reporter. The caller decides
//! whether it is wanted (a terminal on stderr, output not on the same screen, a large file); the
//! wrapper only advances it — by the bytes each packet occupies in the file, estimated as its
//! captured length plus a record header — and clears it before the final report is printed.
//! Updating costs one addition and one comparison per packet.

use crate::decode::Segment;
use crate::proto::{Anomaly, Event, EventCtx, EventSink};
use crate::report::Reporter;
use crate::source::Frame;
use crate::stats::RunStats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs smaller than this finish before a bar would be worth drawing.
pub const MIN_BYTES: u64 = 32 << 20;
/// The bar is moved after this many bytes of input.
const STEP: u64 = 1 << 20;
/// Bytes a packet record costs beyond its data (pcap record header; pcapng blocks cost more,
/// which only makes the bar finish early).
const RECORD_OVERHEAD: u64 = 16;

/// `inner` with a progress bar over `total` bytes of input.
pub struct WithProgress<R> {
    inner: R,
    bar: ProgressBar,
    done: u64,
    next_update: u64,
}

impl<R> WithProgress<R> {
    pub fn new(inner: R, total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
        let style = ProgressStyle::with_template(
            "{spinner} reading [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        WithProgress {
            inner,
            bar,
            done: 0,
            next_update: STEP,
        }
    }
}

impl<R: Reporter> EventSink for WithProgress<R> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        self.inner.event(ctx, event)
    }
    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.inner.global_anomaly(anomaly, frame)
    }
}

impl<R: Reporter> Reporter for WithProgress<R> {
    fn packet_done(&mut self, frame: &Frame<'_>, seg: Option<&Segment<'_>>) {
        self.done = self
            .done
            .saturating_add(frame.data.len() as u64 + RECORD_OVERHEAD);
        if self.done >= self.next_update {
            self.next_update = self.done.saturating_add(STEP);
            self.bar.set_position(self.done);
        }
        self.inner.packet_done(frame, seg)
    }

    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        self.bar.finish_and_clear();
        self.inner.finish(stats)
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.inner.take_io_error()
    }
}
