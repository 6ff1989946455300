//! Application latency: requests paired with their replies by the sub-protocol's own ids, per
//! connection, with statistics per method / event and for the whole connection.
//!
//! The decoders say what each record is ([`Role`]): a request with a key and a name (JSON-RPC
//! id and method, Socket.IO ack id and event, graphql operation id and name, STOMP receipt,
//! MQTT packet id and packet type, SignalR invocation id and target, WAMP request id), or a
//! reply with a key. A reply answers the pending request with the same key sent the other way.
//! Statistics are kept per request direction and name: a broker's PUBLISH to a client and a
//! client's PUBLISH to the broker are different exchanges even on the same topic.
//!
//! Bounded: at most `max_pending` requests wait for replies (the oldest is dropped when a new
//! one would exceed it, counted unanswered and reported once as `sub.requests_evicted`), at
//! most `max_names` names get their own statistics (the rest share `(other)`), and each name's
//! latencies are kept exactly for the first [`EXACT_SAMPLES`], then in a log-scale histogram
//! of at most 976 buckets (16 per power of two: percentiles within ±3 %).

use super::{Code, SubProtocol};
pub use crate::model::LatencyRecord;
use crate::tcp::Dir;
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Latencies kept exactly per name; beyond, percentiles come from the histogram.
pub const EXACT_SAMPLES: usize = 64;
/// The name that collects statistics past `max_names`.
pub const OTHER: &str = "(other)";

/// What a record is in a request/reply exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Expects a reply carrying `key` from the other side; statistics go under `name`.
    Request { key: String, name: String },
    /// Answers the request with `key` sent the other way.
    Reply { key: String, error: bool },
    /// One of possibly many answers (stream items): the first answers the request, the others
    /// are expected and not counted as unmatched.
    StreamReply { key: String, error: bool },
}

/// A reply's request, for the detail view ("reply to packet 12, 3.1 ms").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Paired {
    pub request_frame: u64,
    /// Seconds from the request to the reply.
    pub latency: f64,
    pub name: String,
    pub error: bool,
}

#[derive(Clone, Debug)]
struct Pending {
    seq: u64,
    ts: Timestamp,
    frame: u64,
    name: usize,
}

/// Latency statistics of one name (or of the whole connection).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    answered: u64,
    errors: u64,
    unanswered: u64,
    max_ns: u64,
    exact: Vec<u64>,
    hist: BTreeMap<u16, u32>,
}

fn bucket(v: u64) -> u16 {
    if v < 16 {
        return v as u16;
    }
    let octave = 63 - v.leading_zeros(); // >= 4
    let sub = (v >> (octave - 4)) & 15;
    ((octave - 3) * 16 + sub as u32) as u16
}

/// The midpoint of a bucket (exact below 16 ns).
fn bucket_value(b: u16) -> u64 {
    if b < 16 {
        return u64::from(b);
    }
    let octave = u32::from(b / 16) + 3;
    let sub = u64::from(b % 16);
    let width = 1u64 << (octave - 4);
    ((16 + sub) << (octave - 4)) + width / 2
}

impl Stats {
    fn add(&mut self, ns: u64, error: bool) {
        self.answered += 1;
        self.errors += u64::from(error);
        self.max_ns = self.max_ns.max(ns);
        if self.exact.len() < EXACT_SAMPLES {
            self.exact.push(ns);
        }
        *self.hist.entry(bucket(ns)).or_default() += 1;
    }

    /// Replies received.
    pub fn count(&self) -> u64 {
        self.answered
    }

    /// The nearest-rank `p`-th percentile, nanoseconds.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        let n = self.answered;
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0 * n as f64).ceil() as u64).clamp(1, n);
        if rank == n {
            return Some(self.max_ns);
        }
        if n as usize <= EXACT_SAMPLES {
            let mut s = self.exact.clone();
            s.sort_unstable();
            return s.get(rank as usize - 1).copied();
        }
        let mut seen = 0u64;
        for (&b, &c) in &self.hist {
            seen += u64::from(c);
            if seen >= rank {
                return Some(bucket_value(b).min(self.max_ns));
            }
        }
        Some(self.max_ns)
    }

    fn held_bytes(&self) -> usize {
        self.exact.capacity() * 8 + self.hist.len() * 16
    }
}

type Key = (Dir, String);

/// One connection's request/reply pairing.
#[derive(Clone, Debug)]
pub struct Tracker {
    max_pending: usize,
    max_names: usize,
    pending: HashMap<Key, Pending>,
    /// Pending keys in arrival order (entries already answered are skipped lazily).
    order: VecDeque<(u64, Key)>,
    seq: u64,
    names: Vec<(Dir, String, Stats)>,
    index: HashMap<(Dir, String), usize>,
    total: Stats,
    unmatched: u64,
    evicted: u64,
    /// Bytes of the id strings in `pending` and `order`, kept as they change so that
    /// [`Tracker::held_bytes`] does not walk a thousand requests on every packet.
    key_bytes: usize,
}

/// What the tracker has to say about a role: the pairing of a reply, and a warning.
pub type Outcome = (Option<Paired>, Option<(Code, String)>);

impl Tracker {
    pub fn new(max_pending: usize, max_names: usize) -> Tracker {
        Tracker {
            max_pending: max_pending.max(1),
            max_names: max_names.max(1),
            pending: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
            names: Vec::new(),
            index: HashMap::new(),
            total: Stats::default(),
            unmatched: 0,
            evicted: 0,
            key_bytes: 0,
        }
    }

    fn name_index(&mut self, dir: Dir, name: &str) -> usize {
        let mut key = (dir, name.to_string());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        if self.names.len() + 1 >= self.max_names {
            key.1 = OTHER.to_string();
            if let Some(&i) = self.index.get(&key) {
                return i;
            }
        }
        self.names.push((dir, key.1.clone(), Stats::default()));
        self.index.insert(key, self.names.len() - 1);
        self.names.len() - 1
    }

    fn unanswered(&mut self, p: &Pending) {
        self.names[p.name].2.unanswered += 1;
        self.total.unanswered += 1;
    }

    /// Takes a record's role, sent in `dir` at `ts` in packet `frame`.
    pub fn on_role(&mut self, dir: Dir, ts: Timestamp, frame: u64, role: Role) -> Outcome {
        match role {
            Role::Request { key, name } => self.request(dir, ts, frame, key, &name),
            Role::Reply { key, error } => (self.reply(dir, ts, key, error, false), None),
            Role::StreamReply { key, error } => (self.reply(dir, ts, key, error, true), None),
        }
    }

    fn request(&mut self, dir: Dir, ts: Timestamp, frame: u64, key: String, name: &str) -> Outcome {
        let name = self.name_index(dir, name);
        self.seq += 1;
        let p = Pending {
            seq: self.seq,
            ts,
            frame,
            name,
        };
        let k = (dir, key);
        let mut warning = None;
        let replaced = self.pending.insert(k.clone(), p);
        if replaced.is_none() {
            self.key_bytes += k.1.len();
        }
        if let Some(old) = replaced {
            self.unanswered(&old);
            warning = Some((
                Code::SubDuplicateRequestId,
                format!(
                    "request id {} reused while the request of packet {} awaits its reply",
                    k.1, old.frame
                ),
            ));
        } else if self.pending.len() > self.max_pending {
            while let Some((seq, key)) = self.order.pop_front() {
                self.key_bytes -= key.1.len();
                if self.pending.get(&key).is_some_and(|p| p.seq == seq)
                    && let Some(old) = self.pending.remove(&key)
                {
                    self.key_bytes -= key.1.len();
                    self.unanswered(&old);
                    self.evicted += 1;
                    if self.evicted == 1 {
                        warning = Some((
                            Code::SubRequestsEvicted,
                            format!(
                                "more than {} requests await replies: the oldest (id {}, packet {}) was dropped; later drops are counted in the latency records",
                                self.max_pending, key.1, old.frame
                            ),
                        ));
                    }
                    break;
                }
            }
        }
        self.key_bytes += k.1.len();
        self.order.push_back((self.seq, k));
        if self.order.len() > 2 * self.max_pending + 16 {
            let pending = &self.pending;
            let mut dropped = 0;
            self.order.retain(|(seq, key)| {
                let keep = pending.get(key).is_some_and(|p| p.seq == *seq);
                dropped += if keep { 0 } else { key.1.len() };
                keep
            });
            self.key_bytes -= dropped;
        }
        (None, warning)
    }

    fn reply(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        key: String,
        error: bool,
        stream: bool,
    ) -> Option<Paired> {
        let len = key.len();
        let Some(p) = self.pending.remove(&(dir.other(), key)) else {
            self.unmatched += u64::from(!stream);
            return None;
        };
        self.key_bytes -= len;
        let ns = ts.0.saturating_sub(p.ts.0).max(0) as u64;
        self.names[p.name].2.add(ns, error);
        self.total.add(ns, error);
        Some(Paired {
            request_frame: p.frame,
            latency: ns as f64 / 1e9,
            name: self.names[p.name].1.clone(),
            error,
        })
    }

    /// Requests still waiting.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Statistics for the whole connection.
    pub fn total(&self) -> &Stats {
        &self.total
    }

    /// Statistics for one name of requests sent in `dir`.
    pub fn stats(&self, dir: Dir, name: &str) -> Option<&Stats> {
        self.index
            .get(&(dir, name.to_string()))
            .map(|&i| &self.names[i].2)
    }

    /// The `latency` records of the connection: the whole connection first, then each name in
    /// order of first appearance. Requests still pending count as unanswered. Empty when the
    /// connection had no requests.
    pub fn records(&self, flow: u64, protocol: SubProtocol) -> Vec<LatencyRecord> {
        if self.names.is_empty() {
            return Vec::new();
        }
        let mut still = vec![0u64; self.names.len()];
        for p in self.pending.values() {
            still[p.name] += 1;
        }
        let secs = |v: Option<u64>| v.map(|ns| ns as f64 / 1e9);
        let record = |name: Option<(Dir, String)>, s: &Stats, pending: u64| LatencyRecord {
            record_type: "latency",
            flow,
            protocol: protocol.as_str(),
            dir: name.as_ref().map(|(d, _)| d.as_str()),
            name: name.map(|(_, n)| n),
            count: s.answered,
            errors: s.errors,
            unanswered: s.unanswered + pending,
            p50: secs(s.percentile(50.0)),
            p90: secs(s.percentile(90.0)),
            p99: secs(s.percentile(99.0)),
            max: secs((s.answered > 0).then_some(s.max_ns)),
            unmatched_replies: None,
            evicted: None,
        };
        let mut all = record(None, &self.total, self.pending.len() as u64);
        all.unmatched_replies = Some(self.unmatched);
        all.evicted = Some(self.evicted);
        let mut out = vec![all];
        for (i, (dir, name, s)) in self.names.iter().enumerate() {
            out.push(record(Some((*dir, name.clone())), s, still[i]));
        }
        out
    }

    /// Bytes held: pending requests and statistics.
    pub fn held_bytes(&self) -> usize {
        let pending = self.key_bytes + self.pending.len() * 64;
        let names: usize = self
            .names
            .iter()
            .map(|(_, n, s)| 2 * n.len() + 64 + s.held_bytes())
            .sum();
        pending + self.order.len() * 40 + names + self.total.held_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: i64) -> Timestamp {
        Timestamp(v * 1_000_000)
    }
    fn req(key: &str, name: &str) -> Role {
        Role::Request {
            key: key.into(),
            name: name.into(),
        }
    }
    fn rep(key: &str) -> Role {
        Role::Reply {
            key: key.into(),
            error: false,
        }
    }

    /// The id bytes `held_bytes` counts, kept as requests come and go, are those held.
    #[test]
    fn id_bytes_are_kept_as_requests_come_and_go() {
        let held = |t: &Tracker| {
            t.pending.keys().map(|(_, k)| k.len()).sum::<usize>()
                + t.order.iter().map(|(_, (_, k))| k.len()).sum::<usize>()
        };
        let mut t = Tracker::new(8, 4);
        for i in 0..200u64 {
            let key = format!("{}", i * 7919 % 23).repeat(1 + (i % 5) as usize);
            let role = match i % 3 {
                0 | 1 => req(&key, "m"),
                _ => rep(&key),
            };
            let dir = if i % 3 == 2 { Dir::S2C } else { Dir::C2S };
            t.on_role(dir, ms(i as i64), i, role);
            assert_eq!(t.key_bytes, held(&t), "after {i}");
        }
        assert!(t.evicted > 0);
    }

    #[test]
    fn pairs_by_key_across_directions_only() {
        let mut t = Tracker::new(16, 8);
        t.on_role(Dir::C2S, ms(0), 1, req("1", "add"));
        // The same side's "reply" does not answer its own request.
        assert_eq!(t.on_role(Dir::C2S, ms(1), 2, rep("1")).0, None);
        let (p, w) = t.on_role(Dir::S2C, ms(12), 3, rep("1"));
        assert_eq!(w, None);
        let p = p.unwrap();
        assert_eq!((p.request_frame, p.name.as_str()), (1, "add"));
        assert!((p.latency - 0.012).abs() < 1e-9);
        // Answered once only.
        assert_eq!(t.on_role(Dir::S2C, ms(13), 4, rep("1")).0, None);
        let r = t.records(7, SubProtocol::JsonRpc);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].name.as_deref(), r[0].count, r[0].unmatched_replies),
            (None, 1, Some(2))
        );
        assert_eq!(r[1].name.as_deref(), Some("add"));
        assert_eq!(r[1].max, Some(0.012));
    }

    #[test]
    fn stream_replies_are_not_unmatched() {
        let mut t = Tracker::new(16, 8);
        t.on_role(Dir::C2S, ms(0), 1, req("a", "OnMessage"));
        let s = |e| Role::StreamReply {
            key: "a".into(),
            error: e,
        };
        assert!(t.on_role(Dir::S2C, ms(5), 2, s(false)).0.is_some());
        assert!(t.on_role(Dir::S2C, ms(6), 3, s(false)).0.is_none());
        assert_eq!(
            t.records(1, SubProtocol::GraphqlTransportWs)[0].unmatched_replies,
            Some(0)
        );
    }

    #[test]
    fn nearest_rank_percentiles_exact_then_histogram() {
        let mut t = Tracker::new(1000, 8);
        for i in 1..=10 {
            t.on_role(Dir::C2S, ms(0), i, req(&i.to_string(), "m"));
            t.on_role(Dir::S2C, ms(i as i64), i, rep(&i.to_string()));
        }
        let s = t.stats(Dir::C2S, "m").unwrap();
        assert_eq!(s.percentile(50.0), Some(5_000_000));
        assert_eq!(s.percentile(90.0), Some(9_000_000));
        assert_eq!(s.percentile(99.0), Some(10_000_000));
        // 1000 latencies 1..=1000 ms: past the exact samples, within the histogram's precision.
        let mut t = Tracker::new(2000, 8);
        for i in 1..=1000u64 {
            t.on_role(Dir::C2S, ms(0), i, req(&i.to_string(), "m"));
            t.on_role(Dir::S2C, ms(i as i64), i, rep(&i.to_string()));
        }
        let s = t.stats(Dir::C2S, "m").unwrap();
        for (p, want) in [(50.0, 500e6), (90.0, 900e6), (99.0, 990e6)] {
            let got = s.percentile(p).unwrap() as f64;
            assert!((got - want).abs() / want < 0.035, "p{p}: {got} vs {want}");
        }
        assert_eq!(s.percentile(100.0), Some(1_000_000_000));
    }

    #[test]
    fn buckets_are_monotonic_and_cover_their_values() {
        let mut last = 0;
        for v in (0..20_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last);
            last = b;
            let mid = bucket_value(b);
            if v >= 16 {
                assert!(
                    (mid as f64 - v as f64).abs() / v as f64 <= 1.0 / 16.0 + 1e-12,
                    "{v} -> {mid}"
                );
            } else {
                assert_eq!(mid, v);
            }
        }
        assert_eq!(bucket(u64::MAX), 975);
    }

    #[test]
    fn pending_requests_are_capped_and_counted() {
        let mut t = Tracker::new(4, 8);
        let mut warnings = 0;
        for i in 0..100 {
            let (_, w) = t.on_role(Dir::C2S, ms(i), i as u64, req(&i.to_string(), "m"));
            if let Some((code, _)) = w {
                assert_eq!(code, Code::SubRequestsEvicted);
                warnings += 1;
            }
            assert!(t.pending() <= 4);
            assert!(t.order.len() <= 2 * 4 + 16 + 1);
        }
        assert_eq!(warnings, 1);
        // The newest are still pending and answerable.
        assert!(t.on_role(Dir::S2C, ms(200), 200, rep("99")).0.is_some());
        assert!(t.on_role(Dir::S2C, ms(200), 201, rep("0")).0.is_none());
        let all = &t.records(1, SubProtocol::Mqtt)[0];
        assert_eq!((all.count, all.unanswered, all.evicted), (1, 99, Some(96)));
    }

    #[test]
    fn duplicate_ids_count_the_first_unanswered() {
        let mut t = Tracker::new(16, 8);
        t.on_role(Dir::C2S, ms(0), 1, req("5", "m"));
        let (_, w) = t.on_role(Dir::C2S, ms(1), 2, req("5", "m"));
        assert_eq!(w.unwrap().0, Code::SubDuplicateRequestId);
        let p = t.on_role(Dir::S2C, ms(3), 3, rep("5")).0.unwrap();
        assert_eq!(p.request_frame, 2);
        assert_eq!(t.records(1, SubProtocol::JsonRpc)[1].unanswered, 1);
    }

    #[test]
    fn directions_keep_their_own_statistics() {
        let mut t = Tracker::new(16, 8);
        t.on_role(Dir::C2S, ms(0), 1, req("1", "PUBLISH t"));
        t.on_role(Dir::S2C, ms(0), 2, req("1", "PUBLISH t"));
        t.on_role(Dir::S2C, ms(3), 3, rep("1"));
        t.on_role(Dir::C2S, ms(9), 4, rep("1"));
        assert_eq!(
            t.stats(Dir::C2S, "PUBLISH t").unwrap().percentile(50.0),
            Some(3_000_000)
        );
        assert_eq!(
            t.stats(Dir::S2C, "PUBLISH t").unwrap().percentile(50.0),
            Some(9_000_000)
        );
        let dirs: Vec<_> = t
            .records(1, SubProtocol::Mqtt)
            .iter()
            .map(|r| r.dir)
            .collect();
        assert_eq!(dirs, [None, Some("c2s"), Some("s2c")]);
    }

    #[test]
    fn names_beyond_the_cap_share_other() {
        let mut t = Tracker::new(64, 3);
        for i in 0..10 {
            t.on_role(Dir::C2S, ms(0), i, req(&i.to_string(), &format!("m{i}")));
        }
        let names: Vec<_> = t
            .records(1, SubProtocol::JsonRpc)
            .into_iter()
            .skip(1)
            .map(|r| (r.name.unwrap(), r.unanswered))
            .collect();
        assert_eq!(
            names,
            [
                ("m0".to_string(), 1),
                ("m1".to_string(), 1),
                (OTHER.to_string(), 8)
            ]
        );
    }

    #[test]
    fn records_serialize_with_type_latency() {
        let mut t = Tracker::new(4, 4);
        t.on_role(Dir::C2S, ms(0), 1, req("1", "sum"));
        let v = serde_json::to_value(&t.records(3, SubProtocol::JsonRpc)[1]).unwrap();
        assert_eq!(v["type"], "latency");
        assert_eq!(v["flow"], 3);
        assert_eq!(v["protocol"], "json-rpc");
        assert_eq!(v["name"], "sum");
        assert_eq!(v["dir"], "c2s");
        assert_eq!(v["unanswered"], 1);
        assert!(v["p50"].is_null());
        assert!(v.get("evicted").is_none());
    }
}
