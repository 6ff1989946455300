//! What names a flow outside one run: its Community ID (v1), which Zeek, Suricata and Arkime
//! compute for the same connection, and its shard (`--shard K/N`, by the symmetric hash of
//! [`crate::tcp::shard`]).
//!
//! It also writes an endpoint as every record names it ([`endpoint_text`]).
//!
//! Both depend only on the two endpoints, not on which one is the client nor on the order
//! packets came in, so every packet of a connection (either direction, any file of a rotated
//! set, any process) gives the same answer.

use arrayvec::ArrayString;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// IANA protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;

/// `addr` as `Display` writes it (`192.0.2.1:80`, `[2001:db8::1]:443`), as a `String`
/// ([`endpoint_str`]).
pub fn endpoint_text(addr: SocketAddr) -> String {
    endpoint_str(addr).to_string()
}

/// Room for any endpoint `Display` writes: `[`, an IPv6 address (at most 39 characters), `%`
/// and a scope id (at most 10), `]:` and a port (at most 5) take 58.
pub type EndpointText = ArrayString<64>;

/// `addr` as `Display` writes it, kept on the stack: an IPv4 endpoint, what nearly every flow
/// has, from its numbers without the formatting machinery (a flow record names two per flow);
/// IPv6, with its zero compression and scope, by `Display`.
pub fn endpoint_str(addr: SocketAddr) -> EndpointText {
    let mut out = EndpointText::new();
    let SocketAddr::V4(v4) = addr else {
        // At most 64 characters (see `EndpointText`): this does not fail.
        let _ = write!(out, "{addr}");
        return out;
    };
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(digits.format(octet));
    }
    out.push(':');
    out.push_str(digits.format(v4.port()));
    out
}

/// The Community ID v1 of a TCP connection between `a` and `b` (either order), with seed 0:
/// `1:` and the base64 of the SHA-1 described in the Community ID specification
/// (github.com/corelight/community-id-spec).
pub fn community_id(a: SocketAddr, b: SocketAddr) -> String {
    community_id_str(a, b).to_string()
}

/// [`community_id`] kept on the stack: `1:` and 28 characters of base64.
pub fn community_id_str(a: SocketAddr, b: SocketAddr) -> ArrayString<30> {
    community_text(community_id_digest(
        0,
        IPPROTO_TCP,
        (a.ip(), Some(a.port())),
        (b.ip(), Some(b.port())),
    ))
}

/// A Community ID v1's text: `1:` and the base64 of its digest (28 characters).
fn community_text(digest: [u8; 20]) -> ArrayString<30> {
    let mut text = [0u8; 30];
    text[..2].copy_from_slice(b"1:");
    // 20 bytes are 28 characters of base64: they fit.
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(digest, &mut text[2..])
        .unwrap_or(0);
    let mut out = ArrayString::new();
    out.push_str(std::str::from_utf8(&text[..2 + n]).unwrap_or_default());
    out
}

/// The Community ID v1 for any transport: `seed`, the IP protocol number and both endpoints,
/// with ports for protocols that have them (ICMP's type/code mapping is not needed here and is
/// not implemented).
pub fn community_id_v1(
    seed: u16,
    proto: u8,
    a: (IpAddr, Option<u16>),
    b: (IpAddr, Option<u16>),
) -> String {
    community_text(community_id_digest(seed, proto, a, b)).to_string()
}

/// The SHA-1 a Community ID v1 is the base64 of.
pub fn community_id_digest(
    seed: u16,
    proto: u8,
    a: (IpAddr, Option<u16>),
    b: (IpAddr, Option<u16>),
) -> [u8; 20] {
    // The endpoint ordered first is the smaller address, or the smaller port at equal
    // addresses (the spec's "flow tuple ordering").
    let (a_ip, b_ip) = (IpBytes::of(&a.0), IpBytes::of(&b.0));
    let ((lo, lo_ip), (hi, hi_ip)) = if (a_ip.as_slice(), a.1) <= (b_ip.as_slice(), b.1) {
        ((a, a_ip), (b, b_ip))
    } else {
        ((b, b_ip), (a, a_ip))
    };
    let mut sha = Sha1::new();
    sha.update(seed.to_be_bytes());
    sha.update(lo_ip.as_slice());
    sha.update(hi_ip.as_slice());
    sha.update([proto, 0]);
    if let (Some(p), Some(q)) = (lo.1, hi.1) {
        sha.update(p.to_be_bytes());
        sha.update(q.to_be_bytes());
    }
    sha.finalize().into()
}

/// An address in network byte order, on the stack: 4 bytes for IPv4, 16 for IPv6.
#[derive(Clone, Copy)]
struct IpBytes {
    bytes: [u8; 16],
    len: usize,
}

impl IpBytes {
    fn of(ip: &IpAddr) -> IpBytes {
        let mut bytes = [0; 16];
        let len = match ip {
            IpAddr::V4(v4) => {
                bytes[..4].copy_from_slice(&v4.octets());
                4
            }
            IpAddr::V6(v6) => {
                bytes = v6.octets();
                16
            }
        };
        IpBytes { bytes, len }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// One of `count` shards (`--shard K/N`: `index` is K - 1): the flows that
/// [`crate::tcp::shard::shard_of`] (the split between worker threads too) puts in share
/// `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole input: one shard of one.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N` (1 ≤ K ≤ N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not K/N (for example 2/4)"))?;
        let k: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: K is not a number"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: N is not a number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(format!("`{s}`: K must be between 1 and N (N at least 1)"));
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// Whether the connection between `a` and `b` belongs to this shard.
    #[inline]
    pub fn owns(&self, a: SocketAddr, b: SocketAddr) -> bool {
        self.count <= 1
            || crate::tcp::shard::shard_of(a, b, self.count as usize) == self.index as usize
    }

    /// Whether this shard reports what belongs to no flow (packets that are not TCP, anomalies
    /// of the link or IP layer, notes about the input file): the first one does, so that the
    /// shards' summaries add up to the whole input's.
    pub fn owns_unflowed(&self) -> bool {
        self.index == 0
    }

    pub fn is_all(&self) -> bool {
        self.count <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn endpoints_are_written_as_display_writes_them(
            v4: [u8; 4], v6: [u16; 8], port: u16, scope: u32, flow: u32
        ) {
            let a = SocketAddr::from((v4, port));
            proptest::prop_assert_eq!(endpoint_text(a), a.to_string());
            let b = SocketAddr::V6(std::net::SocketAddrV6::new(v6.into(), port, flow, scope));
            proptest::prop_assert_eq!(endpoint_text(b), b.to_string());
        }
    }

    /// The TCP, UDP, SCTP and port-less (RSVP) vectors of the Community ID specification's
    /// baseline (baseline/baseline_deflt.json and baseline_seed1.json of
    /// corelight/community-id-spec): protocol, source, destination, source port, destination
    /// port, ID with seed 0, ID with seed 1. Its ICMP vectors need the ICMP type mapping, which
    /// a TCP analyzer has no use for.
    type Vector = (
        u8,
        &'static str,
        &'static str,
        Option<u16>,
        Option<u16>,
        &'static str,
        &'static str,
    );
    const VECTORS: &[Vector] = &[
        (
            6,
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            "2607:f8b0:400c:c03::1a",
            Some(63943),
            Some(25),
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
            "1:eJYTW6AOzFLlSUoESovMjnu7rMw=",
        ),
        (
            6,
            "2607:f8b0:400c:c03::1a",
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            Some(25),
            Some(63943),
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
            "1:eJYTW6AOzFLlSUoESovMjnu7rMw=",
        ),
        (
            132,
            "192.168.170.8",
            "192.168.170.56",
            Some(7),
            Some(7),
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
            "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=",
        ),
        (
            132,
            "192.168.170.56",
            "192.168.170.8",
            Some(7),
            Some(7),
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
            "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=",
        ),
        (
            6,
            "128.232.110.120",
            "66.35.250.204",
            Some(34855),
            Some(80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
        ),
        (
            6,
            "66.35.250.204",
            "128.232.110.120",
            Some(80),
            Some(34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
        ),
        (
            17,
            "192.168.1.52",
            "8.8.8.8",
            Some(54585),
            Some(53),
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
            "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=",
        ),
        (
            17,
            "8.8.8.8",
            "192.168.1.52",
            Some(53),
            Some(54585),
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
            "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=",
        ),
        (
            46,
            "10.1.12.1",
            "10.1.12.2",
            None,
            None,
            "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=",
            "1:rYir8gphR31noO9iDRQmF/BteEI=",
        ),
        (
            46,
            "10.1.12.2",
            "10.1.12.1",
            None,
            None,
            "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=",
            "1:rYir8gphR31noO9iDRQmF/BteEI=",
        ),
    ];

    #[test]
    fn community_ids_match_the_specification_baseline() {
        for &(proto, s, d, sp, dp, seed0, seed1) in VECTORS {
            let a = (s.parse().unwrap(), sp);
            let b = (d.parse().unwrap(), dp);
            assert_eq!(community_id_v1(0, proto, a, b), seed0, "{s} {d} seed 0");
            assert_eq!(community_id_v1(1, proto, a, b), seed1, "{s} {d} seed 1");
        }
    }

    #[test]
    fn the_tcp_shorthand_is_seed_zero_in_either_order() {
        let a: SocketAddr = "128.232.110.120:34855".parse().unwrap();
        let b: SocketAddr = "66.35.250.204:80".parse().unwrap();
        assert_eq!(community_id(a, b), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(community_id(b, a), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }

    #[test]
    fn a_flow_is_in_one_shard_whatever_its_direction_and_shards_spread_ports() {
        let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let shards: Vec<Shard> = (1..=3)
            .map(|k| Shard::parse(&format!("{k}/3")).unwrap())
            .collect();
        let mut per_shard = [0u32; 3];
        for port in 40000..43000 {
            let client = SocketAddr::from(([10, 0, 0, 1], port));
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].owns(client, server)).collect();
            assert_eq!(owners.len(), 1, "{client}");
            assert!(shards[owners[0]].owns(server, client));
            per_shard[owners[0]] += 1;
        }
        // 3000 flows over 3 shards: each within 10% of 1000.
        assert!(
            per_shard.iter().all(|&n| (900..=1100).contains(&n)),
            "{per_shard:?}"
        );
    }

    #[test]
    fn shards_parse_as_k_of_n() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(Shard::parse("1/1"), Ok(Shard::ALL));
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/-2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:2".parse().unwrap();
        let owners = (0..4)
            .filter(|&i| Shard { index: i, count: 4 }.owns(a, b))
            .count();
        assert_eq!(owners, 1);
    }
}
