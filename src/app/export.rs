//! `read -w FILE`: the packets of the selected flows — the ones named by `--flow`, and with `-Y`
//! the ones in which something matched (as the tables keep them) — written to a pcap file in
//! capture order, every packet a flow took, from its SYN to its last FIN or RST.
//!
//! With `-Y`, which flows matched is known only when each ends, so the capture is read twice:
//! once to judge, once to write (standard input cannot be read twice and is refused). The file
//! is opened as `live -w` opens it (`live::writer::open`): never through a symbolic link, a new
//! name created exclusively, an existing file truncated only if it has one name; `read` runs as
//! the user who started it, so the kernel's permission checks decide the rest. A pcap file has
//! one link type: packets of another interface's link type (pcapng) are left out and counted.

use crate::app::{RunError, Status, analyze, error_line, views};
use crate::cli::Common;
use crate::live::writer;
use crate::model::{Anomaly, Event, EventCtx, EventSink};
use crate::report::escape;
use crate::report::select::Selection;
use crate::report::{PacketDone, Reporter};
use crate::source::{LinkType, PcapWriter};
use crate::stats::RunStats;
use crate::tcp::FlowId;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Pass one: the flows in which the filter matched.
struct Judge {
    select: Selection,
    kept: BTreeSet<FlowId>,
}

impl EventSink for Judge {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        self.select.observe(ctx, &event);
        match event {
            Event::Record(r) => {
                self.select.record(ctx, r);
            }
            Event::FlowClosed { how, summary } => {
                let end = self.select.flow_closed(ctx.flow, summary, how);
                if end.keep {
                    self.kept.insert(ctx.flow.id);
                }
            }
            _ => {}
        }
    }

    fn global_anomaly(&mut self, _anomaly: &Anomaly, _frame: u64) {}
}

impl Reporter for Judge {
    fn finish(&mut self, _stats: &RunStats) -> io::Result<()> {
        Ok(())
    }
    fn take_io_error(&mut self) -> Option<io::Error> {
        None
    }
    fn wants_packets(&self) -> bool {
        false
    }
}

/// Pass two: writes the packets the selected flows took.
struct Export {
    flows: BTreeSet<FlowId>,
    file: Option<File>,
    out: Option<PcapWriter<BufWriter<File>>>,
    link: Option<LinkType>,
    other_link: u64,
    flows_written: BTreeSet<FlowId>,
    error: Option<io::Error>,
}

impl Export {
    fn write(&mut self, done: &PacketDone<'_>) -> io::Result<()> {
        let p = done.packet();
        let link = *self.link.get_or_insert(p.link_type);
        if p.link_type != link {
            self.other_link += 1;
            return Ok(());
        }
        if self.out.is_none()
            && let Some(file) = self.file.take()
        {
            let out = BufWriter::with_capacity(1 << 20, file);
            self.out = Some(PcapWriter::new(out, link, writer::SNAPLEN)?);
        }
        if let Some(out) = &mut self.out {
            out.write_packet(p.ts, p.orig_len, p.data)?;
        }
        Ok(())
    }

    fn packets(&self) -> u64 {
        self.out.as_ref().map_or(0, PcapWriter::packets)
    }
}

impl EventSink for Export {
    fn event(&mut self, _ctx: &EventCtx<'_>, _event: Event<'_>) {}
}

impl Reporter for Export {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        let Some(placed) = done.placed else {
            return;
        };
        if self.error.is_some() || !self.flows.contains(&placed.flow) {
            return;
        }
        self.flows_written.insert(placed.flow);
        if let Err(e) = self.write(done) {
            self.error = Some(e);
        }
    }

    fn finish(&mut self, _stats: &RunStats) -> io::Result<()> {
        if self.out.is_none()
            && let Some(file) = self.file.take()
        {
            // Nothing selected: still a valid (empty) capture.
            let link = self.link.unwrap_or(LinkType::ETHERNET);
            let out = BufWriter::new(file);
            self.out = Some(PcapWriter::new(out, link, writer::SNAPLEN)?);
        }
        match &mut self.out {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    fn take_io_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// `read -w PATH [--flow N]… [-Y EXPR] FILE…`.
pub fn write_flows(files: &[String], path: &Path, flows: &[u64], common: &Common) -> Status {
    let shown = escape::path(path);
    let Ok(filter) = views::checked_filter(common) else {
        return Status::Error;
    };
    if filter.is_none() && flows.is_empty() {
        error_line(format!(
            "-w {shown}: say which flows to write: --flow N (the flow ids of the report), or \
             -Y EXPR for the flows in which something matches"
        ));
        return Status::Error;
    }
    for (set, name) in [
        (common.json, "--json"),
        (common.verbose, "-V"),
        (common.hex, "-x"),
        (common.follow.is_some(), "--follow"),
        (common.ladder.is_some(), "--ladder"),
        (common.fields_format.is_some(), "-T"),
        (common.filter_flows, "--filter-flows"),
    ] {
        if set {
            error_line(format!(
                "-w writes the packets of the selected flows and prints no report; {name} does \
                 not apply to it"
            ));
            return Status::Error;
        }
    }
    if filter.is_some() && files.iter().any(|f| f == "-") {
        error_line(
            "-w with -Y reads the capture twice (to judge the flows, then to write them); \
             name a file, not - (stdin)",
        );
        return Status::Error;
    }
    if let Some(input) = files.iter().find(|f| same_file(Path::new(f), path)) {
        error_line(format!(
            "-w {shown}: is the input {}; choose another name",
            escape::esc(input)
        ));
        return Status::Error;
    }
    let config = common.config(false);
    let mut selected: BTreeSet<FlowId> = flows.iter().copied().collect();
    if let Some(filter) = filter {
        let judge = Judge {
            select: Selection::new(filter),
            kept: BTreeSet::new(),
        };
        match analyze(files, &config, judge) {
            Ok((_, judge)) => selected.extend(judge.kept),
            Err(e) => return e.report(),
        }
    }
    let file = match writer::open(path) {
        Ok(f) => f,
        Err(e) => {
            error_line(e.message(&shown, "you"));
            return Status::Error;
        }
    };
    let export = Export {
        flows: selected.clone(),
        file: Some(file),
        out: None,
        link: None,
        other_link: 0,
        flows_written: BTreeSet::new(),
        error: None,
    };
    let (stats, export) = match analyze(files, &config, export) {
        Ok(done) => done,
        Err(RunError::Output(e)) => {
            error_line(format!("{shown}: {e}"));
            return Status::Error;
        }
        Err(e) => return e.report(),
    };
    let missing: Vec<String> = flows
        .iter()
        .filter(|f| **f == 0 || **f > stats.flows)
        .map(u64::to_string)
        .collect();
    let mut err = io::stderr().lock();
    let n = export.packets();
    let _ = writeln!(
        err,
        "sockscope: wrote {n} packet{} of {} flow{} to {shown}",
        if n == 1 { "" } else { "s" },
        export.flows_written.len(),
        if export.flows_written.len() == 1 {
            ""
        } else {
            "s"
        },
    );
    if export.other_link > 0 {
        let _ = writeln!(
            err,
            "sockscope: note: {} packets of those flows came from interfaces of another link \
             type and were left out (a pcap file has one link type)",
            export.other_link
        );
    }
    drop(err);
    if !missing.is_empty() {
        error_line(format!(
            "flow {} is not in the capture: flow ids run from 1 to {}",
            missing.join(", "),
            stats.flows
        ));
        return Status::Error;
    }
    Status::Ok
}
