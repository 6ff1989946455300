//! A flow's kind, from the evidence its records give ([`KindTracker`]): http, websocket, sse,
//! long-poll (told from slow servers as the constants below say), other; and short polling.

use crate::budget::{Held, compact_deque, vec_bytes};
use crate::model::{FlowKind, FlowSummary, HeldRequest, HttpHead, HttpMessage, Record};
use crate::tcp::FlowMeta;
use crate::time::Timestamp;

/// Long polling: the client asks for a resource and the server *holds* the request until it has
/// something to say; as soon as the answer is in, the client asks for the same resource again.
/// Told from a slow server or a slow pipelined download by all three parts of that:
///
/// - **held**: the response began at least [`LONG_POLL_HOLD_SECS`] after its request was
///   complete, and the request was the only one awaiting an answer (a pipelined request waits
///   for the responses before it, not for the server to have news);
/// - **the same resource**: the held requests are for one path (the query, which often carries
///   a cursor or a counter, is ignored);
/// - **asked again at once**: each held request after the first was sent within
///   [`LONG_POLL_RENEW_SECS`] of the previous response's end.
///
/// Two such held requests in a row on one connection make it `long-poll`; so does one held
/// request on each of successive connections from one client to the same server and path (a
/// client that reconnects for every poll), remembered across flows by [`LongPollMemory`].
pub const LONG_POLL_HOLD_SECS: f64 = 1.0;
/// How soon after the previous answer a long poll is renewed.
pub const LONG_POLL_RENEW_SECS: f64 = 1.0;
/// Requests remembered per flow while awaiting their responses.
const PENDING_REQUESTS_CAP: usize = 64;
/// Held (client, server, target) triples remembered across flows.
const LONG_POLL_MEMORY_CAP: usize = 4096;

/// A request awaiting its response, as long-poll detection sees it.
#[derive(Clone, Copy, Debug)]
struct Asked {
    exchange: u64,
    /// When the request was complete.
    done: Timestamp,
    /// Hash of the path (query ignored).
    path: u64,
    /// Another request was still unanswered when it was sent.
    pipelined: bool,
    /// Sent within [`LONG_POLL_RENEW_SECS`] of the previous response's end.
    renewed: bool,
}

/// Per-flow evidence for the flow's kind, fed from the events the flow produced.
#[derive(Default)]
pub struct KindTracker {
    websocket: bool,
    /// The flow is TLS; `http2` when its ALPN named `h2`.
    tls: bool,
    http2: bool,
    sse: bool,
    http: bool,
    /// Requests not yet answered, oldest first.
    pending: std::collections::VecDeque<Asked>,
    /// When the last final response ended.
    last_answer: Option<Timestamp>,
    /// Held requests (any path), and the path of the last one.
    held: u32,
    held_path: Option<u64>,
    /// The current run of held requests for one path, each renewed at once, and the longest.
    run_path: Option<u64>,
    run: u32,
    longest_run: u32,
    /// Requests for the most asked-for path (query ignored) and that path's hash: a client
    /// asking for the same resource again and again, answered at once, is polling.
    repeat_target: Option<u64>,
    repeats: u32,
}

impl KindTracker {
    /// What a record of the flow says about its kind.
    pub fn observe(&mut self, record: &Record<'_>) {
        match *record {
            Record::Http(m) => self.on_http(m),
            Record::Handshake(_) => self.on_websocket(),
            Record::WsFrame(_)
            | Record::WsMessage(_)
            | Record::Sse(_)
            | Record::Tls(_)
            | Record::Anomaly(_)
            | Record::Latency(_) => {}
        }
    }

    /// Bytes on the heap (the requests awaiting their response, at most 64), for the memory
    /// budget: room for the newest `keep` is kept when [`KindTracker::give_way`] gives up the
    /// rest, so it counts as fixed.
    pub fn held(&self, keep: usize) -> Held {
        let room = self.pending.capacity();
        let kept = room.min(keep);
        Held {
            fixed: vec_bytes::<Asked>(kept),
            buffers: vec_bytes::<Asked>(room - kept),
        }
    }

    /// The memory budget ran short and the flow's HTTP parser kept only its `keep` newest
    /// unanswered requests in full (`http::KEEP_PENDING`; the older ones only as what framing
    /// their responses needs): the older ones are forgotten here too, so their responses are
    /// not timed for long-poll detection (the parser's `http.budget_pending` says so).
    pub fn give_way(&mut self, keep: usize) {
        let older = self.pending.len().saturating_sub(keep);
        self.pending.drain(..older);
        compact_deque(&mut self.pending);
    }

    /// The flow will deliver nothing more: requests still awaiting a response never get one,
    /// and the memory that remembered them is given back while the flow lingers.
    pub fn streams_done(&mut self) {
        self.pending = std::collections::VecDeque::new();
    }

    pub fn on_websocket(&mut self) {
        self.websocket = true;
    }

    /// The connection is TLS: `tls` unless what it carries says more.
    pub fn on_tls(&mut self) {
        self.tls = true;
    }

    /// The connection carries HTTP/2 (inside TLS, by ALPN).
    pub fn on_http2(&mut self) {
        self.http2 = true;
    }

    pub fn on_http(&mut self, m: &HttpMessage<'_>) {
        self.http = true;
        match m.head {
            HttpHead::Request { target, .. } => {
                let path = hash_str(target.split_once('?').map_or(target, |(path, _)| path));
                if let Some(exchange) = m.exchange {
                    if self.pending.len() == PENDING_REQUESTS_CAP {
                        self.pending.pop_front();
                    }
                    let renewed = self
                        .last_answer
                        .is_some_and(|t| m.start_ts.secs_since(t) <= LONG_POLL_RENEW_SECS);
                    self.pending.push_back(Asked {
                        exchange,
                        done: m.ts,
                        path,
                        pipelined: !self.pending.is_empty(),
                        renewed,
                    });
                }
                // Boyer-Moore majority vote over request paths: constant memory per flow.
                match self.repeat_target {
                    Some(t) if t == path => self.repeats += 1,
                    _ if self.repeats == 0 => {
                        self.repeat_target = Some(path);
                        self.repeats = 1;
                    }
                    _ => self.repeats -= 1,
                }
            }
            HttpHead::Response { status, .. } => {
                if status >= 200 || status == 101 {
                    self.last_answer = Some(m.ts);
                }
            }
        }
    }

    pub fn on_http_head(&mut self, m: &HttpMessage<'_>) {
        self.http = true;
        let HttpHead::Response { .. } = m.head else {
            return;
        };
        if m.is_event_stream() {
            self.sse = true;
        }
        // Interim responses and responses to requests never seen answer nothing here.
        let Some(exchange) = m.exchange else {
            return;
        };
        // Requests older than the one answered never got a response of their own.
        while self.pending.front().is_some_and(|a| a.exchange < exchange) {
            self.pending.pop_front();
        }
        let Some(asked) = self
            .pending
            .front()
            .copied()
            .filter(|a| a.exchange == exchange)
        else {
            return;
        };
        self.pending.pop_front();
        let held = !asked.pipelined && m.start_ts.secs_since(asked.done) >= LONG_POLL_HOLD_SECS;
        if !held {
            if self.run_path == Some(asked.path) {
                self.run = 0;
                self.run_path = None;
            }
            return;
        }
        self.held += 1;
        self.held_path = Some(asked.path);
        if self.run_path == Some(asked.path) && asked.renewed {
            self.run += 1;
        } else {
            self.run_path = Some(asked.path);
            self.run = 1;
        }
        self.longest_run = self.longest_run.max(self.run);
    }

    /// The flow's kind from its own evidence, decided when it closes, and the request it held
    /// if that makes it a long poll only when an earlier flow held one for the same path too (a
    /// client that reconnects for every poll: one held request per flow, repeated across flows):
    /// [`LongPollMemory::decide`] settles that in the order flows close.
    pub fn kind(&self, meta: &FlowMeta) -> (FlowKind, Option<HeldRequest>) {
        if self.websocket {
            return (FlowKind::WebSocket, None);
        }
        if self.sse {
            return (FlowKind::Sse, None);
        }
        if self.longest_run >= 2 {
            return (FlowKind::LongPoll, None);
        }
        let held = self.held_path.map(|path| HeldRequest {
            client: meta.client.ip(),
            server: meta.server,
            path,
        });
        let kind = if self.http {
            FlowKind::Http
        } else if self.http2 {
            FlowKind::Http2
        } else if self.tls {
            FlowKind::Tls
        } else {
            FlowKind::Other
        };
        (kind, held)
    }
}

impl KindTracker {
    /// Writes the flow's kind into its summary, with whether it is short polling and the request
    /// it held (see [`FlowSummary::held_request`]).
    pub fn decide(&self, meta: &FlowMeta, summary: &mut FlowSummary) {
        let (kind, held) = self.kind(meta);
        summary.kind = Some(kind);
        summary.polling = kind == FlowKind::Http && self.polling();
        summary.held_request = held;
    }

    /// Whether an `http` flow is short polling: the same path requested at least
    /// [`POLLING_MIN_REQUESTS`] times (a majority of its requests) and never held by the server.
    pub fn polling(&self) -> bool {
        self.http
            && !self.websocket
            && !self.sse
            && self.held == 0
            && self.repeats >= POLLING_MIN_REQUESTS
    }
}

/// Requests for one path (beyond the flow's other paths) that make a flow short polling.
pub const POLLING_MIN_REQUESTS: u32 = 3;

/// Held requests remembered across flows (bounded), to tell a long poll that reconnects for
/// every poll. Its answers depend on the order flows are shown to it: the order they close in
/// one flow table, which with several threads only the thread that prints sees.
#[derive(Default)]
pub struct LongPollMemory {
    seen: std::collections::HashSet<HeldRequest>,
}

impl LongPollMemory {
    /// Settles the kind of a closing flow that held a request ([`FlowSummary::held_request`]):
    /// a long poll if an earlier flow held one between the same ends for the same path.
    /// Flows are shown to it in the order they close.
    pub fn decide(&mut self, summary: &mut FlowSummary) {
        if let Some(held) = summary.held_request.take()
            && self.seen(held)
        {
            summary.kind = Some(FlowKind::LongPoll);
            summary.polling = false;
        }
    }

    /// Records `key`; returns whether it was already there.
    fn seen(&mut self, key: HeldRequest) -> bool {
        if self.seen.contains(&key) {
            return true;
        }
        if self.seen.len() < LONG_POLL_MEMORY_CAP {
            self.seen.insert(key);
        }
        false
    }
}

/// A request path's fingerprint for the vote: foldhash with a fixed seed (the same in every run,
/// as the vote's outcome must be), not SipHash, which costs more than the rest of the message.
fn hash_str(s: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(s)
}

#[cfg(test)]
mod kind_tests {
    use super::*;
    use crate::model::Header;
    use crate::proto::http::KEEP_PENDING;
    use crate::tcp::{Dir, RoleBasis};
    use std::net::SocketAddr;

    fn message(head: HttpHead<'static>, start: i64, end: i64) -> HttpMessage<'static> {
        HttpMessage {
            dir: if matches!(head, HttpHead::Request { .. }) {
                Dir::C2S
            } else {
                Dir::S2C
            },
            start_ts: Timestamp(start),
            ts: Timestamp(end),
            head,
            headers: &[] as &[Header<'static>],
            raw_head: b"",
            header_bytes: 0,
            body_bytes: 0,
            framing_bytes: 0,
            chunked: false,
            upgrade: None,
            body_head: b"",
            complete: true,
            digest: crate::model::Digest::Off,
            exchange: None,
        }
    }

    fn meta() -> FlowMeta {
        FlowMeta::new(
            1,
            SocketAddr::from(([10, 0, 0, 1], 40000)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
            RoleBasis::Syn,
            Timestamp(0),
        )
    }

    const S: i64 = 1_000_000_000;

    /// What the flow's HTTP layer reports, in order.
    enum Step {
        /// A request: exchange number, target, first and last byte (ns).
        Req(u64, &'static str, i64, i64),
        /// A final response: the exchange it answers, first and last byte (ns).
        Resp(Option<u64>, i64, i64),
    }

    fn feed(steps: &[Step]) -> (KindTracker, FlowKind) {
        let mut k = KindTracker::default();
        for step in steps {
            let (head, exchange, start, end) = match *step {
                Step::Req(n, target, start, end) => (
                    HttpHead::Request {
                        method: "GET",
                        target,
                        version: 1,
                    },
                    Some(n),
                    start,
                    end,
                ),
                Step::Resp(n, start, end) => (
                    HttpHead::Response {
                        version: 1,
                        status: 200,
                        reason: "OK",
                    },
                    n,
                    start,
                    end,
                ),
            };
            let m = HttpMessage {
                exchange,
                ..message(head, start, end)
            };
            k.on_http_head(&m);
            k.on_http(&m);
        }
        let (kind, _) = k.kind(&meta());
        (k, kind)
    }

    /// Request/response pairs one after the other: (target, seconds the server held the
    /// request); each request is sent 0.3 s after the previous response.
    fn run(pairs: &[(&'static str, f64)]) -> (KindTracker, FlowKind) {
        let mut steps = Vec::new();
        let mut t = 0i64;
        for (n, &(target, held)) in pairs.iter().enumerate() {
            let n = n as u64;
            steps.push(Step::Req(n, target, t, t + 1_000));
            let start = t + 1_000 + (held * 1e9) as i64;
            steps.push(Step::Resp(Some(n), start, start + 1_000));
            t = start + 300_000_000;
        }
        feed(&steps)
    }

    #[test]
    fn giving_way_keeps_only_the_newest_unanswered_requests() {
        let steps: Vec<Step> = (0..20)
            .map(|n| Step::Req(n, "/many", n as i64 * S, n as i64 * S + 1_000))
            .collect();
        let (mut k, _) = feed(&steps);
        let before = k.held(KEEP_PENDING);
        k.give_way(KEEP_PENDING);
        let left: Vec<u64> = k.pending.iter().map(|a| a.exchange).collect();
        assert_eq!(left, (12..20).collect::<Vec<u64>>());
        assert!(k.held(KEEP_PENDING).total() < before.total());
        assert_eq!(
            k.held(KEEP_PENDING),
            Held::fixed(vec_bytes::<Asked>(KEEP_PENDING))
        );
        // Responses to the forgotten requests match nothing; the kept ones still do.
        for n in 0..20 {
            let m = HttpMessage {
                exchange: Some(n),
                ..message(
                    HttpHead::Response {
                        version: 1,
                        status: 200,
                        reason: "OK",
                    },
                    30 * S,
                    30 * S + 1_000,
                )
            };
            k.on_http_head(&m);
            k.on_http(&m);
        }
        assert!(k.pending.is_empty());
    }

    #[test]
    fn repeated_quick_requests_for_one_path_are_polling() {
        let (k, kind) = run(&[("/poll?n=1", 0.0), ("/poll?n=2", 0.0), ("/poll?n=3", 0.0)]);
        assert_eq!(kind, FlowKind::Http);
        assert!(k.polling());
    }

    #[test]
    fn a_page_load_is_not_polling() {
        let (k, _) = run(&[
            ("/", 0.0),
            ("/app.js", 0.0),
            ("/style.css", 0.0),
            ("/", 0.0),
        ]);
        assert!(!k.polling());
    }

    #[test]
    fn held_requests_are_long_polling_not_polling() {
        let (k, kind) = run(&[("/poll?n=1", 1.5), ("/poll?n=2", 1.5), ("/poll?n=3", 1.5)]);
        assert_eq!(kind, FlowKind::LongPoll);
        assert!(!k.polling());
        let (_, kind) = run(&[("/poll", 1.5)]);
        assert_eq!(
            kind,
            FlowKind::Http,
            "one held request alone is not a pattern"
        );
    }

    #[test]
    fn slow_answers_for_different_resources_are_not_long_polling() {
        // A slow server answering a page load one resource after the other.
        let (_, kind) = run(&[("/", 3.2), ("/app.js", 2.0), ("/photo.jpg", 1.5)]);
        assert_eq!(kind, FlowKind::Http);
    }

    #[test]
    fn a_slow_pipelined_download_is_not_long_polling() {
        // Four requests for the same image sent at once; the server sends one response every
        // 1.5 s. Each waited ≥ 1 s, but for the responses before it.
        let mut steps: Vec<Step> = (0..4)
            .map(|n| Step::Req(n, "/img/cat.jpg", n as i64 * 1000, n as i64 * 1000 + 500))
            .collect();
        for n in 0..4u64 {
            let start = (n as i64 + 1) * 3 * S / 2;
            steps.push(Step::Resp(Some(n), start, start + S));
        }
        let (k, kind) = feed(&steps);
        assert_eq!(kind, FlowKind::Http);
        // Only the first request waited on the server alone, and it stands by itself.
        assert_eq!(k.held, 1);
    }

    #[test]
    fn a_held_request_renewed_late_is_not_long_polling() {
        // The same slow resource asked for again only after 5 s: a user, not a poll loop.
        let (_, kind) = feed(&[
            Step::Req(0, "/report", 0, 1_000),
            Step::Resp(Some(0), 2 * S, 2 * S + 1_000),
            Step::Req(1, "/report", 7 * S, 7 * S + 1_000),
            Step::Resp(Some(1), 9 * S, 9 * S + 1_000),
        ]);
        assert_eq!(kind, FlowKind::Http);
    }

    #[test]
    fn responses_are_matched_by_exchange_not_by_order() {
        // The response to request 0 was lost in a gap: request 1's response must not be
        // measured against request 0, nor is request 1 pipelined behind an answered request.
        let (_, kind) = feed(&[
            Step::Req(0, "/a", 0, 1_000),
            Step::Resp(None, S, S + 1_000),
            Step::Req(1, "/poll", S + 2_000, S + 3_000),
            Step::Resp(Some(1), S + 5_000, S + 6_000),
            Step::Req(2, "/poll", S + 7_000, S + 8_000),
            Step::Resp(Some(2), S + 9_000, S + 10_000),
        ]);
        assert_eq!(kind, FlowKind::Http);
        let (_, kind) = feed(&[
            Step::Req(0, "/a", 0, 1_000),
            Step::Req(1, "/poll", 2_000, 3_000),
            Step::Resp(Some(1), 2 * S, 2 * S + 1_000),
            Step::Req(2, "/poll", 2 * S + 2_000, 2 * S + 3_000),
            Step::Resp(Some(2), 4 * S, 4 * S + 1_000),
        ]);
        // Request 1 was sent while request 0 was unanswered: pipelined, so not a held poll;
        // request 2 alone is not a pattern.
        assert_eq!(kind, FlowKind::Http);
    }

    #[test]
    fn one_held_request_per_flow_is_long_polling_from_the_second_flow_on() {
        let one_held = |target| {
            let (k, _) = run(&[(target, 1.5)]);
            let (kind, held) = k.kind(&meta());
            FlowSummary {
                kind: Some(kind),
                held_request: held,
                ..FlowSummary::default()
            }
        };
        let mut memory = LongPollMemory::default();
        let mut decided = |mut summary: FlowSummary| {
            memory.decide(&mut summary);
            assert_eq!(summary.held_request, None, "settled once");
            summary.kind
        };
        assert_eq!(decided(one_held("/poll?n=1")), Some(FlowKind::Http));
        assert_eq!(decided(one_held("/poll?n=2")), Some(FlowKind::LongPoll));
        assert_eq!(decided(one_held("/other")), Some(FlowKind::Http));
        // A flow that is a long poll by itself holds nothing for the memory to settle.
        let (k, _) = run(&[("/poll", 1.5), ("/poll", 1.5)]);
        assert_eq!(k.kind(&meta()), (FlowKind::LongPoll, None));
    }
}
