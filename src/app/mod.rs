//! The commands: `read`, `live`, `check`, and the helpers (`completions`, `man`). Maps results
//! onto the contract's exit codes: 0 success, 1 `check` found a failing capture, 2 usage or
//! input problems. Every failure ends with one line on stderr ([`error_line`]) in plain words.
//!
//! Output that cannot be delivered never changes a verdict: `read` and `live` end quietly with
//! status 0 when the reader of their output goes away (as ripgrep does), and `check` goes on
//! judging the remaining captures without printing, so its status is the verdict whatever
//! happens to stdout.

pub mod exit;
pub mod export;
pub mod files_out;
pub mod live;
pub mod views;

pub use exit::{Status, error_line};
pub use views::{make_reporter, missing_flow, output_width, use_color};

use crate::cli::{CheckFormat, Cli, Command, Common, GateArgs};
use crate::config::Config;
use crate::filter::{Filter, fields};
use crate::model::{Event, EventCtx, EventSink, FlowKind};
use crate::pipeline::{Analyzer, Stop};
use crate::report::Reporter;
use crate::report::escape;
use crate::report::html;
use crate::report::progress::{self, Screen, WithProgress};
use crate::report::select::{Filtered, Selection};
use crate::report::verdict::forbid::{self, ForbidWatch, Forbids};
use crate::report::verdict::formats::{self, TextStyle, Totals};
use crate::report::verdict::rules::Rules;
use crate::report::verdict::{CaptureVerdict, Collector};
use crate::stats::RunStats;
use crate::usage;
use exit::{is_broken_pipe, plain_os_errors};
use indicatif::ProgressBar;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    use clap::error::ErrorKind;
    tune_allocator();
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match <Cli as clap::Parser>::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let status = match e.kind() {
                // --help and --version: clap prints them in full.
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Status::Ok,
                // Bare `sockscope`: the help, on stderr, as a usage error.
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Status::Error,
                _ => {
                    error_line(usage::one_line_error(&e, &args));
                    return Status::Error.into();
                }
            };
            let _ = e.print();
            return status.into();
        }
    };
    run(cli).into()
}

pub fn run(cli: Cli) -> Status {
    match cli.command {
        Command::Read {
            mut files,
            read_file,
            count,
            write,
            flows,
            outputs,
            mut common,
        } => {
            files.extend(read_file);
            if let Err(msg) = outputs.resolve(&mut common) {
                error_line(msg);
                return Status::Error;
            }
            match write {
                Some(path) if count.is_some() => {
                    error_line(format!(
                        "-w {}: writes the selected flows whole; -c does not apply to it",
                        escape::path(&path)
                    ));
                    Status::Error
                }
                Some(path) if outputs.any() => {
                    error_line(format!(
                        "-w {}: writes the selected flows' packets; --format, --har and --zeek \
                         do not apply to it",
                        escape::path(&path)
                    ));
                    Status::Error
                }
                Some(path) => export::write_flows(&files, &path, &flows, &common),
                None if outputs.parquet() => {
                    files_out::read_parquet(&files, count, &outputs, &common)
                }
                None => read(&files, count, &common, &outputs),
            }
        }
        Command::Report {
            files,
            output,
            common,
        } => report(&files, &output, &common),
        Command::Check {
            paths,
            recursive,
            strict,
            gate,
            common,
        } => check(&paths, recursive, strict, &gate, &common),
        Command::Live {
            iface,
            interface,
            write,
            count,
            ring_buffer,
            duration,
            no_promisc,
            report,
            outputs,
            mut common,
        } => {
            if let Err(msg) = outputs
                .resolve(&mut common)
                .and_then(|()| common.refuse_idle_views(true))
            {
                error_line(msg);
                return Status::Error;
            }
            if views::checked_filter(&common).is_err() {
                return Status::Error;
            }
            let mut ring = crate::live::writer::RingSpec::default();
            for spec in &ring_buffer {
                if let Err(msg) = ring.add(spec) {
                    error_line(format!("-b {msg} (see `sockscope live --help`)"));
                    return Status::Error;
                }
            }
            let args = live::LiveArgs {
                ring,
                iface: interface.or(iface).unwrap_or_else(|| "any".to_string()),
                write,
                count,
                duration,
                promisc: !no_promisc,
                report,
                outputs,
            };
            live::run(&args, &common)
        }
        Command::Fields { prefix } => match fields::text_listing(prefix.as_deref()) {
            Some(list) => write_stdout(list.as_bytes(), "the field list"),
            None => {
                error_line(format!(
                    "no field name starts with `{}`; `sockscope fields` lists them all",
                    prefix.unwrap_or_default()
                ));
                Status::Error
            }
        },
        Command::Completions { shell } => match usage::completion_script(shell) {
            Ok(script) => write_stdout(script.as_bytes(), "the completion script"),
            Err(e) => {
                error_line(e);
                Status::Error
            }
        },
        Command::Man { page, dir } => match dir {
            Some(dir) => match usage::write_man_pages(&dir) {
                Ok(paths) => {
                    let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
                    write_stdout(list.as_bytes(), "the list of pages")
                }
                Err(e) => {
                    error_line(format!("writing the man pages: {e}"));
                    Status::Error
                }
            },
            None => {
                let mut page_text = Vec::new();
                match usage::render_man(page, &mut page_text) {
                    Ok(()) => write_stdout(&page_text, "the man page"),
                    Err(e) => {
                        error_line(format!("rendering the man page: {e}"));
                        Status::Error
                    }
                }
            }
        },
    }
}

/// Writes `bytes` to stdout; a reader that went away is not an error.
fn write_stdout(bytes: &[u8], what: &str) -> Status {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Status::Ok,
        Err(e) if is_broken_pipe(&e) => Status::Ok,
        Err(e) => {
            error_line(format!("writing {what}: {e}"));
            Status::Error
        }
    }
}

/// Why a run stopped without a result.
#[derive(Debug)]
pub enum RunError {
    /// The reader of the output went away.
    OutputClosed,
    /// Writing the output failed otherwise.
    Output(io::Error),
    /// An input could not be read; the message names it. What was read before was reported.
    Input(String),
}

impl RunError {
    /// Prints the error (none for a closed output) and gives the status to exit with.
    fn report(self) -> Status {
        match self {
            RunError::OutputClosed => Status::Ok,
            RunError::Output(e) => {
                error_line(format!("writing output: {e}"));
                Status::Error
            }
            RunError::Input(msg) => {
                error_line(msg);
                Status::Error
            }
        }
    }
}

/// Runs the analysis of `files` (read as one capture) with `reporter`; returns the statistics
/// and the reporter.
pub fn analyze<R: Reporter>(
    files: &[String],
    config: &Config,
    reporter: R,
) -> Result<(RunStats, R), RunError> {
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
        let outcome = match config.packet_limit {
            Some(limit) => {
                let left = limit.saturating_sub(analyzer.packets_read());
                if left == 0 {
                    break;
                }
                analyzer.run(&mut crate::source::Limited::new(source.as_mut(), left))
            }
            None => analyzer.run(source.as_mut()),
        };
        match outcome {
            Ok(()) => {}
            Err(Stop::Source(e)) => {
                failure = Some(e.to_string());
                break;
            }
            Err(Stop::Output(e)) if is_broken_pipe(&e) => return Err(RunError::OutputClosed),
            Err(Stop::Output(e)) => return Err(RunError::Output(e)),
        }
    }
    if let Some(msg) = failure.take_if(|_| analyzer.packets_read() == 0) {
        // Nothing was read: an empty report would only hide the message.
        return Err(RunError::Input(msg));
    }
    let done = match analyzer.finish() {
        Ok(done) => done,
        Err(e) if is_broken_pipe(&e) => return Err(RunError::OutputClosed),
        Err(e) => return Err(RunError::Output(e)),
    };
    match failure {
        Some(msg) => Err(RunError::Input(msg)),
        None => Ok(done),
    }
}

fn read(
    files: &[String],
    count: Option<u64>,
    common: &Common,
    outputs: &crate::cli::Outputs,
) -> Status {
    if let Err(msg) = common.refuse_idle_views(false) {
        error_line(msg);
        return Status::Error;
    }
    if views::checked_filter(common).is_err() {
        return Status::Error;
    }
    if let Some(dir) = files.iter().find(|f| Path::new(f).is_dir()) {
        error_line(format!(
            "{dir}: is a directory; name capture files, or check every capture in it with \
             `sockscope check {dir}`"
        ));
        return Status::Error;
    }
    let Some(mut config) = read_config(common, count) else {
        return Status::Error;
    };
    let out = io::BufWriter::with_capacity(64 << 10, io::stdout());
    let quiet =
        !common.json && (common.quiet || common.follow.is_some() || common.ladder.is_some());
    let reporter = match files_out::FileWriters::open(outputs, common, &mut config, false) {
        Ok(w) => w.reporter(|| make_reporter(common, out, views::Pace::Read)),
        Err(msg) => {
            error_line(msg);
            return Status::Error;
        }
    };
    let reporter = with_progress(reporter, files, common, quiet);
    match analyze(files, &config, reporter) {
        Ok((stats, _)) => match missing_flow(common, stats.flows) {
            // The view said so on stdout; the status tells scripts.
            Some(msg) => {
                error_line(msg);
                Status::Error
            }
            None => Status::Ok,
        },
        Err(e) => e.report(),
    }
}

/// `read`'s settings, with its key logs and `-c` (`None`, said on stderr, when they cannot
/// be read).
pub(crate) fn read_config(common: &Common, count: Option<u64>) -> Option<Config> {
    match common.with_keys(common.config(false), false) {
        Ok(c) => Some(Config {
            packet_limit: count,
            ..c
        }),
        Err(msg) => {
            error_line(msg);
            None
        }
    }
}

/// `sockscope report`: the analysis of `files` as one HTML page, written to `output`.
fn report(files: &[String], output: &Path, common: &Common) -> Status {
    if let Err(msg) = common.refuse_for_report() {
        error_line(msg);
        return Status::Error;
    }
    let Ok(filter) = views::checked_filter(common) else {
        return Status::Error;
    };
    if let Some(dir) = files.iter().find(|f| Path::new(f).is_dir()) {
        error_line(format!(
            "{dir}: is a directory; name capture files (a shell glob such as {dir}/*.pcap reads \
             them as one capture)"
        ));
        return Status::Error;
    }
    let out = match html::open_output(output) {
        Ok(out) => out,
        Err(e) => {
            error_line(format!("{}: {e}", escape::path(output)));
            return Status::Error;
        }
    };
    let config = match common.with_keys(common.config(false), false) {
        Ok(c) => c,
        Err(msg) => {
            error_line(msg);
            return Status::Error;
        }
    };
    let page = html::HtmlReport::new(
        out,
        output,
        html::Origin::Files(files.to_vec()),
        common.preview_chars(),
    );
    let page = Filtered::wrap_with_tables(
        page,
        filter.map(|f| Selection::new(f).with_poll_interval(common.poll_interval)),
    );
    // The page is written at the end: nothing scrolls on the terminal meanwhile.
    let reporter = with_progress(page, files, common, true);
    match analyze(files, &config, reporter) {
        Ok(_) => {
            html::announce(output);
            Status::Ok
        }
        Err(e) => {
            // Nothing was written when nothing could be read: leave no empty page behind.
            if output.as_os_str() != "-" && std::fs::metadata(output).is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(output);
            }
            e.report()
        }
    }
}

/// `reporter` with a progress bar on stderr, when the input is large enough to want one and
/// the output (`quiet`: nothing scrolls on stdout) leaves room for it.
fn with_progress(
    reporter: Box<dyn Reporter>,
    files: &[String],
    common: &Common,
    quiet: bool,
) -> Box<dyn Reporter> {
    let screen = Screen {
        stderr_tty: io::stderr().is_terminal(),
        stdout_tty: io::stdout().is_terminal(),
        output_is_quiet: quiet,
    };
    let total = input_bytes(files.iter().map(String::as_str));
    match total {
        Some(total) if !common.no_progress && progress::wanted(screen, Some(total)) => {
            Box::new(WithProgress::new(reporter, total))
        }
        _ => reporter,
    }
}

/// The bytes to read from `files`, if every one is a plain file (not stdin, not compressed,
/// whose progress could not be measured in file bytes).
fn input_bytes<'a>(files: impl Iterator<Item = &'a str>) -> Option<u64> {
    let mut total = 0u64;
    for f in files {
        if f == "-" || f.to_ascii_lowercase().ends_with(".gz") {
            return None;
        }
        total = total.saturating_add(std::fs::metadata(f).ok()?.len());
    }
    Some(total)
}

/// Capture files named by `paths`: files as given, `-` (stdin) once, directories searched for
/// capture files (recursively if asked), in a stable order.
pub fn capture_files(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", escape::path(dir)))?;
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if recursive {
                    walk(&p, recursive, out)?;
                }
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(usage::is_capture_name)
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let stdin = Path::new("-");
    if paths.iter().filter(|p| p.as_path() == stdin).count() > 1 {
        return Err("- (stdin) can be read only once".into());
    }
    let mut out = Vec::new();
    for p in paths {
        if p.as_path() == stdin {
            out.push(p.clone());
        } else if p.is_dir() {
            walk(p, recursive, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!(
                "{}: no such file or directory; check the name and the path",
                escape::path(p)
            ));
        }
    }
    Ok(out)
}

/// A reporter that prints nothing (benchmarks measure the analysis alone with it).
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
    fn wants_packets(&self) -> bool {
        false
    }
}

/// `check`'s stdout: once its reader has gone away nothing more is written, and the run goes
/// on; any other write error is kept and ends the run with status 2 after the verdicts.
struct VerdictOut<'b> {
    out: io::Stdout,
    closed: bool,
    error: Option<io::Error>,
    /// Lines are written around the progress bar, if there is one.
    bar: Option<&'b ProgressBar>,
}

impl VerdictOut<'_> {
    fn write(&mut self, text: &str) {
        if self.closed || self.error.is_some() || text.is_empty() {
            return;
        }
        let out = &mut self.out;
        let mut put = || out.write_all(text.as_bytes()).and_then(|()| out.flush());
        let r = match self.bar {
            Some(bar) => bar.suspend(put),
            None => put(),
        };
        match r {
            Ok(()) => {}
            Err(e) if is_broken_pipe(&e) => self.closed = true,
            Err(e) => self.error = Some(e),
        }
    }

    fn error_line(&self, msg: &str) {
        match self.bar {
            Some(bar) => bar.suspend(|| error_line(msg)),
            None => error_line(msg),
        }
    }
}

/// The settings for one capture of `check`: the secrets a capture carries stay with it, so
/// that each capture is judged alone, whatever the order (or the threads) they are read in.
fn apart(config: &Config) -> Config {
    Config {
        keys: config.keys.fork(),
        ..config.clone()
    }
}

/// Compiles the `--forbid` filters; a refused one is reported with a caret under the column.
fn compile_forbids(exprs: &[String]) -> Option<Forbids> {
    let mut filters = Vec::with_capacity(exprs.len());
    for e in exprs {
        match Filter::new(e) {
            Ok(f) => filters.push(f),
            Err(err) => {
                error_line(format!("--forbid: {}", err.headline()));
                let _ = writeln!(io::stderr(), "{}", err.caret());
                return None;
            }
        }
    }
    Some(filters.into())
}

fn check(
    paths: &[PathBuf],
    recursive: bool,
    strict: bool,
    gate: &GateArgs,
    common: &Common,
) -> Status {
    let Some(forbids) = compile_forbids(&gate.forbid) else {
        return Status::Error;
    };
    let setup = gate.resolve(common).and_then(|format| {
        let rules = Rules::new(&gate.deny, &gate.allow, strict)?;
        let files = capture_files(paths, recursive)?;
        if files.is_empty() {
            return Err(
                "no capture files found (looked for *.pcap, *.pcapng, *.cap and .gz)".into(),
            );
        }
        Ok((format, rules, files))
    });
    let (format, rules, files) = match setup {
        Ok(s) => s,
        Err(msg) => {
            error_line(msg);
            return Status::Error;
        }
    };
    let mut config = match common.with_keys(common.config(true), false) {
        Ok(c) => c,
        Err(msg) => {
            error_line(msg);
            return Status::Error;
        }
    };
    // Payload fields see what is kept for display: keep whole messages.
    if forbid::reads_payloads(&forbids) {
        config.display_bytes = config.display_bytes.max(config.limits.max_message_buffer);
    }
    let kind = common.kind.map(FlowKind::from);
    let style = TextStyle {
        verbose: common.verbose,
        quiet: common.quiet,
        color: use_color(common.color),
    };
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let sizes: Vec<u64> = names
        .iter()
        .map(|n| input_bytes(std::iter::once(n.as_str())).unwrap_or(0))
        .collect();
    let screen = Screen {
        stderr_tty: io::stderr().is_terminal(),
        stdout_tty: io::stdout().is_terminal(),
        // One line per capture, written around the bar.
        output_is_quiet: true,
    };
    let total: u64 = sizes.iter().sum();
    let bar = (!common.no_progress && progress::wanted(screen, Some(total)))
        .then(|| progress::bar(total, "checking"));
    let mut out = VerdictOut {
        out: io::stdout(),
        closed: false,
        error: None,
        bar: bar.as_ref(),
    };
    let mut totals = Totals::default();
    let mut documents = Vec::new();
    let new_collector = || {
        let mut collector = Collector::new(rules.clone(), kind);
        if !forbids.is_empty() {
            collector = collector.forbidding(ForbidWatch::new(forbids.clone(), kind));
        }
        collector
    };
    let mut judge = |name: &str, result: Result<(RunStats, Collector), RunError>| {
        let verdict = match result {
            Ok((stats, collector)) => collector.into_verdict(name, &stats, gate.min_flows()),
            Err(e) => {
                // The collector prints nothing: only the input can fail here.
                let msg = match e {
                    RunError::Input(msg) => msg,
                    RunError::Output(e) => e.to_string(),
                    RunError::OutputClosed => "output closed".into(),
                };
                out.error_line(&msg);
                let msg = plain_os_errors(&msg);
                let own = msg
                    .strip_prefix(name)
                    .and_then(|m| m.strip_prefix(": "))
                    .unwrap_or(&msg);
                CaptureVerdict::unreadable(name, own.to_string())
            }
        };
        totals.count(&verdict);
        match format {
            CheckFormat::Text => out.write(&formats::text(&verdict, style)),
            CheckFormat::Github => out.write(&formats::github(&verdict, style)),
            CheckFormat::Json => out.write(&formats::json(&verdict)),
            CheckFormat::Junit | CheckFormat::Sarif => documents.push(verdict),
        }
    };
    let workers = config
        .workers(common.capture_threads())
        .min(names.len())
        .max(1);
    if workers == 1 {
        let mut done = 0u64;
        for (i, (name, size)) in names.iter().zip(&sizes).enumerate() {
            let result = match &bar {
                Some(bar) => {
                    bar.set_message(format!("checking {}", i + 1));
                    analyze(
                        std::slice::from_ref(name),
                        &apart(&config),
                        WithProgress::on(new_collector(), bar.clone(), done),
                    )
                    .map(|(stats, r)| (stats, r.into_inner()))
                }
                None => analyze(std::slice::from_ref(name), &apart(&config), new_collector()),
            };
            done = done.saturating_add(*size);
            judge(name, result);
        }
    } else {
        // Captures are analyzed side by side, each in one thread with an equal share of the
        // process-wide caps; their verdicts are printed in the order of the captures.
        let config = config.share(workers);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, names, config) = (&next, &names, &config);
                let new_collector = &new_collector;
                scope.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(name) = names.get(i) else {
                            return;
                        };
                        let result =
                            analyze(std::slice::from_ref(name), &apart(config), new_collector());
                        if tx.send((i, result)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            let mut waiting = std::collections::BTreeMap::new();
            let mut done = 0u64;
            let mut shown = 0;
            for (i, result) in rx {
                waiting.insert(i, result);
                while let Some(result) = waiting.remove(&shown) {
                    done = done.saturating_add(sizes[shown]);
                    if let Some(bar) = &bar {
                        bar.set_position(done);
                    }
                    judge(&names[shown], result);
                    shown += 1;
                }
            }
        });
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    out.bar = None;
    out.write(&match format {
        CheckFormat::Text | CheckFormat::Github => formats::text_tally(&totals),
        CheckFormat::Json => formats::json_tally(&totals),
        CheckFormat::Junit => formats::junit(&documents, &totals),
        CheckFormat::Sarif => formats::sarif(&documents),
    });
    if let Some(e) = out.error {
        error_line(format!("writing output: {e}"));
        return Status::Error;
    }
    if totals.unreadable > 0 {
        Status::Error
    } else if totals.failed > 0 {
        Status::Failed
    } else {
        Status::Ok
    }
}
