//! One TCP connection's protocol analysis: which protocol reads it, fed with its bytes, gaps
//! and ends, and the flow's summary and kind when it closes. The connection knows no protocol:
//! the registry ([`registry`]) lists them — detectors tried in order on a connection's first
//! bytes, and what an HTTP upgrade can switch to — and the dissector that reads the connection
//! hands it on by itself (HTTP to WebSocket after a 101). Every dissector is given the
//! connection's context ([`Cx`]), which counts what it emits into the flow's summary.
//!
//! Detection: a flow seen from its SYN is decided by its first data (HTTP on an HTTP port by
//! definition, garbage reported as such; else a request line makes it HTTP; else it is
//! opaque). A flow picked up mid-stream waits for a delivery a detector recognises (a start
//! line, WebSocket frames on sufficient evidence) for `DETECT_ATTEMPTS` deliveries, then is
//! declared opaque. A delivery a detector asks to keep ([`Detect::NeedMore`]) is kept until the
//! next one; a gap forgets it. Bytes lost before the protocol was decided are told to the
//! dissector chosen, so that it knows its first bytes do not start a message.
//!
//! The connection says what its analysis holds for the memory budget, and makes its dissector
//! (and what detection keeps) give way when the flow table asks ([`crate::budget`]).

use crate::budget::{Held, box_bytes, vec_bytes};
use crate::config::Config;
use crate::model::{Anomaly, Code, Event, EventCtx, EventSink, FlowSummary, TlsSummary};
use crate::proto::classify::{self, KindTracker};
use crate::proto::dissect::{Active, Cx, Detect, Kept, Probe, Registry};
use crate::proto::{http, tls, websocket};
use crate::tcp::{CloseHow, Dir, FlowMeta, PacketRef, StreamEvent, TcpNotice};

/// How many data deliveries a mid-stream flow gets before it is declared opaque when nothing
/// recognisable was seen.
const DETECT_ATTEMPTS: u8 = 4;

/// The protocols sockscope reads: detectors in the order they are tried on a connection's first
/// bytes, and what an HTTP `Upgrade` can switch to. Adding a protocol adds its lines here.
pub fn registry(config: &Config) -> Registry {
    let websocket = websocket::dissect::WebSocket::new(config);
    Registry {
        detectors: vec![
            Box::new(tls::dissect::Tls),
            Box::new(http::dissect::ByPort),
            Box::new(http::dissect::StartLine),
            Box::new(websocket.clone()),
        ],
        switches: vec![Box::new(websocket.clone())],
        spares: vec![Box::new(websocket)],
    }
}

/// Role hint for the flow table: the side that sends a request (or masked WebSocket frames) is
/// the client; the side that sends a status line (or unmasked frames) is the server.
pub fn role_hint(data: &[u8]) -> Option<bool> {
    if http::looks_like_request(data) {
        Some(true)
    } else if http::looks_like_response(data) {
        Some(false)
    } else {
        websocket::sniff_frames(data)
    }
}

/// Per-flow state, kept inside the flow table entry.
#[derive(Default)]
pub struct ConnState {
    active: Active,
    summary: FlowSummary,
    kinds: KindTracker,
    detection: Detection,
}

/// What detection remembers until the protocol is decided.
#[derive(Default)]
struct Detection {
    midstream: bool,
    attempts: u8,
    /// Bytes lost per direction before the protocol was decided (a flow seen from its SYN
    /// whose first data segment never reached the capture).
    gaps: [u64; 2],
    /// A delivery kept at a detector's request, and which detector (its index) asked.
    kept: Option<(usize, Box<Kept>)>,
}

impl ConnState {
    pub fn summary(&self) -> &FlowSummary {
        &self.summary
    }

    /// What the connection's analysis holds, for the memory budget (the dissector says what it
    /// can give up).
    pub fn held(&self) -> Held {
        let reading = match &self.active {
            Active::Reading(d) => d.held(),
            Active::Undecided | Active::Opaque => Held::ZERO,
        };
        let kept = self
            .detection
            .kept
            .as_ref()
            .map_or(Held::ZERO, |(_, k)| k.held());
        reading + kept + self.kinds.held(http::KEEP_PENDING) + summary_held(&self.summary)
    }
}

/// What a flow's summary holds beyond itself, for the memory budget: the ping round trips,
/// the TLS summary with its names, and a sub-protocol choice's reason when it was written for
/// this flow. A closed flow keeps its summary for as long as it lingers, so this is most of
/// what a lingering TLS connection holds.
fn summary_held(summary: &FlowSummary) -> Held {
    let text = |s: &String| vec_bytes::<u8>(s.capacity());
    let tls = summary.tls.as_ref().map_or(0, |t| {
        box_bytes::<TlsSummary>()
            + t.sni.as_ref().map_or(0, text)
            + t.alpn.as_ref().map_or(0, text)
            + vec_bytes::<String>(t.alpn_offered.capacity())
            + t.alpn_offered.iter().map(text).sum::<usize>()
    });
    let sub = match summary.sub.as_ref().map(|c| &c.reason) {
        Some(std::borrow::Cow::Owned(reason)) => text(reason),
        _ => 0,
    };
    Held::fixed(vec_bytes::<f64>(summary.ping_rtts.capacity()) + tls + sub)
}

/// The flow is over: the long-poll memory (when the kinds are settled here) has its say, and
/// the flow's record goes out.
fn flow_closed<S: EventSink>(
    longpoll: &mut Option<classify::LongPollMemory>,
    sink: &mut S,
    meta: &FlowMeta,
    pkt: Option<PacketRef>,
    how: CloseHow,
    summary: &mut FlowSummary,
) {
    if let Some(memory) = longpoll {
        memory.decide(summary);
    }
    let closed = Event::FlowClosed { how, summary };
    sink.event(&EventCtx::new(meta, pkt), closed);
}

/// The protocol layer for all flows: implements the flow table's handler.
pub struct ConnAnalyzer<S: EventSink> {
    config: Config,
    registry: Registry,
    pub sink: S,
    /// The sink's [`EventSink::wants_message_records`], asked once: it holds for the run.
    records: bool,
    /// Held requests of the flows closed so far, when the flows' kinds are settled here (see
    /// [`FlowSummary::held_request`]): not in a thread that analyzes a share of the flows.
    longpoll: Option<classify::LongPollMemory>,
}

impl<S: EventSink> ConnAnalyzer<S> {
    pub fn new(config: &Config, sink: S) -> Self {
        ConnAnalyzer {
            config: config.clone(),
            registry: registry(config),
            records: sink.wants_message_records(),
            sink,
            longpoll: Some(classify::LongPollMemory::default()),
        }
    }

    /// The protocol layer of a thread that analyzes a share of the flows: a flow's kind that
    /// depends on the flows before it is left to the thread that sees them all in order
    /// ([`FlowSummary::held_request`]).
    pub fn for_share(config: &Config, sink: S) -> Self {
        ConnAnalyzer {
            longpoll: None,
            ..ConnAnalyzer::new(config, sink)
        }
    }

    /// The context of one flow's work outside a stream event (its end, giving way).
    fn cx<'a>(
        &'a mut self,
        meta: &'a FlowMeta,
        pkt: Option<PacketRef>,
        summary: &'a mut FlowSummary,
        kinds: &'a mut KindTracker,
    ) -> Cx<'a> {
        Cx::new(
            meta,
            pkt,
            &self.config,
            &self.registry,
            summary,
            kinds,
            &mut self.sink,
            self.records,
        )
    }
}

/// Delivers data: decides the protocol first if it is not yet.
fn on_data(
    cx: &mut Cx<'_>,
    active: &mut Active,
    detection: &mut Detection,
    dir: Dir,
    bytes: &[u8],
) {
    if let Active::Undecided = active {
        let Some(decided) = detect(cx, detection, dir, bytes) else {
            return;
        };
        *active = decided;
        if let Some(d) = active.reading() {
            for lost in [Dir::C2S, Dir::S2C] {
                let len = std::mem::take(&mut detection.gaps[lost.index()]);
                if len > 0 {
                    d.gap(cx, lost, len);
                }
            }
        }
    }
    active.feed(cx, dir, bytes);
}

/// Asks the detectors about one delivery. `None`: undecided still, and the bytes are not for
/// any dissector.
fn detect(cx: &mut Cx<'_>, detection: &mut Detection, dir: Dir, bytes: &[u8]) -> Option<Active> {
    let kept = detection.kept.take();
    let mut keep = None;
    let registry = cx.registry;
    for (i, detector) in registry.detectors.iter().enumerate() {
        let probe = Probe {
            midstream: detection.midstream,
            kept: kept.as_ref().filter(|(by, _)| *by == i).map(|(_, k)| &**k),
        };
        match detector.detect(cx, &probe, dir, bytes) {
            Detect::Take(d) => return Some(Active::Reading(d)),
            Detect::NeedMore => {
                keep.get_or_insert(i);
            }
            Detect::Pass => {}
        }
    }
    if let Some(i) = keep {
        detection.kept = Some((i, Kept::new(dir, cx.pkt, bytes)));
    }
    if !detection.midstream {
        return Some(Active::Opaque);
    }
    // Picked up in the middle of something (say, the tail of a response): wait for a
    // message boundary a little longer before giving up on the flow.
    detection.attempts = detection.attempts.saturating_add(1);
    (detection.attempts >= DETECT_ATTEMPTS).then_some(Active::Opaque)
}

/// No more bytes will come: ends the dissector (reporting what it leaves unfinished) and frees
/// it; the flow's summary is all that stays until it is closed.
fn finish(cx: &mut Cx<'_>, active: &mut Active) {
    if let Some(d) = active.reading() {
        d.finish(cx);
        *active = Active::Opaque;
    }
}

fn rst_code(notice: TcpNotice) -> Code {
    match notice {
        TcpNotice::RstIgnored { .. } => Code::TcpRstIgnored,
        _ => Code::TcpRstOutOfWindow,
    }
}

/// The detail of a questionable RST's anomaly.
fn rst_detail(notice: TcpNotice) -> String {
    match notice {
        TcpNotice::RstOutOfWindow {
            refused_syn: true,
            value,
            lo,
            ..
        } => {
            let carries = value.map_or_else(
                || "carries no acknowledgment".to_string(),
                |ack| format!("acknowledges {ack}, not the SYN ({lo})"),
            );
            format!(
                "RST answering the SYN {carries}: its receiver drops it (RFC 9293 \
                 §3.10.7.3); analysis goes on"
            )
        }
        TcpNotice::RstOutOfWindow { value, lo, hi, .. } => {
            let seq = value.unwrap_or_default();
            let off = i64::from(seq.wrapping_sub(lo) as i32);
            format!(
                "RST sequence number {seq} ({off:+} from the window's start) is outside the \
                 receive window {lo}..{hi}: its receiver drops it (RFC 5961 §3.2); analysis \
                 goes on"
            )
        }
        TcpNotice::RstIgnored {
            seq,
            frame,
            refused_syn,
        } => {
            let why = if refused_syn {
                "the handshake it refused went on"
            } else {
                "its receiver went on acknowledging bytes sent after it"
            };
            format!(
                "the RST in packet {frame} (sequence number {seq}) did not end the \
                 connection: {why}; analysis took the flow up again"
            )
        }
        _ => String::new(),
    }
}

impl<S: EventSink> crate::tcp::StreamHandler for ConnAnalyzer<S> {
    type State = ConnState;

    fn on_event(
        &mut self,
        meta: &FlowMeta,
        state: &mut ConnState,
        pkt: Option<PacketRef>,
        event: StreamEvent<'_>,
    ) {
        let ConnState {
            active,
            summary,
            kinds,
            detection,
        } = state;
        let ConnAnalyzer {
            config,
            registry,
            sink,
            records,
            longpoll,
        } = self;
        let records = *records;
        let cx = |summary, kinds, sink| {
            Cx::new(meta, pkt, config, registry, summary, kinds, sink, records)
        };
        match event {
            StreamEvent::Opened => sink.event(&EventCtx::new(meta, pkt), Event::FlowOpened),
            StreamEvent::Data { dir, bytes } => {
                on_data(&mut cx(summary, kinds, sink), active, detection, dir, bytes);
            }
            StreamEvent::Gap { dir, len } => {
                let cx = &mut cx(summary, kinds, sink);
                // Evidence kept must be confirmed by the delivery right after it, not across a
                // hole.
                detection.kept = None;
                let detail = format!("{len} bytes missing from the {} stream", dir.as_str());
                cx.anomaly(Code::TcpGap, Some(dir), detail);
                match active {
                    Active::Reading(d) => d.gap(cx, dir, len),
                    Active::Undecided => {
                        let pending = &mut detection.gaps[dir.index()];
                        *pending = pending.saturating_add(len);
                    }
                    Active::Opaque => {}
                }
            }
            StreamEvent::End { dir } => {
                if let Some(d) = active.reading() {
                    d.end(&mut cx(summary, kinds, sink), dir);
                }
            }
            StreamEvent::Notice { dir, notice } => {
                let (code, detail) = match notice {
                    TcpNotice::Midstream => {
                        detection.midstream = true;
                        (
                            Code::TcpMidstream,
                            "flow picked up without its SYN".to_string(),
                        )
                    }
                    TcpNotice::OverlapConflict { offset, len } => (
                        Code::TcpOverlapConflict,
                        format!(
                            "{len} retransmitted bytes at stream offset {offset} differ from the bytes first seen"
                        ),
                    ),
                    TcpNotice::OooCapHit { dropped } => (
                        Code::TcpBufferCap,
                        format!(
                            "{dropped} out-of-order bytes dropped: reassembly buffer cap reached"
                        ),
                    ),
                    TcpNotice::FlowCapHit => (
                        Code::TcpFlowCap,
                        "flow table full: new flows are not tracked".to_string(),
                    ),
                    TcpNotice::BudgetOoo { bytes } => (
                        Code::TcpBudgetOoo,
                        format!(
                            "{bytes} out-of-order bytes delivered early (memory budget): the \
                             holes before them are given up"
                        ),
                    ),
                    TcpNotice::BudgetEvicted { held } => (
                        Code::TcpBudgetEvict,
                        format!(
                            "flow ended early (memory budget): it held {held} bytes, among the \
                             most of any flow, with nothing left to give up; its later packets \
                             are not analyzed"
                        ),
                    ),
                    TcpNotice::BudgetFull => (
                        Code::TcpBudgetFlows,
                        "memory budget full: new flows are not tracked".to_string(),
                    ),
                    TcpNotice::RstOutOfWindow { .. } | TcpNotice::RstIgnored { .. } => {
                        (rst_code(notice), rst_detail(notice))
                    }
                };
                cx(summary, kinds, sink).anomaly(code, dir, detail);
            }
            StreamEvent::Control { dir, flags } => {
                sink.event(&EventCtx::new(meta, pkt), Event::Control { dir, flags });
            }
            StreamEvent::Closed { how } => {
                finish(&mut cx(summary, kinds, sink), active);
                kinds.decide(meta, summary);
                flow_closed(longpoll, sink, meta, pkt, how, summary);
            }
        }
    }

    /// A flow closed by both FINs keeps its summary, its kind decided: nothing but its last
    /// packets' flags and its end is to come, and neither changes what it is.
    type Closed = FlowSummary;

    fn closed(&mut self, meta: &FlowMeta, state: ConnState) -> FlowSummary {
        // Its parsers were finished with its streams (`on_streams_done`), which came first.
        debug_assert!(!matches!(state.active, Active::Reading(_)));
        let ConnState {
            mut summary, kinds, ..
        } = state;
        kinds.decide(meta, &mut summary);
        summary
    }

    fn on_closed_event(
        &mut self,
        meta: &FlowMeta,
        summary: &mut FlowSummary,
        pkt: Option<PacketRef>,
        event: StreamEvent<'_>,
    ) {
        match event {
            StreamEvent::Control { dir, flags } => {
                let control = Event::Control { dir, flags };
                self.sink.event(&EventCtx::new(meta, pkt), control);
            }
            StreamEvent::Closed { how } => {
                flow_closed(&mut self.longpoll, &mut self.sink, meta, pkt, how, summary);
            }
            // Nothing else reaches a flow whose streams are done.
            _ => {}
        }
    }

    fn held_closed(&self, summary: &FlowSummary) -> Held {
        summary_held(summary)
    }

    fn on_streams_done(&mut self, meta: &FlowMeta, state: &mut ConnState, pkt: Option<PacketRef>) {
        let ConnState {
            active,
            summary,
            kinds,
            ..
        } = state;
        finish(&mut self.cx(meta, pkt, summary, kinds), active);
        kinds.streams_done();
    }

    fn on_table_notice(&mut self, pkt: PacketRef, notice: TcpNotice) {
        let limits = &self.config.limits;
        let (code, detail) = match notice {
            TcpNotice::FlowCapHit => (
                Code::TcpFlowCap,
                format!(
                    "flow table full ({} flows): new flows are not tracked",
                    limits.max_flows
                ),
            ),
            TcpNotice::BudgetFull => (
                Code::TcpBudgetFlows,
                format!(
                    "memory budget ({} MiB of --memory) full even after the largest holders gave \
                     way: new flows are not tracked",
                    limits.memory >> 20
                ),
            ),
            _ => return,
        };
        let a = Anomaly {
            code,
            dir: None,
            ts: pkt.ts,
            detail,
        };
        self.sink.global_anomaly(&a, pkt.frame);
    }

    fn held(&self, state: &ConnState) -> Held {
        state.held()
    }

    fn give_way(&mut self, meta: &FlowMeta, state: &mut ConnState, pkt: Option<PacketRef>) {
        let ConnState {
            active,
            summary,
            kinds,
            detection,
        } = state;
        if let Some(d) = active.reading() {
            d.give_way(&mut self.cx(meta, pkt, summary, kinds));
        }
        kinds.give_way(http::KEEP_PENDING);
        if let Some((_, k)) = detection.kept.as_mut() {
            k.give_way();
        }
    }

    fn held_outside_flows(&self) -> Held {
        Held::buffers(self.registry.spare_bytes())
    }

    fn give_way_outside_flows(&mut self) {
        self.registry.drop_spares();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HttpHead, Record};
    use crate::tcp::{RoleBasis, StreamHandler};
    use crate::time::Timestamp;
    use std::net::SocketAddr;

    #[test]
    fn a_summary_is_charged_its_tls_names_and_its_written_reason() {
        let mut summary = FlowSummary::default();
        assert_eq!(summary_held(&summary), Held::ZERO);
        summary.tls = Some(Box::new(TlsSummary {
            sni: Some("chat.example.com".to_string()),
            alpn: Some("http/1.1".to_string()),
            alpn_offered: vec!["h2".to_string(), "http/1.1".to_string()],
            ..TlsSummary::default()
        }));
        let tls = summary_held(&summary);
        assert_eq!(tls.buffers, 0);
        assert!(
            tls.fixed >= box_bytes::<TlsSummary>() + 16 + 8 + 2 * 24 + 2 + 8,
            "{tls:?}"
        );
        summary.sub = Some(crate::model::SubChoice {
            protocol: None,
            basis: None,
            reason: std::borrow::Cow::Owned("x".repeat(100)),
            engineio: None,
        });
        assert!(summary_held(&summary).fixed >= tls.fixed + 100);
        summary.sub = Some(crate::model::SubChoice {
            protocol: None,
            basis: None,
            reason: std::borrow::Cow::Borrowed("said once for every flow"),
            engineio: None,
        });
        assert_eq!(summary_held(&summary), tls);
    }

    #[derive(Default)]
    struct Codes {
        codes: Vec<Code>,
        requests: Vec<String>,
        frames: Vec<Dir>,
        summary: Option<FlowSummary>,
    }

    impl EventSink for Codes {
        fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
            match event {
                Event::Record(Record::Anomaly(a)) => self.codes.push(a.code),
                Event::Record(Record::WsFrame(f)) => self.frames.push(f.dir),
                Event::FlowClosed { summary, .. } => self.summary = Some(summary.clone()),
                Event::Record(Record::Http(m)) => {
                    if let HttpHead::Request { target, .. } = m.head {
                        self.requests.push(target.to_owned());
                    }
                }
                _ => {}
            }
        }
    }

    fn meta() -> FlowMeta {
        FlowMeta::new(
            1,
            SocketAddr::from(([10, 0, 0, 1], 40000)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
            RoleBasis::Syn,
            Timestamp::ZERO,
        )
    }

    #[test]
    fn an_upgrade_switches_to_the_protocol_it_names() {
        use crate::proto::dissect::Upgrade;
        let heads = |h: &[(&str, &str)]| {
            crate::proto::dissect::OwnedHeaders::new(h.iter().map(|(n, v)| (*n, v.as_bytes())))
        };
        let ws = Upgrade {
            request_headers: heads(&[("Upgrade", "foo, WebSocket")]),
            ..Upgrade::default()
        };
        assert!(ws.names("websocket") && ws.names("foo") && !ws.names("h2c"));
        // The request not captured: the 101 says what it switched to.
        let answered = Upgrade {
            response_headers: heads(&[("upgrade", "websocket")]),
            ..Upgrade::default()
        };
        let h2c = Upgrade {
            request_headers: heads(&[("Upgrade", "h2c")]),
            response_headers: heads(&[("Upgrade", "websocket")]),
            ..Upgrade::default()
        };
        let registry = registry(&Config::default());
        let token = |u: &Upgrade| registry.switch_for(u).map(|s| s.token());
        assert_eq!(token(&ws), Some("websocket"));
        assert_eq!(token(&answered), Some("websocket"));
        assert_eq!(token(&h2c), None);
    }

    #[test]
    fn role_hints_come_from_start_lines() {
        assert_eq!(role_hint(b"POST / HTTP/1.0\r\n"), Some(true));
        assert_eq!(role_hint(b"HTTP/1.0 200 OK\r\n"), Some(false));
        assert_eq!(role_hint(b"\x16\x03\x01"), None);
    }

    /// Feeds `deliveries` to a fresh connection seen from its SYN; returns the analyzer.
    fn run(deliveries: &[(Dir, &[u8])]) -> ConnAnalyzer<Codes> {
        let mut a = ConnAnalyzer::new(&Config::default(), Codes::default());
        let mut state = ConnState::default();
        let m = meta();
        a.on_event(&m, &mut state, None, StreamEvent::Opened);
        for (i, &(dir, bytes)) in deliveries.iter().enumerate() {
            let pkt = Some(PacketRef::new(i as u64 + 1, Timestamp::ZERO).sent_by(dir));
            a.on_event(&m, &mut state, pkt, StreamEvent::Data { dir, bytes });
        }
        a.on_event(
            &m,
            &mut state,
            None,
            StreamEvent::Closed {
                how: crate::tcp::CloseHow::Fin,
            },
        );
        a
    }

    #[test]
    fn an_upgrade_to_a_protocol_not_read_leaves_the_rest_opaque() {
        let a = run(&[
            (
                Dir::C2S,
                b"GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n",
            ),
            (
                Dir::S2C,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            ),
            // An HTTP/2 preface and a request line: neither is read as HTTP/1.
            (
                Dir::C2S,
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
            ),
        ]);
        assert_eq!(a.sink.requests, ["/"]);
        assert!(a.sink.codes.is_empty(), "{:?}", a.sink.codes);
    }

    #[test]
    fn a_websocket_upgrade_hands_the_stream_over_at_the_byte_after_the_101() {
        let a = run(&[
            (
                Dir::C2S,
                b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            ),
            (
                Dir::S2C,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05Hello",
            ),
            // Masked client frames: they would be garbage to HTTP.
            (Dir::C2S, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"),
        ]);
        assert!(a.sink.codes.is_empty(), "{:?}", a.sink.codes);
        assert_eq!(a.sink.requests, ["/chat"]);
        assert_eq!(a.sink.frames, [Dir::S2C, Dir::C2S]);
        assert_eq!(
            a.sink.summary.map(|s| (s.ws_frames, s.handshake_complete)),
            Some((2, true))
        );
    }

    #[test]
    fn a_websocket_candidate_is_charged_and_gives_its_bytes_way_said_only_if_confirmed() {
        let run = |give_way: bool, confirm: bool| {
            let mut a = ConnAnalyzer::new(&Config::default(), Codes::default());
            let mut state = ConnState::default();
            let m = meta();
            let pkt = Some(PacketRef::new(5, Timestamp::ZERO).sent_by(Dir::S2C));
            a.on_event(&m, &mut state, pkt, StreamEvent::Opened);
            let midstream = StreamEvent::Notice {
                dir: None,
                notice: TcpNotice::Midstream,
            };
            a.on_event(&m, &mut state, pkt, midstream);
            // A lone binary frame from the server: weak evidence, kept for confirmation.
            let frame = StreamEvent::Data {
                dir: Dir::S2C,
                bytes: &[0x82, 0x03, 1, 2, 3],
            };
            a.on_event(&m, &mut state, pkt, frame);
            let held = a.held(&state);
            assert!(held.buffers >= 5, "{held:?}");
            if give_way {
                a.give_way(&m, &mut state, None);
                assert_eq!(a.held(&state).buffers, 0);
                assert_eq!(a.sink.codes, [Code::TcpMidstream], "nothing is lost yet");
            }
            let next: &[u8] = if confirm {
                &[0x82, 0x02, 4, 5]
            } else {
                b"not a frame at all"
            };
            let next = StreamEvent::Data {
                dir: Dir::S2C,
                bytes: next,
            };
            a.on_event(&m, &mut state, pkt, next);
            (a.sink.codes, a.sink.frames.len())
        };
        assert_eq!(run(false, true), (vec![Code::TcpMidstream], 2));
        assert_eq!(
            run(true, true),
            (vec![Code::TcpMidstream, Code::WsBudgetCandidate], 1),
            "confirmed: the dropped delivery is not decoded, and that is said"
        );
        assert_eq!(run(true, false), (vec![Code::TcpMidstream], 0));
    }

    #[test]
    fn a_gap_before_the_first_data_is_not_mistaken_for_garbage() {
        // Seen from its SYN, the first request segment lost: the parser chosen when the next
        // bytes arrive must resynchronise on a request line, not call the rest of the head a
        // parse error.
        let mut a = ConnAnalyzer::new(&Config::default(), Codes::default());
        let mut state = ConnState::default();
        let m = meta();
        let pkt = Some(PacketRef::new(5, Timestamp::ZERO));
        a.on_event(&m, &mut state, pkt, StreamEvent::Opened);
        let gap = StreamEvent::Gap {
            dir: Dir::C2S,
            len: 21,
        };
        a.on_event(&m, &mut state, pkt, gap);
        let bytes = b"Host: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n";
        let data = StreamEvent::Data {
            dir: Dir::C2S,
            bytes,
        };
        a.on_event(&m, &mut state, pkt, data);
        assert_eq!(a.sink.codes, [Code::TcpGap, Code::HttpResync]);
        assert_eq!(a.sink.requests, ["/second"]);
    }
}
