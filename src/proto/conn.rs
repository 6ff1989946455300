//! One TCP connection's protocol analysis: decides what the flow speaks (HTTP, WebSocket,
//! other), hands each direction's bytes to the right parser, switches from HTTP to WebSocket at
//! the exact byte after each side's head, and keeps the per-flow tallies (messages, L7 header
//! and payload bytes, anomalies) that the flow record and the overhead table are built from.
//! It also says what each connection holds for the memory budget, and makes its parsers give
//! way when the flow table asks ([`crate::budget`]).
//!
//! WebSocket without a handshake (a flow picked up mid-stream, or an upgrade whose 101 was cut
//! short) is decoded only on the evidence [`websocket::detect`] demands: strong evidence in one
//! delivery, or weak evidence confirmed by the next delivery (either direction; the first is
//! then decoded too, as of its own packet). Inside an HTTP stream it is looked for only after
//! an upgrade was asked for or a 101 began; frame-like bytes elsewhere are body bytes.

use crate::budget::{Held, box_bytes, vec_bytes};
use crate::config::Config;
use crate::proto::classify::{self, KindTracker};
use crate::proto::http::{Feed, HttpConn};
use crate::proto::websocket::detect::Evidence;
use crate::proto::websocket::{self, WsConn};
use crate::proto::{Anomaly, Code, Event, EventCtx, EventSink, FlowSummary};
use crate::tcp::{CloseHow, Dir, FlowMeta, PacketRef, StreamEvent, TcpNotice};
use crate::time::Timestamp;

/// How many data deliveries a mid-stream or `--any-port` flow gets before it is declared
/// `other` when nothing recognisable was seen.
const DETECT_ATTEMPTS: u8 = 4;
/// A delivery that only weakly looks like WebSocket framing is kept up to this size, to be
/// decoded too if the next delivery confirms it.
const MAX_WS_CANDIDATE: usize = 4 << 10;

/// What the connection is being decoded as.
#[derive(Default)]
enum Proto {
    /// Nothing decided yet (no data, or content detection pending).
    #[default]
    Undecided,
    Http(Box<HttpConn>),
    WebSocket(Box<WsConn>),
    /// Not HTTP or WebSocket (or decoding stopped for good): bytes are only counted.
    Opaque,
}

/// Per-flow state, kept inside the flow table entry.
#[derive(Default)]
pub struct ConnState {
    proto: Proto,
    summary: FlowSummary,
    kinds: KindTracker,
    detect_attempts: u8,
    midstream: bool,
    /// Bytes lost per direction before the protocol was decided (a flow seen from its SYN
    /// whose first data segment never reached the capture): the parser chosen later must
    /// know that its first bytes do not start a message.
    gap_before_decision: [u64; 2],
    /// The previous delivery (of either direction) looked like WebSocket framing, weakly.
    ws_candidate: Option<Box<Candidate>>,
}

/// A delivery that weakly looked like WebSocket framing, awaiting confirmation.
struct Candidate {
    dir: Dir,
    pkt: Option<PacketRef>,
    /// Empty when it was larger than [`MAX_WS_CANDIDATE`], or given up for the memory budget.
    bytes: Vec<u8>,
    /// Bytes given up for the memory budget: reported if the candidate is confirmed (only
    /// then are they lost: unconfirmed, they would not have been decoded anyway).
    dropped: usize,
}

impl Candidate {
    /// The memory budget ran short: the bytes are given up, the evidence is kept.
    fn give_way(&mut self) {
        if !self.bytes.is_empty() {
            self.dropped = self.bytes.len();
            self.bytes = Vec::new();
        }
    }

    /// The candidate was confirmed: says so if its bytes were given up, since they are not
    /// decoded.
    fn report_dropped(&self, ctx: &EventCtx<'_>, sink: &mut dyn EventSink) {
        if self.dropped == 0 {
            return;
        }
        let ctx = EventCtx {
            pkt: self.pkt,
            ..*ctx
        };
        let a = Anomaly {
            code: Code::WsBudgetCandidate,
            dir: Some(self.dir),
            ts: ts_of(ctx.flow, self.pkt),
            detail: format!(
                "{} bytes that looked like WebSocket framing were dropped while awaiting \
                 confirmation (memory budget); the next delivery confirmed them, but they are \
                 not decoded",
                self.dropped
            ),
        };
        sink.event(&ctx, Event::Anomaly(&a));
    }
}

/// The verdict on a delivery that may be WebSocket framing without a handshake.
enum Recognised {
    No,
    /// Decode from this delivery on; first decode the confirmed earlier one, if kept.
    Yes(Option<Box<Candidate>>),
}

impl ConnState {
    /// Whether this delivery is enough evidence of WebSocket framing (see
    /// [`websocket::detect`]): strong evidence alone, or weak evidence confirmed by the
    /// delivery just before it (either direction: a ping and its pong).
    fn frames_recognised(&mut self, dir: Dir, pkt: Option<PacketRef>, bytes: &[u8]) -> Recognised {
        let before = self.ws_candidate.take();
        match websocket::detect::evidence(bytes, dir == Dir::C2S) {
            Evidence::Strong => Recognised::Yes(before),
            Evidence::Weak if before.is_some() => Recognised::Yes(before),
            Evidence::Weak => {
                let bytes = if bytes.len() <= MAX_WS_CANDIDATE {
                    bytes.to_vec()
                } else {
                    Vec::new()
                };
                self.ws_candidate = Some(Box::new(Candidate {
                    dir,
                    pkt,
                    bytes,
                    dropped: 0,
                }));
                Recognised::No
            }
            Evidence::None => Recognised::No,
        }
    }
}

impl ConnState {
    pub fn summary(&self) -> &FlowSummary {
        &self.summary
    }

    /// What the connection's analysis holds, for the memory budget (see [`HttpConn::held`] and
    /// [`WsConn::held`] for what can be given up).
    pub fn held(&self) -> Held {
        let proto = match &self.proto {
            Proto::Http(http) => Held::fixed(box_bytes::<HttpConn>()) + http.held(),
            Proto::WebSocket(ws) => Held::fixed(box_bytes::<WsConn>()) + ws.held(),
            Proto::Undecided | Proto::Opaque => Held::ZERO,
        };
        let candidate = self.ws_candidate.as_deref().map_or(Held::ZERO, |c| Held {
            fixed: box_bytes::<Candidate>(),
            buffers: c.bytes.capacity(),
        });
        proto
            + candidate
            + self.kinds.held()
            + Held::fixed(vec_bytes::<f64>(self.summary.ping_rtts.capacity()))
    }
}

/// Counts what passes through on the way to the real sink, so that the flow record and the
/// statistics are derived from exactly the events the printers saw.
struct Tally<'s> {
    summary: &'s mut FlowSummary,
    kinds: &'s mut KindTracker,
    inner: &'s mut dyn EventSink,
}

impl EventSink for Tally<'_> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let s = &mut *self.summary;
        match event {
            Event::HttpHead(m) => self.kinds.on_http_head(m),
            Event::Http(m) => {
                self.kinds.on_http(m);
                let d = m.dir.index();
                s.http_messages += 1;
                s.messages[d] += 1;
                s.l7_header_bytes[d] += m.header_bytes + m.framing_bytes;
                s.l7_payload_bytes[d] += m.body_bytes;
            }
            Event::Handshake(h) => {
                s.handshake_complete = true;
                s.upgrade_request_bytes = h.request_bytes;
                s.upgrade_response_bytes = h.response_bytes;
                self.kinds.on_websocket();
            }
            Event::WsFrame(f) => {
                let d = f.dir.index();
                s.ws_frames += 1;
                s.l7_header_bytes[d] += f.header.len() as u64;
                s.l7_payload_bytes[d] += f.payload_len;
            }
            Event::WsMessage(m) => {
                s.ws_messages += 1;
                s.messages[m.dir.index()] += 1;
            }
            Event::Sse(_) => s.sse_events += 1,
            Event::Anomaly(_) => s.anomalies += 1,
            Event::FlowOpened | Event::FlowClosed { .. } => {}
        }
        self.inner.event(ctx, event);
    }
}

/// The protocol layer for all flows: implements the flow table's handler.
pub struct ConnAnalyzer<S: EventSink> {
    config: Config,
    pub sink: S,
    longpoll: classify::LongPollMemory,
    /// permessage-deflate inflaters alive at once, across all connections.
    inflaters: websocket::InflaterBudget,
}

impl<S: EventSink> ConnAnalyzer<S> {
    pub fn new(config: &Config, sink: S) -> Self {
        ConnAnalyzer {
            config: config.clone(),
            sink,
            longpoll: classify::LongPollMemory::default(),
            inflaters: websocket::InflaterBudget::new(config.limits.max_inflaters),
        }
    }

    fn new_http(&self, meta: &FlowMeta) -> HttpConn {
        HttpConn::new(&self.config.limits, self.config.display_bytes_for(meta.id))
            .with_digest(self.config.digest)
    }

    /// Chooses the protocol for a flow from the first bytes one side sent. Returns `false` when
    /// the bytes were not recognised and should not be fed to any parser.
    fn detect(
        &mut self,
        state: &mut ConnState,
        ctx: &EventCtx<'_>,
        dir: Dir,
        bytes: &[u8],
    ) -> bool {
        let meta = ctx.flow;
        if !state.midstream {
            let by_port = self
                .config
                .http_ports
                .iter()
                .any(|&p| p == meta.server.port() || p == meta.client.port());
            // Seen from its SYN: selected by port, it is HTTP by definition (garbage will be
            // reported as such); with `--any-port` only a request line makes it HTTP.
            state.proto =
                if by_port || (dir == Dir::C2S && classify::looks_like_http_request(bytes)) {
                    Proto::Http(Box::new(self.new_http(meta)))
                } else {
                    Proto::Opaque
                };
            return true;
        }
        let request = dir == Dir::C2S && classify::looks_like_http_request(bytes);
        let response = dir == Dir::S2C && classify::looks_like_http_response(bytes);
        if request || response {
            let mut http = self.new_http(meta);
            http.picked_up_midstream();
            state.proto = Proto::Http(Box::new(http));
            return true;
        }
        if let Recognised::Yes(earlier) = state.frames_recognised(dir, ctx.pkt, bytes) {
            let mut ws = Box::new(new_ws(&self.config, &self.inflaters, meta, None));
            let mut tally = Tally {
                summary: &mut state.summary,
                kinds: &mut state.kinds,
                inner: &mut self.sink,
            };
            tally.kinds.on_websocket();
            if let Some(c) = earlier {
                c.report_dropped(ctx, &mut tally);
                ws.feed(
                    c.dir,
                    &c.bytes,
                    &EventCtx { pkt: c.pkt, ..*ctx },
                    &mut tally,
                );
            }
            state.proto = Proto::WebSocket(ws);
            return true;
        }
        // Picked up in the middle of something (say, the tail of a response): wait for a
        // message boundary a little longer before giving up on the flow.
        state.detect_attempts = state.detect_attempts.saturating_add(1);
        if state.detect_attempts >= DETECT_ATTEMPTS {
            state.proto = Proto::Opaque;
        }
        false
    }

    fn on_data(&mut self, state: &mut ConnState, ctx: &EventCtx<'_>, dir: Dir, bytes: &[u8]) {
        let deciding = matches!(state.proto, Proto::Undecided);
        if deciding && !self.detect(state, ctx, dir, bytes) {
            return;
        }
        if deciding {
            let mut tally = Tally {
                summary: &mut state.summary,
                kinds: &mut state.kinds,
                inner: &mut self.sink,
            };
            for d in [Dir::C2S, Dir::S2C] {
                let lost = std::mem::take(&mut state.gap_before_decision[d.index()]);
                if lost == 0 {
                    continue;
                }
                match &mut state.proto {
                    Proto::Http(http) => http.gap(d, lost, ctx, &mut tally),
                    Proto::WebSocket(ws) => ws.gap(d, lost, ctx, &mut tally),
                    Proto::Undecided | Proto::Opaque => {}
                }
            }
        }
        // The handshake was cut short (a short snaplen cuts every head) or lost in a gap after
        // the upgrade was asked for or its 101 began, and what follows is WebSocket framing:
        // decode it as a connection picked up mid-way. Without such a hint, frame-like bytes
        // in an HTTP stream are body bytes (a download), never WebSocket.
        let upgrade_lost = matches!(&state.proto, Proto::Http(http)
            if http.is_resyncing(dir) && http.upgrade_hinted());
        let frames_after_upgrade = if upgrade_lost {
            state.frames_recognised(dir, ctx.pkt, bytes)
        } else {
            state.ws_candidate = None;
            Recognised::No
        };
        let mut tally = Tally {
            summary: &mut state.summary,
            kinds: &mut state.kinds,
            inner: &mut self.sink,
        };
        match &mut state.proto {
            Proto::Undecided | Proto::Opaque => {}
            Proto::WebSocket(ws) => ws.feed(dir, bytes, ctx, &mut tally),
            Proto::Http(_) if matches!(frames_after_upgrade, Recognised::Yes(_)) => {
                let a = Anomaly {
                    code: Code::WsResync,
                    dir: Some(dir),
                    ts: ts_of(ctx.flow, ctx.pkt),
                    detail: "HTTP framing lost in a gap; WebSocket frames recognised after it, \
                             decoding them without the handshake"
                        .to_string(),
                };
                tally.event(ctx, Event::Anomaly(&a));
                tally.kinds.on_websocket();
                let mut ws = Box::new(new_ws(&self.config, &self.inflaters, ctx.flow, None));
                if let Recognised::Yes(Some(c)) = &frames_after_upgrade {
                    c.report_dropped(ctx, &mut tally);
                }
                match frames_after_upgrade {
                    Recognised::Yes(Some(c)) if c.dir != dir => {
                        ws.feed(
                            c.dir,
                            &c.bytes,
                            &EventCtx { pkt: c.pkt, ..*ctx },
                            &mut tally,
                        );
                    }
                    Recognised::Yes(Some(c)) => {
                        ws.lost_sync(dir.other());
                        ws.feed(dir, &c.bytes, &EventCtx { pkt: c.pkt, ..*ctx }, &mut tally);
                    }
                    _ => ws.lost_sync(dir.other()),
                }
                ws.feed(dir, bytes, ctx, &mut tally);
                state.proto = Proto::WebSocket(ws);
            }
            Proto::Http(http) => {
                if let Feed::Upgraded { offset } = http.feed(dir, bytes, ctx, &mut tally) {
                    let upgrade = http.take_upgrade().unwrap_or_default();
                    if !upgrades_to_websocket(&upgrade) {
                        // h2c and friends: a protocol we do not decode from here on.
                        state.proto = Proto::Opaque;
                        return;
                    }
                    let hs = websocket::check_handshake(&upgrade, ctx, &mut tally);
                    tally.event(ctx, Event::Handshake(&hs));
                    let mut ws =
                        Box::new(new_ws(&self.config, &self.inflaters, ctx.flow, Some(&hs)));
                    if !upgrade.held_c2s.is_empty() {
                        ws.feed(Dir::C2S, &upgrade.held_c2s, ctx, &mut tally);
                    }
                    let rest = bytes.get(offset..).unwrap_or_default();
                    if !rest.is_empty() {
                        ws.feed(dir, rest, ctx, &mut tally);
                    }
                    state.proto = Proto::WebSocket(ws);
                }
            }
        }
    }

    fn anomaly(&mut self, state: &mut ConnState, ctx: &EventCtx<'_>, a: Anomaly) {
        let mut tally = Tally {
            summary: &mut state.summary,
            kinds: &mut state.kinds,
            inner: &mut self.sink,
        };
        tally.event(ctx, Event::Anomaly(&a));
    }

    /// No more bytes will come: ends the parsers (reporting what they leave unfinished) and
    /// frees them; the flow's summary is all that stays until it is closed.
    fn finish_parsers(&mut self, state: &mut ConnState, ctx: &EventCtx<'_>) {
        let mut tally = Tally {
            summary: &mut state.summary,
            kinds: &mut state.kinds,
            inner: &mut self.sink,
        };
        match &mut state.proto {
            Proto::Http(http) => http.finish(ctx, &mut tally),
            Proto::WebSocket(ws) => {
                ws.finish(ctx, &mut tally);
                tally.summary.ping_rtts = ws.ping_rtts().to_vec();
            }
            Proto::Undecided | Proto::Opaque => return,
        }
        state.proto = Proto::Opaque;
    }

    fn finish_flow(&mut self, state: &mut ConnState, ctx: &EventCtx<'_>, how: CloseHow) {
        self.finish_parsers(state, ctx);
        let kind = state.kinds.kind(ctx.flow, &mut self.longpoll);
        state.summary.kind = Some(kind);
        state.summary.polling = kind == crate::proto::FlowKind::Http && state.kinds.polling();
        self.sink.event(
            ctx,
            Event::FlowClosed {
                how,
                summary: &state.summary,
            },
        );
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

fn ts_of(meta: &FlowMeta, pkt: Option<PacketRef>) -> Timestamp {
    pkt.map_or(meta.last_ts, |p| p.ts)
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
        let ctx = EventCtx { flow: meta, pkt };
        match event {
            StreamEvent::Opened => {
                self.sink.event(&ctx, Event::FlowOpened);
            }
            StreamEvent::Data { dir, bytes } => self.on_data(state, &ctx, dir, bytes),
            StreamEvent::Gap { dir, len } => {
                // Weak evidence must be confirmed by the delivery right after it, not across a
                // hole.
                state.ws_candidate = None;
                let detail = format!("{len} bytes missing from the {} stream", dir.as_str());
                let a = Anomaly {
                    code: Code::TcpGap,
                    dir: Some(dir),
                    ts: ts_of(meta, pkt),
                    detail,
                };
                self.anomaly(state, &ctx, a);
                let mut tally = Tally {
                    summary: &mut state.summary,
                    kinds: &mut state.kinds,
                    inner: &mut self.sink,
                };
                match &mut state.proto {
                    Proto::Http(http) => http.gap(dir, len, &ctx, &mut tally),
                    Proto::WebSocket(ws) => ws.gap(dir, len, &ctx, &mut tally),
                    Proto::Undecided => {
                        let pending = &mut state.gap_before_decision[dir.index()];
                        *pending = pending.saturating_add(len);
                    }
                    Proto::Opaque => {}
                }
            }
            StreamEvent::End { dir } => {
                if let Proto::Http(http) = &mut state.proto {
                    let mut tally = Tally {
                        summary: &mut state.summary,
                        kinds: &mut state.kinds,
                        inner: &mut self.sink,
                    };
                    http.end(dir, &ctx, &mut tally);
                }
            }
            StreamEvent::Notice { dir, notice } => {
                let (code, detail) = match notice {
                    TcpNotice::Midstream => {
                        state.midstream = true;
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
                let a = Anomaly {
                    code,
                    dir,
                    ts: ts_of(meta, pkt),
                    detail,
                };
                self.anomaly(state, &ctx, a);
            }
            StreamEvent::Closed { how } => self.finish_flow(state, &ctx, how),
        }
    }

    fn on_streams_done(&mut self, meta: &FlowMeta, state: &mut ConnState, pkt: Option<PacketRef>) {
        self.finish_parsers(state, &EventCtx { flow: meta, pkt });
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
        let ctx = EventCtx { flow: meta, pkt };
        let mut tally = Tally {
            summary: &mut state.summary,
            kinds: &mut state.kinds,
            inner: &mut self.sink,
        };
        match &mut state.proto {
            Proto::Http(http) => http.give_way(&ctx, &mut tally),
            Proto::WebSocket(ws) => ws.give_way(&ctx, &mut tally),
            Proto::Undecided | Proto::Opaque => {}
        }
        state.kinds.give_way();
        if let Some(c) = state.ws_candidate.as_deref_mut() {
            c.give_way();
        }
    }

    fn held_outside_flows(&self) -> Held {
        Held::buffers(self.inflaters.spare_bytes())
    }

    fn give_way_outside_flows(&mut self) {
        self.inflaters.drop_spares();
    }
}

/// Whether an accepted upgrade is to WebSocket: the request asked for it, or (when the request
/// was not captured) the 101 names it.
fn upgrades_to_websocket(u: &crate::proto::http::Upgrade) -> bool {
    let names_websocket = |headers: &[(String, Vec<u8>)]| {
        headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("upgrade")
                && value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"websocket"))
        })
    };
    if u.request_headers.is_empty() {
        names_websocket(&u.response_headers)
    } else {
        names_websocket(&u.request_headers)
    }
}

fn new_ws(
    config: &Config,
    inflaters: &websocket::InflaterBudget,
    meta: &FlowMeta,
    handshake: Option<&crate::proto::Handshake>,
) -> WsConn {
    WsConn::new(handshake, &config.limits, config.display_bytes_for(meta.id))
        .with_inflater_budget(inflaters.clone())
        .with_digest(config.digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::{RoleBasis, StreamHandler};
    use std::net::SocketAddr;

    #[derive(Default)]
    struct Codes {
        codes: Vec<Code>,
        requests: Vec<String>,
        frames: usize,
    }

    impl EventSink for Codes {
        fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
            match event {
                Event::Anomaly(a) => self.codes.push(a.code),
                Event::WsFrame(_) => self.frames += 1,
                Event::Http(m) => {
                    if let crate::proto::HttpHead::Request { target, .. } = m.head {
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

    const PKT: Option<PacketRef> = Some(PacketRef {
        frame: 5,
        ts: Timestamp::ZERO,
    });

    /// An analyzer with one flow, opened.
    fn opened() -> (ConnAnalyzer<Codes>, ConnState, FlowMeta) {
        let mut a = ConnAnalyzer::new(&Config::default(), Codes::default());
        let mut state = ConnState::default();
        let m = meta();
        a.on_event(&m, &mut state, PKT, StreamEvent::Opened);
        (a, state, m)
    }

    #[test]
    fn a_gap_before_the_first_data_is_not_mistaken_for_garbage() {
        // Seen from its SYN, the first request segment lost: the parser chosen when the next
        // bytes arrive must resynchronise on a request line, not call the rest of the head a
        // parse error.
        let (mut a, mut state, m) = opened();
        let pkt = PKT;
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

    #[test]
    fn a_websocket_candidate_is_charged_and_gives_its_bytes_way_said_only_if_confirmed() {
        let run = |give_way: bool, confirm: bool| {
            let (mut a, mut state, m) = opened();
            let pkt = PKT;
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
            (a.sink.codes, a.sink.frames)
        };
        assert_eq!(run(false, true), (vec![Code::TcpMidstream], 2));
        assert_eq!(
            run(true, true),
            (vec![Code::TcpMidstream, Code::WsBudgetCandidate], 1),
            "confirmed: the dropped delivery is not decoded, and that is said"
        );
        assert_eq!(run(true, false), (vec![Code::TcpMidstream], 0));
    }
}
