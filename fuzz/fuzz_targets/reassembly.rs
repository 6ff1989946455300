#![no_main]
//! Fuzzes the TCP flow table and reassembly with synthetic segments.
//!
//! The input is a small configuration header followed by 10-byte segment records (tuple,
//! direction, flags, sequence and acknowledgment numbers near a per-direction ISN or raw,
//! length (up to 1 275 bytes, so that segments fill the conflict window), snaplen cut, window,
//! clock step, a new backing after it). The payloads lie in one buffer that the table is told
//! about ([`Backing`]), as those of a mapped capture do. Payload bytes are a function of their sequence
//! number (`seq as u8`), so that any byte delivered at stream position `p` must satisfy
//! `byte - p ≡ constant (mod 256)` for its flow and direction, and overlaps can never differ —
//! unless the record asked for corrupted bytes, which turns those checks off for that
//! direction of that tuple. The handler checks the event contract on every event.

use libfuzzer_sys::fuzz_target;
use sockscope::config::{Config, PortFilter};
use sockscope::decode::{Segment, TcpFlags};
use sockscope::tcp::{
    Backing, Dir, FlowId, FlowMeta, FlowTable, PacketRef, StreamEvent, StreamHandler, TcpNotice,
};
use sockscope::time::Timestamp;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const TUPLES: [(&str, &str); 4] = [
    ("10.0.0.1:40000", "10.0.0.2:80"),
    ("10.0.0.3:40001", "10.0.0.2:80"),
    ("[2001:db8::1]:80", "[2001:db8::2]:80"),
    ("10.0.0.4:8080", "10.0.0.5:80"),
];

/// Per-flow checks, kept in the flow's own state.
#[derive(Default)]
struct FlowCheck {
    opened: bool,
    ended: [bool; 2],
    stream_bytes: [u64; 2],
    gap_bytes: [u64; 2],
    /// `(byte - position) mod 256` of the first delivered byte, per direction.
    phase: [Option<u8>; 2],
}

#[derive(Default)]
struct Checker {
    /// Directions (src, dst) that were sent corrupted bytes at least once.
    corrupted: HashSet<(SocketAddr, SocketAddr)>,
    closed: HashSet<FlowId>,
    open: HashSet<FlowId>,
    flow_cap_notices: u32,
}

impl StreamHandler for Checker {
    type State = FlowCheck;
    sockscope::closed_flows_keep_their_state!(FlowCheck);


    fn on_event(
        &mut self,
        meta: &FlowMeta,
        check: &mut FlowCheck,
        pkt: Option<PacketRef>,
        event: StreamEvent<'_>,
    ) {
        assert!(!self.closed.contains(&meta.id), "event after Closed");
        assert!(
            pkt.is_none_or(|p| p.dir.is_some()),
            "an event of a packet without its direction"
        );
        if !check.opened {
            assert!(
                matches!(event, StreamEvent::Opened),
                "first event must be Opened"
            );
        }
        let pure = |dir: Dir| {
            let (src, dst) = match dir {
                Dir::C2S => (meta.client, meta.server),
                Dir::S2C => (meta.server, meta.client),
            };
            !self.corrupted.contains(&(src, dst))
        };
        match event {
            StreamEvent::Opened => {
                assert!(!check.opened, "Opened twice");
                check.opened = true;
                self.open.insert(meta.id);
            }
            StreamEvent::Data { dir, bytes } => {
                let d = dir.index();
                assert!(!bytes.is_empty(), "empty Data");
                assert!(!check.ended[d], "Data after End");
                if pure(dir) {
                    for (i, &b) in bytes.iter().enumerate() {
                        let position = check.stream_bytes[d] + i as u64;
                        let phase = b.wrapping_sub(position as u8);
                        let expected = *check.phase[d].get_or_insert(phase);
                        assert_eq!(phase, expected, "byte delivered out of place");
                    }
                }
                check.stream_bytes[d] += bytes.len() as u64;
            }
            StreamEvent::Gap { dir, len } => {
                let d = dir.index();
                assert!(len > 0, "empty Gap");
                assert!(!check.ended[d], "Gap after End");
                check.stream_bytes[d] += len;
                check.gap_bytes[d] += len;
            }
            StreamEvent::End { dir } => {
                assert!(!check.ended[dir.index()], "End twice");
                check.ended[dir.index()] = true;
            }
            StreamEvent::Notice { dir, notice } => {
                if let (Some(dir), TcpNotice::OverlapConflict { .. }) = (dir, notice) {
                    assert!(!pure(dir), "conflict reported for identical bytes");
                }
            }
            StreamEvent::Control { dir, flags } => {
                assert_eq!(
                    pkt.and_then(|p| p.dir),
                    Some(dir),
                    "Control without its packet"
                );
                assert!(
                    flags.syn() || flags.fin() || flags.rst(),
                    "Control without control"
                );
            }
            StreamEvent::Closed { .. } => {
                self.closed.insert(meta.id);
                self.open.remove(&meta.id);
            }
        }
        assert_eq!(
            meta.payload_bytes, check.stream_bytes,
            "payload_bytes out of step"
        );
        assert_eq!(meta.gap_bytes, check.gap_bytes, "gap_bytes out of step");
    }

    fn on_table_notice(&mut self, _pkt: PacketRef, notice: TcpNotice) {
        assert_eq!(notice, TcpNotice::FlowCapHit);
        self.flow_cap_notices += 1;
    }
}

fn config_from(header: [u8; 2]) -> Config {
    let mut config = Config {
        ports: if header[0] & 1 == 0 {
            PortFilter::Ports(vec![80])
        } else {
            PortFilter::Any
        },
        ..Config::default()
    };
    let limits = &mut config.limits;
    limits.max_flows = usize::from(header[0] >> 1 & 3) + 1;
    limits.idle_timeout = Duration::from_secs(u64::from(header[0] >> 3 & 3) * 20);
    limits.max_ooo_bytes_per_dir = 64 << (header[1] & 7);
    limits.max_ooo_bytes_total = 64 << (header[1] >> 3 & 7);
    config
}

/// One segment record, decoded.
struct Rec {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u16,
    zero_window: bool,
    corrupt: bool,
    /// Where its payload lies in the buffer of all payloads.
    payload: std::ops::Range<usize>,
    missing: u32,
    now: i64,
    /// The table is given another backing after it.
    new_backing: bool,
}

fn run(data: &[u8]) {
    let Some((header, records)) = data.split_first_chunk::<2>() else {
        return;
    };
    let config = config_from(*header);
    let total_cap = config.limits.max_ooo_bytes_total;
    let mut table: FlowTable<Checker> = FlowTable::new(
        &config,
        Some(|d: &[u8]| {
            d.first().and_then(|&b| match b % 3 {
                0 => Some(true),
                1 => Some(false),
                _ => None,
            })
        }),
    );
    let mut checker = Checker::default();
    let addrs: Vec<(SocketAddr, SocketAddr)> = TUPLES
        .iter()
        .filter_map(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .collect();
    // Per tuple and direction: the ISN that sequence offsets are relative to.
    let isns: HashMap<(usize, bool), u32> = (0..TUPLES.len())
        .flat_map(|t| [(t, false), (t, true)])
        .map(|(t, rev)| {
            let spread = (t as u32) * 97 + u32::from(rev) * 31;
            ((t, rev), (u32::MAX - 300).wrapping_add(spread))
        })
        .collect();
    // The payloads are laid in one buffer first, which the table is told they lie in (as
    // with a mapped capture): segments of a whole conflict window or more are remembered by
    // their place in it.
    let mut arena = Vec::new();
    let mut segs = Vec::new();
    let mut now: i64 = 1_000_000_000_000;
    for r in records.chunks_exact(10) {
        let tuple = usize::from(r[0] & 3);
        let reverse = r[0] & 4 != 0;
        let raw_seq = r[0] & 8 != 0;
        let corrupt = r[0] & 0x30 == 0x30;
        let zero_window = r[0] & 0x40 != 0;
        let flags = u16::from(r[1]) & 0x3f;
        let seq_field = u32::from(u16::from_le_bytes([r[2], r[3]]));
        let ack_field = u32::from(u16::from_le_bytes([r[4], r[5]]));
        let len = usize::from(r[6]) * if r[9] & 0x10 != 0 { 5 } else { 1 };
        let missing = u32::from(r[7] & 0x0f) * u32::from(r[7] >> 4);
        now += i64::from(r[8]) * i64::from(r[9] & 0x0f) * 100_000_000;
        let Some(&(a, b)) = addrs.get(tuple) else {
            continue;
        };
        let (src, dst) = if reverse { (b, a) } else { (a, b) };
        let isn = isns.get(&(tuple, reverse)).copied().unwrap_or(0);
        let peer_isn = isns.get(&(tuple, !reverse)).copied().unwrap_or(0);
        let seq = if raw_seq {
            seq_field << 16 | ack_field
        } else {
            isn.wrapping_add(seq_field)
        };
        let ack = peer_isn.wrapping_add(ack_field);
        let data_seq = if flags & TcpFlags::SYN != 0 {
            seq.wrapping_add(1)
        } else {
            seq
        };
        let at = arena.len();
        arena.extend((0..len as u32).map(|i| {
            let b = data_seq.wrapping_add(i) as u8;
            if corrupt { b ^ 0x5a } else { b }
        }));
        segs.push(Rec {
            src,
            dst,
            seq,
            ack,
            flags,
            zero_window,
            corrupt,
            payload: at..arena.len(),
            missing,
            now,
            new_backing: r[9] & 0x20 != 0,
        });
    }
    let arena = Arc::new(arena);
    table.set_backing(Some(Backing::new(&arena)));
    for (frame, r) in segs.into_iter().enumerate() {
        let payload = arena.get(r.payload).unwrap_or_default();
        if r.corrupt && !payload.is_empty() {
            checker.corrupted.insert((r.src, r.dst));
        }
        let seg = Segment {
            frame: frame as u64 + 1,
            ts: Timestamp(r.now),
            src: r.src,
            dst: r.dst,
            seq: r.seq,
            ack: r.ack,
            flags: TcpFlags(r.flags),
            window: if r.zero_window { 0 } else { 65535 },
            payload,
            missing: r.missing,
            ip_header_len: 20,
            tcp_header_len: 20,
            window_scale: None,
        };
        table.process(&seg, &mut checker);
        assert!(
            table.buffered_bytes() <= total_cap,
            "global buffer cap exceeded"
        );
        if r.new_backing {
            // Another input starts (the same bytes under a new name): what the streams
            // remember in place is copied out first.
            table.set_backing(Some(Backing::new(&arena)));
        }
    }
    table.finish(&mut checker);
    assert!(table.is_empty(), "flows left after finish");
    assert_eq!(table.buffered_bytes(), 0, "buffer not released");
    assert!(checker.open.is_empty(), "opened flows never closed");
    assert!(
        checker.flow_cap_notices <= 1,
        "flow cap reported more than once"
    );
}

fuzz_target!(|data: &[u8]| run(data));
