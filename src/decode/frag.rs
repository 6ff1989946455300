//! IPv4 and IPv6 fragment reassembly, bounded.
//!
//! Holds at most [`MAX_DATAGRAMS`] datagrams of at most [`MAX_DATAGRAM_LEN`] bytes each
//! (4 MiB in all); a datagram not completed within [`TIMEOUT_NS`] of capture time is dropped,
//! and when the table is full the oldest datagram makes room. Every fragment that does not
//! complete a datagram is still reported by the decoder (`Decoded::IpFragment`), so nothing
//! disappears silently; the counters in [`FragmentStats`] say what became of them.
//!
//! Overlapping fragments: later data overwrites earlier data (RFC 5722 would drop the datagram;
//! this is a passive analyzer, and the TCP layer reports conflicting retransmissions anyway).
//! A datagram is marked broken — kept only to absorb its remaining fragments — when a fragment
//! was cut by the snaplen (its bytes can never be recovered), would exceed 64 KiB, contradicts
//! the known end, or splits the datagram into too many pieces.

use super::FragmentStats;
use super::ip::{FragKey, Fragment};
use crate::time::Timestamp;

pub(crate) const MAX_DATAGRAMS: usize = 64;
pub(crate) const MAX_DATAGRAM_LEN: usize = 65_535;
/// Disjoint pieces tracked per datagram before giving up on it.
const MAX_PIECES: usize = 64;
/// Same as Linux's `ipfrag_time`.
pub(crate) const TIMEOUT_NS: i64 = 30_000_000_000;

#[derive(Debug)]
struct Datagram {
    in_use: bool,
    key: FragKey,
    first_seen: Timestamp,
    data: Vec<u8>,
    /// Received byte ranges, sorted, merged.
    pieces: Vec<(usize, usize)>,
    total: Option<usize>,
    header_bytes: usize,
    first_header: u8,
    broken: bool,
}

/// A complete datagram payload.
#[derive(Debug)]
pub(crate) struct Reassembled<'a> {
    pub key: FragKey,
    pub payload: &'a [u8],
    pub first_header: u8,
    /// IP header bytes of all fragments together.
    pub header_bytes: usize,
}

pub(crate) enum Added {
    Incomplete,
    Complete(usize),
}

#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    slots: Vec<Datagram>,
    /// A datagram handed out by the previous decode; freed at the start of the next one.
    finished: Option<usize>,
    pub(crate) stats: FragmentStats,
}

impl Reassembler {
    /// Frees the datagram whose payload the previous result borrowed.
    #[inline]
    pub(crate) fn release_finished(&mut self) {
        if let Some(slot) = self.finished.take()
            && let Some(d) = self.slots.get_mut(slot)
        {
            d.in_use = false;
        }
    }

    #[cfg(test)]
    pub(crate) fn slots_len(&self) -> usize {
        self.slots.len()
    }

    /// Datagrams still waiting for fragments. The one the previous result completed is not
    /// among them: its slot is only kept until the next decode, for the payload it lends.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .enumerate()
            .filter(|&(i, d)| d.in_use && self.finished != Some(i))
            .count()
    }

    pub(crate) fn add(&mut self, f: &Fragment<'_>, ts: Timestamp) -> Added {
        self.stats.fragments += 1;
        self.expire(ts);
        let slot = match self.slots.iter().position(|d| d.in_use && d.key == f.key) {
            Some(slot) => slot,
            None => self.start(f.key, ts),
        };
        let Some(d) = self.slots.get_mut(slot) else {
            return Added::Incomplete;
        };
        d.header_bytes = d.header_bytes.saturating_add(usize::from(f.ip_header_len));
        if d.broken {
            return Added::Incomplete;
        }
        if f.offset == 0 {
            d.first_header = f.first_header;
        }
        let end = f.offset.saturating_add(f.wire_len);
        let fits = f.captured.len() >= f.wire_len
            && end <= MAX_DATAGRAM_LEN
            && match (d.total, f.more) {
                (Some(total), false) => total == end,
                (Some(total), true) => end <= total,
                (None, false) => d.pieces.last().is_none_or(|&(_, e)| e <= end),
                (None, true) => true,
            };
        if !fits {
            d.broken = true;
            self.stats.broken += 1;
            return Added::Incomplete;
        }
        if !f.more {
            d.total = Some(end);
        }
        if d.data.len() < end {
            d.data.resize(end, 0);
        }
        if let (Some(dst), Some(src)) =
            (d.data.get_mut(f.offset..end), f.captured.get(..f.wire_len))
        {
            dst.copy_from_slice(src);
        }
        insert_piece(&mut d.pieces, (f.offset, end));
        if d.pieces.len() > MAX_PIECES {
            d.broken = true;
            self.stats.broken += 1;
            return Added::Incomplete;
        }
        match (d.total, d.pieces.as_slice()) {
            (Some(total), &[(0, e)]) if e == total => {
                self.stats.reassembled += 1;
                self.finished = Some(slot);
                Added::Complete(slot)
            }
            _ => Added::Incomplete,
        }
    }

    pub(crate) fn get(&self, slot: usize) -> Option<Reassembled<'_>> {
        let d = self.slots.get(slot)?;
        Some(Reassembled {
            key: d.key,
            payload: d.data.get(..d.total?)?,
            first_header: d.first_header,
            header_bytes: d.header_bytes,
        })
    }

    fn expire(&mut self, now: Timestamp) {
        for d in self.slots.iter_mut().filter(|d| d.in_use) {
            if now.0.saturating_sub(d.first_seen.0) > TIMEOUT_NS {
                d.in_use = false;
                self.stats.expired += 1;
            }
        }
    }

    /// A slot for a new datagram: a free one, a new one, or the oldest one.
    fn start(&mut self, key: FragKey, ts: Timestamp) -> usize {
        let slot = if let Some(free) = self.slots.iter().position(|d| !d.in_use) {
            free
        } else if self.slots.len() < MAX_DATAGRAMS {
            self.slots.push(Datagram {
                in_use: false,
                key,
                first_seen: ts,
                data: Vec::new(),
                pieces: Vec::new(),
                total: None,
                header_bytes: 0,
                first_header: 0,
                broken: false,
            });
            self.slots.len() - 1
        } else {
            self.stats.evicted += 1;
            self.slots
                .iter()
                .enumerate()
                .min_by_key(|(_, d)| d.first_seen)
                .map(|(i, _)| i)
                .unwrap_or(0)
        };
        if let Some(d) = self.slots.get_mut(slot) {
            d.in_use = true;
            d.key = key;
            d.first_seen = ts;
            d.data.clear();
            d.pieces.clear();
            d.total = None;
            d.header_bytes = 0;
            d.first_header = 0;
            d.broken = false;
        }
        slot
    }
}

/// Adds `[start, end)` to sorted disjoint ranges, merging overlaps and neighbours.
fn insert_piece(pieces: &mut Vec<(usize, usize)>, (start, end): (usize, usize)) {
    let at = pieces.partition_point(|&(s, _)| s < start);
    pieces.insert(at, (start, end));
    pieces.dedup_by(|next, kept| {
        let overlaps = next.0 <= kept.1;
        if overlaps {
            kept.1 = kept.1.max(next.1);
        }
        overlaps
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn key(id: u32) -> FragKey {
        FragKey {
            src: IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(2, 2, 2, 2)),
            id,
            protocol: 6,
        }
    }

    fn frag(id: u32, offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            key: key(id),
            offset,
            more,
            captured: data,
            wire_len: data.len(),
            ip_header_len: 20,
            first_header: 6,
        }
    }

    #[test]
    fn pieces_merge() {
        let mut p = Vec::new();
        for r in [(16, 24), (0, 8), (8, 16), (40, 48), (30, 41)] {
            insert_piece(&mut p, r);
        }
        assert_eq!(p, vec![(0, 24), (30, 48)]);
    }

    #[test]
    fn out_of_order_fragments_complete() {
        let mut r = Reassembler::default();
        let a = [1u8; 16];
        let b = [2u8; 16];
        let c = [3u8; 5];
        assert!(matches!(
            r.add(&frag(1, 32, false, &c), Timestamp(0)),
            Added::Incomplete
        ));
        assert!(matches!(
            r.add(&frag(1, 0, true, &a), Timestamp(1)),
            Added::Incomplete
        ));
        // A different datagram in between does not interfere.
        assert!(matches!(
            r.add(&frag(2, 0, true, &a), Timestamp(1)),
            Added::Incomplete
        ));
        let Added::Complete(slot) = r.add(&frag(1, 16, true, &b), Timestamp(2)) else {
            panic!("not complete")
        };
        let d = r.get(slot).unwrap();
        assert_eq!(d.payload, [&a[..], &b[..], &c[..]].concat());
        assert_eq!((d.header_bytes, d.first_header), (60, 6));
        // The completed datagram is not waiting for anything, lent out or not.
        assert_eq!(r.in_flight(), 1);
        r.release_finished();
        assert_eq!(r.in_flight(), 1);
        assert_eq!((r.stats.fragments, r.stats.reassembled), (4, 1));
    }

    #[test]
    fn duplicates_and_overlaps_complete_with_the_later_bytes() {
        let mut r = Reassembler::default();
        r.add(&frag(1, 0, true, &[1; 16]), Timestamp(0));
        r.add(&frag(1, 0, true, &[1; 16]), Timestamp(0));
        r.add(&frag(1, 8, true, &[9; 16]), Timestamp(0));
        let Added::Complete(slot) = r.add(&frag(1, 24, false, &[2; 8]), Timestamp(0)) else {
            panic!()
        };
        let d = r.get(slot).unwrap();
        assert_eq!(d.payload, [[1u8; 8], [9; 8], [9; 8], [2; 8]].concat());
    }

    #[test]
    fn snaplen_cut_oversized_and_contradicting_fragments_break_the_datagram() {
        let mut r = Reassembler::default();
        let mut cut = frag(1, 0, true, &[0; 8]);
        cut.wire_len = 16;
        r.add(&cut, Timestamp(0));
        assert!(matches!(
            r.add(&frag(1, 16, false, &[0; 8]), Timestamp(0)),
            Added::Incomplete
        ));
        assert!(matches!(
            r.add(&frag(1, 8, true, &[0; 8]), Timestamp(0)),
            Added::Incomplete
        ));

        assert!(matches!(
            r.add(&frag(2, 65_528, false, &[0; 16]), Timestamp(0)),
            Added::Incomplete
        ));
        assert!(matches!(
            r.add(&frag(3, 0, false, &[0; 16]), Timestamp(0)),
            Added::Complete(_)
        ));
        r.release_finished();
        r.add(&frag(4, 8, false, &[0; 8]), Timestamp(0));
        // A second, different end.
        r.add(&frag(4, 24, false, &[0; 8]), Timestamp(0));
        assert!(matches!(
            r.add(&frag(4, 0, true, &[0; 8]), Timestamp(0)),
            Added::Incomplete
        ));
        assert_eq!(r.stats.broken, 3);
    }

    #[test]
    fn timeouts_and_the_cap_bound_the_table() {
        let mut r = Reassembler::default();
        for id in 0..(MAX_DATAGRAMS as u32 + 10) {
            r.add(&frag(id, 0, true, &[0; 8]), Timestamp(i64::from(id)));
        }
        assert_eq!(r.in_flight(), MAX_DATAGRAMS);
        assert_eq!(r.stats.evicted, 10);
        // The oldest were evicted: id 0's end no longer completes anything.
        assert!(matches!(
            r.add(&frag(0, 8, false, &[0; 8]), Timestamp(100)),
            Added::Incomplete
        ));
        // Everything expires after the timeout.
        r.add(&frag(999, 0, true, &[0; 8]), Timestamp(TIMEOUT_NS + 1_000));
        assert_eq!(r.in_flight(), 1);
        assert!(r.stats.expired >= MAX_DATAGRAMS as u64);
    }
}
