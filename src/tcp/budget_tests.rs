//! The flow table under the memory budget: who gives way, in which order, and what it says.
//! A handler that keeps every delivered byte (as a parser keeping an incomplete head would)
//! stands in for the protocol layer.

use super::*;
use crate::budget::Held;
use crate::config::Config;
use crate::decode::{Segment, TcpFlags};
use crate::time::Timestamp;
use std::net::SocketAddr;

const SYN: u16 = TcpFlags::SYN;
const ACK: u16 = TcpFlags::ACK;
const PSH: u16 = TcpFlags::PSH;
const RST: u16 = TcpFlags::RST;

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Gap(u64),
    Data(usize),
    Notice(Option<Dir>, TcpNotice),
    Closed(CloseHow),
}

/// Keeps every byte delivered: as buffers (given up when asked) or, with `fixed`, as state
/// that cannot be given up.
#[derive(Default)]
struct Keeper {
    fixed: bool,
    gave_way: Vec<FlowId>,
    events: Vec<(FlowId, Ev)>,
    table_notices: Vec<TcpNotice>,
}

impl StreamHandler for Keeper {
    type State = usize;
    crate::closed_flows_keep_their_state!(usize);

    fn on_event(
        &mut self,
        meta: &FlowMeta,
        kept: &mut usize,
        _pkt: Option<PacketRef>,
        event: StreamEvent<'_>,
    ) {
        let ev = match event {
            StreamEvent::Data { bytes, .. } => {
                *kept += bytes.len();
                Ev::Data(bytes.len())
            }
            StreamEvent::Gap { len, .. } => Ev::Gap(len),
            StreamEvent::Notice { dir, notice } => Ev::Notice(dir, notice),
            StreamEvent::Closed { how } => Ev::Closed(how),
            StreamEvent::Opened | StreamEvent::End { .. } | StreamEvent::Control { .. } => return,
        };
        self.events.push((meta.id, ev));
    }

    fn held(&self, kept: &usize) -> Held {
        if self.fixed {
            Held::fixed(*kept)
        } else {
            Held::buffers(*kept)
        }
    }

    fn held_closed(&self, kept: &usize) -> Held {
        self.held(kept)
    }

    fn give_way(&mut self, meta: &FlowMeta, kept: &mut usize, _pkt: Option<PacketRef>) {
        self.gave_way.push(meta.id);
        if !self.fixed {
            *kept = 0;
        }
    }

    fn on_table_notice(&mut self, _pkt: PacketRef, notice: TcpNotice) {
        self.table_notices.push(notice);
    }
}

struct Fixture {
    table: FlowTable<Keeper>,
    keeper: Keeper,
    frame: u64,
}

/// Room for the flows of a test (entries, rings, side tables: a few KB) and about 80 KB more.
const LIMIT: usize = 100_000;

impl Fixture {
    fn new(fixed: bool) -> Fixture {
        let mut config = Config::default();
        config.limits.memory = LIMIT;
        Fixture {
            table: FlowTable::new(&config, None),
            keeper: Keeper {
                fixed,
                ..Keeper::default()
            },
            frame: 0,
        }
    }

    fn send(&mut self, client: u8, from_client: bool, seq: u32, flags: u16, payload: &[u8]) {
        self.frame += 1;
        let c: SocketAddr = ([10, 0, 0, client], 40000).into();
        let s: SocketAddr = ([10, 0, 0, 200], 80).into();
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        let seg = Segment {
            frame: self.frame,
            ts: Timestamp(1_000_000_000 + self.frame as i64 * 1_000_000),
            src,
            dst,
            seq,
            ack: 1,
            flags: TcpFlags(flags),
            window: 65535,
            window_scale: None,
            payload,
            missing: 0,
            ip_header_len: 20,
            tcp_header_len: 20,
        };
        self.table.process(&seg, &mut self.keeper);
    }

    /// Flow from client `client`: SYN, then `len` bytes (client ISN 0: data starts at 1).
    fn open_with(&mut self, client: u8, len: usize) {
        self.send(client, true, 0, SYN, b"");
        self.send(client, true, 1, ACK | PSH, &vec![b'x'; len]);
    }

    fn held(&self) -> Held {
        self.table.memory().held()
    }
}

#[test]
fn the_largest_holders_give_way_first_and_only_down_to_the_low_water_mark() {
    let mut f = Fixture::new(false);
    f.open_with(1, 10_000);
    f.open_with(2, 40_000);
    f.open_with(3, 25_000);
    assert!(f.keeper.gave_way.is_empty(), "{:?}", f.held());
    // The fourth flow's 30 KB pass the limit: the largest (flow 2) gives way, which is enough.
    f.open_with(4, 30_000);
    assert_eq!(f.keeper.gave_way, [2]);
    assert!(f.held().total() <= f.table.memory().low_water());
    // Flow 4 grows to be the largest: it goes next, then flow 3.
    f.send(4, true, 30_001, ACK | PSH, &[b'y'; 40_000]);
    assert_eq!(f.keeper.gave_way, [2, 4]);
    f.open_with(5, 70_000);
    assert_eq!(f.keeper.gave_way, [2, 4, 5]);
    f.table.finish(&mut f.keeper);
    assert_eq!(
        f.held().buffers,
        0,
        "every charge returned when the flows end"
    );
}

#[test]
fn out_of_order_bytes_are_delivered_early_before_the_handler_gives_way() {
    let mut f = Fixture::new(false);
    f.send(1, true, 0, SYN, b"");
    // 100 bytes lost before the capture; 60 KB buffered behind them, then 40 KB more.
    f.send(1, true, 101, ACK | PSH, &[b'x'; 60_000]);
    assert_eq!(f.held().buffers, 60_000 + reassembly::CHUNK_OVERHEAD);
    f.send(1, true, 60_101, ACK | PSH, &[b'x'; 40_000]);
    let events: Vec<&Ev> = f.keeper.events.iter().map(|(_, e)| e).collect();
    assert_eq!(
        events,
        [
            &Ev::Notice(Some(Dir::C2S), TcpNotice::BudgetOoo { bytes: 100_000 }),
            &Ev::Gap(100),
            &Ev::Data(60_000),
            &Ev::Data(40_000),
        ]
    );
    assert_eq!(
        f.keeper.gave_way,
        [1],
        "then the handler gave up what it was given"
    );
    assert_eq!(f.held().buffers, 0);
    // Delivery goes on after what was buffered.
    f.send(1, true, 100_101, ACK | PSH, b"more");
    assert_eq!(f.keeper.events.last(), Some(&(1, Ev::Data(4))));
}

#[test]
fn flows_with_nothing_to_give_up_are_evicted_largest_first_and_stay_out() {
    let mut f = Fixture::new(true);
    f.open_with(1, 30_000);
    f.open_with(2, 45_000);
    f.open_with(3, 30_000);
    // Over the limit with no buffers: the largest flow ends, which is enough.
    let evicted: Vec<FlowId> = f
        .keeper
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Ev::Closed(CloseHow::Evicted)))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(evicted, [2]);
    let notice =
        f.keeper.events.iter().find(|(id, e)| {
            *id == 2 && matches!(e, Ev::Notice(None, TcpNotice::BudgetEvicted { .. }))
        });
    assert!(notice.is_some(), "{:?}", f.keeper.events);
    assert!(!f.table.memory().is_over());
    assert_eq!(f.table.stats().flows_evicted, 1);
    // Its later packets are stray: they do not start a new flow.
    let created = f.table.stats().flows_created;
    f.send(2, true, 45_001, ACK | PSH, b"late");
    assert_eq!(f.table.stats().flows_created, created);
    assert_eq!(f.table.stats().stray_packets, 1);
}

#[test]
fn new_flows_are_not_tracked_when_the_budget_cannot_hold_them() {
    let mut f = Fixture::new(true);
    // Flows of ordinary size filling the budget are not ended to make room for more.
    for client in 1..=3 {
        f.open_with(client, 31_000);
    }
    let before = f.table.stats().flows_created;
    for client in 4..=9 {
        f.open_with(client, 100);
    }
    assert_eq!(f.table.stats().flows_created, before);
    assert_eq!(f.table.stats().flows_dropped_by_cap, 6);
    assert_eq!(
        f.table.stats().flows_dropped_by_budget,
        6,
        "counted as refused by the budget, not by the flow cap"
    );
    assert_eq!(
        f.keeper.table_notices,
        [TcpNotice::BudgetFull],
        "reported once"
    );
    assert!(
        !f.keeper
            .events
            .iter()
            .any(|(_, e)| matches!(e, Ev::Closed(_))),
        "nobody was evicted"
    );
}

#[test]
fn a_reset_flow_is_charged_while_it_lingers_and_finalised_first_under_pressure() {
    let mut f = Fixture::new(false);
    f.open_with(1, 30_000);
    f.open_with(2, 40_000);
    let before = f.held();
    // A RST (nothing to judge it by: accepted) ends flow 1, which lingers with its streams and
    // the handler's state, in case the connection outlives the RST.
    f.send(1, true, 30_001, RST | ACK, b"");
    assert!(
        !f.keeper
            .events
            .iter()
            .any(|(_, e)| matches!(e, Ev::Closed(_))),
        "{:?}",
        f.keeper.events
    );
    // (The queue of closing flows grew: fixed state of the table's own.)
    assert_eq!(
        f.held().buffers,
        before.buffers,
        "still charged what it holds"
    );
    assert!(f.held().fixed >= before.fixed);
    // Data in flight behind the RST is analysed as usual, and charged.
    f.send(1, true, 30_001, ACK | PSH, &[b'z'; 5_000]);
    assert_eq!(f.keeper.events.last(), Some(&(1, Ev::Data(5_000))));
    assert_eq!(f.held().buffers, before.buffers + 5_000);
    // Flow 2 passes the limit: the lingering flow is finalised before anyone gives way, and
    // that is enough.
    f.send(2, true, 40_001, ACK | PSH, &[b'y'; 30_000]);
    let closed: Vec<&(FlowId, Ev)> = f
        .keeper
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Ev::Closed(_)))
        .collect();
    assert_eq!(closed, [&(1, Ev::Closed(CloseHow::Rst))]);
    assert_eq!(f.table.stats().lingers_cut_short, 1);
    assert!(f.keeper.gave_way.is_empty(), "{:?}", f.keeper.gave_way);
    assert!(f.held().total() <= f.table.memory().low_water());
    assert_eq!(f.held().buffers, 70_000, "flow 2's bytes only");
}
