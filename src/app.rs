//! The commands: `read`, `live`, `check`, and the helpers (`completions`, `man`). Maps results
//! onto the contract's exit codes: 0 success, 1 `check` found errors, 2 usage or input problems.

use crate::cli::{Cli, ColorWhen, Command, Common};
use crate::config::Config;
use crate::pipeline::{Analyzer, Stop};
use crate::proto::{Event, EventCtx, EventSink, FlowKind};
use crate::report::Reporter;
use crate::report::follow::FollowPrinter;
use crate::report::json::JsonPrinter;
use crate::report::ladder::LadderPrinter;
use crate::report::progress::WithProgress;
use crate::report::tables::TableStyle;
use crate::report::text::{TextOptions, TextPrinter};
use crate::stats::RunStats;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    Failed = 1,
    Error = 2,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// Prints the one-line error every failure ends with.
pub fn error_line(msg: impl std::fmt::Display) {
    let _ = writeln!(io::stderr(), "sockscope: {msg}");
}

fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

impl<R: Reporter + ?Sized> EventSink for Box<R> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        (**self).event(ctx, event)
    }
    fn global_anomaly(&mut self, anomaly: &crate::proto::Anomaly, frame: u64) {
        (**self).global_anomaly(anomaly, frame)
    }
}

impl<R: Reporter + ?Sized> Reporter for Box<R> {
    fn packet_done(
        &mut self,
        frame: &crate::source::Frame<'_>,
        seg: Option<&crate::decode::Segment<'_>>,
    ) {
        (**self).packet_done(frame, seg)
    }
    fn finish(&mut self, stats: &RunStats) -> io::Result<()> {
        (**self).finish(stats)
    }
    fn take_io_error(&mut self) -> Option<io::Error> {
        (**self).take_io_error()
    }
}

/// Whether to colour output on stdout.
pub fn use_color(when: ColorWhen) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
        }
    }
}

fn table_style() -> TableStyle {
    let tty = io::stdout().is_terminal();
    TableStyle {
        unicode: true,
        width: if tty { terminal_width() } else { None },
        color: false,
    }
}

fn terminal_width() -> Option<u16> {
    // SAFETY: TIOCGWINSZ fills a plain struct; a failure leaves it zeroed and is checked.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            Some(ws.ws_col)
        } else {
            None
        }
    }
}

/// The reporter the options ask for, writing to `out`.
pub fn make_reporter<W: Write + 'static>(common: &Common, out: W) -> Box<dyn Reporter> {
    let kind = common.kind.map(FlowKind::from);
    let color = use_color(common.color);
    if !common.json {
        if let Some(flow) = common.follow {
            return Box::new(FollowPrinter::new(out, flow, color, common.snap_preview));
        }
        if let Some(flow) = common.ladder {
            return Box::new(LadderPrinter::new(out, flow, color, common.snap_preview));
        }
    }
    if common.json {
        return Box::new(JsonPrinter::new(out, common.snap_preview, kind));
    }
    let opts = TextOptions {
        quiet: common.quiet,
        preview: common.snap_preview,
        kind,
        color,
        tables: TableStyle {
            color,
            ..table_style()
        },
        verbose: common.verbose,
        hex: common.hex,
        hex_bytes: common.config(false).display_bytes,
    };
    Box::new(TextPrinter::new(out, opts))
}

/// Allocations from this size on get their own mapping (glibc), which `free` hands back to the
/// system at once. Left in the heap, a large buffer given up for the memory budget leaves a hole
/// that the next buffer of the same size cannot use (the heap then grows although the budget
/// says memory was freed); mapped, it cannot. Smaller than the 32 KiB windows of inflaters and
/// the 64 KiB heads, larger than anything allocated per packet or per message on the common
/// path (docs/memory-budget.md).
const MMAP_THRESHOLD: i32 = 32 << 10;

fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a parameter of glibc's allocator; nothing else runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    tune_allocator();
    let cli = match <Cli as clap::Parser>::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            error_line(usage_error(&e));
            return Status::Error.into();
        }
        Err(e) => {
            // --help, --version: clap prints them in full.
            let _ = e.print();
            return Status::Ok.into();
        }
    };
    run(cli).into()
}

/// A usage error in one line, naming the command's help: `unexpected argument '--x' found
/// (see `sockscope read --help`)`.
fn usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    if first.ends_with(':')
        && let Some(what) = lines.next()
    {
        // "the following required arguments were not provided:" names them on the next line.
        first.push(' ');
        first.push_str(what);
    }
    if let Some(values) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("[possible values: "))
    {
        first.push_str(" (possible values: ");
        first.push_str(values.trim_end_matches(']'));
        first.push(')');
    }
    let command = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "sockscope".to_string());
    format!("{first} (see `{command} --help`)")
}

pub fn run(cli: Cli) -> Status {
    match cli.command {
        Command::Read { files, common } => read(&files, &common),
        Command::Check {
            paths,
            recursive,
            strict,
            common,
        } => check(&paths, recursive, strict, &common),
        Command::Live {
            iface,
            write,
            count,
            duration,
            no_promisc,
            common,
        } => {
            let args = crate::live::LiveArgs {
                iface,
                write,
                count,
                duration,
                promisc: !no_promisc,
            };
            crate::live::run(&args, &common)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "sockscope", &mut io::stdout());
            Status::Ok
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd).render(&mut io::stdout()) {
                Ok(()) => Status::Ok,
                Err(e) if is_broken_pipe(&e) => Status::Ok,
                Err(e) => {
                    error_line(format!("writing the man page: {e}"));
                    Status::Error
                }
            }
        }
    }
}

/// Runs the analysis of `files` (read as one capture) with `reporter`.
/// Returns the stats, or the status to exit with after printing the error.
pub fn analyze(
    files: &[String],
    config: &Config,
    reporter: Box<dyn Reporter>,
) -> Result<RunStats, Status> {
    let mut analyzer = Analyzer::new(config, reporter);
    let mut failure: Option<String> = None;
    for file in files {
        let mut source = match crate::source::open(file, analyzer.next_index()) {
            Ok(s) => s,
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        };
        match analyzer.run(source.as_mut()) {
            Ok(()) => {}
            Err(Stop::Source(e)) => {
                failure = Some(e.to_string());
                break;
            }
            Err(Stop::Output(e)) if is_broken_pipe(&e) => return Err(Status::Ok),
            Err(Stop::Output(e)) => {
                error_line(format!("writing output: {e}"));
                return Err(Status::Error);
            }
        }
    }
    if let Some(msg) = &failure
        && analyzer.stats().packets == 0
    {
        // Nothing was read: an empty report would only hide the message.
        error_line(msg);
        return Err(Status::Error);
    }
    let stats = match analyzer.finish() {
        Ok((stats, _)) => stats,
        Err(e) if is_broken_pipe(&e) => return Err(Status::Ok),
        Err(e) => {
            error_line(format!("writing output: {e}"));
            return Err(Status::Error);
        }
    };
    match failure {
        Some(msg) => {
            error_line(msg);
            Err(Status::Error)
        }
        None => Ok(stats),
    }
}

fn read(files: &[String], common: &Common) -> Status {
    if let Err(msg) = check_view_options(common) {
        error_line(msg);
        return Status::Error;
    }
    let config = common.config(false);
    let out = io::BufWriter::with_capacity(64 << 10, io::stdout());
    let mut reporter = make_reporter(common, out);
    if let Some(total) = progress_total(files, common) {
        reporter = Box::new(WithProgress::new(reporter, total));
    }
    match analyze(files, &config, reporter) {
        Ok(stats) => match common.follow.or(common.ladder) {
            // The view said so on stdout; the status tells scripts.
            Some(flow) if flow == 0 || flow > stats.flows => {
                error_line(format!(
                    "flow {flow} is not in the capture: flow ids run from 1 to {}",
                    stats.flows
                ));
                Status::Error
            }
            _ => Status::Ok,
        },
        Err(s) => s,
    }
}

/// Options that do not go together.
pub fn check_view_options(common: &Common) -> Result<(), String> {
    if common.follow.is_some() && common.ladder.is_some() {
        return Err("--follow and --ladder are two views of one flow; pick one".into());
    }
    if common.json && (common.follow.is_some() || common.ladder.is_some()) {
        return Err(
            "--follow and --ladder print text; for one flow's JSON records use \
             `--json | jq 'select(.flow == N or .id == N)'`"
                .into(),
        );
    }
    Ok(())
}

/// The input size to show progress over, if a progress bar is wanted: stderr is a terminal
/// that the output does not scroll through (stdout redirected to a file, or `-q` / the one-flow
/// views on a terminal), no JSON, every input a plain uncompressed file, and enough of it.
fn progress_total(files: &[String], common: &Common) -> Option<u64> {
    if common.json || common.no_progress || !io::stderr().is_terminal() {
        return None;
    }
    let quiet_screen = common.quiet || common.follow.is_some() || common.ladder.is_some();
    let stdout_ok = if io::stdout().is_terminal() {
        quiet_screen
    } else {
        stdout_is_regular_file()
    };
    if !stdout_ok {
        return None;
    }
    let mut total = 0u64;
    for f in files {
        if f == "-" || f.to_ascii_lowercase().ends_with(".gz") {
            return None;
        }
        let meta = std::fs::metadata(f).ok()?;
        total = total.saturating_add(meta.len());
    }
    (total >= crate::report::progress::MIN_BYTES).then_some(total)
}

fn stdout_is_regular_file() -> bool {
    // SAFETY: fstat fills a plain struct; its result is checked before the struct is read.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(libc::STDOUT_FILENO, &mut st) == 0
            && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
    }
}

/// Capture files named by `paths`: files as given, directories searched for capture files
/// (recursively if asked), in a stable order.
pub fn capture_files(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>, String> {
    fn is_capture(p: &Path) -> bool {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        [".pcap", ".pcapng", ".cap"]
            .iter()
            .any(|ext| name.ends_with(ext))
    }
    fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if recursive {
                    walk(&p, recursive, out)?;
                }
            } else if is_capture(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, recursive, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

/// A reporter that prints nothing: `check` judges from the run statistics.
pub struct Silent;

impl EventSink for Silent {
    fn event(&mut self, _ctx: &EventCtx<'_>, _event: Event<'_>) {}
}

impl Reporter for Silent {
    fn finish(&mut self, _stats: &RunStats) -> io::Result<()> {
        Ok(())
    }
    fn take_io_error(&mut self) -> Option<io::Error> {
        None
    }
}

/// What `check` says a passing capture contained, counted from the events.
#[derive(Clone, Copy, Debug, Default)]
struct Found {
    http_messages: u64,
    ws_frames: u64,
    ws_messages: u64,
    sse_events: u64,
}

/// `check`'s reporter: prints nothing, counts what the PASS line lists.
struct CheckTally(std::rc::Rc<std::cell::Cell<Found>>);

impl EventSink for CheckTally {
    fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
        let mut f = self.0.get();
        match event {
            Event::Http(_) => f.http_messages += 1,
            Event::WsFrame(_) => f.ws_frames += 1,
            Event::WsMessage(_) => f.ws_messages += 1,
            Event::Sse(_) => f.sse_events += 1,
            _ => return,
        }
        self.0.set(f);
    }
}

impl Reporter for CheckTally {
    fn finish(&mut self, _stats: &RunStats) -> io::Result<()> {
        Ok(())
    }
    fn take_io_error(&mut self) -> Option<io::Error> {
        None
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "1 flow (1 websocket): 2 HTTP messages, 18 WebSocket frames, 10 WebSocket messages".
fn found_line(stats: &RunStats, found: Found) -> String {
    let kinds = stats
        .kinds
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = plural(stats.flows, "flow", "flows");
    if !kinds.is_empty() {
        s.push_str(&format!(" ({kinds})"));
    }
    let mut parts = Vec::new();
    if found.http_messages > 0 {
        parts.push(plural(found.http_messages, "HTTP message", "HTTP messages"));
    }
    if found.ws_frames > 0 {
        parts.push(plural(
            found.ws_frames,
            "WebSocket frame",
            "WebSocket frames",
        ));
        parts.push(plural(
            found.ws_messages,
            "WebSocket message",
            "WebSocket messages",
        ));
    }
    if found.sse_events > 0 {
        parts.push(plural(found.sse_events, "SSE event", "SSE events"));
    }
    if !parts.is_empty() {
        s.push_str(": ");
        s.push_str(&parts.join(", "));
    }
    s
}

fn counts_line(stats: &RunStats, severity: crate::proto::Severity) -> String {
    stats
        .anomalies
        .iter()
        .filter(|(c, _)| c.severity() == severity)
        .map(|(c, n)| format!("{} ×{n}", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check(paths: &[PathBuf], recursive: bool, strict: bool, common: &Common) -> Status {
    let config = common.config(true);
    let files = match capture_files(paths, recursive) {
        Ok(f) => f,
        Err(e) => {
            error_line(e);
            return Status::Error;
        }
    };
    if files.is_empty() {
        error_line("no capture files found (looked for *.pcap, *.pcapng, *.cap and .gz)");
        return Status::Error;
    }
    let mut out = io::stdout().lock();
    let (mut passed, mut failed, mut unreadable) = (0u64, 0u64, 0u64);
    for file in &files {
        let name = file.display().to_string();
        let found = std::rc::Rc::new(std::cell::Cell::new(Found::default()));
        let tally = Box::new(CheckTally(found.clone()));
        let result = analyze(std::slice::from_ref(&name), &config, tally);
        let line = match &result {
            Ok(stats) => {
                let errors = counts_line(stats, crate::proto::Severity::Error);
                let warnings = counts_line(stats, crate::proto::Severity::Warning);
                let pass = if strict {
                    stats.anomalies.is_empty()
                } else {
                    stats.errors() == 0
                };
                if pass {
                    passed += 1;
                } else {
                    failed += 1;
                }
                if common.json {
                    serde_json::json!({
                        "type": "check", "file": name, "pass": pass,
                        "flows": stats.flows, "packets": stats.packets,
                        "anomalies": stats.anomalies.iter().map(|(c, n)| (c.as_str(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
                    })
                    .to_string()
                } else if pass {
                    if common.quiet {
                        continue;
                    }
                    format!(
                        "PASS {name}: {}{}",
                        found_line(stats, found.get()),
                        if warnings.is_empty() {
                            String::new()
                        } else {
                            format!("; warnings: {warnings}")
                        }
                    )
                } else {
                    format!(
                        "FAIL {name}: errors: {}{}",
                        if errors.is_empty() { "none" } else { &errors },
                        if warnings.is_empty() {
                            String::new()
                        } else {
                            format!("; warnings: {warnings}")
                        }
                    )
                }
            }
            Err(_) => {
                unreadable += 1;
                if common.json {
                    serde_json::json!({"type": "check", "file": name, "pass": false, "unreadable": true}).to_string()
                } else {
                    format!("FAIL {name}: unreadable (see the message above)")
                }
            }
        };
        if let Err(e) = writeln!(out, "{line}") {
            return if is_broken_pipe(&e) {
                Status::Ok
            } else {
                Status::Error
            };
        }
    }
    let total = files.len();
    let tally = if common.json {
        serde_json::json!({"type": "check_summary", "captures": total, "passed": passed, "failed": failed, "unreadable": unreadable}).to_string()
    } else {
        format!(
            "{total} captures: {passed} passed, {failed} failed{}",
            if unreadable > 0 {
                format!(", {unreadable} unreadable")
            } else {
                String::new()
            }
        )
    };
    let _ = writeln!(out, "{tally}");
    if unreadable > 0 {
        Status::Error
    } else if failed > 0 {
        Status::Failed
    } else {
        Status::Ok
    }
}
