//! Tests of the HTTP connection analyzer: a sink that records owned copies of every event, unit
//! tests per behaviour, and property tests over generated conversations and arbitrary bytes.

use super::*;
use crate::config::Config;
use crate::model::{Code, Event, EventCtx, EventSink, HttpHead, Record};
use crate::proto::dissect::{Registry, Solo};
use crate::tcp::{FlowMeta, PacketRef, RoleBasis};
use proptest::prelude::*;
use std::net::SocketAddr;

/// An owned copy of an [`HttpMessage`].
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Msg {
    pub dir: Dir,
    pub start_ts: i64,
    pub ts: i64,
    /// `METHOD target` or `STATUS reason`.
    pub line: String,
    pub version: u8,
    pub headers: Vec<(String, Vec<u8>)>,
    pub header_bytes: u64,
    pub body_bytes: u64,
    pub framing_bytes: u64,
    pub chunked: bool,
    pub upgrade: Option<String>,
    pub body_head: Vec<u8>,
    pub complete: bool,
}

impl Msg {
    fn wire_bytes(&self) -> u64 {
        self.header_bytes + self.body_bytes + self.framing_bytes
    }
    fn without_times(&self) -> Msg {
        Msg {
            start_ts: 0,
            ts: 0,
            ..self.clone()
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Ev {
    Head(Msg),
    Http(Msg),
    Sse {
        ts: i64,
        event: Option<String>,
        id: Option<String>,
        data: Vec<u8>,
    },
    Anomaly {
        code: Code,
        dir: Option<Dir>,
        ts: i64,
        detail: String,
    },
}

impl Ev {
    fn without_times(&self) -> Ev {
        match self {
            Ev::Head(m) => Ev::Head(m.without_times()),
            Ev::Http(m) => Ev::Http(m.without_times()),
            Ev::Sse {
                event, id, data, ..
            } => Ev::Sse {
                ts: 0,
                event: event.clone(),
                id: id.clone(),
                data: data.clone(),
            },
            Ev::Anomaly {
                code, dir, detail, ..
            } => Ev::Anomaly {
                code: *code,
                dir: *dir,
                ts: 0,
                detail: detail.clone(),
            },
        }
    }
    fn dir(&self) -> Option<Dir> {
        match self {
            Ev::Head(m) | Ev::Http(m) => Some(m.dir),
            Ev::Sse { .. } => Some(Dir::S2C),
            Ev::Anomaly { dir, .. } => *dir,
        }
    }
}

fn owned(m: &HttpMessage<'_>) -> Msg {
    let (line, version) = match m.head {
        HttpHead::Request {
            method,
            target,
            version,
        } => (format!("{method} {target}"), version),
        HttpHead::Response {
            version,
            status,
            reason,
        } => (format!("{status} {reason}"), version),
    };
    Msg {
        dir: m.dir,
        start_ts: m.start_ts.0,
        ts: m.ts.0,
        line,
        version,
        headers: m
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        header_bytes: m.header_bytes,
        body_bytes: m.body_bytes,
        framing_bytes: m.framing_bytes,
        chunked: m.chunked,
        upgrade: m.upgrade.map(str::to_owned),
        body_head: m.body_head.to_vec(),
        complete: m.complete,
    }
}

/// Records owned copies of the events it is given.
#[derive(Default)]
pub(super) struct Recorder {
    pub events: Vec<Ev>,
    /// The digest of every `Http` event, in order.
    pub digests: Vec<crate::model::Digest>,
}

impl EventSink for Recorder {
    fn event(&mut self, _ctx: &EventCtx<'_>, event: Event<'_>) {
        let ev = match event {
            Event::HttpHead(m) => Ev::Head(owned(m)),
            Event::Record(Record::Http(m)) => {
                self.digests.push(m.digest);
                Ev::Http(owned(m))
            }
            Event::Record(Record::Sse(s)) => Ev::Sse {
                ts: s.ts.0,
                event: s.event.map(str::to_owned),
                id: s.id.map(str::to_owned),
                data: s.data.to_vec(),
            },
            Event::Record(Record::Anomaly(a)) => Ev::Anomaly {
                code: a.code,
                dir: a.dir,
                ts: a.ts.0,
                detail: a.detail.clone(),
            },
            other => panic!("HttpConn emitted {other:?}"),
        };
        self.events.push(ev);
    }
}

fn flow_meta() -> FlowMeta {
    FlowMeta::new(
        1,
        SocketAddr::from(([10, 0, 0, 1], 51000)),
        SocketAddr::from(([10, 0, 0, 2], 80)),
        RoleBasis::Syn,
        Timestamp::ZERO,
    )
}

struct Harness {
    conn: HttpConn,
    rec: Recorder,
    solo: Solo,
    frame: u64,
}

impl Harness {
    fn new() -> Self {
        Harness::with(&Limits::default(), 32)
    }
    fn with(limits: &Limits, preview: usize) -> Self {
        Harness {
            conn: HttpConn::new(limits, preview),
            rec: Recorder::default(),
            solo: Solo::new(flow_meta(), Config::default(), Registry::default()),
            frame: 0,
        }
    }
    fn at(&mut self, dir: Dir, data: &[u8], ts: i64) -> Feed {
        self.frame += 1;
        let pkt = Some(PacketRef::new(self.frame, Timestamp(ts)));
        self.conn
            .feed(dir, data, &mut self.solo.cx(pkt, &mut self.rec))
    }
    fn feed(&mut self, dir: Dir, data: &[u8]) -> Feed {
        self.at(dir, data, 0)
    }
    /// Feeds `data` in pieces of `step` bytes; returns the offset of an upgrade within `data`.
    fn feed_in(&mut self, dir: Dir, data: &[u8], step: usize) -> Option<usize> {
        let mut start = 0;
        for piece in data.chunks(step.max(1)) {
            if let Feed::Upgraded { offset } = self.feed(dir, piece) {
                return Some(start + offset);
            }
            start += piece.len();
        }
        None
    }
    fn gap(&mut self, dir: Dir, len: u64) {
        self.conn
            .gap(dir, len, &mut self.solo.cx(None, &mut self.rec));
    }
    fn end(&mut self, dir: Dir) {
        self.conn.end(dir, &mut self.solo.cx(None, &mut self.rec));
    }
    fn finish(&mut self) {
        self.conn.finish(&mut self.solo.cx(None, &mut self.rec));
    }
    fn messages(&self) -> Vec<Msg> {
        self.rec
            .events
            .iter()
            .filter_map(|e| match e {
                Ev::Http(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }
    fn messages_of(&self, dir: Dir) -> Vec<Msg> {
        self.messages()
            .into_iter()
            .filter(|m| m.dir == dir)
            .collect()
    }
    fn anomalies(&self) -> Vec<(Code, String)> {
        self.rec
            .events
            .iter()
            .filter_map(|e| match e {
                Ev::Anomaly { code, detail, .. } => Some((*code, detail.clone())),
                _ => None,
            })
            .collect()
    }
    fn codes(&self) -> Vec<Code> {
        self.anomalies().into_iter().map(|(c, _)| c).collect()
    }
}

fn lines(msgs: &[Msg]) -> Vec<String> {
    msgs.iter().map(|m| m.line.clone()).collect()
}

fn sum_wire(msgs: &[Msg]) -> u64 {
    msgs.iter().map(Msg::wire_bytes).sum()
}

const GET_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n";
const UPGRADE_REQ: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const SWITCHING: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/// "Hello", masked (RFC 6455 §5.7).
const CLIENT_FRAME: &[u8] = &[
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
const SERVER_FRAME: &[u8] = &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];

#[test]
fn keep_alive_sequence_with_exact_times_and_sizes() {
    let mut h = Harness::new();
    let resp1: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let req2: &[u8] = b"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    let resp2: &[u8] =
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n";
    let req3: &[u8] = b"GET /c HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n";
    let resp3: &[u8] = b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
    h.at(Dir::C2S, GET_A, 10);
    h.at(Dir::S2C, resp1, 20);
    h.at(Dir::C2S, req2, 30);
    h.at(Dir::S2C, resp2, 40);
    h.at(Dir::C2S, req3, 50);
    h.at(Dir::S2C, resp3, 60);
    let msgs = h.messages();
    assert_eq!(
        lines(&msgs),
        [
            "GET /a",
            "200 OK",
            "POST /b",
            "201 Created",
            "GET /c",
            "304 Not Modified"
        ]
    );
    assert!(msgs.iter().all(|m| m.complete && m.version == 1));
    let times: Vec<(i64, i64)> = msgs.iter().map(|m| (m.start_ts, m.ts)).collect();
    assert_eq!(
        times,
        [(10, 10), (20, 20), (30, 30), (40, 40), (50, 50), (60, 60)]
    );
    assert_eq!(msgs[1].body_bytes, 5);
    assert_eq!(msgs[1].body_head, b"hello");
    assert_eq!(msgs[2].body_bytes, 3);
    assert_eq!(msgs[3].body_bytes, 3);
    assert!(msgs[3].chunked);
    assert_eq!(msgs[3].framing_bytes, b"3\r\n\r\n0\r\n\r\n".len() as u64);
    assert_eq!(msgs[0].header_bytes, GET_A.len() as u64);
    let c2s_len = (GET_A.len() + req2.len() + req3.len()) as u64;
    let s2c_len = (resp1.len() + resp2.len() + resp3.len()) as u64;
    assert_eq!(sum_wire(&h.messages_of(Dir::C2S)), c2s_len);
    assert_eq!(sum_wire(&h.messages_of(Dir::S2C)), s2c_len);
    // Each message's head event came first, with zero body counts.
    let heads: Vec<&Msg> = h
        .rec
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Head(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(heads.len(), 6);
    assert!(
        heads
            .iter()
            .all(|m| !m.complete && m.body_bytes == 0 && m.framing_bytes == 0)
    );
    assert!(h.codes().is_empty());
}

#[test]
fn timestamps_follow_the_bytes_across_inputs() {
    let mut h = Harness::new();
    h.at(Dir::C2S, b"POST /u HTTP/1.1\r\nContent-", 10);
    h.at(Dir::C2S, b"Length: 4\r\n\r\nab", 20);
    h.at(Dir::C2S, b"cd", 30);
    h.at(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no",
        40,
    );
    h.at(Dir::S2C, b"k", 50);
    let head_times: Vec<(i64, i64)> = h
        .rec
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Head(m) => Some((m.start_ts, m.ts)),
            _ => None,
        })
        .collect();
    assert_eq!(head_times, [(10, 20), (40, 40)]);
    let msgs = h.messages();
    assert_eq!((msgs[0].start_ts, msgs[0].ts), (10, 30));
    assert_eq!((msgs[1].start_ts, msgs[1].ts), (40, 50));
    assert_eq!(msgs[0].body_head, b"abcd");
    assert_eq!(msgs[0].header_bytes, 39);
}

/// Three pipelined requests in one input; responses (Content-Length, HEAD, chunked with
/// extension and trailer) fed in every chunk size give the same events as one piece.
#[test]
fn pipelining_gives_the_same_events_for_every_chunk_size() {
    let requests: &[u8] = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n\
POST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    let responses: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwxyz\r\n3\r\n!!!\r\n0\r\nT: 1\r\n\r\n";
    let mut reference = Harness::new();
    reference.feed(Dir::C2S, requests);
    reference.feed(Dir::S2C, responses);
    let msgs = reference.messages();
    assert_eq!(
        lines(&msgs),
        ["GET /1", "HEAD /2", "POST /3", "200 OK", "200 OK", "200 OK"]
    );
    assert_eq!(msgs[3].body_head, b"abc");
    assert_eq!(
        (msgs[4].body_bytes, msgs[4].complete),
        (0, true),
        "HEAD: no body"
    );
    assert_eq!(msgs[5].body_head, b"wxyz!!!");
    assert_eq!(
        sum_wire(&reference.messages_of(Dir::C2S)),
        requests.len() as u64
    );
    assert_eq!(
        sum_wire(&reference.messages_of(Dir::S2C)),
        responses.len() as u64
    );
    assert!(reference.codes().is_empty());

    for step in 1..=responses.len() {
        let mut h = Harness::new();
        h.feed_in(Dir::C2S, requests, step);
        h.feed_in(Dir::S2C, responses, step);
        assert_eq!(h.rec.events, reference.rec.events, "chunk size {step}");
    }
}

#[test]
fn chunked_extensions_and_trailers_are_framing() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, GET_A);
    let head: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    let body: &[u8] = b"5;name=\"quoted;value\"\r\nhello\r\n6 ; a=b\r\n world\r\n000\r\nExpires: never\r\nX-Sum: 1\r\n\r\n";
    h.feed(Dir::S2C, head);
    for piece in body.chunks(4) {
        h.feed(Dir::S2C, piece);
    }
    let resp = &h.messages_of(Dir::S2C)[0];
    assert!(resp.complete && resp.chunked);
    assert_eq!(resp.header_bytes, head.len() as u64);
    assert_eq!(resp.body_bytes, 11);
    assert_eq!(resp.framing_bytes, body.len() as u64 - 11);
    assert_eq!(resp.body_head, b"hello world");
}

#[test]
fn head_response_with_content_length_has_no_body() {
    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"HEAD /big HTTP/1.1\r\n\r\nGET /small HTTP/1.1\r\n\r\n",
    );
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 123456\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    );
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(resps.len(), 2);
    assert_eq!(resps[0].body_bytes, 0);
    assert!(resps[0].complete);
    assert_eq!(resps[1].body_head, b"hi");
    assert!(h.codes().is_empty());
}

#[test]
fn interim_responses_do_not_answer_the_request() {
    let mut h = Harness::new();
    // 103 then the final answer to a HEAD: the final one must still know it answers HEAD.
    h.feed(Dir::C2S, b"HEAD / HTTP/1.1\r\n\r\n");
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",
    );
    h.feed(Dir::C2S, GET_A);
    h.feed(Dir::S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(
        lines(&resps),
        ["103 Early Hints", "200 OK", "204 No Content"]
    );
    assert!(resps.iter().all(|m| m.complete && m.body_bytes == 0));
    assert!(h.codes().is_empty());
}

#[test]
fn expect_100_continue_then_body_then_final_response() {
    let mut h = Harness::new();
    let head: &[u8] = b"PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    h.at(Dir::C2S, head, 1);
    h.at(Dir::S2C, b"HTTP/1.1 100 Continue\r\n\r\n", 2);
    h.at(Dir::C2S, b"hello", 3);
    h.at(
        Dir::S2C,
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        4,
    );
    h.at(Dir::C2S, GET_A, 5);
    h.at(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
        6,
    );
    let msgs = h.messages();
    assert_eq!(
        lines(&msgs),
        ["100 Continue", "PUT /f", "201 Created", "GET /a", "200 OK"]
    );
    assert_eq!(
        (msgs[1].start_ts, msgs[1].ts, msgs[1].body_bytes),
        (1, 3, 5)
    );
    assert_eq!(msgs[4].body_head, b"!");
}

#[test]
fn no_body_for_204_and_304_even_with_content_length() {
    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
    );
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    );
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(
        lines(&resps),
        ["204 No Content", "304 Not Modified", "200 OK"]
    );
    assert_eq!(resps[2].body_head, b"x");
    assert!(h.codes().is_empty());
}

#[test]
fn close_delimited_body_ends_with_fin() {
    let head: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    let mut h = Harness::new();
    h.feed(Dir::C2S, GET_A);
    h.feed(Dir::S2C, head);
    h.feed(Dir::S2C, b"part one, ");
    h.feed(Dir::S2C, b"part two");
    assert_eq!(h.messages_of(Dir::S2C).len(), 0, "not over before the FIN");
    h.end(Dir::S2C);
    let resp = &h.messages_of(Dir::S2C)[0];
    assert!(resp.complete);
    assert_eq!(resp.body_bytes, 18);
    assert_eq!(resp.header_bytes, head.len() as u64);
    h.finish();
    assert_eq!(
        h.messages().len(),
        2,
        "finish after FIN reports nothing twice"
    );

    // Without a FIN the body may have been cut: incomplete.
    let mut h = Harness::new();
    h.feed(Dir::C2S, GET_A);
    h.feed(Dir::S2C, head);
    h.feed(Dir::S2C, b"cut");
    h.finish();
    let resp = &h.messages_of(Dir::S2C)[0];
    assert!(!resp.complete);
    assert_eq!(resp.body_bytes, 3);
}

#[test]
fn http_1_0_close_and_keep_alive() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET / HTTP/1.0\r\n\r\n");
    h.feed(Dir::S2C, b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n<html>");
    h.end(Dir::S2C);
    let msgs = h.messages();
    assert!(msgs.iter().all(|m| m.version == 0 && m.complete));
    assert_eq!(msgs[1].body_bytes, 6);

    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
    );
    h.feed(
        Dir::S2C,
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nokHTTP/1.0 404 Not Found\r\n\r\nno",
    );
    h.end(Dir::S2C);
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(lines(&resps), ["200 OK", "404 Not Found"]);
    assert_eq!(resps[1].body_head, b"no");
    assert!(resps[1].complete);
}

fn header_names(headers: &crate::proto::dissect::OwnedHeaders) -> Vec<&str> {
    headers.iter().map(|(n, _)| n).collect()
}

#[test]
fn upgrade_hands_over_frames_from_the_same_inputs() {
    let mut h = Harness::new();
    let mut c2s = UPGRADE_REQ.to_vec();
    c2s.extend_from_slice(CLIENT_FRAME);
    assert_eq!(h.feed(Dir::C2S, &c2s), Feed::Consumed);
    assert_eq!(h.feed(Dir::C2S, CLIENT_FRAME), Feed::Consumed);
    let mut s2c = SWITCHING.to_vec();
    s2c.extend_from_slice(SERVER_FRAME);
    assert_eq!(
        h.feed(Dir::S2C, &s2c),
        Feed::Upgraded {
            offset: SWITCHING.len()
        }
    );
    let up = h.conn.take_upgrade().expect("upgrade");
    assert_eq!(
        header_names(&up.request_headers),
        [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version"
        ]
    );
    assert_eq!(
        up.request_headers.iter().nth(3).map(|h| h.1),
        Some(&b"dGhlIHNhbXBsZSBub25jZQ=="[..])
    );
    assert_eq!(
        header_names(&up.response_headers),
        ["Upgrade", "Connection", "Sec-WebSocket-Accept"]
    );
    assert_eq!(up.request_bytes, UPGRADE_REQ.len() as u64);
    assert_eq!(up.response_bytes, SWITCHING.len() as u64);
    assert_eq!(up.held_c2s, [CLIENT_FRAME, CLIENT_FRAME].concat());
    assert!(h.conn.take_upgrade().is_none());
    let msgs = h.messages();
    assert_eq!(lines(&msgs), ["GET /chat", "101 Switching Protocols"]);
    assert_eq!(msgs[0].upgrade.as_deref(), Some("websocket"));
    assert!(h.codes().is_empty());
    // The connection is WebSocket's now.
    let before = h.rec.events.len();
    assert_eq!(h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\n\r\n"), Feed::Consumed);
    h.finish();
    assert_eq!(h.rec.events.len(), before);
}

#[test]
fn upgrade_offset_is_exact_for_every_split_of_the_101() {
    let mut s2c = SWITCHING.to_vec();
    s2c.extend_from_slice(SERVER_FRAME);
    for step in 1..=s2c.len() {
        let mut h = Harness::new();
        h.feed_in(Dir::C2S, UPGRADE_REQ, step);
        assert_eq!(
            h.feed_in(Dir::S2C, &s2c, step),
            Some(SWITCHING.len()),
            "step {step}"
        );
        let up = h.conn.take_upgrade().expect("upgrade");
        assert_eq!(up.response_bytes, SWITCHING.len() as u64);
        assert!(up.held_c2s.is_empty());
    }
}

#[test]
fn refused_upgrade_parses_the_held_bytes_as_http() {
    let mut h = Harness::new();
    let mut c2s = UPGRADE_REQ.to_vec();
    c2s.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
    h.at(Dir::C2S, &c2s, 100);
    assert_eq!(h.messages().len(), 1, "bytes after an upgrade request wait");
    h.at(
        Dir::S2C,
        b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n",
        200,
    );
    h.at(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        300,
    );
    assert_eq!(h.codes(), [Code::WsUpgradeRefused]);
    assert!(h.anomalies()[0].1.contains("426"));
    let msgs = h.messages();
    assert_eq!(
        lines(&msgs),
        ["GET /chat", "426 Upgrade Required", "GET /next", "200 OK"]
    );
    assert_eq!(msgs[2].start_ts, 100, "held bytes keep their arrival time");
    assert_eq!(msgs[3].body_head, b"hi");
    assert!(h.conn.take_upgrade().is_none());
}

#[test]
fn declined_non_websocket_upgrade_is_not_an_anomaly() {
    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    );
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    h.feed(Dir::C2S, GET_A);
    assert!(h.codes().is_empty());
    assert_eq!(h.messages_of(Dir::C2S).len(), 2);
}

#[test]
fn upgrade_after_keep_alive_requests() {
    let mut h = Harness::new();
    for _ in 0..3 {
        h.feed(Dir::C2S, GET_A);
        h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n.");
    }
    let mut c2s = UPGRADE_REQ.to_vec();
    c2s.extend_from_slice(CLIENT_FRAME);
    h.feed(Dir::C2S, &c2s);
    let mut s2c = SWITCHING.to_vec();
    s2c.extend_from_slice(SERVER_FRAME);
    assert_eq!(
        h.feed(Dir::S2C, &s2c),
        Feed::Upgraded {
            offset: SWITCHING.len()
        }
    );
    let up = h.conn.take_upgrade().expect("upgrade");
    assert_eq!(up.held_c2s, CLIENT_FRAME);
    assert_eq!(up.request_bytes, UPGRADE_REQ.len() as u64);
    assert_eq!(h.messages().len(), 8);
}

#[test]
fn pipelined_responses_then_101_in_one_input() {
    let mut h = Harness::new();
    let mut c2s = GET_A.to_vec();
    c2s.extend_from_slice(UPGRADE_REQ);
    h.feed(Dir::C2S, &c2s);
    let first: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let s2c = [first, SWITCHING, SERVER_FRAME].concat();
    assert_eq!(
        h.feed(Dir::S2C, &s2c),
        Feed::Upgraded {
            offset: first.len() + SWITCHING.len()
        }
    );
    assert_eq!(
        h.conn.take_upgrade().map(|u| u.request_headers.len()),
        Some(5)
    );
}

#[test]
fn switching_protocols_without_a_seen_request() {
    let mut h = Harness::new();
    h.conn.picked_up_midstream();
    let s2c = [SWITCHING, SERVER_FRAME].concat();
    assert_eq!(
        h.feed(Dir::S2C, &s2c),
        Feed::Upgraded {
            offset: SWITCHING.len()
        }
    );
    let up = h.conn.take_upgrade().expect("upgrade");
    assert!(up.request_headers.is_empty());
    assert_eq!(up.request_bytes, 0);
    assert_eq!(up.response_headers.len(), 3);
}

#[test]
fn hold_overflow_drops_the_held_bytes() {
    let limits = Limits {
        max_upgrade_hold: 16,
        ..Limits::default()
    };
    let mut h = Harness::with(&limits, 32);
    let mut c2s = UPGRADE_REQ.to_vec();
    c2s.extend_from_slice(&[0x82; 10]);
    h.feed(Dir::C2S, &c2s);
    assert!(h.codes().is_empty());
    h.feed(Dir::C2S, &[0x82; 10]);
    assert_eq!(h.codes(), [Code::HttpUpgradeHoldOverflow]);
    h.feed(Dir::C2S, &[0x82; 10]);
    assert_eq!(h.codes().len(), 1, "reported once");
    assert!(matches!(h.feed(Dir::S2C, SWITCHING), Feed::Upgraded { .. }));
    assert!(h.conn.take_upgrade().expect("upgrade").held_c2s.is_empty());

    // Refused after an overflow: the client side resynchronises on its next request.
    let mut h = Harness::with(&limits, 32);
    h.feed(Dir::C2S, UPGRADE_REQ);
    h.feed(Dir::C2S, &[b'x'; 20]);
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    );
    h.feed(Dir::C2S, GET_A);
    assert_eq!(
        h.codes(),
        [
            Code::HttpUpgradeHoldOverflow,
            Code::WsUpgradeRefused,
            Code::HttpResync
        ]
    );
    assert!(h.anomalies()[2].1.contains("skipped 20 bytes"));
    assert_eq!(lines(&h.messages_of(Dir::C2S)), ["GET /chat", "GET /a"]);
}

/// The memory budget asks the connection to give way (as the flow table does).
fn give_way(h: &mut Harness) {
    h.conn.give_way(&mut h.solo.cx(None, &mut h.rec));
}

#[test]
fn giving_way_drops_an_incomplete_head_and_that_side_skips_to_the_next_request() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET /a HTTP/1.1\r\nHost: x\r\nX-Long: aaaa");
    assert!(h.conn.held().buffers >= 38);
    give_way(&mut h);
    assert_eq!(h.codes(), [Code::HttpBudgetHead]);
    assert!(
        h.anomalies()[0]
            .1
            .contains("memory budget cut a request head after 38 bytes"),
        "{:?}",
        h.anomalies()
    );
    assert_eq!(h.conn.held().buffers, 0);
    // The cut request awaits its answer: room the newest requests keep, counted as fixed.
    assert!(h.conn.held().fixed >= crate::budget::vec_bytes::<Outstanding>(1));
    // What it held is reported, as for a head cut by a gap: the start line and the whole
    // fields, incomplete.
    let cut = h.messages();
    assert_eq!(lines(&cut), ["GET /a"]);
    assert_eq!(cut[0].headers, [("Host".to_string(), b"x".to_vec())]);
    assert_eq!((cut[0].header_bytes, cut[0].complete), (38, false));
    h.feed(Dir::C2S, b"aaaa\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(lines(&h.messages()), ["GET /a", "GET /b"]);
    assert_eq!(h.codes(), [Code::HttpBudgetHead, Code::HttpResync]);
    assert!(
        h.anomalies()[1].1.contains("skipped 8 bytes"),
        "{:?}",
        h.anomalies()
    );
    // The cut request kept its place: the responses answer /a, then /b.
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    h.feed(Dir::S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(
        lines(&h.messages_of(Dir::S2C)),
        ["200 OK", "204 No Content"]
    );
    assert_eq!(h.conn.outstanding.len(), 0);
}

#[test]
fn giving_way_keeps_the_start_line_of_a_message_in_progress_and_stops_previews() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, GET_A);
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: b\r\n\r\nabcd",
    );
    give_way(&mut h);
    assert_eq!(
        h.codes(),
        [Code::HttpBudgetHead, Code::HttpBudgetDisplay],
        "{:?}",
        h.anomalies()
    );
    h.feed(Dir::S2C, b"efghij");
    h.feed(Dir::C2S, GET_A);
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nkl");
    let responses = h.messages_of(Dir::S2C);
    assert_eq!(lines(&responses), ["200 OK", "200 OK"]);
    let first = &responses[0];
    assert!(first.headers.is_empty(), "{:?}", first.headers);
    assert_eq!((first.body_bytes, first.complete), (10, true));
    assert_eq!(
        first.header_bytes, 47,
        "the accounting keeps the whole head"
    );
    assert!(first.body_head.is_empty());
    assert!(
        responses[1].body_head.is_empty(),
        "no previews from here on"
    );
    assert_eq!(responses[1].headers.len(), 1, "later heads are whole");
}

#[test]
fn giving_way_keeps_the_start_line_of_a_repaired_head_in_progress() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, GET_A);
    // The head needed a repair, so its copy holds the wire head and the repaired one.
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 203 Fine Enough\r\nX-A: b\r\n c\r\nContent-Length: 4\r\n\r\nab",
    );
    give_way(&mut h);
    assert_eq!(
        h.codes(),
        [
            Code::HttpObsFold,
            Code::HttpBudgetHead,
            Code::HttpBudgetDisplay
        ]
    );
    assert!(
        h.anomalies()[1].1.contains("(33 bytes) dropped"),
        "the wire head's header lines: {:?}",
        h.anomalies()
    );
    h.feed(Dir::S2C, b"cd");
    let responses = h.messages_of(Dir::S2C);
    assert_eq!(lines(&responses), ["203 Fine Enough"]);
    assert!(responses[0].headers.is_empty());
    assert_eq!((responses[0].body_bytes, responses[0].complete), (4, true));
}

#[test]
fn giving_way_drops_the_bytes_held_for_an_upgrade() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, UPGRADE_REQ);
    h.feed(Dir::C2S, &[0x82; 10]);
    give_way(&mut h);
    assert_eq!(h.codes(), [Code::HttpBudgetHold]);
    h.feed(Dir::C2S, &[0x82; 10]);
    assert!(matches!(h.feed(Dir::S2C, SWITCHING), Feed::Upgraded { .. }));
    assert!(h.conn.take_upgrade().expect("upgrade").held_c2s.is_empty());
}

#[test]
fn giving_way_keeps_only_the_framing_of_all_but_the_newest_unanswered_requests() {
    let mut h = Harness::new();
    for _ in 0..20 {
        h.feed(Dir::C2S, GET_A);
    }
    give_way(&mut h);
    assert_eq!(h.codes(), [Code::HttpBudgetPending]);
    assert!(
        h.anomalies()[0].1.starts_with("12 unanswered"),
        "{:?}",
        h.anomalies()
    );
    assert_eq!(h.conn.outstanding.len(), KEEP_PENDING);
    assert_eq!(h.conn.outstanding.capacity(), KEEP_PENDING);
    assert_eq!(
        h.conn.held().buffers,
        0,
        "what is kept cannot be given up: it is fixed"
    );
    for _ in 0..20 {
        h.feed(Dir::S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    }
    assert_eq!(h.messages_of(Dir::S2C).len(), 20);
    assert_eq!(h.codes(), [Code::HttpBudgetPending]);
    // Nothing left to give: nothing is said.
    give_way(&mut h);
    assert_eq!(h.codes().len(), 1);
}

#[test]
fn the_head_parsers_storage_is_charged_and_given_back() {
    // 100 fields: more than the stack holds, so the reusable slot array grows; a repaired
    // field (obs-fold) makes the repair copy grow too.
    let mut head = b"GET /many HTTP/1.1\r\nX-Folded: a\r\n b\r\n".to_vec();
    for i in 0..100 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut h = Harness::new();
    h.feed(Dir::C2S, &head);
    assert_eq!(lines(&h.messages()), ["GET /many"]);
    assert_eq!(h.messages()[0].headers.len(), 101);
    let storage = h.conn.heads.held();
    assert!(storage > 100 * 32, "{storage}");
    let before = h.conn.held().buffers;
    assert!(before >= storage);
    give_way(&mut h);
    assert_eq!(h.conn.heads.held(), 0);
    assert_eq!(h.conn.held().buffers, 0);
    assert_eq!(h.codes(), [Code::HttpObsFold], "nothing lost, nothing said");
}

#[test]
fn giving_way_keeps_the_framing_of_an_evicted_head_request_until_asked_again() {
    let head_request = b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut h = Harness::new();
    h.feed(Dir::C2S, head_request);
    for _ in 0..KEEP_PENDING {
        h.feed(Dir::C2S, GET_A);
    }
    give_way(&mut h);
    assert_eq!(h.codes(), [Code::HttpBudgetPending]);
    assert!(
        h.anomalies()[0].1.starts_with("1 unanswered"),
        "{:?}",
        h.anomalies()
    );
    assert_eq!(h.conn.outstanding.len(), KEEP_PENDING);
    // The answer to the HEAD has a Content-Length and no body: the next response follows it.
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let responses = h.messages_of(Dir::S2C);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].body_bytes, 0);
    assert_eq!((responses[1].body_bytes, responses[1].complete), (2, true));
    assert_eq!(h.codes(), [Code::HttpBudgetPending], "framing kept");

    // Asked again with nothing more to evict, the record of evicted HEADs is given up.
    let mut h = Harness::new();
    h.feed(Dir::C2S, head_request);
    for _ in 0..KEEP_PENDING {
        h.feed(Dir::C2S, GET_A);
    }
    give_way(&mut h);
    let before = h.conn.held().buffers;
    give_way(&mut h);
    assert_eq!(
        h.codes(),
        [Code::HttpBudgetPending, Code::HttpBudgetPending]
    );
    assert!(
        h.anomalies()[1]
            .1
            .starts_with("1 evicted HEAD or CONNECT requests forgotten"),
        "{:?}",
        h.anomalies()
    );
    assert!(h.conn.held().buffers < before);
    // Nothing left to give: nothing more is said.
    give_way(&mut h);
    assert_eq!(h.codes().len(), 2);
}

#[test]
fn requests_evicted_at_the_cap_after_the_budget_evicted_some_are_still_reported() {
    let mut h = Harness::new();
    for _ in 0..20 {
        h.feed(Dir::C2S, GET_A);
    }
    give_way(&mut h);
    for _ in 0..MAX_OUTSTANDING {
        h.feed(Dir::C2S, GET_A);
    }
    assert_eq!(
        h.codes(),
        [Code::HttpBudgetPending, Code::HttpRequestsEvicted]
    );
    // Every response is matched, in order, evicted or not.
    for _ in 0..(20 + MAX_OUTSTANDING) {
        h.feed(Dir::S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    }
    assert_eq!(h.messages_of(Dir::S2C).len(), 20 + MAX_OUTSTANDING);
    assert!(h.conn.outstanding.is_empty());
}

#[test]
fn evicted_requests_answered_and_evicted_again_keep_their_order() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    for _ in 0..KEEP_PENDING {
        h.feed(Dir::C2S, GET_A);
    }
    give_way(&mut h);
    // The evicted HEAD and the oldest GET are answered; then a HEAD is evicted again.
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    h.feed(Dir::C2S, b"HEAD /i HTTP/1.1\r\nHost: x\r\n\r\n");
    for _ in 0..KEEP_PENDING {
        h.feed(Dir::C2S, GET_A);
    }
    give_way(&mut h);
    // Seven GETs from before, the HEAD, then eight GETs: the HEAD's answer has no body.
    for _ in 0..(KEEP_PENDING - 1) {
        h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let responses = h.messages_of(Dir::S2C);
    let bodies: Vec<u64> = responses.iter().map(|m| m.body_bytes).collect();
    let mut want = vec![0, 2];
    want.extend([2; KEEP_PENDING - 1]);
    want.extend([0, 2]);
    assert_eq!(bodies, want);
    assert!(
        !h.codes().contains(&Code::HttpParseError),
        "{:?}",
        h.anomalies()
    );
}

#[test]
fn connect_2xx_makes_an_opaque_tunnel() {
    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n\x16\x03\x01\x02\x00\x01",
    );
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x03\x00\x7a\x02",
    );
    h.feed(Dir::C2S, b"\x17\x03\x03 more tls");
    h.finish();
    assert!(h.conn.is_tunnel());
    assert!(h.codes().is_empty());
    assert_eq!(
        lines(&h.messages()),
        ["CONNECT example.test:443", "200 Connection Established"]
    );

    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"CONNECT a:443 HTTP/1.1\r\n\r\nCONNECT a:443 HTTP/1.1\r\nProxy-Authorization: x\r\n\r\n",
    );
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(!h.conn.is_tunnel());
    assert_eq!(
        h.messages_of(Dir::C2S).len(),
        2,
        "held retry parsed after the 407"
    );
    assert!(h.codes().is_empty());
}

#[test]
fn garbage_is_a_parse_error_and_stops_the_direction() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, GET_A);
    h.feed(Dir::C2S, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03");
    h.feed(Dir::C2S, GET_A);
    let anomalies = h.anomalies();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].0, Code::HttpParseError);
    assert!(
        anomalies[0].1.contains(r"\x16\x03\x01\x00\xa5"),
        "{}",
        anomalies[0].1
    );
    assert_eq!(
        h.messages_of(Dir::C2S).len(),
        1,
        "never guesses after garbage"
    );
    // The other direction is unaffected.
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.messages_of(Dir::S2C).len(), 1);
}

#[test]
fn any_number_of_header_fields_fits_up_to_the_head_cap() {
    let build = |n: usize| {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..n {
            req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req
    };
    // Beyond the stack array (64), far beyond the old limit (96), up to the 64 KiB cap.
    for n in [64, 65, 97, 1000, 5000] {
        let big = build(n);
        for step in [1, 7, 1448, big.len()] {
            let mut h = Harness::new();
            h.feed_in(Dir::C2S, &big, step);
            h.feed_in(Dir::C2S, GET_A, step);
            let msgs = h.messages();
            assert_eq!(msgs.len(), 2, "{n} fields, step {step}");
            assert_eq!(msgs[0].headers.len(), n);
            assert_eq!(msgs[0].header_bytes, big.len() as u64);
            assert_eq!(msgs[0].headers[n - 1].0, format!("X-H{}", n - 1));
            assert!(h.codes().is_empty());
        }
    }
    // The cap still holds, and the arrays grown for a huge head are not kept.
    let mut h = Harness::new();
    h.feed(Dir::C2S, &build(7000));
    assert_eq!(h.codes(), [Code::HttpHeadTooLarge]);
    let mut h = Harness::new();
    h.feed(Dir::C2S, &build(5000));
    assert_eq!(h.conn.scratch.0.capacity(), 0);
}

#[test]
fn head_cap_is_the_same_for_every_split() {
    let limits = Limits {
        max_http_head: 64,
        ..Limits::default()
    };
    let fits: &[u8] = b"GET / HTTP/1.1\r\nX-Pad: 0123456789012345678901234567890123456\r\n\r\n";
    assert_eq!(fits.len(), 64);
    let too_big = [
        b"GET / HTTP/1.1\r\nX-Pad: 0123456789012345678901234567890123456",
        &b"7\r\n\r\n"[..],
    ]
    .concat();
    for step in 1..=too_big.len() {
        let mut h = Harness::with(&limits, 8);
        h.feed_in(Dir::C2S, fits, step);
        assert_eq!(h.messages().len(), 1, "step {step}");
        let mut h = Harness::with(&limits, 8);
        h.feed_in(Dir::C2S, &too_big, step);
        h.feed_in(Dir::C2S, GET_A, step);
        assert_eq!(h.codes(), [Code::HttpHeadTooLarge], "step {step}");
        assert!(h.messages().is_empty());
    }
}

#[test]
fn content_length_validation() {
    let run = |req: &[u8]| {
        let mut h = Harness::new();
        h.feed(Dir::C2S, req);
        h.feed(Dir::C2S, GET_A);
        (h.codes(), h.messages())
    };
    let (codes, msgs) =
        run(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc");
    assert!(codes.is_empty());
    assert_eq!(lines(&msgs), ["POST /", "GET /a"]);
    for bad in [
        &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"[..],
        b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    ] {
        let (codes, msgs) = run(bad);
        assert_eq!(codes, [Code::HttpParseError], "{}", bad.escape_ascii());
        assert_eq!(msgs.len(), 1, "only the bad message, reported incomplete");
        assert!(!msgs[0].complete);
    }
}

#[test]
fn transfer_encoding_with_content_length_is_ambiguous_and_chunked_wins() {
    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n",
    );
    h.feed(Dir::C2S, GET_A);
    assert_eq!(h.codes(), [Code::HttpAmbiguousFraming]);
    let msgs = h.messages();
    assert_eq!(lines(&msgs), ["POST /", "GET /a"]);
    assert_eq!(msgs[0].body_head, b"A");
}

#[test]
fn bad_chunk_framing_reports_the_message_incomplete_and_stops() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, GET_A);
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
    );
    let anomalies = h.anomalies();
    assert_eq!(anomalies.len(), 1);
    assert!(
        anomalies[0]
            .1
            .starts_with("chunk data not followed by CRLF: \"def")
    );
    let resp = &h.messages_of(Dir::S2C)[0];
    assert!(!resp.complete);
    assert_eq!(resp.body_head, b"abc");
}

#[test]
fn sse_events_are_the_same_for_every_split() {
    let head: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
Transfer-Encoding: chunked\r\n\r\n";
    let stream: &[u8] = b"retry: 1000\n\nevent: tick\nid: 1\ndata: one\n\n: keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\rdata: never dispatched";
    // Chunk the event stream at awkward places (inside CRLF, inside field names).
    let mut body = Vec::new();
    for piece in [&stream[..7], &stream[7..30], &stream[30..55], &stream[55..]] {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let s2c = [head, &body].concat();
    let expected = vec![
        (
            Some("tick".to_owned()),
            Some("1".to_owned()),
            b"one".to_vec(),
        ),
        (None, Some("1".to_owned()), b"a\nb".to_vec()),
        (None, Some("1".to_owned()), b"c".to_vec()),
    ];
    for step in 1..=s2c.len() {
        let mut h = Harness::new();
        h.feed(
            Dir::C2S,
            b"GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n",
        );
        h.feed_in(Dir::S2C, &s2c, step);
        let got: Vec<_> = h
            .rec
            .events
            .iter()
            .filter_map(|e| match e {
                Ev::Sse {
                    event, id, data, ..
                } => Some((event.clone(), id.clone(), data.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(got, expected, "step {step}");
        let resp = &h.messages_of(Dir::S2C)[0];
        assert!(resp.complete);
        assert_eq!(resp.body_bytes, stream.len() as u64);
        assert_eq!(resp.wire_bytes(), s2c.len() as u64);
        // Every Sse event comes between the response's head and its end.
        let kinds: Vec<char> = h
            .rec
            .events
            .iter()
            .filter(|e| e.dir() == Some(Dir::S2C))
            .map(|e| match e {
                Ev::Head(_) => 'h',
                Ev::Http(_) => 'm',
                Ev::Sse { .. } => 's',
                Ev::Anomaly { .. } => 'a',
            })
            .collect();
        assert_eq!(kinds, ['h', 's', 's', 's', 'm']);
    }
}

#[test]
fn sse_data_is_capped_at_the_preview() {
    let mut h = Harness::with(&Limits::default(), 4);
    h.feed(Dir::C2S, GET_A);
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 0123456789\n\n",
    );
    assert!(
        h.rec
            .events
            .iter()
            .any(|e| matches!(e, Ev::Sse { data, .. } if data == b"0123"))
    );
}

#[test]
fn gap_inside_a_known_length_body_keeps_the_framing() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    );
    h.gap(Dir::S2C, 4);
    h.feed(
        Dir::S2C,
        b"defHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(resps.len(), 2);
    assert!(!resps[0].complete);
    assert_eq!(resps[0].body_bytes, 10);
    assert_eq!(resps[0].body_head, b"abc", "the preview stops at the hole");
    assert!(resps[1].complete);
    assert!(h.codes().is_empty());

    // A gap that ends exactly at the end of the body.
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    );
    h.gap(Dir::S2C, 7);
    h.feed(Dir::S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(lines(&resps), ["200 OK", "204 No Content"]);
    assert_eq!((resps[0].body_bytes, resps[0].complete), (10, false));
}

#[test]
fn gap_in_chunk_framing_resynchronises_on_the_next_status_line() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    );
    h.gap(Dir::S2C, 50);
    h.feed(
        Dir::S2C,
        b"tail of something\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(resps.len(), 2);
    assert!(!resps[0].complete);
    assert_eq!(resps[1].body_head, b"ok");
    assert_eq!(h.codes(), [Code::HttpResync]);
    assert!(h.anomalies()[0].1.contains("skipped 19 bytes"));
}

#[test]
fn gap_in_a_head_resynchronises_on_a_request_line_even_across_inputs() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET /a HTT");
    h.gap(Dir::C2S, 5);
    h.feed(Dir::C2S, b"more\r\n\r\nGE");
    h.feed(Dir::C2S, b"T /b HTTP/1.1\r\n\r\n");
    // The cut head is reported for what it holds (method and target), then skipping resumes.
    let msgs = h.messages();
    assert_eq!(lines(&msgs), ["GET /a", "GET /b"]);
    assert!(!msgs[0].complete && msgs[1].complete);
    assert_eq!(msgs[0].header_bytes, 10);
    assert_eq!(h.codes(), [Code::HttpTruncated, Code::HttpResync]);
    assert!(h.anomalies()[1].1.contains("skipped 8 bytes"));

    // "GE" then "TX": not a request line after all.
    let mut h = Harness::new();
    h.conn.picked_up_midstream();
    h.feed(Dir::C2S, b"GE");
    h.feed(
        Dir::C2S,
        b"TX\nPOST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nZ",
    );
    assert_eq!(lines(&h.messages()), ["POST /"]);
    assert!(h.anomalies()[0].1.contains("skipped 5 bytes"));
}

#[test]
fn midstream_pick_up_skips_to_the_first_start_line() {
    let mut h = Harness::new();
    h.conn.picked_up_midstream();
    h.at(
        Dir::S2C,
        b"of an earlier body</html>\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA",
        5,
    );
    h.at(Dir::C2S, b"GET /x HTTP/1.1\r\n\r\n", 10);
    h.at(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB",
        20,
    );
    let msgs = h.messages();
    assert_eq!(lines(&msgs), ["200 OK", "GET /x", "200 OK"]);
    assert_eq!(msgs[2].body_head, b"B");
    assert_eq!(h.codes(), [Code::HttpResync]);
    // Never resynchronised: reported when the direction ends.
    let mut h = Harness::new();
    h.conn.picked_up_midstream();
    h.feed(Dir::C2S, b"binary \x00\x01 stuff");
    h.end(Dir::C2S);
    assert_eq!(h.codes(), [Code::HttpResync]);
}

#[test]
fn a_response_older_than_the_request_does_not_answer_it() {
    let mut h = Harness::new();
    h.conn.picked_up_midstream();
    // The response to a request never seen started before the HEAD request we did see.
    h.at(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Le", 5);
    h.at(Dir::C2S, b"HEAD /x HTTP/1.1\r\n\r\n", 10);
    h.at(Dir::S2C, b"ngth: 3\r\n\r\nabc", 15);
    h.at(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
        20,
    );
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(resps.len(), 2);
    assert_eq!(resps[0].body_head, b"abc", "framed as an answer to GET");
    assert_eq!(
        (resps[1].body_bytes, resps[1].complete),
        (0, true),
        "answers the HEAD"
    );
    assert!(h.codes().is_empty());
}

#[test]
fn end_of_client_side_reports_an_unfinished_request() {
    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
    );
    h.end(Dir::C2S);
    let msgs = h.messages();
    assert_eq!(msgs.len(), 1);
    assert!(!msgs[0].complete);
    assert_eq!(msgs[0].body_bytes, 3);
}

#[test]
fn header_scratch_keeps_its_allocation() {
    let mut scratch = HeaderScratch::default();
    let v: Vec<Header<'_>> = scratch.take();
    // Nothing is reserved before a head needs it (memory per connection).
    assert_eq!(v.capacity(), 0);
    scratch.put(v);
    let text = String::from("x");
    let mut v: Vec<Header<'_>> = scratch.take();
    v.extend((0..96).map(|_| Header {
        name: &text,
        value: b"",
    }));
    let (ptr, cap) = (v.as_ptr() as usize, v.capacity());
    assert!(cap >= 96);
    scratch.put(v);
    // Once grown, the allocation is reused by every later head of the connection.
    let text = String::from("y");
    let mut v: Vec<Header<'_>> = scratch.take();
    assert!(v.is_empty());
    v.push(Header {
        name: &text,
        value: b"",
    });
    assert_eq!((v.as_ptr() as usize, v.capacity()), (ptr, cap));
    scratch.put(v);
    let again: Vec<Header<'_>> = scratch.take();
    assert_eq!(again.as_ptr() as usize, ptr);
}

// ---------------------------------------------------------------------------------------------
// Heads from the wild: repairs (RFC 9112 §5.1, §5.2), located errors, cut heads.

/// Feeds `data` in every split into two pieces and once whole; returns the harnesses.
fn every_split(dir: Dir, data: &[u8]) -> Vec<Harness> {
    (1..=data.len())
        .map(|cut| {
            let mut h = Harness::new();
            h.feed(dir, &data[..cut]);
            if cut < data.len() {
                h.feed(dir, &data[cut..]);
            }
            h
        })
        .collect()
}

#[test]
fn whitespace_before_a_response_colon_is_stripped_with_a_warning() {
    // As an Express server of 2015 sent it, on a keep-alive connection with a second response.
    let wire: &[u8] = b"HTTP/1.1 200 OK\r\nX-Powered-By: Express\r\n\
        Access-Control-Allow-Credentials : true\r\nContent-Length: 2\r\n\r\nok\
        HTTP/1.1 204 No Content\r\n\r\n";
    for h in every_split(Dir::S2C, wire) {
        let msgs = h.messages_of(Dir::S2C);
        assert_eq!(lines(&msgs), ["200 OK", "204 No Content"]);
        assert_eq!(
            msgs[0].headers[1],
            ("Access-Control-Allow-Credentials".into(), b"true".to_vec())
        );
        assert_eq!(msgs[0].body_head, b"ok");
        assert_eq!(sum_wire(&msgs), wire.len() as u64);
        let a = h.anomalies();
        assert_eq!(h.codes(), [Code::HttpFieldSpace]);
        assert!(a[0].1.contains("first at byte 40"), "{}", a[0].1);
        assert!(a[0].1.contains("Access-Control-Allow-Credentials : true"));
    }
}

#[test]
fn whitespace_before_a_request_colon_is_an_error_and_still_decoded() {
    let wire: &[u8] =
        b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length\t : 3\r\n\r\nabcGET /g HTTP/1.1\r\n\r\n";
    for h in every_split(Dir::C2S, wire) {
        let msgs = h.messages_of(Dir::C2S);
        assert_eq!(lines(&msgs), ["POST /f", "GET /g"]);
        assert_eq!(msgs[0].body_bytes, 3);
        assert_eq!(h.codes(), [Code::HttpRequestFieldSpace]);
        assert_eq!(
            Code::HttpRequestFieldSpace.severity(),
            crate::model::Severity::Error
        );
    }
}

#[test]
fn obs_fold_is_unfolded_in_both_directions() {
    // gtk-gnutella's X-FW-Node-Info, folded with a tab; python's http.client folds the same way.
    let req: &[u8] = b"GET /uri-res/N2R?urn:sha1:X HTTP/1.1\r\nUser-Agent: gtk-gnutella\r\n\
        X-FW-Node-Info: 74e8; 28681:93.47.226.53;\r\n\t188.61.52.183:11852;\r\n\t75.133.101.93:52367\r\n\
        Connection: close\r\n\r\n";
    for h in every_split(Dir::C2S, req) {
        let msgs = h.messages_of(Dir::C2S);
        assert_eq!(lines(&msgs), ["GET /uri-res/N2R?urn:sha1:X"]);
        let value = &msgs[0].headers[1].1;
        assert_eq!(
            value.as_slice(),
            b"74e8; 28681:93.47.226.53;   188.61.52.183:11852;   75.133.101.93:52367"
        );
        assert_eq!(msgs[0].headers[2].0, "Connection");
        assert_eq!(msgs[0].header_bytes, req.len() as u64);
        assert_eq!(h.codes(), [Code::HttpObsFold]);
        assert!(h.anomalies()[0].1.starts_with("2 obsolete line fold(s)"));
    }
    // A folded Transfer-Encoding still frames the body (zeek's smuggling test 261/09).
    let req: &[u8] = b"POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding:\r\n chunked\r\n\r\n\
        3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    for h in every_split(Dir::C2S, req) {
        let msgs = h.messages_of(Dir::C2S);
        assert_eq!(lines(&msgs), ["POST /", "GET /next"]);
        assert!(msgs[0].chunked);
        assert_eq!(msgs[0].body_bytes, 3);
        assert_eq!(h.codes(), [Code::HttpObsFold]);
    }
    // A folded response header, its body after it.
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 1\r\n\r\nZ";
    for h in every_split(Dir::S2C, resp) {
        let msgs = h.messages_of(Dir::S2C);
        assert_eq!(msgs[0].headers[0].1, b"a    b");
        assert_eq!(msgs[0].body_head, b"Z");
    }
}

#[test]
fn a_head_that_cannot_be_repaired_is_a_parse_error_naming_its_line() {
    // Whitespace before the first field is not a fold (RFC 9112 §2.2); a name with a space
    // inside is no field name at all.
    for (wire, at, line) in [
        (
            &b"GET / HTTP/1.1\r\n X: y\r\n\r\n"[..],
            16,
            "line 2): \" X: y\\r\\n\"",
        ),
        (
            &b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: y\r\n\r\n"[..],
            28,
            "line 3): \"Bad Name: y\\r\\n\"",
        ),
        (
            &b"\x16\x03\x01\x00\xa5"[..],
            0,
            "line 1): \"\\x16\\x03\\x01\\x00\\xa5\"",
        ),
    ] {
        let mut h = Harness::new();
        h.feed(Dir::C2S, wire);
        h.feed(Dir::C2S, GET_A);
        let a = h.anomalies();
        assert_eq!(h.codes(), [Code::HttpParseError], "{a:?}");
        assert!(
            a[0].1
                .contains(&format!("at byte {at} of the request head")),
            "{}",
            a[0].1
        );
        assert!(a[0].1.ends_with(line), "{}", a[0].1);
        assert!(h.messages().is_empty());
    }
    // A bad Content-Length is quoted at its own line.
    let mut h = Harness::new();
    h.feed(
        Dir::C2S,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    );
    let a = h.anomalies();
    assert!(
        a[0].1.starts_with("invalid Content-Length at byte 26"),
        "{}",
        a[0].1
    );
    assert!(
        a[0].1.ends_with("\"Content-Length: -1\\r\\n\""),
        "{}",
        a[0].1
    );
}

#[test]
fn raw_utf8_in_the_request_target_is_accepted() {
    let req = "GET /wiki/中文/ünïcödé?q=ß HTTP/1.1\r\nHost: x\r\n\r\n";
    for h in every_split(Dir::C2S, req.as_bytes()) {
        assert_eq!(lines(&h.messages()), ["GET /wiki/中文/ünïcödé?q=ß"]);
        assert!(h.codes().is_empty());
    }
}

#[test]
fn a_head_cut_by_the_end_of_the_stream_is_reported_with_its_bytes() {
    // FIN inside a request head: the request line and the whole fields are reported.
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET /a HTTP/1.1\r\nHost: x\r\nX: aaaa");
    h.end(Dir::C2S);
    let msgs = h.messages();
    assert_eq!(lines(&msgs), ["GET /a"]);
    assert_eq!(msgs[0].headers, [("Host".to_string(), b"x".to_vec())]);
    assert!(!msgs[0].complete);
    assert_eq!(msgs[0].header_bytes, 33);
    let a = h.anomalies();
    assert_eq!(h.codes(), [Code::HttpTruncated]);
    assert!(
        a[0].1
            .starts_with("the sender's FIN cut a request head after 33 bytes"),
        "{}",
        a[0].1
    );
    assert!(a[0].1.contains("X: aaaa"));
    // End of input inside the request line: no message, the bytes are quoted.
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET /only-part-of-the-targ");
    h.finish();
    assert!(h.messages().is_empty());
    assert_eq!(h.codes(), [Code::HttpTruncated]);
    assert!(
        h.anomalies()[0]
            .1
            .contains("before its start line was complete")
    );
    // Only empty lines: nothing began.
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"\r\n");
    h.finish();
    assert!(h.codes().is_empty());
}

#[test]
fn a_head_cut_by_the_snaplen_keeps_its_start_line() {
    // tcpdump -s 96 leaves 30 bytes of payload: then the rest of the segment is a gap.
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"GET /chat HTTP/1.1\r\nHost: 192.");
    h.gap(Dir::C2S, 200);
    h.feed(Dir::S2C, b"HTTP/1.1 101 Switching Protoc");
    h.gap(Dir::S2C, 100);
    let msgs = h.messages();
    assert_eq!(lines(&msgs), ["GET /chat", "101 Switching Protoc"]);
    assert!(msgs.iter().all(|m| !m.complete && m.headers.is_empty()));
    assert_eq!(h.codes(), [Code::HttpTruncated, Code::HttpTruncated]);
    // A version cut short, a status line cut in its code.
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"HEAD /x HTT");
    h.gap(Dir::C2S, 10);
    h.feed(Dir::S2C, b"HTTP/1.1 20");
    h.gap(Dir::S2C, 10);
    assert_eq!(lines(&h.messages()), ["HEAD /x"]);
    assert_eq!(h.codes(), [Code::HttpTruncated, Code::HttpTruncated]);
}

#[test]
fn resynchronisation_tries_segment_starts() {
    // Picked up inside a binary body with no line break before the next status line, which
    // starts its own segment.
    let mut h = Harness::new();
    h.conn.picked_up_midstream();
    h.at(
        Dir::S2C,
        b"\x89PNG\x00\x01\x02binary body without newline",
        1,
    );
    h.at(Dir::S2C, b"\xff\xfe more of it", 2);
    h.at(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA",
        3,
    );
    let msgs = h.messages();
    assert_eq!(lines(&msgs), ["200 OK"]);
    assert_eq!(h.codes(), [Code::HttpResync]);
    assert!(
        h.anomalies()[0].1.contains("skipped 47 bytes"),
        "{:?}",
        h.anomalies()
    );
    // A segment that only looks like a start line is skipped, not a parse error.
    let mut h = Harness::new();
    h.conn.picked_up_midstream();
    h.at(
        Dir::S2C,
        b"HTTP/1.1 is the protocol this body talks about\x00\x01",
        1,
    );
    h.at(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB",
        2,
    );
    assert_eq!(lines(&h.messages()), ["200 OK"]);
    assert_eq!(h.codes(), [Code::HttpResync]);
    // The same guess spread over inputs, then the end of the stream.
    let mut h = Harness::new();
    h.conn.picked_up_midstream();
    h.feed(Dir::C2S, b"GET \x00\x01");
    h.feed(Dir::C2S, b"\x02\x03");
    h.finish();
    assert!(h.messages().is_empty());
    assert_eq!(h.codes(), [Code::HttpResync]);
    assert!(
        h.anomalies()[0]
            .1
            .contains("8 bytes skipped without finding")
    );
}

#[test]
fn evicted_requests_keep_head_framing_and_are_reported_once() {
    // 1030 pipelined requests, the first a HEAD, none answered yet.
    let mut h = Harness::new();
    h.feed(Dir::C2S, b"HEAD /h HTTP/1.1\r\n\r\n");
    for _ in 0..1029 {
        h.feed(Dir::C2S, GET_A);
    }
    assert_eq!(h.codes(), [Code::HttpRequestsEvicted]);
    // The HEAD's response carries Content-Length but no body; the next one has its body.
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    let resps = h.messages_of(Dir::S2C);
    assert_eq!(resps.len(), 2);
    assert_eq!((resps[0].body_bytes, resps[1].body_bytes), (0, 2));
    assert_eq!(h.codes(), [Code::HttpRequestsEvicted]);

    // The compact record is bounded too: past 1024 evicted HEADs it says what it forgets.
    let mut h = Harness::new();
    let head = b"HEAD /h HTTP/1.1\r\n\r\n".repeat(2 * 1024 + 1);
    h.feed(Dir::C2S, &head);
    assert_eq!(h.messages().len(), 2049);
    assert_eq!(
        h.codes(),
        [Code::HttpRequestsEvicted, Code::HttpRequestsEvicted]
    );
    assert!(h.anomalies()[1].1.contains("may be misframed"));
}

#[test]
fn held_upgrade_bytes_are_reported_when_the_connection_ends_unanswered() {
    let mut h = Harness::new();
    h.feed(Dir::C2S, UPGRADE_REQ);
    h.feed(Dir::C2S, CLIENT_FRAME);
    h.finish();
    let a = h.anomalies();
    assert_eq!(h.codes(), [Code::HttpUpgradeUnanswered]);
    assert!(
        a[0].1
            .contains(&format!("the {} client bytes", CLIENT_FRAME.len()))
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests: generated well-formed conversations.

#[derive(Clone, Debug)]
enum BodySpec {
    None,
    Length(Vec<u8>),
    /// Chunks (each non-empty), with an extension on each size line, with a trailer.
    Chunked(Vec<Vec<u8>>, bool, bool),
}

impl BodySpec {
    fn data(&self) -> Vec<u8> {
        match self {
            BodySpec::None => Vec::new(),
            BodySpec::Length(b) => b.clone(),
            BodySpec::Chunked(chunks, ..) => chunks.concat(),
        }
    }
}

#[derive(Clone, Debug)]
struct ReqSpec {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: BodySpec,
}

#[derive(Clone, Debug)]
struct RespSpec {
    interim: Option<u16>,
    status: u16,
    headers: Vec<(String, String)>,
    /// A Content-Length header on a bodiless response (HEAD, 304).
    phantom_length: Option<u32>,
    body: BodySpec,
}

#[derive(Clone, Debug)]
struct Exchange {
    req: ReqSpec,
    resp: RespSpec,
}

/// What a message should look like: (line, headers, header_bytes, body, framing_bytes, chunked).
type Expected = (String, Vec<(String, Vec<u8>)>, u64, Vec<u8>, u64, bool);

fn push_framing_header(headers: &mut Vec<(String, Vec<u8>)>, body: &BodySpec) {
    match body {
        BodySpec::None => {}
        BodySpec::Length(b) => headers.push(("Content-Length".into(), b.len().to_string().into())),
        BodySpec::Chunked(..) => headers.push(("Transfer-Encoding".into(), b"chunked".to_vec())),
    }
}

fn serialize_body(body: &BodySpec) -> (Vec<u8>, u64) {
    match body {
        BodySpec::None => (Vec::new(), 0),
        BodySpec::Length(b) => (b.clone(), 0),
        BodySpec::Chunked(chunks, ext, trailer) => {
            let mut out = Vec::new();
            for c in chunks {
                out.extend_from_slice(format!("{:X}", c.len()).as_bytes());
                if *ext {
                    out.extend_from_slice(b";ext=\"v\"");
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n");
            if *trailer {
                out.extend_from_slice(b"X-Trailer: t\r\n");
            }
            out.extend_from_slice(b"\r\n");
            let data: usize = chunks.iter().map(Vec::len).sum();
            let framing = (out.len() - data) as u64;
            (out, framing)
        }
    }
}

fn serialize_head(line: &str, headers: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = format!("{line}\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn expected_message(
    out: &mut Vec<u8>,
    shown: String,
    line: &str,
    extra: &[(String, String)],
    body: &BodySpec,
    phantom_length: Option<u32>,
) -> Expected {
    let mut headers: Vec<(String, Vec<u8>)> = extra
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .collect();
    if let Some(n) = phantom_length {
        headers.push(("Content-Length".into(), n.to_string().into_bytes()));
    }
    push_framing_header(&mut headers, body);
    let head = serialize_head(line, &headers);
    let (body_bytes, framing) = serialize_body(body);
    out.extend_from_slice(&head);
    out.extend_from_slice(&body_bytes);
    (
        shown,
        headers,
        head.len() as u64,
        body.data(),
        framing,
        matches!(body, BodySpec::Chunked(..)),
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        404 => "Not Found",
        _ => "Internal Server Error",
    }
}

/// Serializes a conversation: (client bytes, server bytes, end offset of each request in the
/// client bytes, end offset of each response in the server bytes, expected client and server
/// messages in order).
#[allow(clippy::type_complexity)]
fn serialize(
    exchanges: &[Exchange],
) -> (
    Vec<u8>,
    Vec<u8>,
    Vec<usize>,
    Vec<usize>,
    Vec<Expected>,
    Vec<Expected>,
) {
    let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
    let (mut req_ends, mut resp_ends) = (Vec::new(), Vec::new());
    let (mut reqs, mut resps) = (Vec::new(), Vec::new());
    for ex in exchanges {
        let r = &ex.req;
        let line = format!("{} {} HTTP/1.1", r.method, r.target);
        let shown = format!("{} {}", r.method, r.target);
        reqs.push(expected_message(
            &mut c2s, shown, &line, &r.headers, &r.body, None,
        ));
        req_ends.push(c2s.len());
        let p = &ex.resp;
        if let Some(code) = p.interim {
            let line = format!("HTTP/1.1 {code} {}", reason(code));
            let shown = format!("{code} {}", reason(code));
            resps.push(expected_message(
                &mut s2c,
                shown,
                &line,
                &[],
                &BodySpec::None,
                None,
            ));
        }
        let line = format!("HTTP/1.1 {} {}", p.status, reason(p.status));
        let shown = format!("{} {}", p.status, reason(p.status));
        resps.push(expected_message(
            &mut s2c,
            shown,
            &line,
            &p.headers,
            &p.body,
            p.phantom_length,
        ));
        resp_ends.push(s2c.len());
    }
    (c2s, s2c, req_ends, resp_ends, reqs, resps)
}

fn header_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            "X-[A-Za-z0-9-]{1,12}",
            "[A-Za-z0-9]([A-Za-z0-9 ,;=/.]{0,24}[A-Za-z0-9])?",
        ),
        0..4,
    )
}

fn body_strategy() -> impl Strategy<Value = BodySpec> {
    prop_oneof![
        Just(BodySpec::None),
        prop::collection::vec(any::<u8>(), 0..60).prop_map(BodySpec::Length),
        (
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..24), 0..4),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(c, e, t)| BodySpec::Chunked(c, e, t)),
    ]
}

fn exchange_strategy() -> impl Strategy<Value = Exchange> {
    (
        prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
        "/[a-z0-9/._-]{0,16}",
        header_strategy(),
        body_strategy(),
        prop::option::of(prop::sample::select(vec![100u16, 103])),
        prop::sample::select(vec![200u16, 201, 204, 304, 404, 500]),
        header_strategy(),
        prop::option::of(0u32..100_000),
        body_strategy(),
    )
        .prop_map(
            |(
                method,
                target,
                req_headers,
                req_body,
                interim,
                status,
                resp_headers,
                phantom,
                resp_body,
            )| {
                let req_body = match method {
                    "POST" | "PUT" => req_body,
                    _ => BodySpec::None,
                };
                let bodiless = method == "HEAD" || status == 204 || status == 304;
                let (body, phantom_length) = if bodiless {
                    (BodySpec::None, if status == 204 { None } else { phantom })
                } else {
                    // Without framing headers a response runs to the close: give it a length.
                    match resp_body {
                        BodySpec::None => (BodySpec::Length(Vec::new()), None),
                        b => (b, None),
                    }
                };
                Exchange {
                    req: ReqSpec {
                        method,
                        target,
                        headers: req_headers,
                        body: req_body,
                    },
                    resp: RespSpec {
                        interim,
                        status,
                        headers: resp_headers,
                        phantom_length,
                        body,
                    },
                }
            },
        )
}

fn cut(data: &[u8], sizes: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let size = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(data.len())
            .max(1);
        let end = (pos + size).min(data.len());
        out.push((pos, end));
        pos = end;
        i += 1;
    }
    out
}

/// Feeds both directions in the given chunkings, interleaved by `schedule` but never sending a
/// response byte before its request is complete; time advances with every input.
fn run_interleaved(
    c2s: &[u8],
    s2c: &[u8],
    req_ends: &[usize],
    resp_ends: &[usize],
    c2s_cuts: &[usize],
    s2c_cuts: &[usize],
    schedule: &[bool],
) -> Harness {
    let mut h = Harness::new();
    let c_chunks = cut(c2s, c2s_cuts);
    let s_chunks = cut(s2c, s2c_cuts);
    let (mut ci, mut si, mut t, mut k) = (0, 0, 0i64, 0usize);
    let mut c_fed = 0usize;
    while ci < c_chunks.len() || si < s_chunks.len() {
        t += 1;
        let s_ready = s_chunks.get(si).is_some_and(|&(_, end)| {
            // The response owning the chunk's last byte must have its request fully sent.
            let idx = resp_ends.iter().position(|&e| end <= e).unwrap_or(0);
            req_ends.get(idx).is_some_and(|&r| r <= c_fed)
        });
        let want_s = schedule
            .get(k % schedule.len().max(1))
            .copied()
            .unwrap_or(false);
        k += 1;
        if (want_s && s_ready) || ci >= c_chunks.len() {
            let (a, b) = s_chunks[si];
            h.at(Dir::S2C, &s2c[a..b], t);
            si += 1;
        } else {
            let (a, b) = c_chunks[ci];
            h.at(Dir::C2S, &c2s[a..b], t);
            c_fed = b;
            ci += 1;
        }
    }
    h.finish();
    h
}

fn per_dir(h: &Harness, dir: Dir) -> Vec<Ev> {
    h.rec
        .events
        .iter()
        .filter(|e| e.dir() == Some(dir))
        .map(Ev::without_times)
        .collect()
}

fn check_against_model(h: &Harness, dir: Dir, expected: &[Expected], stream_len: usize) {
    let msgs = h.messages_of(dir);
    assert_eq!(msgs.len(), expected.len());
    for (m, (line, headers, header_bytes, body, framing, chunked)) in msgs.iter().zip(expected) {
        assert_eq!(&m.line, line);
        assert_eq!(&m.headers, headers);
        assert_eq!(m.header_bytes, *header_bytes);
        assert_eq!(m.body_bytes, body.len() as u64);
        assert_eq!(m.framing_bytes, *framing);
        assert_eq!(m.chunked, *chunked);
        assert_eq!(m.body_head, body[..body.len().min(32)]);
        assert!(m.complete);
        assert!(m.start_ts <= m.ts);
    }
    assert_eq!(sum_wire(&msgs), stream_len as u64, "byte accounting");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn conversations_decode_the_same_in_any_chunking(
        exchanges in prop::collection::vec(exchange_strategy(), 1..6),
        c2s_cuts in prop::collection::vec(1usize..40, 1..8),
        s2c_cuts in prop::collection::vec(1usize..40, 1..8),
        schedule in prop::collection::vec(any::<bool>(), 1..16),
    ) {
        let (c2s, s2c, req_ends, resp_ends, reqs, resps) = serialize(&exchanges);
        let mut whole = Harness::new();
        whole.at(Dir::C2S, &c2s, 1);
        whole.at(Dir::S2C, &s2c, 2);
        whole.finish();
        prop_assert!(whole.anomalies().is_empty(), "{:?}", whole.anomalies());
        check_against_model(&whole, Dir::C2S, &reqs, c2s.len());
        check_against_model(&whole, Dir::S2C, &resps, s2c.len());

        let split = run_interleaved(&c2s, &s2c, &req_ends, &resp_ends, &c2s_cuts, &s2c_cuts, &schedule);
        prop_assert_eq!(per_dir(&split, Dir::C2S), per_dir(&whole, Dir::C2S));
        prop_assert_eq!(per_dir(&split, Dir::S2C), per_dir(&whole, Dir::S2C));
        check_against_model(&split, Dir::C2S, &reqs, c2s.len());
        check_against_model(&split, Dir::S2C, &resps, s2c.len());
    }

    #[test]
    fn repaired_heads_decode_the_same_in_any_chunking(
        fields in prop::collection::vec(
            (prop::collection::vec("[a-z0-9;=/]{1,12}", 1..4), 0usize..3), 1..6),
        response in any::<bool>(),
        cut in 1usize..40,
    ) {
        let (dir, mut head) = if response {
            (Dir::S2C, b"HTTP/1.1 200 OK\r\n".to_vec())
        } else {
            (Dir::C2S, b"POST /r HTTP/1.1\r\n".to_vec())
        };
        let mut want = Vec::new();
        for (i, (pieces, spaces)) in fields.iter().enumerate() {
            let name = format!("X-F{i}");
            head.extend_from_slice(format!("{name}{}: {}\r\n", " ".repeat(*spaces), pieces.join("\r\n\t")).as_bytes());
            want.push((name, pieces.join("   ").into_bytes()));
        }
        head.extend_from_slice(b"Content-Length: 3\r\n\r\n");
        want.push(("Content-Length".to_string(), b"3".to_vec()));
        let mut wire = head.clone();
        wire.extend_from_slice(b"abc");
        let mut codes = Vec::new();
        if fields.iter().any(|(p, _)| p.len() > 1) {
            codes.push(Code::HttpObsFold);
        }
        if fields.iter().any(|(_, s)| *s > 0) {
            codes.push(if response { Code::HttpFieldSpace } else { Code::HttpRequestFieldSpace });
        }
        let mut whole = Harness::new();
        whole.feed(dir, &wire);
        let msgs = whole.messages();
        prop_assert_eq!(msgs.len(), 1);
        prop_assert_eq!(&msgs[0].headers, &want);
        prop_assert_eq!(msgs[0].header_bytes, head.len() as u64);
        prop_assert_eq!(&msgs[0].body_head, b"abc");
        prop_assert_eq!(whole.codes(), codes);
        let mut split = Harness::new();
        split.feed_in(dir, &wire, cut);
        let strip = |h: &Harness| h.rec.events.iter().map(Ev::without_times).collect::<Vec<_>>();
        prop_assert_eq!(strip(&split), strip(&whole));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        pieces in prop::collection::vec(
            (any::<bool>(), prop_oneof![
                prop::sample::select(FRAGMENTS.to_vec()).prop_map(|f| f.to_vec()),
                prop::collection::vec(any::<u8>(), 0..40),
            ], 0u8..16),
            0..40),
        midstream in any::<bool>(),
        hold_cap in 0usize..64,
        head_cap in 0usize..128,
    ) {
        let limits = Limits { max_upgrade_hold: hold_cap, max_http_head: head_cap, ..Limits::default() };
        let mut h = Harness::with(&limits, 8);
        if midstream {
            h.conn.picked_up_midstream();
        }
        for (t, (to_server, bytes, action)) in pieces.iter().enumerate() {
            let dir = if *to_server { Dir::C2S } else { Dir::S2C };
            match action {
                0 => h.gap(dir, bytes.len() as u64 + 1),
                1 => h.end(dir),
                _ => {
                    let _ = h.at(dir, bytes, t as i64);
                }
            }
        }
        h.finish();
        // Every head reported is eventually reported as a message, unless the connection was
        // handed over to another protocol.
        if h.conn.switched.is_none() {
            for dir in [Dir::C2S, Dir::S2C] {
                let heads = h.rec.events.iter().filter(|e| matches!(e, Ev::Head(m) if m.dir == dir)).count();
                prop_assert_eq!(heads, h.messages_of(dir).len());
            }
        }
        for m in h.messages() {
            prop_assert!(m.header_bytes <= head_cap as u64);
            prop_assert!(m.body_head.len() <= 8);
        }
    }
}

const FRAGMENTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"HEAD /h HTTP/1.1\r\n",
    b"CONNECT a:1 HTTP/1.1\r\n",
    b"POST /p HTTP/1.0\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n",
    b"HTTP/1.1 100 Continue\r\n",
    b"HTTP/1.1 204 No Content\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 5, 7\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Upgrade: websocket\r\n",
    b"Content-Type: text/event-stream\r\n",
    b"\r\n",
    b"\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"0\r\nX: y\r\n\r\n",
    b"data: x\n\n",
    b"event: e\rid: 1\r\n",
    b"hello",
];

// ---------------------------------------------------------------------------------------------
// --digest

fn sha256(data: &[u8]) -> crate::model::Digest {
    use sha2::Digest as _;
    crate::model::Digest::Sha256(sha2::Sha256::digest(data).into())
}

#[test]
fn digest_of_dechunked_and_length_bodies_in_any_segmentation() {
    use crate::model::Digest;
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 97) as u8 + b' ').collect();
    let mut wire = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let responses = {
        let mut r =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(&body);
        r.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for part in body.chunks(1234) {
            r.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            r.extend_from_slice(part);
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"0\r\n\r\n");
        r
    };
    wire.extend_from_slice(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    for step in [1, 7, 1500, usize::MAX] {
        let mut h = Harness::with(&Limits::default(), 16);
        h.conn = HttpConn::new(&Limits::default(), 16).with_digest(true);
        h.feed_in(Dir::C2S, &wire, step);
        h.feed_in(Dir::S2C, &responses, step);
        assert_eq!(
            h.rec.digests,
            [sha256(b""), sha256(b""), sha256(&body), sha256(&body)],
            "step {step}"
        );
        assert!(h.anomalies().is_empty());
    }
    // A hole in the body: the message is reported, without a digest.
    let mut h = Harness::new();
    h.conn = HttpConn::new(&Limits::default(), 16).with_digest(true);
    h.feed(
        Dir::S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    );
    h.gap(Dir::S2C, 4);
    h.feed(Dir::S2C, b"hij");
    assert_eq!(h.rec.digests, [Digest::Incomplete]);
    // Off by default.
    let mut h = Harness::new();
    h.feed(Dir::S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(h.rec.digests, [Digest::Off]);
}
