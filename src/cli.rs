//! Command-line definitions (clap) and their mapping onto [`crate::config::Config`].

use crate::config::{Config, DEFAULT_MEMORY_MIB, Limits, MIN_MEMORY_MIB, PortFilter};
use crate::proto::FlowKind;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const READ_EXAMPLES: &str = "\
Examples:
  sockscope read captures/ws-chat.pcap            summary lines, flows, overhead table
  sockscope read -V captures/ws-chat.pcap         Wireshark-style detail tree per packet
  sockscope read -x --kind websocket capture.pcap hex dumps of WebSocket payloads only
  sockscope read --json capture.pcap | jq .       JSON Lines for scripts
  sockscope read -p 8080 capture.pcapng           analyze port 8080 instead of 80
  sockscope read --any-port capture.pcap          find HTTP/WebSocket on every port
  sockscope read --follow 3 capture.pcap          one flow's conversation, in order
  sockscope read --ladder 3 capture.pcap          one flow as a sequence diagram
  tcpdump -w - -i lo port 80 | sockscope read -   read a capture from stdin";

const LIVE_EXAMPLES: &str = "\
Examples:
  sudo sockscope live                       sniff port 80 on all interfaces
  sudo sockscope live eth0 -p 8080          sniff port 8080 on eth0
  sudo sockscope live --json | jq .         stream JSON records as they happen
  sudo sockscope live -w out.pcap -c 1000   save what was captured, stop after 1000 packets
  sudo setcap cap_net_raw,cap_net_admin+ep $(which sockscope)   allow running without sudo";

const CHECK_EXAMPLES: &str = "\
Examples:
  sockscope check captures/                 every capture in captures/
  sockscope check -r captures/              ... and in its subdirectories
  sockscope check -q a.pcap b.pcapng        only the FAIL lines and the tally
  sockscope check --json captures/          one JSON verdict per capture

Exit status: 0 if every capture passed, 1 if any has an error-severity anomaly
(any anomaly with --strict), 2 if a capture could not be read.";

/// sockscope — HTTP and WebSocket on the wire, from pcap files or live traffic.
#[derive(Parser, Debug)]
#[command(name = "sockscope", version, about, long_about = None)]
#[command(after_help = "Run `sockscope <command> --help` for each command's options and examples.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyze pcap / pcapng files ("-" = stdin); several files are read as one capture.
    #[command(after_help = READ_EXAMPLES)]
    Read {
        /// Capture files (pcap, pcapng, optionally gzip-compressed); "-" reads stdin.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Sniff an interface (root or CAP_NET_RAW); Ctrl-C ends and prints the report.
    #[command(after_help = LIVE_EXAMPLES)]
    Live {
        /// Interface to sniff ("any" = all interfaces).
        #[arg(default_value = "any", value_name = "IFACE")]
        iface: String,
        /// Save every captured packet to this pcap file.
        #[arg(short = 'w', long = "write", value_name = "FILE")]
        write: Option<PathBuf>,
        /// Stop after this many packets.
        #[arg(short = 'c', long = "count", value_name = "N")]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
        /// Do not put a named interface into promiscuous mode.
        #[arg(long)]
        no_promisc: bool,
        #[command(flatten)]
        common: Common,
    },
    /// CI gate: PASS/FAIL per capture, non-zero exit on error-severity anomalies.
    #[command(after_help = CHECK_EXAMPLES)]
    Check {
        /// Capture files or directories (searched for *.pcap, *.pcapng, *.cap, and .gz).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Search directories recursively.
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Fail on warning-severity anomalies too (e.g. tcp.gap, ws.non_minimal_length).
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
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
    Other,
}

impl From<KindArg> for FlowKind {
    fn from(k: KindArg) -> FlowKind {
        match k {
            KindArg::Http => FlowKind::Http,
            KindArg::Websocket => FlowKind::WebSocket,
            KindArg::Sse => FlowKind::Sse,
            KindArg::LongPoll => FlowKind::LongPoll,
            KindArg::Other => FlowKind::Other,
        }
    }
}

/// Options shared by `read`, `live` and `check`.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// TCP port to analyze; repeatable [default: 80; `check`: every port]
    #[arg(short = 'p', long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    /// Detect HTTP/WebSocket on every port by content, not by port number.
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
    /// Max payload characters shown per frame / message in text and JSON.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub snap_preview: usize,
    /// Evict flows idle for this many seconds of capture time.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Flows tracked at once.
    #[arg(long, default_value_t = Limits::default().max_flows, value_name = "N")]
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
    /// No progress bar on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Add the SHA-256 of every WebSocket message (unmasked, inflated) and HTTP body
    /// (de-chunked) to the JSON records as "sha256" (null when bytes of it are missing).
    #[arg(long)]
    pub digest: bool,
}

impl Common {
    /// The analysis configuration of a live capture: as `read`'s, with the receive ring's
    /// share of `--memory` taken out of the budget.
    pub fn live_config(&self) -> Config {
        let mut config = self.config(false);
        config.limits.memory = Limits::live_memory_for_mib(self.memory);
        config
    }

    /// The analysis configuration. `check` looks at every port unless ports are given.
    pub fn config(&self, any_port_by_default: bool) -> Config {
        let ports = if self.any_port || (any_port_by_default && self.ports.is_empty()) {
            PortFilter::Any
        } else if self.ports.is_empty() {
            PortFilter::default()
        } else {
            PortFilter::Ports(self.ports.clone())
        };
        let limits = Limits {
            memory: Limits::memory_for_mib(self.memory),
            max_flows: self.max_flows.max(1),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_message_buffer: self.max_message,
            max_inflated_message: self.max_inflate,
            ..Limits::default()
        };
        let preview_bytes = self.snap_preview.saturating_mul(4);
        let display_bytes = if self.hex || self.follow.is_some() {
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
        let http_ports = if self.ports.is_empty() {
            vec![80]
        } else {
            self.ports.clone()
        };
        Config {
            ports,
            http_ports,
            limits,
            snap_preview: self.snap_preview,
            display_bytes,
            display_flow,
            digest: self.digest,
        }
    }
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
