//! Which share of the flows a packet belongs to: a symmetric hash of the TCP 4-tuple, the one
//! place that splits flows between workers (`--threads`) and between processes (`--shard K/N`).
//!
//! Promises: both directions of a connection hash alike (the endpoints are put in a canonical
//! order first); the value depends only on the addresses and ports, never on the process, the
//! platform or the run (no random seed), so that a flow lands in the same share every time;
//! no allocation, a few multiplications per packet.

use std::net::{IpAddr, SocketAddr};

/// The symmetric hash of a connection between `a` and `b` (either order gives the same value).
#[inline]
pub fn flow_hash(a: SocketAddr, b: SocketAddr) -> u64 {
    let (x, y) = (endpoint_word(a), endpoint_word(b));
    let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
    mix(lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi)
}

/// The share, in `0..n`, of the connection between `a` and `b` (0 when `n` is 0 or 1).
#[inline]
pub fn shard_of(a: SocketAddr, b: SocketAddr, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    // Multiply-shift on the high half: uniform for any n, no division.
    (((flow_hash(a, b) >> 32) * n as u64) >> 32) as usize
}

/// A split of the flows into `n` shares where share 0 takes a part of its own (`first` of
/// every 2^32 hash values) and the others the rest evenly: with `first` 0, [`shard_of`]'s.
#[derive(Clone, Copy, Debug)]
pub struct Weighted {
    n: usize,
    first: u64,
    /// `(n - 1) << 64` over the values left to the others: multiply-shift, no division.
    scale: u128,
}

impl Weighted {
    pub fn new(n: usize, first: u64) -> Weighted {
        let first = first.min((1 << 32) - 1);
        let rest = (1u64 << 32) - first;
        Weighted {
            n,
            first,
            scale: (u128::from(n.max(1) as u64 - 1) << 64) / u128::from(rest),
        }
    }

    /// How many shares there are.
    pub fn shares(&self) -> usize {
        self.n
    }

    /// The share of the connection between `a` and `b`.
    #[inline]
    pub fn share(&self, a: SocketAddr, b: SocketAddr) -> usize {
        if self.first == 0 || self.n <= 1 {
            return shard_of(a, b, self.n);
        }
        match (flow_hash(a, b) >> 32).checked_sub(self.first) {
            None => 0,
            Some(rest) => 1 + ((u128::from(rest) * self.scale) >> 64) as usize,
        }
    }
}

/// One endpoint as a word: an IPv4 address and port exactly; an IPv6 address folded.
#[inline]
fn endpoint_word(e: SocketAddr) -> u64 {
    let port = u64::from(e.port());
    match e.ip() {
        IpAddr::V4(ip) => (u64::from(u32::from(ip)) << 16) | port,
        IpAddr::V6(ip) => {
            let v = u128::from(ip);
            let folded = mix((v >> 64) as u64 ^ mix(v as u64));
            (folded << 17) | (1 << 16) | port
        }
    }
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn both_directions_hash_alike() {
        for (a, b) in [
            ("10.0.0.1:51000", "10.0.0.2:80"),
            ("[::1]:80", "[::1]:40000"),
            ("[2001:db8::1]:443", "10.0.0.9:443"),
            ("1.2.3.4:5", "1.2.3.4:5"),
        ] {
            assert_eq!(flow_hash(sa(a), sa(b)), flow_hash(sa(b), sa(a)), "{a} {b}");
            for n in 1..9 {
                assert_eq!(shard_of(sa(a), sa(b), n), shard_of(sa(b), sa(a), n));
            }
        }
    }

    #[test]
    fn the_value_is_fixed_across_runs_and_platforms() {
        // `--shard K/N` files made by one build are read by another: the hash never changes.
        assert_eq!(
            flow_hash(sa("10.0.0.1:51000"), sa("10.0.0.2:80")),
            0xdf96_e46a_2265_bfa1
        );
    }

    #[test]
    fn ports_and_addresses_both_count_and_shares_are_even() {
        let server = sa("10.0.0.2:80");
        assert_ne!(
            flow_hash(sa("10.0.0.1:51000"), server),
            flow_hash(sa("10.0.0.1:51001"), server)
        );
        assert_ne!(
            flow_hash(sa("10.0.0.1:51000"), server),
            flow_hash(sa("10.0.0.3:51000"), server)
        );
        let mut counts = [0usize; 7];
        for port in 1024..(1024 + 7000) {
            let client = SocketAddr::new("192.168.1.10".parse().expect("ip"), port);
            counts[shard_of(client, server, 7)] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
        assert_eq!(shard_of(server, server, 0), 0);
        assert_eq!(shard_of(server, server, 1), 0);
    }

    #[test]
    fn a_weighted_split_gives_each_share_its_part() {
        for (n, first) in [
            (2usize, 1u64 << 31),
            (2, 1 << 30),
            (3, 1 << 30),
            (7, 123_456_789),
            (2, 0),
        ] {
            let split = Weighted::new(n, first);
            let mut counts = vec![0u32; n];
            let total = 200_000u32;
            for i in 0..total {
                let a = SocketAddr::from((
                    [10, 0, (i >> 16) as u8, (i >> 8) as u8],
                    (i & 0xffff) as u16,
                ));
                let b = sa("192.0.2.1:443");
                let share = split.share(a, b);
                assert_eq!(share, split.share(b, a), "both directions alike");
                counts[share] += 1;
            }
            let f = if first == 0 {
                1.0 / n as f64
            } else {
                first as f64 / 4_294_967_296.0
            };
            let want_first = f64::from(total) * f;
            let want_other = (f64::from(total) - want_first) / (n - 1) as f64;
            assert!(
                (f64::from(counts[0]) - want_first).abs() < want_first * 0.05,
                "{n} {first}: {counts:?}"
            );
            for c in &counts[1..] {
                assert!(
                    (f64::from(*c) - want_other).abs() < want_other * 0.05,
                    "{n} {first}: {counts:?}"
                );
            }
        }
    }
}
