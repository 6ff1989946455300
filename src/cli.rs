//! Command-line definitions (clap), the prose every help text and man page shares (examples,
//! exit status, environment), the checks that refuse options which would do nothing together,
//! and the mapping of options onto [`crate::config::Config`].

use crate::config::{Config, DEFAULT_MEMORY_MIB, Limits, MIN_MEMORY_MIB, PortFilter};
use crate::filter::Filter;
use crate::model::FlowKind;
use crate::tcp::identity::Shard;
use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// One example line of a help text or man page: the command and what it shows.
pub type Example = (&'static str, &'static str);

pub const READ_EXAMPLES: &[Example] = &[
    (
        "sockscope read captures/ws-chat.pcap",
        "summary lines, flows, overhead table",
    ),
    (
        "sockscope read -V captures/ws-chat.pcap",
        "Wireshark-style detail tree per packet",
    ),
    (
        "sockscope read -x --kind websocket capture.pcap",
        "hex dumps of WebSocket payloads only",
    ),
    (
        "sockscope read --json capture.pcap | jq .",
        "JSON Lines for scripts",
    ),
    (
        "sockscope read -p 80,8080 capture.pcapng",
        "analyze ports 80 and 8080 (ranges: -p 8000-8100)",
    ),
    (
        "sockscope read --any-port capture.pcap",
        "find HTTP/WebSocket on every port",
    ),
    (
        "sockscope read --follow 3 capture.pcap",
        "one flow's conversation, in order",
    ),
    (
        "sockscope read --ladder 3 capture.pcap",
        "one flow as a sequence diagram",
    ),
    (
        "tcpdump -w - -i lo port 80 | sockscope read -",
        "read a capture from stdin",
    ),
    (
        "sockscope read --format parquet --out results/ capture.pcap",
        "one Parquet file per record type, for DuckDB or Spark",
    ),
    (
        "sockscope read -q --har capture.har --zeek logs/ capture.pcap",
        "also HAR (browser DevTools) and Zeek-style logs",
    ),
    (
        "sockscope read --shard 2/4 --json dump-*.pcap",
        "the second quarter of the flows (4 processes share the work)",
    ),
    (
        "sockscope read -Y 'http.status >= 500' capture.pcap",
        "only what a display filter matches (docs/filter.md)",
    ),
    (
        "sockscope read -T fields -e frame.number -e http.uri -Y http.request capture.pcap",
        "field columns, as tshark -T fields",
    ),
    (
        "sockscope read -w out.pcap -Y 'ws.text contains \"error\"' capture.pcap",
        "save the packets of the flows that matched",
    ),
];

pub const LIVE_EXAMPLES: &[Example] = &[
    ("sudo sockscope live", "sniff port 80 on all interfaces"),
    (
        "sudo sockscope live eth0 -p 8080",
        "sniff port 8080 on eth0",
    ),
    (
        "sudo sockscope live --json | jq .",
        "stream JSON records as they happen",
    ),
    (
        "sudo sockscope live -w out.pcap -c 1000",
        "save what was captured, stop after 1000 packets",
    ),
    (
        "sudo sockscope live -Y 'anomaly.severity == error'",
        "show only the errors as they happen",
    ),
    (
        "sudo setcap cap_net_raw,cap_net_admin+ep $(which sockscope)",
        "allow running without sudo",
    ),
];

pub const REPORT_EXAMPLES: &[Example] = &[
    (
        "sockscope report captures/ws-chat.pcap -o chat.html",
        "one WebSocket flow, to open in a browser",
    ),
    (
        "sockscope report captures/*.pcap -o all.html",
        "every bundled capture as one report",
    ),
    (
        "sockscope report -p 8080 capture.pcapng -o report.html",
        "flows on port 8080",
    ),
    (
        "sockscope report capture.pcap -o - > report.html",
        "the page on stdout",
    ),
    (
        "sudo sockscope live lo -c 200 --report live.html",
        "a report of live traffic, written when the capture stops",
    ),
];

pub const CHECK_EXAMPLES: &[Example] = &[
    ("sockscope check captures/", "every capture in captures/"),
    (
        "sockscope check -r captures/",
        "... and in its subdirectories",
    ),
    (
        "sockscope check -q a.pcap b.pcapng",
        "only the FAIL lines and the tally",
    ),
    (
        "sockscope check -v captures/",
        "each anomaly: flow, packet, direction, detail",
    ),
    (
        "sockscope check --deny 'ws.*' --allow tcp.gap captures/",
        "fail on any ws.* anomaly, never on tcp.gap",
    ),
    (
        "sockscope check --forbid 'ws.payload_len > 1048576' captures/",
        "fail on any WebSocket frame over 1 MiB",
    ),
    (
        "sockscope check --fail-if-empty -p 8080 captures/",
        "a capture with no flow on port 8080 fails",
    ),
    (
        "sockscope check --format junit captures/ > check.xml",
        "JUnit XML for CI test reports",
    ),
    (
        "sockscope check --format sarif captures/ > check.sarif",
        "SARIF 2.1.0 for code-scanning uploads",
    ),
    (
        "sockscope check --format github captures/",
        "::error annotations in a GitHub Actions log",
    ),
    (
        "tcpdump -w - -c 500 port 80 | sockscope check -",
        "check stdin",
    ),
];

pub const READ_ABOUT: &str = "Analyze pcap / pcapng files (\"-\" = stdin); several files are \
read as one capture.

Prints one line per packet that completes HTTP messages, WebSocket frames or SSE events (packet \
number, time, flow, endpoints, protocol, info, as tshark does), then the flows table, the \
header-overhead comparison table with its \"what if over HTTP\" lines, and the anomalies. -V adds \
a detail tree under each line and -x hex dumps; -q leaves out the packet lines; --json prints JSON \
Lines records instead; --follow and --ladder show one flow by itself.";

pub const REPORT_ABOUT: &str = "Write one self-contained HTML report of pcap / pcapng files \
(\"-\" = stdin), to open in any browser, from disk, with no network access.

The page shows the capture's overview (duration, flows by kind, anomalies by severity, what was \
skipped), the header overhead as charts (bytes per message by kind, the \"what if over HTTP\" \
estimate per WebSocket flow, cumulative header bytes message after message), a sortable, \
filterable table of flows, and for each flow its sequence diagram (as --ladder), its messages \
over time, the handshake with the Sec-WebSocket-Accept computation step by step, every frame's \
bits, message previews and anomalies, each code linked to its explanation. Its data are the \
records of read --json, embedded in the page; beyond 50 flows, packets and frames are kept for \
the first 50 and for 50 with anomalies (the page says what it left out).";

pub const REPORT_EXIT: &str = "0 when the report was written; 2 on a usage error, an \
unreadable or malformed capture (the report of what was read before the damage is still \
written), or an output file that cannot be written.";

pub const LIVE_ABOUT: &str = "Sniff an interface (root or CAP_NET_RAW); Ctrl-C ends and prints \
the report.

Prints what read prints, as the packets arrive, and the tables when the capture stops (Ctrl-C, \
-c, --duration); the kernel's packet and drop counts go to stderr.";

pub const CHECK_ABOUT: &str = "CI gate: PASS/FAIL per capture and a tally; exit 1 when a capture \
fails.

Prints one line per capture: PASS with what it held (flows by kind, HTTP messages, WebSocket \
frames and messages, SSE events) and its warnings, or FAIL with why (the failing anomaly codes \
with counts, too few flows, or why it could not be read); then the tally. -v lists each anomaly \
under its capture, -q leaves out the PASS lines, --format writes JSON Lines, JUnit XML, SARIF or \
GitHub annotations instead.";

pub const READ_EXIT: &str = "0 on success, also when the reader of the output goes away early \
(`sockscope read big.pcap | head`); 2 on a usage error, an unreadable or malformed capture (what \
was read before the damage is still reported), or a --follow / --ladder flow that is not in the \
capture.";

pub const LIVE_EXIT: &str = "0 when the capture ends (Ctrl-C, --count, --duration); 2 on a usage \
error, a missing privilege, an unknown or vanished interface, an unwritable -w file, or a \
--follow / --ladder flow that never appeared.";

pub const CHECK_EXIT: &str = "0 if every capture passed; 1 if a capture failed: an anomaly the \
rules count (by default every error-severity anomaly, with --strict every anomaly), or fewer flows \
than --min-flows; 2 on a usage error or if a capture could not be read (2 wins over 1). The status \
is the verdict even when the output is cut short (`sockscope check dir | head -1` exits 1 when a \
capture fails).";

pub const CHECK_RULES: &str = "Rules: --deny CODE|GLOB fails a capture on a matching anomaly \
whatever its severity; --allow CODE|GLOB never fails one on it. A glob takes * and ? (`ws.*`). \
When both match a code, the more specific pattern wins: an exact code beats a glob, a longer glob \
beats a shorter one, and --deny wins a tie. Codes that no rule matches fail by severity (errors; \
with --strict warnings too). --forbid EXPR fails a capture in which any record (HTTP message, \
handshake, WebSocket frame or message, SSE event, anomaly, flow) matches the display filter EXPR; \
`sockscope fields` lists what a filter can test, docs/filter.md says how.";

/// Environment variables every command reads.
pub const ENVIRONMENT: &[Example] = &[
    (
        "NO_COLOR",
        "when set and not empty, no colour unless --color always",
    ),
    (
        "COLUMNS",
        "width the tables fit; default: the terminal's width, or 120 columns when the output is \
         not a terminal",
    ),
    (
        "SUDO_UID, SUDO_GID",
        "live: the user that privileges are dropped to after the socket is open",
    ),
];

/// The text after a command's options in `--help`: its examples and exit status.
fn after_help(examples: &[Example], exit: &str, more: &str) -> String {
    let width = examples.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    let mut s = String::from("Examples:\n");
    for (cmd, what) in examples {
        if cmd.len() > 48 {
            s.push_str(&format!("  {cmd}\n  {:48}  {what}\n", ""));
        } else {
            s.push_str(&format!("  {cmd:w$}  {what}\n", w = width.min(48)));
        }
    }
    if !more.is_empty() {
        s.push('\n');
        s.push_str(more);
        s.push('\n');
    }
    s.push_str("\nExit status: ");
    s.push_str(exit);
    s
}

/// sockscope — HTTP and WebSocket on the wire, from pcap files or live traffic.
#[derive(Parser, Debug)]
#[command(name = "sockscope", version, about, long_about = None)]
#[command(arg_required_else_help = true)]
#[command(after_help = "Run `sockscope <command> --help` for each command's options and examples.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyze pcap / pcapng files ("-" = stdin); several files are read as one capture.
    #[command(long_about = READ_ABOUT)]
    #[command(after_help = after_help(READ_EXAMPLES, READ_EXIT, ""))]
    Read {
        /// Capture files (pcap, pcapng, optionally gzip-compressed); "-" reads stdin.
        #[arg(required_unless_present = "read_file", value_name = "FILE",
              value_hint = ValueHint::FilePath)]
        files: Vec<String>,
        /// A capture file, as tshark -r (the same as naming it; repeatable).
        #[arg(short = 'r', long = "read-file", value_name = "FILE", value_hint = ValueHint::FilePath)]
        read_file: Vec<String>,
        /// Stop after this many packets, as tshark -c (over all the files).
        #[arg(short = 'c', long = "count", value_name = "N", value_parser = at_least_one::<u64>)]
        count: Option<u64>,
        /// Write the packets of the selected flows (--flow, or the flows in which -Y matched)
        /// to this pcap file instead of printing a report.
        #[arg(short = 'w', long = "write", value_name = "FILE", value_hint = ValueHint::FilePath)]
        write: Option<PathBuf>,
        /// With -w: a flow whose packets to write (the flow ids of the report); repeatable.
        #[arg(long = "flow", value_name = "FLOW", requires = "write")]
        flows: Vec<u64>,
        #[command(flatten)]
        outputs: Outputs,
        #[command(flatten)]
        common: Common,
    },
    /// Sniff an interface (root or CAP_NET_RAW); Ctrl-C ends and prints the report.
    #[command(long_about = LIVE_ABOUT)]
    #[command(after_help = after_help(LIVE_EXAMPLES, LIVE_EXIT, ""))]
    Live {
        /// Interface to sniff ("any" = all interfaces).
        #[arg(value_name = "IFACE", conflicts_with = "interface")]
        iface: Option<String>,
        /// Interface to sniff, as tshark -i (the same as naming it) [default: any].
        #[arg(short = 'i', long = "interface", value_name = "IFACE")]
        interface: Option<String>,
        /// Save every captured packet to this pcap file.
        #[arg(short = 'w', long = "write", value_name = "FILE", value_hint = ValueHint::FilePath)]
        write: Option<PathBuf>,
        /// Stop after this many packets.
        #[arg(short = 'c', long = "count", value_name = "N")]
        count: Option<u64>,
        /// With -w, a ring buffer of files as tshark -b: filesize:KB (a new file when the
        /// current one would pass KB kilobytes), duration:S (every S seconds), files:N (keep
        /// the last N); repeatable.
        #[arg(
            short = 'b',
            long = "ring-buffer",
            value_name = "SPEC",
            requires = "write"
        )]
        ring_buffer: Vec<String>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
        /// Do not put a named interface into promiscuous mode.
        #[arg(long)]
        no_promisc: bool,
        /// Also write the HTML report (as `sockscope report`) to this file when the capture
        /// stops.
        #[arg(long, value_name = "FILE.html", value_hint = ValueHint::FilePath)]
        report: Option<PathBuf>,
        #[command(flatten)]
        outputs: Outputs,
        #[command(flatten)]
        common: Common,
    },
    /// Write one self-contained HTML report (charts, flow table, ladders, frames) to open in a
    /// browser.
    #[command(long_about = REPORT_ABOUT)]
    #[command(after_help = after_help(REPORT_EXAMPLES, REPORT_EXIT, ""))]
    #[command(mut_arg("verbose", |a| a.hide(true)))]
    #[command(mut_arg("hex", |a| a.hide(true)))]
    #[command(mut_arg("json", |a| a.hide(true)))]
    #[command(mut_arg("follow", |a| a.hide(true)))]
    #[command(mut_arg("ladder", |a| a.hide(true)))]
    #[command(mut_arg("kind", |a| a.hide(true)))]
    #[command(mut_arg("quiet", |a| a.hide(true)))]
    #[command(mut_arg("color", |a| a.hide(true)))]
    #[command(mut_arg("digest", |a| a.hide(true)))]
    #[command(mut_arg("fields_format", |a| a.hide(true)))]
    #[command(mut_arg("field_names", |a| a.hide(true)))]
    #[command(mut_arg("field_options", |a| a.hide(true)))]
    #[command(mut_arg("only_layers", |a| a.hide(true)))]
    #[command(mut_arg("zstats", |a| a.hide(true)))]
    #[command(mut_arg("time_format", |a| a.hide(true)))]
    #[command(mut_arg("snap_preview", |a| a.help(
        "Max payload characters shown per frame / message in the page")))]
    Report {
        /// Capture files (pcap, pcapng, optionally gzip-compressed); "-" reads stdin.
        #[arg(required = true, value_name = "FILE", value_hint = ValueHint::FilePath)]
        files: Vec<String>,
        /// The HTML file to write ("-" = stdout).
        #[arg(short = 'o', long = "output", value_name = "FILE.html", required = true,
              value_hint = ValueHint::FilePath)]
        output: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// CI gate: PASS/FAIL per capture and a tally; exit 1 when a capture fails.
    #[command(long_about = CHECK_ABOUT)]
    #[command(after_help = after_help(CHECK_EXAMPLES, CHECK_EXIT, CHECK_RULES))]
    #[command(mut_arg("ports", |a| a.help(
        "TCP ports to analyze: 80,8080 or 8000-8100; repeatable \
         [default: every port, HTTP and WebSocket recognised by content]")))]
    #[command(mut_arg("any_port", |a| a.help(
        "Look at every TCP port by content (the default unless -p is given)")))]
    #[command(mut_arg("verbose", |a| a.short_alias('v').help(
        "List each anomaly under its capture: code, flow, packet, direction, detail (also -v)")))]
    #[command(mut_arg("quiet", |a| a.help("Print only the FAIL lines and the tally")))]
    #[command(mut_arg("json", |a| a.help("Same as --format json")))]
    #[command(mut_arg("kind", |a| a.help(
        "Judge only flows of this kind (anomalies outside any flow are always judged)")))]
    #[command(mut_arg("color", |a| a.help("When to colour PASS and FAIL (NO_COLOR is honoured)")))]
    #[command(mut_arg("no_progress", |a| a.help(
        "No progress bar (shown on a terminal's stderr when the captures are large)")))]
    #[command(mut_arg("hex", |a| a.hide(true)))]
    #[command(mut_arg("follow", |a| a.hide(true)))]
    #[command(mut_arg("ladder", |a| a.hide(true)))]
    #[command(mut_arg("digest", |a| a.hide(true)))]
    #[command(mut_arg("snap_preview", |a| a.hide(true)))]
    #[command(mut_arg("filter", |a| a.hide(true)))]
    #[command(mut_arg("filter_flows", |a| a.hide(true)))]
    #[command(mut_arg("fields_format", |a| a.hide(true)))]
    #[command(mut_arg("field_names", |a| a.hide(true)))]
    #[command(mut_arg("field_options", |a| a.hide(true)))]
    #[command(mut_arg("only_layers", |a| a.hide(true)))]
    #[command(mut_arg("zstats", |a| a.hide(true)))]
    #[command(mut_arg("time_format", |a| a.hide(true)))]
    Check {
        /// Capture files or directories (searched for *.pcap, *.pcapng, *.cap, and .gz);
        /// "-" reads one capture from stdin.
        #[arg(required = true, value_name = "PATH", value_hint = ValueHint::AnyPath)]
        paths: Vec<PathBuf>,
        /// Search directories recursively.
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Fail on warning-severity anomalies too (e.g. tcp.gap, ws.non_minimal_length).
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        gate: GateArgs,
        #[command(flatten)]
        common: Common,
    },
    /// List the fields a display filter can test (`check --forbid`), by record type.
    #[command(after_help = "Examples:\n  \
        sockscope fields                every field, by record type\n  \
        sockscope fields ws.            the WebSocket fields\n\n\
        The syntax and what a filter is tested against: docs/filter.md.")]
    Fields {
        /// Only the fields whose name (or another name of theirs) starts with this.
        #[arg(value_name = "PREFIX")]
        prefix: Option<String>,
    },
    /// Print a shell completion script (bash, zsh and fish also complete `live`'s interfaces).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): the overview, or one command's page; --dir writes them all.
    #[command(after_help = "Examples:\n  \
        sockscope man | man -l -                    the overview page\n  \
        sockscope man check | man -l -              the page of `sockscope check`\n  \
        sockscope man --dir /usr/local/share/man/man1   sockscope.1, sockscope-read.1, …")]
    Man {
        /// The command whose page to print [default: the overview, sockscope(1)].
        #[arg(value_enum, value_name = "COMMAND", conflicts_with = "dir")]
        page: Option<ManPage>,
        /// Write every page (sockscope.1, sockscope-read.1, …) into this directory.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
}

/// The commands that have a page of their own.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManPage {
    Read,
    Report,
    Live,
    Check,
    Completions,
    Man,
}

impl ManPage {
    pub fn name(self) -> &'static str {
        match self {
            ManPage::Read => "read",
            ManPage::Report => "report",
            ManPage::Live => "live",
            ManPage::Check => "check",
            ManPage::Completions => "completions",
            ManPage::Man => "man",
        }
    }
}

/// What `read` writes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Summary lines and tables on stdout (the default).
    Text,
    /// JSON Lines on stdout (as --json).
    Json,
    /// One Parquet file per record type in --out DIR.
    Parquet,
}

/// Outputs written to files, for other tools (docs/interop.md).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Files for other tools")]
pub struct Outputs {
    /// Output format: text (default), json (as --json), parquet (files in --out DIR).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Directory the --format parquet files are written to (created if missing).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: Option<PathBuf>,
    /// With --format parquet: also write ws_frames.parquet, one row per WebSocket frame.
    #[arg(long)]
    pub ws_frames: bool,
    /// With --format parquet: start a new set of files (DIR/part=00001/, ...) every MINUTES of
    /// capture time (fractions allowed).
    #[arg(long, value_name = "MINUTES", value_parser = parse_minutes)]
    pub roll: Option<f64>,
    /// Also write every HTTP exchange as HAR 1.2 to this file, WebSocket messages as Chrome's
    /// _webSocketMessages (opens in browser DevTools).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub har: Option<PathBuf>,
    /// Also write Zeek-style websocket.log and http.log (tab-separated, readable by zeek-cut)
    /// to this directory.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub zeek: Option<PathBuf>,
    /// With --zeek: the logs as JSON lines (Zeek's LogAscii::use_json) instead of TSV.
    #[arg(long)]
    pub zeek_json: bool,
}

impl Outputs {
    /// Whether the run writes Parquet files.
    pub fn parquet(&self) -> bool {
        self.format == Some(Format::Parquet)
    }

    /// Whether the run writes any file for other tools.
    pub fn any(&self) -> bool {
        self.parquet() || self.har.is_some() || self.zeek.is_some()
    }

    /// Refuses outputs that do not go together; `--format json` is `--json`.
    pub fn resolve(&self, common: &mut Common) -> Result<(), String> {
        match self.format {
            Some(Format::Json) => common.json = true,
            Some(Format::Parquet) => {
                if self.out.is_none() {
                    return Err(
                        "--format parquet writes files: name their directory with --out DIR".into(),
                    );
                }
                for (set, name) in [
                    (common.json, "--json"),
                    (common.verbose, "-V"),
                    (common.hex, "-x"),
                    (common.follow.is_some(), "--follow"),
                    (common.ladder.is_some(), "--ladder"),
                    (common.kind.is_some(), "--kind"),
                    (common.filter.is_some(), "-Y"),
                    (common.fields_format.is_some(), "-T"),
                    (!common.only_layers.is_empty(), "-O"),
                ] {
                    if set {
                        return Err(format!(
                            "--format parquet writes every record to files; {name} does not apply \
                             (select in the query instead)"
                        ));
                    }
                }
            }
            Some(Format::Text) | None => {}
        }
        if self.zeek_json && self.zeek.is_none() {
            return Err("--zeek-json changes the format of --zeek DIR; add --zeek DIR".into());
        }
        if !self.parquet() {
            if self.out.is_some() {
                return Err(
                    "--out names the directory of --format parquet; add --format parquet".into(),
                );
            }
            if self.roll.is_some() {
                return Err(
                    "--roll starts new --format parquet files; add --format parquet --out DIR"
                        .into(),
                );
            }
            if self.ws_frames {
                return Err(
                    "--ws-frames adds a table to --format parquet; add --format parquet --out DIR"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

/// tshark's `-t` time formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeArg {
    /// Local time of day.
    #[value(name = "a")]
    Absolute,
    /// Local date and time.
    #[value(name = "ad")]
    AbsoluteDate,
    /// Seconds since the first packet.
    #[value(name = "r")]
    Relative,
    /// Seconds since the previous captured packet.
    #[value(name = "d")]
    Delta,
    /// Seconds since the previous line shown.
    #[value(name = "dd")]
    DeltaShown,
    /// Seconds since the epoch.
    #[value(name = "e")]
    Epoch,
}

impl From<TimeArg> for crate::time::TimeFormat {
    fn from(t: TimeArg) -> Self {
        use crate::time::TimeFormat as F;
        match t {
            TimeArg::Absolute => F::Absolute,
            TimeArg::AbsoluteDate => F::AbsoluteDate,
            TimeArg::Relative => F::Relative,
            TimeArg::Delta => F::Delta,
            TimeArg::DeltaShown => F::DeltaShown,
            TimeArg::Epoch => F::Epoch,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindArg {
    Http,
    Websocket,
    Sse,
    LongPoll,
    /// TLS whose contents were not read (no keys, or a protocol not decoded).
    Tls,
    /// HTTP/2 inside TLS (ALPN h2): counted, not parsed.
    Http2,
    Other,
}

impl From<KindArg> for FlowKind {
    fn from(k: KindArg) -> FlowKind {
        match k {
            KindArg::Http => FlowKind::Http,
            KindArg::Websocket => FlowKind::WebSocket,
            KindArg::Sse => FlowKind::Sse,
            KindArg::LongPoll => FlowKind::LongPoll,
            KindArg::Tls => FlowKind::Tls,
            KindArg::Http2 => FlowKind::Http2,
            KindArg::Other => FlowKind::Other,
        }
    }
}

/// How `check` writes its verdicts.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFormat {
    /// A PASS / FAIL line per capture, then a tally.
    Text,
    /// One JSON verdict per capture, then a tally (JSON Lines).
    Json,
    /// A JUnit XML report: one testcase per capture, one failure per failing anomaly.
    Junit,
    /// A SARIF 2.1.0 log, for code-scanning uploads.
    Sarif,
    /// The text lines plus GitHub Actions `::error` / `::warning` annotations.
    Github,
}

/// `check`'s own options: the output format and the rules that decide a verdict.
#[derive(Args, Debug, Clone, Default)]
pub struct GateArgs {
    /// Output format [default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<CheckFormat>,
    /// Fail a capture on anomalies with this code, whatever their severity; a glob such as
    /// 'ws.*' takes every matching code. Repeatable, or comma-separated.
    #[arg(long, value_name = "CODE|GLOB", value_delimiter = ',')]
    pub deny: Vec<String>,
    /// Never fail a capture on anomalies with this code (or matching this glob). Repeatable,
    /// or comma-separated.
    #[arg(long, value_name = "CODE|GLOB", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Fail a capture in which fewer than N flows were analyzed.
    #[arg(long, value_name = "N", value_parser = at_least_one::<u64>)]
    pub min_flows: Option<u64>,
    /// Fail a capture in which no flow was analyzed (the same as --min-flows 1).
    #[arg(long, conflicts_with = "min_flows")]
    pub fail_if_empty: bool,
    /// Fail a capture in which any record matches this display filter, e.g.
    /// 'ws.payload_len > 1048576' (`sockscope fields` lists the fields). Repeatable.
    #[arg(long, value_name = "EXPR")]
    pub forbid: Vec<String>,
}

impl GateArgs {
    /// Flows a capture must have to pass.
    pub fn min_flows(&self) -> u64 {
        self.min_flows
            .unwrap_or(if self.fail_if_empty { 1 } else { 0 })
    }
}

/// One `-p` value: ports and ranges, comma-separated (`80,8080`, `8000-8100`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortList(pub Vec<RangeInclusive<u16>>);

const PORT_SYNTAX: &str = "write ports as 80, 80,8080 or 8000-8100";

fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => {
            Err("port 0 is not a port a TCP connection can use; ports run from 1 to 65535".into())
        }
        Ok(n) => u16::try_from(n).map_err(|_| format!("{n} is above 65535, the highest TCP port")),
        Err(_) => Err(format!(
            "`{}` is not a port number; {PORT_SYNTAX}",
            s.trim()
        )),
    }
}

fn parse_ports(s: &str) -> Result<PortList, String> {
    let mut out = Vec::new();
    for item in s.split(',') {
        if item.trim().is_empty() {
            return Err(format!("an empty port in `{s}`; {PORT_SYNTAX}"));
        }
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (parse_port(a)?, parse_port(b)?),
            None => {
                let p = parse_port(item)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!(
                "the range {} runs backwards; write {hi}-{lo}",
                item.trim()
            ));
        }
        out.push(lo..=hi);
    }
    Ok(PortList(out))
}

/// `--roll`: minutes, more than zero (at least a millisecond).
fn parse_minutes(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m.is_finite() && m * 60e3 >= 1.0 && m <= 1e6 => Ok(m),
        _ => Err(format!("`{s}` is not a number of minutes (more than 0)")),
    }
}

/// `--shard`: `K/N`, 1 ≤ K ≤ N.
fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s)
}

/// `--memory`: a whole number of MiB, at least [`MIN_MEMORY_MIB`].
fn parse_memory(s: &str) -> Result<usize, String> {
    let mib: usize = s
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of MB"))?;
    if mib < MIN_MEMORY_MIB {
        return Err(format!(
            "at least {MIN_MEMORY_MIB} MB: {} MB are the program's own, the rest is the budget \
             for what the analysis holds",
            crate::config::BASELINE_MIB
        ));
    }
    Ok(mib)
}

/// A positive number of seconds (`0.5`, `2`).
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.001 && *x <= 86_400.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("`{s}` is not a number of seconds from 0.001 to 86400"))
}

/// A count that must be at least 1.
fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(s: &str) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// Options shared by `read`, `live` and `check`.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// TCP ports to analyze: 80,8080 or 8000-8100; repeatable [default: 80 and 443]
    #[arg(short = 'p', long = "port", value_name = "PORTS", value_parser = parse_ports)]
    pub ports: Vec<PortList>,
    /// Detect HTTP, WebSocket and TLS on every port by content, not by port number.
    #[arg(long)]
    pub any_port: bool,
    /// Wireshark-style detail tree for every packet / frame.
    #[arg(short = 'V', long)]
    pub verbose: bool,
    /// Hex + ASCII dump of payloads (unmasked and, for deflate, also inflated).
    #[arg(short = 'x', long)]
    pub hex: bool,
    /// Newline-delimited JSON records on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print one flow's reassembled conversation, both directions, in order.
    #[arg(long, value_name = "FLOW")]
    pub follow: Option<u64>,
    /// Draw one flow as a sequence diagram (SYN, request, 101, frames, close).
    #[arg(long, value_name = "FLOW")]
    pub ladder: Option<u64>,
    /// Show only flows of this kind.
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<KindArg>,
    /// No per-packet lines: flows table, overhead table and anomalies only.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// When to use colour (NO_COLOR is honoured).
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorWhen,
    /// How the summary lines show time, as tshark -t: a (local time of day), ad (local date and
    /// time), r (since the first packet), d (since the previous captured packet), dd (since the
    /// previous line), e (since the epoch).
    #[arg(
        short = 't',
        long = "time-format",
        value_enum,
        default_value = "r",
        value_name = "FORMAT"
    )]
    pub time_format: TimeArg,
    /// Statistics printed after the tables, as tshark -z: io,stat,INTERVAL (frames and bytes
    /// per interval of seconds), conv,tcp (TCP conversations), http,tree (HTTP requests by
    /// method, responses by status); repeatable.
    #[arg(short = 'z', value_name = "STAT", value_parser = crate::stats::zstats::ZStat::parse)]
    pub zstats: Vec<crate::stats::zstats::ZStat>,
    /// Max payload characters shown per frame / message, in JSON, -V and on summary lines
    /// [default: 128; 40 on a summary line].
    #[arg(long, value_name = "N")]
    pub snap_preview: Option<usize>,
    /// Evict flows idle for this many seconds of capture time.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Connections tracked at once (closed ones lingering for their last packets are bounded
    /// by the memory budget instead).
    #[arg(long, default_value_t = Limits::default().max_flows, value_name = "N",
          value_parser = at_least_one::<usize>)]
    pub max_flows: usize,
    /// Peak memory to stay within, MB (MiB): the largest holders of buffered bytes give way,
    /// with an anomaly, when the analysis would need more.
    #[arg(long = "memory", default_value_t = DEFAULT_MEMORY_MIB, value_name = "MB",
          value_parser = parse_memory)]
    pub memory: usize,
    /// Bytes of one WebSocket message kept for display.
    #[arg(long, default_value_t = Limits::default().max_message_buffer, value_name = "BYTES")]
    pub max_message: usize,
    /// Inflated bytes allowed per permessage-deflate message.
    #[arg(long, default_value_t = Limits::default().max_inflated_message, value_name = "BYTES")]
    pub max_inflate: usize,
    /// No progress bar (shown on a terminal's stderr when the input is large, unless the
    /// report itself scrolls on that terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// TLS key log (NSS format: SSLKEYLOGFILE of browsers, curl, node --tls-keylog, Python
    /// keylog_filename) to decrypt TLS 1.2 / 1.3 with; `live` follows lines appended while it
    /// runs. Secrets inside a pcapng (Decryption Secrets Blocks) are used without it.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    /// With --json: add the SHA-256 of every WebSocket message (unmasked, inflated) and HTTP
    /// body (de-chunked) to the records as "sha256" (null when bytes of it are missing).
    #[arg(long)]
    pub digest: bool,
    /// Analyze only shard K of N: the flows whose symmetric 4-tuple hash falls in it. N
    /// processes given the same files (K = 1..N) together report exactly what one process
    /// reports; the first also reports what belongs to no flow. Each analyzes in one thread.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Decode WebSocket messages as this sub-protocol where the handshake negotiated none that
    /// sockscope knows: PROTO for every flow, port:N[-M]=PROTO or flow:N=PROTO for some; PROTO
    /// is socket.io, stomp, mqtt, graphql-ws, graphql-transport-ws, signalr, json-rpc, wamp,
    /// json, or none (not decoded). Repeatable; the most specific rule wins.
    #[arg(long = "decode-as", value_name = "[TARGET=]PROTO", value_parser = parse_decode_as)]
    pub decode_as: Vec<String>,
    /// Display filter: show only the records that match, and in the tables only the flows in
    /// which something matched (`ws.opcode == text && ws.text contains "error"`; fields:
    /// `sockscope fields`, syntax: docs/filter.md).
    #[arg(short = 'Y', long = "filter", value_name = "EXPR")]
    pub filter: Option<String>,
    /// With -Y: show every record of the flows in which something matched.
    #[arg(long, requires = "filter")]
    pub filter_flows: bool,
    /// -T fields: one line per record (that -Y matches) with the fields named by -e, as
    /// tshark's -T fields.
    #[arg(
        short = 'T',
        value_enum,
        value_name = "FORMAT",
        requires = "field_names"
    )]
    pub fields_format: Option<FieldsFormat>,
    /// A field to print with -T fields (`sockscope fields` lists them); repeatable.
    #[arg(short = 'e', value_name = "FIELD", requires = "fields_format")]
    pub field_names: Vec<String>,
    /// An option of -T fields: separator=,|/t|/s|C, occurrence=f|l|a, aggregator=,|C,
    /// header=y|n, quote=d|s|n; repeatable.
    #[arg(short = 'E', value_name = "OPTION=VALUE", requires = "fields_format")]
    pub field_options: Vec<String>,
    /// Limit the -V tree to these layers (frame, eth, ip, tcp, http, ws, sse, tls, …),
    /// comma-separated.
    #[arg(
        short = 'O',
        value_name = "LAYERS",
        value_delimiter = ',',
        requires = "verbose"
    )]
    pub only_layers: Vec<String>,
    /// The interval short polling is priced at in the "what if over HTTP" comparison, seconds.
    #[arg(long, default_value = "1", value_name = "SECS", value_parser = parse_interval)]
    pub poll_interval: std::time::Duration,
    /// Threads: `read` splits the flows between N threads (default 1); `live` captures on N
    /// rings of one PACKET_FANOUT group, each analyzed by its own thread (default 1); `check`
    /// analyzes N captures at once (default: the available cores). The report is the same
    /// whatever the number; views and rules that name one flow by its number use one.
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub threads: Option<usize>,
}

/// One `--decode-as` value, checked here so that the analysis can trust it.
fn parse_decode_as(s: &str) -> Result<String, String> {
    s.parse::<crate::proto::sub::select::Rule>()
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// `-T`: the formats of a line per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FieldsFormat {
    /// The fields named by -e, separated by -E separator (tab by default).
    Fields,
}

impl Common {
    /// `--threads` for the flows of one analysis: one unless asked.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or(1)
    }

    /// `--threads` for captures analyzed at once (`check`), or the cores this process may run
    /// on.
    pub fn capture_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        })
    }

    /// The analysis configuration of a live capture: as `read`'s, with the receive rings'
    /// share of `--memory` taken out of the budget (one ring per analysis thread,
    /// [`Common::live_rings`]).
    pub fn live_config(&self) -> Config {
        let mut config = self.config(false);
        let rings = Common::live_rings(&config);
        config.limits.memory = Limits::live_memory_for_mib(self.memory, rings);
        config
    }

    /// The receive rings of a live capture with `config`: one per analysis thread, joined in
    /// one fanout group when there are several.
    pub fn live_rings(config: &Config) -> usize {
        config.workers(config.threads)
    }

    /// The `-p` ports, sorted, each once.
    pub fn port_list(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .ports
            .iter()
            .flat_map(|l| l.0.iter().cloned().flatten())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The analysis configuration. `check` looks at every port unless ports are given.
    /// Characters of payload in a preview (JSON, `-V`, `--follow`): `--snap-preview`, or 128.
    pub fn preview_chars(&self) -> usize {
        self.snap_preview.unwrap_or(crate::model::PREVIEW)
    }

    /// Characters of payload on a one-line summary: `--snap-preview`, or 40.
    pub fn line_preview_chars(&self) -> usize {
        self.snap_preview.unwrap_or(crate::model::LINE_PREVIEW)
    }

    pub fn config(&self, any_port_by_default: bool) -> Config {
        let list = self.port_list();
        let ports = if self.any_port || (any_port_by_default && list.is_empty()) {
            PortFilter::Any
        } else if list.is_empty() {
            PortFilter::default()
        } else {
            PortFilter::Ports(list.clone())
        };
        let limits = Limits {
            memory: Limits::memory_for_mib(self.memory),
            max_flows: self.max_flows.max(1),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_message_buffer: self.max_message,
            max_inflated_message: self.max_inflate,
            ..Limits::default()
        };
        let preview_bytes = self
            .preview_chars()
            .max(self.line_preview_chars())
            .saturating_mul(4);
        // A filter that looks into payloads sees what is kept for display: keep it whole.
        let filter_reads_payloads = self
            .display_filter()
            .ok()
            .flatten()
            .is_some_and(|f| f.reads_payloads());
        let display_bytes = if self.hex || self.follow.is_some() || filter_reads_payloads {
            preview_bytes.max(limits.max_message_buffer)
        } else {
            preview_bytes
        };
        // Only one flow is shown: the others need no display bytes (JSON shows every flow).
        let display_flow = if self.json {
            None
        } else {
            self.follow.or(self.ladder)
        };
        let http_ports = if list.is_empty() { vec![80] } else { list };
        let tls_ciphertext = if self.hex { display_bytes } else { 0 };
        Config {
            ports,
            http_ports,
            limits,
            snap_preview: self.preview_chars(),
            display_bytes,
            display_flow,
            digest: self.digest,
            shard: self.shard.unwrap_or(Shard::ALL),
            decode_as: self.decode_as.clone(),
            poll_interval: self.poll_interval,
            packet_limit: None,
            zstats: self.zstats.clone(),
            keys: Default::default(),
            tls_ciphertext,
            threads: self.threads(),
        }
    }

    /// The `-Y` filter compiled, with `--kind K` joined to it as `flow.kind == K && (…)`. A
    /// refused filter is the error with its column (for the error line) and the caret lines.
    pub fn display_filter(&self) -> Result<Option<Filter>, (String, String)> {
        let Some(text) = &self.filter else {
            return Ok(None);
        };
        let filter = Filter::new(text).map_err(|e| (e.headline(), e.caret()))?;
        match self.kind {
            None => Ok(Some(filter)),
            Some(k) => {
                let kind = FlowKind::from(k);
                Filter::new(&format!("flow.kind == {kind} && ({text})"))
                    .map(Some)
                    .map_err(|e| (e.headline(), e.caret()))
            }
        }
    }

    /// The settings with the `--keylog` file's secrets (`follow`: a live capture, which reads
    /// lines appended to the file while it runs). A key log that cannot be read is a usage
    /// error, said in one line.
    pub fn with_keys(&self, mut config: Config, follow: bool) -> Result<Config, String> {
        let Some(path) = &self.keylog else {
            return Ok(config);
        };
        let keys = if follow {
            crate::proto::tls::KeyStore::follow(path)
        } else {
            crate::proto::tls::KeyStore::from_file(path)
        };
        config.keys = keys.map_err(|e| {
            format!(
                "--keylog {}: {e}; give the NSS key log file a TLS peer wrote (SSLKEYLOGFILE)",
                crate::report::escape::path(path)
            )
        })?;
        Ok(config)
    }

    /// Refuses view options that would do nothing together in `read` or `live`: each refusal
    /// says why, in one line. `live` says more on stderr with `-V` (the privilege drop, why it
    /// stopped), so there `-V` is never idle.
    pub fn refuse_idle_views(&self, verbose_notes_on_stderr: bool) -> Result<(), String> {
        let verbose = self.verbose && !verbose_notes_on_stderr;
        let one_flow = match (self.follow, self.ladder) {
            (Some(_), Some(_)) => {
                return Err("--follow and --ladder are two views of one flow; pick one".into());
            }
            (Some(_), None) => Some("--follow"),
            (None, Some(_)) => Some("--ladder"),
            (None, None) => None,
        };
        if let Some(view) = one_flow {
            if self.json {
                return Err(format!(
                    "{view} prints text; for one flow's JSON records use \
                     `--json | jq 'select(.flow == N or .id == N)'`"
                ));
            }
            for (set, name) in [
                (verbose, "-V"),
                (self.hex, "-x"),
                (self.quiet, "-q"),
                (self.kind.is_some(), "--kind"),
            ] {
                if set {
                    return Err(format!(
                        "{view} shows one flow by itself; {name} does not apply to it"
                    ));
                }
            }
        }
        if self.json {
            for (set, name, instead) in [
                (verbose, "-V", "the records carry every decoded field"),
                (self.hex, "-x", "the records carry payload previews"),
                (
                    self.quiet,
                    "-q",
                    "there are no packet lines to leave out (use jq)",
                ),
            ] {
                if set {
                    return Err(format!(
                        "{name} changes the text view only; with --json {instead}"
                    ));
                }
            }
        }
        if self.quiet && (verbose || self.hex) {
            let name = if verbose { "-V" } else { "-x" };
            return Err(format!(
                "-q leaves out the packet lines that {name} adds to; use one of them"
            ));
        }
        if self.json && !self.zstats.is_empty() {
            return Err(
                "-z prints text tables; with --json the summary record carries the totals".into(),
            );
        }
        if self.json && self.time_format != TimeArg::Relative {
            return Err("-t sets the time of the text lines; JSON records carry `ts`, seconds since the epoch".into());
        }
        if self.digest && !self.json {
            return Err("--digest adds \"sha256\" to JSON records; use it with --json".into());
        }
        if self.fields_format.is_some() {
            for (set, name) in [
                (self.json, "--json"),
                (self.verbose, "-V"),
                (self.hex, "-x"),
                (self.quiet, "-q"),
                (self.follow.is_some(), "--follow"),
                (self.ladder.is_some(), "--ladder"),
            ] {
                if set {
                    return Err(format!(
                        "-T fields prints one line per record; {name} is another view: pick one"
                    ));
                }
            }
            crate::report::fields::check(&self.field_names, &self.field_options)?;
        }
        if self.filter_flows && (self.follow.is_some() || self.ladder.is_some()) {
            return Err(
                "--filter-flows shows whole flows; --follow and --ladder show one flow already"
                    .into(),
            );
        }
        crate::report::verbose::check_layers(&self.only_layers)?;
        Ok(())
    }

    /// Refuses the view options `report` has no use for: the page shows everything at once.
    pub fn refuse_for_report(&self) -> Result<(), String> {
        for (set, name, instead) in [
            (
                self.verbose,
                "-V",
                "every decoded field is in the page already",
            ),
            (self.hex, "-x", "for hex dumps run `sockscope read -x FILE`"),
            (
                self.json,
                "--json",
                "the page embeds the --json records already",
            ),
            (
                self.follow.is_some(),
                "--follow",
                "click the flow in the page, or run `sockscope read --follow N FILE`",
            ),
            (
                self.ladder.is_some(),
                "--ladder",
                "every flow's ladder is in the page (click its row)",
            ),
            (
                self.kind.is_some(),
                "--kind",
                "the page's flow table filters by kind",
            ),
            (
                self.quiet,
                "-q",
                "the page has no packet lines to leave out",
            ),
            (
                self.digest,
                "--digest",
                "digests are in `sockscope read --json --digest FILE`",
            ),
            (
                self.fields_format.is_some(),
                "-T",
                "for field columns run `sockscope read -T fields -e FIELD FILE`",
            ),
            (
                !self.only_layers.is_empty(),
                "-O",
                "every layer is in the page",
            ),
        ] {
            if set {
                return Err(format!("{name} does not apply to report: {instead}"));
            }
        }
        Ok(())
    }
}

impl GateArgs {
    /// The output format, refusing options `check` would ignore with it.
    pub fn resolve(&self, common: &Common) -> Result<CheckFormat, String> {
        let format = match (self.format, common.json) {
            (Some(f), false) => f,
            (None | Some(CheckFormat::Json), true) => CheckFormat::Json,
            (Some(_), true) => {
                return Err("--json is --format json; pick one format".into());
            }
            (None, false) => CheckFormat::Text,
        };
        for (set, name, instead) in [
            (
                common.hex,
                "-x",
                "check prints verdicts, not payloads; for hex dumps run `sockscope read -x FILE`",
            ),
            (
                common.follow.is_some(),
                "--follow",
                "check judges whole captures; to follow one flow run \
                 `sockscope read --follow N FILE`",
            ),
            (
                common.ladder.is_some(),
                "--ladder",
                "check judges whole captures; to draw one flow run \
                 `sockscope read --ladder N FILE`",
            ),
            (
                common.digest,
                "--digest",
                "check verdicts carry no message digests; run `sockscope read --json --digest FILE`",
            ),
            (
                common.filter.is_some(),
                "-Y",
                "check judges whole captures; to fail on records that match a filter use \
                 --forbid EXPR",
            ),
            (
                common.fields_format.is_some(),
                "-T",
                "check prints verdicts; for field columns run `sockscope read -T fields -e FIELD FILE`",
            ),
            (
                !common.zstats.is_empty(),
                "-z",
                "check prints verdicts, not statistics; run `sockscope read -q -z STAT FILE`",
            ),
            (
                common.time_format != TimeArg::Relative,
                "-t",
                "check prints no packet lines; run `sockscope read -t FORMAT FILE`",
            ),
        ] {
            if set {
                return Err(format!("{name}: {instead}"));
            }
        }
        if matches!(
            format,
            CheckFormat::Json | CheckFormat::Junit | CheckFormat::Sarif
        ) {
            let name = format_name(format);
            if common.verbose {
                return Err(format!(
                    "--format {name} lists every anomaly already; -v applies to the text and \
                     github formats"
                ));
            }
            if common.quiet {
                return Err(format!(
                    "--format {name} reports every capture; -q applies to the text and github \
                     formats"
                ));
            }
        }
        Ok(format)
    }
}

pub fn format_name(f: CheckFormat) -> &'static str {
    match f {
        CheckFormat::Text => "text",
        CheckFormat::Json => "json",
        CheckFormat::Junit => "junit",
        CheckFormat::Sarif => "sarif",
        CheckFormat::Github => "github",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ports_take_lists_and_ranges() {
        assert_eq!(parse_ports("80").unwrap().0, vec![80..=80]);
        assert_eq!(
            parse_ports("80,8080").unwrap().0,
            vec![80..=80, 8080..=8080]
        );
        assert_eq!(parse_ports("8000-8100").unwrap().0, vec![8000..=8100]);
        assert_eq!(parse_ports("1-65535").unwrap().0, vec![1..=65535]);
        for (bad, says) in [
            ("0", "port 0"),
            ("70000", "above 65535"),
            ("http", "not a port number"),
            ("80,", "empty port"),
            ("9-1", "write 1-9"),
            ("1-0", "port 0"),
        ] {
            let e = parse_ports(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn port_lists_are_sorted_once_each() {
        let cli = Cli::try_parse_from(["sockscope", "read", "-p", "8080,80", "-p", "79-81", "x"])
            .unwrap();
        let Command::Read { common, .. } = cli.command else {
            panic!("read");
        };
        assert_eq!(common.port_list(), vec![79, 80, 81, 8080]);
        assert_eq!(
            common.config(false).ports,
            PortFilter::Ports(vec![79, 80, 81, 8080])
        );
    }
}
