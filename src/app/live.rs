//! `sockscope live`: sniffs an interface through the live packet source ([`crate::live`]) and
//! feeds the packets to the same [`Analyzer`] and reporters as `read`, streaming output as
//! events happen.
//!
//! What it promises:
//! - privileges are dropped after the socket is open and before any captured byte is parsed;
//!   the `-w` file is opened by the user who will own it (after the drop; before it only when
//!   root ran sockscope itself), and a file that user could not write is refused;
//! - Ctrl-C / SIGTERM / `--duration` drain what the kernel captured up to that moment, then print
//!   the same final report as `read` plus the kernel's packet counters on stderr; nothing
//!   captured is missing from the report or the `-w` file;
//! - every failure (no privilege, unknown or vanished interface, unwritable file) ends with one
//!   line on stderr saying what to do, and exit status 2.

use crate::app::exit::{Status, error_line, is_broken_pipe};
use crate::app::files_out::FileWriters;
use crate::app::views::{Pace, make_reporter, missing_flow};
use crate::cli::Common;
use crate::config::{Limits, PortFilter};
use crate::live::{bpf, iface, output, privs, ring, signal, socket, source, writer};
use crate::model::{Anomaly, Event, EventCtx, EventSink};
use crate::pipeline::{Analyzer, Stop};
use crate::report::escape;
use crate::report::html;
use crate::report::select::{Filtered, Selection};
use crate::report::{PacketDone, Reporter};
use crate::stats::RunStats;
use std::cell::Cell;
use std::io::{self, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

/// What `sockscope live` was asked to do (besides the options shared with `read`).
#[derive(Clone, Debug, Default)]
pub struct LiveArgs {
    /// Interface name, `any` for all.
    pub iface: String,
    /// `-w`: save every captured packet here.
    pub write: Option<PathBuf>,
    /// `-c`: stop after this many packets.
    pub count: Option<u64>,
    /// `-b`: a ring buffer of `-w` files.
    pub ring: writer::RingSpec,
    /// `--duration`: stop after this many seconds.
    pub duration: Option<f64>,
    /// Put a named interface into promiscuous mode.
    pub promisc: bool,
    /// `--report`: also write the HTML report here when the capture stops.
    pub report: Option<PathBuf>,
    /// `--format parquet --out DIR`, `--har`, `--zeek`: files for other tools.
    pub outputs: crate::cli::Outputs,
}

/// Checks the limits; a usage error otherwise.
pub fn limits(args: &LiveArgs) -> Result<source::Limits, String> {
    let duration = match args.duration {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 => {
            Some(Duration::try_from_secs_f64(s).map_err(|_| format!("--duration {s}: too large"))?)
        }
        Some(s) => {
            return Err(format!(
                "--duration {s}: must be a positive number of seconds"
            ));
        }
    };
    if args.count == Some(0) {
        return Err("--count 0: must be at least 1".into());
    }
    Ok(source::Limits {
        count: args.count,
        duration,
    })
}

/// The message for a missing privilege: what to run instead.
pub fn privilege_message(iface: &str) -> String {
    format!(
        "{iface}: capturing needs root or CAP_NET_RAW; run it with sudo, or allow it once with: \
         sudo setcap cap_net_raw,cap_net_admin+ep $(command -v sockscope)"
    )
}

/// Wraps the reporter chosen by the options: adds the flows the kernel filter skipped (seen as
/// bare SYNs on other ports) to the run's count before the final report prints it.
struct LiveReporter {
    inner: Box<dyn Reporter>,
    skipped_flows: Rc<Cell<u64>>,
}

impl EventSink for LiveReporter {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        self.inner.event(ctx, event);
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        self.inner.global_anomaly(anomaly, frame);
    }

    fn wants_message_records(&self) -> bool {
        self.inner.wants_message_records()
    }
}

impl Reporter for LiveReporter {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        self.inner.packet_done(done);
    }

    fn finish(&mut self, stats: &RunStats) -> io::Result<()> {
        let skipped = self.skipped_flows.get();
        if skipped == 0 {
            return self.inner.finish(stats);
        }
        let mut stats = stats.clone();
        stats.flows_skipped_by_port = stats.flows_skipped_by_port.saturating_add(skipped);
        self.inner.finish(&stats)
    }

    fn take_io_error(&mut self) -> Option<io::Error> {
        self.inner.take_io_error()
    }
    fn wants_packets(&self) -> bool {
        self.inner.wants_packets()
    }
    fn record_lines(&self) -> Option<usize> {
        self.inner.record_lines()
    }
    fn put_line(&mut self, pieces: &[&[u8]]) {
        self.inner.put_line(pieces)
    }
}

/// Runs `sockscope live`.
pub fn run(args: &LiveArgs, common: &Common) -> Status {
    let limits = match limits(args) {
        Ok(l) => l,
        Err(msg) => {
            error_line(msg);
            return Status::Error;
        }
    };
    let mut config = match common.with_keys(common.live_config(), true) {
        Ok(c) => c,
        Err(msg) => {
            error_line(msg);
            return Status::Error;
        }
    };
    let iface = match iface::lookup(&args.iface) {
        Ok(i) => i,
        Err(e) => {
            error_line(e);
            return Status::Error;
        }
    };
    // Interface names and paths are shown escaped: both may hold any byte.
    let shown_iface = escape::escape(&iface.name).into_owned();
    let shown_path = args.write.as_deref().map(escape::path);
    let framing = iface.framing();
    let link_type = iface.link_type();
    let loopback = iface::loopback_index(&iface);

    let ports: Option<Vec<u16>> = match &config.ports {
        PortFilter::Any => None,
        PortFilter::Ports(p) => Some(p.clone()),
    };
    let layout = match framing {
        ring::Framing::Ethernet => bpf::Layout::Ethernet,
        ring::Framing::Raw | ring::Framing::CookedSll2 => bpf::Layout::Network,
    };
    let snaplen = writer::SNAPLEN.saturating_sub(framing.reserve() as u32);
    let spec = bpf::FilterSpec {
        layout,
        ports: ports.as_deref(),
        reject_outgoing_on: loopback,
        snaplen,
    };
    let (program, filter_text) = match bpf::build(&spec) {
        Ok(p) => (p, bpf::describe(ports.as_deref())),
        Err(e) => {
            // Too many ports for one program: the kernel keeps TCP, the analyzer the ports.
            let tcp_only = bpf::FilterSpec {
                ports: None,
                ..spec.clone()
            };
            match bpf::build(&tcp_only) {
                Ok(p) => {
                    if common.verbose {
                        let _ = writeln!(
                            io::stderr(),
                            "sockscope: {e}: the kernel filter keeps all TCP, ports are checked in user space"
                        );
                    }
                    (p, bpf::describe(ports.as_deref()))
                }
                Err(e) => {
                    error_line(format!("{}: building the packet filter: {e}", iface.name));
                    return Status::Error;
                }
            }
        }
    };

    let rings = Common::live_rings(&config);
    let sockets = match socket::PacketSocket::open_group(
        rings,
        iface.index,
        framing,
        &program,
        args.promisc,
        socket::RingGeometry::with_bytes(Limits::live_ring_each_for_mib(common.memory, rings)),
    ) {
        Ok(s) => s,
        Err(socket::OpenError::NotPermitted) => {
            error_line(privilege_message(&iface.name));
            return Status::Error;
        }
        Err(socket::OpenError::InterfaceDown) => {
            error_line(iface::LookupError::Down {
                name: iface.name.clone(),
            });
            return Status::Error;
        }
        Err(e) => {
            error_line(format!("{}: {e}", iface.name));
            return Status::Error;
        }
    };
    if let Some(e) = sockets.first().and_then(|s| s.promisc_error.as_ref()) {
        // A note, not a failure; in the same plain words as one.
        error_line(format!(
            "{}: promiscuous mode refused ({e}); capturing only this host's traffic",
            iface.name
        ));
    }
    let geometry = sockets.first().map(|s| s.geometry()).unwrap_or_default();

    let plan = privs::plan_for_this_process();
    // tcpdump's -Z order: the file is opened by the identity that will own it.
    let open_dump = || -> Result<Option<writer::PcapDump>, String> {
        let (Some(path), Some(shown)) = (&args.write, &shown_path) else {
            return Ok(None);
        };
        writer::create(path, link_type, args.ring)
            .map(Some)
            .map_err(|e| e.message(shown, &privs::file_writer(plan)))
    };
    // The report's file is opened when the -w file is, by the identity that will own it.
    let open_report = || -> Result<Option<Box<dyn Write>>, String> {
        let Some(path) = &args.report else {
            return Ok(None);
        };
        html::open_output(path)
            .map(Some)
            .map_err(|e| format!("{}: {e}", escape::path(path)))
    };
    // Every output file, by the identity the plan says; a file that cannot be opened ends the
    // run with its one line.
    let open_files = |config: &mut crate::config::Config| {
        let opened = open_dump().and_then(|dump| {
            let report = open_report()?;
            Ok((
                dump,
                report,
                FileWriters::open(&args.outputs, common, config, true)?,
            ))
        });
        opened.map_err(error_line)
    };
    let mut early = None;
    if privs::opens_file_before_drop(plan) {
        let Ok(opened) = open_files(&mut config) else {
            return Status::Error;
        };
        early = Some(opened);
    }
    match privs::drop_privileges(plan) {
        Ok(dropped) => {
            if common.verbose {
                let line = match dropped {
                    privs::Dropped::ToUser { uid, gid } => {
                        format!("dropped privileges to uid {uid} gid {gid}")
                    }
                    privs::Dropped::Capabilities => "dropped all capabilities".to_string(),
                };
                let _ = writeln!(io::stderr(), "sockscope: {line}");
            }
        }
        Err(e) => {
            error_line(format!(
                "could not drop privileges ({e}); refusing to analyze traffic with them"
            ));
            return Status::Error;
        }
    }
    let (dump, report_out, files) = match early {
        Some(opened) => opened,
        None => {
            let Ok(opened) = open_files(&mut config) else {
                return Status::Error;
            };
            opened
        }
    };
    if let Err(e) = signal::install() {
        error_line(format!("installing the Ctrl-C handler: {e}"));
        return Status::Error;
    }

    let mut source = source::LiveSource::new(
        iface.name.clone(),
        sockets,
        framing,
        link_type,
        loopback,
        limits,
        1,
        signal::stop_requested,
    );
    if let (Some(d), Some(shown)) = (dump, &shown_path) {
        source.write_to(d, shown.clone());
    }
    let out = output::BatchedOutput::new(io::stdout());
    let flusher = out.clone();
    source.on_batch(Box::new(move || flusher.flush_batch()));
    let skipped_flows = Rc::new(Cell::new(0));
    let mut inner = files.reporter(|| make_reporter(common, out, Pace::Live));
    if let (Some(report), Some(path)) = (report_out, &args.report) {
        let page = html::HtmlReport::new(
            report,
            path,
            html::Origin::Interface(iface.name.clone()),
            common.preview_chars(),
        );
        let select = common
            .display_filter()
            .ok()
            .flatten()
            .map(|f| Selection::new(f).with_poll_interval(common.poll_interval));
        inner = Box::new(html::WithReport {
            inner,
            report: Filtered::wrap_with_tables(page, select),
        });
    }
    let reporter = LiveReporter {
        inner,
        skipped_flows: Rc::clone(&skipped_flows),
    };

    let ring_text = match rings {
        1 => "ring".to_string(),
        n => format!("{n} rings (fanout hash), each"),
    };
    let _ = writeln!(
        io::stderr(),
        "sockscope: capturing on {}, link type {}, filter \"{}\", {ring_text} {} × {} KiB; Ctrl-C to stop",
        shown_iface,
        link_type,
        filter_text,
        geometry.block_count,
        geometry.block_size / 1024,
    );

    let mut analyzer = Analyzer::for_lanes(&config, Box::new(reporter) as Box<dyn Reporter>);
    let outcome = analyzer.run(&mut source);
    let dump_result = source.close_dump();
    let source_stats = source.stats();
    skipped_flows.set(source_stats.syn_hints);
    let kernel = source.kernel_stats();
    let by_ring = source.kernel_stats_by_ring();
    let cause = source.stop_cause().cloned();
    let ring_error = source.first_ring_error();
    drop(source);

    let lanes = analyzer.lane_counts();
    let mut status = Status::Ok;
    let mut failure: Option<String> = None;
    match outcome {
        Ok(()) => {}
        Err(Stop::Source(e)) => {
            failure = Some(e.to_string());
            status = Status::Error;
        }
        Err(Stop::Output(e)) if is_broken_pipe(&e) => {}
        Err(Stop::Output(e)) => {
            failure = Some(format!("writing output: {e}"));
            status = Status::Error;
        }
    }
    match analyzer.finish() {
        Ok((stats, _)) => {
            if let Some(msg) = missing_flow(common, stats.flows) {
                failure.get_or_insert(msg);
                status = Status::Error;
            }
            if let Some(path) = &args.report {
                html::announce(path);
            }
        }
        Err(e) if is_broken_pipe(&e) => {}
        Err(e) => {
            failure.get_or_insert(format!("writing output: {e}"));
            status = Status::Error;
        }
    }

    let mut err = io::stderr().lock();
    match kernel {
        Ok(k) => {
            let _ = writeln!(
                err,
                "sockscope: {}: {} packets captured, {} received by filter, {} dropped by kernel (ring full {} times)",
                shown_iface, source_stats.captured, k.received, k.dropped, k.freezes
            );
        }
        Err(e) => {
            let _ = writeln!(
                err,
                "sockscope: {}: {} packets captured (kernel statistics unavailable: {e})",
                shown_iface, source_stats.captured
            );
        }
    }
    match dump_result {
        Ok(Some(n)) => {
            if let Some(shown) = &shown_path {
                if args.ring.switches() {
                    let _ = writeln!(
                        err,
                        "sockscope: wrote {n} packets to a ring buffer of files named after {shown} \
                         (NAME_NNNNN_YYYYmmddHHMMSS.EXT{})",
                        args.ring
                            .files
                            .map_or_else(String::new, |f| format!(", the last {f} kept"))
                    );
                } else {
                    let _ = writeln!(err, "sockscope: wrote {n} packets to {shown}");
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            failure.get_or_insert(e.to_string());
            status = Status::Error;
        }
    }
    if common.verbose {
        // Each ring's share: how the kernel's flow hash spread the traffic.
        if let Ok(rings) = by_ring.as_deref()
            && rings.len() > 1
        {
            for (i, k) in rings.iter().enumerate() {
                let _ = writeln!(
                    err,
                    "sockscope: {}: ring {} of {}: {} received by filter, {} dropped by kernel",
                    shown_iface,
                    i + 1,
                    rings.len(),
                    k.received,
                    k.dropped
                );
            }
        }
        if let Some(c) = &cause {
            let _ = writeln!(err, "sockscope: stopped: {}", escape::esc(&c.to_string()));
        }
        if source_stats.after_stop > 0 {
            let _ = writeln!(
                err,
                "sockscope: {} packets arrived after the stop and were not analyzed",
                source_stats.after_stop
            );
        }
    }
    // Where the rings may not have held whole flows: said, with what to do.
    if lanes.split > 0 {
        let _ = writeln!(
            err,
            "sockscope: {}: {} connections had their two directions on different rings (this \
             kernel's fanout hash is not symmetric for them) and were analyzed as two half flows; \
             capture with --threads 1",
            shown_iface, lanes.split
        );
    }
    if lanes.reassembled > 0 {
        let _ = writeln!(
            err,
            "sockscope: {}: {} TCP segments came in IPv6 fragments, which the kernel hashes to a \
             ring without their ports: they may have been analyzed apart from their connection; \
             capture with --threads 1",
            shown_iface, lanes.reassembled
        );
    }
    if let Some(e) = ring_error {
        let _ = writeln!(
            err,
            "sockscope: {}: {} malformed ring entries skipped (first: {e})",
            shown_iface, source_stats.ring_errors
        );
    }
    drop(err);
    if let Some(msg) = failure {
        error_line(msg);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(count: Option<u64>, duration: Option<f64>) -> LiveArgs {
        LiveArgs {
            iface: "lo".into(),
            count,
            duration,
            ..LiveArgs::default()
        }
    }

    #[test]
    fn limits_accept_sane_values() {
        let l = limits(&args(Some(5), Some(1.5))).unwrap();
        assert_eq!(l.count, Some(5));
        assert_eq!(l.duration, Some(Duration::from_millis(1500)));
        assert_eq!(
            limits(&args(None, None)).unwrap(),
            source::Limits::default()
        );
    }

    #[test]
    fn limits_refuse_nonsense() {
        for d in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(limits(&args(None, Some(d))).is_err(), "{d}");
        }
        assert!(limits(&args(Some(0), None)).is_err());
    }

    #[test]
    fn the_privilege_message_says_what_to_do() {
        let m = privilege_message("eth0");
        assert!(m.starts_with("eth0: "));
        assert!(m.contains("sudo"));
        assert!(m.contains("setcap cap_net_raw,cap_net_admin+ep"));
    }
}
