//! Analysis settings shared by `read`, `live` and `check`, and the memory caps that keep every
//! buffer bounded whatever the input.

use std::time::Duration;

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
        PortFilter::Ports(vec![80])
    }
}

/// Hard caps. Hitting any of them is reported as an anomaly and analysis skips forward; none of
/// them is ever fatal.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Flows tracked at once; beyond it new flows are not tracked (reported once). The default
    /// keeps peak memory under 64 MB in the worst case measured (65 536 concurrent WebSocket
    /// and HTTP flows): a tracked flow costs up to about 4.2 KB (flow and parser state, the two
    /// 512-byte conflict rings, display heads, pending pings), and the permessage-deflate
    /// inflaters up to 20 MB more (docs/performance.md).
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
    /// permessage-deflate inflaters alive at once (each holds a 32 KiB window).
    pub max_inflaters: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
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
    /// Compute the SHA-256 of every WebSocket message and HTTP body (`--digest`).
    pub digest: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ports: PortFilter::default(),
            http_ports: vec![80],
            limits: Limits::default(),
            snap_preview: 128,
            display_bytes: 512,
            digest: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
