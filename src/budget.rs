//! The memory budget: one byte count for everything the analysis holds on behalf of the input —
//! flow entries and their protocol state, incomplete heads, bytes held while an upgrade awaits
//! its answer, unanswered requests, out-of-order TCP bytes, display buffers, inflaters — and the
//! limit it must stay under (`--memory`, docs/memory-budget.md).
//!
//! Promises:
//! - **One number per holder.** A holder (a flow) is charged what it holds as a [`Held`]: the
//!   `fixed` part lives as long as the holder, the `buffers` part can be given up. The owner of
//!   the holders (the flow table) settles each holder's charge after every operation on it with
//!   [`Budget::settle`], and releases it when the holder goes ([`Budget::release`]); the budget
//!   never walks the holders itself.
//! - **Cheap on the hot path.** Settling is two subtractions and two additions; checking for
//!   pressure is one comparison. No allocation, no lock: a worker thread that owns a share of
//!   the flows owns a [`Budget::share`] of the limit, and nothing is shared between workers.
//! - **Largest first, in bounded work.** When a holder pushes the total over the limit, the
//!   owner frees down to [`Budget::low_water`] (an eighth of the limit below it), taking the
//!   largest holders first from a [`Largest`] list built once per pressure episode. Since each
//!   episode frees an eighth of the limit, walking every holder happens at most once per that
//!   much growth, not per packet.
//! - **The same in every run.** A charge is a function of the input alone (sizes of what was
//!   allocated for it; for hash maps, whose capacity depends on their random seed, the peak
//!   number of entries: [`HashPeak`]), so which holders give way, and the output, is too.

use std::ops::{Add, AddAssign};

/// Bytes one holder holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// What lives as long as the holder: its entry and state (freed only when it ends).
    pub fixed: usize,
    /// What it can give up, losing something that is then reported: buffered bytes, display
    /// bytes, inflaters, remembered requests.
    pub buffers: usize,
}

// Sums of held bytes use plain additions: they add up sizes of live allocations, which cannot
// overflow `usize`, and they run for every packet that carries data.
impl Held {
    pub const ZERO: Held = Held {
        fixed: 0,
        buffers: 0,
    };

    pub fn fixed(fixed: usize) -> Held {
        Held { fixed, buffers: 0 }
    }

    pub fn buffers(buffers: usize) -> Held {
        Held { fixed: 0, buffers }
    }

    #[inline]
    pub fn total(self) -> usize {
        self.fixed + self.buffers
    }
}

impl Add for Held {
    type Output = Held;
    #[inline]
    fn add(self, other: Held) -> Held {
        Held {
            fixed: self.fixed + other.fixed,
            buffers: self.buffers + other.buffers,
        }
    }
}

impl AddAssign for Held {
    #[inline]
    fn add_assign(&mut self, other: Held) {
        *self = *self + other;
    }
}

/// Bytes a `Vec<T>` (or `VecDeque<T>`) with this capacity holds on the heap. The allocator's
/// header (16 bytes) is left out: it runs for every buffer of a connection on every packet that
/// carries data, and the buffers that matter are kilobytes; the baseline covers the headers.
#[inline]
pub fn vec_bytes<T>(capacity: usize) -> usize {
    capacity * size_of::<T>()
}

/// Bytes a hash map or set (hashbrown, as in the standard library) of `T` entries holds at
/// this capacity: a power of two of buckets at most 7/8 full, each a `T` and a control byte.
pub fn hash_bytes<T>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = capacity
        .saturating_mul(8)
        .div_ceil(7)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX);
    buckets
        .saturating_mul(size_of::<T>().saturating_add(1))
        .saturating_add(16 + ALLOC_OVERHEAD)
}

/// The most entries a hash map or set held at once, for its charge ([`HashPeak::bytes`]).
///
/// Not the map's `capacity()`: that is its entries plus the room left before it must grow,
/// and a removal gives its slot back to that room or leaves a tombstone in it depending on
/// where the neighbouring keys hash, so under churn the capacity (and when the map rehashes
/// or doubles) depends on the hasher's seed, which is random per map. A charge read from it
/// made which flows give way, and so the output, change from run to run. The peak depends
/// only on the inserts and removals, so the charge is the same in every run: what a map that
/// was never removed from holds at that peak (which is what `capacity()` said while nothing
/// was removed). A map whose removals left tombstones may have doubled beyond it, by its
/// hashes; that is left out, as it is by the allocator's own rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashPeak(usize);

impl HashPeak {
    /// The map holds `len` entries now (after an insert).
    #[inline]
    pub fn see(&mut self, len: usize) {
        self.0 = self.0.max(len);
    }

    /// The capacity of a map grown by inserts alone to the peak: hashbrown allocates 4, 8,
    /// then 7/8-full powers of two of buckets, and grows when it is full (0 before the first
    /// insert).
    pub fn capacity(self) -> usize {
        match self.0 {
            0 => 0,
            1..=3 => 3,
            4..=7 => 7,
            n => {
                let buckets = (n.saturating_mul(8) / 7)
                    .checked_next_power_of_two()
                    .unwrap_or(usize::MAX);
                buckets / 8 * 7
            }
        }
    }

    /// Bytes a map of `T` entries is charged ([`hash_bytes`] at [`HashPeak::capacity`]).
    pub fn bytes<T>(self) -> usize {
        hash_bytes::<T>(self.capacity())
    }
}

/// Bytes one boxed `T` holds on the heap, with the allocator's header.
pub fn box_bytes<T>() -> usize {
    size_of::<T>().saturating_add(ALLOC_OVERHEAD)
}

/// Gives back a vector's spare room by moving what it holds into a new allocation of the right
/// size. Not `shrink_to_fit`: shrinking in place leaves a hole just smaller than the block it
/// was, which the next buffer growing to the same size cannot use, so the heap grows although
/// the budget says memory was freed. (Nor `into_iter().collect()`, which keeps the allocation.)
pub fn compact<T>(v: &mut Vec<T>) {
    if v.capacity() > v.len() {
        let mut fresh = Vec::with_capacity(v.len());
        fresh.append(v);
        *v = fresh;
    }
}

/// [`compact`] for a deque.
pub fn compact_deque<T>(d: &mut std::collections::VecDeque<T>) {
    if d.capacity() > d.len() {
        let mut fresh = std::collections::VecDeque::with_capacity(d.len());
        fresh.append(d);
        *d = fresh;
    }
}

/// What the allocator adds to every allocation (glibc: a 16-byte chunk header and rounding).
pub const ALLOC_OVERHEAD: usize = 16;

/// The limit and what is held against it.
#[derive(Clone, Debug)]
pub struct Budget {
    limit: usize,
    held: Held,
    peak: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit,
            held: Held::ZERO,
            peak: 0,
        }
    }

    /// No limit (tests, library users who bound memory otherwise).
    pub fn unlimited() -> Budget {
        Budget::new(usize::MAX)
    }

    /// One of `n` equal shares of this budget's limit, for a worker that owns that share of the
    /// flows (nothing held is carried over).
    pub fn share(&self, n: usize) -> Budget {
        Budget::new(self.limit / n.max(1))
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// What is held now.
    pub fn held(&self) -> Held {
        self.held
    }

    /// The most ever held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Moves a holder's charge from what it was charged (`charged`) to what it holds `now`.
    #[inline]
    pub fn settle(&mut self, charged: &mut Held, now: Held) {
        if *charged == now {
            return;
        }
        // What a holder was charged is part of what is held, so neither subtraction wraps.
        self.held.fixed = self.held.fixed - charged.fixed + now.fixed;
        self.held.buffers = self.held.buffers - charged.buffers + now.buffers;
        *charged = now;
        self.peak = self.peak.max(self.held.total());
    }

    /// The holder is gone: its charge is returned.
    pub fn release(&mut self, charged: &mut Held) {
        self.settle(charged, Held::ZERO);
    }

    /// More is held than the limit allows: holders must give way.
    #[inline]
    pub fn is_over(&self) -> bool {
        self.held.total() > self.limit
    }

    /// Whether `extra` more bytes fit under the limit.
    pub fn fits(&self, extra: usize) -> bool {
        self.held.total().saturating_add(extra) <= self.limit
    }

    /// What giving way frees down to: an eighth of the limit below it, so that the next
    /// pressure episode needs that much growth first.
    pub fn low_water(&self) -> usize {
        self.limit - self.limit / 8
    }

    /// Bytes above the low-water mark (0 when below it).
    pub fn excess(&self) -> usize {
        self.held.total().saturating_sub(self.low_water())
    }
}

/// The largest holders, largest first: filled by a walk over every holder that keeps only the
/// `keep` largest (a bounded heap, so the walk allocates nothing beyond them), then consumed one
/// by one. Sizes are those at the walk; a holder may be gone when it comes up, which its owner
/// checks. One walk per pressure episode (per `keep` holders given way) instead of keeping the
/// order up to date on every change.
#[derive(Debug)]
pub struct Largest<K> {
    /// Ascending by (size, reversed key): the largest is popped from the end.
    sorted: Vec<(usize, std::cmp::Reverse<K>)>,
}

impl<K> Default for Largest<K> {
    fn default() -> Self {
        Largest { sorted: Vec::new() }
    }
}

impl<K: Ord> Largest<K> {
    /// Replaces the list with the `keep` largest of `holders` (size, key), leaving out those of
    /// size 0. Equal sizes come up in key order (the smallest key first), so the choice does
    /// not depend on the order of the walk.
    pub fn refill(&mut self, keep: usize, holders: impl Iterator<Item = (usize, K)>) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut heap = BinaryHeap::with_capacity(keep.saturating_add(1).min(1 << 16));
        for (size, key) in holders {
            if size == 0 || keep == 0 {
                continue;
            }
            heap.push(Reverse((size, Reverse(key))));
            if heap.len() > keep {
                heap.pop();
            }
        }
        self.sorted.clear();
        self.sorted
            .extend(heap.into_iter().map(|Reverse(entry)| entry));
        self.sorted.sort_unstable();
    }

    /// The largest holder not handed out yet.
    pub fn pop(&mut self) -> Option<K> {
        self.sorted.pop().map(|(_, std::cmp::Reverse(key))| key)
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Bytes the list holds, for the memory budget.
    pub fn held(&self) -> usize {
        vec_bytes::<(usize, std::cmp::Reverse<K>)>(self.sorted.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_moves_a_holders_charge_and_release_returns_it() {
        let mut b = Budget::new(1000);
        let mut a = Held::ZERO;
        let mut c = Held::ZERO;
        b.settle(
            &mut a,
            Held {
                fixed: 100,
                buffers: 300,
            },
        );
        b.settle(&mut c, Held::fixed(50));
        assert_eq!(
            b.held(),
            Held {
                fixed: 150,
                buffers: 300
            }
        );
        b.settle(
            &mut a,
            Held {
                fixed: 100,
                buffers: 20,
            },
        );
        assert_eq!(
            b.held(),
            Held {
                fixed: 150,
                buffers: 20
            }
        );
        assert_eq!(
            a,
            Held {
                fixed: 100,
                buffers: 20
            }
        );
        assert_eq!(b.peak(), 450);
        b.release(&mut a);
        b.release(&mut c);
        assert_eq!(b.held(), Held::ZERO);
        assert_eq!((a, c), (Held::ZERO, Held::ZERO));
    }

    #[test]
    fn pressure_starts_above_the_limit_and_frees_down_to_the_low_water_mark() {
        let mut b = Budget::new(800);
        let mut a = Held::ZERO;
        b.settle(&mut a, Held::buffers(800));
        assert!(!b.is_over());
        assert!(b.fits(0) && !b.fits(1));
        b.settle(&mut a, Held::buffers(801));
        assert!(b.is_over());
        assert_eq!(b.low_water(), 700);
        assert_eq!(b.excess(), 101);
        b.settle(&mut a, Held::buffers(650));
        assert_eq!(b.excess(), 0);
    }

    #[test]
    fn shares_split_the_limit_and_start_empty() {
        let mut b = Budget::new(64 << 20);
        let mut a = Held::ZERO;
        b.settle(&mut a, Held::fixed(10));
        let s = b.share(4);
        assert_eq!(s.limit(), 16 << 20);
        assert_eq!(s.held(), Held::ZERO);
        assert_eq!(Budget::unlimited().share(0).limit(), usize::MAX);
    }

    #[test]
    fn largest_comes_first_and_ties_in_key_order() {
        let mut l = Largest::default();
        l.refill(
            10,
            [(5, 'a'), (0, 'z'), (9, 'b'), (5, 'c'), (7, 'd')].into_iter(),
        );
        assert_eq!(l.len(), 4, "zero-sized holders are left out");
        let order: Vec<char> = std::iter::from_fn(|| l.pop()).collect();
        assert_eq!(order, ['b', 'd', 'a', 'c']);
        assert!(l.is_empty());
    }

    #[test]
    fn largest_keeps_only_the_largest_few_whatever_the_order_of_the_walk() {
        let holders: Vec<(usize, u32)> = (0..1000u32)
            .map(|k| ((k as usize * 7919) % 1000, k))
            .collect();
        let mut expected: Vec<(usize, u32)> = holders.iter().copied().filter(|h| h.0 > 0).collect();
        expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for order in [holders.clone(), holders.iter().rev().copied().collect()] {
            let mut l = Largest::default();
            l.refill(16, order.into_iter());
            let got: Vec<u32> = std::iter::from_fn(|| l.pop()).collect();
            let want: Vec<u32> = expected.iter().take(16).map(|h| h.1).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn compacting_moves_into_a_new_allocation_of_the_right_size() {
        let mut v: Vec<u32> = Vec::with_capacity(1000);
        v.extend([1, 2, 3]);
        let old = v.as_ptr();
        compact(&mut v);
        assert_eq!((v.as_slice(), v.capacity()), (&[1, 2, 3][..], 3));
        assert_ne!(v.as_ptr(), old);
        let mut d: std::collections::VecDeque<u32> = std::collections::VecDeque::with_capacity(64);
        d.extend([4, 5]);
        compact_deque(&mut d);
        assert_eq!(
            (d.iter().copied().collect::<Vec<_>>(), d.capacity()),
            (vec![4, 5], 2)
        );
        let mut e: Vec<u8> = Vec::with_capacity(10);
        compact(&mut e);
        assert_eq!(e.capacity(), 0);
    }

    #[test]
    fn boxes_include_the_allocator_header() {
        assert_eq!(vec_bytes::<u8>(0), 0);
        assert_eq!(vec_bytes::<u64>(4), 32);
        assert_eq!(box_bytes::<[u8; 100]>(), 100 + ALLOC_OVERHEAD);
    }

    #[test]
    fn a_hash_maps_charge_is_its_capacity_while_nothing_was_removed() {
        let mut map = std::collections::HashMap::<u64, [u8; 40]>::new();
        let mut peak = HashPeak::default();
        assert_eq!(peak.capacity(), map.capacity());
        for k in 0..5000 {
            map.insert(k, [0; 40]);
            peak.see(map.len());
            assert_eq!(peak.capacity(), map.capacity(), "{} entries", map.len());
        }
    }

    #[test]
    fn a_hash_maps_charge_under_churn_does_not_depend_on_its_seed() {
        // The same inserts and removals into maps with different seeds: the charge is the same
        // for all (while `capacity()`, by where removals leave tombstones, need not be).
        let charges: Vec<usize> = (0..8)
            .map(|_| {
                let mut map =
                    std::collections::HashMap::<u64, u64, foldhash::fast::RandomState>::default();
                let mut peak = HashPeak::default();
                for k in 0..20_000u64 {
                    map.insert(k, k);
                    peak.see(map.len());
                    if k >= 500 {
                        map.remove(&(k - 500));
                    }
                }
                peak.bytes::<(u64, u64)>()
            })
            .collect();
        assert!(charges.iter().all(|&c| c == charges[0]), "{charges:?}");
        assert_eq!(charges[0], hash_bytes::<(u64, u64)>(896));
    }
}
