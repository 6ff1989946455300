//! Wires the layers together: source → decode → tcp → proto → statistics and a reporter.
//! One pass, streaming: flows are reported when they end; only the final tables wait for the
//! end of the input.

use crate::config::{Config, PortFilter};
use crate::decode::{BadHeader, Decoded, Decoder, Skip};
use crate::model::{Anomaly, Code, Event, EventCtx, EventSink, Record};
use crate::proto::conn::ConnAnalyzer;
use crate::report::{PacketDone, Reporter};
use crate::source::{Frame, Next, PacketSource, SourceError};
use crate::stats::RunStats;
use crate::tcp::FlowTable;
use crate::tcp::identity::Shard;
use crate::time::Timestamp;

/// Feeds events to the run statistics, then to the reporter.
pub struct Collect<R> {
    pub stats: RunStats,
    pub reporter: R,
}

impl<R: Reporter> EventSink for Collect<R> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        match event {
            Event::Record(Record::Anomaly(a)) => self.stats.on_anomaly(a.code),
            Event::Record(Record::Http(m)) => self.stats.z.http(m),
            Event::FlowClosed { summary, .. } => self.stats.on_flow_closed(ctx.flow, summary),
            _ => {}
        }
        self.reporter.event(ctx, event);
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.stats.on_anomaly(anomaly.code);
        self.reporter.global_anomaly(anomaly, frame);
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

/// The whole analysis for one run (one or several inputs analyzed as one capture).
pub struct Analyzer<R: Reporter> {
    decoder: Decoder,
    table: FlowTable<ConnAnalyzer<Collect<R>>>,
    handler: ConnAnalyzer<Collect<R>>,
    /// IP datagrams already reported as not reassembled.
    fragments_lost: u64,
    last_fragment: Option<(std::net::IpAddr, std::net::IpAddr, u32)>,
    /// The analyzed ports, for deciding which broken headers are ours to report.
    ports: PortFilter,
    /// The flows this process analyzes; packets of the others only move the clock.
    shard: Shard,
    /// The run's TLS secrets, which the capture's own secrets join.
    keys: crate::proto::tls::KeyStore,
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

impl<R: Reporter> Analyzer<R> {
    pub fn new(config: &Config, reporter: R) -> Self {
        let collect = Collect {
            stats: RunStats {
                poll_interval: config.poll_interval.as_secs_f64(),
                z: crate::stats::zstats::ZTally::new(&config.zstats),
                ..RunStats::default()
            },
            reporter,
        };
        Analyzer {
            decoder: Decoder::new(),
            table: FlowTable::new(config, Some(crate::proto::conn::role_hint)),
            handler: ConnAnalyzer::new(config, collect),
            fragments_lost: 0,
            last_fragment: None,
            ports: config.ports.clone(),
            shard: config.shard,
            keys: config.keys.clone(),
        }
    }

    /// Packet number the next input's first packet gets.
    pub fn next_index(&self) -> u64 {
        self.handler.sink.stats.packets + 1
    }

    pub fn stats(&self) -> &RunStats {
        &self.handler.sink.stats
    }

    pub fn reporter_mut(&mut self) -> &mut R {
        &mut self.handler.sink.reporter
    }

    /// Reads every frame of `source`. Returns early on a malformed input or a failed output.
    pub fn run(&mut self, source: &mut dyn PacketSource) -> Result<(), Stop> {
        loop {
            let stop = match source.next() {
                Ok(Next::Frame(frame)) => {
                    self.process(&frame);
                    None
                }
                Ok(Next::Idle(now)) => {
                    self.advance_clock(now);
                    None
                }
                // Key log secrets carried in the capture, for the TLS sessions after them.
                Ok(Next::Secrets(s)) => {
                    if s.kind == crate::source::Secrets::TLS_KEY_LOG {
                        self.keys.add_text(s.data);
                    }
                    None
                }
                Ok(Next::End) => Some(Ok(())),
                Err(e) => Some(Err(Stop::Source(e))),
            };
            if let Some(stop) = stop {
                if self.shard.owns_unflowed() {
                    let notes = source.record_notes();
                    self.handler.sink.stats.record_notes.add(&notes);
                }
                self.handler.sink.stats.kernel = source.kernel_stats();
                return stop;
            }
            if let Some(e) = self.handler.sink.reporter.take_io_error() {
                return Err(Stop::Output(e));
            }
        }
    }

    /// Capture time went by without packets (live capture): flows whose time is up (closed
    /// flows past their linger, idle flows) are finalised and reported now.
    pub fn advance_clock(&mut self, now: Timestamp) {
        self.table.advance_clock(now, &mut self.handler);
    }

    /// Analyzes one frame.
    ///
    /// With `--shard`, a TCP packet of a flow of another shard only moves the capture clock
    /// (so that flows here end idle or linger exactly as they would in one process), and what
    /// belongs to no flow (packets that are not TCP, link and IP anomalies) is the first
    /// shard's: the shards' summaries add up to the whole run's.
    pub fn process(&mut self, frame: &Frame<'_>) {
        let decoded = self.decoder.decode(frame);
        let owned = match &decoded {
            Decoded::Tcp(seg) => self.shard.owns(seg.src, seg.dst),
            _ => self.shard.owns_unflowed(),
        };
        if !owned {
            if let Decoded::Tcp(seg) = &decoded {
                self.table.advance_clock(seg.ts, &mut self.handler);
            }
            if let Decoded::IpFragment { src, dst, id } = decoded {
                self.last_fragment = Some((src, dst, id));
            }
            self.handler
                .sink
                .reporter
                .packet_done(&PacketDone::new(frame, None));
            return;
        }
        let collect = &mut self.handler.sink;
        collect.stats.on_packet(frame.ts);
        if collect.stats.z.is_on() {
            let tcp = match &decoded {
                Decoded::Tcp(seg) => Some((seg.src, seg.dst)),
                _ => None,
            };
            collect
                .stats
                .z
                .frame(frame.ts, u64::from(frame.orig_len), tcp);
        }
        match decoded {
            Decoded::Tcp(seg) => {
                let placed = self.table.process(&seg, &mut self.handler);
                self.handler
                    .sink
                    .reporter
                    .packet_done(&PacketDone::new(frame, placed));
                return;
            }
            Decoded::IpFragment { src, dst, id } => {
                collect.stats.on_skip("IP fragment");
                self.last_fragment = Some((src, dst, id));
                let lost = lost_datagrams(&self.decoder);
                if lost > self.fragments_lost {
                    let a = fragment_anomaly(
                        &self.decoder,
                        self.fragments_lost,
                        lost,
                        self.last_fragment,
                        frame.ts,
                        false,
                    );
                    self.fragments_lost = lost;
                    collect.global_anomaly(&a, frame.index);
                }
            }
            Decoded::Skipped(skip) => {
                let reason = match skip {
                    Skip::UnknownLinkType(_) => "unknown link type",
                    Skip::NotIp => "not IP",
                    Skip::NotTcp => "not TCP",
                    Skip::Malformed => "malformed",
                    Skip::BadHeader(_) => "broken IP/TCP header",
                };
                collect.stats.on_skip(reason);
                if let Skip::BadHeader(bad) = skip
                    && bad.ports.is_none_or(|(a, b)| self.ports.matches(a, b))
                {
                    collect.global_anomaly(&bad_header_anomaly(&bad, frame.ts), frame.index);
                }
            }
        }
        if let Some((interface, link)) = self.decoder.take_new_unknown_link() {
            let a = Anomaly {
                code: Code::LinkUnknown,
                dir: None,
                ts: frame.ts,
                detail: format!(
                    "interface {interface}: link type {link} is not decoded; its packets are skipped"
                ),
            };
            collect.global_anomaly(&a, frame.index);
        }
        collect.reporter.packet_done(&PacketDone::new(frame, None));
    }

    /// Ends every open flow and prints the final report.
    pub fn finish(mut self) -> Result<(RunStats, R), std::io::Error> {
        let lost = lost_datagrams(&self.decoder) + self.decoder.fragments_in_flight() as u64;
        if lost > self.fragments_lost && self.shard.owns_unflowed() {
            let ts = self.handler.sink.stats.last_ts.unwrap_or_default();
            let a = fragment_anomaly(
                &self.decoder,
                self.fragments_lost,
                lost,
                self.last_fragment,
                ts,
                true,
            );
            let frame = self.handler.sink.stats.packets;
            self.handler.sink.global_anomaly(&a, frame);
        }
        self.table.finish(&mut self.handler);
        let mut collect = self.handler.sink;
        collect.stats.flows_skipped_by_port = self.table.stats().flows_skipped_by_port;
        collect.stats.flows_refused_by_cap = self.table.stats().flows_dropped_by_cap;
        collect.stats.flows_refused_by_budget = self.table.stats().flows_dropped_by_budget;
        if let Some(e) = collect.reporter.take_io_error() {
            return Err(e);
        }
        collect.reporter.finish(&collect.stats)?;
        Ok((collect.stats, collect.reporter))
    }
}
