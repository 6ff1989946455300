//! Flow-table scenarios and reassembly properties, driven through the public API with
//! hand-built [`Segment`]s.

use super::*;
use crate::config::{Config, PortFilter};
use crate::decode::{Segment, TcpFlags};
use crate::time::Timestamp;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const SYN: u16 = TcpFlags::SYN;
const ACK: u16 = TcpFlags::ACK;
const FIN: u16 = TcpFlags::FIN;
const RST: u16 = TcpFlags::RST;
const PSH: u16 = TcpFlags::PSH;
/// IPv4 header + TCP header with timestamps, as most captures have.
const HDRS: u64 = 20 + 32;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Opened,
    Data(Dir, Vec<u8>),
    Gap(Dir, u64),
    End(Dir),
    Notice(Option<Dir>, TcpNotice),
    Closed(CloseHow),
}

/// What the recorder checks as events arrive, per flow.
#[derive(Default)]
struct FlowCheck {
    opened: bool,
    closed: bool,
    ended: [bool; 2],
    stream_bytes: [u64; 2],
    gap_bytes: [u64; 2],
    /// `on_streams_done` was called: nothing may be delivered after it.
    streams_done: bool,
}

/// Records every event and asserts the handler contract on each one.
#[derive(Default)]
struct Recorder {
    events: Vec<(FlowId, Option<u64>, Ev)>,
    metas: BTreeMap<FlowId, FlowMeta>,
    checks: BTreeMap<FlowId, FlowCheck>,
    table_notices: Vec<TcpNotice>,
    /// `Control` events, kept apart from `events`: flow, packet, direction, flags.
    controls: Vec<(FlowId, u64, Dir, TcpFlags)>,
    /// The direction of the packet of each of `events`, in step with it.
    pkt_dirs: Vec<Option<Dir>>,
}

impl StreamHandler for Recorder {
    /// Events seen by this flow: proves the state lives with the flow.
    type State = u64;
    crate::closed_flows_keep_their_state!(u64);

    fn on_event(
        &mut self,
        meta: &FlowMeta,
        state: &mut u64,
        pkt: Option<PacketRef>,
        event: StreamEvent<'_>,
    ) {
        *state += 1;
        let check = self.checks.entry(meta.id).or_default();
        assert!(!check.closed, "event after Closed: {event:?}");
        assert!(
            check.opened || matches!(event, StreamEvent::Opened),
            "event before Opened: {event:?}"
        );
        // Every event a packet of the flow caused says the packet's direction.
        assert!(
            pkt.is_none_or(|p| p.dir.is_some()),
            "packet without direction: {event:?}"
        );
        let ev = match event {
            StreamEvent::Control { dir, flags } => {
                let p = pkt.expect("Control comes with its packet");
                assert_eq!(p.dir, Some(dir));
                assert!(flags.syn() || flags.fin() || flags.rst());
                self.controls.push((meta.id, p.frame, dir, flags));
                return;
            }
            StreamEvent::Opened => {
                assert!(!check.opened, "Opened twice");
                assert_eq!(*state, 1);
                check.opened = true;
                Ev::Opened
            }
            StreamEvent::Data { dir, bytes } => {
                assert!(!bytes.is_empty());
                assert!(!check.ended[dir.index()], "data after End");
                assert!(!check.streams_done, "data after the streams were done");
                check.stream_bytes[dir.index()] += bytes.len() as u64;
                Ev::Data(dir, bytes.to_vec())
            }
            StreamEvent::Gap { dir, len } => {
                assert!(len > 0);
                assert!(!check.ended[dir.index()], "gap after End");
                assert!(!check.streams_done, "gap after the streams were done");
                check.stream_bytes[dir.index()] += len;
                check.gap_bytes[dir.index()] += len;
                Ev::Gap(dir, len)
            }
            StreamEvent::End { dir } => {
                assert!(!check.ended[dir.index()], "End twice");
                check.ended[dir.index()] = true;
                Ev::End(dir)
            }
            StreamEvent::Notice { dir, notice } => Ev::Notice(dir, notice),
            StreamEvent::Closed { how } => {
                assert!(check.streams_done, "Closed before the streams were done");
                check.closed = true;
                Ev::Closed(how)
            }
        };
        assert_eq!(meta.payload_bytes, check.stream_bytes);
        assert_eq!(meta.gap_bytes, check.gap_bytes);
        self.metas.insert(meta.id, meta.clone());
        self.events.push((meta.id, pkt.map(|p| p.frame), ev));
        self.pkt_dirs.push(pkt.and_then(|p| p.dir));
    }

    fn on_streams_done(&mut self, meta: &FlowMeta, _state: &mut u64, _pkt: Option<PacketRef>) {
        let check = self.checks.entry(meta.id).or_default();
        assert!(check.opened, "streams done before Opened");
        assert!(!check.closed, "streams done after Closed");
        check.streams_done = true;
    }

    fn on_table_notice(&mut self, _pkt: PacketRef, notice: TcpNotice) {
        self.table_notices.push(notice);
    }
}

impl Recorder {
    /// A flow's events with adjacent data of one direction merged.
    fn flow(&self, id: FlowId) -> Vec<Ev> {
        let mut out: Vec<Ev> = Vec::new();
        for (_, _, ev) in self.events.iter().filter(|(f, _, _)| *f == id) {
            if let (Some(Ev::Data(d0, prev)), Ev::Data(d1, more)) = (out.last_mut(), ev)
                && d0 == d1
            {
                prev.extend_from_slice(more);
                continue;
            }
            out.push(ev.clone());
        }
        out
    }

    fn meta(&self, id: FlowId) -> &FlowMeta {
        self.metas.get(&id).expect("flow has had events")
    }

    fn all_closed(&self) -> bool {
        self.checks.values().all(|c| c.opened && c.closed)
    }

    /// The flows closed by their FINs so far, in the order they were finalised.
    fn closed_by_fins(&self) -> Vec<FlowId> {
        let ends = self.events.iter();
        let ends = ends.filter(|e| matches!(e.2, Ev::Closed(CloseHow::Fin)));
        ends.map(|e| e.0).collect()
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn data(dir: Dir, bytes: &[u8]) -> Ev {
    Ev::Data(dir, bytes.to_vec())
}

/// A flow table, a recorder and a clock.
struct Fixture {
    table: FlowTable<Recorder>,
    rec: Recorder,
    frame: u64,
    /// Capture time, milliseconds.
    now_ms: i64,
    /// The Window Scale option every SYN and SYN-ACK sent carries.
    window_scale: Option<u8>,
    /// What the table said of each packet sent.
    placed: Vec<Option<Placed>>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_config(Config::default(), None)
    }

    fn with_config(config: Config, hint: Option<RoleHint>) -> Fixture {
        Fixture {
            table: FlowTable::new(&config, hint),
            rec: Recorder::default(),
            frame: 0,
            now_ms: 1_000_000,
            window_scale: None,
            placed: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_full(
        &mut self,
        src: &str,
        dst: &str,
        seq: u32,
        ack: u32,
        flags: u16,
        window: u16,
        payload: &[u8],
        missing: u32,
    ) -> u64 {
        self.frame += 1;
        self.now_ms += 1;
        let seg = Segment {
            frame: self.frame,
            ts: Timestamp(self.now_ms * 1_000_000),
            src: addr(src),
            dst: addr(dst),
            seq,
            ack,
            flags: TcpFlags(flags),
            window,
            payload,
            missing,
            ip_header_len: 20,
            tcp_header_len: 32,
            window_scale: if flags & SYN != 0 {
                self.window_scale
            } else {
                None
            },
        };
        let placed = self.table.process(&seg, &mut self.rec);
        self.placed.push(placed);
        self.frame
    }

    fn send(
        &mut self,
        src: &str,
        dst: &str,
        seq: u32,
        ack: u32,
        flags: u16,
        payload: &[u8],
    ) -> u64 {
        self.send_full(src, dst, seq, ack, flags, 65535, payload, 0)
    }

    fn advance(&mut self, d: Duration) {
        self.now_ms += i64::try_from(d.as_millis()).expect("small duration");
    }

    fn finish(&mut self) {
        self.table.finish(&mut self.rec);
    }
}

const C: &str = "10.0.0.1:51000";
const S: &str = "10.0.0.2:80";

/// A connection with sequence bookkeeping: `c`/`s` are the next sequence numbers.
struct Conn {
    c_addr: &'static str,
    s_addr: &'static str,
    c: u32,
    s: u32,
}

impl Conn {
    fn new(c_isn: u32, s_isn: u32) -> Conn {
        Conn::between(C, S, c_isn, s_isn)
    }

    fn between(c_addr: &'static str, s_addr: &'static str, c_isn: u32, s_isn: u32) -> Conn {
        Conn {
            c_addr,
            s_addr,
            c: c_isn,
            s: s_isn,
        }
    }

    fn handshake(&mut self, f: &mut Fixture) {
        f.send(self.c_addr, self.s_addr, self.c, 0, SYN, b"");
        self.c = self.c.wrapping_add(1);
        f.send(self.s_addr, self.c_addr, self.s, self.c, SYN | ACK, b"");
        self.s = self.s.wrapping_add(1);
        f.send(self.c_addr, self.s_addr, self.c, self.s, ACK, b"");
    }

    /// The server's SYN-ACK to the client's SYN (ISN `self.c`, sent before), both ISNs then
    /// consumed; `ack` also sends the client's ACK that completes the handshake.
    fn answer_syn(&mut self, f: &mut Fixture, ack: bool) {
        self.c = self.c.wrapping_add(1);
        f.send(self.s_addr, self.c_addr, self.s, self.c, SYN | ACK, b"");
        self.s = self.s.wrapping_add(1);
        if ack {
            f.send(self.c_addr, self.s_addr, self.c, self.s, ACK, b"");
        }
    }

    fn c2s(&mut self, f: &mut Fixture, payload: &[u8]) -> u64 {
        let frame = f.send(self.c_addr, self.s_addr, self.c, self.s, ACK | PSH, payload);
        self.c = self.c.wrapping_add(payload.len() as u32);
        frame
    }

    fn s2c(&mut self, f: &mut Fixture, payload: &[u8]) -> u64 {
        let frame = f.send(self.s_addr, self.c_addr, self.s, self.c, ACK | PSH, payload);
        self.s = self.s.wrapping_add(payload.len() as u32);
        frame
    }

    /// Both FINs and the last ACK, client first.
    fn close(&mut self, f: &mut Fixture) {
        f.send(self.c_addr, self.s_addr, self.c, self.s, FIN | ACK, b"");
        self.c = self.c.wrapping_add(1);
        f.send(self.s_addr, self.c_addr, self.s, self.c, FIN | ACK, b"");
        self.s = self.s.wrapping_add(1);
        f.send(self.c_addr, self.s_addr, self.c, self.s, ACK, b"");
    }
}

#[test]
fn complete_connection_in_order() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(1000, 5000);
    conn.handshake(&mut f);
    let req = conn.c2s(&mut f, b"GET / HTTP/1.1\r\n\r\n");
    let resp = conn.s2c(&mut f, b"HTTP/1.1 200 OK\r\n\r\n");
    conn.close(&mut f);
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"GET / HTTP/1.1\r\n\r\n"),
            data(Dir::S2C, b"HTTP/1.1 200 OK\r\n\r\n"),
            Ev::End(Dir::C2S),
            Ev::End(Dir::S2C),
        ],
        "both FINs delivered: the flow lingers for its last ACK"
    );
    assert_eq!(f.table.len(), 1);
    assert!(
        f.rec.checks[&1].streams_done,
        "a lingering flow is told at once that its streams are done, so it can free its parsers"
    );
    // Any later packet past the linger finalises it (here one of another flow).
    f.advance(Duration::from_secs(6));
    f.send("10.9.9.9:4000", S, 1, 0, SYN, b"");
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Fin)));
    // Opened fires at the SYN; data events carry their own packet; the linger's end none.
    let frames: Vec<Option<u64>> = f
        .rec
        .events
        .iter()
        .filter(|e| e.0 == 1)
        .map(|(_, fr, _)| *fr)
        .collect();
    assert_eq!(
        frames,
        vec![Some(1), Some(req), Some(resp), Some(6), Some(7), None]
    );
    let meta = f.rec.meta(1);
    assert_eq!(meta.id, 1);
    assert_eq!(meta.client, addr(C));
    assert_eq!(meta.server, addr(S));
    assert_eq!(meta.role_basis, RoleBasis::Syn);
    assert_eq!(meta.packets, 8, "the last ACK belongs to the flow");
    assert_eq!(meta.payload_bytes, [18, 19]);
    assert_eq!(meta.tcpip_header_bytes, [5 * HDRS, 3 * HDRS]);
    assert_eq!(meta.gap_bytes, [0, 0]);
    assert!(meta.syn_seen && meta.fin_seen == [true, true] && !meta.rst_seen);
    assert_eq!(meta.first_ts, Timestamp(1_000_001 * 1_000_000));
    assert_eq!(
        meta.last_ts,
        Timestamp(1_000_008 * 1_000_000),
        "the flow ends with its last ACK"
    );
    assert_eq!(f.table.stats().stray_packets, 0);
    assert_eq!(f.table.stats().flows_created, 2);
    assert_eq!(f.table.len(), 1, "only the new flow is left");
    f.finish();
    assert!(f.rec.all_closed());
}

#[test]
fn control_packets_directions_and_placement_are_told() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(1000, 5000);
    conn.handshake(&mut f);
    conn.c2s(&mut f, b"GET / HTTP/1.1\r\n\r\n");
    conn.s2c(&mut f, b"HTTP/1.1 200 OK\r\n\r\n");
    conn.close(&mut f);
    // A FIN sent again while the flow lingers is still the connection's.
    f.send(C, S, conn.c - 1, conn.s, FIN | ACK, b"");
    f.send("10.0.0.1:51000", "10.0.0.2:22", 1, 0, SYN, b"");
    let controls: Vec<(FlowId, u64, Dir, u16)> = f
        .rec
        .controls
        .iter()
        .map(|&(flow, frame, dir, flags)| (flow, frame, dir, flags.0))
        .collect();
    assert_eq!(
        controls,
        [
            (1, 1, Dir::C2S, SYN),
            (1, 2, Dir::S2C, SYN | ACK),
            (1, 6, Dir::C2S, FIN | ACK),
            (1, 7, Dir::S2C, FIN | ACK),
            (1, 9, Dir::C2S, FIN | ACK),
        ]
    );
    // Opened (the SYN), the request, the response, both ends: each with its packet's direction.
    assert_eq!(
        f.rec.pkt_dirs,
        [
            Some(Dir::C2S),
            Some(Dir::C2S),
            Some(Dir::S2C),
            Some(Dir::C2S),
            Some(Dir::S2C)
        ]
    );
    let placed = |dir, payload_len| Some((1, dir, payload_len));
    let got: Vec<_> = f
        .placed
        .iter()
        .map(|p| p.map(|p| (p.flow, p.dir, p.payload_len)))
        .collect();
    assert_eq!(
        got,
        [
            placed(Dir::C2S, 0),
            placed(Dir::S2C, 0),
            placed(Dir::C2S, 0),
            placed(Dir::C2S, 18),
            placed(Dir::S2C, 19),
            placed(Dir::C2S, 0),
            placed(Dir::S2C, 0),
            placed(Dir::C2S, 0),
            placed(Dir::C2S, 0),
            None,
        ],
        "every packet of the flow is placed in it; one on another port in none"
    );
    let first = f.placed[0].expect("the SYN is placed");
    assert_eq!((first.flags.0, first.seq, first.ack), (SYN, 1000, 0));
}

#[test]
fn closing_flow_absorbs_retransmitted_fin_and_its_ack_then_lingers_no_longer() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(1000, 5000);
    conn.handshake(&mut f);
    conn.c2s(&mut f, b"hi");
    conn.close(&mut f);
    // The last ACK was lost after the capture point: the client re-sends its FIN after a
    // retransmission timeout, and the server acknowledges it again.
    f.advance(Duration::from_millis(200));
    f.send(C, S, conn.c - 1, conn.s, FIN | ACK, b"");
    f.send(S, C, conn.s, conn.c, ACK, b"");
    assert_eq!(f.table.len(), 1);
    let last = f.now_ms;
    // The linger counts from the flow's last packet.
    f.advance(Duration::from_millis(4_990));
    f.send("10.9.9.9:4000", S, 1, 0, SYN, b"");
    assert!(f.rec.flow(1).iter().all(|e| !matches!(e, Ev::Closed(_))));
    f.advance(Duration::from_millis(20));
    f.send("10.9.9.9:4000", S, 1, 0, SYN, b"");
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Fin)));
    let meta = f.rec.meta(1);
    assert_eq!(meta.packets, 9);
    assert_eq!(meta.last_ts, Timestamp(last * 1_000_000));
    assert_eq!(meta.payload_bytes, [2, 0], "a FIN carries no data");
    // After the linger, the tuple is a tombstone: its strays are counted, not a flow.
    f.send(S, C, conn.s, conn.c, ACK, b"");
    assert_eq!(f.table.stats().stray_packets, 1);
    assert_eq!(f.table.stats().flows_created, 2);
}

/// A live capture with no more packets moves the clock by itself: the closed flow is finalised
/// when its linger is over, and an idle one at its timeout, without waiting for a packet.
#[test]
fn advancing_the_clock_without_packets_finalises_closed_and_idle_flows() {
    let mut config = Config::default();
    config.limits.idle_timeout = Duration::from_secs(60);
    let mut f = Fixture::with_config(config, None);
    let mut closed = Conn::new(1000, 5000);
    closed.handshake(&mut f);
    closed.c2s(&mut f, b"hi");
    closed.close(&mut f);
    let mut idle = Conn::between("10.0.0.2:40001", S, 2000, 7000);
    idle.handshake(&mut f);
    idle.c2s(&mut f, b"still here");
    let t0 = f.now_ms;
    let at = |ms: i64| Timestamp((t0 + ms) * 1_000_000);

    f.table.advance_clock(at(4_000), &mut f.rec);
    assert!(f.rec.flow(1).iter().all(|e| !matches!(e, Ev::Closed(_))));
    f.table.advance_clock(at(5_100), &mut f.rec);
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Fin)));
    assert_eq!(f.table.len(), 1);
    // Going back in time (a late tick) changes nothing.
    f.table.advance_clock(at(1_000), &mut f.rec);
    assert_eq!(f.table.len(), 1);
    // The idle sweep runs every timeout / 8 of clock; past the timeout the flow goes.
    f.table.advance_clock(at(60_000 + 8_000), &mut f.rec);
    f.table.advance_clock(at(60_000 + 16_000), &mut f.rec);
    assert_eq!(f.rec.flow(2).last(), Some(&Ev::Closed(CloseHow::Idle)));
    assert!(f.table.is_empty());
    assert_eq!(f.table.stats().stray_packets, 0);
}

#[test]
fn closing_queue_stays_bounded_while_closing_flows_absorb_packets() {
    let mut f = Fixture::new();
    const CLIENTS: [&str; 10] = [
        "10.2.0.0:1000",
        "10.2.0.1:1000",
        "10.2.0.2:1000",
        "10.2.0.3:1000",
        "10.2.0.4:1000",
        "10.2.0.5:1000",
        "10.2.0.6:1000",
        "10.2.0.7:1000",
        "10.2.0.8:1000",
        "10.2.0.9:1000",
    ];
    let mut conns: Vec<Conn> = CLIENTS.iter().map(|c| Conn::between(c, S, 1, 2)).collect();
    for conn in &mut conns {
        conn.handshake(&mut f);
        conn.close(&mut f);
    }
    // Every late packet moves its flow's deadline; the flow keeps its one entry in the queue.
    for _ in 0..100 {
        for conn in &conns {
            f.send(conn.c_addr, S, conn.c, conn.s, ACK, b"");
            assert_eq!(f.table.closing_queue_len(), 10);
        }
    }
    assert_eq!(f.table.len(), 10);
    assert!(f.rec.events.iter().all(|e| !matches!(e.2, Ev::Closed(_))));
    f.advance(Duration::from_secs(6));
    f.send("10.9.9.9:4000", S, 1, 0, SYN, b"");
    assert_eq!(
        f.table.len(),
        1,
        "all ten finalised, in the order they lingered"
    );
    assert_eq!(f.rec.closed_by_fins(), (1..=10).collect::<Vec<_>>());
    assert!((1..=10).all(|id| f.rec.meta(id).packets == 106));
}

/// A late packet moves its flow's deadline past those of flows that closed after it: the flows
/// are finalised by their deadlines then, whatever order they started lingering in.
#[test]
fn a_late_packet_moves_its_flow_behind_the_flows_that_closed_after_it() {
    let mut f = Fixture::new();
    let mut conns: Vec<Conn> = ["10.3.0.1:1000", "10.3.0.2:1000", "10.3.0.3:1000"]
        .iter()
        .map(|c| Conn::between(c, S, 1, 2))
        .collect();
    for conn in &mut conns {
        conn.handshake(&mut f);
    }
    conns[0].close(&mut f);
    conns[1].close(&mut f);
    // The first flow's retransmitted FIN, after the second closed and before the third did.
    f.send(
        conns[0].c_addr,
        S,
        conns[0].c - 1,
        conns[0].s,
        FIN | ACK,
        b"",
    );
    conns[2].close(&mut f);
    assert_eq!(f.table.closing_queue_len(), 3);
    // A packet a millisecond past the second flow's deadline (its last ACK 3 ms after the
    // first flow's, and the first flow's FIN a millisecond later still): only it is over.
    f.advance(Duration::from_millis(4_996));
    f.send("10.9.9.9:4000", S, 1, 0, SYN, b"");
    assert_eq!(f.rec.closed_by_fins(), [2]);
    f.advance(Duration::from_secs(1));
    f.send("10.9.9.9:4000", S, 2, 0, SYN, b"");
    assert_eq!(f.rec.closed_by_fins(), [2, 1, 3]);
    assert_eq!(f.rec.meta(1).packets, 7);
}

#[test]
fn a_connection_closed_by_both_fins_lingers_outside_the_flow_cap() {
    let mut config = Config::default();
    config.limits.max_flows = 1;
    let mut f = Fixture::with_config(config, None);
    let mut a = Conn::new(1, 2);
    a.handshake(&mut f);
    a.close(&mut f);
    let mut b = Conn::between("10.0.0.9:2000", S, 1, 2);
    b.handshake(&mut f);
    assert_eq!(f.table.len(), 2, "both tracked, the closed one lingering");
    assert_eq!(f.table.stats().flows_dropped_by_cap, 0);
    assert!(f.rec.table_notices.is_empty());
    assert_eq!(f.table.stats().lingers_cut_short, 0);
    // Its late ACK is still its own: three packets of handshake, three of closing, and it.
    f.send(a.c_addr, S, a.c, a.s, ACK, b"");
    assert_eq!(f.table.stats().stray_packets, 0);
    f.advance(Duration::from_secs(6));
    // The cap still holds open connections to one (the linger is over at this packet).
    let mut c = Conn::between("10.0.0.10:2000", S, 1, 2);
    c.handshake(&mut f);
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Fin)));
    assert_eq!(f.rec.meta(1).packets, 7);
    assert_eq!(f.table.stats().flows_dropped_by_cap, 1);
}

#[test]
fn a_full_table_finalises_a_reset_flow_to_make_room() {
    let mut config = Config::default();
    config.limits.max_flows = 1;
    let mut f = Fixture::with_config(config, None);
    let mut a = Conn::new(1, 2);
    a.handshake(&mut f);
    f.send(S, a.c_addr, a.s, a.c, RST | ACK, b"");
    let mut b = Conn::between("10.0.0.9:2000", S, 1, 2);
    b.handshake(&mut f);
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Rst)));
    assert_eq!(f.rec.meta(2).client, addr("10.0.0.9:2000"));
    assert_eq!(f.table.stats().flows_dropped_by_cap, 0);
    assert!(f.rec.table_notices.is_empty());
    // Counted, for the summary: its late packets are strays now.
    assert_eq!(f.table.stats().lingers_cut_short, 1);
    f.send(a.c_addr, S, a.c, a.s, ACK, b"");
    assert_eq!(f.table.stats().stray_packets, 1);
    // A linger that runs its course is not counted.
    b.close(&mut f);
    f.advance(Duration::from_secs(6));
    f.finish();
    assert_eq!(f.rec.flow(2).last(), Some(&Ev::Closed(CloseHow::Fin)));
    assert_eq!(f.table.stats().lingers_cut_short, 1);
}

#[test]
fn end_of_input_finalises_closing_flows_in_id_order() {
    let mut f = Fixture::new();
    let mut a = Conn::between("10.0.0.7:1000", S, 1, 2);
    let mut b = Conn::between("10.0.0.8:1000", S, 1, 2);
    a.handshake(&mut f);
    b.handshake(&mut f);
    b.close(&mut f);
    a.c2s(&mut f, b"x");
    f.send(S, a.c_addr, a.s, a.c, RST | ACK, b"");
    f.finish();
    let closes: Vec<(FlowId, Option<u64>, Ev)> = f
        .rec
        .events
        .iter()
        .filter(|e| matches!(e.2, Ev::Closed(_)))
        .cloned()
        .collect();
    assert_eq!(
        closes,
        vec![
            (1, None, Ev::Closed(CloseHow::Rst)),
            (2, None, Ev::Closed(CloseHow::Fin))
        ]
    );
}

#[test]
fn handler_state_lives_with_its_flow() {
    let mut f = Fixture::new();
    let mut a = Conn::new(1, 1);
    let mut b = Conn::between("10.0.0.3:40000", S, 7, 7);
    a.handshake(&mut f);
    b.handshake(&mut f);
    a.c2s(&mut f, b"a1");
    b.c2s(&mut f, b"b1");
    a.c2s(&mut f, b"a2");
    f.finish();
    // The State counter reached the flow's number of events (checked at Opened == 1 too).
    assert_eq!(f.rec.events.iter().filter(|e| e.0 == 1).count(), 4);
    assert_eq!(f.rec.events.iter().filter(|e| e.0 == 2).count(), 3);
}

#[test]
fn out_of_order_segments_are_delivered_from_the_buffer_when_the_hole_fills() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    let start = conn.c;
    f.send(C, S, start + 5, conn.s, ACK, b"world");
    assert_eq!(f.table.buffered_bytes(), 5 + reassembly::CHUNK_OVERHEAD);
    let filler = f.send(C, S, start, conn.s, ACK, b"hello");
    assert_eq!(
        f.rec.flow(1),
        vec![Ev::Opened, data(Dir::C2S, b"helloworld")]
    );
    let frames: Vec<_> = f.rec.events.iter().skip(1).map(|e| e.1).collect();
    assert_eq!(
        frames,
        vec![Some(filler), Some(filler)],
        "delivered by the filling packet"
    );
    assert_eq!(f.table.buffered_bytes(), 0);
}

#[test]
fn retransmission_and_overlaps_deliver_new_bytes_only() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    let c0 = conn.c;
    f.send(C, S, c0, conn.s, ACK, b"abcd");
    f.send(C, S, c0, conn.s, ACK, b"abcd"); // retransmission
    f.send(C, S, c0 + 2, conn.s, ACK, b"cdef"); // partial overlap
    f.send(C, S, c0 + 1, conn.s, ACK, b"bc"); // full overlap
    f.finish();
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"abcdef"),
            Ev::Closed(CloseHow::EndOfInput)
        ]
    );
    assert_eq!(
        f.rec.meta(1).payload_bytes,
        [6, 0],
        "retransmissions are not counted"
    );
    assert_eq!(f.rec.meta(1).packets, 7);
}

#[test]
fn overlap_conflict_is_reported_with_direction() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    let s0 = conn.s;
    conn.s2c(&mut f, b"HTTP/1.1 200 OK");
    f.send(S, C, s0 + 9, conn.c, ACK, b"404");
    assert_eq!(
        f.rec.flow(1).last(),
        Some(&Ev::Notice(
            Some(Dir::S2C),
            TcpNotice::OverlapConflict { offset: 9, len: 3 }
        ))
    );
}

#[test]
fn syn_data_is_delivered() {
    let mut f = Fixture::new();
    f.send(C, S, 100, 0, SYN, b"GET /fast");
    f.send(S, C, 900, 110, SYN | ACK, b"HTTP/1.1");
    f.send(C, S, 110, 910, ACK, b" HTTP/1.1");
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"GET /fast"),
            data(Dir::S2C, b"HTTP/1.1"),
            data(Dir::C2S, b" HTTP/1.1"),
        ]
    );
    // A retransmitted SYN with the same data adds nothing.
    f.send(C, S, 100, 0, SYN, b"GET /fast");
    assert_eq!(f.rec.flow(1).len(), 4);
}

#[test]
fn keep_alive_probes_are_ignored() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    conn.c2s(&mut f, b"abc");
    f.send(C, S, conn.c - 1, conn.s, ACK, b"\0");
    f.send(C, S, conn.c - 1, conn.s, ACK, b"");
    conn.c2s(&mut f, b"d");
    assert_eq!(f.rec.flow(1), vec![Ev::Opened, data(Dir::C2S, b"abcd")]);
}

#[test]
fn zero_window_probe_is_not_data() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    conn.c2s(&mut f, b"abc");
    // The server's window is full.
    f.send_full(S, C, conn.s, conn.c, ACK, 0, b"", 0);
    f.send(C, S, conn.c, conn.s, ACK, b"d"); // probe
    f.send_full(S, C, conn.s, conn.c, ACK, 0, b"", 0); // probe refused
    assert_eq!(f.rec.flow(1), vec![Ev::Opened, data(Dir::C2S, b"abc")]);
    f.send_full(S, C, conn.s, conn.c, ACK, 4096, b"", 0); // window opens
    conn.c2s(&mut f, b"defg");
    assert_eq!(f.rec.flow(1), vec![Ev::Opened, data(Dir::C2S, b"abcdefg")]);
    assert_eq!(f.rec.meta(1).payload_bytes, [7, 0]);
}

#[test]
fn fin_from_both_sides_closes_after_all_data() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    let c0 = conn.c;
    // The client's FIN arrives before a segment it follows.
    f.send(C, S, c0 + 3, conn.s, FIN | ACK, b"def");
    f.send(S, C, conn.s, c0, FIN | ACK, b"");
    assert!(f.rec.flow(1).iter().all(|e| !matches!(e, Ev::Closed(_))));
    f.send(C, S, c0, conn.s + 1, ACK, b"abc");
    f.send(S, C, conn.s + 1, c0 + 7, ACK, b"");
    f.finish();
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            Ev::End(Dir::S2C),
            data(Dir::C2S, b"abcdef"),
            Ev::End(Dir::C2S),
            Ev::Closed(CloseHow::Fin),
        ]
    );
    assert_eq!(f.rec.meta(1).packets, 7);
}

#[test]
fn rst_delivers_what_it_can_then_closes() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    let c0 = conn.c;
    f.send(C, S, c0, conn.s, ACK, b"ab");
    f.send(C, S, c0 + 4, conn.s, ACK, b"ef"); // after a hole
    let rst = f.send(S, C, conn.s, c0 + 2, RST | ACK, b"reset reason");
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"ab"),
            Ev::Gap(Dir::C2S, 2),
            data(Dir::C2S, b"ef"),
        ]
    );
    assert!(
        f.rec.events[2..].iter().all(|e| e.1 == Some(rst)),
        "the RST gives up the hole at once"
    );
    assert_eq!(f.table.buffered_bytes(), 0);
    assert!(
        !f.rec.checks[&1].streams_done,
        "the streams stay while the flow lingers: the connection may outlive the RST"
    );
    // Data in flight when the RST was sent is on the wire all the same; the RST it draws from
    // the other side ends nothing more. Nobody acknowledges anything after the first RST.
    let late = f.send(C, S, c0 + 6, conn.s, ACK, b"gh");
    f.send(S, C, conn.s, c0 + 8, RST, b"");
    assert_eq!(f.rec.flow(1)[3..], [data(Dir::C2S, b"efgh")]);
    assert_eq!(f.rec.events.last().map(|e| e.1), Some(Some(late)));
    f.advance(Duration::from_secs(6));
    // A stray after the linger does not start a flow; the linger's end finalises the flow,
    // its streams done as of its last packet.
    f.send(C, S, c0 + 8, conn.s, ACK, b"ij");
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Rst)));
    assert!(f.rec.checks[&1].streams_done);
    assert!(
        !f.rec
            .events
            .iter()
            .any(|e| matches!(e.2, Ev::Notice(_, TcpNotice::RstIgnored { .. }))),
        "an accepted RST nobody outlived"
    );
    let meta = f.rec.meta(1);
    assert!(meta.rst_seen);
    assert_eq!(meta.packets, 8);
    assert_eq!(
        meta.payload_bytes,
        [8, 0],
        "the RST's payload is no stream data; data in flight behind it is"
    );
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(f.table.stats().stray_packets, 1);
    assert_eq!(f.table.buffered_bytes(), 0);
}

/// The notices a flow raised about RSTs, in order.
fn rst_notices(rec: &Recorder, id: FlowId) -> Vec<(Option<Dir>, TcpNotice)> {
    rec.flow(id)
        .into_iter()
        .filter_map(|e| match e {
            Ev::Notice(
                dir,
                n @ (TcpNotice::RstOutOfWindow { .. } | TcpNotice::RstIgnored { .. }),
            ) => Some((dir, n)),
            _ => None,
        })
        .collect()
}

/// RFC 5961 §3.2 / RFC 9293 §3.10.7.4: a RST whose sequence number is in the receive window
/// ends the connection, whether exactly at RCV.NXT or further in (a capture cannot tell where
/// RCV.NXT is exactly); one outside it is dropped by its receiver, and the flow goes on, the
/// RST reported.
#[test]
fn rst_in_the_window_ends_the_flow_outside_it_does_not() {
    // -6: between the server's last acknowledgment and the client's next number, still in.
    for (offset, ends) in [
        (0u32, true),
        (40_000, true),
        (70_000, false),
        (6u32.wrapping_neg(), true),
        (30u32.wrapping_neg(), false),
    ] {
        let mut f = Fixture::new();
        let mut conn = Conn::new(1000, 5000);
        conn.handshake(&mut f); // windows 65535, no scaling
        conn.c2s(&mut f, b"GET / HTTP/1.1\r\n\r\n");
        let rst = f.send(C, S, conn.c.wrapping_add(offset), conn.s, RST | ACK, b"");
        conn.s2c(&mut f, b"HTTP/1.1 200 OK\r\n\r\n");
        f.finish();
        let at = format!("RST {offset} past the client's next sequence number");
        let events = f.rec.flow(1);
        if ends {
            assert!(rst_notices(&f.rec, 1).is_empty(), "{at}");
            assert_eq!(events.last(), Some(&Ev::Closed(CloseHow::Rst)), "{at}");
            assert!(f.rec.meta(1).rst_seen, "{at}");
        } else {
            // From the server's last acknowledgment (its RCV.NXT can be no lower) to the
            // client's next sequence number plus the server's window.
            assert_eq!(
                rst_notices(&f.rec, 1),
                vec![(
                    Some(Dir::C2S),
                    TcpNotice::RstOutOfWindow {
                        refused_syn: false,
                        value: Some(conn.c.wrapping_add(offset)),
                        lo: 1001,
                        hi: conn.c.wrapping_add(65535),
                    }
                )],
                "{at}"
            );
            let notice_frame = f
                .rec
                .events
                .iter()
                .find(|e| matches!(e.2, Ev::Notice(_, TcpNotice::RstOutOfWindow { .. })))
                .map(|e| e.1);
            assert_eq!(notice_frame, Some(Some(rst)), "{at}");
            assert_eq!(
                events.last(),
                Some(&Ev::Closed(CloseHow::EndOfInput)),
                "{at}"
            );
            assert!(!f.rec.meta(1).rst_seen, "{at}: the RST ended nothing");
        }
        // Either way the response sent after it was on the wire and is delivered.
        assert!(
            events.contains(&data(Dir::S2C, b"HTTP/1.1 200 OK\r\n\r\n")),
            "{at}"
        );
    }
}

/// The receive window is scaled as the handshake agreed (RFC 7323 §2.2): a RST 1 MB ahead is
/// in a 65535 << 7 window, not in an unscaled one.
#[test]
fn the_receive_window_is_scaled_as_the_handshake_agreed() {
    for (scale, ends) in [(Some(7), true), (None, false)] {
        let mut f = Fixture::new();
        f.window_scale = scale;
        let mut conn = Conn::new(1000, 5000);
        conn.handshake(&mut f);
        f.send(C, S, conn.c.wrapping_add(1_000_000), conn.s, RST, b"");
        f.finish();
        let closed = f.rec.flow(1).last().cloned();
        let want = if ends {
            CloseHow::Rst
        } else {
            CloseHow::EndOfInput
        };
        assert_eq!(closed, Some(Ev::Closed(want)), "scale {scale:?}");
    }
}

/// The wild trigger: the server answers the SYN with a bare ACK whose acknowledgment is not
/// the SYN's (a stale connection's); the client, in SYN-SENT, answers with a RST carrying that
/// acknowledgment as its sequence number (RFC 9293 §3.10.7.3) and retransmits its SYN with
/// the same ISN; the handshake and a whole exchange follow. One flow, all of it analyzed, the
/// RST reported as one its receiver drops.
#[test]
fn rst_answering_a_stale_ack_does_not_end_the_connection_attempt() {
    let mut f = Fixture::new();
    let isn = 0x1000_0000u32;
    let bogus = isn.wrapping_add(0x6000_0000);
    f.send(C, S, isn, 0, SYN, b"");
    f.send(S, C, 777, bogus, ACK, b"");
    let rst = f.send(C, S, bogus, 0, RST, b"");
    f.send(C, S, isn, 0, SYN, b""); // retransmitted, same ISN
    let mut conn = Conn::new(isn, 9000);
    conn.answer_syn(&mut f, true);
    conn.c2s(&mut f, b"GET /big HTTP/1.1\r\n\r\n");
    conn.s2c(&mut f, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    conn.close(&mut f);
    f.finish();
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(
        rst_notices(&f.rec, 1),
        vec![(
            Some(Dir::C2S),
            TcpNotice::RstOutOfWindow {
                refused_syn: false,
                value: Some(bogus),
                lo: isn + 1,
                hi: isn + 2,
            }
        )]
    );
    assert!(f.rec.events.iter().any(|e| e.1 == Some(rst)));
    assert_eq!(
        f.rec.flow(1)[2..],
        [
            data(Dir::C2S, b"GET /big HTTP/1.1\r\n\r\n"),
            data(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
            Ev::End(Dir::C2S),
            Ev::End(Dir::S2C),
            Ev::Closed(CloseHow::Fin),
        ]
    );
    let meta = f.rec.meta(1);
    assert_eq!(meta.packets, 11);
    assert_eq!(meta.payload_bytes, [21, 41]);
    assert_eq!(
        meta.gap_bytes,
        [0, 0],
        "the stale ACK acknowledged nothing of ours"
    );
    assert!(!meta.rst_seen);
}

/// RFC 9293 §3.10.7.3: a RST answering a SYN is acceptable when it acknowledges the SYN (a
/// refused connection); one that acknowledges something else is dropped.
#[test]
fn rst_refusing_a_syn_must_acknowledge_it() {
    let mut f = Fixture::new();
    f.send(C, S, 100, 0, SYN, b"");
    f.send(S, C, 0, 101, RST | ACK, b"");
    f.finish();
    assert!(rst_notices(&f.rec, 1).is_empty());
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Rst)));

    let mut f = Fixture::new();
    f.send(C, S, 100, 0, SYN, b"");
    f.send(S, C, 0, 5555, RST | ACK, b"");
    f.send(S, C, 0, 0, RST, b"");
    f.finish();
    assert_eq!(
        rst_notices(&f.rec, 1),
        vec![
            (
                Some(Dir::S2C),
                TcpNotice::RstOutOfWindow {
                    refused_syn: true,
                    value: Some(5555),
                    lo: 101,
                    hi: 102
                }
            ),
            (
                Some(Dir::S2C),
                TcpNotice::RstOutOfWindow {
                    refused_syn: true,
                    value: None,
                    lo: 101,
                    hi: 102
                }
            ),
        ]
    );
    assert_eq!(
        f.rec.flow(1).last(),
        Some(&Ev::Closed(CloseHow::EndOfInput))
    );
}

/// An accepted RST that the peer plainly ignores: after it, the RST's sender goes on sending
/// and the receiver acknowledges those bytes and answers them. The flow is taken up again
/// (nothing is lost: what followed the RST was delivered as it came), the RST reported.
#[test]
fn rst_the_peer_ignores_does_not_end_the_flow() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(1000, 5000);
    conn.handshake(&mut f);
    conn.c2s(&mut f, b"GET /a HTTP/1.1\r\n\r\n");
    conn.s2c(&mut f, b"HTTP/1.1 204 No Content\r\n\r\n");
    let rst = f.send(C, S, conn.c, conn.s, RST | ACK, b""); // exact: accepted
    let rst_seq = conn.c;
    assert!(rst_notices(&f.rec, 1).is_empty());
    // In flight from the server, sent before the RST reached it: no evidence either way.
    f.send(S, C, conn.s, conn.c, ACK, b"");
    assert!(rst_notices(&f.rec, 1).is_empty());
    // The client goes on; the server acknowledges what it sent after the RST, and answers.
    conn.c2s(&mut f, b"GET /b HTTP/1.1\r\n\r\n");
    let answer = conn.s2c(&mut f, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(
        rst_notices(&f.rec, 1),
        vec![(
            Some(Dir::C2S),
            TcpNotice::RstIgnored {
                seq: rst_seq,
                frame: rst,
                refused_syn: false
            }
        )]
    );
    let ignored_at = f
        .rec
        .events
        .iter()
        .find(|e| matches!(e.2, Ev::Notice(_, TcpNotice::RstIgnored { .. })))
        .map(|e| e.1);
    assert_eq!(ignored_at, Some(Some(answer)));
    // Long after the linger the connection is still being followed.
    f.advance(Duration::from_secs(30));
    conn.c2s(&mut f, b"GET /c HTTP/1.1\r\n\r\n");
    conn.close(&mut f);
    f.finish();
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(f.table.stats().stray_packets, 0);
    let c2s: Vec<u8> = f
        .rec
        .flow(1)
        .iter()
        .filter_map(|e| match e {
            Ev::Data(Dir::C2S, b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        c2s,
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"
    );
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Fin)));
    assert!(!f.rec.meta(1).rst_seen);
}

/// A refused SYN retried with the same ISN (as some stacks do after a RST) and answered this
/// time: the same connection, taken up again.
#[test]
fn refused_syn_retried_and_answered_is_the_same_connection() {
    let mut f = Fixture::new();
    f.send(C, S, 100, 0, SYN, b"");
    let rst = f.send(S, C, 0, 101, RST | ACK, b"");
    f.send(C, S, 100, 0, SYN, b"");
    let mut conn = Conn::new(100, 700);
    conn.answer_syn(&mut f, false);
    conn.c2s(&mut f, b"hello");
    conn.close(&mut f);
    f.finish();
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(
        rst_notices(&f.rec, 1),
        vec![(
            Some(Dir::S2C),
            TcpNotice::RstIgnored {
                seq: 0,
                frame: rst,
                refused_syn: true
            }
        )]
    );
    assert!(f.rec.flow(1).contains(&data(Dir::C2S, b"hello")));
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Fin)));
}

/// Before the server answers the SYN, the client (in SYN-SENT) drops everything from it but a
/// SYN-ACK and a RST that acknowledges its SYN (RFC 9293 §3.10.7.3). A RST and a FIN forged in
/// between (an evasion seen in the wild) end nothing; the exchange after the SYN-ACK is whole.
#[test]
fn forged_rst_and_fin_before_the_syn_ack_end_nothing() {
    let mut f = Fixture::new();
    f.send(C, S, 100, 0, SYN, b"");
    f.send(S, C, 1, 101, RST | ACK, b""); // acknowledges the SYN: accepted for now
    f.send(S, C, 1, 101, FIN | ACK, b"");
    f.send(C, S, 101, 0, RST, b"");
    let mut conn = Conn::new(100, 900);
    conn.answer_syn(&mut f, false);
    conn.c2s(&mut f, b"GET / HTTP/1.1\r\n\r\n");
    conn.s2c(&mut f, b"HTTP/1.1 200 OK\r\n\r\n");
    f.finish();
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(
        f.rec.flow(1)[1..],
        [
            Ev::Notice(
                Some(Dir::S2C),
                TcpNotice::RstIgnored {
                    seq: 1,
                    frame: 2,
                    refused_syn: true
                }
            ),
            data(Dir::C2S, b"GET / HTTP/1.1\r\n\r\n"),
            data(Dir::S2C, b"HTTP/1.1 200 OK\r\n\r\n"),
            Ev::Closed(CloseHow::EndOfInput),
        ]
    );
}

/// A retransmitted SYN with the same ISN is the same connection: no new flow, no reset of
/// its state, whenever it comes (before the SYN-ACK, or late, after data).
#[test]
fn same_isn_syn_retransmission_is_the_same_connection() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(1000, 5000);
    f.send(C, S, 1000, 0, SYN, b"");
    f.send(C, S, 1000, 0, SYN, b"");
    conn.answer_syn(&mut f, true);
    conn.c2s(&mut f, b"one ");
    f.send(C, S, 1000, 0, SYN, b""); // a late duplicate
    conn.c2s(&mut f, b"two");
    conn.s2c(&mut f, b"reply");
    f.finish();
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"one two"),
            data(Dir::S2C, b"reply"),
            Ev::Closed(CloseHow::EndOfInput)
        ]
    );
    assert_eq!(f.rec.meta(1).packets, 8);
}

/// The capture starts with the SYN-ACK (the SYN was missed); after the close, a stray copy of
/// that SYN arrives. Its ISN is known from the SYN-ACK's acknowledgment: it belongs to the
/// closed connection, during its linger and after it, and starts no new, empty flow.
#[test]
fn stray_syn_after_close_known_from_the_syn_ack_starts_no_flow() {
    for late in [false, true] {
        let mut f = Fixture::new();
        let mut conn = Conn::new(30_000, 31_000);
        f.send(S, C, 31_000, 30_001, SYN | ACK, b"");
        conn.c = 30_001;
        conn.s = 31_001;
        f.send(C, S, conn.c, conn.s, ACK, b"");
        conn.c2s(&mut f, b"GET / HTTP/1.0\r\n\r\n");
        conn.s2c(&mut f, b"HTTP/1.0 200 OK\r\n\r\n");
        conn.close(&mut f);
        if late {
            f.advance(Duration::from_secs(6));
        }
        f.send(C, S, 30_000, 0, SYN, b"");
        f.finish();
        assert_eq!(f.table.stats().flows_created, 1, "late={late}");
        assert_eq!(
            f.rec.flow(1).last(),
            Some(&Ev::Closed(CloseHow::Fin)),
            "late={late}"
        );
        let (packets, strays) = (f.rec.meta(1).packets, f.table.stats().stray_packets);
        assert_eq!(
            (packets, strays),
            if late { (7, 1) } else { (8, 0) },
            "late={late}"
        );
    }
}

#[test]
fn gap_declared_when_the_peer_acknowledges_past_the_hole() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    let c0 = conn.c;
    f.send(C, S, c0, conn.s, ACK, b"GET /a");
    f.send(C, S, c0 + 10, conn.s, ACK, b"HTTP/1.1\r\n");
    // The server saw everything: our capture lost 4 bytes.
    let ack_frame = f.send(S, C, conn.s, c0 + 20, ACK, b"");
    f.send(C, S, c0 + 20, conn.s, ACK, b"Host: x");
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"GET /a"),
            Ev::Gap(Dir::C2S, 4),
            data(Dir::C2S, b"HTTP/1.1\r\nHost: x"),
        ]
    );
    let gap_frame = f
        .rec
        .events
        .iter()
        .find(|e| matches!(e.2, Ev::Gap(..)))
        .map(|e| e.1);
    assert_eq!(gap_frame, Some(Some(ack_frame)));
    let meta = f.rec.meta(1);
    assert_eq!(meta.gap_bytes, [4, 0]);
    assert_eq!(
        meta.payload_bytes,
        [27, 0],
        "gaps count as payload seen on the wire"
    );
}

#[test]
fn the_peers_ack_is_applied_before_its_own_data() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    let c0 = conn.c;
    f.send(C, S, c0, conn.s, ACK, b"req-");
    f.send(C, S, c0 + 6, conn.s, ACK, b"end");
    // The response acknowledges the whole request: the request completes before it.
    f.send(S, C, conn.s, c0 + 9, ACK, b"resp");
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"req-"),
            Ev::Gap(Dir::C2S, 2),
            data(Dir::C2S, b"end"),
            data(Dir::S2C, b"resp"),
        ]
    );
}

#[test]
fn snaplen_cut_bytes_become_an_exact_gap() {
    let mut f = Fixture::new();
    let mut conn = Conn::new(10, 20);
    conn.handshake(&mut f);
    let c0 = conn.c;
    let cut = f.send_full(C, S, c0, conn.s, ACK, 65535, b"abcd", 96);
    // Declared with the packet the snaplen cut, not when something follows it.
    let events: Vec<(Option<u64>, Ev)> = f
        .rec
        .events
        .iter()
        .skip(1)
        .map(|e| (e.1, e.2.clone()))
        .collect();
    assert_eq!(
        events,
        vec![
            (Some(cut), data(Dir::C2S, b"abcd")),
            (Some(cut), Ev::Gap(Dir::C2S, 96))
        ]
    );
    // Its full retransmission is old news.
    let mut full = b"abcd".to_vec();
    full.extend(4..100u8);
    f.send(C, S, c0, conn.s, ACK, &full);
    f.send_full(C, S, c0 + 100, conn.s, ACK, 65535, b"wxyz", 0);
    f.finish();
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"abcd"),
            Ev::Gap(Dir::C2S, 96),
            data(Dir::C2S, b"wxyz"),
            Ev::Closed(CloseHow::EndOfInput),
        ]
    );
    assert_eq!(f.rec.meta(1).payload_bytes, [104, 0]);
}

#[test]
fn midstream_roles_from_the_hint() {
    fn hint(d: &[u8]) -> Option<bool> {
        if d.starts_with(b"GET ") {
            Some(true)
        } else if d.starts_with(b"HTTP/") {
            Some(false)
        } else {
            None
        }
    }
    // The server answers first; it listens on the higher port, so only the hint gets it right.
    let server = "10.0.0.9:8080";
    let client = "10.0.0.8:80";
    let mut f = Fixture::with_config(
        Config {
            ports: PortFilter::Any,
            ..Config::default()
        },
        Some(hint),
    );
    f.send(client, server, 500, 900, ACK, b""); // pure ACK: no event yet
    assert!(f.rec.events.is_empty());
    f.send(server, client, 900, 500, ACK | PSH, b"HTTP/1.1 200 OK\r\n");
    f.send(
        client,
        server,
        500,
        917,
        ACK | PSH,
        b"GET /next HTTP/1.1\r\n",
    );
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            Ev::Notice(None, TcpNotice::Midstream),
            data(Dir::S2C, b"HTTP/1.1 200 OK\r\n"),
            data(Dir::C2S, b"GET /next HTTP/1.1\r\n"),
        ]
    );
    let meta = f.rec.meta(1);
    assert_eq!(meta.client, addr(client));
    assert_eq!(meta.server, addr(server));
    assert_eq!(meta.role_basis, RoleBasis::Content);
    assert!(!meta.syn_seen);
    // The pure ACK counted before the roles were known moved with them.
    assert_eq!(meta.tcpip_header_bytes, [2 * HDRS, HDRS]);
}

#[test]
fn midstream_roles_by_port_when_the_hint_cannot_tell() {
    let mut f = Fixture::with_config(
        Config {
            ports: PortFilter::Any,
            ..Config::default()
        },
        Some(|_: &[u8]| None),
    );
    f.send("10.0.0.2:443", "10.0.0.1:50000", 1, 1, ACK, b"\x17\x03\x03");
    // Equal ports: the lower address is the server.
    f.send("10.0.0.7:9000", "10.0.0.3:9000", 1, 1, ACK, b"x");
    f.finish();
    let a = f.rec.meta(1);
    assert_eq!(
        (a.client, a.server),
        (addr("10.0.0.1:50000"), addr("10.0.0.2:443"))
    );
    assert_eq!(a.role_basis, RoleBasis::Port);
    let b = f.rec.meta(2);
    assert_eq!(
        (b.client, b.server),
        (addr("10.0.0.7:9000"), addr("10.0.0.3:9000"))
    );
    assert_eq!(f.rec.flow(1)[1], Ev::Notice(None, TcpNotice::Midstream));
    // The data went to the direction the roles say.
    assert_eq!(f.rec.flow(1)[2], data(Dir::S2C, b"\x17\x03\x03"));
    assert_eq!(f.rec.flow(2)[2], data(Dir::C2S, b"x"));
}

#[test]
fn roles_by_syn_beat_ports_and_content() {
    fn always_client(_: &[u8]) -> Option<bool> {
        Some(true)
    }
    let mut f = Fixture::with_config(
        Config {
            ports: PortFilter::Any,
            ..Config::default()
        },
        Some(always_client),
    );
    // The SYN comes from port 80.
    let mut conn = Conn::between("10.0.0.1:80", "10.0.0.2:60000", 5, 6);
    conn.handshake(&mut f);
    conn.s2c(&mut f, b"hello");
    let meta = f.rec.meta(1);
    assert_eq!(meta.client, addr("10.0.0.1:80"));
    assert_eq!(meta.role_basis, RoleBasis::Syn);
    assert_eq!(f.rec.flow(1), vec![Ev::Opened, data(Dir::S2C, b"hello")]);
}

#[test]
fn roles_by_syn_ack_when_the_syn_was_missed() {
    let mut f = Fixture::new();
    f.send(S, C, 7000, 301, SYN | ACK, b"");
    f.send(C, S, 301, 7001, ACK | PSH, b"GET / HTTP/1.1\r\n");
    let meta = f.rec.meta(1);
    assert_eq!((meta.client, meta.server), (addr(C), addr(S)));
    assert_eq!(meta.role_basis, RoleBasis::Syn);
    assert_eq!(
        f.rec.flow(1),
        vec![Ev::Opened, data(Dir::C2S, b"GET / HTTP/1.1\r\n")],
        "no Midstream notice: the handshake was seen"
    );
}

#[test]
fn syn_ack_anchors_the_client_stream_even_without_the_syn() {
    let mut f = Fixture::new();
    f.send(S, C, 7000, 301, SYN | ACK, b"");
    f.send(C, S, 305, 7001, ACK, b"late"); // the first 4 client bytes were not captured
    f.send(S, C, 7001, 309, ACK, b""); // ... but the server got them
    f.finish();
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            Ev::Gap(Dir::C2S, 4),
            data(Dir::C2S, b"late"),
            Ev::Closed(CloseHow::EndOfInput)
        ]
    );
}

#[test]
fn midstream_stream_starts_at_the_first_segment_seen() {
    let mut f = Fixture::new();
    f.send(C, S, 1_000_000, 2_000_000, ACK, b"ssage continues");
    f.send(C, S, 1_000_015, 2_000_000, ACK, b" here");
    f.send(C, S, 999_990, 2_000_000, ACK, b"earlier me"); // before the start: ignored
    f.finish();
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            Ev::Notice(None, TcpNotice::Midstream),
            data(Dir::C2S, b"ssage continues here"),
            Ev::Closed(CloseHow::EndOfInput),
        ]
    );
}

#[test]
fn flow_ids_follow_first_packets_even_when_opened_later() {
    let mut f = Fixture::new();
    f.send("10.0.0.5:40000", S, 1, 1, ACK, b""); // flow 1: a pure ACK, not opened yet
    let mut b = Conn::new(100, 200);
    b.handshake(&mut f); // flow 2: opened at once
    f.send("10.0.0.5:40000", S, 1, 1, ACK, b"x"); // flow 1 opens now
    let opened: Vec<FlowId> = f
        .rec
        .events
        .iter()
        .filter(|e| e.2 == Ev::Opened)
        .map(|e| e.0)
        .collect();
    assert_eq!(opened, vec![2, 1]);
    assert_eq!(f.rec.meta(1).client, addr("10.0.0.5:40000"));
    assert_eq!(f.rec.meta(1).packets, 2);
}

#[test]
fn buffered_bytes_delivered_at_the_end_carry_the_packet_that_brought_them() {
    // The hole before "tail" and "end" is only given up at the end of input: a message they
    // complete must be reported in the packets they arrived in, not in none.
    let mut f = Fixture::new();
    let mut c = Conn::new(10, 20);
    c.handshake(&mut f);
    let tail = f.send(C, S, c.c + 3, c.s, ACK, b"tail");
    let end = f.send(C, S, c.c + 7, c.s, ACK, b"end");
    f.advance(Duration::from_secs(15));
    f.finish();
    let frames: Vec<(Option<u64>, Ev)> = f
        .rec
        .events
        .iter()
        .filter(|e| matches!(e.2, Ev::Gap(..) | Ev::Data(..)))
        .map(|e| (e.1, e.2.clone()))
        .collect();
    assert_eq!(
        frames,
        [
            (None, Ev::Gap(Dir::C2S, 3)),
            (Some(tail), data(Dir::C2S, b"tail")),
            (Some(end), data(Dir::C2S, b"end")),
        ]
    );
}

#[test]
fn finish_closes_open_flows_in_id_order_and_flushes_them() {
    let mut f = Fixture::new();
    let mut conns: Vec<Conn> = (0..5)
        .map(|i| {
            Conn::between(
                [
                    "10.1.0.1:1000",
                    "10.1.0.2:1000",
                    "10.1.0.3:1000",
                    "10.1.0.4:1000",
                    "10.1.0.5:1000",
                ][i],
                S,
                10,
                20,
            )
        })
        .collect();
    for conn in &mut conns {
        conn.handshake(&mut f);
    }
    // Flow 3 has a hole and buffered data.
    let c = &conns[2];
    f.send(c.c_addr, S, c.c + 3, c.s, ACK, b"tail");
    // Flow 4 saw both FINs but misses data before its client FIN.
    let c = &conns[3];
    f.send(c.c_addr, S, c.c + 2, c.s, FIN | ACK, b"");
    f.send(S, c.c_addr, c.s, c.c, FIN | ACK, b"");
    f.finish();
    let closes: Vec<(FlowId, Option<u64>, Ev)> = f
        .rec
        .events
        .iter()
        .filter(|e| matches!(e.2, Ev::Closed(_)))
        .cloned()
        .collect();
    let ids: Vec<FlowId> = closes.iter().map(|e| e.0).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    assert!(
        closes.iter().all(|e| e.1.is_none()),
        "no packet at end of input"
    );
    assert_eq!(closes[0].2, Ev::Closed(CloseHow::EndOfInput));
    assert_eq!(
        closes[3].2,
        Ev::Closed(CloseHow::Fin),
        "both FINs were seen"
    );
    assert_eq!(
        f.rec.flow(3)[1..],
        [
            Ev::Gap(Dir::C2S, 3),
            data(Dir::C2S, b"tail"),
            Ev::Closed(CloseHow::EndOfInput)
        ]
    );
    assert_eq!(
        f.rec.flow(4)[1..],
        [
            Ev::End(Dir::S2C),
            Ev::Gap(Dir::C2S, 2),
            Ev::End(Dir::C2S),
            Ev::Closed(CloseHow::Fin)
        ]
    );
    assert!(f.table.is_empty());
    assert_eq!(f.table.buffered_bytes(), 0);
    assert!(f.rec.all_closed());
}

fn idle_config(secs: u64) -> Config {
    let mut config = Config::default();
    config.limits.idle_timeout = Duration::from_secs(secs);
    config
}

#[test]
fn idle_flows_are_evicted_by_the_sweep() {
    let mut f = Fixture::with_config(idle_config(60), None);
    let mut quiet = Conn::new(1, 2);
    quiet.handshake(&mut f);
    quiet.c2s(&mut f, b"hi");
    let mut busy = Conn::between("10.0.0.3:3333", S, 1, 2);
    busy.handshake(&mut f);
    for _ in 0..20 {
        f.advance(Duration::from_secs(5));
        busy.c2s(&mut f, b".");
    }
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Idle)));
    let closed_at = f
        .rec
        .events
        .iter()
        .position(|e| e.0 == 1 && matches!(e.2, Ev::Closed(_)))
        .expect("flow 1 closed");
    assert_eq!(
        f.rec.events[closed_at].1, None,
        "idle eviction carries no packet"
    );
    // Busy packet k comes 5k s after the quiet flow's last packet; the sweep (every 7.5 s)
    // runs before packet k is processed, once 60 s have passed: k is 12, 13 or 14.
    let busy_before = f.rec.events[..closed_at]
        .iter()
        .filter(|e| e.0 == 2 && matches!(e.2, Ev::Data(..)))
        .count();
    assert!((11..=13).contains(&busy_before), "{busy_before}");
    assert_eq!(f.table.len(), 1);
    assert!(f.rec.flow(2).iter().all(|e| !matches!(e, Ev::Closed(_))));
}

#[test]
fn a_packet_after_the_idle_timeout_starts_a_new_flow() {
    let mut f = Fixture::with_config(idle_config(30), None);
    let mut conn = Conn::new(1, 2);
    conn.handshake(&mut f);
    conn.c2s(&mut f, b"before");
    f.advance(Duration::from_secs(31));
    conn.c2s(&mut f, b"after");
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Idle)));
    assert_eq!(
        f.rec.flow(2),
        vec![
            Ev::Opened,
            Ev::Notice(None, TcpNotice::Midstream),
            data(Dir::C2S, b"after")
        ]
    );
}

#[test]
fn finish_reports_flows_already_past_the_timeout_as_idle() {
    let mut f = Fixture::with_config(idle_config(10), None);
    let mut a = Conn::new(1, 2);
    a.handshake(&mut f);
    f.advance(Duration::from_secs(11));
    let mut b = Conn::between("10.0.0.3:3333", S, 1, 2);
    b.handshake(&mut f);
    f.finish();
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Idle)));
    assert_eq!(
        f.rec.flow(2).last(),
        Some(&Ev::Closed(CloseHow::EndOfInput))
    );
}

#[test]
fn new_syn_on_a_closed_tuple_starts_a_new_flow() {
    let mut f = Fixture::new();
    let mut old = Conn::new(1000, 2000);
    old.handshake(&mut f);
    old.c2s(&mut f, b"one");
    old.close(&mut f);
    // Retransmitted FIN and a retransmitted SYN of the old connection: still its packets.
    f.send(S, C, old.s - 1, old.c, FIN | ACK, b"");
    f.send(C, S, 1000, 0, SYN, b"");
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(f.table.stats().stray_packets, 0);
    // A new SYN right after the close ends the old flow at once and starts the next.
    let mut new = Conn::new(90_000, 7);
    new.handshake(&mut f);
    let closed = f
        .rec
        .events
        .iter()
        .find(|e| e.0 == 1 && matches!(e.2, Ev::Closed(_)))
        .cloned();
    assert_eq!(closed, Some((1, Some(10), Ev::Closed(CloseHow::Fin))));
    assert_eq!(f.rec.meta(1).packets, 9);
    new.c2s(&mut f, b"two");
    assert_eq!(f.rec.flow(2), vec![Ev::Opened, data(Dir::C2S, b"two")]);
    assert_eq!(f.rec.meta(2).role_basis, RoleBasis::Syn);
    // The same after the linger: the tombstone gives way to a new SYN.
    new.close(&mut f);
    f.advance(Duration::from_secs(6));
    f.send(C, S, new.c, new.s, ACK, b""); // a stray
    let mut third = Conn::new(500_000, 9);
    third.handshake(&mut f);
    third.c2s(&mut f, b"three");
    assert_eq!(f.rec.flow(2).last(), Some(&Ev::Closed(CloseHow::Fin)));
    assert_eq!(f.rec.flow(3), vec![Ev::Opened, data(Dir::C2S, b"three")]);
    assert_eq!(f.table.stats().stray_packets, 1);
}

#[test]
fn new_syn_on_a_half_closed_flow_closes_it_first() {
    let mut f = Fixture::new();
    let mut old = Conn::new(1000, 2000);
    old.handshake(&mut f);
    old.s2c(&mut f, b"bye");
    f.send(S, C, old.s, old.c, FIN | ACK, b"");
    let syn = f.send(C, S, 555_555, 0, SYN, b"");
    assert_eq!(
        f.rec.flow(1)[1..],
        [
            data(Dir::S2C, b"bye"),
            Ev::End(Dir::S2C),
            Ev::Closed(CloseHow::Fin)
        ]
    );
    let closed_at = f
        .rec
        .events
        .iter()
        .find(|e| e.0 == 1 && matches!(e.2, Ev::Closed(_)));
    assert_eq!(closed_at.map(|e| e.1), Some(Some(syn)));
    assert_eq!(f.rec.flow(2), vec![Ev::Opened]);
    // A retransmission of the new SYN is not yet another flow.
    f.send(C, S, 555_555, 0, SYN, b"");
    assert_eq!(f.table.stats().flows_created, 2);
}

#[test]
fn new_syn_on_an_open_flow_with_data_replaces_it() {
    let mut f = Fixture::new();
    let mut old = Conn::new(1000, 2000);
    old.handshake(&mut f);
    old.c2s(&mut f, b"data");
    f.send(C, S, 31337, 0, SYN, b"");
    assert_eq!(f.rec.flow(1).last(), Some(&Ev::Closed(CloseHow::Idle)));
    assert_eq!(f.table.stats().flows_created, 2);
}

#[test]
fn simultaneous_open_is_one_flow() {
    let mut f = Fixture::new();
    f.send(C, S, 100, 0, SYN, b"");
    f.send(S, C, 900, 0, SYN, b"");
    f.send(C, S, 100, 901, SYN | ACK, b"");
    f.send(S, C, 900, 101, SYN | ACK, b"");
    f.send(C, S, 101, 901, ACK, b"hi");
    f.send(S, C, 901, 103, ACK, b"yo");
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(
        f.rec.flow(1),
        vec![Ev::Opened, data(Dir::C2S, b"hi"), data(Dir::S2C, b"yo")]
    );
}

#[test]
fn tombstones_expire() {
    let mut f = Fixture::with_config(idle_config(20), None);
    let mut conn = Conn::new(1, 2);
    conn.handshake(&mut f);
    conn.close(&mut f);
    f.advance(Duration::from_secs(6)); // past the linger
    f.send(C, S, conn.c, conn.s, ACK, b""); // duplicate last ACK: stray
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(f.table.stats().stray_packets, 1);
    f.advance(Duration::from_secs(21)); // tombstone TTL is bounded by the idle timeout
    f.send(C, S, conn.c, conn.s, ACK, b"x");
    assert_eq!(f.table.stats().flows_created, 2);
    assert_eq!(f.table.stats().stray_packets, 1);
}

#[test]
fn rst_of_an_unknown_flow_is_a_stray() {
    let mut f = Fixture::new();
    f.send(S, C, 1, 1, RST | ACK, b"");
    f.finish();
    assert_eq!(f.table.stats().flows_created, 0);
    assert_eq!(f.table.stats().stray_packets, 1);
    assert!(f.rec.events.is_empty());
}

#[test]
fn a_flow_of_pure_acks_is_opened_when_it_closes() {
    let mut f = Fixture::new();
    f.send(C, S, 1, 1, ACK, b"");
    f.send(S, C, 1, 1, ACK, b"");
    f.finish();
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            Ev::Notice(None, TcpNotice::Midstream),
            Ev::Closed(CloseHow::EndOfInput)
        ]
    );
    assert_eq!(f.rec.meta(1).packets, 2);
    assert_eq!(f.rec.meta(1).server, addr(S));
}

#[test]
fn port_filter_counts_skipped_flows_once_each() {
    let mut f = Fixture::new(); // ports 80 and 443 only
    for _ in 0..3 {
        f.send("10.0.0.1:5000", "10.0.0.2:8443", 1, 1, ACK, b"tls");
        f.send("10.0.0.2:8443", "10.0.0.1:5000", 1, 1, ACK, b"tls");
    }
    f.send("10.0.0.1:5001", "10.0.0.2:8443", 1, 1, SYN, b"");
    let mut conn = Conn::new(1, 2);
    conn.handshake(&mut f);
    assert_eq!(f.table.stats().flows_skipped_by_port, 2);
    assert_eq!(f.table.stats().flows_created, 1);
    assert_eq!(f.rec.metas.len(), 1);
}

#[test]
fn skipped_flows_are_exact_up_to_the_remembered_tuples_then_counted_by_syn() {
    let mut f = Fixture::new();
    let cap = 65_536u32;
    let src = |i: u32| format!("10.{}.{}.{}:1234", i >> 16, (i >> 8) & 255, i & 255);
    for i in 0..cap {
        f.send(&src(i), "10.255.0.1:8443", 1, 1, ACK, b"");
    }
    assert_eq!(f.table.stats().flows_skipped_by_port, u64::from(cap));
    // Remembered tuples still count once.
    f.send(&src(7), "10.255.0.1:8443", 1, 1, ACK, b"");
    // Past the cap only SYNs count.
    f.send(&src(cap), "10.255.0.1:8443", 1, 1, ACK, b"");
    f.send(&src(cap + 1), "10.255.0.1:8443", 1, 0, SYN, b"");
    f.send(&src(cap + 1), "10.255.0.1:8443", 1, 0, SYN, b"");
    assert_eq!(f.table.stats().flows_skipped_by_port, u64::from(cap) + 2);
}

#[test]
fn zero_idle_timeout_disables_eviction() {
    let mut f = Fixture::with_config(idle_config(0), None);
    let mut conn = Conn::new(1, 2);
    conn.handshake(&mut f);
    f.advance(Duration::from_secs(100_000));
    conn.c2s(&mut f, b"still here");
    f.finish();
    assert_eq!(
        f.rec.flow(1),
        vec![
            Ev::Opened,
            data(Dir::C2S, b"still here"),
            Ev::Closed(CloseHow::EndOfInput)
        ]
    );
}

#[test]
fn flow_cap_refuses_new_flows_and_reports_once() {
    let mut config = Config::default();
    config.limits.max_flows = 2;
    let mut f = Fixture::with_config(config, None);
    let mut a = Conn::between("10.0.1.1:1000", S, 1, 2);
    let mut b = Conn::between("10.0.1.2:1000", S, 1, 2);
    let mut c = Conn::between("10.0.1.3:1000", S, 1, 2);
    a.handshake(&mut f);
    b.handshake(&mut f);
    c.handshake(&mut f);
    c.c2s(&mut f, b"ignored");
    f.send("10.0.1.4:1000", S, 9, 0, SYN, b"");
    assert_eq!(f.rec.table_notices, vec![TcpNotice::FlowCapHit]);
    assert_eq!(f.table.stats().flows_dropped_by_cap, 2);
    assert_eq!(f.table.len(), 2);
    assert_eq!(f.rec.metas.len(), 2);
    // Room again after a flow closes.
    a.close(&mut f);
    let mut d = Conn::between("10.0.1.5:1000", S, 1, 2);
    d.handshake(&mut f);
    assert_eq!(f.rec.meta(3).client, addr("10.0.1.5:1000"));
    assert_eq!(f.rec.table_notices.len(), 1, "reported once");
}

#[test]
fn ooo_cap_per_direction_skips_the_oldest_hole() {
    let mut config = Config::default();
    config.limits.max_ooo_bytes_per_dir = 2 * (100 + reassembly::CHUNK_OVERHEAD);
    let mut f = Fixture::with_config(config, None);
    let mut conn = Conn::new(0, 0);
    conn.handshake(&mut f);
    let c0 = conn.c;
    f.send(C, S, c0 + 10, conn.s, ACK, &[b'a'; 100]);
    f.send(C, S, c0 + 200, conn.s, ACK, &[b'b'; 100]);
    f.send(C, S, c0 + 400, conn.s, ACK, &[b'c'; 100]);
    assert_eq!(
        f.rec.flow(1)[1..],
        [
            Ev::Gap(Dir::C2S, 10),
            data(Dir::C2S, &[b'a'; 100]),
            Ev::Notice(Some(Dir::C2S), TcpNotice::OooCapHit { dropped: 0 })
        ]
    );
    assert_eq!(f.table.stats().ooo_bytes_dropped, 0);
}

#[test]
fn ooo_cap_across_flows_drops_and_reports_the_bytes() {
    let mut config = Config::default();
    config.limits.max_ooo_bytes_total = 100 + reassembly::CHUNK_OVERHEAD;
    let mut f = Fixture::with_config(config, None);
    let mut a = Conn::between("10.0.1.1:1000", S, 0, 0);
    let mut b = Conn::between("10.0.1.2:1000", S, 0, 0);
    a.handshake(&mut f);
    b.handshake(&mut f);
    f.send(a.c_addr, S, a.c + 10, a.s, ACK, &[b'a'; 100]);
    f.send(b.c_addr, S, b.c + 10, b.s, ACK, &[b'b'; 60]);
    assert_eq!(
        f.rec.flow(2)[1..],
        [Ev::Notice(
            Some(Dir::C2S),
            TcpNotice::OooCapHit { dropped: 60 }
        )]
    );
    assert_eq!(f.table.stats().ooo_bytes_dropped, 60);
    // The dropped bytes are reported missing when delivery gets past them.
    f.send(b.c_addr, S, b.c, b.s, ACK, &[b'b'; 10]);
    f.send(b.c_addr, S, b.c + 70, b.s, ACK, b"end");
    assert_eq!(
        f.rec.flow(2)[2..],
        [
            data(Dir::C2S, &[b'b'; 10]),
            Ev::Gap(Dir::C2S, 60),
            data(Dir::C2S, b"end")
        ]
    );
    f.finish();
    assert_eq!(f.table.buffered_bytes(), 0);
}

#[test]
fn ipv4_and_ipv6_tuples_are_distinct_flows() {
    let mut f = Fixture::new();
    f.send("10.0.0.1:5000", "10.0.0.2:80", 1, 0, SYN, b"");
    f.send(
        "[::ffff:10.0.0.1]:5000",
        "[::ffff:10.0.0.2]:80",
        1,
        0,
        SYN,
        b"",
    );
    f.send("[2001:db8::1]:5000", "[2001:db8::2]:80", 1, 0, SYN, b"");
    assert_eq!(f.table.len(), 3);
    assert_eq!(f.rec.meta(3).server, addr("[2001:db8::2]:80"));
}

// ---------------------------------------------------------------------------------------------
// Properties

/// How one direction's bytes are sent.
#[derive(Clone, Debug)]
struct DirPlan {
    bytes: Vec<u8>,
    /// Lengths of the base segments, used cyclically.
    lens: Vec<usize>,
    /// Which base segments reach the capture, used cyclically.
    kept: Vec<bool>,
    /// Round in which each base segment is sent, used cyclically.
    rounds: Vec<u8>,
    /// Extra copies of parts of kept segments: (segment selector, start, len, round).
    extras: Vec<(usize, usize, usize, u8)>,
    /// Snaplen: bytes cut from the end of each segment, used cyclically (only in the cut
    /// variant).
    cuts: Vec<usize>,
}

fn dir_plan(max_len: usize, drop_weight: f64) -> impl Strategy<Value = DirPlan> {
    (
        prop::collection::vec(any::<u8>(), 0..max_len),
        prop::collection::vec(1usize..200, 1..16),
        prop::collection::vec(prop::bool::weighted(1.0 - drop_weight), 1..16),
        prop::collection::vec(0u8..4, 1..16),
        prop::collection::vec((any::<usize>(), any::<usize>(), 1usize..300, 0u8..4), 0..12),
        prop::collection::vec(0usize..8, 1..8),
    )
        .prop_map(|(bytes, lens, kept, rounds, extras, cuts)| DirPlan {
            bytes,
            lens,
            kept,
            rounds,
            extras,
            cuts,
        })
}

/// A data segment of one direction: offset, length, captured length, round, order key.
#[derive(Clone, Copy, Debug)]
struct PlannedSeg {
    offset: usize,
    len: usize,
    captured: usize,
    round: u8,
}

/// The segments a plan sends, and which bytes never reach the capture.
fn plan_segments(plan: &DirPlan, with_cuts: bool) -> (Vec<PlannedSeg>, Vec<bool>) {
    let n = plan.bytes.len();
    let mut segs = Vec::new();
    let mut kept_ranges = Vec::new();
    let mut missing = vec![true; n];
    let (mut offset, mut i) = (0, 0);
    while offset < n {
        let len = plan.lens[i % plan.lens.len()].min(n - offset);
        let round = plan.rounds[i % plan.rounds.len()];
        if plan.kept[i % plan.kept.len()] {
            let cut = if with_cuts {
                plan.cuts[i % plan.cuts.len()].min(len)
            } else {
                0
            };
            segs.push(PlannedSeg {
                offset,
                len,
                captured: len - cut,
                round,
            });
            kept_ranges.push((offset, len));
            for m in &mut missing[offset..offset + len - cut] {
                *m = false;
            }
        }
        offset += len;
        i += 1;
    }
    if !kept_ranges.is_empty() {
        for &(sel, start, len, round) in &plan.extras {
            let (k_off, k_len) = kept_ranges[sel % kept_ranges.len()];
            let start = start % k_len;
            let len = len.min(k_len - start);
            segs.push(PlannedSeg {
                offset: k_off + start,
                len,
                captured: len,
                round,
            });
        }
    }
    (segs, missing)
}

/// One packet of a generated capture.
#[derive(Clone, Debug)]
struct Packet {
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u16,
    payload: Vec<u8>,
    missing: u32,
}

/// Builds a capture: handshake, then rounds of shuffled data from both sides, each round
/// followed by both sides acknowledging everything sent so far, then FINs and last ACKs.
/// A segment not kept is sent (the receiver gets it) but not captured.
fn build_capture(
    client: &DirPlan,
    server: &DirPlan,
    c_isn: u32,
    s_isn: u32,
    order: &[u32],
    with_cuts: bool,
) -> (Vec<Packet>, [Vec<bool>; 2]) {
    let (c_segs, c_missing) = plan_segments(client, with_cuts);
    let (s_segs, s_missing) = plan_segments(server, with_cuts);
    let c_base = c_isn.wrapping_add(1);
    let s_base = s_isn.wrapping_add(1);
    let mut packets = vec![
        Packet {
            from_client: true,
            seq: c_isn,
            ack: 0,
            flags: SYN,
            payload: vec![],
            missing: 0,
        },
        Packet {
            from_client: false,
            seq: s_isn,
            ack: c_base,
            flags: SYN | ACK,
            payload: vec![],
            missing: 0,
        },
        Packet {
            from_client: true,
            seq: c_base,
            ack: s_base,
            flags: ACK,
            payload: vec![],
            missing: 0,
        },
    ];
    // What each receiver has (all sent bytes, captured or not), per round.
    let mut received = [
        vec![false; client.bytes.len()],
        vec![false; server.bytes.len()],
    ];
    let prefix = |r: &Vec<bool>| r.iter().take_while(|&&b| b).count() as u32;
    let mut acks = [0u32, 0u32]; // cumulative acks for client data / server data (offsets)
    let mut k = 0usize;
    for round in 0..4u8 {
        let mut batch: Vec<(u32, Packet)> = Vec::new();
        for (is_client, segs, plan, base) in [
            (true, &c_segs, client, c_base),
            (false, &s_segs, server, s_base),
        ] {
            for s in segs.iter().filter(|s| s.round == round) {
                let key = order.get(k % order.len().max(1)).copied().unwrap_or(0);
                k += 1;
                let peer_ack = if is_client {
                    s_base.wrapping_add(acks[1])
                } else {
                    c_base.wrapping_add(acks[0])
                };
                batch.push((
                    key,
                    Packet {
                        from_client: is_client,
                        seq: base.wrapping_add(s.offset as u32),
                        ack: peer_ack,
                        flags: ACK,
                        payload: plan.bytes[s.offset..s.offset + s.captured].to_vec(),
                        missing: (s.len - s.captured) as u32,
                    },
                ));
            }
        }
        // Every base segment of this round reaches its receiver, captured or not.
        for (idx, plan) in [(0usize, client), (1, server)] {
            let n = plan.bytes.len();
            let (mut offset, mut i) = (0, 0);
            while offset < n {
                let len = plan.lens[i % plan.lens.len()].min(n - offset);
                if plan.rounds[i % plan.rounds.len()] == round {
                    for b in &mut received[idx][offset..offset + len] {
                        *b = true;
                    }
                }
                offset += len;
                i += 1;
            }
        }
        batch.sort_by_key(|(key, _)| *key);
        packets.extend(batch.into_iter().map(|(_, p)| p));
        acks = [prefix(&received[0]), prefix(&received[1])];
        packets.push(Packet {
            from_client: false,
            seq: s_base.wrapping_add(0),
            ack: c_base.wrapping_add(acks[0]),
            flags: ACK,
            payload: vec![],
            missing: 0,
        });
        packets.push(Packet {
            from_client: true,
            seq: c_base,
            ack: s_base.wrapping_add(acks[1]),
            flags: ACK,
            payload: vec![],
            missing: 0,
        });
    }
    let c_fin = c_base.wrapping_add(client.bytes.len() as u32);
    let s_fin = s_base.wrapping_add(server.bytes.len() as u32);
    packets.push(Packet {
        from_client: true,
        seq: c_fin,
        ack: s_base.wrapping_add(acks[1]),
        flags: FIN | ACK,
        payload: vec![],
        missing: 0,
    });
    packets.push(Packet {
        from_client: false,
        seq: s_fin,
        ack: c_fin.wrapping_add(1),
        flags: FIN | ACK,
        payload: vec![],
        missing: 0,
    });
    packets.push(Packet {
        from_client: true,
        seq: c_fin.wrapping_add(1),
        ack: s_fin.wrapping_add(1),
        flags: ACK,
        payload: vec![],
        missing: 0,
    });
    (packets, [c_missing, s_missing])
}

fn run_capture(packets: &[Packet]) -> Recorder {
    let mut table: FlowTable<Recorder> = FlowTable::new(&Config::default(), None);
    let mut rec = Recorder::default();
    for (i, p) in packets.iter().enumerate() {
        let (src, dst) = if p.from_client { (C, S) } else { (S, C) };
        let seg = Segment {
            frame: i as u64 + 1,
            ts: Timestamp(i as i64 * 1000),
            src: addr(src),
            dst: addr(dst),
            seq: p.seq,
            ack: p.ack,
            flags: TcpFlags(p.flags),
            window: 65535,
            payload: &p.payload,
            missing: p.missing,
            ip_header_len: 20,
            tcp_header_len: 20,
            window_scale: None,
        };
        table.process(&seg, &mut rec);
    }
    table.finish(&mut rec);
    assert_eq!(table.buffered_bytes(), 0);
    rec
}

#[derive(Debug, PartialEq, Eq)]
enum Run {
    Data(Vec<u8>),
    Gap(u64),
}

fn push_run(runs: &mut Vec<Run>, run: Run) {
    match (runs.last_mut(), run) {
        (Some(Run::Data(prev)), Run::Data(more)) => prev.extend_from_slice(&more),
        (Some(Run::Gap(prev)), Run::Gap(more)) => *prev += more,
        (_, run) => runs.push(run),
    }
}

fn delivered_runs(rec: &Recorder, dir: Dir) -> Vec<Run> {
    let mut runs = Vec::new();
    for (_, _, ev) in &rec.events {
        match ev {
            Ev::Data(d, bytes) if *d == dir => push_run(&mut runs, Run::Data(bytes.clone())),
            Ev::Gap(d, len) if *d == dir => push_run(&mut runs, Run::Gap(*len)),
            _ => {}
        }
    }
    runs
}

fn expected_runs(bytes: &[u8], missing: &[bool]) -> Vec<Run> {
    let mut runs = Vec::new();
    for (b, &m) in bytes.iter().zip(missing) {
        push_run(&mut runs, if m { Run::Gap(1) } else { Run::Data(vec![*b]) });
    }
    runs
}

fn isn() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (u32::MAX - 2_000)..=u32::MAX]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Reordered, duplicated and overlapping (identical) segments reassemble to exactly the
    /// original bytes.
    #[test]
    fn reassembles_exactly_whatever_the_order(
        client in dir_plan(1500, 0.0),
        server in dir_plan(1500, 0.0),
        c_isn in isn(),
        s_isn in isn(),
        order in prop::collection::vec(any::<u32>(), 1..64),
    ) {
        let (packets, _) = build_capture(&client, &server, c_isn, s_isn, &order, false);
        let rec = run_capture(&packets);
        let flow = rec.flow(1);
        prop_assert_eq!(flow.first(), Some(&Ev::Opened));
        prop_assert_eq!(flow.last(), Some(&Ev::Closed(CloseHow::Fin)));
        prop_assert_eq!(delivered_runs(&rec, Dir::C2S), expected_runs(&client.bytes, &vec![false; client.bytes.len()]));
        prop_assert_eq!(delivered_runs(&rec, Dir::S2C), expected_runs(&server.bytes, &vec![false; server.bytes.len()]));
        prop_assert!(flow.iter().all(|e| !matches!(e, Ev::Gap(..) | Ev::Notice(..))), "{:?}", flow);
        prop_assert_eq!(rec.meta(1).payload_bytes, [client.bytes.len() as u64, server.bytes.len() as u64]);
        prop_assert!(rec.all_closed());
        // Every packet is the flow's, the last ACK after both FINs included.
        prop_assert_eq!(rec.meta(1).packets, packets.len() as u64);
        prop_assert_eq!(rec.meta(1).last_ts, Timestamp((packets.len() as i64 - 1) * 1000));
    }

    /// With segments lost before the capture (the receivers got them and acknowledged them),
    /// gaps add up to exactly the missing bytes and everything else arrives in place.
    #[test]
    fn gaps_are_exactly_the_missing_bytes(
        client in dir_plan(1500, 0.3),
        server in dir_plan(1500, 0.3),
        c_isn in isn(),
        s_isn in isn(),
        order in prop::collection::vec(any::<u32>(), 1..64),
    ) {
        let (packets, missing) = build_capture(&client, &server, c_isn, s_isn, &order, false);
        let rec = run_capture(&packets);
        prop_assert_eq!(delivered_runs(&rec, Dir::C2S), expected_runs(&client.bytes, &missing[0]));
        prop_assert_eq!(delivered_runs(&rec, Dir::S2C), expected_runs(&server.bytes, &missing[1]));
        let lost = |m: &Vec<bool>| m.iter().filter(|&&b| b).count() as u64;
        prop_assert_eq!(rec.meta(1).gap_bytes, [lost(&missing[0]), lost(&missing[1])]);
        prop_assert_eq!(rec.flow(1).last().cloned(), Some(Ev::Closed(CloseHow::Fin)));
        prop_assert!(rec.flow(1).iter().all(|e| !matches!(e, Ev::Notice(..))));
        prop_assert_eq!(rec.meta(1).packets, packets.len() as u64);
    }

    /// Snaplen cuts on top of loss: every delivered byte sits at its true offset and data plus
    /// gaps cover each stream exactly.
    #[test]
    fn snaplen_cuts_keep_every_byte_in_place(
        client in dir_plan(1200, 0.2),
        server in dir_plan(1200, 0.2),
        c_isn in isn(),
        s_isn in isn(),
        order in prop::collection::vec(any::<u32>(), 1..64),
    ) {
        let (packets, _) = build_capture(&client, &server, c_isn, s_isn, &order, true);
        let rec = run_capture(&packets);
        for (dir, bytes) in [(Dir::C2S, &client.bytes), (Dir::S2C, &server.bytes)] {
            let mut offset = 0usize;
            for run in delivered_runs(&rec, dir) {
                match run {
                    Run::Data(d) => {
                        prop_assert_eq!(&bytes[offset..offset + d.len()], &d[..]);
                        offset += d.len();
                    }
                    Run::Gap(n) => offset += n as usize,
                }
            }
            prop_assert_eq!(offset, bytes.len());
        }
        prop_assert_eq!(rec.flow(1).last().cloned(), Some(Ev::Closed(CloseHow::Fin)));
    }
}

#[test]
fn moving_the_clock_has_something_to_do_only_when_a_linger_ends_or_a_sweep_is_due() {
    let mut table: FlowTable<Recorder> = FlowTable::new(&Config::default(), None);
    let mut rec = Recorder::default();
    let ms = |n: i64| Timestamp(n * 1_000_000);
    // The first move sets when the idle sweep is next due.
    assert!(table.due(ms(0)));
    table.advance_clock(ms(0), &mut rec);
    assert!(!table.due(ms(1)));
    // A connection closed at 10 ms lingers 5 s.
    let (syn, ack, fin) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::FIN);
    let packets = [
        (C, S, 100, 0, syn),
        (S, C, 500, 101, syn | ack),
        (C, S, 101, 501, ack),
        (C, S, 101, 501, fin | ack),
        (S, C, 501, 102, fin | ack),
        (C, S, 102, 502, ack),
    ];
    for (i, (src, dst, seq, ack, flags)) in packets.into_iter().enumerate() {
        let seg = Segment {
            frame: i as u64 + 1,
            ts: ms(10),
            src: addr(src),
            dst: addr(dst),
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 65535,
            payload: &[],
            missing: 0,
            ip_header_len: 20,
            tcp_header_len: 20,
            window_scale: None,
        };
        table.process(&seg, &mut rec);
    }
    assert!(!table.due(ms(5_009)));
    assert!(table.due(ms(5_011)));
    // The idle sweep: every eighth of the idle timeout (300 s).
    table.advance_clock(ms(5_011), &mut rec);
    assert!(!table.due(ms(37_499)));
    assert!(table.due(ms(37_500)));
}

/// Clients of the lingering-order property, one per flow.
const LINGERING_CLIENTS: [&str; 12] = [
    "10.4.0.1:1000",
    "10.4.0.2:1000",
    "10.4.0.3:1000",
    "10.4.0.4:1000",
    "10.4.0.5:1000",
    "10.4.0.6:1000",
    "10.4.0.7:1000",
    "10.4.0.8:1000",
    "10.4.0.9:1000",
    "10.4.0.10:1000",
    "10.4.0.11:1000",
    "10.4.0.12:1000",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Flows closed by both FINs take late packets (last ACKs, retransmitted FINs) at random
    /// moments while they linger, some lingers ending on the way: every flow is finalised once,
    /// in the order of its last packet's time plus the linger, then of that packet, whatever
    /// order the flows closed in; and the queue never holds more than one entry per flow.
    #[test]
    fn lingering_flows_end_in_the_order_of_their_last_packets(
        flows in 2usize..=12,
        late in prop::collection::vec((0usize..12, 0i64..1_500, any::<bool>()), 0..60),
    ) {
        let mut f = Fixture::new();
        let mut conns: Vec<Conn> = LINGERING_CLIENTS[..flows]
            .iter()
            .map(|c| Conn::between(c, S, 1, 2))
            .collect();
        // Flow id, last packet's time (ms) and frame.
        let mut last: Vec<(u64, i64, u64)> = Vec::new();
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.handshake(&mut f);
            conn.close(&mut f);
            last.push((i as u64 + 1, f.now_ms, f.frame));
        }
        for (i, gap, fin) in late {
            let i = i % flows;
            f.advance(Duration::from_millis(gap as u64));
            // A packet at or after the end of its linger would find the flow gone.
            if f.now_ms + 1 >= last[i].1 + 5_000 {
                continue;
            }
            let conn = &conns[i];
            if fin {
                f.send(conn.c_addr, S, conn.c - 1, conn.s, FIN | ACK, b"");
            } else {
                f.send(conn.c_addr, S, conn.c, conn.s, ACK, b"");
            }
            last[i].1 = f.now_ms;
            last[i].2 = f.frame;
            prop_assert!(f.table.closing_queue_len() <= flows);
        }
        f.advance(Duration::from_secs(10));
        f.send("10.9.9.9:4000", S, 1, 0, SYN, b"");
        last.sort_by_key(|&(_, ms, frame)| (ms, frame));
        let expected: Vec<u64> = last.iter().map(|&(id, _, _)| id).collect();
        prop_assert_eq!(f.rec.closed_by_fins(), expected);
        prop_assert_eq!(f.table.stats().stray_packets, 0);
    }
}
