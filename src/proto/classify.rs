//! A flow's kind, and content detection for `--any-port` and mid-stream pick-up.

use crate::proto::{FlowKind, HttpHead, HttpMessage};
use crate::tcp::FlowMeta;
use crate::time::Timestamp;
use std::net::{IpAddr, SocketAddr};

/// Does `data` (the first bytes one side sent) start like an HTTP/1.x request line?
pub fn looks_like_http_request(data: &[u8]) -> bool {
    const METHODS: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"CONNECT ",
        b"TRACE ",
    ];
    METHODS
        .iter()
        .any(|m| data.len() >= m.len() && &data[..m.len()] == *m)
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
}

impl KindTracker {
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
