//! Analysis settings shared by `read`, `live` and `check`, and the memory caps that keep every
//! buffer bounded whatever the input: one process-wide budget (`--memory`) that every holder
//! draws on, and per-holder caps beneath it.

use crate::tcp::FlowId;
use std::time::Duration;

/// Peak process memory aimed at by default (`--memory`), MiB.
pub const DEFAULT_MEMORY_MIB: usize = 64;
/// What of the process's memory the budget does not cover, MiB: the binary and its libraries,
/// the window of the input file mapped at a time, the IP fragment table, the printers' state,
/// the allocator's slack (docs/memory-budget.md).
pub const BASELINE_MIB: usize = 28;
/// Of the baseline, the window of an input file that is mapped at a time, MiB (see
/// `source::contiguous`). A live capture has no such window but a receive ring instead.
pub const INPUT_WINDOW_MIB: usize = 8;
/// The largest receive ring of a live capture, MiB (all the rings of a fanout group together,
/// unless each one's floor takes more).
pub const MAX_RING_MIB: usize = 32;
/// The smallest receive ring, MiB: four blocks of 1 MiB.
pub const MIN_RING_MIB: usize = 4;

/// The smallest `--memory` accepted, MiB: the baseline and a budget of 1 MiB (which holds a few
/// hundred flows; below 32 the analysis has little room).
pub const MIN_MEMORY_MIB: usize = BASELINE_MIB + 1;

/// Which TCP flows are analyzed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortFilter {
    /// Only flows with one of these ports on either side. A long list (`-p 8000-8100`) must
    /// be sorted, as the CLI builds it: it is binary-searched.
    Ports(Vec<u16>),
    /// Every TCP flow; the protocol layer decides by content.
    Any,
}

impl PortFilter {
    pub fn matches(&self, a: u16, b: u16) -> bool {
        match self {
            PortFilter::Any => true,
            PortFilter::Ports(ports) if ports.len() <= 8 => ports.iter().any(|&p| p == a || p == b),
            PortFilter::Ports(ports) => {
                debug_assert!(ports.is_sorted(), "a long port list must be sorted");
                ports.binary_search(&a).is_ok() || ports.binary_search(&b).is_ok()
            }
        }
    }
}

impl Default for PortFilter {
    fn default() -> Self {
        PortFilter::Ports(vec![80, 443])
    }
}

/// Hard caps. Hitting any of them is reported as an anomaly and analysis skips forward; none of
/// them is ever fatal.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The memory budget, bytes: everything held on behalf of the input (flow entries and
    /// protocol state, heads, held and out-of-order bytes, pending requests, display buffers,
    /// inflaters) stays under it; the largest holders give way when it runs short. `--memory`
    /// minus [`BASELINE_MIB`].
    pub memory: usize,
    /// Flows tracked at once; beyond it new flows are not tracked (reported once). A count cap
    /// beneath the budget: at the default, 8 192 flows' entries and state take a fifth of the
    /// budget, so that the rest is left for what they buffer.
    pub max_flows: usize,
    /// Idle time (capture clock) after which a flow is evicted and reported.
    pub idle_timeout: Duration,
    /// Out-of-order bytes buffered for one direction of one flow.
    pub max_ooo_bytes_per_dir: usize,
    /// Out-of-order bytes buffered across all flows.
    pub max_ooo_bytes_total: usize,
    /// Largest HTTP head (start line + headers) kept while incomplete.
    pub max_http_head: usize,
    /// Bytes held back on the client side while an upgrade request awaits its response.
    pub max_upgrade_hold: usize,
    /// Bytes of one WebSocket message retained for display (preview, `-x`); the rest is
    /// validated and counted while streaming, never stored.
    pub max_message_buffer: usize,
    /// Inflated bytes produced for one permessage-deflate message before inflation stops.
    pub max_inflated_message: usize,
    /// permessage-deflate inflaters alive at once (each holds a 32 KiB window); with
    /// `--threads N`, in each worker (their memory is charged to the worker's budget).
    pub max_inflaters: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: Limits::memory_for_mib(DEFAULT_MEMORY_MIB),
            max_flows: 8_192,
            idle_timeout: Duration::from_secs(300),
            max_ooo_bytes_per_dir: 1 << 20,
            max_ooo_bytes_total: 16 << 20,
            max_http_head: 64 << 10,
            max_upgrade_hold: 64 << 10,
            max_message_buffer: 64 << 10,
            max_inflated_message: 16 << 20,
            max_inflaters: 256,
        }
    }
}

impl Limits {
    /// The budget for a process that should peak at `mib` MiB.
    pub fn memory_for_mib(mib: usize) -> usize {
        mib.saturating_sub(BASELINE_MIB).saturating_mul(1 << 20)
    }

    /// The receive ring of a live capture for `--memory mib`, bytes: a quarter of it, between
    /// the input window's size and [`MAX_RING_MIB`] (16 MiB at the default 64).
    pub fn live_ring_for_mib(mib: usize) -> usize {
        (mib / 4).clamp(INPUT_WINDOW_MIB, MAX_RING_MIB) << 20
    }

    /// Each ring of a live capture over `rings` rings (`live --threads N`, one fanout group):
    /// an equal part of [`Limits::live_ring_for_mib`], at least [`MIN_RING_MIB`].
    pub fn live_ring_each_for_mib(mib: usize, rings: usize) -> usize {
        (Limits::live_ring_for_mib(mib) / rings.max(1)).max(MIN_RING_MIB << 20)
    }

    /// The budget of a live capture over `rings` rings for `--memory mib`: the rings take the
    /// place of the input window in the baseline, and what they take beyond it comes out of
    /// the budget (at least 1 MiB is left).
    pub fn live_memory_for_mib(mib: usize, rings: usize) -> usize {
        let rings_bytes = Limits::live_ring_each_for_mib(mib, rings) * rings.max(1);
        let beyond_window = rings_bytes.saturating_sub(INPUT_WINDOW_MIB << 20);
        Limits::memory_for_mib(mib)
            .saturating_sub(beyond_window)
            .max(1 << 20)
    }
}

/// Everything the analysis needs to know; built by the CLI, used by the library.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which flows are tracked at all.
    pub ports: PortFilter,
    /// Ports whose flows are HTTP by definition (decoded from the first byte, garbage reported
    /// as `http.parse_error`); flows on other tracked ports are recognised by content. With
    /// `--any-port` this is still the `-p` list (default 80), so that nothing on port 80
    /// escapes as "other".
    pub http_ports: Vec<u16>,
    pub limits: Limits,
    /// Maximum payload characters shown per frame / message in text and JSON.
    pub snap_preview: usize,
    /// Payload bytes the parsers keep per frame / message / body for display: enough for the
    /// preview (a character is up to 4 bytes), more when a hex dump is asked for.
    pub display_bytes: usize,
    /// Only this flow is shown (`--follow`, `--ladder`): the others keep no display bytes.
    pub display_flow: Option<FlowId>,
    /// Compute the SHA-256 of every WebSocket message and HTTP body (`--digest`).
    pub digest: bool,
    /// The flows this process analyzes (`--shard K/N`; all of them by default).
    pub shard: crate::tcp::identity::Shard,
    /// `--decode-as` rules as given (`[port:N[-M]=|flow:N=]PROTO`), checked by the CLI; the
    /// WebSocket dissector parses them once per run (`proto::sub::select::DecodeAs`).
    pub decode_as: Vec<String>,
    /// The interval short polling is priced at in the overhead comparison (`--poll-interval`).
    pub poll_interval: std::time::Duration,
    /// Stop after this many packets (`read -c`).
    pub packet_limit: Option<u64>,
    /// tshark's `-z` statistics asked for.
    pub zstats: Vec<crate::stats::zstats::ZStat>,
    /// TLS secrets: the `--keylog` file, and those the capture carries (shared by every
    /// clone of the settings).
    pub keys: crate::proto::tls::KeyStore,
    /// Bytes of each TLS record's ciphertext kept to show beside its plaintext (`-x`).
    pub tls_ciphertext: usize,
    /// Threads that analyze flows (`--threads`); 1 analyzes everything in the calling thread.
    pub threads: usize,
}

impl Config {
    /// Display bytes kept for flow `id`.
    pub fn display_bytes_for(&self, id: FlowId) -> usize {
        match self.display_flow {
            Some(shown) if shown != id => 0,
            _ => self.display_bytes,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ports: PortFilter::default(),
            http_ports: vec![80],
            limits: Limits::default(),
            snap_preview: 128,
            display_bytes: 512,
            display_flow: None,
            digest: false,
            shard: crate::tcp::identity::Shard::ALL,
            decode_as: Vec::new(),
            poll_interval: std::time::Duration::from_secs(1),
            packet_limit: None,
            zstats: Vec::new(),
            keys: Default::default(),
            tls_ciphertext: 0,
            threads: 1,
        }
    }
}

/// What of an equal split of the memory budget each of several workers is given: the threads'
/// peak resident memory grows faster with what they hold than one thread's (measured on every
/// hostile-input trigger, docs/performance.md), so that shares are cut to keep the process
/// within `--memory`. With three quarters the highest two-thread peak of `tests/budget.rs` is
/// 60.5 MiB of 64 (one thread's: 63.8), and two threads analyze the 256 MiB `ws` benchmark at
/// the default budget with nothing given way, as one thread does (with 5/8 they did not).
const THREADED_BUDGET_SHARE: (usize, usize) = (3, 4);

impl Config {
    /// How many workers `threads` asks for can split the caps: never more than the flows
    /// tracked at once, so that each may track one; one when the analysis names flows by
    /// their number while it runs ([`Config::names_flows`]).
    pub fn workers(&self, threads: usize) -> usize {
        // A shard's packets of other shards' flows move its clock (`pipeline`), which only the
        // one-thread analysis does: shards are processes, each in one thread.
        if self.names_flows() || !self.shard.is_all() {
            return 1;
        }
        threads.min(self.limits.max_flows).max(1)
    }

    /// The analysis itself treats one flow apart by its number: a one-flow view keeps
    /// display bytes for that flow only, `--decode-as flow:N=` decodes that flow. Workers
    /// number their own flows (the run's numbers are given as their findings are merged), so
    /// such a run is analyzed in one thread.
    pub fn names_flows(&self) -> bool {
        self.display_flow.is_some()
            || self.decode_as.iter().any(|rule| {
                rule.parse::<crate::proto::sub::select::Rule>()
                    .is_ok_and(|r| matches!(r.target, crate::proto::sub::select::Target::Flow(_)))
            })
    }

    /// The settings of one of `n` workers that each analyze a share of the flows: the caps
    /// that hold for the whole process (the memory budget, the flows tracked, the out-of-order
    /// bytes in total) are split so that together they stay within them. Together the workers
    /// track at most `max_flows` flows when `n` is at most that ([`Config::workers`]).
    ///
    /// The count of live inflaters is not split: each one is charged to its worker's budget
    /// share for what it holds, which bounds their memory, and a split count (37 each of 7
    /// workers) was reached by a worker long before one thread reached 256, so the output
    /// with threads differed from one thread's where no cap of one thread was reached.
    pub fn share(&self, n: usize) -> Config {
        let n = n.max(1);
        let limits = &self.limits;
        Config {
            limits: Limits {
                memory: if n > 1 {
                    limits.memory / n * THREADED_BUDGET_SHARE.0 / THREADED_BUDGET_SHARE.1
                } else {
                    limits.memory
                },
                max_flows: (limits.max_flows / n).max(1),
                max_ooo_bytes_total: limits.max_ooo_bytes_total / n,
                ..limits.clone()
            },
            threads: 1,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_splits_into_the_baseline_and_the_budget() {
        assert_eq!(Limits::default().memory, 36 << 20);
        assert_eq!(Limits::memory_for_mib(MIN_MEMORY_MIB), 1 << 20);
        assert_eq!(Limits::memory_for_mib(1024), (1024 - BASELINE_MIB) << 20);
    }

    #[test]
    fn a_live_ring_takes_the_place_of_the_input_window() {
        // The default: a 16 MiB ring, 8 MiB more than a file's window, out of the budget.
        assert_eq!(Limits::live_ring_for_mib(64), 16 << 20);
        assert_eq!(Limits::live_memory_for_mib(64, 1), 28 << 20);
        // Rings of a fanout group share the same memory...
        assert_eq!(Limits::live_ring_each_for_mib(64, 2), 8 << 20);
        assert_eq!(Limits::live_memory_for_mib(64, 2), 28 << 20);
        // ...down to each one's floor, which then comes out of the budget.
        assert_eq!(Limits::live_ring_each_for_mib(64, 8), MIN_RING_MIB << 20);
        assert_eq!(Limits::live_memory_for_mib(64, 8), 12 << 20);
        // Never smaller than the window, never larger than 32 MiB.
        assert_eq!(
            Limits::live_ring_for_mib(MIN_MEMORY_MIB),
            INPUT_WINDOW_MIB << 20
        );
        assert_eq!(Limits::live_memory_for_mib(MIN_MEMORY_MIB, 1), 1 << 20);
        assert_eq!(Limits::live_ring_for_mib(4096), MAX_RING_MIB << 20);
    }

    #[test]
    fn only_the_shown_flow_keeps_display_bytes() {
        let mut c = Config::default();
        assert_eq!((c.display_bytes_for(1), c.display_bytes_for(2)), (512, 512));
        c.display_flow = Some(2);
        assert_eq!((c.display_bytes_for(1), c.display_bytes_for(2)), (0, 512));
    }

    #[test]
    fn port_lists_short_and_long_match_either_side() {
        let short = PortFilter::Ports(vec![8080, 80]);
        assert!(short.matches(80, 40000) && short.matches(40000, 8080));
        assert!(!short.matches(81, 40000));
        let long = PortFilter::Ports((8000..=8100).collect());
        assert!(long.matches(51000, 8000) && long.matches(8100, 51000));
        assert!(long.matches(8050, 1));
        assert!(!long.matches(7999, 8101));
        assert!(PortFilter::Any.matches(1, 2));
    }
}
