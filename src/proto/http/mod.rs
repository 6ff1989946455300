//! HTTP/1.x over one TCP connection: incremental parsing of both directions with httparse,
//! keep-alive and pipelining (responses matched to requests in order), Content-Length, chunked
//! bodies, bodiless responses (HEAD, 1xx, 204, 304), close-delimited bodies, Server-Sent Events,
//! CONNECT tunnels, and the Upgrade hand-off at the exact byte after each side's head (to the
//! protocol the upgrade names: [`dissect`]).
//!
//! Promises:
//! - **No panics, bounded memory.** Per direction only the unparsed tail of an incomplete head
//!   is buffered (at most [`Limits::max_http_head`]), plus one copy of the head of the message
//!   whose body is still arriving (same cap) and the body preview. Client bytes held while an
//!   upgrade or CONNECT awaits its response are capped by [`Limits::max_upgrade_hold`]. Up to
//!   1024 unanswered requests are remembered in full; older ones only by whether they were a HEAD
//!   or CONNECT (16 bytes each, at most 1024: see `Evicted`), reported once as
//!   `http.requests_evicted`. A head may have any number of fields within the head cap. What
//!   the connection holds is reported by [`HttpConn::held`], and [`HttpConn::give_way`] gives up
//!   every buffer for the memory budget, each loss with its anomaly.
//! - **Zero-copy on the common path.** A head that arrives whole is parsed straight from the
//!   input; a message that completes in the same input is reported with headers borrowed from it.
//!   Header arrays are reused (and released after an unusually large head), nothing is allocated
//!   per message (upgrade requests and repaired heads excepted; see the `head` module).
//! - **Exact accounting.** For every message `header_bytes` is its whole head (start line,
//!   header lines, blank line, and empty lines before the start line), `body_bytes` the entity
//!   bytes, `framing_bytes` the chunked framing, so that over a well-formed stream the three sum
//!   to the stream's length, whatever the segmentation.
//! - **Never guess.** Bytes that are not HTTP/1.x raise `http.parse_error` (naming the offending
//!   byte's offset and quoting its line, escaped) and that direction is no longer decoded. What
//!   RFC 9112 lets a recipient repair is repaired and reported instead: obs-fold is unfolded
//!   (`http.obs_fold`, §5.2), whitespace before a colon stripped (`http.field_space` in a
//!   response; `http.request_field_space`, an error, in a request, which §5.1 says a server must
//!   reject; the request is still decoded as if the whitespace were absent).
//!
//! Policies (documented here because callers and printers depend on them):
//! - *Framing* follows RFC 9112 §6.3: no body for HEAD responses, 1xx, 204, 304; a 2xx answer to
//!   CONNECT turns the connection into an opaque tunnel (neither direction is decoded after
//!   it, see [`HttpConn::is_tunnel`]); Transfer-Encoding wins over Content-Length (reported as
//!   `http.ambiguous_framing`, as is Transfer-Encoding in an HTTP/1.0 message); a request whose
//!   Transfer-Encoding does not end in `chunked`, or with an invalid or conflicting
//!   Content-Length, is a parse error; a response without either is delimited by the close.
//!   Connection persistence (HTTP/1.0 without keep-alive, `Connection: close`) never changes
//!   framing, so bytes after such a message are still decoded.
//! - *Matching*: each final response answers the oldest unanswered request that began no later
//!   than the response did; a response older than every unanswered request (a connection picked
//!   up mid-stream, requests lost in a gap) answers a request never seen and is framed as a
//!   response to GET. 1xx other than 101 are interim and answer nothing.
//! - *Gaps* (`gap`): missing bytes inside a body of known extent (Content-Length, chunk data,
//!   close-delimited) only shorten what is left; they count as body bytes (the framing says they
//!   were there) so the accounting still adds up, the preview stops at the hole, and the message
//!   is reported with `complete == false`. A gap anywhere else (a head, chunk framing, between
//!   messages) loses the framing: the message in progress is reported incomplete and the
//!   direction **resynchronises** on the next request line (`GET `, `POST `, ...) or status line
//!   (`HTTP/1.0 `, `HTTP/1.1 `) found at a line start, at the first byte of an input (a segment:
//!   a status line often starts the segment after a binary body that has no line break), or
//!   right after a gap. A candidate is a guess until its head parses: one that does not is
//!   skipped like the bytes before it, not a parse error. Bytes skipped are reported once as
//!   `http.resync` (when a message is found after them, or when the direction ends without one).
//!   [`HttpConn::picked_up_midstream`] starts both directions in that mode.
//! - *Cut heads*: a head that will never be completed (a gap or the snaplen cut it, or the
//!   stream ended inside it) is reported for what it holds, as tshark shows it: an incomplete
//!   message with its start line (completed when only the version's or the reason's tail is
//!   missing) and every whole header field, and `http.truncated` quoting its bytes. A cut
//!   request still takes its place among the requests awaiting an answer.
//! - *Upgrade*: after a request carrying `Upgrade` (or a CONNECT) is complete, later client bytes
//!   are held, not parsed, until its final response. `101` → [`Feed::Upgraded`] and
//!   [`HttpConn::take_upgrade`] (also for a 101 with no matching request, with empty request
//!   headers); any other final answer to a WebSocket upgrade → `ws.upgrade_refused` (other
//!   protocols, e.g. h2c, may be declined silently), and the held bytes are parsed as HTTP with
//!   the timestamps at which they arrived. If the held bytes outgrow the cap
//!   (`http.upgrade_hold_overflow`) or a gap hits them (`http.resync`), all of them and every
//!   client byte until the response are dropped: after a 101 the WebSocket layer then starts on
//!   the client side mid-stream (`held_c2s` empty), after a refusal the client side
//!   resynchronises. If the connection ends before the response, the held bytes are reported
//!   (`http.upgrade_unanswered`, quoting them).
//! - *Ends*: `end(dir)` (FIN) completes a close-delimited body and reports any other message in
//!   progress on that side as incomplete; `finish` reports everything in progress as incomplete
//!   (a close-delimited body without FIN may have been cut). A partial head is a cut head.

mod chunked;
pub mod dissect;
mod head;
mod sse;
#[cfg(test)]
mod tests;

use self::chunked::ChunkedDecoder;
use self::head::{HeadError, HeadParser, ParsedHead, Repairs};
use self::sse::SseParser;
use crate::budget::{Held, box_bytes, compact, compact_deque, vec_bytes};
use crate::config::Limits;
use crate::model::{Code, Header, HttpHead, HttpMessage, Record, SseEvent};
use crate::proto::digest::{Digest, Hasher};
use crate::proto::dissect::{Cx, OwnedHeaders, Upgrade};
use crate::tcp::{Dir, PacketRef};
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::mem;
use std::ops::Range;

/// Unanswered requests remembered in full for matching responses; older ones are remembered
/// only by what their response's framing needs (see [`Evicted`]).
const MAX_OUTSTANDING: usize = 1024;
/// Evicted HEAD and CONNECT requests remembered (16 bytes each); beyond that the framing of
/// responses to later evicted requests may be wrong, which the eviction anomaly says.
const MAX_EVICTED_HEADS: usize = 1024;
/// Arrival times remembered for held client bytes (further held inputs share the last one).
const MAX_HOLD_MARKS: usize = 256;
/// Bytes shown (escaped) in a parse error's detail.
const ERROR_PREVIEW: usize = 48;
/// Bytes needed to recognise a start line when resynchronising ("OPTIONS " is the longest).
const START_PROBE: usize = 9;
/// Head copies larger than this are released after their message instead of being kept.
const KEEP_CAPACITY: usize = 16 << 10;
/// Unanswered requests kept when the memory budget makes a connection give way: the oldest,
/// which the next responses answer.
pub const KEEP_PENDING: usize = 8;
/// Header arrays (and head layouts) with room for more fields than this are released after
/// their message instead of being kept.
const KEEP_HEADERS: usize = 256;

/// What [`HttpConn::feed`] did with the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed {
    /// All bytes were consumed (parsed, or buffered as an incomplete tail, or held back).
    Consumed,
    /// The server's `101 Switching Protocols` ended at `data[..offset]`: the bytes from `offset`
    /// on are the server's first WebSocket bytes. Call [`HttpConn::take_upgrade`] next.
    Upgraded { offset: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MethodKind {
    Head,
    Connect,
    Other,
}

/// A request whose final response has not been seen yet.
#[derive(Clone, Copy, Debug)]
struct Outstanding {
    seq: u64,
    method: MethodKind,
    start_ts: Timestamp,
    header_bytes: u64,
    /// Carried `Upgrade`, or is a CONNECT: client bytes after it wait for the response.
    switch: bool,
    /// The `Upgrade` header names `websocket`.
    websocket: bool,
    /// Its head was seen whole (not cut short, not evicted).
    whole: bool,
}

#[derive(Clone, Debug)]
enum Body {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

#[derive(Clone, Debug)]
enum State {
    /// Expecting a head (`head_buf` may hold its beginning).
    Head,
    Body(Body),
    /// Looking for the next start line; `head_buf` may hold a possible start line's beginning.
    /// Line starts, the first byte of every input (a segment) and the byte after a gap are
    /// candidates.
    Resync {
        at_line_start: bool,
    },
    /// Not decoded any more (parse error, cap, end of stream).
    Stopped,
}

/// Counters of the message in progress on one side.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    start_ts: Timestamp,
    header_bytes: u64,
    body_bytes: u64,
    framing_bytes: u64,
    chunked: bool,
    sse: bool,
    /// Bytes of the body were missing.
    holey: bool,
    /// Requests: the sequence number of a request that asks to switch protocols.
    switch_seq: Option<u64>,
    /// The request's sequence number (requests), or that of the request answered (final
    /// responses matched to a request).
    exchange: Option<u64>,
}

#[derive(Debug)]
struct Side {
    state: State,
    head_buf: Vec<u8>,
    head_start_ts: Timestamp,
    /// The head of the message whose body spans inputs, and where its parts lie.
    head_copy: Vec<u8>,
    layout: HeadLayout,
    preview: Vec<u8>,
    /// SHA-256 of the body in progress (`--digest`).
    digest: Hasher,
    msg: Progress,
    /// The head being read starts where resynchronisation guessed a start line: if it does not
    /// parse, scanning goes on instead of calling it a parse error.
    probing: bool,
    /// Bytes skipped since the framing was lost, not reported yet (`http.resync` is raised when
    /// a message is found after them, or when the direction ends).
    skipped: u64,
}

impl Side {
    fn new() -> Self {
        Side {
            state: State::Head,
            head_buf: Vec::new(),
            head_start_ts: Timestamp::ZERO,
            head_copy: Vec::new(),
            layout: HeadLayout::default(),
            preview: Vec::new(),
            digest: Hasher::Off,
            msg: Progress::default(),
            probing: false,
            skipped: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    Off,
    /// Holding client bytes until the final response to request `seq`.
    Holding {
        seq: u64,
    },
    /// As `Holding`, but the held bytes were dropped (cap or gap); `dropped` bytes so far.
    Lost {
        seq: u64,
        dropped: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Switched {
    Upgraded,
    Tunnel,
}

/// Reusable storage for the header slice of a message. The vector is re-typed to the lifetime
/// of each input (empty vectors of types with one layout share the allocation), which lets one
/// allocation serve every message safely.
#[derive(Debug, Default)]
struct HeaderScratch(Vec<Header<'static>>);

impl HeaderScratch {
    /// The reused vector, empty. It grows to the largest head the connection has seen (its
    /// headers are counted before they are copied in) and is released when that was unusually
    /// large: reserving a maximum up front would cost every connection.
    fn take<'b>(&mut self) -> Vec<Header<'b>> {
        recycle(mem::take(&mut self.0))
    }
    fn put(&mut self, v: Vec<Header<'_>>) {
        self.0 = if v.capacity() > KEEP_HEADERS {
            Vec::new()
        } else {
            recycle(v)
        };
    }
}

// `filter_map` (not `filter`) is what changes the element type; on an empty vector it yields
// nothing, and the standard library collects it in place, keeping the allocation.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'x, 'y>(mut v: Vec<Header<'x>>) -> Vec<Header<'y>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// Where the parts of a copied head lie in the copy, recorded when it is copied so that the
/// message's `Http` event is built without parsing the head a second time. The copy is the head
/// as it was on the wire, followed by its repaired version when it needed repairs (the parts
/// then lie in the repaired half).
#[derive(Debug, Default)]
struct HeadLayout {
    /// Length of the wire head at the start of the copy.
    raw_len: usize,
    /// Requests: method and target; responses: reason (and an empty range).
    line: [Range<usize>; 2],
    version: u8,
    /// `Some` for a response.
    status: Option<u16>,
    /// Name and value of each header.
    headers: Vec<(Range<usize>, Range<usize>)>,
}

impl HeadLayout {
    /// Copies `view`'s head into `copy` and records where its parts lie.
    fn copy(&mut self, copy: &mut Vec<u8>, view: &HeadView<'_>) {
        copy.clear();
        copy.extend_from_slice(view.raw);
        self.raw_len = view.raw.len();
        let (base, shift) = if view.parsed_from.as_ptr() == view.raw.as_ptr() {
            (view.raw, 0)
        } else {
            copy.extend_from_slice(view.parsed_from);
            (view.parsed_from, view.raw.len())
        };
        let at = |part: &[u8]| {
            let r = span_in(base, part);
            r.start + shift..r.end + shift
        };
        match view.head {
            HttpHead::Request {
                method,
                target,
                version,
            } => {
                self.line = [at(method.as_bytes()), at(target.as_bytes())];
                self.version = version;
                self.status = None;
            }
            HttpHead::Response {
                version,
                status,
                reason,
            } => {
                self.line = [at(reason.as_bytes()), 0..0];
                self.version = version;
                self.status = Some(status);
            }
        }
        self.headers.clear();
        if self.headers.capacity() > KEEP_HEADERS {
            self.headers = Vec::new();
        }
        self.headers.extend(
            view.headers
                .iter()
                .map(|h| (at(h.name.as_bytes()), at(h.value))),
        );
    }

    /// The memory budget ran short: only the start line of the head in `copy` is kept (the
    /// message is reported with it alone). Returns the bytes of header lines dropped. Repairs
    /// never touch the start line and keep every offset, so a start line recorded in the
    /// repaired half lies at the same place in the wire head.
    fn keep_start_line(&mut self, copy: &mut Vec<u8>) -> usize {
        let raw_len = self.raw_len.min(copy.len());
        let line = memchr::memchr(b'\n', head(copy, raw_len)).map_or(raw_len, |i| i + 1);
        for part in &mut self.line {
            if part.start >= raw_len {
                *part = part.start - raw_len..part.end - raw_len;
            }
            if part.end > line {
                *part = 0..0;
            }
        }
        let mut kept = Vec::with_capacity(line);
        kept.extend_from_slice(head(copy, line));
        *copy = kept;
        self.raw_len = line;
        self.headers = Vec::new();
        raw_len - line
    }

    /// The wire head, start line and headers again, borrowed from `copy`.
    fn rebuild<'c>(
        &self,
        copy: &'c [u8],
        headers: &mut Vec<Header<'c>>,
    ) -> (&'c [u8], HttpHead<'c>) {
        headers.clear();
        headers.extend(self.headers.iter().map(|(name, value)| Header {
            name: text_at(copy, name),
            value: copy.get(value.clone()).unwrap_or_default(),
        }));
        let [first, second] = &self.line;
        let head = match self.status {
            None => HttpHead::Request {
                method: text_at(copy, first),
                target: text_at(copy, second),
                version: self.version,
            },
            Some(status) => HttpHead::Response {
                version: self.version,
                status,
                reason: text_at(copy, first),
            },
        };
        (copy.get(..self.raw_len).unwrap_or(copy), head)
    }
}

/// The range `part` occupies within `base` (empty if it lies elsewhere, e.g. a static "").
fn span_in(base: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if end <= base.len() => start..end,
        _ => 0..0,
    }
}

fn text_at<'c>(copy: &'c [u8], span: &Range<usize>) -> &'c str {
    copy.get(span.clone())
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or_default()
}

/// Framing facts of a head, gathered in one pass over its headers.
#[derive(Clone, Copy, Debug, Default)]
struct Facts<'b> {
    /// `None`: absent; `Err`: invalid or conflicting.
    content_length: Option<Result<u64, &'static str>>,
    transfer_encoding: bool,
    /// The last transfer coding is `chunked`.
    chunked: bool,
    upgrade: Option<&'b str>,
    websocket: bool,
    event_stream: bool,
}

/// How one processing step advanced through the input.
enum Step {
    Advanced(usize),
    Upgraded(usize),
}

/// What the head handler did with the bytes after a head.
enum AfterHead {
    Continue(usize),
    Upgraded(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyEnd {
    Complete,
    /// The framing broke; the direction is stopped.
    Broken,
}

struct BodyStep {
    consumed: usize,
    end: Option<BodyEnd>,
}

/// Requests evicted from the full record of unanswered requests: their responses come first,
/// and only what framing them needs is kept (RFC 9112 §6.3: no body after HEAD, a tunnel after
/// CONNECT).
#[derive(Debug, Default)]
struct Evicted {
    /// The oldest evicted request still unanswered, and one past the newest evicted one.
    next: u64,
    end: u64,
    /// Evicted HEAD and CONNECT requests, by sequence number, oldest first.
    special: VecDeque<(u64, MethodKind)>,
    /// `special` overflowed (or was given up for the memory budget): the method of some
    /// evicted requests is unknown.
    forgot: bool,
    /// `http.requests_evicted` was raised for the count cap.
    cap_reported: bool,
}

/// Both directions of one HTTP connection.
#[derive(Debug)]
pub struct HttpConn {
    sides: [Side; 2],
    outstanding: VecDeque<Outstanding>,
    /// Created at the first eviction.
    evicted: Option<Box<Evicted>>,
    next_seq: u64,
    hold: Hold,
    held: Vec<u8>,
    /// (offset in `held`, arrival time) of each held input.
    held_marks: Vec<(usize, Timestamp)>,
    /// Owned headers of the latest request that carried `Upgrade`.
    /// The pending upgrade request: its number, headers and target.
    upgrade_request: Option<(u64, OwnedHeaders, String)>,
    /// Boxed, as the rest of the rare states: they would otherwise cost every connection.
    upgrade: Option<Box<Upgrade>>,
    switched: Option<Switched>,
    /// See [`HttpConn::upgrade_hinted`].
    upgrade_hint: bool,
    /// Created with the connection's first event-stream response.
    sse: Option<Box<SseParser>>,
    scratch: HeaderScratch,
    heads: HeadParser,
    max_head: usize,
    max_hold: usize,
    preview: usize,
    last_ts: Timestamp,
}

impl HttpConn {
    pub fn new(limits: &Limits, preview: usize) -> Self {
        HttpConn {
            sides: [Side::new(), Side::new()],
            outstanding: VecDeque::new(),
            evicted: None,
            next_seq: 0,
            hold: Hold::Off,
            held: Vec::new(),
            held_marks: Vec::new(),
            upgrade_request: None,
            upgrade: None,
            switched: None,
            upgrade_hint: false,
            sse: None,
            scratch: HeaderScratch::default(),
            heads: HeadParser::default(),
            max_head: limits.max_http_head,
            max_hold: limits.max_upgrade_hold,
            preview,
            last_ts: Timestamp::ZERO,
        }
    }

    /// Compute the SHA-256 of every body (`--digest`).
    pub fn with_digest(mut self, on: bool) -> Self {
        for side in &mut self.sides {
            side.digest = Hasher::new(on);
        }
        self
    }

    /// The connection was picked up without its start: both directions skip to the next start
    /// line instead of treating the first bytes as a head.
    pub fn picked_up_midstream(&mut self) {
        for side in &mut self.sides {
            if matches!(side.state, State::Head) && side.head_buf.is_empty() {
                side.state = State::Resync {
                    at_line_start: true,
                };
            }
        }
    }

    /// Whether `dir` lost its framing (after a gap or garbage) and is scanning for the next
    /// start line.
    pub fn is_resyncing(&self, dir: Dir) -> bool {
        matches!(self.sides[dir.index()].state, State::Resync { .. })
    }

    /// Whether the connection asked to switch to WebSocket (an upgrade request was seen) or a
    /// `101` began (a status line cut short): frames found after the framing was lost may then
    /// be the WebSocket the HTTP layer never handed over.
    pub fn upgrade_hinted(&self) -> bool {
        self.upgrade_hint
    }

    /// A CONNECT was answered with 2xx: the rest of the connection is an opaque tunnel.
    pub fn is_tunnel(&self) -> bool {
        self.switched == Some(Switched::Tunnel)
    }

    /// Feeds in-order bytes of one direction; emits `HttpHead`, `Http`, `Sse` and `Anomaly`
    /// events.
    pub fn feed(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) -> Feed {
        let now = self.now(cx.pkt);
        if self.switched.is_some() {
            return Feed::Consumed;
        }
        self.feed_at(dir, data, now, cx)
    }

    /// `len` bytes of `dir` are missing.
    pub fn gap(&mut self, dir: Dir, len: u64, cx: &mut Cx<'_>) {
        let now = self.now(cx.pkt);
        if self.switched.is_some() || len == 0 {
            return;
        }
        if dir == Dir::C2S && self.hold != Hold::Off {
            match self.hold {
                Hold::Holding { seq } => {
                    let dropped = (self.held.len() as u64).saturating_add(len);
                    self.clear_held();
                    self.hold = Hold::Lost { seq, dropped };
                    let detail = format!(
                        "gap of {len} bytes in client bytes held after an upgrade request; \
                         the held bytes were dropped"
                    );
                    cx.anomaly_at(now, Code::HttpResync, Some(dir), detail);
                }
                Hold::Lost { seq, dropped } => {
                    self.hold = Hold::Lost {
                        seq,
                        dropped: dropped.saturating_add(len),
                    };
                }
                Hold::Off => {}
            }
            return;
        }
        let d = dir.index();
        let side = &mut self.sides[d];
        match &mut side.state {
            State::Stopped => return,
            State::Resync { at_line_start } => {
                *at_line_start = true;
                side.skipped = side.skipped.saturating_add(side.head_buf.len() as u64);
                side.head_buf.clear();
                return;
            }
            State::Head => {
                self.cut_head(dir, "a gap", Code::HttpTruncated, now, cx);
                self.sides[d].state = State::Resync {
                    at_line_start: true,
                };
                return;
            }
            State::Body(_) => {}
        }
        // A gap inside a body.
        side.msg.holey = true;
        let kept_framing = match &mut side.state {
            State::Body(Body::Length(remaining)) => {
                let inside = len.min(*remaining);
                *remaining -= inside;
                side.msg.body_bytes = side.msg.body_bytes.saturating_add(inside);
                if *remaining > 0 {
                    None
                } else {
                    Some(len == inside)
                }
            }
            State::Body(Body::Chunked(dec)) => {
                if dec.skip(len) {
                    side.msg.body_bytes = side.msg.body_bytes.saturating_add(len);
                    None
                } else {
                    Some(false)
                }
            }
            State::Body(Body::UntilClose) => {
                side.msg.body_bytes = side.msg.body_bytes.saturating_add(len);
                None
            }
            _ => None,
        };
        if side.msg.sse
            && let Some(sse) = self.sse.as_deref_mut()
        {
            sse.desync();
        }
        match kept_framing {
            // The message goes on (its remaining bytes are still to come).
            None => {}
            // The gap ended exactly where the body did: the next message follows.
            Some(true) => {
                self.emit_from_copy(dir, false, now, cx);
                self.after_message(dir, BodyEnd::Complete);
            }
            Some(false) => {
                self.emit_from_copy(dir, false, now, cx);
                self.after_message(dir, BodyEnd::Broken);
                self.sides[d].state = State::Resync {
                    at_line_start: true,
                };
            }
        }
    }

    /// `dir` sent FIN: completes a close-delimited body.
    pub fn end(&mut self, dir: Dir, cx: &mut Cx<'_>) {
        let now = self.now(cx.pkt);
        if self.switched.is_some() {
            return;
        }
        self.flush(dir, true, now, cx);
    }

    /// The flow is over: emits incomplete messages with `complete == false`, and reports client
    /// bytes still held for an upgrade that was never answered.
    pub fn finish(&mut self, cx: &mut Cx<'_>) {
        let now = self.now(cx.pkt);
        if self.switched.is_some() {
            return;
        }
        self.flush(Dir::C2S, false, now, cx);
        self.flush(Dir::S2C, false, now, cx);
        if let Hold::Holding { .. } = self.hold
            && !self.held.is_empty()
        {
            let detail = format!(
                "the connection ended before the response to an upgrade (or CONNECT) request; \
                 the {} client bytes held since were not decoded: \"{}\"",
                self.held.len(),
                escaped(&self.held)
            );
            cx.anomaly_at(now, Code::HttpUpgradeUnanswered, Some(Dir::C2S), detail);
        }
        self.hold = Hold::Off;
        self.clear_held();
    }

    /// After [`Feed::Upgraded`]: the upgrade's heads and held client bytes.
    pub fn take_upgrade(&mut self) -> Option<Upgrade> {
        self.upgrade.take().map(|u| *u)
    }

    fn now(&mut self, pkt: Option<PacketRef>) -> Timestamp {
        if let Some(pkt) = pkt {
            self.last_ts = pkt.ts;
        }
        self.last_ts
    }

    fn feed_at(&mut self, dir: Dir, data: &[u8], now: Timestamp, cx: &mut Cx<'_>) -> Feed {
        let mut pos = 0usize;
        while pos < data.len() {
            if self.switched.is_some() {
                break;
            }
            let rest = tail(data, pos);
            if dir == Dir::C2S && self.hold != Hold::Off {
                self.hold_bytes(rest, now, cx);
                break;
            }
            let step = match self.sides[dir.index()].state {
                State::Head => self.read_head(dir, rest, now, cx),
                State::Body(_) => self.read_body(dir, rest, now, cx),
                State::Resync { .. } => self.resync(dir, rest, pos == 0, now),
                State::Stopped => break,
            };
            match step {
                Step::Advanced(n) => pos = pos.saturating_add(n),
                Step::Upgraded(n) => {
                    return Feed::Upgraded {
                        offset: pos.saturating_add(n),
                    };
                }
            }
        }
        Feed::Consumed
    }

    /// Parses a head from `rest` (the fast path, no copy) or completes the one in `head_buf`.
    fn read_head(&mut self, dir: Dir, rest: &[u8], now: Timestamp, cx: &mut Cx<'_>) -> Step {
        let d = dir.index();
        let cap = self.max_head;
        if self.sides[d].head_buf.is_empty() {
            // Never look past the cap, so that every segmentation gets the same verdict.
            let window = head(rest, cap);
            let mut headers = self.scratch.take();
            let mut repaired = self.heads.take_repaired();
            let step = match self.heads.parse(dir, window, &mut repaired, &mut headers) {
                Ok(Some(parsed)) => {
                    let head_bytes = head(rest, parsed.len);
                    let after = tail(rest, parsed.len);
                    match self.on_head(dir, parsed, &headers, head_bytes, after, now, now, cx) {
                        AfterHead::Continue(n) => Step::Advanced(parsed.len.saturating_add(n)),
                        AfterHead::Upgraded(n) => Step::Upgraded(parsed.len.saturating_add(n)),
                    }
                }
                Ok(None) if rest.len() > cap && self.abandon_probe(d, 1) => Step::Advanced(1),
                Err(_) if self.abandon_probe(d, 1) => Step::Advanced(1),
                Ok(None) if rest.len() > cap => {
                    self.head_too_large(dir, window, now, cx);
                    Step::Advanced(rest.len())
                }
                Ok(None) => {
                    let side = &mut self.sides[d];
                    side.head_buf.extend_from_slice(rest);
                    side.head_start_ts = now;
                    Step::Advanced(rest.len())
                }
                Err(e) => {
                    self.head_error(dir, e, window, now, cx);
                    Step::Advanced(rest.len())
                }
            };
            self.scratch.put(headers);
            self.heads.put_repaired(repaired);
            return step;
        }

        // The head began in an earlier input: append up to the next blank line only, so that
        // httparse runs once per candidate end and the body is never copied.
        let side = &mut self.sides[d];
        let room = cap.saturating_sub(side.head_buf.len());
        let lookback = last_two(&side.head_buf);
        let scan = head(rest, room);
        let Some(end) = find_blank_line(lookback, scan) else {
            if rest.len() <= room {
                side.head_buf.extend_from_slice(rest);
                return Step::Advanced(rest.len());
            }
            side.head_buf.extend_from_slice(scan);
            let buffered = mem::take(&mut side.head_buf);
            if self.abandon_probe(d, buffered.len() as u64) {
                self.restore_head_buf(d, buffered);
                return Step::Advanced(scan.len());
            }
            let mut headers = self.scratch.take();
            let mut repaired = self.heads.take_repaired();
            let verdict = self
                .heads
                .parse(dir, &buffered, &mut repaired, &mut headers)
                .err();
            self.scratch.put(headers);
            self.heads.put_repaired(repaired);
            match verdict {
                Some(e) => self.head_error(dir, e, &buffered, now, cx),
                None => self.head_too_large(dir, &buffered, now, cx),
            }
            self.restore_head_buf(d, buffered);
            return Step::Advanced(rest.len());
        };
        side.head_buf.extend_from_slice(head(rest, end));
        let start_ts = side.head_start_ts;
        let assembled = mem::take(&mut side.head_buf);
        let mut headers = self.scratch.take();
        let mut repaired = self.heads.take_repaired();
        let mut keep = false;
        let step = match self
            .heads
            .parse(dir, &assembled, &mut repaired, &mut headers)
        {
            Ok(Some(parsed)) if parsed.len == assembled.len() => {
                let after = tail(rest, end);
                match self.on_head(dir, parsed, &headers, &assembled, after, start_ts, now, cx) {
                    AfterHead::Continue(n) => Step::Advanced(end.saturating_add(n)),
                    AfterHead::Upgraded(n) => Step::Upgraded(end.saturating_add(n)),
                }
            }
            Ok(None) => {
                keep = true;
                Step::Advanced(end)
            }
            Ok(Some(_)) | Err(_) if self.abandon_probe(d, assembled.len() as u64) => {
                Step::Advanced(end)
            }
            Ok(Some(parsed)) => {
                // httparse ends a head only at a blank line, and each one was tried in turn.
                let e = HeadError {
                    what: "head ended before its blank line",
                    at: parsed.len.saturating_sub(1),
                };
                self.head_error(dir, e, &assembled, now, cx);
                Step::Advanced(rest.len())
            }
            Err(e) => {
                self.head_error(dir, e, &assembled, now, cx);
                Step::Advanced(rest.len())
            }
        };
        self.scratch.put(headers);
        self.heads.put_repaired(repaired);
        if keep {
            self.sides[d].head_buf = assembled;
        } else {
            self.restore_head_buf(d, assembled);
        }
        step
    }

    /// A head begun at a guessed start line (resynchronising) did not parse: the guess was
    /// wrong. Returns `false` when the head was not a guess. Otherwise counts `consumed` bytes as
    /// skipped and goes on scanning after them.
    fn abandon_probe(&mut self, d: usize, consumed: u64) -> bool {
        let side = &mut self.sides[d];
        if !side.probing {
            return false;
        }
        side.probing = false;
        side.skipped = side.skipped.saturating_add(consumed);
        side.head_buf.clear();
        side.state = State::Resync {
            at_line_start: false,
        };
        true
    }

    /// Gives a taken-out head buffer back (emptied) so its allocation is reused.
    fn restore_head_buf(&mut self, d: usize, mut buf: Vec<u8>) {
        let side = &mut self.sides[d];
        if side.head_buf.is_empty() {
            buf.clear();
            if buf.capacity() > KEEP_CAPACITY {
                buf = Vec::new();
            }
            side.head_buf = buf;
        }
    }

    /// A whole head was parsed: decide the body, emit `HttpHead`, and decode as much of the
    /// body as `after` holds. `head_bytes` are the head's bytes (copied only if the body spans
    /// inputs).
    #[allow(clippy::too_many_arguments)]
    fn on_head(
        &mut self,
        dir: Dir,
        parsed: ParsedHead<'_>,
        headers: &[Header<'_>],
        head_bytes: &[u8],
        after: &[u8],
        start_ts: Timestamp,
        now: Timestamp,
        cx: &mut Cx<'_>,
    ) -> AfterHead {
        let d = dir.index();
        let header_bytes = parsed.len as u64;
        if let HttpHead::Response { status, .. } = parsed.head
            && status < 100
        {
            if !self.abandon_probe(d, header_bytes) {
                let e = HeadError {
                    what: "status code below 100",
                    at: 9,
                };
                self.head_error(dir, e, head_bytes, now, cx);
            }
            return AfterHead::Continue(0);
        }
        self.found_start(dir, now, cx);
        let facts = facts(headers);
        let mut ambiguous = None;
        let mut framing_error = None;
        let mut switch_seq = None;
        let mut switch_to = None;
        let mut refused = None;
        let exchange;

        let body = match parsed.head {
            HttpHead::Request {
                method,
                version,
                target,
            } => {
                let switch = facts.upgrade.is_some() || method == "CONNECT";
                let seq = self.register_request(
                    method,
                    start_ts,
                    header_bytes,
                    (switch, facts.websocket, true),
                    now,
                    cx,
                );
                exchange = Some(seq);
                if switch {
                    switch_seq = Some(seq);
                }
                if facts.upgrade.is_some() {
                    self.upgrade_request = Some((seq, owned_headers(headers), target.to_string()));
                }
                self.upgrade_hint |= facts.websocket;
                if facts.transfer_encoding {
                    ambiguous = ambiguity(&facts, version);
                    if facts.chunked {
                        Some(Body::Chunked(ChunkedDecoder::new(self.max_head)))
                    } else {
                        framing_error = Some((
                            "request Transfer-Encoding does not end in chunked",
                            "transfer-encoding",
                        ));
                        None
                    }
                } else {
                    match facts.content_length {
                        Some(Ok(0)) | None => None,
                        Some(Ok(n)) => Some(Body::Length(n)),
                        Some(Err(why)) => {
                            framing_error = Some((why, "content-length"));
                            None
                        }
                    }
                }
            }
            HttpHead::Response {
                status, version, ..
            } => {
                let interim = status < 200 && status != 101;
                let matched = if interim {
                    None
                } else {
                    self.match_request(start_ts)
                };
                exchange = matched.map(|m| m.seq);
                let method = matched.map_or(MethodKind::Other, |m| m.method);
                if status == 101 {
                    switch_to = Some((Switched::Upgraded, matched));
                } else if method == MethodKind::Connect && (200..300).contains(&status) {
                    switch_to = Some((Switched::Tunnel, matched));
                } else if let Some(m) = matched.filter(|m| m.switch) {
                    refused = Some(m);
                }
                if interim
                    || status == 101
                    || status == 204
                    || status == 304
                    || method == MethodKind::Head
                    || switch_to.is_some()
                {
                    None
                } else if facts.transfer_encoding {
                    ambiguous = ambiguity(&facts, version);
                    if facts.chunked {
                        Some(Body::Chunked(ChunkedDecoder::new(self.max_head)))
                    } else {
                        Some(Body::UntilClose)
                    }
                } else {
                    match facts.content_length {
                        Some(Ok(0)) => None,
                        Some(Ok(n)) => Some(Body::Length(n)),
                        None => Some(Body::UntilClose),
                        Some(Err(why)) => {
                            framing_error = Some((why, "content-length"));
                            None
                        }
                    }
                }
            }
        };

        let side = &mut self.sides[d];
        side.preview.clear();
        side.digest.restart();
        side.msg = Progress {
            start_ts,
            header_bytes,
            chunked: matches!(body, Some(Body::Chunked(_))),
            sse: dir == Dir::S2C && facts.event_stream && body.is_some(),
            switch_seq,
            exchange,
            ..Progress::default()
        };
        if side.msg.sse {
            let preview = self.preview;
            self.sse
                .get_or_insert_with(|| Box::new(SseParser::new(preview)))
                .reset();
        }
        let view = HeadView {
            head: parsed.head,
            headers,
            upgrade: facts.upgrade,
            raw: head_bytes,
            parsed_from: parsed.parsed_from,
        };
        let head_msg = message(dir, view, &self.sides[d].msg, &[], now, None, Digest::Off);
        cx.head(&head_msg);
        report_repairs(dir, &parsed.repairs, head_bytes, now, cx);
        if let Some(detail) = ambiguous {
            cx.anomaly_at(now, Code::HttpAmbiguousFraming, Some(dir), detail);
        }
        if let Some((what, field)) = framing_error {
            let at = headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(field))
                .map_or(0, |h| span_in(parsed.parsed_from, h.name.as_bytes()).start);
            self.head_error(dir, HeadError { what, at }, head_bytes, now, cx);
            self.emit_message(dir, view, false, now, cx);
            return AfterHead::Continue(after.len());
        }

        if let Some((how, matched)) = switch_to {
            self.emit_message(dir, view, true, now, cx);
            self.switched = Some(how);
            if how == Switched::Tunnel {
                self.hold = Hold::Off;
                self.clear_held();
                return AfterHead::Continue(after.len());
            }
            let (request_headers, request_target, request_bytes, request_captured) = match matched {
                Some(m) => {
                    let (headers, target) = match self.upgrade_request.take() {
                        Some((seq, h, t)) if seq == m.seq => (h, Some(t)),
                        _ => (OwnedHeaders::default(), None),
                    };
                    (headers, target, m.header_bytes, m.whole)
                }
                None => (OwnedHeaders::default(), None, 0, false),
            };
            let held_c2s = match self.hold {
                Hold::Holding { .. } => mem::take(&mut self.held),
                _ => Vec::new(),
            };
            self.hold = Hold::Off;
            self.held_marks.clear();
            self.upgrade = Some(Box::new(Upgrade {
                request_headers,
                request_target,
                response_headers: owned_headers(headers),
                request_bytes,
                response_bytes: header_bytes,
                held_c2s,
                request_captured,
            }));
            return AfterHead::Upgraded(0);
        }
        if refused.is_some_and(|r| r.websocket) {
            let detail = format!(
                "WebSocket upgrade answered with {}",
                status_of(parsed.head).unwrap_or(0)
            );
            cx.anomaly_at(now, Code::WsUpgradeRefused, Some(dir), detail);
        }
        let consumed = self.start_body(dir, view, body, after, now, cx);
        // Held client bytes are parsed once this response is reported as far as it can be.
        if let Some(request) = refused {
            self.release_hold(request.seq, cx);
        }
        AfterHead::Continue(consumed)
    }

    /// Decodes what `after` holds of a new message's body, reporting the message if it ends
    /// there; otherwise keeps a copy of its head. Returns the bytes of `after` consumed.
    #[allow(clippy::too_many_arguments)]
    fn start_body(
        &mut self,
        dir: Dir,
        view: HeadView<'_>,
        body: Option<Body>,
        after: &[u8],
        now: Timestamp,
        cx: &mut Cx<'_>,
    ) -> usize {
        let d = dir.index();
        let Some(body) = body else {
            self.emit_message(dir, view, true, now, cx);
            self.after_message(dir, BodyEnd::Complete);
            return 0;
        };
        self.sides[d].state = State::Body(body);
        let step = self.read_body_inner(dir, after, now, cx);
        match step.end {
            Some(end) => {
                let complete = end == BodyEnd::Complete && !self.sides[d].msg.holey;
                self.emit_message(dir, view, complete, now, cx);
                self.after_message(dir, end);
            }
            None => {
                let side = &mut self.sides[d];
                side.layout.copy(&mut side.head_copy, &view);
            }
        }
        step.consumed
    }

    /// Records a request awaiting its response; returns its sequence number. `(switch,
    /// websocket, whole)` are the [`Outstanding`] flags. Beyond [`MAX_OUTSTANDING`] the oldest
    /// is evicted to a compact record (reported once).
    #[allow(clippy::too_many_arguments)]
    fn register_request(
        &mut self,
        method: &str,
        start_ts: Timestamp,
        header_bytes: u64,
        (switch, websocket, whole): (bool, bool, bool),
        now: Timestamp,
        cx: &mut Cx<'_>,
    ) -> u64 {
        let method = match method {
            "HEAD" => MethodKind::Head,
            "CONNECT" => MethodKind::Connect,
            _ => MethodKind::Other,
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.outstanding.len() >= MAX_OUTSTANDING
            && let Some(forgot_now) = self.evict_oldest()
            && let Some(e) = self.evicted.as_deref_mut()
        {
            let mut detail = None;
            if !e.cap_reported {
                e.cap_reported = true;
                detail = Some(format!(
                    "more than {MAX_OUTSTANDING} requests await their responses: the oldest are \
                     kept only as what framing their responses needs (HEAD, CONNECT)"
                ));
            }
            if forgot_now {
                detail = Some(format!(
                    "more than {MAX_EVICTED_HEADS} HEAD or CONNECT requests among the evicted \
                     ones: responses to the later ones may be misframed"
                ));
            }
            if let Some(detail) = detail {
                cx.anomaly_at(now, Code::HttpRequestsEvicted, Some(Dir::C2S), detail);
            }
        }
        self.outstanding.push_back(Outstanding {
            seq,
            method,
            start_ts,
            header_bytes,
            switch,
            websocket,
            whole,
        });
        seq
    }

    /// Moves the oldest unanswered request to the compact record of evicted ones (see
    /// [`Evicted`]). `Some(true)`: the record was full and forgot a HEAD or CONNECT for the
    /// first time.
    fn evict_oldest(&mut self) -> Option<bool> {
        let oldest = self.outstanding.pop_front()?;
        let e = self.evicted.get_or_insert_with(Box::default);
        if e.next == e.end {
            // Every request evicted before was answered: the range starts again here.
            e.next = oldest.seq;
        }
        e.end = oldest.seq.wrapping_add(1);
        let mut forgot_now = false;
        if oldest.method != MethodKind::Other {
            if e.special.len() < MAX_EVICTED_HEADS {
                e.special.push_back((oldest.seq, oldest.method));
            } else if !e.forgot {
                e.forgot = true;
                forgot_now = true;
            }
        }
        Some(forgot_now)
    }

    /// The request a final response starting at `start` answers: the oldest evicted one, or the
    /// oldest unanswered one if it began no later than the response.
    fn match_request(&mut self, start: Timestamp) -> Option<Outstanding> {
        if let Some(e) = self.evicted.as_deref_mut()
            && e.next != e.end
        {
            let seq = e.next;
            e.next = e.next.wrapping_add(1);
            let method = match e.special.front() {
                Some(&(s, m)) if s == seq => {
                    e.special.pop_front();
                    m
                }
                _ => MethodKind::Other,
            };
            return Some(Outstanding {
                seq,
                method,
                start_ts: start,
                header_bytes: 0,
                switch: false,
                websocket: false,
                whole: false,
            });
        }
        match self.outstanding.front() {
            Some(front) if front.start_ts <= start => self.outstanding.pop_front(),
            _ => None,
        }
    }

    fn read_body(&mut self, dir: Dir, rest: &[u8], now: Timestamp, cx: &mut Cx<'_>) -> Step {
        let step = self.read_body_inner(dir, rest, now, cx);
        if let Some(end) = step.end {
            let complete = end == BodyEnd::Complete && !self.sides[dir.index()].msg.holey;
            self.emit_from_copy(dir, complete, now, cx);
            self.after_message(dir, end);
        }
        Step::Advanced(step.consumed)
    }

    /// Decodes body bytes from `data`; consumes at least one byte or ends the body.
    fn read_body_inner(
        &mut self,
        dir: Dir,
        data: &[u8],
        now: Timestamp,
        cx: &mut Cx<'_>,
    ) -> BodyStep {
        let preview_cap = self.preview;
        let HttpConn { sides, sse, .. } = self;
        let Side {
            state,
            msg,
            preview,
            digest,
            ..
        } = &mut sides[dir.index()];
        let State::Body(body) = state else {
            return BodyStep {
                consumed: 0,
                end: Some(BodyEnd::Complete),
            };
        };
        let (holey, is_sse) = (msg.holey, msg.sse);
        let mut on_body = |bytes: &[u8]| {
            digest.update(bytes);
            if !holey && preview.len() < preview_cap {
                let room = preview_cap - preview.len();
                preview.extend_from_slice(head(bytes, room));
            }
            if is_sse && let Some(sse) = sse.as_deref_mut() {
                sse.feed(bytes, now, &mut |ev: &SseEvent<'_>| {
                    cx.emit(Record::Sse(ev))
                });
            }
        };
        let mut broken = None;
        let step = match body {
            Body::Length(remaining) => {
                let take = usize::try_from(*remaining).map_or(data.len(), |r| r.min(data.len()));
                on_body(head(data, take));
                *remaining -= take as u64;
                msg.body_bytes = msg.body_bytes.saturating_add(take as u64);
                BodyStep {
                    consumed: take,
                    end: (*remaining == 0).then_some(BodyEnd::Complete),
                }
            }
            Body::UntilClose => {
                on_body(data);
                msg.body_bytes = msg.body_bytes.saturating_add(data.len() as u64);
                BodyStep {
                    consumed: data.len(),
                    end: None,
                }
            }
            Body::Chunked(decoder) => {
                let out = decoder.decode(data, &mut on_body);
                msg.body_bytes = msg.body_bytes.saturating_add(out.body);
                msg.framing_bytes = msg.framing_bytes.saturating_add(out.framing);
                if let Some(err) = out.error {
                    broken = Some(err);
                    BodyStep {
                        consumed: data.len(),
                        end: Some(BodyEnd::Broken),
                    }
                } else {
                    BodyStep {
                        consumed: out.consumed,
                        end: out.done.then_some(BodyEnd::Complete),
                    }
                }
            }
        };
        if let Some(err) = broken {
            let (code, detail) = if err.too_large {
                (
                    Code::HttpHeadTooLarge,
                    format!("{}: {} bytes", err.reason, self.max_head),
                )
            } else {
                (
                    Code::HttpParseError,
                    format!("{}: \"{}\"", err.reason, escaped(tail(data, err.at))),
                )
            };
            cx.anomaly_at(now, code, Some(dir), detail);
            self.sides[dir.index()].state = State::Stopped;
        }
        step
    }

    /// Emits the `Http` event of the message in progress from its stored head.
    fn emit_from_copy(&mut self, dir: Dir, complete: bool, now: Timestamp, cx: &mut Cx<'_>) {
        let d = dir.index();
        let copy = mem::take(&mut self.sides[d].head_copy);
        let layout = mem::take(&mut self.sides[d].layout);
        let mut headers = self.scratch.take();
        let (raw, head) = layout.rebuild(&copy, &mut headers);
        let view = HeadView {
            head,
            headers: &headers,
            upgrade: upgrade_value(&headers),
            raw,
            parsed_from: &copy,
        };
        self.emit_message(dir, view, complete, now, cx);
        self.scratch.put(headers);
        let side = &mut self.sides[d];
        side.head_copy = copy;
        side.layout = layout;
    }

    /// Ends the message in progress on `dir`: finishes its body digest and emits its `Http`
    /// event with the body preview gathered so far (empty when it had no body).
    fn emit_message(
        &mut self,
        dir: Dir,
        view: HeadView<'_>,
        complete: bool,
        now: Timestamp,
        cx: &mut Cx<'_>,
    ) {
        let side = &mut self.sides[dir.index()];
        let digest = side.digest.finish(complete);
        let msg = message(
            dir,
            view,
            &side.msg,
            &side.preview,
            now,
            Some(complete),
            digest,
        );
        cx.emit(Record::Http(&msg));
    }

    /// Bookkeeping after a message's `Http` event: next state, and the upgrade hold.
    fn after_message(&mut self, dir: Dir, end: BodyEnd) {
        let side = &mut self.sides[dir.index()];
        let msg = side.msg;
        if msg.sse
            && let Some(sse) = self.sse.as_deref_mut()
        {
            sse.reset();
        }
        if side.head_copy.capacity() > KEEP_CAPACITY {
            side.head_copy = Vec::new();
        }
        match end {
            BodyEnd::Complete => {
                side.state = State::Head;
                if let Some(seq) = msg.switch_seq
                    && self.outstanding.iter().any(|o| o.seq == seq)
                {
                    self.hold = Hold::Holding { seq };
                }
            }
            BodyEnd::Broken => side.state = State::Stopped,
        }
    }

    fn hold_bytes(&mut self, data: &[u8], now: Timestamp, cx: &mut Cx<'_>) {
        if data.is_empty() {
            return;
        }
        match self.hold {
            Hold::Holding { seq } => {
                if self.held.len().saturating_add(data.len()) > self.max_hold {
                    let dropped = (self.held.len() as u64).saturating_add(data.len() as u64);
                    self.clear_held();
                    self.hold = Hold::Lost { seq, dropped };
                    let detail = format!(
                        "more than {} client bytes followed an upgrade request before its \
                         response; they are not decoded",
                        self.max_hold
                    );
                    cx.anomaly_at(now, Code::HttpUpgradeHoldOverflow, Some(Dir::C2S), detail);
                    return;
                }
                if self.held_marks.len() < MAX_HOLD_MARKS {
                    self.held_marks.push((self.held.len(), now));
                }
                self.held.extend_from_slice(data);
            }
            Hold::Lost { seq, dropped } => {
                self.hold = Hold::Lost {
                    seq,
                    dropped: dropped.saturating_add(data.len() as u64),
                };
            }
            Hold::Off => {}
        }
    }

    fn clear_held(&mut self) {
        self.held.clear();
        self.held_marks.clear();
        if self.held.capacity() > KEEP_CAPACITY {
            self.held = Vec::new();
        }
    }

    /// The request `seq` was answered without switching protocols: the client bytes held since
    /// are HTTP after all; parse them with the times they arrived at.
    fn release_hold(&mut self, seq: u64, cx: &mut Cx<'_>) {
        match self.hold {
            Hold::Holding { seq: held_for } if held_for == seq => {
                self.hold = Hold::Off;
                let held = mem::take(&mut self.held);
                let marks = mem::take(&mut self.held_marks);
                for (i, &(start, ts)) in marks.iter().enumerate() {
                    let end = marks.get(i + 1).map_or(held.len(), |m| m.0);
                    let segment = held.get(start..end).unwrap_or_default();
                    self.feed_at(Dir::C2S, segment, ts, cx);
                }
                if self.held.is_empty() && self.held_marks.is_empty() {
                    self.held = held;
                    self.held_marks = marks;
                    self.clear_held();
                }
            }
            Hold::Lost {
                seq: held_for,
                dropped,
            } if held_for == seq => {
                self.hold = Hold::Off;
                let side = &mut self.sides[Dir::C2S.index()];
                if matches!(side.state, State::Head) {
                    side.head_buf.clear();
                    side.state = State::Resync {
                        at_line_start: true,
                    };
                    side.skipped = side.skipped.saturating_add(dropped);
                }
            }
            _ => {}
        }
    }

    /// Skips to the next candidate start line: at a line start, at the first byte of an input
    /// (`segment_start`: a status line often begins the segment after a binary body), or right
    /// after a gap. A candidate is only a guess until its head parses (`probing`).
    fn resync(&mut self, dir: Dir, rest: &[u8], segment_start: bool, now: Timestamp) -> Step {
        let side = &mut self.sides[dir.index()];
        let State::Resync { at_line_start } = side.state else {
            return Step::Advanced(rest.len());
        };
        if !side.head_buf.is_empty() {
            // The previous input ended with what may be the start of a start line.
            let stashed = side.head_buf.len();
            let take = START_PROBE.saturating_sub(stashed).min(rest.len());
            let mut probe = [0u8; START_PROBE];
            let probe_len = stashed.saturating_add(take).min(START_PROBE);
            for (slot, &b) in probe
                .iter_mut()
                .zip(side.head_buf.iter().chain(head(rest, take)))
            {
                *slot = b;
            }
            match start_line(dir, head(&probe, probe_len)) {
                Prefix::Yes => {
                    side.state = State::Head;
                    side.probing = true;
                    return Step::Advanced(0);
                }
                Prefix::Maybe if take == rest.len() => {
                    side.head_buf.extend_from_slice(rest);
                    return Step::Advanced(rest.len());
                }
                Prefix::Maybe | Prefix::No => {
                    side.state = State::Resync {
                        at_line_start: segment_start,
                    };
                    side.skipped = side.skipped.saturating_add(stashed as u64);
                    side.head_buf.clear();
                    return Step::Advanced(0);
                }
            }
        }
        let mut i = 0usize;
        let mut candidate = at_line_start || segment_start;
        loop {
            let from = tail(rest, i);
            if candidate && !from.is_empty() {
                match start_line(dir, head(from, START_PROBE)) {
                    Prefix::Yes => {
                        side.state = State::Head;
                        side.probing = true;
                        side.skipped = side.skipped.saturating_add(i as u64);
                        return Step::Advanced(i);
                    }
                    Prefix::Maybe => {
                        side.head_buf.extend_from_slice(from);
                        side.head_start_ts = now;
                        side.state = State::Resync {
                            at_line_start: false,
                        };
                        side.skipped = side.skipped.saturating_add(i as u64);
                        return Step::Advanced(rest.len());
                    }
                    Prefix::No => {}
                }
            }
            match memchr::memchr(b'\n', from) {
                Some(p) => {
                    i = i.saturating_add(p + 1);
                    candidate = true;
                    if i >= rest.len() {
                        side.state = State::Resync {
                            at_line_start: true,
                        };
                        side.skipped = side.skipped.saturating_add(rest.len() as u64);
                        return Step::Advanced(rest.len());
                    }
                }
                None => {
                    side.state = State::Resync {
                        at_line_start: false,
                    };
                    side.skipped = side.skipped.saturating_add(rest.len() as u64);
                    return Step::Advanced(rest.len());
                }
            }
        }
    }

    /// A head parsed: if it was found by resynchronising, the bytes skipped to get there are
    /// reported now.
    fn found_start(&mut self, dir: Dir, now: Timestamp, cx: &mut Cx<'_>) {
        let side = &mut self.sides[dir.index()];
        side.probing = false;
        let skipped = mem::take(&mut side.skipped);
        if skipped > 0 {
            let detail = format!("skipped {skipped} bytes to the next {}", start_name(dir));
            cx.anomaly_at(now, Code::HttpResync, Some(dir), detail);
        }
    }

    /// The direction ends (`fin`: its FIN was seen): report what is in progress.
    fn flush(&mut self, dir: Dir, fin: bool, now: Timestamp, cx: &mut Cx<'_>) {
        let d = dir.index();
        let side = &mut self.sides[d];
        match side.state {
            State::Body(ref body) => {
                let complete = fin && matches!(body, Body::UntilClose) && !side.msg.holey;
                self.emit_from_copy(dir, complete, now, cx);
                self.after_message(dir, BodyEnd::Broken);
            }
            State::Resync { .. } => {
                side.skipped = side.skipped.saturating_add(side.head_buf.len() as u64);
            }
            State::Head => {
                let why = if fin {
                    "the sender's FIN"
                } else {
                    "the end of the stream"
                };
                self.cut_head(dir, why, Code::HttpTruncated, now, cx);
            }
            State::Stopped => {}
        }
        let side = &mut self.sides[d];
        let skipped = mem::take(&mut side.skipped);
        if skipped > 0 {
            let detail = format!(
                "{skipped} bytes skipped without finding a {}",
                start_name(dir)
            );
            cx.anomaly_at(now, Code::HttpResync, Some(dir), detail);
        }
        let side = &mut self.sides[d];
        side.state = State::Stopped;
        side.probing = false;
        side.head_buf.clear();
    }

    /// A head that will never be completed (cut by `why`: a gap, the snaplen, the end of the
    /// stream): what it holds is reported as an incomplete message (the start line and the
    /// whole header fields), with `http.truncated` quoting its bytes. A guessed start line
    /// (resynchronising) that does not even parse that far is counted as skipped instead.
    fn cut_head(&mut self, dir: Dir, why: &str, code: Code, now: Timestamp, cx: &mut Cx<'_>) {
        let d = dir.index();
        let buf = mem::take(&mut self.sides[d].head_buf);
        // Empty lines before a start line are allowed (RFC 9112 §2.2) and begin nothing.
        if buf.iter().all(|&b| b == b'\r' || b == b'\n') {
            self.restore_head_buf(d, buf);
            return;
        }
        let start_ts = self.sides[d].head_start_ts;
        let kind = head_name(dir);
        let (mut scratch, mut repaired) = (Vec::new(), Vec::new());
        let mut headers = self.scratch.take();
        let cut = head::parse_cut(
            &mut self.heads,
            dir,
            &buf,
            &mut scratch,
            &mut repaired,
            &mut headers,
        );
        match cut {
            Some(cut) => {
                self.found_start(dir, now, cx);
                let header_bytes = buf.len() as u64;
                let exchange = match cut.head {
                    HttpHead::Request { method, .. } => Some(self.register_request(
                        method,
                        start_ts,
                        header_bytes,
                        (false, false, false),
                        now,
                        cx,
                    )),
                    HttpHead::Response { status, .. } if status >= 200 || status == 101 => {
                        self.upgrade_hint |= status == 101;
                        self.match_request(start_ts).map(|m| m.seq)
                    }
                    HttpHead::Response { .. } => None,
                };
                let progress = Progress {
                    start_ts,
                    header_bytes,
                    exchange,
                    ..Progress::default()
                };
                let view = HeadView {
                    head: cut.head,
                    headers: &headers,
                    upgrade: upgrade_value(&headers),
                    raw: &buf,
                    parsed_from: cut.parsed_from,
                };
                let head_msg = message(dir, view, &progress, &[], now, None, Digest::Off);
                cx.head(&head_msg);
                report_repairs(dir, &cut.repairs, &buf, now, cx);
                let detail = format!(
                    "{why} cut a {kind} head after {} bytes; reported with its start line and \
                     {} whole header fields: \"{}\"",
                    buf.len(),
                    headers.len(),
                    escaped(&buf)
                );
                cx.anomaly_at(now, code, Some(dir), detail);
                let msg = message(dir, view, &progress, &[], now, Some(false), Digest::Off);
                cx.emit(Record::Http(&msg));
            }
            None if self.sides[d].probing => {
                let side = &mut self.sides[d];
                side.probing = false;
                side.skipped = side.skipped.saturating_add(buf.len() as u64);
            }
            None => {
                let detail = format!(
                    "{why} cut a {kind} head after {} bytes, before its start line was \
                     complete: \"{}\"",
                    buf.len(),
                    escaped(&buf)
                );
                cx.anomaly_at(now, code, Some(dir), detail);
            }
        }
        self.scratch.put(headers);
        self.restore_head_buf(d, buf);
    }

    /// Bytes that should be a head are not HTTP/1.x: `http.parse_error` quoting the offending
    /// line and its offset, and the direction is no longer decoded.
    fn head_error(
        &mut self,
        dir: Dir,
        e: HeadError,
        bytes: &[u8],
        now: Timestamp,
        cx: &mut Cx<'_>,
    ) {
        let at = e.at.min(bytes.len());
        let line_start = memchr::memrchr(b'\n', head(bytes, at)).map_or(0, |p| p + 1);
        let line_end = memchr::memchr(b'\n', tail(bytes, at)).map_or(bytes.len(), |p| at + p + 1);
        let line_no = memchr::memchr_iter(b'\n', head(bytes, line_start)).count() + 1;
        // Quote the line from its start, or from shortly before the offending byte if it is far.
        let from = if at - line_start > ERROR_PREVIEW {
            at - ERROR_PREVIEW / 2
        } else {
            line_start
        };
        let quoted = bytes.get(from..line_end).unwrap_or_default();
        let detail = format!(
            "{} at byte {at} of the {} head (line {line_no}): {}\"{}\"",
            e.what,
            head_name(dir),
            if from > line_start { "…" } else { "" },
            escaped(quoted)
        );
        cx.anomaly_at(now, Code::HttpParseError, Some(dir), detail);
        let side = &mut self.sides[dir.index()];
        side.state = State::Stopped;
        side.head_buf.clear();
    }

    fn head_too_large(&mut self, dir: Dir, bytes: &[u8], now: Timestamp, cx: &mut Cx<'_>) {
        let detail = format!(
            "head longer than {} bytes: \"{}\"",
            self.max_head,
            escaped(bytes)
        );
        cx.anomaly_at(now, Code::HttpHeadTooLarge, Some(dir), detail);
        let side = &mut self.sides[dir.index()];
        side.state = State::Stopped;
        side.head_buf.clear();
    }

    /// What the connection holds beyond its own struct, for the memory budget. `buffers` is
    /// what [`HttpConn::give_way`] can give up.
    pub fn held(&self) -> Held {
        let [a, b] = &self.sides;
        let bytes = a.head_buf.capacity()
            + a.head_copy.capacity()
            + a.preview.capacity()
            + b.head_buf.capacity()
            + b.head_copy.capacity()
            + b.preview.capacity()
            + self.held.capacity();
        let spans = a.layout.headers.capacity() + b.layout.headers.capacity();
        // Room for the newest unanswered requests is kept when the rest give way: fixed.
        let pending = self.outstanding.capacity();
        let kept = pending.min(KEEP_PENDING);
        let mut held = Held {
            fixed: vec_bytes::<Outstanding>(kept),
            buffers: bytes
                + vec_bytes::<(Range<usize>, Range<usize>)>(spans)
                + vec_bytes::<Header<'static>>(self.scratch.0.capacity())
                + vec_bytes::<Outstanding>(pending - kept)
                + vec_bytes::<(usize, Timestamp)>(self.held_marks.capacity())
                + self.heads.held(),
        };
        // Rare states, boxed or off: looked at only when present.
        if let Some(e) = &self.evicted {
            held.fixed += box_bytes::<Evicted>();
            held.buffers += vec_bytes::<(u64, MethodKind)>(e.special.capacity());
        }
        if let Some((_, headers, target)) = &self.upgrade_request {
            held.fixed += headers.heap_bytes() + target.capacity();
        }
        if let Some(sse) = &self.sse {
            held.fixed += box_bytes::<SseParser>() + sse.held();
        }
        if !matches!(a.digest, Hasher::Off) || !matches!(b.digest, Hasher::Off) {
            held.fixed += a.digest.held() + b.digest.held();
        }
        held
    }

    /// The memory budget ran short and this connection is among the largest holders: every
    /// buffer it can do without is given up, each with its anomaly — an incomplete head (that
    /// side resynchronises at the next start line), the headers of a message whose body is in
    /// progress (it is reported with its start line only), client bytes held for an upgrade
    /// (as on overflow), unanswered requests beyond the newest [`KEEP_PENDING`] (kept only as
    /// what framing their responses needs, as beyond `MAX_OUTSTANDING`), and the body
    /// previews (none are kept for the rest of the connection). The head parser's reusable
    /// storage is released too (nothing is lost but time).
    pub fn give_way(&mut self, cx: &mut Cx<'_>) {
        let now = self.now(cx.pkt);
        for dir in [Dir::C2S, Dir::S2C] {
            let d = dir.index();
            let side = &self.sides[d];
            match side.state {
                State::Head if !side.head_buf.is_empty() => {
                    // Reported for what it holds, as a head cut by a gap is: the request still
                    // takes its place among those awaiting an answer.
                    let at_line_start = side.head_buf.last() == Some(&b'\n');
                    self.cut_head(dir, "the memory budget", Code::HttpBudgetHead, now, cx);
                    let side = &mut self.sides[d];
                    side.head_buf = Vec::new();
                    side.state = State::Resync { at_line_start };
                }
                State::Body(_) if side.head_copy.capacity() > 0 => {
                    let side = &mut self.sides[d];
                    let dropped = side.layout.keep_start_line(&mut side.head_copy);
                    if dropped > 0 {
                        let detail = format!(
                            "headers of the {} in progress ({dropped} bytes) dropped \
                             (memory budget): it is reported with its start line only",
                            head_name(dir)
                        );
                        cx.anomaly_at(now, Code::HttpBudgetHead, Some(dir), detail);
                    }
                }
                _ => {}
            }
            let side = &mut self.sides[d];
            // Room kept for the next head costs nothing to give back.
            compact(&mut side.head_buf);
            if !matches!(side.state, State::Body(_)) {
                side.head_copy = Vec::new();
                side.layout.headers = Vec::new();
            }
        }
        if let Hold::Holding { seq } = self.hold
            && !self.held.is_empty()
        {
            let dropped = self.held.len() as u64;
            self.held = Vec::new();
            self.held_marks = Vec::new();
            self.hold = Hold::Lost { seq, dropped };
            let detail = format!(
                "{dropped} client bytes held while an upgrade request awaits its response \
                 dropped (memory budget); client bytes until the response are not decoded"
            );
            cx.anomaly_at(now, Code::HttpBudgetHold, Some(Dir::C2S), detail);
        }
        self.give_way_pending(now, cx);
        // Reusable storage (after the heads above were reported, which uses it).
        self.scratch = HeaderScratch::default();
        self.heads.release();
        compact(&mut self.held);
        compact(&mut self.held_marks);
        let shown: usize = self.sides.iter().map(|s| s.preview.len()).sum::<usize>()
            + self.sse.as_ref().map_or(0, |sse| sse.display_len());
        if shown == 0 {
            for side in &mut self.sides {
                side.preview = Vec::new();
            }
        } else {
            self.preview = 0;
            for side in &mut self.sides {
                side.preview = Vec::new();
            }
            if let Some(sse) = self.sse.as_deref_mut() {
                sse.drop_display();
            }
            let detail = format!(
                "{shown} bytes of body previews dropped (memory budget): this connection's \
                 bodies are shown without a preview from here on"
            );
            cx.anomaly_at(now, Code::HttpBudgetDisplay, Some(Dir::S2C), detail);
        }
    }

    /// Unanswered requests give way: all but the newest [`KEEP_PENDING`] are kept only as what
    /// framing their responses needs, as beyond [`MAX_OUTSTANDING`]; when there are none to
    /// evict, the evicted HEAD and CONNECT requests are forgotten (their responses may then be
    /// misframed).
    fn give_way_pending(&mut self, now: Timestamp, cx: &mut Cx<'_>) {
        let (mut evicted, mut forgot) = (0usize, false);
        // A request that switches protocols is the newest (client bytes after it are held):
        // it is never evicted, its answer decides what the held bytes are.
        while self.outstanding.len() > KEEP_PENDING
            && self.outstanding.front().is_some_and(|o| !o.switch)
            && let Some(forgot_now) = self.evict_oldest()
        {
            evicted += 1;
            forgot |= forgot_now;
        }
        compact_deque(&mut self.outstanding);
        if evicted > 0 {
            let mut detail = format!(
                "{evicted} unanswered requests kept only as what framing their responses needs \
                 (HEAD, CONNECT), the newest {KEEP_PENDING} in full (memory budget)"
            );
            if forgot {
                detail.push_str(&format!(
                    "; more than {MAX_EVICTED_HEADS} HEAD or CONNECT requests among the evicted \
                     ones: responses to the later ones may be misframed"
                ));
            }
            cx.anomaly_at(now, Code::HttpBudgetPending, Some(Dir::C2S), detail);
        } else if let Some(e) = self.evicted.as_deref_mut()
            && !e.special.is_empty()
        {
            let forgotten = e.special.len();
            e.special = VecDeque::new();
            e.forgot = true;
            let detail = format!(
                "{forgotten} evicted HEAD or CONNECT requests forgotten (memory budget): the \
                 responses that answer them are framed as answers to GET"
            );
            cx.anomaly_at(now, Code::HttpBudgetPending, Some(Dir::C2S), detail);
        }
        if let Some(e) = self.evicted.as_deref_mut() {
            compact_deque(&mut e.special);
        }
    }
}

/// Reports what [`head::HeadParser`] repaired in a head (`raw`, as it was on the wire).
fn report_repairs(dir: Dir, r: &Repairs, raw: &[u8], now: Timestamp, cx: &mut Cx<'_>) {
    let line_at = |at: usize| {
        let end = memchr::memchr(b'\n', tail(raw, at)).map_or(raw.len(), |p| at + p + 1);
        escaped(raw.get(at..end).unwrap_or_default())
    };
    if r.folds > 0 {
        let detail = format!(
            "{} obsolete line fold(s) in the {} head unfolded into spaces (RFC 9112 §5.2); \
             first at byte {}: \"{}\"",
            r.folds,
            head_name(dir),
            r.first_fold,
            line_at(r.first_fold)
        );
        cx.anomaly_at(now, Code::HttpObsFold, Some(dir), detail);
    }
    if r.spaced > 0 {
        let (code, verdict) = match dir {
            Dir::C2S => (
                Code::HttpRequestFieldSpace,
                "a server must reject such a request with 400 (RFC 9112 §5.1); decoded as if \
                 the whitespace were absent",
            ),
            Dir::S2C => (
                Code::HttpFieldSpace,
                "stripped, as RFC 9112 §5.1 lets a response recipient do",
            ),
        };
        let detail = format!(
            "whitespace between the name and the colon of {} field(s): {verdict}; first at \
             byte {}: \"{}\"",
            r.spaced,
            r.first_spaced,
            line_at(r.first_spaced)
        );
        cx.anomaly_at(now, code, Some(dir), detail);
    }
}

fn facts<'b>(headers: &[Header<'b>]) -> Facts<'b> {
    let mut f = Facts::default();
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            f.content_length = Some(merge_content_length(f.content_length, h.value));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            f.transfer_encoding = true;
            for coding in h.value.split(|&b| b == b',') {
                let coding = trim(coding.split(|&b| b == b';').next().unwrap_or_default());
                if !coding.is_empty() {
                    f.chunked = coding.eq_ignore_ascii_case(b"chunked");
                }
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            f.upgrade = Some(utf8_prefix(trim(h.value)));
            f.websocket = h.value.split(|&b| b == b',').any(|p| {
                let protocol = trim(p).split(|&b| b == b'/').next().unwrap_or_default();
                protocol.eq_ignore_ascii_case(b"websocket")
            });
        } else if name.eq_ignore_ascii_case("content-type") {
            let media = trim(h.value.split(|&b| b == b';').next().unwrap_or_default());
            f.event_stream = media.eq_ignore_ascii_case(b"text/event-stream");
        }
    }
    f
}

/// Content-Length (RFC 9110 §8.6, RFC 9112 §6.3): one or more fields, each a comma list of
/// decimal numbers; identical repeats are tolerated, anything else is invalid.
fn merge_content_length(
    sofar: Option<Result<u64, &'static str>>,
    value: &[u8],
) -> Result<u64, &'static str> {
    let mut current = match sofar {
        Some(Err(e)) => return Err(e),
        Some(Ok(n)) => Some(n),
        None => None,
    };
    for item in value.split(|&b| b == b',') {
        let item = trim(item);
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return Err("invalid Content-Length");
        }
        let n = item.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        let n = n.ok_or("Content-Length overflows 64 bits")?;
        if current.is_some_and(|c| c != n) {
            return Err("conflicting Content-Length values");
        }
        current = Some(n);
    }
    current.ok_or("invalid Content-Length")
}

/// RFC 9112 §6.1/§6.3: Transfer-Encoding with Content-Length, or in HTTP/1.0, makes the
/// framing ambiguous (the classic request-smuggling vector). Transfer-Encoding is followed.
fn ambiguity(facts: &Facts<'_>, version: u8) -> Option<String> {
    if facts.content_length.is_some() {
        Some("both Transfer-Encoding and Content-Length; Transfer-Encoding used".to_owned())
    } else if version == 0 {
        Some("Transfer-Encoding in an HTTP/1.0 message; Transfer-Encoding used".to_owned())
    } else {
        None
    }
}

fn upgrade_value<'b>(headers: &[Header<'b>]) -> Option<&'b str> {
    headers
        .iter()
        .rev()
        .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
        .map(|h| utf8_prefix(trim(h.value)))
}

fn status_of(head: HttpHead<'_>) -> Option<u16> {
    match head {
        HttpHead::Response { status, .. } => Some(status),
        HttpHead::Request { .. } => None,
    }
}

fn owned_headers(headers: &[Header<'_>]) -> OwnedHeaders {
    OwnedHeaders::new(headers.iter().map(|h| (h.name, h.value)))
}

/// A message head as its events show it: the start line, the headers, the `Upgrade` value, the
/// head as it was on the wire, and the bytes the first three borrow from (the wire head, or its
/// repaired copy).
#[derive(Clone, Copy)]
struct HeadView<'h> {
    head: HttpHead<'h>,
    headers: &'h [Header<'h>],
    upgrade: Option<&'h str>,
    raw: &'h [u8],
    parsed_from: &'h [u8],
}

/// `stage`: `None` for the `HttpHead` event, `Some(complete)` for the `Http` event.
fn message<'m>(
    dir: Dir,
    view: HeadView<'m>,
    progress: &Progress,
    body_head: &'m [u8],
    now: Timestamp,
    stage: Option<bool>,
    digest: Digest,
) -> HttpMessage<'m> {
    let done = stage.is_some();
    HttpMessage {
        dir,
        start_ts: progress.start_ts,
        ts: now,
        head: view.head,
        headers: view.headers,
        header_bytes: progress.header_bytes,
        body_bytes: if done { progress.body_bytes } else { 0 },
        framing_bytes: if done { progress.framing_bytes } else { 0 },
        chunked: progress.chunked,
        upgrade: view.upgrade,
        body_head,
        raw_head: view.raw,
        complete: stage.unwrap_or(false),
        digest,
        exchange: progress.exchange,
    }
}

enum Prefix {
    Yes,
    Maybe,
    No,
}

/// Does `data` (the first bytes one side sent) start like an HTTP/1.x request line?
pub fn looks_like_request(data: &[u8]) -> bool {
    REQUEST_METHODS.iter().any(|m| data.starts_with(m))
}

/// Does `data` start like an HTTP/1.x status line?
pub fn looks_like_response(data: &[u8]) -> bool {
    data.starts_with(b"HTTP/1.")
}

/// How a request line starts: the methods of RFC 9110 and PATCH, each with its space. Also what
/// content detection ([`looks_like_request`]) takes for the start of a request.
const REQUEST_METHODS: [&[u8]; 9] = [
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
const STATUS_LINES: [&[u8]; 2] = [b"HTTP/1.1 ", b"HTTP/1.0 "];

/// Whether `bytes` begin a request line (client side) or status line (server side).
fn start_line(dir: Dir, bytes: &[u8]) -> Prefix {
    let patterns: &[&[u8]] = match dir {
        Dir::C2S => &REQUEST_METHODS,
        Dir::S2C => &STATUS_LINES,
    };
    let mut maybe = false;
    for p in patterns {
        if bytes.starts_with(p) {
            return Prefix::Yes;
        }
        maybe |= p.starts_with(bytes);
    }
    if maybe { Prefix::Maybe } else { Prefix::No }
}

fn head_name(dir: Dir) -> &'static str {
    match dir {
        Dir::C2S => "request",
        Dir::S2C => "response",
    }
}

fn start_name(dir: Dir) -> &'static str {
    match dir {
        Dir::C2S => "request line",
        Dir::S2C => "status line",
    }
}

/// End (exclusive) of the first blank line in `data`, given the two bytes before it.
fn find_blank_line(before: [u8; 2], data: &[u8]) -> Option<usize> {
    let byte_at = |i: isize| -> u8 {
        match usize::try_from(i) {
            Ok(i) => data.get(i).copied().unwrap_or(0),
            Err(_) => match i {
                -1 => before[1],
                -2 => before[0],
                _ => 0,
            },
        }
    };
    let mut from = 0usize;
    while let Some(p) = tail(data, from).iter().position(|&b| b == b'\n') {
        let i = from + p;
        let at = i as isize;
        let prev = byte_at(at - 1);
        if prev == b'\n' || (prev == b'\r' && byte_at(at - 2) == b'\n') {
            return Some(i + 1);
        }
        from = i + 1;
    }
    None
}

fn last_two(buf: &[u8]) -> [u8; 2] {
    match buf {
        [.., a, b] => [*a, *b],
        [b] => [0, *b],
        [] => [0, 0],
    }
}

fn head(data: &[u8], n: usize) -> &[u8] {
    data.get(..n).unwrap_or(data)
}

fn tail(data: &[u8], from: usize) -> &[u8] {
    data.get(from..).unwrap_or_default()
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(head(bytes, e.valid_up_to())).unwrap_or_default(),
    }
}

fn escaped(bytes: &[u8]) -> String {
    head(bytes, ERROR_PREVIEW).escape_ascii().to_string()
}
