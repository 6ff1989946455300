//! The open protocol layer: how a connection's bytes find the protocol that reads them, and what
//! every protocol is given to read them with. Nothing here knows any protocol.
//!
//! - A [`Dissector`] reads one connection: each direction's bytes in order, the gaps, the ends.
//!   It may hand the rest of the stream to another dissector ([`Step::HandOff`]: HTTP to
//!   WebSocket after a 101), give the stream up ([`Step::Opaque`]: h2c), or own an inner
//!   dissector and feed it what it decodes (TLS to HTTP by ALPN), through the same context.
//! - A [`Detector`] looks at a connection's first bytes and offers a dissector, passes, or asks
//!   to see the next delivery too ([`Detect::NeedMore`]). The connection tries the registry's
//!   detectors in order ([`Registry`]).
//! - A [`Switch`] is what an HTTP `Upgrade` can switch to, by token: it takes over after the 101
//!   ([`Upgrade`] carries the heads and the client bytes sent early), or recognises itself when
//!   the 101 was lost.
//! - One context per connection, [`Cx`], gives a dissector the flow and the packet, the time,
//!   the anomaly builder, the settings, the registry, and the way out: [`Cx::emit`] sends a
//!   record to the outputs and counts it into the flow's summary, in one place for every
//!   protocol (each record's share is [`FlowSummary::count`]; the flow's kind evidence is
//!   [`KindTracker::observe`]).
//!
//! Dispatch is dynamic once per delivery (a `Box<dyn Dissector>` per connection); a dissector
//! allocates nothing per packet through these interfaces.

use crate::budget::{Held, box_bytes};
use crate::config::Config;
use crate::model::{
    Anomaly, Code, Event, EventCtx, EventSink, FlowSummary, HttpMessage, Layer, Record,
    RecordLayer, SubChoice, TlsSummary,
};
use crate::proto::classify::KindTracker;
use crate::tcp::{Dir, FlowMeta, PacketRef};
use crate::time::Timestamp;

/// Reads one connection (both directions) as one protocol.
pub trait Dissector {
    /// The protocol's name, as a layer of the connection (`HTTP`, `WebSocket`).
    fn name(&self) -> &'static str;

    /// In-order bytes of `dir`.
    fn feed(&mut self, cx: &mut Cx<'_>, dir: Dir, bytes: &[u8]) -> Step;

    /// `len` bytes of `dir` are missing; the next `feed` of `dir` follows them.
    fn gap(&mut self, cx: &mut Cx<'_>, dir: Dir, len: u64);

    /// `dir` ended (FIN): no more bytes will follow in that direction.
    fn end(&mut self, cx: &mut Cx<'_>, dir: Dir) {
        let _ = (cx, dir);
    }

    /// The connection is over: report what is left unfinished. Called once, last.
    fn finish(&mut self, cx: &mut Cx<'_>);

    /// What the dissector holds, its own allocation included, for the memory budget: `fixed`
    /// as long as it reads the stream, `buffers` what [`Dissector::give_way`] can give up.
    /// Asked after every delivery, so it must be cheap.
    fn held(&self) -> Held;

    /// The memory budget ran short and this connection is among the largest holders: give up
    /// every buffer that can be given up, each loss reported with its anomaly.
    fn give_way(&mut self, cx: &mut Cx<'_>);
}

/// What a dissector did with a delivery.
pub enum Step {
    /// It took the bytes; it goes on reading the stream.
    Continue,
    /// The bytes from `consumed` on, and the rest of the stream, belong to `next`. The
    /// dissector handing off is dropped: it has reported everything it had.
    HandOff {
        next: Box<dyn Dissector>,
        consumed: usize,
    },
    /// Nothing reads the rest of the stream (a protocol sockscope does not decode); bytes are
    /// only counted. The dissector is dropped.
    Opaque,
}

/// Who reads a connection now.
#[derive(Default)]
pub enum Active {
    /// Nobody yet: its protocol is being detected.
    #[default]
    Undecided,
    Reading(Box<dyn Dissector>),
    /// Nobody will.
    Opaque,
}

impl Active {
    /// Feeds `bytes` of `dir` to whoever reads the stream, following hand-offs (the rest of a
    /// delivery goes to the dissector handed to).
    pub fn feed(&mut self, cx: &mut Cx<'_>, dir: Dir, bytes: &[u8]) {
        let mut rest = bytes;
        while let Active::Reading(d) = self {
            match d.feed(cx, dir, rest) {
                Step::Continue => return,
                Step::Opaque => *self = Active::Opaque,
                Step::HandOff { next, consumed } => {
                    *self = Active::Reading(next);
                    rest = rest.get(consumed..).unwrap_or_default();
                    if rest.is_empty() {
                        return;
                    }
                }
            }
        }
    }

    /// The dissector reading the stream, if one is.
    pub fn reading(&mut self) -> Option<&mut (dyn Dissector + 'static)> {
        match self {
            Active::Reading(d) => Some(d.as_mut()),
            Active::Undecided | Active::Opaque => None,
        }
    }
}

/// Offers a dissector for a connection, from the first bytes one side sent.
pub trait Detector {
    fn detect(&self, cx: &mut Cx<'_>, probe: &Probe<'_>, dir: Dir, bytes: &[u8]) -> Detect;
}

/// A detector's answer.
pub enum Detect {
    /// This protocol: the dissector reads the stream from this delivery on (it has been fed
    /// what the detector kept, if anything: see [`Probe::kept`]).
    Take(Box<dyn Dissector>),
    /// Not this protocol.
    Pass,
    /// Maybe: keep this delivery and ask again with the next one.
    NeedMore,
}

/// What a detector knows besides the delivery.
pub struct Probe<'a> {
    /// The connection was picked up without its SYN: its bytes need not start a message.
    pub midstream: bool,
    /// The delivery right before this one, if this detector asked to keep it (`NeedMore`). A
    /// detector that takes the flow feeds it to its dissector first, as of its own packet.
    pub kept: Option<&'a Kept>,
}

/// Deliveries larger than this are kept without their bytes (as evidence only).
pub const MAX_KEPT: usize = 4 << 10;

/// A delivery a detector asked to keep.
pub struct Kept {
    pub dir: Dir,
    pub pkt: Option<PacketRef>,
    /// Empty when the delivery was larger than [`MAX_KEPT`], or given up for the memory
    /// budget.
    pub bytes: Vec<u8>,
    /// Bytes given up for the memory budget: the detector that takes the flow says so (only
    /// then are they lost; otherwise they would not have been decoded anyway).
    pub dropped: usize,
}

impl Kept {
    pub fn new(dir: Dir, pkt: Option<PacketRef>, bytes: &[u8]) -> Box<Kept> {
        let bytes = if bytes.len() <= MAX_KEPT {
            bytes.to_vec()
        } else {
            Vec::new()
        };
        Box::new(Kept {
            dir,
            pkt,
            bytes,
            dropped: 0,
        })
    }

    /// What keeping it holds, for the memory budget: its bytes can be given up.
    pub fn held(&self) -> Held {
        Held {
            fixed: box_bytes::<Kept>(),
            buffers: self.bytes.capacity(),
        }
    }

    /// The memory budget ran short: the bytes are given up, the evidence is kept.
    pub fn give_way(&mut self) {
        if !self.bytes.is_empty() {
            self.dropped = self.bytes.len();
            self.bytes = Vec::new();
        }
    }
}

/// What an HTTP `Upgrade` can switch a connection to.
pub trait Switch {
    /// The `Upgrade` token of the protocol (`websocket`).
    fn token(&self) -> &'static str;

    /// The server accepted the upgrade (101): the protocol takes over. The client bytes sent
    /// after the request (`upgrade.held_c2s`) are fed to it next, then the server's.
    fn start(&self, cx: &mut Cx<'_>, upgrade: &Upgrade) -> Box<dyn Dissector>;

    /// An upgrade was asked for (or a 101 begun) but HTTP lost its framing before the switch:
    /// whether this delivery shows the protocol. Answers as a [`Detector`] does.
    fn resume(&self, cx: &mut Cx<'_>, probe: &Probe<'_>, dir: Dir, bytes: &[u8]) -> Detect {
        let _ = (cx, probe, dir, bytes);
        Detect::Pass
    }
}

/// A message's headers, owned: every name and value in one buffer (two allocations for a
/// head, not two for each header: a connection's upgrade heads are kept until they are
/// answered).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedHeaders {
    bytes: Vec<u8>,
    /// Where each header's name ends and its value ends in `bytes` (each starts where the one
    /// before ends).
    ends: Vec<(u32, u32)>,
}

impl OwnedHeaders {
    /// Copies `headers`, as (name, value), each list allocated once at its size.
    pub fn new<'h, I>(headers: I) -> OwnedHeaders
    where
        I: IntoIterator<Item = (&'h str, &'h [u8])>,
        I::IntoIter: Clone,
    {
        let headers = headers.into_iter();
        let (count, bytes) = headers.clone().fold((0, 0), |(n, b), (name, value)| {
            (n + 1, b + name.len() + value.len())
        });
        let mut owned = OwnedHeaders {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        };
        for (name, value) in headers {
            owned.bytes.extend_from_slice(name.as_bytes());
            let name_end = owned.bytes.len() as u32;
            owned.bytes.extend_from_slice(value);
            owned.ends.push((name_end, owned.bytes.len() as u32));
        }
        owned
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The headers in order, as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + Clone + '_ {
        // Names were `&str` when they were copied.
        self.iter_raw()
            .map(|(name, value)| (std::str::from_utf8(name).unwrap_or_default(), value))
    }

    /// The headers in order, the name as bytes: what a lookup by name compares (ASCII, without
    /// case), so that a handshake's dozens of lookups do not check every name's UTF-8 each time.
    pub fn iter_raw(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone + '_ {
        // Each header starts where the one before ended.
        let mut start = 0;
        self.ends.iter().map(move |&(name_end, end)| {
            let (name_end, end) = (name_end as usize, end as usize);
            let header = (
                self.bytes.get(start..name_end).unwrap_or_default(),
                self.bytes.get(name_end..end).unwrap_or_default(),
            );
            start = end;
            header
        })
    }

    /// A copy with header `i`'s value replaced by `value`.
    #[cfg(test)]
    pub fn replaced(&self, i: usize, value: &[u8]) -> OwnedHeaders {
        let headers = self.iter().enumerate();
        OwnedHeaders::new(headers.map(|(j, (name, v))| (name, if j == i { value } else { v })))
    }

    /// Heap bytes held (for the memory budget).
    pub fn heap_bytes(&self) -> usize {
        crate::budget::vec_bytes::<u8>(self.bytes.capacity())
            + crate::budget::vec_bytes::<(u32, u32)>(self.ends.capacity())
    }
}

/// The heads of an accepted HTTP upgrade, owned, and the client bytes that followed the
/// upgrade request: what the protocol switched to is started with.
#[derive(Debug, Default)]
pub struct Upgrade {
    pub request_headers: OwnedHeaders,
    /// The upgrade request's target (`/socket.io/?EIO=4&transport=websocket`), when captured.
    pub request_target: Option<String>,
    pub response_headers: OwnedHeaders,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub held_c2s: Vec<u8>,
    /// The upgrade request's head was captured whole (false when the 101 answers a request the
    /// capture does not hold, or holds only cut short): only then can it be judged.
    pub request_captured: bool,
}

impl Upgrade {
    /// Whether the upgrade is to the protocol `token`: the request asked for it, or (when the
    /// request was not captured) the 101 names it.
    pub fn names(&self, token: &str) -> bool {
        let heads = if self.request_headers.is_empty() {
            &self.response_headers
        } else {
            &self.request_headers
        };
        heads.iter_raw().any(|(name, value)| {
            name.eq_ignore_ascii_case(b"upgrade")
                && value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

/// What a protocol keeps for the whole run, beyond any connection, that the memory budget
/// counts: spares kept for reuse, whose loss costs only time.
pub trait Spares {
    fn spare_bytes(&self) -> usize;
    fn drop_spares(&self);
}

/// The protocols of a run: detectors in the order they are tried, what an HTTP upgrade can
/// switch to, and what they keep for the whole run.
#[derive(Default)]
pub struct Registry {
    pub detectors: Vec<Box<dyn Detector>>,
    pub switches: Vec<Box<dyn Switch>>,
    pub spares: Vec<Box<dyn Spares>>,
}

impl Registry {
    /// Bytes the protocols keep for reuse across connections.
    pub fn spare_bytes(&self) -> usize {
        self.spares.iter().map(|s| s.spare_bytes()).sum()
    }

    /// The memory budget ran short: the protocols drop what they keep for reuse.
    pub fn drop_spares(&self) {
        for s in &self.spares {
            s.drop_spares();
        }
    }

    /// What `upgrade` switches to, if sockscope reads it.
    pub fn switch_for(&self, upgrade: &Upgrade) -> Option<&dyn Switch> {
        self.switches
            .iter()
            .map(Box::as_ref)
            .find(|s| upgrade.names(s.token()))
    }
}

/// One connection's context, handed to its dissectors with every call.
pub struct Cx<'a> {
    pub flow: &'a FlowMeta,
    /// The packet being processed (absent for end-of-input and idle flushes).
    pub pkt: Option<PacketRef>,
    pub config: &'a Config,
    pub registry: &'a Registry,
    summary: &'a mut FlowSummary,
    kinds: &'a mut KindTracker,
    sink: &'a mut dyn EventSink,
    /// The sink's [`EventSink::wants_message_records`], asked once for the run.
    records: bool,
    layer: Option<&'a Layer<'a>>,
}

impl<'a> Cx<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        flow: &'a FlowMeta,
        pkt: Option<PacketRef>,
        config: &'a Config,
        registry: &'a Registry,
        summary: &'a mut FlowSummary,
        kinds: &'a mut KindTracker,
        sink: &'a mut dyn EventSink,
        records: bool,
    ) -> Cx<'a> {
        Cx {
            flow,
            pkt,
            config,
            registry,
            summary,
            kinds,
            sink,
            records,
            layer: None,
        }
    }

    /// The time of what is being processed: the packet's, else the flow's last packet's.
    pub fn now(&self) -> Timestamp {
        self.pkt.map_or(self.flow.last_ts, |p| p.ts)
    }

    /// Whether the outputs read the records of what flows carried
    /// ([`EventSink::wants_message_records`]): work whose only result is in them can be spared.
    pub fn wants_message_records(&self) -> bool {
        self.records
    }

    /// Bytes of each message, frame or body kept for display: none where no output reads the
    /// records that show them ([`Self::wants_message_records`]).
    pub fn display_bytes(&self) -> usize {
        if self.wants_message_records() {
            self.config.display_bytes_for(self.flow.id)
        } else {
            0
        }
    }

    /// Sends a record to the outputs, counted into the flow's summary and kind.
    pub fn emit(&mut self, record: Record<'_>) {
        self.summary
            .count(&record, self.config.poll_interval.as_nanos() as u64);
        self.kinds.observe(&record);
        // Anomalies and latency records go to every output; the others only where they are
        // read.
        if self.records || matches!(record, Record::Anomaly(_) | Record::Latency(_)) {
            self.event(Event::Record(record));
        }
    }

    fn event(&mut self, event: Event<'_>) {
        let ctx = EventCtx {
            flow: self.flow,
            pkt: self.pkt,
            layer: self.layer,
        };
        self.sink.event(&ctx, event);
    }

    /// An HTTP message's head was parsed (see [`Event::HttpHead`]).
    pub fn head(&mut self, m: &HttpMessage<'_>) {
        self.kinds.on_http_head(m);
        if self.records {
            self.event(Event::HttpHead(m));
        }
    }

    /// Reports an anomaly found now.
    pub fn anomaly(&mut self, code: Code, dir: Option<Dir>, detail: String) {
        let ts = self.now();
        self.anomaly_at(ts, code, dir, detail);
    }

    /// Reports an anomaly found at `ts` (bytes held back and decoded later keep their time).
    pub fn anomaly_at(&mut self, ts: Timestamp, code: Code, dir: Option<Dir>, detail: String) {
        let a = Anomaly {
            code,
            dir,
            ts,
            detail,
        };
        self.emit(Record::Anomaly(&a));
    }

    /// The connection is WebSocket (its frames were recognised without a handshake).
    pub fn mark_websocket(&mut self) {
        self.kinds.on_websocket();
    }

    /// The connection is TLS (its kind is `tls` unless what it carries says more); its TLS
    /// facts and costs, kept in the flow's summary.
    pub fn tls(&mut self) -> &mut TlsSummary {
        self.kinds.on_tls();
        self.summary.tls.get_or_insert_default()
    }

    /// The connection carries HTTP/2 (counted, not parsed).
    pub fn mark_http2(&mut self) {
        self.kinds.on_http2();
    }

    /// Ping→pong round-trip times measured on the connection, seconds.
    pub fn set_ping_rtts(&mut self, rtts: Vec<f64>) {
        self.summary.ping_rtts = rtts;
    }

    /// The sub-protocol the connection's WebSocket messages are decoded as, or why none is.
    pub fn set_sub(&mut self, choice: SubChoice) {
        self.summary.sub = Some(choice);
    }

    /// Runs `f` as of packet `pkt` (bytes kept from an earlier delivery are decoded as of the
    /// packet that brought them).
    pub fn as_of<T>(&mut self, pkt: Option<PacketRef>, f: impl FnOnce(&mut Self) -> T) -> T {
        let now = std::mem::replace(&mut self.pkt, pkt);
        let out = f(self);
        self.pkt = now;
        out
    }

    /// Runs `f` inside the layer `name`: a dissector that owns an inner one feeds it this way,
    /// so that what the inner one emits says which layers it came through
    /// ([`EventCtx::layer`]).
    pub fn inside<T>(&mut self, name: &'static str, f: impl FnOnce(&mut Cx<'_>) -> T) -> T {
        self.inside_record(name, None, f)
    }

    /// As [`Cx::inside`], saying which record of the layer carried what is fed (TLS: the
    /// record being decrypted).
    pub fn inside_record<T>(
        &mut self,
        name: &'static str,
        record: Option<&RecordLayer<'_>>,
        f: impl FnOnce(&mut Cx<'_>) -> T,
    ) -> T {
        let layer = Layer {
            name,
            outer: self.layer,
            record,
        };
        let mut inner = Cx {
            flow: self.flow,
            pkt: self.pkt,
            config: self.config,
            registry: self.registry,
            summary: &mut *self.summary,
            kinds: &mut *self.kinds,
            sink: &mut *self.sink,
            records: self.records,
            layer: Some(&layer),
        };
        f(&mut inner)
    }
}

/// What a [`Cx`] borrows, owned: to run one dissector by itself (tests, benchmarks, fuzzing).
pub struct Solo {
    pub meta: FlowMeta,
    pub config: Config,
    pub registry: Registry,
    pub summary: FlowSummary,
    pub kinds: KindTracker,
}

impl Solo {
    pub fn new(meta: FlowMeta, config: Config, registry: Registry) -> Solo {
        Solo {
            meta,
            config,
            registry,
            summary: FlowSummary::default(),
            kinds: KindTracker::default(),
        }
    }

    /// A context as of packet `pkt`, emitting to `sink`.
    pub fn cx<'a>(&'a mut self, pkt: Option<PacketRef>, sink: &'a mut dyn EventSink) -> Cx<'a> {
        let records = sink.wants_message_records();
        Cx::new(
            &self.meta,
            pkt,
            &self.config,
            &self.registry,
            &mut self.summary,
            &mut self.kinds,
            sink,
            records,
        )
    }
}

#[cfg(test)]
impl Solo {
    /// A flow from 10.0.0.1:40000 to 10.0.0.2:80 seen from its SYN, the default settings, no
    /// protocols registered.
    pub fn test() -> Solo {
        let meta = FlowMeta::new(
            1,
            std::net::SocketAddr::from(([10, 0, 0, 1], 40000)),
            std::net::SocketAddr::from(([10, 0, 0, 2], 80)),
            crate::tcp::RoleBasis::Syn,
            Timestamp::ZERO,
        );
        Solo::new(meta, Config::default(), Registry::default())
    }
}

/// A sink for tests that says whether it reads message records
/// ([`EventSink::wants_message_records`]) and keeps the kind of what it is handed.
#[cfg(test)]
pub struct Tables {
    pub records: bool,
    pub got: Vec<&'static str>,
}

#[cfg(test)]
impl Tables {
    pub fn reading(records: bool) -> Tables {
        Tables {
            records,
            got: Vec::new(),
        }
    }
}

#[cfg(test)]
impl EventSink for Tables {
    fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
        self.got.push(match event {
            Event::Record(Record::Anomaly(_)) => "anomaly",
            Event::Record(Record::Handshake(_)) => "handshake",
            Event::Record(_) => "record",
            _ => "event",
        });
    }
    fn wants_message_records(&self) -> bool {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_headers_give_back_what_they_copied() {
        let heads: [(&str, &[u8]); 4] = [
            ("Host", b"a.example"),
            ("", b""),
            ("X-Bytes", b"\xff\x00 raw"),
            ("Upgrade", b"websocket"),
        ];
        let owned = OwnedHeaders::new(heads);
        assert_eq!(owned.len(), 4);
        assert_eq!(owned.iter().collect::<Vec<_>>(), heads);
        // Each list allocated once, at its size.
        assert_eq!(owned.bytes.capacity(), 42);
        assert_eq!(owned.ends.capacity(), 4);
        assert!(owned.heap_bytes() >= 42);
        let empty = OwnedHeaders::new([]);
        assert!(empty.is_empty() && empty.iter().next().is_none());
        let changed = owned.replaced(2, b"v");
        assert_eq!(changed.iter().nth(2), Some(("X-Bytes", &b"v"[..])));
        assert_eq!(changed.iter().nth(3), Some(heads[3]));
    }

    #[test]
    fn a_sink_that_reads_no_message_records_gets_anomalies_and_keeps_no_display_bytes() {
        for records in [false, true] {
            let mut solo = Solo::test();
            let mut sink = Tables::reading(records);
            let mut cx = solo.cx(None, &mut sink);
            assert_eq!(cx.wants_message_records(), records);
            let display = if records {
                Config::default().display_bytes
            } else {
                0
            };
            assert_eq!(cx.display_bytes(), display);
            let h = crate::model::Handshake {
                request_bytes: 120,
                ..crate::model::Handshake::default()
            };
            cx.emit(Record::Handshake(&h));
            cx.anomaly(Code::WsInterleavedData, None, "x".into());
            // Counted into the flow's summary whether handed on or not.
            assert!(solo.summary.handshake_complete);
            assert_eq!(solo.summary.upgrade_request_bytes, 120);
            let expected: &[&str] = if records {
                &["handshake", "anomaly"]
            } else {
                &["anomaly"]
            };
            assert_eq!(sink.got, expected);
        }
    }

    /// A sink that keeps nothing.
    struct Nothing;

    impl EventSink for Nothing {
        fn event(&mut self, _ctx: &EventCtx<'_>, _event: Event<'_>) {}
    }

    /// What each [`Taker`] got, in order.
    type Got = std::rc::Rc<std::cell::RefCell<Vec<(&'static str, Vec<u8>)>>>;

    /// Takes `take` bytes, then hands the rest of the stream to `next`; records what it got.
    struct Taker {
        name: &'static str,
        take: usize,
        next: Option<Box<dyn Dissector>>,
        got: Got,
    }

    impl Dissector for Taker {
        fn name(&self) -> &'static str {
            self.name
        }
        fn feed(&mut self, _cx: &mut Cx<'_>, _dir: Dir, bytes: &[u8]) -> Step {
            let n = self.take.min(bytes.len());
            self.got.borrow_mut().push((self.name, bytes[..n].to_vec()));
            self.take -= n;
            match self.next.take() {
                Some(next) if self.take == 0 => Step::HandOff { next, consumed: n },
                next => {
                    self.next = next;
                    Step::Continue
                }
            }
        }
        fn gap(&mut self, _cx: &mut Cx<'_>, _dir: Dir, _len: u64) {}
        fn finish(&mut self, _cx: &mut Cx<'_>) {}
        fn held(&self) -> Held {
            Held::ZERO
        }
        fn give_way(&mut self, _cx: &mut Cx<'_>) {}
    }

    #[test]
    fn a_hand_off_passes_the_rest_of_the_delivery_on() {
        let got = Got::default();
        let taker = |name, take, next| {
            Box::new(Taker {
                name,
                take,
                next,
                got: std::rc::Rc::clone(&got),
            }) as Box<dyn Dissector>
        };
        let last = taker("c", usize::MAX, None);
        let middle = taker("b", 2, Some(last));
        let mut active = Active::Reading(taker("a", 3, Some(middle)));
        let mut solo = Solo::test();
        let mut sink = Nothing;
        active.feed(&mut solo.cx(None, &mut sink), Dir::C2S, b"aaabbcc");
        active.feed(&mut solo.cx(None, &mut sink), Dir::C2S, b"ccc");
        let got = got.borrow();
        let got: Vec<(&str, &[u8])> = got.iter().map(|(n, b)| (*n, &b[..])).collect();
        assert_eq!(
            got,
            [
                ("a", &b"aaa"[..]),
                ("b", b"bb"),
                ("c", b"cc"),
                ("c", b"ccc")
            ]
        );
        assert_eq!(active.reading().map(|d| d.name()), Some("c"));
    }
}
