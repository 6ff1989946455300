//! A flow's kind, and content detection for `--any-port` and mid-stream pick-up.

use crate::proto::{FlowKind, HttpHead, HttpMessage};
use crate::tcp::FlowMeta;
use crate::time::Timestamp;
use std::net::{IpAddr, SocketAddr};

/// Does `data` (the first bytes one side sent) start like an HTTP/1.x request line?
pub fn looks_like_http_request(data: &[u8]) -> bool {
    crate::proto::http::REQUEST_METHODS
        .iter()
        .any(|m| data.starts_with(m))
}

/// Does `data` start like an HTTP/1.x status line?
pub fn looks_like_http_response(data: &[u8]) -> bool {
    data.starts_with(b"HTTP/1.")
}

/// Role hint for the flow table: the side that sends a request (or masked WebSocket frames) is
/// the client; the side that sends a status line (or unmasked frames) is the server.
pub fn role_hint(data: &[u8]) -> Option<bool> {
    if looks_like_http_request(data) {
        Some(true)
    } else if looks_like_http_response(data) {
        Some(false)
    } else {
        crate::proto::websocket::sniff_frames(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_lines() {
        assert!(looks_like_http_request(b"GET /chat HTTP/1.1\r\n"));
        assert!(!looks_like_http_request(b"GETX"));
        assert!(!looks_like_http_request(b"GE"));
        assert!(looks_like_http_response(
            b"HTTP/1.1 101 Switching Protocols\r\n"
        ));
        assert_eq!(role_hint(b"POST / HTTP/1.0\r\n"), Some(true));
        assert_eq!(role_hint(b"HTTP/1.0 200 OK\r\n"), Some(false));
    }
}

/// A response held this long after its request completed counts as a long poll.
pub const LONG_POLL_HOLD_SECS: f64 = 1.0;
/// Requests remembered per flow while awaiting their responses.
const PENDING_REQUESTS_CAP: usize = 64;
/// Held (client, server, target) triples remembered across flows.
const LONG_POLL_MEMORY_CAP: usize = 4096;

/// Per-flow evidence for the flow's kind, fed from the events the flow produced.
#[derive(Default)]
pub struct KindTracker {
    websocket: bool,
    sse: bool,
    http: bool,
    /// Completion times and target hashes of requests not yet answered, oldest first.
    pending: std::collections::VecDeque<(Timestamp, u64)>,
    /// Responses that came ≥ 1 s after their request.
    held: u32,
    held_target: Option<u64>,
    /// Requests for the most asked-for path (query ignored) and that path's hash: a client
    /// asking for the same resource again and again, answered at once, is polling.
    repeat_target: Option<u64>,
    repeats: u32,
}

impl KindTracker {
    /// Bytes on the heap (the requests awaiting their response, at most 64), for the memory
    /// budget.
    pub fn held(&self) -> usize {
        crate::budget::vec_bytes::<(Timestamp, u64)>(self.pending.capacity())
    }

    pub fn on_websocket(&mut self) {
        self.websocket = true;
    }

    pub fn on_http(&mut self, m: &HttpMessage<'_>) {
        self.http = true;
        if let HttpHead::Request { target, .. } = m.head {
            if self.pending.len() == PENDING_REQUESTS_CAP {
                self.pending.pop_front();
            }
            self.pending.push_back((m.ts, hash_str(target)));
            // Boyer-Moore majority vote over request paths: constant memory per flow.
            let path = hash_str(target.split('?').next().unwrap_or(target));
            match self.repeat_target {
                Some(t) if t == path => self.repeats += 1,
                _ if self.repeats == 0 => {
                    self.repeat_target = Some(path);
                    self.repeats = 1;
                }
                _ => self.repeats -= 1,
            }
        }
    }

    pub fn on_http_head(&mut self, m: &HttpMessage<'_>) {
        self.http = true;
        let HttpHead::Response { status, .. } = m.head else {
            return;
        };
        if m.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("content-type")
                && h.value.len() >= 17
                && h.value[..17].eq_ignore_ascii_case(b"text/event-stream")
        }) {
            self.sse = true;
        }
        if status < 200 {
            return; // interim: the request is still waiting for its final answer
        }
        if let Some((asked, target)) = self.pending.pop_front()
            && m.start_ts.secs_since(asked) >= LONG_POLL_HOLD_SECS
        {
            self.held += 1;
            self.held_target = Some(target);
        }
    }

    /// The flow's kind, decided when it closes. `memory` recognises long polls that reconnect
    /// for every poll: one held request per flow, repeated across flows.
    pub fn kind(&self, meta: &FlowMeta, memory: &mut LongPollMemory) -> FlowKind {
        if self.websocket {
            return FlowKind::WebSocket;
        }
        if self.sse {
            return FlowKind::Sse;
        }
        if let Some(target) = self.held_target {
            let key = (meta.client.ip(), meta.server, target);
            let seen_before = memory.seen(key);
            if self.held >= 2 || seen_before {
                return FlowKind::LongPoll;
            }
        }
        if self.http {
            FlowKind::Http
        } else {
            FlowKind::Other
        }
    }
}

impl KindTracker {
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

/// Held requests remembered across flows (bounded).
#[derive(Default)]
pub struct LongPollMemory {
    seen: std::collections::HashSet<(IpAddr, SocketAddr, u64)>,
}

impl LongPollMemory {
    /// Records `key`; returns whether it was already there.
    fn seen(&mut self, key: (IpAddr, SocketAddr, u64)) -> bool {
        if self.seen.contains(&key) {
            return true;
        }
        if self.seen.len() < LONG_POLL_MEMORY_CAP {
            self.seen.insert(key);
        }
        false
    }
}

fn hash_str(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod kind_tests {
    use super::*;
    use crate::proto::Header;
    use crate::tcp::{Dir, RoleBasis};

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
            digest: crate::proto::Digest::Off,
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

    /// Feeds request/response pairs: (target, seconds the server held the request).
    fn run(pairs: &[(&'static str, f64)]) -> (KindTracker, FlowKind) {
        let mut k = KindTracker::default();
        let mut t = 0i64;
        for &(target, held) in pairs {
            let req = message(
                HttpHead::Request {
                    method: "GET",
                    target,
                    version: 1,
                },
                t,
                t + 1_000,
            );
            k.on_http_head(&req);
            k.on_http(&req);
            let start = t + 1_000 + (held * 1e9) as i64;
            let resp = message(
                HttpHead::Response {
                    version: 1,
                    status: 200,
                    reason: "OK",
                },
                start,
                start + 1_000,
            );
            k.on_http_head(&resp);
            k.on_http(&resp);
            t = start + 300_000_000;
        }
        let kind = k.kind(&meta(), &mut LongPollMemory::default());
        (k, kind)
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
        let (k, kind) = run(&[("/poll", 1.5), ("/poll", 1.5), ("/poll", 1.5)]);
        assert_eq!(kind, FlowKind::LongPoll);
        assert!(!k.polling());
        let (_, kind) = run(&[("/poll", 1.5)]);
        assert_eq!(
            kind,
            FlowKind::Http,
            "one held request alone is not a pattern"
        );
    }
}
