//! tshark's `-z` statistics that need no protocol: `io,stat,INTERVAL` (frames and bytes per
//! interval of capture time) and `conv,tcp` (TCP conversations: frames and bytes each way, when
//! they started and how long they lasted). They count every frame as tshark does, whatever the
//! analysis made of it (ARP, other ports, refused flows included); bytes are frame lengths on
//! the wire. Memory is bounded: at most [`MAX_INTERVALS`] intervals and [`MAX_CONVERSATIONS`]
//! conversations are kept, and the output says when more were left out.

use crate::time::Timestamp;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Intervals kept for `io,stat` (later frames are counted as left out).
pub const MAX_INTERVALS: usize = 100_000;
/// Conversations kept for `conv,tcp`.
pub const MAX_CONVERSATIONS: usize = 100_000;

/// A `-z` statistic asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ZStat {
    /// `io,stat,INTERVAL`: interval in seconds.
    IoStat(f64),
    /// `conv,tcp`.
    ConvTcp,
    /// `http,tree`: HTTP requests by method, responses by status.
    HttpTree,
}

impl ZStat {
    /// Parses tshark's spelling: `io,stat,0.1`, `conv,tcp`.
    pub fn parse(s: &str) -> Result<ZStat, String> {
        let parts: Vec<&str> = s.split(',').collect();
        match parts.as_slice() {
            ["conv", "tcp"] => Ok(ZStat::ConvTcp),
            ["http", "tree"] => Ok(ZStat::HttpTree),
            ["io", "stat", interval] => interval
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.000_001)
                .map(ZStat::IoStat)
                .ok_or_else(|| format!("`{interval}` is not an interval in seconds")),
            _ => Err(format!(
                "`{s}` is not a statistic sockscope computes: io,stat,INTERVAL, conv,tcp or http,tree"
            )),
        }
    }
}

/// One TCP conversation, A being the source of its first frame.
#[derive(Clone, Copy, Debug)]
pub struct Conversation {
    pub a: SocketAddr,
    pub b: SocketAddr,
    /// Frames and bytes A → B, then B → A.
    pub frames: [u64; 2],
    pub bytes: [u64; 2],
    pub first: Timestamp,
    pub last: Timestamp,
}

/// What the `-z` statistics counted.
#[derive(Clone, Debug, Default)]
pub struct ZTally {
    pub io_interval_ns: Option<i64>,
    /// Frames and bytes per interval since the first frame.
    pub intervals: Vec<(u64, u64)>,
    pub conv_tcp: bool,
    pub conversations: HashMap<(SocketAddr, SocketAddr), Conversation>,
    pub http_tree: bool,
    /// HTTP requests by method, responses by status code and reason (the first reason seen).
    pub requests: std::collections::BTreeMap<String, u64>,
    pub responses: std::collections::BTreeMap<u16, (String, u64)>,
    /// Frames not counted for lack of room (beyond the caps).
    pub left_out: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl ZTally {
    pub fn new(asked: &[ZStat]) -> ZTally {
        let mut t = ZTally::default();
        for z in asked {
            match *z {
                ZStat::IoStat(secs) => {
                    t.io_interval_ns = Some((secs * 1e9).round().max(1.0) as i64)
                }
                ZStat::ConvTcp => t.conv_tcp = true,
                ZStat::HttpTree => t.http_tree = true,
            }
        }
        t
    }

    pub fn is_on(&self) -> bool {
        self.io_interval_ns.is_some() || self.conv_tcp
    }

    /// An HTTP message, for `http,tree` (interim responses included, as tshark counts them).
    pub fn http(&mut self, m: &crate::model::HttpMessage<'_>) {
        if !self.http_tree {
            return;
        }
        match m.head {
            crate::model::HttpHead::Request { method, .. } => {
                *self.requests.entry(method.to_string()).or_default() += 1;
            }
            crate::model::HttpHead::Response { status, reason, .. } => {
                self.responses
                    .entry(status)
                    .or_insert_with(|| (reason.to_string(), 0))
                    .1 += 1;
            }
        }
    }

    /// One frame of `len` bytes on the wire at `ts`; `tcp` its TCP endpoints if it has them.
    pub fn frame(&mut self, ts: Timestamp, len: u64, tcp: Option<(SocketAddr, SocketAddr)>) {
        let first = *self.first.get_or_insert(ts);
        self.last = Some(ts);
        if let Some(step) = self.io_interval_ns {
            let i = usize::try_from(ts.as_nanos().saturating_sub(first.as_nanos()) / step)
                .unwrap_or(usize::MAX);
            if i < MAX_INTERVALS {
                if self.intervals.len() <= i {
                    self.intervals.resize(i + 1, (0, 0));
                }
                self.intervals[i].0 += 1;
                self.intervals[i].1 += len;
            } else {
                self.left_out += 1;
            }
        }
        if let (true, Some((src, dst))) = (self.conv_tcp, tcp) {
            let key = if src <= dst { (src, dst) } else { (dst, src) };
            let full = self.conversations.len() >= MAX_CONVERSATIONS;
            match self.conversations.get_mut(&key) {
                Some(c) => {
                    let d = usize::from(src != c.a);
                    c.frames[d] += 1;
                    c.bytes[d] += len;
                    c.last = ts;
                }
                None if full => self.left_out += 1,
                None => {
                    self.conversations.insert(
                        key,
                        Conversation {
                            a: src,
                            b: dst,
                            frames: [1, 0],
                            bytes: [len, 0],
                            first: ts,
                            last: ts,
                        },
                    );
                }
            }
        }
    }

    /// The conversations, most bytes first (as tshark lists them).
    pub fn conversations_sorted(&self) -> Vec<&Conversation> {
        let mut v: Vec<&Conversation> = self.conversations.values().collect();
        v.sort_by(|x, y| {
            (y.bytes[0] + y.bytes[1])
                .cmp(&(x.bytes[0] + x.bytes[1]))
                .then(x.first.cmp(&y.first))
                // The map's order differs from run to run: ties are broken by the addresses.
                .then((x.a, x.b).cmp(&(y.a, y.b)))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_parsed_as_tshark_spells_them() {
        assert_eq!(ZStat::parse("io,stat,0.5"), Ok(ZStat::IoStat(0.5)));
        assert_eq!(ZStat::parse("conv,tcp"), Ok(ZStat::ConvTcp));
        assert!(ZStat::parse("io,stat,-1").is_err());
        assert_eq!(ZStat::parse("http,tree"), Ok(ZStat::HttpTree));
        assert!(ZStat::parse("http,stat").is_err());
    }

    #[test]
    fn frames_fall_in_their_interval_and_conversation() {
        let mut t = ZTally::new(&[ZStat::IoStat(1.0), ZStat::ConvTcp]);
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        t.frame(Timestamp(0), 60, Some((a, b)));
        t.frame(Timestamp(500_000_000), 70, Some((b, a)));
        t.frame(Timestamp(2_100_000_000), 80, None);
        assert_eq!(t.intervals, [(2, 130), (0, 0), (1, 80)]);
        let c = t.conversations_sorted()[0];
        assert_eq!((c.a, c.frames, c.bytes), (a, [1, 1], [60, 70]));
    }
}
