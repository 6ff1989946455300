//! Wires the layers together: source → decode → tcp → proto → statistics and a reporter.
//! One pass, streaming: flows are reported when they end; only the final tables wait for the
//! end of the input.
//!
//! With one thread ([`Config::threads`] = 1) everything runs here, frame by frame. With more,
//! `parallel` splits the flows between worker threads by the symmetric 4-tuple hash, each
//! with its own flow table and protocol state, and replays what they found to the one reporter
//! in packet order: the output is the same, byte for byte.

mod carry;
mod parallel;

pub use parallel::LaneCounts;

use crate::config::{Config, PortFilter};
use crate::decode::{BadHeader, Decoded, Decoder, Skip};
use crate::model::{Anomaly, Code, Event, EventCtx, EventSink, Record};
use crate::proto::conn::ConnAnalyzer;
use crate::report::{PacketDone, Reporter};
use crate::source::{Frame, Next, PacketSource, SourceError};
use crate::stats::RunStats;
use crate::tcp::FlowTable;
use crate::time::Timestamp;

/// Feeds events to the run statistics, then to the reporter.
pub struct Collect<R> {
    pub stats: RunStats,
    pub reporter: R,
}

impl<R: Reporter> Collect<R> {
    /// Whether the printer's lines can be written by the threads that analyze
    /// ([`Reporter::record_lines`]): only if nothing here reads the records themselves
    /// (`-z http,tree` reads HTTP messages).
    pub fn record_lines(&self) -> Option<usize> {
        self.reporter
            .record_lines()
            .filter(|_| !self.stats.z.http_tree)
    }

    /// A line the printer would have written for an event (see [`Self::record_lines`]),
    /// counted as the event would have been: an anomaly's by its code. A flow's closing is
    /// counted by its event, which comes after its line ([`Counting`]).
    pub fn put_line(&mut self, pieces: &[&[u8]], anomaly: Option<Code>) {
        if let Some(code) = anomaly {
            self.stats.on_anomaly(code);
        }
        self.reporter.put_line(pieces);
    }
}

/// Counts events into the run statistics, as [`Collect`] does, without printing them.
pub struct Counting<'s>(pub &'s mut RunStats);

impl EventSink for Counting<'_> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        match event {
            Event::Record(Record::Anomaly(a)) => self.0.on_anomaly(a.code),
            Event::Record(Record::Http(m)) => self.0.z.http(m),
            Event::FlowClosed { summary, .. } => self.0.on_flow_closed(ctx.flow, summary),
            _ => {}
        }
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, _frame: u64) {
        self.0.on_anomaly(anomaly.code);
    }
}

impl<R: Reporter> EventSink for Collect<R> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        Counting(&mut self.stats).event(ctx, event);
        self.reporter.event(ctx, event);
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        Counting(&mut self.stats).global_anomaly(anomaly, frame);
        self.reporter.global_anomaly(anomaly, frame);
    }

    /// Read here by the printer, or by `-z http,tree` (HTTP messages).
    fn wants_message_records(&self) -> bool {
        self.reporter.wants_message_records() || self.stats.z.http_tree
    }
}

/// Why a run stopped early.
#[derive(Debug)]
pub enum Stop {
    /// The input is malformed; what was read before is still reported.
    Source(SourceError),
    /// Writing the output failed (a closed pipe is not reported as an error by the caller).
    Output(std::io::Error),
}

/// The `ip.fragment` warning for datagrams lost since `reported`. During the run the lost ones
/// are those the decoder gave up on, and datagrams still being reassembled are "waiting"; at
/// the end of the input those left waiting are lost too.
fn fragment_anomaly(
    decoder: &Decoder,
    reported: u64,
    lost: u64,
    last: Option<(std::net::IpAddr, std::net::IpAddr, u32)>,
    ts: crate::time::Timestamp,
    at_end: bool,
) -> Anomaly {
    let f = decoder.fragment_stats();
    let example = last
        .map(|(src, dst, id)| format!(" (latest fragment: datagram {id:#x} from {src} to {dst})"))
        .unwrap_or_default();
    let waiting = decoder.fragments_in_flight();
    let waiting = if at_end {
        format!("{waiting} incomplete at the end")
    } else {
        format!("{waiting} still waiting for fragments")
    };
    Anomaly {
        code: Code::IpFragment,
        dir: None,
        ts,
        detail: format!(
            "{} IP datagram(s) could not be reassembled ({} expired, {} evicted, {} broken, \
                 {waiting}); {} fragments seen, {} datagrams reassembled{example}",
            lost - reported,
            f.expired,
            f.evicted,
            f.broken,
            f.fragments,
            f.reassembled,
        ),
    }
}

/// The anomaly for a packet skipped for a broken header. Without ports (the IP header is the
/// broken one, or the TCP header stops before them) the port filter cannot apply: it is
/// reported whatever its ports.
fn bad_header_anomaly(bad: &BadHeader, ts: Timestamp) -> Anomaly {
    let ends = match (bad.addrs, bad.ports) {
        (Some((src, dst)), Some((sp, dp))) => format!(
            "{} -> {}",
            std::net::SocketAddr::new(src, sp),
            std::net::SocketAddr::new(dst, dp)
        ),
        (Some((src, dst)), None) => format!("{src} -> {dst}"),
        (None, _) => "addresses not captured".to_string(),
    };
    Anomaly {
        code: if bad.problem.is_tcp() {
            Code::TcpBadHeader
        } else {
            Code::IpBadHeader
        },
        dir: None,
        ts,
        detail: format!("{ends}: {}; packet skipped", bad.problem),
    }
}

/// Datagrams the decoder gave up on so far.
fn lost_datagrams(decoder: &Decoder) -> u64 {
    let f = decoder.fragment_stats();
    f.expired + f.evicted + f.broken
}

/// Counts a frame read, with its segment if it has one, into the `-z` statistics that count
/// every frame (in the thread that reads, whatever the number of threads).
fn count_frame(stats: &mut RunStats, frame: &Frame<'_>, seg: Option<&crate::decode::Segment<'_>>) {
    if stats.z.is_on() {
        let tcp = seg.map(|s| (s.src, s.dst));
        stats.z.frame(frame.ts, u64::from(frame.orig_len), tcp);
    }
}

/// A frame that carries no TCP segment for a flow: an IP fragment, or a skipped packet.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NotTcp {
    Fragment {
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        id: u32,
    },
    Skipped(Skip),
}

/// The segment a frame carries, or what it is instead.
pub(crate) fn segment_of(decoded: Decoded<'_>) -> Result<crate::decode::Segment<'_>, NotTcp> {
    match decoded {
        Decoded::Tcp(seg) => Ok(seg),
        Decoded::IpFragment { src, dst, id } => Err(NotTcp::Fragment { src, dst, id }),
        Decoded::Skipped(skip) => Err(NotTcp::Skipped(skip)),
    }
}

/// A packet no flow takes: why (for the skip counts), and the global anomalies it raised.
#[derive(Debug, Default)]
pub(crate) struct Note {
    pub skip: Option<&'static str>,
    pub anomalies: Vec<Anomaly>,
}

impl Note {
    /// Counts and reports it, as of packet `frame`.
    pub fn apply<R: Reporter>(&self, collect: &mut Collect<R>, frame: u64) {
        if let Some(reason) = self.skip {
            collect.stats.on_skip(reason);
        }
        for a in &self.anomalies {
            collect.global_anomaly(a, frame);
        }
    }
}

/// The link, IP and TCP decoding of every frame, and what it reports itself: IP fragments
/// that could not be reassembled, broken headers, unknown link types. One per run, in the
/// thread that reads, so that fragments are reassembled before any flow is chosen.
pub(crate) struct Reader {
    decoder: Decoder,
    /// IP datagrams already reported as not reassembled.
    fragments_lost: u64,
    last_fragment: Option<(std::net::IpAddr, std::net::IpAddr, u32)>,
    /// The analyzed ports, for deciding which broken headers are ours to report.
    ports: PortFilter,
}

impl Reader {
    pub fn new(config: &Config) -> Reader {
        Reader {
            decoder: Decoder::new(),
            fragments_lost: 0,
            last_fragment: None,
            ports: config.ports.clone(),
        }
    }

    /// The frame decoded: its TCP segment, or (see [`Reader::note`]) what it is instead.
    pub fn decode<'s>(
        &'s mut self,
        frame: &Frame<'s>,
    ) -> Result<crate::decode::Segment<'s>, NotTcp> {
        segment_of(self.decoder.decode(frame))
    }

    /// What a frame without a segment for a flow reports.
    pub fn note(&mut self, what: NotTcp, frame: &Frame<'_>) -> Note {
        let mut note = Note::default();
        match what {
            NotTcp::Fragment { src, dst, id } => {
                note.skip = Some("IP fragment");
                self.last_fragment = Some((src, dst, id));
                let lost = lost_datagrams(&self.decoder);
                if lost > self.fragments_lost {
                    note.anomalies.push(fragment_anomaly(
                        &self.decoder,
                        self.fragments_lost,
                        lost,
                        self.last_fragment,
                        frame.ts,
                        false,
                    ));
                    self.fragments_lost = lost;
                }
            }
            NotTcp::Skipped(skip) => {
                note.skip = Some(match skip {
                    Skip::UnknownLinkType(_) => "unknown link type",
                    Skip::NotIp => "not IP",
                    Skip::NotTcp => "not TCP",
                    Skip::Malformed => "malformed",
                    Skip::BadHeader(_) => "broken IP/TCP header",
                });
                if let Skip::BadHeader(bad) = skip
                    && bad.ports.is_none_or(|(a, b)| self.ports.matches(a, b))
                {
                    note.anomalies.push(bad_header_anomaly(&bad, frame.ts));
                }
            }
        }
        if let Some((interface, link)) = self.decoder.take_new_unknown_link() {
            note.anomalies.push(Anomaly {
                code: Code::LinkUnknown,
                dir: None,
                ts: frame.ts,
                detail: format!(
                    "interface {interface}: link type {link} is not decoded; its packets are skipped"
                ),
            });
        }
        note
    }

    /// At the end of the input: the datagrams lost since the last report (those still waiting
    /// for fragments included), if any.
    pub fn final_anomaly(&self, ts: Timestamp) -> Option<Anomaly> {
        let lost = lost_datagrams(&self.decoder) + self.decoder.fragments_in_flight() as u64;
        (lost > self.fragments_lost).then(|| {
            fragment_anomaly(
                &self.decoder,
                self.fragments_lost,
                lost,
                self.last_fragment,
                ts,
                true,
            )
        })
    }
}

/// The whole analysis for one run (one or several inputs analyzed as one capture).
pub struct Analyzer<R: Reporter> {
    inner: Inner<R>,
    /// The flows this process analyzes (`--shard`; then in one thread); packets of the others
    /// only move the clock.
    shard: crate::tcp::identity::Shard,
    /// Packets of other shards' flows read (in the one-thread analysis; they are not counted
    /// in the statistics, but they are numbered).
    not_ours: u64,
    /// The run's TLS secrets, which the capture's own secrets join (shared with every
    /// worker's settings).
    keys: crate::proto::tls::KeyStore,
}

enum Inner<R: Reporter> {
    One(Box<Single<R>>),
    Many(Box<parallel::Parallel<R>>),
}

/// The analysis in one thread.
struct Single<R: Reporter> {
    reader: Reader,
    table: FlowTable<ConnAnalyzer<Collect<R>>>,
    handler: ConnAnalyzer<Collect<R>>,
    /// The mapped file of the input read last, kept until the next input starts: the flows
    /// may remember bytes by their place in it ([`FlowTable::set_backing`]).
    last_map: Option<std::sync::Arc<memmap2::Mmap>>,
}

impl<R: Reporter> Analyzer<R> {
    /// The analysis `config` asks for: in [`Config::threads`] threads (one: all in this one),
    /// the thread that reads taking a share of the flows too.
    pub fn new(config: &Config, reporter: R) -> Self {
        Self::with_reader_share(config, reporter, true)
    }

    /// The same for a source whose lanes each hold whole flows (the rings of
    /// `live --threads N`): each lane's flows go to a worker thread of their own, and the
    /// thread that reads them analyzes none.
    pub fn for_lanes(config: &Config, reporter: R) -> Self {
        Self::with_reader_share(config, reporter, false)
    }

    fn with_reader_share(config: &Config, reporter: R, here: bool) -> Self {
        let collect = Collect {
            stats: RunStats {
                poll_interval: config.poll_interval.as_secs_f64(),
                z: crate::stats::zstats::ZTally::new(&config.zstats),
                ..RunStats::default()
            },
            reporter,
        };
        let inner = if config.workers(config.threads) > 1 {
            Inner::Many(Box::new(parallel::Parallel::new(config, collect, here)))
        } else {
            Inner::One(Box::new(Single {
                reader: Reader::new(config),
                table: FlowTable::new(config, Some(crate::proto::conn::role_hint)),
                handler: ConnAnalyzer::new(config, collect),
                last_map: None,
            }))
        };
        Analyzer {
            inner,
            shard: config.shard,
            not_ours: 0,
            keys: config.keys.clone(),
        }
    }

    /// Packet number the next input's first packet gets.
    pub fn next_index(&self) -> u64 {
        self.packets_read() + 1
    }

    /// Packets read so far (some may still be under analysis in other threads).
    pub fn packets_read(&self) -> u64 {
        match &self.inner {
            Inner::One(s) => s.handler.sink.stats.packets + self.not_ours,
            Inner::Many(p) => p.packets_read(),
        }
    }

    /// Reads every frame of `source`. Returns early on a malformed input or a failed output.
    pub fn run(&mut self, source: &mut dyn PacketSource) -> Result<(), Stop> {
        match &mut self.inner {
            Inner::Many(p) => p.read_from(source.mapped()),
            // The table holds the map weakly: the source alone keeps it (and releases what it
            // has read), and then `last_map`, until the next input's start has copied out what
            // the flows remember in it.
            Inner::One(s) => {
                s.table
                    .set_backing(source.mapped().as_ref().map(crate::tcp::Backing::new));
                s.last_map = None;
            }
        }
        loop {
            let stop = match source.next_with_lane() {
                Ok((Next::Frame(frame), lane)) => {
                    self.process_in(&frame, lane);
                    None
                }
                Ok((Next::Idle(now), _)) => {
                    self.advance_clock(now);
                    None
                }
                // Key log secrets carried in the capture, for the TLS sessions after them. They
                // must reach the flows after every packet before them and before every packet
                // after them: with several threads (which share the key store), everything read
                // so far is analyzed first.
                Ok((Next::Secrets(s), _)) => {
                    if s.kind == crate::source::Secrets::TLS_KEY_LOG {
                        self.settle();
                        self.keys.add_text(s.data);
                    }
                    None
                }
                Ok((Next::End, _)) => Some(Ok(())),
                Err(e) => Some(Err(Stop::Source(e))),
            };
            if let Some(stop) = stop {
                let notes = source.record_notes();
                let kernel = source.kernel_stats();
                // Notes on the input belong to no flow: the first shard's.
                let unflowed = self.shard.owns_unflowed();
                let note = |stats: &mut RunStats| {
                    if unflowed {
                        stats.record_notes.add(&notes);
                    }
                    stats.kernel = kernel;
                };
                match &mut self.inner {
                    Inner::One(s) => note(&mut s.handler.sink.stats),
                    Inner::Many(p) => p.with_stats(note),
                }
                if let Inner::One(s) = &mut self.inner {
                    s.last_map = source.mapped();
                }
                return stop;
            }
            if let Some(e) = self.take_io_error() {
                return Err(Stop::Output(e));
            }
        }
    }

    /// Where the source's lanes (a live capture's rings) may not have held whole flows:
    /// connections whose two directions came on different lanes (the kernel's fanout hash was
    /// not symmetric for them), segments in IP fragments the kernel did not reassemble before
    /// choosing their lane. Always none in one thread, which takes every lane.
    pub fn lane_counts(&self) -> LaneCounts {
        match &self.inner {
            Inner::One(_) => LaneCounts::default(),
            Inner::Many(p) => p.lane_counts(),
        }
    }

    /// Waits until every packet read so far is analyzed and reported (a no-op in one thread).
    pub fn settle(&mut self) {
        if let Inner::Many(p) = &mut self.inner {
            p.settle();
        }
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        match &mut self.inner {
            Inner::One(s) => s.handler.sink.reporter.take_io_error(),
            Inner::Many(p) => p.take_io_error(),
        }
    }

    /// Capture time went by without packets (live capture): flows whose time is up (closed
    /// flows past their linger, idle flows) are finalised and reported now.
    pub fn advance_clock(&mut self, now: Timestamp) {
        match &mut self.inner {
            Inner::One(s) => s.table.advance_clock(now, &mut s.handler),
            Inner::Many(p) => p.advance_clock(now),
        }
    }

    /// Analyzes one frame.
    ///
    /// With `--shard`, a TCP packet of a flow of another shard only moves the capture clock
    /// (so that flows here end idle or linger exactly as they would in one process), and what
    /// belongs to no flow (packets that are not TCP, link and IP anomalies) is the first
    /// shard's: the shards' summaries add up to the whole run's.
    pub fn process(&mut self, frame: &Frame<'_>) {
        self.process_in(frame, None);
    }

    /// Analyzes one frame that came from `lane` of a source whose lanes each hold whole flows
    /// (the rings of a live fanout group): with several threads, the lane's worker analyzes it
    /// (lane modulo the workers), not the one its 4-tuple hashes to.
    pub fn process_in(&mut self, frame: &Frame<'_>, lane: Option<usize>) {
        let shard = self.shard;
        let s = match &mut self.inner {
            Inner::One(s) => s,
            Inner::Many(p) => return p.process(frame, lane),
        };
        let decoded = s.reader.decode(frame);
        let owned = match &decoded {
            Ok(seg) => shard.owns(seg.src, seg.dst),
            Err(_) => shard.owns_unflowed(),
        };
        if !owned {
            self.not_ours += 1;
            if let Ok(seg) = &decoded {
                s.table.advance_clock(seg.ts, &mut s.handler);
            }
            s.handler
                .sink
                .reporter
                .packet_done(&PacketDone::new(frame, None));
            return;
        }
        let stats = &mut s.handler.sink.stats;
        stats.on_packet(frame.ts);
        count_frame(stats, frame, decoded.as_ref().ok());
        let placed = match decoded {
            Ok(seg) => s.table.process(&seg, &mut s.handler),
            Err(what) => {
                let note = s.reader.note(what, frame);
                note.apply(&mut s.handler.sink, frame.index);
                None
            }
        };
        s.handler
            .sink
            .reporter
            .packet_done(&PacketDone::new(frame, placed));
    }

    /// Ends every open flow and prints the final report.
    pub fn finish(self) -> Result<(RunStats, R), std::io::Error> {
        let mut collect = match self.inner {
            Inner::Many(p) => p.finish()?,
            Inner::One(s) => {
                let Single {
                    reader,
                    mut table,
                    mut handler,
                    // Ending the flows compares nothing: what they remember in it is not read.
                    last_map: _,
                } = *s;
                let stats = &handler.sink.stats;
                let lost = reader.final_anomaly(stats.last_ts.unwrap_or_default());
                if let Some(a) = lost.filter(|_| self.shard.owns_unflowed()) {
                    let frame = stats.packets;
                    handler.sink.global_anomaly(&a, frame);
                }
                table.finish(&mut handler);
                let mut collect = handler.sink;
                collect.add_table_stats(table.stats());
                collect
            }
        };
        if let Some(e) = collect.reporter.take_io_error() {
            return Err(e);
        }
        collect.reporter.finish(&collect.stats)?;
        Ok((collect.stats, collect.reporter))
    }
}

impl<R: Reporter> Collect<R> {
    /// What a flow table counted that the summary reports (added: with several threads, each
    /// table counts its share).
    fn add_table_stats(&mut self, t: &crate::tcp::TableStats) {
        self.stats.flows_skipped_by_port += t.flows_skipped_by_port;
        self.stats.flows_refused_by_cap += t.flows_dropped_by_cap;
        self.stats.flows_refused_by_budget += t.flows_dropped_by_budget;
        self.stats.closed_flows_finalised_early += t.lingers_cut_short;
        self.stats.stray_packets += t.stray_packets;
    }
}
